"""crm import vcard / crm export vcard through the real CLI, on real programs' files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SHARED

from helpers import load, no_traceback

DATA = Path(__file__).parent / "data" / "vcard"
COPYLEFT = SHARED / "realworld" / "copyleft" / "vcard"
FILES = sorted(DATA.glob("*.vcf"))


def _contacts(crm) -> dict[str, dict]:
    result = crm("contact", "list", "-f", "json")
    assert result.ok, result.stderr
    return {c["id"]: c for c in json.loads(result.stdout)}


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_real_world_card_file_imports_and_checks_clean(folder: Path, crm, path: Path):
    result = crm("import", "vcard", str(path))
    no_traceback(result)
    assert result.exit_code in (0, 1), result.stderr
    assert "Imported" in result.stderr
    assert crm("check").ok
    again = crm("import", "vcard", str(path))
    assert "created" not in again.stderr and "updated" not in again.stderr, again.stderr


def test_a_phone_export_brings_names_company_photo_and_kept_lines(folder: Path, crm):
    result = crm("import", "vcard", str(DATA / "John_Doe_IPHONE.vcf"))
    assert result.ok, result.stderr
    (contact,) = _contacts(crm).values()
    assert contact["name"] and contact["emails"] and contact["phones"]
    data = load(folder / "contacts" / f"{contact['id']}.yaml")
    photo = folder / "contacts" / data["photo"]
    assert photo.read_bytes()[:3] == b"\xff\xd8\xff"  # a JPEG, not base64 in the YAML
    assert "base64" not in (folder / "contacts" / f"{contact['id']}.yaml").read_text().lower()
    assert any("X-ABLABEL" in line.upper() for line in data["vcard"])
    if contact["company"]:
        company = load(folder / "companies" / f"{contact['company']}.yaml")
        assert company["name"]


def test_broken_card_is_reported_with_file_and_line_and_the_rest_imports(
    folder: Path, crm, tmp_path
):
    good = (DATA / "gmail-single.vcf").read_text()
    broken = "BEGIN:VCARD\r\nVERSION:3.0\r\nEND:VCARD\r\n"
    source = tmp_path / "mixed.vcf"
    source.write_text(broken + good)
    result = crm("import", "vcard", str(source))
    no_traceback(result)
    assert result.exit_code == 1
    assert f"{source}:1: skipped: " in result.stderr
    assert len(_contacts(crm)) == 1


def test_dry_run_counts_and_reasons(folder: Path, crm):
    source = str(DATA / "gmail-list.vcf")
    dry = crm("import", "vcard", source, "--dry-run", "-f", "json")
    assert dry.exit_code in (0, 1), dry.stderr
    rows = json.loads(dry.stdout)
    assert rows and {r["action"] for r in rows} <= {"created", "skipped"}
    assert "Would import" in dry.stderr
    assert not list((folder / "contacts").glob("*.yaml"))
    crm("import", "vcard", source)
    again = json.loads(crm("import", "vcard", source, "--dry-run", "-f", "json").stdout)
    assert {r["action"] for r in again} <= {"unchanged", "skipped"}


def test_reimport_matches_by_uid_then_email(folder: Path, crm, tmp_path):
    card = (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:u-1\r\nFN:Ada Lovelace\r\n"
        "EMAIL:ada@acme.example\r\nTITLE:CTO\r\nEND:VCARD\r\n"
    )
    source = tmp_path / "a.vcf"
    source.write_text(card)
    assert crm("import", "vcard", str(source)).ok
    source.write_text(card.replace("ada@acme.example", "ada@new.example").replace("CTO", "CEO"))
    result = crm("import", "vcard", str(source))
    assert "1 contact (1 updated)" in result.stderr
    data = load(folder / "contacts" / "ada-lovelace.yaml")
    assert data["emails"] == ["ada@acme.example", "ada@new.example"] and data["title"] == "CEO"
    assert crm("contact", "add", "Grace Hopper", "--email", "grace@navy.example").ok
    source.write_text(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:other\r\nFN:Grace B. Hopper\r\n"
        "EMAIL:GRACE@navy.example\r\nEND:VCARD\r\n"
    )
    result = crm("import", "vcard", str(source), "--dry-run", "-f", "json")
    (row,) = json.loads(result.stdout)
    assert row["action"] == "updated" and row["id"] == "grace-hopper"
    assert row["reason"] == "matched by email"


def _comparable(crm, folder: Path) -> list[dict]:
    companies = {
        c["id"]: c["name"] for c in json.loads(crm("company", "list", "-f", "json").stdout)
    }
    out = []
    for contact in _contacts(crm).values():
        data = load(folder / "contacts" / f"{contact['id']}.yaml")
        photo = (folder / "contacts" / data["photo"]).read_bytes() if data.get("photo") else None
        out.append(
            {
                **{k: contact[k] for k in ("name", "emails", "phones", "title", "address")},
                **{k: contact[k] for k in ("website", "birthday", "notes", "tags", "vcard")},
                "company": companies.get(contact["company"]),
                "photo": photo,
            }
        )
    return sorted(out, key=lambda c: json.dumps(c, sort_keys=True, default=repr))


def _uids(crm) -> set[str]:
    return {c["external_ids"]["vcard"] for c in _contacts(crm).values() if c["external_ids"]}


@pytest.mark.parametrize("version", ["3.0", "4.0"])
def test_import_export_import_loses_nothing(folder: Path, crm, tmp_path, version):
    for path in FILES:
        crm("import", "vcard", str(path))
    before = _comparable(crm, folder)
    uids = _uids(crm)
    exported = tmp_path / "all.vcf"
    result = crm("export", "vcard", "--out", str(exported), "--version", version)
    assert result.ok, result.stderr
    target = tmp_path / "again"
    assert crm("--dir", str(target), "init", "--no-git").ok
    result = crm("--dir", str(target), "import", "vcard", str(exported))
    assert result.ok, result.stderr
    os.chdir(target)
    assert _comparable(crm, target) == before
    assert uids < _uids(crm)  # cards keep their UID; the others get one made from their id
    # and importing the export into the folder it came from changes nothing
    os.chdir(folder)
    result = crm("import", "vcard", str(exported))
    assert "created" not in result.stderr and "updated" not in result.stderr, result.stderr


def test_export_vdir_is_stable_and_read_by_khard(folder: Path, crm, tmp_path):
    for path in FILES:
        crm("import", "vcard", str(path))
    vdir = tmp_path / "vdir"
    assert crm("export", "vcard", "--dir", str(vdir)).ok
    cards = sorted(vdir.glob("*.vcf"))
    contacts = _contacts(crm)
    assert len(cards) == len(contacts)
    stamps = {p.name: p.stat().st_mtime_ns for p in cards}
    assert crm("export", "vcard", "--dir", str(vdir)).ok
    assert {p.name: p.stat().st_mtime_ns for p in vdir.glob("*.vcf")} == stamps
    # a contact removed from the selection loses its file, foreign files stay
    (vdir / "foreign.vcf").write_text("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:X\r\nEND:VCARD\r\n")
    assert crm("export", "vcard", "--dir", str(vdir), "--where", "name~Doe").ok
    left = {p.name for p in vdir.glob("*.vcf")}
    assert "foreign.vcf" in left and len(left) < len(cards) + 1

    khard = shutil.which("khard", path=str(Path(sys.executable).parent))
    if khard is None:
        pytest.skip("khard is not installed (pip install -e '.[dev]')")
    assert crm("export", "vcard", "--dir", str(vdir)).ok
    (vdir / "foreign.vcf").unlink()
    config = tmp_path / "config" / "khard"
    config.mkdir(parents=True)
    (config / "khard.conf").write_text(
        f"[addressbooks]\n[[crm]]\npath = {vdir}\n[general]\ndefault_action = list\n"
    )
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    listed = subprocess.run(
        [khard, "email", "--parsable"], capture_output=True, text=True, env=env, check=False
    )
    assert listed.returncode == 0, listed.stderr
    emails = {line.split("\t")[0] for line in listed.stdout.splitlines()[1:] if "\t" in line}
    ours = {e.lower() for c in contacts.values() for e in c["emails"]}
    assert ours <= {e.lower() for e in emails}  # and the kept EMAIL lines we could not read
    names = subprocess.run(
        [khard, "list", "--parsable"], capture_output=True, text=True, env=env, check=False
    )
    assert names.returncode == 0, names.stderr
    assert len(names.stdout.strip().splitlines()) == len(contacts)


@pytest.mark.skipif(not COPYLEFT.is_dir(), reason="../shared/realworld/copyleft is not here")
@pytest.mark.parametrize(
    "name", sorted(p.name for p in COPYLEFT.glob("*.vcf")) if COPYLEFT.is_dir() else []
)
def test_copyleft_cards_import_without_a_crash(folder: Path, crm, name: str):
    result = crm("import", "vcard", str(COPYLEFT / name))
    no_traceback(result)
    assert result.exit_code in (0, 1), result.stderr
    companies = json.loads(crm("company", "list", "-f", "json").stdout)
    assert _contacts(crm) or companies, result.stderr  # Apple company cards make companies
    assert crm("check").ok
    names = [c["name"] for c in [*_contacts(crm).values(), *companies]]
    if name == "utf-16_sample.vcf":
        assert all("\x00" not in n for n in names)
    if name == "thebat.vcf":  # 8-bit quoted-printable without a charset: ISO-8859-2's ń
        # and Windows-1252's ñ are the same byte; crm reads it as Windows-1252
        assert names == ["Piotr Iksiñski"], names
    if name == "johndoe.vcf":
        assert any("ë" in n for n in names), names


def test_check_finds_two_contacts_with_one_uid(folder: Path, crm, tmp_path):
    source = tmp_path / "u.vcf"
    source.write_text("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:u-1\r\nFN:Ada B\r\nEND:VCARD\r\n")
    assert crm("import", "vcard", str(source)).ok
    copy = folder / "contacts" / "ada-b-copy.yaml"
    copy.write_text((folder / "contacts" / "ada-b.yaml").read_text())
    result = crm("check")
    assert result.exit_code == 1 and "external_ids.vcard: u-1 is also on" in result.stdout
    exported = crm("export", "vcard")
    assert exported.stdout.count("BEGIN:VCARD") == 2
    assert "its vCard UID is another record's too" in exported.stderr


COMPANY_CARDS = (
    "BEGIN:VCARD\r\nVERSION:3.0\r\nN:;;;;\r\nFN:Acme Tools\r\nORG:Acme Tools;\r\n"
    "EMAIL;TYPE=INTERNET;TYPE=WORK:hello@acme.example\r\nTEL;TYPE=WORK:+44 20 7946 0001\r\n"
    "ADR;TYPE=WORK:;;1 High St;London;;EC1A 1AA;United Kingdom\r\n"
    "URL:https://acme.example\r\nNOTE:Our main supplier\r\nX-ABShowAs:COMPANY\r\n"
    "UID:apple-acme\r\nEND:VCARD\r\n"
    "BEGIN:VCARD\r\nVERSION:4.0\r\nKIND:org\r\nFN:Globex\r\nORG:Globex\r\n"
    "TEL:+1 202 555 0199\r\nEND:VCARD\r\n"
    "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Doe;Jane;;;\r\nFN:Jane Doe\r\nORG:Acme Tools\r\n"
    "EMAIL:jane@acme.example\r\nEND:VCARD\r\n"
)


def _companies(crm) -> list[dict]:
    rows = json.loads(crm("company", "list", "-f", "json").stdout)
    keys = ("name", "emails", "phones", "website", "address", "notes", "tags")
    return sorted(({k: c.get(k) for k in keys} for c in rows), key=lambda c: c["name"])


@pytest.mark.parametrize("version", ["3.0", "4.0"])
def test_company_cards_come_back_as_companies(folder: Path, crm, tmp_path, version):
    source = tmp_path / "cards.vcf"
    source.write_text(COMPANY_CARDS)
    result = crm("import", "vcard", str(source))
    assert result.ok, result.stderr
    before = _companies(crm)
    assert [c["name"] for c in before] == ["Acme Tools", "Globex"]
    assert before[0]["phones"] == ["+44 20 7946 0001"] and before[0]["notes"]
    exported = tmp_path / "all.vcf"
    result = crm("export", "vcard", "--type", "all", "--out", str(exported), "--version", version)
    assert result.ok, result.stderr
    text = exported.read_text()
    assert text.count("BEGIN:VCARD") == 3
    assert ("KIND:org" if version == "4.0" else "X-ABShowAs:COMPANY") in text
    only = crm("export", "vcard", "--type", "companies")
    assert only.ok and only.stdout.count("BEGIN:VCARD") == 2 and "Jane" not in only.stdout
    target = tmp_path / "again"
    assert crm("--dir", str(target), "init", "--no-git").ok
    result = crm("--dir", str(target), "import", "vcard", str(exported))
    assert result.ok, result.stderr
    os.chdir(target)
    assert _companies(crm) == before
    assert _contacts(crm)["jane-doe"]["company"] == "acme-tools"
    os.chdir(folder)
    result = crm("import", "vcard", str(exported))
    assert "created" not in result.stderr and "updated" not in result.stderr, result.stderr
    assert crm("export", "vcard", "--type", "people").exit_code == 2
