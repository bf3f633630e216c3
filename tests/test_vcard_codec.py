"""The vCard codec (crm.vcard) on real files: what each one yields, broken cards, round trips."""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from crm import vcard
from crm.errors import ValidationError
from crm.models import CONTACT, Field, Kind
from crm.validate import check_value
from crm.vcard import Broken, Card

DATA = Path(__file__).resolve().parent / "data" / "vcard"
COPYLEFT = Path(__file__).resolve().parent.parent.parent / "shared/realworld/copyleft/vcard"
FILES = sorted(p.name for p in DATA.glob("*.vcf"))
JPEG = b"\xff\xd8\xff"


def read(name: str) -> list[Card | Broken]:
    return vcard.read((DATA / name).read_bytes(), name)


def cards(name: str) -> list[Card]:
    return [c for c in read(name) if isinstance(c, Card)]


def only(name: str) -> Card:
    (card,) = read(name)
    assert isinstance(card, Card), card
    return card


def export(card: Card, version: str = "3.0", **kwargs: object) -> str:
    return vcard.write(
        {**card.fields, "vcard": card.extra},
        uid=card.uid or "a-uid",
        company=card.organization,
        photo=card.photo,
        version=version,
        **kwargs,
    )


# -- the files --------------------------------------------------------------------------------


def test_every_copied_file_has_its_sources_row():
    sources = (DATA.parent / "SOURCES.md").read_text(encoding="utf-8")
    assert len(FILES) == 32
    for name in FILES:
        assert f"| `vcard/{name}` |" in sources, name


ANDROID_5 = "Ñ " * 4
# file → (name, emails, phones, organisation) per card, Broken as ("BROKEN", line, message)
EXPECTED = {
    "John_Doe_ANDROID.vcf": [
        ("john.doe@company.com", ["john.doe@company.com"], [], None),
        ("jane.doe@company.com", ["jane.doe@company.com"], [], None),
        ("Ñ Ñ Ñ Ñ Ñ", [], ["123456789"], None),
        ("Ñ Ñ Ñ Ñ Ñ Ñ Ñ Ñ Ñ Ñ Ñ", [], ["123456", "234567", "3456789", "45678901"], None),
        ("Ñ Ñ Ñ Ñ", ["bob@company.com"], ["123456"], "Ñ" * 12),
        ("ÑÑÑÑ", ["henry@company.com"], ["55556666"], "Ñ" * 44),
    ],
    "John_Doe_BLACK_BERRY.vcf": [("John Doe", [], ["+96123456789"], "Acme Solutions")],
    "John_Doe_EVOLUTION.vcf": [
        (
            "Mr. John Richter, James Doe Sr.",
            ["john.doe@ibm.com"],
            ["905-666-1234", "905-555-1234"],
            "IBM",
        )
    ],
    "John_Doe_GMAIL.vcf": [
        (
            "Mr. John Richter, James Doe Sr.",
            ["john.doe@ibm.com"],
            ["905-555-1234", "905-666-1234"],
            "IBM",
        )
    ],
    "John_Doe_IPHONE.vcf": [
        (
            "Mr. John Richter James Doe Sr.",
            ["john.doe@ibm.com"],
            [
                "905-555-1234",
                "905-666-1234",
                "905-777-1234",
                "905-888-1234",
                "905-999-1234",
                "905-111-1234",
                "905-222-1234",
            ],
            "IBM",
        )
    ],
    "John_Doe_LOTUS_NOTES.vcf": [
        (
            "Mr. Doe John I Johny",
            ["john.doe@ibm.com", "billy_bob@gmail.com"],
            ["+1 (212) 204-34456", "00-1-212-555-7777"],
            "IBM",
        )
    ],
    "John_Doe_MAC_ADDRESS_BOOK.vcf": [
        (
            "Mr. John Richter,James Doe Sr.",
            ["john.doe@ibm.com"],
            [
                "905-777-1234",
                "905-666-1234",
                "905-555-1234",
                "905-888-1234",
                "905-999-1234",
                "905-111-1234",
                "905-222-1234",
            ],
            "IBM",
        )
    ],
    "John_Doe_MS_OUTLOOK.vcf": [
        (
            "Mr. John Richter James Doe Sr.",
            ["john.doe@ibm.cm"],
            ["(905) 555-1234", "(905) 666-1234"],
            "IBM",
        )
    ],
    "fullcontact.vcf": [
        (
            "Prefix FirstName MiddleName LastName Suffix",
            [
                "home@example.com",
                "work@example.com",
                "school@example.com",
                "other@example.com",
                "custom@example.com",
            ],
            [f"555-555-111{i}" for i in range(1, 10)],
            "Organization1",
        )
    ],
    "gmail-list.vcf": [
        ("Arnold Smith", ["asmithk@gmail.com"], [], None),
        ("Chris Beatle", ["chrisy55d@yahoo.com"], [], None),
        ("Doug White", ["dwhite@gmail.com"], [], None),
    ],
    "gmail-single.vcf": [
        (
            "Greg Dartmouth",
            ["gdartmouth@hotmail.com"],
            ["555 555 1111", "555 555 2222"],
            "TheCompany",
        )
    ],
    "gmail-single2.vcf": [
        (
            "VCard Test",
            [
                "email@example.com",
                "homeemail@example.com",
                "workemail@example.com",
                "otheremail@example.com",
                "customcategory@example.com",
            ],
            [f"55555511{i}" for i in range(11, 22)],
            "TheCompany",
        )
    ],
    "google_takeout_contacts.vcf": [
        ("audriga.test@mailbox.org", ["audriga.test@mailbox.org"], [], None),
        ("customLabelContact", [], [], None),
        ("customLabelContact2", [], [], None),
        ("firstName lastName", [], ["17911111111"], "corp"),
        ("noLabelContact1", [], [], None),
        ("noLabelContact2", [], [], None),
        (
            "test_fel_1@audrigaoctober.onmicrosoft.com",
            ["test_fel_1@audrigaoctober.onmicrosoft.com"],
            [],
            None,
        ),
        ("user2@datenspediteure.de", ["user2@datenspediteure.de"], [], None),
        ("user4@datenspediteure.de", ["user4@datenspediteure.de"], [], None),
    ],
    "horde.vcf": [("Full Name", [], [], "MyCompany")],
    "invalid-vcard.vcf": [("testemailaddress@example.com", [], [], "Test. Inc.")],
    "issue114.vcf": [
        (
            "Dummy, Dummy",
            ["dummy.dummy@dummy.com"],
            ["+49 1234 56789", "+49 9876 54321"],
            "Dummy GmbH",
        )
    ],
    "issue153.vcf": [("Test Benutzer", [], [], None)],
    "issue64.vcf": [("BROKEN", 1, "a card with no name, organisation or email")],
    "ms_exchange.vcf": [("SomeFullName", ["xxxxxxxx@kolumbus.us"], [], None)],
    "nextcloud_vcard.vcf": [("Baumus Maximilian", ["baum@max.ilius"], [], None)],
    "outlook-2003.vcf": [("John Doe III", ["jdoe@hotmail.com"], [], "Company, The")],
    "outlook-2007.vcf": [
        (
            "Mr. Michael Angstadt Jr.",
            ["mike.angstadt@gmail.com"],
            ["(111) 555-1111", "(111) 555-2222", "(111) 555-4444", "(111) 555-3333"],
            "TheCompany",
        )
    ],
    "radicale-1587.vcf": [("Given Family", [], [], None)],
    "rc-vcard-invalid-line.vcf": [
        (
            "testemailaddress@example.com",
            ["testemailaddress@example.com", "miscmail@miscmail.com"],
            ["555123789", "0123 456 789", "00 98765", "00 111 222 333"],
            "Test Inc.",
        )
    ],
    "rc-vcard.vcf": [
        (
            "testemailaddress@example.com",
            ["testemailaddress@example.com", "miscmail@miscmail.com"],
            ["555123789", "0123 456 789", "00 98765", "00 111 222 333"],
            "Test Inc.",
        )
    ],
    "rfc2426-example.vcf": [
        (
            "Frank Dawson",
            ["Frank_Dawson@lotus.com", "fdawson@earthlink.net"],
            ["+1-919-676-9515", "+1-919-676-9564"],
            "Lotus Development Corporation",
        ),
        (
            "Tim Howes",
            ["howes@netscape.com"],
            ["+1-415-937-3419", "+1-415-528-4164"],
            "Netscape Communications Corp.",
        ),
    ],
    "rfc6350-example.vcf": [
        (
            "Simon Perreault",
            ["simon.perreault@viagenie.ca"],
            ["+1-418-656-9254 ext. 102", "+1-418-262-6501"],
            "Viagenie",
        )
    ],
    "test_vcard_2.vcf": [
        ("forrestgump@example.com", ["forrestgump@example.com"], ["(111) 555-1212"], None)
    ],
    "thunderbird-MoreFunctionsForAddressBook-extension.vcf": [
        (
            "John Doe",
            [
                "doe.john@hotmail.com",
                "additional-email@company.com",
                "additional-email1@company.com",
                "additional-email2@company.com",
                "additional-email3@company.com",
            ],
            ["555-555-1111", "555-555-2222", "555-555-5555", "555-555-3333", "555-555-4444"],
            "TheOrganization",
        )
    ],
    "vcard-antoni-outlook2003.vcf": [
        (
            "Antoni Jozef Mylka jun.",
            ["antoni_mylka@somedomain.com"],
            ["49 631 234 341", "48 691 342 341", "48 91 3 175 234"],
            "DFKI",
        )
    ],
    "vcard-dirk.vcf": [("Dirk", ["dirk@sap.com"], [], None)],
    "xing.vcf": [("Hans-Peter Mustermann", [], [], "Example GmbH")],
}


