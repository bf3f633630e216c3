"""Assertions: figures a record says must hold, verified by `crm check`.

As a balance assertion in plain-text accounting pins what a bank statement said, an `assert:`
mapping pins what a document or a customer's account comes to: an invoice's total, a company's
open receivables on the day the accountant confirmed them. The figures are computed by the code
that shows them elsewhere (`crm.documents` for a document's JSON, `crm.revenue` for the billing
reports), never a second way here.

`parse` judges an assertion's shape (its keys, amount, currency, date) from the record alone, so
`validate` reports it with the record's other problems. `problems` compares the figures; they
depend on other files (credit notes, a customer's invoices and payments), so it runs on the
whole folder, in the cross-record phase of `crm check`, and is never cached per file.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from crm import money, revenue
from crm.config import Config
from crm.dates import parse_date
from crm.documents import by_invoice, currency_of, money_fields
from crm.errors import ValidationError
from crm.models import Issue
from crm.records import Record

KEY = "assert"
DATE = "as_of"  # the day the figures are counted to

# The figures each record type may assert. A document's are those of its JSON (crm.documents);
# a customer's those of `crm report receivables` (open) and `crm report customers`.
FIGURES: dict[str, tuple[str, ...]] = {
    "invoice": ("net", "tax", "total", "paid", "credited", "amount_due"),
    "credit_note": ("net", "tax", "total"),
    "quote": ("net", "tax", "total"),
    "company": ("open", "invoiced", "paid"),
    "contact": ("open", "invoiced", "paid"),
}
PARTIES = ("company", "contact")

_PHRASES = {
    "net": "the {label}'s net is {actual}",
    "tax": "the {label}'s tax is {actual}",
    "total": "the {label} totals {actual}",
    "credited": "credit notes take {actual} off the invoice",
    "amount_due": "the invoice has {actual} due",
    "open": "the {label} has {actual} open",
    "invoiced": "the {label} was invoiced {actual} net of credit notes",
}
_PAID = {"invoice": "payments on the invoice come to {actual}"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Assertion:
    """One figure a record asserts: `amount` in `currency`, counted up to `on` (None: all)."""

    record: Record
    figure: str  # total, open, ...
    at: str  # the dotted key in the file: assert.total, assert.1.open
    amount: Decimal
    currency: str
    on: dt.date | None


def _label(rec: Record) -> str:
    return rec.type.name.replace("_", " ")


def _a(label: str) -> str:
    return f"{'an' if label[0] in 'aeiou' else 'a'} {label}"


def _allowed(rtype: str) -> str:
    return f"allowed: {', '.join(FIGURES[rtype])}, and {DATE} for the day they are counted to"


def parse(rec: Record, config: Config) -> tuple[list[Assertion], list[Issue]]:
    """The assertions of `rec`, and what is wrong with the ones that cannot be read."""
    value = rec.data.get(KEY)
    if value is None:
        return [], []
    label = _label(rec)
    if rec.type.name not in FIGURES:
        kinds = "invoices, credit notes, quotes, companies and contacts"
        return [], [rec.issue(KEY, f"{_a(label)} has no figures to assert (only {kinds} do)")]
    if isinstance(value, Mapping):
        groups: list[tuple[str, Any]] = [(KEY, value)]
    elif isinstance(value, list) and value:
        groups = [(f"{KEY}.{i}", item) for i, item in enumerate(value)]
    else:
        groups = [(KEY, value)]
    found: list[Assertion] = []
    issues: list[Issue] = []
    for at, group in groups:
        if not isinstance(group, Mapping):
            example = '{open: "1200.00"}' if rec.type.name in PARTIES else '{total: "4500.00"}'
            issues.append(
                rec.issue(at, f"must be a mapping of figures, e.g. {example}, or a list of them")
            )
            continue
        found.extend(_group(rec, config, at, group, issues))
    return found, issues


def _group(
    rec: Record, config: Config, at: str, group: Mapping[str, Any], issues: list[Issue]
) -> list[Assertion]:
    label = _label(rec)
    on: dt.date | None = None
    dated = True
    if DATE in group:
        text = group[DATE]
        try:
            on = parse_date(text if isinstance(text, str) else "")
        except ValidationError:
            issues.append(rec.issue(f"{at}.{DATE}", f"'{text}' is not a date (YYYY-MM-DD)"))
            dated = False
    figures = [key for key in group if key != DATE]
    if not figures:
        issues.append(rec.issue(at, f"names no figure ({_allowed(rec.type.name)})"))
    out = []
    for figure in figures:
        where = f"{at}.{figure}"
        if figure not in FIGURES[rec.type.name]:
            message = f"{_a(label)} has no figure '{figure}' to assert ({_allowed(rec.type.name)})"
            issues.append(rec.issue(where, message))
            continue
        try:
            value = group[figure]
            raw = rec.raw.get(where) if isinstance(value, int | float) else None
            amount, currency = _amount(value, rec, config, raw)
        except ValidationError as exc:
            issues.append(rec.issue(where, exc.message))
            continue
        if dated:
            out.append(
                Assertion(
                    record=rec, figure=figure, at=where, amount=amount, currency=currency, on=on
                )
            )
    return out


def _amount(value: Any, rec: Record, config: Config, raw: str | None) -> tuple[Decimal, str]:
    """An asserted amount, `"4500.00"` or `"4500.00 USD"`, and its currency: a document's own,
    else the code given, else the folder's."""
    label = _label(rec)
    document = rec.type.name not in PARTIES
    own = currency_of(rec, config) if document else config.currency.upper()
    how = (
        f'write digits with an optional ".", in the {label}\'s currency ({own}): "4500.00"'
        if document
        else f'write digits with an optional ".": "1200.00" ({own}), or "1200.00 USD" in another'
        " currency"
    )
    if isinstance(value, float) or (isinstance(value, int) and raw not in (None, str(value))):
        text = raw or str(value)
        raise ValidationError(
            f'{text} is read as a YAML number, not an exact amount; write it in quotes: "{text}"'
        )
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValidationError(f"'{value}' is not an amount; {how}")
    parts = str(value).split()
    if len(parts) == 2:
        currency = money.normalize_currency(parts[1])
    elif len(parts) == 1:
        currency = own
    else:
        raise ValidationError(f"'{value}' is not an amount; {how}")
    if document and currency != own:
        raise ValidationError(f"the {label} is in {own}: its figures cannot be in {currency}")
    try:
        amount = money.parse_amount(parts[0])
    except ValidationError as exc:
        raise ValidationError(f"'{value}' is not an amount; {how}") from exc
    money.to_money(amount, currency)  # more decimals than the currency has: refused
    return amount, currency


