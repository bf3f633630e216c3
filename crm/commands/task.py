"""crm task: follow-ups with due dates, priorities and repeats."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from crm import dates, output
from crm.commands._options import (
    DryRunOpt,
    FormatOpt,
    LimitOpt,
    NotesOpt,
    RefArg,
    SegmentOpt,
    TagFilterOpt,
    TagOpt,
    WhereOpt,
)
from crm.commands._records import (
    add_record,
    done,
    find,
    find_any,
    links,
    record_app,
    resolver,
    select,
    task_follow_ups,
)
from crm.context import app_context
from crm.errors import ConflictError, UsageError, ValidationError
from crm.models import PRIORITIES, TASK
from crm.records import plan
from crm.tasks import is_due


def add(
    title: Annotated[str, typer.Argument(help="What to do.")],
    for_: Annotated[
        list[str] | None,
        typer.Option("--for", "-f", help="The contact, company, lead or deal (repeatable)."),
    ] = None,
    due: Annotated[
        str | None,
        typer.Option("--due", "-d", help="When: 2026-12-01, tomorrow, +3d, friday 14:00."),
    ] = None,
    repeat: Annotated[
        str | None,
        typer.Option("--repeat", "-r", help="daily, weekly, monthly, yearly or an RRULE."),
    ] = None,
    priority: Annotated[
        str | None, typer.Option("--priority", "-p", help=", ".join(PRIORITIES) + ".")
    ] = None,
    tag: TagOpt = None,
    notes: NotesOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Add a task and print its id.

    \b
    Examples:
      crm task add "Send the proposal" --for ada --due friday
      crm task add "Invoice the retainer" --for acme --due 2026-12-01 --repeat monthly
    """
    if repeat and not due:
        raise UsageError("a repeating task needs --due: the first date it is due")
    ctx = app_context()
    values: dict[str, Any] = {
        "title": title,
        "due": due,
        "priority": priority,
        "repeat": repeat,
        "tags": tag,
        "notes": notes,
    }
    values.update({key: ids for key, _, ids in links([find_any(ctx, r) for r in for_ or ()])})
    add_record(TASK, values, custom=None, explicit_id=None, dry_run=dry_run)


def list_tasks(
    overdue: Annotated[
        bool, typer.Option("--overdue", help="Only tasks due before today.")
    ] = False,
    today: Annotated[bool, typer.Option("--today", help="Only tasks due today or before.")] = False,
    week: Annotated[
        bool, typer.Option("--week", help="Only tasks due within 7 days (or before).")
    ] = False,
    show_all: Annotated[bool, typer.Option("--all", "-a", help="Done tasks too.")] = False,
    for_: Annotated[
        list[str] | None, typer.Option("--for", help="Only tasks for this record (repeatable).")
    ] = None,
    where: WhereOpt = None,
    tag: TagFilterOpt = None,
    segment: SegmentOpt = None,
    limit: LimitOpt = None,
    fmt: FormatOpt = None,
) -> None:
    """List open tasks, soonest first (tasks without a due date last).

    \b
    Examples:
      crm task list --week
      crm task list --overdue --format json
    """
    from crm.query import field_path, sort_objects

    if sum((overdue, today, week)) > 1:
        raise UsageError("choose one of --overdue, --today and --week")
    ctx = app_context()
    wanted = {(r.type.plural, r.id) for r in (find_any(ctx, ref) for ref in for_ or ())}
    horizon = "overdue" if overdue else "today" if today else "week" if week else None
    now = dates.now()
    objs = []
    for rec, obj in select(ctx, TASK, where, tag, segment):
        if not show_all and obj.get("status") == "done":
            continue
        if wanted and not any(rid in (obj.get(plural) or []) for plural, rid in wanted):
            continue
        if horizon and not is_due(rec, horizon, now):
            continue
        objs.append(obj)
    objs = sort_objects(objs, field_path(TASK, ctx.config, "due"))
    output.emit_rows(objs[:limit] if limit else objs, TASK.columns, output.resolve_format(fmt))


app = record_app(TASK, "priority=high", add, list_tasks)


@app.command("done")
def mark_done(ref: RefArg, dry_run: DryRunOpt = False) -> None:
    """Mark a task done. A repeating task gets its next occurrence, whose id is printed.

    \b
    Example:
      crm task done send-the-proposal
    """
    ctx = app_context()
    config = ctx.config
    created = None
    with ctx.store.transaction(dry_run=dry_run) as tx:
        rec = find(ctx, TASK, ref)
        if rec.data.get("status") == "done":
            raise ConflictError(f"task {rec.id} is already done")
        edits = plan(TASK, config, rec.data, [("status", "=", "done")], (), resolver(ctx), tx.now)
        extra, created = task_follow_ups(ctx, tx, rec, edits, moves_series=False)
        tx.update(rec, [*edits, *extra])
    if dry_run:
        output.emit_diff(tx.changes)
        return
    if created:
        print(created)
        done(f"Done: {rec.id}; next: {created}")
    else:
        done(f"Done: {rec.id}")


@app.command("snooze")
def snooze(
    ref: RefArg,
    when: Annotated[str, typer.Argument(help="The new due date: tomorrow, +1w, 2026-12-01.")],
    dry_run: DryRunOpt = False,
) -> None:
    """Put a task off: it becomes due WHEN.

    \b
    Example:
      crm task snooze send-the-proposal +3d
    """
    ctx = app_context()
    with ctx.store.transaction(dry_run=dry_run) as tx:
        rec = find(ctx, TASK, ref)
        if rec.data.get("status") == "done":
            raise ValidationError(f"task {rec.id} is done; there is nothing to put off")
        edits = plan(TASK, ctx.config, rec.data, [("due", "=", when)], (), resolver(ctx), tx.now)
        tx.update(rec, edits)
    if dry_run:
        output.emit_diff(tx.changes)
