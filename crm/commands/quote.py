"""crm quote: offers to a customer, from draft to accepted or declined."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from crm import output
from crm.commands._documents import (
    CurrencyOpt,
    DealOpt,
    DocNotesOpt,
    ForOpt,
    RegimeOpt,
    TermsOpt,
    add_line_commands,
    add_render,
    list_command,
    new_document,
    set_status,
    show_command,
)
from crm.commands._email import CcOpt, EmlOpt, NoEmailOpt, ToOpt
from crm.commands._options import DryRunOpt, RefArg, TagOpt
from crm.commands._records import done, find, record_app, resolver
from crm.context import app_context
from crm.errors import ConflictError, ValidationError
from crm.models import DEAL, QUOTE, QUOTE_STATUSES
from crm.records import Edit, Record, deal_stage, plan

if TYPE_CHECKING:
    from crm.store.repo import Transaction

EXAMPLE = "acme-website"


def new(
    title: Annotated[
        str | None, typer.Argument(help="What it is for (default: the deal's title).")
    ] = None,
    for_: ForOpt = None,
    deal: DealOpt = None,
    currency: CurrencyOpt = None,
    valid_until: Annotated[
        str | None,
        typer.Option(
            "--valid-until", help="Valid until (default: crm.yaml's quote_days after sending)."
        ),
    ] = None,
    regime: RegimeOpt = None,
    notes: DocNotesOpt = None,
    terms: TermsOpt = None,
    tag: TagOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Start a draft quote for a customer (or a deal's) and print its id.

    \b
    Examples:
      crm quote new "Website redesign" --for acme --deal acme-website-redesign
      crm quote new --deal acme-website-redesign
    """
    new_document(
        QUOTE,
        title=title,
        customer=for_,
        deal=deal,
        values={
            "currency": currency,
            "valid_until": valid_until,
            "regime": regime,
            "notes": sys.stdin.read() if notes == "-" else notes,
            "terms": terms,
            "tags": tag,
        },
        dry_run=dry_run,
    )


app = record_app(
    QUOTE,
    "status=sent",
    None,
    list_command(QUOTE, (*QUOTE_STATUSES, "expired"), "total>=1000"),
    show_command(QUOTE, EXAMPLE),
)
app.command("new")(new)
add_line_commands(app, QUOTE, EXAMPLE)
add_render(app, QUOTE, EXAMPLE)


