"""Exact money: Decimal amounts, ISO 4217 currencies and their minor units."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache

from crm.errors import ValidationError

_AMOUNT_RE = re.compile(r"[-+]?[0-9]+(?:\.[0-9]+)?")
MAX_DIGITS = 15  # before the decimal point: totals of 100,000 such amounts stay exact


def parse_amount(text: str) -> Decimal:
    """`"4500"`, `"4500.50"`, `"-12.5"` as Decimal; anything else (`1,000`, `1e3`) is refused."""
    cleaned = text.strip()
    if not _AMOUNT_RE.fullmatch(cleaned):
        raise ValidationError(
            f"'{text}' is not an amount", hint="write digits with an optional '.', e.g. 4500.00"
        )
    amount = Decimal(cleaned)
    if amount.adjusted() >= MAX_DIGITS:
        raise ValidationError(f"{text} is too large an amount (at most {MAX_DIGITS} digits)")
    return amount


@cache
def _known_currencies() -> frozenset[str]:
    from babel.numbers import list_currencies

    return frozenset(list_currencies())


# ISO 4217 codes that are no money one invoices in: precious metals, bond-market and drawing
# units, the testing code and "no currency".
_NOT_MONEY = frozenset(
    {"XAG", "XAU", "XPD", "XPT", "XBA", "XBB", "XBC", "XBD", "XDR", "XSU", "XUA", "XTS", "XXX"}
    | {"XEU", "XFO", "XFU", "XRE"}
)


def normalize_currency(code: str) -> str:
    """An ISO 4217 code in upper case; an unknown code, or one that is no money (XXX, XAU,
    XTS, ...), is refused."""
    upper = code.strip().upper()
    if len(upper) != 3 or upper not in _known_currencies():
        raise ValidationError(f"'{code}' is not an ISO 4217 currency code", hint="e.g. EUR, USD")
    if upper in _NOT_MONEY:
        raise ValidationError(
            f"'{code}' is an ISO 4217 code, but not of a currency one is paid in",
            hint="e.g. EUR, USD",
        )
    return upper


# ISO 4217 minor units where they are not 2 (list one, 2024). The standard rather than CLDR's
# display precision, which differs for some (ISK, IRR): invoices follow ISO 4217.
_MINOR_UNITS = {
    **dict.fromkeys(
        [
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ],
        0,
    ),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    **dict.fromkeys(["CLF", "UYW"], 4),
}


def minor_units(currency: str) -> int:
    """Digits after the decimal point: 2 for EUR, 0 for JPY, 3 for KWD."""
    return _MINOR_UNITS.get(currency.upper(), 2)


def to_money(amount: Decimal, currency: str) -> str:
    """`amount` written with exactly the currency's minor units; never rounds.

    An amount with more decimals than the currency has (12.345 EUR) is refused rather than
    silently rounded.
    """
    exp = Decimal(1).scaleb(-minor_units(currency))
    try:
        quantized = amount.quantize(exp)
    except InvalidOperation as exc:  # more digits than Decimal's 28 of precision
        raise ValidationError(f"{amount} is too large an amount") from exc
    if quantized != amount:
        raise ValidationError(
            f"{amount} has more decimals than {currency} allows ({minor_units(currency)})"
        )
    return str(quantized)


def plain(value: Decimal) -> Decimal:
    """`value` without trailing zeros and never in exponent form: 20, 7.7, 0.5, 100 (where
    `normalize()` would give 2E+1 and 1E+2)."""
    if value == 0:
        return Decimal(0)
    normal = value.normalize()
    return normal.quantize(Decimal(1)) if normal == normal.to_integral_value() else normal


def round_to(amount: Decimal, currency: str) -> Decimal:
    """`amount` rounded half up (as EN 16931 rounds) to the currency's minor units."""
    try:
        return amount.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUND_HALF_UP)
    except InvalidOperation as exc:  # more digits than Decimal's 28 of precision
        raise ValidationError(f"{amount} is too large an amount") from exc


def display(amount: Decimal | str, currency: str) -> str:
    """An amount for people: `12,000.00 EUR` (grouped, the currency's minor units)."""
    value = Decimal(amount) if isinstance(amount, str) else amount
    return f"{value:,.{minor_units(currency)}f} {currency}"


def display_totals(totals: dict[str, str] | dict[str, Decimal]) -> str:
    """Per-currency totals joined: `12,000.00 EUR + 900.00 CHF`; `0` when there are none."""
    if not totals:
        return "0"
    return " + ".join(display(Decimal(str(v)), c) for c, v in sorted(totals.items()))
