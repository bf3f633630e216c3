"""add, list, show, set, rm and edit of contacts, companies, leads and deals."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import yaml

from helpers import no_traceback


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def files(folder: Path) -> dict[str, str]:
    """Every file under the folder with its text: to prove that nothing was written."""
    return {
        p.relative_to(folder).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(folder.rglob("*"))
        if p.is_file() and ".crm" not in p.parts
    }


@pytest.fixture
def acme(crm, folder):
    assert crm(
        "company",
        "add",
        "Acme Corp",
        "--domain",
        "https://www.Acme.example/about",
        "--industry",
        "Retail",
        "--city",
        "Berlin",
        "--country",
        "DE",
        "--tag",
        "client",
    ).ok
    assert crm(
        "contact",
        "add",
        "Ada Lovelace",
        "-e",
        "ada@acme.example",
        "--company",
        "acme",
        "--title",
        "CTO",
        "--phone",
        "+44 20 7946 0000",
    ).ok
    return folder


# -- add --------------------------------------------------------------------------------------


def test_add_contact_prints_the_id_and_writes_the_file(crm, folder):
    result = crm(
        "contact",
        "add",
        "Ada Lovelace",
        "--email",
        "ada@example.com",
        "--email",
        "ada@home.example",
        "--phone",
        "+44 20 7946 0000",
        "--title",
        "CTO",
        "--street",
        "12 St James's Square",
        "--city",
        "London",
        "--country",
        "GB",
        "--tag",
        "client",
        "--tag",
        "vip",
        "--notes",
        "Line one\nLine two",
    )
    assert result.ok, result.stderr
    assert result.stdout == "ada-lovelace\n"
    assert result.stderr == ""
    path = folder / "contacts" / "ada-lovelace.yaml"
    text = path.read_text(encoding="utf-8")
    data = load(path)
    assert list(data) == [
        "name",
        "emails",
        "phones",
        "title",
        "address",
        "tags",
        "notes",
        "created",
        "updated",
    ]
    assert data["emails"] == ["ada@example.com", "ada@home.example"]
    assert data["address"] == {"street": "12 St James's Square", "city": "London", "country": "GB"}
    assert data["notes"] == "Line one\nLine two"
    assert "notes: |" in text  # multi-line notes as a literal block
    assert str(data["created"]).startswith("20")


def test_add_same_name_gets_a_suffix(crm, folder):
    assert crm("contact", "add", "Ada Lovelace").stdout == "ada-lovelace\n"
    assert crm("contact", "add", "Ada Lovelace").stdout == "ada-lovelace-2\n"
    assert crm("contact", "add", "ada lovelace!").stdout == "ada-lovelace-3\n"


def test_ids_from_any_script(crm, folder):
    assert crm("contact", "add", "Zoë O'Brien & Co.").stdout == "zoe-obrien-co\n"
    assert crm("contact", "add", "张伟").stdout == "zhangwei\n"
    assert crm("contact", "add", "!!!").stdout == "contact\n"
    assert crm("contact", "add", "con").stdout == "con-1\n"


def test_add_with_explicit_id(crm, folder):
    assert crm("contact", "add", "Ada", "--id", "ada-l").stdout == "ada-l\n"
    taken = crm("contact", "add", "Other", "--id", "ada-l")
    assert taken.exit_code == 23
    for bad in ("../evil", "Ada", "a/b", "a--b", "-a", "x" * 65):
        result = crm("contact", "add", "Evil", "--id", bad)
        assert result.exit_code == 22, bad
        no_traceback(result)
    assert sorted(p.name for p in (folder / "contacts").glob("*.yaml")) == ["ada-l.yaml"]
    assert not (folder.parent / "evil.yaml").exists()


def test_add_resolves_company_reference(crm, acme):
    data = load(acme / "contacts" / "ada-lovelace.yaml")
    assert data["company"] == "acme-corp"
    company = load(acme / "companies" / "acme-corp.yaml")
    assert company["domain"] == "www.acme.example"


def test_add_unknown_company_is_not_found(crm, folder):
    before = files(folder)
    result = crm("contact", "add", "Ada", "--company", "Nonexistent Ltd")
    assert result.exit_code == 20
    assert "no company matches 'Nonexistent Ltd'" in result.stderr
    assert files(folder) == before
    no_traceback(result)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["contact", "add", "Ada", "--email", "not-an-email"],
            "emails: 'not-an-email' is not a valid email",
        ),
        (
            ["contact", "add", "Ada", "--phone", "call me"],
            "phones: 'call me' is not a phone number",
        ),
        (["contact", "add", "   "], "name is required"),
        (["company", "add", "X", "--domain", "not a domain"], "domain:"),
        (["company", "add", "X", "--website", "ftp://x.example"], "website:"),
        (["deal", "add", "X", "--value", "1,000"], "value: '1,000' is not an amount"),
        (
            ["deal", "add", "X", "--value", "10.001"],
            "value: 10.001 has more decimals than EUR allows (2)",
        ),
        (["deal", "add", "X", "--value", "10", "--currency", "JPY", "--id", "x2"], None),
        (
            ["deal", "add", "X", "--value", "10.5", "--currency", "JPY"],
            "more decimals than JPY allows (0)",
        ),
        (
            ["deal", "add", "X", "--currency", "XXY"],
            "currency: 'XXY' is not an ISO 4217 currency code",
        ),
        (
            ["deal", "add", "X", "--stage", "dreaming"],
            "stage: 'dreaming' is not one of: lead, qualified",
        ),
        (
            ["deal", "add", "X", "--probability", "101"],
            "probability: '101' is not a whole number from 0 to 100",
        ),
        (
            ["deal", "add", "X", "--close-date", "15/12/2026"],
            "close_date: '15/12/2026' is not a date",
        ),
        (["deal", "add", "X", "--close-date", "2026-02-30"], "is not a date"),
        (["lead", "add", "X", "--status", "hot"], "status: 'hot' is not one of: new, contacted"),
        (["contact", "add", "X", "--tag", "two words"], "tags: 'two words' is not a tag"),
        (["contact", "add", "X", "--field", "nope=1"], "contact has no field 'custom.nope'"),
    ],
)
def test_add_validates_every_field(crm, folder, args, message):
    before = files(folder)
    result = crm(*args)
    no_traceback(result)
    if message is None:
        assert result.ok, result.stderr
        return
    assert result.exit_code in (2, 22), result.stderr
    assert message in result.stderr
    assert result.stderr.count("\n") == 1  # one line
    assert files(folder) == before


def test_add_refuses_a_duplicate_email(crm, acme):
    result = crm("contact", "add", "Ada Again", "-e", "ADA@acme.example")
    assert result.exit_code == 23
    assert "already the email of contact ada-lovelace" in result.stderr
    # Leads and contacts are separate: a lead may share a contact's email.
    assert crm("lead", "add", "Ada as lead", "-e", "ada@acme.example").ok


def test_deal_defaults_and_company_from_contact(crm, acme):
    result = crm("deal", "add", "Website", "--contact", "ada@acme.example", "--value", "12000")
    assert result.ok, result.stderr
    data = load(acme / "deals" / "website.yaml")
    assert data == {
        **data,
        "company": "acme-corp",
        "contact": "ada-lovelace",
        "value": "12000.00",
        "currency": "EUR",
        "stage": "lead",
    }
    assert "probability" not in data  # follows the stage
    text = (acme / "deals" / "website.yaml").read_text()
    assert 'value: "12000.00"' in text


def test_lead_add_defaults_to_new(crm, folder):
    assert crm("lead", "add", "Grace Hopper", "--company", "Navy Lab", "--source", "referral").ok
    data = load(folder / "leads" / "grace-hopper.yaml")
    assert data["status"] == "new"
    assert data["company"] == "Navy Lab"  # plain text, not a reference


def test_add_custom_fields(crm, folder):
    config = folder / "crm.yaml"
    config.write_text(
        config.read_text().replace(
            "  contact: {}",
            "  contact:\n    anniversary: {type: date}\n    size: {type: choice, values: [S, M, L]}\n"
            "    vip: bool\n    budget: {type: money, currency: JPY}\n    site: url",
        )
    )
    result = crm(
        "contact",
        "add",
        "Ada",
        "--field",
        "anniversary=1815-12-10",
        "--field",
        "size=m",
        "--field",
        "vip=yes",
        "--field",
        "budget=5000",
        "--field",
        "site=ada.example",
    )
    assert result.ok, result.stderr
    data = load(folder / "contacts" / "ada.yaml")
    assert data["custom"] == {
        "anniversary": __import__("datetime").date(1815, 12, 10),
        "size": "M",
        "vip": True,
        "budget": "5000",
        "site": "https://ada.example",
    }
    bad = crm("contact", "add", "Bob", "--field", "anniversary=soon")
    assert bad.exit_code == 22 and "anniversary: 'soon' is not a date" in bad.stderr
    bad = crm("contact", "add", "Bob", "--field", "size=XL")
    assert bad.exit_code == 22 and "size: 'XL' is not one of: S, M, L" in bad.stderr
    bad = crm("contact", "add", "Bob", "--field", "budget=10.5")
    assert bad.exit_code == 22 and "JPY" in bad.stderr


def test_add_dry_run_writes_nothing(crm, folder):
    before = files(folder)
    result = crm("contact", "add", "Ada Lovelace", "-e", "ada@example.com", "--dry-run")
    assert result.ok
    assert "+++ b/contacts/ada-lovelace.yaml" in result.stdout
    assert "+name: Ada Lovelace" in result.stdout
    assert files(folder) == before


def test_add_notes_from_stdin(crm, folder):
    assert crm("contact", "add", "Ada", "--notes", "-", input="From a pipe\nsecond line\n").ok
    assert load(folder / "contacts" / "ada.yaml")["notes"] == "From a pipe\nsecond line"


# -- list -------------------------------------------------------------------------------------


@pytest.fixture
def pipeline(crm, acme):
    assert crm("company", "add", "Globex", "--tag", "prospect").ok
    for args in (
        [
            "Acme shop",
            "--company",
            "acme",
            "--value",
            "12000",
            "--stage",
            "proposal",
            "--close-date",
            "2026-12-15",
            "--tag",
            "web",
        ],
        ["Acme logo", "--company", "acme", "--value", "900", "--stage", "won"],
        [
            "Globex intranet",
            "--company",
            "globex",
            "--value",
            "25000",
            "--stage",
            "negotiation",
            "--probability",
            "60",
            "--tag",
            "web",
            "--tag",
            "big",
        ],
        ["Globex audit", "--company", "globex", "--value", "1500.50", "--currency", "CHF"],
    ):
        assert crm("deal", "add", *args).ok
    return acme


def ids(result) -> list[str]:
    assert result.ok, result.stderr
    return result.stdout.split()


def test_list_json_is_complete_and_stable(crm, pipeline):
    result = crm("deal", "list", "-f", "json")
    deals = json.loads(result.stdout)
    assert [d["id"] for d in deals] == ["acme-logo", "acme-shop", "globex-audit", "globex-intranet"]
    shop = deals[1]
    assert shop == {
        "id": "acme-shop",
        "type": "deal",
        "title": "Acme shop",
        "pipeline": "sales",
        "company": "acme-corp",
        "contact": None,
        "value": "12000.00",
        "currency": "EUR",
        "stage": "proposal",
        "probability": 50,
        "close_date": "2026-12-15",
        "lost_reason": None,
        "tags": ["web"],
        "notes": None,
        "custom": {},
        "external_ids": {},
        "history": [{"at": shop["created"], "stage": "proposal"}],
        "fired": None,
        "created": shop["created"],
        "updated": shop["updated"],
        "weighted": "6000.00",
        "days_in_stage": 0,
    }
    assert deals[3]["probability"] == 60


def test_list_where_sort_limit_tag(crm, pipeline):
    assert ids(crm("deal", "list", "-f", "ids", "--where", "value>=1500.50")) == [
        "acme-shop",
        "globex-audit",
        "globex-intranet",
    ]
    assert ids(crm("deal", "list", "-f", "ids", "-w", "stage=proposal or stage=won")) == [
        "acme-logo",
        "acme-shop",
    ]
    assert ids(crm("deal", "list", "-f", "ids", "-w", "company=acme-corp and not stage=won")) == [
        "acme-shop"
    ]
    assert ids(crm("deal", "list", "-f", "ids", "-w", "title~INTRA")) == ["globex-intranet"]
    assert ids(crm("deal", "list", "-f", "ids", "-w", "tag:big")) == ["globex-intranet"]
    assert ids(crm("deal", "list", "-f", "ids", "--tag", "web", "--tag", "big")) == [
        "globex-intranet"
    ]
    assert ids(crm("deal", "list", "-f", "ids", "-w", "close_date<2027-01-01")) == ["acme-shop"]
    assert ids(crm("deal", "list", "-f", "ids", "-w", "close_date")) == ["acme-shop"]
    assert ids(crm("deal", "list", "-f", "ids", "-w", "close_date=")) == [
        "acme-logo",
        "globex-audit",
        "globex-intranet",
    ]
    assert ids(crm("deal", "list", "-f", "ids", "--sort", "-value", "--limit", "2")) == [
        "globex-intranet",
        "acme-shop",
    ]
    assert ids(crm("deal", "list", "-f", "ids", "--sort", "value")) == [
        "acme-logo",
        "globex-audit",
        "acme-shop",
        "globex-intranet",
    ]
    assert ids(crm("deal", "list", "-f", "ids", "--sort", "close_date"))[0] == "acme-shop"
    assert ids(crm("deal", "list", "-f", "ids", "--sort", "-close_date"))[0] == "acme-shop"
    assert ids(crm("contact", "list", "-f", "ids", "-w", "email~acme")) == ["ada-lovelace"]
    assert ids(crm("company", "list", "-f", "ids", "-w", 'city="Berlin"')) == ["acme-corp"]


def test_list_bad_where_is_a_usage_error(crm, pipeline):
    for expr, message in [
        ("stage=", None),
        ("(stage=won", "never closed"),
        ("value>", "a value is missing after '>'"),
        ("colour=red", "deal has no field 'colour'"),
        ("stage=won and", "ends too early"),
        ("stage=won xor stage=lost", "unexpected 'xor'"),
    ]:
        result = crm("deal", "list", "-w", expr)
        no_traceback(result)
        if message is None:
            assert result.ok
            continue
        assert result.exit_code == 2, expr
        assert message in result.stderr, (expr, result.stderr)
    bad_sort = crm("deal", "list", "--sort", "colour")
    assert bad_sort.exit_code == 2


def test_list_formats(crm, pipeline):
    tsv = crm("contact", "list").stdout  # not a terminal: TSV
    assert tsv == "ada-lovelace\tAda Lovelace\tada@acme.example\t+44 20 7946 0000\tacme-corp\t\n"
    csv_out = crm("contact", "list", "-f", "csv").stdout.splitlines()
    assert csv_out[0] == "id,name,emails,phones,company,tags"
    assert csv_out[1] == "ada-lovelace,Ada Lovelace,ada@acme.example,'+44 20 7946 0000,acme-corp,"
    table = crm("deal", "list", "-f", "table").stdout
    assert table.splitlines()[0].split() == [
        "id",
        "title",
        "company",
        "stage",
        "value",
        "cur",
        "prob",
        "close",
    ]
    assert "globex-intranet" in table and "25000.00" in table
    assert all(len(line) <= 100 for line in table.splitlines())
    loaded = yaml.safe_load(crm("deal", "list", "-f", "yaml").stdout)
    assert loaded[0]["id"] == "acme-logo"
    lines = crm("deal", "list", "-f", "jsonl").stdout.splitlines()
    assert json.loads(lines[0])["id"] == "acme-logo"
    assert crm("lead", "list", "-f", "json").stdout == "[]\n"
    assert crm("lead", "list").stdout == ""


def test_table_fits_80_columns(crm, pipeline):
    crm(
        "deal",
        "add",
        "A deal with a really very long title that goes on and on",
        "--company",
        "globex",
    )
    table = crm("deal", "list", "-f", "table", env={"COLUMNS": "80"}).stdout
    assert all(len(line) <= 80 for line in table.splitlines()), table
    assert "…" in table


def test_table_escapes_control_characters(crm, folder):
    refused = crm("contact", "add", "Evil\x1b[2JName")
    assert refused.exit_code == 22 and "control characters" in refused.stderr
    (folder / "contacts" / "evil.yaml").write_text('name: "Evil\\e[2JName\\x07"\n')
    table = crm("contact", "list", "-f", "table").stdout
    assert "\x1b" not in table
    show = crm("contact", "show", "evil", "-f", "table").stdout
    assert "\x1b" not in show


def test_list_skips_a_broken_file_with_a_warning(crm, pipeline):
    (pipeline / "deals" / "broken.yaml").write_text("title: [unclosed\n")
    result = crm("deal", "list", "-f", "ids")
    assert result.ok
    assert "broken" not in result.stdout
    assert len(result.stdout.split()) == 4
    assert "Warning: skipped deals/broken.yaml:2: invalid YAML" in result.stderr


# -- show -------------------------------------------------------------------------------------


def test_show_company_lists_contacts_and_deals(crm, pipeline):
    result = crm("company", "show", "acme", "-f", "json")
    data = json.loads(result.stdout)
    assert data["id"] == "acme-corp"
    assert [c["id"] for c in data["related"]["contacts"]] == ["ada-lovelace"]
    assert [d["id"] for d in data["related"]["deals"]] == ["acme-logo", "acme-shop"]
    table = crm("company", "show", "acme-corp", "-f", "table").stdout
    assert table.startswith("Acme Corp\n")
    assert "Contacts (1)" in table and "Deals (2)" in table and "Acme shop" in table


def test_show_contact_and_deal(crm, pipeline):
    assert crm("deal", "set", "acme-shop", "contact=ada").ok
    contact = json.loads(crm("contact", "show", "Ada Lovelace", "-f", "json").stdout)
    assert contact["related"]["company"] == {"id": "acme-corp", "name": "Acme Corp"}
    assert [d["id"] for d in contact["related"]["deals"]] == ["acme-shop"]
    deal = json.loads(crm("deal", "show", "acme-s", "-f", "json").stdout)
    assert deal["related"]["company"] == {"id": "acme-corp", "name": "Acme Corp"}
    assert deal["related"]["contact"] == {"id": "ada-lovelace", "name": "Ada Lovelace"}
    text = crm("deal", "show", "acme-shop", "-f", "table").stdout
    assert re.search(r"\n  company +acme-corp \(Acme Corp\)\n", text)
    assert re.search(r"\n  value +12000.00 EUR\n", text)


def test_references_by_prefix_email_and_name(crm, pipeline):
    assert (
        json.loads(crm("contact", "show", "ada@ACME.example", "-f", "json").stdout)["id"]
        == "ada-lovelace"
    )
    assert (
        json.loads(crm("contact", "show", "ada lovelace", "-f", "json").stdout)["id"]
        == "ada-lovelace"
    )
    assert (
        json.loads(crm("deal", "show", "globex-i", "-f", "json").stdout)["id"] == "globex-intranet"
    )
    ambiguous = crm("deal", "show", "acme")
    assert ambiguous.exit_code == 21
    assert "acme-logo (Acme logo), acme-shop (Acme shop)" in ambiguous.stderr
    missing = crm("deal", "show", "acne-shop")
    assert missing.exit_code == 20
    assert "did you mean acme-shop" in missing.stderr
    for hostile in ("../crm", "/etc/passwd", "..", "con"):
        result = crm("contact", "show", hostile)
        assert result.exit_code == 20, hostile
        no_traceback(result)


def test_show_warns_about_a_dangling_reference(crm, pipeline):
    path = pipeline / "deals" / "acme-shop.yaml"
    path.write_text(path.read_text().replace("company: acme-corp", "company: gone-ltd"))
    result = crm("deal", "show", "acme-shop", "-f", "json")
    assert result.ok
    assert (
        "deals/acme-shop.yaml:3: company: no company 'gone-ltd' (dangling reference)"
        in result.stderr
    )


def test_show_broken_record_names_file_and_line(crm, pipeline):
    (pipeline / "deals" / "acme-shop.yaml").write_text("title: x\n  bad: indent\n")
    result = crm("deal", "show", "acme-shop")
    assert result.exit_code == 4
    assert result.stderr.startswith("Error: deals/acme-shop.yaml:2: invalid YAML")
    no_traceback(result)
    (pipeline / "deals" / "acme-shop.yaml").write_text("- just\n- a list\n")
    result = crm("deal", "show", "acme-shop")
    assert result.exit_code == 4
    assert "deals/acme-shop.yaml:1: must be a mapping of fields, not list" in result.stderr


# -- set --------------------------------------------------------------------------------------


def test_set_fields_lists_and_unset(crm, acme):
    path = acme / "contacts" / "ada-lovelace.yaml"
    before = load(path)
    result = crm(
        "contact",
        "set",
        "ada",
        "title=Chief Technology Officer",
        "email+=ada@home.example",
        "tags=vip,client",
        "address.city=London",
    )
    assert result.ok, result.stderr
    assert result.stdout == ""
    data = load(path)
    assert data["title"] == "Chief Technology Officer"
    assert data["emails"] == ["ada@acme.example", "ada@home.example"]
    assert data["tags"] == ["vip", "client"]
    assert data["address"] == {"city": "London"}
    assert data["created"] == before["created"]
    assert crm("contact", "set", "ada", "email-=ada@acme.example", "tags-=vip").ok
    data = load(path)
    assert data["emails"] == ["ada@home.example"] and data["tags"] == ["client"]
    assert crm("contact", "set", "ada", "--unset", "title", "--unset", "address.city").ok
    data = load(path)
    assert "title" not in data and "address" not in data
    assert crm("contact", "set", "ada", "tags-=client").ok
    assert "tags" not in load(path)


def test_set_references_and_money(crm, pipeline):
    assert crm("deal", "set", "acme-shop", "company=Globex", "value=13000", "probability=80").ok
    data = load(pipeline / "deals" / "acme-shop.yaml")
    assert (data["company"], data["value"], data["probability"]) == ("globex", "13000.00", 80)
    assert crm("deal", "set", "acme-shop", "currency=jpy").ok
    data = load(pipeline / "deals" / "acme-shop.yaml")
    assert (data["currency"], data["value"]) == ("JPY", "13000")
    refused = crm("deal", "set", "globex-audit", "currency=JPY")  # 1500.50 has cents
    assert refused.exit_code == 22 and "value: 1500.50 has more decimals than JPY" in refused.stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["contact", "set", "ada"], 2, "nothing to change"),
        (["contact", "set", "ada", "title"], 2, "'title' is not KEY=VALUE"),
        (["contact", "set", "ada", "colour=red"], 2, "contact has no field 'colour'"),
        (["contact", "set", "ada", "created=2020-01-01T00:00:00Z"], 2, "created is kept by crm"),
        (["contact", "set", "ada", "name="], 22, "name is required"),
        (["contact", "set", "ada", "--unset", "name"], 22, "name is required"),
        (["contact", "set", "ada", "title+=x"], 2, "+= works on lists"),
        (["contact", "set", "ada", "email=bad"], 22, "is not a valid email"),
        (["contact", "set", "ada", "company=nobody"], 20, "no company matches 'nobody'"),
        (["contact", "set", "nobody", "title=x"], 20, "no contact matches 'nobody'"),
        (["contact", "set", "ada", "address.planet=Mars"], 2, "address has parts"),
    ],
)
def test_set_errors_write_nothing(crm, acme, args, code, message):
    before = files(acme)
    result = crm(*args)
    assert result.exit_code == code, result.stderr
    assert message in result.stderr
    assert files(acme) == before
    no_traceback(result)


def test_set_refuses_a_duplicate_email(crm, acme):
    assert crm("contact", "add", "Bob", "-e", "bob@acme.example").ok
    result = crm("contact", "set", "bob", "email+=ada@acme.example")
    assert result.exit_code == 23
    assert crm("contact", "set", "ada", "email=ada@acme.example").ok  # its own email is fine


def test_set_dry_run_shows_a_diff(crm, acme):
    before = files(acme)
    result = crm("contact", "set", "ada", "title=CEO", "--dry-run")
    assert result.ok
    assert "-title: CTO" in result.stdout and "+title: CEO" in result.stdout
    assert files(acme) == before


def test_set_same_value_changes_nothing(crm, acme):
    before = files(acme)
    assert crm("contact", "set", "ada", "title=CTO").ok
    assert files(acme) == before


# -- rm ---------------------------------------------------------------------------------------


def test_rm_refuses_while_referenced(crm, pipeline):
    result = crm("company", "rm", "acme")
    assert result.exit_code == 23
    assert (
        "company acme-corp is referred to by contact ada-lovelace, deal acme-logo" in result.stderr
    )
    assert "--force" in result.stderr
    assert (pipeline / "companies" / "acme-corp.yaml").exists()


def test_rm_force_clears_references(crm, pipeline):
    result = crm("company", "rm", "acme", "--force")
    assert result.ok, result.stderr
    assert not (pipeline / "companies" / "acme-corp.yaml").exists()
    assert "company" not in load(pipeline / "contacts" / "ada-lovelace.yaml")
    assert "company" not in load(pipeline / "deals" / "acme-shop.yaml")
    assert crm("check").ok


def test_rm_unreferenced_and_dry_run(crm, pipeline):
    before = files(pipeline)
    dry = crm("deal", "rm", "acme-logo", "--dry-run")
    assert dry.ok and "--- a/deals/acme-logo.yaml" in dry.stdout and "+++ /dev/null" in dry.stdout
    assert files(pipeline) == before
    assert crm("deal", "rm", "acme-logo").ok
    assert not (pipeline / "deals" / "acme-logo.yaml").exists()
    assert crm("deal", "rm", "acme-logo").exit_code == 20


# -- edit -------------------------------------------------------------------------------------


def editor_script(tmp_path: Path, body: str) -> str:
    """An $EDITOR that runs `body` (Python) with the file's path as `path`."""
    script = tmp_path / "editor.py"
    script.write_text("import sys, pathlib\npath = pathlib.Path(sys.argv[1])\n" + body)
    return f"{sys.executable} {script}"


