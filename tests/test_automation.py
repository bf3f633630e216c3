"""Automation: rules in crm.yaml (event and time-based), `crm rules`, and the folder's hooks."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from crm.store import yamlio
from helpers import invoice_with_lines, no_traceback

ROOT = Path(__file__).resolve().parent.parent
NOW = "2026-11-23T10:00:00"


def load(path: Path) -> dict:
    """A record file as crm reads it: dates and times as ISO text."""
    return yamlio.parse(path.read_text(), path.name).data


def add_rules(folder: Path, text: str) -> None:
    """Append `text` (a `rules:` block) to the folder's crm.yaml."""
    config = folder / "crm.yaml"
    config.write_text(config.read_text() + "\n" + text.strip("\n") + "\n")


def example_rules() -> str:
    """The `rules:` block shipped in examples/crm.yaml."""
    text = (ROOT / "examples" / "crm.yaml").read_text()
    return text[text.index("\nrules:\n") :]


def git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=folder, capture_output=True, text=True, check=True
    ).stdout


def hook(folder: Path, name: str, body: str, *, trusted: bool = True, crm=None) -> Path:
    """An executable hooks/NAME running `body` (sh), trusted here unless told otherwise."""
    path = folder / "hooks" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text("#!/bin/sh\n" + body.strip() + "\n")
    path.chmod(0o755)
    if trusted:
        assert crm is not None
        result = crm("hooks", "trust", name)
        assert result.ok, result.stderr
    return path


def run_rules(crm, day: str, *args: str):
    """`crm rules run` on `day` (at 10:00 UTC): a day to come is refused as --today."""
    return crm("rules", "run", *args, env={"CRM_NOW": f"{day}T10:00:00"})


def files(folder: Path, kind: str) -> list[str]:
    return sorted(p.name for p in (folder / kind).glob("*.yaml"))


