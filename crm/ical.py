"""iCalendar export: open tasks as VTODO, meetings as VEVENT, with UIDs that never change.

Built with the icalendar package. Times are written in UTC (servers built on vobject misread
some time zone definitions); DTSTAMP is the record's `updated`, so exporting twice gives the
same bytes and a calendar updates its entries instead of duplicating them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from crm import dates
from crm.errors import ValidationError
from crm.records import Record, as_list
from crm.tasks import due_of
from crm.when import parse_repeat, rule_text

PRODID = "-//crm//crm command-line CRM//EN"
PRIORITY = {"high": 1, "medium": 5, "low": 9}
_RRULES = {
    "daily": "FREQ=DAILY",
    "weekly": "FREQ=WEEKLY",
    "monthly": "FREQ=MONTHLY",
    "yearly": "FREQ=YEARLY",
}


def uid(rec: Record) -> str:
    return f"{rec.type.name}-{rec.id}@crm"


def _stamp(rec: Record) -> dt.datetime:
    moment = dates.parse_timestamp(rec.data.get("updated")) or dates.parse_timestamp(
        rec.data.get("created")
    )
    return (moment or dt.datetime(2000, 1, 1, tzinfo=dt.UTC)).astimezone(dt.UTC)


def _rrule(rec: Record) -> str | None:
    """The task's repeat as the RRULE crm follows (the month's end kept, as crm keeps it)."""
    try:
        repeat = parse_repeat(str(rec.data.get("repeat") or ""))
    except ValidationError:
        return None
    anchor = due_of({"due": rec.data.get("anchor")}) or due_of(rec.data)
    return rule_text(repeat, anchor) if anchor is not None else None


def _about(rec: Record, names: Mapping[str, str]) -> str:
    linked = [
        f"{kind[:-1] if kind != 'companies' else 'company'} {names.get(rid, rid)}"
        for kind in ("contacts", "companies", "leads", "deals")
        for rid in as_list(rec.data.get(kind))
    ]
    return "crm: " + "; ".join(linked) if linked else ""


def todo(task: Record, names: Mapping[str, str]) -> Any:
    from icalendar import Todo, vRecur

    item = Todo()
    item.add("uid", uid(task))
    item.add("dtstamp", _stamp(task))
    item.add("summary", task.title)
    due = due_of(task.data)
    rule = _rrule(task)
    if isinstance(due, dt.datetime) and rule:
        # floating local time: "every Monday 09:00" must stay Monday 09:00 across DST
        local = due.astimezone(dates.local_zone()).replace(tzinfo=None)
        item.add("dtstart", local)
        item.add("due", local)
    elif isinstance(due, dt.datetime):
        item.add("due", due.astimezone(dt.UTC))
    elif due is not None:
        if rule:
            item.add("dtstart", due)  # RFC 5545: a repeating to-do needs DTSTART
        item.add("due", due)
    item.add("status", "NEEDS-ACTION")
    if task.data.get("priority") in PRIORITY:
        item.add("priority", PRIORITY[task.data["priority"]])
    if rule:
        item.add("rrule", vRecur.from_ical(rule))
    description = "\n\n".join(
        t for t in (str(task.data.get("notes") or ""), _about(task, names)) if t
    )
    if description:
        item.add("description", description)
    if task.list_of("tags"):
        item.add("categories", task.list_of("tags"))
    item.add("x-crm-id", f"task:{task.id}")
    return item


def event(meeting: Record, emails: Mapping[str, tuple[str, str]], names: Mapping[str, str]) -> Any:
    from icalendar import Event, vCalAddress

    item = Event()
    item.add("uid", uid(meeting))
    item.add("dtstamp", _stamp(meeting))
    raw = meeting.data.get("at")
    start = dates.parse_timestamp(raw)
    if isinstance(raw, str) and dates.is_iso_date(raw):
        item.add("dtstart", dt.date.fromisoformat(raw))  # a day, not its UTC midnight
    elif start is not None:
        item.add("dtstart", start.astimezone(dt.UTC))
    minutes = meeting.data.get("duration")
    if isinstance(minutes, int) and minutes > 0:
        item.add("duration", dt.timedelta(minutes=minutes))
    text = str(meeting.data.get("text") or "").strip()
    item.add("summary", text.split("\n", 1)[0] or "Meeting")
    description = "\n\n".join(t for t in (text, _about(meeting, names)) if t)
    item.add("description", description)
    for contact in meeting.list_of("contacts"):
        if contact in emails:
            name, email = emails[contact]
            attendee = vCalAddress(f"mailto:{email}")
            attendee.params["cn"] = name
            item.add("attendee", attendee, encode=False)
    item.add("x-crm-id", f"activity:{meeting.id}")
    return item


def components(
    tasks: Sequence[Record],
    activities: Sequence[Record],
    contacts: Sequence[Record],
    names: Mapping[str, str],
) -> list[tuple[str, Any]]:
    """(uid, component) for every open task and every meeting, in a stable order."""
    emails = {c.id: (c.title, c.list_of("emails")[0]) for c in contacts if c.list_of("emails")}
    out = [(uid(t), todo(t, names)) for t in tasks if t.data.get("status") != "done"]
    out += [
        (uid(a), event(a, emails, names))
        for a in activities
        if a.data.get("type") == "meeting" and dates.parse_timestamp(a.data.get("at"))
    ]
    return sorted(out, key=lambda pair: pair[0])


def calendar(items: Sequence[Any]) -> bytes:
    from icalendar import Calendar

    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    for item in items:
        cal.add_component(item)
    data: bytes = cal.to_ical()
    return data
