"""vCard codec: read vCard 2.1/3.0/4.0 files into contact fields; write a contact as 3.0 or 4.0.

`read` never raises. A card that cannot be used becomes a `Broken`; whatever was dropped or
changed in a usable card is a warning on its `Card`. Properties with no contact field of ours
(X- properties, IMPP, a second address, ORG units, labels of `itemN.` groups, ...) are kept as
unfolded vCard 3.0 content lines in `Card.extra`; `write` emits them back verbatim, so that
`read(write(card))` gives the same fields, organisation, uid and extra lines.

Reading, step by step: the bytes are decoded (UTF-8 with or without BOM, UTF-16/32 with a BOM
or detected by their NUL bytes, else cp1252 line by line); the text is split into cards at
BEGIN:VCARD / END:VCARD by hand, keeping each card's line number; each card's lines are unfolded
(vCard 2.1 quoted-printable soft line breaks joined first), decoded (QUOTED-PRINTABLE, CHARSET)
and rewritten with vCard 3.0 escaping; then vobject's content-line parser
(`vobject.base.parseLine`) splits each line into group, name, parameters and value.
`vobject.readOne` is not used: it decodes values through its behaviours (losing the raw form the
extra lines keep, leaving `\\:` in Google's URLs, raising binascii.Error on a damaged photo and
VObjectError on `PROFILE:VCard`), hands properties back grouped by name instead of in file
order, and stops at the first bad line, where a card should only lose that line.

Mapping: FN is the name, else N's parts, else ORG, else the first email. An email, phone, URL
or BDAY that is not valid stays a vCard line (with a warning), so nothing is lost. ADR's street,
extended address and PO box become one line `street` (address parts are single-line text).
NOTEs are joined by a blank line. The first ORG with a name is the organisation; its line is
kept (first of the extra lines) only when it has units. A second inline photo, or one that is
no JPEG, PNG or GIF, is dropped with a warning; photo links stay vCard lines.

Writing: no-year birthdays are written `BDAY:--MMDD` in 3.0 as in 4.0. That is RFC 6350's form,
which khard reads in both versions (its date formats start with `--%m%d`) and iOS reads too;
Apple's own `BDAY;X-APPLE-OMIT-YEAR=1604:1604-MM-DD` reads as "born in 1604" in every program that
does not know the parameter (khard included). Reading accepts all three forms.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import datetime as dt
import quopri
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from crm import dates, validate
from crm.errors import ValidationError
from crm.text import sniff_utf16

PRODID = "-//crm//crm//EN"
# A company's web domain, when its card's URL does not tell it (crm writes it; others ignore it).
DOMAIN_PROP = "X-CRM-DOMAIN"
VERSIONS = ("3.0", "4.0")
PHOTO_TYPES = {"jpg": "JPEG", "png": "PNG", "gif": "GIF"}
# Google's and Android's system groups: every contact is in them, they are not tags.
SYSTEM_GROUPS = frozenset({"mycontacts", "starred"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Card:
    """One usable card: contact fields in their stored form, and what else it held."""

    source: str  # the file name as given, for messages
    line: int  # 1-based line of the card's BEGIN:VCARD
    fields: dict[str, Any]  # name, emails, phones, title, address, birthday, website, notes, tags
    organization: str | None  # ORG's first component: the company to find or create
    uid: str | None
    photo: tuple[bytes, str] | None  # image bytes and their extension: jpg, png or gif
    extra: list[str]  # unfolded vCard 3.0 content lines with no field of ours
    warnings: list[str]  # "line N: ..." for everything dropped or changed
    is_organization: bool  # an Apple company card (X-ABShowAs:COMPANY) or KIND:org
    version: str = "3.0"  # the card's VERSION as read (2.1, 3.0, 4.0)
    work_emails: tuple[str, ...] = ()  # the emails of `fields` marked TYPE=WORK


@dataclass(frozen=True, slots=True, kw_only=True)
class Broken:
    """A card nothing could be imported from."""

    source: str
    line: int
    message: str  # one line


# ---------------------------------------------------------------------------------------------
# Reading


def made_uid(rid: str, rtype: str = "contact", created: Any = None) -> str:
    """The UID of the card of a contact (company) that came with none, never changing: made
    from its type, id and `created` timestamp, so that two folders' `john-smith` (made at
    other times) get other UIDs. Without `created`, from the type and id alone (the form
    crm wrote before, still recognised on import)."""
    import uuid

    stamp = _stamp(created)
    name = f"crm:{rtype}:{rid}" + (f":{stamp}" if stamp else "")
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, name)}"


def _stamp(created: Any) -> str | None:
    """`created` as one text however it was read (ISO text or a datetime), in UTC."""
    if isinstance(created, dt.datetime):
        moment = created
    elif isinstance(created, str) and created.strip():
        try:
            moment = dt.datetime.fromisoformat(created.strip().replace("Z", "+00:00"))
        except ValueError:
            return created.strip()  # not a timestamp: still this record's own text
    else:
        return None
    if moment.tzinfo is None:  # read the same on every machine, whatever its time zone
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def read(data: bytes, source: str) -> list[Card | Broken]:
    """Every card in `data`, in file order. Never raises; text outside cards is ignored."""
    try:
        lines = _EOL.split(_as_utf8(data))
        chunks = list(_split_cards(lines))
    except Exception as exc:  # the promise is "never raises": a bug must not stop an import
        return [Broken(source=source, line=1, message=f"cannot read the file ({exc!r:.200})")]
    results: list[Card | Broken] = []
    for begin, body, closed in chunks:
        try:
            results.append(_read_card(source, begin, body, closed))
        except Exception as exc:  # same promise, per card: the other cards still read
            message = f"cannot read this card ({type(exc).__name__}: {exc!s:.200})"
            results.append(Broken(source=source, line=begin, message=_one_line(message)))
    return results


_EOL = re.compile(rb"\r\r\n|\r\n|\n|\r")  # iOS writes CR CR LF
_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


def _as_utf8(data: bytes) -> bytes:
    """The file with line structure in ASCII bytes: UTF-16/32 re-encoded as UTF-8, BOM removed.

    8-bit files stay as they are: each line is decoded on its own later (a file may mix UTF-8
    cards and cp1252 cards, and 2.1 lines name their CHARSET)."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            body = data[len(bom) :]
            return body if codec == "utf-8" else body.decode(codec, "replace").encode()
    sniffed = sniff_utf16(data)
    return data.decode(sniffed, "replace").encode() if sniffed else data


