"""crm check: every problem in the folder, as path:line: message, exit 1."""

from __future__ import annotations

import json

from helpers import no_traceback

BROKEN = {
    "contacts/ada.yaml": "name: Ada\nemails:\n  - ada@x.example\ncompany: ghost-inc\n",
    "contacts/ada-twin.yaml": "name: Ada Twin\nemails:\n  - ADA@x.example\n",
    "contacts/no-name.yaml": "emails:\n  - nobody@x.example\n",
    "contacts/bad-values.yaml": (
        "name: Bad\n"
        "emails:\n  - not-an-email\n"
        "phones:\n  - 0123456\n"
        "title: no\n"
        "created: yesterday\n"
    ),
    "contacts/Bad Name.yaml": "name: Spaces\n",
    "contacts/unparsable.yaml": "name: [oops\n",
    "contacts/a-list.yaml": "- name\n- x\n",
    "contacts/dupkey.yaml": "name: A\nname: B\n",
    "deals/float-money.yaml": "title: X\nvalue: 4500.50\nstage: dreaming\nprobability: 120\n",
    "deals/too-precise.yaml": 'title: Y\nvalue: "10.001"\ncurrency: EUR\nclose_date: 2026-13-01\n',
    "deals/yen.yaml": 'title: Z\nvalue: "10.50"\ncurrency: JPY\n',
    "leads/lead.yaml": "name: L\nstatus: hot\n",
    "leads/traps.yaml": (
        "name: 1:30\ncompany: 0123\ntitle: 1984\nsource: 1.50\nstatus: New\ncustom:\n  x: .inf\n"
    ),
    "companies/traps.yaml": "name: T\naddress:\n  postcode: 01234\n  city: on\n  street: 12\n",
    "deals/octal.yaml": "title: O\nvalue: 012000\nprobability: 050\n",
    "deals/whole.yaml": "title: W\nvalue: 4500\n",
    "companies/acme.yaml": "name: Acme\ndomain: not a domain\nwebsite: ftp://x\n",
}


def test_a_clean_folder_passes(crm, folder):
    assert crm("company", "add", "Acme", "-e", "info@acme.example").ok
    assert crm("contact", "add", "Ada", "-e", "ada@acme.example", "--company", "acme").ok
    assert crm("deal", "add", "Shop", "--contact", "ada", "--value", "100").ok
    result = crm("check")
    assert result.ok
    assert result.stdout == ""
    assert crm("check", "-f", "json").stdout == "[]\n"


