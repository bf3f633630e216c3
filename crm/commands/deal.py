"""crm deal: opportunities moving through the pipeline."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from crm import output
from crm.commands import _complete
from crm.commands._options import DryRunOpt, FieldOpt, IdOpt, NotesOpt, RefArg, TagOpt
from crm.commands._records import add_record, done, find, record_app, resolver
from crm.context import app_context
from crm.errors import ValidationError
from crm.models import CONTACT, DEAL
from crm.records import deal_stage, plan


def add(
    title: Annotated[str, typer.Argument(help="What is being sold.")],
    company: Annotated[
        str | None, typer.Option("--company", "-c", help="Company: id, name or email.")
    ] = None,
    contact: Annotated[
        str | None,
        typer.Option("--contact", help="Main contact: id, name or email (implies their company)."),
    ] = None,
    value: Annotated[
        str | None, typer.Option("--value", help="Expected value, e.g. 4500.00.")
    ] = None,
    currency: Annotated[
        str | None, typer.Option("--currency", help="ISO 4217 code. Default: crm.yaml's.")
    ] = None,
    pipeline: Annotated[
        str | None,
        typer.Option(
            "--pipeline",
            help="A pipeline from crm.yaml. Default: the first.",
            autocompletion=_complete.pipeline,
        ),
    ] = None,
    stage: Annotated[
        str | None,
        typer.Option(
            "--stage",
            help="A stage of the pipeline. Default: its first.",
            autocompletion=_complete.stage,
        ),
    ] = None,
    probability: Annotated[
        str | None, typer.Option("--probability", help="0-100. Default: the stage's.")
    ] = None,
    close_date: Annotated[
        str | None, typer.Option("--close-date", help="Expected close date, YYYY-MM-DD.")
    ] = None,
    tag: TagOpt = None,
    notes: NotesOpt = None,
    field: FieldOpt = None,
    id: IdOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Add a deal and print its id.

    \b
    Examples:
      crm deal add "Acme website redesign" --company acme-corp --value 12000 --stage proposal
      crm deal add "Logo refresh" --contact ada@acme.example --value 900 --close-date 2026-12-20
    """
    ctx = app_context()
    if contact and not company:
        company = find(ctx, CONTACT, contact).data.get("company") or None
    add_record(
        DEAL,
        {
            "title": title,
            "company": company,
            "contact": contact,
            "value": value,
            "currency": currency,
            "pipeline": pipeline,
            "stage": stage,
            "probability": probability,
            "close_date": close_date,
            "tags": tag,
            "notes": notes,
        },
        custom=field,
        explicit_id=id,
        dry_run=dry_run,
    )


app = record_app(DEAL, "stage=proposal and value>=1000", add)


def _change_stage(
    ref: str, stage: str | None, status: str | None, reason: str | None, dry_run: bool
) -> None:
    """Move a deal to `stage`, or to its pipeline's first stage with `status` (won, lost)."""
    ctx = app_context()
    config = ctx.config
    with ctx.store.transaction(dry_run=dry_run) as tx:
        rec = find(ctx, DEAL, ref)
        if status is not None:
            pipeline = deal_stage(rec, config)[0]
            closing = pipeline.closing_stage(status) if pipeline else None
            if closing is None:
                name = pipeline.name if pipeline else rec.data.get("pipeline")
                raise ValidationError(f"pipeline {name} has no stage with status {status}")
            stage = closing.name
        assignments: list[tuple[str, str, Any]] = [("stage", "=", stage)]
        if reason is not None:
            assignments.append(("lost_reason", "=", reason))
        edits = plan(DEAL, config, rec.data, assignments, (), resolver(ctx), tx.now)
        changed = tx.update(rec, edits)
    if dry_run:
        output.emit_diff(tx.changes)
    elif changed:
        done(f"Moved {rec.id} to {stage}")
    else:
        done(f"{rec.id} is already in {stage}")


@app.command("move")
def move(
    ref: RefArg,
    stage: Annotated[
        str, typer.Argument(help="The stage to move to.", autocompletion=_complete.stage)
    ],
    dry_run: DryRunOpt = False,
) -> None:
    """Move a deal to another stage of its pipeline; the change is dated in its history.

    The deal's probability follows the stage unless the deal has its own.

    \b
    Example:
      crm deal move acme-website-redesign negotiation
    """
    _change_stage(ref, stage, None, None, dry_run)


@app.command("won")
def won(ref: RefArg, dry_run: DryRunOpt = False) -> None:
    """Mark a deal won: move it to its pipeline's won stage.

    \b
    Example:
      crm deal won acme-website-redesign
    """
    _change_stage(ref, None, "won", None, dry_run)


@app.command("lost")
def lost(
    ref: RefArg,
    reason: Annotated[
        str, typer.Option("--reason", "-r", help="Why it was lost (reported by `report winloss`).")
    ],
    dry_run: DryRunOpt = False,
) -> None:
    """Mark a deal lost, with the reason: move it to its pipeline's lost stage.

    \b
    Example:
      crm deal lost globex-intranet --reason "went with an agency"
    """
    _change_stage(ref, None, "lost", reason, dry_run)