@app.command("send")
def send(
    ref: RefArg,
    to: ToOpt = None,
    cc: CcOpt = None,
    no_email: NoEmailOpt = False,
    eml: EmlOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Send a draft quote: it gets its number, today's date and a valid-until date, and is
    emailed to the customer as a PDF (HTML with billing.pdf: false); the email is logged as an
    activity. Nothing changes when it cannot be sent. Prints the number.

    The email goes to the quote's contact, else the company's billing contact (or first
    contact with an address); `--to` overrides. Subject and text come from the templates
    quote_email.* (the folder's templates/ overrides them). `--dry-run` writes the email as an
    .eml file instead; `--no-email` only numbers the quote and marks it sent.

    \b
    Examples:
      crm quote send acme-website
      crm quote send acme-website --to ada@acme.example --dry-run --eml quote.eml
      crm quote send acme-website --no-email && crm quote render acme-website -o quote.pdf
    """
    from crm import dates
    from crm.invoicing import check_issuable, issue_edits

    ctx = app_context()

    def _buyer(rec: Record) -> Record | None:
        from crm.commands._documents import parties

        return parties(ctx, rec)[0]

    def edits(tx: Transaction, rec: Record) -> list[Edit]:
        from crm.commands._documents import series_numbers

        buyer = _buyer(rec)
        check_issuable(rec, ctx.config, buyer)
        numbers = series_numbers(ctx, tx, QUOTE)
        today = dates.today()
        planned = issue_edits(rec, ctx.config, numbers=numbers, day=today, today=today, buyer=buyer)
        return [e if e.path != ("status",) else Edit("set", ("status",), "sent") for e in planned]

    if no_email:
        from crm.commands._email import refuse_mail_for

        refuse_mail_for(to, cc, eml)
        after = set_status(ctx, QUOTE, ref, allowed=("draft",), edits=edits, dry_run=dry_run)
        if not dry_run:
            print(after.data.get("number"))
        return
    from dataclasses import replace

    from crm import mail
    from crm.commands._documents import context_of, render_bytes
    from crm.commands._email import (
        MIME_TYPES,
        addressed,
        file_name,
        require_mail,
    )
    from crm.commands._email import send as send_email
    from crm.records import apply

    require_mail(ctx, "number it and mark it sent", eml=eml, dry_run=dry_run)
    with ctx.store.transaction(dry_run=dry_run) as tx:
        rec = find(ctx, QUOTE, ref)
        status = str(rec.data.get("status") or "draft")
        if status != "draft":
            raise ConflictError(
                f"quote {rec.data.get('number') or rec.id} is {status}",
                hint="only a draft is sent; `crm quote render` gives its document again",
            )
        planned = edits(tx, rec)
        numbered = replace(rec, data=apply(rec.data, planned))
        fmt = "pdf" if ctx.config.billing.pdf else "html"
        data = render_bytes(ctx, numbered, fmt)
        addresses, recipient, owner = addressed(ctx, numbered, to)
        number = numbered.data.get("number")
        message = mail.compose(
            ctx.config,
            ctx.root,
            "quote_email",
            {**context_of(ctx, numbered), "recipient": recipient},
            to=addresses,
            cc=cc or (),
            attachments=[(f"{file_name('quote', number)}.{fmt}", data, MIME_TYPES[fmt])],
        )
        tx.update(rec, planned)
        send_email(
            ctx,
            tx,
            message,
            about=numbered,
            customer=_buyer(rec),
            also=[owner] if owner is not None else [],
            eml=eml,
            default_eml=file_name("quote", number),
        )
    if dry_run:
        output.emit_diff(tx.changes)
    else:
        print(number)


def _close_deal(tx: Transaction, rec: Record, status: str, reason: str | None) -> None:
    """Stage the move of the quote's deal to its pipeline's won or lost stage."""
    ctx = app_context()
    deal_id = rec.data.get("deal")
    if not isinstance(deal_id, str):
        raise ValidationError(f"quote {rec.id} has no deal to mark {status}")
    deal = find(ctx, DEAL, deal_id)
    pipeline = deal_stage(deal, ctx.config)[0]
    closing = pipeline.closing_stage(status) if pipeline else None
    if closing is None:
        raise ValidationError(f"the pipeline of deal {deal.id} has no stage with status {status}")
    assignments: list[tuple[str, str, Any]] = [("stage", "=", closing.name)]
    if reason:
        assignments.append(("lost_reason", "=", reason))
    tx.update(deal, plan(DEAL, ctx.config, deal.data, assignments, (), resolver(ctx), tx.now))


def _decide(
    ref: str, status: str, deal_status: str | None, reason: str | None, dry_run: bool
) -> None:
    from crm import dates

    ctx = app_context()

    def edits(tx: Transaction, rec: Record) -> list[Edit]:
        if deal_status:
            _close_deal(tx, rec, deal_status, reason)
        return [
            Edit("set", ("status",), status),
            Edit("set", ("decided",), dates.today().isoformat()),
        ]

    after = set_status(ctx, QUOTE, ref, allowed=("sent",), edits=edits, dry_run=dry_run)
    if not dry_run:
        moved = f"; deal {after.data.get('deal')} marked {deal_status}" if deal_status else ""
        done(f"Quote {after.data.get('number')} {status}{moved}")


@app.command("accept")
def accept(
    ref: RefArg,
    won: Annotated[
        bool, typer.Option("--won", help="Also move the quote's deal to its won stage.")
    ] = False,
    dry_run: DryRunOpt = False,
) -> None:
    """Mark a sent quote accepted (an expired one too: the customer may accept late).

    \b
    Examples:
      crm quote accept acme-website --won
      crm invoice from-quote acme-website
    """
    _decide(ref, "accepted", "won" if won else None, None, dry_run)


@app.command("decline")
def decline(
    ref: RefArg,
    lost: Annotated[
        str | None,
        typer.Option("--lost", help="Also mark the quote's deal lost, for this reason."),
    ] = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Mark a sent quote declined.

    \b
    Example:
      crm quote decline globex-intranet --lost "too expensive"
    """
    _decide(ref, "declined", "lost" if lost else None, lost, dry_run)
