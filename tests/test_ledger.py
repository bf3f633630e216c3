"""crm export ledger: invoices, credit notes and payments as hledger and beancount journals."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from crm.ledger import account_name, customer_parts
from helpers import Run, invoice_with_lines, no_traceback

HLEDGER = shutil.which("hledger")
needs_hledger = pytest.mark.skipif(
    HLEDGER is None, reason="hledger is not installed (scripts/system-deps.sh installs it)"
)


def export(crm, *args: str) -> str:
    result = crm("export", "ledger", *args)
    assert result.ok, result.stderr
    no_traceback(result)
    return result.stdout


def transactions(journal: str) -> dict[str, list[str]]:
    """Each transaction's lines by its first line (hledger), without the indent."""
    out: dict[str, list[str]] = {}
    for block in journal.strip().split("\n\n")[1:]:
        head, *rest = block.splitlines()
        out[head] = [" ".join(line.split()) for line in rest]
    return out


def issue(crm, monkeypatch, rid: str, day: str) -> str:
    monkeypatch.setenv("CRM_NOW", f"{day}T10:00:00")
    result = crm("invoice", "issue", rid)
    assert result.ok, result.stderr
    return result.stdout.strip()


def pay(crm, number: str, amount: str, day: str, *more: str) -> None:
    result = crm("invoice", "pay", number, "--amount", amount, "--date", day, *more)
    assert result.ok, result.stderr


def credit(crm, monkeypatch, number: str, day: str, *more: str) -> str:
    monkeypatch.setenv("CRM_NOW", f"{day}T10:00:00")
    result = crm("invoice", "credit", number, *more)
    assert result.ok, result.stderr
    return result.stdout.strip()


def settle(*lines: str) -> None:
    """Add `lines` to crm.yaml."""
    with Path("crm.yaml").open("a", encoding="utf-8") as config:
        config.write("".join(f"{line}\n" for line in lines))


def receivables(crm) -> dict[tuple[str, str], Decimal]:
    result = crm("report", "receivables", "--format", "json")
    assert result.ok, result.stderr
    return {
        (row["name"], row["currency"]): Decimal(row["total"])
        for row in json.loads(result.stdout)["customers"]
    }


