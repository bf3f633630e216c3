"""Payment codes (EPC QR "GiroCode") on invoices and reminders, decoded from the rendered HTML;
IBAN, BIC and VAT ids checked on records, in crm.yaml and before an invoice is issued."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from crm.banking import normalize_bic, normalize_iban, normalize_vat_id, payment_code
from crm.errors import ValidationError
from helpers import invoice_with_lines, load, no_traceback, shown

IBAN = "DE02120300000000202051"  # the billed fixture's account (tests/conftest.py)
_SVG_RE = re.compile(r'<svg viewBox="0 0 (\d+) (\d+)" class="epc-qr"><path[^>]* d="([^"]+)"')
_STEP_RE = re.compile(r"([MmHhVv])(-?[\d.]+)(?: (-?[\d.]+))?")


def decoded(html: str) -> str | None:
    """The text of the EPC QR code in a rendered HTML document (None when it has none): its
    inline SVG drawn as a picture, read by an independent decoder (zxing-cpp)."""
    import zxingcpp
    from PIL import Image, ImageDraw

    found = _SVG_RE.search(html)
    if found is None:
        assert "epc-qr" not in html
        return None
    size, scale = int(found[1]), 8
    picture = Image.new("L", (size * scale, size * scale), 255)
    draw = ImageDraw.Draw(picture)
    x = y = 0.0
    for op, first, second in _STEP_RE.findall(found[3]):  # segno: M, m and h(orizontal) lines
        if op == "M":
            x, y = float(first), float(second)
        elif op == "m":
            x, y = x + float(first), y + float(second)
        elif op == "h":
            row = int(y)  # lines are drawn through the middle of their row: y = row + 0.5
            end = x + float(first)
            draw.rectangle([x * scale, row * scale, end * scale - 1, (row + 1) * scale - 1], fill=0)
            x = end
        else:  # pragma: no cover - segno draws QR codes with the operations above only
            raise AssertionError(f"unexpected SVG path operation {op}")
    barcode = zxingcpp.read_barcode(picture, formats=zxingcpp.BarcodeFormat.QRCode)
    assert barcode is not None, "the QR code cannot be read"
    return bytes(barcode.bytes).decode("utf-8")


def epc(*, name: str, amount: str, number: str, bic: str = "BYLADEM1001", iban: str = IBAN) -> str:
    """An EPC QR code's payload (EPC069-12, version 002, UTF-8, SEPA credit transfer)."""
    euros = f"EUR{Decimal(amount):.2f}".rstrip("0").rstrip(".")
    return "\n".join(["BCD", "002", "1", "SCT", bic, name, iban, euros, "", "", number])


def html_of(crm, kind: str, ref: str) -> str:
    result = crm(kind, "render", ref, "--format", "html")
    assert result.ok, result.stderr
    return result.stdout


def issued(crm, *lines: list[str], customer: str = "acme", extra: tuple[str, ...] = ()) -> str:
    """A new invoice with `lines`, issued; returns its number."""
    rid = invoice_with_lines(crm, *lines, customer=customer)
    if extra:
        assert crm("invoice", "set", rid, *extra).ok
    result = crm("invoice", "issue", rid)
    assert result.ok, result.stderr
    return result.stdout.strip()


def set_billing(folder: Path, old: str, new: str) -> None:
    config = folder / "crm.yaml"
    text = config.read_text()
    assert old in text
    config.write_text(text.replace(old, new, 1))


def set_bank(folder: Path, bank: str) -> None:
    """crm.yaml's `billing.bank` replaced (the billed fixture writes it on one line)."""
    config = folder / "crm.yaml"
    text, count = re.subn(r"(?m)^  bank: .*$", lambda _: f"  bank: {bank}", config.read_text())
    assert count == 1
    config.write_text(text)


# -- the code on documents --------------------------------------------------------------------


def rendered_again(crm, folder: Path, number: str) -> str:
    """An issued invoice rendered anew, as it would be issued with crm.yaml as it is now (the
    document kept at issue removed: `render` gives the kept one while it is there)."""
    for kept in (folder / "invoices").glob("*.html"):
        kept.unlink()
    result = crm("invoice", "render", number, "--format", "html")
    assert result.ok, result.stderr
    return result.stdout


