"""The books: issued invoices, credit notes and payments as double-entry transactions, in the
journal formats of hledger and beancount (`crm export ledger`).

An invoice debits the customer's receivable with its total and credits revenue and tax payable
per tax rate; a credit note is the reverse; a payment debits the bank and credits the
receivable. A payment or credit note beyond what an invoice still carries (an overpayment, a
credit note after full payment) goes to the customer's credit, a liability, so that each
customer's receivable is exactly what `crm report receivables` shows as open.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from crm import money
from crm.config import Config
from crm.errors import ValidationError
from crm.models import Issue
from crm.records import Record

FORMATS = ("hledger", "beancount")
ZERO = Decimal(0)

# Account names, as templates: {customer} is the customer's name, {rate} the tax rate in
# percent (19, 7.7), {currency} the document's currency code.
DEFAULT_ACCOUNTS: dict[str, str] = {
    "receivable": "Assets:Receivable:{customer}",
    "customer_credit": "Liabilities:Customer-Credit:{customer}",
    "bank": "Assets:Bank",
    "revenue": "Income:Sales:{rate}%",
    "tax": "Liabilities:VAT:{rate}%",
    "exempt": "Income:Sales:Exempt",
    "reverse_charge": "Income:Sales:Reverse-Charge",
    "small_business": "Income:Sales:Small-Business",
}
PLACEHOLDERS: dict[str, frozenset[str]] = {
    key: frozenset({"currency"})
    | ({"customer"} if "{customer}" in template else set())
    | ({"rate"} if "{rate}" in template else set())
    for key, template in DEFAULT_ACCOUNTS.items()
}
_PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")


# -- settings (crm.yaml `ledger:`) -------------------------------------------------------------


def parse_settings(raw: Any, problem: Callable[[str, str], None]) -> dict[str, Any]:
    """The account names of crm.yaml's `ledger:` that are valid; `problem(key, message)` is told
    about the others (and they keep their defaults)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problem("ledger", "must map accounts (receivable, bank, revenue, ...) to their names")
        return {}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        where = f"ledger.{key}"
        if key == "methods":
            if not isinstance(value, dict):
                problem(where, "must map payment methods to accounts, e.g. {cash: Assets:Cash}")
                continue
            methods = {}
            for method, account in value.items():
                message = template_problem(account, frozenset({"currency"}))
                if message:
                    problem(f"{where}.{method}", message)
                else:
                    methods[str(method).strip().casefold()] = str(account)
            out["methods"] = methods
            continue
        if key not in DEFAULT_ACCOUNTS:
            known = ", ".join([*DEFAULT_ACCOUNTS, "methods"])
            problem(where, f"is not one of: {known}")
            continue
        message = template_problem(value, PLACEHOLDERS[key])
        if message:
            problem(where, message)
        else:
            out[key] = value
    return out


def template_problem(value: Any, allowed: frozenset[str]) -> str | None:
    """Why `value` is not an account name template, or None."""
    if not isinstance(value, str) or not value.strip():
        return "must be an account name, e.g. Assets:Bank"
    if any(unicodedata.category(c)[0] == "C" for c in value):
        return "an account name is one line of text"
    for name in _PLACEHOLDER_RE.findall(value):
        if name not in allowed:
            usable = ", ".join(f"{{{p}}}" for p in sorted(allowed))
            return f"{{{name}}} is not known here; use {usable}"
    rest = _PLACEHOLDER_RE.sub("", value)
    if "{" in rest or "}" in rest:
        return "has a brace that is no {placeholder}"
    parts = [p.strip() for p in value.split(":")]
    if len(parts) < 2 or not all(parts):
        return "needs at least two parts separated by ':' (Assets:Bank), none empty"
    if not parts[0][0].isalpha() or "{" in parts[0]:
        return "must start with a top-level account such as Assets, Liabilities or Income"
    return None


@dataclass(frozen=True, slots=True)
class Accounts:
    """The account name templates in force: crm.yaml's `ledger:` over the defaults."""

    names: Mapping[str, str]
    methods: Mapping[str, str]

    @classmethod
    def of(cls, config: Config) -> Accounts:
        settings = dict(config.ledger)
        methods = settings.pop("methods", {})
        return cls({**DEFAULT_ACCOUNTS, **settings}, dict(methods))


# -- account names in each format -----------------------------------------------------------------


def _one_line(text: str) -> str:
    """`text` on one line: control characters and runs of white space become one space."""
    cleaned = "".join(" " if unicodedata.category(c)[0] in "CZ" else c for c in text)
    return " ".join(cleaned.split())


def _hledger_part(text: str) -> str:
    """A part of an hledger account name: single spaces only (two end the name), no `;`."""
    return _one_line(text).replace(";", ",")


