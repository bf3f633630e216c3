"""What the commands that email share: recipients, the message, sending it or writing it as an
.eml file, and the email activity that records it (docs/email.md)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from crm import dates, output
from crm.commands._records import scan
from crm.context import AppContext
from crm.errors import ValidationError
from crm.models import ACTIVITY, COMPANY, CONTACT, DEAL
from crm.records import Edit, Record

if TYPE_CHECKING:
    from email.message import EmailMessage

    from crm.mail import Recipient
    from crm.store.repo import Transaction

ToOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--to", help="Send to this address instead of the customer's (repeatable).", metavar="ADDR"
    ),
]
CcOpt = Annotated[
    list[str] | None,
    typer.Option("--cc", help="A copy to this address (repeatable).", metavar="ADDR"),
]
NoEmailOpt = Annotated[
    bool,
    typer.Option("--no-email", help="Only record it as sent: no email (you sent it yourself)."),
]
EmlOpt = Annotated[
    Path | None,
    typer.Option(
        "--eml",
        help="With --dry-run: write the email to this file (default: named after the number).",
        show_default=False,
    ),
]
BILLING_ROLE = re.compile(r"billing|accounts|accounting|invoic|finance", re.IGNORECASE)


def no_mail_hint(what: str) -> str:
    return f"add `mail:` to crm.yaml (docs/email.md), or give --no-email to {what} without email"


def require_mail(
    ctx: AppContext, what: str, *, eml: Path | None = None, dry_run: bool = False
) -> Any:
    """The folder's mail settings; MailError naming `mail:` and --no-email when there are none."""
    from crm.errors import UsageError
    from crm.mail import settings_of

    if eml is not None and not dry_run:
        raise UsageError("--eml is where --dry-run writes the email", hint="add --dry-run")
    if eml is not None:
        output_path(ctx, eml, "--eml", (".eml",))
    return settings_of(ctx.config, hint=no_mail_hint(what))


def output_path(ctx: AppContext, path: Path, option: str, suffixes: Sequence[str]) -> Path:
    """`path` as a file to write what a command makes (an .eml, a letter): refused (UsageError
    naming `option`) when it is a folder, or inside the CRM folder anywhere but at its top
    with one of `suffixes`, so that no record, setting or kept document is overwritten."""
    from crm.errors import UsageError

    given = path if path.is_absolute() else Path.cwd() / path
    try:
        target = given.resolve()  # a link is judged by where it leads
        root = ctx.root.resolve()
    except OSError as exc:
        raise UsageError(f"{option} {path}: {exc.strerror or exc}") from exc
    if target.is_dir():
        raise UsageError(f"{option} {path}: is a folder", hint="give a file name")
    if target == root or root in target.parents:
        top = target.parent == root and not target.name.startswith(".")
        if not top or target.suffix.lower() not in suffixes:
            raise UsageError(
                f"{option} {path}: is inside the CRM folder, which holds the records, their "
                "documents and the settings",
                hint=f"write it outside the folder (or as NAME{suffixes[0]} at its top)",
            )
    return path


def _first_email(rec: Record | None) -> str | None:
    emails = rec.list_of("emails") if rec is not None else []
    return str(emails[0]) if emails else None


def recipient(ctx: AppContext, rec: Record) -> tuple[str, Record]:
    """The address a document goes to and whose it is: the document's contact; for a company,
    its contact whose role (title) says billing (accounts, invoices, finance), else its first
    contact with an address, else the company's own address."""
    contact_id, company_id = rec.data.get("contact"), rec.data.get("company")
    if isinstance(contact_id, str) and ctx.store.exists(CONTACT, contact_id):
        contact = ctx.store.read(CONTACT, contact_id)
        if _first_email(contact):
            return str(_first_email(contact)), contact
    company = None
    if isinstance(company_id, str) and ctx.store.exists(COMPANY, company_id):
        company = ctx.store.read(COMPANY, company_id)
        staff = sorted(
            (c for c in scan(ctx, CONTACT, quiet=True) if c.data.get("company") == company.id),
            key=lambda c: c.id,
        )
        with_email = [c for c in staff if _first_email(c)]
        billing = [c for c in with_email if BILLING_ROLE.search(str(c.data.get("title") or ""))]
        if billing:
            return str(_first_email(billing[0])), billing[0]
        if with_email:
            return str(_first_email(with_email[0])), with_email[0]
        if _first_email(company):
            return str(_first_email(company)), company
    who = company.title if company is not None else str(contact_id or company_id or rec.id)
    raise ValidationError(
        f"{who} has no email address to send {rec.path} to",
        hint="give --to ADDR, or add one: crm contact set NAME email=ADDR",
    )


