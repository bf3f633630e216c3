"""WHEN: the dates and times people type (`tomorrow`, `+2w`, `friday 14:00`), durations,
cadences, and the next occurrence of a repeating task. Arithmetic by python-dateutil."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from crm.dates import local_zone
from crm.errors import ValidationError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
REPEATS = ("daily", "weekly", "monthly", "yearly")
_OFFSET_RE = re.compile(r"([+-])\s*([0-9]{1,4})\s*(d|w|m|y)")
_TIME_RE = re.compile(r"(?<![0-9.])([01]?[0-9]|2[0-3])[:h]([0-5][0-9])(?![0-9])")
_SPAN_RE = re.compile(r"([0-9]{1,4})\s*(d|w|m|y)")
_DURATION_RE = re.compile(r"(?:([0-9]{1,3})\s*h)?\s*(?:([0-9]{1,4})\s*(?:m|min)?)?")


def _error(text: str) -> ValidationError:
    return ValidationError(
        f"'{text}' is not a date",
        hint="YYYY-MM-DD [HH:MM], today, tomorrow, +3d, +2w, +1m, friday, next monday",
    )


def parse_when(text: str, now: dt.datetime) -> dt.date | dt.datetime:
    """A date (or, with a time of day, a local datetime) from what a person typed."""

    raw = text.strip()
    lowered = raw.lower()
    if lowered == "now":
        return now.astimezone(local_zone()).replace(second=0, microsecond=0)
    try:
        return _parse_when(raw, lowered, now)
    except (ValueError, OverflowError) as exc:  # +9999y: past the year 9999
        raise _error(text) from exc


def _parse_when(raw: str, lowered: str, now: dt.datetime) -> dt.date | dt.datetime:
    text = raw
    today = now.astimezone(local_zone()).date()
    day: dt.date | None = None
    time_match = _TIME_RE.search(lowered)
    rest = (
        (lowered[: time_match.start()] + lowered[time_match.end() :]).strip()
        if time_match
        else lowered
    )
    rest = re.sub(r"\s+at$", "", rest)
    if (not rest and time_match) or rest == "today":
        day = today
    elif rest == "tomorrow":
        day = today + dt.timedelta(days=1)
    elif rest == "yesterday":
        day = today - dt.timedelta(days=1)
    elif match := _OFFSET_RE.fullmatch(rest):
        sign = -1 if match.group(1) == "-" else 1
        day = today + _span(match.group(3), sign * int(match.group(2)))
    elif (name := rest.removeprefix("next ").strip()) in WEEKDAYS or _weekday_prefix(name):
        target = WEEKDAYS.index(_weekday_prefix(name) or name)
        ahead = (target - today.weekday()) % 7 or 7  # the coming one, never today
        day = today + dt.timedelta(days=ahead)
    else:
        parsed = _iso(raw)
        if parsed is None:
            raise _error(text)
        return parsed
    if time_match:
        hour, minute = int(time_match.group(1)), int(time_match.group(2))
        return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=local_zone())
    return day


def _span(unit: str, count: int) -> Any:
    """A calendar span: months and years keep the day of month where they can (Jan 31 + 1m is
    Feb 28), which a fixed number of days would not."""
    from dateutil.relativedelta import relativedelta

    if unit == "d":
        return relativedelta(days=count)
    if unit == "w":
        return relativedelta(weeks=count)
    if unit == "m":
        return relativedelta(months=count)
    return relativedelta(years=count)


def _weekday_prefix(name: str) -> str | None:
    if len(name) >= 3:
        for day in WEEKDAYS:
            if day.startswith(name):
                return day
    return None


def _iso(text: str) -> dt.date | dt.datetime | None:
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            return None
    match = re.fullmatch(
        r"([0-9]{4}-[0-9]{2}-[0-9]{2})[T ]([0-9]{1,2})(:[0-9]{2}(?::[0-9]{2})?)([Zz]|[+-][0-9:]+)?",
        text,
    )
    if not match:
        return None
    day, hour, minutes, zone = match.groups()
    cleaned = f"{day}T{int(hour):02d}{minutes}{(zone or '').upper()}".replace("Z", "+00:00")
    try:
        moment = dt.datetime.fromisoformat(cleaned)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=local_zone())


def parse_duration(text: str) -> int:
    """Minutes from `30m`, `1h`, `1h30m`, `90`."""
    match = _DURATION_RE.fullmatch(text.strip().lower())
    if not match or not (match.group(1) or match.group(2)):
        raise ValidationError(f"'{text}' is not a duration", hint="e.g. 30m, 1h, 1h30m")
    minutes = int(match.group(1) or 0) * 60 + int(match.group(2) or 0)
    if minutes <= 0:
        raise ValidationError(f"'{text}' is not a duration", hint="e.g. 30m, 1h, 1h30m")
    return minutes


def parse_cadence(text: str) -> str:
    """A keep-in-touch interval as written in files: `2w`, `1m`, `10d`, `1y`."""
    cleaned = text.strip().lower().removeprefix("every").strip()
    match = _SPAN_RE.fullmatch(cleaned)
    if not match or int(match.group(1)) == 0:
        raise ValidationError(f"'{text}' is not a cadence", hint="e.g. 2w, 1m, 3m, 1y, 10d")
    return f"{int(match.group(1))}{match.group(2)}"


def cadence_after(start: dt.date, cadence: str) -> dt.date:
    """The day a cadence of `cadence` from `start` ends."""

    match = _SPAN_RE.fullmatch(parse_cadence(cadence))
    assert match is not None
    result: dt.date = start + _span(match.group(2), int(match.group(1)))
    return result


def parse_repeat(text: str, *, canonical: bool = False) -> str:
    """`daily`, `weekly`, `monthly`, `yearly`, or an RFC 5545 RRULE (`FREQ=WEEKLY;BYDAY=MO`).

    With `canonical`, the text must already be in the form crm writes (for `crm check`)."""
    cleaned = text.strip()
    if cleaned.lower() in REPEATS:
        result = cleaned.lower()
    else:
        result = cleaned.removeprefix("RRULE:").removeprefix("rrule:").upper()
        # Try both a floating and a UTC start: an UNTIL must be of the start's kind.
        starts = (dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        if not result.startswith("FREQ=") or not any(_valid(result, s) for s in starts):
            raise ValidationError(
                f"'{text}' is not a repetition",
                hint="daily, weekly, monthly, yearly or an RRULE like FREQ=WEEKLY;BYDAY=MO,TH",
            )
    if canonical and result != cleaned:
        raise ValidationError(f"'{text}' should be written '{result}'")
    return result


def _valid(rule: str, start: dt.datetime) -> bool:
    try:
        _rule(rule, start)
    except (ValueError, TypeError):
        return False
    return True


def rule_text(repeat: str, start: dt.date) -> str:
    """The RFC 5545 RRULE crm follows for `repeat` counted from `start`.

    `monthly` from the 31st falls on each month's last day when it has fewer (never skipping a
    month, as a bare FREQ=MONTHLY would), and `yearly` from February 29 on the 28th in common
    years. A calendar given this rule repeats the task exactly as crm does.
    """
    if repeat not in REPEATS:
        return repeat
    rule = {
        "daily": "FREQ=DAILY",
        "weekly": "FREQ=WEEKLY",
        "monthly": "FREQ=MONTHLY",
        "yearly": "FREQ=YEARLY",
    }[repeat]
    if repeat == "monthly" and start.day > 28:
        rule += f";BYMONTHDAY={start.day},-1;BYSETPOS=1"
    if repeat == "yearly" and (start.month, start.day) == (2, 29):
        rule += ";BYMONTH=2;BYMONTHDAY=29,-1;BYSETPOS=1"
    return rule


def _rule(repeat: str, start: Any) -> Any:
    from dateutil import rrule

    return rrule.rrulestr(rule_text(repeat, start), dtstart=start)


def next_occurrence(
    due: dt.date | dt.datetime, repeat: str, after: dt.date | dt.datetime
) -> dt.date | dt.datetime | None:
    """The first occurrence of `repeat`, counted from `due`, that falls after `after`.

    Times keep their wall-clock hour across daylight-saving changes (09:00 stays 09:00).
    """
    if isinstance(due, dt.datetime):
        zone = local_zone()
        wall = due.astimezone(zone).replace(tzinfo=None)
        limit = (
            after
            if isinstance(after, dt.datetime)
            else dt.datetime.combine(after, dt.time.max, zone)
        )
        found = _rule(repeat, wall).after(limit.astimezone(zone).replace(tzinfo=None))
        return None if found is None else found.replace(tzinfo=zone)
    start = dt.datetime.combine(due, dt.time())
    limit_day = after.date() if isinstance(after, dt.datetime) else after
    found = _rule(repeat, start).after(dt.datetime.combine(limit_day, dt.time()))
    return None if found is None else found.date()


SCHEDULES = {
    "weekly": "FREQ=WEEKLY",
    "monthly": "FREQ=MONTHLY",
    "quarterly": "FREQ=MONTHLY;INTERVAL=3",
    "yearly": "FREQ=YEARLY",
}


def parse_schedule(text: str) -> str:
    """When a recurring invoice is due: weekly, monthly, quarterly, yearly or an RRULE.

    Periods are days, so an RRULE's UNTIL is written as the day it names: `UNTIL=20261231`
    for `UNTIL=20261231T000000Z` (UTC) or `UNTIL=20261231T000000` (local time) alike."""
    cleaned = text.strip()
    if cleaned.lower() in SCHEDULES:
        return cleaned.lower()
    return _until_as_day(parse_repeat(cleaned))


_UNTIL_RE = re.compile(r"(?<![A-Z])UNTIL=([0-9]{8})(?:T[0-9]{6}Z?)?", re.IGNORECASE)
_BOUND_RE = re.compile(r";?(?<![A-Z])(?:COUNT|UNTIL)=[^;]*", re.IGNORECASE)


def _until_as_day(rule: str) -> str:
    return _UNTIL_RE.sub(lambda m: f"UNTIL={m.group(1)}", rule)


def _schedule_rule(schedule: str, start: dt.date, *, bounded: bool = True) -> Any:
    """The dateutil rule of a schedule from `start`; without COUNT and UNTIL if not `bounded`."""
    from dateutil import rrule

    rule = SCHEDULES.get(schedule, _until_as_day(schedule))
    if schedule in ("monthly", "quarterly") and start.day > 28:
        rule += f";BYMONTHDAY={start.day},-1;BYSETPOS=1"
    elif schedule == "yearly" and (start.month, start.day) == (2, 29):
        rule = rule_text("yearly", start)
    if not bounded:
        rule = _BOUND_RE.sub("", rule).lstrip(";")
    try:
        return rrule.rrulestr(rule, dtstart=dt.datetime.combine(start, dt.time()))
    except (ValueError, TypeError) as exc:
        raise ValidationError(f"schedule: '{schedule}' is not a schedule: {exc}") from exc


def period_starts(schedule: str, start: dt.date, until: dt.date) -> list[dt.date]:
    """The days periods of `schedule` start on, from `start` up to `until` inclusive.

    Monthly and quarterly from the 29th-31st fall on shorter months' last day. ValidationError
    when the schedule cannot be followed."""
    first = dt.datetime.combine(start, dt.time())
    last = dt.datetime.combine(until, dt.time())
    return [d.date() for d in _schedule_rule(schedule, start).between(first, last, inc=True)]


def next_start(schedule: str, start: dt.date, after: dt.date | None) -> dt.date | None:
    """The first period start after `after` (from `start` itself when None); None once the
    schedule's COUNT or UNTIL has ended it."""
    rule = _schedule_rule(schedule, start)
    if after is None:
        found = rule.after(dt.datetime.combine(start, dt.time()), inc=True)
    else:
        found = rule.after(dt.datetime.combine(after, dt.time()))
    return None if found is None else found.date()


