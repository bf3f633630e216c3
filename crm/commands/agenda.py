"""crm agenda (crm today) and crm remind: what needs doing."""

from __future__ import annotations

from typing import Annotated, cast

import typer

from crm import agenda as agenda_
from crm import dates, output
from crm.commands._options import FormatOpt
from crm.commands._records import scan
from crm.context import app_context
from crm.models import RECORD_TYPES, Issue
from crm.output import Format

DaysOpt = Annotated[
    int, typer.Option("--days", "-d", min=0, max=366, help="How many days ahead to look.")
]


def _build(days: int) -> dict[str, object]:
    ctx = app_context()
    wanted = ("task", "deal", "lead", "contact", "company", "activity", "invoice", "credit_note")
    records = {name: scan(ctx, RECORD_TYPES[name]) for name in wanted}
    skipped: list[Issue] = []
    built = agenda_.build(records, ctx.config, dates.now(), days, skipped)
    for issue in skipped:
        output.warn(f"skipped {issue} (see `crm check`)")
    return built


def agenda(days: DaysOpt = 7, fmt: FormatOpt = None) -> None:
    """What needs doing: overdue and coming tasks, people to keep in touch with, deals to
    close, leads waiting for contact, invoices falling due. Overdue items are red, today's
    yellow.

    \b
    Examples:
      crm agenda
      crm today --days 14
      crm agenda --format json | jq '.overdue_tasks | length'
    """
    output.emit_agenda(_build(days), output.resolve_format(fmt or Format.TABLE))


def today(days: DaysOpt = 7, fmt: FormatOpt = None) -> None:
    """The agenda (the same as `crm agenda`).

    \b
    Example:
      crm today
    """
    agenda(days, fmt)


def remind(
    days: DaysOpt = 1,
    fmt: Annotated[
        Format | None,
        typer.Option("--format", "-f", help="text (default), json or yaml.", show_default=False),
    ] = None,
    mail: Annotated[
        bool,
        typer.Option(
            "--mail", help="Email the agenda (to crm.yaml's business.email) instead of printing."
        ),
    ] = False,
    to: Annotated[
        list[str] | None,
        typer.Option(
            "--to", help="With --mail: send to this address (repeatable).", metavar="ADDR"
        ),
    ] = None,
) -> None:
    """For cron: the agenda as plain text, and nothing at all when nothing needs doing.

    cron mails whatever a job prints, so a quiet day sends no mail. Exit code 0 either way.
    `--mail` sends the same text as an email (crm.yaml's `mail:`; template agenda_email.*)
    instead of printing it, and sends nothing on a quiet day.

    \b
    Examples:
      crm remind
      0 8 * * 1-5  cd ~/crm && crm remind        (a crontab line)
      0 8 * * 1-5  cd ~/crm && crm remind --mail --days 3
    """
    if to and not mail:
        from crm.errors import UsageError

        raise UsageError("--to is for --mail", hint="crm remind --mail --to ADDR")
    if mail and fmt is not None:
        from crm.errors import UsageError

        raise UsageError("--mail sends the agenda as text; --format is for printing it")
    if mail:
        from crm.mail import settings_of

        settings_of(app_context().config)  # no server set up: said before any work
    data = _build(days)
    if mail:
        if not agenda_.is_empty(data):
            _mail_agenda(data, to or [])
    elif fmt in (Format.JSON, Format.YAML):
        output.emit_agenda(data, fmt)  # scripts get valid JSON, empty lists on a quiet day
    elif not agenda_.is_empty(data):
        output.emit_agenda(data, Format.TABLE, plain=True)


def _mail_agenda(data: dict[str, object], to: list[str]) -> None:
    """The agenda, exactly as `crm remind` prints it, by email."""
    import contextlib
    import io

    from crm import mail
    from crm.documents import seller
    from crm.errors import ValidationError

    ctx = app_context()
    config = ctx.config
    if not to:
        if not config.business.get("email"):
            raise ValidationError(
                "crm.yaml has no business.email to send the agenda to",
                hint="set business.email, or give --to ADDR",
            )
        to = [str(config.business["email"])]
    text = io.StringIO()
    with contextlib.redirect_stdout(text):  # not a terminal: no pager, no colour
        output.emit_agenda(data, Format.TABLE, plain=True)
    sections = ("overdue_tasks", "tasks", "touches", "deals", "leads", "invoices")
    count = sum(len(cast("list[object]", data.get(k) or [])) for k in sections)
    context = {
        "agenda": text.getvalue(),
        "today": data["today"],
        "days": data["days"],
        "count": count,
        "seller": seller(config),
        "locale": config.billing.locale,
        "currency": config.currency,
    }
    message = mail.compose(config, ctx.root, "agenda_email", context, to=to)
    mail.deliver(mail.settings_of(config), message)