def _beancount_part(text: str) -> str:
    """A part of a beancount account name: it starts with a capital letter or a digit and holds
    only letters, digits and hyphens (`Bäckerei-Jansen`, `19`); empty when nothing is left."""
    text = unicodedata.normalize("NFKC", text).replace("%", "")
    kept = "".join(
        c if unicodedata.category(c)[0] == "L" or unicodedata.category(c) == "Nd" else "-"
        for c in text
    )
    kept = re.sub(r"-+", "-", kept).strip("-")
    if not kept or unicodedata.category(kept[0]) in ("Lu", "Nd"):
        return kept
    upper = kept[0].upper()
    if len(upper) == 1 and unicodedata.category(upper) == "Lu":
        return upper + kept[1:]
    if kept.isascii():
        return ""
    from anyascii import anyascii  # 株式会社 has no capital: ZhuShiHuiShe

    return _beancount_part(anyascii(kept))


def _part(text: str, fmt: str) -> str:
    return _beancount_part(text) if fmt == "beancount" else _hledger_part(text)


def account_name(template: str, fmt: str, **values: str) -> str:
    """The account `template` names, its placeholders filled in, valid in format `fmt`."""
    filled = _PLACEHOLDER_RE.sub(
        lambda m: values.get(m.group(1), m.group(0)).replace(":", "-"), template
    )
    parts = [_part(p, fmt) for p in filled.split(":")]
    return ":".join(p or "X" for p in parts)


def customer_parts(customers: Sequence[tuple[str, str]], fmt: str) -> dict[str, str]:
    """Per customer id, the part of its account names that names it, unique among them.

    `customers` are (id, name) pairs in the order they first appear in the books. A customer
    whose name (as the format writes it) an earlier one already has gets its id added:
    `Acme (acme-2)` in hledger, `Acme-acme-2` in beancount. So the first keeps its plain name
    whatever namesakes come later, and two customers never share an account.
    """
    out: dict[str, str] = {}
    taken: set[str] = set()
    for cid, name in customers:
        plain = _part(name.replace(":", "-"), fmt)
        candidates = [plain] if plain else []
        with_id = f"{name} ({cid})" if fmt == "hledger" else f"{name}-{cid}"
        candidates.append(_part(with_id.replace(":", "-"), fmt) or _part(f"C-{cid}", fmt))
        chosen = next((c for c in candidates if c.casefold() not in taken), None)
        n = 2
        while chosen is None or chosen.casefold() in taken:
            chosen = f"{candidates[-1]}-{n}"
            n += 1
        taken.add(chosen.casefold())
        out[cid] = chosen
    return out


# -- transactions ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Posting:
    account: str
    amount: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class Transaction:
    date: dt.date
    code: str  # the document's number: the invoice's for its payments
    kind: str  # invoice, credit_note or payment
    order: int  # the payment's place among its invoice's payments
    payee: str  # the customer's name
    narration: str
    invoice: str  # the number of the invoice it belongs to
    meta: tuple[tuple[str, str], ...]
    postings: tuple[Posting, ...]

    def sort_key(self) -> tuple[Any, ...]:
        return _order(self)


_KINDS = {"invoice": 0, "credit_note": 1, "payment": 2}


