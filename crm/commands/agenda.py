"""crm agenda (crm today) and crm remind: what needs doing."""

from __future__ import annotations

from typing import Annotated

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
) -> None:
    """For cron: the agenda as plain text, and nothing at all when nothing needs doing.

    cron mails whatever a job prints, so a quiet day sends no mail. Exit code 0 either way.

    \b
    Examples:
      crm remind
      0 8 * * 1-5  cd ~/crm && crm remind        (a crontab line)
    """
    data = _build(days)
    if fmt in (Format.JSON, Format.YAML):
        output.emit_agenda(data, fmt)  # scripts get valid JSON, empty lists on a quiet day
    elif not agenda_.is_empty(data):
        output.emit_agenda(data, Format.TABLE, plain=True)
