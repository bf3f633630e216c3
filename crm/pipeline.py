"""Selling: where each deal stands, what it is worth weighted, the board and the forecast."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from crm import money
from crm.config import Config, Pipeline, Stage
from crm.dates import local_date, parse_timestamp
from crm.errors import ValidationError
from crm.records import Record, deal_stage, effective_probability

Totals = dict[str, Decimal]  # currency -> amount; never summed across currencies


def history(rec: Record) -> list[tuple[dt.datetime, Mapping[str, Any]]]:
    """A record's dated changes, oldest first. Entries a hand edit left without a readable date
    or stage/status are skipped (`crm check` reports them)."""
    entries = rec.data.get("history")
    out = []
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, Mapping):
            at = parse_timestamp(entry.get("at"))
            change = entry.get("stage", entry.get("status"))
            if at is not None and isinstance(change, str):
                out.append((at, entry))
    return sorted(out, key=lambda pair: pair[0])


def created(rec: Record) -> dt.datetime | None:
    return parse_timestamp(rec.data.get("created"))


def stage_entered(rec: Record) -> dt.datetime | None:
    """When a deal entered its current stage: its last move there, else its creation."""
    stage = rec.data.get("stage")
    moves = [at for at, entry in history(rec) if entry.get("stage") == stage]
    return moves[-1] if moves else created(rec)


def days_between(start: dt.datetime | None, end: dt.datetime) -> int | None:
    """Calendar days from `start` to `end`, counted in the user's time zone."""
    return None if start is None else max(0, (local_date(end) - local_date(start)).days)


def weighted(amount: Decimal, probability: int, currency: str) -> Decimal:
    """`amount` × `probability` %, rounded half up to the currency's minor units."""
    return money.round_to(amount * probability / 100, currency)


def add_to(totals: Totals, currency: str, amount: Decimal) -> None:
    totals[currency] = totals.get(currency, Decimal(0)) + amount


@dataclass(frozen=True, slots=True, kw_only=True)
class DealLine:
    """A deal as the board, the forecast and the reports see it."""

    record: Record
    pipeline: Pipeline | None
    stage: Stage | None
    amount: Decimal | None
    currency: str
    probability: int | None
    weighted: Decimal | None
    close_date: dt.date | None
    days_in_stage: int | None
    company_name: str | None = None  # filled in by the command, which can read companies

    @property
    def is_open(self) -> bool:
        return self.stage is not None and self.stage.status == "open"

    def json(self) -> dict[str, Any]:
        data = self.record.data
        return {
            "id": self.record.id,
            "title": self.record.title,
            "company": data.get("company"),
            "company_name": self.company_name,
            "stage": self.stage.name if self.stage else data.get("stage"),
            "value": _text(self.amount),
            "currency": self.currency,
            "probability": self.probability,
            "weighted": _text(self.weighted),
            "close_date": self.close_date.isoformat() if self.close_date else None,
            "days_in_stage": self.days_in_stage,
        }


def _text(amount: Decimal | None) -> str | None:
    return None if amount is None else str(amount)


def deal_line(rec: Record, config: Config, now: dt.datetime) -> DealLine:
    pipeline, stage = deal_stage(rec, config)
    currency = str(rec.data.get("currency") or config.currency).upper()
    amount = None
    try:
        if rec.data.get("value") is not None:
            amount = money.parse_amount(str(rec.data["value"]))
            if money.round_to(amount, currency) == amount:  # "700" is 700.00 USD
                amount = money.round_to(amount, currency)
    except ValidationError:
        amount = None
    probability = effective_probability(rec, config)
    close = rec.data.get("close_date")
    try:
        close_date = dt.date.fromisoformat(close) if isinstance(close, str) else None
    except ValueError:
        close_date = None
    return DealLine(
        record=rec,
        pipeline=pipeline,
        stage=stage,
        amount=amount,
        currency=currency,
        probability=probability,
        weighted=(
            weighted(amount, probability, currency)
            if amount is not None and probability is not None
            else None
        ),
        close_date=close_date,
        days_in_stage=days_between(stage_entered(rec), now),
    )


def sums(lines: Iterable[DealLine]) -> tuple[Totals, Totals]:
    """Totals and weighted totals per currency."""
    totals: Totals = {}
    weights: Totals = {}
    for line in lines:
        if line.amount is not None:
            add_to(totals, line.currency, line.amount)
        if line.weighted is not None:
            add_to(weights, line.currency, line.weighted)
    return totals, weights


