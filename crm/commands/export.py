"""crm export: the data in other programs' formats."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from crm import output
from crm.commands._options import CrmTyper, SegmentOpt, TagFilterOpt, WhereOpt
from crm.commands._records import done, scan, select, select_records
from crm.context import AppContext, app_context
from crm.errors import UsageError
from crm.models import (
    ACTIVITY,
    ADDRESS_KEYS,
    COMPANY,
    CONTACT,
    DEAL,
    LEAD,
    RECORD_TYPES,
    TASK,
    Kind,
    RecordType,
)

OutOpt = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="Write to this file (default: stdout).", show_default=False),
]

app = CrmTyper()


@app.command("ical")
def ical(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Write one .ics file here (default: stdout).", show_default=False
        ),
    ] = None,
    vdir: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            help="Write a vdir: one .ics per task or meeting (khal, todoman).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Open tasks as to-dos and meetings as events, for a calendar or task app.

    UIDs never change, so exporting again updates the entries instead of duplicating them.
    In a vdir, the files of tasks done since the last export are removed.

    \b
    Examples:
      crm export ical --out ~/crm.ics
      crm export ical --dir ~/.calendars/crm
    """
    from crm import ical as calendar
    from crm.store import atomic

    if out is not None and vdir is not None:
        raise UsageError("choose --out or --dir, not both")
    ctx = app_context()
    contacts = scan(ctx, CONTACT)
    names = {
        r.id: r.title
        for rtype in (CONTACT, COMPANY, LEAD, DEAL)
        for r in (contacts if rtype is CONTACT else scan(ctx, rtype, quiet=True))
    }
    items = calendar.components(scan(ctx, TASK), scan(ctx, ACTIVITY), contacts, names)
    if vdir is None:
        data = calendar.calendar([item for _, item in items])
        if out is None:
            sys.stdout.buffer.write(data)
        else:
            atomic.write_bytes(out, data)
        return
    vdir.mkdir(parents=True, exist_ok=True)
    wanted = {}
    for item_uid, item in items:
        wanted[f"{item_uid.removesuffix('@crm')}.ics"] = calendar.calendar([item])
    written = removed = 0
    for name, data in wanted.items():
        path = vdir / name
        if not path.exists() or path.read_bytes() != data:
            atomic.write_bytes(path, data)
            written += 1
    for stale in vdir.glob("*.ics"):
        if stale.name in wanted or not stale.name.startswith(("task-", "activity-")):
            continue
        if b"X-CRM-ID:" in stale.read_bytes():  # only entries crm wrote
            stale.unlink()
            removed += 1
    done(f"{len(wanted)} entries in {vdir}: {written} written, {removed} removed")


# -- vCard ------------------------------------------------------------------------------------