@pytest.fixture
def repo(isolated: Path, crm, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A CRM folder made by `crm init` (a git repository, autocommit on), at a fixed time."""
    monkeypatch.setenv("CRM_NOW", NOW)
    result = crm("init", "--name", "Test Studio")
    assert result.ok, result.stderr
    return isolated


@pytest.fixture
def deal(crm, repo: Path) -> str:
    for args in (
        ("company", "add", "Acme GmbH", "--id", "acme"),
        ("contact", "add", "Ada Lovelace", "--email", "ada@acme.example", "--company", "acme"),
        ("deal", "add", "Acme website", "--company", "acme", "--value", "4500", "--id", "acme-web"),
    ):
        result = crm(*args)
        assert result.ok, (args, result.stderr)
    return "acme-web"


# -- event rules ------------------------------------------------------------------------------


def test_the_example_rule_makes_a_follow_up_task_in_the_same_commit(crm, repo, deal):
    add_rules(repo, example_rules())
    git(repo, "commit", "-qam", "rules")
    result = crm("deal", "move", deal, "proposal")
    assert result.ok, result.stderr
    (name,) = files(repo, "tasks")
    task = load(repo / "tasks" / name)
    assert task["title"] == "Follow up on proposal: Acme website"
    assert task["due"] == "2026-11-26"  # three days after 2026-11-23
    assert task["deals"] == ["acme-web"]
    assert task["status"] == "open" and task["priority"] == "high"
    committed = git(repo, "show", "--name-only", "--format=%s", "HEAD").split()
    assert sorted(committed[-2:]) == ["deals/acme-web.yaml", f"tasks/{name}"]
    assert git(repo, "status", "--porcelain") == ""
    # Moving on to another stage fires nothing; coming back to proposal is a new event.
    assert crm("deal", "move", deal, "negotiation").ok
    assert len(files(repo, "tasks")) == 1
    assert crm("deal", "move", deal, "proposal").ok
    assert len(files(repo, "tasks")) == 2


def test_dry_run_shows_what_rules_would_do_and_runs_no_hook(crm, repo, deal):
    add_rules(repo, example_rules())
    ran = repo.parent / "ran"
    hook(repo, "on-stage", f"touch {ran}", crm=crm)
    hook(repo, "pre-stage", f"touch {ran}", crm=crm)
    before = (repo / "deals" / "acme-web.yaml").read_text()
    result = crm("deal", "move", deal, "proposal", "--dry-run")
    assert result.ok, result.stderr
    assert "+++ b/tasks/follow-up-on-proposal-acme-website.yaml" in result.stdout
    assert "+title: 'Follow up on proposal: Acme website'" in result.stdout
    assert "+due: 2026-11-26" in result.stdout
    assert "+stage: proposal" in result.stdout
    assert not ran.exists()
    assert (repo / "deals" / "acme-web.yaml").read_text() == before
    assert files(repo, "tasks") == []


def test_rules_act_on_the_record_and_never_cascade(crm, repo, deal):
    add_rules(
        repo,
        """
rules:
  - name: big-deals
    event: change
    type: deal
    field: value
    if: "value>=10000"
    do:
      - tag: big
      - set: {probability: 60}
      - log: {type: note, text: "Value now {{ value }} {{ currency }}"}
  - name: task-for-every-task
    event: add
    type: task
    do:
      - task: "Another task"
""",
    )
    assert crm("deal", "set", deal, "value=5000").ok  # the condition is false
    assert "tags" not in load(repo / "deals" / "acme-web.yaml")
    assert crm("deal", "set", deal, "value=12000").ok
    data = load(repo / "deals" / "acme-web.yaml")
    assert data["tags"] == ["big"] and data["probability"] == 60
    (activity,) = [load(p) for p in (repo / "activities").glob("*.yaml")]
    assert activity["text"] == "Value now 12000.00 EUR"
    assert activity["deals"] == ["acme-web"] and activity["type"] == "note"
    # A task added by a person fires the rule once; the task the rule made fires nothing.
    assert crm("task", "add", "Call Ada").ok
    assert files(repo, "tasks") == ["another-task.yaml", "call-ada.yaml"]


def test_a_rule_whose_action_fails_aborts_the_command_naming_the_rule(crm, repo, deal):
    add_rules(
        repo,
        """
rules:
  - name: bad-stage
    event: stage
    stage: proposal
    do:
      - set: {stage: nowhere}
""",
    )
    before = (repo / "deals" / "acme-web.yaml").read_text()
    result = crm("deal", "move", deal, "proposal")
    assert result.exit_code == 22
    assert "rule bad-stage: stage: 'nowhere' is not one of" in result.stderr
    no_traceback(result)
    assert (repo / "deals" / "acme-web.yaml").read_text() == before


def test_a_new_deal_enters_its_stage_and_placeholders_fill_from_the_record(crm, repo):
    add_rules(
        repo,
        """
rules:
  - name: welcome
    "on": add
    type: contact
    if: "tag:client"
    do:
      - task: {title: "Welcome {{ name }} ({{ emails }}), {{ today }}", due: 1w, tags: [onboarding]}
""",
    )
    assert crm("contact", "add", "Bob", "--email", "bob@example.com").ok
    assert files(repo, "tasks") == []
    assert crm("contact", "add", "Eve {{ id }}", "--email", "eve@x.example", "-t", "client").ok
    (name,) = files(repo, "tasks")
    task = load(repo / "tasks" / name)
    # What a record holds stays text: a placeholder in it is not filled in again.
    assert task["title"] == "Welcome Eve {{ id }} (eve@x.example), 2026-11-23"
    assert task["due"] == "2026-11-30"
    assert task["contacts"] == ["eve-id"] and task["tags"] == ["onboarding"]


# -- time-based rules -------------------------------------------------------------------------

CHASE = """
rules:
  - name: chase
    event: invoice_overdue
    days: 7
    do:
      - tag: overdue
      - task: {title: "Call about invoice {{ number }} ({{ amount_due }} due)", due: tomorrow, for: company}
"""


@pytest.fixture
def issued(crm, billed: Path) -> str:
    """An issued invoice for Acme: 226.10 due 2026-12-07."""
    rid = invoice_with_lines(crm, ["--product", "design", "--qty", "2"])
    assert crm("invoice", "set", rid, "contact=ada-lovelace").ok
    result = crm("invoice", "issue", rid)
    assert result.ok, result.stderr
    return rid


def test_a_time_based_rule_fires_once_across_runs(crm, billed, issued, monkeypatch):
    add_rules(billed, CHASE)
    path = billed / "invoices" / f"{issued}.yaml"
    # Due on 2026-12-07: not yet overdue by 7 days on the 13th.
    for day in ("2026-11-30", "2026-12-13"):
        result = run_rules(crm, day)
        assert result.ok and result.stdout == "" and result.stderr == "", result.stderr
    assert "fired" not in load(path)
    result = run_rules(crm, "2026-12-14")
    assert result.ok, result.stderr
    assert result.stdout.startswith("chase: invoice ")
    assert 'task call-about-invoice-2026-0001-226-10-due "Call about invoice 2026-0001' in (
        result.stdout
    )
    invoice = load(path)
    assert invoice["tags"] == ["overdue"]
    assert invoice["fired"] == {"chase": "2026-12-14T10:00:00Z"}
    assert invoice["status"] == "issued" and invoice["number"] == "2026-0001"
    (name,) = files(billed, "tasks")
    task = load(billed / "tasks" / name)
    assert task["title"] == "Call about invoice 2026-0001 (226.10 due)"
    assert task["due"] == "2026-12-15" and task["companies"] == ["acme-gmbh"]
    text = path.read_text()
    for day in ("2026-12-14", "2026-12-20", "2027-03-01"):
        again = run_rules(crm, day)
        assert again.ok and again.stdout == "", again.stdout
    assert path.read_text() == text
    assert files(billed, "tasks") == [name]
    check = crm("check")
    assert check.ok, check.stdout
    # `fired:` is bookkeeping, not the document: taking the entry out lets the rule fire again.
    monkeypatch.setenv("VISUAL", "sed -i -e /^fired:/d -e /chase:/d")
    edited = crm("invoice", "edit", issued)
    assert edited.ok, edited.stderr
    assert "fired" not in load(path)
    assert run_rules(crm, "2026-12-20").stdout.startswith("chase: invoice ")
    assert len(files(billed, "tasks")) == 2


def test_rules_run_dry_run_and_one_rule(crm, billed, issued):
    add_rules(
        billed,
        CHASE
        + """
  - name: on-add
    event: add
    do:
      - tag: new
""",
    )
    path = billed / "invoices" / f"{issued}.yaml"
    text = path.read_text()
    result = crm("rules", "run", "--today", "2026-12-20", "--dry-run")
    assert result.ok, result.stderr
    assert result.stdout.startswith("chase: invoice ")
    assert "+fired:\n+  chase: 2026-11-23T10:00:00Z" in result.stdout
    assert path.read_text() == text and files(billed, "tasks") == []
    wrong = crm("rules", "run", "--rule", "on-add")
    assert wrong.exit_code == 2 and "fires on its event" in wrong.stderr
    unknown = crm("rules", "run", "--rule", "nope")
    assert unknown.exit_code == 2 and "no rule 'nope'" in unknown.stderr
    result = run_rules(crm, "2026-12-20", "--rule", "chase", "-f", "json")
    (firing,) = json.loads(result.stdout)
    assert firing["rule"] == "chase" and firing["id"] == issued and firing["error"] is None
    # What the time-based rule made fires no event rule: the task is not tagged `new`.
    (name,) = files(billed, "tasks")
    assert "tags" not in load(billed / "tasks" / name)


def test_task_overdue_and_quote_expiring(crm, folder, monkeypatch):
    monkeypatch.setenv("CRM_NOW", NOW)
    add_rules(
        folder,
        """
rules:
  - name: late
    event: task_overdue
    if: "priority=high"
    do:
      - tag: late
  - name: expiring
    event: quote_expiring
    do:
      - tag: expiring
""",
    )
    assert crm("task", "add", "Urgent", "--due", "2026-11-20", "-p", "high").ok
    assert crm("task", "add", "Later", "--due", "2026-11-20", "-p", "low").ok
    assert crm("company", "add", "Acme").ok
    assert crm("quote", "new", "Offer", "--for", "acme").ok
    assert crm("quote", "line", "add", "offer", "--text", "Work", "--qty", "1", "--price", "10").ok
    assert crm("quote", "send", "offer", "--no-email").ok
    until = load(folder / "quotes" / "offer.yaml")["valid_until"]
    result = crm("rules", "run")
    assert result.ok, result.stderr
    assert result.stdout == "late: task urgent (Urgent): tag late\n"
    assert load(folder / "tasks" / "later.yaml").get("tags") is None
    import datetime as dt

    near = (dt.date.fromisoformat(until) - dt.timedelta(days=2)).isoformat()
    result = run_rules(crm, near)
    assert result.stdout == "expiring: quote offer (Offer): tag expiring\n"
    # A task given a new due date may fall overdue again: a new event.
    assert crm("task", "set", "urgent", "due=2026-11-22").ok
    assert "late" not in load(folder / "tasks" / "urgent.yaml").get("fired", {})
    assert crm("rules", "run").stdout == "late: task urgent (Urgent): tag late\n"


# -- crm rules list / test --------------------------------------------------------------------


def test_rules_list_and_test(crm, repo, deal):
    add_rules(repo, example_rules())
    result = crm("rules", "list")
    assert result.ok, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split("\t")[:2] == ["follow-up-proposal", "deal enters stage proposal"]
    listed = json.loads(crm("rules", "list", "-f", "json").stdout)
    assert listed[0]["name"] == "follow-up-proposal" and listed[0]["stage"] == "proposal"
    assert listed[0]["do"] == [
        {
            "task": {
                "title": "Follow up on proposal: {{ title }}",
                "due": "3d",
                "priority": "high",
                "for": ["record"],
            }
        }
    ]
    assert listed[1]["event"] == "invoice_overdue" and listed[1]["days"] == 7

    verdicts = json.loads(crm("rules", "test", deal, "-f", "json").stdout)
    first, second = verdicts
    assert first["applies"] and first["fires"]
    assert "it is not there now (lead)" in first["why"][0]
    assert not second["applies"] and "applies to invoice" in second["why"][0]
    text = crm("rules", "test", "deal:acme-web").stdout
    assert "follow-up-proposal\tdeal enters stage proposal\ton its event\t" in text


def test_rules_test_explains_the_condition_and_an_earlier_firing(crm, billed, issued):
    add_rules(
        billed,
        CHASE.replace("days: 7", 'days: 7\n    if: "amount_due>100 and tag:vip"'),
    )
    result = crm("rules", "test", issued, "--today", "2026-12-20", "-f", "json")
    (verdict,) = json.loads(result.stdout)
    assert not verdict["fires"]
    assert verdict["why"][0] == "invoice 2026-0001 is overdue by 13 days (due 2026-12-07)"
    assert verdict["why"][1] == (
        'condition `amount_due>100 and tag:vip` is false: amount_due is "226.10", tags is []'
    )
    assert crm("invoice", "set", issued, "tags+=vip").ok
    assert run_rules(crm, "2026-12-20").ok
    (verdict,) = json.loads(
        crm("rules", "test", issued, "--today", "2026-12-21", "-f", "json").stdout
    )
    assert not verdict["fires"] and verdict["fired"] == "2026-12-20T10:00:00Z"
    assert verdict["why"][-1] == "already fired on 2026-12-20: never again for this record"
    early = crm("rules", "test", issued, "--today", "2026-12-10")
    assert "overdue by 3 days; the rule waits for 7" in early.stdout


# -- bad rules --------------------------------------------------------------------------------


def test_bad_rules_are_reported_by_check_at_their_line(crm, folder):
    add_rules(
        folder,
        """
rules:
  - name: Not An Id
    event: add
    do: [{tag: x}]
  - name: no-event
    event: someday
    do: [{tag: x}]
  - name: bad-filter
    event: stage
    if: "(stage=lead"
    do: [{tag: x}]
  - name: bad-action
    event: add
    type: deal
    do:
      - task: {title: "Call {{ nobody }}"}
      - mail: {template: x}
      - set: {no_such_field: 1}
  - name: bad-due
    event: add
    do:
      - task: {title: "x", due: "someday"}
  - name: dup
    event: add
    do: [{tag: x}]
  - name: dup
    event: add
    do: [{tag: y}]
""",
    )
    text = (folder / "crm.yaml").read_text().splitlines()

    def line_of(needle: str, start: int = 0) -> int:
        return next(i for i, line in enumerate(text, 1) if i > start and needle in line)

    result = crm("check")
    assert result.exit_code == 1
    out = result.stdout
    assert f"crm.yaml:{line_of('name: Not An Id')}: rules.0.name: a rule needs a name" in out
    assert f"crm.yaml:{line_of('event: someday')}: rules.1.event: 'someday' is not an event" in out
    paren = line_of("(stage=lead")
    assert f"crm.yaml:{paren}: rules.2.if: this '(' is never closed" in out
    assert (
        f"crm.yaml:{line_of('Call {{ nobody }}')}: rules.3.do.0.task.title: {{{{ nobody }}}}" in out
    )
    assert f"crm.yaml:{line_of('- mail:')}: rules.3.do.1.mail: unknown action" in out
    assert (
        f"crm.yaml:{line_of('no_such_field')}: rules.3.do.2.set.no_such_field: deal has no field"
        in out
    )
    due = line_of('due: "someday"')
    assert f"crm.yaml:{due}: rules.4.do.0.task.due: 'someday' is not a date" in out
    second = line_of("name: dup", line_of("name: dup"))
    assert f"crm.yaml:{second}: rules.6.name: another rule is called 'dup'" in out
    # Any other command refuses to run on a crm.yaml with problems.
    refused = crm("contact", "add", "X")
    assert refused.exit_code == 3 and "crm.yaml:" in refused.stderr
    no_traceback(refused)


def test_the_on_key_must_be_quoted(crm, folder):
    add_rules(folder, "rules:\n  - name: x\n    on: add\n    do: [{tag: x}]\n")
    result = crm("check")
    assert result.exit_code == 1
    line = (folder / "crm.yaml").read_text().splitlines().index("    on: add") + 1
    assert result.stdout == f"crm.yaml:{line}: key 'on' is read as a boolean; put it in quotes\n"


# -- hooks ------------------------------------------------------------------------------------


def test_a_pre_hook_that_fails_refuses_the_command(crm, repo, deal):
    add_rules(repo, example_rules())
    hook(repo, "pre-stage", 'echo "no proposals on a Monday" >&2\nexit 1', crm=crm)
    before = (repo / "deals" / "acme-web.yaml").read_text()
    head = git(repo, "rev-parse", "HEAD")
    result = crm("deal", "move", deal, "proposal")
    assert result.exit_code == 25
    assert result.stderr.strip() == "Error: hooks/pre-stage: no proposals on a Monday"
    no_traceback(result)
    assert (repo / "deals" / "acme-web.yaml").read_text() == before
    assert files(repo, "tasks") == []
    assert git(repo, "rev-parse", "HEAD") == head
    # Its stdout when it says nothing on stderr; the exit status when it says nothing at all.
    hook(repo, "pre-stage", "echo 'closed for the holidays'\necho more\nexit 3", crm=crm)
    assert "hooks/pre-stage: closed for the holidays" in crm("deal", "move", deal, "won").stderr
    hook(repo, "pre-stage", "exit 4", crm=crm)
    assert "hooks/pre-stage: exit status 4" in crm("deal", "move", deal, "won").stderr
    hook(repo, "pre-stage", "exit 0", crm=crm)
    assert crm("deal", "move", deal, "won").ok


def test_an_on_hook_gets_the_event_as_json(crm, repo, deal):
    out = repo.parent / "hook.json"
    env = repo.parent / "hook.env"
    hook(repo, "on-stage", f'cat > {out}\nenv | grep "^CRM_" | sort > {env}\npwd >> {env}', crm=crm)
    result = crm("deal", "move", deal, "proposal")
    assert result.ok, result.stderr
    event = json.loads(out.read_text())
    assert event["event"] == "stage" and event["type"] == "deal" and event["id"] == "acme-web"
    assert event["path"] == "deals/acme-web.yaml"
    assert event["stage"] == "proposal" and event["from"] == "lead"
    assert event["record"]["stage"] == "proposal" and event["before"]["stage"] == "lead"
    assert event["record"]["company"] == "acme" and event["record"]["value"] == "4500.00"
    assert "stage" in event["changed"] and "updated" not in event["changed"]
    assert event["dry_run"] is False and event["rule"] is None
    assert event["commit"] == git(repo, "rev-parse", "HEAD").strip()
    lines = env.read_text().splitlines()
    assert f"CRM_DIR={repo}" in lines and "CRM_EVENT=stage" in lines
    assert "CRM_TYPE=deal" in lines and "CRM_ID=acme-web" in lines
    assert lines[-1] == str(repo)


def test_an_on_hook_may_run_crm_itself(crm, repo, deal):
    """On- hooks run once the folder's lock is released: they may change records too."""
    import sys

    hook(
        repo,
        "on-add",
        f'[ "$CRM_TYPE" = contact ] && exec {sys.executable} -m crm log "$CRM_ID" "Added"\nexit 0',
        crm=crm,
    )
    result = crm("contact", "add", "Bob", "--email", "bob@example.com")
    assert result.ok, result.stderr
    (activity,) = [load(p) for p in (repo / "activities").glob("*.yaml")]
    assert activity["contacts"] == ["bob"] and activity["text"] == "Added"


def test_a_failing_on_hook_is_a_warning_and_the_change_stays(crm, repo, deal):
    hook(repo, "on-change", "echo 'cannot reach the chat' >&2\nexit 1", crm=crm)
    result = crm("deal", "set", deal, "value=5000")
    assert result.ok
    assert "Warning: hooks/on-change failed: cannot reach the chat" in result.stderr
    assert load(repo / "deals" / "acme-web.yaml")["value"] == "5000.00"


def test_untrusted_or_changed_hooks_do_not_run(crm, repo, deal):
    ran = repo.parent / "ran"
    path = hook(repo, "on-change", f"echo changed >> {ran}", trusted=False)
    result = crm("deal", "set", deal, "value=5000")
    assert result.ok
    assert "hooks/on-change not run: it is new here" in result.stderr
    assert "crm hooks trust on-change" in result.stderr
    assert not ran.exists()
    listed = crm("hooks", "list", "-f", "json")
    (row,) = json.loads(listed.stdout)
    assert row == {
        "name": "on-change",
        "event": "after change",
        "executable": True,
        "trusted": "no",
        "rules": [],
        "link": None,
    }
    assert crm("hooks", "trust").ok
    assert crm("deal", "set", deal, "value=5100").ok
    assert ran.read_text() == "changed\n"
    # A hook that changes (a `git pull`) is not run again until trusted again.
    path.write_text(path.read_text() + f"echo more >> {ran}\n")
    result = crm("deal", "set", deal, "value=5200")
    assert "changed since it was trusted" in result.stderr
    assert ran.read_text() == "changed\n"
    assert json.loads(crm("hooks", "list", "-f", "json").stdout)[0]["trusted"] == "changed"
    # An untrusted pre- hook refuses the command: its check cannot be made.
    hook(repo, "pre-change", "exit 0", trusted=False)
    refused = crm("deal", "set", deal, "value=5300")
    assert refused.exit_code == 25 and "hooks/pre-change is new here" in refused.stderr
    assert load(repo / "deals" / "acme-web.yaml")["value"] == "5200.00"
    # The trust is this machine's: kept in the user's config folder, never in the CRM folder.
    kept = json.loads((Path.home() / ".config" / "crm" / "trusted-hooks.json").read_text())
    assert set(kept["folders"][str(repo.resolve())]) == {"on-change"}
    assert not (repo / ".crm" / "trusted-hooks.json").exists()
    missing = crm("hooks", "trust", "nope")
    assert missing.exit_code == 20 and "no hook nope" in missing.stderr


def test_a_stuck_hook_is_stopped(crm, repo, deal, monkeypatch):
    monkeypatch.setenv("CRM_HOOK_TIMEOUT", "0.5")
    hook(repo, "pre-change", "sleep 30", crm=crm)
    result = crm("deal", "set", deal, "value=5000")
    assert result.exit_code == 25
    assert "hooks/pre-change took longer than 0.5 s and was stopped" in result.stderr
    assert load(repo / "deals" / "acme-web.yaml")["value"] == "4500.00"


def test_a_rule_runs_a_hook_after_the_write(crm, repo, deal):
    out = repo.parent / "rule.json"
    add_rules(
        repo,
        """
rules:
  - name: notify-won
    event: stage
    stage: won
    do:
      - hook: notify
""",
    )
    hook(repo, "notify", f"cat > {out}", crm=crm)
    assert crm("deal", "won", deal, "--dry-run").ok
    assert not out.exists()
    result = crm("deal", "won", deal)
    assert result.ok, result.stderr
    payload = json.loads(out.read_text())
    assert payload["rule"] == "notify-won" and payload["event"] == "stage"
    assert payload["record"]["stage"] == "won" and payload["id"] == "acme-web"
    listed = json.loads(crm("hooks", "list", "-f", "json").stdout)
    assert listed[0]["event"] == "rule action" and listed[0]["rules"] == ["notify-won"]


# -- email ------------------------------------------------------------------------------------


class Inbox:
    """An aiosmtpd handler that keeps every envelope it accepts."""

    def __init__(self) -> None:
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 OK"

    @property
    def messages(self) -> list:
        import email
        from email import policy

        return [email.message_from_bytes(e.content, policy=policy.default) for e in self.envelopes]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp():
    """An SMTP server on loopback (no TLS, no login) that keeps what it receives."""
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    inbox.port = port  # type: ignore[attr-defined]
    yield inbox
    controller.stop()


def mail_settings(folder: Path, port: int) -> None:
    add_rules(
        folder,
        f"""
mail:
  host: 127.0.0.1
  port: {port}
  security: none
  from: "Test Studio <studio@studio.example>"
""",
    )


NOTICE = """
rules:
  - name: overdue-notice
    event: invoice_overdue
    days: 7
    do:
      - tag: chased
      - email: {template: overdue-notice, attach: true}
  - name: mark-late
    event: invoice_overdue
    do:
      - tag: late
"""


def notice_templates(folder: Path) -> None:
    templates = folder / "templates"
    templates.mkdir(exist_ok=True)
    (templates / "overdue-notice.subject.j2").write_text("Invoice {{ number }} is overdue\n")
    (templates / "overdue-notice.txt.j2").write_text(
        "Dear {{ recipient.name }},\n\n{{ amount_due | money }} of invoice {{ number }} "
        "were due on {{ due | date }}.\n\n{{ seller.name }} ({{ rule }}, {{ today }})\n"
    )


def test_a_rule_emails_once_with_the_document_attached(crm, billed, issued, smtp):
    mail_settings(billed, smtp.port)
    notice_templates(billed)
    add_rules(billed, NOTICE)
    dry = crm("rules", "run", "--today", "2026-12-20", "--dry-run")
    assert dry.ok, dry.stderr
    assert "would email ada@acme.example" in dry.stdout
    assert smtp.envelopes == []
    result = run_rules(crm, "2026-12-20")
    assert result.ok, result.stderr
    assert (
        "overdue-notice: invoice " in result.stdout and "emailed ada@acme.example" in result.stdout
    )
    (envelope,) = smtp.envelopes
    assert envelope.rcpt_tos == ["ada@acme.example"]
    (message,) = smtp.messages
    assert message["To"] == "Ada Lovelace <ada@acme.example>"
    assert message["From"] == "Test Studio <studio@studio.example>"
    assert message["Subject"] == "Invoice 2026-0001 is overdue"
    text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text.startswith(
        "Dear Ada Lovelace,\n\n€226.10 of invoice 2026-0001 were due on 7 Dec 2026."
    )
    assert "Test Studio (overdue-notice, 2026-12-20)" in text
    (part,) = list(message.iter_attachments())
    invoice = load(billed / "invoices" / f"{issued}.yaml")
    kept = billed / "invoices" / invoice["document"]["file"]
    assert part.get_filename() == kept.name and part.get_content() == kept.read_text()
    assert set(invoice["fired"]) == {"overdue-notice", "mark-late"}
    assert invoice["tags"] == ["chased", "late"]
    assert run_rules(crm, "2026-12-21").stdout == ""
    assert len(smtp.envelopes) == 1


def test_an_email_not_sent_leaves_the_rule_to_fire_next_time(crm, billed, issued, smtp):
    dead = free_port()  # nothing listens there
    mail_settings(billed, dead)
    notice_templates(billed)
    add_rules(billed, NOTICE)
    path = billed / "invoices" / f"{issued}.yaml"
    result = run_rules(crm, "2026-12-20")
    assert result.exit_code == 26
    no_traceback(result)
    assert "Warning: overdue-notice: invoice " in result.stderr
    assert "(tried again next time)" in result.stderr
    # The other rule's firing is written; the one whose email failed is not, tag and all.
    assert result.stdout.startswith("mark-late: invoice ")
    invoice = load(path)
    assert invoice["fired"] == {"mark-late": "2026-12-20T10:00:00Z"}
    assert invoice["tags"] == ["late"]
    config = billed / "crm.yaml"
    config.write_text(config.read_text().replace(f"port: {dead}", f"port: {smtp.port}"))
    retry = run_rules(crm, "2026-12-21")
    assert retry.ok, retry.stderr
    assert retry.stdout.startswith("overdue-notice: invoice ")
    assert len(smtp.envelopes) == 1
    assert load(path)["tags"] == ["late", "chased"]


def test_an_event_rule_emails_after_the_write(crm, repo, deal, smtp):
    mail_settings(repo, smtp.port)
    templates = repo / "templates"
    templates.mkdir()
    (templates / "thanks.subject.j2").write_text("Thank you, {{ recipient.email }}\n")
    (templates / "thanks.txt.j2").write_text("{{ title }} is {{ stage }}.\n")
    add_rules(
        repo,
        """
rules:
  - name: thanks
    event: stage
    stage: won
    do:
      - email: {template: thanks, to: "{{ company }}@example.com"}
""",
    )
    assert crm("deal", "won", deal).ok
    (message,) = smtp.messages
    assert message["To"] == "acme@example.com"
    assert message["Subject"] == "Thank you, acme@example.com"
    assert message.get_body(("plain",)).get_content().rstrip() == "Acme website is won."
    # Without a server the change is still made, with a warning.
    config = repo / "crm.yaml"
    config.write_text(config.read_text().replace(f"port: {smtp.port}", f"port: {free_port()}"))
    assert crm("deal", "move", deal, "lead").ok
    result = crm("deal", "won", deal)
    assert result.ok
    assert "Warning: rule thanks: " in result.stderr
    assert load(repo / "deals" / "acme-web.yaml")["stage"] == "won"


def test_the_example_hook_logs_stage_changes(crm, example, monkeypatch):
    import shutil

    monkeypatch.setenv("CRM_NOW", NOW)
    monkeypatch.delenv("CRM_CHAT_WEBHOOK", raising=False)
    assert crm("hooks", "list").stdout == ""  # a .sample never runs
    shutil.copy(example / "hooks" / "on-stage.sample", example / "hooks" / "on-stage")
    assert crm("hooks", "trust", "on-stage").ok
    result = crm("deal", "move", "alster-physio-logo-auffrischung", "negotiation")
    assert result.ok, result.stderr
    (line,) = (example / ".crm" / "stages.log").read_text().splitlines()
    assert line == (
        "2026-11-23T10:00:00Z Alster Physio Logo-Auffrischung (600.00 EUR): lost -> negotiation"
    )


def test_a_status_rule_and_a_pre_delete_hook(crm, repo):
    add_rules(
        repo,
        """
rules:
  - name: qualified-lead
    event: status
    type: lead
    status: qualified
    do:
      - task: {title: "Send {{ name }} a proposal\\n(from {{ source }})", due: friday}
      - set: {timeline: "Q1 {{ today }}"}
""",
    )
    assert crm("lead", "add", "Grace Hopper", "--source", "referral").ok
    assert files(repo, "tasks") == []  # a new lead enters `new`, not `qualified`
    assert crm("lead", "set", "grace", "status=qualified").ok
    (name,) = files(repo, "tasks")
    task = load(repo / "tasks" / name)
    assert task["title"] == "Send Grace Hopper a proposal (from referral)"
    assert task["due"] == "2026-11-27" and task["leads"] == ["grace-hopper"]
    assert load(repo / "leads" / "grace-hopper.yaml")["timeline"] == "Q1 2026-11-23"
    hook(repo, "pre-delete", 'echo "leads are never removed: $CRM_ID" >&2; exit 1', crm=crm)
    result = crm("lead", "rm", "grace", "--yes", "--force")
    assert result.exit_code == 25
    assert "hooks/pre-delete: leads are never removed: grace-hopper" in result.stderr
    assert (repo / "leads" / "grace-hopper.yaml").is_file()


@pytest.mark.parametrize(
    "title",
    [
        "{{ title.__class__ }}",
        "{{ title | upper }}",
        "{% for x in y %}{% endfor %}",
        "{{ ''.__class__.__mro__ }}",
        "{{ custom }}}",
    ],
)
def test_placeholders_are_field_names_only(crm, folder, title):
    add_rules(
        folder,
        f"""
rules:
  - name: r
    event: add
    type: deal
    do:
      - task: {{title: {json.dumps(title)}}}
""",
    )
    result = crm("check")
    assert result.exit_code == 1
    assert "rules.0.do.0.task.title: " in result.stdout
    no_traceback(result)


def test_check_reports_a_rule_for_a_stage_no_pipeline_has(crm, folder):
    add_rules(
        folder,
        """
rules:
  - name: follow-up
    event: stage
    stage: propsal
    do: [{tag: x}]
""",
    )
    result = crm("check")
    assert result.exit_code == 1
    line = next(ln for ln in result.stdout.splitlines() if "propsal" in ln)
    text = (folder / "crm.yaml").read_text().splitlines()
    number = int(line.split(":")[1])
    assert "stage: propsal" in text[number - 1]
    assert "rules.0.stage: no pipeline has a stage 'propsal'" in line


# -- after review: trust, hooks and the rules' emails -----------------------------------------


def test_trust_that_came_with_the_folder_is_never_believed(crm, repo, deal, monkeypatch):
    """What `git add -f .crm/trusted-hooks.json` ships is never read: trust is this machine's."""
    import hashlib

    ran = repo.parent / "ran"
    path = hook(repo, "on-add", f"touch {ran}", trusted=False)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    shipped = {"on-add": digest, "folders": {str(repo.resolve()): {"on-add": digest}}}
    (repo / ".crm" / "trusted-hooks.json").write_text(json.dumps(shipped))
    git(repo, "add", "-f", ".crm/trusted-hooks.json", "hooks/on-add")
    git(repo, "commit", "-qm", "hooks")
    result = crm("contact", "add", "Eve", "--email", "eve@example.com")
    assert result.ok, result.stderr
    assert "hooks/on-add not run: it is new here" in result.stderr
    assert not ran.exists()
    # Nor a config folder inside the CRM folder, where git could put the file too.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(repo / ".crm"))
    (repo / ".crm" / "crm").mkdir()
    (repo / ".crm" / "crm" / "trusted-hooks.json").write_text(json.dumps(shipped))
    assert "not run: it is new here" in crm("contact", "add", "Mallory").stderr
    assert not ran.exists()
    refused = crm("hooks", "trust", "on-add")
    assert refused.exit_code == 22 and "is inside the CRM folder" in refused.stderr
    no_traceback(refused)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(repo.parent / "config"))
    assert crm("hooks", "trust", "on-add").ok
    assert (repo.parent / "config" / "crm" / "trusted-hooks.json").is_file()
    assert crm("contact", "add", "Trent").ok
    assert ran.exists()


