"""ISO 8601 dates and timestamps."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re

from crm.errors import ValidationError

_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_date(text: str) -> dt.date:
    """A calendar date written `YYYY-MM-DD`."""
    cleaned = text.strip()
    if _DATE_RE.fullmatch(cleaned):
        try:
            return dt.date.fromisoformat(cleaned)
        except ValueError:
            pass
    raise ValidationError(f"'{text}' is not a date", hint="write YYYY-MM-DD, e.g. 2026-03-31")


def is_iso_date(text: str) -> bool:
    try:
        parse_date(text)
    except ValidationError:
        return False
    return True


def now() -> dt.datetime:
    """The current time in UTC, to the second; `CRM_NOW` (ISO 8601) fixes it (reproducible runs)."""
    fixed = os.environ.get("CRM_NOW")
    if fixed:
        try:
            value = dt.datetime.fromisoformat(fixed.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValidationError(f"CRM_NOW: '{fixed}' is not an ISO 8601 timestamp") from exc
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).replace(microsecond=0)
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def today() -> dt.date:
    """Today in the user's time zone ($TZ), which is what "today" means to them."""
    return local_date(now())


def local_zone() -> dt.tzinfo:
    """The user's time zone with its daylight-saving rules: $TZ, else the system's."""
    key = os.environ.get("TZ", "")
    zone = _ZONES.get(key)
    if zone is None:
        zone = _ZONES[key] = _find_zone(key)
    return zone


_ZONES: dict[str, dt.tzinfo] = {}  # by $TZ: asked for once per date shown


def _find_zone(tz: str) -> dt.tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    names = [tz.lstrip(":")]
    with contextlib.suppress(OSError):
        names.append(os.readlink("/etc/localtime").partition("zoneinfo/")[2])
    for name in names:
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return dt.datetime.now().astimezone().tzinfo or dt.UTC


def local_date(moment: dt.datetime) -> dt.date:
    """The calendar date of `moment` in the user's time zone."""
    return moment.astimezone(local_zone()).date()


def parse_timestamp(value: object) -> dt.datetime | None:
    """An ISO 8601 timestamp (or date) as an aware datetime.

    A time without an offset, or a date alone (its midnight), is in the user's time zone, as
    it is when typed on the command line."""
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=local_zone())


def iso(value: dt.date | dt.datetime) -> str:
    """ISO 8601 text; UTC timestamps end in `Z`."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None and value.utcoffset() == dt.timedelta(0):
            return value.replace(tzinfo=None).isoformat() + "Z"
        return value.isoformat()
    return value.isoformat()