def addressed(
    ctx: AppContext, rec: Record, to: Sequence[str] | None
) -> tuple[list[Recipient], dict[str, Any], Record | None]:
    """(To addresses, the `recipient` of the templates, the record written to) of a document:
    `--to` if given, else the customer's address with the name it belongs to (as a pair, so
    that a name such as `Dr. Sabine Koch` is never read as header syntax)."""
    from crm.mail import split_address

    if to:
        name, address = split_address(to[0])
        return list(to), {"name": name, "email": address}, None
    address, owner = recipient(ctx, rec)
    name = owner.title if owner.type is CONTACT else None
    return [(name, address)], {"name": name, "email": address}, owner


def file_name(*parts: Any) -> str:
    """A safe attachment or .eml file name from a kind and a number: `invoice-2026-0007`."""
    text = "-".join(str(p) for p in parts if p not in (None, ""))
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "email"


MIME_TYPES = {
    "pdf": "application/pdf",
    "html": "text/html",
    "md": "text/markdown",
    "txt": "text/plain",
}


def send(
    ctx: AppContext,
    tx: Transaction,
    message: EmailMessage,
    *,
    about: Record,
    customer: Record | None,
    also: Sequence[Record] = (),
    eml: Path | None,
    default_eml: str,
    what: str | None = None,
) -> None:
    """Stage the email activity of `message` in `tx`, then send it (the last step of the
    transaction, so nothing is written when it fails) or, in a dry run, write it as an .eml."""
    from crm import mail

    log_email(ctx, tx, message, about=about, customer=customer, also=also)
    to = mail.addresses(message)
    what = what or f"{about.type.name.replace('_', ' ')} {number_of(about)}"
    tx.message = f"email {what} to {', '.join(to)}"
    if tx.dry_run:
        path = output_path(
            ctx, eml if eml is not None else Path.cwd() / f"{default_eml}.eml", "--eml", (".eml",)
        )
        try:
            mail.write_eml(message, path)
        except OSError as exc:
            from crm.errors import UsageError

            raise UsageError(f"--eml {path}: {exc.strerror or exc}") from exc
        output.info(f"Wrote the email to {path} (not sent; nothing changed)")
        return
    tx.prepare()  # rules and pre- hooks first: a refused change sends nothing
    mail.deliver(mail.settings_of(ctx.config), message)


def number_of(rec: Record) -> str:
    return str(rec.data.get("number") or rec.id)


def sent_notice(message: EmailMessage) -> str:
    from crm import mail

    return f"Sent '{message['Subject']}' to {', '.join(mail.addresses(message))}"


def log_email(
    ctx: AppContext,
    tx: Transaction,
    message: EmailMessage,
    *,
    about: Record,
    customer: Record | None,
    also: Sequence[Record] = (),
) -> str:
    """Stage an email activity (as `crm log --type email` makes one) for a message about a
    document: linked to its company, contact and deal and the contact written to; the
    document's id under its type (`invoice: acme-website`)."""
    from crm import mail
    from crm.commands._records import resolver
    from crm.ids import slugify
    from crm.records import new_record, plan

    linked: dict[str, list[str]] = {}

    def link(rec: Record | None) -> None:
        if rec is not None and rec.id not in linked.setdefault(rec.type.plural, []):
            linked[rec.type.plural].append(rec.id)

    for key, rtype in (("company", COMPANY), ("contact", CONTACT), ("deal", DEAL)):
        rid = about.data.get(key)
        if isinstance(rid, str) and ctx.store.exists(rtype, rid):
            link(ctx.store.read(rtype, rid))
    link(customer)
    for rec in also:
        link(rec)
    to, cc = mail.addresses(message, "To"), mail.addresses(message, "Cc")
    text = f"{message['Subject']}\nTo: {', '.join(to)}" + (f"\nCc: {', '.join(cc)}" if cc else "")
    assignments: list[tuple[str, str, Any]] = [
        ("type", "=", "email"),
        ("at", "=", dates.iso(tx.now)),
        ("text", "=", text),
        *((plural, "=", ids) for plural, ids in linked.items()),
    ]
    edits = plan(ACTIVITY, ctx.config, {}, assignments, [], resolver(ctx), tx.now)
    edits.append(Edit("set", (about.type.name,), about.id))
    body = new_record(ACTIVITY, ctx.config, edits, tx.now)
    owner = customer or about
    day = dates.local_date(tx.now).isoformat()
    base = slugify(f"{day}-email-{slugify(owner.title, fallback='email')}")
    return tx.create(ACTIVITY, body, base=base)


def refuse_mail_for(
    to: Sequence[str] | None, cc: Sequence[str] | None, eml: Path | None = None
) -> None:
    """`--to`, `--cc` and `--eml` with `--no-email` mean nothing: refused rather than ignored."""
    if to or cc or eml is not None:
        from crm.errors import UsageError

        raise UsageError("--to, --cc and --eml are for the email; --no-email sends none")