def test_edit_saves_a_valid_change(crm, acme, tmp_path):
    editor = editor_script(
        tmp_path,
        "path.write_text(path.read_text().replace('title: CTO', '# promoted\\ntitle: CEO'))",
    )
    result = crm("contact", "edit", "ada", env={"EDITOR": editor})
    assert result.ok, result.stderr
    text = (acme / "contacts" / "ada-lovelace.yaml").read_text()
    assert "# promoted\ntitle: CEO" in text
    assert not list((acme / ".crm" / "edit").glob("*"))


def test_edit_invalid_is_refused_when_not_interactive(crm, acme, tmp_path):
    before = files(acme)
    editor = editor_script(
        tmp_path, "path.write_text(path.read_text().replace('ada@acme.example', 'not-an-email'))"
    )
    result = crm("contact", "edit", "ada", env={"VISUAL": editor})
    assert result.exit_code == 22
    assert "emails: 'not-an-email' is not a valid email" in result.stderr
    assert "your version is kept in" in result.stderr
    assert files(acme) == before
    no_traceback(result)


def test_edit_broken_yaml_is_refused(crm, acme, tmp_path):
    before = files(acme)
    editor = editor_script(tmp_path, "path.write_text('name: [oops\\n')")
    result = crm("contact", "edit", "ada", env={"EDITOR": editor})
    assert result.exit_code == 22
    assert "invalid YAML" in result.stderr
    assert files(acme) == before


