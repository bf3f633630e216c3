"""crm credit-note: corrections of issued invoices (made by `crm invoice credit`)."""

from __future__ import annotations

from crm.commands._documents import add_render, list_command, show_command
from crm.commands._einvoice import add_validate
from crm.commands._records import record_app
from crm.models import CREDIT_NOTE

EXAMPLE = "cn2026-0001"

app = record_app(
    CREDIT_NOTE,
    "total>=100",
    None,
    list_command(CREDIT_NOTE, ("draft", "issued"), "total>=100"),
    show_command(CREDIT_NOTE, EXAMPLE),
)
add_render(app, CREDIT_NOTE, EXAMPLE)
add_validate(app, CREDIT_NOTE, EXAMPLE)
