"""Tasks: when they are due, and the next occurrence of a repeating one."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from crm import dates
from crm.errors import ValidationError
from crm.records import Edit, Record
from crm.when import next_occurrence, parse_repeat


def due_of(data: Mapping[str, Any]) -> dt.date | dt.datetime | None:
    """A task's due date, or date and time, from its file."""
    value = data.get("due")
    if not isinstance(value, str):
        return None
    if len(value) == 10:
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return dates.parse_timestamp(value)


def due_day(data: Mapping[str, Any]) -> dt.date | None:
    """The day a task is due, in the user's time zone."""
    due = due_of(data)
    if isinstance(due, dt.datetime):
        return dates.local_date(due)
    return due


def is_due(rec: Record, horizon: str, now: dt.datetime) -> bool:
    """Whether an open task is due by `horizon`: overdue (before today), today (by the end of
    today), week (within the coming seven days)."""
    day = due_day(rec.data)
    if day is None:
        return False
    today = dates.local_date(now)
    limits = {
        "overdue": today - dt.timedelta(days=1),
        "today": today,
        "week": today + dt.timedelta(days=7),
    }
    return day <= limits[horizon]


def next_task_edits(rec: Record, now: dt.datetime) -> list[Edit]:
    """The fields of the next occurrence of a repeating task, or [] when it does not repeat.

    The next date is counted from the task's anchor (its first due date), so that `monthly`
    from the 31st stays at the month's end, and comes after both the done task's due date and
    today: a task done late is not due again at once.
    """
    due = due_of(rec.data)
    if due is None or rec.data.get("next"):  # done before: its next one exists already
        return []
    try:
        repeat = parse_repeat(str(rec.data.get("repeat") or ""))
    except ValidationError:
        return []  # no repeat, or one `crm check` reports
    anchor = due_of({"due": rec.data.get("anchor")}) or due
    if isinstance(due, dt.datetime) and not isinstance(anchor, dt.datetime):
        anchor = dt.datetime.combine(anchor, due.astimezone(dates.local_zone()).timetz())
    if not isinstance(due, dt.datetime) and isinstance(anchor, dt.datetime):
        anchor = dates.local_date(anchor)
    later = max(due, now) if isinstance(due, dt.datetime) else max(due, dates.local_date(now))
    try:
        following = next_occurrence(anchor, repeat, later)
    except (ValueError, OverflowError):
        return []  # a rule dateutil cannot expand from this start (UNTIL of the wrong kind)
    if following is None:
        return []  # the rule has ended (COUNT, UNTIL)
    keep = (
        "title",
        "priority",
        "repeat",
        "contacts",
        "companies",
        "leads",
        "deals",
        "tags",
        "notes",
        "custom",
    )
    edits = [Edit("set", (key,), rec.data[key]) for key in keep if rec.data.get(key)]
    edits += [
        Edit("set", ("due",), following),
        Edit("set", ("status",), "open"),
        Edit("set", ("anchor",), anchor),
    ]
    return edits
