"""crm export json / crm import json: the whole CRM as one document, and back."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from helpers import no_traceback


def _records(doc: dict) -> dict:
    return doc["records"]


def test_export_import_round_trip_is_identical(example: Path, crm, tmp_path: Path):
    exported = crm("export", "json", "--out", str(tmp_path / "backup.json"))
    assert exported.ok, exported.stderr
    doc = json.loads((tmp_path / "backup.json").read_text())
    assert doc["format"] == "crm-export" and doc["version"] == 1
    assert "invoices/2026-0001.pdf" in doc["files"] or any(
        name.startswith("invoices/") for name in doc["files"]
    )
    assert doc["records"]["contacts"]["max-hoffmann"]["birthday"] == "1985-12-01"

    target = tmp_path / "restored"
    assert crm("--dir", str(target), "init", "--no-git").ok
    imported = crm(
        "--dir", str(target), "import", "json", str(tmp_path / "backup.json"), "--config"
    )
    assert imported.ok, imported.stderr
    assert "created" in imported.stderr

    again = crm("--dir", str(target), "export", "json")
    assert again.ok, again.stderr
    restored = json.loads(again.stdout)
    assert _records(restored) == _records(doc)
    assert restored["files"] == doc["files"]
    assert restored["config"] == doc["config"]
    assert crm("--dir", str(target), "check").ok
    # the files kept beside records are byte for byte the same
    for name, data in doc["files"].items():
        assert (target / name).read_bytes() == base64.b64decode(data)
    # dates are written as a human would write them, not quoted
    assert "birthday: 1985-12-01\n" in (target / "contacts" / "max-hoffmann.yaml").read_text()


def test_import_leaves_same_records_alone_and_skips_changed_ones(example: Path, crm, tmp_path):
    backup = tmp_path / "b.json"
    assert crm("export", "json", "--type", "contacts", "--out", str(backup)).ok
    doc = json.loads(backup.read_text())
    assert set(doc["records"]) == {"contacts"} and "config" not in doc
    same = crm("import", "json", str(backup))
    assert same.ok and "0 created" in same.stderr and "0 skipped" in same.stderr

    contact = example / "contacts" / "max-hoffmann.yaml"
    contact.write_text(contact.read_text().replace("Creative Director", "CEO"))
    skipped = crm("import", "json", str(backup))
    assert skipped.exit_code == 1
    assert "contacts/max-hoffmann.yaml: skipped: exists with other contents" in skipped.stderr
    assert "CEO" in contact.read_text()
    replaced = crm("import", "json", str(backup), "--replace")
    assert replaced.ok, replaced.stderr
    assert "Creative Director" in contact.read_text()


def test_import_dry_run_writes_nothing(folder: Path, crm, tmp_path):
    assert crm("contact", "add", "Ada Lovelace", "--email", "ada@example.com").ok
    backup = tmp_path / "b.json"
    assert crm("export", "json", "--out", str(backup)).ok
    target = tmp_path / "t"
    assert crm("--dir", str(target), "init", "--no-git").ok
    result = crm("--dir", str(target), "import", "json", str(backup), "--dry-run")
    assert result.ok, result.stderr
    assert "+name: Ada Lovelace" in result.stdout
    assert not (target / "contacts" / "ada-lovelace.yaml").exists()


def test_bad_documents_are_refused_with_one_line(folder: Path, crm, tmp_path):
    cases = {
        "not-json.json": b"{nope",
        "other.json": b'{"hello": 1}',
        "version.json": b'{"format": "crm-export", "version": 9}',
        "escape.json": json.dumps(
            {"format": "crm-export", "version": 1, "records": {"contacts": {"../x": {}}}}
        ).encode(),
        "file.json": json.dumps(
            {"format": "crm-export", "version": 1, "files": {"contacts/../../evil.sh": "AA=="}}
        ).encode(),
        "type.json": json.dumps(
            {"format": "crm-export", "version": 1, "records": {"secrets": {"a": {}}}}
        ).encode(),
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        result = crm("import", "json", str(path))
        no_traceback(result)
        assert result.exit_code == 4, (name, result.stderr)
        assert result.stderr.startswith(f"Error: {path}") and result.stderr.count("\n") == 1
    assert not list((folder / "contacts").glob("*.yaml"))
    assert not (tmp_path / "evil.sh").exists()


def test_files_in_a_document_never_replace_records_or_kept_documents(example: Path, crm, tmp_path):
    junk = base64.b64encode(b"name: [broken").decode()
    record = tmp_path / "record.json"
    record.write_text(
        json.dumps(
            {"format": "crm-export", "version": 1, "files": {"contacts/max-hoffmann.yaml": junk}}
        )
    )
    result = crm("import", "json", str(record))
    no_traceback(result)
    assert result.exit_code == 4 and "not a file kept beside a record" in result.stderr
    backup = tmp_path / "b.json"
    assert crm("export", "json", "--out", str(backup)).ok
    doc = json.loads(backup.read_text())
    pdf = next(name for name in doc["files"] if name.endswith(".pdf"))
    doc["files"][pdf] = base64.b64encode(b"%PDF-forged").decode()
    backup.write_text(json.dumps(doc))
    before = (example / pdf).read_bytes()
    forged = crm("import", "json", str(backup))
    assert forged.exit_code == 1
    assert f"{pdf}: skipped: exists with other contents" in forged.stderr
    assert (example / pdf).read_bytes() == before
    assert crm("check").ok


def test_invalid_records_in_a_document_are_imported_with_a_warning(folder: Path, crm, tmp_path):
    doc = {
        "format": "crm-export",
        "version": 1,
        "records": {
            "contacts": {"bad": {"name": "Bad", "emails": ["nope"], "company": "ghost"}},
            "deals": {"d": {"title": "D", "contacts": ["bad"]}},
        },
    }
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    result = crm("import", "json", str(path))
    assert result.ok, result.stderr
    assert "contacts/bad.yaml: emails: 'nope' is not a valid email address" in result.stderr
    assert "contacts/bad.yaml: company: " in result.stderr and "ghost" in result.stderr
    assert "deals/d.yaml" not in result.stderr  # its contact came in the same document
    assert "Imported 2 records: 2 created" in result.stderr
    assert crm("check").exit_code == 1
