"""A change to several files is all or nothing, even when a rename fails or the process dies."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import yaml


def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): p.read_text()
        for p in folder.rglob("*.yaml")
        if ".crm" not in p.parts
    }


def lead_fixture(crm) -> None:
    assert crm("lead", "add", "Ada", "--company", "Acme", "-e", "ada@acme.example").ok


def test_a_failing_rename_undoes_the_others(crm, folder, monkeypatch):
    lead_fixture(crm)
    before = snapshot(folder)
    real = os.replace
    calls = []

    def flaky(src, dst):
        calls.append(dst)
        if len(calls) == 3:  # company and contact are in place; the deal fails
            raise OSError(28, "No space left on device", str(dst))
        return real(src, dst)

    monkeypatch.setattr("crm.store.journal.os.replace", flaky)
    result = crm("lead", "convert", "ada", "--deal", "Site", "--value", "100")
    assert result.exit_code == 1
    assert "No space left on device" in result.stderr
    monkeypatch.undo()
    assert snapshot(folder) == before
    assert not (folder / ".crm" / "journal.json").exists()
    assert not list(folder.rglob(".crm-tmp-*"))


CRASH = textwrap.dedent(
    """
    import os, sys
    import crm.store.journal as journal
    from crm.cli import build_app
    from typer.testing import CliRunner

    real = os.replace
    calls = []

    def dying(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            os._exit(9)  # the power goes out between two renames
        return real(src, dst)

    journal.os.replace = dying
    CliRunner().invoke(build_app(None), ["--dir", sys.argv[1], "lead", "convert", "ada",
                                         "--deal", "Site", "--value", "100"])
    """
)


def test_the_next_command_undoes_a_change_cut_short(crm, folder, tmp_path):
    lead_fixture(crm)
    before = snapshot(folder)
    script = tmp_path / "crash.py"
    script.write_text(CRASH)
    died = subprocess.run([sys.executable, str(script), str(folder)], check=False)
    assert died.returncode == 9
    assert (folder / ".crm" / "journal.json").exists()
    assert snapshot(folder) != before  # half of it is there
    assert crm("company", "add", "Other").ok  # any writing command repairs first
    after = snapshot(folder)
    assert after.pop("companies/other.yaml")
    assert after == before
    assert yaml.safe_load((folder / "leads" / "ada.yaml").read_text())["status"] == "new"
    assert crm("check").ok


def test_a_journal_naming_files_outside_the_folder_is_ignored(crm, folder, tmp_path):
    """A journal that came in by git (or was written by hand) never touches outside files."""
    import json

    victim = tmp_path / "victim.txt"
    victim.write_text("mine\n")
    gone = tmp_path / "keep-me.txt"
    gone.write_text("keep\n")
    state = folder / ".crm"
    (state / "backup").mkdir(parents=True, exist_ok=True)
    (state / "backup" / "0").write_text("attacker's\n")
    (state / "journal.json").write_text(
        json.dumps(
            [
                {"path": str(victim), "temp": None, "backup": str(state / "backup" / "0")},
                {"path": str(gone), "temp": "/nonexistent/.crm-tmp-x", "backup": None},
            ]
        )
    )
    result = crm("company", "add", "Other")
    assert result.ok
    assert "not written by crm" in result.stderr
    assert victim.read_text() == "mine\n" and gone.read_text() == "keep\n"
    assert not (state / "journal.json").exists()
    for bad in (
        [{"path": str(folder / "contacts" / "x.yaml"), "backup": "/etc/passwd", "temp": None}],
        [{"path": "contacts/x.yaml", "backup": None, "temp": None}],
        [{"path": str(state / "lock"), "backup": None, "temp": None}],
        {"path": "x"},
    ):
        (state / "journal.json").write_text(json.dumps(bad))
        assert crm("company", "add", "Another").ok
        assert not (state / "journal.json").exists()
