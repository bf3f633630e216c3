"""crm import csv / crm export csv through the real CLI."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from helpers import load, no_traceback

HOSTILE = ["=SUM(A1:A9)", "+49 30 1234", "-2+3", "@cmd", "\t=1", "\r=1", '=HYPERLINK("x")']


def test_export_csv_neutralises_formulas(folder: Path, crm):
    assert crm("company", "add", '=HYPERLINK("http://evil.example","click")').ok
    assert crm("contact", "add", "@SUM(1+1)", "--notes", "=cmd|' /C calc'!A0").ok
    assert crm("deal", "add", "--value", "1500", "--", "-2+3 website").ok
    for rtype in ("companies", "contacts", "deals"):
        result = crm("export", "csv", rtype)
        assert result.ok, result.stderr
        rows = list(csv.reader(io.StringIO(result.stdout)))
        for row in rows[1:]:
            for cell in row:
                assert not cell or cell[0] not in "=+@\t\r" or cell.startswith("'"), (rtype, cell)
                if cell.startswith("-"):
                    float(cell)  # only plain numbers may start with a minus
    contacts = list(csv.DictReader(io.StringIO(crm("export", "csv", "contacts").stdout)))
    assert contacts[0]["name"] == "'@SUM(1+1)"
    assert contacts[0]["notes"] == "'=cmd|' /C calc'!A0"


def test_export_csv_fields_where_excel_and_out(example: Path, crm, tmp_path: Path):
    out = tmp_path / "deals.csv"
    result = crm(
        "export",
        "csv",
        "deals",
        "--where",
        "stage=won",
        "--fields",
        "id,title,value,currency",
        "--excel",
        "--out",
        str(out),
    )
    assert result.ok, result.stderr
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows and set(rows[0]) == {"id", "title", "value", "currency"}
    won = json.loads(crm("deal", "list", "--where", "stage=won", "-f", "json").stdout)
    assert sorted(r["id"] for r in rows) == sorted(d["id"] for d in won)
    contacts = crm("export", "csv", "contacts")
    header = next(csv.reader(io.StringIO(contacts.stdout)))
    assert {"address.city", "custom.linkedin", "birthday"} <= set(header)


def test_export_csv_unknown_type(folder: Path, crm):
    result = crm("export", "csv", "widgets")
    no_traceback(result)
    assert result.exit_code == 2 and "no record type 'widgets'" in result.stderr


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_import_csv_plain_columns_and_reimport_updates(folder: Path, crm, tmp_path: Path):
    source = _write(
        tmp_path / "people.csv",
        "name,email,phone,company,title,city,notes\n"
        'Ada Lovelace,ada@acme.example,+44 20 7946 0000,Acme Corp,CTO,London,"Met at\nthe fair"\n'
        "Grace Hopper,grace@navy.example,,Navy,Admiral,,\n",
    )
    first = crm("import", "csv", str(source), "--type", "contacts")
    assert first.ok, first.stderr
    assert "Imported 2 contacts (2 created), 2 companies (2 created)" in first.stderr
    ada = load(folder / "contacts" / "ada-lovelace.yaml")
    assert ada["emails"] == ["ada@acme.example"] and ada["company"] == "acme-corp"
    assert ada["address"] == {"city": "London"} and ada["notes"] == "Met at\nthe fair"
    assert load(folder / "companies" / "acme-corp.yaml")["name"] == "Acme Corp"

    again = crm("import", "csv", str(source), "--type", "contacts")
    assert again.ok and "2 contacts (2 unchanged)" in again.stderr, again.stderr
    _write(
        source,
        source.read_text().replace("CTO", "CEO").replace("+44 20 7946 0000", "+44 20 7946 0001"),
    )
    third = crm("import", "csv", str(source), "--type", "contacts", "--dry-run", "-f", "json")
    assert third.ok, third.stderr
    rows = json.loads(third.stdout)
    assert rows[0]["action"] == "updated" and rows[0]["reason"] == "matched by email"
    assert load(folder / "contacts" / "ada-lovelace.yaml")["title"] == "CTO"  # dry run
    assert crm("import", "csv", str(source), "--type", "contacts").ok
    ada = load(folder / "contacts" / "ada-lovelace.yaml")
    assert ada["title"] == "CEO" and ada["phones"] == ["+44 20 7946 0000", "+44 20 7946 0001"]
    assert len(list((folder / "contacts").glob("*.yaml"))) == 2
    assert crm("check").ok


def test_import_csv_bad_values_are_left_out_with_file_and_line(folder: Path, crm, tmp_path):
    source = _write(
        tmp_path / "p.csv",
        "name,email,phone\nAda,not-an-email,+44 20 7946 0000\n,,+44 20 7946 9999\nBob,bob@example.com,call me\n",
    )
    result = crm("import", "csv", str(source), "--type", "contacts")
    no_traceback(result)
    assert result.exit_code == 1  # one row skipped
    assert f"{source}:2: emails: " in result.stderr
    assert f"{source}:3: skipped: no name" in result.stderr
    assert f"{source}:4: phones: " in result.stderr
    assert load(folder / "contacts" / "ada.yaml")["phones"] == ["+44 20 7946 0000"]
    assert "phones" not in load(folder / "contacts" / "bob.yaml")


def test_import_csv_unknown_columns_listed_or_kept(folder: Path, crm, tmp_path):
    source = _write(tmp_path / "p.csv", "name,Shoe Size,email\nAda,38,ada@example.com\n")
    listed = crm("import", "csv", str(source), "--type", "contacts", "--dry-run")
    assert "columns not imported: Shoe Size" in listed.stderr
    kept = crm("import", "csv", str(source), "--type", "contacts", "--unknown", "custom")
    assert kept.ok, kept.stderr
    assert load(folder / "contacts" / "ada.yaml")["custom"] == {"shoe_size": "38"}
    mapped = _write(tmp_path / "q.csv", "Full,Mail\nBob,bob@example.com\n")
    result = crm(
        "import", "csv", str(mapped), "-t", "contacts", "--map", "Full=name", "--map", "Mail=email"
    )
    assert result.ok, result.stderr
    assert load(folder / "contacts" / "bob.yaml")["emails"] == ["bob@example.com"]
    bad = crm("import", "csv", str(mapped), "-t", "contacts", "--map", "Nope=name")
    no_traceback(bad)
    assert bad.exit_code == 2


def test_import_csv_deals_link_companies_and_contacts(folder: Path, crm, tmp_path):
    assert crm("contact", "add", "Ada Lovelace", "--email", "ada@acme.example").ok
    source = _write(
        tmp_path / "deals.csv",
        "title,value,currency,stage,close_date,company,contact\n"
        "Website,4500.00,EUR,proposal,2026-12-15,Acme Corp,ada@acme.example\n",
    )
    result = crm("import", "csv", str(source), "--type", "deals")
    assert result.ok, result.stderr
    deal = load(folder / "deals" / "website.yaml")
    assert deal["company"] == "acme-corp" and deal["contact"] == "ada-lovelace"
    assert deal["value"] == "4500.00" and deal["stage"] == "proposal"
    assert "1 deal (1 unchanged)" in crm("import", "csv", str(source), "--type", "deals").stderr
    assert crm("check").ok


def test_import_csv_preset_keeps_external_ids(folder: Path, crm, tmp_path):
    source = _write(
        tmp_path / "hubspot.csv",
        "Record ID,First Name,Last Name,Email,Phone Number,Company Name\n"
        "512,Ada,Lovelace,ada@acme.example,+44 20 7946 0000,Acme\n",
    )
    result = crm("import", "csv", str(source), "--type", "contacts", "--preset", "hubspot")
    assert result.ok, result.stderr
    ada = load(folder / "contacts" / "ada-lovelace.yaml")
    assert ada["external_ids"] == {"hubspot": "512"}
    _write(source, source.read_text().replace("ada@acme.example", "ada@new.example"))
    again = crm("import", "csv", str(source), "--type", "contacts", "--preset", "hubspot")
    assert again.ok and "1 contact (1 updated)" in again.stderr, again.stderr
    assert load(folder / "contacts" / "ada-lovelace.yaml")["emails"] == [
        "ada@acme.example",
        "ada@new.example",
    ]


def test_namesakes_and_same_named_companies_stay_apart(folder: Path, crm, tmp_path):
    people = _write(
        tmp_path / "people.csv",
        "name,phone,city\nJohn Smith,+1 415 555 0100,San Francisco\n"
        "John Smith,+1 212 555 0100,New York\nJohn Smith,+1 (415) 555-0100,SF\n",
    )
    result = crm("import", "csv", str(people), "--type", "contacts")
    assert result.ok, result.stderr
    assert "3 contacts (2 created, 1 updated)" in result.stderr
    cities = sorted(load(p)["address"]["city"] for p in (folder / "contacts").glob("*.yaml"))
    assert cities == ["New York", "SF"]  # the third row is the first John Smith again
    companies = _write(
        tmp_path / "companies.csv",
        "name,domain,city\nAcme,acme.example,Berlin\nAcme Inc.,acme-usa.example,Boston\n",
    )
    result = crm("import", "csv", str(companies), "--type", "companies")
    assert result.ok and "2 companies (2 created)" in result.stderr, result.stderr


def test_other_crms_stages_and_exported_ids_come_back(folder: Path, crm, tmp_path):
    deals = _write(
        tmp_path / "opps.csv",
        "Opportunity Name,Amount,Stage,Account Name\nBig,1000,Closed Won,Acme\n"
        "Lost one,200,Closed Lost,Acme\nOdd,300,Value Proposition,Acme\n",
    )
    result = crm("import", "csv", str(deals), "--type", "deals", "--preset", "salesforce")
    assert result.ok, result.stderr
    assert load(folder / "deals" / "big.yaml")["stage"] == "won"
    assert load(folder / "deals" / "lost-one.yaml")["stage"] == "lost"
    assert "stage: 'Value Proposition' is no stage of sales; left out" in result.stderr
    assert crm("contact", "add", "Ada", "--email", "ada@acme.example", "--company", "acme").ok
    exported = tmp_path / "contacts.csv"
    assert crm("export", "csv", "contacts", "--out", str(exported)).ok
    target = tmp_path / "t"
    assert crm("--dir", str(target), "init", "--no-git").ok
    assert crm("--dir", str(target), "company", "add", "Acme", "--id", "acme").ok
    result = crm("--dir", str(target), "import", "csv", str(exported), "--type", "contacts")
    assert result.ok, result.stderr
    assert load(target / "contacts" / "ada.yaml")["company"] == "acme"
    only_email = _write(tmp_path / "e.csv", "email\ngrace@navy.example\n")
    assert crm("import", "csv", str(only_email), "--type", "contacts").ok
    assert load(folder / "contacts" / "grace-navy-example.yaml")["name"] == "grace@navy.example"


def test_reimport_keeps_notes_typed_by_hand_and_dry_run_can_show_the_diff(folder, crm, tmp_path):
    source = _write(
        tmp_path / "p.csv", "name,email,title,notes\nAda,ada@x.example,CTO,From the fair\n"
    )
    assert crm("import", "csv", str(source), "--type", "contacts").ok
    assert crm("contact", "set", "ada", "notes=Prefers Signal. Invoice via Lisa.").ok
    _write(source, source.read_text().replace("CTO", "CEO"))
    diff = crm("import", "csv", str(source), "--type", "contacts", "--dry-run", "--diff")
    assert diff.ok, diff.stderr
    assert "-title: CTO" in diff.stdout and "+title: CEO" in diff.stdout
    assert "notes: yours are kept; the file's differ" in diff.stderr
    assert crm("import", "csv", str(source), "--type", "contacts").ok
    ada = load(folder / "contacts" / "ada.yaml")
    assert ada["title"] == "CEO" and ada["notes"] == "Prefers Signal. Invoice via Lisa."


def test_export_csv_refuses_unknown_fields(example: Path, crm):
    result = crm("export", "csv", "contacts", "--fields", "id,nosuch")
    no_traceback(result)
    assert result.exit_code == 2 and "contact has no field 'nosuch'" in result.stderr


def test_import_csv_warns_of_stray_bytes_in_a_utf8_file(folder: Path, crm, tmp_path: Path):
    source = tmp_path / "mixed.csv"
    source.write_bytes("name,city\nRenée,Zürich\n".encode() + "Noël,Köln\n".encode("cp1252"))
    result = crm("import", "csv", str(source), "--type", "contacts")
    assert result.ok, result.stderr
    assert f"{source}:3: bytes that are not UTF-8" in result.stderr
    assert load(folder / "contacts" / "renee.yaml")["name"] == "Renée"
    assert load(folder / "contacts" / "noel.yaml")["name"] == "Noël"


def test_import_csv_outlook_birthdays(folder: Path, crm, tmp_path):
    english = _write(
        tmp_path / "outlook.csv",
        "First Name,Last Name,E-mail Address,Birthday\n"
        "Ada,Lovelace,ada@example.com,1/20/1991\n"
        "Grace,Hopper,grace@example.com,0/0/00\n"
        "Alan,Turing,alan@example.com,20/01/1991\n"
        "Kurt,Goedel,kurt@example.com,31/31/1991\n",
    )
    result = crm("import", "csv", str(english), "--type", "contacts", "--preset", "outlook")
    assert result.ok, result.stderr
    assert str(load(folder / "contacts" / "ada-lovelace.yaml")["birthday"]) == "1991-01-20"
    assert "birthday" not in load(folder / "contacts" / "grace-hopper.yaml")  # no birthday
    assert str(load(folder / "contacts" / "alan-turing.yaml")["birthday"]) == "1991-01-20"
    assert "birthday" not in load(folder / "contacts" / "kurt-goedel.yaml")
    assert f"{english}:3: birthday" not in result.stderr
    assert (
        f"{english}:5: birthday: '31/31/1991' is no date read month/day/year, as files with "
        "English headers write it; left out"
    ) in result.stderr
    german = _write(
        tmp_path / "kontakte.csv",
        "Vorname;Nachname;E-Mail-Adresse;Geburtstag\n"
        "Jürgen;Müller;juergen@example.de;03.04.1970\n"
        "Erika;Muster;erika@example.de;00.00.0000\n",
        "cp1252",
    )
    result = crm("import", "csv", str(german), "--type", "contacts", "--preset", "outlook")
    assert result.ok, result.stderr
    assert str(load(folder / "contacts" / "jurgen-muller.yaml")["birthday"]) == "1970-04-03"
    assert "birthday" not in load(folder / "contacts" / "erika-muster.yaml")
    assert "Erika" not in result.stderr and "warning" not in result.stderr.lower()
    assert crm("check").ok


def test_import_csv_deal_amounts_and_their_currency(folder: Path, crm, tmp_path):
    source = _write(
        tmp_path / "deals.csv",
        "Title,Amount\n"
        'One,"12,500.50"\n'
        'Two,"1 000,00 €"\n'
        'Three,"$1,200"\n'
        "Four,USD 1200\n"
        "Five,1.234\n",
    )
    result = crm("import", "csv", str(source), "--type", "deals")
    assert result.ok, result.stderr
    deals = {d["title"]: d for d in json.loads(crm("deal", "list", "-f", "json").stdout)}
    got = {t: (d["value"], d["currency"]) for t, d in deals.items()}
    assert got["One"] == ("12500.50", "EUR")  # the folder's currency
    assert got["Two"] == ("1000.00", "EUR")
    assert got["Three"] == ("1200.00", "USD") and got["Four"] == ("1200.00", "USD")
    assert load(folder / "deals" / "three.yaml")["value"] == "1200.00"  # text: Decimal, not float
    assert "value" not in load(folder / "deals" / "five.yaml")
    assert (
        f"{source}:6: value: '1.234' could be 1234 or 1.234 in a file with English headers; "
        "left out (write 1234 or 1.2340)"
    ) in result.stderr
    assert crm("check").ok


def test_import_csv_pipedrive_won_and_lost_deals(folder: Path, crm, tmp_path):
    source = _write(
        tmp_path / "pipedrive.csv",
        "Deal - ID,Deal - Title,Deal - Value,Deal - Currency,Deal - Stage,Deal - Status,"
        "Deal - Lost reason\n"
        "1,Open one,100,EUR,Proposal,open,\n"
        "2,Won one,200,EUR,Proposal,won,\n"
        "3,Lost one,300,EUR,Proposal,lost,Too expensive\n",
    )
    result = crm("import", "csv", str(source), "--type", "deals", "--preset", "pipedrive")
    assert result.ok, result.stderr
    assert "stage:" not in result.stderr
    assert load(folder / "deals" / "open-one.yaml")["stage"] == "proposal"
    assert load(folder / "deals" / "won-one.yaml")["stage"] == "won"
    lost = load(folder / "deals" / "lost-one.yaml")
    assert lost["stage"] == "lost" and lost["lost_reason"] == "Too expensive"
    assert lost["history"][-1]["reason"] == "Too expensive"
    again = crm("import", "csv", str(source), "--type", "deals", "--preset", "pipedrive")
    assert again.ok and "3 deals (3 unchanged)" in again.stderr, again.stderr
    assert crm("check").ok


def test_import_csv_salesforce_lead_statuses(folder: Path, crm, tmp_path):
    source = _write(
        tmp_path / "leads.csv",
        "ID,FIRSTNAME,LASTNAME,COMPANY,EMAIL,STATUS\n"
        "00Q1,Ada,Lovelace,Engines,ada@example.com,Open - Not Contacted\n"
        "00Q2,Alan,Turing,Bletchley,alan@example.com,Working - Contacted\n"
        "00Q3,Grace,Hopper,Navy,grace@example.com,Closed - Converted\n"
        "00Q4,Kurt,Gödel,IAS,kurt@example.com,Closed - Not Converted\n",
    )
    result = crm("import", "csv", str(source), "--type", "leads", "--preset", "salesforce")
    assert result.ok, result.stderr
    leads = {d["name"]: d["status"] for d in json.loads(crm("lead", "list", "-f", "json").stdout)}
    assert leads == {
        "Ada Lovelace": "new",
        "Alan Turing": "contacted",
        "Grace Hopper": "qualified",
        "Kurt Gödel": "unqualified",
    }
    assert crm("check").ok


def test_a_company_named_by_a_row_is_reported_at_that_row(folder: Path, crm, tmp_path):
    assert crm("company", "add", "Acme GmbH").ok
    source = _write(tmp_path / "b.csv", "name,company\nBob,Acmes GmbH\n")
    result = crm("import", "csv", str(source), "--type", "contacts")
    assert result.ok, result.stderr
    assert f"{source}:2: looks like company acme-gmbh (similar name)" in result.stderr