def test_a_hook_linked_outside_the_folder_never_runs(crm, repo, deal):
    ran = repo.parent / "ran"
    outside = repo.parent / "outside.sh"
    outside.write_text(f"#!/bin/sh\ntouch {ran}\n")
    outside.chmod(0o755)
    (repo / "hooks").mkdir()
    (repo / "hooks" / "on-add").symlink_to(outside)
    hook(repo, "common", f"echo common >> {ran}-inside", trusted=False)
    (repo / "hooks" / "on-change").symlink_to("common")  # a link within the folder is fine
    rows = {r["name"]: r for r in json.loads(crm("hooks", "list", "-f", "json").stdout)}
    assert rows["on-add"]["link"] == str(outside) and rows["on-add"]["trusted"] == "no"
    assert rows["on-change"]["link"] == "common"
    assert "outside the CRM folder" in crm("hooks", "list").stderr
    named = crm("hooks", "trust", "on-add")
    assert named.exit_code == 22
    assert "hooks/on-add is a link to a file outside the CRM folder" in named.stderr
    every = crm("hooks", "trust")
    assert every.ok and "hooks/on-add is a link to a file outside the CRM folder" in every.stderr
    result = crm("contact", "add", "Eve")
    assert result.ok
    assert "hooks/on-add not run: it is a link to a file outside the CRM folder" in result.stderr
    assert not ran.exists()
    assert crm("deal", "set", deal, "value=5000").ok
    assert (repo.parent / "ran-inside").read_text() == "common\n"


