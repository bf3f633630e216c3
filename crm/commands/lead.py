"""crm lead: people who may become customers."""

from __future__ import annotations

from typing import Annotated

import typer

from crm.commands._options import DryRunOpt, EmailOpt, FieldOpt, IdOpt, NotesOpt, PhoneOpt, TagOpt
from crm.commands._records import add_record, record_app
from crm.models import LEAD, LEAD_STATUSES


def add(
    name: Annotated[str, typer.Argument(help="Full name.")],
    company: Annotated[
        str | None, typer.Option("--company", "-c", help="Company name, as plain text.")
    ] = None,
    title: Annotated[str | None, typer.Option("--title", help="Job title or role.")] = None,
    email: EmailOpt = None,
    phone: PhoneOpt = None,
    source: Annotated[
        str | None,
        typer.Option("--source", help="Where the lead came from (website, referral...)."),
    ] = None,
    status: Annotated[
        str, typer.Option("--status", help=f"One of: {', '.join(LEAD_STATUSES[:-1])}.")
    ] = "new",
    budget: Annotated[
        str | None, typer.Option("--budget", help="BANT: their budget, e.g. 5000.")
    ] = None,
    authority: Annotated[
        str | None, typer.Option("--authority", help="BANT: whether they decide (yes/no).")
    ] = None,
    need: Annotated[str | None, typer.Option("--need", help="BANT: what they need.")] = None,
    timeline: Annotated[
        str | None, typer.Option("--timeline", help="BANT: when (e.g. Q1 2027).")
    ] = None,
    last_contact: Annotated[
        str | None, typer.Option("--last-contact", help="When you last spoke (YYYY-MM-DD).")
    ] = None,
    tag: TagOpt = None,
    notes: NotesOpt = None,
    field: FieldOpt = None,
    id: IdOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Add a lead and print its id.

    \b
    Examples:
      crm lead add "Grace Hopper" --company "Navy Labs" --email grace@navy.example --source referral
      crm lead add "Alan Turing" --status contacted --tag conference
    """
    add_record(
        LEAD,
        {
            "name": name,
            "company": company,
            "title": title,
            "emails": email,
            "phones": phone,
            "source": source,
            "status": status,
            "budget": budget,
            "authority": authority,
            "need": need,
            "timeline": timeline,
            "last_contact": last_contact,
            "tags": tag,
            "notes": notes,
        },
        custom=field,
        explicit_id=id,
        dry_run=dry_run,
    )


app = record_app(LEAD, "status=new and source=website", add)
