"""crm pipeline: the board."""

from __future__ import annotations

from typing import Annotated

import typer

from crm import output
from crm.commands import _complete
from crm.commands._options import FormatOpt, SegmentOpt, TagFilterOpt, WhereOpt
from crm.commands._records import chosen_pipeline, deal_lines
from crm.context import app_context
from crm.pipeline import board


def pipeline(
    name: Annotated[
        str | None,
        typer.Option(
            "--pipeline",
            "-p",
            help="Which pipeline (default: the first in crm.yaml).",
            autocompletion=_complete.pipeline,
        ),
    ] = None,
    where: WhereOpt = None,
    tag: TagFilterOpt = None,
    segment: SegmentOpt = None,
    closed: Annotated[
        bool, typer.Option("--all", "-a", help="List the won and lost deals too, not just counts.")
    ] = False,
    fmt: FormatOpt = None,
) -> None:
    """The pipeline board: each stage in order with its deals, totals and weighted totals.

    Money is totalled per currency, never summed across currencies. Weighted = value ×
    probability (the deal's own, else its stage's). Days = days in the current stage.

    \b
    Examples:
      crm pipeline
      crm pipeline --pipeline hosting --where "value>=1000" --all
      crm pipeline --format json | jq '.open.weighted'
    """
    ctx = app_context()
    chosen = chosen_pipeline(ctx.config, name)
    lines = deal_lines(ctx, where, tag, segment)
    output.emit_board(board(lines, chosen).json(), output.resolve_format(fmt), show_closed=closed)