# No leading space: a line starting with one continues the line before (" END:VCARD" is text).
_BEGIN = re.compile(rb"(?:\xef\xbb\xbf)?BEGIN[ \t]*:[ \t]*VCARD[ \t]*", re.IGNORECASE)
_END = re.compile(rb"END[ \t]*:[ \t]*VCARD[ \t]*", re.IGNORECASE)

_Body = list[tuple[int, bytes]]  # (line number, bytes) of the lines between BEGIN and END


def _split_cards(lines: list[bytes]) -> Iterator[tuple[int, _Body, bool]]:
    """(line of BEGIN:VCARD, the lines inside, whether END:VCARD was found) per card."""
    begin = 0
    body: _Body = []
    for number, line in enumerate(lines, 1):
        if _BEGIN.fullmatch(line):
            if begin:  # a BEGIN inside a card: the previous card lost its END
                yield begin, body, False
            begin, body = number, []
        elif begin and _END.fullmatch(line):
            yield begin, body, True
            begin, body = 0, []
        elif begin:
            body.append((number, line))
    if begin:
        yield begin, body, False


class _Prop(NamedTuple):
    """One parsed content line: values still escaped as in vCard 3.0."""

    line: int
    group: str | None
    name: str  # upper case
    params: list[list[str]]  # [name, value, ...] as vobject parses them; [name] when bare (2.1)
    value: str


_Warn = Callable[[int, str], None]


def _read_card(source: str, begin: int, body: _Body, closed: bool) -> Card | Broken:
    warnings: list[str] = []

    def warn(line: int, message: str) -> None:
        warnings.append(f"line {line}: {_one_line(message)}")

    if not closed:
        last = body[-1][0] if body else begin
        warn(begin, f"the card has no END:VCARD; read to line {last}")
    version = _version(body)
    props: list[_Prop] = []
    garbage: list[tuple[int, str]] = []
    for number, raw in _unfold(body, version):
        text = _to_v3(raw, version, number, warn)
        prop = _parse(number, text)
        if prop is None:
            garbage.append((number, f"not a vCard line: '{_clip(text)}'"))
            warn(number, garbage[-1][1])
        elif prop.name not in ("BEGIN", "END", "PROFILE"):  # PROFILE:VCARD says nothing
            props.append(prop)
    mapper = _Mapper(warn)
    card = mapper.map(props)
    if mapper.is_group:  # Apple's and vCard 4's lists of members: no person, no company
        return Broken(source=source, line=begin, message="a group card (a list of contacts)")
    if card is None:
        if garbage:  # most likely what broke it
            line, message = garbage[0]
            return Broken(source=source, line=line, message=f"{message}; nothing usable remains")
        return Broken(
            source=source, line=begin, message="a card with no name, organisation or email"
        )
    fields, organization, uid, photo, extra, is_org = card
    return Card(
        source=source,
        line=begin,
        fields=fields,
        organization=organization,
        uid=uid,
        photo=photo,
        extra=extra,
        warnings=warnings,
        is_organization=is_org,
        version=version,
        work_emails=tuple(mapper.work_emails),
    )


_VERSION = re.compile(rb"VERSION[ \t]*:[ \t]*([0-9.]+)[ \t]*", re.IGNORECASE)


def _version(body: _Body) -> str:
    for _, line in body:  # Thunderbird writes VERSION last
        match = _VERSION.fullmatch(line)
        if match:
            return match[1].decode()
    return "3.0"


_B64_RUN = re.compile(rb"[A-Za-z0-9+/=]+[ \t]*")


