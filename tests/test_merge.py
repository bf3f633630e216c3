"""crm merge: duplicates become one record, every reference follows, all or nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from helpers import invoice_with_lines, load, no_traceback


def files(folder: Path) -> dict[str, bytes]:
    """Every file under the folder with its bytes: to prove that nothing was written."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and ".crm" not in p.parts
    }


def write(folder: Path, rel: str, text: str) -> None:
    path = folder / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def ok(result) -> str:
    assert result.ok, result.stderr
    return result.stdout.strip()


_TEMPLATES: dict[str, Path] = {}


@pytest.fixture
def twins(crm, request, isolated: Path, monkeypatch, tmp_path_factory) -> Path:
    """The billed folder (company acme-gmbh, contact ada-lovelace) plus a duplicate of each
    (acme, ada-2), which a deal, an activity, a task, a quote, a draft invoice, a recurring
    invoice and a converted lead all refer to. Built once through the CLI, then copied."""
    if "twins" in _TEMPLATES:
        monkeypatch.setenv("CRM_NOW", "2026-11-23T10:00:00")
        shutil.copytree(_TEMPLATES["twins"], isolated, dirs_exist_ok=True)
        return isolated
    billed = request.getfixturevalue("billed")
    write(
        billed,
        "companies/acme.yaml",
        "name: ACME\n"
        "domain: acme.example\n"
        "phones: ['+49 30 1234567']\n"
        "address:\n  city: Berlin\n  country: DE\n"
        "tags: [client]\n"
        "notes: Met at the fair.\n"
        "created: 2025-01-01T09:00:00Z\n"
        "updated: 2025-01-01T09:00:00Z\n",
    )
    write(
        billed,
        "contacts/ada-2.yaml",
        "name: Ada King\n"
        "emails: [ADA@acme.example, ada@home.example]\n"
        "phones: ['+44 20 7946 0000']\n"
        "title: Countess\n"
        "company: acme\n"
        "created: 2025-02-01T09:00:00Z\n"
        "updated: 2025-02-01T09:00:00Z\n",
    )
    ok(crm("company", "set", "acme-gmbh", "notes=Pays on time.", "tags=client,vip"))
    ok(crm("deal", "add", "Shop", "--company", "acme", "--contact", "ada-2", "--value", "1000"))
    ok(crm("log", "contact:ada-2", "contact:ada-lovelace", "company:acme", "-t", "call", "Hi"))
    ok(crm("task", "add", "Call back", "--for", "contact:ada-2", "--for", "company:acme"))
    ok(crm("quote", "new", "Offer", "--for", "acme", "--deal", "shop"))
    invoice_with_lines(crm, ["--text", "Work", "--price", "10"], title="Draft", customer="acme")
    ok(crm("recurring", "add", "Retainer", "--for", "acme", "--schedule", "monthly",
           "--start", "2026-01-01"))  # fmt: skip
    ok(crm("lead", "add", "Ada K", "--email", "ada@home.example", "--company", "ACME"))
    ok(crm("lead", "convert", "ada-k", "--deal", "Intranet"))
    template = tmp_path_factory.mktemp("twins")
    shutil.copytree(billed, template, dirs_exist_ok=True)
    _TEMPLATES["twins"] = template
    return billed


def one(folder: Path, kind: str) -> dict:
    (path,) = sorted((folder / kind).glob("*.yaml"))
    return load(path)


def test_merging_rewrites_every_reference_and_check_stays_clean(crm, twins):
    lead = load(twins / "leads" / "ada-k.yaml")
    assert (lead["converted"]["company"], lead["converted"]["contact"]) == ("acme", "ada-2")

    result = crm("merge", "company", "acme-gmbh", "acme")
    assert result.ok, result.stderr
    assert result.stdout == ""
    assert not (twins / "companies" / "acme.yaml").exists()
    assert load(twins / "contacts" / "ada-2.yaml")["company"] == "acme-gmbh"
    assert load(twins / "deals" / "shop.yaml")["company"] == "acme-gmbh"
    assert load(twins / "deals" / "intranet.yaml")["company"] == "acme-gmbh"
    assert one(twins, "activities")["companies"] == ["acme-gmbh"]
    assert one(twins, "tasks")["companies"] == ["acme-gmbh"]
    assert one(twins, "quotes")["company"] == "acme-gmbh"
    assert one(twins, "invoices")["company"] == "acme-gmbh"
    assert one(twins, "recurring")["company"] == "acme-gmbh"
    assert load(twins / "leads" / "ada-k.yaml")["converted"]["company"] == "acme-gmbh"

    result = crm("merge", "contacts", "ada-lovelace", "ada-2")  # the plural works too
    assert result.ok, result.stderr
    assert not (twins / "contacts" / "ada-2.yaml").exists()
    assert load(twins / "deals" / "shop.yaml")["contact"] == "ada-lovelace"
    assert one(twins, "activities")["contacts"] == ["ada-lovelace"]  # not twice
    assert one(twins, "tasks")["contacts"] == ["ada-lovelace"]
    converted = load(twins / "leads" / "ada-k.yaml")["converted"]
    assert (converted["contact"], converted["deal"]) == ("ada-lovelace", "intranet")
    assert str(converted["at"]).startswith("2026-11-23")  # the rest of the links untouched

    check = crm("check")
    assert (check.exit_code, check.stdout) == (0, "")


