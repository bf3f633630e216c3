"""Tracked time: reading Toggl Track and Clockify CSV exports, `timew export` JSON and
hledger/ledger timeclock files, and the rules of crm.yaml's `time:` that say whom an entry is
billed to and at which rate.

Every reader returns the same `Tracked` entries, each with an identity that is stable across
exports (who tracked it and when it started), so that importing a file again, or a later export
that overlaps it, updates the entries it brought before instead of adding them twice. A file
that cannot be read is a DataError naming its line; nothing of it is imported then.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from fnmatch import fnmatchcase
from typing import Any

from crm import ids, money
from crm.dates import local_zone
from crm.errors import DataError, ValidationError

FORMATS = ("csv", "timewarrior", "timeclock")
FORMAT_ALIASES = {"hledger-timeclock": "timeclock", "timew": "timewarrior", "ledger": "timeclock"}
ROUNDINGS = ("nearest", "up", "down")
MATCH_KEYS = ("project", "client", "tag", "description")
ACTION_KEYS = ("customer", "product", "rate", "billable")
_HOUR = Decimal(3600)
_PLACES = Decimal("0.0001")  # hours are kept to 0.36 seconds

# =============================================================================================
# crm.yaml `time:`


@dataclass(frozen=True, slots=True, kw_only=True)
class TimeRule:
    """Entries whose project, client, tag and description match these glob patterns (each
    given key must match; case is ignored) are billed to `customer` as `product` or at `rate`."""

    key: str  # where it is written: time.rules.0
    project: tuple[str, ...] = ()
    client: tuple[str, ...] = ()
    tag: tuple[str, ...] = ()
    description: tuple[str, ...] = ()
    customer: str | None = None  # a company or contact (id, name; company:x or contact:x)
    product: str | None = None
    rate: Decimal | None = None
    billable: bool | None = None

    def matches(self, entry: Mapping[str, Any]) -> bool:
        """Whether the entry (its fields as stored: project, client, tags, description) fits."""
        for name in ("project", "client", "description"):
            patterns = getattr(self, name)
            if patterns and not _fits(entry.get(name), patterns):
                return False
        tags = entry.get("tags") or []
        return not self.tag or any(_fits(tag, self.tag) for tag in tags)


def _fits(value: Any, patterns: Sequence[str]) -> bool:
    if value is None or str(value).strip() == "":
        return False
    text = str(value).casefold()
    return any(fnmatchcase(text, pattern.casefold()) for pattern in patterns)


@dataclass(frozen=True, slots=True, kw_only=True)
class TimeSettings:
    step: Decimal = Decimal("0.01")  # bill hours in multiples of this
    rounding: str = "nearest"  # nearest (half up), up or down: of each entry's hours
    rules: tuple[TimeRule, ...] = ()

    def rule_for(self, entry: Mapping[str, Any]) -> TimeRule | None:
        """The first rule that matches the entry, if any."""
        return next((rule for rule in self.rules if rule.matches(entry)), None)


def parse_settings(raw: Any, problem: Callable[[str, str], None]) -> TimeSettings:
    """The `time:` section of crm.yaml; each problem is reported and its part left out."""
    if not isinstance(raw, dict):
        problem("time", "must be a mapping (round, rounding, rules)")
        return TimeSettings()
    values: dict[str, Any] = {}
    for key in raw:
        if key not in ("round", "rounding", "rules"):
            problem(f"time.{key}", "unknown key; time: takes round, rounding and rules")
    if raw.get("round") is not None:
        step = _decimal(raw["round"])
        if step is None or not 0 < step <= 24:
            problem("time.round", f"'{raw['round']}' is not a step in hours, e.g. \"0.25\"")
        else:
            values["step"] = step
    if raw.get("rounding") is not None:
        if raw["rounding"] in ROUNDINGS:
            values["rounding"] = raw["rounding"]
        else:
            problem("time.rounding", f"'{raw['rounding']}' is not one of: {', '.join(ROUNDINGS)}")
    rules = raw.get("rules")
    if rules is not None and not isinstance(rules, list):
        problem("time.rules", "must be a list of rules")
        rules = []
    values["rules"] = tuple(
        rule
        for i, item in enumerate(rules or [])
        if (rule := _parse_rule(item, f"time.rules.{i}", problem)) is not None
    )
    return TimeSettings(**values)


def _parse_rule(item: Any, key: str, problem: Callable[[str, str], None]) -> TimeRule | None:
    known = ", ".join((*MATCH_KEYS, *ACTION_KEYS))
    if not isinstance(item, dict):
        problem(key, f"must be a mapping of {known}")
        return None
    values: dict[str, Any] = {"key": key}
    ok = True
    for name, value in item.items():
        where = f"{key}.{name}"
        if name in MATCH_KEYS:
            patterns = value if isinstance(value, list) else [value]
            if not patterns or any(
                isinstance(p, bool | dict | list) or p is None or str(p) == "" for p in patterns
            ):
                problem(where, "must be a pattern (* and ? match anything) or a list of them")
                ok = False
            else:
                values[name] = tuple(str(p) for p in patterns)
        elif name in ("customer", "product"):
            ref = str(value).strip() if isinstance(value, str | int) else ""
            if not ref or isinstance(value, bool):
                problem(
                    where, f"must name a {'company or contact' if name == 'customer' else name}"
                )
                ok = False
            else:
                values[name] = ref
        elif name == "rate":
            rate = _decimal(value)
            if rate is None or rate < 0:
                problem(where, f"'{value}' is not an hourly rate, e.g. \"95.00\"")
                ok = False
            else:
                values["rate"] = rate
        elif name == "billable":
            if isinstance(value, bool):
                values["billable"] = value
            else:
                problem(where, "must be true or false")
                ok = False
        else:
            problem(where, f"unknown key; a rule takes {known}")
            ok = False
    if ok and not any(name in values for name in MATCH_KEYS):
        problem(key, "matches nothing: give project, client, tag or description")
        return None
    if ok and not any(name in values for name in ACTION_KEYS):
        problem(key, "does nothing: give customer, and product or rate (or billable: false)")
        return None
    return TimeRule(**values) if ok else None


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        number = money.parse_amount(str(value))
    except ValidationError:
        return None
    return number if number.is_finite() else None


# =============================================================================================
# Entries read from a time tracker


@dataclass(frozen=True, slots=True, kw_only=True)
class Tracked:
    """One stretch of tracked time, as a source file holds it."""

    source: str  # toggl, clockify, timewarrior, timeclock
    key: str  # its identity in that source (who and when): external_ids.<source>
    line: int  # where in the file it starts
    start: dt.datetime  # aware, in the user's time zone
    end: dt.datetime | None
    hours: Decimal
    description: str | None = None
    project: str | None = None
    client: str | None = None
    task: str | None = None
    user: str | None = None
    tags: tuple[str, ...] = ()
    billable: bool | None = None

    def values(self) -> dict[str, Any]:
        """The fields of the time record it becomes (before any rule is applied)."""
        out: dict[str, Any] = {
            "description": self.description,
            "start": self.start,
            "end": self.end,
            "hours": hours_text(self.hours),
            "project": self.project,
            "client": self.client,
            "task": self.task,
            "user": self.user,
            "tags": list(self.tags) or None,
            "billable": self.billable,  # None: the source does not say
            "source": self.source,
        }
        return out


@dataclass(frozen=True, slots=True)
class Note:
    """Something a reader left out or guessed, said on stderr: `file:line: text`."""

    line: int
    text: str


@dataclass(slots=True)
class Reading:
    entries: list[Tracked] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)


def hours_text(hours: Decimal) -> str:
    """Hours as written in files: `1.5`, `2`, `0.3333`."""
    text = format(hours.quantize(_PLACES, rounding=ROUND_HALF_UP), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def hours_between(start: dt.datetime, end: dt.datetime) -> Decimal:
    seconds = (end.astimezone(dt.UTC) - start.astimezone(dt.UTC)).total_seconds()
    return (Decimal(round(seconds)) / _HOUR).quantize(_PLACES, rounding=ROUND_HALF_UP)


def read(data: bytes, source: str, fmt: str, *, day_first: bool | None = None) -> Reading:
    """The entries in `data` (the file `source`) of format csv, timewarrior or timeclock."""
    fmt = FORMAT_ALIASES.get(fmt, fmt)
    if fmt == "csv":
        reading = _read_csv(data, source, day_first)
    elif fmt == "timewarrior":
        reading = _read_timewarrior(_text(data, source), source)
    elif fmt == "timeclock":
        reading = _read_timeclock(_text(data, source), source)
    else:
        raise ValidationError(
            f"'{fmt}' is not a time tracking format", hint="csv, timewarrior or timeclock"
        )
    seen: dict[str, list[Tracked]] = {}
    unique = []
    for entry in reading.entries:
        same_start = seen.setdefault(entry.key, [])
        twin = next((e for e in same_start if e.values() == entry.values()), None)
        if twin is not None:
            reading.notes.append(Note(entry.line, f"the same entry as line {twin.line}; left out"))
            continue
        same_start.append(entry)
        if len(same_start) > 1:
            # another entry starting in the same minute (Clockify writes no seconds): its own
            # identity, the same on every import of this file
            entry = replace(entry, key=f"{entry.key} #{len(same_start)}")
        unique.append(entry)
    reading.entries = unique
    reading.notes.sort(key=lambda note: note.line)
    return reading


def guess_format(name: str, data: bytes) -> str:
    """The format of a file named `name`: by its suffix, else by its first characters."""
    lowered = name.lower()
    if lowered.endswith((".csv", ".tsv")):
        return "csv"
    if lowered.endswith(".json"):
        return "timewarrior"
    if lowered.endswith(".timeclock"):
        return "timeclock"
    text = data.lstrip()
    if text.startswith(b"["):
        return "timewarrior"
    for line in text.splitlines()[:20]:
        if line.strip() and line.strip()[:1] not in (b";", b"#", b"*"):
            return "timeclock" if re.match(rb"[iIoO]\s+\d{4}[-/.]", line.strip()) else "csv"
    return "csv"


def _text(data: bytes, source: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataError(source, "not valid UTF-8", line=line, hint="save it as UTF-8") from None
    return text.removeprefix("\ufeff")


def _local(day: dt.date, clock: dt.time) -> dt.datetime:
    return dt.datetime.combine(day, clock).replace(tzinfo=local_zone())


def _naive_iso(moment: dt.datetime) -> str:
    return moment.replace(tzinfo=None).isoformat()


def _tags(text: str) -> tuple[str, ...]:
    """Tags from a cell (`site, travel`): tags hold no spaces or commas here, so a tag
    `client meeting` becomes `client-meeting`."""
    out: list[str] = []
    for part in text.split(","):
        tag = re.sub(r"\s+", "-", part.strip())
        if tag and tag not in out:
            out.append(tag)
    return tuple(out)


# -- Toggl Track and Clockify: detailed reports as CSV ----------------------------------------

_DAY_RE = re.compile(r"(\d{1,2})([./-])(\d{1,2})\2(\d{4})\.?")
_YEAR_FIRST_RE = re.compile(r"(\d{4})([./-])(\d{1,2})\2(\d{1,2})")
_CLOCK_RE = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?\s*(?:([AaPp])\.?\s*[Mm]\.?)?")
_SPAN_RE = re.compile(r"(\d+):([0-5]\d)(?::([0-5]\d))?")
_YES = frozenset({"yes", "y", "true", "1", "ja", "oui", "si", "sí"})
_NO = frozenset({"no", "n", "false", "0", "nein", "non"})


def _read_csv(data: bytes, source: str, day_first: bool | None) -> Reading:
    from crm import tabular

    table = tabular.read_table(data, source)
    columns = {name.strip().casefold(): name for name in table.header}
    if "duration (h)" in columns or "duration (decimal)" in columns:
        kind = "clockify"
    elif "start date" in columns and ("duration" in columns or "end time" in columns):
        kind = "toggl"
    else:
        raise DataError(
            source,
            "not a Toggl Track or Clockify detailed report: there are no Start date and "
            "Duration columns",
            line=table.header_line,
            hint="export the detailed report as CSV, in English",
        )
    for needed in ("start date", "start time"):
        if needed not in columns:
            raise DataError(source, f"no '{needed}' column", line=table.header_line)

    def cell(row: Mapping[str, str], *names: str) -> str:
        for name in names:
            if name in columns and row.get(columns[name], "").strip():
                return row[columns[name]].strip()
        return ""

    reading = Reading()
    dates = [
        (line, cell(row, name)) for line, row in table.rows for name in ("start date", "end date")
    ]
    first_is_day = _day_order(dates, source, day_first, reading)
    for line, row in table.rows:
        if not any(value.strip() for value in row.values()):
            continue
        if cell(row, "project").casefold() == "total" and not cell(row, "start date"):
            continue  # Clockify's totals row
        start = _moment(cell(row, "start date"), cell(row, "start time"), first_is_day)
        if start is None:
            raise DataError(
                source,
                f"'{cell(row, 'start date')} {cell(row, 'start time')}' is not a start date "
                "and time",
                line=line,
            )
        end = None
        end_day = cell(row, "end date") or cell(row, "start date")
        if cell(row, "end time"):
            end = _moment(end_day, cell(row, "end time"), first_is_day)
            if end is None:
                raise DataError(
                    source,
                    f"'{end_day} {cell(row, 'end time')}' is not an end date and time",
                    line=line,
                )
            if end < start:
                raise DataError(source, "the entry ends before it starts", line=line)
            hours = hours_between(start, end)
        else:
            span = cell(row, "duration", "duration (h)")
            decimal = cell(row, "duration (decimal)")
            found = _duration(span) if span else _decimal_hours(decimal)
            if found is None:
                shown = span or decimal
                raise DataError(
                    source, f"'{shown}' is not a duration (HH:MM:SS or hours)", line=line
                )
            hours = found
        user = cell(row, "email") or cell(row, "user", "member")
        start_text = _naive_iso(start)
        reading.entries.append(
            Tracked(
                source=kind,
                key=f"{user} {start_text}" if user else start_text,
                line=line,
                start=start,
                end=end,
                hours=hours,
                description=_one_line(cell(row, "description")),
                project=_one_line(cell(row, "project")),
                client=_one_line(cell(row, "client")),
                task=_one_line(cell(row, "task")),
                user=_one_line(user),
                tags=_tags(cell(row, "tags")),
                billable=_yes_no(cell(row, "billable")),
            )
        )
    return reading


def _one_line(text: str) -> str | None:
    cleaned = " ".join(text.split())
    return cleaned or None


def _yes_no(text: str) -> bool | None:
    lowered = text.strip().casefold()
    return True if lowered in _YES else False if lowered in _NO else None


def _day_order(
    dates: Sequence[tuple[int, str]], source: str, day_first: bool | None, reading: Reading
) -> bool:
    """Whether the file's dates (`03/04/2026`) put the day first. Dates with a dot are
    German (day first); a date whose first or second number is over 12 decides for the
    whole file; otherwise month first (as Toggl and Clockify write for the US), said in a note,
    unless `day_first` says otherwise."""
    if day_first is not None:
        return day_first
    day_seen: tuple[int, str] | None = None
    month_seen: tuple[int, str] | None = None
    ambiguous: tuple[int, str] | None = None
    dotted = False
    for line, text in dates:
        match = _DAY_RE.fullmatch(text)
        if match is None:
            continue
        first, second = int(match.group(1)), int(match.group(3))
        dotted = dotted or match.group(2) == "."
        if first > 12 and day_seen is None:
            day_seen = (line, text)
        elif second > 12 and month_seen is None:
            month_seen = (line, text)
        elif first != second and first <= 12 and second <= 12 and ambiguous is None:
            ambiguous = (line, text)
    if day_seen and month_seen:
        later = max(day_seen, month_seen)
        raise DataError(
            source,
            f"dates are written day first (line {day_seen[0]}: {day_seen[1]}) and month first "
            f"(line {month_seen[0]}: {month_seen[1]})",
            line=later[0],
        )
    if day_seen or month_seen:
        return day_seen is not None
    if dotted:
        return True
    if ambiguous is not None:
        reading.notes.append(
            Note(
                ambiguous[0],
                f"'{ambiguous[1]}' read month first (MM/DD/YYYY); "
                "if the file puts the day first, import it again with --day-first",
            )
        )
    return False


def _moment(day_text: str, time_text: str, day_first: bool) -> dt.datetime | None:
    day = _date(day_text, day_first)
    clock = _clock(time_text)
    if day is None or clock is None:
        return None
    return _local(day, clock)


def _date(text: str, day_first: bool) -> dt.date | None:
    try:
        if match := _YEAR_FIRST_RE.fullmatch(text):
            return dt.date(int(match.group(1)), int(match.group(3)), int(match.group(4)))
        if match := _DAY_RE.fullmatch(text):
            first, second, year = int(match.group(1)), int(match.group(3)), int(match.group(4))
            if match.group(2) == "." or day_first:
                return dt.date(year, second, first)
            return dt.date(year, first, second)
    except ValueError:
        return None
    return None


def _clock(text: str) -> dt.time | None:
    match = _CLOCK_RE.fullmatch(text.strip())
    if match is None:
        return None
    hour, minute, second = int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)
    half = (match.group(4) or "").lower()
    if half:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if half == "p" else 0)
    if hour > 23 or minute > 59 or second > 59:
        return None
    return dt.time(hour, minute, second)


def _duration(text: str) -> Decimal | None:
    match = _SPAN_RE.fullmatch(text.strip())
    if match is None:
        return _decimal_hours(text)
    seconds = int(match.group(1)) * 3600 + int(match.group(2)) * 60 + int(match.group(3) or 0)
    return (Decimal(seconds) / _HOUR).quantize(_PLACES, rounding=ROUND_HALF_UP)


def _decimal_hours(text: str) -> Decimal | None:
    cleaned = text.strip().replace(",", ".")
    if not re.fullmatch(r"\d+(?:\.\d+)?", cleaned):
        return None
    return Decimal(cleaned).quantize(_PLACES, rounding=ROUND_HALF_UP)


# -- timewarrior: `timew export` ---------------------------------------------------------------

_TIMEW_RE = re.compile(r"(\d{8})T(\d{6})Z")


def _read_timewarrior(text: str, source: str) -> Reading:
    """The intervals of `timew export`: a JSON list of {id, start, end, tags, annotation}."""
    decoder = json.JSONDecoder()
    position = len(text) - len(text.lstrip())
    if not text.startswith("[", position):
        raise DataError(
            source,
            "not the JSON of `timew export`: it does not start with [",
            line=text.count("\n", 0, position) + 1,
        )
    position += 1
    reading = Reading()
    while True:
        while position < len(text) and text[position] in " \t\r\n,":
            position += 1
        line = text.count("\n", 0, position) + 1
        if position >= len(text):
            raise DataError(source, "the list is not closed with ]", line=line)
        if text[position] == "]":
            break
        try:
            item, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise DataError(source, f"invalid JSON: {exc.msg}", line=exc.lineno) from None
        reading.entries.extend(_interval(item, source, line, reading))
    return reading


def _interval(item: Any, source: str, line: int, reading: Reading) -> list[Tracked]:
    if not isinstance(item, dict):
        raise DataError(source, "an interval must be an object with start and end", line=line)
    start = _timew_moment(item.get("start"))
    if start is None:
        raise DataError(
            source, f"'{item.get('start')}' is not a start like 20261120T090000Z", line=line
        )
    if item.get("end") is None:
        reading.notes.append(Note(line, "still running (no end); left out until it is stopped"))
        return []
    end = _timew_moment(item.get("end"))
    if end is None or end < start:
        raise DataError(source, f"'{item.get('end')}' is not an end after the start", line=line)
    tags = item.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise DataError(source, "tags must be a list of texts", line=line)
    annotation = item.get("annotation")
    return [
        Tracked(
            source="timewarrior",
            key=str(item["start"]),
            line=line,
            start=start,
            end=end,
            hours=hours_between(start, end),
            description=_one_line(annotation) if isinstance(annotation, str) else None,
            tags=_tags(",".join(tags)),
        )
    ]


def _timew_moment(value: Any) -> dt.datetime | None:
    match = _TIMEW_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    try:
        moment = dt.datetime.strptime(match.group(1) + match.group(2), "%Y%m%d%H%M%S")
    except ValueError:
        return None
    return moment.replace(tzinfo=dt.UTC).astimezone(local_zone())


# -- hledger / ledger timeclock ----------------------------------------------------------------

_CLOCK_LINE_RE = re.compile(
    r"([iIoO])\s+(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?"
    r"(?:\s*([+-]\d{4}))?(?:\s+(.*))?"
)


@dataclass(slots=True)
class _Open:
    line: int
    start: dt.datetime
    account: str
    description: str | None


def _read_timeclock(text: str, source: str) -> Reading:
    """Clock-in (`i DATE TIME ACCOUNT  DESCRIPTION`) and clock-out (`o DATE TIME`) lines.

    The account is the project; the description follows two spaces (or a tab). Sessions of
    different accounts may overlap; `o` closes the session of the account it names, else
    the one opened last. Comment lines (`;`, `#`, `*`) and `b`/`h` lines are passed over."""
    reading = Reading()
    open_: list[_Open] = []
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped[0] in ";#*" or (stripped[0] in "bh" and stripped[1:2] == " "):
            continue
        match = _CLOCK_LINE_RE.fullmatch(stripped)
        if match is None:
            raise DataError(
                source,
                "not a timeclock line (i or o, a date, a time, then the account)",
                line=number,
                hint="e.g. i 2026/11/20 09:00:00 acme:website  kickoff",
            )
        moment = _clock_moment(match)
        if moment is None:
            raise DataError(source, "not a valid date and time", line=number)
        rest = (match.group(9) or "").strip()
        if match.group(1) in "iI":
            parts = re.split(r"\s{2,}|\t", rest, maxsplit=1)
            account, description = parts[0].strip(), parts[1] if len(parts) > 1 else ""
            if not account:
                raise DataError(source, "a clock-in needs an account (the project)", line=number)
            if any(session.account == account for session in open_):
                raise DataError(source, f"{account} is clocked in twice", line=number)
            open_.append(_Open(number, moment, account, _one_line(description)))
            continue
        if not open_:
            raise DataError(source, "a clock-out without a clock-in", line=number)
        named = [s for s in open_ if rest and rest.split("  ")[0].strip() == s.account]
        session = named[0] if named else open_[-1]
        open_.remove(session)
        if moment < session.start:
            raise DataError(source, "the clock-out is before its clock-in", line=number)
        closing = rest if rest and not named else ""
        reading.entries.append(
            Tracked(
                source="timeclock",
                key=f"{_naive_iso(session.start)} {session.account}",
                line=session.line,
                start=session.start,
                end=moment,
                hours=hours_between(session.start, moment),
                description=session.description or _one_line(closing),
                project=session.account,
            )
        )
    for session in open_:
        reading.notes.append(
            Note(session.line, f"{session.account} is still clocked in; left out until clocked out")
        )
    return reading


def _clock_moment(match: re.Match[str]) -> dt.datetime | None:
    year, month, day, hour, minute = (int(match.group(i)) for i in range(2, 7))
    second = int(match.group(7) or 0)
    try:
        moment = dt.datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    offset = match.group(8)
    if offset:
        sign = -1 if offset[0] == "-" else 1
        zone = dt.timezone(sign * dt.timedelta(hours=int(offset[1:3]), minutes=int(offset[3:])))
        return moment.replace(tzinfo=zone).astimezone(local_zone())
    return moment.replace(tzinfo=local_zone())


# =============================================================================================
# Records


def entry_id(tracked: Tracked) -> str:
    """The id a new time record gets: its day and what it was (`2026-11-20-homepage`)."""
    what = tracked.description or tracked.project or tracked.task or "time"
    return ids.slugify(f"{tracked.start.date().isoformat()} {what}", fallback="time")


def rule_values(
    rule: TimeRule | None, customer: Mapping[str, str] | None, product: str | None
) -> dict[str, Any]:
    """The fields a matching rule sets on an unbilled entry (None: the field is removed):
    its customer (`company`/`contact`), product and rate, and billable when the rule says."""
    if rule is None:
        return {}
    out: dict[str, Any] = {}
    if rule.customer is not None:
        out["company"] = (customer or {}).get("company")
        out["contact"] = (customer or {}).get("contact")
    if rule.product is not None or rule.rate is not None:
        out["product"] = product
        out["rate"] = format(rule.rate, "f") if rule.rate is not None else None
    if rule.billable is not None:
        out["billable"] = rule.billable
    return out


def is_billed(data: Mapping[str, Any]) -> bool:
    return bool(data.get("invoice"))


def is_unmapped(data: Mapping[str, Any]) -> bool:
    """A billable entry without a customer to bill: no rule matched it."""
    return data.get("billable") is not False and not (data.get("company") or data.get("contact"))


def parse_hours(value: Any) -> Decimal | None:
    """An entry's hours as a Decimal (None when the file holds something else)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    try:
        hours = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return hours if hours.is_finite() and hours >= 0 else None
