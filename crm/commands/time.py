"""crm time: tracked time from Toggl Track, Clockify, timewarrior and timeclock files, mapped to
customers by crm.yaml's rules, and listed for billing (`crm invoice new --from-time`)."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from crm import output
from crm.commands._options import (
    DryRunOpt,
    FormatOpt,
    LimitOpt,
    SortOpt,
    TagFilterOpt,
    WhereOpt,
)
from crm.commands._records import find, record_app, scan, select
from crm.context import AppContext, app_context
from crm.errors import ConfigError, CrmError, DataError, UsageError
from crm.models import PRODUCT, TIME
from crm.records import Edit, Record, new_record

if TYPE_CHECKING:
    from crm.store.repo import Transaction
    from crm.timetrack import TimeRule, TimeSettings, Tracked

REPORT_COLUMNS = ["action", "id", "start", "hours", "customer", "project", "source"]
LIST_COLUMNS = ["id", "start", "hours", "customer", "project", "description", "invoice"]


class Mapper:
    """crm.yaml's time rules, with the customers and products they name looked up once."""

    def __init__(self, ctx: AppContext) -> None:
        from crm.timetrack import TimeSettings

        self.ctx = ctx
        self.settings: TimeSettings = ctx.config.time or TimeSettings()
        self._found: dict[str, tuple[dict[str, str] | None, str | None]] = {}

    def values(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        """The fields the first rule that matches `entry` sets (none when none matches)."""
        from crm.timetrack import rule_values

        rule = self.settings.rule_for(entry)
        if rule is None:
            return {}
        if rule.key not in self._found:
            self._found[rule.key] = (self._customer(rule), self._product(rule))
        who, product = self._found[rule.key]
        return rule_values(rule, who, product)

    def _customer(self, rule: TimeRule) -> dict[str, str] | None:
        from crm.commands._documents import customer_values

        if rule.customer is None:
            return None
        try:
            return customer_values(self.ctx, rule.customer)
        except CrmError as exc:
            raise ConfigError(f"crm.yaml: {rule.key}.customer: {exc}") from None

    def _product(self, rule: TimeRule) -> str | None:
        if rule.product is None:
            return None
        try:
            return find(self.ctx, PRODUCT, rule.product).id
        except CrmError as exc:
            raise ConfigError(f"crm.yaml: {rule.key}.product: {exc}") from None


def _changes(rec: Record, wanted: Mapping[str, Any]) -> list[Edit]:
    """Edits that give `rec` the `wanted` values (None: remove the field)."""
    from crm.records import apply

    edits = []
    for key, value in wanted.items():
        if value is None:
            if key in rec.data:
                edits.append(Edit("unset", (key,)))
        else:
            edit = Edit("set", (key,), value)
            if apply(rec.data, [edit]).get(key) != rec.data.get(key):
                edits.append(edit)
    return edits


def _customer(data: Mapping[str, Any]) -> str | None:
    """Whom an entry is billed to, as `list` shows it: its contact, else its company."""
    value = data.get("contact") or data.get("company")
    return str(value) if value else None


def _row(action: str, rid: str, data: Mapping[str, Any], source: str) -> dict[str, Any]:
    from crm.records import plain
    from crm.timetrack import is_unmapped

    values = plain(dict(data))
    return {
        "action": action,
        "id": rid,
        "start": values.get("start"),
        "hours": values.get("hours"),
        "customer": _customer(values),
        "project": values.get("project"),
        "source": source,
        "unmapped": is_unmapped(values),
    }


def _import_one(
    ctx: AppContext,
    tx: Transaction,
    mapper: Mapper,
    known: dict[tuple[str, str], Record],
    tracked: Tracked,
    source: str,
) -> dict[str, Any]:
    """Create or update the record of one tracked entry; the row that reports it."""
    from crm.timetrack import entry_id, hours_text, is_billed, parse_hours

    where = f"{source}:{tracked.line}"
    incoming = {k: v for k, v in tracked.values().items() if v is not None}
    mapped = mapper.values(incoming)
    rec = known.get((tracked.source, tracked.key))
    if rec is None:
        body = {**incoming, **{k: v for k, v in mapped.items() if v is not None}}
        body.setdefault("billable", True)
        body["external_ids"] = {tracked.source: tracked.key}
        edits = [Edit("set", (k,), v) for k, v in body.items()]
        data = new_record(TIME, ctx.config, edits, tx.now)
        rid = tx.create(TIME, data, base=entry_id(tracked))
        known[(tracked.source, tracked.key)] = Record(type=TIME, id=rid, data=data, path="")
        return _row("created", rid, data, where)
    if is_billed(rec.data):
        billed = parse_hours(rec.data.get("hours"))
        if billed is not None and billed != tracked.hours:
            output.warn(
                f"{where}: now {hours_text(tracked.hours)} h, but {rec.id} was billed with "
                f"{rec.data.get('hours')} h on invoice {rec.data['invoice']}: left as billed"
            )
        return _row("unchanged", rec.id, rec.data, where)
    edits = _changes(rec, {**incoming, **mapped})
    changed = tx.update(rec, edits) if edits else False
    return _row("updated" if changed else "unchanged", rec.id, rec.data, where)


def import_(
    file: Annotated[
        Path, typer.Argument(help="The export: a CSV, JSON or timeclock file, or - for stdin.")
    ],
    source_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="csv (Toggl Track, Clockify), timewarrior (`timew export`), timeclock "
            "(hledger-timeclock). Default: from the file.",
            show_default=False,
        ),
    ] = None,
    day_first: Annotated[
        bool,
        typer.Option(
            "--day-first", help="CSV dates like 03/04/2026 put the day first (DD/MM/YYYY)."
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", "-n", help="Show what each entry would become; write nothing."),
    ] = False,
) -> None:
    """Import tracked time: Toggl Track or Clockify detailed reports (CSV), `timew export`
    (JSON) or an hledger/ledger timeclock file. One file per entry in time/.

    crm.yaml's `time:` rules say whom each entry is billed to and at which rate (by project,
    client or tag); entries no rule matches are imported too, and listed by
    `crm time list --unmapped`. Importing the same file again, or a later export that overlaps
    it, updates the entries it brought before instead of adding them twice; an entry already
    billed is left as it is. A file that cannot be read is an error naming its line, and
    nothing of it is imported.

    \b
    Examples:
      crm time import ~/Downloads/Toggl_Track_time_entries.csv
      timew export | crm time import - --format timewarrior
      crm time import ~/work.timeclock --dry-run
    """
    from crm import timetrack

    if str(file) == "-":
        data, source = sys.stdin.buffer.read(), "stdin"
    else:
        try:
            data, source = file.read_bytes(), str(file)
        except OSError as exc:
            raise DataError(str(file), f"cannot be read: {exc.strerror}") from exc
    fmt = source_format or timetrack.guess_format(source, data)
    fmt = timetrack.FORMAT_ALIASES.get(fmt, fmt)
    if fmt not in timetrack.FORMATS:
        raise UsageError(
            f"'{source_format}' is not a time tracking format",
            hint="csv, timewarrior, timeclock or hledger-timeclock",
        )
    reading = timetrack.read(data, source, fmt, day_first=True if day_first else None)
    ctx = app_context()
    mapper = Mapper(ctx)
    rows: list[dict[str, Any]] = []
    with ctx.store.transaction(dry_run=dry_run) as tx:
        known = _by_identity(scan(ctx, TIME))
        for tracked in reading.entries:
            rows.append(_import_one(ctx, tx, mapper, known, tracked, source))
    for note in reading.notes:
        output.warn(f"{source}:{note.line}: {note.text}")
    _report(rows, dry_run=dry_run)


