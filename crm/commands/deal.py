"""crm deal: opportunities moving through the pipeline."""

from __future__ import annotations

from typing import Annotated

import typer

from crm.commands._options import DryRunOpt, FieldOpt, IdOpt, NotesOpt, TagOpt
from crm.commands._records import add_record, find, record_app
from crm.context import app_context
from crm.models import CONTACT, DEAL


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
        typer.Option("--pipeline", help="A pipeline from crm.yaml. Default: the first."),
    ] = None,
    stage: Annotated[
        str | None,
        typer.Option("--stage", help="A stage of the pipeline. Default: its first."),
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