def test_fields_are_merged_field_by_field(crm, twins):
    result = crm("merge", "company", "acme-gmbh", "acme")
    assert result.ok, result.stderr
    company = load(twins / "companies" / "acme-gmbh.yaml")
    assert company["name"] == "Acme GmbH"
    assert company["domain"] == "acme.example"  # only the other had one: no conflict
    assert company["phones"] == ["+49 30 1234567"]
    assert company["tags"] == ["client", "vip"]
    assert company["address"] == {  # key by key
        "street": "Hauptstr. 1",
        "postcode": "10115",
        "city": "Berlin",
        "country": "DE",
    }
    assert company["vat_id"] == "DE123456788"
    assert company["notes"] == "Pays on time.\n\nMet at the fair."  # both kept
    text = (twins / "companies" / "acme-gmbh.yaml").read_text()
    assert "created: 2025-01-01T09:00:00Z\n" in text  # the earliest, a timestamp still
    assert "updated: 2026-11-23T10:00:00Z\n" in text

    assert crm("merge", "contact", "ada-lovelace", "ada-2").ok
    ada = load(twins / "contacts" / "ada-lovelace.yaml")
    assert ada["name"] == "Ada Lovelace"
    assert ada["emails"] == ["ada@acme.example", "ada@home.example"]  # ADA@ is the same
    assert ada["phones"] == ["+44 20 7946 0000"]
    assert ada["title"] == "Countess"
    assert ada["company"] == "acme-gmbh"


def test_conflicts_are_reported_on_stderr(crm, twins):
    result = crm("merge", "contact", "ada-lovelace", "ada-2")
    assert result.ok, result.stderr
    assert result.stderr.splitlines() == [
        'Warning: conflict in name: kept "Ada Lovelace" (ada-lovelace), dropped "Ada King" (ada-2)',
        'Warning: conflict in company: kept "acme-gmbh" (ada-lovelace), dropped "acme" (ada-2)',
    ]
    assert load(twins / "contacts" / "ada-lovelace.yaml")["company"] == "acme-gmbh"


def test_prefer_other(crm, twins):
    result = crm("merge", "contact", "ada-lovelace", "ada-2", "--prefer", "other")
    assert result.ok, result.stderr
    ada = load(twins / "contacts" / "ada-lovelace.yaml")
    assert (ada["name"], ada["company"], ada["title"]) == ("Ada King", "acme", "Countess")
    assert ada["emails"] == ["ada@acme.example", "ada@home.example"]  # the kept one's first
    assert 'kept "Ada King" (ada-2), dropped "Ada Lovelace" (ada-lovelace)' in result.stderr
    assert crm("check").ok


def test_dry_run_shows_the_diff_and_writes_nothing(crm, twins):
    before = files(twins)
    result = crm("merge", "company", "acme-gmbh", "acme", "--dry-run")
    assert result.ok, result.stderr
    assert files(twins) == before
    assert "--- a/companies/acme.yaml\n+++ /dev/null\n" in result.stdout
    assert "--- a/deals/shop.yaml\n+++ b/deals/shop.yaml\n" in result.stdout
    assert "-company: acme\n+company: acme-gmbh\n" in result.stdout
    assert "+  country: DE\n" in result.stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("contact", "ada-lovelace", "ada-lovelace"), 2, "with itself"),
        (("contact", "ada-lovelace", "ada-l"), 2, "with itself"),  # a prefix of the same
        (("contact", "ada-lovelace", "ada-2", "ada-2"), 2, "named twice"),
        (("contact", "ada-lovelace", "nobody"), 20, "no contact matches 'nobody'"),
        (("contact", "nobody", "ada-2"), 20, "no contact matches 'nobody'"),
        (("contact", "ada-lovelace", "acme"), 2, "'acme' is a company, not a contact"),
        (("contact", "ada-lovelace", "company:acme"), 2, "records of different types"),
        (("product", "design", "other"), 2, "cannot merge 'product'"),
        (("contact", "ada-lovelace"), 2, "Missing argument"),
    ],
)
def test_refusals_write_nothing(crm, twins, args, code, message):
    before = files(twins)
    result = crm("merge", *args)
    assert result.exit_code == code, result.stderr
    assert message in result.stderr
    no_traceback(result)
    assert files(twins) == before


