"""Helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def run_process(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m crm` as a real process."""
    return subprocess.run(
        [sys.executable, "-m", "crm", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )


def no_traceback(run: Run) -> None:
    assert run.exception is None, repr(run.exception)
    assert "Traceback" not in run.stderr
    assert "Traceback" not in run.stdout


def invoice_with_lines(crm, *lines: list[str], title: str = "Website", customer: str = "acme"):
    """A draft invoice with `lines` (each the options of one `line add`); returns its id."""
    result = crm("invoice", "new", title, "--for", customer)
    assert result.ok, result.stderr
    rid = result.stdout.strip()
    for args in lines:
        added = crm("invoice", "line", "add", rid, *args)
        assert added.ok, added.stderr
    return rid


def shown(crm, kind: str, ref: str) -> dict:
    """`crm KIND show REF --format json`, parsed."""
    result = crm(kind, "show", ref, "--format", "json")
    assert result.ok, result.stderr
    return json.loads(result.stdout)


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def pdf_works() -> bool:
    """Whether WeasyPrint and the system's Pango library can make PDFs here."""
    try:
        import weasyprint  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


needs_pdf = pytest.mark.skipif(not pdf_works(), reason="WeasyPrint needs the Pango library")