# -- checking the figures ---------------------------------------------------------------------


def problems(
    everything: Mapping[str, Sequence[Record]], config: Config, today: dt.date
) -> list[Issue]:
    """Every assertion in the folder whose figure is not what it says, at the asserted key.

    Assertions that cannot be read are left to `validate`; so are documents whose money cannot
    be computed (their bad line or payment is reported with them)."""
    asserted = [
        assertion
        for name in FIGURES
        for rec in everything.get(name, ())
        if KEY in rec.data
        for assertion in parse(rec, config)[0]
    ]
    if not asserted:
        return []
    notes = list(everything.get("credit_note", ()))
    accounts = _Accounts(list(everything.get("invoice", ())), notes, config, today)
    per_invoice = by_invoice(notes)
    issues = []
    for assertion in asserted:
        rec = assertion.record
        if rec.type.name in PARTIES:
            actual: Decimal | None = accounts.figure(assertion)
        else:
            actual = _document_figure(assertion, per_invoice.get(rec.id, []), config, today)
        if actual is not None and actual != assertion.amount:
            issues.append(rec.issue(assertion.at, _message(assertion, actual)))
    return issues


def _document_figure(
    assertion: Assertion, notes: Sequence[Record], config: Config, today: dt.date
) -> Decimal | None:
    """A figure of a document's JSON; on an invoice, `on` bounds its payments and credit notes."""
    rec = assertion.record
    if rec.type.name != "invoice":
        notes = []
    elif assertion.on is not None:
        rec = _paid_by(rec, assertion.on)
        notes = [note for note in notes if _dated_by(note, assertion.on)]
    value = money_fields(rec, config, today, notes).get(assertion.figure)
    return None if value is None else Decimal(value)