def test_hook_output_is_bounded_and_shown_as_one_clean_line(crm, repo, deal):
    hook(
        repo,
        "pre-change",
        "head -c 3000000 /dev/zero | tr '\\0' x >&2\nexit 1",
        crm=crm,
    )
    result = crm("deal", "set", deal, "value=5000")
    assert result.exit_code == 25
    (line,) = [ln for ln in result.stderr.splitlines() if "pre-change" in ln]
    assert line.startswith("Error: hooks/pre-change: xxx") and line.endswith("…")
    assert len(line) < 400
    hook(
        repo,
        "pre-change",
        "printf '\\033[2J\\033[31mno\\033[0m\\a deals\\b today\\n' >&2; exit 1",
        crm=crm,
    )
    result = crm("deal", "set", deal, "value=5000")
    assert "Error: hooks/pre-change: no deals today" in result.stderr
    assert "\x1b" not in result.stderr and "\a" not in result.stderr and "\b" not in result.stderr
    # A hook that writes a lot to stdout is read to its end, without keeping it all.
    hook(repo, "pre-change", "head -c 30000000 /dev/zero\nexit 0", crm=crm)
    assert crm("deal", "set", deal, "value=5000").ok


def test_the_timeout_is_the_hooks_own_not_its_childrens(crm, repo, deal, monkeypatch):
    """A hook that has ended has ended, whatever children of its own still hold its output."""
    import shutil
    import time

    monkeypatch.setenv("CRM_HOOK_TIMEOUT", "2")
    hook(repo, "on-change", "sleep 4 &\nexit 0", crm=crm)
    began = time.monotonic()
    result = crm("deal", "set", deal, "value=5000")
    assert result.ok and "took longer" not in result.stderr, result.stderr
    assert time.monotonic() - began < 1.5
    if shutil.which("setsid") is None:
        return
    monkeypatch.setenv("CRM_HOOK_TIMEOUT", "0.5")
    hook(repo, "pre-change", "setsid sleep 4 &\nsleep 30", crm=crm)
    began = time.monotonic()
    result = crm("deal", "set", deal, "value=6000")
    assert result.exit_code == 25 and "took longer than 0.5 s" in result.stderr
    assert time.monotonic() - began < 2.5  # not held by the child that left the group


