"""crm dedupe: likely duplicates by email, phone, domain, external id and alike names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crm.dedupe import find_groups, lookalikes, name_score
from crm.models import COMPANY, CONTACT
from crm.records import Record
from helpers import no_traceback


def write(folder: Path, rel: str, text: str) -> None:
    """A record file as a person or an import might have written it (`add` refuses duplicate
    emails, so duplicates by email are written here)."""
    path = folder / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def german(folder: Path) -> Path:
    """A folder whose business is in Germany: phone numbers without +49 are German."""
    config = folder / "crm.yaml"
    text = config.read_text(encoding="utf-8")
    head = 'business:\n  name: "Test Studio"\n'
    assert head in text
    config.write_text(text.replace(head, head + "  address: {country: DE}\n"), encoding="utf-8")
    return folder


def groups(crm, kind: str, *args: str) -> list[dict]:
    result = crm("dedupe", kind, "--format", "json", *args)
    assert result.ok, result.stderr
    return json.loads(result.stdout)


# -- finding groups -----------------------------------------------------------------------------


def test_same_email_in_any_case(crm, folder):
    write(folder, "contacts/ada.yaml", "name: Ada Lovelace\nemails: [Ada@Example.COM]\n")
    write(
        folder, "contacts/countess.yaml", "name: Countess of Lovelace\nemails: [ada@example.com]\n"
    )
    write(folder, "contacts/grace.yaml", "name: Grace Hopper\nemails: [grace@example.com]\n")
    found = groups(crm, "contacts")
    assert [g["ids"] for g in found] == [["ada", "countess"]]
    assert found[0]["score"] == 100
    assert found[0]["reasons"] == [
        {"reason": "email", "value": "ada@example.com", "score": 100, "ids": ["ada", "countess"]}
    ]


def test_same_phone_in_different_notations(crm, german):
    write(german, "contacts/max-mustermann.yaml", "name: Max\nphones: ['+49 30 1234567']\n")
    write(german, "contacts/erika-musterfrau.yaml", "name: Erika\nphones: ['030 1234567']\n")
    write(german, "contacts/someone-else.yaml", "name: Someone\nphones: ['030 7654321']\n")
    found = groups(crm, "contact")  # the singular works too
    assert len(found) == 1
    assert sorted(found[0]["ids"]) == ["erika-musterfrau", "max-mustermann"]
    assert found[0]["score"] == 90
    assert [(r["reason"], r["value"]) for r in found[0]["reasons"]] == [("phone", "+49301234567")]


def test_without_a_business_country_local_numbers_are_not_guessed(crm, folder):
    write(folder, "contacts/max-mustermann.yaml", "name: Max\nphones: ['+49 30 1234567']\n")
    write(folder, "contacts/erika-musterfrau.yaml", "name: Erika\nphones: ['030 1234567']\n")
    assert groups(crm, "contacts") == []


def test_same_domain_of_companies(crm, folder):
    write(folder, "companies/acme-corp.yaml", "name: Acme Corp\ndomain: acme.example\n")
    write(
        folder,
        "companies/widgets-unlimited.yaml",
        "name: Widgets Unlimited\nwebsite: https://www.Acme.example/x\n",
    )
    write(folder, "companies/initech.yaml", "name: Initech\nemails: [info@gmail.com]\n")
    write(folder, "companies/globex.yaml", "name: Globex\nemails: [office@gmail.com]\n")
    found = groups(crm, "companies")
    assert [(g["ids"], g["score"]) for g in found] == [
        (["acme-corp", "widgets-unlimited"], 80)
    ]  # a free-mail domain says nothing
    assert found[0]["reasons"][0]["value"] == "acme.example"


def test_contacts_at_one_company_are_not_duplicates(crm, folder):
    write(folder, "contacts/ada.yaml", "name: Ada Lovelace\nemails: [ada@acme.example]\n")
    write(folder, "contacts/grace.yaml", "name: Grace Hopper\nemails: [grace@acme.example]\n")
    assert groups(crm, "contacts") == []


def test_similar_names(crm, folder):
    for rel, name in (
        ("contacts/jon-smith", "Jon Smith"),
        ("contacts/john-smith", "John Smith"),
        ("contacts/jane-doe", "Jane Doe"),
        ("companies/acme-gmbh", "ACME GmbH"),
        ("companies/acme", "Acme"),
        ("companies/initech", "Initech"),
    ):
        write(folder, f"{rel}.yaml", f"name: {name}\n")
    people = groups(crm, "contacts")
    assert [(sorted(g["ids"]), g["score"]) for g in people] == [(["john-smith", "jon-smith"], 94)]
    assert people[0]["reasons"][0]["reason"] == "name"
    assert people[0]["reasons"][0]["value"] == "john smith ~ jon smith"
    companies = groups(crm, "companies")
    assert [(sorted(g["ids"]), g["score"]) for g in companies] == [(["acme", "acme-gmbh"], 100)]


def test_threshold_applies_to_names_only(crm, folder):
    write(folder, "contacts/jon-smith.yaml", "name: Jon Smith\nphones: ['+44 20 7946 0000']\n")
    write(folder, "contacts/john-smith.yaml", "name: John Smith\n")
    write(folder, "contacts/someone.yaml", "name: Someone\nphones: ['+44 20 7946 0000']\n")
    strict = groups(crm, "contacts", "--threshold", "95")
    assert [(sorted(g["ids"]), g["score"]) for g in strict] == [(["jon-smith", "someone"], 90)]
    loose = groups(crm, "contacts")
    assert [sorted(g["ids"]) for g in loose] == [["john-smith", "jon-smith", "someone"]]
    assert loose[0]["score"] == 94
    bad = crm("dedupe", "contacts", "--threshold", "101")
    assert bad.exit_code == 2


def test_external_ids_and_leads(crm, folder):
    write(folder, "leads/a.yaml", "name: Grace Hopper\nexternal_ids: {hubspot: '17'}\n")
    write(folder, "leads/b.yaml", "name: G. Hopper\nexternal_ids: {hubspot: '17'}\n")
    found = groups(crm, "leads")
    assert [(g["ids"], g["score"]) for g in found] == [(["a", "b"], 100)]
    assert found[0]["reasons"][0] == {
        "reason": "external_id",
        "value": "hubspot:17",
        "score": 100,
        "ids": ["a", "b"],
    }


def test_the_json_structure_is_stable(crm, folder):
    write(
        folder,
        "contacts/ada.yaml",
        "name: Ada Lovelace\nemails: [ada@example.com]\ncreated: 2026-01-01T00:00:00Z\n",
    )
    write(
        folder,
        "contacts/ada-2.yaml",
        "name: Ada Lovelace\nemails: [ADA@example.com]\ncreated: 2025-06-01T00:00:00Z\n",
    )
    assert groups(crm, "contacts") == [
        {
            "type": "contact",
            "score": 100,
            "ids": ["ada-2", "ada"],  # oldest first: the one to keep
            "records": [
                {"id": "ada-2", "title": "Ada Lovelace"},
                {"id": "ada", "title": "Ada Lovelace"},
            ],
            "reasons": [
                {
                    "reason": "email",
                    "value": "ada@example.com",
                    "score": 100,
                    "ids": ["ada-2", "ada"],
                },
                {"reason": "name", "value": "ada lovelace", "score": 100, "ids": ["ada-2", "ada"]},
            ],
            "merge": "crm merge contact ada-2 ada",
        }
    ]


def test_table_tsv_and_ids(crm, folder):
    write(folder, "contacts/ada.yaml", "name: Ada Lovelace\nemails: [ada@example.com]\n")
    write(folder, "contacts/ada-2.yaml", "name: Countess\nemails: [ada@example.com]\n")
    table = crm("dedupe", "contacts", "--format", "table")
    assert table.ok
    assert table.stdout.splitlines()[0].split() == ["score", "ids", "names", "reasons"]
    assert "ada, ada-2" in table.stdout and "email ada@example.com" in table.stdout
    tsv = crm("dedupe", "contacts")  # not a terminal: tsv
    assert tsv.stdout == "100\tada, ada-2\tAda Lovelace, Countess\temail ada@example.com\n"
    ids = crm("dedupe", "contacts", "-f", "ids")
    assert ids.stdout == "ada ada-2\n"


def test_no_duplicates_prints_nothing_and_exits_0(crm, folder):
    write(folder, "contacts/ada.yaml", "name: Ada Lovelace\nemails: [ada@example.com]\n")
    write(folder, "contacts/grace.yaml", "name: Grace Hopper\nemails: [grace@example.com]\n")
    for fmt in ("table", "tsv", "csv", "ids"):
        result = crm("dedupe", "contacts", "--format", fmt)
        assert (result.exit_code, result.stdout, result.stderr) == (0, "", ""), fmt
    assert crm("dedupe", "contacts", "-f", "json").stdout == "[]\n"
    assert crm("dedupe", "leads", "-f", "json").stdout == "[]\n"  # no leads at all


def test_finding_duplicates_also_exits_0(crm, folder):
    write(folder, "contacts/jon-smith.yaml", "name: Jon Smith\n")
    write(folder, "contacts/john-smith.yaml", "name: John Smith\n")
    result = crm("dedupe", "contacts")
    assert result.exit_code == 0 and result.stdout


@pytest.mark.parametrize("kind", ["deals", "products", "nonsense"])
def test_other_types_are_a_usage_error(crm, folder, kind):
    result = crm("dedupe", kind)
    assert result.exit_code == 2
    assert "contacts, companies or leads" in result.stderr
    no_traceback(result)


def test_a_broken_file_is_skipped_with_a_warning(crm, folder):
    write(folder, "contacts/broken.yaml", "name: [unclosed\n")
    write(folder, "contacts/ada.yaml", "name: Ada\nemails: [a@example.com]\n")
    write(folder, "contacts/ada-2.yaml", "name: Ada L\nemails: [a@example.com]\n")
    result = crm("dedupe", "contacts", "-f", "ids")
    assert result.ok
    assert result.stdout == "ada ada-2\n"
    assert "skipped contacts/broken.yaml" in result.stderr


def test_thousands_of_contacts(crm, folder):
    """5,000 contacts (800 names, each several times) with planted duplicates: all found."""
    first = ["Anna", "Ben", "Clara", "David", "Eva", "Felix", "Greta", "Hans", "Ida", "Jonas"]
    last = [
        f"{a}{b}"
        for a in ("Bau", "Kra", "Lin", "Mos", "Pet", "Rei", "Sto", "Wal")
        for b in ("mann", "berg", "hofer", "ström", "litz", "ner", "wald", "stein", "dorf", "bach")
    ]
    contacts = folder / "contacts"
    for i in range(5000):
        phones = f"phones: ['+1 202 555 {i:04d}']\n" if i % 10 == 0 else ""
        (contacts / f"c{i}.yaml").write_text(
            f"name: {first[i % 10]} {last[(i // 10) % 80]}\nemails: [p{i}@example.com]\n{phones}",
            encoding="utf-8",
        )
    write(folder, "contacts/dup-email.yaml", "name: Somebody\nemails: [P4321@Example.com]\n")
    write(folder, "contacts/dup-phone.yaml", "name: Nobody\nphones: ['+1 (202) 555-1230']\n")
    write(folder, "contacts/dup-name.yaml", "name: Jonas Bauman\n")  # c9 is Jonas Baumann
    found = groups(crm, "contacts")
    group_of = {rid: g for g in found for rid in g["ids"]}
    keys = [(r["reason"], r["value"], r["ids"]) for g in found for r in g["reasons"]]
    assert [k for k in keys if k[0] != "name"] == [
        ("email", "p4321@example.com", ["c4321", "dup-email"]),
        ("phone", "+12025551230", ["c1230", "dup-phone"]),
    ]
    assert "c9" in group_of["dup-name"]["ids"]
    assert any(
        r["value"] == "bauman jonas ~ baumann jonas" and r["score"] >= 85
        for r in group_of["dup-name"]["reasons"]
    )
    assert len(group_of["c0"]["ids"]) >= 6  # Anna Baumann, 7 times


# -- the functions `add` and imports call ---------------------------------------------------------


def _rec(rtype, rid: str, **data) -> Record:
    return Record(type=rtype, id=rid, data=data, path=f"{rtype.plural}/{rid}.yaml")


def test_lookalikes_of_a_new_record():
    existing = [
        _rec(CONTACT, "ada", name="Ada Lovelace", emails=["ada@example.com"]),
        _rec(CONTACT, "max", name="Max Mustermann", phones=["+49 30 1234567"]),
        _rec(CONTACT, "jon", name="Jon Smith"),
        _rec(CONTACT, "grace", name="Grace Hopper"),
    ]
    assert lookalikes("contact", {"name": "X", "emails": ["ADA@example.com"]}, existing, None) == [
        (existing[0], "same email ada@example.com", 100)
    ]
    found = lookalikes("contact", {"name": "M. M.", "phones": ["030 1234567"]}, existing, "DE")
    assert found == [(existing[1], "same phone +49301234567", 90)]
    assert lookalikes("contact", {"name": "John Smith"}, existing, None) == [
        (existing[2], "similar name", 94)
    ]
    assert lookalikes("contact", {"name": "John Smith"}, existing, None, threshold=95) == []
    assert lookalikes("contact", {"name": "grace  HOPPER"}, existing, None) == [
        (existing[3], "same name", 100)
    ]
    assert lookalikes("contact", {"name": "Nobody Known"}, existing, None) == []
    assert lookalikes("contact", {"name": "Ada"}, [], None) == []


def test_lookalikes_of_a_company_best_reason_first():
    existing = [
        _rec(COMPANY, "acme", name="Acme", domain="acme.example"),
        _rec(COMPANY, "other", name="Other", website="https://acme.example"),
    ]
    found = lookalikes("company", {"name": "ACME GmbH", "domain": "acme.example"}, existing, None)
    assert found == [(existing[0], "same name", 100), (existing[1], "same domain acme.example", 80)]


def test_name_score():
    assert name_score("jon smith", "john smith", 85) == 94
    assert name_score("jon smith", "john smith", 95) is None
    assert name_score("acme", "acme", 85) == 100
    assert name_score("", "acme", 0) is None
    assert name_score("ab", "abcdefghij", 50) is None  # lengths alone rule it out


def test_groups_are_connected_records():
    records = [
        _rec(CONTACT, "a", name="Ann Lee", emails=["ann@example.com"]),
        _rec(CONTACT, "b", name="Someone", emails=["ann@example.com"], phones=["+1 202 555 0100"]),
        _rec(CONTACT, "c", name="Other", phones=["+1 (202) 555-0100"]),
        _rec(CONTACT, "d", name="Unrelated"),
    ]
    (group,) = find_groups("contact", records, None)
    assert group.ids == ["a", "b", "c"]
    assert group.score == 100
    assert [r.kind for r in group.reasons] == ["email", "phone"]


def test_add_and_import_warn_when_a_new_record_looks_like_one_we_have(folder, crm, tmp_path):
    assert crm("contact", "add", "Jonathan Smith", "--phone", "+1 415 555 0100").ok
    added = crm("contact", "add", "Jonathon Smith")
    assert added.ok
    assert "jonathon-smith looks like contact jonathan-smith (similar name)" in added.stderr
    assert "crm merge contact jonathan-smith jonathon-smith" in added.stderr
    source = tmp_path / "p.csv"
    source.write_text("name,email,phone\nJ. Smith,js@example.com,+1 (415) 555-0100\n")
    imported = crm("import", "csv", str(source), "--type", "contacts")
    assert imported.ok, imported.stderr
    assert "1 contact (1 created)" in imported.stderr
    assert "looks like contact jonathan-smith (same phone +14155550100)" in imported.stderr
    quiet = crm("contact", "add", "Grace Hopper")
    assert quiet.ok and quiet.stderr == ""