def test_edit_without_change_and_failing_editor(crm, acme, tmp_path):
    before = files(acme)
    assert crm("contact", "edit", "ada", env={"EDITOR": editor_script(tmp_path, "")}).ok
    assert files(acme) == before
    failing = crm("contact", "edit", "ada", env={"EDITOR": editor_script(tmp_path, "sys.exit(3)")})
    assert failing.exit_code == 1 and "exited with status 3" in failing.stderr
    missing = crm("contact", "edit", "ada", env={"EDITOR": "/nonexistent/editor"})
    assert missing.exit_code == 1 and "cannot start the editor" in missing.stderr
    assert files(acme) == before


def test_edit_conflict_with_a_concurrent_change(crm, acme, tmp_path):
    other = acme / "contacts" / "ada-lovelace.yaml"
    editor = editor_script(
        tmp_path,
        f"pathlib.Path({str(other)!r}).write_text(pathlib.Path({str(other)!r}).read_text()"
        ".replace('CTO', 'CFO'))\n"
        "path.write_text(path.read_text().replace('CTO', 'CEO'))",
    )
    result = crm("contact", "edit", "ada", env={"EDITOR": editor})
    assert result.exit_code == 23
    assert "changed by someone else" in result.stderr
    assert "title: CFO" in other.read_text()


