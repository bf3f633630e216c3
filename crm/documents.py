"""Quotes, invoices and credit notes as records: their totals, status and what they show."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from crm import billing, money
from crm.billing import Totals
from crm.config import Config
from crm.errors import ValidationError
from crm.models import Issue
from crm.records import Record

DOCUMENT_TYPES = ("quote", "invoice", "credit_note")


def currency_of(rec: Record, config: Config) -> str:
    return str(rec.data.get("currency") or config.currency).upper()


def regime_of(rec: Record, config: Config) -> str:
    regime = rec.data.get("regime")
    return str(regime) if regime in billing.REGIMES else config.billing.regime


def totals_of(rec: Record, config: Config) -> Totals:
    """The computed lines and totals of a document (ValidationError when a line is wrong)."""
    lines = rec.data.get("lines")
    rounding = rec.data.get("rounding")
    if rounding in ("per_rate", "per_line") or rec.data.get("number"):
        per_line = rounding == "per_line"  # fixed when numbered: crm.yaml may change later
    else:
        per_line = config.billing.per_line
    currency = currency_of(rec, config)
    return billing.compute(
        lines if isinstance(lines, list) else [],
        currency,
        regime=regime_of(rec, config),
        per_line=per_line,
        default_rate=billing.parse_rate(config.billing.tax_rate),
        fixed=billing.parse_taxes(rec.data.get("taxes"), currency),
    )


def by_invoice(credit_notes: Sequence[Record]) -> dict[str, list[Record]]:
    """Credit notes grouped by the invoice they correct (one pass, for many invoices)."""
    out: dict[str, list[Record]] = {}
    for note in credit_notes:
        out.setdefault(str(note.data.get("invoice")), []).append(note)
    return out


def credited(invoice_id: str, credit_notes: Sequence[Record], config: Config) -> Decimal:
    """What the issued credit notes of an invoice take off it (gross)."""
    total = Decimal(0)
    for note in credit_notes:
        if note.data.get("invoice") == invoice_id and note.data.get("status") == "issued":
            try:
                total += totals_of(note, config).gross
            except ValidationError:
                continue
    return total


def money_problem(rec: Record, config: Config) -> Issue | None:
    """Why the money of a document cannot be computed, at the line of the field at fault
    (`invoices/x.yaml:14: lines: line 2: quantity: ...`), or None when it can."""
    try:
        totals = totals_of(rec, config)
    except ValidationError as exc:
        if exc.message.startswith("taxes:"):
            return rec.issue("taxes", exc.message.removeprefix("taxes:").strip())
        position = exc.message.split(":")[0].removeprefix("line ")
        at = f"lines.{int(position) - 1}" if position.isdigit() else "lines"
        return rec.issue("lines", exc.message, at=at)
    if rec.type.name == "invoice":
        try:
            billing.payments_total(rec.data.get("payments"), totals.currency)
        except ValidationError as exc:
            position = exc.message.split(":")[0].removeprefix("payment ")
            at = f"payments.{int(position) - 1}" if position.isdigit() else "payments"
            return rec.issue("payments", exc.message, at=at)
    return None


def money_fields(
    rec: Record, config: Config, today: dt.date, credit_notes: Sequence[Record] = ()
) -> dict[str, Any]:
    """The derived fields of a document's JSON: net, tax, total; for invoices also paid,
    credited, amount_due and the status those give. When they cannot be computed (a bad line
    or payment: `money_problem` says which) they are all None, and the status is the stored
    one."""
    unknown: dict[str, Any] = {"net": None, "tax": None, "total": None}
    if rec.type.name == "invoice":
        unknown.update(paid=None, credited=None, amount_due=None)
    try:
        totals = totals_of(rec, config)
    except ValidationError:
        return unknown
    out: dict[str, Any] = {
        "net": str(totals.net),
        "tax": str(totals.tax),
        "total": str(totals.gross),
    }
    kind = rec.type.name
    if kind == "invoice":
        currency = totals.currency
        try:
            paid = billing.payments_total(rec.data.get("payments"), currency)
        except ValidationError:
            return unknown
        minus = credited(rec.id, credit_notes, config)
        due = max(Decimal(0), totals.gross - paid - minus)
        out.update(
            paid=str(paid),
            credited=str(money.round_to(minus, currency)),
            amount_due=str(money.round_to(due, currency)),
            status=billing.invoice_status(rec.data, totals.gross, paid, minus, today),
        )
    elif kind == "quote":
        out["status"] = billing.quote_status(rec.data, today)
    return out


def party(rec: Record | None, config: Config) -> dict[str, Any] | None:
    """A company or contact as a document names it."""
    if rec is None:
        return None
    emails = rec.list_of("emails")
    return {
        "id": rec.id,
        "name": rec.title,
        "address": _address(rec.data.get("address")),
        "vat_id": rec.data.get("vat_id"),
        "email": emails[0] if emails else None,
    }


ADDRESS_PARTS = ("text", "street", "postcode", "city", "region", "country")
BANK_PARTS = ("holder", "iban", "bic", "bank")


def _address(value: Any) -> dict[str, Any]:
    """An address as every part (None where missing); one written as text is its `text`."""
    parts: dict[str, Any] = dict.fromkeys(ADDRESS_PARTS)
    if isinstance(value, Mapping):
        parts.update({k: str(v) for k, v in value.items() if v is not None})
    elif value:
        parts["text"] = str(value)
    return parts


def seller(config: Config) -> dict[str, Any]:
    business = dict(config.business)
    return {
        "name": business.get("name") or "",
        "address": _address(business.get("address")),
        "vat_id": business.get("vat_id"),
        "tax_number": business.get("tax_number"),
        "email": business.get("email"),
        "phone": business.get("phone"),
        "website": business.get("website"),
        "bank": {**dict.fromkeys(BANK_PARTS), **config.billing.bank},
    }


def context(
    rec: Record,
    config: Config,
    *,
    customer: Record | None,
    contact: Record | None,
    today: dt.date,
    credit_notes: Sequence[Record] = (),
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything a document template may use (docs/documents.md lists it)."""
    totals = totals_of(rec, config)
    regime = regime_of(rec, config)
    data = rec.data
    derived = money_fields(rec, config, today, credit_notes)
    reminder = (extra or {}).get("reminder")
    asked = reminder.get("total") if isinstance(reminder, Mapping) else derived.get("amount_due")
    return {
        "kind": rec.type.name,
        "id": rec.id,
        "number": data.get("number"),
        "title": rec.title,
        "status": derived.get("status", data.get("status")),
        "issued": data.get("issued"),
        "due": data.get("due"),
        "valid_until": data.get("valid_until"),
        "service_date": data.get("service_date"),
        "service_until": data.get("service_until"),
        "currency": totals.currency,
        "locale": config.billing.locale,
        "seller": seller(config),
        "buyer": party(customer, config),
        "contact": party(contact, config),
        "lines": [line.json() for line in totals.lines],
        "taxes": [group.json() for group in totals.groups],
        "net": str(totals.net),
        "tax": str(totals.tax),
        "total": str(totals.gross),
        "paid": derived.get("paid"),
        "credited": derived.get("credited"),
        "amount_due": derived.get("amount_due"),
        "regime": regime,
        "regime_note": config.billing.notes.get(regime) if regime != "standard" else None,
        "exemptions": sorted(
            {g.exempt for g in totals.groups if g.exempt and regime == "standard"}
        ),
        "notes": data.get("notes"),
        "terms": data.get("terms"),
        "payment_terms": _terms_days(data),
        "invoice": data.get("invoice"),
        "reason": data.get("reason"),
        "payment_code": payment_code(rec, config, totals.currency, asked),
        "buyer_reference": data.get("buyer_reference")
        or (customer.data.get("buyer_reference") if customer else None),
        "order_reference": data.get("order_reference"),
        **(extra or {}),
    }


def payment_code(rec: Record, config: Config, currency: str, amount: Any) -> dict[str, str] | None:
    """The EPC QR code's data for paying `amount` of an issued invoice (a reminder: what the
    letter asks for), or None where it has none (crm.banking.payment_code says when)."""
    if rec.type.name != "invoice" or not config.billing.payment_qr or amount is None:
        return None
    from crm.banking import payment_code as code_for

    code = code_for(
        bank=config.billing.bank,
        business_name=str(config.business.get("name") or ""),
        currency=currency,
        amount=Decimal(str(amount)),
        number=str(rec.data.get("number") or ""),
    )
    return code.json() if code is not None else None


def _terms_days(data: Mapping[str, Any]) -> int | None:
    issued, due = data.get("issued"), data.get("due")
    if isinstance(issued, str) and isinstance(due, str):
        return (dt.date.fromisoformat(due) - dt.date.fromisoformat(issued)).days
    return None