def test_hooks_running_crm_stop_two_hooks_deep(crm, repo, deal):
    import sys

    count = repo.parent / "count"
    hook(
        repo,
        "on-change",
        f"""
n=$(cat {count} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {count}
env | grep '^CRM_HOOK_DEPTH=' >> {count}.depth
exec {sys.executable} -m crm deal set "$CRM_ID" "tags+=t$n"
""",
        crm=crm,
    )
    result = crm("deal", "set", deal, "value=5000")
    assert result.ok, result.stderr
    assert count.read_text() == "2\n"  # the hook ran, and once more for the crm it ran
    assert (repo.parent / "count.depth").read_text() == "CRM_HOOK_DEPTH=1\nCRM_HOOK_DEPTH=2\n"
    assert load(repo / "deals" / "acme-web.yaml")["tags"] == ["t1", "t2"]


def test_hooks_get_no_smtp_password(crm, repo, monkeypatch):
    monkeypatch.setenv("CRM_SMTP_PASSWORD", "hunter2-Pässword")
    out = repo.parent / "env"
    hook(repo, "on-add", f"env > {out}", crm=crm)
    assert crm("contact", "add", "Eve").ok
    text = out.read_text()
    assert "CRM_SMTP_PASSWORD" not in text and "hunter2" not in text
    assert "CRM_ID=eve" in text and "CRM_HOOK_DEPTH=1" in text