def test_every_file_has_expectations():
    assert set(EXPECTED) == set(FILES)


@pytest.mark.parametrize("name", FILES)
def test_names_emails_phones_and_organisations(name):
    got = []
    for card in read(name):
        if isinstance(card, Broken):
            got.append(("BROKEN", card.line, card.message))
        else:
            fields = card.fields
            entry = (fields["name"], fields.get("emails", []), fields.get("phones", []))
            got.append((*entry, card.organization))
    assert got == EXPECTED[name]


@pytest.mark.parametrize("name", FILES)
def test_fields_are_valid_stored_values(name):
    """What `crm check` would say of each field: nothing."""
    text = Field(name="address", kind=Kind.TEXT)  # address parts are single-line text
    for card in cards(name):
        for key, value in card.fields.items():
            if isinstance(value, dt.date):
                value = value.isoformat()
            field = CONTACT.field(key)
            assert field is not None
            if key == "address":
                assert all(check_value(text, part, None) is None for part in value.values())
            for item in value if isinstance(value, list) else [value]:
                assert check_value(field, item, None) is None, (key, item)


def test_card_lines_are_those_of_begin():
    assert [c.line for c in read("rfc2426-example.vcf")] == [1, 13]  # BEGIN:vCard, mixed case
    assert [c.line for c in read("gmail-list.vcf")] == [1, 7, 13]
    assert [c.line for c in read("John_Doe_ANDROID.vcf")] == [1, 6, 11, 18, 36, 71]


