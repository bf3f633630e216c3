"""Helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


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
