"""crm mail: the SMTP settings and password."""

from __future__ import annotations

from crm.commands._options import CrmTyper

app = CrmTyper(help="Email: test the SMTP settings, store the password.")