def _unfold(body: _Body, version: str) -> Iterator[tuple[int, bytes]]:
    """Logical lines with the number of their first physical line.

    A quoted-printable value ending in `=` continues on the next line whatever it starts with;
    a line starting with a space or tab continues the previous one (2.1 keeps that whitespace,
    3.0 and 4.0 drop it); 2.1 base64 data may go on over unindented lines until a blank line.
    """
    number = 0
    current: bytearray | None = None
    qp = b64 = False
    for line_number, line in body:
        if current is not None and qp and current.endswith(b"="):
            del current[-1]
            current += line
            continue
        if current is not None and line[:1] in (b" ", b"\t"):  # before the blank-line test:
            current += line if version == "2.1" else line[1:]  # a fold may leave just a space
            continue
        if not line.strip():
            continue
        if current is not None and b64 and version == "2.1" and _B64_RUN.fullmatch(line):
            current += line
            continue
        if current is not None:
            yield number, bytes(current)
        number, current = line_number, bytearray(line)
        params = [p.strip().upper() for p in _split_params(_head(line))[1:]]
        qp = "ENCODING=QUOTED-PRINTABLE" in params or "QUOTED-PRINTABLE" in params
        b64 = bool({"ENCODING=B", "ENCODING=BASE64", "BASE64"} & set(params))
    if current is not None:
        yield number, bytes(current)


def _head(line: bytes) -> str:
    """The part before the value (group, name, parameters) as text."""
    text = line.decode("latin-1")
    colon = _value_colon(text)
    return text[:colon] if colon >= 0 else text


def _value_colon(line: str) -> int:
    """Index of the colon that starts the value (colons in quoted parameters do not), or -1."""
    quoted = False
    for i, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            return i
    return -1


def _split_params(head: str) -> list[str]:
    """`item1.TEL;TYPE="a;b";X` → ['item1.TEL', 'TYPE="a;b"', 'X']."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in head:
        if char == '"':
            quoted = not quoted
        if char == ";" and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _to_v3(raw: bytes, version: str, number: int, warn: _Warn) -> str:
    """A logical line as vCard 3.0 text: QUOTED-PRINTABLE and CHARSET decoded, 2.1 re-escaped."""
    colon = _value_colon(raw.decode("latin-1"))
    if colon < 0:
        return _decode(raw, None)[0]
    params = _split_params(raw[:colon].decode("latin-1"))
    kept, charset, qp = [params[0]], None, False
    for param in params[1:]:
        key, eq, value = param.partition("=")
        key, value = key.strip().upper(), value.strip().strip('"')
        if (eq and key == "ENCODING" and value.upper() == "QUOTED-PRINTABLE") or (
            not eq and key == "QUOTED-PRINTABLE"
        ):
            qp = True
        elif eq and key == "CHARSET":
            charset = value
        else:
            kept.append(param)
    value_bytes = raw[colon + 1 :]
    if qp:  # `=Ba` (one case upper, one lower) is no escape but text: test_vcard_2.vcf
        value_bytes = quopri.decodestring(_QP_NOT_HEX.sub(b"=3D", value_bytes))
    text, problem = _decode(value_bytes, charset)
    if problem:
        warn(number, problem)
    head = _decode(";".join(kept).encode("latin-1"), None)[0]
    name = params[0].rsplit(".", 1)[-1].strip().upper()
    if version == "2.1":
        text = _escape_v21(text, name)
    elif qp:
        text = re.sub(r"\r\n|\r|\n", r"\\n", text)
    return f"{head}:{text}"


_QP_NOT_HEX = re.compile(rb"=(?![0-9A-F]{2}|[0-9a-f]{2})")


def _decode(data: bytes, charset: str | None) -> tuple[str, str | None]:
    """Text of `data`: valid UTF-8 is UTF-8 whatever the CHARSET says; else the CHARSET; else
    cp1252 (latin-1 for the five bytes cp1252 leaves undefined). Also a warning, if any."""
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        pass
    if charset:
        try:
            codec = codecs.lookup(charset).name
        except (LookupError, ValueError, TypeError):
            codec = None
        if codec == "utf-8":
            return data.decode("utf-8", "replace"), f"bytes that are not {charset} were replaced"
        if codec:
            try:
                return data.decode(codec), None
            except (UnicodeError, LookupError, ValueError, TypeError):
                pass  # a wrong or non-text CHARSET (base64, rot13): guess as if there were none
    try:
        return data.decode("cp1252"), None
    except UnicodeDecodeError:
        return data.decode("latin-1"), None


def _escape_v21(text: str, name: str) -> str:
    """A vCard 2.1 value in 3.0 escaping.

    2.1 escapes only `\\;`; commas, backslashes and newlines (from quoted-printable) are literal.
    Android writes 3.0 escapes into 2.1 cards, so `\\,` `\\\\` `\\n` are read as escapes too.
    """
    lists = name in ("CATEGORIES", "NICKNAME")  # comma-separated in every version
    out: list[str] = []
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    i = 0
    while i < len(text):
        char = text[i]
        following = text[i + 1] if i + 1 < len(text) else ""
        if char == "\\" and following in (";", ",", "\\"):
            out.append(char + following)
            i += 2
            continue
        if char == "\\" and following in ("n", "N"):
            out.append("\\n")
            i += 2
            continue
        if char == "\\":
            out.append("\\\\")
        elif char == "\n":
            out.append("\\n")
        elif char == "," and not lists:
            out.append("\\,")
        else:
            out.append(char)
        i += 1
    return "".join(out)


# vobject's line pattern backtracks exponentially on a line it rejects (0.5 s for 20
# parameters and no colon, minutes for 30); this pattern accepts the same lines in linear time
# (possessive quantifiers), so vobject only ever sees lines it can parse.
_PARAM = r';[A-Za-z0-9_-]++(?:[=,](?:"[^"]*+"|[^";:,]*+))*+'
_LINE = re.compile(rf"(?:[A-Za-z0-9_-]++\.)?[A-Za-z0-9_-]++;?(?:{_PARAM})*+:", re.DOTALL)


def _parse(number: int, text: str) -> _Prop | None:
    if not _LINE.match(text):
        return None
    import vobject  # here, not at the top: `crm --help` must not pay for it

    try:
        name, params, value, group = vobject.base.parseLine(text, number)
    except vobject.base.ParseError:
        return None
    return _Prop(number, group, name.upper(), params, value)


# ---------------------------------------------------------------------------------------------
# Values


def _unescape(value: str) -> tuple[str, list[str]]:
    r"""Text of an escaped value, and the unknown escapes met (`\.` is read as `.`).

    `\:` and `\"` are known: Apple and Google escape the colon of URLs, Google quotes."""
    out: list[str] = []
    unknown: list[str] = []
    i = 0
    while i < len(value):
        char = value[i]
        if char == "\\" and i + 1 < len(value):
            following = value[i + 1]
            if following in "nN":
                out.append("\n")
            else:
                out.append(following)
                if following not in '\\,;:"':
                    unknown.append("\\" + following)
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out), unknown


def _split(value: str, separator: str) -> list[str]:
    """`value` split at unescaped `separator`s; the parts stay escaped."""
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(value):
        char = value[i]
        if char == "\\" and i + 1 < len(value):
            current.append(value[i : i + 2])
            i += 2
            continue
        if char == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    parts.append("".join(current))
    return parts


def _one_line(text: str) -> str:
    """Text for a single-line field: line breaks and control characters become spaces."""
    return re.sub(r"[\x00-\x1f\x7f]+", " ", text).strip()


def _address_part(escaped: str) -> str:
    """An ADR component as one line (address parts are single-line text): lines joined by ', '."""
    lines = re.split(r"\r\n|\r|\n", _unescape(escaped)[0])
    return ", ".join(line for line in map(_one_line, lines) if line)


def _long_text(text: str) -> str:
    """Text for a multi-line field: LF line ends, no control characters but tabs."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "", text).strip("\n")


