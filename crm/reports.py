"""Sales reports over deals and leads: funnel, win/loss, velocity, stalled deals.

Every function takes DealLines (crm.pipeline) and returns plain data: counts, rates as
fractions rounded to 4 places, and money as exact decimal strings per currency.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from crm import money
from crm.config import Config, Pipeline
from crm.dates import local_date, parse_timestamp
from crm.pipeline import (
    DealLine,
    Totals,
    add_to,
    created,
    history,
    stage_entered,
    sums,
    totals_json,
)
from crm.records import Record


def _within(when: dt.datetime | None, since: dt.date | None, until: dt.date | None) -> bool:
    if when is None:
        return since is None and until is None
    day = local_date(when)
    return (since is None or day >= since) and (until is None or day <= until)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def _average(totals: Totals, counts: dict[str, int]) -> Totals:
    """Per-currency averages, rounded half up to the currency's minor units."""
    return {c: money.round_to(amount / counts[c], c) for c, amount in totals.items()}


def closed_at(line: DealLine) -> dt.datetime | None:
    """When a won or lost deal was closed: when it entered its closing stage."""
    return stage_entered(line.record) if line.stage and line.stage.status != "open" else None


# -- funnel -----------------------------------------------------------------------------------


def funnel(
    lines: Sequence[DealLine],
    leads: Sequence[Record],
    pipeline: Pipeline,
    since: dt.date | None,
    until: dt.date | None,
) -> dict[str, Any]:
    """How many deals created in the period reached each stage, and the rate to the next.

    A deal reached a stage when it was ever in it or in a later one (lost stages aside: a deal
    lost from proposal reached proposal). Leads: created in the period, how many became
    qualified, converted, converted with a deal; deals: how many of those created were won.
    """
    steps = [s for s in pipeline.stages if s.status != "lost"]
    order = {s.name: i for i, s in enumerate(steps)}
    deals = [
        d for d in lines if d.pipeline == pipeline and _within(created(d.record), since, until)
    ]
    reached = [0] * len(steps)
    for line in deals:
        visited = [entry.get("stage") for _, entry in history(line.record)]
        visited.append(line.stage.name if line.stage else None)
        furthest = max((order[s] for s in visited if s in order), default=-1)
        for i in range(furthest + 1):
            reached[i] += 1
    stages = []
    for i, stage in enumerate(steps):
        following = reached[i + 1] if i + 1 < len(steps) else None
        stages.append(
            {
                "stage": stage.name,
                "label": stage.label,
                "reached": reached[i],
                "to_next": _rate(following, reached[i]) if following is not None else None,
            }
        )
    period_leads = [r for r in leads if _within(created(r), since, until)]

    def lead_reached(rec: Record, statuses: set[str]) -> bool:
        seen = {entry.get("status") for _, entry in history(rec)} | {rec.data.get("status")}
        return bool(seen & statuses)

    qualified = sum(lead_reached(r, {"qualified", "converted"}) for r in period_leads)
    converted = [r for r in period_leads if lead_reached(r, {"converted"})]
    with_deal = sum(
        1
        for r in converted
        if isinstance(r.data.get("converted"), dict) and r.data["converted"].get("deal")
    )
    won = sum(1 for d in deals if d.stage is not None and d.stage.status == "won")
    return {
        "pipeline": pipeline.name,
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "deals": len(deals),
        "stages": stages,
        "leads": {
            "count": len(period_leads),
            "qualified": qualified,
            "converted": len(converted),
            "with_deal": with_deal,
            "to_qualified": _rate(qualified, len(period_leads)),
            "to_deal": _rate(with_deal, len(period_leads)),
        },
        "won": won,
        "deal_to_won": _rate(won, len(deals)),
    }


# -- win / loss -------------------------------------------------------------------------------


def winloss(
    lines: Sequence[DealLine], since: dt.date | None, until: dt.date | None
) -> dict[str, Any]:
    """Deals closed in the period: won and lost counts and values, win rate, lost reasons."""
    closed = [d for d in lines if d.stage and d.stage.status != "open"]
    closed = [d for d in closed if _within(closed_at(d), since, until)]
    won = [d for d in closed if d.stage and d.stage.status == "won"]
    lost = [d for d in closed if d.stage and d.stage.status == "lost"]
    reasons: dict[str, list[DealLine]] = {}
    spelled: dict[str, str] = {}  # "Price" and "price" are one reason, shown as first written
    for line in lost:
        reason = str(line.record.data.get("lost_reason") or "").strip() or "(no reason given)"
        reasons.setdefault(reason.casefold(), []).append(line)
        spelled.setdefault(reason.casefold(), reason)
    ranked = sorted(
        ((spelled[key], group) for key, group in reasons.items()),
        key=lambda kv: (-len(kv[1]), kv[0].casefold()),
    )
    return {
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "won": {"count": len(won), "totals": totals_json(sums(won)[0])},
        "lost": {"count": len(lost), "totals": totals_json(sums(lost)[0])},
        "win_rate": _rate(len(won), len(won) + len(lost)),
        "reasons": [
            {"reason": reason, "count": len(group), "totals": totals_json(sums(group)[0])}
            for reason, group in ranked
        ],
    }