def test_an_issued_invoice_carries_a_code_for_what_is_due(crm, billed: Path, monkeypatch):
    number = issued(
        crm, ["--product", "design", "--qty", "12"], ["--text", "Café", "--price", "0.5"]
    )
    invoice = shown(crm, "invoice", number)
    assert invoice["amount_due"] == "1357.20"  # (12 x 95.00 + 0.50) x 1.19, rounded
    html = html_of(crm, "invoice", number)
    expected = epc(name="Test Studio", amount="1357.20", number=number)
    assert decoded(html) == expected
    assert expected.splitlines()[7] == "EUR1357.2"  # as EPC069-12 writes amounts
    assert "€1,357.20 to Test Studio, quoting 2026-0001" in html
    kept = billed / "invoices" / invoice["document"]["file"]
    assert kept.read_text() == html  # the code is part of the document kept at issue
    # after a partial payment, a reminder asks for what is still due
    assert crm("invoice", "pay", number, "--amount", "400.10").ok
    due = shown(crm, "invoice", number)["amount_due"]
    assert due == "957.10"
    monkeypatch.setenv("CRM_NOW", "2026-12-20T10:00:00")  # 13 days overdue: level 1, no fee
    result = crm("invoice", "remind", number, "--format", "html", "--no-email")
    assert result.ok, result.stderr
    assert decoded(result.stdout) == epc(name="Test Studio", amount=due, number=number)
    result = crm("invoice", "remind", number, "--level", "2", "--format", "html", "--no-email")
    assert result.ok, result.stderr  # the second level's letter adds its fee of 5.00
    assert decoded(result.stdout) == epc(name="Test Studio", amount="962.10", number=number)
    assert 'Please pay</td><td class="num">€962.10' in result.stdout
    # the beneficiary is the account's holder (on one line), else the business; BIC optional
    set_bank(billed, f'{{holder: "Jana Test\\nStudio", iban: "{IBAN}"}}')
    payload = decoded(rendered_again(crm, billed, number))
    assert payload == epc(name="Jana Test Studio", amount=due, number=number, bic="")
    set_bank(billed, f'{{iban: "{IBAN}"}}')
    assert decoded(rendered_again(crm, billed, number)).splitlines()[5] == "Test Studio"


def test_no_code_where_it_cannot_be_paid_with_one(crm, billed: Path):
    rid = invoice_with_lines(crm, ["--text", "Dollars", "--price", "100"])
    html = html_of(crm, "invoice", rid)
    assert "Invoice (draft)" in html and decoded(html) is None  # no number to quote yet
    assert crm("invoice", "set", rid, "currency=USD").ok
    assert crm("invoice", "issue", rid).ok
    assert decoded(html_of(crm, "invoice", rid)) is None  # not in euros
    number = issued(crm, ["--text", "Euros", "--price", "100"])
    assert decoded(html_of(crm, "invoice", number)) is not None
    set_billing(billed, "  pdf: false\n", "  pdf: false\n  payment_qr: false\n")
    assert decoded(rendered_again(crm, billed, number)) is None  # switched off
    set_billing(billed, "  payment_qr: false\n", "")
    brazil = "BR1500000000000010932840814P2"  # an account outside the SEPA zone
    set_bank(billed, f'{{iban: "{brazil}"}}')
    assert decoded(rendered_again(crm, billed, number)) is None
    set_bank(billed, '{bank: "Cash only"}')  # no account at all
    html = rendered_again(crm, billed, number)
    assert "IBAN" not in html and decoded(html) is None
    set_bank(billed, f'{{iban: "{IBAN}"}}')
    assert crm("invoice", "pay", number, "--amount", "119.00").ok
    html = rendered_again(crm, billed, number)
    assert "Paid in full" in html and decoded(html) is None  # nothing left to pay
    result = crm("invoice", "credit", number, "--reason", "refunded")
    assert result.ok, result.stderr
    assert decoded(html_of(crm, "credit-note", result.stdout.strip())) is None


