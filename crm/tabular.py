"""CSV in and out: read any spreadsheet export as a table, map its columns to our fields, write CSV.

Reading never trusts the file: the encoding, the delimiter and the header row are detected, and
anything that is not a table (binary data, a workbook, an endless quoted cell) is a DataError.
Mapping matches header names through alias tables, never by position, because every product
(and every language of Outlook) orders and spells its columns differently. Writing neutralises
cells a spreadsheet would run as formulas.
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import io
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from typing import Any

from crm import money
from crm.errors import DataError, UsageError, ValidationError
from crm.importing import Remarked
from crm.models import ADDRESS_KEYS, COMPANY, CONTACT, DEAL, LEAD, Kind, RecordType
from crm.text import neutralise as _neutralise
from crm.text import sniff_utf16

MAX_BYTES = 100 * 1024 * 1024
MAX_CELL = 1024 * 1024
DELIMITERS = (",", ";", "\t", "|")
PRESETS: tuple[str, ...] = (
    "google",
    "outlook",
    "thunderbird",
    "linkedin",
    "salesforce",
    "hubspot",
    "pipedrive",
)
RECORD_TYPES: dict[str, RecordType] = {t.name: t for t in (CONTACT, COMPANY, LEAD, DEAL)}

# =============================================================================================
# Reading


@dataclass(frozen=True, slots=True, kw_only=True)
class Table:
    header: list[str]
    rows: list[tuple[int, dict[str, str]]]  # (line where the row starts, column -> cell)
    encoding: str  # utf-8, utf-8-sig, utf-16, utf-16-le, utf-16-be, utf-32, cp1252, latin-1
    delimiter: str
    header_line: int = 1
    skipped: list[int] = field(default_factory=list)  # preamble and footer lines left out
    mixed: list[int] = field(default_factory=list)  # lines of a UTF-8 file read as cp1252
    long: list[int] = field(default_factory=list)  # lines of rows with more cells than names


_MAGIC = (
    (b"PK\x03\x04", "a zip archive (an .xlsx or .ods workbook?)"),
    (b"\xd0\xcf\x11\xe0", "an Excel 97-2003 workbook (.xls)"),
    (b"%PDF", "a PDF document"),
)
_SAVE_AS_CSV = "save it from the spreadsheet as 'CSV UTF-8' and import that"


def read_table(
    data: bytes, source: str, *, max_bytes: int = MAX_BYTES, max_cell: int = MAX_CELL
) -> Table:
    """The table in `data`. Raise DataError(source, message, line=...) for a file that is not a
    table at all: binary data, a workbook, no header row, a cell over `max_cell` characters."""
    if len(data) > max_bytes:
        raise DataError(
            source,
            f"file too large: {len(data):,} bytes (at most {max_bytes:,})",
            hint="split it into smaller files",
        )
    for magic, what in _MAGIC:
        if data.startswith(magic):
            raise DataError(source, f"this is {what}, not CSV", hint=_SAVE_AS_CSV)
    text, encoding, mixed = _decode(data, source)
    nul = text.find("\x00")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise DataError(source, "binary data (a NUL byte): not a CSV file", line=line)
    first = text.lstrip()[:16].upper()
    if first.startswith("BEGIN:VCARD"):
        raise DataError(source, "this is a vCard file, not CSV", hint="use `crm import vcard`")
    if first.startswith("BEGIN:VCALENDAR"):
        raise DataError(source, "this is an iCalendar file, not CSV")
    text, delimiter, hinted_lines = _excel_sep_line(text)
    if delimiter is None:
        delimiter = _detect_delimiter(text)
    raw = _parse(text, delimiter, source, max_cell, offset=hinted_lines)
    if not raw:
        raise DataError(source, "no header row: the file is empty")
    start, names = _find_header(raw)
    header = _header_names(names)
    skipped = [1] * hinted_lines + [line + hinted_lines for line, _ in raw[:start]]
    body = raw[start + 1 :]
    # A report footer ("Confidential Information", totals) is a row of one cell below a wide
    # table; such rows are no records.
    while len(header) >= 3 and body and len(body[-1][1]) == 1:
        skipped.append(body.pop()[0] + hinted_lines)
    rows = []
    long = []
    for line, row in body:
        cells = [_cell(c) for c in row]
        padded = cells[: len(header)] + [""] * (len(header) - len(cells))
        record = dict(zip(header, padded, strict=True))
        extra = cells[len(header) :]
        if any(c.strip() for c in extra):
            record[""] = delimiter.join(extra)  # longer than the header: kept, never mapped
            long.append(line + hinted_lines)
        rows.append((line + hinted_lines, record))
    return Table(
        header=header,
        rows=rows,
        encoding=encoding,
        delimiter=delimiter,
        header_line=raw[start][0] + hinted_lines,
        skipped=sorted(skipped),
        mixed=mixed,
        long=long,
    )


def _decode(data: bytes, source: str) -> tuple[str, str, list[int]]:
    """The text, the name of the encoding it was found in, and the lines of a UTF-8 file that
    held bytes of another encoding (read as cp1252)."""
    boms = (
        (b"\xff\xfe\x00\x00", "utf-32"),
        (b"\x00\x00\xfe\xff", "utf-32"),
        (b"\xef\xbb\xbf", "utf-8-sig"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
    )
    for bom, encoding in boms:
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding, []
            except UnicodeDecodeError as exc:
                line = data.count(b"\n", 0, exc.start) + 1
                raise DataError(
                    source, f"not valid {encoding} although it starts as such", line=line
                ) from None
    guessed = sniff_utf16(data)
    if guessed:
        try:
            return data.decode(guessed), guessed, []
        except UnicodeDecodeError:
            pass  # not UTF-16 after all: the NUL bytes will be reported below
    try:
        return data.decode("utf-8"), "utf-8", []
    except UnicodeDecodeError:
        pass
    mixed = _mixed_utf8(data)
    if mixed is not None:
        return mixed[0], "utf-8", mixed[1]
    try:
        return data.decode("cp1252"), "cp1252", []
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1", []  # every byte is a latin-1 character


def _mixed_utf8(data: bytes) -> tuple[str, list[int]] | None:
    """A UTF-8 file into which a few cp1252 bytes slipped (a cell pasted from elsewhere): the
    text, each stray byte read as cp1252, and the lines that held them. None when the file has
    no valid multi-byte UTF-8 at all: then it is cp1252 throughout."""
    parts: list[str] = []
    lines: list[int] = []
    multibyte = False
    position = 0
    while position < len(data):
        try:
            chunk = data[position:].decode("utf-8")
        except UnicodeDecodeError as exc:
            chunk = data[position : position + exc.start].decode("utf-8")
            bad = data[position + exc.start : position + exc.end]
            parts.append(chunk)
            parts.append(bad.decode("cp1252", errors="replace"))
            line = data.count(b"\n", 0, position + exc.start) + 1
            if not lines or lines[-1] != line:
                lines.append(line)
            multibyte = multibyte or not chunk.isascii()
            position += exc.end
            continue
        parts.append(chunk)
        multibyte = multibyte or not chunk.isascii()
        break
    return ("".join(parts), lines) if multibyte else None


_SEP_RE = re.compile(r"sep=(.)[ \t]*(?:\r\n|\r|\n|$)", re.IGNORECASE)


def _excel_sep_line(text: str) -> tuple[str, str | None, int]:
    """Excel's optional first line `sep=;` names the delimiter; it is no row of the table."""
    match = _SEP_RE.match(text)
    if match and match[1] in DELIMITERS:
        return text[match.end() :], match[1], 1
    return text, None, 0


