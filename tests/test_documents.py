"""Documents: templates, overrides, sandboxing, the kept PDF and a golden HTML invoice."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from helpers import invoice_with_lines, load, needs_pdf, no_traceback

GOLDEN = Path(__file__).parent / "golden"


def business(folder: Path) -> None:
    """The seller's details an EU invoice must show."""
    config = folder / "crm.yaml"
    text = config.read_text().replace(
        "business:\n",
        "business:\n  vat_id: DE999999999\n"
        "  address: {street: Am Markt 2, postcode: '04109', city: Leipzig}\n",
        1,
    )
    config.write_text(text)


@needs_pdf
def test_the_issued_pdf_carries_numbers_and_legal_notes(crm, billed: Path):
    from pypdf import PdfReader

    business(billed)
    config = billed / "crm.yaml"
    config.write_text(config.read_text().replace("pdf: false", "pdf: true"))
    assert crm("company", "add", "Nordic AB", "--city", "Malmö").ok
    assert crm("company", "set", "nordic", "vat_id=SE556677889901", "tax_regime=reverse_charge").ok
    rid = invoice_with_lines(
        crm, ["--product", "design", "--qty", "12"], title="Shop design", customer="nordic"
    )
    assert crm("invoice", "issue", rid).ok
    data = load(billed / "invoices" / f"{rid}.yaml")
    kept = billed / "invoices" / f"{rid}.pdf"
    assert data["document"]["file"] == kept.name
    assert hashlib.sha256(kept.read_bytes()).hexdigest() == data["document"]["sha256"]
    reader = PdfReader(kept)
    text = " ".join(page.extract_text() for page in reader.pages)
    for expected in (
        "Invoice 2026-0001",
        "23 Nov 2026",  # issue date
        "7 Dec 2026",  # due date
        "DE999999999",  # seller's VAT id
        "SE556677889901",  # buyer's VAT id
        "Leipzig",
        "Malmö",
        "Design",
        "€1,140.00",  # 12 x 95.00, no tax under reverse charge
        "Reverse charge",
        "Article 196",
        "DE02120300000000202051",  # IBAN
    ):
        assert expected in text, expected
    # PDF/A-3b, so that e-invoice XML can be attached later
    xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data()
    assert b'pdfaid:part="3"' in xmp and b'pdfaid:conformance="B"' in xmp
    out = billed / "copy.pdf"
    assert crm("invoice", "render", "2026-0001", "-o", str(out)).ok
    assert out.read_bytes() == kept.read_bytes()  # what was sent, byte for byte


@needs_pdf
def test_a_draft_renders_to_pdf(crm, billed: Path):
    from pypdf import PdfReader

    rid = invoice_with_lines(crm, ["--text", "Workshop", "--price", "900"])
    out = billed / "draft.pdf"
    result = crm("invoice", "render", rid, "-o", str(out))
    assert result.ok, result.stderr
    text = PdfReader(out).pages[0].extract_text()
    assert "Workshop" in text and "€1,071.00" in text and "(draft)" in text


def test_golden_html_invoice(crm, billed: Path):
    business(billed)
    assert crm("company", "set", "acme", "address.country=Germany").ok
    rid = invoice_with_lines(
        crm,
        ["--product", "design", "--qty", "12", "--section", "Design"],
        ["--text", "Hosting <1 year>", "--price", "240", "--tax", "7", "--discount", "10"],
        ["--text", "Domain fee", "--price", "15", "--exempt", "disbursement"],
        title="Website & shop",
    )
    assert crm("invoice", "set", rid, "service_date=2026-11-01", "service_until=2026-11-20").ok
    assert crm("invoice", "issue", rid).ok
    html = crm("invoice", "render", rid, "--format", "html").stdout
    golden = GOLDEN / "invoice.html"
    if not golden.exists():  # pragma: no cover - written once, then reviewed and kept
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(html)
    assert html == golden.read_text()
    assert "Hosting &lt;1 year&gt;" in html and "Website &amp; shop" in html
    assert "Service period" in html and "disbursement" in html


