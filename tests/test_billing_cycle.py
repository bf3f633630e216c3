"""Recurring invoices, reminders, billing reports and the agenda's invoices."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from helpers import invoice_with_lines, load, shown


@pytest.fixture
def retainer(crm, billed: Path) -> str:
    result = crm(
        "recurring",
        "add",
        "Retainer",
        "--for",
        "acme",
        "--schedule",
        "monthly",
        "--start",
        "2026-01-31",
        "--issue",
    )
    assert result.ok, result.stderr
    rid = result.stdout.strip()
    assert crm("recurring", "line", "add", rid, "--text", "Maintenance", "--price", "800").ok
    return rid


def periods(folder: Path) -> list[str]:
    return sorted(load(p)["service_date"] for p in (folder / "invoices").glob("*.yaml"))


def test_recur_creates_the_owed_invoices_once(crm, billed: Path, retainer: str):
    first = crm("invoice", "recur", "--today", "2026-03-30")
    assert first.ok, first.stderr
    lines = first.stdout.splitlines()
    assert [line.split("\t")[2] for line in lines] == ["2026-01-31", "2026-02-28"]
    assert [line.split("\t")[1] for line in lines] == ["2026-0001", "2026-0002"]
    again = crm("invoice", "recur", "--today", "2026-03-30")
    assert again.ok and again.stdout == "" and again.stderr == ""  # quiet for cron
    assert periods(billed) == ["2026-01-31", "2026-02-28"]
    invoice = load(billed / "invoices" / f"{retainer}-2026-02-28.yaml")
    assert (invoice["service_date"], invoice["service_until"]) == ("2026-02-28", "2026-03-30")
    assert invoice["recurring"] == retainer and invoice["status"] == "issued"
    # three months without a run: exactly the three missed periods, then nothing
    later = crm("invoice", "recur", "--today", "2026-06-30")
    assert [line.split("\t")[2] for line in later.stdout.splitlines()] == [
        "2026-03-31",
        "2026-04-30",
        "2026-05-31",
        "2026-06-30",
    ]
    assert crm("invoice", "recur", "--today", "2026-06-30").stdout == ""
    assert len(periods(billed)) == len(set(periods(billed))) == 6
    entries = load(billed / "recurring" / f"{retainer}.yaml")["invoiced"]
    assert [e["period"] for e in entries] == sorted(periods(billed))
    assert crm("check").ok


def test_recur_dry_run_writes_nothing(crm, billed: Path, retainer: str):
    result = crm("invoice", "recur", "--today", "2026-03-30", "--dry-run")
    assert result.ok and "+++ b/invoices/" in result.stdout
    assert periods(billed) == []
    assert "invoiced" not in load(billed / "recurring" / f"{retainer}.yaml")


def test_paused_periods_are_skipped_after_resuming(crm, billed: Path, retainer: str, monkeypatch):
    assert crm("invoice", "recur", "--today", "2026-01-31").ok
    monkeypatch.setenv("CRM_NOW", "2026-02-01T10:00:00")
    assert crm("recurring", "pause", retainer).ok
    assert crm("invoice", "recur", "--today", "2026-04-15").stdout == ""
    monkeypatch.setenv("CRM_NOW", "2026-04-15T10:00:00")
    assert crm("recurring", "resume", retainer).ok
    assert crm("invoice", "recur", "--today", "2026-04-30").stdout.split("\t")[2].strip() == (
        "2026-04-30"
    )
    entries = load(billed / "recurring" / f"{retainer}.yaml")["invoiced"]
    assert [e.get("skipped") for e in entries] == [None, "paused", "paused", None]
    listed = json.loads(crm("recurring", "list", "--format", "json").stdout)
    assert listed[0]["status"] == "active" and listed[0]["next"] == "2026-05-31"


def test_resuming_keeps_what_was_owed_before_the_pause(
    crm, billed: Path, retainer: str, monkeypatch
):
    monkeypatch.setenv("CRM_NOW", "2026-03-15T10:00:00")
    assert crm("recurring", "pause", retainer).ok  # January and February never invoiced
    monkeypatch.setenv("CRM_NOW", "2026-05-10T10:00:00")
    assert crm("recurring", "resume", retainer).ok
    made = crm("invoice", "recur", "--today", "2026-05-10").stdout.splitlines()
    assert [line.split("\t")[2] for line in made] == ["2026-01-31", "2026-02-28"]
    entries = load(billed / "recurring" / f"{retainer}.yaml")["invoiced"]
    assert [e["period"] for e in entries if e.get("skipped")] == ["2026-03-31", "2026-04-30"]


def test_recurring_ends(crm, billed: Path, retainer: str):
    assert crm("recurring", "set", retainer, "end=2026-02-15").ok
    assert len(crm("invoice", "recur", "--today", "2026-12-31").stdout.splitlines()) == 1
    assert shown(crm, "recurring", retainer)["status"] == "ended"


def test_reminders_follow_the_levels(crm, billed: Path, monkeypatch):
    rid = invoice_with_lines(crm, ["--text", "X", "--price", "100"])
    assert crm("invoice", "issue", rid).ok  # due 2026-12-07
    result = crm("invoice", "remind", rid)
    assert result.exit_code == 23 and "not overdue" in result.stderr
    assert crm("invoice", "pay", rid, "--amount", "19").ok
    monkeypatch.setenv("CRM_NOW", "2026-12-15T10:00:00")
    letter = crm("invoice", "remind", rid)
    assert letter.ok, letter.stderr
    assert "A friendly reminder." in letter.stdout
    assert "Please pay: €100.00" in letter.stdout
    result = crm("invoice", "remind", rid)
    assert result.exit_code == 23 and "reminder 2 is due 21 days" in result.stderr
    monkeypatch.setenv("CRM_NOW", "2026-12-29T10:00:00")
    second = crm("invoice", "remind", rid, "--format", "md")
    assert "Second reminder." in second.stdout
    assert "Reminder fee: €5.00" in second.stdout and "€105.00" in second.stdout
    reminders = load(billed / "invoices" / f"{rid}.yaml")["reminders"]
    assert reminders == [
        {"date": "2026-12-15", "level": 1},
        {"date": "2026-12-29", "level": 2, "fee": "5.00"},
    ]


def test_revenue_receivables_and_customers(crm, billed: Path, monkeypatch):
    assert crm("company", "add", "Globex").ok
    plan = [
        ("2026-09-10T10:00:00", "acme", "1000", "1190"),  # paid in full in October
        ("2026-10-05T10:00:00", "acme", "500", None),  # open, 61-90 days late by Jan 2027
        ("2026-11-20T10:00:00", "globex", "200", "100"),  # partly paid
    ]
    for when, who, price, paid in plan:
        monkeypatch.setenv("CRM_NOW", when)
        rid = invoice_with_lines(crm, ["--text", "X", "--price", price], title=when, customer=who)
        assert crm("invoice", "issue", rid).ok
        if paid:
            assert crm("invoice", "pay", rid, "--amount", paid, "--date", "2026-10-10").ok
    monkeypatch.setenv("CRM_NOW", "2027-01-02T10:00:00")
    revenue = json.loads(crm("report", "revenue", "--format", "json").stdout)["periods"]
    assert revenue == [
        {
            "period": "2026-09",
            "currency": "EUR",
            "invoiced": "1190.00",
            "paid": "0.00",
            "outstanding": "0.00",
        },
        {
            "period": "2026-10",
            "currency": "EUR",
            "invoiced": "595.00",
            "paid": "1290.00",
            "outstanding": "595.00",
        },
        {
            "period": "2026-11",
            "currency": "EUR",
            "invoiced": "238.00",
            "paid": "0.00",
            "outstanding": "138.00",
        },
    ]
    quarters = json.loads(crm("report", "revenue", "--by", "quarter", "-f", "json").stdout)
    assert [p["period"] for p in quarters["periods"]] == ["2026-Q3", "2026-Q4"]
    ages = json.loads(crm("report", "receivables", "--format", "json").stdout)
    by_name = {row["name"]: row for row in ages["customers"]}
    # acme's 2026-10-05 invoice was due 2026-10-19: 75 days late on 2027-01-02
    assert by_name["Acme GmbH"]["61-90"] == "595.00"
    assert by_name["Globex"]["1-30"] == "138.00"  # due 2026-12-04: 29 days
    assert ages["totals"] == [
        {
            "currency": "EUR",
            "current": "0.00",
            "1-30": "138.00",
            "31-60": "0.00",
            "61-90": "595.00",
            "over_90": "0.00",
            "total": "733.00",
        }
    ]
    customers = json.loads(crm("report", "customers", "--format", "json").stdout)["customers"]
    acme = next(c for c in customers if c["customer"] == "acme-gmbh")
    assert (acme["lifetime"], acme["this_year"], acme["open"]) == ("1785.00", "0.00", "595.00")
    assert acme["average_days_to_pay"] == 30.0  # 2026-09-10 to 2026-10-10
    table = crm("report", "revenue", "--format", "table").stdout
    assert "2026-10" in table and "1,290.00 EUR" in table


def test_the_agenda_lists_invoices_falling_due(crm, billed: Path, monkeypatch):
    rid = invoice_with_lines(crm, ["--text", "X", "--price", "100"])
    assert crm("invoice", "issue", rid).ok  # due 2026-12-07
    assert crm("agenda", "--format", "json").ok
    assert json.loads(crm("agenda", "--format", "json").stdout)["invoices"] == []
    monkeypatch.setenv("CRM_NOW", "2026-12-09T10:00:00")
    items = json.loads(crm("agenda", "--format", "json").stdout)["invoices"]
    assert [(i["number"], i["amount_due"], i["overdue"]) for i in items] == [
        ("2026-0001", "119.00", True)
    ]
    assert "invoice 2026-0001" in crm("agenda", "--format", "table").stdout
    assert crm("invoice", "pay", rid, "--amount", "119").ok
    assert crm("remind").stdout == ""


def test_drafts_are_not_revenue(crm, billed: Path):
    invoice_with_lines(crm, ["--text", "X", "--price", "100"])
    assert json.loads(crm("report", "revenue", "--format", "json").stdout)["periods"] == []
    assert yaml.safe_load(crm("report", "receivables", "--format", "yaml").stdout)["invoices"] == []