def _detect_delimiter(text: str) -> str:
    """csv.Sniffer's guess when the sample parses consistently with it, else the best count."""
    sample = text[:65536]
    if len(text) > len(sample) and "\n" in sample:
        sample = sample[: sample.rindex("\n")]  # whole lines only
    try:
        # A short sample: the Sniffer's regular expressions take time that grows steeply with
        # the sample (25 s for 8 KB of `",",...` here, 0.03 s for 2 KB).
        short = sample[:2048]
        sniffed: str | None = csv.Sniffer().sniff(short, delimiters="".join(DELIMITERS)).delimiter
    except Exception:  # the Sniffer is a heuristic; any failure just means "no opinion"
        sniffed = None
    scores = {d: _consistency(sample, d) for d in DELIMITERS}
    if sniffed in scores and scores[sniffed][1] >= 2 and scores[sniffed] == max(scores.values()):
        return sniffed
    best = max(DELIMITERS, key=lambda d: scores[d])  # ties: the first in DELIMITERS
    return best if scores[best][1] >= 2 else ","


def _consistency(sample: str, delimiter: str) -> tuple[int, int]:
    """(rows of the most common width, that width) for the first rows of `sample`."""
    widths: dict[int, int] = {}
    try:
        reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter)
        for n, row in enumerate(reader):
            if n >= 50:
                break
            if any(c.strip() for c in row):
                widths[len(row)] = widths.get(len(row), 0) + 1
    except csv.Error:
        pass
    if not widths:
        return (0, 0)
    width = max(widths, key=lambda w: (widths[w], w))
    return (widths[width], width) if width >= 2 else (0, width)


def _parse(
    text: str, delimiter: str, source: str, max_cell: int, *, offset: int = 0
) -> list[tuple[int, list[str]]]:
    """The non-blank rows with the line each starts on. A quote never closed (which would make
    the rest of the file one cell) is a DataError naming the line of its row."""
    rows: list[tuple[int, list[str]]] = []
    sizes: list[int] = []  # the length of every line read, to find where the last row starts

    def lines() -> Iterator[str]:
        for line in io.StringIO(text, newline=""):
            sizes.append(len(line))
            yield line

    reader = csv.reader(lines(), delimiter=delimiter, strict=False)
    previous = csv.field_size_limit(max_cell)  # a process-wide setting: restored below
    start = last = 0
    try:
        for row in reader:
            start, last = last + 1, reader.line_num
            if any(c.strip() for c in row):
                rows.append((start, row))
    except csv.Error as exc:
        too_big = "field larger than field limit" in str(exc)
        message = (
            f"a cell longer than {max_cell // 1024} KB (a quote that is never closed?)"
            if too_big
            else f"not readable as CSV: {exc}"
        )
        raise DataError(source, message, line=last + 1 + offset) from None
    finally:
        csv.field_size_limit(previous)
    if start and _open_quote(text[sum(sizes[: start - 1]) :], delimiter):
        raise DataError(
            source,
            "a quote in this row is never closed: the rest of the file would be one cell",
            line=start + offset,
            hint='close it, or write a quote inside a quoted cell as ""',
        )
    return rows


def _open_quote(tail: str, delimiter: str) -> bool:
    """Whether `tail` (the text of the last row) ends inside a quoted cell, read as
    csv.reader(strict=False) reads it: a quote opens a cell only at its start; `""` inside is
    a quote; after the closing quote, quotes are text."""
    quoted, at_start, i, n = False, True, 0, len(tail)
    while i < n:
        char = tail[i]
        if quoted:
            if char == '"':
                if i + 1 < n and tail[i + 1] == '"':
                    i += 2
                    continue
                quoted = False
        elif char == '"' and at_start:
            quoted = True
            at_start = False
        else:
            at_start = char == delimiter or char in "\r\n"
        i += 1
    return quoted


def _find_header(rows: list[tuple[int, list[str]]]) -> tuple[int, list[str]]:
    """The index and cells of the header: the first row with several names in it (LinkedIn
    puts notes above it), or the first row of a one-column file."""
    widths: dict[int, int] = {}
    for _, row in rows[:50]:
        widths[len(row)] = widths.get(len(row), 0) + 1
    width = max(widths, key=lambda w: (widths[w], w))
    if width == 1:  # a list of one column: its first row names it
        return 0, rows[0][1]
    common = max(2, width)
    for index, (_, row) in enumerate(rows[:20]):
        named = sum(1 for c in row if c.strip())
        if named >= 2 or (named == 1 and len(row) >= common):
            return index, row
    return 0, rows[0][1]


def _header_names(cells: Sequence[str]) -> list[str]:
    """Trimmed names; a blank one becomes `column N`; repeats get ` (2)`, ` (3)`, ..."""
    names: list[str] = []
    taken: set[str] = set()
    last: dict[str, int] = {}  # the last suffix given to a name: no quadratic search
    for i, raw in enumerate(cells, 1):
        name = raw.replace("\ufeff", "").strip() or f"column {i}"
        unique, n = name, last.get(name, 1)
        while unique in taken:
            n += 1
            unique = f"{name} ({n})"
        last[name] = n
        taken.add(unique)
        names.append(unique)
    return names


