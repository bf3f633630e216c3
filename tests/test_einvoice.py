"""E-invoices: EN 16931 CII and UBL, Factur-X PDFs, and `validate` with the XSD and the rules."""

from __future__ import annotations

import importlib.util
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from helpers import load, needs_pdf, no_traceback, shown

needs_rules = pytest.mark.skipif(
    importlib.util.find_spec("saxonche") is None, reason="the EN 16931 rules need saxonche"
)
RAM = "{urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100}"


def facturx_on(example: Path) -> None:
    """`billing.einvoice: facturx` in the folder's crm.yaml."""
    config = example / "crm.yaml"
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace("billing:\n", "billing:\n  einvoice: facturx\n"), encoding="utf-8"
    )


def issued(example: Path, kind: str) -> list[str]:
    folder = example / f"{kind}s"
    return sorted(
        p.stem for p in folder.glob("*.yaml") if load(p).get("status") in ("issued", "sent")
    )


def xml_of(crm, *args: str) -> etree._Element:
    result = crm(*args)
    assert result.ok, result.stderr
    return etree.fromstring(result.stdout.encode("utf-8"))


def amount(root: etree._Element, name: str) -> Decimal:
    found = root.findall(f".//{RAM}{name}")
    assert found, name
    return Decimal(found[0].text)


def test_every_issued_example_is_a_valid_einvoice_in_cii_and_ubl(crm, example: Path) -> None:
    # the XSD always; the EN 16931 rules too where saxonche is installed (the dev set-up):
    # negative deposit lines, reverse charge, a contact as customer, credit notes
    for kind in ("invoice", "credit_note"):
        group = kind.replace("_", "-")
        for rid in issued(example, kind):
            for syntax in ("cii", "ubl"):
                result = crm(group, "validate", rid, "--syntax", syntax, "-f", "json")
                assert result.ok, (rid, syntax, result.stdout, result.stderr)
                assert json.loads(result.stdout) == []


def test_totals_in_the_xml_equal_the_record_to_the_cent(crm, example: Path) -> None:
    for rid in issued(example, "invoice"):
        record = shown(crm, "invoice", rid)
        root = xml_of(crm, "invoice", "render", rid, "--format", "cii")
        assert amount(root, "TaxBasisTotalAmount") == Decimal(record["net"])
        assert amount(root, "TaxTotalAmount") == Decimal(record["tax"])
        assert amount(root, "GrandTotalAmount") == Decimal(record["total"])
        assert amount(root, "DuePayableAmount") == Decimal(record["total"])
        lines = root.findall(f".//{RAM}IncludedSupplyChainTradeLineItem")
        nets = [Decimal(x.text) for x in root.findall(f".//{RAM}LineTotalAmount")]
        assert len(lines) == len(record["lines"])
        assert sum(nets[: len(lines)]) == Decimal(record["net"])


def test_reverse_charge_and_payment_details(crm, example: Path) -> None:
    root = xml_of(crm, "invoice", "render", "shopify-shop-deposit", "-f", "cii")
    taxes = root.findall(f".//{RAM}ApplicableHeaderTradeSettlement/{RAM}ApplicableTradeTax")
    assert [t.findtext(f"{RAM}CategoryCode") for t in taxes] == ["AE"]
    assert taxes[0].findtext(f"{RAM}ExemptionReasonCode") == "VATEX-EU-AE"
    assert taxes[0].findtext(f"{RAM}CalculatedAmount") == "0.00"
    buyer = root.find(f".//{RAM}BuyerTradeParty")
    assert buyer.findtext(f"{RAM}SpecifiedTaxRegistration/{RAM}ID")  # BR-AE-02
    means = root.find(f".//{RAM}SpecifiedTradeSettlementPaymentMeans")
    assert means.findtext(f"{RAM}TypeCode") == "58"  # SEPA credit transfer
    iban = means.findtext(f"{RAM}PayeePartyCreditorFinancialAccount/{RAM}IBANID")
    assert iban == "DE02120300000000202051"
    assert root.findtext(f".//{RAM}PaymentReference") == load(
        example / "invoices/shopify-shop-deposit.yaml"
    )["number"].strip('"')


