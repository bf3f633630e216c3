"""Import and export through the real CLI: the cases a review of them found wrong."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import load, no_traceback

DATA = Path(__file__).parent / "data" / "vcard"


def _contacts(crm, *where: str) -> dict[str, dict]:
    result = crm(*where, "contact", "list", "-f", "json")
    assert result.ok, result.stderr
    return {c["id"]: c for c in json.loads(result.stdout)}


def _companies(crm, *where: str) -> dict[str, dict]:
    result = crm(*where, "company", "list", "-f", "json")
    assert result.ok, result.stderr
    return {c["id"]: c for c in json.loads(result.stdout)}


def _two_folders(crm, tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "a", tmp_path / "b"
    for path in (a, b):
        assert crm("--dir", str(path), "init", "--no-git").ok
    return a, b


def _card(path: Path, *lines: str) -> Path:
    path.write_text("\r\n".join(["BEGIN:VCARD", "VERSION:3.0", *lines, "END:VCARD", ""]))
    return path


# -- vCard: whose card is it -------------------------------------------------------------------


def test_another_folders_export_does_not_update_a_namesake_with_the_same_id(tmp_path: Path, crm):
    a, b = _two_folders(crm, tmp_path)
    add = ("contact", "add", "John Smith", "-e")
    assert crm("--dir", str(a), *add, "john.a@alpha.example", "--title", "Alpha guy").ok
    assert crm("--dir", str(b), *add, "john.b@beta.example", "--title", "Beta guy").ok
    card = tmp_path / "a.vcf"
    assert crm("--dir", str(a), "export", "vcard", "--out", str(card)).ok

    result = crm("--dir", str(b), "import", "vcard", str(card))

    assert result.ok, result.stderr
    assert "matched by external id" not in result.stderr
    contacts = _contacts(crm, "--dir", str(b))
    assert contacts["john-smith"]["title"] == "Beta guy"
    assert contacts["john-smith"]["emails"] == ["john.b@beta.example"]
    assert contacts["john-smith-2"]["emails"] == ["john.a@alpha.example"]
    # the export of B gives each its own UID, and importing it again changes nothing
    again = tmp_path / "b.vcf"
    assert crm("--dir", str(b), "export", "vcard", "--out", str(again)).ok
    uids = [line for line in again.read_text().splitlines() if line.startswith("UID:")]
    assert len(set(uids)) == 2
    result = crm("--dir", str(b), "import", "vcard", str(again))
    assert result.ok and "created" not in result.stderr and "updated" not in result.stderr


def test_made_uids_differ_between_folders_and_stay_the_same_in_one(tmp_path: Path, crm):
    a, b = tmp_path / "a", tmp_path / "b"
    uids = []
    for path, now in ((a, "2024-01-01T10:00:00Z"), (b, "2024-02-01T10:00:00Z")):
        env = {"CRM_NOW": now}
        assert crm("--dir", str(path), "init", "--no-git", env=env).ok
        assert crm("--dir", str(path), "contact", "add", "John Smith", env=env).ok
        first = crm("--dir", str(path), "export", "vcard")
        second = crm("--dir", str(path), "export", "vcard")
        (uid,) = [line for line in first.stdout.splitlines() if line.startswith("UID:")]
        assert uid in second.stdout
        uids.append(uid)
    assert uids[0] != uids[1]


def test_a_card_exported_before_uids_were_made_per_folder_still_updates_its_contact(
    folder: Path, crm, tmp_path: Path
):
    import uuid

    assert crm("contact", "add", "Ann Old", "-e", "ann@old.example").ok
    old = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'crm:contact:ann-old')}"
    card = _card(tmp_path / "old.vcf", f"UID:{old}", "FN:Ann Old", "TITLE:Boss")
    result = crm("import", "vcard", str(card), "-f", "json")
    assert result.ok, result.stderr
    assert json.loads(result.stdout)[0]["reason"] == "matched by external id"
    assert _contacts(crm)["ann-old"]["title"] == "Boss"


# -- vCard: kept lines ---------------------------------------------------------------------------


def test_another_card_for_a_contact_adds_to_its_kept_lines_and_removes_none(
    folder: Path, crm, tmp_path: Path
):
    assert crm("import", "vcard", str(DATA / "John_Doe_IPHONE.vcf")).ok
    (rid,) = _contacts(crm)
    before = load(folder / "contacts" / f"{rid}.yaml")["vcard"]
    assert before
    plain = _card(tmp_path / "plain.vcf", "FN:John Doe", "EMAIL:john.doe@ibm.com", "NICKNAME:JD")

    result = crm("import", "vcard", str(plain))

    assert result.ok, result.stderr
    after = load(folder / "contacts" / f"{rid}.yaml")["vcard"]
    assert after == [*before, "NICKNAME:JD"]


def test_the_same_card_again_replaces_its_own_kept_lines(folder: Path, crm, tmp_path: Path):
    card = _card(tmp_path / "a.vcf", "UID:abc-1", "FN:Kim Lee", "NICKNAME:Kimmy", "X-A:1")
    assert crm("import", "vcard", str(card)).ok
    _card(tmp_path / "a.vcf", "UID:abc-1", "FN:Kim Lee", "X-A:1")
    assert crm("import", "vcard", str(card)).ok
    assert load(folder / "contacts" / "kim-lee.yaml")["vcard"] == ["X-A:1"]


# -- vCard: matching by email --------------------------------------------------------------------


def test_a_card_with_another_uid_and_a_known_email_updates_that_contact(
    folder: Path, crm, tmp_path: Path
):
    phone = _card(tmp_path / "p.vcf", "UID:phone-1", "FN:Sam Same", "EMAIL:sam@example.com")
    google = _card(
        tmp_path / "g.vcf", "UID:google-abc", "FN:Sam Same", "EMAIL:sam@example.com", "TITLE:CEO"
    )
    assert crm("import", "vcard", str(phone)).ok

    result = crm("import", "vcard", str(google))

    assert result.ok, result.stderr
    assert "matched by email" in result.stderr or "updated" in result.stderr
    contacts = _contacts(crm)
    assert list(contacts) == ["sam-same"]
    assert contacts["sam-same"]["title"] == "CEO"
    data = load(folder / "contacts" / "sam-same.yaml")
    assert data["external_ids"] == {"vcard": "phone-1"}  # kept: no flip-flop
    for card in (phone, google):
        again = crm("import", "vcard", str(card))
        assert again.ok and "created" not in again.stderr, again.stderr
    assert load(folder / "contacts" / "sam-same.yaml")["external_ids"] == {"vcard": "phone-1"}


# -- CSV -------------------------------------------------------------------------------------------


def test_a_row_whose_email_is_not_valid_is_matched_by_name_when_imported_again(
    folder: Path, crm, tmp_path: Path
):
    source = tmp_path / "ri.csv"
    source.write_text("name,phone,email\nIvy Invalid,,ivy@localhost\n")
    first = crm("import", "csv", str(source), "-t", "contacts")
    assert first.ok, first.stderr
    assert "ri.csv:2: emails: 'ivy@localhost' is not a valid email address" in first.stderr

    again = crm("import", "csv", str(source), "-t", "contacts")

    assert again.ok, again.stderr
    assert list(_contacts(crm)) == ["ivy-invalid"]
    assert "created" not in again.stderr


def test_a_quote_never_closed_is_an_error_naming_its_line_and_nothing_is_written(
    folder: Path, crm, tmp_path: Path
):
    source = tmp_path / "q.csv"
    source.write_text('name,email,notes\nA,a@example.com,"unclosed\nB,b@example.com,x\n')

    result = crm("import", "csv", str(source), "-t", "contacts")

    no_traceback(result)
    assert result.exit_code == 4
    assert f"{source}:2: a quote in this row is never closed" in result.stderr
    assert _contacts(crm) == {}


def test_a_quoted_cell_over_several_lines_still_imports(folder: Path, crm, tmp_path: Path):
    source = tmp_path / "m.csv"
    source.write_text('name,email,notes\nA,a@example.com,"two\nlines"\nB,b@example.com,x\n')
    result = crm("import", "csv", str(source), "-t", "contacts")
    assert result.ok, result.stderr
    contacts = _contacts(crm)
    assert sorted(contacts) == ["a", "b"]
    assert load(folder / "contacts" / "a.yaml")["notes"] == "two\nlines"


def test_a_deal_whose_contact_is_unknown_is_imported_without_the_link(
    folder: Path, crm, tmp_path: Path
):
    source = tmp_path / "f.csv"
    source.write_text("title,value,contact,company\nDeal X,100,Nobody Known,NewCo\n")

    result = crm("import", "csv", str(source), "-t", "deals")

    assert result.ok, result.stderr
    assert f"{source}:2: contact: no contact matches 'Nobody Known'; left out" in result.stderr
    deal = load(folder / "deals" / "deal-x.yaml")
    assert deal["company"] == "newco" and "contact" not in deal
    assert crm("check").ok


def test_import_json_refuses_a_config_the_folder_could_not_be_read_with(
    folder: Path, crm, tmp_path: Path
):
    before = (folder / "crm.yaml").read_bytes()
    for config in ("version: [broken", "version: 1\ncurrency: 12\n"):
        doc = {"format": "crm-export", "version": 1, "config": config, "records": {}}
        source = tmp_path / "bad.json"
        source.write_text(json.dumps(doc))

        result = crm("import", "json", str(source), "--config")

        no_traceback(result)
        assert result.exit_code == 4, result.stderr
        assert result.stderr.startswith(f"Error: {source}: config: its crm.yaml:")
        assert len(result.stderr.strip().splitlines()) == 1
        assert (folder / "crm.yaml").read_bytes() == before
        assert crm("contact", "list").ok


# -- vCard: companies --------------------------------------------------------------------------


def test_an_organisation_is_found_by_the_domain_of_a_work_email(folder: Path, crm, tmp_path):
    assert crm("company", "add", "IBM", "--domain", "ibm.com").ok
    cards = tmp_path / "ibm.vcf"
    cards.write_text(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Jane Doe\r\nORG:International Business Machines Corp."
        "\r\nEMAIL;TYPE=WORK:jane@ibm.com\r\nEND:VCARD\r\n"
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Jim Doe\r\nEMAIL:jim@ibm.com\r\nEND:VCARD\r\n"
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Gil Free\r\nEMAIL:gil@gmail.com\r\nEND:VCARD\r\n"
    )

    result = crm("import", "vcard", str(cards))

    assert result.ok, result.stderr
    assert list(_companies(crm)) == ["ibm"]
    contacts = _contacts(crm)
    assert contacts["jane-doe"]["company"] == "ibm"
    assert not contacts["jim-doe"].get("company")  # an address alone: no employer
    assert not contacts["gil-free"].get("company")


def test_a_companys_domain_survives_a_vcard_round_trip(tmp_path: Path, crm):
    a, b = _two_folders(crm, tmp_path)
    add = ("--dir", str(a), "company", "add")
    assert crm(*add, "IBM", "--domain", "ibm.com").ok
    assert crm(
        *add, "Acme", "--domain", "acme.example", "--website", "https://shop.example/a;b,c"
    ).ok
    assert crm(*add, "Plain", "--website", "https://plain.example").ok
    cards = tmp_path / "c.vcf"
    assert crm("--dir", str(a), "export", "vcard", "--type", "companies", "--out", str(cards)).ok
    text = cards.read_bytes().decode()
    assert "URL:https://ibm.com\r\n" in text
    assert "URL:https://shop.example/a;b,c\r\n" in text  # a URI: not escaped as text

    result = crm("--dir", str(b), "import", "vcard", str(cards))

    assert result.ok, result.stderr
    got = {
        rid: {k: v for k, v in c.items() if k in ("name", "domain", "website") and v}
        for rid, c in _companies(crm, "--dir", str(b)).items()
    }
    assert got["ibm"] == {"name": "IBM", "domain": "ibm.com"}
    assert got["acme"] == {
        "name": "Acme",
        "domain": "acme.example",
        "website": "https://shop.example/a;b,c",
    }
    assert got["plain"] == {
        "name": "Plain",
        "domain": "plain.example",
        "website": "https://plain.example",
    }


def test_group_cards_are_skipped_with_a_reason(folder: Path, crm, tmp_path: Path):
    cards = tmp_path / "groups.vcf"
    cards.write_text(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Friends\r\nN:Friends;;;;\r\n"
        "X-ADDRESSBOOKSERVER-KIND:group\r\nX-ADDRESSBOOKSERVER-MEMBER:urn:uuid:1\r\nEND:VCARD\r\n"
        "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Family\r\nKIND:group\r\nMEMBER:urn:uuid:2\r\n"
        "END:VCARD\r\n"
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Real Person\r\nEND:VCARD\r\n"
    )

    result = crm("import", "vcard", str(cards))

    assert result.exit_code == 1
    assert f"{cards}:1: skipped: a group card" in result.stderr
    assert f"{cards}:8: skipped: a group card" in result.stderr
    assert list(_contacts(crm)) == ["real-person"]


def test_a_one_column_file_imports_and_a_row_longer_than_the_header_is_named(
    folder: Path, crm, tmp_path: Path
):
    source = tmp_path / "one.csv"
    source.write_text("name\nSolo One\nSolo, Two\n")

    result = crm("import", "csv", str(source), "-t", "contacts")

    assert result.ok, result.stderr
    assert f"{source}:3: more cells than the header has names" in result.stderr
    assert sorted(c["name"] for c in _contacts(crm).values()) == ["Solo", "Solo One"]


def test_two_rows_about_one_record_are_named(folder: Path, crm, tmp_path: Path):
    source = tmp_path / "two.csv"
    source.write_text(
        "name,email,title\nAnn A,ann@example.com,One\nBob,bob@example.com,x\n"
        "Ann B,ann@example.com,Two\n"
    )

    result = crm("import", "csv", str(source), "-t", "contacts")

    assert result.ok, result.stderr
    assert f"{source}:4: rows 2 and 4 both match contact ann-a; the later one's" in result.stderr
    assert _contacts(crm)["ann-a"]["title"] == "Two"


def test_crms_own_csv_export_imports_elsewhere_with_the_same_links(tmp_path: Path, crm):
    a, b = _two_folders(crm, tmp_path)
    assert crm("--dir", str(a), "company", "add", "Acme Corp").ok
    add = ("--dir", str(a), "contact", "add")
    assert crm(*add, "Ann Acme", "-e", "ann@acme.example", "--company", "acme-corp").ok
    assert crm(*add, "Bob Solo", "-e", "bob@example.com").ok
    source = tmp_path / "c.csv"
    assert crm("--dir", str(a), "export", "csv", "contacts", "--out", str(source)).ok
    assert "company,company_name" in source.read_text().splitlines()[0]

    result = crm("--dir", str(b), "import", "csv", str(source), "-t", "contacts")

    assert result.ok, result.stderr
    assert {c["name"] for c in _companies(crm, "--dir", str(b)).values()} == {"Acme Corp"}
    got = {
        c["name"]: (c["emails"], c.get("company")) for c in _contacts(crm, "--dir", str(b)).values()
    }
    assert got == {
        "Ann Acme": (["ann@acme.example"], "acme-corp"),
        "Bob Solo": (["bob@example.com"], None),
    }
    # and into the folder it came from: nothing changes, the links stay
    again = crm("--dir", str(a), "import", "csv", str(source), "-t", "contacts")
    assert again.ok and "Imported 2 contacts (2 unchanged)" in again.stderr
