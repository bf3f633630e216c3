"""E-invoices for invoices and credit notes: Factur-X PDFs, CII and UBL XML, and `validate`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from crm import output
from crm.commands._options import CrmTyper, FormatOpt
from crm.commands._records import done
from crm.context import AppContext, app_context
from crm.errors import NotFoundError, UsageError
from crm.models import RecordType
from crm.records import Record

EINVOICE_FORMATS = ("facturx", "cii", "ubl")


def wants_facturx(ctx: AppContext, rec: Record) -> bool:
    """Whether `rec` is issued as a Factur-X PDF: its customer's `einvoice:`, else crm.yaml's."""
    from crm.commands._documents import parties

    if rec.type.name not in ("invoice", "credit_note"):
        return False
    buyer, contact = parties(ctx, rec)
    for party in (buyer, contact):
        if party is not None and party.data.get("einvoice") in ("none", "facturx"):
            return bool(party.data["einvoice"] == "facturx")
    return ctx.config.billing.einvoice == "facturx"


def _data(ctx: AppContext, rec: Record) -> dict[str, Any]:
    from crm import einvoice
    from crm.commands._documents import context_of

    return einvoice.document(context_of(ctx, rec))


def xml_of(ctx: AppContext, rec: Record, syntax: str) -> bytes:
    """The CII or UBL XML of an issued invoice or credit note. The CII of one kept as a
    Factur-X PDF is the XML inside that PDF: what was sent."""
    from crm import einvoice
    from crm.commands._documents import stored_document

    if syntax == "cii":
        kept = stored_document(ctx, rec, "pdf")
        if kept is not None:
            inside = einvoice.extract(kept)
            if inside is not None:
                return inside
    return einvoice.xml(_data(ctx, rec), syntax)


def facturx_pdf(ctx: AppContext, rec: Record, *, strict: bool = False) -> bytes:
    """The Factur-X PDF of an invoice or credit note: its PDF/A-3 with the CII XML inside.
    `strict` (at issue): refuse XML that breaks an EN 16931 rule, when the rules can be run."""
    from crm import einvoice
    from crm.commands._documents import render_bytes, stored_document

    kept = stored_document(ctx, rec, "pdf")
    if kept is not None and einvoice.extract(kept) is not None:
        return kept
    xml_data = einvoice.xml(_data(ctx, rec), "cii")
    broken = einvoice.breaks(xml_data, "cii") if strict else []
    if broken:
        rules = ", ".join(dict.fromkeys(f.rule for f in broken))
        raise einvoice.EInvoiceError(
            f"the e-invoice would break EN 16931 rules {rules}: {broken[0].message}",
            hint="correct what the rule names and issue again (nothing was written)",
        )
    pdf = render_bytes(ctx, rec, "pdf")
    return einvoice.embed(pdf, xml_data, ctx.config.billing.locale.split("_")[0])


def einvoice_bytes(ctx: AppContext, rec: Record, fmt: str) -> bytes:
    if rec.type.name not in ("invoice", "credit_note"):
        raise UsageError(
            f"a {rec.type.name.replace('_', ' ')} is not an e-invoice",
            hint="pdf, html, md or txt",
        )
    if fmt == "facturx":
        return facturx_pdf(ctx, rec)
    return xml_of(ctx, rec, fmt)


def add_validate(app: CrmTyper, rtype: RecordType, example: str) -> None:
    group = rtype.name.replace("_", "-")

    def validate(
        target: Annotated[
            str,
            typer.Argument(
                help="The record (id or number), or an XML or Factur-X PDF file.",
                show_default=False,
            ),
        ],
        syntax: Annotated[
            str | None,
            typer.Option("--syntax", help="cii or ubl: which XML of a record to check (cii)."),
        ] = None,
        no_rules: Annotated[
            bool, typer.Option("--no-rules", help="Only the XSD, not the EN 16931 rules.")
        ] = False,
        fmt: FormatOpt = None,
    ) -> None:
        ctx = app_context()
        data, label, expected = _target(ctx, rtype, target, syntax)
        report = _validate(data, not no_rules)
        findings = [f.json() for f in report.findings]
        for problem in _exact(data, expected):
            findings.append(
                {"rule": "crm-totals", "severity": "fatal", "message": problem, "location": ""}
            )
        chosen = output.resolve_format(fmt)
        if findings or chosen not in (output.Format.TABLE, output.Format.TSV):
            output.emit_rows(findings, ["rule", "severity", "message", "location"], chosen)
        fatal = any(f["severity"] == "fatal" for f in findings)
        what = f"{label}: {report.syntax.upper()}, EN 16931"
        if not report.rules_checked and not no_rules:
            output.warn(
                "the EN 16931 rules were not checked: install crm's `einvoice` extra (saxonche)"
            )
        if fatal:
            output.error(f"{what}: not valid ({len(findings)} problem(s))")
            raise typer.Exit(1)
        done(f"{what}: valid ({'schema and rules' if report.rules_checked else 'schema'})")

    validate.__doc__ = f"""Check the e-invoice of {_a(rtype.name.replace("_", " "))}, or an XML or
    Factur-X PDF file: the XSD, the EN 16931 rules (each rule broken is listed with its id,
    e.g. BR-CO-15, and what it asks), and for a record that the totals in the XML equal its
    own to the cent. Exit status 1 when anything is wrong.

    The rules need the optional `einvoice` extra (pip install 'crm[einvoice]', which brings an
    XSLT 2 engine); without it only the XSD is checked, with a warning.

    \b
    Examples:
      crm {group} validate {example}
      crm {group} validate {example} --syntax ubl
      crm {group} validate received/invoice.pdf --format json
    """
    app.command("validate")(validate)


def _a(label: str) -> str:
    return f"an {label}" if label[0] in "aeiou" else f"a {label}"


def _target(
    ctx: AppContext, rtype: RecordType, target: str, syntax: str | None
) -> tuple[bytes, str, dict[str, str] | None]:
    """The XML to check, how to name it, and the record's totals when it is a record."""
    from crm import einvoice
    from crm.commands._records import find
    from crm.documents import totals_of

    if syntax not in (None, "cii", "ubl"):
        raise UsageError(f"'{syntax}' is not an XML syntax", hint="cii or ubl")
    path = Path(target)
    if path.suffix.lower() in (".xml", ".pdf") or path.is_file():
        if syntax is not None:
            raise UsageError("--syntax is for records; a file is checked as it is")
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise NotFoundError(f"{target}: {exc.strerror}") from exc
        if raw.startswith(b"%PDF"):
            inside = einvoice.extract(raw)
            if inside is None:
                raise einvoice.EInvoiceError(f"{target} is a PDF without an e-invoice inside")
            raw = inside
        return raw, target, None
    rec = find(ctx, rtype, target)
    totals = totals_of(rec, ctx.config)
    expected = {"net": str(totals.net), "tax": str(totals.tax), "total": str(totals.gross)}
    label = str(rec.data.get("number") or rec.id)
    return xml_of(ctx, rec, syntax or "cii"), label, expected


def _validate(data: bytes, rules: bool) -> Any:
    from crm import einvoice

    return einvoice.validate(data, rules=rules)


def _exact(data: bytes, expected: dict[str, str] | None) -> list[str]:
    from crm import einvoice

    return einvoice.totals_mismatch(data, expected) if expected else []
