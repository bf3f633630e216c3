"""Assertions in the data: figures records pin with `assert:`, verified by `crm check`."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from helpers import invoice_with_lines, load, no_traceback, shown

DESIGN_40 = ["--product", "design", "--qty", "40"]  # 3800.00 net, 722.00 tax, 4522.00


def _pin(path: Path, text: str) -> int:
    """Add `text` (an `assert:` block) at the end of a record file; the line it starts on."""
    before = path.read_text(encoding="utf-8")
    path.write_text(before + text, encoding="utf-8")
    return before.count("\n") + 1


def _issued(
    crm, *lines: list[str], title: str = "Website", customer: str = "acme", date: str | None = None
) -> str:
    rid = invoice_with_lines(crm, *lines, title=title, customer=customer)
    result = crm("invoice", "issue", rid, *(["--date", date] if date else []))
    assert result.ok, result.stderr
    return rid


@pytest.fixture(scope="module")
def _ledger_copy(tmp_path_factory) -> dict[str, Path]:
    """Where the folder of `ledger`, once built, is kept for the tests after the first."""
    return {"at": tmp_path_factory.mktemp("ledger") / "folder"}


@pytest.fixture
def ledger(request, isolated: Path, monkeypatch, _ledger_copy: dict[str, Path]) -> Path:
    """Acme: an invoice of 4522.00 issued 2026-09-15, paid 2000.00 on 2026-09-20 and 1000.00
    on 2026-10-05, 4 hours (452.20) credited on 2026-11-23. Bob, a contact without a company:
    an invoice of 119.00. Globex: an invoice of 119.00 USD."""
    kept = _ledger_copy["at"]
    if kept.exists():
        shutil.copytree(kept, isolated, dirs_exist_ok=True)
        monkeypatch.setenv("CRM_NOW", "2026-11-23T10:00:00")
        return isolated
    billed = request.getfixturevalue("billed")
    crm = request.getfixturevalue("crm")
    rid = _issued(crm, DESIGN_40, title="Acme site", date="2026-09-15")
    for amount, day in (("2000", "2026-09-20"), ("1000", "2026-10-05")):
        assert crm("invoice", "pay", rid, "--amount", amount, "--date", day).ok
    assert crm("invoice", "credit", rid, "--lines", "1:4").ok
    assert crm("contact", "add", "Bob Jones").ok
    _issued(crm, ["--text", "Logo", "--price", "100"], title="Logo", customer="bob-jones")
    assert crm("company", "add", "Globex").ok
    dollars = crm("invoice", "new", "Globex advice", "--for", "globex", "--currency", "USD")
    assert dollars.ok, dollars.stderr
    gid = dollars.stdout.strip()
    assert crm("invoice", "line", "add", gid, "--text", "Advice", "--price", "100").ok
    assert crm("invoice", "issue", gid).ok
    assert (rid, gid) == ("acme-site", "globex-advice")
    shutil.copytree(billed, kept, ignore=shutil.ignore_patterns("cache"))
    return billed


def test_assertions_that_hold_pass(crm, ledger: Path):
    _pin(
        ledger / "invoices" / "acme-site.yaml",
        'assert:\n  net: "3800.00"\n  tax: "722.00"\n  total: "4522.00"\n  paid: "3000.00"\n'
        '  credited: "452.20"\n  amount_due: "1069.80"\n',
    )
    _pin(
        ledger / "companies" / "acme-gmbh.yaml",
        'assert: {open: "1069.80", invoiced: "4069.80", paid: "3000.00 EUR"}\n',
    )
    _pin(ledger / "contacts" / "bob-jones.yaml", 'assert: {open: "119.00", invoiced: "119"}\n')
    _pin(ledger / "contacts" / "ada-lovelace.yaml", 'assert: {open: "0.00"}\n')  # acme's
    _pin(ledger / "companies" / "globex.yaml", 'assert: {open: "119.00 USD"}\n')
    _pin(ledger / "invoices" / "globex-advice.yaml", 'assert: {total: "119.00 USD"}\n')
    note = next((ledger / "credit_notes").glob("*.yaml"))
    _pin(note, 'assert: {net: "380.00", total: "452.20"}\n')
    result = crm("check")
    assert result.ok, result.stdout
    # the same figure as `crm report receivables`
    report = json.loads(crm("report", "receivables", "-f", "json").stdout)
    acme = next(r for r in report["customers"] if r["customer"] == "acme-gmbh")
    assert acme["total"] == "1069.80"


def test_a_failing_assertion_names_file_line_figure_and_difference(crm, ledger: Path):
    invoice = ledger / "invoices" / "acme-site.yaml"
    line = _pin(invoice, 'assert:\n  total: "4500.00"\n  amount_due: "1069.80"\n  paid: "3000"\n')
    company = _pin(ledger / "companies" / "acme-gmbh.yaml", 'assert: {open: "1200.00"}\n')
    bob = _pin(ledger / "contacts" / "bob-jones.yaml", 'assert: {invoiced: "120.00"}\n')
    result = crm("check")
    no_traceback(result)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"companies/acme-gmbh.yaml:{company}: assert.open: the company has 1,069.80 EUR open, "
        "not 1,200.00 (130.20 less)",
        f"contacts/bob-jones.yaml:{bob}: assert.invoiced: the contact was invoiced 119.00 EUR "
        "net of credit notes, not 120.00 (1.00 less)",
        f"invoices/acme-site.yaml:{line + 1}: assert.total: the invoice totals 4,522.00 EUR, "
        "not 4,500.00 (22.00 more)",
    ]
    rows = json.loads(crm("check", "-f", "json").stdout)
    assert {"path": "invoices/acme-site.yaml", "line": line + 1} == {
        k: rows[-1][k] for k in ("path", "line")
    }


def test_on_counts_what_was_issued_and_paid_by_that_day(crm, ledger: Path):
    company = ledger / "companies" / "acme-gmbh.yaml"
    line = _pin(
        company,
        "assert:\n"
        '  - {as_of: 2026-09-30, open: "2522.00", invoiced: "4522.00", paid: "2000.00"}\n'
        '  - {as_of: 2026-10-31, open: "1522.00"}\n'
        '  - {as_of: 2026-09-14, open: "0.00", invoiced: "0"}\n'
        '  - {as_of: 2026-09-30, open: "2000.00"}\n',
    )
    invoice = ledger / "invoices" / "acme-site.yaml"
    _pin(invoice, 'assert: {as_of: "2026-09-30", amount_due: "2522.00", credited: "0.00"}\n')
    result = crm("check")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"companies/acme-gmbh.yaml:{line + 4}: assert.3.open: as of 2026-09-30, the company has "
        "2,522.00 EUR open, not 2,000.00 (522.00 more)",
    ]


def test_currencies_are_the_documents_own_or_named(crm, ledger: Path):
    globex = _pin(ledger / "companies" / "globex.yaml", 'assert: {open: "119.00"}\n')
    advice = _pin(ledger / "invoices" / "globex-advice.yaml", 'assert: {total: "119.00 EUR"}\n')
    acme = _pin(ledger / "companies" / "acme-gmbh.yaml", 'assert: {paid: "3000.00 CHF"}\n')
    result = crm("check")
    assert result.stdout.splitlines() == [
        f"companies/acme-gmbh.yaml:{acme}: assert.paid: the company has paid 0.00 CHF, "
        "not 3,000.00 (3,000.00 less)",
        f"companies/globex.yaml:{globex}: assert.open: the company has 0.00 EUR open, "
        "not 119.00 (119.00 less)",
        f"invoices/globex-advice.yaml:{advice}: assert.total: the invoice is in USD: its figures "
        "cannot be in EUR",
    ]


BAD = {
    "companies/a.yaml": (
        'name: A\nassert: {totl: "1", open: 12.5}\n',
        [
            "companies/a.yaml:2: assert.open: 12.5 is read as a YAML number, not an exact amount; "
            'write it in quotes: "12.5"',
            "companies/a.yaml:2: assert.totl: a company has no figure 'totl' to assert (allowed: "
            "open, invoiced, paid, and as_of for the day they are counted to)",
        ],
    ),
    "companies/b.yaml": (
        'name: B\nassert:\n  as_of: yesterday\n  open: "12,50"\n',
        [
            "companies/b.yaml:3: assert.as_of: 'yesterday' is not a date (YYYY-MM-DD)",
            "companies/b.yaml:4: assert.open: '12,50' is not an amount; write digits with an "
            'optional ".": "1200.00" (EUR), or "1200.00 USD" in another currency',
        ],
    ),
    "companies/c.yaml": (
        'name: C\nassert: {invoiced: "1.005", paid: "5 EURO"}\n',
        [
            "companies/c.yaml:2: assert.invoiced: 1.005 has more decimals than EUR allows (2)",
            "companies/c.yaml:2: assert.paid: 'EURO' is not an ISO 4217 currency code",
        ],
    ),
    "companies/d.yaml": (
        'name: D\nassert: "1200.00"\n',
        [
            'companies/d.yaml:2: assert: must be a mapping of figures, e.g. {open: "1200.00"}, '
            "or a list of them",
        ],
    ),
    "companies/e.yaml": (
        "name: E\nassert: {as_of: 2026-09-30}\n",
        [
            "companies/e.yaml:2: assert: names no figure (allowed: open, invoiced, paid, and as_of "
            "for the day they are counted to)",
        ],
    ),
    "contacts/h.yaml": (
        "name: H\nassert:\n  on: 2026-09-30\n",
        [
            "contacts/h.yaml:3: key 'on' is read as a boolean; put it in quotes",
        ],
    ),
    "deals/f.yaml": (
        'title: F\nassert: {total: "1.00"}\n',
        [
            "deals/f.yaml:2: assert: a deal has no figures to assert (only invoices, credit notes, "
            "quotes, companies and contacts do)",
        ],
    ),
    "quotes/g.yaml": (
        'title: G\nassert: {paid: "1.00", total: "0.00"}\n',
        [
            "quotes/g.yaml:2: assert.paid: a quote has no figure 'paid' to assert (allowed: net, "
            "tax, total, and as_of for the day they are counted to)",
        ],
    ),
}


def test_bad_assertions_are_findings_saying_what_is_allowed(crm, folder: Path):
    for name, (text, _) in BAD.items():
        (folder / name).parent.mkdir(exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    result = crm("check")
    no_traceback(result)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [line for _, lines in BAD.values() for line in lines]
    assert crm("check").stdout == result.stdout  # the same findings from the cache


def test_a_changed_invoice_fails_the_company_assertion_at_the_next_check(crm, billed: Path):
    rid = _issued(crm, DESIGN_40)
    line = _pin(billed / "companies" / "acme-gmbh.yaml", 'assert: {open: "4522.00"}\n')
    assert crm("check").ok
    assert crm("check").ok  # the findings of every file are now cached
    invoice = billed / "invoices" / f"{rid}.yaml"
    invoice.write_text(invoice.read_text().replace('price: "95.00"', 'price: "100.00"'))
    result = crm("check")
    assert result.exit_code == 1
    assert result.stdout == (
        f"companies/acme-gmbh.yaml:{line}: assert.open: the company has 4,760.00 EUR open, "
        "not 4,522.00 (238.00 more)\n"
    )
    assert crm("check").stdout == result.stdout


def test_assert_survives_every_edit_and_shows_as_stored(crm, billed: Path, tmp_path: Path):
    company = billed / "companies" / "acme-gmbh.yaml"
    _pin(company, 'assert:\n  as_of: 2026-09-30  # year end\n  open: "0.00"\n')
    assert crm("company", "set", "acme", "industry=Retail", "tags+=client").ok
    assert crm("company", "set", "acme", "--unset", "industry").ok
    assert '  as_of: 2026-09-30  # year end\n  open: "0.00"\n' in company.read_text()
    assert shown(crm, "company", "acme")["assert"] == {"as_of": "2026-09-30", "open": "0.00"}

    rid = invoice_with_lines(crm, ["--text", "Logo", "--price", "100"])
    invoice = billed / "invoices" / f"{rid}.yaml"
    _pin(invoice, 'assert: {total: "119.00"}\n')
    assert crm("invoice", "line", "add", rid, "--text", "Extra", "--price", "10").ok
    assert crm("invoice", "issue", rid).ok
    assert crm("invoice", "pay", rid, "--amount", "50").ok
    assert crm("invoice", "set", rid, "tags+=web").ok
    assert load(invoice)["assert"] == {"total": "119.00"}
    result = crm("check")
    assert "assert.total: the invoice totals 130.90 EUR, not 119.00 (11.90 more)" in result.stdout
    # an issued invoice's assertion is bookkeeping: `edit` may change it
    script = tmp_path / "ed.py"
    script.write_text(
        "import sys, pathlib\np = pathlib.Path(sys.argv[1])\n"
        "p.write_text(p.read_text().replace('\"119.00\"', '\"130.90\"'))\n"
    )
    edited = crm("invoice", "edit", rid, env={"VISUAL": f"{sys.executable} {script}"})
    assert edited.ok, edited.stderr
    assert shown(crm, "invoice", rid)["assert"] == {"total": "130.90"}
    assert crm("check").ok
    # and `edit` refuses an assertion it cannot read, writing nothing
    before = invoice.read_bytes()
    script.write_text(
        "import sys, pathlib\np = pathlib.Path(sys.argv[1])\n"
        "p.write_text(p.read_text().replace('total:', 'totl:'))\n"
    )
    refused = crm("invoice", "edit", rid, env={"VISUAL": f"{sys.executable} {script}"})
    assert refused.exit_code == 22
    assert "assert.totl: an invoice has no figure 'totl' to assert" in refused.stderr
    assert invoice.read_bytes() == before


def test_the_examples_assert_figures_that_hold(crm, example: Path):
    result = crm("check")
    assert result.ok, result.stdout + result.stderr
    assert shown(crm, "company", "pixelwerft-agentur")["assert"] == {
        "open": "1904.00",
        "invoiced": "7140.00",
    }
    report = json.loads(crm("report", "receivables", "-f", "json").stdout)
    assert {"customer": "pixelwerft-agentur", "total": "1904.00"} in [
        {k: r[k] for k in ("customer", "total")} for r in report["customers"]
    ]
    assert crm("invoice", "pay", "2026-0017", "--amount", "1904.00").ok
    result = crm("check")
    assert result.exit_code == 1
    assert result.stdout == (
        "companies/pixelwerft-agentur.yaml:21: assert.open: the company has 0.00 EUR open, "
        "not 1,904.00 (1,904.00 less)\n"
    )
