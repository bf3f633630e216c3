"""Field values: parsing what a user types, and checking what a file holds.

`parse_input` turns command-line text into the value the writer stores (raising
ValidationError); `check_value` inspects a value read from a file and returns what is wrong with
it (or None). Both know every field kind; custom fields come as `Field`s built from crm.yaml.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from crm import dates, ids, money, when
from crm.errors import ValidationError
from crm.models import ADDRESS_KEYS, Field, Kind

if TYPE_CHECKING:
    from crm.config import Config

_PHONE_RE = re.compile(r"\+?[0-9 ()./-]+(?:\s*(?:x|ext\.?|#)\s*[0-9]+)?", re.IGNORECASE)
_TAG_RE = re.compile(r"[^\s,]+")
_LABEL_RE = re.compile(r"(?=.{1,63}$)[^\W_](?:[\w-]*[^\W_])?$")
_CONTROL_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f]")
_TRUE = frozenset({"yes", "y", "true", "1", "on"})
_FALSE = frozenset({"no", "n", "false", "0", "off"})


def parse_input(field: Field, text: str, config: Config) -> Any:
    """The stored form of `text` typed for `field`. Empty text means "no value" (None)."""
    try:
        return _parse(field, text, config)
    except ValidationError as exc:
        raise ValidationError(f"{field.name}: {exc.message}", hint=exc.hint) from exc


def _parse(field: Field, text: str, config: Config) -> Any:
    kind = field.kind
    if kind in (Kind.LONGTEXT, Kind.ADDRESS):
        value = text.replace("\r\n", "\n").strip("\n")
        return value if value.strip() else None
    stripped = text.strip()
    if not stripped:
        return None
    if kind is Kind.TEXT:
        if "\n" in stripped:
            raise ValidationError("must be a single line of text")
        if _CONTROL_RE.search(stripped):
            raise ValidationError("must not contain control characters")
        return stripped
    if kind in (Kind.EMAIL, Kind.EMAILS):
        return normalize_email(stripped)
    if kind is Kind.PHONES:
        return _phone(stripped)
    if kind is Kind.TAGS:
        return _tag(stripped)
    if kind is Kind.URL:
        return _url(stripped)
    if kind is Kind.DOMAIN:
        return _domain(stripped)
    if kind is Kind.VAT_ID:
        from crm.banking import normalize_vat_id

        return normalize_vat_id(stripped)
    if kind is Kind.DATE:
        if dates.is_iso_date(stripped):
            return dates.parse_date(stripped)
        moment = when.parse_when(stripped, dates.now())  # today, +2w, next friday
        return moment.date() if isinstance(moment, dt.datetime) else moment
    if kind is Kind.BIRTHDAY:
        return _birthday(stripped)
    if kind is Kind.MONEY:
        return money.parse_amount(stripped)
    if kind is Kind.CURRENCY:
        return money.normalize_currency(stripped)
    if kind is Kind.PERCENT:
        return _percent(stripped)
    if kind is Kind.NUMBER:  # a YAML number: whole numbers exact, others as floats
        number = money.parse_amount(stripped)
        return int(number) if number == number.to_integral_value() else float(number)
    if kind is Kind.BOOL:
        return _bool(stripped)
    if kind is Kind.CHOICE:
        return _choice(stripped, field.choices)
    if kind in (Kind.STAGE, Kind.PIPELINE):
        return stripped  # checked against the deal's pipeline as a whole (records.plan)
    if kind in (Kind.REF, Kind.REFS):
        return stripped  # resolved against the store by the caller
    if kind is Kind.WHEN:
        return when.parse_when(stripped, dates.now())
    if kind is Kind.MINUTES:
        return when.parse_duration(stripped)
    if kind is Kind.HOURS:
        return _hours(stripped)
    if kind is Kind.CADENCE:
        return when.parse_cadence(stripped)
    if kind is Kind.REPEAT:
        return when.parse_repeat(stripped)
    if kind is Kind.SCHEDULE:
        return when.parse_schedule(stripped)
    if kind is Kind.RATE:
        from crm.billing import parse_rate

        return str(parse_rate(stripped))
    if kind is Kind.DAYS:
        if not stripped.isdigit() or int(stripped) > 3650:
            raise ValidationError(f"'{text}' is not a number of days")
        return int(stripped)
    raise ValidationError(f"cannot be set from text (kind {kind})")


def normalize_email(text: str) -> str:
    from email_validator import EmailNotValidError, validate_email

    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationError(f"'{text}' is not a valid email address: {exc}") from exc
    return str(result.normalized)


def _phone(text: str) -> str:
    if not _PHONE_RE.fullmatch(text) or sum(c.isdigit() for c in text) < 3:
        raise ValidationError(
            f"'{text}' is not a phone number", hint="digits, spaces and + ( ) . - / only"
        )
    return text


_NO_YEAR_RE = re.compile(r"--(\d\d)-?(\d\d)")


def _birthday(text: str) -> Any:
    """A date, or `--MM-DD` (vCard's form for a birthday whose year is not known)."""
    match = _NO_YEAR_RE.fullmatch(text)
    if match:
        month, day = int(match[1]), int(match[2])
        try:
            dt.date(2000, month, day)  # a leap year: --02-29 is a birthday
        except ValueError:
            raise ValidationError(f"'{text}' is not a day of the year (--MM-DD)") from None
        return f"--{month:02d}-{day:02d}"
    if dates.is_iso_date(text):
        return dates.parse_date(text)
    raise ValidationError(f"'{text}' is not a date (YYYY-MM-DD, or --MM-DD without the year)")


def _tag(text: str) -> str:
    if not _TAG_RE.fullmatch(text):
        raise ValidationError(f"'{text}' is not a tag", hint="no spaces or commas")
    return text


def _url(text: str) -> str:
    candidate = text if "://" in text else f"https://{text}"
    try:
        parts = urlsplit(candidate)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ValidationError(
            f"'{text}' is not a web address", hint="e.g. https://example.com"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in candidate:
        raise ValidationError(f"'{text}' is not a web address", hint="e.g. https://example.com")
    _domain(parts.hostname)
    return candidate


def _domain(text: str) -> str:
    try:
        host = urlsplit(text if "://" in text else f"//{text}").hostname or ""
    except ValueError:  # `http://[x`: an unclosed IPv6 bracket
        host = ""
    host = host.rstrip(".").lower()
    labels = host.split(".")
    if len(labels) < 2 or not all(_LABEL_RE.match(label) for label in labels):
        raise ValidationError(f"'{text}' is not a domain name", hint="e.g. example.com")
    return host


def _percent(text: str) -> int:
    cleaned = text.removesuffix("%").strip()
    if not cleaned.isdigit() or not 0 <= int(cleaned) <= 100:
        raise ValidationError(f"'{text}' is not a whole number from 0 to 100")
    return int(cleaned)


MAX_HOURS = 10_000


def _hours(text: str) -> str:
    """A number of hours as written in files: `1.5`, `0.25`, `8`."""
    try:
        value = Decimal(text.strip())
    except ArithmeticError:
        value = Decimal("NaN")
    if not value.is_finite() or not 0 <= value < MAX_HOURS or "e" in text.lower():
        raise ValidationError(f"'{text}' is not a number of hours", hint="e.g. 1.5 or 0.25")
    return format(value, "f")


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValidationError(f"'{text}' is not yes or no")


def _choice(text: str, choices: tuple[str, ...]) -> str:
    for choice in choices:
        if choice.lower() == text.lower():
            return choice
    raise ValidationError(f"'{text}' is not one of: {', '.join(choices)}")


# ---------------------------------------------------------------------------------------------
# Checking values read from files


def check_value(field: Field, value: Any, config: Config, raw: str | None = None) -> str | None:
    """What is wrong with `value` stored for `field`, or None when it is valid.

    `raw` is the unquoted text the value was read from, when it was not read as a string.
    """
    if value is None:
        return None
    kind = field.kind
    if isinstance(value, bool) and kind is not Kind.BOOL:
        return f"'{raw or str(value).lower()}' is read as yes/no; put the text in quotes"
    money_float = kind is Kind.MONEY and isinstance(value, float)  # has its own message
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if numeric and raw is not None and str(value) != raw and not money_float:
        # YAML 1.1 reads 0123 as 83, 1:30 as 90, 1_000 as 1000
        return f"'{raw}' is read as the number {value}; put it in quotes if it is text"
    if field.is_list:
        items = value if isinstance(value, list) else [value]
        for item in items:
            problem = _check_scalar(field, item, config)
            if problem:
                return problem
        return None
    return _check_scalar(field, value, config)


def _check_scalar(field: Field, value: Any, config: Config) -> str | None:
    kind = field.kind
    if kind is Kind.CUSTOM:
        return None if isinstance(value, dict) else "must be a mapping of custom fields"
    if kind is Kind.HISTORY:
        return _check_history(value)
    if kind is Kind.LINKS:
        if isinstance(value, dict) and all(
            isinstance(v, str) and (k == "at" or ids.is_valid_id(v)) for k, v in value.items()
        ):
            return None
        return "must map contact, company and deal to ids (kept by `crm lead convert`)"
    if kind is Kind.ADDRESS:
        return _check_address(value)
    if kind is Kind.EXTERNAL:
        ok = isinstance(value, dict) and all(
            isinstance(k, str) and isinstance(v, str | int) and not isinstance(v, bool)
            for k, v in value.items()
        )
        return None if ok else "must map each system (vcard, salesforce, ...) to its id"
    if kind is Kind.EXTRA:
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        return None if ok else "must be a list of vCard lines (kept by `crm import vcard`)"
    if kind is Kind.FIRED:
        ok = isinstance(value, dict) and all(
            isinstance(k, str) and _is_timestamp(v) for k, v in value.items()
        )
        return None if ok else "must map rule names to when they fired (kept by `crm rules run`)"
    if kind is Kind.FILE:
        ok = isinstance(value, str) and ids.is_safe_file_name(value)
        return None if ok else f"'{value}' is not the name of a file beside the record"
    if kind is Kind.BOOL:
        return None if isinstance(value, bool) else f"'{value}' is not yes or no (true/false)"
    if kind is Kind.MINUTES:
        ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
        return None if ok else f"'{value}' is not a number of minutes"
    if kind is Kind.DAYS:
        ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 3650
        return None if ok else f"'{value}' is not a number of days"
    if kind is Kind.HOURS:
        if isinstance(value, float):
            return f'{value} is a YAML number; write hours as a quoted string, e.g. "{value}"'
        return _attempt(lambda: _hours(str(value)))
    if kind is Kind.RATE:
        from crm.billing import parse_rate

        return _attempt(lambda: parse_rate(value))
    if kind in (Kind.LINES, Kind.ENTRIES, Kind.PAYMENTS):
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            return "must be a list of mappings"
        return _check_payments(value) if kind is Kind.PAYMENTS else None
    if kind is Kind.DOCUMENT:
        ok = isinstance(value, dict) and isinstance(value.get("file"), str)
        return None if ok else "must name the file rendered at issue (kept by crm)"
    if kind is Kind.PERCENT:
        if isinstance(value, int) and 0 <= value <= 100:
            return None
        return f"'{value}' is not a whole number from 0 to 100"
    if kind is Kind.NUMBER:
        if isinstance(value, int | float):
            return None
        return _attempt(lambda: money.parse_amount(str(value)))
    if kind is Kind.MONEY:
        if isinstance(value, float):
            return f'{value} is a YAML number; write money as a quoted string, e.g. "{value}"'
        return _attempt(lambda: money.parse_amount(str(value)))
    if kind is Kind.PHONES and isinstance(value, int):
        return f"{value} is read as a number; put phone numbers in quotes"
    if kind is Kind.TIMESTAMP:
        return None if _is_timestamp(value) else f"'{value}' is not an ISO 8601 timestamp"
    if kind in (Kind.TEXT, Kind.LONGTEXT, Kind.VAT_ID) and isinstance(value, int | float):
        return None  # a VAT id without a country prefix is not checked
    if not isinstance(value, str):
        return f"must be text, not {_yaml_type(value)}"
    if kind is Kind.TEXT and "\n" in value.strip():
        return "must be a single line of text"
    if kind in (Kind.TEXT, Kind.LONGTEXT):
        return None
    if kind in (Kind.REF, Kind.REFS):
        return None if ids.is_valid_id(value) else f"'{value}' is not a record id"
    if kind is Kind.BIRTHDAY:
        return _attempt(lambda: _birthday(value))
    if kind is Kind.DATE:  # in a file only ISO: `tomorrow` would mean another day tomorrow
        return None if dates.is_iso_date(value) else f"'{value}' is not a date (YYYY-MM-DD)"
    if kind is Kind.REPEAT:
        return _attempt(lambda: when.parse_repeat(value, canonical=True))
    if kind is Kind.SCHEDULE:
        return _attempt(lambda: when.parse_schedule(value))
    if kind is Kind.WHEN:
        if dates.is_iso_date(str(value)) or _is_timestamp(value):
            return None
        return f"'{value}' is not a date (YYYY-MM-DD) or a timestamp"
    if kind is Kind.CHOICE:  # in a file, exactly as declared
        choices = field.choices
        return None if value in choices else f"'{value}' is not one of: {', '.join(choices)}"
    if kind in (Kind.STAGE, Kind.PIPELINE):
        return None  # checked against the deal's pipeline (records.validate)
    return _attempt(lambda: _parse(field, value, config))


def _check_payments(value: list[Any]) -> str | None:
    for i, payment in enumerate(value, 1):
        if not dates.is_iso_date(str(payment.get("date"))):
            return f"payment {i}: '{payment.get('date')}' is not a date (YYYY-MM-DD)"
        problem = _attempt(lambda p=payment: money.parse_amount(str(p.get("amount"))))
        if problem:
            return f"payment {i}: {problem}"
    return None


def _check_history(value: Any) -> str | None:
    if not isinstance(value, list):
        return "must be a list of dated changes (kept by crm)"
    for i, entry in enumerate(value):
        if not isinstance(entry, dict) or not _is_timestamp(entry.get("at")):
            return f"entry {i + 1} needs `at:` with an ISO 8601 timestamp"
        if not isinstance(entry.get("stage", entry.get("status")), str):
            return f"entry {i + 1} needs the stage or status it changed to"
    return None


def _attempt(parse: Any) -> str | None:
    try:
        parse()
    except ValidationError as exc:
        return str(exc)
    return None


def _check_address(value: Any) -> str | None:
    if isinstance(value, str):
        return None
    if not isinstance(value, dict):
        return "must be text or a mapping of " + ", ".join(ADDRESS_KEYS)
    for key, part in value.items():
        if part is not None and (isinstance(part, bool) or not isinstance(part, str | int)):
            return f"{key}: must be text"
    return None


def _is_timestamp(value: Any) -> bool:
    return dates.parse_timestamp(value) is not None


def _yaml_type(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return "a number" if isinstance(value, int | float | Decimal) else type(value).__name__


# ---------------------------------------------------------------------------------------------
# Merge conflicts left in files

CONFLICT_START = "<" * 7
CONFLICT_SPLIT = "=" * 7
CONFLICT_END = ">" * 7


def merge_conflicts(text: str) -> list[tuple[int, int | None]]:
    """The conflicts git (or `crm merge-file`) left in `text`: the lines of each
    `<<<<<<<` marker and of its `>>>>>>>` (None when the end marker is missing)."""
    found: list[tuple[int, int | None]] = []
    start: int | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if _is_marker(line, CONFLICT_START):
            if start is not None:
                found.append((start, None))
            start = number
        elif start is not None and _is_marker(line, CONFLICT_END):
            found.append((start, number))
            start = None
    if start is not None:
        found.append((start, None))
    return found


_MARKED = re.compile(
    rf"(?:^|\s){CONFLICT_START}(?=\s|$).*?(?:^|\s){CONFLICT_END}(?=\s|$)", re.DOTALL
)


def conflicted_values(data: Any) -> list[str]:
    """The dotted paths of the values (and keys) of `data` that hold a conflict git left: a
    conflict inside a quoted or bracketed value still reads as YAML, as one long string
    (its line breaks folded into spaces)."""
    if not _has_markers(data):  # the common case: one quick pass, no paths built
        return []
    found: list[str] = []
    _find_markers(data, "", found)
    return found


def _has_markers(value: Any) -> bool:
    if isinstance(value, str):
        return CONFLICT_START in value and _MARKED.search(value) is not None
    if isinstance(value, dict):
        return any(_has_markers(k) or _has_markers(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_markers(v) for v in value)
    return False


def _find_markers(value: Any, dotted: str, found: list[str]) -> None:
    if isinstance(value, str):
        if _has_markers(value):
            found.append(dotted)
    elif isinstance(value, dict):
        for key, item in value.items():
            path = f"{dotted}.{key}" if dotted else str(key)
            if _has_markers(key):
                found.append(path)
            _find_markers(item, path, found)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _find_markers(item, f"{dotted}.{i}" if dotted else str(i), found)


def value_conflict_message() -> str:
    """What `crm check` says about markers in a value that are not at the start of lines."""
    return (
        "unresolved merge conflict in the value (keep the right text, delete the markers, "
        "then `git add` the file)"
    )


def _is_marker(line: str, marker: str) -> bool:
    return line.startswith(marker) and (len(line) == len(marker) or line[len(marker)] == " ")


def conflict_message(start: int, end: int | None) -> str:
    """What `crm check` says about one conflict left in a file (reported at `start`)."""
    where = f"lines {start}-{end}" if end else f"from line {start}, no {CONFLICT_END} end marker"
    return (
        f"unresolved merge conflict ({where}: keep the right lines, delete the markers, "
        "then `git add` the file)"
    )