def test_a_reference_held_by_an_issued_invoice_is_never_rewritten(crm, twins):
    rid = invoice_with_lines(crm, ["--text", "Work", "--price", "10"], customer="acme")
    number = ok(crm("invoice", "issue", rid))
    before = files(twins)
    result = crm("merge", "company", "acme-gmbh", "acme")
    assert result.exit_code == 23
    assert f"invoice {number}" in result.stderr
    assert "crm merge company acme acme-gmbh" in result.stderr  # the way round that works
    assert files(twins) == before
    # kept the other way round, the issued invoice does not change
    assert crm("merge", "company", "acme", "acme-gmbh").ok
    assert load(twins / "invoices" / f"{rid}.yaml")["company"] == "acme"
    assert crm("merge", "contact", "ada-lovelace", "ada-2").ok  # (they share an email)
    assert crm("check").ok


def test_an_unreadable_file_stops_the_merge(crm, twins):
    write(twins, "activities/broken.yaml", "contacts: [ada-2\n")
    before = files(twins)
    result = crm("merge", "contact", "ada-lovelace", "ada-2")
    assert result.exit_code == 4
    assert "activities/broken.yaml" in result.stderr and "fix the file first" in result.stderr
    assert files(twins) == before


def test_deals_merge_with_their_history(crm, billed):
    write(
        billed,
        "deals/site.yaml",
        "title: Site\npipeline: sales\nvalue: '500.00'\ncurrency: EUR\nstage: proposal\n"
        "history:\n"
        "  - {at: 2026-01-01T10:00:00Z, stage: lead}\n"
        "  - {at: 2026-03-01T10:00:00Z, stage: proposal, from: lead}\n"
        "created: 2026-01-01T10:00:00Z\nupdated: 2026-03-01T10:00:00Z\n",
    )
    write(
        billed,
        "deals/website.yaml",
        "title: Website\npipeline: sales\nvalue: '900.00'\ncurrency: USD\nstage: qualified\n"
        "history:\n"
        "  - {at: 2026-02-01T10:00:00Z, stage: qualified}\n"
        "created: 2026-02-01T10:00:00Z\nupdated: 2026-02-01T10:00:00Z\n",
    )
    ok(crm("log", "deal:website", "Asked for a quote"))
    ok(crm("quote", "new", "--for", "acme", "--deal", "website"))
    result = crm("merge", "deal", "site", "website")
    assert result.ok, result.stderr
    deal = load(billed / "deals" / "site.yaml")
    assert [h["stage"] for h in deal["history"]] == ["lead", "qualified", "proposal"]
    # the other deal's stage came later but was dropped: an entry says where the deal is now
    write(
        billed,
        "deals/late.yaml",
        "title: Late\nstage: qualified\n"
        "history:\n  - {at: 2026-05-01T10:00:00Z, stage: qualified}\n",
    )
    late = crm("merge", "deal", "site", "late", env={"CRM_NOW": "2026-06-01T09:00:00Z"})
    assert late.ok, late.stderr
    deal = load(billed / "deals" / "site.yaml")
    assert [h["stage"] for h in deal["history"]][-2:] == ["qualified", "proposal"]
    assert deal["history"][-1]["from"] == "qualified"
    assert str(deal["history"][-1]["at"]).startswith("2026-06-01")
    assert (deal["value"], deal["currency"], deal["stage"]) == ("500.00", "EUR", "proposal")
    assert "conflict in value" in result.stderr and "conflict in stage" in result.stderr
    assert one(billed, "activities")["deals"] == ["site"]
    assert one(billed, "quotes")["deal"] == "site"
    assert crm("check").ok
    # the value and its currency come together from one record
    write(billed, "deals/other.yaml", "title: Other\nvalue: '7.00'\ncurrency: USD\n")
    assert crm("merge", "deal", "site", "other", "--prefer", "other").ok
    deal = load(billed / "deals" / "site.yaml")
    assert (deal["value"], deal["currency"]) == ("7.00", "USD")
    # a currency alone does not outweigh a value in the folder's currency
    write(billed, "deals/bare.yaml", "title: Bare\ncurrency: USD\n")
    write(billed, "deals/priced.yaml", "title: Priced\nvalue: '3.00'\n")
    result = crm("merge", "deal", "bare", "priced")
    assert result.ok, result.stderr
    assert 'conflict in currency: kept null (priced), dropped "USD" (bare)' in result.stderr
    deal = load(billed / "deals" / "bare.yaml")
    assert (deal["value"], "currency" in deal) == ("3.00", False)