def _cell(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


# =============================================================================================
# Mapping columns to fields


@dataclass(frozen=True, slots=True, kw_only=True)
class Mapped:
    fields: dict[str, str | list[str]]  # our field -> text as typed; "address.city" for parts
    custom: dict[str, str]  # --map COL=custom.NAME
    unknown: dict[str, str]  # non-empty cells of columns that map to nothing
    external: tuple[str, str] | None  # (system, id), e.g. ("hubspot", "512")
    # A reference given as another system's id: {"company": ("salesforce", "001x...")} for an
    # Opportunity's ACCOUNTID, so that it can be found by the company's external id. The id
    # is also in `fields` when no column names the company.
    links: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Rule:
    """What a column holds. `target` is a field of ours or one of:

    name.first|middle|last|prefix|suffix  parts joined into the name when no full name is given
    role                                  a person's job title (no field of a deal)
    nickname                              a person's name when nothing else gives one
    address, address.formatted            the whole address as text (the latter only when
                                          no parts are given); address.house follows the street
    birthday.year|month|day               parts of a birthday
    outcome                               a deal's open, won or lost (Pipedrive's `Deal - Status`)
    external.SYSTEM                       the record's id in SYSTEM
    link.FIELD.SYSTEM                     the id in SYSTEM of the record FIELD refers to
    primary                               a Google label column: "* " marks its value primary
    -                                     ignored (and not reported as unknown)
    """

    target: str
    rank: int = 0  # lower first: which column wins a one-value field; order of list values
    slot: str = ""  # groups columns: one postal address; a Google label with its value


_Make = Callable[[re.Match[str]], _Rule]
_Entry = tuple[str | re.Pattern[str], _Rule | _Make]  # a compared name, or a pattern


def _norm(name: str) -> str:
    """A header name as compared: case, spaces and punctuation ignored."""
    return "".join(ch for ch in name.casefold() if ch.isalnum())


def _split_top(text: str) -> list[str]:
    """`text` split at the commas outside braces."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += (ch == "{") - (ch == "}")
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return [*parts, text[start:]]


def _expand(name: str) -> list[str]:
    """Brace alternatives spelled out: `{Home,Work} City` is `Home City`, `Work City`."""
    open_ = name.find("{")
    if open_ < 0:
        return [name]
    close = name.index("}", open_)
    head, tail = name[:open_], name[close + 1 :]
    return [x for alt in name[open_ + 1 : close].split(",") for x in _expand(head + alt + tail)]


def _spec(text: str) -> list[_Entry]:
    """Alias entries from lines `TARGET [RANK [SLOT]] | Header, Header, ...`.

    TARGET `?` marks columns that map to nothing. A header starting with `~` is a regular
    expression on the compared form (see _norm); with RANK `N` its group `n` gives the rank
    and ends the slot (`E-mail 2 - Value` with its `E-mail 2 - Label`).
    """
    entries: list[_Entry] = []
    for line in text.splitlines():
        left, _, right = line.partition("|")
        words = left.split()
        if not words:
            continue
        target = "" if words[0] == "?" else words[0]
        rank = words[1] if len(words) > 1 else "0"
        slot = words[2] if len(words) > 2 else ""

        def numbered(m: re.Match[str], target: str = target, slot: str = slot) -> _Rule:
            return _Rule(target, int(m["n"]), slot + m["n"])

        make: _Rule | _Make = numbered if rank == "N" else _Rule(target, int(rank), slot)
        for item in _split_top(right):
            item = item.strip()
            if item.startswith("~"):
                entries.append((re.compile(item[1:]), make))
            else:
                entries += [(_norm(n), make) for n in _expand(item)]
    return entries


_GENERIC = _spec("""
name                 | Name, Full Name, Display Name, Contact Name, Person Name
nickname             | Nickname
name.first           | First Name, First, Given Name, Forename, Vorname
name.middle          | Middle Name, Middle, Additional Name, Second Name, Weitere Vornamen
name.last            | Last Name, Last, Surname, Family Name, Nachname
name.prefix          | Prefix, Name Prefix, Salutation, Anrede
name.suffix          | Suffix, Name Suffix
emails               | Email, Emails, E-mail Address, Mail, Primary Email, {Work,Business} Email
emails               | E-Mail-Adresse
emails 1             | {Secondary,Other,Home,Personal} Email
phones               | Phone, Phones, Telephone, Tel, Phone Number, Telefon
phones               | {Work,Business,Office,Direct} Phone
phones 1             | Mobile, Mobile {Phone,Number}, Cell, Cell Phone, Mobiltelefon, Handy
phones 2             | {Home,Private,Other} Phone
phones 8             | Fax, Fax Number, Business Fax
title                | Title
role                 | Job Title, Position, Role, Job, Occupation
company              | Company, Company Name, Organi{z,s}ation, Organi{z,s}ation Name, Firma
company              | Account, Account Name, Employer, Business Name
contact              | Contact, Contact Person, Main Contact
website              | Website, Web Site, Web, URL, Homepage, Home Page, Web Page, Website URL
website              | Webseite
domain               | Domain, Domain Name, Company Domain, Company Domain Name
industry             | Industry, Sector, Branche
source               | Source, Lead Source, Origin
status               | Status, Lead Status
tags                 | Tags, Tag, Labels, Categories, Category, Groups, Keywords
notes                | Notes, Note, Comments, Comment, Description, Remarks, Notizen
address              | Address, Street Address, Postal Address, Mailing Address
address.street       | Street, Street 2, Address Line {1,2}, Address {1,2}, Straße
address.city         | City, Town, Locality, Ort, Stadt
address.postcode     | Postcode, Post Code, Postal Code, Zip, Zip Code, PLZ, Postleitzahl
address.region       | Region, State, Province, County, State/{Region,Province}, Bundesland
address.country      | Country, Country/Region, Nation, Land
birthday             | Birthday, Birth Date, Date of Birth, Birthdate, DOB, Geburtstag
value                | Value, Amount, Deal Value, Deal Amount, Opportunity Amount
currency             | Currency, Currency Code
stage                | Stage, Deal Stage, Pipeline Stage
pipeline             | Pipeline
probability          | Probability, Win Probability, Deal Probability
close_date           | Close Date, Expected Close Date, Closing Date, Closed Date
lost_reason          | Lost Reason, Loss Reason, Reason Lost
vat_id               | VAT ID, VAT Number, VAT, Tax ID, USt-IdNr
payment_terms        | Payment Terms
last_contact         | Last Contact, Last Contacted
""")

_PRESET_SPECS = {
    "google": """
name                          | Name
tags                          | Labels, Group Membership
company                       | Organization Name
role                          | Organization Title
-                             | Photo
emails N email                | ~email(?P<n>\\d+)value
primary N email               | ~email(?P<n>\\d+)(?:label|type)
phones N phone                | ~phone(?P<n>\\d+)value
primary N phone               | ~phone(?P<n>\\d+)(?:label|type)
website N                     | ~website(?P<n>\\d+)value
- N                           | ~(?:website|address)(?P<n>\\d+)(?:label|type)
company N                     | ~organization(?P<n>\\d+)name
role N                        | ~organization(?P<n>\\d+)title
address.formatted N address   | ~address(?P<n>\\d+)formatted
address.street N address      | ~address(?P<n>\\d+)(?:street|extendedaddress)
address.city N address        | ~address(?P<n>\\d+)city
address.region N address      | ~address(?P<n>\\d+)region
address.postcode N address    | ~address(?P<n>\\d+)postalcode
address.country N address     | ~address(?P<n>\\d+)country
?                             | ~(?:address|organization)\\d+\\w*
""",
    "outlook": """
name.prefix                   | Title, Anrede
role                          | Job Title, Position
?                             | Department, Abteilung, Nickname
address.street 0 business     | {Business,Work} Street{, 2, 3}, Straße geschäftlich{, 2, 3}
address.city 0 business       | {Business,Work} City, Ort geschäftlich
address.postcode 0 business   | {Business,Work} {Postal Code,Zip,Zip Code}
address.postcode 0 business   | Postleitzahl geschäftlich
address.region 0 business     | {Business,Work} {State,Region}, Region geschäftlich
address.country 0 business    | {Business,Work} Country{,/Region}, Land/Region geschäftlich
address.street 1 home         | Home Street{, 2, 3}, Straße privat{, 2, 3}
address.city 1 home           | Home City, Ort privat
address.postcode 1 home       | Home {Postal Code,Zip,Zip Code}, Postleitzahl privat
address.region 1 home         | Home {State,Region}, {Bundesland/Kanton,Region} privat
address.country 1 home        | Home Country{,/Region}, Land/Region privat
address.street 2 other        | Other Street{, 2, 3}, Weitere Straße{, 2, 3}
address.city 2 other          | Other City, Weiterer Ort
address.postcode 2 other      | Other {Postal Code,Zip,Zip Code}, Weitere Postleitzahl
address.region 2 other        | Other {State,Region}, Weitere{s/r Bundesland/Kanton, Region}
address.country 2 other       | Other Country{,/Region}, Weiteres/e Land/Region
emails                        | E-mail Address, E-Mail-Adresse, Email Work
emails 1                      | Email {Home,Other}
emails N                      | ~e?mail(?P<n>\\d)(?:address|adresse)
-                             | ~e?mail\\d?(?:type|typ|displayname|angezeigtername)
phones                        | Business Phone{, 2}, Company Main Phone
phones                        | Telefon geschäftlich{, 2}, Telefon Firma
phones 1                      | Mobile Phone, Home Mobile, Mobiltelefon{, 2}
phones 2                      | Home Phone{, 2}, Primary Phone, Haupttelefon
phones 2                      | Telefon privat{, 2}, Telefon (privat{, 2})
phones 3                      | Other Phone, Car Phone, Weiteres Telefon, Autotelefon
phones 7                      | Pager
phones 8                      | {Business,Home,Other} Fax, Fax {geschäftlich,privat}, Weiteres Fax
tags                          | Categories, Kategorien
website                       | Web Page, Webseite, Website {Work,Home Page}
website 1                     | Website {Blog,Profile,Other}
""",
    "thunderbird": """
name                          | Display Name
?                             | Nickname, Screen Name, Department
emails                        | Primary Email
emails 1                      | Secondary Email
phones                        | Work Phone
phones 1                      | Mobile Number
phones 2                      | Home Phone
phones 7                      | Pager Number
phones 8                      | Fax Number
address.street 0 work         | Work Address{, 2}
address.city 0 work           | Work City
address.region 0 work         | Work State
address.postcode 0 work       | Work ZipCode
address.country 0 work        | Work Country
address.street 1 home         | Home Address{, 2}
address.city 1 home           | Home City
address.region 1 home         | Home State
address.postcode 1 home       | Home ZipCode
address.country 1 home        | Home Country
role                          | Job Title
company                       | Organization
website                       | Web Page 1
website 1                     | Web Page 2
birthday.year                 | Birth Year
birthday.month                | Birth Month
birthday.day                  | Birth Day
""",
    "linkedin": """
website                       | URL, Profile URL
role                          | Position
?                             | Connected On
""",
    # Data Loader's API names (BILLINGCITY) and the labels of reports (Billing City).
    "salesforce": """
external.salesforce           | ID
company                       | Account Name, Company
stage                         | StageName, Stage
value                         | Amount
currency                      | CurrencyIsoCode, {Opportunity,Amount} Currency
close_date                    | CloseDate, Close Date
source                        | LeadSource, Lead Source
role                          | Title
phones 1                      | MobilePhone, Mobile
phones 8                      | Fax
address.street 0 billing      | {Billing,Mailing,} Street
address.city 0 billing        | {Billing,Mailing,} City
address.postcode 0 billing    | {Billing,Mailing,} {PostalCode,Zip/Postal Code}
address.region 0 billing      | {Billing,Mailing,} {State,State/Province}
address.country 0 billing     | {Billing,Mailing,} Country
address.street 1 shipping     | {Shipping,Other} Street
address.city 1 shipping       | {Shipping,Other} City
address.postcode 1 shipping   | {Shipping,Other} {PostalCode,Zip/Postal Code}
address.region 1 shipping     | {Shipping,Other} {State,State/Province}
address.country 1 shipping    | {Shipping,Other} Country
""",
    "hubspot": """
external.hubspot              | Record ID
phones                        | Phone Number
phones 1                      | Mobile Phone Number
company                       | Company Name, Associated Company{, (Primary)}
contact                       | Associated Contact{, (Primary)}
status                        | Lead Status
status 10                     | Lifecycle Stage
website                       | Website URL
domain                        | Company Domain Name
name                          | Deal Name
stage                         | Deal Stage
source                        | Original Source
address.street                | Street Address
address.region                | State/Region
address.country               | Country/Region
""",
}

# Pipedrive prefixes each column with its entity (`Person - Email - Work`); the entity of the
# record type fills the record, the others name what it links to. ADDR: the address prefix.
_PIPEDRIVE_ADDRESS = """
address.formatted             | ~ADDR(?:\\w*(?:full|combined|formatted)\\w*)?
address.house                 | ~ADDR\\w*(?:house|number)\\w*
address.street                | ~ADDR\\w*(?:street|road)\\w*
address.city                  | ~ADDR\\w*(?:city|town|locality)\\w*
address.postcode              | ~ADDR\\w*(?:zip|postal)\\w*
address.region                | ~ADDR\\w*(?:state|county|region)\\w*
address.country               | ~ADDR\\w*country\\w*
"""
_PIPEDRIVE = {
    "person": """
name                          | Person - Name
name.first                    | Person - First name
name.last                     | Person - Last name
emails                        | ~personemail(?:work)?
emails 1                      | ~personemail(?:home|other)
phones                        | ~personphone(?:work)?
phones 1                      | ~personphonemobile
phones 2                      | ~personphone(?:home|other)
company                       | Person - Organization
company 1                     | Organization - Name
role                          | Person - {Job title,Title}
tags                          | Person - Label{,s}
birthday                      | Person - Birthday
notes                         | Person - Notes
"""
    + _PIPEDRIVE_ADDRESS.replace("ADDR", "personpostaladdress"),
    "contact": """
external.pipedrive            | Person - ID
""",
    "lead": """
external.pipedrive            | Lead - ID
external.pipedrive 1          | Person - ID
source                        | Lead - Source
tags                          | Lead - Label{,s}
company 2                     | Lead - Organization
value                         | Lead - Value
""",
    "company": """
name                          | Organization - Name
external.pipedrive            | Organization - ID
tags                          | Organization - Label{,s}
website                       | Organization - Website
industry                      | Organization - Industry
notes                         | Organization - Notes
"""
    + _PIPEDRIVE_ADDRESS.replace("ADDR", "organizationaddress"),
    "deal": """
name                          | Deal - Title
external.pipedrive            | Deal - ID
value                         | Deal - Value
currency                      | Deal - Currency
stage                         | Deal - Stage
outcome                       | Deal - Status
pipeline                      | Deal - Pipeline
probability                   | Deal - Probability
close_date                    | Deal - Expected close date
lost_reason                   | Deal - Lost reason
tags                          | Deal - Label{,s}
company                       | Deal - Organization
company 1                     | Organization - Name
contact                       | Deal - Contact person
contact 1                     | Person - Name
contact 2                     | ~personemail\\w*
""",
    # Any other column of an entity holds what no field of ours does.
    "rest": """
?                             | ~(?:person|organization|deal|lead|activity|product)\\w*
""",
}


def _own_entity(preset: str, rtype: str) -> str:
    """Entries that depend on the record type: which entity's id is the record's own."""
    entity = {
        "salesforce": {"contact": "Contact", "company": "Account", "lead": "Lead"},
        "hubspot": {"contact": "Contact", "company": "Company", "lead": "Contact"},
    }[preset].get(rtype, "Opportunity" if preset == "salesforce" else "Deal")
    if preset == "hubspot":
        return f"external.hubspot | {entity} ID\n"
    account = "external.salesforce" if rtype == "company" else "link.company.salesforce"
    return (
        f"external.salesforce | {entity} ID\n"
        f"name | Name, {entity} Name\n"
        f"{account} | AccountId, Account ID\n"
    )


@dataclass(frozen=True, slots=True)
class _Aliases:
    """Entries in order, the names in a dict: a file may have thousands of columns."""

    names: dict[str, tuple[int, _Rule | _Make]]
    patterns: tuple[tuple[int, re.Pattern[str], _Rule | _Make], ...]

    @classmethod
    def of(cls, entries: Sequence[_Entry]) -> _Aliases:
        names: dict[str, tuple[int, _Rule | _Make]] = {}
        patterns = []
        for position, (match, make) in enumerate(entries):
            if isinstance(match, str):
                names.setdefault(match, (position, make))
            else:
                patterns.append((position, match, make))
        return cls(names, tuple(patterns))

    def find(self, key: str) -> _Rule | None:
        """The rule of the first entry that matches `key`, a compared name."""
        named = self.names.get(key)
        for position, pattern, make in self.patterns:
            if named and position > named[0]:
                break
            match = pattern.fullmatch(key)
            if match:
                return make if isinstance(make, _Rule) else make(match)
        if named is None:
            return None
        return named[1] if isinstance(named[1], _Rule) else None


@cache
def _table(preset: str | None, rtype: str) -> _Aliases:
    """The preset's entries, then the generic ones: the first that matches a header wins."""
    own: list[_Entry] = []
    if preset in ("salesforce", "hubspot"):
        own = _spec(_own_entity(preset, rtype) + _PRESET_SPECS[preset])
    elif preset == "pipedrive":
        person = _PIPEDRIVE["person"] if rtype in ("contact", "lead") else ""
        own = _spec(_PIPEDRIVE.get(rtype, "") + person + _PIPEDRIVE["rest"])
    elif preset is not None:
        own = _spec(_PRESET_SPECS[preset])
    return _Aliases.of([*own, *_GENERIC])


def _lookup(aliases: _Aliases, header: str) -> _Rule | None:
    key = _norm(header)
    for candidate in (key, key.rstrip("0123456789")):  # `Email 2`, `Phone (3)`
        rule = aliases.find(candidate)
        if rule is not None:
            return rule if rule.target else None
    return None


# -- guessing the preset -------------------------------------------------------------------

_SIGNATURES: dict[str, tuple[str, ...]] = {
    "google": (
        r"(?:email|phone|address|website|organization|relation|event|customfield)\d+"
        r"(?:value|label|type|formatted|name|title)",
        r"groupmembership|givenname|familyname|additionalname|fileas|phonetic\w+|nameprefix",
    ),
    "outlook": (
        r"e?mail(?:\d)?(?:address|adresse|displayname|angezeigtername|type|typ)",
        r"(?:business|home|other)(?:street\d?|city|state|postalcode|countryregion|fax|phone\d?)",
        r"mobilephone|companymainphone|categories|webpage|jobtitle|carphone|primaryphone",
        r"vorname|nachname|firma|kategorien|notizen|anrede|mobiltelefon|\w+geschäftlich\d?",
        r"\w+privat\d?|weitere\w+",
    ),
    "thunderbird": (
        r"primaryemail|secondaryemail|displayname|screenname|mobilenumber|faxnumber|pagernumber",
        r"(?:home|work)(?:address\d?|zipcode)|webpage[12]|birth(?:year|month|day)|custom[1-4]",
    ),
    "linkedin": (r"connectedon|url|position|emailaddress",),
    "salesforce": (
        r"isdeleted|systemmodstamp|createdbyid|lastmodifiedbyid|ownerid|masterrecordid|stagename",
        r"accountid|(?:billing|shipping|mailing)(?:street|city|state|postalcode|country)",
        r"leadsource|forecastcategory|isclosed|iswon|fiscal\w*|expectedrevenue|annualrevenue",
        r"numberofemployees|currencyisocode|opportunityname|accountname|accountowner",
    ),
    "hubspot": (
        r"recordid|lifecyclestage|leadstatus|(?:contact|company|deal)owner|associated\w+",
        r"phonenumber|mobilephonenumber|companydomainname|dealname|dealstage|websiteurl",
        r"stateregion|countryregion|streetaddress|createdate|lastactivitydate|originalsource",
    ),
}
_SIGNATURE_RES = {
    preset: re.compile("|".join(f"(?:{p})" for p in patterns))
    for preset, patterns in _SIGNATURES.items()
}
_PIPEDRIVE_RE = re.compile(r"(?:Person|Organization|Deal|Lead|Activity|Product) - \S", re.I)


def guess_preset(header: Sequence[str]) -> str | None:
    """The preset whose distinctive column names the header has most of: at least two, as one
    (`Email Address`, `Phone Number`) is common to many files."""
    names = [h for h in header if h.strip()]
    if not names:
        return None
    scores = {p: 0 for p in PRESETS}
    for name in names:
        key = _norm(name)
        for preset, regex in _SIGNATURE_RES.items():
            if regex.fullmatch(key):
                scores[preset] += 1
        if _PIPEDRIVE_RE.match(name.strip()):
            scores["pipedrive"] += 2
    best = max(PRESETS, key=lambda p: scores[p])  # ties: the first in PRESETS
    return best if scores[best] >= 2 else None


# -- the plan: a field for each column ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Col:
    name: str
    key: str | None  # the resolved target (see _Rule); None: unknown
    rank: int = 0
    slot: str = ""


_OVERRIDE = -1000  # --map beats every preset and alias
_FALLBACK = 20  # names of this rank or worse (a nickname) give way to first and last name


def _record_type(rtype: str) -> RecordType:
    found = RECORD_TYPES.get(rtype)
    if found is None:
        raise UsageError(
            f"cannot import '{rtype}' records", hint="one of: " + ", ".join(RECORD_TYPES)
        )
    return found


def _settable(rtype: RecordType) -> list[str]:
    return [f.name for f in rtype.fields if f.writable and f.kind is not Kind.CUSTOM]


def _resolve(rule: _Rule, rtype: RecordType) -> _Col | None:
    """`rule` made concrete for the record type, or None when it has no such field."""
    target, rank, slot = rule.target, rule.rank, rule.slot
    person = rtype.name in ("contact", "lead")
    if target in ("-", "primary"):
        return _Col("", target, rank, slot)
    if target == "name":
        return _Col("", rtype.title, rank, slot)  # a deal's name is its title
    if target.startswith("name."):
        return _Col("", target, rank, slot) if person else None
    if target == "nickname":
        return _Col("", "name", _FALLBACK, slot) if person else None
    if target == "role":
        return _Col("", "title", rank, slot) if person else None
    if target == "company" and rtype.name == "company":
        return _Col("", "name", rank + 50, slot)  # a company list often names it `Company`
    if target == "contact" and person:
        return _Col("", "name", rank + 40, slot)
    if target.startswith("address"):
        return _Col("", target, rank, slot) if rtype.field("address") else None
    if target == "outcome":
        return _Col("", target, rank, slot) if rtype.field("stage") else None
    if target.startswith("birthday."):
        return _Col("", target, rank, slot) if rtype.field("birthday") else None
    if target.startswith("external."):
        return _Col("", target, rank, slot) if rtype.field("external_ids") else None
    if target.startswith("link."):
        ref = rtype.field(target.split(".")[1])
        return _Col("", target, rank, slot) if ref and ref.kind is Kind.REF else None
    found = rtype.field(target)
    if found is None or not found.writable or found.kind is Kind.CUSTOM:
        return None
    return _Col("", found.name, rank, slot)


def _own_name(header: str, rtype: RecordType) -> _Col | None:
    """A column named as crm names a field (`vat_id`, `address.city`, `custom.size`)."""
    text = header.strip().lower()
    head, _, rest = text.partition(".")
    if head == "custom" and rest:
        return _Col(header, "custom." + header.strip()[7:], 0, "")
    if head == "address" and rest in ADDRESS_KEYS and rtype.field("address"):
        return _Col(header, text, 0, "")
    if head == "external_ids" and rest:
        return _Col(header, f"external.{rest}", 0, "")
    found = rtype.field(re.sub(r"[\s-]+", "_", text))
    if found is not None and found.writable and found.kind is not Kind.CUSTOM:
        return _Col(header, found.name, 0, "")
    return None


def _override_target(column: str, value: str, rtype: RecordType) -> _Col:
    text = value.strip()
    if text == "-":
        return _Col(column, "-", _OVERRIDE, "override")
    head, _, rest = text.partition(".")
    if head == "custom":
        if not rest.strip():
            raise UsageError(f"--map {column}={value}: name the custom field, e.g. custom.size")
        return _Col(column, "custom." + rest.strip(), _OVERRIDE, "override")
    if head == "external" and rest.strip():
        return _Col(column, f"external.{rest.strip().lower()}", _OVERRIDE, "override")
    if rtype.field("address") and ((head in ADDRESS_KEYS and not rest) or head == "address"):
        part = head if head in ADDRESS_KEYS else rest
        if part == "":
            return _Col(column, "address", _OVERRIDE, "override")
        if part in ADDRESS_KEYS:
            return _Col(column, f"address.{part}", _OVERRIDE, "override")
        raise UsageError(f"--map {column}={value}: address has parts {', '.join(ADDRESS_KEYS)}")
    found = rtype.field(text)
    if found is not None and found.writable and found.kind is not Kind.CUSTOM and not rest:
        return _Col(column, found.name, _OVERRIDE, "override")
    known = _settable(rtype)
    close = difflib.get_close_matches(text, known, n=3)
    raise UsageError(
        f"--map {column}={value}: {rtype.name} has no field '{text}'"
        + (f"; did you mean {', '.join(close)}?" if close else ""),
        hint=f"fields: {', '.join(known)}; or custom.NAME, an address part, or - to skip",
    )


def _override_column(column: str, header: Sequence[str]) -> str:
    """The header column a --map names: exactly, or ignoring case and punctuation if unique."""
    if column in header:
        return column
    loose = [h for h in header if _norm(h) == _norm(column) and h]
    if len(loose) == 1:
        return loose[0]
    close = difflib.get_close_matches(column, [h for h in header if h], n=3, cutoff=0.5)
    shown = ", ".join(f"'{h}'" for h in header[:40] if h) + (", ..." if len(header) > 40 else "")
    raise UsageError(
        f"--map: the file has no column '{column}'"
        + (f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""),
        hint=f"its columns: {shown}",
    )


def _plan(
    header: Sequence[str], rtype_name: str, preset: str | None, overrides: Mapping[str, str]
) -> list[_Col]:
    rtype = _record_type(rtype_name)
    if preset is not None and preset not in PRESETS:
        close = difflib.get_close_matches(preset, PRESETS, n=1)
        raise UsageError(
            f"unknown preset '{preset}'" + (f"; did you mean {close[0]}?" if close else ""),
            hint="presets: " + ", ".join(PRESETS),
        )
    forced: dict[str, _Col] = {}
    for column, value in overrides.items():
        name = _override_column(column, header)
        forced[name] = _override_target(name, value, rtype)
    entries = _table(preset, rtype.name)
    plan: list[_Col] = []
    for name in header:
        if not name:
            continue  # the overflow of rows longer than the header: never mapped
        if name in forced:
            plan.append(forced[name])
            continue
        rule = _lookup(entries, name)
        col = _resolve(rule, rtype) if rule else None
        if col is None:
            col = _own_name(name, rtype)
        plan.append(_Col(name, col.key, col.rank, col.slot) if col else _Col(name, None))
    return plan


def _shown(key: str | None) -> str | None:
    """How `mapping_report` names a target: as one would write it in --map."""
    if key is None:
        return None
    if key == "primary":
        return "-"
    if key in ("address.formatted",):
        return "address"
    if key == "address.house":
        return "address.street"
    if key == "outcome":
        return "stage"
    if key.startswith(("name.", "birthday.")):
        return key.partition(".")[0]
    if key.startswith("link."):
        return key.split(".")[1]
    return key


def mapping_report(
    header: Sequence[str], rtype: str, preset: str | None, overrides: Mapping[str, str]
) -> list[tuple[str, str | None]]:
    """Column -> the field it fills (`emails`, `address.city`, `custom.size`, `-` for ignored)
    or None when it maps to nothing, for --dry-run."""
    return [(col.name, _shown(col.key)) for col in _plan(header, rtype, preset, overrides)]


def mapper(
    header: Sequence[str], rtype: str, preset: str | None, overrides: Mapping[str, str]
) -> Callable[[Mapping[str, str]], Mapped]:
    """A function turning one row (column -> cell) into a Mapped record of type `rtype`.

    `preset` is one of PRESETS or None (columns named like our fields map by themselves; see
    guess_preset). `overrides` is COLUMN -> FIELD from --map: FIELD may be `custom.NAME`, an
    address part, or `-` to ignore the column. Raise UsageError for an unknown preset, a --map
    naming a column not in the header, or a field that the record type does not have.
    """
    plan = _plan(header, rtype, preset, overrides)
    kind = _record_type(rtype)
    reading = _Reading(preset=preset, german=_german(header))
    return lambda row: _apply(plan, kind, row, reading)


@dataclass(frozen=True, slots=True)
class _Reading:
    """How a file writes its values: the preset, and whether its headers are German (then
    dates are day first and `,` is the decimal comma) or English (month first, `.`)."""

    preset: str | None
    german: bool


_GERMAN_RE = re.compile(
    r"vorname|nachname|weiterevornamen|firma|abteilung|anrede|geburtstag|jahrestag|notizen"
    r"|kategorien|mobiltelefon|haupttelefon|autotelefon|webseite|emailadresse|emailtyp"
    r"|\w+geschäftlich\d?|\w+privat\d?|weitere\w+|stra(?:ß|ss)e|postleitzahl|plz|ort|stadt"
    r"|bundesland|land|branche|betrag|wert|währung|waehrung|quelle|notiz|telefon"
)
_ENGLISH_RE = re.compile(
    r"(?:first|last|middle|given|family|display|company|full)name|company|department|birthday"
    r"|birthdate|dateofbirth|dob|anniversary|notes?|categories|jobtitle|\w*phone\d?|webpage"
    r"|e?mail\d?(?:address|type|displayname)|(?:business|home|other|work)\w+|street|city|zip"
    r"|zipcode|postalcode|postcode|state|country\w*|industry|amount|value|currency|website"
    r"|(?:person|organization|deal|lead|account|opportunity|contact)\w+|\w+(?:__c|id)"
)


def _german(header: Sequence[str]) -> bool:
    """Whether more of the header's names are German (`Geburtstag`, `Straße geschäftlich`)
    than English (`Birthday`, `Business Street`)."""
    german = english = 0
    for name in header:
        key = _norm(name)
        if _GERMAN_RE.fullmatch(key):
            german += 1
        elif _ENGLISH_RE.fullmatch(key):
            english += 1
    return german > english


# -- applying the plan to a row ----------------------------------------------------------

_Found = tuple[int, int, str, str]  # (rank, column index, column, text)
_GOOGLE_SYSTEM = frozenset({"mycontacts", "starred", "othercontacts"})
_SPLIT = {
    "emails": re.compile(r"\s*:::\s*|[\s,;]+"),
    "phones": re.compile(r"\s*(?::::|[;,\n])\s*"),
    "tags": re.compile(r"\s*(?::::|[;,\n])\s*"),
}
_PERCENT_RE = re.compile(r"(\d{1,3})(?:\.0*)?\s*%?")


def _clean(text: str) -> str:
    """Trimmed, without the apostrophe a CSV export put before `=`, `+`, `-`, `@`."""
    text = text.strip()
    return text[1:] if text[:1] == "'" and text[1:2] in ("=", "+", "-", "@") else text


def _one_line(text: str, joiner: str = " ") -> str:
    return joiner.join(part.strip() for part in text.splitlines() if part.strip())


def _no_date(text: str) -> bool:
    return not text.strip("0/.- ")  # Outlook writes 0/0/00 for "no date"


def _tag(text: str) -> str | None:
    text = text.strip().removeprefix("*").strip()
    if not text or _norm(text) in _GOOGLE_SYSTEM:
        return None  # Google's own groups ("* myContacts", "* starred") are no tags
    return re.sub(r"[\s,]+", "-", text)  # a tag has no spaces


class _Row:
    """One row's cells sorted by what they fill, and the unknown cells so far."""

    def __init__(self, plan: Sequence[_Col], row: Mapping[str, str]) -> None:
        self.custom: dict[str, str] = {}
        self.unknown: dict[str, str] = {}
        self.singles: dict[str, list[_Found]] = {}
        self.lists: dict[str, list[tuple[int, int, str, str]]] = {}  # rank, index, slot, text
        self.addresses: dict[str, dict[str, list[_Found]]] = {}
        self.primary: set[str] = set()  # Google slots whose label starts with "* "
        for index, col in enumerate(plan):
            text, key = _clean(row.get(col.name) or ""), col.key
            if key == "primary" and text.startswith("*"):
                self.primary.add(col.slot)
            if not text or key in ("-", "primary"):
                continue
            if key is None:
                self.unknown[col.name] = text
            elif key.startswith("custom."):
                self.custom[key[7:]] = text
            elif key in _SPLIT:
                self.lists.setdefault(key, []).append((col.rank, index, col.slot, text))
            elif key.startswith("address"):
                parts = self.addresses.setdefault(col.slot, {})
                parts.setdefault(key, []).append((col.rank, index, col.name, text))
            else:
                self.singles.setdefault(key, []).append((col.rank, index, col.name, text))

    def lose(self, found: Iterable[_Found], keep: str | None = None) -> None:
        """Cells that fill nothing after all: unknown, unless they repeat the kept text."""
        for _, _, column, text in found:
            if text != keep:
                self.unknown[column] = text

    def pick(self, key: str) -> str | None:
        """The best text for a one-value field; the other columns' texts become unknown."""
        found = sorted(self.singles.pop(key, []))
        if not found:
            return None
        self.lose(found[1:], found[0][3])
        return found[0][3]


def _apply(
    plan: Sequence[_Col], rtype: RecordType, row: Mapping[str, str], reading: _Reading
) -> Mapped:
    cells = _Row(plan, row)
    fields: dict[str, str | list[str]] = {}
    _name_into(fields, cells, rtype.title)
    _birthday_into(fields, cells, reading)
    _outcome_into(fields, cells)
    external: tuple[str, str] | None = None
    found = sorted(
        (r, i, c, t, k)
        for k, v in cells.singles.items()
        for r, i, c, t in v
        if k.startswith("external.")
    )
    if found:
        external = (found[0][4][9:], found[0][3])
        cells.lose([f[:4] for f in found[1:]])
        for key in {f[4] for f in found}:
            del cells.singles[key]
    for key, items in cells.lists.items():
        values: list[str] = []
        seen: set[str] = set()
        for *_, text in sorted(items, key=lambda x: (x[2] not in cells.primary, x[0], x[1])):
            for part in _SPLIT[key].split(text):
                value = _tag(part) if key == "tags" else part.strip()
                if value and value.casefold() not in seen:
                    seen.add(value.casefold())
                    values.append(value)
        if values:
            fields[key] = values
    _address_into(fields, cells)
    links: dict[str, tuple[str, str]] = {}
    for key in [k for k in cells.singles if k.startswith("link.")]:
        _, ref, system = key.split(".", 2)
        ident = cells.pick(key)
        if ident is not None:
            links[ref] = (system, ident)
            cells.singles.setdefault(ref, []).append((_FALLBACK, -1, "", ident))  # no name: the id
    amounts: dict[str, str] = {}
    for key in list(cells.singles):
        value = cells.pick(key)
        if value is None or (key == "close_date" and _no_date(value)):
            continue
        spec = rtype.field(key)
        if spec is not None and spec.kind is not Kind.LONGTEXT:
            value = _one_line(value)
        if key == "probability":  # Salesforce writes 100.0
            match = _PERCENT_RE.fullmatch(value)
            value = match[1] if match else value
        if spec is not None and spec.kind is Kind.MONEY:
            amounts[key] = value
            continue
        if key == "status" and rtype.name == "lead" and reading.preset == "salesforce":
            value = _SALESFORCE_LEAD_STATUS.get(_norm(value), value)
        fields[key] = value
    _amounts_into(fields, amounts, rtype, reading)
    cells.unknown.pop("", None)  # an id standing in for a missing name is no column
    return Mapped(
        fields=fields, custom=cells.custom, unknown=cells.unknown, external=external, links=links
    )


_NAME_PARTS = ("name.prefix", "name.first", "name.middle", "name.last", "name.suffix")


def _name_into(fields: dict[str, str | list[str]], cells: _Row, title: str) -> None:
    """A full name; else the name joined from its parts (prefix first middle last suffix);
    else a fallback such as the nickname. Several --map columns to the name are joined."""
    given = sorted(cells.singles.pop(title, []))
    forced = [f for f in given if f[0] == _OVERRIDE]
    strong = [f for f in given if f[0] < _FALLBACK]
    parts = [cells.pick(key) for key in _NAME_PARTS]
    if forced:
        fields[title] = " ".join(_one_line(f[3]) for f in forced)
        cells.lose(given[len(forced) :])
    elif strong:
        fields[title] = _one_line(strong[0][3])
        cells.lose(given[1:], strong[0][3])
    elif any(parts):
        fields[title] = " ".join(_one_line(p) for p in parts if p)
        cells.lose(given)
    elif given:
        fields[title] = _one_line(given[0][3])
        cells.lose(given[1:], given[0][3])


def _birthday_into(fields: dict[str, str | list[str]], cells: _Row, reading: _Reading) -> None:
    """One birthday column, or Thunderbird's year, month and day as YYYY-MM-DD or --MM-DD."""
    parts = {k: sorted(cells.singles.pop(f"birthday.{k}", [])) for k in ("year", "month", "day")}
    whole = cells.pick("birthday")
    birthday = None if whole is None else _birthday(_one_line(whole), day_first=reading.german)
    if birthday is not None:
        fields["birthday"] = birthday
    year, month, day = (found[0][3] if found else "" for found in parts.values())
    valid = month.isdigit() and day.isdigit() and (not year or year.isdigit())
    if "birthday" not in fields and valid:
        prefix = f"{int(year):04d}-" if year else "--"
        fields["birthday"] = f"{prefix}{int(month):02d}-{int(day):02d}"
        for found in parts.values():
            cells.lose(found[1:])
        return
    for found in parts.values():
        cells.lose(found)


_DATE_RE = re.compile(r"(\d{1,2})([./])(\d{1,2})\2(\d{4}|\d{2})\.?")
_MIDNIGHT_RE = re.compile(r"\s+(?:0?0|12):00(?::00)?(?:\s*[AP]M)?", re.IGNORECASE)
_NO_BIRTHDAY_YEAR = 4501  # Outlook's "None" date is 1/1/4501


def _birthday(text: str, *, day_first: bool) -> str | None:
    """A birthday as YYYY-MM-DD from Outlook's `1/20/1991` (month first with English
    headers, day first with German ones) or `20.01.1991` (always day first); None for
    Outlook's `0/0/00`, `00.00.0000` and 1/1/4501 (no birthday). A value that cannot be read
    unambiguously is a left-out Remarked (one valid in the other order only, such as
    20/01/1991 with English headers, is read in that order); other text is returned as found
    (ISO dates, or text that validation reports)."""
    text = _MIDNIGHT_RE.sub("", text.strip())  # `1/20/1991 0:00:00`: a date, not a moment
    if _no_date(text):
        return None
    match = _DATE_RE.fullmatch(text)
    if match is None:
        return text
    first, separator, second, year = match[1], match[2], match[3], match[4]
    dotted = separator == "."
    day, month = (first, second) if dotted or day_first else (second, first)
    order = "day.month.year" if dotted else "day/month/year" if day_first else "month/day/year"
    if len(year) == 2:
        why = f"'{text}' has a two-digit year (19{year} or 20{year}?); left out"
        return Remarked(text, why, left_out=True)
    if int(year) == _NO_BIRTHDAY_YEAR:
        return None
    # 20/01/1991 in an English file: when only the other order makes it a date, it is that.
    orders = [(day, month)] if dotted else [(day, month), (month, day)]
    for d, m in orders:
        try:
            return dt.date(int(year), int(m), int(d)).isoformat()
        except ValueError:
            continue
    why = "German headers" if day_first else "English headers"
    read = order if dotted else f"{order}, as files with {why} write it"
    return Remarked(text, f"'{text}' is no date read {read}; left out", left_out=True)


# Salesforce's default lead statuses, classic and Lightning, as ours. A lead converted there
# is qualified here: `converted` is reached only through `crm lead convert`.
_SALESFORCE_LEAD_STATUS = {
    "opennotcontacted": "new",
    "open": "new",
    "workingcontacted": "contacted",
    "working": "contacted",
    "nurturing": "contacted",
    "closedconverted": "qualified",
    "closednotconverted": "unqualified",
}


def _outcome_into(fields: dict[str, str | list[str]], cells: _Row) -> None:
    """Pipedrive's `Deal - Status`: a won or lost deal is in the pipeline's won or lost stage
    (the stage it was closed from is left behind); open keeps its stage."""
    found = sorted(cells.singles.pop("outcome", []))
    if not found:
        return
    cells.lose(found[1:], found[0][3])
    status = found[0][3].strip().casefold()
    if status in ("won", "lost"):
        cells.singles.pop("stage", None)
        fields["stage"] = status  # importing.stage_for: the stage of that status
    elif status != "open":
        cells.lose(found[:1])  # `deleted`: no stage of ours


# -- amounts -----------------------------------------------------------------------------

_CURRENCY_SIGNS = {
    "€": "EUR",
    "£": "GBP",
    "$": "USD",
    "US$": "USD",
    "C$": "CAD",
    "CA$": "CAD",
    "A$": "AUD",
    "AU$": "AUD",
    "NZ$": "NZD",
    "HK$": "HKD",
    "S$": "SGD",
    "R$": "BRL",
    "₹": "INR",
    "₩": "KRW",
    "₪": "ILS",
    "₺": "TRY",
    "₽": "RUB",
    "₴": "UAH",
    "zł": "PLN",
}
_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2009": " ", "\u2212": "-"})
_AMOUNT_RE = re.compile(
    r"(?P<sign>[-+]?)\s*(?P<pre>[^\d\s.,+-][^\d\s]*)?\s*(?P<sign2>[-+]?)"
    r"(?P<number>\d(?:[\d.,'’ ]*\d)?|[.,]\d+)\s*(?P<post>[^\d\s.,'’][^\d]*)?"
)
_PLAIN_RE = re.compile(r"[-+]?\d+(?:\.\d+)?")


def _amounts_into(
    fields: dict[str, str | list[str]],
    amounts: dict[str, str],
    rtype: RecordType,
    reading: _Reading,
) -> None:
    """Money as we write it (`12500.50`), its currency from a sign or code in the cell when the
    row names none; see `_amount`."""
    given = fields.get("currency")
    row_currency = given.strip().upper() if isinstance(given, str) and given.strip() else None
    for key, text in amounts.items():
        amount, code = _amount(text, german=reading.german, currency=row_currency)
        if code is not None and not isinstance(amount, Remarked) and rtype.field("currency"):
            if row_currency is None:
                fields["currency"] = row_currency = code
            elif row_currency != code:
                why = f"'{text}' is in {code}, but the row's currency is {row_currency}; left out"
                amount = Remarked(text, why, left_out=True)
        fields[key] = amount


def _amount(text: str, *, german: bool, currency: str | None = None) -> tuple[str, str | None]:
    """The amount in `text` as digits with an optional `.`, and the currency its sign or code
    names. Spaces and apostrophes group digits; of `.` and `,` both in one amount the last is
    the decimal mark; one of them more than once groups; once, it is the decimal mark unless
    three digits follow it. Then (`1,234`) it groups if it is the file's grouping mark (`,`
    with English headers, `.` with German ones); the other mark (`1.234` in an English file:
    a thousand typed in Germany, or 1.234?) is read as a decimal mark only for a currency
    with three decimals (KWD), else the amount is a left-out Remarked. Text that is no amount
    at all is returned as found, for validation to report."""
    if _PLAIN_RE.fullmatch(text) and not _three_after_mark(text):
        return text, None  # what every program writes: 4500.50, 500000.0
    match = _AMOUNT_RE.fullmatch(text.translate(_SPACES).strip())
    if match is None or (match["pre"] and match["post"]) or (match["sign"] and match["sign2"]):
        return text, None
    sign, code = match["sign"] or match["sign2"], None
    symbol = (match["pre"] or match["post"] or "").strip()
    if symbol:
        code = _CURRENCY_SIGNS.get(symbol) or _currency_code(symbol)
        if code is None:
            return text, None
    number = match["number"]
    marks = [c for c in number if c in ".,"]
    groupers = {c for c in number if c in " '’"}
    decimal = None
    if len(groupers) > 1:
        return text, code
    if len(set(marks)) == 2 or (groupers and marks):
        decimal = marks[-1]
        if marks.count(decimal) > 1:
            return text, code
        grouping = groupers.pop() if groupers else ("," if decimal == "." else ".")
    elif len(marks) > 1:
        grouping = marks[0]
    elif len(marks) == 1:
        head, _, tail = number.partition(marks[0])
        if len(tail) != 3 or not head or len(head) > 3 or head == "0":
            decimal, grouping = marks[0], ""
        elif marks[0] == ("." if german else ","):
            grouping = marks[0]
        elif _three_decimals(code or currency or ""):
            decimal, grouping = marks[0], ""
        else:
            headers = "German" if german else "English"
            why = (
                f"'{text}' could be {head}{tail} or {head}.{tail} in a file with {headers} "
                f"headers; left out (write {head}{tail} or {head}.{tail}0)"
            )
            return Remarked(text, why, left_out=True), code
    else:
        grouping = groupers.pop() if groupers else ""
    whole, _, fraction = number.rpartition(decimal) if decimal else (number, "", "")
    if grouping and grouping in whole:
        if not re.fullmatch(rf"\d{{1,3}}(?:{re.escape(grouping)}\d{{3}})*", whole):
            return text, code  # grouped other than in threes: not ours to guess
        whole = whole.replace(grouping, "")
    if not re.fullmatch(r"\d*", whole) or not re.fullmatch(r"\d*", fraction):
        return text, code
    digits = (whole or "0") + (f".{fraction}" if fraction else "")
    return ("-" if sign == "-" else "") + digits, code


def _three_after_mark(text: str) -> bool:
    """`1.234`: one mark with exactly three digits after it and one to three before."""
    return re.fullmatch(r"[-+]?[1-9]\d{0,2}\.\d{3}", text) is not None


def _currency_code(text: str) -> str | None:
    try:
        return money.normalize_currency(text) if len(text) == 3 and text.isalpha() else None
    except ValidationError:
        return None


def _three_decimals(code: str) -> bool:
    try:
        return money.minor_units(money.normalize_currency(code)) == 3
    except ValidationError:
        return False


def _address_into(fields: dict[str, str | list[str]], cells: _Row) -> None:
    """The first address (by rank) that has anything in it; the others become unknown.

    An address comes as parts, or as one text (Google's `Formatted`, Pipedrive's combined
    address) used only when no part is given. Parts given with --map replace that address's.
    """
    forced = cells.addresses.pop("override", {})
    slots = sorted(
        cells.addresses.values(), key=lambda parts: min(f[:2] for v in parts.values() for f in v)
    )
    chosen: dict[str, list[_Found]] = slots[0] if slots else {}
    chosen_texts = {k: [f[3] for f in v] for k, v in chosen.items()}
    for other in slots[1:]:
        if {k: [f[3] for f in v] for k, v in other.items()} != chosen_texts:  # a copy is no loss
            for found in other.values():
                cells.lose(found)
    for key, found in forced.items():
        cells.lose(chosen.pop(key, []))
        chosen[key] = found
    by_column = {key: sorted(found, key=lambda f: f[1]) for key, found in chosen.items()}
    whole = by_column.pop("address", [])
    formatted = by_column.pop("address.formatted", [])
    if not by_column:
        texts = whole or formatted
        if texts:
            fields["address"] = texts[0][3]
            cells.lose(texts[1:])
        return
    # A plain `Address` column beside city and postcode is the street line.
    street = ", ".join(
        _one_line(f[3], ", ") for f in (*whole, *by_column.pop("address.street", []))
    )
    house = by_column.pop("address.house", [])
    if house:
        street = f"{street} {_one_line(house[0][3])}".strip()
        cells.lose(house[1:])
    if street:
        fields["address.street"] = street
    for key, found in by_column.items():
        fields[key] = _one_line(found[0][3], ", ")
        cells.lose(found[1:])


# =============================================================================================
# Writing


def neutralise(cell: str, *, keep_numbers: bool = False) -> str:
    """A cell no spreadsheet runs as a formula (see crm.text.neutralise)."""
    return _neutralise(cell, keep_numbers=keep_numbers)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple | set | frozenset):
        return "; ".join(_text(v) for v in value)
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {_text(v)}" for k, v in value.items() if v not in (None, ""))
    if isinstance(value, Decimal):
        return format(value, "f")  # never 1E+3
    if isinstance(value, dt.date):  # datetime too
        return value.isoformat()
    return str(value)


def write_csv(
    rows: Iterable[Mapping[str, Any]], columns: Sequence[str], *, excel: bool = False
) -> str:
    """CSV text (RFC 4180, CRLF line ends, header row); lists joined with "; ", None as empty,
    every cell neutralised except plain numbers; `excel` prepends a UTF-8 BOM so that Excel
    reads the file as UTF-8."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([neutralise(c) for c in columns])
    for row in rows:
        writer.writerow([neutralise(_text(row.get(c)), keep_numbers=True) for c in columns])
    return ("\ufeff" if excel else "") + out.getvalue()