def test_roundcube_card_every_field():
    card = only("rc-vcard.vcf")
    assert card.fields == {
        "name": "testemailaddress@example.com",
        "emails": ["testemailaddress@example.com", "miscmail@miscmail.com"],
        "phones": ["555123789", "0123 456 789", "00 98765", "00 111 222 333"],  # no repeats
        "title": "Software Engineer",
        "address": {  # the first ADR, folded mid-word ("Example pos\n tcode")
            "street": "Example Street 1",
            "postcode": "Example postcode",
            "city": "Example locality",
            "region": "Example region",
            "country": "Example country",
        },
        "birthday": dt.date(1990, 2, 12),  # BDAY;VALUE=date
        "website": "https://examplepersonalsite.com",  # no scheme in the file
        "notes": "Test notes about a test contact...",
    }
    assert card.extra == [
        "NICKNAME:OTC",
        "X-ANNIVERSARY;VALUE=date:2015-11-15",
        "X-DEPARTMENT:IT",
        "ADR;TYPE=work:;;Work street 52;business district;test work region;12365;somewhere",
    ]
    assert card.warnings == [] and card.uid is None and card.photo is None
    assert not card.is_organization and card.version == "3.0"


def test_google_takeout_cards_without_fn_or_n():
    takeout = cards("google_takeout_contacts.vcf")
    assert takeout[0].fields == {
        "name": "audriga.test@mailbox.org",
        "emails": ["audriga.test@mailbox.org"],
    }
    assert takeout[0].extra == []  # the empty item1.X-ABLabel says nothing
    full = takeout[3]
    assert full.fields == {
        "name": "firstName lastName",
        "phones": ["17911111111"],
        "title": "pos",
        "address": {  # extended address is line 2; the 8th (label) part is ignored
            "street": "AddrLine1, AddrLine2",
            "postcode": "76131",
            "city": "Karlsruhe",
            "country": "DE",
        },
        "birthday": dt.date(2000, 10, 1),  # BDAY:20001001
        "notes": "SomeNote",
    }  # CATEGORIES:myContacts is Google's system group, not a tag
    assert all("tags" not in c.fields for c in takeout)


def test_google_groups_label_their_property():
    card = only("gmail-single2.vcf")
    assert "customcategory@example.com" in card.fields["emails"]  # item1.EMAIL
    assert "5555551121" in card.fields["phones"]  # item3.TEL
    assert card.fields["website"] == "http://www.example1.com"  # `http\://` unescaped
    assert card.fields["birthday"] == dt.date(1912, 6, 23)
    assert card.fields["notes"] == "note line 1\nnote line 2\nCustomField: field value"
    assert card.fields["address"] == {
        "street": "111 Main St",
        "postcode": "10011",
        "city": "NY",
        "region": "New York",
    }
    extra = card.extra
    assert extra.index("item1.X-ABLABEL:CustomEmailCategory") < extra.index("X-GTALK:IM2")
    assert "item5.URL:http\\://www.example2.com" in extra  # further URLs keep their group
    assert "item5.X-ABLABEL:PROFILE" in extra
    assert "URL;TYPE=WORK:http\\://www.example5.com" in extra
    assert "item4.ADR:;;115 Main St;NY;New York;10011;" in extra
    assert "X-ABDATE:1776-07-04" in extra
    assert card.warnings == []


def test_gmail_single_group_url_is_the_website():
    card = only("gmail-single.vcf")
    assert card.fields["website"] == "http://TheProfile.com"  # item3.URL
    assert card.fields["address"] == {"street": "123 Home St, Home City, HM 12345"}
    assert card.fields["birthday"] == dt.date(1960, 9, 10)
    assert "item3.X-ABLABEL:PROFILE" in card.extra
    assert "item2.ADR:;;321 Custom St;Custom City;TX;98765;USA" in card.extra


def test_horde_role_units_and_a_bad_url():
    card = only("horde.vcf")
    assert card.fields == {
        "name": "Full Name",
        "title": "myRole",  # ROLE, as there is no TITLE
        "birthday": dt.date(2021, 9, 16),
    }
    assert card.extra[0] == "ORG:MyCompany;MyDepartment"  # units: the ORG line is kept
    assert "URL:MyURL" in card.extra
    assert card.warnings == [
        "line 13: 'myurl' is not a domain name (e.g. example.com); kept only as a vCard line"
    ]


def test_vcard_4_example():
    card = only("rfc6350-example.vcf")
    assert card.version == "4.0"
    assert card.fields["birthday"] == "--02-03"  # BDAY:--0203
    assert card.fields["address"] == {
        "street": "2875 Laurier, Suite D2-630",
        "postcode": "G1V 2M2",
        "city": "Quebec",
        "region": "QC",
        "country": "Canada",
    }
    assert card.fields["website"] == "http://nomis80.org"
    assert "GEO;TYPE=work:geo:46.772673,-71.282945" in card.extra
    assert "KEY;TYPE=work;VALUE=uri:http://www.viagenie.ca/simon.perreault/simon.asc" in card.extra


def test_fullcontact_4_0_duplicates():
    card = only("fullcontact.vcf")
    assert card.fields["birthday"] == dt.date(2016, 8, 1)  # BDAY;ALTID=1 given twice: read once
    assert not any(line.startswith("BDAY") for line in card.extra)
    assert card.fields["title"] == "Title1" and "TITLE:Title2" in card.extra
    assert card.fields["website"] == "http://www.homepage.com"
    assert card.fields["tags"] == ["Tag"]
    assert card.fields["notes"] == "Notes line 1\nNotes line 2"
    assert card.extra[0] == "ORG:Organization1;Department1"
    assert "ORG:Organization2;Department2" in card.extra
    assert sum(line.startswith("PHOTO:https://") for line in card.extra) == 3  # links stay
    assert card.photo is None
    assert "IMPP;X-SERVICE-TYPE=GTalk:xmpp:gtalk" in card.extra


