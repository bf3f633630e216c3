"""Shared fixtures: an isolated environment, a CLI runner, and CRM folders to run it on."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crm.cli import build_app
from helpers import Run

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SHARED = ROOT.parent / "shared"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A temp HOME and working folder; no colour, fixed width, UTC; no CRM_* from outside."""
    home = tmp_path / "home"
    work = tmp_path / "work"
    home.mkdir()
    work.mkdir()
    for name in list(os.environ):
        if name.startswith("CRM_") or name in ("VISUAL", "EDITOR"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "test@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "test@example.com")
    monkeypatch.chdir(work)
    yield work


_APP = build_app(None)


@pytest.fixture
def crm() -> Callable[..., Run]:
    """Run the real CLI in-process: crm("contact", "list", "-f", "json")."""
    runner = CliRunner()

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Run:
        result = runner.invoke(_APP, list(args), input=input, env=env, catch_exceptions=True)
        exc = result.exception
        if isinstance(exc, SystemExit):
            exc = None
        return Run(result.exit_code, result.stdout, result.stderr, exc)

    return run


@pytest.fixture
def folder(isolated: Path, crm: Callable[..., Run]) -> Path:
    """A fresh CRM folder (no git), which is also the working directory."""
    result = crm("init", "--no-git", "--name", "Test Studio")
    assert result.ok, result.stderr
    return isolated


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of examples/, as the working directory."""
    target = tmp_path / "example"
    shutil.copytree(EXAMPLES, target)
    monkeypatch.chdir(target)
    return target


BILLING = """
billing:
  locale: en_GB
  tax_rate: "19"
  payment_terms: 14
  pdf: false
  bank: {holder: "Test Studio", iban: "DE02120300000000202051", bic: "BYLADEM1001"}
  reminders:
    - {days: 7, text: "A friendly reminder."}
    - {days: 21, text: "Second reminder.", fee: "5.00"}
"""


@pytest.fixture
def billed(folder: Path, crm: Callable[..., Run], monkeypatch: pytest.MonkeyPatch) -> Path:
    """A CRM with billing settings, a customer with an address and VAT id, and a product."""
    config = folder / "crm.yaml"
    text = config.read_text()
    text = text[: text.index("# Quotes and invoices")] + BILLING
    config.write_text(text)
    monkeypatch.setenv("CRM_NOW", "2026-11-23T10:00:00")
    for args in (
        ("company", "add", "Acme GmbH", "--street", "Hauptstr. 1", "--postcode", "10115"),
        ("company", "set", "acme-gmbh", "vat_id=DE123456788", "address.city=Berlin"),
        ("contact", "add", "Ada Lovelace", "--email", "ada@acme.example", "--company", "acme"),
        ("product", "add", "Design", "--price", "95", "--unit", "hour", "--id", "design"),
    ):
        result = crm(*args)
        assert result.ok, (args, result.stderr)
    return folder
