"""What needs doing: due tasks, people to keep in touch with, deals to close, leads waiting,
invoices falling due."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from crm import dates
from crm.config import Config
from crm.models import Issue
from crm.pipeline import deal_line
from crm.records import Record, as_list
from crm.tasks import due_day, due_of
from crm.when import cadence_after

TOUCHING = ("call", "email", "meeting")  # a note to oneself does not restart the clock


@dataclass(frozen=True, slots=True)
class Touch:
    record: Record
    cadence: str
    last: dt.date | None  # the last call, email or meeting; None: never
    due: dt.date
    ratio: float  # time since the last touch ÷ cadence: 1.5 is half a cadence overdue

    def json(self) -> dict[str, Any]:
        return {
            "type": self.record.type.name,
            "id": self.record.id,
            "name": self.record.title,
            "cadence": self.cadence,
            "last_touch": self.last.isoformat() if self.last else None,
            "due": self.due.isoformat(),
            "overdue_ratio": round(self.ratio, 2),
        }


def cadence_of(rec: Record, config: Config) -> str | None:
    """A contact's or company's cadence: its own, else the shortest of its tags' in crm.yaml."""
    own = rec.data.get("cadence")
    if isinstance(own, str) and own:
        return own
    spans = [config.cadence[t] for t in rec.list_of("tags") if t in config.cadence]
    if not spans:
        return None
    today = dt.date(2000, 1, 1)
    return min(spans, key=lambda span: cadence_after(today, span))


def last_touches(
    activities: Sequence[Record], contacts_of: Mapping[str, str]
) -> dict[str, dt.date]:
    """The last call, email or meeting per `type:id`; a contact's count for its company too."""
    last: dict[str, dt.date] = {}
    for activity in activities:
        if activity.data.get("type") not in TOUCHING:
            continue
        moment = dates.parse_timestamp(activity.data.get("at"))
        if moment is None:
            continue
        day = dates.local_date(moment)
        keys = {f"company:{c}" for c in activity.list_of("companies")}
        for contact in activity.list_of("contacts"):
            keys.add(f"contact:{contact}")
            if contact in contacts_of:
                keys.add(f"company:{contacts_of[contact]}")
        for key in keys:
            if key not in last or last[key] < day:
                last[key] = day
    return last


def touches(
    people: Sequence[Record], activities: Sequence[Record], config: Config, today: dt.date
) -> list[Touch]:
    """Contacts and companies due for a touch, the most overdue (relative to cadence) first."""
    contacts_of = {
        r.id: str(r.data["company"])
        for r in people
        if r.type.name == "contact" and isinstance(r.data.get("company"), str)
    }
    last = last_touches(activities, contacts_of)
    due_now = []
    for rec in people:
        cadence = cadence_of(rec, config)
        if cadence is None:
            continue
        touched = last.get(f"{rec.type.name}:{rec.id}")
        created = dates.parse_timestamp(rec.data.get("created"))
        # never touched and of unknown age (written by hand): due now
        start = touched or (dates.local_date(created) if created else None)
        end = cadence_after(start or today, cadence)
        span = max(1, (end - (start or today)).days)
        due = end if start else today
        after = rec.data.get("touch_after")
        if isinstance(after, str) and dates.is_iso_date(after) and after > due.isoformat():
            due = dt.date.fromisoformat(after)
        if due > today:
            continue
        ratio = (today - start).days / span if start else 1.0
        due_now.append(Touch(rec, cadence, touched, due, ratio))
    return sorted(due_now, key=lambda t: (-t.ratio, t.record.id))