def test_set_notes_from_stdin(crm, acme):
    assert crm("contact", "set", "ada", "notes=-", input="Called today.\nWants a quote.\n").ok
    assert load(acme / "contacts" / "ada-lovelace.yaml")["notes"] == "Called today.\nWants a quote."


def test_a_later_write_removes_a_stale_temp_file(crm, acme):
    stale = acme / "contacts" / ".crm-tmp-abc123.yaml"
    stale.write_text("name: half a rec")
    assert crm("contact", "list", "-f", "ids").stdout == "ada-lovelace\n"  # readers ignore it
    assert crm("check").ok
    assert crm("contact", "set", "ada", "title=CEO").ok
    assert not stale.exists()


def test_sorting_ignores_case_and_accents(crm, folder):
    for name in ("brightline", "Bäckerei Jansen", "Émile", "emil", "Zeta", "alpha"):
        assert crm("company", "add", name).ok
    names = [c["name"] for c in json.loads(crm("company", "list", "-f", "json").stdout)]
    assert names == ["alpha", "Bäckerei Jansen", "brightline", "emil", "Émile", "Zeta"]


def test_show_uses_custom_field_labels_and_currencies(crm, folder):
    config = folder / "crm.yaml"
    config.write_text(
        config.read_text().replace(
            "  lead: {}",
            "  lead:\n    fee: {type: money, currency: CHF}\n    linkedin: {type: url, label: LinkedIn}",
        )
    )
    assert crm(
        "lead", "add", "Lea", "--field", "fee=4000", "--field", "linkedin=linkedin.com/in/lea"
    ).ok
    text = crm("lead", "show", "lea", "-f", "table").stdout
    assert re.search(r"\n  fee +4000.00 CHF\n", text)
    assert re.search(r"\n  LinkedIn +https://linkedin.com/in/lea\n", text)


