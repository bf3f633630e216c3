"""The board, the forecast, the reports, lead scoring and conversion: against figures computed
by hand on a small fixture (three currencies, a deal with its own probability)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from helpers import no_traceback

TODAY = "2026-11-23T12:00:00Z"


def at(day: str) -> dict[str, str]:
    return {"CRM_NOW": f"{day}T09:00:00Z"}


@pytest.fixture
def sales(crm, folder):
    """Six deals with dated histories (see the module docstring of each test for figures)."""
    steps = [
        ("2026-10-01", ["deal", "add", "Alpha", "--value", "1000", "--close-date", "2026-12-15"]),
        ("2026-10-11", ["deal", "move", "alpha", "qualified"]),
        ("2026-10-21", ["deal", "move", "alpha", "proposal"]),
        ("2026-10-01", ["deal", "add", "Beta", "--value", "2000.50"]),
        ("2026-10-06", ["deal", "move", "beta", "qualified"]),
        ("2026-10-16", ["deal", "move", "beta", "proposal"]),
        ("2026-10-26", ["deal", "move", "beta", "negotiation"]),
        ("2026-11-05", ["deal", "won", "beta"]),
        (
            "2026-11-01",
            [
                "deal",
                "add",
                "Gamma",
                "--value",
                "3000",
                "--currency",
                "CHF",
                "--probability",
                "60",
                "--close-date",
                "2027-01-10",
            ],
        ),
        ("2026-11-11", ["deal", "move", "gamma", "negotiation"]),
        ("2026-10-01", ["deal", "add", "Delta", "--value", "500"]),
        ("2026-10-21", ["deal", "move", "delta", "qualified"]),
        ("2026-11-10", ["deal", "lost", "delta", "--reason", "price"]),
        (
            "2026-11-20",
            [
                "deal",
                "add",
                "Epsilon",
                "--value",
                "700",
                "--currency",
                "usd",
                "--close-date",
                "2026-11-01",
            ],
        ),
        ("2026-11-01", ["deal", "add", "Zeta", "--value", "333.33"]),
        ("2026-11-02", ["deal", "move", "zeta", "qualified"]),
    ]
    for day, args in steps:
        result = crm(*args, env=at(day))
        assert result.ok, (args, result.stderr)
    return folder


def configure(folder: Path, **settings) -> None:
    """Change settings of crm.yaml (as a person would, losing nothing else that matters)."""
    path = folder / "crm.yaml"
    data = yaml.safe_load(path.read_text())
    data.update(settings)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def run_json(crm, *args: str):
    result = crm(*args, "-f", "json", env={"CRM_NOW": TODAY})
    assert result.ok, result.stderr
    no_traceback(result)
    return json.loads(result.stdout)


def test_stage_changes_are_dated_in_the_file(sales):
    data = yaml.safe_load((sales / "deals" / "delta.yaml").read_text())
    assert data["stage"] == "lost" and data["lost_reason"] == "price"
    assert [
        (str(e["at"])[:10], e["stage"], e.get("from"), e.get("reason")) for e in data["history"]
    ] == [
        ("2026-10-01", "lead", None, None),
        ("2026-10-21", "qualified", "lead", None),
        ("2026-11-10", "lost", "qualified", "price"),
    ]


def test_probability_follows_the_stage_unless_the_deal_has_its_own(crm, sales):
    deals = {d["id"]: d for d in run_json(crm, "deal", "list")}
    assert deals["alpha"]["probability"] == 50
    assert deals["gamma"]["probability"] == 60  # its own, in negotiation (75)
    assert "probability" not in yaml.safe_load((sales / "deals" / "alpha.yaml").read_text())
    assert deals["alpha"]["weighted"] == "500.00"
    assert deals["zeta"]["weighted"] == "83.33"  # 333.33 x 25 % = 83.3325
    assert deals["alpha"]["days_in_stage"] == 33


def test_board(crm, sales):
    board = run_json(crm, "pipeline")
    stages = {s["name"]: s for s in board["stages"]}
    assert [s["name"] for s in board["stages"]] == [
        "lead",
        "qualified",
        "proposal",
        "negotiation",
        "won",
        "lost",
    ]
    assert (stages["lead"]["count"], stages["lead"]["totals"], stages["lead"]["weighted"]) == (
        1,
        {"USD": "700.00"},
        {"USD": "70.00"},
    )
    assert stages["qualified"]["weighted"] == {"EUR": "83.33"}
    assert stages["proposal"]["totals"] == {"EUR": "1000.00"}
    assert stages["negotiation"]["weighted"] == {"CHF": "1800.00"}
    assert stages["won"]["totals"] == {"EUR": "2000.50"}
    assert stages["lost"]["totals"] == {"EUR": "500.00"}
    assert board["open"] == {
        "totals": {"CHF": "3000.00", "EUR": "1333.33", "USD": "700.00"},
        "weighted": {"CHF": "1800.00", "EUR": "583.33", "USD": "70.00"},
    }
    deal = stages["proposal"]["deals"][0]
    assert (deal["id"], deal["close_date"], deal["days_in_stage"]) == ("alpha", "2026-12-15", 33)


def test_board_for_people(crm, sales):
    for width in ("80", "160"):
        result = crm("pipeline", "-f", "table", env={"CRM_NOW": TODAY, "COLUMNS": width})
        assert result.ok
        lines = result.stdout.splitlines()
        assert all(len(line) <= int(width) for line in lines), result.stdout
        text = result.stdout
        assert "Proposal · 50% · 1 deal" in text and "Alpha" in text and "33d" in text
        assert "Weighted: 1,800.00 CHF + 583.33 EUR + 70.00 USD" in text
        assert "Won · 100% · 1 deal: 2,000.50 EUR" in text  # closed stages summed up only
    assert "Beta" in crm("pipeline", "--all", "-f", "table", env={"CRM_NOW": TODAY}).stdout
    csv = crm("pipeline", "-f", "csv", env={"CRM_NOW": TODAY}).stdout.splitlines()
    assert csv[0].startswith("pipeline,id,title,company,stage,value,currency")
    assert len(csv) == 7


def test_board_filters(crm, sales):
    board = run_json(crm, "pipeline", "--where", "currency=EUR")
    assert board["open"]["totals"] == {"EUR": "1333.33"}
    assert crm("pipeline", "--pipeline", "nope").exit_code == 2


def test_forecast_by_month_and_quarter(crm, sales):
    data = run_json(crm, "forecast", "--months", "3")
    periods = {p["period"]: p for p in data["periods"]}
    assert list(periods) == ["2026-11", "2026-12", "2027-01"]
    assert periods["2026-11"]["count"] == 0
    assert periods["2026-12"]["weighted"] == {"EUR": "500.00"}
    assert periods["2027-01"]["weighted"] == {"CHF": "1800.00"}
    assert data["overdue"]["weighted"] == {"USD": "70.00"}
    assert [d["id"] for d in data["overdue"]["deals"]] == ["epsilon"]
    assert data["undated"]["weighted"] == {"EUR": "83.33"}
    quarters = run_json(crm, "forecast", "--by", "quarter", "--months", "6")
    assert [(q["period"], q["weighted"]) for q in quarters["periods"]] == [
        ("2026-Q4", {"EUR": "500.00"}),
        ("2027-Q1", {"CHF": "1800.00"}),
    ]
    short = run_json(crm, "forecast", "--months", "1")
    assert short["later"]["weighted"] == {"CHF": "1800.00", "EUR": "500.00"}
    table = crm("forecast", "-f", "table", env={"CRM_NOW": TODAY, "COLUMNS": "80"}).stdout
    assert (
        "500.00 EUR" in table
        and "█" in table
        and "Overdue to close: 1 deal(s), 700.00 USD" in table
    )
    assert crm("forecast", "--by", "week").exit_code == 2


def test_funnel(crm, sales):
    data = run_json(crm, "report", "funnel")
    assert data["deals"] == 6
    assert [(s["stage"], s["reached"], s["to_next"]) for s in data["stages"]] == [
        ("lead", 6, 0.8333),
        ("qualified", 5, 0.6),
        ("proposal", 3, 0.6667),
        ("negotiation", 2, 0.5),
        ("won", 1, None),
    ]
    assert (data["won"], data["deal_to_won"]) == (1, 0.1667)
    november = run_json(crm, "report", "funnel", "--since", "2026-11-01")
    assert november["deals"] == 3  # gamma, epsilon, zeta


def test_winloss(crm, sales):
    data = run_json(crm, "report", "winloss")
    assert data["won"] == {"count": 1, "totals": {"EUR": "2000.50"}}
    assert data["lost"] == {"count": 1, "totals": {"EUR": "500.00"}}
    assert data["win_rate"] == 0.5
    assert data["reasons"] == [{"reason": "price", "count": 1, "totals": {"EUR": "500.00"}}]
    later = run_json(crm, "report", "winloss", "--since", "2026-11-06")
    assert (later["won"]["count"], later["lost"]["count"], later["win_rate"]) == (0, 1, 0.0)


def test_velocity(crm, sales):
    [data] = run_json(crm, "report", "velocity")  # one entry per pipeline
    assert [(s["stage"], s["average_days"], s["stays"]) for s in data["stages"]] == [
        ("lead", 9.2, 5),
        ("qualified", 13.3, 3),
        ("proposal", 10.0, 1),
        ("negotiation", 10.0, 1),
    ]
    assert data["average_cycle_days"] == 35.0
    assert data["win_rate"] == 0.5
    assert data["average_won_value"] == {"EUR": "2000.50"}
    assert data["open_deals"] == {"CHF": 1, "EUR": 2, "USD": 1}
    assert data["velocity_per_day"] == {"EUR": "57.16"}  # 2 x 0.5 x 2000.50 / 35


def test_stalled(crm, sales):
    assert [d["id"] for d in run_json(crm, "report", "stalled")] == ["alpha"]
    assert [d["id"] for d in run_json(crm, "report", "stalled", "--days", "20")] == [
        "alpha",
        "zeta",
    ]
    configure(sales, stalled_days=10)
    assert [d["id"] for d in run_json(crm, "report", "stalled")] == ["alpha", "zeta", "gamma"]


def test_reports_for_people(crm, sales):
    for report in ("funnel", "winloss", "velocity", "stalled"):
        result = crm("report", report, "-f", "table", env={"CRM_NOW": TODAY, "COLUMNS": "80"})
        assert result.ok, result.stderr
        assert all(len(line) <= 80 for line in result.stdout.splitlines()), result.stdout
    text = crm("report", "velocity", "-f", "table", env={"CRM_NOW": TODAY}).stdout
    assert "Sales velocity: 57.16 EUR per day" in text
    assert "price" in crm("report", "winloss", "-f", "csv", env={"CRM_NOW": TODAY}).stdout


def test_segments(crm, sales):
    configure(sales, segments={"big": {"deal": "value>=1000"}})
    assert [d["id"] for d in run_json(crm, "deal", "list", "--segment", "big")] == [
        "alpha",
        "beta",
        "gamma",
    ]
    assert run_json(crm, "pipeline", "--segment", "big")["open"]["totals"] == {
        "CHF": "3000.00",
        "EUR": "1000.00",
    }
    missing = crm("deal", "list", "--segment", "small")
    assert missing.exit_code == 2 and "no segment 'small'" in missing.stderr
    assert crm("contact", "list", "--segment", "big").exit_code == 2


# -- leads ------------------------------------------------------------------------------------


def test_lead_status_changes_are_dated(crm, folder):
    assert crm("lead", "add", "Grace", env=at("2026-11-01")).ok
    assert crm("lead", "set", "grace", "status=contacted", env=at("2026-11-05")).ok
    data = yaml.safe_load((folder / "leads" / "grace.yaml").read_text())
    assert [(str(e["at"])[:10], e["status"]) for e in data["history"]] == [
        ("2026-11-01", "new"),
        ("2026-11-05", "contacted"),
    ]
    assert str(data["last_contact"]) == "2026-11-05"
    refused = crm("lead", "set", "grace", "status=converted")
    assert refused.exit_code == 22 and "crm lead convert" in refused.stderr


def test_scoring_explains_every_point(crm, folder):
    assert crm(
        "lead",
        "add",
        "Grace",
        "-e",
        "grace@navy.example",
        "--source",
        "referral",
        "--budget",
        "5000",
        "--authority",
        "yes",
        "--need",
        "intranet",
        "--last-contact",
        "2026-11-20",
    ).ok
    assert crm("lead", "add", "Nobody").ok
    rows = run_json(crm, "lead", "score")
    grace = rows[0]
    assert grace["id"] == "grace"
    labels = [(r["label"], r["points"]) for r in grace["rules"]]
    assert labels == [
        ("has an email address", 10),
        ("came by referral", 20),
        ("budget known (B)", 15),
        ("decides (A)", 15),
        ("need known (N)", 10),
        ("spoken to in the last 14 days", 15),
    ]
    assert grace["score"] == sum(points for _, points in labels) == 85
    assert grace["band"] == "hot"
    assert rows[1] == {**rows[1], "id": "nobody", "score": 0, "band": "cold", "rules": []}
    hot = run_json(crm, "lead", "list", "--where", "band=hot", "--sort", "-score")
    assert [lead["id"] for lead in hot] == ["grace"]


def test_scoring_rules_from_crm_yaml(crm, folder):
    rules = [
        {"when": "tag:vip", "points": 40, "label": "VIP"},
        {"when": "source=event", "points": 5},
    ]
    configure(folder, scoring={"rules": rules, "bands": {"hot": 40, "warm": 5}})
    assert crm("lead", "add", "A", "--tag", "vip").ok
    assert crm("lead", "add", "B", "--source", "event").ok
    rows = {r["id"]: r for r in run_json(crm, "lead", "score")}
    assert (rows["a"]["score"], rows["a"]["band"], rows["a"]["reasons"]) == (40, "hot", "VIP (+40)")
    assert (rows["b"]["band"], rows["b"]["reasons"]) == ("warm", "source=event (+5)")
    table = crm("lead", "score", "-f", "table").stdout
    assert "  40  hot    A (a)" in table and "       +40  VIP" in table
    assert "'" not in crm("lead", "score", "-f", "csv").stdout  # no formula guard needed
    rules[0]["when"] = "colour=red"
    rules[1]["when"] = "score>5"
    configure(folder, scoring={"rules": rules})
    result = crm("check")
    assert result.exit_code == 1 and "scoring.rules.0.when" in result.stdout
    assert "scoring.rules.1.when: a scoring rule cannot depend on the score" in result.stdout


def test_convert_creates_and_links(crm, folder):
    assert crm("company", "add", "Navy Lab", "--domain", "navy.example").ok
    assert crm(
        "lead",
        "add",
        "Grace Hopper",
        "--company",
        "navy lab",
        "-e",
        "grace@navy.example",
        "--phone",
        "+1 555 0100",
        "--tag",
        "conference",
    ).ok
    result = crm(
        "lead", "convert", "grace", "--deal", "Intranet", "--value", "18000", "--stage", "proposal"
    )
    assert result.ok, result.stderr
    assert result.stdout.splitlines() == [
        "company\tnavy-lab\tlinked",
        "contact\tgrace-hopper\tcreated",
        "deal\tintranet\tcreated",
    ]
    contact = yaml.safe_load((folder / "contacts" / "grace-hopper.yaml").read_text())
    assert (contact["company"], contact["emails"], contact["tags"]) == (
        "navy-lab",
        ["grace@navy.example"],
        ["conference"],
    )
    deal = yaml.safe_load((folder / "deals" / "intranet.yaml").read_text())
    assert (deal["company"], deal["contact"], deal["value"], deal["stage"]) == (
        "navy-lab",
        "grace-hopper",
        "18000.00",
        "proposal",
    )
    lead = yaml.safe_load((folder / "leads" / "grace-hopper.yaml").read_text())
    assert lead["status"] == "converted"
    assert {k: v for k, v in lead["converted"].items() if k != "at"} == {
        "company": "navy-lab",
        "contact": "grace-hopper",
        "deal": "intranet",
    }
    assert crm("check").ok


def test_convert_twice_is_refused_and_changes_nothing(crm, folder):
    assert crm("lead", "add", "Ada", "--company", "Acme", "-e", "ada@acme.example").ok
    assert crm("lead", "convert", "ada").ok
    before = {p: p.read_text() for p in folder.rglob("*.yaml")}
    again = crm("lead", "convert", "ada")
    assert again.exit_code == 23 and "already converted" in again.stderr
    assert {p: p.read_text() for p in folder.rglob("*.yaml")} == before
    assert crm("lead", "list", "-f", "ids").stdout == "ada\n"


def test_convert_is_all_or_nothing(crm, folder):
    assert crm("lead", "add", "Ada", "--company", "Acme", "-e", "ada@acme.example").ok
    before = sorted(str(p.relative_to(folder)) for p in folder.rglob("*.yaml"))
    texts = {p: p.read_text() for p in folder.rglob("*.yaml")}
    # The company and the contact are made before the deal fails on its value.
    result = crm("lead", "convert", "ada", "--deal", "Site", "--value", "12.345")
    assert result.exit_code == 22 and "more decimals" in result.stderr
    no_traceback(result)
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*.yaml")) == before
    assert {p: p.read_text() for p in folder.rglob("*.yaml")} == texts


def test_convert_links_an_existing_contact(crm, folder):
    assert crm("contact", "add", "Ada L.", "-e", "ADA@acme.example").ok
    assert crm("lead", "add", "Ada Lovelace", "-e", "ada@acme.example").ok
    result = crm("lead", "convert", "ada-lovelace")
    assert result.stdout.splitlines() == ["contact\tada-l\tlinked"]
    assert sorted(p.name for p in (folder / "contacts").glob("*.yaml")) == ["ada-l.yaml"]


def test_leads_from_json(crm, folder, tmp_path: Path):
    assert crm("contact", "add", "Known", "-e", "known@x.example").ok
    payload = json.dumps(
        [
            {
                "name": "Web Person",
                "email": "web@x.example",
                "phone": "+49 30 1234",
                "message": "Hello!\nCan you build a shop?",
                "utm_source": "ads",
                "source": "website",
            },
            {"name": "Known Person", "email": "KNOWN@x.example"},
        ]
    )
    result = crm("lead", "add", "--from-json", "-", input=payload)
    assert result.ok, result.stderr
    assert result.stdout == "web-person\n"
    assert "not added: Known Person is already contact known" in result.stderr
    data = yaml.safe_load((folder / "leads" / "web-person.yaml").read_text())
    assert data["notes"] == "Hello!\nCan you build a shop?"
    assert data["form"] == {"utm_source": "ads"}
    assert (data["source"], data["status"], data["phones"]) == ("website", "new", ["+49 30 1234"])
    again = crm("lead", "add", "--from-json", "-", input=payload)
    assert again.ok and again.stdout == ""
    single = tmp_path / "one.json"
    single.write_text('{"name": "From File", "authority": true, "budget": 900}')
    assert crm("lead", "add", "--from-json", str(single)).stdout == "from-file\n"
    lead = yaml.safe_load((folder / "leads" / "from-file.yaml").read_text())
    assert (lead["authority"], lead["budget"]) == (True, "900.00")
    assert crm("check").ok


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"email": "x@y.example"}', "a lead needs a name"),
        ('[{"name": "A"}, {"name": "B", "email": "bad"}]', "lead 2 of 2: emails: 'bad'"),
        ("[1, 2]", "each lead must be a JSON object"),
    ],
)
def test_leads_from_bad_json_write_nothing(crm, folder, payload, message):
    result = crm("lead", "add", "--from-json", "-", input=payload)
    assert result.exit_code in (2, 22)
    assert message in result.stderr
    assert not list((folder / "leads").glob("*.yaml"))
    no_traceback(result)


def test_several_pipelines(crm, folder):
    configure(
        folder,
        stages=None,
        pipelines={
            "design": {
                "stages": [
                    {"name": "inquiry", "probability": 20},
                    {"name": "won", "probability": 100, "status": "won"},
                    {"name": "lost", "probability": 0, "status": "lost"},
                ]
            },
            "hosting": {
                "default": True,
                "label": "Hosting",
                "stages": [
                    {"name": "trial", "probability": 40},
                    {"name": "signed", "probability": 100, "status": "won"},
                ],
            },
        },
    )
    assert crm("deal", "add", "Server", "--value", "100").ok  # the default pipeline: hosting
    assert crm("deal", "add", "Logo", "--pipeline", "design", "--value", "900").ok
    assert yaml.safe_load((folder / "deals" / "server.yaml").read_text())["stage"] == "trial"
    bad = crm("deal", "add", "X", "--pipeline", "design", "--stage", "trial")
    assert bad.exit_code == 22 and "stage: 'trial' is not one of: inquiry, won, lost" in bad.stderr
    assert crm("deal", "add", "Y", "--pipeline", "sales").exit_code == 22
    hosting = run_json(crm, "pipeline")
    assert hosting["pipeline"] == "hosting" and hosting["open"]["weighted"] == {"EUR": "40.00"}
    design = run_json(crm, "pipeline", "--pipeline", "design")
    assert design["open"]["weighted"] == {"EUR": "180.00"}
    assert crm("deal", "won", "logo").ok
    assert yaml.safe_load((folder / "deals" / "logo.yaml").read_text())["stage"] == "won"
    assert (
        crm("deal", "lost", "server", "--reason", "x").exit_code == 22
    )  # hosting has no lost stage
    assert crm("check").ok
    (folder / "deals" / "server.yaml").write_text(
        "title: Server\npipeline: hosting\nstage: inquiry\n"
    )
    result = crm("check")
    assert "deals/server.yaml:3: stage: 'inquiry' is not one of: trial, signed" in result.stdout


def test_a_stage_changed_in_the_editor_is_dated_too(crm, sales, tmp_path):
    import sys

    script = tmp_path / "editor.py"
    script.write_text(
        "import sys, pathlib\np = pathlib.Path(sys.argv[1])\n"
        "p.write_text(p.read_text().replace('stage: proposal', 'stage: negotiation'))\n"
    )
    result = crm(
        "deal", "edit", "alpha", env={"EDITOR": f"{sys.executable} {script}", **at("2026-11-22")}
    )
    assert result.ok, result.stderr
    data = yaml.safe_load((sales / "deals" / "alpha.yaml").read_text())
    last = data["history"][-1]
    assert (last["stage"], last["from"], str(last["at"])[:10]) == (
        "negotiation",
        "proposal",
        "2026-11-22",
    )
    assert run_json(crm, "deal", "show", "alpha")["days_in_stage"] == 1


def test_an_activity_keeps_a_deal_from_stalling(crm, sales):
    assert crm("log", "alpha", "--type", "call", "Still interested", env=at("2026-11-10")).ok
    assert crm(
        "log", "alpha", "--type", "meeting", "Planned", "--date", "2026-12-01", env=at("2026-11-10")
    ).ok
    assert [d["id"] for d in run_json(crm, "report", "stalled")] == []
    quiet = {d["id"]: d for d in run_json(crm, "report", "stalled", "--days", "10")}
    assert (quiet["alpha"]["days_quiet"], quiet["alpha"]["last_activity"]) == (13, "2026-11-10")
    assert quiet["zeta"]["last_activity"] is None
