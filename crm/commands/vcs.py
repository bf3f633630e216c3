"""crm history, undo, sync: the folder's git repository."""

from __future__ import annotations


def history() -> None:
    """A record's changes over time."""


def undo() -> None:
    """Take back the last change crm committed."""


def sync() -> None:
    """Pull, check, push."""