def test_vcard_2_1_with_empty_name_slashed_birthday_and_quoted_printable():
    card = only("test_vcard_2.vcf")
    assert card.fields["birthday"] == dt.date(1995, 5, 5)  # BDAY:1995/05/05
    assert card.fields["address"]["street"] == "100 Waters Edge"
    assert card.extra == [
        "ANNIVERSARY:2005/10/10",
        "PHOTO;TYPE=PNG:https://homepages.cae.wisc.edu/~ece533/images/airplane.png",
        # QP decoded (`=Ba` is no escape: one hex digit upper, one lower), 2.1 re-escaped
        "LABEL;TYPE=WORK,PREF:100 Waters Edge\\n=Baytown\\, LA 30314\\nUnited States of America",
        "LABEL;TYPE=HOME:42 Plantation St.\\n=Baytown\\, LA 30314\\nUnited States of America",
        "X-PROP;X-PARAM=Test-Param:Some text bla",
        "GENDER:O",
    ]
    assert card.warnings == []


def test_outlook_2003_quoted_printable_without_charset():
    card = only("vcard-antoni-outlook2003.vcf")
    assert card.fields["notes"] == "These are some notes about antoni."
    assert card.fields["birthday"] == dt.date(1980, 1, 18)  # BDAY:19800118
    assert card.fields["title"] == "Intern"
    assert card.fields["address"]["street"] == "Trippstadter Str. 122, 3.10"
    assert "ROLE:Software-Developer" in card.extra  # TITLE exists
    # soft line break joined before parsing; 8-bit bytes without CHARSET read as cp1252
    assert (
        "LABEL;TYPE=WORK:3.10\\nTrippstadter Str. 122\\nKaiserslautern\\, Rheinland-Pfalz 67663"
        "\\nDeutschland"
    ) in card.extra
    assert "LABEL;TYPE=HOME:Budryka 2/1110\\nKraków\\, ma³opolskie 30-072\\nPolen" in card.extra
    assert only("vcard-dirk.vcf").fields["notes"] == "The canonical Dirk"


def test_outlook_placeholders_and_key():
    card = only("outlook-2003.vcf")
    assert card.fields["notes"] == "This is the note field!!\nSecond line\n\nThird line is empty"
    assert card.extra[0] == "ORG:Company\\, The;TheDepartment"
    assert "TEL;TYPE=WORK,VOICE:BusinessPhone" in card.extra
    assert any(line.startswith("KEY;ENCODING=b;TYPE=X509:MIIDITCC") for line in card.extra)
    assert card.warnings == [
        f"line {n}: '{text}' is not a phone number; kept only as a vCard line"
        for n, text in (
            (10, "BusinessPhone"),
            (11, "HomePhone"),
            (12, "MobilePhone"),
            (13, "BusinessFaxPhone"),
        )
    ]


def test_xing_charset_and_empty_address():
    card = only("xing.vcf")
    assert card.uid == "XING-UID-XXXXXXXX"
    assert card.fields["address"] == {
        "postcode": "12345",
        "city": "City Name",
        "country": "Country",
    }
    assert card.fields["tags"] == ["Consulting"]
    assert card.fields["title"] == "CTO"
    assert not any(line.startswith("ADR") for line in card.extra)  # the empty one says nothing
    assert (
        "PHOTO;VALUE=URL;TYPE=PNG:https://placeholdit.imgix.net/~text?txtsize=33&txt=150%C3%97150"
        "&w=150&h=150"
    ) in card.extra
    assert card.warnings == []


def test_android_quoted_printable_utf8():
    android = cards("John_Doe_ANDROID.vcf")
    assert android[3].fields["notes"].startswith("Ñ Ñ Ñ")
    assert "\n\n" in android[3].fields["notes"]  # two NOTEs, both kept
    assert all("tags" not in c.fields for c in android)  # "My Contacts" is a system group
    assert android[4].fields["website"] == "https://www.company.com"
    assert android[4].warnings == [
        "line 44: 'ÑÑÑÑÑÑÑÑÑÑÑÑÑÑ' is not a valid email address: An email address must have an "
        "@-sign; kept only as a vCard line"
    ]
    assert android[5].warnings == ["line 82: bytes that are not UTF-8 were replaced"]


def test_thunderbird_categories_and_escaped_semicolon():
    card = only("thunderbird-MoreFunctionsForAddressBook-extension.vcf")
    assert card.fields["tags"] == ["category1", "category2", "category3"]
    assert card.fields["notes"].endswith('the "note" field; even curse words.')
    assert card.extra[0] == "ORG:TheOrganization;TheDepartment"


def test_properties_that_are_no_data():
    lotus = only("John_Doe_LOTUS_NOTES.vcf")
    assert not any(
        re.match(r"(PROFILE|VERSION|PRODID|REV|UID|N|FN|PHOTO)[;:]", x) for x in lotus.extra
    )
    assert "NAME:VCard for John Doe" in lotus.extra
    assert lotus.uid == "0e7602cc-443e-4b82-b4b1-90f62f99a199"
    assert only("ms_exchange.vcf").extra == ["MAILER:Microsoft Exchange", "CLASS:PUBLIC"]
    assert only("nextcloud_vcard.vcf").uid == "sabre-vobject-028652c3-e8c5-4bc1-8d09-b40aaca75e01"
    assert only("radicale-1587.vcf").extra == ["GEO:37.386013;-122.082932"]
    evolution = only("John_Doe_EVOLUTION.vcf")  # no final newline
    assert evolution.fields["tags"] == ["VIP"]
    assert evolution.extra[0] == "ORG:IBM;Accounting;Dungeon"
    assert evolution.fields["address"]["street"] == "15 Crescent moon drive, ASB-123"


