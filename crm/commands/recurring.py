"""crm recurring: invoices made every period (retainers, subscriptions) by `invoice recur`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from crm.commands._documents import (
    CurrencyOpt,
    DocNotesOpt,
    ForOpt,
    RegimeOpt,
    TermsOpt,
    add_line_commands,
    list_command,
    new_document,
    set_status,
    show_command,
)
from crm.commands._options import DryRunOpt, RefArg, TagOpt
from crm.commands._records import done, record_app
from crm.context import app_context
from crm.models import RECURRING
from crm.records import Edit, Record

EXAMPLE = "acme-retainer"


def add(
    title: Annotated[str, typer.Argument(help="What is invoiced each period.")],
    for_: ForOpt = None,
    schedule: Annotated[
        str,
        typer.Option("--schedule", "-s", help="monthly, quarterly, yearly, weekly or an RRULE."),
    ] = "monthly",
    start: Annotated[
        str | None,
        typer.Option("--start", help="The first period starts here; later ones on its day."),
    ] = None,
    end: Annotated[
        str | None, typer.Option("--end", help="No period starts after this date.")
    ] = None,
    issue: Annotated[
        bool, typer.Option("--issue", help="Issue the invoices it makes (default: drafts).")
    ] = False,
    currency: CurrencyOpt = None,
    regime: RegimeOpt = None,
    notes: DocNotesOpt = None,
    terms: TermsOpt = None,
    tag: TagOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Add a recurring invoice and print its id; give it lines with `line add`.

    \b
    Examples:
      crm recurring add "Maintenance retainer" --for acme --schedule monthly --start 2026-01-01
      crm recurring line add maintenance-retainer --text "Maintenance, 10 h" --price 800
      crm invoice recur
    """
    from crm import dates

    new_document(
        RECURRING,
        title=title,
        customer=for_,
        deal=None,
        values={
            "schedule": schedule,
            "start": start or dates.today().isoformat(),
            "end": end,
            "issue": "yes" if issue else None,
            "currency": currency,
            "regime": regime,
            "notes": sys.stdin.read() if notes == "-" else notes,
            "terms": terms,
            "tags": tag,
        },
        dry_run=dry_run,
    )


app = record_app(
    RECURRING,
    "paused=no",
    add,
    list_command(RECURRING, ("active", "paused", "ended"), "schedule=monthly"),
    show_command(RECURRING, EXAMPLE),
)
add_line_commands(app, RECURRING, EXAMPLE)


def _pause(ref: str, paused: bool, dry_run: bool) -> None:
    ctx = app_context()

    def edits(_tx: object, rec: Record) -> list[Edit]:
        from crm import dates
        from crm.invoicing import skipped_while_paused

        if paused:
            if rec.data.get("paused") is True:
                return []
            return [
                Edit("set", ("paused",), True),
                Edit("set", ("paused_since",), dates.today().isoformat()),
            ]
        if rec.data.get("paused") is not True:
            return []
        skipped = skipped_while_paused(rec, dates.today())
        invoiced = [*(rec.data.get("invoiced") or []), *skipped]
        return [
            Edit("unset", ("paused",)),
            Edit("unset", ("paused_since",)),
            *([Edit("set", ("invoiced",), invoiced)] if skipped else []),
        ]

    after = set_status(ctx, RECURRING, ref, allowed=("draft",), edits=edits, dry_run=dry_run)
    if not dry_run:
        done(f"{after.id} {'paused' if paused else 'resumed'}")


@app.command("pause")
def pause(ref: RefArg, dry_run: DryRunOpt = False) -> None:
    """Pause a recurring invoice: `invoice recur` makes nothing for it until resumed.

    \b
    Example:
      crm recurring pause acme-retainer
    """
    _pause(ref, True, dry_run)


@app.command("resume")
def resume(ref: RefArg, dry_run: DryRunOpt = False) -> None:
    """Resume a paused recurring invoice: periods that began while it was paused are skipped.

    \b
    Example:
      crm recurring resume acme-retainer
    """
    _pause(ref, False, dry_run)
