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
    result = crm("invoice", "remind", rid, "--no-email")
    assert result.exit_code == 23 and "not overdue" in result.stderr
    assert crm("invoice", "pay", rid, "--amount", "19").ok
    monkeypatch.setenv("CRM_NOW", "2026-12-15T10:00:00")
    letter = crm("invoice", "remind", rid, "--no-email")
    assert letter.ok, letter.stderr
    assert "A friendly reminder." in letter.stdout
    assert "Please pay: €100.00" in letter.stdout
    result = crm("invoice", "remind", rid, "--no-email")
    assert result.exit_code == 23 and "reminder 2 is due 21 days" in result.stderr
    monkeypatch.setenv("CRM_NOW", "2026-12-29T10:00:00")
    second = crm("invoice", "remind", rid, "--format", "md", "--no-email")
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


# -- review fixes -----------------------------------------------------------------------------


def test_an_rrule_until_in_utc_is_followed_and_a_bad_definition_stops_no_other(crm, billed: Path):
    made = crm(
        "recurring",
        "add",
        "Support",
        "--for",
        "acme",
        "--schedule",
        "FREQ=MONTHLY;UNTIL=20261231T000000Z",
        "--start",
        "2026-09-15",
    )
    assert made.ok, made.stderr
    support = made.stdout.strip()
    assert load(billed / "recurring" / f"{support}.yaml")["schedule"] == (
        "FREQ=MONTHLY;UNTIL=20261231"
    )
    assert crm("recurring", "line", "add", support, "--text", "Support", "--price", "50").ok
    # one written by an older version, with the UTC form kept
    path = billed / "recurring" / f"{support}.yaml"
    path.write_text(path.read_text().replace("UNTIL=20261231", "UNTIL=20261231T000000Z"))
    broken = crm("recurring", "add", "Broken", "--for", "acme", "--start", "2026-09-01")
    assert broken.ok
    bad = billed / "recurring" / f"{broken.stdout.strip()}.yaml"
    assert crm("recurring", "line", "add", "broken", "--text", "X", "--price", "5").ok
    bad.write_text(bad.read_text().replace("start: 2026-09-01", 'start: "2026-02-30"'))
    result = crm("invoice", "recur", "--today", "2026-11-23")
    assert result.exit_code == 22
    assert "recurring/broken.yaml: nothing invoiced: start: '2026-02-30' is not a date" in (
        result.stderr
    )
    assert "1 recurring invoice(s) could not be invoiced: recurring/broken.yaml" in result.stderr
    assert [line.split("\t")[2] for line in result.stdout.splitlines()] == [
        "2026-09-15",
        "2026-10-15",
        "2026-11-15",
    ]
    assert periods(billed) == ["2026-09-15", "2026-10-15", "2026-11-15"]
    assert "invoiced" not in load(bad)
    assert crm("invoice", "recur", "--today", "2027-03-01").exit_code == 22  # still reported
    assert periods(billed)[-1] == "2026-12-15"  # the last before UNTIL
    assert shown(crm, "recurring", support)["status"] == "ended"


def test_the_last_period_of_a_counted_schedule_is_a_regular_one(crm, billed: Path):
    made = crm(
        "recurring",
        "add",
        "Two months",
        "--for",
        "acme",
        "--schedule",
        "FREQ=MONTHLY;COUNT=2",
        "--start",
        "2026-09-01",
    )
    rid = made.stdout.strip()
    assert crm("recurring", "line", "add", rid, "--text", "X", "--price", "10").ok
    assert shown(crm, "recurring", rid)["status"] == "active"
    result = crm("invoice", "recur")
    assert result.ok, result.stderr
    invoices = sorted((load(p) for p in (billed / "invoices").glob("*.yaml")), key=str)
    assert sorted((i["service_date"], i["service_until"]) for i in invoices) == [
        ("2026-09-01", "2026-09-30"),
        ("2026-10-01", "2026-10-31"),
    ]
    state = shown(crm, "recurring", rid)
    assert (state["status"], state["next"]) == ("ended", None)


