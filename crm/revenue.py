"""Billing reports: revenue per period, receivables by age, and revenue per customer.

Only issued invoices and credit notes count; drafts are not revenue. Amounts are gross (what
the customer pays), per currency, never converted. A credit note counts in the period it is
issued, against the invoice it corrects."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from crm.config import Config
from crm.documents import by_invoice, currency_of, money_fields, money_problem, totals_of
from crm.errors import ValidationError
from crm.models import Issue
from crm.money import round_to
from crm.records import Record

ZERO = Decimal(0)
BUCKETS = ("current", "1-30", "31-60", "61-90", "over_90")


@dataclass(frozen=True, slots=True)
class Invoiced:
    """An issued invoice with its money as of today."""

    record: Record
    number: str
    customer: str  # company id, else contact id
    currency: str
    issued: dt.date
    due: dt.date | None
    total: Decimal
    paid: Decimal
    credited: Decimal
    amount_due: Decimal
    status: str
    payments: tuple[tuple[dt.date, Decimal], ...]


def _date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return None


Skipped = list[Issue]  # documents left out of a report, and why


def issued_invoices(
    invoices: Sequence[Record],
    credit_notes: Sequence[Record],
    config: Config,
    today: dt.date,
    skipped: Skipped | None = None,
) -> list[Invoiced]:
    """The issued invoices with their money. Drafts are left out; so are invoices whose issue
    date or money cannot be read, which are added to `skipped` with the reason."""
    out = []
    notes = by_invoice(credit_notes)
    for rec in invoices:
        if rec.data.get("status") not in ("issued", "sent"):
            continue
        issued = _date(rec.data.get("issued"))
        derived = money_fields(rec, config, today, notes.get(rec.id, ()))
        if issued is None or derived.get("total") is None:
            if skipped is not None:
                why = money_problem(rec, config) if issued else None
                skipped.append(why or rec.issue("issued", "is not a date (YYYY-MM-DD)"))
            continue
        payments = []
        for p in rec.data.get("payments") or []:
            day = _date(p.get("date")) if isinstance(p, Mapping) else None
            if day is not None:
                payments.append((day, Decimal(str(p.get("amount")))))
        out.append(
            Invoiced(
                record=rec,
                number=str(rec.data.get("number") or rec.id),
                customer=str(rec.data.get("company") or rec.data.get("contact") or ""),
                currency=currency_of(rec, config),
                issued=issued,
                due=_date(rec.data.get("due")),
                total=Decimal(derived["total"]),
                paid=Decimal(derived["paid"]),
                credited=Decimal(derived["credited"]),
                amount_due=Decimal(derived["amount_due"]),
                status=str(derived["status"]),
                payments=tuple(payments),
            )
        )
    return out


def issued_credits(
    credit_notes: Sequence[Record], config: Config, skipped: Skipped | None = None
) -> list[tuple[Record, dt.date, Decimal]]:
    """The issued credit notes with their date and total; those whose money cannot be
    computed are added to `skipped`."""
    out = []
    for rec in credit_notes:
        day = _date(rec.data.get("issued"))
        if rec.data.get("status") != "issued" or day is None:
            continue
        try:
            out.append((rec, day, totals_of(rec, config).gross))
        except ValidationError:
            if skipped is not None:
                skipped.append(money_problem(rec, config) or rec.issue("lines", "do not compute"))
            continue
    return out


def period_of(day: dt.date, by: str) -> str:
    if by == "year":
        return str(day.year)
    if by == "quarter":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    return f"{day.year}-{day.month:02d}"


def revenue(
    invoices: Sequence[Invoiced],
    credits: Sequence[tuple[Record, dt.date, Decimal]],
    config: Config,
    *,
    by: str,
    since: dt.date | None,
    until: dt.date | None,
) -> list[dict[str, Any]]:
    """Per period and currency: invoiced (less credit notes), paid (payments received in the
    period) and outstanding (what is still due on the invoices issued in the period)."""
    rows: dict[tuple[str, str], dict[str, Decimal]] = {}

    def row(day: dt.date, currency: str) -> dict[str, Decimal] | None:
        if (since and day < since) or (until and day > until):
            return None
        key = (period_of(day, by), currency)
        return rows.setdefault(key, {"invoiced": ZERO, "paid": ZERO, "outstanding": ZERO})

    for inv in invoices:
        target = row(inv.issued, inv.currency)
        if target is not None:
            target["invoiced"] += inv.total
            target["outstanding"] += inv.amount_due
        for day, amount in inv.payments:
            paid_row = row(day, inv.currency)
            if paid_row is not None:
                paid_row["paid"] += amount
    for rec, day, gross in credits:
        target = row(day, currency_of(rec, config))
        if target is not None:
            target["invoiced"] -= gross
    return [
        _strings({"period": period, "currency": currency, **values})
        for (period, currency), values in sorted(rows.items())
    ]


def bucket(days_past_due: int) -> str:
    if days_past_due <= 0:
        return "current"
    if days_past_due <= 30:
        return "1-30"
    if days_past_due <= 60:
        return "31-60"
    if days_past_due <= 90:
        return "61-90"
    return "over_90"


def receivables(
    invoices: Sequence[Invoiced], names: Mapping[str, str], today: dt.date
) -> dict[str, Any]:
    """Open invoices per customer and currency, in ageing buckets by days past due."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    totals: dict[str, dict[str, Decimal]] = {}
    open_invoices = []
    for inv in invoices:
        if inv.amount_due <= 0:
            continue
        late = (today - inv.due).days if inv.due else 0
        name = bucket(late)
        key = (inv.customer, inv.currency)
        row = rows.setdefault(
            key,
            {
                "customer": inv.customer,
                "name": names.get(inv.customer, inv.customer),
                "currency": inv.currency,
                **dict.fromkeys(BUCKETS, ZERO),
                "total": ZERO,
                "invoices": 0,
            },
        )
        row[name] += inv.amount_due
        row["total"] += inv.amount_due
        row["invoices"] += 1
        total = totals.setdefault(inv.currency, {**dict.fromkeys(BUCKETS, ZERO), "total": ZERO})
        total[name] += inv.amount_due
        total["total"] += inv.amount_due
        open_invoices.append(
            {
                "id": inv.record.id,
                "number": inv.number,
                "customer": inv.customer,
                "due": inv.due.isoformat() if inv.due else None,
                "days_past_due": max(late, 0),
                "bucket": name,
                "amount_due": str(inv.amount_due),
                "currency": inv.currency,
            }
        )
    ordered = sorted(rows.values(), key=lambda r: (r["currency"], -r["total"], r["name"]))
    return {
        "today": today.isoformat(),
        "customers": [_strings(r) for r in ordered],
        "totals": [_strings({"currency": cur, **t}) for cur, t in sorted(totals.items())],
        "invoices": sorted(open_invoices, key=lambda r: -r["days_past_due"]),
    }