@app.command("vcard")
def vcard(
    out: OutOpt = None,
    vdir: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            help="Write a vdir: one .vcf per contact (khard, vdirsyncer, Nextcloud).",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        str, typer.Option("--version", help="vCard version: 3.0 (most readers) or 4.0.")
    ] = "3.0",
    kinds: Annotated[
        str,
        typer.Option(
            "--type",
            help="contacts, companies (as company cards), or all.",
            metavar="contacts|companies|all",
        ),
    ] = "contacts",
    where: WhereOpt = None,
    tag: TagFilterOpt = None,
    segment: SegmentOpt = None,
) -> None:
    """Contacts (and companies) as vCards, for a phone, Apple or Google Contacts, khard.

    Every card has a UID that never changes (the one it was imported with, else one made
    from the contact's id), so importing the export again updates the contacts instead of
    duplicating them. Photos and the vCard lines kept at import are written back.
    In a vdir, the files of contacts no longer exported are removed (only files crm wrote).

    \b
    Examples:
      crm export vcard --out contacts.vcf
      crm export vcard --dir ~/.contacts/crm --where "tags=client"
      crm export vcard --version 4.0 > all.vcf
      crm export vcard --type all --out everyone.vcf
    """
    from crm import vcard as codec
    from crm.store import atomic

    if out is not None and vdir is not None:
        raise UsageError("choose --out or --dir, not both")
    if version not in ("3.0", "4.0"):
        raise UsageError(f"--version must be 3.0 or 4.0; got '{version}'")
    types = {"contacts": (CONTACT,), "companies": (COMPANY,), "all": (CONTACT, COMPANY)}
    if kinds not in types:
        raise UsageError(f"--type must be contacts, companies or all; got '{kinds}'")
    ctx = app_context()
    chosen = [
        rec for rtype in types[kinds] for rec in select_records(ctx, rtype, where, tag, segment)
    ]
    companies = {r.id: r.title for r in scan(ctx, COMPANY, quiet=True)}
    cards: dict[str, str] = {}
    with output.progress(len(chosen), "Exporting cards") as advance:
        for rec in chosen:
            uid = card_uid(rec.id, rec.data, rec.type.name)
            if uid in cards:  # a copied file kept its UID: the copy's card gets its own
                from crm.vcard import made_uid

                output.warn(f"{rec.path}: its vCard UID is another record's too")
                uid = made_uid(rec.id, rec.type.name, rec.data.get("created"))
                copy = 1
                while uid in cards:
                    copy += 1
                    uid = made_uid(f"{rec.id}:{copy}", rec.type.name, rec.data.get("created"))
            company_id = rec.data.get("company")
            cards[uid] = codec.write(
                rec.data,
                uid=uid,
                company=companies.get(company_id) if isinstance(company_id, str) else None,
                photo=_photo(ctx, rec.data, rec.id) if rec.type is CONTACT else None,
                version=version,
                revision=_revision(rec.data.get("updated")),
                organization=rec.type is COMPANY,
            )
            advance()
    if vdir is None:
        text = "".join(cards.values())
        if out is None:
            sys.stdout.buffer.write(text.encode("utf-8"))
        else:
            atomic.write_bytes(out, text.encode("utf-8"))
        return
    vdir.mkdir(parents=True, exist_ok=True)
    written = removed = 0
    wanted = {f"{_file_stem(uid)}.vcf": text.encode("utf-8") for uid, text in cards.items()}
    for name, data in wanted.items():
        path = vdir / name
        if not path.exists() or path.read_bytes() != data:
            atomic.write_bytes(path, data)
            written += 1
    for stale in vdir.glob("*.vcf"):
        if stale.name not in wanted and _written_by_us(stale):
            stale.unlink()
            removed += 1
    done(f"{len(wanted)} cards in {vdir}: {written} written, {removed} removed")


def _written_by_us(path: Path) -> bool:
    """A file of the vdir this export wrote earlier: one card of ours, named by its UID."""
    data = path.read_bytes()
    if b"PRODID:-//crm//crm//EN" not in data or data.upper().count(b"BEGIN:VCARD") != 1:
        return False
    for line in data.splitlines():
        if line.upper().startswith(b"UID:"):
            return _file_stem(line[4:].decode("utf-8", "replace")) == path.stem
    return False


def card_uid(rid: str, data: Mapping[str, Any], rtype: str = "contact") -> str:
    """The UID a contact's (company's) card carries: the one it came with, else one made from
    its id and creation time (`vcard.made_uid`)."""
    from crm.vcard import made_uid

    ids = data.get("external_ids")
    if isinstance(ids, Mapping) and ids.get("vcard"):
        return str(ids["vcard"])
    return made_uid(rid, rtype, data.get("created"))


def _file_stem(uid: str) -> str:
    """A file name for a card in a vdir, from its UID (which may hold any character)."""
    import hashlib

    cleaned = uid.removeprefix("urn:uuid:")
    if cleaned and len(cleaned) <= 64 and all(c.isalnum() or c in "-_." for c in cleaned):
        return cleaned.strip(".") or hashlib.sha1(uid.encode()).hexdigest()
    return hashlib.sha1(uid.encode("utf-8")).hexdigest()


def _photo(ctx: AppContext, data: Mapping[str, Any], rid: str) -> tuple[bytes, str] | None:
    from crm.ids import is_safe_file_name

    name = data.get("photo")
    if not isinstance(name, str) or not is_safe_file_name(name) or not name.startswith(rid + "."):
        return None
    path = ctx.store.folder(CONTACT) / name
    if path.is_symlink():  # never a file from outside the folder inside a card
        output.warn(f"contacts/{name}: photo is a link; exported without it")
        return None
    try:
        return path.read_bytes(), name.rsplit(".", 1)[1]
    except OSError:
        output.warn(f"contacts/{name}: photo cannot be read; exported without it")
        return None


def _revision(value: Any) -> str | None:
    return str(value) if value else None


# -- CSV --------------------------------------------------------------------------------------


