"""crm invoice: invoices from draft to paid, credit notes, reminders and recurring invoices."""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Any

import typer

from crm import dates, output
from crm.commands._documents import (
    CurrencyOpt,
    DealOpt,
    DocFormatOpt,
    DocNotesOpt,
    ForOpt,
    OutOpt,
    RegimeOpt,
    TermsOpt,
    add_line_commands,
    add_render,
    credit_notes,
    doc_format,
    keep_document,
    list_command,
    new_document,
    parties,
    render_bytes,
    series_numbers,
    set_status,
    show_command,
    write_output,
)
from crm.commands._einvoice import add_validate
from crm.commands._email import CcOpt, EmlOpt, NoEmailOpt, ToOpt
from crm.commands._options import DryRunOpt, RefArg, TagOpt
from crm.commands._records import done, find, record_app, scan
from crm.context import AppContext, app_context
from crm.errors import ConflictError, ValidationError
from crm.models import CREDIT_NOTE, INVOICE, QUOTE, RECURRING, RecordType
from crm.records import Edit, Record, apply, new_record

if TYPE_CHECKING:
    from crm.store.repo import Transaction

EXAMPLE = "acme-website"
STATUSES = ("draft", "issued", "sent", "partially_paid", "paid", "overdue", "credited")


def new(
    title: Annotated[
        str | None, typer.Argument(help="What it is for (default: the deal's title).")
    ] = None,
    for_: ForOpt = None,
    deal: DealOpt = None,
    currency: CurrencyOpt = None,
    service_date: Annotated[
        str | None,
        typer.Option("--service-date", help="Date of the service, or start of its period."),
    ] = None,
    service_until: Annotated[
        str | None, typer.Option("--service-until", help="End of the period of service.")
    ] = None,
    regime: RegimeOpt = None,
    notes: DocNotesOpt = None,
    terms: TermsOpt = None,
    tag: TagOpt = None,
    from_time: Annotated[
        bool,
        typer.Option(
            "--from-time", help="Bill the customer's unbilled tracked time of --period (crm time)."
        ),
    ] = False,
    period: Annotated[
        str | None,
        typer.Option(
            "--period",
            help="With --from-time: 2026-11, 2026-Q4, 2026, or FROM..TO.",
            show_default=False,
        ),
    ] = None,
    group: Annotated[
        str | None,
        typer.Option(
            "--group",
            help="With --from-time: a line per project (default), day or entry.",
            show_default=False,
        ),
    ] = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Start a draft invoice for a customer (or a deal's) and print its id.

    With --from-time its lines bill the customer's tracked time of --period that no invoice
    has billed yet (hours x rate, in the steps crm.yaml's `time:` rounds to), and each entry
    is marked billed by it; when there is none, nothing is made.

    \b
    Examples:
      crm invoice new "Website, phase 1" --for acme --service-date 2026-11-01
      crm invoice line add website-phase-1 --product design-hour --qty 12
      crm invoice issue website-phase-1
      crm invoice new --from-time --for acme --period 2026-11 --group day
    """
    values = {
        "currency": currency,
        "service_date": service_date,
        "service_until": service_until,
        "regime": regime,
        "notes": sys.stdin.read() if notes == "-" else notes,
        "terms": terms,
        "tags": tag,
    }
    if not (from_time or period or group):
        new_document(INVOICE, title=title, customer=for_, deal=deal, values=values, dry_run=dry_run)
        return
    from crm.commands._timebill import NothingToBill, TimeBill

    bill = TimeBill.of(from_time=from_time, period=period, group=group)
    values["service_date"] = service_date or bill.period.first.isoformat()
    values["service_until"] = service_until or bill.period.last.isoformat()
    try:
        new_document(
            INVOICE,
            title=title,
            customer=for_,
            deal=deal,
            values=values,
            dry_run=dry_run,
            fill=bill.lines,
            extra=bill.mark,
            name=f"Time {bill.period.label}",
        )
    except NothingToBill as nothing:
        output.info(str(nothing))


app = record_app(
    INVOICE,
    "status=overdue",
    None,
    list_command(INVOICE, STATUSES, "amount_due>0"),
    show_command(INVOICE, EXAMPLE),
)
app.command("new")(new)
add_line_commands(app, INVOICE, EXAMPLE)
add_render(app, INVOICE, EXAMPLE)
add_validate(app, INVOICE, EXAMPLE)


@app.command("from-quote")
def from_quote(
    ref: Annotated[str, typer.Argument(help="The quote: id, number or title.")],
    again: Annotated[
        bool, typer.Option("--again", help="Make another invoice from an invoiced quote.")
    ] = False,
    dry_run: DryRunOpt = False,
) -> None:
    """Start a draft invoice from an accepted quote: a copy of its lines and parties, so that
    later changes to one never change the other. Prints the invoice's id.

    \b
    Example:
      crm invoice from-quote acme-website && crm invoice issue acme-website
    """
    from crm.ids import slugify

    ctx = app_context()
    with ctx.store.transaction(dry_run=dry_run) as tx:
        quote = find(ctx, QUOTE, ref)
        status = quote.data.get("status") or "draft"
        if status != "accepted":
            name = quote.data.get("number") or quote.id
            raise ConflictError(
                f"quote {name} is {status}: only an accepted quote is invoiced",
                hint=f"crm quote accept {name}"
                if status == "sent"
                else "`crm invoice new` starts an invoice of its own",
            )
        if quote.data.get("invoice") and not again:
            raise ConflictError(
                f"quote {quote.id} is already invoiced: {quote.data['invoice']}",
                hint="--again makes another invoice from it",
            )
        body: dict[str, Any] = {"title": quote.title}
        for key in ("company", "contact", "deal", "currency", "regime", "notes", "terms", "tags"):
            if quote.data.get(key):
                body[key] = quote.data[key]
        body["quote"] = quote.id
        body["status"] = "draft"
        body["lines"] = [dict(line) for line in quote.data.get("lines") or []]
        edits = [Edit("set", (k,), v) for k, v in body.items()]
        rid = tx.create(
            INVOICE,
            new_record(INVOICE, ctx.config, edits, tx.now),
            base=slugify(quote.title, fallback="invoice"),
        )
        tx.update(quote, [Edit("set", ("invoice",), rid)])
    if dry_run:
        output.emit_diff(tx.changes)
    else:
        print(rid)


def issue_in(ctx: AppContext, tx: Transaction, rec: Record, day: Any) -> Record:
    """Issue a draft invoice or credit note within `tx`: number it (the next of its series,
    read under the lock), date it, render and keep its document. Returns it as issued."""
    from crm.invoicing import check_issuable, issue_edits

    buyer, _ = parties(ctx, rec)
    check_issuable(rec, ctx.config, buyer)
    numbers = series_numbers(ctx, tx, rec.type)
    edits = issue_edits(rec, ctx.config, numbers=numbers, day=day, today=dates.today(), buyer=buyer)
    issued = replace(rec, data=apply(rec.data, edits))
    edits.append(keep_document(ctx, tx, issued))
    tx.update(rec, edits)
    return replace(rec, data=apply(rec.data, edits))


@app.command("issue")
def issue(
    ref: RefArg,
    date: Annotated[
        str | None,
        typer.Option("--date", help="Issue date (default today; never before the last one)."),
    ] = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Issue a draft: give it the next number of its series, its date and due date, and keep
    the document as rendered now (PDF) beside it. Prints the number.

    From then on it is frozen: it is corrected with a credit note, never edited or removed.

    \b
    Examples:
      crm invoice issue acme-website
      crm invoice issue acme-website --date 2026-11-30
    """
    ctx = app_context()
    day = dates.parse_date(date) if date else dates.today()
    with ctx.store.transaction(dry_run=dry_run) as tx:
        rec = find(ctx, INVOICE, ref)
        issued = issue_in(ctx, tx, rec, day)
    if dry_run:
        output.emit_diff(tx.changes)
    else:
        print(issued.data["number"])


@app.command("send")
def send(
    ref: RefArg,
    to: ToOpt = None,
    cc: CcOpt = None,
    again: Annotated[
        bool, typer.Option("--again", help="Send an invoice already sent once more.")
    ] = False,
    no_email: NoEmailOpt = False,
    eml: EmlOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Email an issued invoice to the customer, its kept document (PDF) attached, and mark it
    sent; the email is logged as an activity. Nothing changes when it cannot be sent.

    The email goes to the invoice's contact, else the company's billing contact (or first
    contact with an address); `--to` overrides. Subject and text come from the templates
    invoice_email.* (the folder's templates/ overrides them). `--dry-run` writes the email as
    an .eml file instead; `--no-email` only marks the invoice sent.

    \b
    Examples:
      crm invoice send 2026-0007
      crm invoice send 2026-0007 --to accounts@acme.example --cc ada@acme.example
      crm invoice send 2026-0007 --dry-run --eml invoice.eml
      crm invoice send 2026-0007 --no-email
    """
    ctx = app_context()
    allowed = ("issued", "sent") if again else ("issued",)
    if no_email:
        from crm.commands._email import refuse_mail_for

        refuse_mail_for(to, cc, eml)
        rec = find(ctx, INVOICE, ref)

        def edits(_tx: Transaction, _rec: Record) -> list[Edit]:
            return [Edit("set", ("status",), "sent")]

        after = set_status(ctx, INVOICE, rec.id, allowed=allowed, edits=edits, dry_run=dry_run)
        if not dry_run:
            done(f"Invoice {after.data.get('number')} marked sent")
        return
    _email_invoice(ctx, ref, allowed=allowed, to=to, cc=cc, eml=eml, dry_run=dry_run)


def _email_invoice(
    ctx: AppContext,
    ref: str,
    *,
    allowed: tuple[str, ...],
    to: list[str] | None,
    cc: list[str] | None,
    eml: Any,
    dry_run: bool,
) -> None:
    from crm import mail
    from crm.commands._documents import context_of, kept_document
    from crm.commands._email import (
        MIME_TYPES,
        addressed,
        file_name,
        require_mail,
        sent_notice,
    )
    from crm.commands._email import send as send_email

    require_mail(ctx, "mark it sent", eml=eml, dry_run=dry_run)
    with ctx.store.transaction(dry_run=dry_run) as tx:
        rec = find(ctx, INVOICE, ref)
        status = str(rec.data.get("status") or "draft")
        if status not in allowed:
            raise ConflictError(
                f"invoice {rec.data.get('number') or rec.id} is {status}",
                hint="issue it first: crm invoice issue"
                if status == "draft"
                else "--again sends it once more",
            )
        fmt, data = kept_document(ctx, rec)  # what was issued, byte for byte, or refused
        addresses, recipient, owner = addressed(ctx, rec, to)
        number = rec.data.get("number")
        message = mail.compose(
            ctx.config,
            ctx.root,
            "invoice_email",
            {**context_of(ctx, rec), "recipient": recipient},
            to=addresses,
            cc=cc or (),
            attachments=[
                (
                    f"{file_name('invoice', number)}.{fmt}",
                    data,
                    MIME_TYPES.get(fmt, "application/octet-stream"),
                )
            ],
        )
        tx.update(rec, [Edit("set", ("status",), "sent")])
        buyer, _ = parties(ctx, rec)
        send_email(
            ctx,
            tx,
            message,
            about=rec,
            customer=buyer,
            also=[owner] if owner is not None else [],
            eml=eml,
            default_eml=file_name("invoice", number),
        )
    if dry_run:
        output.emit_diff(tx.changes)
    else:
        done(f"{sent_notice(message)}; invoice {number} is sent")


@app.command("pay")
def pay(
    ref: RefArg,
    amount: Annotated[str, typer.Option("--amount", "-a", help="The amount paid, e.g. 1190.00.")],
    date: Annotated[
        str | None, typer.Option("--date", help="When it was paid (default today).")
    ] = None,
    method: Annotated[
        str | None, typer.Option("--method", "-m", help="bank transfer, card, cash, ...")
    ] = None,
    reference: Annotated[
        str | None, typer.Option("--reference", "-r", help="The bank's or payer's reference.")
    ] = None,
    overpay: Annotated[
        bool,
        typer.Option(
            "--overpay", help="Record more than is due (a credit in the customer's favour)."
        ),
    ] = False,
    dry_run: DryRunOpt = False,
) -> None:
    """Record a payment of an issued invoice; partial payments add up.

    \b
    Examples:
      crm invoice pay 2026-0007 --amount 1190.00 --method transfer --reference "RF18 5390"
      crm invoice pay 2026-0007 --amount 500 --date 2026-11-20
    """
    from crm.invoicing import payment_edits
    from crm.views import objects

    ctx = app_context()
    day = dates.parse_date(date) if date else dates.today()
    with ctx.store.transaction(dry_run=dry_run) as tx:
        rec = find(ctx, INVOICE, ref)
        notes = credit_notes(ctx)
        edits = payment_edits(
            rec,
            ctx.config,
            notes,
            amount=amount,
            day=day,
            method=method,
            reference=reference,
            overpay=overpay,
        )
        tx.update(rec, edits)
        after = replace(rec, data=apply(rec.data, edits))
    if dry_run:
        output.emit_diff(tx.changes)
        return
    obj = objects([after], ctx.config, dates.now(), notes)[0]
    done(f"Invoice {rec.data.get('number')}: {obj['status']}, {obj['amount_due']} due")


@app.command("credit")
def credit(
    ref: RefArg,
    lines: Annotated[
        str | None,
        typer.Option("--lines", "-l", help="Only these lines: 1,3 or 2:0.5 (line 2, qty 0.5)."),
    ] = None,
    reason: Annotated[
        str | None, typer.Option("--reason", "-r", help="Why it is corrected (printed).")
    ] = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Correct an issued invoice with a credit note: issued at once, numbered in its own series
    and kept as a document. The whole invoice, or the lines given. Prints its number.

    \b
    Examples:
      crm invoice credit 2026-0007 --reason "cancelled order"
      crm invoice credit 2026-0007 --lines 2:3 --reason "3 hours not worked"
    """
    from crm.ids import slugify
    from crm.invoicing import credit_note_body, parse_line_choice

    ctx = app_context()
    choice = parse_line_choice(lines) if lines is not None else None
    with ctx.store.transaction(dry_run=dry_run) as tx:
        invoice = find(ctx, INVOICE, ref)
        body = credit_note_body(
            invoice, ctx.config, credit_notes(ctx), choice=choice, reason=reason
        )
        edits = [Edit("set", (k,), v) for k, v in body.items()]
        data = new_record(CREDIT_NOTE, ctx.config, edits, tx.now)
        base = slugify(f"{invoice.data.get('number')}-credit", fallback="credit-note")
        rid = tx.create(CREDIT_NOTE, data, base=base)
        note = ctx_record(CREDIT_NOTE, rid, data, ctx)
        issued = issue_in(ctx, tx, note, dates.today())
    if dry_run:
        output.emit_diff(tx.changes)
    else:
        print(issued.data["number"])


def ctx_record(rtype: RecordType, rid: str, data: dict[str, Any], ctx: AppContext) -> Record:
    return Record(type=rtype, id=rid, data=data, path=ctx.store.rel(ctx.store.path_of(rtype, rid)))


@app.command("remind")
def remind(
    ref: RefArg,
    fmt: DocFormatOpt = None,
    out: OutOpt = None,
    level: Annotated[
        int | None,
        typer.Option(
            "--level", help="This level, even if sent before (default: the next one due)."
        ),
    ] = None,
    to: ToOpt = None,
    cc: CcOpt = None,
    no_email: NoEmailOpt = False,
    eml: EmlOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Email a payment reminder for an overdue invoice, at the next level once its days
    overdue reach it (levels, texts and fees in crm.yaml), and record it on the invoice and as
    an email activity. Each level is sent once; after the last, only `--level N` sends one
    again. Nothing is recorded when the email cannot be sent.

    The letter is attached as PDF (HTML with billing.pdf: false; --format or -o's suffix
    choose); -o also keeps a copy. Subject and text come from reminder_email.*. `--no-email`
    writes the letter to -o or stdout instead and records it; `--dry-run` writes the email as
    an .eml file.

    \b
    Examples:
      crm invoice remind 2026-0003
      crm invoice list --status overdue --format ids | xargs -n1 crm invoice remind
      crm invoice remind 2026-0003 --no-email -o reminder.pdf
    """
    from crm.invoicing import dunning

    ctx = app_context()
    if out is not None:
        from crm.commands._documents import OUTPUT_SUFFIXES
        from crm.commands._email import output_path

        output_path(ctx, out, "--out", OUTPUT_SUFFIXES)  # refused before anything is sent
    if no_email:
        from crm.commands._email import refuse_mail_for

        refuse_mail_for(to, cc, eml)
        chosen = doc_format(fmt, out)
    else:
        from crm.commands._email import require_mail

        require_mail(
            ctx, "write the letter (to -o or stdout) and record it", eml=eml, dry_run=dry_run
        )
        default = "pdf" if ctx.config.billing.pdf else "html"
        chosen = doc_format(fmt, out) if fmt or out else default

    today = dates.today()
    message = None
    with ctx.store.transaction(dry_run=dry_run) as tx:
        rec = find(ctx, INVOICE, ref)
        letter = dunning(rec, ctx.config, credit_notes(ctx), today, level)
        entry: dict[str, Any] = {"date": today.isoformat(), "level": letter.level}
        if letter.fee:
            entry["fee"] = str(letter.fee)
        sent = [*(rec.data.get("reminders") or []), entry]
        tx.update(rec, [Edit("set", ("reminders",), sent)])
        reminder = {
            "level": letter.level,
            "text": letter.reminder.text,
            "fee": str(letter.fee),
            "total": str(letter.total),
            "days_overdue": letter.days_overdue,
        }
        data = render_bytes(ctx, rec, chosen, kind="reminder", extra={"reminder": reminder})
        if not no_email:
            message = _email_reminder(ctx, tx, rec, reminder, data, chosen, to, cc, eml)
        elif not dry_run:
            write_output(data, out, chosen)  # before the reminder is recorded: both or neither
    if dry_run:
        output.emit_diff(tx.changes)
    elif message is not None:
        from crm.commands._email import sent_notice

        done(f"{sent_notice(message)}; reminder {letter.level} recorded")
        if out is not None:
            write_output(data, out, chosen)  # a copy of what was sent, once it was


def _email_reminder(
    ctx: AppContext,
    tx: Transaction,
    rec: Record,
    reminder: dict[str, Any],
    data: bytes,
    fmt: str,
    to: list[str] | None,
    cc: list[str] | None,
    eml: Any,
) -> Any:
    """Compose the reminder's email, the letter attached; stage its activity and send it."""
    from crm import mail
    from crm.commands._documents import context_of
    from crm.commands._email import MIME_TYPES, addressed, file_name
    from crm.commands._email import send as send_email

    addresses, recipient, owner = addressed(ctx, rec, to)
    number = rec.data.get("number")
    name = file_name("reminder", number, reminder["level"])
    context = {**context_of(ctx, rec, {"reminder": reminder}), "recipient": recipient}
    message = mail.compose(
        ctx.config,
        ctx.root,
        "reminder_email",
        context,
        to=addresses,
        cc=cc or (),
        attachments=[(f"{name}.{fmt}", data, MIME_TYPES[fmt])],
    )
    buyer, _ = parties(ctx, rec)
    send_email(
        ctx,
        tx,
        message,
        about=rec,
        customer=buyer,
        also=[owner] if owner is not None else [],
        eml=eml,
        default_eml=name,
        what=f"reminder {reminder['level']} of invoice {number}",
    )
    return message


@app.command("recur")
def recur(
    today: Annotated[
        str | None, typer.Option("--today", help="Act as if today were this date.")
    ] = None,
    dry_run: DryRunOpt = False,
) -> None:
    """For cron: create the invoices every active recurring invoice owes up to today.

    Missed periods are caught up; a period is never invoiced twice however often it runs.
    Definitions with `issue: yes` have their invoices issued (dated today at the latest).
    Prints one line per invoice created, nothing when nothing was owed. A definition that
    cannot be invoiced is reported and left as it was; the others go on, and the exit code
    is then 22.

    \b
    Examples:
      crm invoice recur
      crm invoice recur --dry-run
      0 7 * * *  cd ~/crm && crm invoice recur
    """
    from crm.errors import CrmError

    ctx = app_context()
    day = dates.parse_date(today) if today else dates.today()
    issue_day = min(day, dates.today())  # never dated ahead, whatever --today says
    made: list[tuple[str, str, str]] = []
    failed: list[str] = []
    with ctx.store.transaction(dry_run=dry_run) as tx:
        for rec in scan(ctx, RECURRING):
            point = tx.savepoint()
            try:
                made += _recur_one(ctx, tx, rec, day, issue_day)
            except CrmError as exc:  # one bad definition never stops the others
                tx.rollback(point)
                output.error(f"{rec.path}: nothing invoiced: {exc}")
                failed.append(rec.path)
    if dry_run:
        output.emit_diff(tx.changes)
    else:
        for rid, number, period in made:
            print(f"{rid}\t{number or 'draft'}\t{period}")
    if failed:
        raise ValidationError(
            f"{len(failed)} recurring invoice(s) could not be invoiced: {', '.join(failed)}",
            hint="the others were; mend these (`crm check`) and run `crm invoice recur` again",
        )


def _recur_one(
    ctx: AppContext, tx: Transaction, rec: Record, day: Any, issue_day: Any
) -> list[tuple[str, str, str]]:
    """Stage the invoices one recurring definition owes up to `day`: (id, number, period)."""
    from crm.ids import slugify
    from crm.invoicing import invoice_from_recurring, owed_periods

    owed = owed_periods(rec, day)
    if not owed:
        return []
    made = []
    invoiced = list(rec.data.get("invoiced") or [])
    for first, last in owed:
        body = invoice_from_recurring(rec, first, last, ctx.config)
        edits = [Edit("set", (k,), v) for k, v in body.items()]
        data = new_record(INVOICE, ctx.config, edits, tx.now)
        rid = tx.create(INVOICE, data, base=slugify(f"{rec.id}-{first.isoformat()}"))
        number = ""
        if rec.data.get("issue") is True:
            issued = issue_in(ctx, tx, ctx_record(INVOICE, rid, data, ctx), issue_day)
            number = str(issued.data["number"])
        invoiced.append({"period": first.isoformat(), "invoice": rid})
        made.append((rid, number, first.isoformat()))
    tx.update(rec, [Edit("set", ("invoiced",), invoiced)])
    return made
