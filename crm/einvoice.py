"""E-invoices: the EN 16931 data of an invoice or credit note, as CII or UBL XML.

The XML is built by the `factur-x` package from a dictionary keyed by the terms of EN 16931
(BT-1 the number, BG-4 the seller, ...), made here from the same context the document templates
get, so the XML and the PDF show the same figures to the cent. The checks are the XSD the
package bundles and, when `saxonche` is installed, the EN 16931 schematron rules it bundles too.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from crm.errors import CrmError

FLAVORS = {"cii": "factur-x", "ubl": "ubl-2.1"}
LEVEL = "en16931"
INVOICE_TYPE = "380"  # commercial invoice (UNTDID 1001)
CREDIT_NOTE_TYPE = "381"
SEPA_TRANSFER = "58"  # payment means (UNTDID 4461)
CREDIT_TRANSFER = "30"

# UN/ECE Recommendation 20 codes for the units people write on lines.
_UNIT_WORDS = {
    "HUR": "hour hours h hr hrs std stunde stunden stunde(n) heure heures",
    "MIN": "minute minutes min",
    "DAY": "day days tag tage jour jours",
    "WEE": "week weeks woche wochen semaine semaines",
    "MON": "month months monat monate mois",
    "ANN": "year years jahr jahre an ans année années",
    "H87": "piece pieces pcs stück stk stck pièce pièces",
    "KMT": "km",
    "KGM": "kg",
    "LS": "flat pauschal psch pauschale forfait",
}
UNIT_CODES = {word: code for code, words in _UNIT_WORDS.items() for word in words.split()}
_UNIT_CODE = re.compile(r"[A-Z0-9]{2,3}")
_CODEDB = "xsd_and_schematron/facturx-en16931/FACTUR-X_EN16931_codedb.xml"
ONE = "C62"  # "one": a unit of count


class EInvoiceError(CrmError):
    """An invoice that cannot become a valid e-invoice, or an XML file that is not one."""

    exit_code = 1


def unit_code(unit: str | None) -> str:
    """The UN/ECE code of a line's unit: `hour` and `Std.` are HUR, `day` DAY; a code of the
    list stays itself; anything else is C62 ("one")."""
    if not unit:
        return ONE
    text = unit.strip()
    word = UNIT_CODES.get(text.rstrip(".").casefold())
    if word is not None:  # words first: `STK` is Stück to a German, "stick" to Rec 20
        return word
    return text if _UNIT_CODE.fullmatch(text) and text in _known_units() else ONE


@functools.cache
def _known_units() -> frozenset[str]:
    """The unit codes EN 16931 allows, from the code lists factur-x bundles."""
    from pathlib import Path

    import facturx
    from lxml import etree

    path = Path(facturx.__file__).parent / _CODEDB
    root = etree.parse(str(path), parser=_safe_parser()).getroot()
    for codes in root.iter("cl"):
        values = frozenset(str(e.get("value")) for e in codes.iter("enumeration"))
        if "HUR" in values and ONE in values:
            return values
    return frozenset({ONE, "HUR", "DAY", "MON", "ANN", "WEE", "MIN", "H87", "KMT", "KGM", "LS"})


# -- VAT categories (UNTDID 5305) ---------------------------------------------------------------


def vat_category(rate: str, exempt: str | None, regime: str) -> tuple[str, str | None]:
    """The VAT category code of a tax group and, for exemptions, the reason text.

    S standard rate; Z zero rated; AE reverse charge; E exempt (a line's own exemption, and
    the small-business exemption, e.g. §19 UStG).
    """
    if regime == "reverse_charge":
        return "AE", "Reverse charge"
    if regime == "small_business":
        return "E", exempt or "Small business exemption"
    if exempt:
        return "E", exempt
    return ("Z", None) if _dec(rate) == 0 else ("S", None)


# -- the EN 16931 dictionary --------------------------------------------------------------------


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and value:
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def _address(party: Mapping[str, Any]) -> dict[str, str]:
    address = party.get("address") or {}
    out: dict[str, str] = {}
    country = str(address.get("country") or "").strip().upper()
    if country:
        out["country_code"] = country
    for key, part in (("city", "city"), ("postcode", "postcode"), ("addr_l1", "street")):
        if address.get(part):
            out[key] = str(address[part])
    if address.get("region"):
        out["country_subdivision"] = str(address["region"])
    if address.get("text") and "addr_l1" not in out:
        lines = [s.strip() for s in str(address["text"]).splitlines() if s.strip()]
        for key, line in zip(("addr_l1", "addr_l2", "addr_l3"), lines, strict=False):
            out[key] = line
    return out


def _party(party: Mapping[str, Any], who: str) -> dict[str, Any]:
    name = str(party.get("name") or "").strip()
    if not name:
        raise EInvoiceError(f"the {who} has no name", hint=_hint(who, "name", party))
    out: dict[str, Any] = {"name": name, **_address(party)}
    if "country_code" not in out:
        raise EInvoiceError(
            f"the {who} ({name}) has no country in its address (an e-invoice needs one)",
            hint=_hint(who, "address.country=DE", party),
        )
    if not re.fullmatch(r"[A-Z]{2}", out["country_code"]):
        raise EInvoiceError(
            f"the {who}'s country '{out['country_code']}' is not a two-letter ISO 3166 code",
            hint=_hint(who, "address.country=DE", party),
        )
    vat_id = str(party.get("vat_id") or "").replace(" ", "").upper()
    if vat_id:
        out["vat_identifier"] = vat_id
    if party.get("tax_number"):
        out["tax_identifier"] = str(party["tax_number"])
        if not vat_id:  # BR-CO-26 asks for BT-29, BT-30 or BT-31; BT-32 alone is not enough
            out["identifiers"] = {None: str(party["tax_number"])}
    email = party.get("email")
    if email:
        out["einvoicing_addr"] = str(email)
        out["einvoicing_addr_schemeid"] = "EM"  # an email address (EAS code list)
    contact = {k: str(party[k]) for k in ("phone", "email") if party.get(k)}
    if who == "seller" and contact:
        out["contacts"] = [{"name": name, **contact}]
    return out


def _hint(who: str, what: str, party: Mapping[str, Any] | None = None) -> str:
    if who == "seller":
        return f"set business.{what.split('=')[0]} in crm.yaml"
    ref = (party or {}).get("id") or "CUSTOMER"
    return f"crm company set {ref} {what} (or crm contact set, for a person)"


def document(ctx: Mapping[str, Any]) -> dict[str, Any]:
    """The EN 16931 dictionary of an issued invoice or credit note, from its template context
    (`crm.documents.context`). Raises EInvoiceError for what an e-invoice cannot lack."""
    kind = ctx.get("kind")
    if kind not in ("invoice", "credit_note"):
        raise EInvoiceError(
            f"a {kind} cannot be an e-invoice", hint="only invoices and credit notes"
        )
    number = ctx.get("number")
    issued = _date(ctx.get("issued"))
    if not number or issued is None:
        raise EInvoiceError(
            f"{ctx.get('id')} is a draft: an e-invoice needs the number and date given at issue",
            hint=f"crm {str(kind).replace('_', '-')} issue {ctx.get('id')}",
        )
    buyer = ctx.get("buyer") or ctx.get("contact")
    if not buyer:
        raise EInvoiceError(f"{ctx.get('id')} names no customer", hint="set company or contact")
    regime = str(ctx.get("regime") or "standard")
    data: dict[str, Any] = {
        "BT-24": "urn:cen.eu:en16931:2017",
        "BT-1": str(number),
        "BT-2": issued,
        "BT-3": CREDIT_NOTE_TYPE if kind == "credit_note" else INVOICE_TYPE,
        "BT-5": str(ctx["currency"]),
        "BG-4": _party(ctx["seller"], "seller"),
        "BG-7": _party(buyer, "buyer"),
    }
    if regime == "reverse_charge":
        for who, key in (("seller", "BG-4"), ("buyer", "BG-7")):
            if "vat_identifier" not in data[key]:
                raise EInvoiceError(
                    f"reverse charge needs the {who}'s VAT id (rule BR-AE-02/03)",
                    hint=_hint(who, "vat_id"),
                )
    if not any(k in data["BG-4"] for k in ("vat_identifier", "identifiers")):
        raise EInvoiceError(
            "the seller needs a VAT id or a tax number on an e-invoice (rule BR-CO-26)",
            hint="set business.vat_id (or business.tax_number) in crm.yaml",
        )
    for key, field in (("BT-10", "buyer_reference"), ("BT-13", "order_reference")):
        if ctx.get(field):
            data[key] = str(ctx[field])
    data.update(_delivery(ctx, issued))
    if kind == "credit_note":
        data["BG-3"] = [_preceding(ctx)]
    notes = [ctx.get("reason"), ctx.get("regime_note"), ctx.get("notes"), ctx.get("terms")]
    notes += [f"VAT exemption: {reason}" for reason in ctx.get("exemptions") or ()]
    if any(notes):
        data["BG-1"] = [{"BT-22": str(n).strip()} for n in notes if n and str(n).strip()]
    data["BG-25"] = [_line(line, regime) for line in ctx["lines"]]
    data["BG-23"] = _tax_groups(ctx["taxes"], regime)
    lines_net = sum(_dec(line["net"]) for line in ctx["lines"])
    data.update(
        {
            "BT-106": _amount(lines_net, ctx["net"]),
            "BT-109": str(ctx["net"]),
            "BT-110": str(ctx["tax"]),
            "BT-112": str(ctx["total"]),
            "BT-115": str(ctx["total"]),
        }
    )
    if kind == "invoice":
        data.update(_payment(ctx, str(number)))
    return data


def _dec(value: Any) -> Any:
    from decimal import Decimal

    return Decimal(str(value))


def _amount(value: Any, like: Any) -> str:
    """`value` with the decimals of `like` (an amount of the same document)."""
    exponent = _dec(like).as_tuple().exponent
    return str(_dec(value).quantize(_dec(1).scaleb(int(exponent))))


def _delivery(ctx: Mapping[str, Any], issued: dt.date) -> dict[str, Any]:
    """BT-72, the date of supply (the end of the period for services over one), and the
    invoicing period BT-73/74 when the invoice has one."""
    start, end = _date(ctx.get("service_date")), _date(ctx.get("service_until"))
    if start is None and end is None and ctx.get("kind") == "credit_note":
        # what a credit note corrects was supplied when the invoice said
        start = _date(ctx.get("invoice_service_date"))
        end = _date(ctx.get("invoice_service_until"))
        issued = _date(ctx.get("invoice_issued")) or issued
    out: dict[str, Any] = {"BT-72": end or start or issued}
    if start and end:
        out["BT-73"], out["BT-74"] = start, end
    return out


def _preceding(ctx: Mapping[str, Any]) -> dict[str, Any]:
    number = ctx.get("invoice_number")
    if not number:
        raise EInvoiceError(
            "a credit note's e-invoice must name the invoice it corrects, which has no number"
        )
    out: dict[str, Any] = {"BT-25": str(number)}
    day = _date(ctx.get("invoice_issued"))
    if day:
        out["BT-26"] = day
    return out


def _line(line: Mapping[str, Any], regime: str) -> dict[str, Any]:
    code, _ = vat_category(line["tax_rate"], line.get("exempt"), regime)
    quantity, price = _dec(line["quantity"]), _dec(line["price"])
    if price < 0:  # a deduction (a deposit paid): BR-27 wants the price positive, so the
        quantity, price = -quantity, -price  # quantity carries the sign
    out: dict[str, Any] = {
        "BT-126": str(line["number"]),
        "BT-129": str(quantity),
        "BT-130": unit_code(line.get("unit")),
        "BT-131": str(line["net"]),
        "BT-146": str(price),
        "BT-151": code,
        "BT-152": str(line["tax_rate"]),
        "BT-153": _item_name(str(line["text"])),
    }
    text = str(line["text"]).strip()
    if "\n" in text or len(text) > 200:
        out["BT-154"] = text
    if line.get("product"):
        out["BT-155"] = str(line["product"])
    discount = _dec(line.get("discount") or 0)
    if discount:
        base = quantity * price
        base = _dec(_amount(base, line["net"]))
        out["BG-27"] = [
            {
                "amount": str(base - _dec(line["net"])),
                "base_amount": str(base),
                "rate": str(discount),
                "reason": "Discount",
                "reason_code": "95",  # UNTDID 5189: discount
            }
        ]
    return out


def _item_name(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else text
    return first if len(first) <= 200 else first[:199] + "…"


def _tax_groups(groups: Sequence[Mapping[str, Any]], regime: str) -> list[dict[str, Any]]:
    """The VAT breakdown: one entry per category and rate (BR-E-01 allows one exempt entry, so
    lines exempt for different reasons share it, their reasons joined)."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for group in groups:
        code, reason = vat_category(group["rate"], group.get("exempt"), regime)
        key = (code, str(_dec(group["rate"])))
        entry = merged.get(key)
        if entry is None:
            entry = merged[key] = {
                "BT-116": _dec(0),
                "BT-117": _dec(0),
                "BT-118": code,
                "BT-119": str(group["rate"]),
                "reasons": [],
                "like": group["taxable"],
            }
        entry["BT-116"] += _dec(group["taxable"])
        entry["BT-117"] += _dec(group["tax"])
        if reason and reason not in entry["reasons"]:
            entry["reasons"].append(reason)
    out = []
    for entry in merged.values():
        like = entry.pop("like")
        reasons = entry.pop("reasons")
        entry["BT-116"] = _amount(entry["BT-116"], like)
        entry["BT-117"] = _amount(entry["BT-117"], like)
        if reasons:
            entry["BT-120"] = "; ".join(reasons)
        if entry["BT-118"] == "AE":
            entry["BT-121"] = "VATEX-EU-AE"
        out.append(entry)
    return out


