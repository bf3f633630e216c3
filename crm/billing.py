"""Quotes, invoices and credit notes: line arithmetic, tax per rate, totals and payment status.

The EN 16931 model: line net = quantity × unit price − discount, rounded half up to the
currency's minor unit; the taxable amount per rate is the sum of the line nets at that rate, and
the tax per rate is that sum × rate, rounded once (7 × 0.99 at 19 % is 1.32 tax, not the 1.33
of rounding every line). A per-line mode may be configured; its totals still add up per rate.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from crm import money
from crm.errors import ValidationError

REGIMES = ("standard", "reverse_charge", "small_business")
ZERO = Decimal(0)
# Bounds of what a line may say, so that its arithmetic stays exact within Decimal's 28 digits:
# a quantity below a billion, a unit price below 10^15 (money.MAX_DIGITS digits).
MAX_QUANTITY = Decimal(10) ** 9
MAX_PRICE = Decimal(10) ** money.MAX_DIGITS


def parse_rate(value: Any) -> Decimal:
    """A tax rate in percent: `19`, `7.7`, `0`; `19.0` is 19 and `2E+1` (as an older version
    wrote 20) is 20."""
    try:
        rate = Decimal(str(value).strip().removesuffix("%"))
    except InvalidOperation as exc:
        raise ValidationError(f"'{value}' is not a tax rate", hint="a percentage, e.g. 19") from exc
    if not rate.is_finite() or not 0 <= rate <= 100:
        raise ValidationError(f"'{value}' is not a tax rate between 0 and 100")
    return money.plain(rate)


def _decimal(value: Any, what: str, limit: Decimal | None = None) -> Decimal:
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise ValidationError(f"{what}: '{value}' is not a number") from exc
    if not number.is_finite():
        raise ValidationError(f"{what}: '{value}' is not a number")
    if limit is not None and abs(number) >= limit:
        raise ValidationError(f"{what}: '{value}' is too large (at most {limit - 1:,})")
    return number


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a document, as computed."""

    number: int  # 1-based among priced lines
    text: str
    quantity: Decimal
    unit: str | None
    price: Decimal
    discount: Decimal  # percent
    rate: Decimal  # tax rate, percent (0 for exempt and under reverse charge)
    exempt: str | None  # the reason a line carries no tax
    net: Decimal
    product: str | None = None
    section: str | None = None  # the heading this line falls under

    def json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "section": self.section,
            "product": self.product,
            "text": self.text,
            "quantity": str(self.quantity),
            "unit": self.unit,
            "price": str(self.price),
            "discount": str(self.discount),
            "tax_rate": str(self.rate),
            "exempt": self.exempt,
            "net": str(self.net),
        }


@dataclass(frozen=True, slots=True)
class TaxGroup:
    rate: Decimal
    exempt: str | None
    taxable: Decimal
    tax: Decimal

    def json(self) -> dict[str, Any]:
        return {
            "rate": str(self.rate),
            "exempt": self.exempt,
            "taxable": str(self.taxable),
            "tax": str(self.tax),
        }


@dataclass(frozen=True, slots=True)
class Totals:
    currency: str
    lines: tuple[Line, ...]
    groups: tuple[TaxGroup, ...]
    net: Decimal
    tax: Decimal
    gross: Decimal
    sections: tuple[str, ...] = field(default_factory=tuple)

    def json(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "lines": [line.json() for line in self.lines],
            "taxes": [g.json() for g in self.groups],
            "net": str(self.net),
            "tax": str(self.tax),
            "total": str(self.gross),
        }


GroupKey = tuple[Decimal, str | None]  # (rate, exemption reason): one line of the tax summary


def parse_taxes(value: Any, currency: str) -> dict[GroupKey, tuple[Decimal, Decimal]]:
    """The `taxes:` of a document as stored: per rate (and exemption), the taxable amount and
    the tax, when they are not what its lines give. Only the last credit note of an invoice
    has them: it takes exactly what the invoice still carries, so that the rounding of earlier
    partial credit notes leaves nothing behind."""
    if value is None:
        return {}
    if not isinstance(value, list):
        raise ValidationError("taxes: must be a list of {rate, taxable, tax} (kept by crm)")
    out: dict[GroupKey, tuple[Decimal, Decimal]] = {}
    for i, entry in enumerate(value, 1):
        if not isinstance(entry, Mapping):
            raise ValidationError(f"taxes: entry {i} is not a mapping of rate, taxable, tax")
        try:
            rate = parse_rate(entry.get("rate"))
            taxable = money.parse_amount(str(entry.get("taxable")))
            tax = money.parse_amount(str(entry.get("tax")))
            money.to_money(taxable, currency)
            money.to_money(tax, currency)
        except ValidationError as exc:
            raise ValidationError(f"taxes: entry {i}: {exc.message}") from exc
        exempt = str(entry["exempt"]) if entry.get("exempt") else None
        out[(rate, exempt)] = (taxable, tax)
    return out