def _clip(text: str, width: int = 60) -> str:
    text = _one_line(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def _host(text: str) -> str | None:
    """The web domain of a URL or domain: `https://www.ibm.com/x` gives `ibm.com`."""
    from crm.matching import domain_key

    return domain_key(text) if "@" not in text else None


def _is_empty(value: str) -> bool:
    return not re.sub(r"[\s;,]", "", value)


def _param_values(prop: _Prop, key: str) -> list[str]:
    return [v for p in prop.params if p[0].upper() == key and len(p) > 1 for v in p[1:]]


def _types(prop: _Prop) -> set[str]:
    """TYPE values, including 2.1's bare ones (`TEL;WORK;VOICE`), upper case."""
    values = [p[0] for p in prop.params if len(p) == 1] + _param_values(prop, "TYPE")
    return {t.strip().upper() for v in values for t in v.split(",")}


def _is_base64(prop: _Prop) -> bool:
    encodings = {v.upper() for v in _param_values(prop, "ENCODING")}
    return bool(encodings & {"B", "BASE64"} or {"B", "BASE64"} & _types(prop))


def _content_line(prop: _Prop) -> str:
    """The property as a vCard 3.0 content line.

    2.1's bare parameters become TYPE values, BASE64 becomes ENCODING=b, CHARSET goes (the
    value is decoded); parameter names are upper case. Reading the line again gives it back."""
    parts = [f"{prop.group}.{prop.name}" if prop.group else prop.name]
    bare: list[str] = []
    for name, *values in prop.params:
        key = name.upper()
        if not values:
            if key in ("BASE64", "B"):
                parts.append("ENCODING=b")
            elif key not in ("QUOTED-PRINTABLE", "8BIT", "7BIT"):
                bare.append(name)
            continue
        if key == "CHARSET":
            continue
        if key == "ENCODING":
            encoding = values[0].upper()
            if encoding in ("B", "BASE64"):
                parts.append("ENCODING=b")
            if encoding in ("B", "BASE64", "QUOTED-PRINTABLE", "8BIT", "7BIT"):
                continue
        parts.append(key + "=" + ",".join(_param_value(v) for v in values))
    if bare:
        parts.append("TYPE=" + ",".join(bare))
    value = re.sub(r"\s+", "", prop.value) if _is_base64(prop) else prop.value
    return ";".join(parts) + ":" + value


def _param_value(value: str) -> str:
    return f'"{value}"' if any(c in value for c in ",;:") else value


_DATE = re.compile(r"(\d{4})-?(\d\d)-?(\d\d)(?:T[0-9:.,]*(?:Z|[+-][0-9:]+)?)?")
_SLASHED = re.compile(r"(\d{4})/(\d\d?)/(\d\d?)")
_NO_YEAR = re.compile(r"--(\d\d)-?(\d\d)")


def _birthday(text: str, omit_year: str | None) -> dt.date | str | None:
    """A BDAY value as a date or `--MM-DD`, or None when it is not a day.

    Apple writes a birthday without a year as `BDAY;X-APPLE-OMIT-YEAR=1604:1604-04-15`."""
    match = _DATE.fullmatch(text) or _SLASHED.fullmatch(text)
    if match:
        year, month, day = (int(g) for g in match.groups())
        if year == 0 or match[1] == omit_year:
            return _no_year(month, day)
        try:
            return dt.date(year, month, day)
        except ValueError:
            return None
    match = _NO_YEAR.fullmatch(text)
    return _no_year(int(match[1]), int(match[2])) if match else None


def _no_year(month: int, day: int) -> str | None:
    try:
        return str(validate._birthday(f"--{month:02d}-{day:02d}"))
    except ValidationError:
        return None


def _phone(text: str) -> str | None:
    """The number as written if it is one, else its digits (and a leading +), else None."""
    if text.lower().startswith("tel:"):  # vCard 4.0: tel:+1-418-656-9254;ext=102
        number, *uri_params = text[4:].split(";")
        extension = [p[4:] for p in uri_params if p.lower().startswith("ext=")]
        text = number + (f" ext. {extension[0]}" if extension else "")
    for candidate in (text, ("+" if text.startswith("+") else "") + re.sub(r"\D", "", text)):
        try:
            return validate._phone(candidate)
        except ValidationError:
            continue
    return None


def _tags(value: str) -> list[str]:
    """CATEGORIES as tags: every category split at commas, spaces → '-'."""
    tags = []
    for part in _split(value, ","):
        for category in _unescape(part)[0].split(","):
            tag = re.sub(r"\s+", "-", category.strip())
            if tag and tag.replace("-", "").lower() not in SYSTEM_GROUPS:
                tags.append(validate._tag(tag))
    return tags


_MAGIC = (
    (b"\xff\xd8\xff", "jpg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
)


def _image(data: str) -> tuple[bytes, str] | None:
    """Base64 image data decoded, with the extension its first bytes say, or None."""
    cleaned = re.sub(r"[^A-Za-z0-9+/]", "", data.replace("-", "+").replace("_", "/"))
    cleaned = cleaned[: len(cleaned) - len(cleaned) % 4] if len(cleaned) % 4 == 1 else cleaned
    try:
        raw = base64.b64decode(cleaned + "=" * (-len(cleaned) % 4))
    except (binascii.Error, ValueError):
        return None
    for magic, extension in _MAGIC:
        if raw.startswith(magic):
            return raw, extension
    return None


# ---------------------------------------------------------------------------------------------
# Mapping properties to fields

_NEVER_EXTRA = frozenset({"VERSION", "PRODID", "REV", "N", "FN", "UID"})
_HANDLERS = {
    "FN": "_fn",
    "N": "_n",
    "UID": "_uid",
    "EMAIL": "_email",
    "TEL": "_tel",
    "TITLE": "_title",
    "ORG": "_org",
    "ADR": "_adr",
    "URL": "_url",
    "BDAY": "_bday",
    "NOTE": "_note",
    "CATEGORIES": "_categories",
    "PHOTO": "_photo",
    "KIND": "_kind",
    "X-ABSHOWAS": "_x_abshowas",
    "X-ADDRESSBOOKSERVER-KIND": "_kind",
    DOMAIN_PROP: "_domain",
}
_Mapped = tuple[dict[str, Any], str | None, str | None, tuple[bytes, str] | None, list[str], bool]


class _Mapper:
    """Turns a card's properties into fields; one instance per card."""

    def __init__(self, warn: _Warn) -> None:
        self.warn = warn
        self.extra: list[str] = []
        self.used_altids: set[tuple[str, str]] = set()
        self.fn: str | None = None
        self.n: str | None = None
        self.organization: str | None = None
        self.org_line: str | None = None  # the organisation's ORG line, when it has units
        self.emails: list[str] = []
        self.work_emails: list[str] = []  # TYPE=WORK: their domain may name the organisation
        self.phones: list[str] = []
        self.title: str | None = None
        self.address: dict[str, str] | None = None
        self.birthday: dt.date | str | None = None
        self.website: str | None = None
        self.notes: list[str] = []
        self.tags: list[str] = []
        self.uid: str | None = None
        self.photo: tuple[bytes, str] | None = None
        self.is_org = False
        self.is_group = False
        self.domain: str | None = None
        self.domain_line: str | None = None

    def map(self, props: list[_Prop]) -> _Mapped | None:
        has_title = any(p.name == "TITLE" and not _is_empty(p.value) for p in props)
        for prop in props:
            if prop.name in ("VERSION", "PRODID", "REV") or _is_empty(prop.value):
                continue
            altid = next(iter(_param_values(prop, "ALTID")), None)
            if altid is not None and (prop.name, altid) in self.used_altids:
                continue  # 4.0: another form of a value already read (BDAY given twice)
            method = _HANDLERS.get(prop.name)
            if prop.name == "ROLE" and not has_title and self.title is None:
                method = "_title"  # no TITLE: the role is the closest thing
            used = bool(method and getattr(self, method)(prop))
            if used and altid is not None:
                self.used_altids.add((prop.name, altid))
            if not used and prop.name not in _NEVER_EXTRA:
                self.extra.append(_content_line(prop))
        name = self.fn or self.n or self.organization or next(iter(self.emails), None)
        if not name:
            return None
        if self.domain_line is not None and not self.is_org:
            self.extra.append(self.domain_line)  # not a company card: not ours to read
        fields: dict[str, Any] = {"name": name}
        optional: dict[str, Any] = {
            "emails": self.emails,
            "phones": self.phones,
            "title": self.title,
            "address": self.address,
            "birthday": self.birthday,
            "website": self.website,
            "notes": "\n\n".join(self.notes),
            "tags": self.tags,
        }
        fields.update({key: value for key, value in optional.items() if value})
        if self.is_org:
            domain = self.domain or _host(self.website or "")
            if domain:
                fields["domain"] = domain
            if self.domain and self.website in (f"https://{self.domain}", f"http://{self.domain}"):
                del fields["website"]  # the URL crm wrote for a company with a domain alone
        extra = [self.org_line, *self.extra] if self.org_line else self.extra
        return fields, self.organization, self.uid, self.photo, extra, self.is_org

    def _text(self, prop: _Prop) -> str:
        text, unknown = _unescape(prop.value)
        if unknown:
            escapes = ", ".join(sorted(set(unknown)))
            self.warn(prop.line, f"{prop.name}: unknown escape {escapes} read without '\\'")
        return text

    # Handlers return True when the property went into a field (else it is kept as extra).

    def _fn(self, prop: _Prop) -> bool:
        if self.fn is None:
            self.fn = _one_line(self._text(prop)) or None
        return True

    def _n(self, prop: _Prop) -> bool:
        if self.n is None:
            parts = [
                _one_line(" ".join(_unescape(v)[0] for v in _split(p, ",")))
                for p in _split(prop.value, ";")
            ]
            parts += [""] * (5 - len(parts))
            family, given, additional, prefix, suffix = parts[:5]
            self.n = " ".join(p for p in (prefix, given, additional, family, suffix) if p) or None
        return True

    def _uid(self, prop: _Prop) -> bool:
        if self.uid is None:
            self.uid = _one_line(self._text(prop)) or None
        return True

    def _email(self, prop: _Prop) -> bool:
        text = self._text(prop).strip()
        text = text[7:] if text.lower().startswith("mailto:") else text
        try:
            email = validate.normalize_email(text)
        except ValidationError as exc:
            self.warn(prop.line, f"{str(exc).rstrip('.')}; kept only as a vCard line")
            return False
        if email not in self.emails:
            self.emails.append(email)
        if "WORK" in _types(prop) and email not in self.work_emails:
            self.work_emails.append(email)
        return True

    def _tel(self, prop: _Prop) -> bool:
        text = _one_line(self._text(prop))
        number = _phone(text)
        if number is None:
            self.warn(
                prop.line, f"'{_clip(text)}' is not a phone number; kept only as a vCard line"
            )
            return False
        if number not in self.phones:
            self.phones.append(number)
        return True

    def _title(self, prop: _Prop) -> bool:
        if self.title is not None:
            return False
        self.title = _one_line(self._text(prop)) or None
        return self.title is not None

    def _org(self, prop: _Prop) -> bool:
        parts = [_one_line(_unescape(p)[0]) for p in _split(prop.value, ";")]
        if self.organization is not None and parts[0] == self.organization and not any(parts[1:]):
            return True  # the same organisation again: nothing to keep
        if self.organization is not None or not parts[0]:
            return False
        self._text(prop)  # for its warnings
        self.organization = parts[0]
        if any(parts[1:]):  # units (departments): keep the line, write it back in ORG's place
            self.org_line = _content_line(prop)
        return True

    def _adr(self, prop: _Prop) -> bool:
        if self.address is not None:
            return False
        text = [_address_part(p) for p in _split(prop.value, ";")]
        text += [""] * (7 - len(text))
        box, extended, street, city, region, postcode, country = text[:7]
        address = {
            "street": ", ".join(p for p in (street, extended, box) if p),
            "postcode": postcode,
            "city": city,
            "region": region,
            "country": country,
        }
        kept = {key: value for key, value in address.items() if value}
        if not kept:  # only a label (Google's 8th part): keep the line
            return False
        self.address = kept
        return True

    def _url(self, prop: _Prop) -> bool:
        if self.website is not None:
            return False
        text = _one_line(self._text(prop))
        try:
            self.website = validate._url(text)
        except (ValidationError, ValueError) as exc:  # urlsplit raises on `http://[x`
            problem = exc if isinstance(exc, ValidationError) else f"'{text}' is not a web address"
            self.warn(prop.line, f"{problem}; kept only as a vCard line")
            return False
        return True

    def _bday(self, prop: _Prop) -> bool:
        if self.birthday is not None:
            return False
        text = _one_line(self._text(prop))
        omit = next(iter(_param_values(prop, "X-APPLE-OMIT-YEAR")), None)
        self.birthday = _birthday(text, omit)
        if self.birthday is None:
            self.warn(prop.line, f"BDAY '{_clip(text)}' is not a day; kept only as a vCard line")
            return False
        return True

    def _note(self, prop: _Prop) -> bool:
        note = _long_text(self._text(prop))
        if note.strip():
            self.notes.append(note)
        return True

    def _categories(self, prop: _Prop) -> bool:
        for tag in _tags(prop.value):
            if tag not in self.tags:
                self.tags.append(tag)
        return True

    def _photo(self, prop: _Prop) -> bool:
        value = prop.value.strip()
        if value[:5].lower() == "data:":  # 4.0: data:image/jpeg;base64,...
            header, _, data = re.sub(r"\\([,;:])", r"\1", value).partition(",")
            if ";base64" not in header.lower():
                return False
        elif _is_base64(prop):
            data = value
        else:
            return False  # a link (VALUE=uri, or no encoding): kept as it is
        image = _image(data)
        if image is None:
            self.warn(prop.line, "the photo is not a JPEG, PNG or GIF image; dropped")
        elif self.photo is not None:
            self.warn(prop.line, "a second photo was dropped")
        else:
            self.photo = image
        return True

    def _kind(self, prop: _Prop) -> bool:
        kind = prop.value.strip().lower()
        self.is_org = self.is_org or kind in ("org", "organization")
        self.is_group = self.is_group or kind == "group"
        return False

    def _domain(self, prop: _Prop) -> bool:
        if self.domain is None:
            self.domain = _host(_one_line(self._text(prop))) or None
            self.domain_line = _content_line(prop)
            return self.domain is not None
        return False

    def _x_abshowas(self, prop: _Prop) -> bool:
        self.is_org = self.is_org or prop.value.strip().upper() == "COMPANY"
        return False


# ---------------------------------------------------------------------------------------------
# Writing


def write(
    contact: Mapping[str, Any],
    *,
    uid: str,
    company: str | None = None,
    photo: tuple[bytes, str] | None = None,
    version: str = "3.0",
    revision: str | None = None,
    organization: bool = False,
) -> str:
    """One vCard (CRLF line ends, folded at 75 octets) for a contact record's data (as stored: the
    dict of fields above plus `vcard` extra lines which are written back verbatim), or with
    `organization` a company card for a company record (KIND:org, Apple's X-ABShowAs:COMPANY).

    `company` is the name for ORG; an ORG line kept in `vcard` whose first part is `company` is
    written in ORG's place, so its units (departments) survive. `photo` is (bytes, jpg|png|gif).
    `revision` is an ISO 8601 timestamp for REV. Raises ValidationError for another version.

    Written by hand, not with vobject: vobject sorts properties by name (the extra lines must
    stay in order after the fields), writes base64 photos as one unfolded line, and knows only
    vCard 3.0 (a 4.0 photo is a data: URI).
    """
    if version not in VERSIONS:
        raise ValidationError(f"vCard {version} cannot be written", hint="use 3.0 or 4.0")
    v4 = version == "4.0"
    # Hand-edited lines: a line break or leading space would break the card; a line that is
    # no content line, or BEGIN/END/VERSION, is left out.
    extra = [
        line
        for raw in _as_list(contact.get("vcard"))
        if isinstance(raw, str)
        for line in [re.sub(r"\r\n|\r|\n", r"\\n", raw.lstrip())]
        if _LINE.match(line) and _line_name(line) not in ("BEGIN", "END", "VERSION")
    ]
    emails = [str(e) for e in _as_list(contact.get("emails"))]
    name = _one_line(str(contact.get("name") or "")) or company or next(iter(emails), "") or uid
    if organization:
        company = name
        marker = "KIND:org" if v4 else "X-ABShowAs:COMPANY"
        if not any(_line_name(x) == _line_name(marker) for x in extra):
            extra.append(marker)
    lines = [
        "BEGIN:VCARD",
        f"VERSION:{version}",
        f"PRODID:{PRODID}",
        f"UID:{_escape(uid)}",
        f"FN:{_escape(name)}",
    ]
    if any(_line_name(x) == "X-ABSHOWAS" and x.upper().endswith(":COMPANY") for x in extra) or any(
        _line_name(x) == "KIND" and x.lower().endswith((":org", ":organization")) for x in extra
    ):
        lines.append("N:;;;;")  # a company card: no person's name (Apple shows ORG)
    else:
        words = name.split()
        family, given = (words[-1], " ".join(words[:-1])) if len(words) > 1 else ("", name)
        lines.append(f"N:{_escape(family)};{_escape(given)};;;")
    lines += [("EMAIL:" if v4 else "EMAIL;TYPE=INTERNET:") + _escape(e) for e in emails]
    lines += ["TEL:" + _escape(str(p)) for p in _as_list(contact.get("phones"))]
    address = _adr(contact.get("address"))
    if address:
        lines.append("ADR:" + address)
    if company:
        org = next((x for x in extra if _line_name(x) == "ORG" and _org_name(x) == company), None)
        if org is not None:
            extra.remove(org)
        lines.append(org or f"ORG:{_escape(company)}")
    if contact.get("title"):
        lines.append(f"TITLE:{_escape(_one_line(str(contact['title'])))}")
    website = _one_line(str(contact.get("website") or ""))
    domain = _one_line(str(contact.get("domain") or "")) if organization else ""
    made = bool(domain and not website)
    if made:
        website = f"https://{domain}"  # address books show it; X-CRM-DOMAIN says it was made
    if website:
        lines.append(f"URL:{website}")  # a URI: not escaped as text is (RFC 6350 6.7.8)
    if domain and (made or _host(website) != _host(domain)):
        lines.append(f"{DOMAIN_PROP}:{_escape(domain)}")
    birthday = _bday_value(contact.get("birthday"), v4)
    if birthday:
        lines.append(f"BDAY:{birthday}")
    notes = str(contact.get("notes") or "")
    if notes.strip():
        lines.append("NOTE:" + _escape(notes))
    tags = [str(t) for t in _as_list(contact.get("tags"))]
    if tags:
        lines.append("CATEGORIES:" + ",".join(_escape(t) for t in tags))
    if photo is not None:
        data, extension = photo
        encoded = base64.b64encode(data).decode("ascii")
        kind = PHOTO_TYPES.get(extension.lower().replace("jpeg", "jpg"), extension.upper())
        if v4:
            lines.append(f"PHOTO:data:image/{kind.lower()};base64,{encoded}")
        else:
            lines.append(f"PHOTO;ENCODING=b;TYPE={kind}:{encoded}")
    if revision:
        moment = dates.parse_timestamp(revision)
        stamp = moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ") if moment else revision
        lines.append(f"REV:{_escape(stamp)}")
    lines += extra
    lines.append("END:VCARD")
    return "".join(_fold(line) for line in lines)


def _as_list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _escape(text: str) -> str:
    """vCard text escaping: backslash, comma, semicolon, line breaks."""
    text = text.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;")
    return re.sub(r"\r\n|\r|\n", r"\\n", text)


def _line_name(line: str) -> str:
    """The property name of a content line: `item1.X-ABLabel;x=y:z` → X-ABLABEL."""
    return re.split(r"[;:]", line, maxsplit=1)[0].rsplit(".", 1)[-1].strip().upper()


def _org_name(line: str) -> str:
    """The organisation an ORG content line names: its first part, as text."""
    value = line[_value_colon(line) + 1 :]
    return _one_line(_unescape(_split(value, ";")[0])[0])


def _adr(address: Any) -> str | None:
    """ADR's value for a stored address: a mapping of parts, or text (all of it as street)."""
    if isinstance(address, str):
        address = {"street": address}
    if not isinstance(address, Mapping):
        return None
    parts = {key: "" if value is None else str(value) for key, value in address.items()}
    if not any(parts.values()):
        return None
    order = ("street", "city", "region", "postcode", "country")
    return ";;" + ";".join(_escape(parts.get(key, "")) for key in order)


def _bday_value(birthday: Any, v4: bool) -> str | None:
    if isinstance(birthday, dt.datetime):
        birthday = birthday.date()
    if isinstance(birthday, str):
        try:
            birthday = validate._birthday(birthday.strip())
        except ValidationError:
            return None
    if isinstance(birthday, dt.date):  # not strftime: it writes the year 900 as "900"
        y, m, d = birthday.year, birthday.month, birthday.day
        return f"{y:04d}{m:02d}{d:02d}" if v4 else f"{y:04d}-{m:02d}-{d:02d}"
    if isinstance(birthday, str):  # --MM-DD
        return "--" + birthday[2:].replace("-", "")
    return None


def _fold(line: str) -> str:
    """The line folded at 75 octets (a continuation starts with a space), never inside a
    UTF-8 sequence, with CRLF."""
    encoded = line.encode("utf-8", "surrogatepass")
    if len(encoded) <= 75:
        return line + "\r\n"
    if line.isascii():
        rest = [" " + line[i : i + 74] for i in range(75, len(line), 74)]
        return "\r\n".join([line[:75], *rest]) + "\r\n"
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for char in line:
        width = len(char.encode("utf-8", "surrogatepass"))
        if size + width > 75:
            chunks.append("".join(current))
            current, size = [" "], 1
        current.append(char)
        size += width
    chunks.append("".join(current))
    return "\r\n".join(chunks) + "\r\n"