def _by_identity(records: Sequence[Record]) -> dict[tuple[str, str], Record]:
    found = {}
    for rec in records:
        external = rec.data.get("external_ids")
        for system, key in external.items() if isinstance(external, dict) else ():
            found[(str(system), str(key))] = rec
    return found


def _report(rows: Sequence[dict[str, Any]], *, dry_run: bool) -> None:
    """What became of each entry (with --dry-run), and the counts on stderr."""
    unmapped = [row for row in rows if row["unmapped"]]
    if unmapped:
        shown = ", ".join(
            f"{row['source']} ({row['project'] or 'no project'})" for row in unmapped[:3]
        )
        more = f" and {len(unmapped) - 3} more" if len(unmapped) > 3 else ""
        output.warn(
            f"{_entries(len(unmapped))} {'matches' if len(unmapped) == 1 else 'match'} no rule "
            "of crm.yaml's time: section: "
            f"{shown}{more}; kept unbilled (`crm time list --unmapped`)"
        )
    if dry_run:
        output.emit_rows(rows, REPORT_COLUMNS, output.resolve_format(None))
    counts = {
        a: sum(row["action"] == a for row in rows) for a in ("created", "updated", "unchanged")
    }
    verb = "Would import" if dry_run else "Imported"
    output.info(
        f"{verb} {_entries(len(rows))}: {counts['created']} new, {counts['updated']} updated, "
        f"{counts['unchanged']} unchanged"
    )