class _Accounts:
    """The customers' figures of the billing reports, as of each day asked for (or now), for
    companies and for contacts apart: a contact's are those of invoices without a company."""

    def __init__(
        self, invoices: list[Record], notes: list[Record], config: Config, today: dt.date
    ) -> None:
        self.invoices = invoices
        self.notes = notes
        self.config = config
        self.today = today
        self._rows: dict[tuple[str, dt.date | None], dict[tuple[str, str, str], Decimal]] = {}

    def figure(self, assertion: Assertion) -> Decimal:
        key = (assertion.record.type.name, assertion.on)
        if key not in self._rows:
            self._rows[key] = self._figures(*key)
        wanted = (assertion.figure, assertion.record.id, assertion.currency)
        return self._rows[key].get(wanted, Decimal(0))

    def _figures(self, party: str, on: dt.date | None) -> dict[tuple[str, str, str], Decimal]:
        def billed(rec: Record) -> bool:
            return bool(rec.data.get("company")) == (party == "company")

        invoices = [rec for rec in self.invoices if billed(rec)]
        notes = [note for note in self.notes if billed(note)]
        if on is not None:
            invoices = [_paid_by(rec, on) for rec in invoices if _dated_by(rec, on)]
            notes = [note for note in notes if _dated_by(note, on)]
        day = on or self.today
        issued = revenue.issued_invoices(invoices, notes, self.config, day)
        credits = revenue.issued_credits(notes, self.config)
        out: dict[tuple[str, str, str], Decimal] = {}
        for row in revenue.receivables(issued, {}, day)["customers"]:
            out[("open", row["customer"], row["currency"])] = Decimal(row["total"])
        for row in revenue.customers(issued, credits, {}, self.config, day):
            out[("invoiced", row["customer"], row["currency"])] = Decimal(row["lifetime"])
            out[("paid", row["customer"], row["currency"])] = Decimal(row["paid"])
        return out


def _dated_by(rec: Record, day: dt.date) -> bool:
    """Whether a document was issued on or before `day`."""
    return _on_or_before(rec.data.get("issued"), day)


def _paid_by(rec: Record, day: dt.date) -> Record:
    """An invoice with only the payments dated on or before `day`."""
    payments = rec.data.get("payments")
    if not isinstance(payments, list):
        return rec
    kept = [p for p in payments if isinstance(p, Mapping) and _on_or_before(p.get("date"), day)]
    return dataclasses.replace(rec, data={**rec.data, "payments": kept})


def _on_or_before(value: Any, day: dt.date) -> bool:
    try:
        return dt.date.fromisoformat(str(value)) <= day
    except ValueError:
        return False


def _message(assertion: Assertion, actual: Decimal) -> str:
    """`the invoice totals 4,498.00 EUR, not 4,500.00 (2.00 less)`."""
    rec = assertion.record
    currency = assertion.currency
    digits = money.minor_units(currency)
    if assertion.figure == "paid":
        phrase = _PAID.get(rec.type.name, "the {label} has paid {actual}")
    else:
        phrase = _PHRASES[assertion.figure]
    said = phrase.format(label=_label(rec), actual=money.display(actual, currency))
    when = f"as of {assertion.on.isoformat()}, " if assertion.on else ""
    gap = actual - assertion.amount
    way = "more" if gap > 0 else "less"
    return f"{when}{said}, not {assertion.amount:,.{digits}f} ({abs(gap):,.{digits}f} {way})"