def test_recur_never_issues_ahead_of_today(crm, billed: Path, retainer: str):
    result = crm("invoice", "recur", "--today", "2026-12-31")  # today is 2026-11-23
    assert result.ok, result.stderr
    issued = {load(p)["issued"] for p in (billed / "invoices").glob("*.yaml")}
    assert issued == {"2026-11-23"}


def test_one_bad_amount_does_not_break_lists_reports_or_the_agenda(crm, billed: Path, monkeypatch):
    good = invoice_with_lines(crm, ["--text", "X", "--price", "100"], title="Good")
    bad = invoice_with_lines(crm, ["--text", "Y", "--price", "100"], title="Bad")
    huge = invoice_with_lines(crm, ["--text", "Z", "--price", "100"], title="Huge")
    for rid in (good, bad, huge):
        assert crm("invoice", "issue", rid).ok
    assert crm("invoice", "pay", bad, "--amount", "50").ok
    path = billed / "invoices" / f"{bad}.yaml"
    path.write_text(path.read_text().replace('amount: "50.00"', 'amount: "654,50"'))
    path = billed / "invoices" / f"{huge}.yaml"
    path.write_text(path.read_text().replace('quantity: "1"', 'quantity: "1e30"'))
    monkeypatch.setenv("CRM_NOW", "2026-12-09T10:00:00")  # all three overdue
    listed = crm("invoice", "list", "--format", "ids")
    assert listed.ok, listed.stderr
    assert listed.stdout.split() == [good]
    assert f"skipped invoices/{bad}.yaml:" in listed.stderr
    assert "payments: payment 1: '654,50' is not an amount" in listed.stderr
    assert f"skipped invoices/{huge}.yaml:" in listed.stderr
    assert "lines: line 1: quantity: '1e30' is too large" in listed.stderr
    revenue = crm("report", "revenue", "--format", "json")
    assert revenue.ok, revenue.stderr
    assert json.loads(revenue.stdout)["periods"][0]["invoiced"] == "119.00"
    assert f"skipped invoices/{bad}.yaml" in revenue.stderr
    agenda = crm("agenda", "--format", "json")
    assert agenda.ok, agenda.stderr
    assert [i["id"] for i in json.loads(agenda.stdout)["invoices"]] == [good]
    assert f"skipped invoices/{huge}.yaml" in agenda.stderr
    shown_bad = shown(crm, "invoice", bad)
    assert (shown_bad["total"], shown_bad["amount_due"]) == (None, None)
    check = crm("check")
    assert check.exit_code == 1
    assert f"invoices/{bad}.yaml:" in check.stdout and "'654,50' is not an amount" in check.stdout
    assert f"invoices/{huge}.yaml:" in check.stdout and "'1e30' is too large" in check.stdout
    draft = invoice_with_lines(crm, title="Draft")
    for args in (
        ("--qty", "1e30", "--price", "1"),
        ("--qty", "100000000", "--price", "100000000000000"),
    ):
        result = crm("invoice", "line", "add", draft, "--text", "X", *args)
        assert result.exit_code == 22, args
        assert "too large" in result.stderr
        assert result.exception is None and "unexpected" not in result.stderr


def test_the_last_reminder_is_sent_once(crm, billed: Path, monkeypatch):
    rid = invoice_with_lines(crm, ["--text", "X", "--price", "100"])
    assert crm("invoice", "issue", rid).ok  # due 2026-12-07
    monkeypatch.setenv("CRM_NOW", "2026-12-15T10:00:00")
    assert crm("invoice", "remind", rid, "--no-email").ok
    monkeypatch.setenv("CRM_NOW", "2026-12-29T10:00:00")
    assert crm("invoice", "remind", rid, "--no-email").ok
    again = crm("invoice", "remind", rid, "--no-email")
    assert again.exit_code == 23
    assert "the last reminder (level 2) was sent on 2026-12-29" in again.stderr
    assert "--level 2 sends it again" in again.stderr
    assert len(load(billed / "invoices" / f"{rid}.yaml")["reminders"]) == 2
    assert crm("invoice", "remind", rid, "--level", "2", "--no-email").ok  # asked for explicitly
    assert [r["level"] for r in load(billed / "invoices" / f"{rid}.yaml")["reminders"]] == [
        1,
        2,
        2,
    ]