@app.command("csv")
def csv(
    type_name: Annotated[
        str, typer.Argument(help="Record type: contacts, companies, leads, deals, invoices, ...")
    ],
    out: OutOpt = None,
    fields: Annotated[
        str | None,
        typer.Option(
            "--fields", help="Columns, comma-separated (default: every field).", show_default=False
        ),
    ] = None,
    excel: Annotated[
        bool, typer.Option("--excel", help="UTF-8 with a BOM, so Excel reads the accents right.")
    ] = False,
    where: WhereOpt = None,
    tag: TagFilterOpt = None,
    segment: SegmentOpt = None,
) -> None:
    """Records of one type as CSV, for a spreadsheet or another program.

    Lists are joined with "; ", addresses and custom fields get a column per part. A cell
    a spreadsheet would run as a formula (starting with = + - @) gets a leading apostrophe.

    \b
    Examples:
      crm export csv contacts --out contacts.csv --excel
      crm export csv deals --where "stage=won" --fields id,title,value,currency,close_date
      crm export csv invoices --fields number,customer,total,status
    """
    from crm import tabular
    from crm.store import atomic

    rtype = _record_type(type_name)
    ctx = app_context()
    objects = [obj for _, obj in select(ctx, rtype, where, tag, segment)]
    columns = _columns(rtype, ctx, fields, objects)
    names = {  # `company_name` beside `company`: another folder has other ids
        f.name: {r.id: r.title for r in scan(ctx, RECORD_TYPES[f.target], quiet=True)}
        for f in _named_refs(rtype)
        if f"{f.name}_name" in columns and f.target
    }
    rows = []
    with output.progress(len(objects), f"Exporting {rtype.plural}") as advance:
        for obj in objects:
            row = _flat(obj)
            for key, titles in names.items():
                ref = obj.get(key)
                row[f"{key}_name"] = titles.get(ref, "") if isinstance(ref, str) else ""
            rows.append(row)
            advance()
    text = tabular.write_csv(rows, columns, excel=excel)
    if out is None:
        sys.stdout.buffer.write(text.encode("utf-8"))
    else:
        atomic.write_bytes(out, text.encode("utf-8"))


def _record_type(name: str) -> RecordType:
    wanted = name.strip().lower().replace("-", "_")
    for rtype in RECORD_TYPES.values():
        if wanted in (rtype.name, rtype.plural):
            return rtype
    known = ", ".join(t.plural for t in RECORD_TYPES.values())
    raise UsageError(f"no record type '{name}'", hint=f"types: {known}")


