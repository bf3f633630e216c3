"""crm fmt: records in the canonical form, which is what crm itself writes; data never changes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_roundtrip import NASTY

from crm.models import CONTACT, LEAD
from crm.store import canonical, yamlio
from helpers import invoice_with_lines, no_traceback


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under `root` but crm's working state, by path."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".crm" not in p.parts and ".git" not in p.parts
    }


def write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)


def fmt_text(text: str, rtype=CONTACT, custom=None) -> canonical.Formatted:
    return canonical.format_text(text, f"{rtype.plural}/x.yaml", rtype, custom)


# -- what crm writes is canonical ---------------------------------------------------------------

WORKFLOW = [
    ("company", "set", "acme", "industry=Design", "domain=acme.example", "payment_terms=30"),
    ("company", "set", "acme", "address.country=DE", "tags+=client"),
    ("contact", "set", "ada", "title=no", "phone=0123 456", "birthday=--05-02", "cadence=2w"),
    ("contact", "set", "ada", "notes=Met at a fair.\nLikes: short emails # really", "tags=a,b"),
    ("contact", "set", "ada", "address.city=on", "website=https://ada.example/x#y"),
    ("lead", "add", "Grace Hopper", "--company", "Navy", "--budget", "5000", "--authority", "yes"),
    ("lead", "set", "grace", "status=contacted", "last_contact=2026-11-20", "need=010"),
    ("deal", "add", "Acme redesign", "--company", "acme", "--value", "4500.50"),
    ("deal", "move", "acme-redesign", "proposal"),
    ("deal", "set", "acme-redesign", "close_date=2026-12-15", "probability=60"),
    ("task", "add", "Call Ada: about #2", "--due", "2026-11-25 14:00", "--for", "ada"),
    ("task", "add", "Weekly report", "--due", "2026-11-27", "--repeat", "weekly", "-p", "high"),
    ("task", "done", "call-ada-about-2"),
    (
        "log",
        "ada",
        "acme-redesign",
        "It's fine: she said yes",
        "--type",
        "call",
        "--duration",
        "30m",
    ),
    ("product", "add", "Hosting", "--price", "19.90", "--unit", "month", "--id", "hosting"),
    ("quote", "new", "Website", "--for", "acme"),
    ("quote", "line", "add", "website", "--product", "design", "--qty", "10"),
    ("quote", "send", "website", "--no-email"),
    ("quote", "accept", "website"),
    ("invoice", "from-quote", "website"),
    (
        "recurring",
        "add",
        "Hosting",
        "--for",
        "acme",
        "--schedule",
        "monthly",
        "--start",
        "2026-11-01",
    ),
    ("recurring", "line", "add", "hosting", "--product", "hosting"),
]


def test_what_crm_writes_is_already_canonical(crm, billed: Path):
    """Records made and changed by many commands: `crm fmt --check` finds nothing to do."""
    assert crm("contact", "set", "ada", "company=acme-gmbh").ok
    for args in WORKFLOW:
        result = crm(*args)
        assert result.ok, (args, result.stderr)
    rid = invoice_with_lines(
        crm, ["--product", "design", "--qty", "1.5"], ["--text", "X: y", "--price", "10"]
    )
    for args in (
        ("invoice", "issue", rid),
        ("invoice", "pay", rid, "--amount", "50.00", "--method", "bank transfer"),
        ("invoice", "credit", rid, "--lines", "2", "--reason", "no: wrong"),
    ):
        result = crm(*args)
        assert result.ok, (args, result.stderr)
    before = snapshot(billed)
    result = crm("fmt", "--check")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    result = crm("fmt")
    assert result.ok, result.stderr
    assert "All" in result.stderr and "in canonical form" in result.stderr
    assert snapshot(billed) == before


CUSTOM_FIELDS = """\
  contact:
    nickname: text
    employees: number
    newsletter: bool
    anniversary: date