def build(
    records: Mapping[str, Sequence[Record]],
    config: Config,
    now: dt.datetime,
    days: int,
    skipped: list[Issue] | None = None,
) -> dict[str, Any]:
    """The agenda: every section as plain data, each item with the record it is about.
    Invoices whose money cannot be computed are left out and added to `skipped`, with why."""
    today = dates.local_date(now)
    horizon = today + dt.timedelta(days=days)
    overdue: list[dict[str, Any]] = []
    upcoming: list[dict[str, Any]] = []
    for task in records.get("task", ()):
        if task.data.get("status") == "done":
            continue
        day = due_day(task.data)
        if day is None or day > horizon:
            continue
        due = due_of(task.data)
        at = (
            due.astimezone(dates.local_zone()).strftime(" %H:%M")
            if isinstance(due, dt.datetime)
            else ""
        )
        item = {
            "id": task.id,
            "title": task.title,
            "due": day.isoformat() + at,
            "priority": task.data.get("priority"),
            "for": _about(task),
        }
        (overdue if day < today else upcoming).append(item)
    key = lambda item: (item["due"], item["id"])  # noqa: E731
    closing = []
    for rec in records.get("deal", ()):
        line = deal_line(rec, config, now)
        if line.is_open and line.close_date is not None and line.close_date <= horizon:
            closing.append({**line.json(), "overdue": line.close_date < today})
    closing.sort(key=lambda d: (d["close_date"], d["id"]))
    waiting = []
    limit = today - dt.timedelta(days=config.follow_up_days)
    for lead in records.get("lead", ()):
        if lead.data.get("status") not in ("new", "contacted"):
            continue
        last = lead.data.get("last_contact") or str(lead.data.get("created") or "")[:10]
        if last and str(last) <= limit.isoformat():
            waiting.append(
                {
                    "id": lead.id,
                    "name": lead.title,
                    "status": lead.data.get("status"),
                    "last_contact": lead.data.get("last_contact"),
                    "since": str(last),
                }
            )
    waiting.sort(key=lambda w: (w["since"], w["id"]))
    people = [*records.get("contact", ()), *records.get("company", ())]
    due_touches = touches(people, records.get("activity", ()), config, today)
    bills = invoices_due(
        records.get("invoice", ()), records.get("credit_note", ()), config, today, horizon, skipped
    )
    return {
        "today": today.isoformat(),
        "days": days,
        "overdue_tasks": sorted(overdue, key=key),
        "tasks": sorted(upcoming, key=key),
        "touches": [t.json() for t in due_touches],
        "deals": closing,
        "leads": waiting,
        "invoices": bills,
    }


def invoices_due(
    invoices: Sequence[Record],
    credit_notes: Sequence[Record],
    config: Config,
    today: dt.date,
    horizon: dt.date,
    skipped: list[Issue] | None = None,
) -> list[dict[str, Any]]:
    """Issued invoices still open and due by `horizon`, the longest overdue first (those whose
    money cannot be computed are added to `skipped`)."""
    from crm.documents import by_invoice, money_fields, money_problem

    out = []
    notes = by_invoice(credit_notes)
    for rec in invoices:
        due = rec.data.get("due")
        if rec.data.get("status") not in ("issued", "sent") or not isinstance(due, str):
            continue
        if due > horizon.isoformat():
            continue
        derived = money_fields(rec, config, today, notes.get(rec.id, ()))
        if derived.get("total") is None:
            if skipped is not None:
                skipped.append(money_problem(rec, config) or rec.issue("lines", "do not compute"))
            continue
        if derived.get("status") in ("paid", "credited", None):
            continue
        out.append(
            {
                "id": rec.id,
                "number": rec.data.get("number"),
                "title": rec.title,
                "customer": rec.data.get("company") or rec.data.get("contact"),
                "due": due,
                "amount_due": derived["amount_due"],
                "currency": str(rec.data.get("currency") or config.currency),
                "overdue": due < today.isoformat(),
                "reminders": len(rec.data.get("reminders") or []),
            }
        )
    return sorted(out, key=lambda i: (i["due"], i["id"]))


def _about(rec: Record) -> list[str]:
    return [
        f"{kind}:{rid}"
        for kind in ("contacts", "companies", "leads", "deals")
        for rid in as_list(rec.data.get(kind))
    ]


def is_empty(agenda: Mapping[str, Any]) -> bool:
    sections = ("overdue_tasks", "tasks", "touches", "deals", "leads", "invoices")
    return not any(agenda.get(k) for k in sections)