def _payment(ctx: Mapping[str, Any], number: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    due = _date(ctx.get("due"))
    if due:
        out["BT-9"] = due
    days = ctx.get("payment_terms")
    if days is not None:
        out["BT-20"] = f"Payable within {days} days" if days else "Payable on receipt"
    bank = (ctx.get("seller") or {}).get("bank") or {}
    iban = str(bank.get("iban") or "").replace(" ", "").upper()
    if iban:  # without an account a payment means would break BR-61
        sepa = str(ctx.get("currency")) == "EUR"
        out.update({"BT-81": SEPA_TRANSFER if sepa else CREDIT_TRANSFER, "BT-84": iban})
        out["BT-83"] = number
        if bank.get("holder"):
            out["BT-85"] = str(bank["holder"])
        if bank.get("bic"):
            out["BT-86"] = str(bank["bic"]).replace(" ", "").upper()
    return out


# -- XML ----------------------------------------------------------------------------------------


def xml(data: Mapping[str, Any], syntax: str) -> bytes:
    """The CII (`cii`, as Factur-X embeds it) or UBL XML of an EN 16931 dictionary, checked
    against the XSD."""
    from copy import deepcopy

    generate = _facturx()
    try:
        if syntax == "ubl":
            out = generate.generate_ubl_xml(
                deepcopy(dict(data)), level=LEVEL, check_xsd=True, check_schematron=False
            )
        else:
            out = generate.generate_cii_xml(
                deepcopy(dict(data)), level=LEVEL, check_xsd=True, check_schematron=False
            )
    except Exception as exc:  # the library raises plain Exception for XSD failures
        raise EInvoiceError(f"the {syntax.upper()} XML is not valid: {_one_line(exc)}") from exc
    return bytes(out)


def _facturx() -> Any:
    import importlib

    try:
        # the module, not the function of the same name that the package exports
        return importlib.import_module("facturx.generate_xml")
    except ImportError as exc:  # pragma: no cover - a dependency of crm
        raise CrmError("e-invoices need the factur-x package", hint="pip install factur-x") from exc


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def embed(pdf: bytes, xml_data: bytes, lang: str) -> bytes:
    """A Factur-X PDF: `pdf` (PDF/A-3b) with `xml_data` attached as factur-x.xml."""
    from facturx import generate_from_binary

    _quiet()
    try:
        out = generate_from_binary(
            pdf,
            xml_data,
            flavor="factur-x",
            level=LEVEL,
            check_xsd=True,
            check_schematron=False,
            lang=lang,
        )
    except Exception as exc:
        raise EInvoiceError(f"the Factur-X PDF could not be made: {_one_line(exc)}") from exc
    return bytes(out)


def extract(pdf: bytes) -> bytes | None:
    """The e-invoice XML attached to a PDF, or None when it carries none."""
    from facturx import get_xml_from_pdf

    _quiet()
    try:
        _name, found = get_xml_from_pdf(pdf, check_xsd=False)
    except Exception:
        return None
    return bytes(found) if found else None


def _quiet() -> None:
    """pypdf and factur-x log what they read to stderr; crm reports errors itself."""
    import logging

    for name in ("pypdf", "factur-x", "facturx"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def breaks(xml_data: bytes, syntax: str) -> list[Finding]:
    """The fatal EN 16931 rules `xml_data` breaks, when the rules can be run; else []."""
    if not schematron_available():
        return []
    return [f for f in schematron(xml_data, syntax) if f.severity == "fatal"]


# -- validation ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule the XML breaks: `BR-CO-15`, its severity and the rule's own words."""

    rule: str
    severity: str  # fatal, warning
    message: str
    location: str = ""

    def json(self) -> dict[str, str]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "message": self.message,
            "location": self.location,
        }


@dataclass(frozen=True, slots=True)
class Report:
    syntax: str  # cii or ubl
    schema: bool  # passed the XSD
    rules_checked: bool  # the schematron ran (saxonche installed)
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return self.schema and not any(f.severity == "fatal" for f in self.findings)


MAX_XML_BYTES = 20 * 1024 * 1024  # an invoice is kilobytes; a larger file is not one


def parse(xml_data: bytes) -> Any:
    """The root element of an e-invoice XML from anyone: no DOCTYPE (so no entities to
    expand or fetch), no network, bounded size. EInvoiceError for anything else."""
    from lxml import etree

    if len(xml_data) > MAX_XML_BYTES:
        raise EInvoiceError(f"{len(xml_data):,} bytes is too large for an invoice's XML")
    try:
        root = etree.fromstring(xml_data, parser=_safe_parser())
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise EInvoiceError(f"not XML: {_one_line(exc)}") from exc
    if root.getroottree().docinfo.doctype:
        raise EInvoiceError("the XML has a DOCTYPE, which no e-invoice has: refused unread")
    return root


def syntax_of(xml_data: bytes) -> str:
    """cii or ubl, from the root element; EInvoiceError for anything else."""
    return _syntax(parse(xml_data))


def _syntax(root: Any) -> str:
    from lxml import etree

    name = etree.QName(root).localname
    if name == "CrossIndustryInvoice":
        return "cii"
    if name in ("Invoice", "CreditNote"):
        return "ubl"
    raise EInvoiceError(f"<{name}> is not a CII or UBL invoice")


def _safe_parser() -> Any:
    from lxml import etree

    # no entities, no network: the file may come from anyone
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def validate(xml_data: bytes, *, rules: bool = True) -> Report:
    """The XSD check of a CII or UBL invoice and, when `rules` and saxonche is installed, the
    EN 16931 schematron rules (each violated rule reported with its id)."""
    from facturx import xml_check_xsd
    from lxml import etree

    root = parse(xml_data)
    syntax = _syntax(root)
    flavor = FLAVORS[syntax]
    # what the checks read is this parse, written out again: UTF-8, no prolog surprises
    xml_data = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    findings: list[Finding] = []
    schema = True
    try:
        xml_check_xsd(xml_data, flavor=flavor, level=LEVEL if syntax == "cii" else "autodetect")
    except Exception as exc:
        schema = False
        findings.append(Finding("XSD", "fatal", _one_line(exc)))
    checked = False
    if rules and schematron_available():
        findings += schematron(xml_data, syntax)
        checked = True
    return Report(syntax, schema, checked, tuple(findings))


def schematron_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("saxonche") is not None


_STYLESHEETS = {
    "cii": "facturx-en16931/FACTUR-X_EN16931.xslt",
    "ubl": "ubl-2.1/EN16931-UBL-validation.xslt",
}
_SVRL = "{http://purl.oclc.org/dsdl/svrl}"


@functools.cache
def _saxon(syntax: str) -> tuple[Any, Any]:
    """Saxon and the compiled rules of `syntax`, once per process (compiling takes ~0.5 s)."""
    from pathlib import Path

    import facturx
    from saxonche import PySaxonProcessor

    sheet = Path(facturx.__file__).parent / "xsd_and_schematron" / _STYLESHEETS[syntax]
    proc = PySaxonProcessor(license=False)
    return proc, proc.new_xslt30_processor().compile_stylesheet(stylesheet_file=str(sheet))


def schematron(xml_data: bytes, syntax: str) -> list[Finding]:
    """The EN 16931 rules the XML breaks, run by Saxon on the XSLT that factur-x bundles.
    Saxon reads the XML as `parse` wrote it out again, never the bytes as given."""
    from lxml import etree

    proc, compiled = _saxon(syntax)
    clean = etree.tostring(parse(xml_data), xml_declaration=True, encoding="UTF-8")
    node = proc.parse_xml(xml_text=clean.decode("utf-8"))
    svrl = compiled.transform_to_string(xdm_node=node)
    root = etree.fromstring(svrl.encode("utf-8"), parser=_safe_parser())
    out = []
    for failed in root.iter(f"{_SVRL}failed-assert", f"{_SVRL}successful-report"):
        text = " ".join("".join(failed.itertext()).split())
        rule = failed.get("id") or _rule_in(text) or "?"
        flag = failed.get("flag") or "fatal"
        out.append(Finding(rule, flag, text, _short_path(failed.get("location") or "")))
    return out


_NAMESPACE_TEST = re.compile(r"\[namespace-uri\(\)='[^']*'\]|\*:|\[1\]")


def _short_path(location: str) -> str:
    """`/Invoice/TaxTotal[2]` from Saxon's namespace-qualified XPath of the element."""
    return _NAMESPACE_TEST.sub("", location)


def _rule_in(text: str) -> str | None:
    found = re.search(r"\[(BR-[A-Z0-9-]+)\]", text)
    return found.group(1) if found else None


def totals_mismatch(xml_data: bytes, expected: Mapping[str, str]) -> list[str]:
    """Where the totals in the XML differ from the record's (BT-109/110/112), exactly: the
    rules tolerate a cent; crm does not."""

    root = parse(xml_data)
    paths = (
        {
            "net": "//*[local-name()='TaxBasisTotalAmount']",
            "tax": "//*[local-name()='TaxTotalAmount']",
            "total": "//*[local-name()='GrandTotalAmount']",
        }
        if _syntax(root) == "cii"
        else {
            "net": "//*[local-name()='LegalMonetaryTotal']/*[local-name()='TaxExclusiveAmount']",
            "tax": "/*/*[local-name()='TaxTotal']/*[local-name()='TaxAmount']",
            "total": "//*[local-name()='LegalMonetaryTotal']/*[local-name()='TaxInclusiveAmount']",
        }
    )
    problems = []
    for key, path in paths.items():
        found = [str(e.text).strip() for e in root.xpath(path)]
        if not found or _dec(found[0]) != _dec(expected[key]):
            said = found[0] if found else "nothing"
            problems.append(f"{key}: the XML says {said}, the record {expected[key]}")
    return problems
