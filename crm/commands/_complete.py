"""Shell completion of values: record ids and names, stages, pipelines, tags, invoice numbers.

Called by the shell on every TAB, so each must answer at once and never fail: ids come from
file names (a directory listing), names and tags from the cache of parsed records, stages
from crm.yaml. Any error completes nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import typer

# The command group a reference is completed for -> the record type it names.
_GROUP_TYPES = {
    "contact": "contact",
    "company": "company",
    "lead": "lead",
    "deal": "deal",
    "activity": "activity",
    "task": "task",
    "product": "product",
    "quote": "quote",
    "invoice": "invoice",
    "credit-note": "credit_note",
    "recurring": "recurring",
    "time": "time",
    "touch": "contact",
}
LIMIT = 200  # a shell shows no more usefully


def _quietly(function: Callable[..., list[tuple[str, str]]]) -> Callable[..., Any]:
    def complete(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
        with contextlib.suppress(Exception):
            return function(ctx, incomplete)[:LIMIT]
        return []

    complete.__name__ = function.__name__
    complete.__doc__ = function.__doc__
    return complete


def _group(ctx: Any) -> str | None:
    """The command group being completed in (`deal` for `crm deal move`)."""
    while ctx is not None and ctx.parent is not None and ctx.parent.parent is not None:
        ctx = ctx.parent
    return getattr(ctx, "info_name", None)


def _context(ctx: Any) -> Any:
    """The CRM folder's context, with --dir taken from the words typed so far."""
    from pathlib import Path

    from crm.context import AppContext, Settings

    root = ctx.find_root()
    folder = root.params.get("dir") if root is not None else None
    return AppContext(Settings(dir=Path(folder) if folder else None))


def _records(ctx: Any, type_name: str) -> Iterator[Any]:
    from crm.models import RECORD_TYPES

    yield from _context(ctx).store.scan(RECORD_TYPES[type_name]).records


@_quietly
def record(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """Ids of the group's record type starting with what was typed, with each record's name
    (and number) alongside, then the numbers of quotes, invoices and credit notes that do.

    Names are descriptions, not values: Typer keeps only values that begin with the word
    typed, and bash would split a name at its spaces."""
    import os

    from crm.models import RECORD_TYPES

    type_name = _GROUP_TYPES.get(_group(ctx) or "")
    if type_name is None:
        return []
    app = _context(ctx)
    rtype = RECORD_TYPES[type_name]
    with os.scandir(app.store.folder(rtype)) as entries:
        ids = sorted(
            e.name[:-5] for e in entries if e.name.endswith(".yaml") and not e.name.startswith(".")
        )
    matching = [rid for rid in ids if rid.startswith(incomplete)]
    if len(matching) > LIMIT:  # names would not narrow it: spare reading the records
        return [(rid, "") for rid in matching]
    numbered = type_name in ("quote", "invoice", "credit_note")
    out = []
    later = []
    for rec in app.store.scan(rtype).records:
        number = str(rec.data.get("number") or "") if numbered else ""
        shown = " ".join(x for x in (number, rec.title if rec.title != rec.id else "") if x)
        if rec.id.startswith(incomplete):
            out.append((rec.id, shown))
        elif number.startswith(incomplete) and incomplete:
            later.append((number, rec.title))
    return out + later


@_quietly
def stage(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """The stages of every pipeline in crm.yaml."""
    config = _context(ctx).config
    seen: dict[str, str] = {}
    for pipeline in config.pipelines:
        for s in pipeline.stages:
            if s.name.startswith(incomplete) and s.name not in seen:
                seen[s.name] = f"{pipeline.name}, {s.probability} %"
    return list(seen.items())


@_quietly
def pipeline(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """The pipelines of crm.yaml."""
    config = _context(ctx).config
    return [(p.name, "") for p in config.pipelines if p.name.startswith(incomplete)]


@_quietly
def tag(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """Tags in use on the group's records (on contacts, companies, leads and deals elsewhere)."""
    type_name = _GROUP_TYPES.get(_group(ctx) or "")
    names = [type_name] if type_name else ["contact", "company", "lead", "deal"]
    counts: dict[str, int] = {}
    for name in names:
        for rec in _records(ctx, name):
            for t in rec.list_of("tags"):
                if isinstance(t, str) and t.startswith(incomplete):
                    counts[t] = counts.get(t, 0) + 1
    return [(t, f"{n} records") for t, n in sorted(counts.items(), key=lambda p: (-p[1], p[0]))]
