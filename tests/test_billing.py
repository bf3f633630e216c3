"""Quotes, invoices, payments, credit notes and numbering through the real CLI."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from helpers import invoice_with_lines, load, no_traceback, shown

# -- lines and totals -------------------------------------------------------------------------


def test_show_gives_lines_taxes_and_totals_as_exact_strings(crm, billed: Path):
    rid = invoice_with_lines(
        crm,
        ["--product", "design", "--qty", "12"],
        ["--text", "Hosting", "--price", "0.99", "--qty", "7", "--section", "Extras"],
        ["--text", "Travel", "--price", "80", "--tax", "7", "--discount", "25"],
    )
    data = shown(crm, "invoice", rid)
    assert data["status"] == "draft" and data["number"] is None
    assert [(x["number"], x["net"], x["tax_rate"]) for x in data["lines"]] == [
        (1, "1140.00", "19"),
        (2, "6.93", "19"),
        (3, "60.00", "7"),
    ]
    assert data["lines"][1]["section"] == "Extras"
    # 19 %: 1146.93 x 0.19 = 217.9167 -> 217.92; 7 %: 60.00 x 0.07 = 4.20
    assert data["taxes"] == [
        {"rate": "19", "exempt": None, "taxable": "1146.93", "tax": "217.92"},
        {"rate": "7", "exempt": None, "taxable": "60.00", "tax": "4.20"},
    ]
    assert (data["net"], data["tax"], data["total"]) == ("1206.93", "222.12", "1429.05")
    assert (data["paid"], data["amount_due"]) == ("0.00", "1429.05")
    stored = load(billed / "invoices" / f"{rid}.yaml")["lines"]
    assert stored[0] == {
        "product": "design",
        "text": "Design",
        "quantity": "12",
        "unit": "hour",
        "price": "95.00",
    }
    assert 'price: "0.99"' in (billed / "invoices" / f"{rid}.yaml").read_text()


def test_line_rm_numbers_lines_as_show_does(crm, billed: Path):
    rid = invoice_with_lines(
        crm,
        ["--text", "A", "--price", "1", "--section", "First"],
        ["--text", "B", "--price", "2"],
        ["--text", "C", "--price", "3"],
    )
    assert crm("invoice", "line", "rm", rid, "2").ok
    assert [x["text"] for x in shown(crm, "invoice", rid)["lines"]] == ["A", "C"]
    result = crm("invoice", "line", "rm", rid, "5")
    assert result.exit_code == 2 and "there is no line 5" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--text", "X"], "a line needs --price"),
        (["--price", "5"], "a line needs --text or --product"),
        (["--text", "X", "--price", "1,50"], "'1,50' is not an amount"),
        (["--text", "X", "--price", "5", "--discount", "120"], "not a percentage"),
        (["--text", "X", "--price", "5", "--tax", "x"], "is not a tax rate"),
        (["--product", "nothing"], "no product matches"),
    ],
)
def test_bad_lines_are_refused_and_nothing_is_written(crm, billed: Path, args, message):
    rid = invoice_with_lines(crm)
    before = (billed / "invoices" / f"{rid}.yaml").read_bytes()
    result = crm("invoice", "line", "add", rid, *args)
    assert result.exit_code != 0
    assert message in result.stderr
    no_traceback(result)
    assert (billed / "invoices" / f"{rid}.yaml").read_bytes() == before


def test_a_hand_written_bad_line_is_found_by_check(crm, billed: Path):
    rid = invoice_with_lines(crm, ["--text", "A", "--price", "1"])
    path = billed / "invoices" / f"{rid}.yaml"
    path.write_text(path.read_text().replace('price: "1"', "price: lots"))
    result = crm("check")
    assert result.exit_code == 1
    assert f"invoices/{rid}.yaml:" in result.stdout
    assert "line 1: price: 'lots' is not a number" in result.stdout


# -- issuing ----------------------------------------------------------------------------------


def test_issue_numbers_dates_and_keeps_the_document(crm, billed: Path):
    rid = invoice_with_lines(crm, ["--product", "design", "--qty", "2"])
    result = crm("invoice", "issue", rid)
    assert result.ok, result.stderr
    assert result.stdout.strip() == "2026-0001"
    data = load(billed / "invoices" / f"{rid}.yaml")
    assert data["number"] == "2026-0001"
    assert (data["status"], data["issued"], data["due"]) == ("issued", "2026-11-23", "2026-12-07")
    assert data["service_date"] == "2026-11-23"
    kept = billed / "invoices" / data["document"]["file"]
    assert data["document"]["format"] == "html"
    assert hashlib.sha256(kept.read_bytes()).hexdigest() == data["document"]["sha256"]
    assert "2026-0001" in kept.read_text()
    # what was sent can be shown again, byte for byte
    rendered = crm("invoice", "render", "2026-0001", "--format", "html")
    assert rendered.stdout.encode() == kept.read_bytes()
    assert crm("check").ok


def test_the_customers_payment_terms_win(crm, billed: Path):
    assert crm("company", "set", "acme", "payment_terms=30").ok
    rid = invoice_with_lines(crm, ["--text", "X", "--price", "10"])
    assert crm("invoice", "issue", rid).ok
    assert load(billed / "invoices" / f"{rid}.yaml")["due"] == "2026-12-23"


def test_an_issued_invoice_is_frozen(crm, billed: Path):
    rid = invoice_with_lines(crm, ["--text", "X", "--price", "10"])
    assert crm("invoice", "issue", rid).ok
    path = billed / "invoices" / f"{rid}.yaml"
    before = path.read_bytes()
    for args in (
        ("invoice", "set", rid, "title=Other"),
        ("invoice", "set", rid, "company="),
        ("invoice", "line", "add", rid, "--text", "Y", "--price", "1"),
        ("invoice", "line", "rm", rid, "1"),
        ("invoice", "rm", rid, "--yes"),
        ("invoice", "rm", rid, "--yes", "--force"),
        ("invoice", "issue", rid),
    ):
        result = crm(*args)
        assert result.exit_code == 23, (args, result.stderr)
        assert "credit" in result.stderr, args
        no_traceback(result)
    assert path.read_bytes() == before
    assert crm("invoice", "set", rid, "tags+=filed").ok  # bookkeeping may change


def test_edit_of_an_issued_invoice_is_refused(crm, billed: Path, tmp_path: Path, monkeypatch):
    rid = invoice_with_lines(crm, ["--text", "X", "--price", "10"])
    assert crm("invoice", "issue", rid).ok
    script = tmp_path / "ed.py"
    script.write_text(
        "import sys, pathlib\n"
        "p = pathlib.Path(sys.argv[1])\n"
        "p.write_text(p.read_text().replace('price: \"10\"', 'price: \"1\"'))\n"
    )
    monkeypatch.setenv("VISUAL", f"{sys.executable} {script}")
    before = (billed / "invoices" / f"{rid}.yaml").read_bytes()
    result = crm("invoice", "edit", rid)
    assert result.exit_code != 0
    assert "is issued: its lines cannot change" in result.stderr
    assert (billed / "invoices" / f"{rid}.yaml").read_bytes() == before


def test_issue_refuses_what_is_not_ready(crm, billed: Path):
    empty = invoice_with_lines(crm, title="Empty")
    result = crm("invoice", "issue", empty)
    assert result.exit_code == 22 and "has no lines" in result.stderr
    assert crm("company", "add", "Nordic AB").ok
    assert crm("company", "set", "nordic-ab", "tax_regime=reverse_charge").ok
    eu = invoice_with_lines(crm, ["--text", "X", "--price", "10"], title="EU", customer="nordic")
    before = (billed / "invoices" / f"{eu}.yaml").read_bytes()
    result = crm("invoice", "issue", eu)
    assert result.exit_code == 22
    assert "reverse charge needs the buyer's VAT id" in result.stderr
    assert (billed / "invoices" / f"{eu}.yaml").read_bytes() == before
    assert not list((billed / "invoices").glob("*.html"))


def test_reverse_charge_invoice_shows_the_legal_note(crm, billed: Path):
    assert crm("company", "add", "Nordic AB").ok
    assert crm(
        "company", "set", "nordic-ab", "tax_regime=reverse_charge", "vat_id=SE556677889901"
    ).ok
    rid = invoice_with_lines(crm, ["--text", "X", "--price", "100"], title="EU", customer="nordic")
    data = shown(crm, "invoice", rid)
    assert data["regime"] == "reverse_charge"
    assert (data["tax"], data["total"]) == ("0.00", "100.00")
    assert crm("invoice", "issue", rid).ok
    text = crm("invoice", "render", rid, "--format", "txt").stdout
    assert "Reverse charge" in text and "Article 196" in text
    assert "SE556677889901" in text


def test_numbers_restart_each_year_and_follow_the_calendar(crm, billed: Path, monkeypatch):
    numbers = []
    for when in ("2026-12-30T09:00:00", "2026-12-31T09:00:00", "2027-01-02T09:00:00"):
        monkeypatch.setenv("CRM_NOW", when)
        rid = invoice_with_lines(crm, ["--text", "X", "--price", "10"], title=f"T {when}")
        result = crm("invoice", "issue", rid)
        assert result.ok, result.stderr
        numbers.append(result.stdout.strip())
    assert numbers == ["2026-0001", "2026-0002", "2027-0001"]
    late = invoice_with_lines(crm, ["--text", "X", "--price", "10"], title="Backdated")
    result = crm("invoice", "issue", late, "--date", "2026-12-01")
    assert result.exit_code == 22 and "before 2026-12-31" in result.stderr


def test_custom_number_patterns(crm, billed: Path):
    config = billed / "crm.yaml"
    config.write_text(config.read_text() + '  numbering: {invoice: "RE-{yy}{seq:03}"}\n')
    rid = invoice_with_lines(crm, ["--text", "X", "--price", "10"])
    assert crm("invoice", "issue", rid).stdout.strip() == "RE-26001"


def test_check_finds_duplicate_and_missing_numbers_and_changed_documents(crm, billed: Path):
    ids = []
    for n in range(3):
        rid = invoice_with_lines(crm, ["--text", "X", "--price", "10"], title=f"N{n}")
        assert crm("invoice", "issue", rid).ok
        ids.append(rid)
    assert crm("check").ok
    folder = billed / "invoices"
    # a git merge of two branches that both issued 2026-0003
    twin = load(folder / f"{ids[2]}.yaml")
    (folder / "twin.yaml").write_text(yaml.safe_dump(twin))
    (folder / f"{ids[2]}.html").unlink()
    middle = folder / f"{ids[1]}.yaml"
    middle.write_text(middle.read_text().replace("2026-0002", "2026-0004"))
    (folder / f"{ids[0]}.html").write_text("changed")
    result = crm("check")
    assert result.exit_code == 1
    out = result.stdout
    assert "number 2026-0003 is also on" in out
    assert "missing 2026-0002" in out
    assert f"{ids[0]}.html does not match its sha256" in out
    assert f"{ids[2]}.html is missing" in out


CONCURRENT = textwrap.dedent(
    """
    import sys
    from typer.testing import CliRunner
    from crm.cli import build_app

    root, ids = sys.argv[1], sys.argv[2:]
    app = build_app(None)
    for rid in ids:
        result = CliRunner().invoke(app, ["--dir", root, "invoice", "issue", rid])
        if result.exit_code != 0:
            print(rid, result.exit_code, result.stderr, file=sys.stderr)
            sys.exit(1)
    """
)


def test_concurrent_issues_give_gapless_unique_numbers(crm, billed: Path, tmp_path: Path):
    ids = [
        invoice_with_lines(crm, ["--text", "X", "--price", "10"], title=f"C{i}") for i in range(12)
    ]
    driver = tmp_path / "issue.py"
    driver.write_text(CONCURRENT)
    procs = [
        subprocess.Popen(
            [sys.executable, str(driver), str(billed), *ids[i::3]],
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    numbers = sorted(load(billed / "invoices" / f"{rid}.yaml")["number"] for rid in ids)
    assert numbers == [f"2026-{n:04d}" for n in range(1, 13)]
    assert crm("check").ok


# -- payments and credit notes ----------------------------------------------------------------


def test_partial_payments_add_up_and_overpayment_is_refused(crm, billed: Path, monkeypatch):
    rid = invoice_with_lines(crm, ["--text", "X", "--price", "100"])  # 119.00 gross
    result = crm("invoice", "pay", rid, "--amount", "10")
    assert result.exit_code == 23 and "issue it before" in result.stderr
    assert crm("invoice", "issue", rid).ok
    assert crm("invoice", "pay", rid, "--amount", "50", "--method", "transfer").ok
    data = shown(crm, "invoice", rid)
    assert (data["status"], data["paid"], data["amount_due"]) == (
        "partially_paid",
        "50.00",
        "69.00",
    )
    result = crm("invoice", "pay", rid, "--amount", "69.01")
    assert result.exit_code == 22 and "more than the 69.00 EUR still due" in result.stderr
    result = crm("invoice", "pay", rid, "--amount", "1.001")
    assert result.exit_code == 22 and "more decimals" in result.stderr
    assert crm("invoice", "pay", rid, "--amount", "69", "--reference", "RF18").ok
    data = shown(crm, "invoice", rid)
    assert (data["status"], data["paid"], data["amount_due"]) == ("paid", "119.00", "0.00")
    payments = load(billed / "invoices" / f"{rid}.yaml")["payments"]
    assert payments == [
        {"date": "2026-11-23", "amount": "50.00", "method": "transfer"},
        {"date": "2026-11-23", "amount": "69.00", "reference": "RF18"},
    ]
    assert crm("invoice", "pay", rid, "--amount", "5", "--overpay").ok
    assert shown(crm, "invoice", rid)["paid"] == "124.00"


def test_an_unpaid_invoice_becomes_overdue(crm, billed: Path, monkeypatch):
    rid = invoice_with_lines(crm, ["--text", "X", "--price", "100"])
    assert crm("invoice", "issue", rid).ok
    monkeypatch.setenv("CRM_NOW", "2026-12-08T10:00:00")
    assert shown(crm, "invoice", rid)["status"] == "overdue"
    listed = crm("invoice", "list", "--status", "overdue", "--format", "ids")
    assert listed.stdout.split() == [rid]
    assert crm("invoice", "list", "--status", "paid", "--format", "ids").stdout == ""
    assert crm("invoice", "list", "--status", "open", "--format", "ids").stdout.split() == [rid]


def test_credit_notes_take_lines_off_an_invoice(crm, billed: Path):
    rid = invoice_with_lines(
        crm, ["--product", "design", "--qty", "10"], ["--text", "Hosting", "--price", "100"]
    )  # 950 + 100 = 1050 net, 199.50 tax, 1249.50 gross
    assert crm("invoice", "issue", rid).ok
    result = crm("invoice", "credit", rid, "--lines", "1:2", "--reason", "2 hours not worked")
    assert result.ok, result.stderr
    assert result.stdout.strip() == "CN2026-0001"
    note = shown(crm, "credit-note", "CN2026-0001")
    assert (note["net"], note["tax"], note["total"]) == ("190.00", "36.10", "226.10")
    assert note["invoice"] == rid and note["reason"] == "2 hours not worked"
    data = shown(crm, "invoice", rid)
    assert (data["credited"], data["amount_due"], data["status"]) == (
        "226.10",
        "1023.40",
        "issued",
    )
    assert crm("invoice", "pay", rid, "--amount", "1023.40").ok
    assert shown(crm, "invoice", rid)["status"] == "paid"
    result = crm("invoice", "credit", rid)
    assert result.exit_code == 22 and "carries only 1023.40 EUR more" in result.stderr
    stored = load(billed / "credit_notes" / f"{note['id']}.yaml")
    assert stored["number"] == "CN2026-0001" and stored["status"] == "issued"
    assert stored["lines"][0]["quantity"] == "2"
    assert crm("credit-note", "rm", "CN2026-0001", "--yes").exit_code == 23
    assert crm("check").ok


def test_a_whole_credit_note_leaves_the_invoice_credited(crm, billed: Path):
    rid = invoice_with_lines(crm, ["--text", "X", "--price", "100"])
    assert crm("invoice", "issue", rid).ok
    assert crm("invoice", "credit", rid, "--reason", "cancelled").ok
    data = shown(crm, "invoice", rid)
    assert (data["status"], data["amount_due"]) == ("credited", "0.00")
    text = crm("credit-note", "render", "CN2026-0001", "--format", "txt").stdout
    assert "Corrects invoice: 2026-0001" in text and "cancelled" in text


# -- quotes -----------------------------------------------------------------------------------


def test_quote_to_invoice(crm, billed: Path, monkeypatch):
    assert crm("deal", "add", "Shop", "--company", "acme", "--value", "5000").ok
    result = crm("quote", "new", "--deal", "shop")
    assert result.ok, result.stderr
    qid = result.stdout.strip()
    assert crm("quote", "line", "add", qid, "--product", "design", "--qty", "40").ok
    assert shown(crm, "quote", qid)["status"] == "draft"
    sent = crm("quote", "send", qid, "--no-email")
    assert sent.stdout.strip() == "Q2026-001"
    quote = load(billed / "quotes" / f"{qid}.yaml")
    assert (quote["status"], quote["issued"], quote["valid_until"]) == (
        "sent",
        "2026-11-23",
        "2026-12-23",
    )
    assert crm("quote", "line", "add", qid, "--text", "X", "--price", "1").exit_code == 23
    assert crm("quote", "accept", qid, "--won").ok
    assert load(billed / "deals" / "shop.yaml")["stage"] == "won"
    made = crm("invoice", "from-quote", "Q2026-001")
    assert made.ok, made.stderr
    iid = made.stdout.strip()
    invoice = load(billed / "invoices" / f"{iid}.yaml")
    assert invoice["lines"] == quote["lines"] and invoice["quote"] == qid
    assert (invoice["company"], invoice["deal"]) == ("acme-gmbh", "shop")
    assert crm("invoice", "line", "add", iid, "--text", "Extra", "--price", "5").ok
    assert load(billed / "quotes" / f"{qid}.yaml")["lines"] == quote["lines"]  # a copy
    again = crm("invoice", "from-quote", qid)
    assert again.exit_code == 23 and "already invoiced" in again.stderr


def test_quotes_expire_and_can_be_declined(crm, billed: Path, monkeypatch):
    assert crm("deal", "add", "Intranet", "--company", "acme").ok
    qid = crm("quote", "new", "Intranet", "--for", "acme", "--deal", "intranet").stdout.strip()
    assert crm("quote", "line", "add", qid, "--text", "Work", "--price", "500").ok
    assert crm("quote", "accept", qid).exit_code == 23  # a draft was never sent
    assert crm("quote", "send", qid, "--no-email").ok
    monkeypatch.setenv("CRM_NOW", "2027-01-10T10:00:00")
    assert shown(crm, "quote", qid)["status"] == "expired"
    assert crm("quote", "list", "--status", "expired", "--format", "ids").stdout.split() == [qid]
    assert crm("quote", "decline", qid, "--lost", "too expensive").ok
    assert shown(crm, "quote", qid)["status"] == "declined"
    deal = load(billed / "deals" / "intranet.yaml")
    assert (deal["stage"], deal["lost_reason"]) == ("lost", "too expensive")


def test_a_contact_as_customer_brings_their_company(crm, billed: Path):
    rid = crm("invoice", "new", "Logo", "--for", "ada@acme.example").stdout.strip()
    data = load(billed / "invoices" / f"{rid}.yaml")
    assert (data["contact"], data["company"]) == ("ada-lovelace", "acme-gmbh")
    result = crm("invoice", "new", "X", "--for", "nobody")
    assert result.exit_code == 20 and "no company or contact matches" in result.stderr


# -- what crm.yaml cannot change afterwards ---------------------------------------------------


def test_an_issued_invoice_keeps_its_rate_regime_and_rounding(crm, billed: Path):
    rid = invoice_with_lines(crm, ["--text", "X", "--price", "0.99", "--qty", "7"])
    assert crm("invoice", "issue", rid).ok
    before = shown(crm, "invoice", rid)
    assert (before["tax"], before["total"]) == ("1.32", "8.25")
    stored = load(billed / "invoices" / f"{rid}.yaml")
    assert stored["regime"] == "standard" and stored["lines"][0]["tax"] == "19"
    config = billed / "crm.yaml"
    text = config.read_text().replace('tax_rate: "19"', 'tax_rate: "7"')
    config.write_text(
        text.replace("pdf: false", "pdf: false\n  rounding: per_line\n  regime: small_business")
    )
    after = shown(crm, "invoice", rid)
    assert (after["tax"], after["total"]) == ("1.32", "8.25")
    draft = invoice_with_lines(crm, ["--text", "X", "--price", "0.99", "--qty", "7"], title="D")
    assert shown(crm, "invoice", draft)["tax"] == "0.00"  # drafts follow crm.yaml


def test_credit_quantities_must_be_positive_and_at_most_invoiced(crm, billed: Path):
    rid = invoice_with_lines(crm, ["--text", "X", "--price", "100", "--qty", "2"])
    assert crm("invoice", "issue", rid).ok
    for choice in ("1:-1", "1:3", "1:0"):
        result = crm("invoice", "credit", rid, "--lines", choice)
        assert result.exit_code == 22, choice
        assert "more than 0 and at most the 2 invoiced" in result.stderr
    assert not list((billed / "credit_notes").glob("*.yaml"))


def test_number_patterns_pad_with_zeros_only(crm, billed: Path):
    config = billed / "crm.yaml"
    config.write_text(config.read_text() + '  numbering: {invoice: "{year}-{seq:4}"}\n')
    result = crm("check")
    assert result.exit_code == 1 and "billing.numbering.invoice" in result.stdout


def test_a_bad_locale_is_found_by_check(crm, billed: Path):
    config = billed / "crm.yaml"
    config.write_text(config.read_text().replace("locale: en_GB", "locale: xx_YY"))
    result = crm("check")
    assert result.exit_code == 1 and "'xx_YY' is not a locale" in result.stdout


def test_products_are_priced_in_the_default_currency(crm, billed: Path):
    rid = crm("invoice", "new", "Yen", "--for", "acme", "--currency", "JPY").stdout.strip()
    result = crm("invoice", "line", "add", rid, "--product", "design")
    assert result.exit_code == 22 and "priced in EUR, the document is in JPY" in result.stderr
    assert crm("invoice", "line", "add", rid, "--product", "design", "--price", "15000").ok
    assert shown(crm, "invoice", rid)["lines"][0]["price"] == "15000"


def test_a_paid_invoice_says_so(crm, billed: Path):
    rid = invoice_with_lines(crm, ["--text", "X", "--price", "100"])
    assert crm("invoice", "issue", rid).ok
    assert "Please pay by" in crm("invoice", "render", rid, "--format", "txt").stdout
    assert crm("invoice", "pay", rid, "--amount", "119").ok
    text = crm("invoice", "render", rid, "--format", "md").stdout
    assert "Paid in full" in text and "Please pay" not in text


# -- review fixes -----------------------------------------------------------------------------


def _editor(tmp_path: Path, monkeypatch, pattern: str, replacement: str) -> None:
    """VISUAL: a script that rewrites the file it is given, `pattern` to `replacement`."""
    script = tmp_path / "ed.py"
    script.write_text(
        "import re, sys, pathlib\n"
        "p = pathlib.Path(sys.argv[1])\n"
        f"p.write_text(re.sub({pattern!r}, {replacement!r}, p.read_text(), flags=re.M))\n"
    )
    monkeypatch.setenv("VISUAL", f"{sys.executable} {script}")


def test_an_issued_invoice_never_becomes_a_draft_again(
    crm, billed: Path, tmp_path: Path, monkeypatch
):
    rid = invoice_with_lines(crm, ["--text", "X", "--price", "10"])
    assert crm("invoice", "issue", rid).ok
    assert crm("invoice", "send", rid, "--no-email").ok  # issued -> sent is what `send` does
    path = billed / "invoices" / f"{rid}.yaml"
    before = path.read_bytes()
    _editor(tmp_path, monkeypatch, r"^status: .*", "status: draft")
    result = crm("invoice", "edit", rid)
    assert result.exit_code == 22
    assert "its status cannot change (an issued document never becomes a draft" in result.stderr
    no_traceback(result)
    assert path.read_bytes() == before
    result = crm("invoice", "rm", rid, "--yes")  # and so it can still not be removed
    assert result.exit_code == 23 and path.exists()
    # a credit note neither
    assert crm("invoice", "credit", rid, "--lines", "1:0.5").ok
    note = next((billed / "credit_notes").glob("*.yaml"))
    result = crm("credit-note", "edit", note.stem)
    assert result.exit_code == 22 and "its status cannot change" in result.stderr
    # a hand edit that does it anyway is found by check
    path.write_text(path.read_text().replace("status: sent", "status: draft"))
    result = crm("check")
    assert result.exit_code == 1
    assert (
        f"invoices/{rid}.yaml:4: status: is draft but has a number and a kept document: "
        "once issued, an invoice stays issued" in result.stdout
    )


def test_numbers_are_not_given_while_a_file_of_the_series_is_unreadable(crm, billed: Path):
    first = invoice_with_lines(crm, ["--text", "X", "--price", "10"], title="First")
    assert crm("invoice", "issue", first).stdout.strip() == "2026-0001"
    broken = billed / "invoices" / f"{first}.yaml"
    broken.write_text(broken.read_text() + "<<<<<<< HEAD\nnumber: 2026-0009\n")  # a git conflict
    second = invoice_with_lines(crm, ["--text", "X", "--price", "10"], title="Second")
    before = (billed / "invoices" / f"{second}.yaml").read_bytes()
    result = crm("invoice", "issue", second)
    assert result.exit_code == 4
    assert f"invoices/{first}.yaml" in result.stderr and "cannot be read" in result.stderr
    assert "the next invoice number is unknown" in result.stderr
    assert (billed / "invoices" / f"{second}.yaml").read_bytes() == before
    # quotes are numbered the same way
    qid = crm("quote", "new", "Q", "--for", "acme").stdout.strip()
    assert crm("quote", "line", "add", qid, "--text", "X", "--price", "10").ok
    assert crm("quote", "send", qid, "--no-email").ok
    (billed / "quotes" / f"{qid}.yaml").write_text("title: [unclosed\n")
    other = crm("quote", "new", "R", "--for", "acme").stdout.strip()
    assert crm("quote", "line", "add", other, "--text", "X", "--price", "10").ok
    result = crm("quote", "send", other, "--no-email")
    assert result.exit_code == 4 and f"quotes/{qid}.yaml" in result.stderr
    assert load(billed / "quotes" / f"{other}.yaml")["status"] == "draft"


def test_issue_dates_are_never_ahead_of_today(crm, billed: Path):
    rid = invoice_with_lines(crm, ["--text", "X", "--price", "10"])
    result = crm("invoice", "issue", rid, "--date", "2026-12-31")
    assert result.exit_code == 22
    assert "2026-12-31 is after today (2026-11-23)" in result.stderr
    assert load(billed / "invoices" / f"{rid}.yaml")["status"] == "draft"
    assert crm("invoice", "issue", rid).stdout.strip() == "2026-0001"  # today still works
    late = invoice_with_lines(crm, ["--text", "X", "--price", "10"], title="Late")
    result = crm("invoice", "issue", late, "--date", "2026-11-01")
    assert result.exit_code == 22
    assert "give a --date from 2026-11-23 to 2026-11-23, or none for today" in result.stderr
    # a series dated ahead by an older version: the hint says from when it can go on
    path = billed / "invoices" / f"{rid}.yaml"
    path.write_text(path.read_text().replace('issued: "2026-11-23"', 'issued: "2026-12-31"'))
    result = crm("invoice", "issue", late)
    assert result.exit_code == 22
    assert "the next is issued from 2026-12-31 on" in result.stderr


def test_negative_and_zero_totals_are_not_issued(crm, billed: Path):
    refund = invoice_with_lines(crm, ["--text", "Refund", "--price", "-10"], title="Refund")
    result = crm("invoice", "issue", refund)
    assert result.exit_code == 22
    assert "totals -11.90 EUR: only an amount to be paid can be issued" in result.stderr
    assert "crm invoice credit" in result.stderr
    free = invoice_with_lines(crm, ["--text", "Free", "--price", "0"], title="Free")
    result = crm("invoice", "issue", free)
    assert result.exit_code == 22 and "totals 0.00 EUR" in result.stderr
    for rid in (refund, free):
        assert load(billed / "invoices" / f"{rid}.yaml")["status"] == "draft"
    qid = crm("quote", "new", "Q", "--for", "acme").stdout.strip()
    assert crm("quote", "line", "add", qid, "--text", "X", "--price", "0").ok
    result = crm("quote", "send", qid, "--no-email")
    assert result.exit_code == 22 and "only an amount to be paid can be sent" in result.stderr
    # a discount line is fine while the total is positive
    rid = invoice_with_lines(
        crm, ["--text", "X", "--price", "100"], ["--text", "D", "--price", "-10"]
    )
    assert crm("invoice", "issue", rid).ok


def test_whole_tax_rates_are_written_plainly(crm, billed: Path):
    for name, rate, written in (("A", "20", "20"), ("B", "100", "100"), ("C", "7.70", "7.7")):
        assert crm("product", "add", name, "--price", "10", "--tax", rate, "--id", name.lower()).ok
        assert load(billed / "products" / f"{name.lower()}.yaml")["tax_rate"] == written
    assert shown(crm, "product", "a")["tax_rate"] == "20"
    # a file an older version wrote ('2E+1') reads as 20
    path = billed / "products" / "a.yaml"
    path.write_text(path.read_text().replace('tax_rate: "20"', "tax_rate: '2E+1'"))
    assert crm("check").ok
    rid = invoice_with_lines(crm, ["--product", "a"])
    data = shown(crm, "invoice", rid)
    assert data["lines"][0]["tax_rate"] == "20" and data["taxes"][0]["rate"] == "20"
    assert load(billed / "invoices" / f"{rid}.yaml")["lines"][0]["tax"] == "20"
    assert "tax 20 %" in crm("invoice", "render", rid).stdout


def test_credit_notes_line_by_line_cancel_the_invoice_exactly(crm, billed: Path):
    rid = invoice_with_lines(crm, *[["--text", f"Item {n}", "--price", "0.99"] for n in range(7)])
    assert crm("invoice", "issue", rid).ok
    assert shown(crm, "invoice", rid)["total"] == "8.25"  # 6.93 + 1.32
    for n in range(1, 7):
        assert crm("invoice", "credit", rid, "--lines", str(n)).ok  # 1.18 each
    result = crm("invoice", "credit", rid, "--lines", "7")
    assert result.ok, result.stderr
    last = shown(crm, "credit-note", result.stdout.strip())
    assert (last["net"], last["tax"], last["total"]) == ("0.99", "0.18", "1.17")
    data = shown(crm, "invoice", rid)
    assert (data["status"], data["credited"], data["amount_due"]) == ("credited", "8.25", "0.00")
    stored = load(billed / "credit_notes" / f"{last['id']}.yaml")
    assert stored["taxes"] == [{"rate": "19", "taxable": "0.99", "tax": "0.18"}]
    assert "Net at 19 %: €0.99, tax €0.18" in crm("credit-note", "render", last["id"]).stdout
    result = crm("invoice", "credit", rid, "--lines", "7")
    assert result.exit_code == 22
    assert crm("check").ok
    path = billed / "credit_notes" / f"{last['id']}.yaml"
    path.write_text(path.read_text().replace('tax: "0.18"', 'tax: "lots"'))
    result = crm("check")
    assert result.exit_code == 1
    assert f"credit_notes/{last['id']}.yaml:" in result.stdout
    assert "taxes: entry 1: 'lots' is not an amount" in result.stdout


def test_partial_quantities_are_settled_by_the_last_credit_note(crm, billed: Path):
    rid = invoice_with_lines(
        crm, ["--text", "A", "--qty", "3", "--price", "0.335"], ["--text", "B", "--price", "100"]
    )
    assert crm("invoice", "issue", rid).ok
    assert crm("invoice", "credit", rid, "--lines", "1:1.5").ok
    assert crm("invoice", "credit", rid, "--lines", "1:1.5").ok
    result = crm("invoice", "credit", rid, "--lines", "1:1")
    assert result.exit_code == 22
    assert "'A' would be credited more than it was invoiced: 4 of 3" in result.stderr
    assert crm("invoice", "credit", rid, "--lines", "2").ok
    data = shown(crm, "invoice", rid)
    assert (data["status"], data["amount_due"]) == ("credited", "0.00")
    assert data["credited"] == data["total"]


def test_a_credit_note_keeps_the_invoices_rounding(crm, billed: Path):
    config = billed / "crm.yaml"
    text = config.read_text()
    config.write_text(text.replace("pdf: false", "pdf: false\n  rounding: per_line"))
    rid = invoice_with_lines(crm, *[["--text", f"Item {n}", "--price", "0.99"] for n in range(7)])
    assert crm("invoice", "issue", rid).ok
    assert shown(crm, "invoice", rid)["total"] == "8.26"  # 7 x 0.19 tax
    config.write_text(text)  # back to rounding per rate
    result = crm("invoice", "credit", rid)
    assert result.ok, result.stderr
    note = shown(crm, "credit-note", result.stdout.strip())
    assert note["total"] == "8.26"
    assert load(billed / "credit_notes" / f"{note['id']}.yaml")["rounding"] == "per_line"
    data = shown(crm, "invoice", rid)
    assert (data["status"], data["amount_due"]) == ("credited", "0.00")


def test_a_products_price_is_in_its_own_currency(crm, billed: Path):
    result = crm("product", "add", "Yen", "--currency", "JPY", "--price", "12.5")
    assert result.exit_code == 22 and "12.5 has more decimals than JPY allows" in result.stderr
    assert crm("product", "add", "Yen", "--currency", "JPY", "--price", "1200").ok
    assert load(billed / "products" / "yen.yaml")["price"] == "1200"
    assert crm("product", "add", "Dinar", "--currency", "KWD", "--price", "1.234").ok
    assert load(billed / "products" / "dinar.yaml")["price"] == "1.234"
    result = crm("product", "set", "dinar", "currency=EUR")
    assert result.exit_code == 22 and "1.234 has more decimals than EUR allows" in result.stderr
    assert crm("product", "set", "yen", "currency=EUR").ok
    assert load(billed / "products" / "yen.yaml")["price"] == "1200.00"
    path = billed / "products" / "yen.yaml"
    path.write_text(path.read_text().replace("currency: EUR", "currency: JPY"))
    path.write_text(path.read_text().replace('"1200.00"', '"12.50"'))
    result = crm("check")
    assert result.exit_code == 1
    assert "products/yen.yaml:2: price: 12.50 has more decimals than JPY allows" in result.stdout


def test_only_an_accepted_quote_is_invoiced(crm, billed: Path):
    qid = crm("quote", "new", "Q", "--for", "acme").stdout.strip()
    assert crm("quote", "line", "add", qid, "--text", "X", "--price", "10").ok
    result = crm("invoice", "from-quote", qid)
    assert result.exit_code == 23 and "is draft: only an accepted quote" in result.stderr
    assert crm("quote", "send", qid, "--no-email").ok
    result = crm("invoice", "from-quote", qid)
    assert result.exit_code == 23 and "crm quote accept Q2026-001" in result.stderr
    assert not list((billed / "invoices").glob("*.yaml"))
    assert crm("quote", "accept", qid).ok
    assert crm("invoice", "from-quote", qid).ok


@pytest.mark.parametrize("code", ["XXX", "XTS", "XAU"])
def test_codes_that_are_no_currency_are_refused(crm, billed: Path, code):
    result = crm("invoice", "new", "X", "--for", "acme", "--currency", code)
    assert result.exit_code == 22 and "not of a currency one is paid in" in result.stderr
    assert crm("product", "add", "X", "--currency", code, "--price", "1").exit_code == 22
    assert crm("invoice", "new", "X", "--for", "acme", "--currency", "XOF").ok  # CFA franc