def test_every_problem_is_reported_with_file_and_line(crm, folder):
    for name, text in BROKEN.items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "contacts" / ".crm-tmp-leftover.yaml").write_text("name: [half-writ")
    result = crm("check")
    no_traceback(result)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    expected = [
        "contacts/Bad Name.yaml: file name is not a valid id (rename it to bad-name.yaml)",
        "contacts/a-list.yaml:1: must be a mapping of fields, not list",
        "contacts/ada.yaml:3: emails.0: ada@x.example is also on contacts/ada-twin.yaml",
        "contacts/ada.yaml:4: company: no company 'ghost-inc' (dangling reference)",
        "contacts/bad-values.yaml:3: emails: 'not-an-email' is not a valid email address",
        "contacts/bad-values.yaml:5: phones: '0123456' is read as the number 42798; put it in quotes",
        "contacts/bad-values.yaml:6: title: 'no' is read as yes/no; put the text in quotes",
        "contacts/bad-values.yaml:7: created: 'yesterday' is not an ISO 8601 timestamp",
        "contacts/dupkey.yaml:2: duplicate key 'name' (first on line 1)",
        "contacts/no-name.yaml: name: is required",
        "contacts/unparsable.yaml:2: invalid YAML",
        "deals/float-money.yaml:2: value: 4500.5 is a YAML number; write money as a quoted string",
        "deals/float-money.yaml:3: stage: 'dreaming' is not one of: lead",
        "deals/float-money.yaml:4: probability: '120' is not a whole number from 0 to 100",
        "deals/too-precise.yaml:2: value: 10.001 has more decimals than EUR allows (2)",
        "deals/too-precise.yaml:4: close_date: '2026-13-01' is not a date",
        "deals/yen.yaml:2: value: 10.50 has more decimals than JPY allows (0)",
        "leads/lead.yaml:2: status: 'hot' is not one of: new, contacted",
        "companies/acme.yaml:2: domain: 'not a domain' is not a domain name",
        "companies/acme.yaml:3: website: 'ftp://x' is not a web address",
        "leads/traps.yaml:1: name: '1:30' is read as the number 90; put it in quotes",
        "leads/traps.yaml:2: company: '0123' is read as the number 83",
        "leads/traps.yaml:4: source: '1.50' is read as the number 1.5",
        "leads/traps.yaml:5: status: 'New' is not one of: new",
        "companies/traps.yaml:3: address.postcode: '01234' is read as the number 668",
        "companies/traps.yaml:4: address.city: 'on' is read as yes/no",
        "deals/octal.yaml:2: value: '012000' is read as the number 5120",
        "deals/octal.yaml:3: probability: '050' is read as the number 40",
    ]
    assert not any(
        line.startswith(("leads/traps.yaml:3", "companies/traps.yaml:5")) for line in lines
    )
    assert not any(line.startswith("deals/whole.yaml") for line in lines)
    for want in expected:
        assert any(line.startswith(want) for line in lines), (want, lines)
    assert not any("crm-tmp" in line for line in lines)
    assert [line.split(":")[0] for line in lines] == sorted(line.split(":")[0] for line in lines)
    data = json.loads(crm("check", "-f", "json").stdout)
    assert {
        "path": "deals/yen.yaml",
        "line": 2,
        "message": "value: 10.50 has more decimals than JPY allows (0)",
    } in data


def test_check_reports_a_broken_crm_yaml_and_goes_on(crm, folder):
    (folder / "crm.yaml").write_text("currency: EURO\nstages: [{name: lead, status: maybe}]\n")
    (folder / "contacts" / "x.yaml").write_text("emails: []\n")
    result = crm("check")
    assert result.exit_code == 1
    assert "crm.yaml:1: currency: 'EURO' is not an ISO 4217 currency code" in result.stdout
    assert "crm.yaml:2: stages.0.status: 'maybe' is not one of: open, won, lost" in result.stdout
    assert "contacts/x.yaml: name: is required" in result.stdout


def test_undeclared_custom_fields_are_kept_not_reported(crm, folder):
    (folder / "contacts" / "x.yaml").write_text("name: X\ncustom:\n  shoe_size: 38\nnickname: Ex\n")
    assert crm("check").ok
    data = json.loads(crm("contact", "show", "x", "-f", "json").stdout)
    assert data["custom"] == {"shoe_size": 38}
    assert data["nickname"] == "Ex"


def test_declared_custom_fields_are_validated(crm, folder):
    config = folder / "crm.yaml"
    config.write_text(
        config.read_text().replace("  deal: {}", "  deal:\n    budget: money\n    due: date")
    )
    (folder / "deals" / "x.yaml").write_text('title: X\ncustom:\n  budget: "1.234"\n  due: soon\n')
    result = crm("check")
    assert (
        "deals/x.yaml:3: custom.budget: 1.234 has more decimals than EUR allows (2)"
        in result.stdout
    )
    assert "deals/x.yaml:4: custom.due: 'soon' is not a date" in result.stdout


def test_examples_pass_check(crm, example):
    result = crm("check")
    assert result.ok, result.stdout + result.stderr


def test_a_problem_quoting_a_value_with_line_breaks_is_one_line(crm, folder):
    (folder / "contacts" / "odd.yaml").write_text(
        'name: Odd\nemails: ["a@b.example\\r\\nBcc: x@evil.example"]\n'
    )
    result = crm("check")
    assert result.exit_code == 1
    lines = [line for line in result.stdout.splitlines() if line.startswith("contacts/odd.yaml")]
    assert lines and all("evil" not in line or "Bcc" in line for line in lines)
    assert not any(line.startswith("Bcc") for line in result.stdout.splitlines())
