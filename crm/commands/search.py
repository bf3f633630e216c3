"""crm search: find anything."""

from __future__ import annotations

from typing import Annotated

import typer

from crm import output
from crm.commands._options import FormatOpt, LimitOpt
from crm.commands._records import scan
from crm.context import app_context
from crm.errors import UsageError
from crm.models import RECORD_TYPES, record_type


def search(
    text: Annotated[list[str], typer.Argument(help="Words to find; all must occur.")],
    kind: Annotated[
        list[str] | None,
        typer.Option("--type", "-t", help="Only these record types (repeatable): contact, deal..."),
    ] = None,
    limit: LimitOpt = None,
    fmt: FormatOpt = None,
) -> None:
    """Search every record and activity: names, emails, phones, notes, custom fields.

    Case and accents are ignored (jurgen finds Jürgen); phone numbers match by their digits
    (2846-1131 finds +49 40 2846 1131). Best matches first, with the field that matched.

    \b
    Examples:
      crm search hafenkontor shop
      crm search 2846 --type contact --format json
    """
    from crm.search import search as find

    try:
        types = [record_type(k) for k in kind] if kind else list(RECORD_TYPES.values())
    except KeyError as exc:
        raise UsageError(f"no record type {exc}", hint=", ".join(RECORD_TYPES)) from exc
    ctx = app_context()
    hits = []
    for rtype in types:  # one type at a time: only the hits of a large folder stay in memory
        hits.extend(find(" ".join(text), scan(ctx, rtype)))
    hits.sort(key=lambda h: (-h.score, h.record.type.name, h.record.id))
    rows = [
        {**hit.json(), "matched": "; ".join(f"{f}: {t}" for f, t in hit.matches)}
        for hit in (hits[:limit] if limit else hits)
    ]
    if output.resolve_format(fmt) is output.Format.JSON:
        output.emit_rows(
            [{k: v for k, v in r.items() if k != "matched"} for r in rows], [], output.Format.JSON
        )
        return
    output.emit_rows(rows, ["type", "id", "title", "matched"], output.resolve_format(fmt))