def test_broken_label_parameter_keeps_the_card():
    card = only("issue114.vcf")  # LABEL=...^'... : a colon in an unquoted parameter
    assert card.fields["address"]["city"] == "Bad Homburg"
    assert card.fields["address"]["postcode"] == "61352"
    assert card.fields["address"]["country"] == "Germany"


# -- broken cards --------------------------------------------------------------------------------


def test_a_garbage_line_is_dropped_with_a_warning():
    card = only("rc-vcard-invalid-line.vcf")
    assert card.warnings == ["line 2: not a vCard line: 'blablabla'"]
    good = only("rc-vcard.vcf")
    assert (card.fields, card.organization, card.extra) == (
        good.fields,
        good.organization,
        good.extra,
    )


def test_an_invalid_escape_is_a_warning():
    card = only("invalid-vcard.vcf")
    assert card.organization == "Test. Inc."
    assert card.warnings == ["line 9: ORG: unknown escape \\. read without '\\'"]


def test_a_card_of_only_a_photo_is_broken():
    assert read("issue64.vcf") == [
        Broken(source="issue64.vcf", line=1, message="a card with no name, organisation or email")
    ]


def test_a_broken_card_does_not_stop_the_others():
    data = (
        b"junk before\r\n"
        b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ada\r\nEND:VCARD\r\n"
        b"BEGIN:VCARD\r\nVERSION:3.0\r\nblablabla\r\nEND:VCARD\r\n"
        b"BEGIN:VCARD\r\nVERSION:3.0\r\nNOTE:no name\r\nEND:VCARD\r\n"
        b"BEGIN:VCARD\r\nFN:Bea\r\n"  # no END
        b"BEGIN:VCARD\r\nFN:Cy\r\nEND:VCARD\r\njunk after"
    )
    results = vcard.read(data, "mixed.vcf")
    assert [(type(r).__name__, r.line) for r in results] == [
        ("Card", 2),
        ("Broken", 8),
        ("Broken", 10),
        ("Card", 14),
        ("Card", 16),
    ]
    assert results[1].message == "not a vCard line: 'blablabla'; nothing usable remains"
    assert results[2].message == "a card with no name, organisation or email"
    assert results[3].warnings == ["line 14: the card has no END:VCARD; read to line 15"]
    assert vcard.read(b"no cards here", "x") == []


def test_a_line_vobject_would_hang_on_is_rejected_at_once():
    line = b"X-FOO" + b";A=b" * 2000  # no colon: vobject's pattern backtracks exponentially
    started = time.perf_counter()
    (card,) = vcard.read(b"BEGIN:VCARD\r\nFN:Ada\r\n" + line + b"\r\nEND:VCARD\r\n", "x")
    assert time.perf_counter() - started < 2
    assert isinstance(card, Card) and card.warnings[0].startswith("line 3: not a vCard line")


# -- encodings and line ends --------------------------------------------------------------------


def _text(name: str) -> str:
    return (DATA / name).read_bytes().decode("ascii")


@pytest.mark.parametrize(
    "encode",
    [
        lambda t: t.encode("utf-8-sig"),
        lambda t: t.encode("utf-16"),  # with BOM
        lambda t: t.encode("utf-16-le"),
        lambda t: t.encode("utf-16-be"),
        lambda t: t.replace("\r\n", "\n").encode(),
        lambda t: t.replace("\r\n", "\r").encode(),
        lambda t: t.replace("\r\n", "\r\r\n").encode(),
    ],
    ids=["utf8-bom", "utf16-bom", "utf16le", "utf16be", "lf", "cr", "crcrlf"],
)
def test_encodings_and_line_ends_read_alike(encode):
    text = _text("gmail-single2.vcf").replace("VCard Test", "Zoë Çelik 😀")
    (card,) = vcard.read(encode(text), "x")
    (plain,) = vcard.read(text.encode(), "x")
    assert isinstance(card, Card) and card.fields["name"] == "Zoë Çelik 😀"
    assert (card.fields, card.extra, card.warnings) == (plain.fields, plain.extra, plain.warnings)


def test_8bit_text_without_charset_and_with_one():
    data = (
        b"BEGIN:VCARD\r\nVERSION:2.1\r\nN:M\xfcller;J\xf6rg\r\nFN:J\xf6rg M\xfcller\r\n"
        b"ORG;CHARSET=ISO-8859-2:Firma \xb3\xf3d\xbc\r\n"
        b"NOTE;ENCODING=QUOTED-PRINTABLE;CHARSET=UTF-8:caf=C3=A9 =E2=82=AC=0D=0Aline 2\r\n"
        b"TITLE;QUOTED-PRINTABLE:Gesch=E4ftsf=FChrer\r\nEND:VCARD\r\n"
    )
    (card,) = vcard.read(data, "x")
    assert card.fields["name"] == "Jörg Müller"  # cp1252
    assert card.organization == "Firma łódź"  # the CHARSET named
    assert card.fields["notes"] == "café €\nline 2"
    assert card.fields["title"] == "Geschäftsführer"  # 8-bit QP without CHARSET: not UTF-8


def test_vcard_2_1_commas_backslashes_and_bare_types():
    data = (
        b"BEGIN:VCARD\r\nVERSION:2.1\r\nFN:A\\B, C\r\nTEL;WORK;VOICE:+49 30 1234\r\n"
        b"ADR;HOME:;;Main St 5, back;Town;;1234;\r\nX-PATH;WORK:C:\\temp, here\r\nEND:VCARD\r\n"
    )
    (card,) = vcard.read(data, "x")
    assert card.fields["name"] == "A\\B, C"
    assert card.fields["phones"] == ["+49 30 1234"]
    assert card.fields["address"]["street"] == "Main St 5, back"
    assert card.extra == ["X-PATH;TYPE=WORK:C:\\\\temp\\, here"]  # 3.0 escaping


