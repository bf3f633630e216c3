"""`crm invoice new --from-time`: a draft invoice whose lines bill tracked time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from crm.commands._records import scan
from crm.context import app_context
from crm.errors import UsageError
from crm.models import PRODUCT, TIME
from crm.records import Edit, Record
from crm.when import Period

if TYPE_CHECKING:
    from crm.store.repo import Transaction


class NothingToBill(Exception):  # not an error: nothing is made, and the exit code is 0
    """The customer has no unbilled billable time in the period."""


@dataclass(slots=True)
class TimeBill:
    """The entries one invoice bills: chosen and priced within its transaction (`lines`),
    then marked billed by it once it has its id (`mark`)."""

    period: Period
    group: str
    entries: list[Record] = field(default_factory=list)

    @classmethod
    def of(cls, *, from_time: bool, period: str | None, group: str | None) -> TimeBill:
        from crm.timebilling import GROUPS
        from crm.when import parse_period

        if not from_time:
            raise UsageError("--period and --group go with --from-time")
        if not period:
            raise UsageError("--from-time needs --period, e.g. --period 2026-11")
        chosen = group or "project"
        if chosen not in GROUPS:
            raise UsageError(f"--group '{group}' is not one of: {', '.join(GROUPS)}")
        return cls(parse_period(period), chosen)

    def lines(self, tx: Transaction, planned: dict[str, Any]) -> Sequence[Edit]:
        """The invoice's lines; NothingToBill when the customer owes no time for the period."""
        from crm.timebilling import invoice_lines, unbilled
        from crm.timetrack import TimeSettings

        ctx = app_context()
        who = {k: str(planned[k]) for k in ("company", "contact") if planned.get(k)}
        self.entries = unbilled(scan(ctx, TIME), who, self.period)
        if not self.entries:
            name = who.get("contact") or who.get("company")
            raise NothingToBill(f"nothing unbilled for {name} in {self.period.label}")
        products = {rec.id: rec for rec in scan(ctx, PRODUCT, quiet=True)}
        currency = str(planned.get("currency") or ctx.config.currency)
        lines = invoice_lines(
            self.entries,
            products,
            ctx.config.time or TimeSettings(),
            group=self.group,
            period=self.period,
            currency=currency,
            default_currency=ctx.config.currency,
        )
        return [Edit("set", ("lines",), lines)]

    def mark(self, tx: Transaction, invoice: str) -> None:
        """Mark every entry billed by `invoice`, in the same transaction."""
        for rec in self.entries:
            tx.update(rec, [Edit("set", ("invoice",), invoice)])
