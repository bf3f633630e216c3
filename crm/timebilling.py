"""Tracked time to invoice lines: which entries a customer owes for a period, how their hours
are rounded, and the lines they make (one per project, day or entry)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from crm import money
from crm.dates import local_zone, parse_timestamp
from crm.errors import ValidationError
from crm.records import Record
from crm.timetrack import TimeSettings, hours_text, is_billed, parse_hours
from crm.when import Period

GROUPS = ("project", "day", "entry")
HOUR_UNITS = frozenset({"hour", "hours", "h", "hr", "hrs", "stunde", "stunden", "std"})
_MODES = {"nearest": ROUND_HALF_UP, "up": ROUND_CEILING, "down": ROUND_FLOOR}


def round_hours(hours: Decimal, step: Decimal, mode: str) -> Decimal:
    """`hours` in whole multiples of `step`: to the nearest (halves up), up or down."""
    units = (hours / step).to_integral_value(rounding=_MODES[mode])
    return units * step


def entry_day(data: Mapping[str, Any]) -> dt.date | None:
    """The day an entry started, in the user's time zone."""
    moment = parse_timestamp(data.get("start"))
    return None if moment is None else moment.astimezone(local_zone()).date()


def belongs(data: Mapping[str, Any], who: Mapping[str, str]) -> bool:
    """Whether an entry is billed to `who`, a document's `company`/`contact`: to the contact
    when it names one, else to the company."""
    if who.get("contact"):
        return data.get("contact") == who["contact"]
    return bool(who.get("company")) and data.get("company") == who["company"]


def unbilled(records: Sequence[Record], who: Mapping[str, str], period: Period) -> list[Record]:
    """The customer's billable entries of the period that no invoice has billed, by start."""
    found = [
        rec
        for rec in records
        if rec.data.get("billable") is not False
        and not is_billed(rec.data)
        and belongs(rec.data, who)
        and entry_day(rec.data) in period
    ]
    return sorted(found, key=lambda rec: (str(entry_day(rec.data)), str(rec.data.get("start"))))


def invoice_lines(
    entries: Sequence[Record],
    products: Mapping[str, Record],
    settings: TimeSettings,
    *,
    group: str,
    period: Period,
    currency: str,
    default_currency: str,
) -> list[dict[str, Any]]:
    """The lines that bill `entries` (sorted by start): hours (each entry's rounded as
    crm.yaml says, then added up) at the entry's rate, else its product's price."""
    from crm.invoicing import line_entry

    if group not in GROUPS:
        raise ValidationError(f"'{group}' is not a grouping", hint=", ".join(GROUPS))
    groups: dict[tuple[Any, ...], list[tuple[Record, Decimal]]] = {}
    priced: dict[tuple[Any, ...], tuple[Record | None, Decimal | None]] = {}
    for rec in entries:
        hours = parse_hours(rec.data.get("hours"))
        if hours is None:
            raise ValidationError(
                f"{rec.path}: hours: '{rec.data.get('hours')}' is not a number of hours",
                hint="mend it (`crm check`), then bill again",
            )
        product, rate = _price(rec, products)
        day = entry_day(rec.data)
        key: tuple[Any, ...] = {
            "project": (rec.data.get("project") or "",),
            "day": (day,),
            "entry": (rec.id,),
        }[group] + (product.id if product else None, rate)
        groups.setdefault(key, []).append(
            (rec, round_hours(hours, settings.step, settings.rounding))
        )
        priced[key] = (product, rate)
    lines = []
    for key, members in groups.items():
        quantity = sum((hours for _, hours in members), Decimal(0))
        if quantity == 0:
            continue  # rounded away: billed, at nothing
        product, rate = priced[key]
        lines.append(
            line_entry(
                currency=currency,
                default_currency=default_currency,
                product=product,
                text=_text([rec for rec, _ in members], product, group, period),
                quantity=hours_text(quantity),
                price=format(rate, "f") if rate is not None else None,
                unit="hour",
            )
        )
    return lines


def _price(rec: Record, products: Mapping[str, Record]) -> tuple[Record | None, Decimal | None]:
    """The entry's product and its own rate (None: the product's price applies)."""
    product_id = rec.data.get("product")
    product = products.get(str(product_id)) if product_id else None
    if product_id and product is None:
        raise ValidationError(
            f"time entry {rec.id} is billed as product '{product_id}', which does not exist",
            hint=f"crm time set {rec.id} product=... (or fix the rule in crm.yaml)",
        )
    if rec.data.get("rate") is not None:
        return product, money.parse_amount(str(rec.data["rate"]))
    if product is None or product.data.get("price") is None:
        raise ValidationError(
            f"time entry {rec.id} has no rate"
            + (f": product {product.id} has no price" if product else ""),
            hint="give its rule in crm.yaml a rate or a product with a price, "
            f"or `crm time set {rec.id} rate=95`",
        )
    unit = str(product.data.get("unit") or "hour").strip().casefold()
    if unit not in HOUR_UNITS:
        raise ValidationError(
            f"time entry {rec.id}: product {product.id} is priced per {unit}, not per hour",
            hint="bill it as a product priced per hour, or give the rule a rate",
        )
    return product, None


def _text(members: Sequence[Record], product: Record | None, group: str, period: Period) -> str:
    """A line's text: what was done (the product's name, the project) and when."""
    projects: list[str] = []
    for rec in members:
        project = rec.data.get("project")
        if project and str(project) not in projects:
            projects.append(str(project))
    what = " – ".join(
        part for part in (product.title if product else "", ", ".join(projects)) if part
    )
    day = entry_day(members[0].data)
    if group == "project":
        return f"{what or 'Time'}, {period.label}"
    if group == "day":
        return f"{what or 'Time'}, {day}"
    description = members[0].data.get("description")
    if description:
        return f"{what}: {description}, {day}" if what else f"{description}, {day}"
    return f"{what or 'Time'}, {day}"