# -- birthdays ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("BDAY:1980-01-18", dt.date(1980, 1, 18)),
        ("BDAY:19800118", dt.date(1980, 1, 18)),
        ("BDAY:1995/05/05", dt.date(1995, 5, 5)),
        ("BDAY:--0415", "--04-15"),
        ("BDAY:--04-15", "--04-15"),
        ("BDAY:--0229", "--02-29"),
        ("BDAY:1912-06-23T00:00:00Z", dt.date(1912, 6, 23)),
        ("BDAY;VALUE=date:1990-02-12", dt.date(1990, 2, 12)),
        ("BDAY;VALUE=text:2016-08-01", dt.date(2016, 8, 1)),
        ("BDAY;X-APPLE-OMIT-YEAR=1604:1604-04-15", "--04-15"),
        ("BDAY:0902-03-04", dt.date(902, 3, 4)),
    ],
)
def test_birthday_forms(line, expected):
    (card,) = vcard.read(f"BEGIN:VCARD\r\nFN:A\r\n{line}\r\nEND:VCARD\r\n".encode(), "x")
    assert card.fields["birthday"] == expected
    assert card.warnings == []


@pytest.mark.parametrize("value", ["circa 1800", "1980-02-30", "--1340", "tomorrow"])
def test_a_birthday_that_is_no_day_is_kept_as_a_line(value):
    (card,) = vcard.read(f"BEGIN:VCARD\r\nFN:A\r\nBDAY:{value}\r\nEND:VCARD\r\n".encode(), "x")
    assert "birthday" not in card.fields
    assert card.extra == [f"BDAY:{value}"]
    assert card.warnings == [f"line 3: BDAY '{value}' is not a day; kept only as a vCard line"]


# -- photos ------------------------------------------------------------------------------------

PHOTOS = {
    "John_Doe_ANDROID.vcf": 5,  # 2.1 PHOTO;ENCODING=BASE64;JPEG, blank line after
    "John_Doe_BLACK_BERRY.vcf": 1,  # one unfolded line, no TYPE
    "John_Doe_IPHONE.vcf": 1,  # CR CR LF
    "John_Doe_LOTUS_NOTES.vcf": 1,
    "John_Doe_MAC_ADDRESS_BOOK.vcf": 1,  # PHOTO;BASE64 (bare), 2-space folding
    "John_Doe_MS_OUTLOOK.vcf": 1,
    "issue153.vcf": 1,
    "outlook-2007.vcf": 1,
    "thunderbird-MoreFunctionsForAddressBook-extension.vcf": 1,
}


@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_photos_decode_to_jpeg(name):
    card = cards(name)[PHOTOS[name] - 1]
    assert card.photo is not None
    data, extension = card.photo
    assert extension == "jpg" and data.startswith(JPEG) and len(data) > 500
    assert not any(line.startswith("PHOTO") for line in card.extra)


def test_photo_files_are_all_found():
    with_photo = {n for n in FILES for c in cards(n) if c.photo}
    assert with_photo == set(PHOTOS)


PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))


def test_a_4_0_data_uri_photo():
    import base64

    data = base64.b64encode(PNG).decode()
    text = (
        f"BEGIN:VCARD\r\nVERSION:4.0\r\nFN:A\r\nPHOTO:data:image/png;base64,{data}\r\nEND:VCARD\r\n"
    )
    (card,) = vcard.read(text.encode(), "x")
    assert card.photo == (PNG, "png")


def test_a_photo_that_is_no_image_is_dropped_with_a_warning():
    text = "BEGIN:VCARD\r\nFN:A\r\nPHOTO;ENCODING=b;TYPE=JPEG:bm90IGFuIGltYWdl\r\nEND:VCARD\r\n"
    (card,) = vcard.read(text.encode(), "x")
    assert card.photo is None and card.extra == []
    assert card.warnings == ["line 3: the photo is not a JPEG, PNG or GIF image; dropped"]


@pytest.mark.parametrize("version", ["3.0", "4.0"])
def test_photos_are_written_and_read_back(version):
    text = vcard.write({"name": "A"}, uid="u", photo=(PNG, "png"), version=version)
    assert (
        "PHOTO:data:image/png;base64," if version == "4.0" else "PHOTO;ENCODING=b;TYPE=PNG:"
    ) in text
    (card,) = vcard.read(text.encode(), "x")
    assert card.photo == (PNG, "png")


# -- writing -----------------------------------------------------------------------------------


def test_write_3_0():
    contact = {
        "name": "Ada King Lovelace",
        "emails": ["ada@example.com"],
        "phones": ["+44 20 7946 0000"],
        "title": "Analyst; first",
        "address": {"street": "12 St James's Sq\nFlat 2", "postcode": "SW1Y 4JH", "city": "London"},
        "birthday": "--12-10",
        "website": "https://ada.example",
        "notes": "Met at the library,\ntwice",
        "tags": ["vip", "math"],
        "vcard": ["X-SOCIALPROFILE;TYPE=twitter:https://x.com/ada", "item1.X-ABLABEL:Boat"],
        "created": "2026-01-01T00:00:00Z",  # not ours: ignored
    }
    text = vcard.write(
        contact, uid="ada-1@crm", company="Analytical Engines", revision="2026-02-03T04:05:06Z"
    )
    assert text == (
        "BEGIN:VCARD\r\n"
        "VERSION:3.0\r\n"
        "PRODID:-//crm//crm//EN\r\n"
        "UID:ada-1@crm\r\n"
        "FN:Ada King Lovelace\r\n"
        "N:Lovelace;Ada King;;;\r\n"
        "EMAIL;TYPE=INTERNET:ada@example.com\r\n"
        "TEL:+44 20 7946 0000\r\n"
        "ADR:;;12 St James's Sq\\nFlat 2;London;;SW1Y 4JH;\r\n"
        "ORG:Analytical Engines\r\n"
        "TITLE:Analyst\\; first\r\n"
        "URL:https://ada.example\r\n"
        "BDAY:--1210\r\n"
        "NOTE:Met at the library\\,\\ntwice\r\n"
        "CATEGORIES:vip,math\r\n"
        "REV:20260203T040506Z\r\n"
        "X-SOCIALPROFILE;TYPE=twitter:https://x.com/ada\r\n"
        "item1.X-ABLABEL:Boat\r\n"
        "END:VCARD\r\n"
    )


