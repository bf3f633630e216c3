"""crm report: funnel, win/loss, velocity and stalled deals; revenue, receivables, customers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

import typer

from crm import dates, output, reports
from crm.commands._options import CrmTyper, FormatOpt, SegmentOpt, TagFilterOpt, WhereOpt
from crm.commands._records import chosen_pipeline, deal_lines, scan
from crm.context import app_context
from crm.errors import UsageError
from crm.models import ACTIVITY, LEAD
from crm.money import display_totals

app = CrmTyper()

SinceOpt = Annotated[
    str | None,
    typer.Option("--since", help="From this date (YYYY-MM-DD, or today-90).", show_default=False),
]
UntilOpt = Annotated[
    str | None,
    typer.Option("--until", help="Up to this date, inclusive.", show_default=False),
]
PipelineOpt = Annotated[
    str | None,
    typer.Option(
        "--pipeline", "-p", help="Which pipeline (default: the first).", show_default=False
    ),
]
StalledOpt = Annotated[
    int | None,
    typer.Option(
        "--days",
        "-d",
        min=1,
        help="Days without a stage change (default: crm.yaml's stalled_days, 30).",
        show_default=False,
    ),
]


def _date(text: str | None, option: str) -> dt.date | None:
    from crm.query import relative_date

    if text is None:
        return None
    try:
        return dt.date.fromisoformat(relative_date(text.strip()))
    except ValueError as exc:
        raise UsageError(f"{option}: '{text}' is not a date (YYYY-MM-DD or today-N)") from exc


def _period_dates(since: str | None, until: str | None) -> tuple[dt.date | None, dt.date | None]:
    start, end = _date(since, "--since"), _date(until, "--until")
    if start and end and start > end:
        raise UsageError(f"--since {start} is after --until {end}")
    return start, end


def _percent(rate: float | None) -> str:
    return "" if rate is None else f"{rate * 100:.1f}%"


def _period(data: dict[str, Any]) -> str:
    if data.get("since") or data.get("until"):
        return f" ({data.get('since') or '…'} to {data.get('until') or '…'})"
    return ""


def _emit(
    report: output.Report,
    data: Any,
    fmt: output.Format | None,
    rows: list[dict[str, Any]],
    columns: list[str],
) -> None:
    output.emit_report(report, data, output.resolve_format(fmt), rows, columns)


@app.command("funnel")
def funnel(
    since: SinceOpt = None,
    until: UntilOpt = None,
    name: PipelineOpt = None,
    where: WhereOpt = None,
    tag: TagFilterOpt = None,
    segment: SegmentOpt = None,
    fmt: FormatOpt = None,
) -> None:
    """How far deals got: per stage, how many reached it and how many went on to the next.

    Counts the deals created in the period; a deal reached a stage if it was ever in it or
    further along. Also: leads → qualified → deal, and deals → won.

    \b
    Examples:
      crm report funnel
      crm report funnel --since 2026-01-01 --until 2026-06-30 --format json
    """
    ctx = app_context()
    pipeline = chosen_pipeline(ctx.config, name)
    start, end = _period_dates(since, until)
    lines = deal_lines(ctx, where, tag, segment)
    data = reports.funnel(lines, scan(ctx, LEAD), pipeline, start, end)
    stages = data["stages"]
    rows = [
        {"stage": s["label"], "reached": s["reached"], "to next": _percent(s["to_next"])}
        for s in stages
    ]
    leads = data["leads"]
    won = f"{data['won']} ({_percent(data['deal_to_won'])})" if data["deals"] else "0"
    summary = [
        ("Deals created", str(data["deals"])),
        ("Won", won),
        ("Leads", str(leads["count"])),
        ("Leads qualified", f"{leads['qualified']} ({_percent(leads['to_qualified'])})"),
        ("Leads converted to a deal", f"{leads['with_deal']} ({_percent(leads['to_deal'])})"),
    ]
    table = output.ReportTable(
        "Stages",
        ["stage", "reached", "to next"],
        rows,
        frozenset({"reached", "to next"}),
        [float(s["reached"]) for s in stages],
    )
    report = output.Report(f"Funnel: {pipeline.label}{_period(data)}", [table], summary)
    csv_rows = [
        {"stage": s["stage"], "reached": s["reached"], "to_next": s["to_next"]} for s in stages
    ]
    _emit(report, data, fmt, csv_rows, ["stage", "reached", "to_next"])


@app.command("winloss")
def winloss(
    since: SinceOpt = None,
    until: UntilOpt = None,
    where: WhereOpt = None,
    tag: TagFilterOpt = None,
    segment: SegmentOpt = None,
    fmt: FormatOpt = None,
) -> None:
    """Deals won and lost (closed in the period): counts, values, win rate, lost reasons ranked.

    \b
    Examples:
      crm report winloss
      crm report winloss --since today-365 --format csv
    """
    ctx = app_context()
    start, end = _period_dates(since, until)
    data = reports.winloss(deal_lines(ctx, where, tag, segment), start, end)
    won, lost = data["won"], data["lost"]
    summary = [
        ("Won", f"{won['count']} deals, {display_totals(won['totals'])}"),
        ("Lost", f"{lost['count']} deals, {display_totals(lost['totals'])}"),
        ("Win rate", _percent(data["win_rate"]) or "n/a"),
    ]
    reasons = data["reasons"]
    rows = [
        {"reason": r["reason"], "deals": r["count"], "value": display_totals(r["totals"])}
        for r in reasons
    ]
    table = output.ReportTable(
        "Lost reasons",
        ["reason", "deals", "value"],
        rows,
        frozenset({"deals", "value"}),
        [float(r["count"]) for r in reasons],
    )
    report = output.Report(f"Win/loss{_period(data)}", [table], summary)
    csv_rows = [
        {"reason": r["reason"], "count": r["count"], "currency": currency, "value": value}
        for r in reasons
        for currency, value in (r["totals"].items() or [("", "")])
    ]
    _emit(report, data, fmt, csv_rows, ["reason", "count", "currency", "value"])


@app.command("velocity")
def velocity(
    name: PipelineOpt = None,
    where: WhereOpt = None,
    tag: TagFilterOpt = None,
    segment: SegmentOpt = None,
    fmt: FormatOpt = None,
) -> None:
    """How fast deals move: average days per stage, the sales cycle, and sales velocity.

    Sales velocity = open deals × win rate × average won value ÷ average cycle (days): the
    revenue the pipeline brings in per day, per currency.

    \b
    Examples:
      crm report velocity
      crm report velocity --pipeline hosting --format json
    """
    ctx = app_context()
    pipelines = [chosen_pipeline(ctx.config, name)] if name else list(ctx.config.pipelines)
    lines = deal_lines(ctx, where, tag, segment)
    results = [reports.velocity(lines, p, dates.now()) for p in pipelines]
    tables = []
    summary: list[tuple[str, str]] = []
    for pipeline, data in zip(pipelines, results, strict=True):
        prefix = f"{pipeline.label}: " if len(pipelines) > 1 else ""
        stages = data["stages"]
        rows = [
            {
                "stage": s["label"],
                "average days": "" if s["average_days"] is None else f"{s['average_days']:.1f}",
                "stays": s["stays"],
            }
            for s in stages
        ]
        tables.append(
            output.ReportTable(
                f"{prefix}Days in each stage",
                ["stage", "average days", "stays"],
                rows,
                frozenset({"average days", "stays"}),
                [s["average_days"] or 0.0 for s in stages],
            )
        )
        cycle = data["average_cycle_days"]
        per_day = data["velocity_per_day"]
        rate = f"{_percent(data['win_rate']) or 'n/a'} ({data['won']} won, {data['lost']} lost)"
        summary += [
            (f"{prefix}Win rate", rate),
            (f"{prefix}Average sales cycle", f"{cycle:.1f} days" if cycle is not None else "n/a"),
            (f"{prefix}Average won deal", display_totals(data["average_won_value"])),
            (f"{prefix}Sales velocity", f"{display_totals(per_day)} per day" if per_day else "n/a"),
        ]
    csv_rows = [
        {
            "pipeline": r["pipeline"],
            "stage": s["stage"],
            "average_days": s["average_days"],
            "stays": s["stays"],
        }
        for r in results
        for s in r["stages"]
    ]
    report = output.Report("Velocity", tables, summary)
    _emit(report, results, fmt, csv_rows, ["pipeline", "stage", "average_days", "stays"])


@app.command("stalled")
def stalled(
    days: StalledOpt = None,
    where: WhereOpt = None,
    tag: TagFilterOpt = None,
    segment: SegmentOpt = None,
    fmt: FormatOpt = None,
) -> None:
    """Open deals with no stage change and no logged activity for N days, quietest first.

    \b
    Examples:
      crm report stalled
      crm report stalled --days 14 --format ids
    """
    ctx = app_context()
    limit = reports.stalled_days(ctx.config, days)
    activities = scan(ctx, ACTIVITY, quiet=True)
    deals = reports.stalled(deal_lines(ctx, where, tag, segment), limit, activities, dates.now())
    rows = [
        {
            **d,
            "value": f"{d['value']} {d['currency']}" if d["value"] else "",
            "days": d["days_quiet"],
        }
        for d in deals
    ]
    table = output.ReportTable(
        f"{len(deals)} deal(s)",
        ["days", "stage", "value", "id"],  # the id names the deal, and this fits 80 columns
        rows,
        frozenset({"value", "days"}),
        [float(d["days_quiet"]) for d in deals],
    )
    title = f"Stalled: no stage change and no activity for {limit} days or more"
    report = output.Report(title, [table])
    _emit(report, deals, fmt, deals, [*output.DEAL_ROW, "days_quiet", "last_activity"])


# -- billing ----------------------------------------------------------------------------------


def _billing(ctx: Any) -> tuple[list[Any], list[Any], dict[str, str], dt.date]:
    from crm import revenue
    from crm.models import COMPANY, CONTACT, CREDIT_NOTE, INVOICE, Issue

    today = dates.today()
    notes = scan(ctx, CREDIT_NOTE)
    skipped: list[Issue] = []
    invoices = revenue.issued_invoices(scan(ctx, INVOICE), notes, ctx.config, today, skipped)
    names = {r.id: r.title for t in (CONTACT, COMPANY) for r in scan(ctx, t, quiet=True)}
    credits = revenue.issued_credits(notes, ctx.config, skipped)
    for issue in skipped:
        output.warn(f"skipped {issue} (see `crm check`)")
    return invoices, credits, names, today


def _money(value: str, currency: str) -> str:
    from decimal import Decimal

    from crm.money import display

    return display(Decimal(value), currency)


@app.command("revenue")
def revenue_report(
    by: Annotated[
        str, typer.Option("--by", help="month, quarter or year.", show_default=True)
    ] = "month",
    since: SinceOpt = None,
    until: UntilOpt = None,
    fmt: FormatOpt = None,
) -> None:
    """Invoiced, paid and outstanding per period and currency, with bars.

    Invoiced is issued invoices less credit notes, by issue date; paid is payments received in
    the period; outstanding is what the period's invoices still carry.

    \b
    Examples:
      crm report revenue
      crm report revenue --by quarter --since 2026-01-01 --format csv
    """
    from crm import revenue

    if by not in ("month", "quarter", "year"):
        raise UsageError(f"--by is month, quarter or year, not '{by}'")
    ctx = app_context()
    start, end = _period_dates(since, until)
    invoices, credits, _, _ = _billing(ctx)
    rows = revenue.revenue(invoices, credits, ctx.config, by=by, since=start, until=end)
    shown = [
        {
            "period": r["period"],
            **{k: _money(r[k], r["currency"]) for k in ("invoiced", "paid", "outstanding")},
        }
        for r in rows
    ]
    table = output.ReportTable(
        f"By {by}",
        ["period", "invoiced", "paid", "outstanding"],
        shown,
        frozenset({"invoiced", "paid", "outstanding"}),
        [max(float(r["invoiced"]), 0.0) for r in rows],
    )
    totals: dict[str, dict[str, Any]] = {}
    for r in rows:
        t = totals.setdefault(r["currency"], {"invoiced": 0, "paid": 0, "outstanding": 0})
        for k in t:
            t[k] += Decimal(r[k])
    summary = [
        (f"Total {cur}", ", ".join(f"{k} {_money(str(v), cur)}" for k, v in t.items()))
        for cur, t in sorted(totals.items())
    ]
    summary.append(("Amounts", "gross (tax included); credit notes in the period they are issued"))
    data = {"by": by, "since": since, "until": until, "periods": rows}
    report = output.Report(f"Revenue{_period(data)}", [table], summary)
    _emit(report, data, fmt, rows, ["period", "currency", "invoiced", "paid", "outstanding"])


@app.command("receivables")
def receivables_report(fmt: FormatOpt = None) -> None:
    """Open invoices per customer, by days past due: current, 1-30, 31-60, 61-90, over 90.

    \b
    Examples:
      crm report receivables
      crm report receivables --format json | jq '.invoices[] | select(.days_past_due > 30)'
    """
    from crm import revenue

    ctx = app_context()
    invoices, _, names, today = _billing(ctx)
    data = revenue.receivables(invoices, names, today)
    columns = ["name", *revenue.BUCKETS, "total"]
    shown = [
        {
            "name": r["name"],
            **{
                k: _money(r[k], r["currency"]) if Decimal(r[k]) or k == "total" else ""
                for k in columns[1:]
            },
        }
        for r in data["customers"]
    ]
    summary = [(f"Open {t['currency']}", _money(t["total"], t["currency"])) for t in data["totals"]]
    table = output.ReportTable("By customer", columns, shown, frozenset(columns[1:]))
    report = output.Report(f"Receivables on {today.isoformat()}", [table], summary)
    csv_columns = ["customer", "name", "currency", *revenue.BUCKETS, "total", "invoices"]
    _emit(report, data, fmt, data["customers"], csv_columns)


@app.command("customers")
def customers_report(fmt: FormatOpt = None) -> None:
    """Revenue per customer: lifetime and this year, paid, open, average days to pay.

    \b
    Examples:
      crm report customers
      crm report customers --format csv > customers.csv
    """
    from crm import revenue

    ctx = app_context()
    invoices, credits, names, today = _billing(ctx)
    rows = revenue.customers(invoices, credits, names, ctx.config, today)
    money_columns = ("lifetime", "this_year", "paid", "open")
    shown = [
        {
            "name": r["name"],
            "invoices": r["invoices"],
            **{k: _money(r[k], r["currency"]) for k in money_columns},
            "days_to_pay": r["average_days_to_pay"],
        }
        for r in rows
    ]
    columns = ["name", "invoices", *money_columns, "days_to_pay"]
    table = output.ReportTable(
        "Customers",
        columns,
        shown,
        frozenset(columns[1:]),
        [max(float(r["lifetime"]), 0.0) for r in rows],
    )
    report = output.Report(f"Customers on {today.isoformat()}", [table])
    csv_columns = ["customer", "name", "currency", "invoices", *money_columns]
    _emit(
        report,
        {"today": today.isoformat(), "customers": rows},
        fmt,
        rows,
        [*csv_columns, "average_days_to_pay"],
    )
