"""What changed between two versions of a record, field by field (for `crm history`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

NOISE = frozenset({"updated"})  # crm touches it on every change: it says nothing by itself


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str  # dotted for nested mappings: address.city
    before: Any  # None: absent
    after: Any


def field_changes(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None, *, noise: bool = False
) -> list[FieldChange]:
    """The fields that differ, in the order they appear (after's order, then removed ones).

    Nested mappings are compared key by key (`address.city`); lists and other values whole.
    """
    out: list[FieldChange] = []
    _walk(before or {}, after or {}, "", out)
    if not noise:
        out = [c for c in out if c.field not in NOISE]
    return out


def _walk(before: Mapping[str, Any], after: Mapping[str, Any], prefix: str, out: list[Any]) -> None:
    for key in dict.fromkeys([*after, *before]):
        name = f"{prefix}{key}"
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            _walk(old, new, f"{name}.", out)
        else:
            out.append(FieldChange(name, old, new))


def list_delta(before: Any, after: Any) -> tuple[list[Any], list[Any]] | None:
    """(added, removed) when both are lists of plain values (tags, emails); else None."""
    if not (isinstance(before, list | type(None)) and isinstance(after, list | type(None))):
        return None
    old, new = before or [], after or []
    if any(isinstance(v, dict | list) for v in [*old, *new]):
        return None
    return [v for v in new if v not in old], [v for v in old if v not in new]