def test_exemptions_and_the_small_business_regime(crm, example: Path) -> None:
    path = example / "invoices/advent-calendar-landing-page.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace(
        '    tax: "19"\n', '    tax: "0"\n    exempt: "Art. 132 VAT Directive"\n', 1
    )
    path.write_text(text, encoding="utf-8")
    assert crm("invoice", "issue", "advent-calendar-landing-page").ok
    root = xml_of(crm, "invoice", "render", "advent-calendar-landing-page", "-f", "cii")
    taxes = root.findall(f".//{RAM}ApplicableHeaderTradeSettlement/{RAM}ApplicableTradeTax")
    codes = {t.findtext(f"{RAM}CategoryCode"): t for t in taxes}
    assert set(codes) == {"S", "E"}
    assert codes["E"].findtext(f"{RAM}ExemptionReason") == "Art. 132 VAT Directive"
    assert crm("invoice", "validate", "advent-calendar-landing-page", "--no-rules").ok

    config = example / "crm.yaml"
    config.write_text(
        config.read_text(encoding="utf-8").replace("regime: standard", "regime: small_business"),
        encoding="utf-8",
    )
    rid = crm("invoice", "new", "Small job", "--for", "misaki-tanaka").stdout.strip()
    assert crm("invoice", "line", "add", rid, "--text", "Fix", "--price", "50").ok
    assert crm("invoice", "issue", rid).ok
    root = xml_of(crm, "invoice", "render", rid, "-f", "ubl")
    cac = "{urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2}"
    cbc = "{urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2}"
    category = root.find(f"{cac}TaxTotal/{cac}TaxSubtotal/{cac}TaxCategory")
    assert category.findtext(f"{cbc}ID") == "E"
    assert category.findtext(f"{cbc}TaxExemptionReason")


def test_a_credit_note_is_type_381_and_names_the_invoice(crm, example: Path) -> None:
    note = load(example / "credit_notes/2026-0010-credit.yaml")
    invoice = next(
        load(p) for p in (example / "invoices").glob("*.yaml") if p.stem == note["invoice"]
    )
    root = xml_of(crm, "credit-note", "render", "2026-0010-credit", "-f", "cii")
    assert root.findtext(f".//{RAM}TypeCode") == "381"
    ref = root.find(f".//{RAM}InvoiceReferencedDocument")
    assert ref.findtext(f"{RAM}IssuerAssignedID") == str(invoice["number"])
    ubl = xml_of(crm, "credit-note", "render", "2026-0010-credit", "-f", "ubl")
    assert etree.QName(ubl).localname == "CreditNote"


@needs_pdf
def test_issue_makes_a_facturx_pdf_whose_xml_is_the_generated_one(crm, example: Path) -> None:
    from facturx import get_xml_from_pdf
    from pypdf import PdfReader

    facturx_on(example)
    result = crm("invoice", "issue", "advent-calendar-landing-page")
    assert result.ok, result.stderr
    kept = example / "invoices/advent-calendar-landing-page.pdf"
    name, inside = get_xml_from_pdf(kept.read_bytes(), check_xsd=True)
    assert name == "factur-x.xml"
    # generated again, from the record alone, in a copy without the kept PDF
    again = example.parent / "again"
    shutil.copytree(example, again)
    (again / "invoices/advent-calendar-landing-page.pdf").unlink()
    generated = crm(
        "--dir", str(again), "invoice", "render", "advent-calendar-landing-page", "-f", "cii"
    )
    assert "rendering the document again" in generated.stderr
    assert inside == generated.stdout.encode("utf-8")
    xmp = PdfReader(kept).trailer["/Root"]["/Metadata"].get_object().get_data()
    assert b"<pdfaid:part>3</pdfaid:part>" in xmp  # PDF/A-3
    assert b"EN 16931" in xmp  # the Factur-X conformance level
    assert crm("invoice", "validate", str(kept), "--no-rules").ok
    # the same bytes as kept when asked for again, and the credit note follows the setting
    out = example.parent / "again.pdf"
    assert crm(
        "invoice", "render", "advent-calendar-landing-page", "-f", "facturx", "-o", str(out)
    ).ok
    assert out.read_bytes() == kept.read_bytes()
    number = load(example / "invoices/advent-calendar-landing-page.yaml")["number"]
    assert crm("invoice", "credit", str(number), "--lines", "1", "--reason", "Fewer doors").ok
    note = next((example / "credit_notes").glob(f"{number}-credit.pdf"))
    _, note_xml = get_xml_from_pdf(note.read_bytes(), check_xsd=True)
    assert b"<ram:TypeCode>381</ram:TypeCode>" in note_xml
    assert f"<ram:IssuerAssignedID>{number}</ram:IssuerAssignedID>".encode() in note_xml


