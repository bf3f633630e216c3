"""Tracked time: importing Toggl, Clockify, timewarrior and timeclock files, mapping rules,
and billing it with `crm invoice new --from-time`, once only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import load, no_traceback, run_process, shown

TIME_RULES = """
time:
  round: "0.25"
  rounding: up
  rules:
    - {project: "Website*", customer: acme, product: design}
    - {tag: support, customer: ada@acme.example, rate: "80.00"}
    - {client: "Intern*", billable: false}
"""

TOGGL = (
    "User,Email,Client,Project,Task,Description,Billable,Start date,Start time,End date,"
    "End time,Duration,Tags,Amount (EUR)\n"
    "Ada Lovelace,ada@studio.example,Acme,Website relaunch,Design,Homepage mockups,Yes,"
    "2026-11-20,09:00:00,2026-11-20,10:20:00,01:20:00,,126.67\n"
    'Ada Lovelace,ada@studio.example,Acme,Hotline,,"Printer, again",Yes,'
    "2026-11-21,14:00:00,2026-11-21,14:10:00,00:10:00,support,13.33\n"
    "Ada Lovelace,ada@studio.example,Internal,Planning,,Quarter planning,No,"
    "2026-11-21,15:00:00,2026-11-21,15:30:00,00:30:00,,\n"
    "Ada Lovelace,ada@studio.example,Beta Ltd,Logo,,Sketches,Yes,"
    "2026-11-22,10:00:00,2026-11-22,11:00:00,01:00:00,client meeting,\n"
)
CLOCKIFY_HEADER = (
    "Project,Client,Description,Task,User,Group,Email,Tags,Billable,Start Date,Start Time,"
    "End Date,End Time,Duration (h),Duration (decimal),Billable Rate ({0}),"
    "Billable Amount ({0})\n"
)


@pytest.fixture
def tracked(billed: Path) -> Path:
    """The billing folder with time rules in crm.yaml."""
    with open(billed / "crm.yaml", "a", encoding="utf-8") as handle:
        handle.write(TIME_RULES)
    return billed


def entries(crm, *args: str) -> list[dict]:
    result = crm("time", "list", *args, "--format", "json")
    assert result.ok, result.stderr
    return json.loads(result.stdout)


def imported(crm, folder: Path, name: str, text: str, *args: str):
    (folder / name).write_text(text, encoding="utf-8")
    result = crm("time", "import", name, *args)
    no_traceback(result)
    return result


# -- reading each format ----------------------------------------------------------------------


def test_toggl_export_is_imported_and_mapped_by_the_rules(crm, tracked: Path):
    result = imported(crm, tracked, "toggl.csv", TOGGL)
    assert result.ok, result.stderr
    assert "Imported 4 entries: 4 new, 0 updated, 0 unchanged" in result.stderr
    # the one billable entry no rule maps is reported, the non-billable one is not
    assert "toggl.csv:5 (Logo)" in result.stderr and "Planning" not in result.stderr
    got = {e["id"]: e for e in entries(crm)}
    assert set(got) == {
        "2026-11-20-homepage-mockups",
        "2026-11-21-printer-again",
        "2026-11-21-quarter-planning",
        "2026-11-22-sketches",
    }
    web = got["2026-11-20-homepage-mockups"]
    assert (web["hours"], web["company"], web["product"], web["rate"]) == (
        "1.3333",
        "acme-gmbh",
        "design",
        None,
    )
    assert (web["start"], web["end"]) == ("2026-11-20T09:00:00Z", "2026-11-20T10:20:00Z")
    assert (web["project"], web["client"], web["task"], web["source"]) == (
        "Website relaunch",
        "Acme",
        "Design",
        "toggl",
    )
    assert web["external_ids"] == {"toggl": "ada@studio.example 2026-11-20T09:00:00"}
    hotline = got["2026-11-21-printer-again"]
    assert (hotline["contact"], hotline["company"], hotline["rate"], hotline["tags"]) == (
        "ada-lovelace",
        "acme-gmbh",
        "80.00",
        ["support"],
    )
    assert got["2026-11-21-quarter-planning"]["billable"] is False
    assert got["2026-11-22-sketches"]["tags"] == ["client-meeting"]
    unmapped = entries(crm, "--unmapped")
    assert [e["id"] for e in unmapped] == ["2026-11-22-sketches"]
    raw = load(tracked / "time" / "2026-11-20-homepage-mockups.yaml")
    assert raw["hours"] == "1.3333"  # a quoted decimal, never a float
    assert crm("check").ok


def test_clockify_us_and_german_exports(crm, tracked: Path):
    us = CLOCKIFY_HEADER.format("USD") + (
        "Website relaunch,Acme,Logo,Design,Hugo Bernard,,hugo@studio.example,,Yes,"
        "11/15/2026,02:00 PM,11/15/2026,03:30 PM,01:30:00,1.50,0,0\n"
        'Website relaunch,Acme,Logo v2,Design,Hugo Bernard,,hugo@studio.example,"a, b",Yes,'
        "11/16/2026,09:00 AM,11/16/2026,10:00 AM,01:00:00,1.00,0,0\n"
    )
    assert imported(crm, tracked, "us.csv", us).ok
    german = CLOCKIFY_HEADER.format("EUR") + (
        "Website relaunch,Acme,Navigation,,Ada,,ada@studio.example,,Ja,"
        '03.11.2026,09:00:00,03.11.2026,11:15:00,02:15:00,"2,25","95,00","213,75"\n'
        "Website relaunch,Acme,Footer,,Ada,,ada@studio.example,,Ja,"
        '04.11.2026,16:00:00,,,00:45:00,"0,75","95,00","71,25"\n'
    )
    assert imported(crm, tracked, "de.csv", german).ok
    got = {e["id"]: e for e in entries(crm)}
    assert got["2026-11-15-logo"]["start"] == "2026-11-15T14:00:00Z"
    assert (got["2026-11-15-logo"]["hours"], got["2026-11-15-logo"]["source"]) == (
        "1.5",
        "clockify",
    )
    assert got["2026-11-16-logo-v2"]["tags"] == ["a", "b"]
    assert got["2026-11-03-navigation"]["hours"] == "2.25"
    assert got["2026-11-04-footer"]["hours"] == "0.75"  # no end: from the duration
    assert got["2026-11-04-footer"]["end"] is None
    assert all(e["company"] == "acme-gmbh" for e in got.values())


def test_ambiguous_slash_dates_are_month_first_unless_day_first(crm, tracked: Path):
    text = CLOCKIFY_HEADER.format("EUR") + (
        "Website relaunch,Acme,Mock,,Ada,,ada@studio.example,,Yes,"
        "03/11/2026,09:00,03/11/2026,10:00,01:00:00,1.00,0,0\n"
    )
    result = imported(crm, tracked, "x.csv", text, "--dry-run")
    assert result.ok and "read month first" in result.stderr and "--day-first" in result.stderr
    assert "2026-03-11T09:00:00Z" in result.stdout
    assert not (tracked / "time").exists() or not list((tracked / "time").glob("*.yaml"))
    assert imported(crm, tracked, "x.csv", text, "--day-first").ok
    assert entries(crm)[0]["start"] == "2026-11-03T09:00:00Z"


def test_timewarrior_export(crm, tracked: Path):
    text = (
        "[\n"
        '{"id":3,"start":"20261102T080000Z","end":"20261102T093000Z",'
        '"tags":["Website relaunch","support"],"annotation":"Sketches"},\n'
        '{"id":2,"start":"20261103T080000Z","end":"20261103T081000Z","tags":["support"]},\n'
        '{"id":1,"start":"20261124T080000Z","tags":["support"]}\n'
        "]\n"
    )
    result = imported(crm, tracked, "timew.json", text)
    assert result.ok, result.stderr
    assert "timew.json:4: still running" in result.stderr
    got = {e["id"]: e for e in entries(crm)}
    assert set(got) == {"2026-11-02-sketches", "2026-11-03-time"}
    assert got["2026-11-02-sketches"]["hours"] == "1.5"
    assert got["2026-11-02-sketches"]["tags"] == ["Website-relaunch", "support"]
    assert got["2026-11-02-sketches"]["external_ids"] == {"timewarrior": "20261102T080000Z"}
    assert got["2026-11-03-time"]["rate"] == "80.00"  # by its tag
    # from stdin, as `timew export | crm time import -` pipes it
    again = crm("time", "import", "-", "--format", "timewarrior", input=text)
    assert again.ok and "2 unchanged" in again.stderr


def test_timeclock_file_and_its_alias(crm, tracked: Path):
    text = (
        "; hours for Acme\n"
        "i 2026/11/05 09:00:00 Website relaunch:frontend  Header and menu\n"
        "o 2026/11/05 12:30:00\n"
        "i 2026-11-06 13:00 support\n"
        "i 2026-11-06 13:05 Website relaunch:backend  Deploy\n"
        "o 2026-11-06 13:20 support\n"
        "o 2026-11-06 14:05\n"
        "i 2026/11/07 09:00:00 website\n"
    )
    result = imported(crm, tracked, "work.timeclock", text, "--format", "hledger-timeclock")
    assert result.ok, result.stderr
    assert "work.timeclock:8: website is still clocked in" in result.stderr
    got = {e["id"]: e for e in entries(crm)}
    assert {k: (e["hours"], e["project"]) for k, e in got.items()} == {
        "2026-11-05-header-and-menu": ("3.5", "Website relaunch:frontend"),
        "2026-11-06-support": ("0.3333", "support"),
        "2026-11-06-deploy": ("1", "Website relaunch:backend"),
    }
    assert got["2026-11-05-header-and-menu"]["product"] == "design"


@pytest.mark.parametrize(
    ("name", "text", "where", "message"),
    [
        (
            "bad.csv",
            TOGGL.replace("2026-11-21,14:00:00,2026-11", "2026-11-21,25:00:00,2026-11"),
            "bad.csv:3:",
            "is not a start date and time",
        ),
        ("bad.json", '[\n{"start":"20261102T080000Z","end":"x"}\n]', "bad.json:2:", "end"),
        ("broken.json", '[\n{"start": }\n]', "broken.json:2:", "invalid JSON"),
        ("bad.timeclock", "i 2026/11/05 09:00 a\nx 2026/11/05 10:00\n", "bad.timeclock:2:", "not"),
        ("early.timeclock", "o 2026/11/05 10:00\n", "early.timeclock:1:", "clock-out without"),
        ("other.csv", "Name,Email\nAda,ada@example.com\n", "other.csv:1:", "not a Toggl"),
    ],
)
def test_bad_input_is_one_line_naming_file_and_line(crm, folder: Path, name, text, where, message):
    result = imported(crm, folder, name, text)
    assert result.exit_code == 4
    assert result.stderr.startswith(f"Error: {where}") and message in result.stderr
    assert result.stderr.count("\n") == 1
    assert not list((folder / "time").glob("*.yaml"))


def test_a_bad_rule_is_a_finding_of_check(crm, billed: Path):
    with open(billed / "crm.yaml", "a", encoding="utf-8") as handle:
        handle.write('time:\n  round: "0"\n  rules:\n    - {project: x, price: "9"}\n')
    result = crm("check")
    assert result.exit_code == 1
    assert "crm.yaml:" in result.stdout and "time.round" in result.stdout
    assert "time.rules.0.price: unknown key" in result.stdout
    (billed / "crm.yaml").write_text(
        (billed / "crm.yaml")
        .read_text()
        .replace('price: "9"', "customer: nobody")
        .replace('round: "0"', 'round: "0.5"')
    )
    unknown = imported(crm, billed, "toggl.csv", TOGGL.replace("Website relaunch", "x"))
    assert unknown.exit_code == 3
    assert "crm.yaml: time.rules.0.customer: no company or contact matches 'nobody'" in (
        unknown.stderr
    )


# -- importing again --------------------------------------------------------------------------


def test_importing_again_updates_instead_of_duplicating(crm, tracked: Path):
    assert imported(crm, tracked, "toggl.csv", TOGGL).ok
    before = {p.name: p.read_text() for p in (tracked / "time").iterdir()}
    again = imported(crm, tracked, "toggl.csv", TOGGL)
    assert "0 new, 0 updated, 4 unchanged" in again.stderr
    assert {p.name: p.read_text() for p in (tracked / "time").iterdir()} == before
    # a later export: one entry renamed and longer, one new, the others left out
    later = (
        TOGGL.splitlines()[0]
        + "\n"
        + (
            "Ada Lovelace,ada@studio.example,Acme,Website relaunch,Design,Homepage layouts,Yes,"
            "2026-11-20,09:00:00,2026-11-20,10:30:00,01:30:00,,\n"
            "Ada Lovelace,ada@studio.example,Acme,Website relaunch,,Menu,Yes,"
            "2026-11-24,09:00:00,2026-11-24,09:45:00,00:45:00,,\n"
        )
    )
    result = imported(crm, tracked, "later.csv", later)
    assert "1 new, 1 updated, 0 unchanged" in result.stderr
    got = {e["id"]: e for e in entries(crm)}
    assert len(got) == 5
    web = got["2026-11-20-homepage-mockups"]  # the id stays
    assert (web["description"], web["hours"]) == ("Homepage layouts", "1.5")


def test_a_new_rule_maps_entries_on_map_or_import(crm, tracked: Path):
    assert imported(crm, tracked, "toggl.csv", TOGGL).ok
    with open(tracked / "crm.yaml", "a", encoding="utf-8") as handle:
        handle.write('    - {client: "Beta*", customer: acme, rate: "70"}\n')
    result = crm("time", "map")
    assert result.ok and "Mapped 1 entry anew" in result.stderr
    assert entries(crm, "--unmapped") == []
    assert load(tracked / "time" / "2026-11-22-sketches.yaml")["rate"] == "70"


# -- billing ----------------------------------------------------------------------------------


def test_invoice_from_time_bills_once(crm, tracked: Path):
    assert imported(crm, tracked, "toggl.csv", TOGGL).ok
    ada = crm("time", "set", "2026-11-22-sketches", "contact=ada", "company=acme", "rate=100")
    assert ada.ok, ada.stderr
    made = crm("invoice", "new", "--from-time", "--for", "acme", "--period", "2026-11")
    assert made.ok, made.stderr
    rid = made.stdout.strip()
    assert rid == "time-2026-11-for-acme-gmbh"
    data = shown(crm, "invoice", rid)
    # 1:20 h rounds up to 1.5 h at 95.00; the support call (0:10 h -> 0.25 h at 80.00) and
    # Sketches (1 h at 100) are billed to Ada, a contact of Acme: the company's invoice has
    # them too, each line with its own rate.
    assert [(x["text"], x["quantity"], x["price"], x["net"]) for x in data["lines"]] == [
        ("Design – Website relaunch, 2026-11", "1.5", "95.00", "142.50"),
        ("Hotline, 2026-11", "0.25", "80.00", "20.00"),
        ("Logo, 2026-11", "1", "100.00", "100.00"),
    ]
    assert (data["net"], data["tax"], data["total"]) == ("262.50", "49.88", "312.38")
    assert (data["service_date"], data["service_until"]) == ("2026-11-01", "2026-11-30")
    billed = entries(crm)
    assert {e["id"]: e["invoice"] for e in billed} == {
        "2026-11-20-homepage-mockups": rid,
        "2026-11-21-printer-again": rid,
        "2026-11-21-quarter-planning": None,  # not billable
        "2026-11-22-sketches": rid,
    }
    assert entries(crm, "--unbilled") == []
    again = crm("invoice", "new", "--from-time", "--for", "acme", "--period", "2026-11")
    assert again.exit_code == 0 and again.stdout == ""
    assert "nothing unbilled for acme-gmbh in 2026-11" in again.stderr
    assert len(list((tracked / "invoices").glob("*.yaml"))) == 1
    # importing the export again leaves billed entries billed
    assert imported(crm, tracked, "toggl.csv", TOGGL).ok
    assert entries(crm, "--unbilled") == []


def test_a_contacts_invoice_has_only_the_contacts_time(crm, tracked: Path):
    assert imported(crm, tracked, "toggl.csv", TOGGL).ok
    made = crm("invoice", "new", "--from-time", "--for", "ada", "--period", "2026-Q4")
    assert made.ok, made.stderr
    data = shown(crm, "invoice", made.stdout.strip())
    assert [(x["text"], x["quantity"]) for x in data["lines"]] == [("Hotline, 2026-Q4", "0.25")]
    rest = crm("invoice", "new", "--from-time", "--for", "acme", "--period", "2026")
    assert rest.ok and shown(crm, "invoice", rest.stdout.strip())["net"] == "142.50"


def test_group_by_day_and_by_entry(crm, tracked: Path):
    text = TOGGL + (
        "Ada Lovelace,ada@studio.example,Acme,Website relaunch,,Menu,Yes,"
        "2026-11-20,14:00:00,2026-11-20,14:05:00,00:05:00,,\n"
    )
    assert imported(crm, tracked, "toggl.csv", text).ok
    day = crm("invoice", "new", "--from-time", "--for", "acme-gmbh", "--period",
              "2026-11-20..2026-11-21", "--group", "day", "--dry-run")  # fmt: skip
    assert day.ok and "text: Design – Website relaunch, 2026-11-20" in day.stdout
    assert 'quantity: "1.75"' in day.stdout  # 1.5 + 0.25: each entry rounded up
    made = crm("invoice", "new", "Time", "--from-time", "--for", "acme", "--period", "2026-11",
               "--group", "entry")  # fmt: skip
    assert made.ok, made.stderr
    lines = shown(crm, "invoice", "time")["lines"]
    assert [x["text"] for x in lines] == [
        "Design – Website relaunch: Homepage mockups, 2026-11-20",
        "Design – Website relaunch: Menu, 2026-11-20",
        "Hotline: Printer, again, 2026-11-21",
    ]


def test_dry_run_writes_nothing(crm, tracked: Path):
    assert imported(crm, tracked, "toggl.csv", TOGGL).ok
    before = {p.name: p.read_text() for p in (tracked / "time").iterdir()}
    result = crm("invoice", "new", "--from-time", "--for", "acme", "--period", "2026-11", "-n")
    assert result.ok and "+invoice: time-2026-11-for-acme-gmbh" in result.stdout
    assert not list((tracked / "invoices").glob("*.yaml"))
    assert {p.name: p.read_text() for p in (tracked / "time").iterdir()} == before
    dry = imported(crm, tracked, "more.csv", TOGGL.replace("2026-11-2", "2026-12-2"), "-n")
    assert dry.ok and dry.stdout.count("created") == 4
    assert len(list((tracked / "time").glob("*.yaml"))) == 4


def test_removing_the_draft_unbills_its_entries(crm, tracked: Path):
    assert imported(crm, tracked, "toggl.csv", TOGGL).ok
    rid = crm("invoice", "new", "--from-time", "--for", "acme", "--period", "2026-11").stdout
    assert crm("invoice", "issue", rid.strip(), "--dry-run").ok  # issuable as made
    removed = crm("invoice", "rm", rid.strip(), "--yes")
    assert removed.ok, removed.stderr
    assert [e["id"] for e in entries(crm, "--unbilled")] == [
        "2026-11-20-homepage-mockups",
        "2026-11-21-printer-again",
        "2026-11-22-sketches",  # billable, but without a customer
    ]
    assert "invoice" not in load(tracked / "time" / "2026-11-20-homepage-mockups.yaml")


def test_unpriced_time_and_bad_options_are_refused(crm, tracked: Path):
    assert imported(crm, tracked, "toggl.csv", TOGGL).ok
    assert crm("time", "set", "2026-11-22-sketches", "company=acme").ok
    result = crm("invoice", "new", "--from-time", "--for", "acme", "--period", "2026-11")
    assert result.exit_code == 22 and "2026-11-22-sketches has no rate" in result.stderr
    assert not list((tracked / "invoices").glob("*.yaml"))
    assert entries(crm, "--unbilled")[0]["invoice"] is None
    for args, code in (
        (["--period", "2026-11"], 2),
        (["--from-time"], 2),
        (["--from-time", "--period", "2026-13"], 22),
        (["--from-time", "--period", "2026-11", "--group", "week"], 2),
    ):
        bad = crm("invoice", "new", "--for", "acme", *args)
        assert bad.exit_code == code, (args, bad.stderr)
        no_traceback(bad)


def test_example_folder_has_time_to_bill(crm, example: Path):
    unbilled = entries(crm, "--unbilled")
    assert unbilled and all(e["customer"] for e in unbilled)
    assert crm("check").ok
    line = "crm time show 2026-11-1"
    env = {"_CRM_COMPLETE": "complete_bash", "COMP_WORDS": line, "COMP_CWORD": "3"}
    completed = run_process(cwd=example, env=env).stdout.split()
    assert completed == sorted(p.stem for p in (example / "time").glob("2026-11-1*.yaml"))


def test_times_are_local_and_days_are_the_users(crm, tracked: Path, monkeypatch):
    monkeypatch.setenv("TZ", "Europe/Berlin")
    text = (
        '[{"start":"20261130T223000Z","end":"20261130T233000Z","tags":["support"],'
        '"annotation":"Late call"}]'
    )
    assert imported(crm, tracked, "timew.json", text).ok
    (entry,) = entries(crm)
    assert (entry["id"], entry["start"]) == ("2026-11-30-late-call", "2026-11-30T23:30:00+01:00")
    assert entries(crm, "--period", "2026-12") == []
    assert [e["id"] for e in entries(crm, "--period", "2026-11-30")] == ["2026-11-30-late-call"]
    toggl = (
        TOGGL.splitlines()[0]
        + "\n"
        + (
            "Ada,ada@studio.example,Acme,Website relaunch,,Night,Yes,"
            "2026-10-24,23:30:00,2026-10-25,03:30:00,05:00:00,,\n"  # the clocks go back at 3:00
        )
    )
    assert imported(crm, tracked, "toggl.csv", toggl).ok
    night = {e["id"]: e for e in entries(crm)}["2026-10-24-night"]
    assert (night["end"], night["hours"]) == ("2026-10-25T03:30:00+01:00", "5")


def test_billed_time_can_be_neither_removed_nor_changed(crm, tracked: Path):
    assert imported(crm, tracked, "toggl.csv", TOGGL).ok
    made = crm("invoice", "new", "--from-time", "--for", "acme", "--period", "2026-11")
    assert made.ok, made.stderr
    rid = made.stdout.strip()
    removed = crm("time", "rm", "2026-11-20-homepage-mockups", "--yes")
    assert removed.exit_code != 0 and f"billed on invoice {rid}" in removed.stderr
    assert (tracked / "time" / "2026-11-20-homepage-mockups.yaml").exists()
    changed = crm("time", "set", "2026-11-20-homepage-mockups", "hours=5")
    assert changed.exit_code != 0 and "hours cannot change" in changed.stderr
    no_traceback(changed)
    assert crm("time", "set", "2026-11-20-homepage-mockups", "tags=checked").ok
    # unbilled again once the draft goes: then it may change
    assert crm("invoice", "rm", rid, "--yes").ok
    assert crm("time", "set", "2026-11-20-homepage-mockups", "hours=1.5").ok


def test_entries_starting_in_the_same_minute_are_all_kept(crm, tracked: Path):
    text = CLOCKIFY_HEADER.format("EUR") + (
        "Website relaunch,Acme,Oops,,Ada,,ada@studio.example,,Yes,"
        "11/15/2026,09:00 AM,11/15/2026,09:00 AM,00:00:20,0.01,0,0\n"
        "Website relaunch,Acme,Real work,,Ada,,ada@studio.example,,Yes,"
        "11/15/2026,09:00 AM,11/15/2026,11:00 AM,02:00:00,2.00,0,0\n"
        "Website relaunch,Acme,Real work,,Ada,,ada@studio.example,,Yes,"
        "11/15/2026,09:00 AM,11/15/2026,11:00 AM,02:00:00,2.00,0,0\n"
    )
    result = imported(crm, tracked, "clock.csv", text)
    assert result.ok, result.stderr
    assert "clock.csv:4: the same entry as line 3; left out" in result.stderr
    assert sorted(e["hours"] for e in entries(crm)) == ["0", "2"]
    assert imported(crm, tracked, "clock.csv", text).ok  # again: nothing new
    assert len(entries(crm)) == 2


def test_a_duration_past_59_minutes_is_not_read_as_one(crm, tracked: Path):
    text = CLOCKIFY_HEADER.format("EUR") + (
        "Website relaunch,Acme,Odd,,Ada,,ada@studio.example,,Yes,"
        "03.11.2026,09:00:00,,,99:99:99,,,\n"
    )
    result = imported(crm, tracked, "odd.csv", text)
    assert not result.ok
    assert "odd.csv" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert entries(crm) == []