def test_write_4_0():
    contact = {"name": "Grace", "emails": ["g@example.com"], "birthday": dt.date(1906, 12, 9)}
    text = vcard.write(contact, uid="g", version="4.0")
    assert "VERSION:4.0\r\n" in text
    assert "N:;Grace;;;\r\n" in text  # one word: a given name
    assert "EMAIL:g@example.com\r\n" in text
    assert "BDAY:19061209\r\n" in text
    assert "BDAY:1906-12-09\r\n" in vcard.write(contact, uid="g")
    with pytest.raises(ValidationError):
        vcard.write(contact, uid="g", version="2.1")


def test_write_folds_at_75_octets_never_inside_a_character():
    name = "Zoë 😀 " * 40
    text = vcard.write({"name": name.strip(), "notes": "x" * 300}, uid="u")
    assert "\n" not in text.replace("\r\n", "")
    for line in text.encode("utf-8").split(b"\r\n"):
        assert len(line) <= 75
        line.decode("utf-8")  # each physical line is whole UTF-8
    (card,) = vcard.read(text.encode(), "x")
    assert card.fields["name"] == name.strip() and card.fields["notes"] == "x" * 300


def test_write_keeps_org_units_and_company_cards():
    apple = [
        "ORG:Apple Computer AG;Retail",
        "X-ABSHOWAS:COMPANY",
        " item1.X-ABLABEL:leading space",
        "END:VCARD",
        "no colon here",
        "X-MULTI:one\ntwo",
    ]
    text = vcard.write(
        {"name": "Apple Computer AG", "vcard": apple}, uid="u", company="Apple Computer AG"
    )
    lines = text.split("\r\n")
    assert "N:;;;;" in lines  # a company card: no person's name
    assert lines.count("ORG:Apple Computer AG;Retail") == 1  # in ORG's place, with its unit
    assert lines.index("ORG:Apple Computer AG;Retail") < lines.index("X-ABSHOWAS:COMPANY")
    assert lines[-5:] == [
        "X-ABSHOWAS:COMPANY",
        "item1.X-ABLABEL:leading space",
        "X-MULTI:one\\ntwo",
        "END:VCARD",
        "",
    ]
    other = vcard.write({"name": "A", "vcard": apple[:1]}, uid="u", company="Other Inc.")
    assert "ORG:Other Inc.\r\n" in other and "ORG:Apple Computer AG;Retail\r\n" in other


# -- round trips -------------------------------------------------------------------------------

VALID = [(name, i) for name in FILES for i, _ in enumerate(cards(name))]


@pytest.mark.parametrize("version", ["3.0", "4.0"])
@pytest.mark.parametrize(("name", "index"), VALID, ids=[f"{n}-{i}" for n, i in VALID])
def test_round_trip_of_every_real_card(name, index, version):
    card = cards(name)[index]
    (back,) = vcard.read(export(card, version).encode(), "back.vcf")
    assert isinstance(back, Card)
    assert back.fields == card.fields
    assert back.organization == card.organization
    assert back.uid == (card.uid or "a-uid")
    assert back.extra == card.extra
    assert back.photo == card.photo
    assert back.is_organization == card.is_organization
    assert back.warnings == [w for w in back.warnings if "kept only as a vCard line" in w]


# -- copyleft files (read from the shared folder, never copied) -------------------------------

COPYLEFT_NAMES = {
    "apple.vcf": ["Apple Computer AG"],
    "export.vcf": ["contact number one", "contact number two"],
    "johndoe.vcf": ["John Doë"],  # CHARSET=windows-1252, raw 0xEB
    "photo.vcf": ["Apple Computer AG"],
    # QP =F1 without CHARSET: read as cp1252 ñ (the producer likely meant ISO-8859-2 ń; no
    # CHARSET says so, and Roundcube's own test expects ñ too)
    "thebat.vcf": ["Piotr Iksiñski"],
    "utf-16_sample.vcf": ["Ǽgean ĽdaMonté"],  # UTF-16BE without BOM
}


@pytest.mark.skipif(not COPYLEFT.is_dir(), reason=f"{COPYLEFT} is not there (copyleft files)")
@pytest.mark.parametrize("name", sorted(COPYLEFT_NAMES))
def test_copyleft_files(name):
    path = COPYLEFT / name
    results = vcard.read(path.read_bytes(), name)
    assert all(isinstance(r, Card) for r in results)
    assert [r.fields["name"] for r in results if isinstance(r, Card)] == COPYLEFT_NAMES[name]


