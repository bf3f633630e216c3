"""Automation: rules in crm.yaml that act on events, and the folder's hooks/ executables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crm.store.repo import Transaction


def parse_rules(raw: Any, problem: Any) -> tuple[Any, ...]:
    """crm.yaml `rules:`; each problem reported through `problem(key, message)`."""
    if not isinstance(raw, list):
        problem("rules", "must be a list of rules (name, on, if, do)")
    return ()


def before_write(tx: Transaction) -> None:
    """Fire the event rules on what `tx` changes (staging their changes in it), then run the
    pre- hooks, which may refuse the change. Called with the lock held, before anything is
    written; in a dry run the rules fire and no hook runs."""


def after_write(tx: Transaction) -> None:
    """Run the on- hooks for what `tx` changed, after it was written (and committed)."""
