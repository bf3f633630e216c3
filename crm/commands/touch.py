"""crm touch: keeping in touch with contacts and companies."""

from __future__ import annotations

from typing import Annotated

import typer

from crm import agenda, dates, output
from crm.commands._options import CrmTyper, DryRunOpt, FormatOpt, RefArg
from crm.commands._records import find_any, resolver, scan
from crm.context import app_context
from crm.errors import UsageError
from crm.models import ACTIVITY, COMPANY, CONTACT
from crm.records import plan

app = CrmTyper()


@app.command("snooze")
def snooze(
    ref: RefArg,
    when: Annotated[str, typer.Argument(help="Not before: +2w, 2027-01-10, next monday.")],
    dry_run: DryRunOpt = False,
) -> None:
    """Defer the next touch with a contact or company until WHEN.

    \b
    Example:
      crm touch snooze ada +2w
    """
    ctx = app_context()
    with ctx.store.transaction(dry_run=dry_run) as tx:
        rec = find_any(ctx, ref)
        if rec.type not in (CONTACT, COMPANY):
            raise UsageError(f"{rec.type.name} {rec.id}: only contacts and companies have touches")
        edits = plan(
            rec.type, ctx.config, rec.data, [("touch_after", "=", when)], (), resolver(ctx), tx.now
        )
        tx.update(rec, edits)
    if dry_run:
        output.emit_diff(tx.changes)


@app.command("list")
def list_touches(fmt: FormatOpt = None) -> None:
    """Contacts and companies due for a touch, the most overdue (for their cadence) first.

    A cadence is a record's `cadence:` (2w, 1m) or one given to its tags in crm.yaml; any
    logged call, email or meeting restarts the clock.

    \b
    Example:
      crm touch list
    """
    ctx = app_context()
    people = [*scan(ctx, CONTACT), *scan(ctx, COMPANY)]
    found = agenda.touches(people, scan(ctx, ACTIVITY), ctx.config, dates.today())
    columns = ["id", "type", "name", "cadence", "last_touch", "due", "overdue_ratio"]
    output.emit_rows([t.json() for t in found], columns, output.resolve_format(fmt))