def test_leads_merge_and_converted_stays_converted(crm, folder, monkeypatch):
    monkeypatch.setenv("CRM_NOW", "2026-11-23T10:00:00")  # both new at the same second
    ok(crm("lead", "add", "Grace Hopper", "--email", "grace@navy.example", "--source", "web"))
    ok(crm("lead", "add", "G. Hopper", "--phone", "+1 202 555 0100"))
    ok(crm("lead", "convert", "g-hopper"))
    result = crm("merge", "lead", "grace-hopper", "g-hopper")
    assert result.ok, result.stderr
    lead = load(folder / "leads" / "grace-hopper.yaml")
    assert lead["status"] == "converted"
    assert lead["converted"]["contact"] == "g-hopper"
    assert lead["emails"] == ["grace@navy.example"] and lead["phones"] == ["+1 202 555 0100"]
    # both were new at the same second: one entry says so
    assert [h["status"] for h in lead["history"]] == ["new", "converted"]
    assert crm("check").ok


def test_a_photo_goes_with_the_record_kept(crm, folder):
    ok(crm("contact", "add", "Ada Lovelace"))
    write(folder, "contacts/ada-2.yaml", "name: Ada L\nphoto: ada-2.photo.jpg\n")
    (folder / "contacts" / "ada-2.photo.jpg").write_bytes(b"\xff\xd8JPEG")
    result = crm("merge", "contact", "ada-lovelace", "ada-2")
    assert result.ok, result.stderr
    assert load(folder / "contacts" / "ada-lovelace.yaml")["photo"] == "ada-lovelace.photo.jpg"
    assert (folder / "contacts" / "ada-lovelace.photo.jpg").read_bytes() == b"\xff\xd8JPEG"
    assert not (folder / "contacts" / "ada-2.photo.jpg").exists()
    assert crm("check").ok


def test_of_two_photos_the_one_kept_stays_and_the_other_goes(crm, folder):
    write(folder, "contacts/ada.yaml", "name: Ada\nphoto: ada.photo.png\n")
    write(folder, "contacts/ada-2.yaml", "name: Ada\nphoto: ada-2.photo.jpg\n")
    (folder / "contacts" / "ada.photo.png").write_bytes(b"PNG")
    (folder / "contacts" / "ada-2.photo.jpg").write_bytes(b"JPEG")
    dry = crm("merge", "contact", "ada", "ada-2", "--prefer", "other", "--dry-run")
    assert dry.ok and "--- a/contacts/ada.photo.png\n+++ /dev/null" in dry.stdout
    assert (folder / "contacts" / "ada.photo.png").exists()
    result = crm("merge", "contact", "ada", "ada-2", "--prefer", "other")
    assert result.ok, result.stderr
    assert 'conflict in photo: kept "ada-2.photo.jpg" (ada-2), dropped "ada.photo.png"' in (
        result.stderr
    )
    assert load(folder / "contacts" / "ada.yaml")["photo"] == "ada.photo.jpg"
    assert sorted(p.name for p in (folder / "contacts").glob("ada*")) == [
        "ada.photo.jpg",
        "ada.yaml",
    ]
    assert crm("check").ok


def test_a_history_entry_both_deals_have_is_kept_once(crm, folder):
    history = (
        "history:\n"
        "  - {at: 2026-01-01T10:00:00Z, stage: lead}\n"
        "  - {at: 2026-02-01T10:00:00Z, stage: qualified, from: lead}\n"
    )
    write(folder, "deals/a.yaml", f"title: A\nstage: qualified\n{history}")
    write(folder, "deals/b.yaml", f"title: B\nstage: qualified\n{history}")
    result = crm("merge", "deal", "a", "b")
    assert result.ok, result.stderr
    deal = load(folder / "deals" / "a.yaml")
    assert [h["stage"] for h in deal["history"]] == ["lead", "qualified"]