def totals_json(totals: Mapping[str, Decimal]) -> dict[str, str]:
    return {currency: str(amount) for currency, amount in sorted(totals.items())}


# -- the board --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    stage: Stage
    deals: list[DealLine]
    totals: Totals
    weighted: Totals


@dataclass(frozen=True, slots=True)
class Board:
    pipeline: Pipeline
    columns: list[Column]
    totals: Totals  # open deals only
    weighted: Totals

    def json(self, *, with_deals: bool = True) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline.name,
            "stages": [
                {
                    "name": c.stage.name,
                    "label": c.stage.label,
                    "status": c.stage.status,
                    "probability": c.stage.probability,
                    "count": len(c.deals),
                    "totals": totals_json(c.totals),
                    "weighted": totals_json(c.weighted),
                    **({"deals": [d.json() for d in c.deals]} if with_deals else {}),
                }
                for c in self.columns
            ],
            "open": {"totals": totals_json(self.totals), "weighted": totals_json(self.weighted)},
        }


def board(lines: Sequence[DealLine], pipeline: Pipeline) -> Board:
    """The deals of `pipeline` by stage, in order, with totals; grand totals over open stages."""
    columns = []
    for stage in pipeline.stages:
        deals = [d for d in lines if d.pipeline == pipeline and d.stage == stage]
        deals.sort(key=lambda d: (d.close_date or dt.date.max, d.record.title.lower()))
        totals, weights = sums(deals)
        columns.append(Column(stage, deals, totals, weights))
    open_lines = [d for c in columns if c.stage.status == "open" for d in c.deals]
    totals, weights = sums(open_lines)
    return Board(pipeline, columns, totals, weights)


# -- the forecast -----------------------------------------------------------------------------

By = Literal["month", "quarter"]


@dataclass(frozen=True, slots=True)
class Period:
    key: str  # 2026-11, 2026-Q4, overdue, undated
    start: dt.date | None
    end: dt.date | None  # inclusive
    deals: list[DealLine] = field(default_factory=list)

    def json(self) -> dict[str, Any]:
        totals, weights = sums(self.deals)
        return {
            "period": self.key,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "count": len(self.deals),
            "totals": totals_json(totals),
            "weighted": totals_json(weights),
            "deals": [d.json() for d in self.deals],
        }


def periods(today: dt.date, by: By, count: int) -> list[Period]:
    """`count` months or quarters, starting with the one `today` is in."""
    out = []
    step = 3 if by == "quarter" else 1
    year, month = today.year, today.month
    if by == "quarter":
        month = (month - 1) // 3 * 3 + 1
    for _ in range(count):
        start = dt.date(year, month, 1)
        year_next, month_next = (
            (year + 1, month + step - 12)
            if month + step > 12
            else (
                year,
                month + step,
            )
        )
        end = dt.date(year_next, month_next, 1) - dt.timedelta(days=1)
        key = f"{year}-Q{(month - 1) // 3 + 1}" if by == "quarter" else f"{year}-{month:02d}"
        out.append(Period(key, start, end))
        year, month = year_next, month_next
    return out


@dataclass(frozen=True, slots=True)
class Forecast:
    periods: list[Period]
    overdue: Period  # open deals whose expected close date has passed
    undated: Period  # open deals without an expected close date
    later: Period  # open deals closing after the last period

    def json(self) -> dict[str, Any]:
        return {
            "periods": [p.json() for p in self.periods],
            "overdue": self.overdue.json(),
            "undated": self.undated.json(),
            "later": self.later.json(),
        }


def forecast(lines: Sequence[DealLine], today: dt.date, by: By, count: int) -> Forecast:
    """Open deals by expected close date: weighted revenue per period and per currency."""
    slots = periods(today, by, count)
    overdue = Period("overdue", None, today - dt.timedelta(days=1))
    undated = Period("undated", None, None)
    last = slots[-1].end if slots and slots[-1].end else today
    later = Period("later", last + dt.timedelta(days=1), None)
    for line in sorted(lines, key=lambda d: (d.close_date or dt.date.max, d.record.id)):
        if not line.is_open:
            continue
        if line.close_date is None:
            undated.deals.append(line)
        elif line.close_date < today:
            overdue.deals.append(line)
        else:
            slot = next((p for p in slots if p.end and line.close_date <= p.end), later)
            slot.deals.append(line)
    return Forecast(slots, overdue, undated, later)
