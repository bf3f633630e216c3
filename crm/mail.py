"""Email: messages rendered from templates, sent over SMTP (crm.yaml `mail:`)."""

from __future__ import annotations

from typing import Any


def parse_settings(raw: Any, problem: Any) -> Any:
    """crm.yaml `mail:` as settings; each problem reported through `problem(key, message)`."""
    if not isinstance(raw, dict):
        problem("mail", "must be a mapping (smtp host, port, user, from)")
        return None
    return dict(raw)