def hledger(path: Path, *args: str) -> str:
    assert HLEDGER is not None
    done = subprocess.run(
        [HLEDGER, "-f", str(path), *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def hledger_receivables(path: Path) -> dict[tuple[str, str], Decimal]:
    """`hledger bal Receivable -O json`: per customer (the last part of the account) and
    commodity, the balance."""
    rows = json.loads(hledger(path, "bal", "Receivable", "-O", "json"))[0]
    out = {}
    for row in rows:
        for amount in row[-1]:
            quantity = amount["aquantity"]
            value = Decimal(quantity["decimalMantissa"]).scaleb(-quantity["decimalPlaces"])
            if value:
                out[(row[0].split(":")[-1], amount["acommodity"])] = value
    return out


def beancount_balances(path: Path) -> dict[str, dict[str, Decimal]]:
    """Load a file with beancount itself: no errors, every transaction balanced; the balance
    of each account per currency."""
    from beancount import loader
    from beancount.core import data

    entries, errors, _ = loader.load_file(str(path))
    assert not errors, [e.message for e in errors]
    out: dict[str, dict[str, Decimal]] = {}
    for entry in entries:
        if isinstance(entry, data.Transaction):
            for p in entry.postings:
                per = out.setdefault(p.account, {})
                per[p.units.currency] = per.get(p.units.currency, Decimal(0)) + p.units.number
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Acme: an invoice at 19 % and 7 %, paid in part, a credit note for one line; Globex (EU,
    reverse charge) in USD, overpaid; a namesake of Acme; a draft that is never exported.
    Made once for this module (issuing takes a while) in an environment like `isolated`."""
    from typer.testing import CliRunner

    from crm.cli import build_app

    root = tmp_path_factory.mktemp("ledger")
    (root / "home").mkdir()
    (root / "work").mkdir()
    app, runner = build_app(None), CliRunner()

    def crm(*args: str) -> Run:
        result = runner.invoke(app, list(args), catch_exceptions=True)
        return Run(result.exit_code, result.stdout, result.stderr, result.exception)

    with pytest.MonkeyPatch.context() as env:
        for name in list(os.environ):
            if name.startswith("CRM_") or name in ("VISUAL", "EDITOR"):
                env.delenv(name)
        for name, value in (("HOME", str(root / "home")), ("NO_COLOR", "1"), ("TZ", "UTC")):
            env.setenv(name, value)
        env.chdir(root / "work")
        assert crm("init", "--no-git", "--name", "Test Studio").ok
        config = Path("crm.yaml")
        text = config.read_text(encoding="utf-8")
        text = text[: text.index("# Quotes and invoices")]
        config.write_text(text + 'billing:\n  tax_rate: "19"\n  pdf: false\n', encoding="utf-8")
        env.setenv("CRM_NOW", "2026-11-01T10:00:00")
        for args in (
            ("company", "add", "Acme GmbH"),
            ("company", "add", "Globex SARL"),
            ("company", "set", "globex-sarl", "vat_id=FR40303265045", "tax_regime=reverse_charge"),
            ("company", "add", "Acme GmbH"),
        ):
            result = crm(*args)
            assert result.ok, result.stderr
        acme = invoice_with_lines(
            crm,
            ["--text", "Design", "--price", "1000"],
            ["--text", "Book", "--price", "100", "--tax", "7"],
            title="Website",
            customer="acme-gmbh",
        )
        issue(crm, env, acme, "2026-11-02")
        pay(crm, "2026-0001", "500.00", "2026-11-10", "--method", "transfer")
        credit(crm, env, "2026-0001", "2026-11-12", "--lines", "2", "--reason", "no book")
        globex = invoice_with_lines(
            crm, ["--text", "Consulting", "--price", "2000"], title="Audit", customer="globex"
        )
        assert crm("invoice", "set", globex, "currency=USD").ok
        issue(crm, env, globex, "2026-11-05")
        pay(crm, "2026-0002", "2100.00", "2026-11-20", "--overpay", "--method", "cash")
        namesake = invoice_with_lines(
            crm, ["--text", "Logo", "--price", "300"], title="Logo", customer="acme-gmbh-2"
        )
        issue(crm, env, namesake, "2026-11-20")
        invoice_with_lines(
            crm, ["--text", "Draft", "--price", "50"], title="Draft", customer="globex"
        )
    return root / "work"


@pytest.fixture
def books(built, tmp_path, monkeypatch):
    """A private copy of `built`, as the working directory."""
    target = tmp_path / "books"
    shutil.copytree(built, target, ignore=shutil.ignore_patterns("cache"))
    monkeypatch.chdir(target)
    monkeypatch.setenv("CRM_NOW", "2026-11-23T10:00:00")
    return target


def test_invoice_partial_payment_and_credit_note(books, crm):
    journal = export(crm)
    assert journal.splitlines()[2] == "decimal-mark ."
    found = transactions(journal)
    assert found["2026-11-02 (2026-0001) Acme GmbH | Website"] == [
        "; invoice:2026-0001",
        "Assets:Receivable:Acme GmbH 1297.00 EUR",
        "Income:Sales:19% -1000.00 EUR",
        "Liabilities:VAT:19% -190.00 EUR",
        "Income:Sales:7% -100.00 EUR",
        "Liabilities:VAT:7% -7.00 EUR",
    ]
    assert found["2026-11-10 (2026-0001) Acme GmbH | Payment of invoice 2026-0001"] == [
        "; invoice:2026-0001",
        "; method:transfer",
        "Assets:Bank 500.00 EUR",
        "Assets:Receivable:Acme GmbH -500.00 EUR",
    ]
    # the reverse of the credited line, referencing the invoice it corrects
    assert found["2026-11-12 (CN2026-0001) Acme GmbH | Credit note for invoice 2026-0001"] == [
        "; credit_note:CN2026-0001",
        "; invoice:2026-0001",
        "Income:Sales:7% 100.00 EUR",
        "Liabilities:VAT:7% 7.00 EUR",
        "Assets:Receivable:Acme GmbH -107.00 EUR",
    ]
    assert "Draft" not in journal
    # date, then number: a re-export is the same file
    heads = list(found)
    assert heads == sorted(heads, key=lambda h: (h[:10], h))
    assert export(crm) == journal


def test_reverse_charge_and_another_currency(books, crm):
    found = transactions(export(crm))
    assert found["2026-11-05 (2026-0002) Globex SARL | Audit"] == [
        "; invoice:2026-0002",
        "Assets:Receivable:Globex SARL 2000.00 USD",
        "Income:Sales:Reverse-Charge -2000.00 USD",
    ]
    # paid 100 more than due: the receivable is cleared, the rest is owed to the customer
    assert found["2026-11-20 (2026-0002) Globex SARL | Payment of invoice 2026-0002"] == [
        "; invoice:2026-0002",
        "; method:cash",
        "Assets:Bank 2100.00 USD",
        "Assets:Receivable:Globex SARL -2000.00 USD",
        "Liabilities:Customer-Credit:Globex SARL -100.00 USD",
    ]


def test_namesakes_keep_their_own_accounts(books, crm):
    journal = export(crm)
    assert "Assets:Receivable:Acme GmbH (acme-gmbh-2)" in journal
    beancount = export(crm, "--format", "beancount")
    assert "Assets:Receivable:Acme-GmbH-acme-gmbh-2" in beancount
    assert "Assets:Receivable:Acme-GmbH " in beancount


def test_since_only_leaves_out_earlier_transactions(books, crm):
    found = transactions(export(crm, "--since", "2026-11-10"))
    assert [h[:10] for h in found] == ["2026-11-10", "2026-11-12", "2026-11-20", "2026-11-20"]
    beancount = export(crm, "-f", "beancount", "--since", "2026-11-12")
    assert "2026-11-12 open Assets:Receivable:Acme-GmbH\n" in beancount
    assert "2026-11-10" not in beancount
    bad = crm("export", "ledger", "--since", "soon")
    assert bad.exit_code == 2 and "not a date" in bad.stderr and not bad.stdout


def test_out_writes_the_file_and_nothing_else(books, crm):
    result = crm("export", "ledger", "--out", "books/crm.journal")
    assert result.ok and result.stdout == ""
    assert Path("books/crm.journal").read_text(encoding="utf-8") == export(crm)
    bad = crm("export", "ledger", "--format", "ledger-cli", "--out", "other.journal")
    assert bad.exit_code == 2 and "hledger or beancount" in bad.stderr
    assert not Path("other.journal").exists()


def test_accounts_come_from_crm_yaml(books, crm):
    settle(
        "ledger:",
        '  receivable: "Aktiva:Forderungen:{customer}"',
        '  revenue: "Erträge:Umsatz {rate} %"',
        "  methods: {cash: 'Aktiva:Kasse:{currency}'}",
    )
    journal = export(crm)
    assert "Aktiva:Forderungen:Acme GmbH " in journal
    assert "Erträge:Umsatz 19 % " in journal
    assert "Aktiva:Kasse:USD " in journal and "Assets:Bank " in journal
    assert "Income:Sales:Reverse-Charge" in journal  # what is not set keeps its default
    assert "Erträge:Umsatz-19 " in export(crm, "-f", "beancount")


def test_bad_ledger_settings_are_reported_by_check(folder, crm):
    settle("ledger:", '  bank: "Bank"', '  receivable: "Assets:Receivable:{client}"')
    settle('  expenses: "Expenses:X"')
    result = crm("check")
    assert result.exit_code == 1
    assert "ledger.bank: needs at least two parts" in result.stdout + result.stderr
    assert "ledger.receivable: {client} is not known here" in result.stdout + result.stderr
    assert "ledger.expenses: is not one of" in result.stdout + result.stderr


@needs_hledger
def test_hledger_reads_it_and_its_receivables_are_the_report(books, crm):
    Path("books.journal").write_text(export(crm), encoding="utf-8")
    hledger(Path("books.journal"), "check")
    assert hledger(Path("books.journal"), "bal").splitlines()[-1].strip() == "0"
    assert hledger_receivables(Path("books.journal")) == {
        ("Acme GmbH", "EUR"): Decimal("690.00"),
        ("Acme GmbH (acme-gmbh-2)", "EUR"): Decimal("357.00"),
    }
    result = crm("report", "receivables", "--format", "json")
    report = {r["customer"]: Decimal(r["total"]) for r in json.loads(result.stdout)["customers"]}
    assert report == {"acme-gmbh": Decimal("690.00"), "acme-gmbh-2": Decimal("357.00")}


@needs_hledger
def test_hledger_on_the_examples_matches_the_receivables_report(example, crm):
    result = crm("export", "ledger", "--out", "books.journal")
    assert result.ok, result.stderr
    hledger(Path("books.journal"), "check")
    assert hledger_receivables(Path("books.journal")) == receivables(crm)


def test_beancount_loads_the_examples_balanced(example, crm):
    Path("books.beancount").write_text(export(crm, "-f", "beancount"), encoding="utf-8")
    balances = beancount_balances(Path("books.beancount"))
    report = receivables(crm)
    assert len(report) >= 2
    for (name, currency), total in report.items():
        account = account_name("Assets:Receivable:{customer}", "beancount", customer=name)
        assert balances[account][currency] == total, name
    assert sum(b.get("EUR", 0) for b in balances.values()) == 0


def test_beancount_loads_the_books_balanced(books, crm):
    text = export(crm, "-f", "beancount")
    assert '2026-11-12 * "Acme GmbH" "Credit note for invoice 2026-0001" ^inv-2026-0001' in text
    assert '  credit_note: "CN2026-0001"\n  invoice: "2026-0001"\n' in text
    Path("books.beancount").write_text(text, encoding="utf-8")
    balances = beancount_balances(Path("books.beancount"))
    assert balances["Assets:Receivable:Acme-GmbH"] == {"EUR": Decimal("690.00")}
    assert balances["Liabilities:Customer-Credit:Globex-SARL"] == {"USD": Decimal("-100.00")}
    assert balances["Liabilities:VAT:7"] == {"EUR": Decimal("0.00")}


def test_account_names_are_valid_in_both_formats():
    assert account_name("Income:Sales:{rate}%", "beancount", rate="7.7") == "Income:Sales:7-7"
    assert account_name("Income:Sales:{rate}%", "hledger", rate="7.7") == "Income:Sales:7.7%"
    names = [
        ("a", "Müller  &  Söhne: Bau; GmbH"),
        ("b", "über uns"),
        ("c", "株式会社"),
        ("d", "!!!"),
        ("e", "MÜLLER & SÖHNE: BAU; GMBH"),
    ]
    hledger_parts = customer_parts(names, "hledger")
    assert hledger_parts["a"] == "Müller & Söhne- Bau, GmbH"
    assert hledger_parts["e"] == "MÜLLER & SÖHNE- BAU, GMBH (e)"  # same name but for case
    beancount_parts = customer_parts(names, "beancount")
    assert beancount_parts == {
        "a": "Müller-Söhne-Bau-GmbH",
        "b": "Über-uns",
        "c": "ZhuShiHuiShe",
        "d": "D",
        "e": "MÜLLER-SÖHNE-BAU-GMBH-e",
    }