def test_edit_dry_run_shows_the_diff(crm, acme, tmp_path):
    before = files(acme)
    editor = editor_script(tmp_path, "path.write_text(path.read_text().replace('CTO', 'CEO'))")
    result = crm("contact", "edit", "ada", "--dry-run", env={"EDITOR": editor})
    assert result.ok, result.stderr
    assert "-title: CTO" in result.stdout and "+title: CEO" in result.stdout
    assert files(acme) == before


def test_a_failed_edit_is_never_overwritten_by_the_next(crm, acme, tmp_path):
    bad = editor_script(tmp_path, "path.write_text('name: [oops\\n')")
    assert crm("contact", "edit", "ada", env={"EDITOR": bad}).exit_code == 22
    assert crm("contact", "edit", "ada", env={"EDITOR": bad}).exit_code == 22
    kept = list((acme / ".crm" / "edit").glob("contact-ada-lovelace-*.yaml"))
    assert len(kept) == 2
    assert all(k.read_text() == "name: [oops\n" for k in kept)


def test_a_no_op_set_leaves_a_hand_written_file_alone(crm, acme):
    path = acme / "contacts" / "hand.yaml"
    text = "name:    Hand   # odd spacing\ntitle: CTO\nemails: [hand@x.example]\n"
    path.write_text(text)
    assert crm("contact", "set", "hand", "title=CTO", "email=hand@x.example").ok
    assert path.read_text() == text