def next_period_start(schedule: str, start: dt.date, period: dt.date) -> dt.date:
    """The start of the period after the one starting on `period`: where the schedule would
    start one next even past its COUNT or UNTIL, so that the last period is as long as any."""
    from dateutil.relativedelta import relativedelta

    found = _schedule_rule(schedule, start, bounded=False).after(
        dt.datetime.combine(period, dt.time())
    )
    return found.date() if found is not None else period + relativedelta(years=1)


# ---------------------------------------------------------------------------------------------
# Periods: what is billed together


@dataclass(frozen=True, slots=True)
class Period:
    """Days from `first` to `last`, both included, and how the period was named."""

    first: dt.date
    last: dt.date
    label: str  # 2026-11, 2026-Q4, 2026, 2026-11-20, or `A – B` for a range

    def __contains__(self, day: object) -> bool:
        return isinstance(day, dt.date) and self.first <= day <= self.last


_PERIOD_RE = re.compile(r"([0-9]{4})(?:-(?:([0-9]{1,2})|[Qq]([1-4])))?")
_PERIOD_HINT = "a month 2026-11, a quarter 2026-Q4, a year 2026, a day, or FROM..TO"


def parse_period(text: str) -> Period:
    """A month `2026-11`, a quarter `2026-Q4`, a year `2026`, a day `2026-11-20`, or a range
    `FROM..TO` of any of these (from the first day of FROM to the last day of TO)."""
    cleaned = text.strip()
    if ".." in cleaned:
        start, _, end = cleaned.partition("..")
        first, last = _one_period(start.strip(), text), _one_period(end.strip(), text)
        if first.first > last.last:
            raise ValidationError(f"period '{text}' ends before it begins", hint=_PERIOD_HINT)
        return Period(first.first, last.last, f"{first.label} – {last.label}")
    return _one_period(cleaned, text)


def _one_period(text: str, whole: str) -> Period:
    day = _iso(text)
    if isinstance(day, dt.date) and not isinstance(day, dt.datetime):
        return Period(day, day, day.isoformat())
    match = _PERIOD_RE.fullmatch(text)
    try:
        if match is None:
            raise ValueError(text)
        year = int(match.group(1))
        if match.group(2):
            month = int(match.group(2))
            first = dt.date(year, month, 1)
            return Period(first, _month_end(year, month), f"{year:04d}-{month:02d}")
        if match.group(3):
            quarter = int(match.group(3))
            first = dt.date(year, 3 * quarter - 2, 1)
            return Period(first, _month_end(year, 3 * quarter), f"{year:04d}-Q{quarter}")
        return Period(dt.date(year, 1, 1), dt.date(year, 12, 31), f"{year:04d}")
    except ValueError:  # month 13, year 0, past 9999
        raise ValidationError(f"'{whole}' is not a period", hint=_PERIOD_HINT) from None


def _month_end(year: int, month: int) -> dt.date:
    if month == 12:
        return dt.date(year, 12, 31)
    return dt.date(year, month + 1, 1) - dt.timedelta(days=1)