@needs_pdf
def test_a_customer_can_opt_out_of_facturx(crm, example: Path) -> None:
    facturx_on(example)
    assert crm("company", "set", "hafenkontor-kaffeerosterei-gmbh", "einvoice=none").ok
    assert crm("invoice", "issue", "advent-calendar-landing-page").ok
    kept = example / "invoices/advent-calendar-landing-page.pdf"
    result = crm("invoice", "validate", str(kept))
    assert result.exit_code != 0 and "without an e-invoice" in result.stderr


def test_what_an_einvoice_cannot_lack_is_a_clear_error(crm, example: Path) -> None:
    draft = crm("invoice", "render", "advent-calendar-landing-page", "-f", "cii")
    assert draft.exit_code != 0 and "draft" in draft.stderr
    no_traceback(draft)
    assert crm("company", "set", "hafenkontor-kaffeerosterei-gmbh", "address.country=").ok
    before = (example / "invoices/advent-calendar-landing-page.yaml").read_bytes()
    facturx_on(example)
    result = crm("invoice", "issue", "advent-calendar-landing-page")
    assert result.exit_code != 0
    assert "no country" in result.stderr and "address.country" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    no_traceback(result)
    assert (example / "invoices/advent-calendar-landing-page.yaml").read_bytes() == before
    assert not (example / "invoices/advent-calendar-landing-page.pdf").exists()
    quote = crm("quote", "render", "advent-calendar-landing-page", "-f", "cii")
    assert quote.exit_code != 0 and "not a document format" in quote.stderr


@needs_rules
def test_validate_names_each_rule_broken(crm, example: Path, tmp_path: Path) -> None:
    good = crm("invoice", "render", "domain-move-and-hosting", "-f", "cii").stdout
    bad = tmp_path / "bad.xml"
    bad.write_text(
        good.replace("<ram:GrandTotalAmount>511.70<", "<ram:GrandTotalAmount>515.70<"),
        encoding="utf-8",
    )
    result = crm("invoice", "validate", str(bad), "-f", "json")
    assert result.exit_code == 1
    rules = {f["rule"] for f in json.loads(result.stdout)}
    assert "BR-CO-15" in rules
    assert "not valid" in result.stderr
    no_traceback(result)


def test_validate_refuses_what_is_not_an_invoice_and_keeps_entities_as_data(
    crm, example: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other.xml"
    other.write_text("<note>hello</note>", encoding="utf-8")
    result = crm("invoice", "validate", str(other))
    assert result.exit_code != 0 and "not a CII or UBL invoice" in result.stderr
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET", encoding="utf-8")
    xxe = tmp_path / "xxe.xml"
    xxe.write_text(
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY s SYSTEM "file://{secret}">]>'
        "<rsm:CrossIndustryInvoice xmlns:rsm="
        '"urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100">&s;'
        "</rsm:CrossIndustryInvoice>",
        encoding="utf-8",
    )
    for rules in ((), ("--no-rules",)):
        result = crm("invoice", "validate", str(xxe), *rules, "-f", "json")
        assert result.exit_code != 0 and "DOCTYPE" in result.stderr
        assert "TOPSECRET" not in result.stdout + result.stderr
    no_traceback(result)
    missing = crm("invoice", "validate", str(tmp_path / "nope.xml"))
    assert missing.exit_code != 0 and "nope.xml" in missing.stderr
    pdf = tmp_path / "plain.pdf"
    pdf.write_bytes(b"%PDF-1.7\n%%EOF\n")
    plain = crm("invoice", "validate", str(pdf))
    assert plain.exit_code != 0 and "without an e-invoice" in plain.stderr