# -- velocity ---------------------------------------------------------------------------------


def velocity(lines: Sequence[DealLine], pipeline: Pipeline, now: dt.datetime) -> dict[str, Any]:
    """Average days per stage, the average sales cycle, and sales velocity per currency.

    Days in a stage are measured on stays that ended (the deal moved on). The cycle runs from
    a won deal's creation to its win (deals without a dated win are left out). Velocity = open
    deals × win rate × average won value ÷ average cycle in days: the revenue the pipeline
    brings per day, per currency, computed exactly and rounded once.
    """
    deals = [d for d in lines if d.pipeline == pipeline]
    stays: dict[str, list[float]] = {s.name: [] for s in pipeline.stages}
    for line in deals:
        entries = history(line.record)
        for (start, entry), (end, _) in itertools.pairwise(entries):
            name = entry.get("stage")
            if name in stays:
                stays[name].append((end - start).total_seconds() / 86400)
    cycles: list[Decimal] = []
    won_totals: Totals = {}
    won_counts: dict[str, int] = {}
    open_counts: dict[str, int] = {}
    won = lost = 0
    for line in deals:
        status = line.stage.status if line.stage else None
        if status == "won":
            won += 1
            opened = created(line.record)
            won_at = closed_at(line) if history(line.record) else None
            if opened and won_at:
                cycles.append(Decimal(int((won_at - opened).total_seconds())) / 86400)
            if line.amount is not None:
                add_to(won_totals, line.currency, line.amount)
                won_counts[line.currency] = won_counts.get(line.currency, 0) + 1
        elif status == "lost":
            lost += 1
        elif status == "open":
            open_counts[line.currency] = open_counts.get(line.currency, 0) + 1
    cycle = sum(cycles, Decimal(0)) / len(cycles) if cycles else None
    averages = _average(won_totals, won_counts)
    per_day: dict[str, str] = {}
    if won + lost and cycle:
        for currency, count in sorted(open_counts.items()):
            if currency in averages:
                # count × (won ÷ closed) × average ÷ cycle, with one rounding at the end
                amount = count * won * won_totals[currency] / won_counts[currency]
                per_day[currency] = str(money.round_to(amount / ((won + lost) * cycle), currency))
    return {
        "pipeline": pipeline.name,
        "stages": [
            {
                "stage": s.name,
                "label": s.label,
                "average_days": _mean(stays[s.name]),
                "stays": len(stays[s.name]),
            }
            for s in pipeline.stages
            if s.status == "open"
        ],
        "open_deals": dict(sorted(open_counts.items())),
        "won": won,
        "lost": lost,
        "win_rate": _rate(won, won + lost),
        "average_won_value": totals_json(averages),
        "average_cycle_days": float(round(cycle, 1)) if cycle is not None else None,
        "velocity_per_day": per_day,
    }


# -- stalled ----------------------------------------------------------------------------------


def stalled(
    lines: Sequence[DealLine],
    days: int,
    activities: Sequence[Record] = (),
    now: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """Open deals with no stage change and no logged activity for `days` days or more, the
    quietest first. Each carries `days_quiet` and its `last_activity` (date or None)."""
    last: dict[str, dt.datetime] = {}
    for activity in activities:
        moment = parse_timestamp(activity.data.get("at"))
        if moment is not None and (now is None or moment <= now):  # planned ones do not count
            for deal in activity.list_of("deals"):
                if deal not in last or last[deal] < moment:
                    last[deal] = moment
    found = []
    for line in lines:
        if not line.is_open or line.days_in_stage is None:
            continue
        touched = last.get(line.record.id)
        quiet = line.days_in_stage
        if touched is not None and now is not None:
            quiet = min(quiet, max(0, (local_date(now) - local_date(touched)).days))
        if quiet >= days:
            item = line.json()
            item["days_quiet"] = quiet
            item["last_activity"] = local_date(touched).isoformat() if touched else None
            found.append(item)
    found.sort(key=lambda d: (-d["days_quiet"], d["id"]))
    return found


def stalled_days(config: Config, days: int | None) -> int:
    return days if days is not None else config.stalled_days