def _flat(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A record's JSON with its address and custom fields spread into columns of their own."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if key == "address" and isinstance(value, Mapping):
            out.update({f"address.{k}": v for k, v in value.items()})
        elif key in ("custom", "external_ids") and isinstance(value, Mapping):
            prefix = "custom" if key == "custom" else "external"
            out.update({f"{prefix}.{k}": v for k, v in value.items()})
        else:
            out[key] = value
    return out


def _named_refs(rtype: RecordType) -> list[Any]:
    """The links to a company or contact, written by id and, in `<field>_name`, by name."""
    return [
        f
        for f in rtype.fields
        if f.kind is Kind.REF and f.name in ("company", "contact") and f.target == f.name
    ]


_NOT_IN_CSV = (Kind.HISTORY, Kind.EXTRA, Kind.LINES, Kind.PAYMENTS, Kind.ENTRIES, Kind.DOCUMENT)


def _columns(
    rtype: RecordType, ctx: AppContext, fields: str | None, objects: Sequence[Mapping[str, Any]]
) -> list[str]:
    if fields:
        chosen = [f.strip() for f in fields.split(",") if f.strip()]
        known = set(_columns(rtype, ctx, None, objects)) | {k for o in objects for k in _flat(o)}
        unknown = [c for c in chosen if c not in known and not c.startswith("custom.")]
        if unknown and objects:
            raise UsageError(
                f"{rtype.name} has no field {', '.join(repr(c) for c in unknown)}",
                hint="fields: " + ", ".join(sorted(known - {"type"})),
            )
        return chosen
    columns = ["id"]
    for f in rtype.fields:
        if f.kind in _NOT_IN_CSV:
            continue
        if f.kind is Kind.ADDRESS:
            columns.extend(f"address.{k}" for k in ADDRESS_KEYS)
        elif f.kind is Kind.CUSTOM:
            declared = list(ctx.config.custom_fields(rtype.name))
            found = {k for obj in objects for k in (obj.get("custom") or {})}
            columns.extend(f"custom.{k}" for k in [*declared, *sorted(found - set(declared))])
        elif f.kind is Kind.EXTERNAL:
            found = {k for obj in objects for k in (obj.get("external_ids") or {})}
            columns.extend(f"external.{k}" for k in sorted(found))
        else:
            columns.append(f.name)
            if f in _named_refs(rtype):
                columns.append(f"{f.name}_name")
    derived = [
        k for k in (objects[0] if objects else {}) if k not in {f.name for f in rtype.fields}
    ]
    return columns + [k for k in derived if k not in ("id", "type")]


# -- ledger -----------------------------------------------------------------------------------


@app.command("ledger")
def ledger(
    fmt: Annotated[
        str,
        typer.Option(
            "--format", "-f", help="Journal format: hledger or beancount.", metavar="FORMAT"
        ),
    ] = "hledger",
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Only transactions on or after this date (YYYY-MM-DD, or today-90).",
            show_default=False,
        ),
    ] = None,
    out: OutOpt = None,
) -> None:
    """Issued invoices, credit notes and payments as double-entry bookkeeping, for hledger or
    beancount.

    An invoice debits the customer's receivable and credits revenue and VAT per tax rate; a
    credit note reverses that; a payment debits the bank. The invoice number is each
    transaction's code (hledger) or link (beancount), so re-exports diff cleanly. Drafts are
    never exported. Account names come from `ledger:` in crm.yaml (docs/billing.md).
    --since only leaves out earlier transactions: it adds no opening balances.

    \b
    Examples:
      crm export ledger --out books/crm.journal
      crm export ledger --format beancount --out books/crm.beancount
      crm export ledger --since 2026-01-01 | hledger -f - bal
    """
    import datetime as dt

    from crm import dates
    from crm import ledger as books
    from crm.models import COMPANY, CONTACT, CREDIT_NOTE, INVOICE
    from crm.query import relative_date
    from crm.store import atomic

    if fmt not in books.FORMATS:
        raise UsageError(
            f"--format must be hledger or beancount; got '{fmt}'",
            hint="crm export ledger -f hledger",
        )
    start = None
    if since is not None:
        try:
            start = dt.date.fromisoformat(relative_date(since.strip()))
        except ValueError as exc:
            raise UsageError(f"--since: '{since}' is not a date (YYYY-MM-DD or today-N)") from exc
    ctx = app_context()
    names = {r.id: r.title for t in (CONTACT, COMPANY) for r in scan(ctx, t, quiet=True)}
    found, skipped = books.transactions(
        scan(ctx, INVOICE), scan(ctx, CREDIT_NOTE), names, ctx.config, fmt, dates.today()
    )
    for issue in skipped:
        output.warn(f"skipped {issue} (see `crm check`)")
    data = books.write(books.since(found, start), fmt).encode("utf-8")
    if out is None:
        sys.stdout.buffer.write(data)
    else:
        atomic.write_bytes(out, data)


# -- JSON -------------------------------------------------------------------------------------


@app.command("json")
def json_(
    out: OutOpt = None,
    type_name: Annotated[
        str | None,
        typer.Option(
            "--type", "-t", help="Only this record type (default: everything).", show_default=False
        ),
    ] = None,
) -> None:
    """The whole CRM (or one record type) as one JSON document: a backup, or input to scripts.

    Records appear as their files hold them; photos and issued documents kept beside them in
    base64; crm.yaml as text. `crm import json` reads it back (docs/format.md#json-export).

    \b
    Examples:
      crm export json --out backup-$(date +%F).json
      crm export json --type deals | jq '.records.deals | keys'
    """
    import json

    from crm import backup, dates
    from crm.config import CONFIG_FILE
    from crm.store import atomic

    ctx = app_context()
    types = [_record_type(type_name)] if type_name else list(RECORD_TYPES.values())
    records: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
    files: dict[str, bytes] = {}
    for rtype in types:
        found = ctx.store.scan(rtype)
        for problem in found.problems:
            raise problem  # a backup that silently lacks a record is no backup
        records[rtype.plural] = [(rec.id, rec.data) for rec in found.records]
        known = {rec.id for rec in found.records}
        folder = ctx.store.folder(rtype)
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                rid = path.name.split(".", 1)[0]
                if (
                    path.suffix != ".yaml"
                    and rid in known
                    and path.is_file()
                    and not path.is_symlink()
                ):
                    files[f"{rtype.plural}/{path.name}"] = path.read_bytes()
    config_text = None
    if type_name is None:
        config_text = (ctx.root / CONFIG_FILE).read_text(encoding="utf-8")
    doc = backup.document(records, files, config_text, dates.now())
    text = json.dumps(doc, ensure_ascii=False, indent=2, default=str) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        atomic.write_bytes(out, text.encode("utf-8"))
