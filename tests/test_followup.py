"""Activities, tasks, relative dates and repeats, keeping in touch, the agenda and remind,
the timeline, search and the iCalendar export."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from crm.when import next_occurrence, parse_duration, parse_when
from helpers import no_traceback

MONDAY = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)  # a Monday


def now(day: str, time: str = "09:00:00") -> dict[str, str]:
    return {"CRM_NOW": f"{day}T{time}Z"}


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# -- WHEN and repeats --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("today", dt.date(2026, 11, 23)),
        ("tomorrow", dt.date(2026, 11, 24)),
        ("yesterday", dt.date(2026, 11, 22)),
        ("+3d", dt.date(2026, 11, 26)),
        ("-2w", dt.date(2026, 11, 9)),
        ("+1m", dt.date(2026, 12, 23)),
        ("+1y", dt.date(2027, 11, 23)),
        ("friday", dt.date(2026, 11, 27)),
        ("fri", dt.date(2026, 11, 27)),
        ("monday", dt.date(2026, 11, 30)),  # the coming one, never today
        ("next monday", dt.date(2026, 11, 30)),
        ("2026-12-01", dt.date(2026, 12, 1)),
    ],
)
def test_relative_dates(text, expected, monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    assert parse_when(text, MONDAY) == expected


def test_relative_dates_at_month_ends_and_leap_days(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    jan31 = dt.datetime(2026, 1, 31, 12, tzinfo=dt.UTC)
    assert parse_when("+1m", jan31) == dt.date(2026, 2, 28)
    leap = dt.datetime(2028, 2, 29, 12, tzinfo=dt.UTC)
    assert parse_when("+1y", leap) == dt.date(2029, 2, 28)
    assert parse_when("+1d", leap) == dt.date(2028, 3, 1)
    dec31 = dt.datetime(2026, 12, 31, 12, tzinfo=dt.UTC)
    assert parse_when("tomorrow", dec31) == dt.date(2027, 1, 1)


def test_times_are_local(monkeypatch):
    monkeypatch.setenv("TZ", "Europe/Berlin")
    moment = parse_when("tomorrow 14:30", MONDAY)
    assert isinstance(moment, dt.datetime)
    assert (moment.hour, moment.minute, moment.utcoffset()) == (14, 30, dt.timedelta(hours=1))
    # 23:30 UTC on Monday is already Tuesday in Berlin: "today" is the user's day
    late = dt.datetime(2026, 11, 23, 23, 30, tzinfo=dt.UTC)
    assert parse_when("today", late) == dt.date(2026, 11, 24)


@pytest.mark.parametrize("bad", ["soon", "32/13", "+3x", "2026-02-30", "next blursday", ""])
def test_bad_dates(bad):
    from crm.errors import ValidationError

    with pytest.raises(ValidationError):
        parse_when(bad, MONDAY)


def test_monthly_repeat_keeps_the_month_end(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    anchor = dt.date(2026, 1, 31)
    due, seen = anchor, []
    for _ in range(5):
        due = next_occurrence(anchor, "monthly", due)
        seen.append(due)
    assert seen == [
        dt.date(2026, 2, 28),
        dt.date(2026, 3, 31),
        dt.date(2026, 4, 30),
        dt.date(2026, 5, 31),
        dt.date(2026, 6, 30),
    ]


def test_yearly_repeat_on_a_leap_day(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    anchor = dt.date(2024, 2, 29)
    assert next_occurrence(anchor, "yearly", anchor) == dt.date(2025, 2, 28)
    assert next_occurrence(anchor, "yearly", dt.date(2027, 2, 28)) == dt.date(2028, 2, 29)


def test_repeats_keep_the_hour_across_daylight_saving(monkeypatch):
    monkeypatch.setenv("TZ", "Europe/Berlin")
    from crm.dates import local_zone

    before = dt.datetime(2026, 3, 28, 9, 0, tzinfo=local_zone())  # DST starts on the 29th
    after = next_occurrence(before, "daily", before)
    assert (after.hour, after.utcoffset()) == (9, dt.timedelta(hours=2))
    autumn = dt.datetime(2026, 10, 24, 9, 0, tzinfo=local_zone())  # and ends on the 25th
    assert next_occurrence(autumn, "weekly", autumn).utcoffset() == dt.timedelta(hours=1)
    rule = next_occurrence(dt.date(2026, 11, 23), "FREQ=WEEKLY;BYDAY=MO,TH", dt.date(2026, 11, 23))
    assert rule == dt.date(2026, 11, 26)


def test_durations():
    assert [parse_duration(t) for t in ("30m", "1h", "1h30m", "90", "2h 15m")] == [
        30,
        60,
        90,
        90,
        135,
    ]


# -- activities and tasks ----------------------------------------------------------------------


@pytest.fixture
def people(crm, folder):
    assert crm("company", "add", "Acme Corp", "--tag", "client").ok
    assert crm("contact", "add", "Ada Lovelace", "-e", "ada@acme.example", "--company", "acme").ok
    assert crm("contact", "add", "Bob Builder", "-e", "bob@acme.example", "--company", "acme").ok
    assert crm(
        "deal", "add", "Redesign", "--contact", "ada", "--value", "1000", env=now("2026-10-01")
    ).ok
    assert crm("lead", "add", "Grace", env=now("2026-11-01")).ok
    return folder


def test_log_an_activity_with_several_records(crm, people):
    result = crm(
        "log",
        "ada",
        "bob",
        "redesign",
        "--type",
        "meeting",
        "--date",
        "2026-11-20 14:00",
        "--duration",
        "1h30m",
        "Kickoff workshop",
        env={"TZ": "UTC", **now("2026-11-23")},
    )
    assert result.ok, result.stderr
    rid = result.stdout.strip()
    assert rid == "2026-11-20-meeting-ada-lovelace"
    data = load(people / "activities" / f"{rid}.yaml")
    assert data["type"] == "meeting" and data["duration"] == 90
    assert data["contacts"] == ["ada-lovelace", "bob-builder"] and data["deals"] == ["redesign"]
    assert str(data["at"]).startswith("2026-11-20 14:00")
    assert crm("check").ok


def test_log_errors(crm, people):
    for args, message in [
        (["log", "Only text"], "give at least one REF and the TEXT"),
        (["log", "nobody", "text"], "no contact, company, lead or deal matches 'nobody'"),
        (
            ["log", "ada", "--type", "fax", "x"],
            "type: 'fax' is not one of: call, email, meeting, note",
        ),
        (["log", "ada", "--duration", "long", "x"], "is not a duration"),
        (["log", "ada", "--date", "someday", "x"], "'someday' is not a date"),
    ]:
        result = crm(*args)
        assert result.exit_code in (2, 20, 22), (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        no_traceback(result)
    assert not list((people / "activities").glob("*.yaml"))
    assert crm("contact", "add", "Grace Contact", "--id", "grace").ok  # now also a lead "grace"
    ambiguous = crm("log", "grace", "x")
    assert (
        ambiguous.exit_code == 21
        and "contact:grace" in ambiguous.stderr
        and "lead:grace" in ambiguous.stderr
    )
    assert crm("log", "lead:grace", "x").ok


def test_activity_list_filters(crm, people):
    for day, args in [
        ("2026-11-01", ["ada", "-t", "call", "First call"]),
        ("2026-11-10", ["bob", "-t", "email", "Sent the brief"]),
        ("2026-11-20", ["ada", "redesign", "-t", "meeting", "Workshop"]),
    ]:
        assert crm("log", *args, env=now(day)).ok
    listed = json.loads(crm("activity", "list", "-f", "json").stdout)
    assert [a["text"] for a in listed] == ["Workshop", "Sent the brief", "First call"]

    def ids(*a):
        return [
            x["text"]
            for x in json.loads(
                crm("activity", "list", "-f", "json", *a, env=now("2026-11-23")).stdout
            )
        ]

    assert ids("--for", "ada") == ["Workshop", "First call"]
    assert ids("--for", "redesign") == ["Workshop"]
    assert ids("--type", "email") == ["Sent the brief"]
    assert ids("--since", "2026-11-05", "--until", "2026-11-15") == ["Sent the brief"]
    assert ids("--since", "-1w") == ["Workshop"]


def test_tasks(crm, people):
    env = {"TZ": "UTC", **now("2026-11-23")}
    assert (
        crm(
            "task",
            "add",
            "Send the proposal",
            "--for",
            "ada",
            "--due",
            "friday",
            "--priority",
            "high",
            env=env,
        ).stdout
        == "send-the-proposal\n"
    )
    assert crm("task", "add", "Chase invoice", "--for", "acme", "--due", "-2d", env=env).ok
    assert crm("task", "add", "Someday", env=env).ok
    data = load(people / "tasks" / "send-the-proposal.yaml")
    assert (str(data["due"]), data["status"], data["priority"]) == ("2026-11-27", "open", "high")
    listed = lambda *a: json.loads(crm("task", "list", "-f", "json", *a, env=env).stdout)  # noqa: E731
    assert [t["id"] for t in listed()] == ["chase-invoice", "send-the-proposal", "someday"]
    assert [t["id"] for t in listed("--overdue")] == ["chase-invoice"]
    assert [t["id"] for t in listed("--today")] == ["chase-invoice"]
    assert [t["id"] for t in listed("--week")] == ["chase-invoice", "send-the-proposal"]
    assert [t["id"] for t in listed("--for", "ada")] == ["send-the-proposal"]
    assert crm("task", "snooze", "chase", "+1w", env=env).ok
    assert str(load(people / "tasks" / "chase-invoice.yaml")["due"]) == "2026-11-30"
    assert crm("task", "done", "send", env=env).stdout == ""
    done = load(people / "tasks" / "send-the-proposal.yaml")
    assert done["status"] == "done" and str(done["done_at"]).startswith("2026-11-23")
    assert [t["id"] for t in listed()] == ["chase-invoice", "someday"]
    assert [t["id"] for t in listed("--all")][-1] == "send-the-proposal" or len(
        listed("--all")
    ) == 3
    again = crm("task", "done", "send-the-proposal")
    assert again.exit_code == 23 and "already done" in again.stderr
    assert crm("task", "list", "--overdue", "--week").exit_code == 2
    assert crm("task", "add", "Bad", "--repeat", "weekly").exit_code == 2
    assert crm("check").ok


def test_a_repeating_task_schedules_its_next_occurrence(crm, people):
    env = {"TZ": "UTC", **now("2026-01-30")}
    assert crm(
        "task",
        "add",
        "Invoice retainer",
        "--for",
        "acme",
        "--due",
        "2026-01-31",
        "--repeat",
        "monthly",
        env=env,
    ).ok
    seen = []
    current = "invoice-retainer"
    for day in ("2026-01-31", "2026-02-28", "2026-03-31"):
        result = crm("task", "done", current, env={"TZ": "UTC", **now(day)})
        assert result.ok, result.stderr
        current = result.stdout.strip()
        seen.append(str(load(people / "tasks" / f"{current}.yaml")["due"]))
    assert seen == ["2026-02-28", "2026-03-31", "2026-04-30"]
    following = load(people / "tasks" / f"{current}.yaml")
    assert following["repeat"] == "monthly" and following["companies"] == ["acme-corp"]
    # Done months late: the next one is not in the past.
    late = crm("task", "done", current, env={"TZ": "UTC", **now("2026-08-15")})
    assert str(load(people / "tasks" / f"{late.stdout.strip()}.yaml")["due"]) == "2026-08-31"


def test_rrule_repeat_and_bad_repeat(crm, people):
    env = {"TZ": "UTC", **now("2026-11-23")}
    assert crm(
        "task",
        "add",
        "Standup",
        "--due",
        "2026-11-23",
        "--repeat",
        "FREQ=WEEKLY;BYDAY=MO,TH",
        env=env,
    ).ok
    nxt = crm("task", "done", "standup", env=env).stdout.strip()
    assert str(load(people / "tasks" / f"{nxt}.yaml")["due"]) == "2026-11-26"
    bad = crm("task", "add", "X", "--due", "today", "--repeat", "fortnightly")
    assert bad.exit_code == 22 and "is not a repetition" in bad.stderr


# -- keeping in touch, agenda, remind ---------------------------------------------------------


def test_touch_cadence_restarts_with_any_call_email_or_meeting(crm, people):
    cfg = people / "crm.yaml"
    cfg.write_text(cfg.read_text().replace("cadence: {}", "cadence:\n  client: 1m"))
    assert crm("contact", "set", "ada", "cadence=2w", env=now("2026-10-01")).ok
    assert crm("log", "ada", "-t", "call", "hello", env=now("2026-11-01")).ok
    assert crm("log", "ada", "-t", "note", "a note does not count", env=now("2026-11-20")).ok

    def touches(day):
        return json.loads(crm("touch", "list", "-f", "json", env={"TZ": "UTC", **now(day)}).stdout)

    assert touches("2026-11-14") == []
    due = touches("2026-11-23")
    assert [(t["id"], t["due"], t["last_touch"]) for t in due] == [
        ("ada-lovelace", "2026-11-15", "2026-11-01")
    ]
    assert due[0]["overdue_ratio"] == round(22 / 14, 2)
    # The company (tag client: 1m) counts its contacts' calls: due a month after 11-01.
    later = touches("2026-12-05")
    assert [t["id"] for t in later] == ["ada-lovelace", "acme-corp"]
    assert crm("touch", "snooze", "ada", "2026-12-20", env=now("2026-11-23")).ok
    assert [t["id"] for t in touches("2026-12-05")] == ["acme-corp"]
    assert crm("log", "bob", "-t", "email", "news", env=now("2026-12-04")).ok
    assert touches("2026-12-05") == []


def test_remind_is_silent_when_nothing_is_due(crm, people):
    result = crm("remind", env={"TZ": "UTC", **now("2026-11-02")})
    assert result.ok and result.stdout == "" and result.stderr == ""


def test_remind_prints_exactly_what_is_due(crm, people):
    env = {"TZ": "UTC", **now("2026-11-23")}
    assert crm("task", "add", "Overdue one", "--for", "ada", "--due", "2026-11-20", env=env).ok
    assert crm("task", "add", "Due today", "--due", "2026-11-23", env=env).ok
    assert crm("task", "add", "Next month", "--due", "2026-12-23", env=env).ok
    assert crm("deal", "set", "redesign", "close_date=2026-11-22", env=env).ok
    result = crm("remind", env=env)
    assert result.ok
    text = result.stdout
    assert "Overdue one" in text and "Due today" in text and "Next month" not in text
    assert "Redesign" in text  # its close date has passed
    assert "Grace" in text  # a new lead, not contacted for 22 days
    assert "\x1b" not in text
    data = json.loads(crm("remind", "-f", "json", env=env).stdout)
    assert [t["title"] for t in data["overdue_tasks"]] == ["Overdue one"]
    assert [t["title"] for t in data["tasks"]] == ["Due today"]
    assert [d["id"] for d in data["deals"]] == ["redesign"]
    assert [lead["id"] for lead in data["leads"]] == ["grace"]
    agenda = crm("agenda", "--days", "31", env=env).stdout
    assert "Next month" in agenda and "Overdue tasks (1)" in agenda
    assert crm("today", env=env).ok


# -- the timeline ------------------------------------------------------------------------------


def test_timeline_orders_mixed_items_newest_first(crm, people):
    assert crm("log", "ada", "-t", "call", "Call about the brief", env=now("2026-11-05")).ok
    assert crm("deal", "move", "redesign", "proposal", env=now("2026-11-10")).ok
    assert crm(
        "task", "add", "Send it", "--for", "ada", "--due", "2026-11-15", env=now("2026-11-06")
    ).ok
    assert crm("task", "add", "Done thing", "--for", "ada", env=now("2026-11-06")).ok
    assert crm("task", "done", "done-thing", env=now("2026-11-12")).ok
    timeline = json.loads(crm("contact", "show", "ada", "-f", "json").stdout)["timeline"]
    assert [(e["at"][:10], e["kind"]) for e in timeline] == [
        ("2026-11-15", "task"),
        ("2026-11-12", "task done"),
        ("2026-11-10", "deal"),
        ("2026-11-05", "call"),
        ("2026-10-01", "deal"),
    ]
    company = json.loads(crm("company", "show", "acme", "-f", "json").stdout)["timeline"]
    assert "Call about the brief" in [e["text"] for e in company]  # via its contact
    assert crm("contact", "show", "ada", "-f", "table").stdout.count("Timeline (5)") == 1


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_timeline_includes_git_history(crm, isolated):
    assert crm("init", "studio").ok
    studio = isolated / "studio"
    assert crm("--dir", str(studio), "contact", "add", "Ada").ok  # committed by crm
    path = studio / "contacts" / "ada.yaml"
    path.write_text(path.read_text() + "# met at the fair\n")
    git = ["git", "-c", "user.name=Jane", "-c", "user.email=jane@example.com"]
    subprocess.run([*git, "commit", "-qam", "Note on Ada"], cwd=studio, check=True)
    timeline = json.loads(crm("--dir", str(studio), "contact", "show", "ada", "-f", "json").stdout)[
        "timeline"
    ]
    edits = [e["text"] for e in timeline if e["kind"] == "edit"]
    assert edits == ["Test: Note on Ada", "Test: crm: add contact ada"]


# -- search ------------------------------------------------------------------------------------


def test_search(crm, people):
    assert crm(
        "contact", "add", "Jürgen Weiß", "--phone", "+49 40 2846-1131", "--notes", "Loves espresso"
    ).ok
    assert crm("log", "jurgen", "-t", "call", "Talked about the espresso machine").ok
    hits = lambda *a: json.loads(crm("search", *a, "-f", "json").stdout)  # noqa: E731
    assert next(h["id"] for h in hits("JURGEN")) == "jurgen-weiss"  # then its activity
    assert [h["id"] for h in hits("2846 1131")] == ["jurgen-weiss"]
    found = hits("espresso")
    assert {h["type"] for h in found} == {"contact", "activity"}
    assert found[0]["matches"][0]["field"] in ("notes", "text")
    assert next(h["id"] for h in hits("espresso", "--type", "activity")).endswith(
        "call-jurgen-weiss"
    )
    assert hits("espresso", "nothing-like-this") == []
    assert crm("search", "x", "--type", "planet").exit_code == 2


# -- iCalendar ---------------------------------------------------------------------------------


def test_ical_export_read_by_an_independent_parser(crm, people, tmp_path):
    import vobject

    env = {"TZ": "Europe/Berlin", **now("2026-11-23")}
    assert crm(
        "task",
        "add",
        "Send; the, proposal",
        "--for",
        "ada",
        "--due",
        "2026-11-27 15:00",
        "--priority",
        "high",
        "--tag",
        "sales",
        env=env,
    ).ok
    assert crm(
        "task",
        "add",
        "Retainer",
        "--for",
        "acme",
        "--due",
        "2026-01-31",
        "--repeat",
        "monthly",
        env=env,
    ).ok
    assert crm("task", "add", "Old", "--due", "2026-11-01", env=env).ok
    assert crm("task", "done", "old", env=env).ok
    assert crm(
        "log",
        "ada",
        "bob",
        "--type",
        "meeting",
        "--date",
        "2026-11-25 10:00",
        "--duration",
        "45m",
        "Workshop\nwith the team",
        env=env,
    ).ok
    result = crm("export", "ical", env=env)
    assert result.ok, result.stderr
    cal = vobject.readOne(result.stdout)
    todos = {t.uid.value: t for t in cal.vtodo_list}
    assert set(todos) == {"task-send-the-proposal@crm", "task-retainer@crm"}  # not the done one
    send = todos["task-send-the-proposal@crm"]
    assert send.summary.value == "Send; the, proposal"
    assert send.due.value == dt.datetime(2026, 11, 27, 14, 0, tzinfo=dt.UTC)  # 15:00 in Berlin
    assert send.priority.value == "1" and send.status.value == "NEEDS-ACTION"
    assert "contact Ada Lovelace" in send.description.value
    retainer = todos["task-retainer@crm"]
    assert retainer.due.value == dt.date(2026, 1, 31)
    assert retainer.rrule.value == "FREQ=MONTHLY;BYMONTHDAY=31,-1;BYSETPOS=1"
    [meeting] = cal.vevent_list
    assert meeting.uid.value == "activity-2026-11-25-meeting-ada-lovelace@crm"
    assert meeting.dtstart.value == dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)
    assert meeting.duration.value == dt.timedelta(minutes=45)
    assert meeting.summary.value == "Workshop"
    assert sorted(a.value for a in meeting.attendee_list) == [
        "mailto:ada@acme.example",
        "mailto:bob@acme.example",
    ]
    assert crm("export", "ical", env=env).stdout == result.stdout  # stable: same bytes


def test_ical_vdir_updates_in_place(crm, people, tmp_path):
    import vobject

    vdir = tmp_path / "calendar"
    assert crm("task", "add", "One", "--due", "tomorrow").ok
    assert crm("task", "add", "Two", "--due", "tomorrow").ok
    assert crm("export", "ical", "--dir", str(vdir)).ok
    assert sorted(p.name for p in vdir.iterdir()) == ["task-one.ics", "task-two.ics"]
    (vdir / "someone-else.ics").write_text("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
    mtime = (vdir / "task-two.ics").stat().st_mtime_ns
    assert crm("task", "done", "one").ok
    assert crm("export", "ical", "--dir", str(vdir)).ok
    assert sorted(p.name for p in vdir.iterdir()) == ["someone-else.ics", "task-two.ics"]
    assert (vdir / "task-two.ics").stat().st_mtime_ns == mtime  # unchanged files are not rewritten
    assert vobject.readOne((vdir / "task-two.ics").read_text()).vtodo.summary.value == "Two"
    assert crm("export", "ical", "--dir", str(vdir), "--out", "x.ics").exit_code == 2


# -- after review: edge cases ------------------------------------------------------------------


def test_files_hold_iso_dates_only(crm, people):
    contact = people / "contacts" / "ada-lovelace.yaml"
    contact.write_text(contact.read_text() + "touch_after: next monday\ncadence: 2w\n")
    result = crm("check")
    assert result.exit_code == 1
    assert "touch_after: 'next monday' is not a date (YYYY-MM-DD)" in result.stdout
    assert crm("agenda").ok and crm("touch", "list").ok  # and nothing crashes meanwhile
    task = people / "tasks" / "x.yaml"
    task.write_text("title: X\ndue: 2026-12-01\nrepeat: Weekly\n")
    assert "repeat: 'Weekly' should be written 'weekly'" in crm("check").stdout


def test_completing_through_set_or_edit_is_the_same_as_done(crm, people):
    env = {"TZ": "UTC", **now("2026-11-23")}
    assert crm(
        "task", "add", "Weekly call", "--due", "2026-11-23", "--repeat", "weekly", env=env
    ).ok
    result = crm("task", "set", "weekly-call", "status=done", env=env)
    assert result.ok and result.stdout == "weekly-call-2\n"
    first = load(people / "tasks" / "weekly-call.yaml")
    assert first["next"] == "weekly-call-2" and str(first["done_at"]).startswith("2026-11-23")
    assert crm("task", "set", "weekly-call", "status=open", env=env).ok
    assert crm("task", "done", "weekly-call", env=env).stdout == ""  # its next one exists
    assert sorted(p.name for p in (people / "tasks").glob("weekly-call*")) == [
        "weekly-call-2.yaml",
        "weekly-call.yaml",
    ]


def test_a_new_due_date_moves_the_series_a_snooze_does_not(crm, people):
    env = {"TZ": "UTC", **now("2026-01-05")}
    assert crm("task", "add", "Retainer", "--due", "2026-01-31", "--repeat", "monthly", env=env).ok
    assert crm("task", "snooze", "retainer", "2026-02-03", env=env).ok
    assert str(load(people / "tasks" / "retainer.yaml")["anchor"]) == "2026-01-31"
    nxt = crm("task", "done", "retainer", env=env).stdout.strip()
    assert str(load(people / "tasks" / f"{nxt}.yaml")["due"]) == "2026-02-28"
    assert crm("task", "set", nxt, "due=2026-03-15", env=env).ok
    moved = load(people / "tasks" / f"{nxt}.yaml")
    assert str(moved["anchor"]) == "2026-03-15"
    after = crm("task", "done", nxt, env=env).stdout.strip()
    assert str(load(people / "tasks" / f"{after}.yaml")["due"]) == "2026-04-15"


def test_a_call_with_a_lead_is_contact(crm, people):
    assert crm("log", "lead:grace", "--type", "call", "First call", env=now("2026-11-20")).ok
    lead = load(people / "leads" / "grace.yaml")
    assert (lead["status"], str(lead["last_contact"])) == ("contacted", "2026-11-20")
    assert crm("log", "lead:grace", "--type", "note", "thinking", env=now("2026-11-22")).ok
    assert str(load(people / "leads" / "grace.yaml")["last_contact"]) == "2026-11-20"


def test_remind_json_on_a_quiet_day(crm, people):
    data = json.loads(crm("remind", "-f", "json", env={"TZ": "UTC", **now("2026-11-02")}).stdout)
    assert data["overdue_tasks"] == [] and data["tasks"] == [] and data["touches"] == []


def test_more_when_forms_and_errors(crm, people):
    env = {"TZ": "UTC", **now("2026-11-23")}
    assert crm("task", "add", "A", "--due", "2026-12-05 9:00", env=env).ok
    assert str(load(people / "tasks" / "a.yaml")["due"]).startswith("2026-12-05 09:00")
    for bad in ("+9999y", "05.03", "1.12"):
        result = crm("task", "add", "B", "--due", bad, env=env)
        assert result.exit_code == 22, bad
        no_traceback(result)


def test_times_with_different_offsets_sort_in_time_order(crm, people):
    (people / "activities" / "a.yaml").write_text(
        "type: call\nat: 2026-03-05T22:00:00-05:00\ntext: later (03:00 UTC)\ncontacts: [ada-lovelace]\n"
    )
    (people / "activities" / "b.yaml").write_text(
        "type: call\nat: 2026-03-05T23:30:00Z\ntext: earlier\ncontacts: [ada-lovelace]\n"
    )
    listed = json.loads(crm("activity", "list", "-f", "json").stdout)
    assert [a["text"] for a in listed] == ["later (03:00 UTC)", "earlier"]


def test_calendar_repeats_keep_their_local_time(crm, people):
    import vobject

    env = {"TZ": "Europe/Berlin", **now("2026-03-01")}
    assert crm(
        "task",
        "add",
        "Weekly review",
        "--due",
        "2026-03-02 00:30",
        "--repeat",
        "FREQ=WEEKLY;BYDAY=MO",
        env=env,
    ).ok
    assert crm("log", "ada", "--type", "meeting", "--date", "2026-03-04", "Offsite day", env=env).ok
    cal = vobject.readOne(crm("export", "ical", env=env).stdout)
    review = cal.vtodo
    assert review.dtstart.value == dt.datetime(2026, 3, 2, 0, 30)  # floating: local wall time
    assert review.due.value == dt.datetime(2026, 3, 2, 0, 30)
    assert review.rrule.value == "FREQ=WEEKLY;BYDAY=MO"
    assert cal.vevent.dtstart.value == dt.date(2026, 3, 4)  # an all-day event


def test_vdir_removes_only_its_own_files(crm, people, tmp_path):
    vdir = tmp_path / "cal"
    vdir.mkdir()
    foreign = vdir / "task-mine.ics"
    foreign.write_text("BEGIN:VCALENDAR\r\nBEGIN:VTODO\r\nUID:x\r\nEND:VTODO\r\nEND:VCALENDAR\r\n")
    assert crm("export", "ical", "--dir", str(vdir)).ok
    assert foreign.exists()