def _order(item: Transaction | _Event) -> tuple[Any, ...]:
    """Date, then number (an invoice before its credit notes and payments of the same day)."""
    return (item.date, natural_key(item.code), _KINDS[item.kind], item.order)


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """`2026-9` before `2026-10`: runs of digits compare as numbers."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", text) if part
    )


@dataclass(frozen=True, slots=True)
class _Event:
    """A document or payment before its receivable is split: `amount` is what it adds to the
    customer's balance on the invoice (the invoice's total; minus a credit note or payment)."""

    date: dt.date
    code: str
    kind: str
    order: int
    narration: str
    meta: tuple[tuple[str, str], ...]
    amount: Decimal
    others: tuple[tuple[str, Decimal], ...]  # (account, amount) of the other postings


def _date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return None


def _split(postings: list[tuple[str, Decimal]]) -> list[tuple[str, Decimal]]:
    """Postings to the same account added up, in the order they first appear; zeros left out."""
    sums: dict[str, Decimal] = {}
    for account, amount in postings:
        sums[account] = sums.get(account, ZERO) + amount
    return [(a, v) for a, v in sums.items() if v != 0]


def transactions(
    invoices: Sequence[Record],
    credit_notes: Sequence[Record],
    names: Mapping[str, str],
    config: Config,
    fmt: str,
    today: dt.date,
) -> tuple[list[Transaction], list[Issue]]:
    """Every issued invoice, issued credit note and payment as a transaction, in date and
    number order, and what was left out and why (the documents `crm report receivables` also
    leaves out, and payments or credit notes without a date)."""
    from crm import revenue
    from crm.documents import currency_of, money_problem, regime_of, totals_of

    accounts = Accounts.of(config)
    skipped: list[Issue] = []
    issued = revenue.issued_invoices(invoices, credit_notes, config, today, skipped)
    by_id = {inv.record.id: inv for inv in issued}
    events: dict[str, list[_Event]] = {inv.record.id: [] for inv in issued}

    def revenue_postings(rec: Record, sign: int) -> tuple[tuple[str, Decimal], ...]:
        totals = totals_of(rec, config)
        regime = regime_of(rec, config)
        currency = totals.currency
        out: list[tuple[str, Decimal]] = []
        for group in totals.groups:
            rate = str(money.plain(group.rate))
            if regime in ("reverse_charge", "small_business"):
                key = regime
            elif group.exempt:
                key = "exempt"
            else:
                key = "revenue"
            name = account_name(accounts.names[key], fmt, rate=rate, currency=currency)
            out.append((name, sign * group.taxable))
            if group.tax and key == "revenue":
                tax = account_name(accounts.names["tax"], fmt, rate=rate, currency=currency)
                out.append((tax, sign * group.tax))
        return tuple(out)

    for inv in issued:
        rec = inv.record
        events[rec.id].append(
            _Event(
                date=inv.issued,
                code=inv.number,
                kind="invoice",
                order=0,
                narration=rec.title,
                meta=(("invoice", inv.number),),
                amount=inv.total,
                others=revenue_postings(rec, -1),
            )
        )
        payments = rec.data.get("payments")
        for i, payment in enumerate(payments if isinstance(payments, list) else [], 1):
            if not isinstance(payment, Mapping) or payment.get("amount") is None:
                continue
            amount = money.parse_amount(str(payment["amount"]))  # read before, by revenue
            day = _date(payment.get("date"))
            if day is None:
                message = f"payment {i}: '{payment.get('date')}' is not a date (YYYY-MM-DD)"
                skipped.append(rec.issue("payments", message, at=f"payments.{i - 1}"))
                continue
            method = str(payment.get("method") or "").strip()
            template = accounts.methods.get(method.casefold(), accounts.names["bank"])
            meta = [("invoice", inv.number)]
            if method:
                meta.append(("method", method))
            if payment.get("reference"):
                meta.append(("reference", str(payment["reference"])))
            events[rec.id].append(
                _Event(
                    date=day,
                    code=inv.number,
                    kind="payment",
                    order=i,
                    narration=f"Payment of invoice {inv.number}",
                    meta=tuple(meta),
                    amount=-amount,
                    others=((account_name(template, fmt, currency=inv.currency), amount),),
                )
            )
    for note in credit_notes:
        if note.data.get("status") != "issued":
            continue
        target = by_id.get(str(note.data.get("invoice")))
        day = _date(note.data.get("issued"))
        if target is None:
            message = f"'{note.data.get('invoice')}' is no issued invoice that is exported"
            skipped.append(note.issue("invoice", message))
            continue
        if day is None:
            skipped.append(note.issue("issued", "is not a date (YYYY-MM-DD)"))
            continue
        try:
            gross = totals_of(note, config).gross
            others = revenue_postings(note, 1)
        except ValidationError:
            skipped.append(money_problem(note, config) or note.issue("lines", "do not compute"))
            continue
        number = str(note.data.get("number") or note.id)
        if currency_of(note, config) != target.currency:
            message = f"is in {currency_of(note, config)}, its invoice in {target.currency}"
            skipped.append(note.issue("currency", message))
            continue
        events[target.record.id].append(
            _Event(
                date=day,
                code=number,
                kind="credit_note",
                order=0,
                narration=note.title,
                meta=(("credit_note", number), ("invoice", target.number)),
                amount=-gross,
                others=others,
            )
        )

    first_seen: dict[str, dt.date] = {}
    for inv in issued:
        if inv.customer not in first_seen or inv.issued < first_seen[inv.customer]:
            first_seen[inv.customer] = inv.issued
    customers = sorted(first_seen, key=lambda cid: (first_seen[cid], cid))
    shown = {cid: names.get(cid) or cid or "Unknown customer" for cid in customers}
    parts = customer_parts([(cid, shown[cid]) for cid in customers], fmt)

    out: list[Transaction] = []
    for invoice_id, found in events.items():
        inv = by_id[invoice_id]
        customer = parts[inv.customer]
        receivable = account_name(
            accounts.names["receivable"], fmt, customer=customer, currency=inv.currency
        )
        credit = account_name(
            accounts.names["customer_credit"], fmt, customer=customer, currency=inv.currency
        )
        # the invoice first, then what reduces it in date order: the receivable never goes
        # below zero (as `amount_due` does not); the rest is the customer's credit
        ordered = [found[0], *sorted(found[1:], key=_order)]
        balance = ZERO
        for event in ordered:
            before = max(balance, ZERO)
            balance += event.amount
            on_receivable = max(balance, ZERO) - before
            own = [(receivable, on_receivable), (credit, event.amount - on_receivable)]
            # the debit first: the receivable of an invoice, the bank of a payment
            lines = own + list(event.others) if event.kind == "invoice" else [*event.others, *own]
            postings = _split(lines)
            if not postings:
                continue
            out.append(
                Transaction(
                    date=event.date,
                    code=event.code,
                    kind=event.kind,
                    order=event.order,
                    payee=shown[inv.customer],
                    narration=event.narration,
                    invoice=inv.number,
                    meta=event.meta,
                    postings=tuple(Posting(a, v, inv.currency) for a, v in postings),
                )
            )
    out.sort(key=Transaction.sort_key)
    return out, skipped


# -- writing ---------------------------------------------------------------------------------------


def amount_text(value: Decimal, currency: str) -> str:
    """`1190.00 EUR`, `-12000 JPY`: the currency's minor units, no grouping, code after."""
    exp = Decimal(1).scaleb(-money.minor_units(currency))
    return f"{value.quantize(exp) + 0:f} {currency}"