def test_text_and_markdown_documents(crm, billed: Path):
    assert crm("deal", "add", "Shop", "--company", "acme").ok
    qid = crm("quote", "new", "--deal", "shop").stdout.strip()
    assert crm("quote", "line", "add", qid, "--text", "Shop | build", "--price", "4000").ok
    assert crm("quote", "send", qid, "--no-email").ok
    md = crm("quote", "render", qid, "--format", "md").stdout
    assert md.startswith("# Quote Q2026-001")
    assert "Shop \\| build" in md  # a pipe cannot break the table
    assert "€4,760.00" in md and "23 Dec 2026" in md  # valid until
    txt = crm("quote", "render", qid).stdout
    assert "Q2026-001" in txt and txt.endswith("\n")


def test_documents_follow_the_locale(crm, billed: Path):
    config = billed / "crm.yaml"
    config.write_text(config.read_text().replace("locale: en_GB", "locale: de_DE"))
    rid = invoice_with_lines(crm, ["--product", "design", "--qty", "12"])
    text = crm("invoice", "render", rid, "--format", "txt").stdout
    assert "1.140,00\xa0€" in text and "1.356,60\xa0€" in text


def test_a_folder_template_overrides_the_built_in_one(crm, billed: Path):
    rid = invoice_with_lines(crm, ["--text", "X", "--price", "100"])
    (billed / "templates").mkdir()
    (billed / "templates" / "invoice.txt.j2").write_text(
        "{{ seller.name }} asks {{ total | money }} for {{ title }}\n"
    )
    result = crm("invoice", "render", rid, "--format", "txt")
    assert result.stdout == "Test Studio asks €119.00 for Website\n"
    md = crm("invoice", "render", rid, "--format", "md").stdout  # the others stay built in
    assert md.startswith("# Invoice")


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ missing_value }}", "'missing_value' is undefined"),
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "template invoice.txt.j2"),
        ("{% for x in lines %}", "template invoice.txt.j2 (line 1)"),
        ("{{ total | money(", "template invoice.txt.j2"),
    ],
)
def test_bad_or_hostile_templates_are_clear_errors(crm, billed: Path, template, message):
    rid = invoice_with_lines(crm, ["--text", "X", "--price", "100"])
    (billed / "templates").mkdir()
    (billed / "templates" / "invoice.txt.j2").write_text(template)
    result = crm("invoice", "render", rid, "--format", "txt")
    assert result.exit_code == 22
    assert message in result.stderr
    no_traceback(result)


def test_a_bad_template_at_issue_leaves_the_draft(crm, billed: Path):
    rid = invoice_with_lines(crm, ["--text", "X", "--price", "100"])
    (billed / "templates").mkdir()
    (billed / "templates" / "invoice.html.j2").write_text("{{ oops }}")
    before = (billed / "invoices" / f"{rid}.yaml").read_bytes()
    result = crm("invoice", "issue", rid)
    assert result.exit_code == 22 and "'oops' is undefined" in result.stderr
    assert (billed / "invoices" / f"{rid}.yaml").read_bytes() == before
    assert [p.name for p in (billed / "invoices").iterdir() if p.suffix != ".yaml"] == [".gitkeep"]


def test_render_options(crm, billed: Path):
    rid = invoice_with_lines(crm, ["--text", "X", "--price", "100"])
    out = billed / "inv.md"
    assert crm("invoice", "render", rid, "-o", str(out)).ok
    assert out.read_text().startswith("# Invoice")  # the format follows the suffix
    result = crm("invoice", "render", rid, "--format", "docx")
    assert result.exit_code == 2 and "not a document format" in result.stderr
    assert re.search(r"Invoice \(draft\)", crm("invoice", "render", rid).stdout)


def test_the_page_footer_is_escaped_for_css(crm, billed: Path):
    config = billed / "crm.yaml"
    config.write_text(
        config.read_text().replace('name: "Test Studio"', 'name: "Doe & Co \\"Studio\\""')
    )
    rid = invoice_with_lines(crm, ["--text", "X", "--price", "100"])
    html = crm("invoice", "render", rid, "--format", "html").stdout
    assert 'content: "Doe & Co \\22 Studio\\22 ' in html
    assert "Doe &amp; Co &#34;Studio&#34;" in html  # in the body, HTML's escaping


# -- review fixes -----------------------------------------------------------------------------