def _entries(count: int) -> str:
    return f"{count} {'entry' if count == 1 else 'entries'}"


ForTimeOpt = Annotated[
    str | None,
    typer.Option("--for", help="Only this customer's: a company or contact.", show_default=False),
]
PeriodOpt = Annotated[
    str | None,
    typer.Option(
        "--period",
        "-p",
        help="Only these days: 2026-11, 2026-Q4, 2026, 2026-11-20 or FROM..TO.",
        show_default=False,
    ),
]


def list_entries(
    unbilled: Annotated[
        bool, typer.Option("--unbilled", help="Only billable entries no invoice has billed.")
    ] = False,
    unmapped: Annotated[
        bool, typer.Option("--unmapped", help="Only billable entries no rule gave a customer.")
    ] = False,
    for_: ForTimeOpt = None,
    period: PeriodOpt = None,
    where: WhereOpt = None,
    sort: SortOpt = None,
    limit: LimitOpt = None,
    tag: TagFilterOpt = None,
    fmt: FormatOpt = None,
) -> None:
    """List tracked time, oldest first, with the customer each entry is billed to.

    \b
    Examples:
      crm time list --unbilled --for acme --period 2026-11
      crm time list --unmapped
      crm time list --period 2026-Q4 --format json | jq '[.[].hours | tonumber] | add'
    """
    from crm.commands._documents import customer_values
    from crm.query import field_path, sort_objects
    from crm.timebilling import belongs, entry_day
    from crm.timetrack import is_billed, is_unmapped
    from crm.when import parse_period

    ctx = app_context()
    span = parse_period(period) if period else None
    who = customer_values(ctx, for_) if for_ else None
    objs = []
    for rec, obj in select(ctx, TIME, where, tag, None):
        if unbilled and (is_billed(rec.data) or rec.data.get("billable") is False):
            continue
        if unmapped and not is_unmapped(rec.data):
            continue
        if who is not None and not belongs(rec.data, who):
            continue
        if span is not None and entry_day(rec.data) not in span:
            continue
        objs.append({**obj, "customer": _customer(rec.data)})
    objs.sort(key=lambda o: str(o.get("start") or ""))
    if sort:
        path = field_path(TIME, ctx.config, sort.lstrip("-"))
        objs = sort_objects(objs, path, descending=sort.startswith("-"))
    if limit:
        objs = objs[:limit]
    output.emit_rows(objs, LIST_COLUMNS, output.resolve_format(fmt))


def remap(dry_run: DryRunOpt = False) -> None:
    """Apply crm.yaml's time rules again to every unbilled entry: after adding or changing a
    rule, the entries it matches get its customer, product and rate.

    \b
    Example:
      crm time map --dry-run && crm time map
    """
    from crm.timetrack import is_billed

    ctx = app_context()
    mapper = Mapper(ctx)
    changed = 0
    with ctx.store.transaction(dry_run=dry_run) as tx:
        for rec in scan(ctx, TIME):
            if is_billed(rec.data):
                continue
            mapped = mapper.values(rec.data)
            edits = _changes(rec, mapped)
            if edits and tx.update(rec, edits):
                changed += 1
    if dry_run:
        output.emit_diff(tx.changes)
    output.info(f"{'Would map' if dry_run else 'Mapped'} {_entries(changed)} anew")


app = record_app(TIME, "hours>=2", None, list_entries)
app.command("import")(import_)
app.command("map")(remap)
