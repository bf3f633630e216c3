"""The 360° view: everything that happened with a record, newest first."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from crm import dates
from crm.pipeline import history
from crm.records import Record, as_list


def _at(value: Any) -> dt.datetime | None:
    moment = dates.parse_timestamp(value)
    if moment is None and isinstance(value, str) and dates.is_iso_date(value):
        moment = dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
    return moment


def _first_line(text: Any) -> str:
    return str(text or "").strip().split("\n", 1)[0]


def concerns(item: Record, rec: Record, contacts: set[str], deals: set[str]) -> bool:
    """Whether an activity or task is about `rec` (for a company: also its contacts, deals)."""
    if rec.id in as_list(item.data.get(rec.type.plural)):
        return True
    return bool(
        contacts & set(as_list(item.data.get("contacts")))
        or deals & set(as_list(item.data.get("deals")))
    )


def build(
    rec: Record,
    activities: Sequence[Record],
    tasks: Sequence[Record],
    deals: Sequence[Record],
    contacts: Sequence[Record],
    changes: Iterable[Mapping[str, str]] = (),
) -> list[dict[str, Any]]:
    """Activities, tasks (open and done), stage and status changes, its deals and their stages,
    and the git history of its file, newest first."""
    own_contacts = {
        c.id for c in contacts if rec.type.name == "company" and c.data.get("company") == rec.id
    }
    own_deals = {
        d.id
        for d in deals
        if rec.type.name in ("company", "contact") and d.data.get(rec.type.name) == rec.id
    }
    items: list[tuple[dt.datetime, dict[str, Any]]] = []

    def add(at: dt.datetime | None, kind: str, text: str, ref: str | None = None) -> None:
        if at is not None:
            items.append((at, {"at": dates.iso(at), "kind": kind, "text": text, "ref": ref}))

    for activity in activities:
        if concerns(activity, rec, own_contacts, own_deals):
            minutes = activity.data.get("duration")
            length = f" ({minutes} min)" if isinstance(minutes, int) else ""
            kind = str(activity.data.get("type") or "activity")
            add(
                _at(activity.data.get("at")),
                kind,
                _first_line(activity.data.get("text")) + length,
                f"activity:{activity.id}",
            )
    for task in tasks:
        if concerns(task, rec, own_contacts, own_deals):
            if task.data.get("status") == "done":
                add(_at(task.data.get("done_at")), "task done", task.title, f"task:{task.id}")
            else:
                due = task.data.get("due")
                add(
                    _at(due) or _at(task.data.get("created")),
                    "task",
                    f"{task.title} (due {str(due)[:16]})" if due else task.title,
                    f"task:{task.id}",
                )
    for at, entry in history(rec):
        add(at, "stage" if "stage" in entry else "status", _change(entry))
    for deal in deals:
        if deal.id in own_deals:
            add(_at(deal.data.get("created")), "deal", f"opened: {deal.title}", f"deal:{deal.id}")
            for at, entry in history(deal)[1:]:
                add(at, "deal", f"{deal.title}: {_change(entry)}", f"deal:{deal.id}")
    for change in changes:
        add(_at(change.get("at")), "edit", f"{change.get('author')}: {change.get('subject')}")
    items.sort(key=lambda pair: pair[0], reverse=True)
    return [item for _, item in items]


def _change(entry: Mapping[str, Any]) -> str:
    new = entry.get("stage", entry.get("status"))
    text = f"{entry['from']} → {new}" if entry.get("from") else str(new)
    return f"{text} ({entry['reason']})" if entry.get("reason") else text