def compute(
    raw_lines: Sequence[Any],
    currency: str,
    *,
    regime: str = "standard",
    per_line: bool = False,
    default_rate: Decimal = ZERO,
    fixed: Mapping[GroupKey, tuple[Decimal, Decimal]] | None = None,
) -> Totals:
    """The totals of a document from its lines as stored.

    Under reverse charge and the small-business exemption no line carries tax (rate 0, the
    regime's note goes on the document). `fixed` gives the taxable amount and tax of some
    groups as stored (a credit note that takes exactly what an invoice still carries, see
    `parse_taxes`). Raises ValidationError naming the line at fault.
    """
    lines: list[Line] = []
    section = None
    for i, raw in enumerate(raw_lines, 1):
        if not isinstance(raw, Mapping):
            raise ValidationError(f"line {i} is not a mapping (text, quantity, price, ...)")
        if raw.get("section") is not None and "price" not in raw:
            section = str(raw["section"])
            continue
        lines.append(_line(raw, len(lines) + 1, i, currency, regime, default_rate, section))
    groups: dict[tuple[Decimal, str | None], list[Line]] = {}
    for line in lines:
        groups.setdefault((line.rate, line.exempt), []).append(line)
    taxes = []
    for (rate, exempt), members in sorted(
        groups.items(), key=lambda kv: (-kv[0][0], kv[0][1] or "")
    ):
        taxable = sum((m.net for m in members), ZERO)
        if per_line:
            tax = sum((money.round_to(m.net * rate / 100, currency) for m in members), ZERO)
        else:
            tax = money.round_to(taxable * rate / 100, currency)
        if fixed and (rate, exempt) in fixed:
            taxable, tax = fixed[(rate, exempt)]
        taxes.append(TaxGroup(rate, exempt, taxable, tax))
    for rate, exempt in (fixed or {}).keys() - groups.keys():
        label = f"{rate} %" + (f" ({exempt})" if exempt else "")
        raise ValidationError(f"taxes: no line is taxed at {label}")
    net = sum((g.taxable for g in taxes), ZERO)
    tax = sum((g.tax for g in taxes), ZERO)
    exp = Decimal(1).scaleb(-money.minor_units(currency))
    return Totals(
        currency=currency,
        lines=tuple(lines),
        groups=tuple(taxes),
        net=net.quantize(exp),
        tax=tax.quantize(exp),
        gross=(net + tax).quantize(exp),
    )


def _line(
    raw: Mapping[str, Any],
    number: int,
    position: int,
    currency: str,
    regime: str,
    default_rate: Decimal,
    section: str | None,
) -> Line:
    where = f"line {position}"
    text = str(raw.get("text") or "").strip()
    if not text:
        raise ValidationError(f"{where}: a line needs a text")
    quantity = _decimal(raw.get("quantity", 1), f"{where}: quantity", MAX_QUANTITY)
    price = (
        _decimal(raw.get("price"), f"{where}: price", MAX_PRICE)
        if raw.get("price") is not None
        else None
    )
    if price is None:
        raise ValidationError(f"{where}: a line needs a price")
    discount = _decimal(raw.get("discount") or 0, f"{where}: discount")
    if not 0 <= discount <= 100:
        raise ValidationError(f"{where}: discount {discount} is not a percentage from 0 to 100")
    exempt = str(raw["exempt"]) if raw.get("exempt") else None
    rate = parse_rate(raw["tax"]) if raw.get("tax") is not None else default_rate
    if exempt:
        rate = ZERO
    if regime == "reverse_charge":
        rate, exempt = ZERO, "reverse charge"
    elif regime == "small_business":
        rate, exempt = ZERO, "small business"
    net = money.round_to(quantity * price * (100 - discount) / 100, currency)
    if abs(net) >= MAX_PRICE:
        raise ValidationError(
            f"{where}: {quantity} x {price} is too large an amount (at most {money.MAX_DIGITS} "
            "digits before the decimal point)"
        )
    return Line(
        number=number,
        text=text,
        quantity=quantity,
        unit=str(raw["unit"]) if raw.get("unit") else None,
        price=price,
        discount=discount,
        rate=rate,
        exempt=exempt,
        net=net,
        product=str(raw["product"]) if raw.get("product") else None,
        section=section,
    )


# -- payment status ---------------------------------------------------------------------------


def payments_total(payments: Any, currency: str) -> Decimal:
    """The sum of a list of payments as stored; ValidationError names a bad amount."""
    total = ZERO
    for i, payment in enumerate(payments if isinstance(payments, list) else [], 1):
        if isinstance(payment, Mapping) and payment.get("amount") is not None:
            try:
                total += money.parse_amount(str(payment["amount"]))
            except ValidationError as exc:
                raise ValidationError(f"payment {i}: {exc.message}", hint=exc.hint) from exc
    return total.quantize(Decimal(1).scaleb(-money.minor_units(currency)))


def invoice_status(
    data: Mapping[str, Any], gross: Decimal, paid: Decimal, credited: Decimal, today: dt.date
) -> str:
    """draft, issued, sent, partially_paid, paid, overdue or credited, from the record and
    its money: only `draft`, `issued` and `sent` are stored; the rest follow from payments,
    credit notes and the due date."""
    stored = str(data.get("status") or "draft")
    if stored == "draft":
        return "draft"
    if credited > 0 and credited >= gross:
        return "credited"
    due = gross - credited - paid
    if due <= 0:
        return "paid"
    deadline = data.get("due")
    if isinstance(deadline, str) and deadline < today.isoformat():
        return "overdue"
    if paid > 0:
        return "partially_paid"
    return stored


def quote_status(data: Mapping[str, Any], today: dt.date) -> str:
    stored = str(data.get("status") or "draft")
    until = data.get("valid_until")
    if stored in ("draft", "sent") and isinstance(until, str) and until < today.isoformat():
        return "expired"
    return stored
