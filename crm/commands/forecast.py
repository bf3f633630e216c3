"""crm forecast: weighted revenue ahead."""

from __future__ import annotations

from typing import Annotated

import typer

from crm import dates, output
from crm.commands import _complete
from crm.commands._options import FormatOpt, SegmentOpt, TagFilterOpt, WhereOpt
from crm.commands._records import chosen_pipeline, deal_lines
from crm.context import app_context
from crm.errors import UsageError
from crm.pipeline import forecast as make_forecast


def forecast(
    by: Annotated[
        str, typer.Option("--by", help="Group by month or quarter.", show_default=True)
    ] = "month",
    months: Annotated[
        int, typer.Option("--months", "-m", min=1, max=120, help="How many months ahead.")
    ] = 6,
    name: Annotated[
        str | None,
        typer.Option(
            "--pipeline",
            "-p",
            help="Only this pipeline (default: all of them).",
            autocompletion=_complete.pipeline,
        ),
    ] = None,
    where: WhereOpt = None,
    tag: TagFilterOpt = None,
    segment: SegmentOpt = None,
    fmt: FormatOpt = None,
) -> None:
    """Weighted expected revenue of open deals per month or quarter, by expected close date.

    Per currency, with a bar per period; then deals due later, deals without a close date,
    and the open deals whose expected close date has passed.

    \b
    Examples:
      crm forecast
      crm forecast --by quarter --months 12
      crm forecast --format csv > forecast.csv
    """
    if by not in ("month", "quarter"):
        raise UsageError(f"--by takes month or quarter, not '{by}'")
    ctx = app_context()
    lines = deal_lines(ctx, where, tag, segment)
    if name is not None:
        chosen = chosen_pipeline(ctx.config, name)
        lines = [line for line in lines if line.pipeline == chosen]
    count = -(-months // 3) if by == "quarter" else months
    result = make_forecast(lines, dates.today(), "quarter" if by == "quarter" else "month", count)
    output.emit_forecast(result.json(), output.resolve_format(fmt))
