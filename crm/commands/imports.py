"""crm import: contacts and more from vCards, CSV files and crm's own JSON."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from crm import output
from crm.commands._options import CrmTyper, DryRunOpt, FormatOpt
from crm.context import app_context
from crm.errors import DataError, UsageError
from crm.models import COMPANY, CONTACT, DEAL, LEAD, RECORD_TYPES, RecordType

if TYPE_CHECKING:
    from crm import tabular
    from crm.commands._importer import Importer
    from crm.importing import Incoming, Outcome
    from crm.vcard import Card

app = CrmTyper()

ImportDryRunOpt = Annotated[
    bool,
    typer.Option(
        "--dry-run",
        "-n",
        help="Show what each record would become (created, updated, unchanged, skipped) and "
        "why; write nothing.",
    ),
]
DiffOpt = Annotated[
    bool, typer.Option("--diff", help="With --dry-run: print the changes to the files as a diff.")
]
NoRulesOpt = Annotated[
    bool,
    typer.Option(
        "--no-rules",
        help="Fire no automation rule for the imported records (hooks still run).",
    ),
]
CSV_TYPES = {"contacts": CONTACT, "companies": COMPANY, "leads": LEAD, "deals": DEAL}
_VCARD_SUFFIXES = (".vcf", ".vcard")


@app.command("vcard")
def vcard(
    paths: Annotated[
        list[Path],
        typer.Argument(help="vCard files (.vcf), folders of them (vdirs), or - for stdin."),
    ],
    dry_run: ImportDryRunOpt = False,
    diff: DiffOpt = False,
    no_rules: NoRulesOpt = False,
    fmt: FormatOpt = None,
) -> None:
    """Contacts from vCard files: Apple, Google, Outlook, Android, Thunderbird, Nextcloud ...

    Reads vCard 2.1, 3.0 and 4.0. A card's organisation becomes a company (found by name or
    the domain of a work email, else created) linked to the contact; its photo is kept beside
    the contact; what has no field here (X- properties, IMPP, a second address) is kept with
    the contact and written back by `crm export vcard`. Importing the same cards again updates
    the contacts they came from (matched by UID, then by email) instead of duplicating them.
    A card that cannot be read is reported with its file and line and skipped. The rules of
    crm.yaml fire for the contacts and companies added or changed, as for `crm contact add`
    (`--no-rules`: not), and the folder's hooks run.

    Exit status: 0 when every card was imported, 1 when some were skipped.

    \b
    Examples:
      crm import vcard ~/Downloads/contacts.vcf
      crm import vcard ~/.contacts/work --dry-run
    """
    from crm import vcard as codec

    files = list(_vcard_files(paths))
    items: list[tuple[RecordType, Incoming | Outcome]] = []
    for path in files:
        data = sys.stdin.buffer.read() if str(path) == "-" else _read(path)
        cards = codec.read(data, str(path))
        if not cards:
            items.append((CONTACT, _skipped(CONTACT, f"{path}:1", "no vCard in this file")))
        for card in cards:
            if isinstance(card, codec.Broken):
                items.append(
                    (CONTACT, _skipped(CONTACT, f"{card.source}:{card.line}", card.message))
                )
            else:
                items.append(_from_card(card))
    _run(items, dry_run=dry_run, diff=diff, fmt=fmt, noun="cards", rules=not no_rules)


def _vcard_files(paths: Sequence[Path]) -> Iterator[Path]:
    for path in paths:
        if str(path) == "-":  # standard input
            yield path
        elif path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in _VCARD_SUFFIXES)
            if not found:
                raise UsageError(f"{path} holds no .vcf files")
            yield from found
        elif path.is_file():
            yield path
        else:
            raise UsageError(f"{path}: no such file or folder")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataError(str(path), f"cannot be read: {exc.strerror}") from exc


def _from_card(card: Card) -> tuple[RecordType, Incoming]:
    from crm.importing import Incoming

    fields = card.fields
    values: dict[str, Any] = {}
    for key, value in fields.items():
        if key == "address" and isinstance(value, dict):
            values.update({f"address.{part}": text for part, text in value.items() if text})
        elif isinstance(value, dt.date):
            values[key] = value.isoformat()
        else:
            values[key] = value
    source = f"{card.source}:{card.line}"
    external = ("vcard", card.uid) if card.uid else None
    warnings = tuple(card.warnings)
    if card.is_organization:
        values.pop("title", None)
        values.pop("birthday", None)
        values["name"] = card.organization or values.get("name")
        return COMPANY, Incoming(source=source, values=values, external=external, warnings=warnings)
    return CONTACT, Incoming(
        source=source,
        values=values,
        external=external,
        company=card.organization,
        work_emails=card.work_emails,
        extra=list(card.extra),
        photo=card.photo,
        warnings=warnings,
    )


def _skipped(rtype: RecordType, source: str, reason: str) -> Outcome:
    from crm.importing import Outcome

    return Outcome("skipped", rtype.name, None, "", source, reason)


def _run(
    items: Sequence[tuple[RecordType, Incoming | Outcome]],
    *,
    dry_run: bool,
    diff: bool,
    fmt: Any,
    noun: str,
    rules: bool = True,
) -> None:
    """Import `items` in one transaction; report what happened; exit 1 if any was skipped.
    The rules fire for what is imported unless `rules` is False."""
    from crm.commands._importer import Importer, summary
    from crm.importing import Outcome

    ctx = app_context()
    outcomes: list[Outcome] = []
    with (
        output.progress(len(items), f"Importing {noun}") as advance,
        ctx.store.transaction(dry_run=dry_run) as tx,
    ):
        tx.rules = rules
        importer = Importer(ctx, tx)
        for rtype, item in items:
            if isinstance(item, Outcome):
                importer.outcomes.append(item)
                advance()
            else:
                importer.run(rtype, [item], advance)
        outcomes = importer.outcomes
    if diff and dry_run:
        output.emit_diff(tx.changes)
    _report(outcomes, importer, dry_run=dry_run and not diff, fmt=fmt)
    output.info(summary(outcomes, dry_run))
    if any(o.action == "skipped" for o in outcomes):
        raise typer.Exit(1)


def _report(outcomes: Sequence[Outcome], importer: Importer, *, dry_run: bool, fmt: Any) -> None:
    for outcome in outcomes:
        if outcome.action == "skipped":
            output.warn(f"{outcome.source}: skipped: {outcome.reason}")
        for warning in outcome.warnings:
            output.warn(f"{outcome.source}: {warning}")
    if dry_run or fmt is not None:
        rows = [o.row() for o in outcomes]
        columns = ["action", "type", "id", "title", "source", "reason"]
        output.emit_rows(rows, columns, output.resolve_format(fmt))


@app.command("csv")
def csv(
    file: Annotated[Path, typer.Argument(help="The CSV file (any encoding, , ; or tab).")],
    rtype_name: Annotated[
        str,
        typer.Option(
            "--type",
            "-t",
            help="What the rows are: contacts, companies, leads or deals.",
            show_default=False,
        ),
    ],
    preset: Annotated[
        str | None,
        typer.Option(
            "--preset",
            help="The program that wrote the file: google, outlook, thunderbird, linkedin, "
            "salesforce, hubspot or pipedrive (default: guessed from the header).",
            show_default=False,
        ),
    ] = None,
    maps: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            "-m",
            help="COLUMN=FIELD: put a column in a field (custom.NAME, address.city; - skips it).",
        ),
    ] = None,
    unknown: Annotated[
        str,
        typer.Option(
            "--unknown",
            help="Columns that match no field: `list` them, or keep them as `custom` fields.",
        ),
    ] = "list",
    dry_run: ImportDryRunOpt = False,
    diff: DiffOpt = False,
    no_rules: NoRulesOpt = False,
    fmt: FormatOpt = None,
) -> None:
    """Records from a CSV file exported by another program or written in a spreadsheet.

    Columns are matched to fields by their names: with a preset, as that program names them;
    without, columns called like our fields (name, email, phone, company, value, close_date,
    ...) map by themselves. The encoding (UTF-8 with or without BOM, UTF-16, Windows code
    pages) and the delimiter are detected. Importing the file again updates the records it
    made (matched by the other program's id, then email, or domain for companies). The rules
    of crm.yaml fire for the records added or changed, as for `crm contact add` (`--no-rules`:
    not), and the folder's hooks run.

    Exit status: 0 when every row was imported, 1 when some were skipped.

    \b
    Examples:
      crm import csv contacts.csv --type contacts --preset google
      crm import csv leads.csv -t leads --map "Firma=company" --map "Quelle=source"
      crm import csv accounts.csv -t companies --preset salesforce --dry-run
    """
    from crm import tabular

    rtype = CSV_TYPES.get(rtype_name.strip().lower())
    if rtype is None:
        raise UsageError(f"--type must be one of: {', '.join(CSV_TYPES)}; got '{rtype_name}'")
    if unknown not in ("list", "custom"):
        raise UsageError(f"--unknown must be `list` or `custom`; got '{unknown}'")
    if preset is not None and preset.lower() not in tabular.PRESETS:
        raise UsageError(f"--preset must be one of: {', '.join(tabular.PRESETS)}")
    overrides: dict[str, str] = {}
    for item in maps or ():
        column, eq, target = item.partition("=")
        if not eq or not column.strip():
            raise UsageError(f"--map takes COLUMN=FIELD, got '{item}'")
        overrides[column.strip()] = target.strip()
    table = tabular.read_table(_read(file), str(file))
    if table.mixed:
        shown = ", ".join(str(n) for n in table.mixed[:5]) + (
            ", ..." if len(table.mixed) > 5 else ""
        )
        output.warn(
            f"{file}:{table.mixed[0]}: bytes that are not UTF-8 in a UTF-8 file, read as "
            f"Windows-1252 (line {shown}): check those cells"
        )
    if table.long:
        shown = ", ".join(str(n) for n in table.long[:5]) + (", ..." if len(table.long) > 5 else "")
        lines = f" (lines {shown})" if len(table.long) > 1 else ""
        output.warn(
            f"{file}:{table.long[0]}: more cells than the header has names{lines}: "
            f"the cells past the last column are left out; quote a cell that holds "
            f"'{table.delimiter}'"
        )
    table = _named_links(table)
    chosen = preset.lower() if preset else tabular.guess_preset(table.header)
    row_to_mapped = tabular.mapper(table.header, rtype.name, chosen, overrides)
    declared = app_context().config.custom_fields(rtype.name)
    items: list[tuple[RecordType, Incoming | Outcome]] = []
    left_out: dict[str, int] = {}
    for line, row in table.rows:
        mapped = row_to_mapped(row)
        custom: dict[str, str] = {}
        values = dict(mapped.fields)
        for name, text in mapped.custom.items():
            if name in declared:
                values[f"custom.{name}"] = text
            else:
                custom[name] = text
        for column, text in mapped.unknown.items():
            if unknown == "custom":
                custom[_custom_name(column)] = text
            else:
                left_out[column] = left_out.get(column, 0) + 1
        items.append(
            (
                rtype,
                _incoming(rtype, f"{file}:{line}", values, mapped.external, custom, mapped.links),
            )
        )
    if chosen and not preset:
        output.info(f"{file}: read as a {chosen} export (--preset to choose another)")
    if left_out:
        output.warn(
            f"{file}: columns not imported: {', '.join(left_out)} "
            "(--map COLUMN=FIELD puts one in a field; --unknown custom keeps them all)"
        )
    _run(items, dry_run=dry_run, diff=diff, fmt=fmt, noun="rows", rules=not no_rules)


def _named_links(table: tabular.Table) -> tabular.Table:
    """crm's own export names a linked company (contact) twice: `company` holds its id here,
    `company_name` its name. The id when this folder has that record, else the name."""
    from dataclasses import replace

    from crm.ids import is_valid_id

    pairs = [
        (r, f"{r}_name") for r in ("company", "contact") if {r, f"{r}_name"} <= {*table.header}
    ]
    if not pairs:
        return table
    store = app_context().store
    rows = []
    for line, cells in table.rows:
        row = dict(cells)
        for ref, named in pairs:
            ident, name = row.get(ref, "").strip(), row.pop(named, "").strip()
            ours = is_valid_id(ident) and store.exists(RECORD_TYPES[ref], ident)
            if name and not ours:
                row[ref] = name
        rows.append((line, row))
    names = {named for _, named in pairs}
    return replace(table, header=[h for h in table.header if h not in names], rows=rows)


def _incoming(
    rtype: RecordType,
    source: str,
    values: dict[str, Any],
    external: tuple[str, str] | None,
    custom: dict[str, str],
    links: dict[str, tuple[str, str]],
) -> Incoming:
    from crm.importing import Incoming

    company = contact = None
    company_id = links.get("company")
    if company_id is not None and values.get("company") == company_id[1]:
        values.pop("company")  # an id of the other system, not a name
    if rtype is not LEAD and rtype is not COMPANY:
        company = values.pop("company", None) or None
    if rtype is DEAL:
        contact = values.pop("contact", None) or None
    return Incoming(
        source=source,
        values=values,
        external=external,
        company=company if isinstance(company, str) else None,
        contact=contact if isinstance(contact, str) else None,
        company_id=company_id if rtype is CONTACT or rtype is DEAL else None,
        custom=custom,
    )


def _check_config(text: str, source: str) -> None:
    """Refuse (DataError) a document's crm.yaml that the folder could not be read with."""
    from crm.config import CONFIG_FILE, parse_config
    from crm.store import yamlio

    hint = "fix its config, or import the records without --config"
    try:
        loaded = yamlio.parse(text, CONFIG_FILE)
    except DataError as exc:
        where = f"{CONFIG_FILE}:{exc.line}" if exc.line else CONFIG_FILE
        message = f"config: its {where} is not valid: {exc.detail}"
        raise DataError(source, message, hint=hint) from None
    _, issues = parse_config(loaded.data, loaded.lines)
    if issues:
        more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
        raise DataError(source, f"config: its {issues[0]}{more}", hint=hint)


def _custom_name(column: str) -> str:
    """A custom field's name from a column's: `Connected On` becomes `connected_on`."""
    from crm.ids import slugify

    return slugify(column, fallback="column").replace("-", "_")


@app.command("json")
def json_(
    file: Annotated[
        Path, typer.Argument(help="A document written by `crm export json` (- for stdin).")
    ],
    replace: Annotated[
        bool,
        typer.Option("--replace", help="Overwrite records that exist with other contents."),
    ] = False,
    with_config: Annotated[
        bool,
        typer.Option("--config", help="Also replace crm.yaml with the exported one."),
    ] = False,
    dry_run: DryRunOpt = False,
) -> None:
    """Records (and their photos and documents) from a `crm export json` document.

    Into an empty folder it restores the export exactly. A record that exists already with
    the same contents is left alone; with other contents it is skipped unless --replace.
    A restore is no event: no rule fires and no hook runs for the records it brings back.

    Exit status: 0 when everything was imported, 1 when some records were skipped.

    \b
    Examples:
      crm export json --out backup.json && crm --dir ../new import json backup.json --config
      crm import json backup.json --dry-run
    """
    import json
    import sys

    from crm import backup
    from crm.records import Record, dangling, validate
    from crm.store import yamlio

    source = str(file)
    raw = sys.stdin.buffer.read() if source == "-" else _read(file)
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise DataError(source, f"is not JSON: {exc}") from exc
    contents = backup.read_document(doc, source)
    if with_config and contents.config is not None:
        _check_config(contents.config, source)
    ctx = app_context()
    counts = {"created": 0, "replaced": 0, "unchanged": 0, "skipped": 0}
    skipped: set[tuple[str, str]] = set()
    written: set[tuple[str, str]] = set()
    incoming = {(rtype.name, rid) for rtype, rid, _ in contents.records}

    def exists(tname: str, rid: str) -> bool:
        if (tname, rid) in incoming:
            return True
        return tname in RECORD_TYPES and ctx.store.exists(RECORD_TYPES[tname], rid)

    with ctx.store.transaction(dry_run=dry_run) as tx:
        tx.automate = False  # a backup comes back as it was: no rule fires, no hook runs
        if with_config and contents.config is not None:
            tx.write_config(contents.config)
        for rtype, rid, data in contents.records:
            path = ctx.store.path_of(rtype, rid)
            if path.is_file():
                current = ctx.store.load(rtype, path).data
                if current == data:
                    counts["unchanged"] += 1
                    continue
                if not replace:
                    output.warn(f"{ctx.store.rel(path)}: skipped: exists with other contents")
                    counts["skipped"] += 1
                    skipped.add((rtype.name, rid))
                    continue
                counts["replaced"] += 1
            else:
                counts["created"] += 1
            tx.write_text(rtype, rid, yamlio.dump_new(backup.typed(data)))
            written.add((rtype.name, rid))
            record = Record(type=rtype, id=rid, data=data, path=ctx.store.rel(path))
            issues = dangling(record, exists)
            if not with_config:  # the folder's own settings judge the record
                issues = [*validate(record, ctx.config), *issues]
            for issue in issues:
                output.warn(f"{issue} (imported as it is; see `crm check`)")
        for rtype, rid, suffix, blob in contents.files:
            path = ctx.store.folder(rtype) / f"{rid}.{suffix}"
            try:
                same = path.read_bytes() == blob
            except FileNotFoundError:
                same = False
            except OSError as exc:
                raise DataError(ctx.store.rel(path), f"cannot be read: {exc.strerror}") from exc
            if same or (rtype.name, rid) in skipped:
                continue
            if (rtype.name, rid) not in written and path.exists():
                output.warn(f"{ctx.store.rel(path)}: skipped: exists with other contents")
                counts["skipped"] += 1
                continue
            if (rtype.name, rid) not in written and not ctx.store.exists(rtype, rid):
                output.warn(f"{ctx.store.rel(path)}: skipped: no {rtype.name} '{rid}' to keep it")
                counts["skipped"] += 1
                continue
            tx.attach(rtype, rid, suffix, blob)
    if dry_run:
        output.emit_diff(tx.changes)
    parts = ", ".join(f"{n} {what}" for what, n in counts.items())
    total = len(contents.records)
    output.info(
        ("Would import " if dry_run else "Imported ")
        + f"{total} record{'' if total == 1 else 's'}: {parts}"
    )
    if counts["skipped"]:
        raise typer.Exit(1)