def test_unit_prices_and_quantities_are_printed_in_full(crm, billed: Path):
    rid = invoice_with_lines(
        crm,
        ["--text", "Thirds", "--qty", "3", "--price", "0.3333"],
        ["--text", "Litres", "--qty", "1234.5675", "--price", "1"],
        ["--text", "Eighths", "--price", "0.125", "--tax", "7.70"],
    )
    txt = crm("invoice", "render", rid).stdout
    assert "3 x €0.3333, tax 19 %: €1.00" in txt
    assert "1,234.5675 x €1.00, tax 19 %: €1,234.57" in txt
    assert "1 x €0.125, tax 7.7 %: €0.13" in txt
    md = crm("invoice", "render", rid, "--format", "md").stdout
    assert "| 3 | €0.3333 |" in md and "| 1,234.5675 | €1.00 |" in md
    html = crm("invoice", "render", rid, "--format", "html").stdout
    assert ">€0.3333</td>" in html and ">1,234.5675</td>" in html


def test_a_template_symlink_is_refused(crm, billed: Path, tmp_path: Path):
    secret = tmp_path / "secret.txt"
    secret.write_text("the password is swordfish\n")
    rid = invoice_with_lines(crm, ["--text", "X", "--price", "100"])
    templates = billed / "templates"
    templates.mkdir()
    (templates / "pw.j2").symlink_to(secret)
    (templates / "invoice.txt.j2").write_text('{% include "pw.j2" %}\n')
    result = crm("invoice", "render", rid, "--format", "txt")
    assert result.exit_code == 22
    assert "templates/pw.j2 is a symbolic link" in result.stderr
    assert "swordfish" not in result.stdout
    no_traceback(result)
    (templates / "invoice.txt.j2").unlink()
    (templates / "invoice.txt.j2").symlink_to(secret)  # the template itself
    result = crm("invoice", "render", rid, "--format", "txt")
    assert result.exit_code == 22 and "swordfish" not in result.stdout
    (templates / "invoice.txt.j2").unlink()
    (templates / "invoice.txt.j2").write_text("{{ total | money }}\n")  # a real file is fine
    assert crm("invoice", "render", rid, "--format", "txt").stdout == "€119.00\n"


@needs_pdf
def test_a_pdf_embeds_no_file_from_outside_templates(crm, billed: Path, tmp_path: Path):
    import base64

    from pypdf import PdfReader

    secret = tmp_path / "secret.txt"
    secret.write_text("the password is swordfish\n")
    rid = invoice_with_lines(crm, ["--text", "X", "--price", "100"])
    templates = billed / "templates"
    templates.mkdir()
    pixel = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    )
    (templates / "logo.png").write_bytes(pixel)
    built_in = (Path(__file__).parent.parent / "crm" / "templates" / "invoice.html.j2").read_text()
    page = templates / "invoice.html.j2"
    page.write_text(
        built_in.replace(
            "{% block content %}",
            '{% block content %}<img src="logo.png">'
            f'<a rel="attachment" href="{secret.as_uri()}">terms</a>',
        )
    )
    out = billed / "out.pdf"
    result = crm("invoice", "render", rid, "-o", str(out))
    assert result.exit_code == 22
    assert f"the document asks for {secret.as_uri()}" in result.stderr
    assert "only files in templates/ and data: URLs" in result.stderr
    assert not out.exists()
    # files in templates/ (a logo) and data: URLs are fine, and attachments from there too
    (templates / "terms.txt").write_text("Our terms\n")
    page.write_text(
        built_in.replace(
            "{% block content %}",
            '{% block content %}<img src="logo.png"><a rel="attachment" href="terms.txt">t</a>',
        )
    )
    result = crm("invoice", "render", rid, "-o", str(out))
    assert result.ok, result.stderr
    attached = [
        annot.get_object()["/FS"]["/F"]
        for pdf_page in PdfReader(out).pages
        for annot in pdf_page.get("/Annots") or []
        if annot.get_object().get("/Subtype") == "/FileAttachment"
    ]
    assert attached == ["terms.txt"]
    # a link in templates/ that leads out of it is refused as well
    (templates / "terms.txt").unlink()
    (templates / "terms.txt").symlink_to(secret)
    result = crm("invoice", "render", rid, "-o", str(out))
    assert result.exit_code == 22 and "the document asks for" in result.stderr
