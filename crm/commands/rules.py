"""crm rules: automation rules in crm.yaml."""

from __future__ import annotations

from crm.commands._options import CrmTyper

app = CrmTyper(help="Automation rules: list, test, run (for cron).")