def test_the_code_keeps_to_the_limits_of_the_standard():
    bank = {"holder": "Jane Doe", "iban": "DE02 1203 0000 0000 2020 51", "bic": "byladem1001"}

    def code(**changes):
        args = {
            "bank": bank,
            "business_name": "Jane Doe Design",
            "currency": "EUR",
            "amount": Decimal("1190.00"),
            "number": "2026-0001",
            **changes,
        }
        return payment_code(**args)

    made = code()
    assert (made.iban, made.bic, made.name) == (IBAN, "BYLADEM1001", "Jane Doe")
    assert made.json()["amount"] == "1190.00" and made.text == "2026-0001"
    assert made.payload.splitlines()[7] == "EUR1190"
    assert code(amount=Decimal("0.01")).payload.splitlines()[7] == "EUR0.01"
    assert code(amount=Decimal("999999999.99")) is not None
    for changes in (
        {"amount": Decimal("0")},
        {"amount": Decimal("1000000000.00")},
        {"amount": None},
        {"currency": "CHF"},
        {"number": ""},
        {"number": "N" * 141},
        {"bank": {**bank, "iban": "DE02 1203 0000 0000 2020 52"}},
        {"bank": {**bank, "bic": "BYLAXXM1"}},
        {"bank": {}},
        {"bank": {"iban": IBAN}, "business_name": " "},
        {"bank": {**bank, "holder": "日本語の名前" * 12}, "number": "N" * 140},  # > 331 bytes
    ):
        assert code(**changes) is None, changes
    long = code(bank={"iban": IBAN}, business_name="A very long business name " * 4)
    assert len(long.name) == 70 and long.name == long.name.strip()
    assert code(number="N" * 140).text == "N" * 140


# -- VAT ids, IBANs and BICs ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("de 298 765 435", "DE298765435"),
        ("ATU13585627", "ATU13585627"),
        ("GB 980 7806 84", "GB980780684"),
        ("XI980780684", "XI980780684"),
        ("EL094259216", "EL094259216"),
        ("CHE-116.281.710 MWST", "CHE116281710MWST"),
        ("CHE-116.281.710", "CHE116281710"),
        ("us 12-3456789", "US12-3456789"),  # no rules known for the country: taken as it is
        ("123456789", "123456789"),
    ],
)
def test_vat_ids_are_normalised(given, stored):
    assert normalize_vat_id(given) == stored


@pytest.mark.parametrize(
    ("check", "given", "message"),
    [
        (normalize_vat_id, "DE298765432", "the check digit does not match"),
        (normalize_vat_id, "DE12345", "it has the wrong length for a VAT id of DE"),
        (normalize_iban, "DE02 1203 0000 0000 2020 52", "the checksum does not match"),
        (normalize_iban, "DE0212030000000020205", "an IBAN of DE has 22 characters, this one 21"),
        (normalize_iban, "US12345", "it does not start with the code of a country that has IBANs"),
        (normalize_bic, "BYLAXXM1", "XX is not a country code"),
        (normalize_bic, "BYLA", "a BIC has 8 or 11 letters and digits"),
    ],
)
def test_what_is_wrong_is_said(check, given, message):
    with pytest.raises(ValidationError) as caught:
        check(given)
    assert caught.value.message.startswith(f"{given} is not a valid ")
    assert message in caught.value.message


def test_vat_ids_are_checked_when_written(crm, folder: Path):
    result = crm("company", "add", "Acme", "--vat-id", "de 298 765 435")
    assert result.ok, result.stderr
    assert load(folder / "companies" / "acme.yaml")["vat_id"] == "DE298765435"
    before = (folder / "companies" / "acme.yaml").read_bytes()
    result = crm("company", "set", "acme", "vat_id=DE298765432")
    no_traceback(result)
    assert result.exit_code == 22
    assert "vat_id: DE298765432 is not a valid VAT id: the check digit does not match" in (
        result.stderr
    )
    assert (folder / "companies" / "acme.yaml").read_bytes() == before
    assert crm("company", "add", "Bad", "--vat-id", "FR 40 303").exit_code == 22
    assert not (folder / "companies" / "bad.yaml").exists()
    assert crm("contact", "add", "Ada").ok
    assert crm("contact", "set", "ada", "vat_id=gb980780684").ok
    assert load(folder / "contacts" / "ada.yaml")["vat_id"] == "GB980780684"
    assert crm("contact", "set", "ada", "vat_id=XX-123").ok  # an unknown prefix: not checked
    source = folder / "companies.csv"
    source.write_text("name,vat_id\nGood GmbH,DE 298765435\nWrong GmbH,DE298765432\n")
    result = crm("import", "csv", str(source), "--type", "companies")
    assert result.ok, result.stderr
    assert "DE298765432 is not a valid VAT id" in result.stderr  # left out, with a warning
    assert load(folder / "companies" / "good-gmbh.yaml")["vat_id"] == "DE298765435"
    assert "vat_id" not in load(folder / "companies" / "wrong-gmbh.yaml")


