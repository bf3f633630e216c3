"""crm.tabular: reading CSV files from other products, mapping their columns, writing CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from crm.errors import DataError, UsageError
from crm.importing import Remarked
from crm.tabular import (
    PRESETS,
    Mapped,
    Table,
    guess_preset,
    mapper,
    mapping_report,
    neutralise,
    read_table,
    write_csv,
)

DATA = Path(__file__).resolve().parent / "data" / "csv"
COPYLEFT = (
    Path(__file__).resolve().parent.parent.parent / "shared" / "realworld" / "copyleft" / "csv"
)


def table(name: str) -> Table:
    return read_table((DATA / name).read_bytes(), name)


def copyleft(name: str) -> Table:
    """A file of the shared copyleft corpus: read in place, never copied into the project."""
    path = COPYLEFT / name
    if not path.exists():
        pytest.skip(f"{path} is not here (the shared corpus is not part of the repository)")
    return read_table(path.read_bytes(), name)


def mapped(
    t: Table, rtype: str, preset: str | None = "auto", **overrides: str
) -> dict[int, Mapped]:
    """Every row mapped, by the line it starts on."""
    chosen = guess_preset(t.header) if preset == "auto" else preset
    to_record = mapper(t.header, rtype, chosen, overrides)
    return {line: to_record(row) for line, row in t.rows}


# -- the permissive real-world files (tests/data/csv, see tests/data/SOURCES.md) ---------------


def test_salesforce_accounts_in_windows_1252():
    t = table("accountData.csv")
    assert (t.encoding, t.delimiter, len(t.rows), len(t.header)) == ("cp1252", ",", 423, 38)
    assert guess_preset(t.header) == "salesforce"
    rows = mapped(t, "company")
    assert rows[2].fields == {
        "name": "Gravity Investments",
        "address.street": "00045742 150 Palmer Drive",
        "address.city": "FORT COLLINS",
        "address.region": "CO",
        "address.postcode": "80525",
        "address.country": "US",
    }
    assert rows[2].external == ("salesforce", "001x0000002xLCVAA2")
    assert rows[2].unknown["CREATEDDATE"] == "2006-04-15T03:23:15.000Z"
    assert rows[72].fields["address.street"] == "00045844 c/ San Romualdo, 26 5º"
    assert rows[87].fields["name"] == "Crédito Inmobiliario Terras"
    assert rows[375].fields["name"] == "Pébéo of America"
    sfdc = rows[413]
    assert sfdc.fields["phones"] == ["(415) 901-7000", "(415) 901-7040"]  # phone, then fax
    assert sfdc.fields["website"] == "http://www.salesforce.com"
    assert sfdc.fields["industry"] == "Technology"
    assert sfdc.fields["address.street"] == "The Landmark @ One Market, Suite 300"
    assert "SHIPPINGCITY" not in sfdc.unknown  # the same as the billing address
    assert rows[2].unknown.keys().isdisjoint({"SHIPPINGCITY", "FAX", "WEBSITE"})  # empty cells
    assert sfdc.fields["notes"].startswith("Founded in March 1999, salesforce.com")
    assert rows[416].fields["phones"] == ["(555) 555-1212"]  # the same fax number once
    assert rows[424].fields == {"name": "name1149205434309", "notes": "the description"}
    # Japanese names were lost before the file was written; what is left is kept as it is.
    assert rows[34].fields["name"] == "?????????" and rows[34].fields["address.country"] == "JP"


def test_salesforce_opportunities_become_deals():
    t = table("opportunityData.csv")
    assert (t.encoding, t.delimiter, len(t.rows)) == ("utf-8", ",", 38)
    rows = mapped(t, "deal")
    assert rows[2].fields == {
        "title": "George Foundation - 5000 Widgets",
        "company": "001x0000002xLD0AAM",
        "notes": "Initial deal for 5000 widgets. We expect follow-on business with a potential "
        "upside of 40000 additional widgets over the next 12 months.",
        "stage": "Closed Won",
        "value": "500000.0",
        "probability": "100",
        "close_date": "2005-11-09",
    }
    assert rows[2].external == ("salesforce", "006x0000001YtCrAAK")
    # ACCOUNTID is the company's Salesforce id: found by the company's external id.
    assert rows[2].links == {"company": ("salesforce", "001x0000002xLD0AAM")}
    assert rows[2].unknown["LEADSOURCE"] == "Advertisement"  # a deal has no source
    assert rows[4].fields["title"] == "Acme - 1,200 Widgets"
    assert rows[4].fields["probability"] == "50"
    last = rows[39]
    assert last.fields["title"] == "oppty1" and "value" not in last.fields
    assert last.fields["probability"] == "10"


def test_salesforce_status_and_error_logs():
    errors = table("error0413060133.csv")
    assert len(errors.rows) == 11 and errors.header[-1] == "ERROR"
    rows = mapped(errors, "deal")
    assert rows[2].unknown["ERROR"] == "Oracle_Id__c not specified"
    assert rows[2].fields["company"] == "001x0000002lBtqAAE"
    assert rows[12].unknown["ERROR"] == "Duplicate external id specified: 12345"
    success = table("success0413060133.csv")
    assert len(success.rows) == 9 and guess_preset(success.header) == "salesforce"
    deals = mapped(success, "deal")
    assert deals[2].unknown["STATUS"] == "Item Created"
    assert deals[10].fields["title"] == "oppty1"
    assert deals[10].external == ("salesforce", "006x0000001YuO2AAK")
    leads = mapped(success, "lead")  # a lead does have a status (and a source)
    assert leads[2].fields["status"] == "Item Created"
    assert leads[2].fields["source"] == "Advertisement"


def test_doubled_quotes_and_no_final_newline():
    t = table("csvEscapedQuotes.csv")
    assert (t.encoding, t.delimiter, t.header) == ("utf-8", ",", ["column1", "column2"])
    assert t.rows == [
        (2, {"column1": '"The Best" Account', "column2": "bla"}),
        (3, {"column1": 'The "Best" Account', "column2": "bla"}),
    ]
    assert guess_preset(t.header) is None
    assert mapped(t, "contact", None)[2].unknown == {
        "column1": '"The Best" Account',
        "column2": "bla",
    }


def test_utf16_with_bom():
    t = table("csvtext_BOM_UTF16LE.csv")
    assert (t.encoding, t.delimiter) == ("utf-16", ",")
    assert t.header == ["column1", "column2", "column3"]
    assert t.rows == [
        (2, {"column1": "row1-1", "column2": "row1-2", "column3": "row1-3"}),
        (3, {"column1": "row2-1", "column2": "row2-2", "column3": "row2-3"}),
    ]


# -- the copyleft real-world files: read where they are, never copied ---------------------------


def test_gmail_legacy_layout():
    t = copyleft("gmail.csv")
    assert (t.encoding, t.delimiter, len(t.rows), guess_preset(t.header)) == (
        "utf-8",
        ",",
        1,
        "google",
    )
    line, row = t.rows[0]
    assert line == 2
    assert (
        row["Address 1 - Formatted"]
        == "home_street\nhome_pobox\nhome_city, home_state home_zip\nhome_country"
    )
    m = mapped(t, "contact")[2]
    assert m.fields["name"] == "Prefix Firstname Middle Lastname Suffix"
    assert m.fields["emails"] == [
        "home@aaa.pl",
        "work@email.pl",
        "unknown@email.com",
        "other@email.com",
    ]
    assert m.fields["phones"] == [
        "pager",
        "mainphone",
        "homephone",
        "homefax",
        "mobile",
        "workphone",
        "workfax",
    ]
    assert m.fields["tags"] == ["Test"]  # "* My Contacts ::: Test" without Google's own group
    assert m.fields["notes"] == 'note"note'
    assert m.fields["birthday"] == "1975-12-12"
    assert (m.fields["company"], m.fields["title"]) == ("company", "jobtitle")
    assert m.fields["website"] == "test.com"
    assert {k: v for k, v in m.fields.items() if k.startswith("address")} == {
        "address.street": "home_street",
        "address.city": "home_city",
        "address.region": "home_state",
        "address.postcode": "home_zip",
        "address.country": "home_country",
    }
    # The second address and the second website have no field: kept for custom fields.
    assert m.unknown["Address 2 - Formatted"] == "work_street\nwork_city work_zip\nwork_country"
    assert m.unknown["Website 2 - Value"] == "home.page.com"
    assert m.unknown["Address 1 - PO Box"] == "home_pobox"
    assert m.unknown["Nickname"] == "nick"


def test_google_primary_email_comes_first():
    t = copyleft("gmail.csv")
    header = t.header
    row = dict(t.rows[0][1])
    row["E-mail 1 - Type"], row["E-mail 2 - Type"] = "Home", "* Work"
    assert mapper(header, "contact", "google", {})(row).fields["emails"][0] == "work@email.pl"


def test_thunderbird_semicolons():
    t = copyleft("csv_semicolon.csv")
    assert (t.delimiter, t.header) == (
        ";",
        ["Display Name", "First Name", "Last Name", "Primary Email"],
    )
    rows = mapped(t, "contact")
    assert rows[2].fields == {"name": "John Doe", "emails": ["john@doe.invalid"]}
    assert rows[3].fields == {"name": "Jane Doe", "emails": ["jane@doe.invalid"]}


def test_thunderbird_export_with_newline_and_tab_in_cells():
    t = copyleft("export.csv")
    assert (t.encoding, t.delimiter, len(t.rows), guess_preset(t.header)) == (
        "utf-8",
        ",",
        2,
        "thunderbird",
    )
    assert [line for line, _ in t.rows] == [2, 3]  # the second row runs over lines 3 and 4
    row = t.rows[1][1]
    assert row["Custom 2"] == "custom\t2"
    assert row["Custom 4"] == "custom\n4"  # CRLF inside the quotes read as one newline
    m = mapped(t, "contact")[3]
    assert m.fields == {
        "name": "contact number two",
        "emails": ["contact2@invalid"],
        "title": '"worker"',
        "notes": "here's some unicode text…",
    }
    assert m.unknown == {
        "Custom 1": "custom, 1",
        "Custom 2": "custom\t2",
        "Custom 3": "custom3",
        "Custom 4": "custom\n4",
    }


def test_thunderbird_layout_with_birthday_parts():
    t = copyleft("tb_plain.csv")
    assert t.header[-1] == "column 38"  # the header ends with a comma
    m = mapped(t, "contact")[2]
    assert m.fields["name"] == "Displayname"
    assert m.fields["birthday"] == "1970-11-15"
    assert m.fields["emails"] == ["test@domain.tld", "next@domain.tld"]
    assert m.fields["phones"] == ["phone work", "mobile", "phone home", "pager", "fax"]
    assert m.fields["address.street"] == "Addr work" and m.fields["address.country"] == "Poland"
    assert m.unknown["Home Address"] == "Priv address" and m.unknown["Home ZipCode"] == "xx-xxx"
    assert (m.fields["company"], m.fields["title"], m.fields["website"]) == (
        "Organization",
        "title",
        "http://page.com",
    )
    assert m.unknown["Web Page 2"] == "http://webpage.tld"
    basic = mapped(copyleft("basic_csv_addressbook.csv"), "contact")
    assert basic[3].fields == {"name": "Jane Doe", "emails": ["jane@doe.invalid"]}


def test_webmail_outlook_style_columns():
    t = copyleft("all.csv")
    assert (t.encoding, guess_preset(t.header)) == ("utf-8-sig", "outlook")
    assert t.header[0] == "Display Name"  # no BOM left in the first name
    m = mapped(t, "contact")[2]
    assert m.fields["name"] == "Display Name"
    assert m.fields["emails"] == ["work@example.com", "home@example.com", "other@example.com"]
    assert m.fields["phones"][:3] == ["300", "400", "500"]  # business before home and faxes
    assert m.fields["phones"][-2:] == ["700", "800"]
    assert m.fields["address.street"] == "Work Street" and m.fields["address.city"] == "Work City"
    assert m.unknown["Home Street"] == "Home Street"
    assert (m.fields["company"], m.fields["title"], m.fields["tags"]) == (
        "Company",
        "Job Title",
        ["test"],
    )
    assert m.fields["birthday"] == "1991-01-20"  # only day first makes it a date
    assert m.unknown["Assistant's Phone"] == "333"


def test_single_column_files():
    t = copyleft("email.csv")
    assert (t.header, len(t.rows), guess_preset(t.header)) == (["Primary Email"], 4, None)
    assert mapped(t, "contact", None)[5].fields == {"emails": ["test4@domain.tld"]}
    outlook = copyleft("outlook.csv")
    assert guess_preset(outlook.header) == "outlook"
    assert mapped(outlook, "contact")[2].fields == {
        "emails": ["test1@domain.tld", "test2@domain.tld", "test3@domain.tld"]
    }


# -- synthetic samples of the other products ----------------------------------------------------

GOOGLE = (
    "First Name,Middle Name,Last Name,Phonetic First Name,Name Prefix,Name Suffix,Nickname,File As,"
    "Organization Name,Organization Title,Organization Department,Birthday,Notes,Photo,Labels,"
    "E-mail 1 - Label,E-mail 1 - Value,E-mail 2 - Label,E-mail 2 - Value,Phone 1 - Label,"
    "Phone 1 - Value,Address 1 - Label,Address 1 - Formatted,Address 1 - Street,Address 1 - City,"
    "Address 1 - PO Box,Address 1 - Region,Address 1 - Postal Code,Address 1 - Country,"
    "Address 1 - Extended Address,Website 1 - Label,Website 1 - Value\r\n"
    "Grace,Brewster,Hopper,,Rear Admiral,,Amazing Grace,,US Navy,Computer Scientist,,--12-09,"
    '"Wrote the first compiler.\nLoved nanoseconds.",,* myContacts ::: Navy Friends ::: * starred,'
    "Work,grace@navy.example,* Home,grace@home.example ::: g.hopper@example.org,Mobile,"
    '+1 555 0100 ::: +1 555 0101,Work,"1 Navy Way\nArlington, VA 22202\nUSA",1 Navy Way,Arlington,,'
    "VA,22202,USA,Suite 2,Profile,https://example.org/grace\r\n"
    ',,,,,,,,,,,,,,* myContacts,* Other,only@example.com,,,,,,"Somewhere 1\n12345 Town",,,,,,,,,\r\n'
)


def test_google_current_layout():
    t = read_table(GOOGLE.encode("utf-8-sig"), "contacts.csv")
    assert (t.encoding, guess_preset(t.header), t.header[0]) == (
        "utf-8-sig",
        "google",
        "First Name",
    )
    assert [line for line, _ in t.rows] == [2, 6]
    rows = mapped(t, "contact")
    grace = rows[2]
    assert grace.fields == {
        "name": "Rear Admiral Grace Brewster Hopper",
        "birthday": "--12-09",
        "tags": ["Navy-Friends"],
        "emails": ["grace@home.example", "g.hopper@example.org", "grace@navy.example"],
        "phones": ["+1 555 0100", "+1 555 0101"],
        "address.street": "1 Navy Way, Suite 2",
        "address.city": "Arlington",
        "address.region": "VA",
        "address.postcode": "22202",
        "address.country": "USA",
        "company": "US Navy",
        "title": "Computer Scientist",
        "notes": "Wrote the first compiler.\nLoved nanoseconds.",
        "website": "https://example.org/grace",
    }
    assert grace.unknown == {"Nickname": "Amazing Grace"}
    # Only the formatted address: kept whole, with its lines.
    assert rows[6].fields == {"emails": ["only@example.com"], "address": "Somewhere 1\n12345 Town"}


OUTLOOK = (
    "Title,First Name,Middle Name,Last Name,Suffix,Company,Department,Job Title,Business Street,"
    "Business Street 2,Business City,Business State,Business Postal Code,Business Country/Region,"
    "Home Street,Home City,Home Postal Code,Home Country/Region,Assistant's Phone,Business Fax,"
    "Business Phone,Home Phone,Mobile Phone,Pager,Birthday,Categories,E-mail Address,E-mail Type,"
    "E-mail Display Name,E-mail 2 Address,E-mail 3 Address,Notes,Web Page\r\n"
    "Dr.,Jane,Q.,Roe,PhD,Roe Consulting,Sales,Managing Director,1 Market St,Floor 3,Springfield,IL,"
    "62701,United States,9 Home Rd,Springfield,62702,United States,+1 555 0199,+1 555 0102,"
    "+1 555 0100,+1 555 0103,+1 555 0104,,0/0/00,Customers;VIP,jane@roe.example,SMTP,"
    'Jane Roe (jane@roe.example),jane.roe@example.com,,"Met at the fair",www.roe.example\r\n'
)


def test_outlook_english():
    t = read_table(OUTLOOK.encode(), "outlook.csv")
    assert guess_preset(t.header) == "outlook"
    m = mapped(t, "contact")[2]
    assert m.fields == {
        "name": "Dr. Jane Q. Roe PhD",  # Title is the prefix, not the job
        "phones": ["+1 555 0100", "+1 555 0104", "+1 555 0103", "+1 555 0102"],
        "tags": ["Customers", "VIP"],
        "emails": ["jane@roe.example", "jane.roe@example.com"],
        "address.street": "1 Market St, Floor 3",
        "address.city": "Springfield",
        "address.region": "IL",
        "address.postcode": "62701",
        "address.country": "United States",
        "company": "Roe Consulting",
        "title": "Managing Director",
        "notes": "Met at the fair",
        "website": "www.roe.example",
    }  # no birthday: Outlook's 0/0/00 means none
    assert m.unknown == {
        "Department": "Sales",
        "Home Street": "9 Home Rd",
        "Home City": "Springfield",
        "Home Postal Code": "62702",
        "Home Country/Region": "United States",
        "Assistant's Phone": "+1 555 0199",
    }


OUTLOOK_DE = (
    "Anrede;Vorname;Weitere Vornamen;Nachname;Firma;Abteilung;Position;Straße geschäftlich;"
    "Ort geschäftlich;Postleitzahl geschäftlich;Land/Region geschäftlich;Telefon geschäftlich;"
    "Mobiltelefon;E-Mail-Adresse;E-Mail-Typ;E-Mail: Angezeigter Name;E-Mail 2: Adresse;Kategorien;"
    "Notizen;Geburtstag;Webseite\r\n"
    "Herr;Jürgen;;Müller;Bäckerei Müller GmbH;Vertrieb;Geschäftsführer;Hauptstraße 5;München;80331;"
    "Deutschland;+49 89 123456;+49 171 1234567;juergen@example.de;SMTP;Jürgen Müller "
    '(juergen@example.de);j.mueller@example.com;Kunden;"Zahlt pünktlich; mag Brezen";'
    "24.12.1970;www.baeckerei.example\r\n"
)


def test_outlook_german_in_windows_1252_with_semicolons():
    t = read_table(OUTLOOK_DE.encode("cp1252"), "kontakte.csv")
    assert (t.encoding, t.delimiter, guess_preset(t.header)) == ("cp1252", ";", "outlook")
    m = mapped(t, "contact")[2]
    assert m.fields == {
        "name": "Herr Jürgen Müller",
        "birthday": "1970-12-24",  # German headers: day.month.year
        "phones": ["+49 89 123456", "+49 171 1234567"],
        "emails": ["juergen@example.de", "j.mueller@example.com"],
        "tags": ["Kunden"],
        "address.street": "Hauptstraße 5",
        "address.city": "München",
        "address.postcode": "80331",
        "address.country": "Deutschland",
        "company": "Bäckerei Müller GmbH",
        "title": "Geschäftsführer",
        "notes": "Zahlt pünktlich; mag Brezen",
        "website": "www.baeckerei.example",
    }
    assert m.unknown == {"Abteilung": "Vertrieb"}
    report = dict(mapping_report(t.header, "contact", "outlook", {}))
    assert report["E-Mail: Angezeigter Name"] == "-" and report["Vorname"] == "name"


LINKEDIN = (
    b"Notes:\n"
    b'"When exporting your connection data, you may notice that some of the email addresses are '
    b"missing. You will only see email addresses for connections who have allowed their "
    b'connections to see or download their email address using this setting."\n'
    b"\n"
    b"First Name,Last Name,URL,Email Address,Company,Position,Connected On\n"
    b"Ada,Lovelace,https://www.linkedin.com/in/ada-example,ada@example.com,Analytical Engines,"
    b"Chief Programmer,16 Nov 2023\n"
    b'Alan,Turing,https://www.linkedin.com/in/alan-example,,"Bletchley, Park",Cryptanalyst,'
    b"01 Feb 2024\n"
)


def test_linkedin_connections_after_their_notes():
    t = read_table(LINKEDIN, "Connections.csv")
    assert (t.delimiter, t.header_line, t.skipped) == (",", 4, [1, 2])
    assert t.header == [
        "First Name",
        "Last Name",
        "URL",
        "Email Address",
        "Company",
        "Position",
        "Connected On",
    ]
    assert guess_preset(t.header) == "linkedin"
    rows = mapped(t, "contact")
    assert rows[5].fields == {
        "name": "Ada Lovelace",
        "emails": ["ada@example.com"],
        "website": "https://www.linkedin.com/in/ada-example",
        "company": "Analytical Engines",
        "title": "Chief Programmer",
    }
    assert rows[5].unknown == {"Connected On": "16 Nov 2023"}
    assert rows[6].fields["company"] == "Bletchley, Park"
    chosen = mapped(t, "contact", "linkedin", **{"Connected On": "custom.connected_on"})
    assert chosen[5].custom == {"connected_on": "16 Nov 2023"} and chosen[5].unknown == {}


HUBSPOT_CONTACTS = (
    b"Record ID,First Name,Last Name,Email,Phone Number,Mobile Phone Number,Job Title,Company Name,"
    b"Associated Company,Lifecycle Stage,Lead Status,Contact owner,Create Date,Website URL,"
    b"Street Address,City,State/Region,Postal Code,Country/Region\n"
    b"512,Ada,Lovelace,ada@example.com,+44 20 7946 0000,+44 7700 900000,CTO,Analytical Engines,"
    b"Analytical Engines,lead,NEW,Jane Owner,2024-03-12 09:14,engines.example,12 Example Street,"
    b"London,Greater London,N1 9GU,United Kingdom\n"
    b"513,Bo,Smith,bo@example.com,,,,,,subscriber,,,,,,,,,\n"
)


def test_hubspot_contacts_and_leads():
    t = read_table(HUBSPOT_CONTACTS, "hubspot.csv")
    assert guess_preset(t.header) == "hubspot"
    contact = mapped(t, "contact")[2]
    assert contact.external == ("hubspot", "512")
    assert contact.fields == {
        "name": "Ada Lovelace",
        "emails": ["ada@example.com"],
        "phones": ["+44 20 7946 0000", "+44 7700 900000"],
        "address.street": "12 Example Street",
        "address.city": "London",
        "address.region": "Greater London",
        "address.postcode": "N1 9GU",
        "address.country": "United Kingdom",
        "title": "CTO",
        "company": "Analytical Engines",
        "website": "engines.example",
    }
    # A contact has no status: the stages stay unknown.
    assert contact.unknown["Lifecycle Stage"] == "lead" and contact.unknown["Lead Status"] == "NEW"
    leads = mapped(t, "lead")
    assert leads[2].fields["status"] == "NEW"  # the lead status beats the lifecycle stage
    assert leads[2].unknown["Lifecycle Stage"] == "lead"
    assert leads[3].fields["status"] == "subscriber"


def test_hubspot_companies_and_deals():
    companies = read_table(
        b"Record ID,Company name,Company Domain Name,Industry,Phone Number,City,Country/Region\n"
        b"901,Bluebay Ltd,bluebay.example,Gaming,+44 113 496 0000,Leeds,UK\n",
        "companies.csv",
    )
    assert guess_preset(companies.header) == "hubspot"
    company = mapped(companies, "company")[2]
    assert company.fields == {
        "name": "Bluebay Ltd",
        "phones": ["+44 113 496 0000"],
        "address.city": "Leeds",
        "address.country": "UK",
        "domain": "bluebay.example",
        "industry": "Gaming",
    }
    assert company.external == ("hubspot", "901")
    deals = read_table(
        b"Record ID,Deal Name,Deal Stage,Close Date,Deal owner,Amount,Pipeline,Associated Company,"
        b"Associated Contact\n7001,Bluebay Casino,Proposal,2026-12-01,Sam,-15000.50,Sales Pipeline,"
        b"Bluebay Ltd,priya@bluebay.example\n",
        "deals.csv",
    )
    deal = mapped(deals, "deal")[2]
    assert deal.fields == {
        "title": "Bluebay Casino",
        "stage": "Proposal",
        "close_date": "2026-12-01",
        "value": "-15000.50",
        "pipeline": "Sales Pipeline",
        "company": "Bluebay Ltd",
        "contact": "priya@bluebay.example",
    }
    assert deal.external == ("hubspot", "7001") and deal.unknown == {"Deal owner": "Sam"}


PIPEDRIVE = (
    b"Person - Name,Person - Email - Work,Person - Email - Home,Person - Phone - Work,"
    b"Person - Phone - Mobile,Person - Organization,Person - Labels,Person - ID,Organization - Name,"
    b"Organization - Address,Organization - ID,Deal - Title,Deal - Value,Deal - Currency,"
    b"Deal - Stage,Deal - Status,Deal - Expected close date,Deal - ID,Deal - Organization,"
    b"Deal - Contact person\n"
    b'Ada Lovelace,ada@example.com,ada@home.example,+44 20 1111,+44 77 2222,Engines Ltd,"VIP, Hot lead",'
    b'17,Engines Ltd,"1 Main St, London",5,Engine upgrade,4500.50,EUR,Proposal Made,open,2026-09-30,'
    b"42,Engines Ltd,Ada Lovelace\n"
)


def test_pipedrive_fills_the_record_from_its_own_entity():
    t = read_table(PIPEDRIVE, "pipedrive.csv")
    assert guess_preset(t.header) == "pipedrive"
    person = mapped(t, "contact")[2]
    assert person.fields == {
        "name": "Ada Lovelace",
        "emails": ["ada@example.com", "ada@home.example"],
        "phones": ["+44 20 1111", "+44 77 2222"],
        "tags": ["VIP", "Hot-lead"],
        "company": "Engines Ltd",
    }
    assert person.external == ("pipedrive", "17")
    assert person.unknown["Deal - Title"] == "Engine upgrade"
    org = mapped(t, "company")[2]
    assert org.fields == {"name": "Engines Ltd", "address": "1 Main St, London"}
    assert org.external == ("pipedrive", "5")
    assert org.unknown["Person - Name"] == "Ada Lovelace"
    deal = mapped(t, "deal")[2]
    assert deal.fields == {
        "title": "Engine upgrade",
        "contact": "Ada Lovelace",
        "company": "Engines Ltd",
        "value": "4500.50",
        "currency": "EUR",
        "stage": "Proposal Made",
        "close_date": "2026-09-30",
    }
    assert deal.external == ("pipedrive", "42") and "Deal - Status" not in deal.unknown


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_bom(codec):
    t = read_table("Name;Email\nÄda Größe;ada@example.com\n".encode(codec), "u16.csv")
    assert (t.encoding, t.delimiter) == (codec, ";")
    assert t.rows == [(2, {"Name": "Äda Größe", "Email": "ada@example.com"})]


@pytest.mark.parametrize("bom", ["utf-16", "utf-32", "utf-8-sig"])
def test_byte_order_marks(bom):
    t = read_table("Name\tEmail\r\nZoë\tzoe@example.com\r\n".encode(bom), "bom.csv")
    assert (t.encoding, t.delimiter, t.header) == (bom, "\t", ["Name", "Email"])
    assert t.rows[0][1]["Name"] == "Zoë"


# -- the shape of a table -----------------------------------------------------------------------


def test_line_numbers_blank_lines_and_ragged_rows():
    data = (
        b"Name,Email,Email,Notes,\n"
        b"\n"
        b'Ann,ann@example.com,,"two\r\nlines"\n'
        b"   \n"
        b"Bob\n"
        b"Cy,cy@example.com,cy2@example.com,n,x,extra,more\n"
        b",,,,\n"
        b"Di,di@example.com\n"
    )
    t = read_table(data, "ragged.csv")
    assert t.header == ["Name", "Email", "Email (2)", "Notes", "column 5"]
    assert [line for line, _ in t.rows] == [3, 6, 7, 9]
    assert t.rows[0][1]["Notes"] == "two\nlines"
    assert t.rows[1][1] == {
        "Name": "Bob",
        "Email": "",
        "Email (2)": "",
        "Notes": "",
        "column 5": "",
    }
    assert t.rows[2][1][""] == "extra,more"  # longer than the header: kept aside, never mapped
    m = mapped(t, "contact", None)
    assert m[7].fields["emails"] == ["cy@example.com", "cy2@example.com"]
    assert "" not in m[7].unknown and m[7].unknown == {"column 5": "x"}


def test_excel_sep_line_and_report_footer():
    data = (
        b'sep=|\nName|Company|City\nAnn|Acme|Rome\n"Confidential Information - Do Not Distribute"\n'
    )
    t = read_table(data, "report.csv")
    assert (t.delimiter, t.header_line, len(t.rows), t.skipped) == ("|", 2, 1, [1, 4])
    assert t.rows[0] == (3, {"Name": "Ann", "Company": "Acme", "City": "Rome"})


@pytest.mark.parametrize(
    ("data", "delimiter"),
    [
        (b"a;b;c\n1;2,5;3\n4;5,5;6\n", ";"),
        (b"a\tb\n1,2\t3\n", "\t"),
        (b"a|b|c\n1|2|3\n", "|"),
        (b'"a,1";b;c\n1;2;3\n', ";"),
        (b"just one column\nx\n", ","),
    ],
)
def test_delimiters(data, delimiter):
    assert read_table(data, "d.csv").delimiter == delimiter


def test_encodings_fall_back_to_cp1252_then_latin_1():
    assert read_table("Name\nRenée\n".encode("cp1252"), "x").encoding == "cp1252"
    t = read_table(b"Name\nA\x81B\n", "x")  # 0x81 is no cp1252 character
    assert (t.encoding, t.rows[0][1]["Name"]) == ("latin-1", "A\x81B")
    assert read_table("Name\n€ 5\n".encode(), "x").encoding == "utf-8"


def test_a_utf8_file_with_a_stray_cp1252_byte_keeps_its_utf8():
    data = "Name,City\nRenée,Zürich\n".encode() + "Noël,Köln\n".encode("cp1252") + b"A,B\n"
    t = read_table(data, "x")
    assert (t.encoding, t.mixed) == ("utf-8", [3])
    assert [row["Name"] for _, row in t.rows] == ["Renée", "Noël", "A"]
    assert t.rows[1][1]["City"] == "Köln"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\n \n\r\n", "empty"),
        (b"PK\x03\x04\x14\x00\x06\x00", "workbook"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "Excel 97"),
        (b"a,b\n1,\x002\n", "NUL"),
        (b"BEGIN:VCARD\r\nVERSION:3.0\r\nEND:VCARD\r\n", "vCard"),
        (b"\xef\xbb\xbfa,b\n\xff\n", "utf-8-sig"),
    ],
)
def test_what_is_not_a_table(data, message):
    with pytest.raises(DataError, match=message) as info:
        read_table(data, "in.csv")
    assert info.value.path == "in.csv"


def test_limits_are_errors_not_hangs():
    with pytest.raises(DataError, match="never closed") as info:
        read_table(b'Name,Notes\nAnn,"' + b"x" * 1_100_000 + b"\n", "big.csv")
    assert info.value.line == 2
    with pytest.raises(DataError, match="too large"):
        read_table(b"a,b\n" * 1000, "big.csv", max_bytes=1000)
    before = csv.field_size_limit()
    read_table(b'a\n"' + b"y" * 200_000 + b'"\n', "ok.csv")  # over csv's 128 KB default
    assert csv.field_size_limit() == before  # the process-wide limit is put back


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
@example(b'"')
@example(b"\xff\xfe\x00")
@example(b"\xfe\xff\xd8\x00")
@example(b'",' * 600)
def test_read_table_raises_only_data_errors(data):
    try:
        t = read_table(data, "fuzz.csv")
    except DataError:
        return
    assert t.header and all(len(row) >= len(t.header) for _, row in t.rows)


CSVISH = st.lists(st.sampled_from(['"', ",", ";", "\t", "|", "\n", "\r", "a", "é", " ", "=", "'"]))


@settings(max_examples=300, deadline=None)
@given(CSVISH.map("".join), st.sampled_from(["utf-8", "utf-16", "cp1252"]))
def test_read_table_on_csv_like_text(text, encoding):
    try:
        t = read_table(text.encode(encoding, errors="replace"), "fuzz.csv")
    except DataError:
        return
    lines = [line for line, _ in t.rows]
    assert lines == sorted(set(lines)) and all(line > t.header_line for line in lines)
    for preset in (None, *PRESETS):
        to_record = mapper(t.header, "contact", preset, {})
        for _, row in t.rows:
            to_record(row)


# -- presets and --map --------------------------------------------------------------------------


def test_no_preset_maps_our_own_names_and_common_variants():
    header = [
        "Full Name", "E-mail", "Phones", "Company Name", "Zip Code", "city", "State", "Country",
        "Street", "Tags", "notes", "birthday", "website", "vat_id", "custom.size", "address.region",
        "Shoe",
    ]  # fmt: skip
    row = dict(zip(header, [
        " Ann Lee ", "ann@example.com; ann@work.example", "+1 555 0100; +1 555 0101", "Acme",
        "12345", "Rome", "", "Italy", "Via Roma 1", "vip, customer", "Likes tea", "1980-02-03",
        "acme.example", "IT123", "XL", "Lazio", "42",
    ], strict=True))  # fmt: skip
    m = mapper(header, "contact", None, {})(row)
    assert m.fields == {
        "name": "Ann Lee",
        "emails": ["ann@example.com", "ann@work.example"],
        "phones": ["+1 555 0100", "+1 555 0101"],
        "tags": ["vip", "customer"],
        "address.street": "Via Roma 1",
        "address.postcode": "12345",
        "address.city": "Rome",
        "address.country": "Italy",
        "address.region": "Lazio",
        "company": "Acme",
        "notes": "Likes tea",
        "birthday": "1980-02-03",
        "website": "acme.example",
        "vat_id": "IT123",
    }
    assert (m.custom, m.unknown) == ({"size": "XL"}, {"Shoe": "42"})


def test_name_from_parts_and_field_per_record_type():
    header = ["First Name", "Last Name", "Nickname", "Title", "Company", "Value", "Status"]
    row = dict(zip(header, ["Ann", "Lee", "Annie", "CEO", "Acme", "100", "new"], strict=True))
    contact = mapper(header, "contact", None, {})(row)
    assert contact.fields == {"name": "Ann Lee", "title": "CEO", "company": "Acme"}
    assert contact.unknown == {"Nickname": "Annie", "Value": "100", "Status": "new"}
    lead = mapper(header, "lead", None, {})(row)
    assert lead.fields["status"] == "new" and lead.fields["company"] == "Acme"
    company = mapper(header, "company", None, {})(row)  # a company list names it "Company"
    assert company.fields == {"name": "Acme"}
    deal = mapper(header, "deal", None, {})(row)
    assert deal.fields == {"title": "CEO", "company": "Acme", "value": "100"}
    alone = mapper(["Nickname"], "contact", None, {})({"Nickname": "Annie"})
    assert alone.fields == {"name": "Annie"}


def test_overrides():
    header = ["Vorname", "Nachname", "Mail", "Größe", "Intern", "Ort"]
    row = dict(
        zip(header, ["Jürgen", "Müller", "j@example.de", "XL", "secret", "Köln"], strict=True)
    )
    overrides = {
        "Vorname": "name",
        "nachname": "name",
        "Größe": "custom.size",
        "Intern": "-",
        "Ort": "city",
    }
    m = mapper(header, "contact", "outlook", overrides)(row)
    assert m.fields == {"name": "Jürgen Müller", "emails": ["j@example.de"], "address.city": "Köln"}
    assert (m.custom, m.unknown) == ({"size": "XL"}, {})
    report = mapping_report(header, "contact", "outlook", overrides)
    assert report == [
        ("Vorname", "name"),
        ("Nachname", "name"),
        ("Mail", "emails"),
        ("Größe", "custom.size"),
        ("Intern", "-"),
        ("Ort", "address.city"),
    ]
    assert (
        mapper(header, "contact", None, {"Mail": "website"})(row).fields["website"]
        == "j@example.de"
    )
    assert mapper(["ID"], "deal", None, {"ID": "external.zoho"})({"ID": "9"}).external == (
        "zoho",
        "9",
    )


def test_usage_errors():
    header = ["Name", "Email Address", "Phone"]
    with pytest.raises(UsageError, match="unknown preset 'gogle'; did you mean google") as info:
        mapper(header, "contact", "gogle", {})
    assert "outlook" in str(info.value)
    with pytest.raises(UsageError, match="no column 'Emial Adress'") as info:
        mapper(header, "contact", None, {"Emial Adress": "emails"})
    assert "did you mean 'Email Address'" in str(info.value) and "'Phone'" in str(info.value)
    with pytest.raises(UsageError, match="contact has no field 'stage'") as info:
        mapper(header, "contact", None, {"Phone": "stage"})
    assert "emails" in str(info.value)
    with pytest.raises(UsageError, match="did you mean phones"):
        mapper(header, "contact", None, {"Phone": "phnoes"})
    with pytest.raises(UsageError, match="address has parts"):
        mapper(header, "contact", None, {"Phone": "address.planet"})
    with pytest.raises(UsageError, match=r"has no field 'address\.city'"):
        mapper(header, "deal", None, {"Phone": "address.city"})
    with pytest.raises(UsageError, match="custom field"):
        mapper(header, "contact", None, {"Phone": "custom."})
    with pytest.raises(UsageError, match="cannot import 'invoice'"):
        mapper(header, "invoice", None, {})
    with pytest.raises(UsageError, match="no field 'created'"):
        mapper(header, "contact", None, {"Phone": "created"})  # kept by crm


def test_guess_preset_needs_evidence():
    assert guess_preset([]) is None
    assert guess_preset(["Name", "Email", "Title"]) is None
    assert guess_preset(["Name", "Email Address", "Title"]) is None  # one shared name is no proof
    assert guess_preset(["Deal - Title"]) == "pipedrive"
    assert guess_preset(["ID", "ISDELETED", "NAME", "SYSTEMMODSTAMP"]) == "salesforce"
    assert (
        guess_preset(["Opportunity Name", "Account Name", "Amount", "Stage", "Probability (%)"])
        == "salesforce"
    )


def test_salesforce_report_labels():
    row = {
        "Opportunity Name": "Big one",
        "Account Name": "Acme",
        "Amount": "1200.00",
        "Stage": "Prospecting",
        "Close Date": "2026-01-31",
        "Probability (%)": "20%",
        "Opportunity ID": "006A",
        "Account ID": "001A",
    }
    assert guess_preset(list(row)) == "salesforce"
    m = mapper(list(row), "deal", "salesforce", {})(row)
    assert m.fields == {
        "title": "Big one",
        "company": "Acme",
        "value": "1200.00",
        "stage": "Prospecting",
        "close_date": "2026-01-31",
        "probability": "20",
    }
    assert m.external == ("salesforce", "006A")
    assert m.links == {"company": ("salesforce", "001A")} and m.unknown == {}
    assert dict(mapping_report(list(row), "deal", "salesforce", {}))["Account ID"] == "company"


def test_our_own_export_reads_back():
    rows = [
        {
            "id": "ann-lee",
            "name": "=Ann",
            "emails": ["ann@example.com", "a@work.example"],
            "phones": ["+1 555 0100"],
            "tags": ["vip", "b2b"],
            "address.city": "Köln",
            "custom.size": "-XL",
            "notes": "line one\nline two",
            "created": "2026-01-01T10:00:00Z",
        }
    ]
    text = write_csv(rows, list(rows[0]), excel=True)
    t = read_table(text.encode("utf-8"), "export.csv")
    assert t.encoding == "utf-8-sig" and t.header == list(rows[0])
    m = mapper(t.header, "contact", guess_preset(t.header), {})(t.rows[0][1])
    assert m.fields == {
        "name": "=Ann",  # the apostrophe that kept it from running as a formula is gone
        "emails": ["ann@example.com", "a@work.example"],
        "phones": ["+1 555 0100"],
        "tags": ["vip", "b2b"],
        "address.city": "Köln",
        "notes": "line one\nline two",
    }
    assert m.custom == {"size": "-XL"}
    assert m.unknown == {"id": "ann-lee", "created": "2026-01-01T10:00:00Z"}


# -- writing ------------------------------------------------------------------------------------

HOSTILE = ["=SUM(A1)", "+1", "-2+3", "@cmd", "\t=1", "\r=1", "-50.00", '=HYPERLINK("x")', "-", "+"]


def test_neutralise():
    assert [neutralise(c) for c in HOSTILE] == ["'" + c for c in HOSTILE]
    assert neutralise("") == "" and neutralise("Ann") == "Ann" and neutralise("a=b") == "a=b"
    assert neutralise("-50.00", keep_numbers=True) == "-50.00"
    assert neutralise("+1", keep_numbers=True) == "+1"
    assert neutralise("-2+3", keep_numbers=True) == "'-2+3"
    assert neutralise("+49 30 1234", keep_numbers=True) == "'+49 30 1234"


def test_write_csv():
    rows = [
        {
            "v": c,
            "n": None,
            "l": ["a", "=b"],
            "d": Decimal("1E+3"),
            "t": dt.date(2026, 1, 2),
            "b": True,
        }
        for c in HOSTILE
    ]
    text = write_csv(rows, ["v", "n", "l", "d", "t", "b"])
    assert text.startswith("v,n,l,d,t,b\r\n") and text.endswith("\r\n")
    read = list(csv.reader(io.StringIO(text, newline="")))
    assert [r[0] for r in read[1:]] == [
        "'=SUM(A1)", "+1", "'-2+3", "'@cmd", "'\t=1", "'\r=1", "-50.00", "'=HYPERLINK(\"x\")", "'-", "'+",
    ]  # fmt: skip
    assert read[1][1:] == ["", "a; =b", "1000", "2026-01-02", "yes"]
    assert write_csv([], ["=a"], excel=True) == "\ufeff'=a\r\n"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.text(), min_size=3, max_size=3), max_size=5))
def test_write_csv_reads_back_exactly(cells):
    columns = ["a", "b", "c"]
    text = write_csv([dict(zip(columns, row, strict=True)) for row in cells], columns)
    read = list(csv.reader(io.StringIO(text, newline="")))
    assert read[0] == columns
    assert read[1:] == [[neutralise(c, keep_numbers=True) for c in row] for row in cells]


# -- values as other programs write them ---------------------------------------------------


def _one(csv_text: str, rtype: str, preset: str | None = "auto") -> Mapped:
    t = read_table(csv_text.encode(), "values.csv")
    return mapped(t, rtype, preset)[2]


@pytest.mark.parametrize(
    ("header", "cell", "birthday"),
    [
        ("First Name,Last Name,Birthday", "1/20/1991", "1991-01-20"),  # Outlook, US
        ("First Name,Last Name,Birthday", "1/20/1991 0:00:00", "1991-01-20"),
        ("First Name,Last Name,Birthday", "3/4/1991", "1991-03-04"),  # English: month first
        ("Vorname,Nachname,Geburtstag", "3/4/1991", "1991-04-03"),  # German: day first
        ("Vorname,Nachname,Geburtstag", "20.01.1991", "1991-01-20"),
        ("First Name,Last Name,Birthday", "20.01.1991", "1991-01-20"),  # dots: always day first
        ("First Name,Last Name,Birthday", "1991-01-20", "1991-01-20"),
        ("First Name,Last Name,Birthday", "0/0/00", None),  # Outlook's "no birthday"
        ("Vorname,Nachname,Geburtstag", "00.00.0000", None),
        ("First Name,Last Name,Birthday", "1/1/4501", None),  # Outlook's "None" date
        ("First Name,Last Name,Birthday", "20/01/1991", "1991-01-20"),  # a UK export: no month 20
        ("Vorname,Nachname,Geburtstag", "1/20/1991", "1991-01-20"),
    ],
)
def test_birthdays_as_outlook_writes_them(header, cell, birthday):
    m = _one(f"{header}\nAda,Lovelace,{cell}\n", "contact", "outlook")
    assert m.fields.get("birthday") == birthday
    assert not getattr(m.fields.get("birthday"), "remark", None)


@pytest.mark.parametrize(
    ("header", "cell", "remark"),
    [
        ("Birthday", "31/31/1991", "'31/31/1991' is no date read month/day/year"),
        ("Geburtstag", "0/20/1991", "'0/20/1991' is no date read day/month/year"),
        ("Birthday", "3/4/91", "'3/4/91' has a two-digit year (1991 or 2091?)"),
        ("Geburtstag", "31.02.1990", "'31.02.1990' is no date read day.month.year"),
    ],
)
def test_birthdays_that_cannot_be_read_unambiguously_are_left_out(header, cell, remark):
    value = _one(f"Name,{header}\nAda,{cell}\n", "contact", "outlook").fields["birthday"]
    assert isinstance(value, Remarked) and value.left_out and value == cell
    assert value.remark.startswith(remark) and value.remark.endswith("; left out")


@pytest.mark.parametrize(
    ("cell", "value", "currency"),
    [
        ("12,500.50", "12500.50", None),
        ("1.234,56", "1234.56", None),  # the last mark is the decimal one
        ("€ 1000", "1000", "EUR"),
        ("1 000,00 €", "1000.00", "EUR"),
        ("1\u00a0000,00\u00a0€", "1000.00", "EUR"),  # no-break spaces, as Excel writes them
        ("$1,200", "1200", "USD"),
        ("USD 1200", "1200", "USD"),
        ("1200 chf", "1200", "CHF"),
        ("-£50", "-50", "GBP"),
        ("1,234", "1234", None),  # `,` groups in a file with English headers
        ("1,234,567.5", "1234567.5", None),
        ("1.234.567", "1234567", None),  # a mark more than once groups
        ("1,5", "1.5", None),  # not three digits after it: the decimal mark
        ("0,500", "0.500", None),  # no thousands start with 0
        ("1'000.50", "1000.50", None),
        ("500000.0", "500000.0", None),  # Salesforce
        ("1.234 KWD", "1.234", "KWD"),  # three decimals in dinars
    ],
)
def test_deal_amounts_in_english_files(cell, value, currency):
    m = _one(f'Deal Name,Amount\nWebsite,"{cell}"\n', "deal", None)
    assert m.fields["value"] == value and not isinstance(m.fields["value"], Remarked)
    assert m.fields.get("currency") == currency
    assert isinstance(m.fields["value"], str)  # text for records.plan: Decimal, never float


@pytest.mark.parametrize(
    ("cell", "value"),
    [("1.234", "1234"), ("1.234,56", "1234.56"), ("12.500", "12500"), ("1 000,00 €", "1000.00")],
)
def test_deal_amounts_in_german_files(cell, value):
    # Betrag maps to nothing by itself: --map Betrag=value
    t = read_table(f'Titel,Firma,Betrag\nWebsite,Acme,"{cell}"\n'.encode(), "werte.csv")
    m = mapper(t.header, "deal", None, {"Betrag": "value", "Titel": "title"})(t.rows[0][1])
    assert m.fields["value"] == value and not isinstance(m.fields["value"], Remarked)


@pytest.mark.parametrize(
    ("header", "cell", "remark"),
    [
        ("Amount", "1.234", "'1.234' could be 1234 or 1.234 in a file with English headers"),
        ("Betrag", "1,234", "'1,234' could be 1234 or 1.234 in a file with German headers"),
    ],
)
def test_ambiguous_amounts_are_left_out(header, cell, remark):
    text = f'Name,Firma,{header}\nWebsite,Acme,"{cell}"\n'
    t = read_table(text.encode(), "deals.csv")
    m = mapper(t.header, "deal", None, {header: "value"})(t.rows[0][1])
    value = m.fields["value"]
    assert isinstance(value, Remarked) and value.left_out and value == cell
    assert value.remark.startswith(remark)


def test_a_currency_sign_never_contradicts_the_currency_column():
    m = _one("Deal Name,Amount,Currency\nA,$1200,EUR\n", "deal", None)
    assert m.fields["currency"] == "EUR"
    value = m.fields["value"]
    assert isinstance(value, Remarked) and value.left_out
    assert value.remark == "'$1200' is in USD, but the row's currency is EUR; left out"
    same = _one("Deal Name,Amount,Currency\nA,$1200,usd\n", "deal", None)
    assert same.fields["value"] == "1200" and same.fields["currency"] == "usd"
    empty = _one("Deal Name,Amount,Currency\nA,€ 5,\n", "deal", None)
    assert empty.fields["value"] == "5" and empty.fields["currency"] == "EUR"


def test_pipedrive_deal_status_puts_won_and_lost_deals_in_their_stage():
    text = (
        "Deal - Title,Deal - Value,Deal - Currency,Deal - Stage,Deal - Status,Deal - Lost reason\n"
        "Open one,100,EUR,Proposal Made,open,\n"
        "Won one,200,EUR,Negotiations Started,won,\n"
        "Lost one,300,EUR,Proposal Made,lost,Too expensive\n"
        "Deleted one,400,EUR,Proposal Made,deleted,\n"
    )
    t = read_table(text.encode(), "deals.csv")
    rows = mapped(t, "deal", "pipedrive")
    assert rows[2].fields["stage"] == "Proposal Made" and not rows[2].unknown
    assert rows[3].fields["stage"] == "won" and not rows[3].unknown
    assert rows[4].fields["stage"] == "lost"
    assert rows[4].fields["lost_reason"] == "Too expensive"
    assert rows[5].fields["stage"] == "Proposal Made"
    assert rows[5].unknown == {"Deal - Status": "deleted"}
    assert dict(mapping_report(t.header, "deal", "pipedrive", {}))["Deal - Status"] == "stage"


@pytest.mark.parametrize(
    ("status", "ours"),
    [
        ("Open - Not Contacted", "new"),
        ("Working - Contacted", "contacted"),
        ("Closed - Converted", "qualified"),  # `converted` only through crm lead convert
        ("Closed - Not Converted", "unqualified"),
        ("Nurturing", "contacted"),
        ("Qualified", "Qualified"),  # ours by name: records.plan matches it
    ],
)
def test_salesforce_lead_statuses(status, ours):
    m = _one(f"ID,LASTNAME,COMPANY,STATUS\n00Qx1,Roe,Acme,{status}\n", "lead", "salesforce")
    assert m.fields["status"] == ours
    contact = _one(f"ID,LASTNAME,COMPANY,STATUS\n00Qx1,Roe,Acme,{status}\n", "lead", "hubspot")
    assert contact.fields["status"] == status  # only Salesforce's words are translated
