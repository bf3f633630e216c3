"""crm log and crm activity: calls, emails, meetings and notes, one file each."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

import typer

from crm import dates, output
from crm.agenda import TOUCHING
from crm.commands._options import (
    DryRunOpt,
    FormatOpt,
    LimitOpt,
    LongTagFilterOpt,
    LongTagOpt,
    SegmentOpt,
    WhereOpt,
)
from crm.commands._records import add_record, find_any, links, record_app, resolver, select
from crm.context import app_context
from crm.errors import UsageError
from crm.ids import slugify
from crm.models import ACTIVITY, ACTIVITY_TYPES, LEAD
from crm.query import sort_objects
from crm.records import plan

if TYPE_CHECKING:
    from crm.store.repo import Transaction


def log(
    args: Annotated[
        list[str],
        typer.Argument(
            help="The records it was with or about (REF...), then what happened (TEXT).",
            metavar="REF... TEXT",
        ),
    ],
    kind: Annotated[
        str, typer.Option("--type", "-t", help=f"One of: {', '.join(ACTIVITY_TYPES)}.")
    ] = "note",
    when: Annotated[
        str | None,
        typer.Option("--date", "-d", help="When (default: now): 2026-11-20 14:00, yesterday."),
    ] = None,
    duration: Annotated[
        str | None, typer.Option("--duration", help="How long: 30m, 1h, 1h30m.")
    ] = None,
    tag: LongTagOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Log a call, email, meeting or note with contacts, companies, leads or deals.

    Name one record or several (a meeting with two contacts about a deal); use
    `deal:acme` where a reference could mean records of two types. Prints the new id.

    \b
    Examples:
      crm log ada --type call "Discussed the redesign; wants a proposal by Friday"
      crm log ada bob acme-redesign -t meeting --date "yesterday 14:00" --duration 1h "Kickoff"
    """
    if len(args) < 2:
        raise UsageError("give at least one REF and the TEXT: crm log REF... TEXT")
    *refs, text = args
    ctx = app_context()
    records = [find_any(ctx, ref) for ref in refs]
    moment = when or dates.iso(dates.now())
    base = f"{_day(moment)}-{kind.lower()}-{slugify(records[0].title, fallback='activity')}"
    values: dict[str, Any] = {
        "type": kind,
        "at": moment,
        "duration": duration,
        "text": text,
        "tags": tag,
    }
    values.update({key: ids for key, _, ids in links(records)})
    leads = [r for r in records if r.type is LEAD]

    def contact_leads(tx: Transaction, activity: Mapping[str, Any]) -> None:
        """A call, email or meeting with a lead is contact: its last_contact, and `new` is
        `contacted` from now on."""
        moment = dates.parse_timestamp(activity.get("at"))
        if activity.get("type") not in TOUCHING or moment is None:
            return
        day = dates.local_date(moment).isoformat()
        for lead in leads:
            current = ctx.store.read(LEAD, lead.id)
            changes: list[tuple[str, str, Any]] = []
            if str(current.data.get("last_contact") or "") < day:
                changes.append(("last_contact", "=", day))
            if current.data.get("status") == "new":
                changes.append(("status", "=", "contacted"))
            if changes:
                edits = plan(LEAD, ctx.config, current.data, changes, (), resolver(ctx), tx.now)
                tx.update(current, edits)

    also = contact_leads if leads else None
    add_record(
        ACTIVITY,
        values,
        custom=None,
        explicit_id=None,
        dry_run=dry_run,
        base=slugify(base),
        also=also,
    )


def _day(moment: str) -> str:
    """The date part of WHEN as the id starts with it (the exact time is in the file)."""
    from crm.when import parse_when

    parsed = parse_when(moment, dates.now())
    return (dates.local_date(parsed) if isinstance(parsed, dt.datetime) else parsed).isoformat()


def list_activities(
    for_: Annotated[
        list[str] | None,
        typer.Option("--for", help="Only those with this record (repeatable: with any of them)."),
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option("--type", "-t", help=f"Only one type: {', '.join(ACTIVITY_TYPES)}."),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="From this date (WHEN: 2026-11-01, -2w).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Up to this date, inclusive.")
    ] = None,
    where: WhereOpt = None,
    tag: LongTagFilterOpt = None,
    segment: SegmentOpt = None,
    limit: LimitOpt = None,
    fmt: FormatOpt = None,
) -> None:
    """List activities, newest first.

    \b
    Examples:
      crm activity list --for ada
      crm activity list --type meeting --since -30d --format json
    """
    from crm.query import field_path

    ctx = app_context()
    wanted = {(r.type.plural, r.id) for r in (find_any(ctx, ref) for ref in for_ or ())}
    start, end = _bound(since, "--since"), _bound(until, "--until")
    objs = []
    for _, obj in select(ctx, ACTIVITY, where, tag, segment):
        if wanted and not any(obj_id in (obj.get(plural) or []) for plural, obj_id in wanted):
            continue
        if kind and obj.get("type") != kind.lower():
            continue
        moment = dates.parse_timestamp(obj.get("at"))
        day = dates.local_date(moment).isoformat() if moment else ""
        if (start and day < start) or (end and day > end):
            continue
        objs.append(obj)
    objs = sort_objects(objs, field_path(ACTIVITY, ctx.config, "at"), descending=True)
    output.emit_rows(objs[:limit] if limit else objs, ACTIVITY.columns, output.resolve_format(fmt))


def _bound(text: str | None, option: str) -> str | None:
    from crm.errors import ValidationError
    from crm.when import parse_when

    if text is None:
        return None
    try:
        parsed = parse_when(text, dates.now())
    except ValidationError as exc:
        raise UsageError(f"{option}: {exc.message}", hint=exc.hint) from exc
    return (dates.local_date(parsed) if isinstance(parsed, dt.datetime) else parsed).isoformat()


def add(
    args: Annotated[list[str], typer.Argument(metavar="REF... TEXT", help="As for `crm log`.")],
    kind: Annotated[
        str, typer.Option("--type", "-t", help="call, email, meeting or note.")
    ] = "note",
    when: Annotated[str | None, typer.Option("--date", "-d", help="When (default: now).")] = None,
    duration: Annotated[str | None, typer.Option("--duration", help="30m, 1h.")] = None,
    tag: LongTagOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Add an activity (the same as `crm log`).

    \b
    Example:
      crm activity add ada --type email "Sent the proposal"
    """
    log(args, kind, when, duration, tag, dry_run)


app = record_app(ACTIVITY, "type=meeting", add, list_activities)
