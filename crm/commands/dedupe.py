"""crm dedupe: likely duplicate contacts, companies or leads."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from crm import output
from crm.commands._options import FormatOpt
from crm.commands._records import scan
from crm.context import app_context
from crm.errors import UsageError
from crm.models import RECORD_TYPES, RecordType

COLUMNS = ["score", "ids", "names", "reasons"]


def dedupe(
    kind: Annotated[
        str,
        typer.Argument(metavar="TYPE", help="contacts, companies or leads.", show_default=False),
    ],
    threshold: Annotated[
        int,
        typer.Option(
            "--threshold",
            min=0,
            max=100,
            help="Lowest name similarity (0-100) that counts; shared keys always count.",
        ),
    ] = 85,
    fmt: FormatOpt = None,
) -> None:
    """List likely duplicates: records sharing an email, external id, phone number (compared in
    E.164, numbers without a country code read in the country of crm.yaml's business address)
    or web domain (companies), or with alike names (ACME GmbH and Acme; Jon and John Smith).

    One line per group, best first: its score (email or external id 100, phone 90, domain 80,
    names their similarity), its ids (oldest first: the one to keep), names and reasons.
    Nothing is printed when there are none (json: []); the exit code is 0 either way.
    `-f ids` prints each group's ids on one line, ready for `crm merge`.

    \b
    Examples:
      crm dedupe contacts
      crm dedupe companies --threshold 90 --format json
      crm dedupe contacts -f ids | head -1 | xargs crm merge contact
    """
    from crm.dedupe import find_groups
    from crm.matching import region_of

    rtype = _dedupe_type(kind)
    ctx = app_context()
    records = scan(ctx, rtype)
    groups = find_groups(rtype.name, records, region_of(ctx.config.business), threshold=threshold)
    fmt_ = output.resolve_format(fmt)
    if fmt_ in (output.Format.JSON, output.Format.JSONL, output.Format.YAML):
        output.emit_rows([g.json() for g in groups], COLUMNS, fmt_)
    elif fmt_ is output.Format.IDS:
        for group in groups:
            sys.stdout.write(" ".join(group.ids) + "\n")
    elif groups:
        rows = [
            {
                "score": g.score,
                "ids": g.ids,
                "names": [r.title for r in g.records],
                "reasons": "; ".join(r.text() for r in g.reasons),
            }
            for g in groups
        ]
        output.emit_rows(rows, COLUMNS, fmt_)
    if sys.stderr.isatty():
        output.info(
            f"{len(records)} {rtype.plural} checked: "
            f"{len(groups) or 'no'} group(s) of likely duplicates"
        )


def _dedupe_type(name: str) -> RecordType:
    from crm.dedupe import TYPES

    for tname in TYPES:
        rtype = RECORD_TYPES[tname]
        if name.strip().lower() in (rtype.name, rtype.plural):
            return rtype
    raise UsageError(f"cannot look for duplicate '{name}'", hint="contacts, companies or leads")