def test_a_refusing_pre_hook_sends_no_rule_email(crm, billed, issued, smtp):
    mail_settings(billed, smtp.port)
    notice_templates(billed)
    add_rules(billed, NOTICE)
    path = billed / "invoices" / f"{issued}.yaml"
    before = path.read_text()
    hook(billed, "pre-change", "exit 0", trusted=False)  # came in with a pull, say
    for day in ("2026-12-20", "2026-12-21"):
        result = run_rules(crm, day)
        assert result.exit_code == 25 and "hooks/pre-change is new here" in result.stderr
        assert smtp.envelopes == []
        assert path.read_text() == before
    assert crm("hooks", "trust").ok
    assert run_rules(crm, "2026-12-22").ok
    assert len(smtp.envelopes) == 1


def test_a_rule_attaches_only_the_document_as_issued(crm, billed, issued, smtp):
    mail_settings(billed, smtp.port)
    notice_templates(billed)
    add_rules(billed, NOTICE)
    invoice = load(billed / "invoices" / f"{issued}.yaml")
    kept = billed / "invoices" / invoice["document"]["file"]
    original = kept.read_bytes()
    secret = billed.parent / "secret.txt"
    secret.write_text("the secret\n")
    kept.unlink()
    kept.symlink_to(secret)  # git carries links
    result = run_rules(crm, "2026-12-20")
    assert result.exit_code == 4
    assert f"invoices/{kept.name}: is a link to a file outside the CRM folder" in result.stderr
    assert smtp.envelopes == []
    kept.unlink()
    kept.write_bytes(original + b"<!-- appended -->")
    result = run_rules(crm, "2026-12-21")
    assert result.exit_code == 4 and "does not match the sha256" in result.stderr
    assert smtp.envelopes == []
    assert "overdue-notice" not in load(billed / "invoices" / f"{issued}.yaml")["fired"]
    kept.write_bytes(original)
    assert run_rules(crm, "2026-12-22").ok
    (message,) = smtp.messages
    (part,) = list(message.iter_attachments())
    assert part.get_payload(decode=True) == original


