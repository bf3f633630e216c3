"""What quotes, invoices, credit notes and recurring invoices share: customers, lines, show,
list and render."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from crm import dates, output
from crm.commands._options import (
    CrmTyper,
    DryRunOpt,
    FormatOpt,
    LimitOpt,
    RefArg,
    SegmentOpt,
    SortOpt,
    TagFilterOpt,
    WhereOpt,
)
from crm.commands._records import done, find, related, scan, select
from crm.context import AppContext, app_context
from crm.errors import ConflictError, NotFoundError, UsageError
from crm.models import COMPANY, CONTACT, CREDIT_NOTE, RECORD_TYPES, RecordType
from crm.records import Edit, Record, apply

if TYPE_CHECKING:
    from crm.store.repo import Transaction

DOC_FORMATS = ("pdf", "html", "md", "txt")

# -- parties ----------------------------------------------------------------------------------


def customer_values(ctx: AppContext, ref: str) -> dict[str, str]:
    """`company`/`contact` of a document for a customer named by `ref`: a company, or a
    contact (and the company they work for). `company:x` or `contact:x` says which."""
    kind, colon, rest = ref.partition(":")
    if colon and kind in ("company", "contact"):
        rec = find(ctx, RECORD_TYPES[kind], rest)
    else:
        found = []
        for rtype in (COMPANY, CONTACT):
            try:
                found.append(find(ctx, rtype, ref))
            except NotFoundError:
                continue
        if not found:
            raise NotFoundError(f"no company or contact matches '{ref}'")
        if len(found) > 1 and found[0].id != found[1].id:
            raise UsageError(
                f"'{ref}' is both company {found[0].id} and contact {found[1].id}",
                hint=f"say which: --for company:{found[0].id} or --for contact:{found[1].id}",
            )
        rec = found[0]
    if rec.type is COMPANY:
        return {"company": rec.id}
    values = {"contact": rec.id}
    if isinstance(rec.data.get("company"), str):
        values["company"] = rec.data["company"]
    return values


def parties(ctx: AppContext, rec: Record) -> tuple[Record | None, Record | None]:
    """(buyer, contact) of a document: the buyer is its company, else its contact."""

    def read(rtype: RecordType, key: str) -> Record | None:
        rid = rec.data.get(key)
        if isinstance(rid, str) and ctx.store.exists(rtype, rid):
            return ctx.store.read(rtype, rid)
        return None

    company, contact = read(COMPANY, "company"), read(CONTACT, "contact")
    return company or contact, contact


def credit_notes(ctx: AppContext) -> list[Record]:
    return scan(ctx, CREDIT_NOTE, quiet=True)


# -- rendering --------------------------------------------------------------------------------


def context_of(ctx: AppContext, rec: Record, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    from crm.documents import context

    buyer, contact = parties(ctx, rec)
    today = dates.today()
    invoice = None
    if rec.type is CREDIT_NOTE and isinstance(rec.data.get("invoice"), str):
        try:
            invoice = ctx.store.read(RECORD_TYPES["invoice"], rec.data["invoice"])
        except NotFoundError:
            invoice = None
    more: dict[str, Any] = {
        "today": today.isoformat(),
        "invoice_number": invoice.data.get("number") if invoice else None,
        "invoice_issued": invoice.data.get("issued") if invoice else None,
        "invoice_service_date": invoice.data.get("service_date") if invoice else None,
        "invoice_service_until": invoice.data.get("service_until") if invoice else None,
        **(extra or {}),
    }
    return context(
        rec,
        ctx.config,
        customer=buyer,
        contact=contact,
        today=today,
        credit_notes=credit_notes(ctx) if rec.type.name == "invoice" else (),
        extra=more,
    )


def render_text(
    ctx: AppContext,
    rec: Record,
    fmt: str,
    kind: str | None = None,
    extra: dict[str, Any] | None = None,
) -> str:
    from crm import render

    return render.render(
        kind or rec.type.name, fmt, context_of(ctx, rec, extra), ctx.root / "templates"
    )


def render_bytes(
    ctx: AppContext,
    rec: Record,
    fmt: str,
    kind: str | None = None,
    extra: dict[str, Any] | None = None,
) -> bytes:
    from crm import render

    if fmt == "pdf":
        return render.pdf(render_text(ctx, rec, "html", kind, extra), ctx.root / "templates")
    return render_text(ctx, rec, fmt, kind, extra).encode("utf-8")


def keep_document(ctx: AppContext, tx: Transaction, rec: Record) -> Edit:
    """Render an issued document, stage its file beside the record, and return the `document:`
    edit that names it with its SHA-256. `rec` is the record as issued."""
    from crm.commands._einvoice import facturx_pdf, wants_facturx
    from crm.invoicing import document_entry

    if wants_facturx(ctx, rec):
        fmt, data = "pdf", facturx_pdf(ctx, rec, strict=True)
    else:
        fmt = "pdf" if ctx.config.billing.pdf else "html"
        data = render_bytes(ctx, rec, fmt)
    name = tx.attach(rec.type, rec.id, fmt, data)
    return Edit("set", ("document",), document_entry(data, name, fmt))


def stored_document(ctx: AppContext, rec: Record, fmt: str) -> bytes | None:
    """The file kept at issue, when it is in `fmt`: what was sent, byte for byte. None (and a
    warning) when it is missing; a warning when it was changed since. Never a file outside
    the folder that a link in it leads to (DataError)."""
    import hashlib

    from crm.errors import DataError

    document = rec.data.get("document")
    if not isinstance(document, dict) or document.get("format") != fmt:
        return None
    name = str(document.get("file") or "")
    if not name or "/" in name or name.startswith("."):
        return None
    path = ctx.store.folder(rec.type) / name
    rel = ctx.store.rel(path)
    try:
        if not _inside(path.resolve(), ctx.root.resolve()):
            raise DataError(rel, "is a link to a file outside the CRM folder")
        data = path.read_bytes()
    except FileNotFoundError:
        output.warn(f"{rel} is missing: rendering the document again")
        return None
    except OSError as exc:
        raise DataError(rel, f"cannot be read: {exc.strerror or exc}") from exc
    if hashlib.sha256(data).hexdigest() != document.get("sha256"):
        output.warn(f"{rel} does not match its sha256 (see `crm check`)")
    return data


def kept_document(ctx: AppContext, rec: Record) -> tuple[str, bytes]:
    """(format, bytes) of the file an issued document keeps, to send: DataError when it is
    missing, a link out of the folder, or changed since issue (`crm.automation`)."""
    from crm.automation import kept_document as checked

    name, data = checked(ctx.root, rec.type, rec.path, rec.data)
    document = rec.data["document"]
    return str(document.get("format") or name.rpartition(".")[2]), data


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def write_output(data: bytes, out: Path | None, fmt: str) -> None:
    """A document to `out`, or to stdout (a PDF only when stdout is not a terminal). A file
    inside the CRM folder is refused (but for one at its top with a document's suffix): a
    record, the settings or a kept document is never overwritten."""
    from crm.store import atomic

    if out is not None:
        from crm.commands._email import output_path

        output_path(app_context(), out, "--out", OUTPUT_SUFFIXES)
        atomic.write_bytes(out, data)
        done(f"Wrote {out}")
        return
    if fmt == "pdf" and sys.stdout.isatty():
        raise UsageError("a PDF is not for the terminal", hint="write it to a file with -o FILE")
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


OUTPUT_SUFFIXES = (".pdf", ".html", ".htm", ".md", ".markdown", ".txt", ".text", ".xml")


def doc_format(fmt: str | None, out: Path | None, rtype: RecordType | None = None) -> str:
    from crm.commands._einvoice import EINVOICE_FORMATS

    chosen = fmt or (out.suffix.lstrip(".").lower() if out is not None else "txt")
    chosen = {"htm": "html", "markdown": "md", "text": "txt", "factur-x": "facturx"}.get(
        chosen, chosen
    )
    allowed: tuple[str, ...] = DOC_FORMATS
    if rtype is not None and rtype.name in ("invoice", "credit_note"):
        allowed += EINVOICE_FORMATS
        if fmt is None and chosen == "xml":
            chosen = "cii"
    if chosen not in allowed:
        raise UsageError(f"'{chosen}' is not a document format", hint=", ".join(allowed))
    return chosen


DocFormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format",
        "-f",
        help="pdf, html, md or txt; for invoices and credit notes also facturx (a PDF with the "
        "e-invoice inside), cii or ubl (the XML). Default: from -o's suffix, else txt.",
    ),
]
OutOpt = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="Write to this file (default: stdout).", show_default=False),
]


def add_render(app: CrmTyper, rtype: RecordType, example: str) -> None:
    def render_command(ref: RefArg, fmt: DocFormatOpt = None, out: OutOpt = None) -> None:
        ctx = app_context()
        rec = find(ctx, rtype, ref)
        chosen = doc_format(fmt, out, rtype)
        if chosen in ("facturx", "cii", "ubl"):
            from crm.commands._einvoice import einvoice_bytes

            write_output(
                einvoice_bytes(ctx, rec, chosen), out, "pdf" if chosen == "facturx" else "xml"
            )
            return
        data = (
            stored_document(ctx, rec, chosen)
            if rec.data.get("status") in ("issued", "sent")
            else None
        )
        if data is None:
            data = render_bytes(ctx, rec, chosen)
        write_output(data, out, chosen)

    label = rtype.name.replace("_", " ")
    render_command.__doc__ = f"""Render {_a(label)} as PDF, HTML, Markdown or text.

    An issued document is the file kept when it was issued, byte for byte. Templates in the
    folder's templates/ override the built-in ones (docs/documents.md).

    \b
    Examples:
      crm {rtype.name.replace("_", "-")} render {example} -o {example}.pdf
      crm {rtype.name.replace("_", "-")} render {example} --format md
    """
    app.command("render")(render_command)


# -- lines ------------------------------------------------------------------------------------


def add_line_commands(app: CrmTyper, rtype: RecordType, example: str) -> None:
    """`line add` and `line rm` for a document type."""
    lines = CrmTyper(help="The lines of a draft: products or free text with prices.")
    app.add_typer(lines, name="line")
    group = rtype.name.replace("_", "-")

    def line_add(
        ref: RefArg,
        product: Annotated[
            str | None, typer.Option("--product", "-p", help="A catalogue product: id or name.")
        ] = None,
        qty: Annotated[
            str | None, typer.Option("--qty", "-q", help="Quantity (default 1), e.g. 12 or 1.5.")
        ] = None,
        text: Annotated[
            str | None, typer.Option("--text", help="What the line is for (default: product's).")
        ] = None,
        price: Annotated[
            str | None, typer.Option("--price", help="Unit price, net (default: product's).")
        ] = None,
        unit: Annotated[
            str | None, typer.Option("--unit", help="hour, day, piece, ... (default: product's).")
        ] = None,
        discount: Annotated[
            str | None, typer.Option("--discount", help="Discount in percent, e.g. 10.")
        ] = None,
        tax: Annotated[
            str | None,
            typer.Option("--tax", help="Tax rate in percent (default: product's, else crm.yaml)."),
        ] = None,
        exempt: Annotated[
            str | None,
            typer.Option("--exempt", help="No tax on this line, for this reason (printed)."),
        ] = None,
        section: Annotated[
            str | None,
            typer.Option("--section", help="Start a section with this heading before the line."),
        ] = None,
        dry_run: DryRunOpt = False,
    ) -> None:
        from crm.documents import currency_of
        from crm.invoicing import line_entry, refuse_draft_only

        ctx = app_context()
        with ctx.store.transaction(dry_run=dry_run) as tx:
            rec = find(ctx, rtype, ref)
            refuse_draft_only(rec, "change its lines")
            chosen = find(ctx, RECORD_TYPES["product"], product) if product else None
            entry = line_entry(
                currency=currency_of(rec, ctx.config),
                default_currency=ctx.config.currency,
                product=chosen,
                text=text,
                quantity=qty,
                price=price,
                unit=unit,
                discount=discount,
                tax=tax,
                exempt=exempt,
            )
            current = list(rec.data.get("lines") or [])
            new = [*current, *([{"section": section}] if section else []), entry]
            tx.update(rec, [Edit("set", ("lines",), new)])
        if dry_run:
            output.emit_diff(tx.changes)
        else:
            done(f"Added line {_count(new)} to {rec.path}")

    line_add.__doc__ = f"""Add a line: a catalogue product, or free text with a price.

    \b
    Examples:
      crm {group} line add {example} --product design-hour --qty 12
      crm {group} line add {example} --text "Hosting, 1 year" --price 240 --tax 19
      crm {group} line add {example} --text "Workshop" --price 900 --discount 10 --section Training
    """

    def line_rm(
        ref: RefArg,
        numbers: Annotated[list[int], typer.Argument(help="Line numbers, as `show` numbers them.")],
        dry_run: DryRunOpt = False,
    ) -> None:
        from crm.invoicing import refuse_draft_only, remove_lines

        ctx = app_context()
        with ctx.store.transaction(dry_run=dry_run) as tx:
            rec = find(ctx, rtype, ref)
            refuse_draft_only(rec, "change its lines")
            kept = remove_lines(list(rec.data.get("lines") or []), numbers)
            edit = Edit("set", ("lines",), kept) if kept else Edit("unset", ("lines",))
            tx.update(rec, [edit])
        if dry_run:
            output.emit_diff(tx.changes)
        else:
            done(f"Removed {len(set(numbers))} line(s) from {rec.path}")

    line_rm.__doc__ = f"""Remove lines by number (section headings go with `edit`).

    \b
    Example:
      crm {group} line rm {example} 2
    """
    lines.command("add")(line_add)
    lines.command("rm")(line_rm)


def _a(label: str) -> str:
    """`an invoice`, `a quote`; a recurring invoice is `a recurring invoice`."""
    label = "recurring invoice" if label == "recurring" else label
    return f"{'an' if label[0] in 'aeiou' else 'a'} {label}"


def _count(lines: Sequence[Any]) -> int:
    from crm.invoicing import priced_positions

    return len(priced_positions(lines))


# -- show and list ----------------------------------------------------------------------------


def document_json(ctx: AppContext, rec: Record, obj: dict[str, Any]) -> dict[str, Any]:
    """The JSON of a document: its fields, and its lines and taxes as computed."""
    from crm.documents import totals_of
    from crm.errors import ValidationError

    try:
        totals = totals_of(rec, ctx.config)
    except ValidationError as exc:
        output.warn(f"{rec.path}: {exc.message}")
        return obj
    return {
        **obj,
        "currency": totals.currency,
        **{
            "lines": [line.json() for line in totals.lines],
            "taxes": [group.json() for group in totals.groups],
        },
    }


def show_command(rtype: RecordType, example: str) -> Callable[..., None]:
    def show(ref: RefArg, fmt: FormatOpt = None) -> None:
        from crm.views import objects

        ctx = app_context()
        rec = find(ctx, rtype, ref)
        notes = credit_notes(ctx) if rtype.name == "invoice" else []
        obj = document_json(ctx, rec, objects([rec], ctx.config, dates.now(), notes)[0])
        rel = related(ctx, rec)
        whole = {**obj, "related": rel}
        cur = str(obj.get("currency") or "")
        pairs: list[tuple[str, Any]] = [("id", rec.id)]
        for key in (
            "number",
            "status",
            "company",
            "contact",
            "deal",
            "quote",
            "invoice",
            "issued",
            "valid_until",
            "service_date",
            "service_until",
            "due",
            "regime",
            "schedule",
            "start",
            "end",
            "paused",
            "reason",
        ):
            value = obj.get(key)
            target = rel.get(key)
            if isinstance(target, dict) and target.get("id"):
                names = [v for k, v in target.items() if k != "id" and v]
                value = f"{target['id']} ({names[0]})" if names else target["id"]
            pairs.append((key.replace("_", " "), value))
        for key in ("net", "tax", "total", "paid", "credited", "amount_due"):
            if obj.get(key) is not None:
                pairs.append((key.replace("_", " "), f"{obj[key]} {cur}"))
        pairs.append(("tags", obj.get("tags")))
        line_rows = [
            {
                "#": line["number"],
                "text": line["text"]
                if not line["section"]
                else f"{line['section']}: {line['text']}",
                "qty": f"{line['quantity']} {line['unit'] or ''}".strip(),
                "price": line["price"],
                "disc": f"{line['discount']}%" if line["discount"] != "0" else "",
                "tax": f"{line['tax_rate']}%" if not line["exempt"] else line["exempt"],
                "net": line["net"],
            }
            for line in obj.get("lines") or []
            if isinstance(line, dict) and "net" in line
        ]
        sections = [
            output.Section("Lines", ["#", "text", "qty", "price", "disc", "tax", "net"], line_rows)
        ]
        taxes = [
            {"rate": f"{t['rate']}%", "taxable": t["taxable"], "tax": t["tax"], "note": t["exempt"]}
            for t in obj.get("taxes") or []
        ]
        if taxes:
            sections.append(output.Section("Tax", ["rate", "taxable", "tax", "note"], taxes))
        for key, title, columns in (
            ("payments", "Payments", ["date", "amount", "method", "reference"]),
            ("reminders", "Reminders", ["date", "level", "fee"]),
            ("invoiced", "Invoiced periods", ["period", "invoice"]),
        ):
            if obj.get(key):
                sections.append(output.Section(title, columns, obj[key]))
        for key, other in (("credit_notes", "credit_note"), ("invoices", "invoice")):
            if rel.get(key):
                columns = [c for c in RECORD_TYPES[other].columns if c != rtype.name]
                title = key.replace("_", " ").capitalize()
                sections.append(output.Section(title, columns, rel[key]))
        detail = output.Detail(
            heading=rec.title,
            pairs=pairs,
            notes=obj.get("notes") if isinstance(obj.get("notes"), str) else None,
            sections=sections,
        )
        output.emit_record(whole, detail, output.resolve_format(fmt))

    label = rtype.name.replace("_", " ")
    group = rtype.name.replace("_", "-")
    show.__doc__ = f"""Show {_a(label)}: its lines, tax per rate and totals.

    `--format json` gives every amount as an exact decimal string.

    \b
    Examples:
      crm {group} show {example}
      crm {group} show {example} --format json | jq .amount_due
    """
    return show


STATUS_GROUPS = {"open": ("issued", "sent", "partially_paid", "overdue")}


def list_command(rtype: RecordType, statuses: Sequence[str], example: str) -> Callable[..., None]:
    def list_documents(
        status: list[str] | None = None,  # annotated below: its help names the statuses
        customer: Annotated[
            str | None, typer.Option("--customer", "-c", help="A company or contact.")
        ] = None,
        where: WhereOpt = None,
        sort: SortOpt = None,
        limit: LimitOpt = None,
        tag: TagFilterOpt = None,
        segment: SegmentOpt = None,
        fmt: FormatOpt = None,
    ) -> None:
        from crm.documents import DOCUMENT_TYPES, money_problem
        from crm.query import field_path, sort_objects

        ctx = app_context()
        wanted: set[str] = set()
        for name in status or ():
            if name not in statuses and name not in STATUS_GROUPS:
                raise UsageError(f"'{name}' is not a status", hint=", ".join(statuses))
            wanted.update(STATUS_GROUPS.get(name, (name,)))
        who = customer_values(ctx, customer) if customer else None
        objs = []
        for rec, obj in select(ctx, rtype, where, tag, segment):
            if rtype.name in DOCUMENT_TYPES and obj.get("total") is None:
                issue = money_problem(rec, ctx.config)  # a bad line or payment: say which
                output.warn(f"skipped {issue or rec.path} (see `crm check`)")
                continue
            if wanted and obj.get("status") not in wanted:
                continue
            if who and not _belongs(rec, who):
                continue
            objs.append(obj)
        objs.sort(key=lambda o: str(o.get("number") or ""), reverse=True)  # ties: by number
        order = sort or ("title" if rtype.name == "recurring" else "-issued")
        path = field_path(rtype, ctx.config, order.lstrip("-"))
        objs = sort_objects(objs, path, descending=order.startswith("-"))
        if limit:
            objs = objs[:limit]
        output.emit_rows(objs, rtype.columns, output.resolve_format(fmt))

    names = [*statuses, *(["open"] if rtype.name == "invoice" else [])]
    list_documents.__annotations__["status"] = Annotated[
        list[str] | None,
        typer.Option("--status", help=", ".join(names) + " (repeatable)."),
    ]
    plural = rtype.plural.replace("_", " ")
    group = rtype.name.replace("_", "-")
    order = "by title" if rtype.name == "recurring" else "newest first"
    list_documents.__doc__ = f"""List {plural}, {order}, by status and customer.

    \b
    Examples:
      crm {group} list
      crm {group} list --status {statuses[-1]} --customer acme
      crm {group} list --where "{example}" --format json
    """
    return list_documents


def _belongs(rec: Record, who: dict[str, str]) -> bool:
    if "contact" in who and rec.data.get("contact") == who["contact"]:
        return True
    if "company" in who and "contact" not in who:
        return rec.data.get("company") == who["company"]
    return False


# -- numbers ----------------------------------------------------------------------------------


def series_numbers(ctx: AppContext, tx: Transaction, rtype: RecordType) -> dict[str, str]:
    """Every number of `rtype` given so far (read under the lock, and staged in `tx`), with
    the issue date it carries. Refused while a file of the type cannot be read: it may hold
    the highest number, which would then be given twice."""
    from crm.errors import DataError

    scan = ctx.store.scan(rtype)
    if scan.problems:
        first = scan.problems[0]
        more = len(scan.problems) - 1
        raise DataError(
            first.path,
            f"cannot be read ({first.detail}), so the next {rtype.name.replace('_', ' ')} "
            "number is unknown" + (f"; {more} more such file(s)" if more else ""),
            line=first.line,
            hint="mend it (`crm check` lists every problem), then try again",
        )
    numbers: dict[str, str] = {}
    for other in scan.records:
        if other.data.get("number"):
            numbers[str(other.data["number"])] = str(other.data.get("issued") or "")
    for staged in tx.staged(rtype):  # numbered earlier in this same transaction
        if staged.get("number"):
            numbers[str(staged["number"])] = str(staged.get("issued") or "")
    return numbers


# -- status changes ---------------------------------------------------------------------------


def set_status(
    ctx: AppContext,
    rtype: RecordType,
    ref: str,
    *,
    allowed: Sequence[str],
    edits: Callable[[Transaction, Record], list[Edit]],
    dry_run: bool,
) -> Record:
    """Change a document's stored status (from one of `allowed`) in a transaction."""
    with ctx.store.transaction(dry_run=dry_run) as tx:
        rec = find(ctx, rtype, ref)
        status = str(rec.data.get("status") or "draft")
        if status not in allowed:
            raise ConflictError(
                f"{rtype.name.replace('_', ' ')} {rec.data.get('number') or rec.id} is {status}",
                hint=f"it must be {' or '.join(allowed)} for that",
            )
        changes = edits(tx, rec)
        tx.update(rec, changes)
        after = replace(rec, data=apply(rec.data, changes))
    if dry_run:
        output.emit_diff(tx.changes)
    return after


# -- new documents ----------------------------------------------------------------------------


def new_document(
    rtype: RecordType,
    *,
    title: str | None,
    customer: str | None,
    deal: str | None,
    values: dict[str, Any],
    dry_run: bool,
    extra: Callable[[Transaction, str], None] | None = None,
    fill: Callable[[Transaction, dict[str, Any]], Sequence[Edit]] | None = None,
    name: str | None = None,
) -> str | None:
    """Create a draft quote, invoice or recurring invoice for a customer; print its id.

    The customer is `customer`, else the deal's. `values` are further fields as option texts;
    `fill` gives further fields (lines), given the new record's fields so far; `extra` makes
    further changes in the same transaction, given the new id. `name` is what a title made
    when none is given calls it (`Time 2026-11 for Acme GmbH`; default: Invoice, Quote)."""
    from crm.commands._records import resolver
    from crm.ids import slugify
    from crm.invoicing import new_document_defaults
    from crm.records import new_record, plan

    ctx = app_context()
    config = ctx.config
    deal_rec = find(ctx, RECORD_TYPES["deal"], deal) if deal else None
    if customer:
        who = customer_values(ctx, customer)
    elif deal_rec is not None and (deal_rec.data.get("company") or deal_rec.data.get("contact")):
        who = {k: deal_rec.data[k] for k in ("company", "contact") if deal_rec.data.get(k)}
    else:
        raise UsageError("whom is it for? give --for COMPANY-OR-CONTACT (or --deal)")
    probe = Record(type=rtype, id="", data=dict(who), path="")
    buyer, _ = parties(ctx, probe)
    if not title:
        label = name or {"quote": "Quote", "invoice": "Invoice"}.get(
            rtype.name, rtype.name.capitalize()
        )
        title = f"{label} for {buyer.title if buyer else who}"
        if deal_rec is not None:
            title = f"{deal_rec.title}: {name}" if name else deal_rec.title
    currency = (
        values.pop("currency", None)
        or (deal_rec.data.get("currency") if deal_rec else None)
        or config.currency
    )
    assignments: list[tuple[str, str, Any]] = [("title", "=", title), ("currency", "=", currency)]
    assignments += [(k, "=", v) for k, v in who.items()]
    if deal_rec is not None:
        assignments.append(("deal", "=", deal_rec.id))
    for key, value in values.items():
        if value not in (None, [], ()):
            assignments.append((key, "=", list(value) if isinstance(value, tuple) else value))
    defaults = new_document_defaults(buyer, config)
    with ctx.store.transaction(dry_run=dry_run) as tx:
        edits = plan(rtype, config, {}, assignments, [], resolver(ctx), tx.now)
        keys = {e.path[0] for e in edits}
        edits += [Edit("set", (k,), v) for k, v in defaults.items() if k not in keys]
        if rtype.name == "recurring":
            edits = [e for e in edits if e.path != ("status",)]
        if fill is not None:
            edits += fill(tx, apply({}, edits))
        body = new_record(rtype, config, edits, tx.now)
        rid = tx.create(rtype, body, base=slugify(title, fallback=rtype.name))
        if extra is not None:
            extra(tx, rid)
    if dry_run:
        output.emit_diff(tx.changes)
        return None
    print(rid)
    return rid


ForOpt = Annotated[
    str | None,
    typer.Option("--for", "-f", help="The customer: a company or contact (id, name, email)."),
]
DealOpt = Annotated[str | None, typer.Option("--deal", "-d", help="The deal it belongs to.")]
CurrencyOpt = Annotated[
    str | None, typer.Option("--currency", help="ISO 4217 code. Default: the deal's or crm.yaml's.")
]
TermsOpt = Annotated[str | None, typer.Option("--terms", help="Terms printed on the document.")]
DocNotesOpt = Annotated[
    str | None, typer.Option("--notes", help="Notes printed on the document (- reads stdin).")
]
RegimeOpt = Annotated[
    str | None,
    typer.Option(
        "--regime", help="standard, reverse_charge or small_business (default: the customer's)."
    ),
]