"""


def declare(config: Path, fields: str = CUSTOM_FIELDS) -> None:
    """Custom fields of contacts in crm.yaml."""
    config.write_text(config.read_text().replace("  contact: {}\n", fields, 1))


# Text as people type it, among it what YAML reads as something else.
TEXT = st.one_of(
    st.sampled_from([v for v in NASTY if v.strip() and all(" " <= c != "\x7f" for c in v)]),
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x85")
        | st.sampled_from(list(":#-'\"[]{}&*!|>%@`, ")),
        min_size=1,
        max_size=30,
    ),
).filter(lambda s: s.strip() and "\u2028" not in s and "\u2029" not in s)
NOTES = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)) | st.sampled_from(["\n", " ", "#", ":"]),
    min_size=1,
    max_size=60,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    name=TEXT,
    title=TEXT,
    notes=NOTES,
    city=TEXT,
    nickname=TEXT,
    employees=st.integers(min_value=-(10**6), max_value=10**6),
    newsletter=st.sampled_from(["yes", "no", "true", "false"]),
    later=TEXT,
)
@example(
    name="no",
    title="2024-01-01",
    notes="a\n\nb\n",
    city="010",
    nickname="1:30",
    employees=7,
    newsletter="yes",
    later="x #y",
)
def test_records_added_and_set_through_the_cli_are_canonical(
    tmp_path_factory, name, title, notes, city, nickname, employees, newsletter, later
):
    """dump(load(x)) == x for what `add` and `set` write: `fmt --check` is silent, whatever
    the values."""
    from typer.testing import CliRunner

    from crm.cli import build_app

    root = tmp_path_factory.mktemp("crm")
    runner = CliRunner()
    app = build_app(None)

    def run(*args: str, input: str | None = None) -> None:
        result = runner.invoke(app, ["--dir", str(root), *args], input=input)
        assert result.exit_code == 0, (args, result.stderr)

    run("init", "--no-git")
    declare(root / "crm.yaml")
    run(
        "contact", "add", "--id", "x", "--title", title, "--notes", "-",
        "--field", f"nickname={nickname}", "--field", f"employees={employees}",
        "--", name, input=notes,
    )  # fmt: skip
    run("contact", "set", "x", f"address.city={city}", f"newsletter={newsletter}")
    run("contact", "set", "x", f"title={later}", "anniversary=2026-05-01", "tags+=vip")
    result = runner.invoke(app, ["--dir", str(root), "fmt", "--check"])
    text = (root / "contacts" / "x.yaml").read_text(encoding="utf-8")
    assert (result.exit_code, result.stdout) == (0, ""), text


# -- hand-written files are made canonical ------------------------------------------------------

HAND_WRITTEN = (
    "\ufeff# Ada's card\r\n"
    "nickname: Addie        # before any field: stays first\r\n"
    "name:    Ada Lovelace  # the countess\r\n"
    "notes: 'Met at a fair.'\r\n"
    "\r\n"
    "\r\n"
    "# how to reach her\r\n"
    "emails: [ada@acme.example, 'ada@old.example']   # work, old\r\n"
    "title: 2024-01-01\r\n"
    'address: {city: Berlin, street: "Hauptstr. 1"}\r\n'
    "company:    acme\r\n"
    "custom:\r\n"
    "    shoe_size: 38\r\n"
    "    newsletter: yes      # asked at the fair\r\n"
    "tags:\r\n"
    "    - vip   # since May\r\n"
    "    # a comment inside the list\r\n"
    "    - client\r\n"
    "created: 2026-01-01 10:00:00Z\r\n"
    "updated: 2026-01-02T10:00:00Z\r\n"
    "# the end\r\n"
    "\r\n"
)

CANONICAL = """\
# Ada's card
nickname: Addie        # before any field: stays first
name: Ada Lovelace     # the countess

# how to reach her
emails:                                         # work, old
  - ada@acme.example
  - ada@old.example
title: "2024-01-01"
company: acme
address:
  street: Hauptstr. 1
  city: Berlin
tags:
  - vip     # since May
  # a comment inside the list
  - client
notes: Met at a fair.
custom:
  shoe_size: 38
  newsletter: true       # asked at the fair
