"""crm fmt: records in the canonical form."""

from __future__ import annotations


def fmt() -> None:
    """Rewrite every record in the canonical form."""