@pytest.mark.skipif(not COPYLEFT.is_dir(), reason=f"{COPYLEFT} is not there (copyleft files)")
def test_copyleft_details():
    def one(name: str) -> Card:
        (card,) = vcard.read((COPYLEFT / name).read_bytes(), name)
        assert isinstance(card, Card)
        return card

    apple = one("apple.vcf")
    assert apple.is_organization and apple.organization == "Apple Computer AG"
    assert apple.fields["address"]["city"] == "Wallisellen-Zürich"
    assert apple.photo is not None and apple.photo[0].startswith(JPEG)
    assert one("photo.vcf").photo[0].startswith(JPEG)
    assert one("utf-16_sample.vcf").fields["address"]["country"] == "Perú"
    assert one("johndoe.vcf").organization == "roundcube.net"
    second = vcard.read((COPYLEFT / "export.vcf").read_bytes(), "export.vcf")[1]
    assert second.fields["notes"] == "here's some unicode text…"  # QP UTF-8, no CHARSET


# -- properties --------------------------------------------------------------------------------

REAL = [(DATA / name).read_bytes() for name in FILES]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
@example(b"BEGIN:VCARD\r\n" + b";" * 500)
@example(b"\xff\xfe" + "BEGIN:VCARD\r\nFN:\ud800\r\n".encode("utf-16-le", "surrogatepass"))
def test_read_never_raises_on_any_bytes(data):
    for result in vcard.read(data, "any.vcf"):
        assert isinstance(result, Card | Broken)
        if isinstance(result, Broken):
            assert "\n" not in result.message


TOKENS = [
    b"\r\n",
    b"\n",
    b"\r",
    b":",
    b";",
    b"=",
    b'"',
    b"\\",
    b",",
    b" ",
    b"\t",
    b"\x00",
    b"\xff",
    b"\xc3",
    b"BEGIN:VCARD",
    b"END:VCARD",
    b"=\r\n",
    b"VERSION:2.1",
    b"VERSION:4.0",
    b"ENCODING=QUOTED-PRINTABLE",
    b";CHARSET=base64",
    b";CHARSET=x",
    b"PHOTO;ENCODING=b:",
    b"data:",
    b"item1.",
    b"BDAY:",
    b"--0230",
    b"TEL:tel:",
    b";ALTID=1",
    b"ORG:",
    b"URL:http://[",
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(REAL)))
    for _ in range(draw(st.integers(1, 12))):
        pos = draw(st.integers(0, len(data)))
        kind = draw(st.integers(0, 2))
        if kind == 0:
            data[pos:pos] = draw(st.sampled_from(TOKENS))
        elif kind == 1:
            del data[pos : pos + draw(st.integers(1, 40))]
        else:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_real_files_read_and_round_trip(data):
    for card in vcard.read(data, "mutated.vcf"):
        if isinstance(card, Broken):
            assert not card.message.startswith("cannot read")  # no bug behind it
            continue
        (back,) = vcard.read(export(card).encode(), "back.vcf")
        assert isinstance(back, Card)
        assert (back.fields, back.organization, back.extra) == (
            card.fields,
            card.organization,
            card.extra,
        )


NASTY = st.sampled_from(
    [
        ",",
        ";",
        "\\",
        ":",
        '"',
        "'",
        "=SUM(A1)",
        "😀",
        "Zoë",
        "no",
        "2024-01-01",
        "[bold]",
        "\\n",
        "=0D=0A",
        "^n",
        "BEGIN:VCARD",
        "END:VCARD",
        " ",
        "a",
        "Ω",
        "\u2028",
        "ß",
        "日本",
    ]
)
ONE_LINE = st.lists(NASTY, min_size=1, max_size=8).map("".join).map(str.strip).filter(bool)
MULTI_LINE = (
    st.lists(st.one_of(NASTY, st.just("\n"), st.just("\t")), min_size=1, max_size=12)
    .map("".join)
    .map(lambda s: s.strip("\n"))
    .filter(str.strip)
)
TAG = (
    st.lists(NASTY, min_size=1, max_size=4)
    .map("".join)
    .map(lambda s: re.sub(r"[\s,]", "", s))
    .filter(lambda t: t and t.replace("-", "").lower() not in vcard.SYSTEM_GROUPS)
)


@st.composite
def contacts(draw: st.DrawFn) -> dict[str, object]:
    address = draw(
        st.dictionaries(
            st.sampled_from(["street", "postcode", "city", "region", "country"]),
            ONE_LINE,
        )
    )
    optional = {
        "emails": draw(
            st.lists(st.sampled_from(["ada@example.com", "o'brien+x@example.org"]), unique=True)
        ),
        "phones": draw(
            st.lists(
                st.sampled_from(["+49 (0)30 1234-5678", "555-1234", "+1 415 555 0100 ext. 12"]),
                unique=True,
            )
        ),
        "title": draw(st.one_of(st.none(), ONE_LINE)),
        "address": address,
        "birthday": draw(st.one_of(st.none(), st.dates(), st.sampled_from(["--02-29", "--12-31"]))),
        "website": draw(st.one_of(st.none(), st.just("https://example.com/p?a=1,2;b=3"))),
        "notes": draw(st.one_of(st.none(), MULTI_LINE)),
        "tags": draw(st.lists(TAG, unique=True, max_size=4)),
    }
    fields = {"name": draw(ONE_LINE), **{k: v for k, v in optional.items() if v}}
    return fields


def _escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;").replace("\n", "\\n")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    contacts(),
    st.one_of(st.none(), ONE_LINE),
    ONE_LINE,
    st.lists(ONE_LINE, max_size=3),
    st.sampled_from(["3.0", "4.0"]),
)
def test_nasty_strings_round_trip(fields, company, uid, extra_values, version):
    extra = [f"X-CRM-TEST{i}:{_escaped(v)}" for i, v in enumerate(extra_values)]
    text = vcard.write({**fields, "vcard": extra}, uid=uid, company=company, version=version)
    (card,) = vcard.read(text.encode(), "nasty.vcf")
    assert isinstance(card, Card), card
    assert card.fields == fields
    assert card.organization == company
    assert card.uid == uid
    assert card.extra == extra
    assert card.warnings == []