def write(found: Sequence[Transaction], fmt: str) -> str:
    """The journal of `found` in format `fmt` (hledger or beancount)."""
    if fmt == "beancount":
        return _beancount(found)
    return _hledger(found)


def _hledger_text(text: str) -> str:
    """Free text for a transaction's line: one line, no `;` (which starts a comment)."""
    return _one_line(text).replace(";", ",")


def _tag(name: str, value: str) -> str:
    """An hledger tag: its value ends at a comma, so commas become semicolons."""
    return f"{name}:{_one_line(value).replace(',', ';')}"


def _hledger(found: Sequence[Transaction]) -> str:
    lines = [
        "; Invoices, credit notes and payments from crm (`crm export ledger`).",
        "; Made anew by every export: include this file from your journal, do not edit it.",
        "decimal-mark .",
        "",
    ]
    posting = _posting_lines(found, "    ")
    for t in found:
        code = _one_line(t.code).replace(")", "]").replace("(", "[")
        payee = _hledger_text(t.payee).replace("|", "/")
        lines.append(f"{t.date.isoformat()} ({code}) {payee} | {_hledger_text(t.narration)}")
        lines.extend(f"    ; {_tag(name, value)}" for name, value in t.meta)
        lines.extend(posting(t))
        lines.append("")
    return "\n".join(lines)


def _posting_lines(found: Sequence[Transaction], indent: str) -> Callable[[Transaction], list[str]]:
    """How the postings of a transaction are written: accounts in one column, amounts
    right-aligned in the next, alike throughout the file."""
    width = max((len(p.account) for t in found for p in t.postings), default=0) + 4
    amounts = [amount_text(p.amount, p.currency) for t in found for p in t.postings]
    amount_width = max((len(a) for a in amounts), default=0)

    def lines(t: Transaction) -> list[str]:
        return [
            indent + p.account.ljust(width) + amount_text(p.amount, p.currency).rjust(amount_width)
            for p in t.postings
        ]

    return lines


def _quoted(text: str) -> str:
    return '"' + _one_line(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _link(number: str) -> str:
    """A beancount link for an invoice number: `^inv-2026-0020`."""
    return "^inv-" + (re.sub(r"[^A-Za-z0-9_/.-]+", "-", number).strip("-") or "none")


def _beancount(found: Sequence[Transaction]) -> str:
    lines = [
        "; Invoices, credit notes and payments from crm (`crm export ledger`).",
        "; Made anew by every export: include this file from your ledger, do not edit it.",
        "",
    ]
    opened: dict[str, dt.date] = {}
    for t in found:
        for p in t.postings:
            opened.setdefault(p.account, t.date)
    for account, day in sorted(opened.items(), key=lambda kv: (kv[1], kv[0])):
        lines.append(f"{day.isoformat()} open {account}")
    if opened:
        lines.append("")
    posting = _posting_lines(found, "  ")
    for t in found:
        head = f"{t.date.isoformat()} * {_quoted(t.payee)} {_quoted(t.narration)} "
        lines.append(head + _link(t.invoice))
        lines.extend(f"  {name}: {_quoted(value)}" for name, value in t.meta)
        lines.extend(posting(t))
        lines.append("")
    return "\n".join(lines)


def since(found: Sequence[Transaction], day: dt.date | None) -> list[Transaction]:
    """The transactions on or after `day` (all of them for None)."""
    return [t for t in found if day is None or t.date >= day]