def test_setting_a_part_of_a_text_address_is_refused(crm, folder):
    path = folder / "contacts" / "addr.yaml"
    path.write_text("name: Addr\naddress: 12 Main St, Springfield\n")
    result = crm("contact", "set", "addr", "city=Paris")
    assert result.exit_code == 22 and "written as one text" in result.stderr
    assert "12 Main St" in path.read_text()
    assert crm("contact", "set", "addr", "--unset", "address").ok
    assert crm("contact", "set", "addr", "city=Paris").ok
    assert load(path)["address"] == {"city": "Paris"}


def test_an_address_as_one_text(crm, folder):
    assert crm("contact", "add", "Addr").ok
    assert crm("contact", "set", "addr", "address=1 Rue X\n75001 Paris").ok
    assert load(folder / "contacts" / "addr.yaml")["address"] == "1 Rue X\n75001 Paris"
    assert crm("check").ok


def test_birthday_with_or_without_year_and_website(folder, crm):
    result = crm("contact", "add", "Ada", "--birthday", "1815-12-10", "--website", "ada.example")
    assert result.ok, result.stderr
    assert crm("contact", "add", "Bob", "--birthday=--02-29").ok
    assert load(folder / "contacts" / "ada.yaml")["website"] == "https://ada.example"
    assert load(folder / "contacts" / "bob.yaml")["birthday"] == "--02-29"
    bad = crm("contact", "add", "Eve", "--birthday=--02-30")
    assert bad.exit_code == 22 and "not a day of the year" in bad.stderr
    assert crm("contact", "set", "ada", "birthday=--0415").ok
    assert load(folder / "contacts" / "ada.yaml")["birthday"] == "--04-15"
    assert crm("check").ok
    listed = json.loads(crm("contact", "list", "--where", "birthday~04-15", "-f", "json").stdout)
    assert [c["id"] for c in listed] == ["ada"]
