"""The quote-to-cash workflow: lines, issuing, payments, credit notes, reminders, recurring
invoices and what `crm check` finds wrong with them. Pure functions: they return the edits and
bodies the commands write."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from crm import billing, money, numbering
from crm.config import Config, Reminder
from crm.documents import credited, currency_of, money_problem, regime_of, totals_of
from crm.errors import ConflictError, UsageError, ValidationError
from crm.models import RECORD_TYPES, Issue
from crm.records import Edit, Record

# What may still change on an issued invoice or credit note: bookkeeping, never what it says.
# `status` only between the issued statuses (`crm invoice send`), never back to draft.
# `assert` pins figures for `crm check` (crm.assertions); it is not on the document, nor is
# `fired`, the automation rules' bookkeeping (crm.automation).
MUTABLE_WHEN_ISSUED = frozenset(
    {"tags", "custom", "updated", "status", "payments", "reminders", "document", "assert", "fired"}
)
ISSUED = ("issued", "sent")


def is_issued(rec: Record) -> bool:
    return rec.type.name in ("invoice", "credit_note") and rec.data.get("status") in ISSUED


def frozen_problem(rec: Record, after: Mapping[str, Any]) -> str | None:
    """Why a change to an issued invoice or credit note, or to billed time, is refused, or None
    if it may be made."""
    if rec.type.name == "time" and rec.data.get("invoice"):
        return _billed_time_problem(rec, after)
    if not is_issued(rec):
        return None
    changed = sorted(
        key
        for key in set(rec.data) | set(after)
        if key not in MUTABLE_WHEN_ISSUED and rec.data.get(key) != after.get(key)
    )
    status = after.get("status")
    allowed = ISSUED if rec.type.name == "invoice" else ("issued",)
    if status != rec.data.get("status") and status not in allowed:
        changed = sorted({*changed, "status"})
    if not changed:
        return None
    what = "invoice" if rec.type.name == "invoice" else "credit note"
    back = " (an issued document never becomes a draft again)" if "status" in changed else ""
    return (
        f"{what} {rec.data.get('number') or rec.id} is issued: its {', '.join(changed)} "
        f"cannot change{back} (correct it with a credit note: `crm invoice credit`)"
    )


# What may still change on a billed time entry: what is not on the invoice.
MUTABLE_WHEN_BILLED = frozenset({"tags", "custom", "updated", "notes", "assert", "fired"})


def _billed_time_problem(rec: Record, after: Mapping[str, Any]) -> str | None:
    changed = sorted(
        key
        for key in set(rec.data) | set(after)
        if key not in MUTABLE_WHEN_BILLED and rec.data.get(key) != after.get(key)
    )
    if not changed:
        return None
    return (
        f"time entry {rec.id} is billed on invoice {rec.data['invoice']}: its "
        f"{', '.join(changed)} cannot change (remove that draft invoice to unbill it, or "
        "correct an issued one with a credit note)"
    )


def refuse_draft_only(rec: Record, action: str) -> None:
    if rec.data.get("status", "draft") != "draft":
        number = rec.data.get("number") or rec.id
        hint = "correct it with `crm invoice credit`" if rec.type.name == "invoice" else None
        raise ConflictError(
            f"{rec.type.name.replace('_', ' ')} {number} is {rec.data.get('status')}: "
            f"only a draft can {action}",
            hint=hint,
        )


# -- lines ------------------------------------------------------------------------------------


def _number(text: str | None, what: str) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation as exc:
        raise ValidationError(f"{what}: '{text}' is not a number") from exc
    if not value.is_finite():
        raise ValidationError(f"{what}: '{text}' is not a number")
    return value


def _text(value: Decimal) -> str:
    """A decimal as written in a file: `3`, `1.5`, `95.00` (trailing zeros of a price kept)."""
    return format(value, "f")


def line_entry(
    *,
    currency: str,
    default_currency: str | None = None,
    product: Record | None = None,
    text: str | None = None,
    quantity: str | None = None,
    price: str | None = None,
    unit: str | None = None,
    discount: str | None = None,
    tax: str | None = None,
    exempt: str | None = None,
) -> dict[str, Any]:
    """A line as stored in a document, from a catalogue product or free text and a price.

    A product without a currency is priced in `default_currency` (crm.yaml's)."""
    entry: dict[str, Any] = {}
    if product is not None:
        pcur = str(product.data.get("currency") or default_currency or currency).upper()
        if price is None and pcur != currency:
            raise ValidationError(
                f"product {product.id} is priced in {pcur}, the document is in {currency}",
                hint=f"give the line's --price in {currency}",
            )
        entry["product"] = product.id
        text = text or product.title
        unit = unit or product.data.get("unit")
        if price is None and product.data.get("price") is not None:
            price = str(product.data["price"])
        if tax is None and product.data.get("tax_rate") is not None:
            tax = str(product.data["tax_rate"])
    if not text or not text.strip():
        raise UsageError("a line needs --text or --product")
    if price is None:
        raise UsageError("a line needs --price (or a --product that has one)")
    entry["text"] = text.strip()
    qty = _number(quantity, "quantity") if quantity is not None else Decimal(1)
    assert qty is not None
    if qty == 0:
        raise ValidationError("quantity: must not be 0")
    if abs(qty) >= billing.MAX_QUANTITY:
        raise ValidationError(
            f"quantity: '{quantity}' is too large (at most {billing.MAX_QUANTITY - 1:,})"
        )
    entry["quantity"] = _text(qty)
    if unit:
        entry["unit"] = str(unit)
    amount = money.parse_amount(str(price))
    entry["price"] = _text(amount)
    if discount is not None:
        off = _number(discount.removesuffix("%"), "discount")
        assert off is not None
        if not 0 <= off <= 100:
            raise ValidationError(f"discount: {discount} is not a percentage from 0 to 100")
        if off:
            entry["discount"] = _text(off)
    if tax is not None:
        entry["tax"] = _text(billing.parse_rate(tax))
    if exempt:
        entry["exempt"] = exempt.strip()
    try:
        billing.compute([entry], currency)  # the same checks a stored line gets
    except ValidationError as exc:
        raise ValidationError(exc.message.removeprefix("line 1: "), hint=exc.hint) from exc
    return entry


def priced_positions(lines: Sequence[Any]) -> list[int]:
    """Indexes in `lines` of the priced lines (section headings are not numbered)."""
    return [
        i
        for i, raw in enumerate(lines)
        if isinstance(raw, Mapping) and not (raw.get("section") is not None and "price" not in raw)
    ]


def remove_lines(lines: Sequence[Any], numbers: Iterable[int]) -> list[Any]:
    """`lines` without the priced lines numbered `numbers` (1-based, as documents show them)."""
    positions = priced_positions(lines)
    drop = set()
    for n in numbers:
        if not 1 <= n <= len(positions):
            raise UsageError(f"there is no line {n} (the document has {len(positions)} lines)")
        drop.add(positions[n - 1])
    return [raw for i, raw in enumerate(lines) if i not in drop]


# -- issuing ----------------------------------------------------------------------------------


def customer_terms(customer: Record | None, config: Config) -> int:
    terms = customer.data.get("payment_terms") if customer is not None else None
    return (
        terms
        if isinstance(terms, int) and not isinstance(terms, bool)
        else (config.billing.payment_terms)
    )


def new_document_defaults(customer: Record | None, config: Config) -> dict[str, Any]:
    """What a new quote or invoice takes from its customer and crm.yaml: its tax regime."""
    out: dict[str, Any] = {"status": "draft"}
    regime = customer.data.get("tax_regime") if customer is not None else None
    if regime in billing.REGIMES and regime != config.billing.regime:
        out["regime"] = regime
    return out


def check_issuable(rec: Record, config: Config, buyer: Record | None) -> billing.Totals:
    """The totals of a draft that may be issued; ValidationError says what is missing."""
    refuse_draft_only(rec, "be issued")
    label = rec.type.name.replace("_", " ")
    if not rec.data.get("company") and not rec.data.get("contact"):
        raise ValidationError(f"{label} {rec.id} has no customer", hint="set company= or contact=")
    totals = totals_of(rec, config)
    if not totals.lines:
        raise ValidationError(f"{label} {rec.id} has no lines", hint="add them with `line add`")
    if totals.gross <= 0:
        amount = f"{money.to_money(totals.gross, totals.currency)} {totals.currency}"
        if rec.type.name == "credit_note":
            raise ValidationError(f"the credit note would take off {amount}: nothing to credit")
        raise ValidationError(
            f"{label} {rec.id} totals {amount}: only an amount to be paid can be "
            + ("issued" if rec.type.name == "invoice" else "sent"),
            hint="money owed to the customer is a credit note on the invoice it corrects: "
            "`crm invoice credit INVOICE`"
            if totals.gross < 0
            else "add the lines that are to be paid",
        )
    from crm.banking import bank_problems

    wrong = bank_problems(config.billing.bank)  # printed on the document, frozen once issued
    if wrong:
        raise ValidationError(
            f"crm.yaml: billing.bank.{wrong[0][0]}: {wrong[0][1]}",
            hint=f"correct it in crm.yaml before the {label} is issued with it",
        )
    if regime_of(rec, config) == "reverse_charge" and not (buyer and buyer.data.get("vat_id")):
        name = buyer.id if buyer else "the customer"
        raise ValidationError(
            f"reverse charge needs the buyer's VAT id, and {name} has none",
            hint=f"crm company set {name} vat_id=...",
        )
    return totals


def issue_edits(
    rec: Record,
    config: Config,
    *,
    numbers: Mapping[str, str],
    day: dt.date,
    today: dt.date,
    buyer: Record | None,
) -> list[Edit]:
    """Number, date and status of a draft being issued on `day` (today or earlier).

    `numbers` maps each number the series already has to the issue date it carries: a new
    number must not be dated before the last one, so that numbers follow the calendar."""
    kind = rec.type.name
    if day > today:
        raise ValidationError(
            f"{day.isoformat()} is after today ({today.isoformat()}): a document is dated the "
            "day it is issued or earlier",
            hint=f"run it on {day.isoformat()}, or leave out --date to issue it today",
        )
    pattern = config.billing.pattern(kind)
    series = numbering.series(pattern)
    latest = max(
        (d for n, d in numbers.items() if d and _same_series(series, n, day)), default=None
    )
    if latest and latest > day.isoformat():
        if latest > today.isoformat():  # dated ahead before future dates were refused
            hint = f"the series' last number is dated ahead: the next is issued from {latest} on"
        else:
            hint = (
                f"numbers follow the calendar: give a --date from {latest} to "
                f"{today.isoformat()}, or none for today"
            )
        raise ValidationError(
            f"{day.isoformat()} is before {latest}, the date of the last number of the series",
            hint=hint,
        )
    number = numbering.next_number(pattern, numbers, day.year)
    edits = [
        Edit("set", ("number",), number),
        Edit("set", ("status",), "issued"),
        Edit("set", ("issued",), day.isoformat()),
        *fixed_terms(rec, config),
    ]
    if kind == "invoice":
        due = day + dt.timedelta(days=customer_terms(buyer, config))
        edits.append(Edit("set", ("due",), due.isoformat()))
        if not rec.data.get("service_date"):
            edits.append(Edit("set", ("service_date",), day.isoformat()))
    elif kind == "quote" and not rec.data.get("valid_until"):
        until = day + dt.timedelta(days=config.billing.quote_days)
        edits.append(Edit("set", ("valid_until",), until.isoformat()))
    return edits


def fixed_terms(rec: Record, config: Config) -> list[Edit]:
    """What a document takes from crm.yaml, written into it when it is numbered, so that a
    later change of the default tax rate, regime or rounding never changes what it says."""
    edits = []
    if rec.data.get("regime") not in billing.REGIMES:
        edits.append(Edit("set", ("regime",), regime_of(rec, config)))
    if config.billing.per_line and not rec.data.get("rounding"):
        edits.append(Edit("set", ("rounding",), "per_line"))
    lines = list(rec.data.get("lines") or [])
    rate = config.billing.tax_rate
    priced = set(priced_positions(lines))
    taxed = [
        {**line, "tax": rate}
        if i in priced and line.get("tax") is None and not line.get("exempt")
        else line
        for i, line in enumerate(lines)
    ]
    if taxed != lines:
        edits.append(Edit("set", ("lines",), taxed))
    return edits


def _same_series(series: numbering.Series, number: str, day: dt.date) -> bool:
    parsed = series.parse(number)
    return parsed is not None and (not series.yearly or parsed[0] == day.year)


def document_entry(data: bytes, file: str, fmt: str) -> dict[str, str]:
    """The `document:` of an issued record: the file rendered at issue and its SHA-256."""
    return {"file": file, "format": fmt, "sha256": hashlib.sha256(data).hexdigest()}


# -- payments ---------------------------------------------------------------------------------


def payment_edits(
    rec: Record,
    config: Config,
    credit_notes: Sequence[Record],
    *,
    amount: str,
    day: dt.date,
    method: str | None,
    reference: str | None,
    overpay: bool,
) -> list[Edit]:
    """A payment added to an issued invoice; more than is due is refused unless `overpay`."""
    if rec.data.get("status") not in ISSUED:
        raise ConflictError(
            f"invoice {rec.id} is a draft: issue it before recording payments",
            hint=f"crm invoice issue {rec.id}",
        )
    currency = currency_of(rec, config)
    value = money.parse_amount(amount)
    if value <= 0:
        raise ValidationError(f"--amount must be more than 0, got {amount}")
    if value != money.round_to(value, currency):
        raise ValidationError(
            f"{amount} has more decimals than {currency} has ({money.minor_units(currency)})"
        )
    totals = totals_of(rec, config)
    paid = billing.payments_total(rec.data.get("payments"), currency)
    due = totals.gross - paid - credited(rec.id, credit_notes, config)
    if value > due and not overpay:
        raise ValidationError(
            f"{money.to_money(value, currency)} {currency} is more than the "
            f"{money.to_money(max(due, Decimal(0)), currency)} {currency} still due",
            hint="--overpay records it anyway, as a credit in the customer's favour",
        )
    payment: dict[str, Any] = {
        "date": day.isoformat(),
        "amount": money.to_money(value, currency),
    }
    if method:
        payment["method"] = method
    if reference:
        payment["reference"] = reference
    payments = list(rec.data.get("payments") or [])
    return [Edit("set", ("payments",), [*payments, payment])]


# -- credit notes -----------------------------------------------------------------------------


def parse_line_choice(text: str) -> dict[int, Decimal | None]:
    """`1,3` (whole lines) or `2:1.5` (line 2, quantity 1.5) as {line: quantity or None}."""
    chosen: dict[int, Decimal | None] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        number, _, qty = part.partition(":")
        try:
            line = int(number)
        except ValueError as exc:
            raise UsageError(f"--lines: '{part}' is not a line number (e.g. 1,3 or 2:0.5)") from exc
        chosen[line] = _number(qty, f"--lines {part}") if qty else None
    if not chosen:
        raise UsageError("--lines names no line", hint="e.g. --lines 1,3 or --lines 2:0.5")
    return chosen


def credit_note_body(
    invoice: Record,
    config: Config,
    credit_notes: Sequence[Record],
    *,
    choice: Mapping[int, Decimal | None] | None,
    reason: str | None,
) -> dict[str, Any]:
    """A credit note correcting `invoice`: all its lines, or those `choice` names.

    Its amounts are positive; its effect is to take them off the invoice. It may not take off
    more than the invoice still carries after earlier credit notes. The credit note that
    credits the last of the invoice's lines takes exactly what the invoice still carries: the
    rounding of earlier partial credit notes is settled in its `taxes:`."""
    if invoice.data.get("status") not in ISSUED:
        raise ConflictError(
            f"invoice {invoice.id} is a draft: change or remove it instead of crediting it"
        )
    lines = list(invoice.data.get("lines") or [])
    positions = priced_positions(lines)
    if choice is None:
        chosen = [dict(lines[p]) for p in positions]
    else:
        chosen = []
        for n, qty in sorted(choice.items()):
            if not 1 <= n <= len(positions):
                raise UsageError(f"invoice {invoice.id} has no line {n} ({len(positions)} lines)")
            line = dict(lines[positions[n - 1]])
            if qty is not None:
                had = _quantity(line)
                if had == 0 or not 0 < qty / had <= 1:
                    raise ValidationError(
                        f"--lines {n}:{_text(qty)}: the quantity credited must be more than 0 "
                        f"and at most the {_text(had)} invoiced"
                    )
                line["quantity"] = _text(qty)
            chosen.append(line)
    body: dict[str, Any] = {
        "title": f"Credit note for invoice {invoice.data.get('number')}",
        "invoice": invoice.id,
    }
    for key in ("company", "contact", "currency", "regime"):
        if invoice.data.get(key):
            body[key] = invoice.data[key]
    body["status"] = "draft"
    if reason:
        body["reason"] = reason
    body["lines"] = chosen
    # The invoice's rounding, fixed when it was numbered (per rate unless it says per line).
    rounding = invoice.data.get("rounding")
    if rounding in ("per_rate", "per_line"):
        body["rounding"] = rounding
    elif config.billing.per_line:
        body["rounding"] = "per_rate"
    currency = currency_of(invoice, config)
    earlier = [
        n
        for n in credit_notes
        if n.data.get("invoice") == invoice.id and n.data.get("status") == "issued"
    ]
    invoiced = totals_of(invoice, config)
    left = invoiced.gross - credited(invoice.id, credit_notes, config)
    note = Record(type=RECORD_TYPES["credit_note"], id="", data=body, path="")
    totals = totals_of(note, config)
    rest = _settled_taxes(invoice, invoiced, earlier, chosen, totals, config)
    if rest is not None:  # the last of the lines: exactly what is left, per rate
        if rest != [g.json() for g in totals.groups]:
            body["taxes"] = [{k: v for k, v in g.items() if v is not None} for g in rest]
        return body
    if totals.gross > left:
        raise ValidationError(
            f"the credit note would take off {money.to_money(totals.gross, currency)} {currency}; "
            f"invoice {invoice.data.get('number')} carries only {money.to_money(left, currency)} "
            f"{currency} more"
        )
    invoiced_qty = _quantities(lines)
    taken = _quantities(line for n in earlier for line in n.data.get("lines") or [])
    for line in chosen:
        same = _line_key(line)
        taken[same] = taken.get(same, Decimal(0)) + _quantity(line)
        if abs(taken[same]) > abs(invoiced_qty.get(same, Decimal(0))):
            raise ValidationError(
                f"'{line.get('text')}' would be credited more than it was invoiced: "
                f"{_text(money.plain(taken[same]))} of "
                f"{_text(money.plain(invoiced_qty.get(same, Decimal(0))))}",
                hint=f"`crm invoice show {invoice.id}` and its credit notes show what is left",
            )
    return body


def _quantity(line: Mapping[str, Any]) -> Decimal:
    try:
        return Decimal(str(line.get("quantity", 1)))
    except InvalidOperation:
        return Decimal(0)


def _line_key(line: Any) -> tuple[str, ...] | None:
    """What makes lines the same line, whatever their quantity (prices and rates as numbers,
    so that `95` and `95.00` are one)."""
    if not isinstance(line, Mapping):
        return None

    def number(key: str) -> str:
        try:
            return str(money.plain(Decimal(str(line.get(key) or 0))))
        except InvalidOperation:
            return str(line.get(key))

    return (
        str(line.get("product") or ""),
        str(line.get("text") or ""),
        str(line.get("unit") or ""),
        number("price"),
        number("discount"),
        number("tax"),
        str(line.get("exempt") or ""),
    )


def _quantities(lines: Iterable[Any]) -> dict[tuple[str, ...] | None, Decimal]:
    out: dict[tuple[str, ...] | None, Decimal] = {}
    for line in lines:
        if isinstance(line, Mapping) and "price" in line:
            key = _line_key(line)
            out[key] = out.get(key, Decimal(0)) + _quantity(line)
    return out


def _settled_taxes(
    invoice: Record,
    invoiced: billing.Totals,
    earlier: Sequence[Record],
    chosen: Sequence[Mapping[str, Any]],
    totals: billing.Totals,
    config: Config,
) -> list[dict[str, Any]] | None:
    """When the credit note of `chosen` lines (its `totals`) credits what is left of every line
    of `invoice` (its `invoiced` totals) after the `earlier` credit notes: the taxable amount
    and tax per rate that the invoice then still carries, which the note takes off exactly.
    None when lines are left after it."""
    quantities = _quantities(invoice.data.get("lines") or [])
    taken = _quantities(line for n in earlier for line in n.data.get("lines") or [])
    for key, qty in _quantities(chosen).items():
        taken[key] = taken.get(key, Decimal(0)) + qty
    if taken.keys() != quantities.keys() or any(taken[k] != q for k, q in quantities.items()):
        return None
    rest: dict[billing.GroupKey, list[Decimal]] = {}
    for group in invoiced.groups:
        rest[(group.rate, group.exempt)] = [group.taxable, group.tax]
    for note in earlier:
        try:
            groups = totals_of(note, config).groups
        except ValidationError:
            return None
        for group in groups:
            if (group.rate, group.exempt) not in rest:
                return None
            rest[(group.rate, group.exempt)][0] -= group.taxable
            rest[(group.rate, group.exempt)][1] -= group.tax
    mine = {(g.rate, g.exempt) for g in totals.groups}
    if any(k not in mine and v != [0, 0] for k, v in rest.items()):
        return None
    return [
        billing.TaxGroup(g.rate, g.exempt, *rest[(g.rate, g.exempt)]).json() for g in totals.groups
    ]


# -- reminders --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Dunning:
    level: int
    reminder: Reminder
    days_overdue: int
    fee: Decimal
    total: Decimal  # what the letter asks for: amount due plus the fee


def dunning(
    rec: Record,
    config: Config,
    credit_notes: Sequence[Record],
    today: dt.date,
    level: int | None = None,
) -> Dunning:
    """The reminder an overdue invoice gets next: the level after the last one sent, once its
    days after the due date have passed (or the level asked for)."""
    from crm.documents import money_fields

    derived = money_fields(rec, config, today, credit_notes)
    if derived.get("status") != "overdue":
        raise ConflictError(
            f"invoice {rec.data.get('number') or rec.id} is {derived.get('status')}, not overdue"
        )
    levels = config.billing.reminders
    if not levels:
        raise UsageError("crm.yaml declares no reminder levels (billing.reminders)")
    overdue = (today - dt.date.fromisoformat(str(rec.data["due"]))).days
    sent = {
        entry["level"]: str(entry.get("date"))
        for entry in rec.data.get("reminders") or []
        if isinstance(entry, Mapping) and isinstance(entry.get("level"), int)
    }
    if level is None:
        last = max(sent, default=0)
        if last >= len(levels):
            raise ConflictError(
                f"the last reminder (level {last}) was sent on {sent[last]}",
                hint=f"--level {len(levels)} sends it again",
            )
        level = last + 1
        if levels[level - 1].days > overdue:
            raise ConflictError(
                f"reminder {level} is due {levels[level - 1].days} days after the due date;"
                f" it is {overdue} days",
                hint="--level N sends a given level anyway",
            )
    elif not 1 <= level <= len(levels):
        raise UsageError(f"--level is from 1 to {len(levels)} (billing.reminders)")
    chosen = levels[level - 1]
    currency = currency_of(rec, config)
    fee = money.round_to(money.parse_amount(chosen.fee or "0"), currency)
    due = Decimal(str(derived["amount_due"]))
    return Dunning(level, chosen, overdue, fee, due + fee)


# -- recurring invoices -----------------------------------------------------------------------


def invoiced_periods(rec: Record) -> set[str]:
    return {
        str(entry.get("period"))
        for entry in rec.data.get("invoiced") or []
        if isinstance(entry, Mapping)
    }


def owed_periods(rec: Record, today: dt.date) -> list[tuple[dt.date, dt.date]]:
    """(first, last day) of each period of a recurring invoice that has begun by `today` and
    has not been invoiced: missed periods are caught up, none is owed twice."""
    from crm import when

    data = rec.data
    if data.get("paused") is True:
        return []
    start = _day(data, "start")
    until = today
    if data.get("end"):
        until = min(until, _day(data, "end"))
    if until < start:
        return []
    schedule = str(data.get("schedule"))
    done = invoiced_periods(rec)
    owed = []
    for first in when.period_starts(schedule, start, until):
        if first.isoformat() not in done:
            last = when.next_period_start(schedule, start, first) - dt.timedelta(days=1)
            owed.append((first, last))
    return owed


def _day(data: Mapping[str, Any], key: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(data.get(key)))
    except ValueError as exc:
        raise ValidationError(f"{key}: '{data.get(key)}' is not a date (YYYY-MM-DD)") from exc


def recurring_state(rec: Record, today: dt.date) -> dict[str, Any]:
    """`status` (active, paused, ended) and `next`, the start of the next period to invoice."""
    from crm import when

    data = rec.data
    try:
        start = dt.date.fromisoformat(str(data.get("start")))
        schedule = when.parse_schedule(str(data.get("schedule")))
        end = dt.date.fromisoformat(str(data["end"])) if dates_ok(data.get("end")) else None
        owed = owed_periods(rec, today) if not data.get("paused") else []
        upcoming: dt.date | None
        if owed:
            upcoming = owed[0][0]
        else:
            done = sorted(p for p in invoiced_periods(rec) if dates_ok(p))
            after = dt.date.fromisoformat(done[-1]) if done else None
            upcoming = when.next_start(schedule, start, after)  # None: COUNT or UNTIL reached
    except (ValueError, ValidationError):
        return {"status": None, "next": None}
    if end is not None and upcoming is not None and upcoming > end:
        upcoming = None
    status = "paused" if data.get("paused") is True else ("active" if upcoming else "ended")
    return {"status": status, "next": upcoming.isoformat() if upcoming else None}


def dates_ok(value: Any) -> bool:
    try:
        dt.date.fromisoformat(str(value))
    except ValueError:
        return False
    return True


def skipped_while_paused(rec: Record, today: dt.date) -> list[dict[str, str]]:
    """Entries for `invoiced` marking the periods that began while a definition was paused
    (from `paused_since` to the day before `today`, when it is resumed): resuming bills from
    now on, not for the pause. Periods owed from before the pause stay owed."""
    active = Record(type=rec.type, id=rec.id, data={**rec.data, "paused": False}, path=rec.path)
    since = str(rec.data.get("paused_since") or "")
    return [
        {"period": first.isoformat(), "skipped": "paused"}
        for first, _ in owed_periods(active, today - dt.timedelta(days=1))
        if first.isoformat() >= since
    ]


def invoice_from_recurring(
    rec: Record, first: dt.date, last: dt.date, config: Config
) -> dict[str, Any]:
    """The draft invoice a recurring definition makes for one period."""
    body: dict[str, Any] = {"title": f"{rec.title} {first.isoformat()} – {last.isoformat()}"}
    for key in ("company", "contact", "currency", "regime", "notes", "terms", "tags"):
        if rec.data.get(key):
            body[key] = rec.data[key]
    body["status"] = "draft"
    body["service_date"] = first.isoformat()
    body["service_until"] = last.isoformat()
    body["recurring"] = rec.id
    body["lines"] = [dict(line) for line in rec.data.get("lines") or []]
    return body


# -- check ------------------------------------------------------------------------------------


def problems(
    everything: Mapping[str, Sequence[Record]],
    config: Config,
    read_file: Callable[[str], bytes | None],
) -> list[Issue]:
    """Numbers duplicated or missing in a series, and issued documents whose stored file is
    missing or does not match its hash. `read_file` reads a path relative to the folder."""
    issues: list[Issue] = []
    for kind in ("invoice", "credit_note", "quote"):
        numbers: dict[str, list[str]] = {}
        for rec in everything.get(kind, ()):
            number = rec.data.get("number")
            if isinstance(number, str) and number:
                numbers.setdefault(number, []).append(rec.path)
            elif kind != "quote" and rec.data.get("status") in ISSUED:
                issues.append(rec.issue("status", "is issued but has no number"))
            issues.extend(_unissued_issues(rec))
            if "taxes" in rec.data:  # a last credit note's amounts per rate
                problem = money_problem(rec, config)
                if problem is not None and problem.message.startswith("taxes:"):
                    issues.append(problem)
        pattern = config.billing.pattern(kind)
        try:
            found = numbering.problems(pattern, numbers)
        except ValidationError:
            continue  # the pattern itself is reported with crm.yaml
        for path, message in found:
            if kind == "quote" and "missing" in message:
                continue  # quotes need not be gapless
            issues.append(Issue(path, None, message))
        for rec in everything.get(kind, ()):
            if kind != "quote" and rec.data.get("status") in ISSUED:
                issues.extend(_document_issues(rec, read_file))
    return issues


def _unissued_issues(rec: Record) -> list[Issue]:
    """A draft that carries a number or a kept document was numbered once and put back by
    hand: its number would be lost, and with `rm` its document orphaned."""
    status = rec.data.get("status") or "draft"
    if status != "draft":
        return []
    kept = [
        what
        for what, key in (("a number", "number"), ("a kept document", "document"))
        if rec.data.get(key) and (key == "number" or rec.type.name != "quote")
    ]
    if not kept:
        return []
    label = rec.type.name.replace("_", " ")
    done = "sent" if rec.type.name == "quote" else "issued"
    return [
        rec.issue(
            "status",
            f"is draft but has {' and '.join(kept)}: once {done}, "
            f"{'an' if label[0] in 'aeiou' else 'a'} {label} stays {done} "
            f"(put `status: {done}` back with `crm {rec.type.name.replace('_', '-')} edit`)",
        )
    ]


def _document_issues(rec: Record, read_file: Callable[[str], bytes | None]) -> list[Issue]:
    document = rec.data.get("document")
    if not isinstance(document, Mapping) or not isinstance(document.get("file"), str):
        return [rec.issue("document", "is issued but keeps no document")]
    folder = rec.path.rpartition("/")[0]
    name = str(document["file"])
    if "/" in name or "\\" in name or name.startswith("."):
        return [rec.issue("document", f"'{name}' is not a file beside the record")]
    data = read_file(f"{folder}/{name}" if folder else name)
    if data is None:
        return [rec.issue("document", f"{name} is missing")]
    if hashlib.sha256(data).hexdigest() != document.get("sha256"):
        return [rec.issue("document", f"{name} does not match its sha256: it was changed")]
    return []