created: 2026-01-01T10:00:00Z
updated: 2026-01-02T10:00:00Z
# the end
"""


def test_a_hand_written_file_is_made_canonical_keeping_comments_and_data(crm, folder):
    declare(folder / "crm.yaml", CUSTOM_FIELDS.replace("    nickname: text\n", ""))
    assert crm("company", "add", "Acme").ok
    path = folder / "contacts" / "ada.yaml"
    write(path, HAND_WRITTEN)
    before = yamlio.parse(HAND_WRITTEN.lstrip("\ufeff").replace("\r\n", "\n"), "x").data
    result = crm("fmt")
    assert result.ok, result.stderr
    assert result.stderr == "Formatted 1 of 2 records\n"
    assert path.read_bytes() == CANONICAL.encode("utf-8")
    assert yamlio.parse(CANONICAL, "x").data == before
    again = crm("fmt", "--check")
    assert (again.exit_code, again.stdout) == (0, "")
    assert crm("check").ok


@pytest.mark.parametrize(
    ("written", "canonical_text"),
    [
        ("name: x\r\ntitle: y\r\n", "name: x\ntitle: y\n"),  # CRLF
        ("\ufeffname: x\n", "name: x\n"),  # byte-order mark
        ("name: x", "name: x\n"),  # no newline at the end
        ("name: x\n\n\n", "name: x\n"),  # blank lines at the end
        ("---\nname: x\n...\n", "name: x\n"),  # document markers
        ("title: CTO\nname: x\n", "name: x\ntitle: CTO\n"),  # key order
        ("name: x\naddress:\n    city: B\n    street: S\n", "name: x\naddress:\n  street: S\n  city: B\n"),
        ("name: x\ntags:\n- a\n- b\n", "name: x\ntags:\n  - a\n  - b\n"),  # list indentation
        ("name: x\ntags: [a, b]\n", "name: x\ntags:\n  - a\n  - b\n"),  # flow list
        ("{name: x, title: y}\n", "name: x\ntitle: y\n"),  # flow mapping
        ("name: 'x'\n", "name: x\n"),  # needless quotes
        ('name: \'it\'\'s\'\n', "name: it's\n"),
        ("name: 'it''s: ok'\n", 'name: "it\'s: ok"\n'),
        ('name: "x: y"\n', "name: 'x: y'\n"),
        ("name: x\ntitle: 2024-01-01\n", 'name: x\ntitle: "2024-01-01"\n'),  # a date as text
        ("name: x\ntitle: 1e3\n", "name: x\ntitle: '1e3'\n"),  # a number to YAML 1.2 only
        ("name: x\ntitle: 0o17\n", "name: x\ntitle: '0o17'\n"),
        ("name: x\nbirthday: 1990-05-02\n", "name: x\nbirthday: 1990-05-02\n"),
        ("name: x\ncadence: 2w\ntouch_after: '2026-01-01'\n", 'name: x\ncadence: 2w\ntouch_after: "2026-01-01"\n'),
        ("name: x\ncreated: 2026-01-01 10:00:00.5+00:00\n", "name: x\ncreated: 2026-01-01T10:00:00.500000Z\n"),
        ("name: x\npayment_terms: +30\n", "name: x\npayment_terms: 30\n"),
        ("name: x\npayment_terms: 1_0\n", "name: x\npayment_terms: 10\n"),
        ("name: x\nnickname: ~\n", "name: x\nnickname:\n"),
        ("name: x\nnickname: NULL\n", "name: x\nnickname:\n"),
        ("name: x\nnickname: True\n", "name: x\nnickname: true\n"),
        ("name: x\nnotes: >\n  folded\n  text\n", "name: x\nnotes: |\n  folded text\n"),
        ("name: x\nnotes: \"a\\nb\"\n", "name: x\nnotes: |-\n  a\n  b\n"),
        ("name: x\nnotes: |\n  a\n\n  b\n\ncreated: 2026-01-01T10:00:00Z\n",
         "name: x\nnotes: |\n  a\n\n  b\n\ncreated: 2026-01-01T10:00:00Z\n"),
        ("a: &x {k: 1}\nname: x\nb: *x\n", "a:\n  k: 1\nname: x\nb:\n  k: 1\n"),  # aliases
        ("", ""),  # nothing
        ("# only a comment\n\n", "# only a comment\n"),
    ],
)  # fmt: skip
def test_canonical_forms(written, canonical_text):
    result = fmt_text(written)
    assert result.problems == ()
    assert result.text == canonical_text
    assert fmt_text(canonical_text).text == canonical_text
    before = yamlio.parse(written.lstrip("\ufeff").replace("\r\n", "\n"), "x.yaml").data
    assert yamlio.parse(canonical_text, "x.yaml").data == before


def test_comments_move_with_the_keys_they_describe():
    written = (
        "# about the title\n"
        "title: CTO  # promoted\n"
        "# about the name\n"
        "name: Ada\n"
        "address:\n"
        "  # the city\n"
        "  city: Berlin  # capital\n"
        "  # the street\n"
        "  street: Unter den Linden 1\n"
    )
    assert fmt_text(written).text == (
        "# about the name\n"
        "name: Ada\n"
        "# about the title\n"
        "title: CTO  # promoted\n"
        "address:\n"
        "  # the street\n"
        "  street: Unter den Linden 1\n"
        "  # the city\n"
        "  city: Berlin  # capital\n"
    )


@pytest.mark.parametrize(
    ("written", "canonical_text"),
    [
        (  # a flow mapping over several lines: each comment stays with its key
            "name: x\naddress: {   # home\n  city: B,  # c\n  # s\n  street: S\n}  # end\n"
            "tags: [a,  # first\n  b]\n",
            "name: x\naddress:     # home\n  # s\n  street: S\n  city: B   # c\n# end\n"
            "tags:      # first\n  - a\n  - b\n",
        ),
        (  # beside a lone dash: above the item
            "name: x\nhistory:\n  - # first\n    at: 2026-01-01T10:00:00Z\n",
            "name: x\nhistory:\n  # first\n  - at: 2026-01-01T10:00:00Z\n",
        ),
        ("--- # doc\nname: x # n\n... # end\n", "# doc\nname: x # n\n# end\n"),
        ("name:\n  Ada  # c\ntitle: t\n", "name: Ada # c\ntitle: t\n"),
        (  # in a block, `#` is text; after it, a comment
            "name: x\ncustom:\n  a: |\n    text\n    # text\n  # about b\n  b: 1\n",
            "name: x\ncustom:\n  a: |\n    text\n    # text\n  # about b\n  b: 1\n",
        ),
        (  # the blank lines a |+ block keeps are its text
            "name: x\nnotes: |+\n  a\n\n\n# about title\ntitle: t\n",
            "name: x\n# about title\ntitle: t\nnotes: |+\n  a\n\n\n...\n",
        ),
        ("name: x  # a\n\n\n\ntitle: t\n# tail\n\n", "name: x  # a\n\ntitle: t\n# tail\n"),
    ],
)
def test_comments_in_unusual_places(written, canonical_text):
    assert fmt_text(written).text == canonical_text
    assert fmt_text(canonical_text).text == canonical_text


def test_a_bool_field_takes_yes_and_no_as_true_and_false():
    written = 'name: Grace\nstatus: new\nbudget: "5000.00"\nauthority: yes\n'
    assert fmt_text(written, LEAD).text == written.replace("yes", "true")
    custom = {"newsletter": canonical.Kind.BOOL}
    assert fmt_text("name: x\ncustom:\n  newsletter: off\n", CONTACT, custom).text == (
        "name: x\ncustom:\n  newsletter: false\n"
    )


@pytest.mark.parametrize(
    ("written", "line", "message"),
    [
        ("name: x\ntitle: no\n", 2, 'title: no reads as false; write "no" (in quotes)'),
        ("name: x\naddress:\n  postcode: 01234\n", 3, "address.postcode: 01234 reads as 668"),
        ("name: x\nphones:\n  - 0123456\n", 3, "phones.0: 0123456 reads as 42798"),
        ("name: x\ntitle: 1:30\n", 2, "title: 1:30 reads as 90"),
        ("name: x\npayment_terms: 010\n", 2, "payment_terms: 010 reads as 8"),
        ("name: x\nnickname: on\n", 2, "nickname: on reads as true"),
        ("name: x\ncustom:\n  newsletter: yes\n", 3, "custom.newsletter: yes reads as true"),
        ("name: x\ntitle: 2024-01-01 10:00:00\n", 2, "title: 2024-01-01 10:00:00 reads as"),
        ("name: x\ntitle: 1.50\n", 2, "title: 1.50 reads as 1.5"),
        ("name: x\ncustom:\n  price: 1.50\n", 3, "custom.price: 1.50 reads as 1.5"),
    ],
)
def test_values_whose_text_and_meaning_differ_are_left_as_written(written, line, message):
    """`title: no` is false to crm and "no" to YAML 1.2: fmt will not guess which is meant."""
    result = fmt_text(written)
    assert result.text is None
    assert len(result.problems) == 1
    assert str(result.problems[0]).startswith(f"contacts/x.yaml:{line}: {message}")


def test_unreadable_and_ambiguous_files_are_reported_and_left_alone(crm, folder):
    write(folder / "contacts" / "bad.yaml", "name: [unclosed\n")
    write(folder / "contacts" / "no.yaml", "name: x\ntitle: no\n")
    write(folder / "contacts" / "list.yaml", "- a\n- b\n")
    write(folder / "contacts" / "Bad_Name.yaml", "name: x\n")
    write(folder / "contacts" / "fine.yaml", "title: y\nname: x\n")
    write(folder / "companies" / "latin1.yaml", "name: Caf\xe9\n".encode("latin-1"))
    before = snapshot(folder)
    result = crm("fmt")
    no_traceback(result)
    assert result.exit_code == 1
    problems = result.stderr.splitlines()
    assert problems[:-2] == [
        "contacts/Bad_Name.yaml: file name is not a valid id (rename it to bad-name.yaml)",
        "contacts/bad.yaml:2: invalid YAML: did not find expected ',' or ']'",
        "contacts/list.yaml:1: must be a mapping of fields, not list",
        'contacts/no.yaml:2: title: no reads as false; write "no" (in quotes) if that is what '
        "you mean, else false",
        "companies/latin1.yaml:1: not valid UTF-8 (save the file as UTF-8)",
    ]
    assert (
        problems[-2] == "5 files were left as they are: fix what is shown and run `crm fmt` again"
    )
    assert problems[-1] == "Formatted 1 of 6 records"
    after = snapshot(folder)
    assert after.pop("contacts/fine.yaml") == b"name: x\ntitle: y\n"
    before.pop("contacts/fine.yaml")
    assert after == before
    check = crm("fmt", "--check")
    assert check.exit_code == 1
    assert check.stdout.splitlines() == [
        "contacts/Bad_Name.yaml",
        "contacts/bad.yaml",
        "contacts/list.yaml",
        "contacts/no.yaml",
        "companies/latin1.yaml",
    ]


def test_check_lists_what_is_not_canonical_and_writes_nothing(crm, folder):
    assert crm("contact", "add", "Ada", "-e", "ada@x.example").ok
    assert crm("company", "add", "Acme").ok
    write(folder / "contacts" / "grace.yaml", "emails: [g@x.example]\nname: Grace\n")
    write(folder / "deals" / "big.yaml", 'title: Big\r\nvalue: "10.00"\r\n')
    before = snapshot(folder)
    result = crm("fmt", "--check")
    assert result.exit_code == 1
    assert result.stdout == "contacts/grace.yaml\ndeals/big.yaml\n"
    assert result.stderr == ""
    assert snapshot(folder) == before
    only = crm("fmt", "--check", "contacts")
    assert (only.exit_code, only.stdout) == (1, "contacts/grace.yaml\n")


def test_dry_run_prints_the_diff_and_writes_nothing(crm, folder):
    write(folder / "contacts" / "grace.yaml", "title: Admiral\nname: Grace\n")
    before = snapshot(folder)
    result = crm("fmt", "--dry-run")
    assert result.ok, result.stderr
    assert result.stdout == (
        "--- a/contacts/grace.yaml\n"
        "+++ b/contacts/grace.yaml\n"
        "@@ -1,2 +1,2 @@\n"
        "+name: Grace\n"
        " title: Admiral\n"
        "-name: Grace\n"
    )
    assert result.stderr == "Would format 1 of 1 records; nothing written\n"
    assert snapshot(folder) == before


def test_types_files_and_folders_can_be_named(crm, folder, monkeypatch):
    write(folder / "contacts" / "a.yaml", "title: T\nname: A\n")
    write(folder / "contacts" / "b.yaml", "title: T\nname: B\n")
    write(folder / "deals" / "d.yaml", "stage: lead\ntitle: D\n")
    write(folder / "credit_notes" / "c.yaml", "status: draft\ntitle: C\n")
    assert crm("fmt", "--check", "contact", "deals/d.yaml").stdout == (
        "contacts/a.yaml\ncontacts/b.yaml\ndeals/d.yaml\n"
    )
    assert crm("fmt", "--check", "credit-note").stdout == "credit_notes/c.yaml\n"
    monkeypatch.chdir(folder / "contacts")
    assert crm("fmt", "b.yaml").ok
    assert (folder / "contacts" / "b.yaml").read_text() == "name: B\ntitle: T\n"
    assert crm("fmt", "--check", ".").stdout == "contacts/a.yaml\n"
    assert crm("fmt", "--check", "..").stdout == (
        "contacts/a.yaml\ndeals/d.yaml\ncredit_notes/c.yaml\n"
    )
    for bad, message in (
        ("nothing", "nothing: no such record type, file or folder"),
        ("../crm.yaml", "../crm.yaml: not a record file nor a folder of records"),
        ("/", "/: not in the CRM folder"),
    ):
        result = crm("fmt", bad)
        assert result.exit_code == 2, bad
        assert result.stderr.startswith(f"Error: {message}"), result.stderr
    assert (folder / "contacts" / "a.yaml").read_text() == "title: T\nname: A\n"


def test_an_issued_invoice_is_reformatted_and_its_document_kept(crm, billed: Path):
    rid = invoice_with_lines(crm, ["--product", "design", "--qty", "2"])
    assert crm("invoice", "issue", rid).ok
    path = billed / "invoices" / f"{rid}.yaml"
    data = yaml.safe_load(path.read_text())
    document = billed / "invoices" / data["document"]["file"]
    kept = document.read_bytes()
    canonical_text = path.read_text()
    lines = canonical_text.splitlines(keepends=True)
    shuffled = "".join([lines[2], lines[0], lines[1], *lines[3:]]).replace("\n", "\r\n")
    write(path, shuffled)
    assert crm("fmt", "--check").stdout == f"invoices/{rid}.yaml\n"
    assert crm("fmt").ok
    assert path.read_text() == canonical_text
    assert document.read_bytes() == kept
    assert crm("check").ok


def test_a_result_that_would_lose_a_comment_is_not_used(monkeypatch):
    """The last safety: what is written must hold every comment, else the file is left."""
    real = canonical._comment_texts

    def losing(text, node):
        found = real(text, node)
        return found[1:] if text.startswith("name") else found

    monkeypatch.setattr(canonical, "_comment_texts", losing)
    result = fmt_text("title: y  # t\nname: x  # a\n")
    assert result.text is None
    assert str(result.problems[0]) == (
        "contacts/x.yaml: its comments could not all be kept in canonical form; left as it is"
    )


def test_a_file_nested_too_deeply_for_the_writer_is_left_alone():
    result = fmt_text("name: x\nnotes: " + "[" * 400 + "]" * 400 + "\n")
    assert result.text is None
    assert str(result.problems[0]).endswith(
        "nested too deeply to be put in canonical form; left as it is"
    )


def test_a_result_that_would_read_differently_is_not_used(monkeypatch):
    monkeypatch.setattr(canonical, "_fast_dump", lambda tree: "name: y\n")
    result = fmt_text("title: y\nname: x\n")
    assert result.text is None
    assert str(result.problems[0]) == (
        "contacts/x.yaml: its canonical form would read as different data; left as it is"
    )


# -- data never changes -------------------------------------------------------------------------

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(NASTY),
    st.text(max_size=20),
    st.dates().map(str),
)
KEYS = st.one_of(
    st.sampled_from(["name", "title", "notes", "emails", "tags", "address", "custom", "created"]),
    st.from_regex(r"[a-z_]{1,8}", fullmatch=True),
    st.text(min_size=1, max_size=6),
)
DATA = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=20,
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.dictionaries(KEYS, DATA, min_size=1, max_size=8),
    flow=st.sampled_from([None, True, False]),
    crlf=st.booleans(),
)
def test_formatting_never_changes_the_data(data, flow, crlf):
    """Whatever the file holds and however it is written: `format_text` returns a text that
    reads as the same data and is its own canonical form, or it changes nothing."""
    text = yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True, sort_keys=False)
    if crlf:
        text = text.replace("\n", "\r\n")
    try:
        before = yamlio.parse(text.replace("\r\n", "\n"), "x.yaml").data
    except yamlio.DataError:
        return  # what crm refuses to read (a key read as a number) is not formatted either
    result = fmt_text(text)
    if result.text is None:
        assert result.problems
        return
    assert yamlio.same_data(yamlio.parse(result.text, "x.yaml").data, before), result.text
    assert fmt_text(result.text).text == result.text
    assert "\r" not in result.text or "\r" in json.dumps(before)


TREE = st.recursive(
    st.one_of(
        st.booleans(), st.integers(), st.none(), st.text(max_size=30), st.sampled_from(NASTY)
    ),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.from_regex(r"[a-z_]{1,6}", fullmatch=True), inner, max_size=4)
    ),
    max_leaves=15,
)


@settings(max_examples=300, deadline=None)
@given(tree=st.dictionaries(st.from_regex(r"[a-z_]{1,6}", fullmatch=True), TREE, min_size=1))
def test_the_quick_writer_writes_what_the_emitter_writes(tree):
    node = yamlio.to_node(tree)
    quick = canonical._fast_dump(node)
    if quick is not None:
        assert quick == yamlio.dump_node(node)


# -- git: one commit, one line per changed field ------------------------------------------------


def test_fmt_commits_once_and_a_later_set_changes_one_line(crm, isolated):
    assert crm("init", "--name", "Test Studio").ok
    write(
        isolated / "contacts" / "ada.yaml",
        "title: CTO\nupdated: 2026-01-01T10:00:00Z\nname: Ada\nemails: [ada@x.example]\n",
    )
    write(isolated / "contacts" / "bob.yaml", "{name: Bob}\n")
    git(isolated, "add", "contacts")
    git(isolated, "commit", "-q", "-m", "by hand")
    assert crm("fmt", "--dry-run").ok
    assert crm("fmt", "--check").exit_code == 1
    assert git(isolated, "log", "--format=%s").splitlines()[0] == "by hand"
    result = crm("fmt")
    assert result.ok, result.stderr
    log = git(isolated, "log", "--format=%s").splitlines()
    assert log[:2] == ["crm: fmt 2 records", "by hand"]
    assert git(isolated, "show", "--name-only", "--format=").split() == [
        "contacts/ada.yaml",
        "contacts/bob.yaml",
    ]
    assert crm("fmt").ok  # nothing left to do: no commit
    assert git(isolated, "log", "--format=%s").splitlines()[0] == "crm: fmt 2 records"
    for i, (change, lines) in enumerate(
        [
            ("title=Chief Technology Officer", ["title"]),
            ("address.city=Berlin", ["address", "  city"]),  # new: the mapping and its key
            ("address.city=Hamburg", ["  city"]),
            ("tags+=vip", ["tags", "  - vip"]),
            ("emails+=ada@y.example", ["  - ada@y.example"]),
        ]
    ):
        env = {"CRM_NOW": f"2026-11-2{i}T10:00:00"}  # a new `updated` each time
        assert crm("contact", "set", "ada", change, env=env).ok
        diff = git(isolated, "diff", "-U0", "HEAD~1", "HEAD", "--", "contacts/ada.yaml")
        changed = [
            ln for ln in diff.splitlines() if ln[:1] in "+-" and ln[:3] not in ("+++", "---")
        ]
        added = [ln[1:].split(":")[0] for ln in changed if ln.startswith("+")]
        removed = [ln[1:].split(":")[0] for ln in changed if ln.startswith("-")]
        assert sorted(added) == sorted([*lines, "updated"]), (change, diff)
        assert len(removed) == len(changed) - len(added) <= 2, (change, diff)
    assert crm("fmt", "--check").ok


# -- the examples and large folders -------------------------------------------------------------


def test_the_examples_are_canonical(crm, example: Path):
    result = crm("fmt", "--check")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")


def test_check_of_a_large_folder_skips_canonical_files_quickly(crm, tmp_path, monkeypatch):
    """Canonical files are told from the quick writer's text, without the (slow) emitter: at
    10,000 records `fmt --check` takes seconds (docs/git.md)."""
    import sys

    root = tmp_path / "big"
    bench = Path(__file__).resolve().parent.parent / "bench" / "generate.py"
    made = subprocess.run(
        [sys.executable, str(bench), "--records", "600", str(root)], capture_output=True
    )
    assert made.returncode == 0, made.stderr
    assert crm("--dir", str(root), "fmt").exit_code == 0
    emitted = []
    real = yamlio.dump_node
    monkeypatch.setattr(yamlio, "dump_node", lambda node: emitted.append(1) or real(node))
    result = crm("--dir", str(root), "fmt", "--check")
    assert (result.exit_code, result.stdout) == (0, "")
    assert emitted == []
