"""Shell completion: what TAB offers, from the folder's files, for bash, zsh and fish."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import run_process


def _bash(folder: Path, line: str) -> list[str]:
    words = line.split()
    cword = len(words) if line.endswith(" ") else len(words) - 1
    env = {"_CRM_COMPLETE": "complete_bash", "COMP_WORDS": line, "COMP_CWORD": str(cword)}
    result = run_process(cwd=folder, env=env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout.split()


def _zsh(folder: Path, line: str) -> str:
    env = {"_CRM_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": line}
    result = run_process(cwd=folder, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def filled(example: Path) -> Path:
    return example


def test_commands_ids_stages_and_tags(filled: Path):
    assert {"deal", "dedupe"} <= set(_bash(filled, "crm de"))
    deals = sorted(p.stem for p in (filled / "deals").glob("*.yaml"))
    assert _bash(filled, "crm deal move ") == deals
    alster = [d for d in deals if d.startswith("alster")]
    assert alster and _bash(filled, "crm deal move alster") == alster
    assert _bash(filled, f"crm deal move {alster[0]} ") == [
        "lead",
        "qualified",
        "proposal",
        "negotiation",
        "won",
        "lost",
    ]
    assert "client" in _bash(filled, "crm contact list --tag ")
    assert _bash(filled, "crm contact list --tag cli") == ["client"]


def test_invoice_numbers_and_names_as_descriptions(filled: Path):
    invoices = sorted(p.stem for p in (filled / "invoices").glob("*.yaml"))
    assert sorted(_bash(filled, "crm invoice show ")) == invoices
    # zsh shows each id with the record's number or name beside it
    shown = _zsh(filled, "crm contact show ")
    assert "Ayşe Demir" in shown or "Ayse Demir" in shown


def test_completion_in_another_folder_and_outside_any(filled: Path, tmp_path: Path):
    assert _bash(tmp_path, f"crm --dir {filled} deal move alster")
    assert _bash(tmp_path, "crm deal move ") == []  # no CRM here: nothing, no error