def test_hard_cases_stay_valid(crm, example: Path) -> None:
    """Two exemption reasons, units as people write them, a discount, a seller with only a tax
    number, no bank account, a foreign currency."""
    rid = crm("invoice", "new", "Therapy", "--for", "alster-physio").stdout.strip()
    for args in (
        ("--text", "A", "--price", "100", "--exempt", "§4 Nr. 14 UStG"),
        ("--text", "B", "--price", "50", "--exempt", "§4 Nr. 21 UStG", "--unit", "Std."),
        ("--text", "C", "--price", "80", "--qty", "1.5", "--unit", "STK", "--discount", "10"),
        ("--text", "D", "--price", "20", "--unit", "TAG", "--tax", "7"),
    ):
        assert crm("invoice", "line", "add", rid, *args).ok
    assert crm("invoice", "issue", rid).ok
    root = xml_of(crm, "invoice", "render", rid, "-f", "cii")
    units = [q.get("unitCode") for q in root.iter(f"{RAM}BilledQuantity")]
    assert units == ["C62", "HUR", "H87", "DAY"]
    taxes = root.findall(f".//{RAM}ApplicableHeaderTradeSettlement/{RAM}ApplicableTradeTax")
    exempt = [t for t in taxes if t.findtext(f"{RAM}CategoryCode") == "E"]
    assert len(exempt) == 1  # BR-E-01: one exempt entry, both reasons
    assert exempt[0].findtext(f"{RAM}ExemptionReason") == "§4 Nr. 14 UStG; §4 Nr. 21 UStG"
    assert Decimal(exempt[0].findtext(f"{RAM}BasisAmount")) == Decimal("150.00")
    for syntax in ("cii", "ubl"):
        assert crm("invoice", "validate", rid, "--syntax", syntax).ok

    config = example / "crm.yaml"
    text = config.read_text(encoding="utf-8")
    start = text.index("  bank:\n")
    end = text.index("  notes:", start)
    text = text[:start] + text[end:]
    text = text.replace('  vat_id: "', '  tax_number: "22/815/08150"\n  old_vat_id: "', 1)
    config.write_text(text, encoding="utf-8")
    rid = crm("invoice", "new", "Licence", "--for", "brightline-software-inc").stdout.strip()
    assert crm("invoice", "line", "add", rid, "--text", "Licence", "--price", "10").ok
    assert crm("invoice", "issue", rid).ok
    root = xml_of(crm, "invoice", "render", rid, "-f", "cii")
    assert root.find(f".//{RAM}SpecifiedTradeSettlementPaymentMeans") is None  # no account
    assert root.findtext(f".//{RAM}SellerTradeParty/{RAM}ID") == "22/815/08150"  # BR-CO-26
    for syntax in ("cii", "ubl"):
        assert crm("invoice", "validate", rid, "--syntax", syntax).ok


@needs_rules
def test_issue_refuses_a_facturx_that_breaks_a_rule(crm, example: Path) -> None:
    facturx_on(example)
    assert crm("company", "set", "hafenkontor-kaffeerosterei-gmbh", "address.country=XX").ok
    path = example / "invoices/advent-calendar-landing-page.yaml"
    before = path.read_bytes()
    result = crm("invoice", "issue", "advent-calendar-landing-page")
    assert result.exit_code != 0
    assert "would break EN 16931 rules" in result.stderr and "CountryID" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    no_traceback(result)
    assert path.read_bytes() == before
    assert not path.with_suffix(".pdf").exists()