def test_attach_on_a_record_without_a_document_is_an_error(crm, billed, smtp, monkeypatch):
    mail_settings(billed, smtp.port)
    notice_templates(billed)
    add_rules(
        billed,
        """
rules:
  - name: expiring
    event: quote_expiring
    do:
      - email: {template: overdue-notice, attach: true}
""",
    )
    check = crm("check")
    assert check.exit_code == 1
    assert "rules.0.do.0.email.attach: quote records keep no document to attach" in check.stdout
    assert crm("contact", "set", "ada-lovelace", "email=ada@acme.example").ok
    assert crm("quote", "new", "Offer", "--for", "contact:ada-lovelace").ok
    assert crm("quote", "line", "add", "offer", "--text", "Work", "--price", "10").ok
    assert crm("quote", "send", "offer", "--no-email").ok
    until = load(billed / "quotes" / "offer.yaml")["valid_until"]
    import datetime as dt

    day = (dt.date.fromisoformat(until) - dt.timedelta(days=1)).isoformat()
    result = run_rules(crm, day)
    assert result.exit_code == 4 and "keeps no document to attach" in result.stderr
    assert smtp.envelopes == []


def test_rule_problems_that_would_fail_when_it_fires(crm, folder):
    add_rules(
        folder,
        """
rules:
  - name: notify
    event: add
    type: contact
    do:
      - email: {template: nope}
  - name: ping
    event: add
    type: deal
    do:
      - hook: missing-hook
""",
    )
    listed = crm("rules", "list")
    assert listed.ok
    text = (folder / "crm.yaml").read_text().splitlines()
    warned = [ln for ln in listed.stderr.splitlines() if "crm.yaml:" in ln]
    expected = [
        "rules.0.do.0.email: sends email, but crm.yaml has no `mail:` (docs/email.md)",
        "rules.0.do.0.email.template: no template nope.subject.j2 in templates/ (nor built in)",
        "rules.0.do.0.email.template: no template nope.txt.j2 in templates/ (nor built in)",
        "rules.1.do.0.hook: no hooks/missing-hook to run",
    ]
    for message in expected:
        line = next(ln for ln in warned if ln.endswith(message))
        number = int(line.split("crm.yaml:")[1].split(":")[0])
        assert ("email" in text[number - 1]) or ("hook" in text[number - 1])
    from crm import automation
    from crm.store.repo import Store

    config, _ = Store(folder).config()
    found = [i.message for i in automation.problems(config, None, folder)]
    assert found == expected
    check = crm("check")  # crm check reports the ones crm.yaml alone shows
    assert check.exit_code == 1 and expected[0] in check.stdout


