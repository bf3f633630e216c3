"""Line and tax arithmetic checked against totals computed by hand."""

from __future__ import annotations

from decimal import Decimal

import pytest

from crm.billing import compute, invoice_status, parse_rate
from crm.errors import ValidationError


def line(price: str, qty: str = "1", tax: str | None = "19", **more: str) -> dict[str, str]:
    out = {"text": "item", "quantity": qty, "price": price, **more}
    if tax is not None:
        out["tax"] = tax
    return out


def test_tax_is_rounded_once_per_rate_not_per_line():
    # 7 x 0.99 = 6.93; 6.93 x 19 % = 1.3167 -> 1.32 (per line: 7 x 0.19 = 1.33)
    lines = [line("0.99") for _ in range(7)]
    totals = compute(lines, "EUR")
    assert (totals.net, totals.tax, totals.gross) == (
        Decimal("6.93"),
        Decimal("1.32"),
        Decimal("8.25"),
    )
    per_line = compute(lines, "EUR", per_line=True)
    assert per_line.tax == Decimal("1.33")
    assert per_line.groups[0].tax == per_line.tax  # still adds up per rate


def test_line_net_rounds_half_up_after_the_discount():
    # 3 x 33.33 = 99.99, less 10 % = 89.991 -> 89.99; 19 % = 17.0981 -> 17.10
    totals = compute([line("33.33", "3", discount="10")], "EUR")
    assert totals.lines[0].net == Decimal("89.99")
    assert (totals.tax, totals.gross) == (Decimal("17.10"), Decimal("107.09"))
    # 0.125 rounds half up to 0.13 (half-even would give 0.12)
    assert compute([line("0.125", tax="0")], "EUR").gross == Decimal("0.13")


def test_mixed_rates_and_an_exempt_line():
    totals = compute(
        [
            line("100.00"),
            line("25.00", "2", tax="7"),
            line("10.00", exempt="insurance, art. 135(1)(a)"),
        ],
        "EUR",
    )
    groups = {(g.rate, g.exempt): (g.taxable, g.tax) for g in totals.groups}
    assert groups == {
        (Decimal(19), None): (Decimal("100.00"), Decimal("19.00")),
        (Decimal(7), None): (Decimal("50.00"), Decimal("3.50")),
        (Decimal(0), "insurance, art. 135(1)(a)"): (Decimal("10.00"), Decimal("0.00")),
    }
    assert (totals.net, totals.tax, totals.gross) == (
        Decimal("160.00"),
        Decimal("22.50"),
        Decimal("182.50"),
    )


@pytest.mark.parametrize(
    ("regime", "note"), [("reverse_charge", "reverse charge"), ("small_business", "small business")]
)
def test_reverse_charge_and_small_business_carry_no_tax(regime: str, note: str):
    totals = compute([line("1000.00"), line("50.00", tax="7")], "EUR", regime=regime)
    assert totals.tax == Decimal("0.00")
    assert totals.gross == Decimal("1050.00")
    assert [(g.rate, g.exempt) for g in totals.groups] == [(Decimal(0), note)]


def test_currencies_round_to_their_minor_units():
    # JPY has no minor unit: 3 x 333 = 999; 10 % = 99.9 -> 100
    yen = compute([line("333", "3", tax="10")], "JPY")
    assert (yen.net, yen.tax, yen.gross) == (Decimal(999), Decimal(100), Decimal(1099))
    assert str(yen.gross) == "1099"
    # KWD has three: 1.2345 -> 1.235
    dinar = compute([line("1.2345", tax="0")], "KWD")
    assert str(dinar.gross) == "1.235"


def test_a_default_rate_applies_to_lines_without_one():
    totals = compute([line("100.00", tax=None)], "EUR", default_rate=Decimal(19))
    assert totals.tax == Decimal("19.00")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"quantity": "1", "price": "5"}, "line 1: a line needs a text"),
        ({"text": "x", "quantity": "1"}, "line 1: a line needs a price"),
        ({"text": "x", "price": "1,5"}, "line 1: price: '1,5' is not a number"),
        ({"text": "x", "price": "1", "discount": "150"}, "not a percentage"),
        ({"text": "x", "price": "1", "tax": "abc"}, "'abc' is not a tax rate"),
    ],
)
def test_bad_lines_name_the_line(raw: dict[str, str], message: str):
    with pytest.raises(ValidationError, match=message.replace("(", r"\(")):
        compute([raw], "EUR")


def test_rates_are_percentages():
    assert parse_rate("19%") == Decimal(19)
    assert parse_rate("7.7") == Decimal("7.7")
    with pytest.raises(ValidationError):
        parse_rate("101")


def test_status_follows_payments_credit_notes_and_the_due_date():
    import datetime as dt

    issued = {"status": "issued", "due": "2026-12-01"}
    before, after = dt.date(2026, 11, 20), dt.date(2026, 12, 2)
    total = Decimal("100.00")
    assert invoice_status({"status": "draft"}, total, Decimal(0), Decimal(0), after) == "draft"
    assert invoice_status(issued, total, Decimal(0), Decimal(0), before) == "issued"
    assert invoice_status(issued, total, Decimal(40), Decimal(0), before) == "partially_paid"
    assert invoice_status(issued, total, Decimal(40), Decimal(0), after) == "overdue"
    assert invoice_status(issued, total, Decimal(40), Decimal(60), after) == "paid"
    assert invoice_status(issued, total, Decimal(0), Decimal(100), after) == "credited"
    assert invoice_status(issued, total, Decimal(100), Decimal(0), after) == "paid"