def customers(
    invoices: Sequence[Invoiced],
    credits: Sequence[tuple[Record, dt.date, Decimal]],
    names: Mapping[str, str],
    config: Config,
    today: dt.date,
) -> list[dict[str, Any]]:
    """Per customer and currency: revenue over their lifetime and this year, what is open, and
    the average days from issue to full payment."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}

    def row(customer: str, currency: str) -> dict[str, Any]:
        return rows.setdefault(
            (customer, currency),
            {
                "customer": customer,
                "name": names.get(customer, customer),
                "currency": currency,
                "invoices": 0,
                "lifetime": ZERO,
                "this_year": ZERO,
                "paid": ZERO,
                "open": ZERO,
                "_days": [],
            },
        )

    for inv in invoices:
        r = row(inv.customer, inv.currency)
        r["invoices"] += 1
        r["lifetime"] += inv.total
        if inv.issued.year == today.year:
            r["this_year"] += inv.total
        r["paid"] += inv.paid
        r["open"] += inv.amount_due
        if inv.status == "paid" and inv.payments:
            r["_days"].append((max(d for d, _ in inv.payments) - inv.issued).days)
    for rec, day, gross in credits:
        customer = str(rec.data.get("company") or rec.data.get("contact") or "")
        r = row(customer, currency_of(rec, config))
        r["lifetime"] -= gross
        if day.year == today.year:
            r["this_year"] -= gross
    out = []
    for r in sorted(rows.values(), key=lambda r: (r["currency"], -r["lifetime"], r["name"])):
        days = r.pop("_days")
        r["average_days_to_pay"] = round(sum(days) / len(days), 1) if days else None
        out.append(_strings(r))
    return out


def _strings(row: Mapping[str, Any]) -> dict[str, Any]:
    """Amounts as exact strings with the currency's minor units (`0.00`, not `0`)."""
    cur = str(row["currency"])
    return {k: str(round_to(v, cur)) if isinstance(v, Decimal) else v for k, v in row.items()}