def test_an_empty_to_says_which_rule_and_field(crm, repo, deal, smtp):
    mail_settings(repo, smtp.port)
    templates = repo / "templates"
    templates.mkdir()
    (templates / "thanks.subject.j2").write_text("Thanks\n")
    (templates / "thanks.txt.j2").write_text("Thanks.\n")
    add_rules(
        repo,
        """
rules:
  - name: thanks
    event: stage
    stage: won
    do:
      - email: {template: thanks, to: "{{ notes }}"}
""",
    )
    result = crm("deal", "won", deal)
    assert result.ok
    assert (
        "Warning: rule thanks: to: {{ notes }} is empty for deal acme-web: the field has no value"
        in result.stderr
    )
    assert smtp.envelopes == []


def test_a_future_today_is_only_a_dry_run(crm, billed, issued):
    add_rules(billed, CHASE)
    path = billed / "invoices" / f"{issued}.yaml"
    before = path.read_text()
    result = crm("rules", "run", "--today", "2026-12-20")
    assert result.exit_code == 2 and "--today 2026-12-20 is in the future" in result.stderr
    assert path.read_text() == before
    assert crm("rules", "run", "--today", "2026-12-20", "--dry-run").stdout.startswith("chase:")
    assert crm("rules", "run", "--today", "2026-11-01").ok  # a day past: catching up


# -- imports ----------------------------------------------------------------------------------

WELCOME = """
rules:
  - name: welcome
    event: add
    type: contact
    do:
      - tag: new
      - task: {title: "Call {{ name }}", due: 3d}
"""


def test_a_restore_fires_no_rule_and_runs_no_hook_an_import_does(crm, folder, tmp_path):
    add_rules(folder, WELCOME)
    assert crm("contact", "add", "Ada Lovelace", "--email", "ada@example.com").ok
    backup = tmp_path / "backup.json"
    assert crm("export", "json", "--out", str(backup)).ok
    other = tmp_path / "other"
    assert crm("init", "--no-git", "--name", "Other", str(other)).ok
    add_rules(other, WELCOME)
    ran = tmp_path / "ran"
    hook(other, "pre-add", f"touch {ran}; exit 1", trusted=False)
    result = crm("--dir", str(other), "import", "json", str(backup))
    assert result.ok, result.stderr
    assert files(other, "tasks") == files(folder, "tasks") and len(files(other, "tasks")) == 1
    assert not ran.exists()
    (other / "hooks" / "pre-add").unlink()
    rows = tmp_path / "people.csv"
    rows.write_text(
        "name,email,tags\nGrace Hopper,grace@example.com,navy\nAlan Turing,alan@x.example,\n"
    )
    result = crm("--dir", str(other), "import", "csv", str(rows), "--type", "contacts")
    assert result.ok, result.stderr
    assert len(files(other, "tasks")) == 3
    grace = (other / "contacts" / "grace-hopper.yaml").read_text()
    assert load(other / "contacts" / "grace-hopper.yaml")["tags"] == ["navy", "new"]
    assert grace.index("tags:") < grace.index("created:")
    assert load(other / "contacts" / "alan-turing.yaml")["tags"] == ["new"]
    assert crm("--dir", str(other), "fmt", "--check").ok  # as crm writes every record
    rows.write_text("name,email\nKatherine Johnson,kj@example.com\n")
    result = crm("--dir", str(other), "import", "csv", str(rows), "-t", "contacts", "--no-rules")
    assert result.ok, result.stderr
    assert len(files(other, "tasks")) == 3
    assert "tags" not in load(other / "contacts" / "katherine-johnson.yaml")