def test_check_reports_wrong_ids_in_records_and_crm_yaml(crm, folder: Path):
    (folder / "companies" / "acme.yaml").write_text("name: Acme\nvat_id: DE 298 765 432\n")
    (folder / "contacts" / "ada.yaml").write_text("name: Ada\nvat_id: DE298765435\n")
    config = folder / "crm.yaml"
    text = config.read_text().replace(
        "business:\n",
        'business:\n  vat_id: "DE298765432"\n',
        1,
    )
    text = text[: text.index("# Quotes and invoices")] + (
        "billing:\n"
        "  bank:\n"
        '    holder: "Test Studio"\n'
        '    iban: "DE02 1203 0000 0000 2020 52"\n'
        '    bic: "BYLAXXM1"\n'
    )
    config.write_text(text)
    lines = config.read_text().splitlines()
    at = {
        key: lines.index(next(x for x in lines if x.strip().startswith(key))) + 1
        for key in ("vat_id", "iban", "bic")
    }
    result = crm("check")
    no_traceback(result)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "companies/acme.yaml:2: vat_id: DE 298 765 432 is not a valid VAT id: the check digit does not match (check it in the EU's VIES service or on the customer's invoices)",
        f"crm.yaml:{at['vat_id']}: business.vat_id: DE298765432 is not a valid VAT id: the check digit does not match",
        f"crm.yaml:{at['iban']}: billing.bank.iban: DE02 1203 0000 0000 2020 52 is not a valid IBAN: the checksum does not match",
        f"crm.yaml:{at['bic']}: billing.bank.bic: BYLAXXM1 is not a valid BIC: XX is not a country code",
    ]
    assert crm("company", "list").ok  # other commands go on working
    assert config.read_text() == text  # a hand-written crm.yaml is never rewritten


def test_issue_refuses_an_invoice_that_would_print_a_wrong_iban(crm, billed: Path):
    set_bank(billed, '{iban: "DE02 1203 0000 0000 2020 52"}')
    rid = invoice_with_lines(crm, ["--text", "X", "--price", "100"])
    before = (billed / "invoices" / f"{rid}.yaml").read_bytes()
    result = crm("invoice", "issue", rid)
    no_traceback(result)
    assert result.exit_code == 22
    assert (
        "crm.yaml: billing.bank.iban: DE02 1203 0000 0000 2020 52 is not a valid IBAN: "
        "the checksum does not match"
    ) in result.stderr
    assert (billed / "invoices" / f"{rid}.yaml").read_bytes() == before
    assert not list((billed / "invoices").glob("*.html"))
    html = html_of(crm, "invoice", rid)  # a draft still renders, without a code
    assert decoded(html) is None


def test_the_examples_hold_valid_ids(crm, example: Path):
    config = load(example / "crm.yaml")
    assert normalize_vat_id(config["business"]["vat_id"]) == config["business"]["vat_id"]
    assert normalize_iban(config["billing"]["bank"]["iban"]) == IBAN
    assert normalize_bic(config["billing"]["bank"]["bic"]) == "BYLADEM1001"
    for path in (example / "companies").glob("*.yaml"):
        vat_id = load(path).get("vat_id")
        if vat_id:
            assert normalize_vat_id(vat_id) == vat_id, path
    result = crm("check")
    assert not [x for x in result.stdout.splitlines() if re.search("vat_id|iban|bic", x)]
