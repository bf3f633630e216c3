"""Long tables on a terminal go through the pager; pipes and short tables never do."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")


def on_terminal(args: list[str], cwd: Path, **env: str) -> tuple[int, str]:
    """Run crm with its stdout on a pseudo-terminal; the exit code and what reached it."""
    master, slave = pty.openpty()
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # the terminal closed
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain)
    reader.start()
    full_env = {**os.environ, "LINES": "8", **env}
    full_env.pop("CRM_FORMAT", None)
    proc = subprocess.run(
        [sys.executable, "-m", "crm", *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
        env=full_env,
        timeout=120,
    )
    os.close(slave)
    reader.join(timeout=10)
    os.close(master)
    assert b"Traceback" not in proc.stderr
    return proc.returncode, b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")


def fake_pager(tmp_path: Path) -> tuple[str, Path]:
    """A pager command that saves what it is given."""
    seen = tmp_path / "paged.txt"
    script = tmp_path / "pager.py"
    script.write_text(
        f"import sys\nopen({str(seen)!r}, 'wb').write(sys.stdin.buffer.read())\n",
        encoding="utf-8",
    )
    return f"{sys.executable} {script}", seen


def test_a_long_table_on_a_terminal_goes_through_the_pager(example: Path, tmp_path: Path) -> None:
    pager, seen = fake_pager(tmp_path)
    code, shown = on_terminal(["contact", "list"], example, PAGER=pager)
    assert code == 0
    paged = seen.read_text(encoding="utf-8")
    assert paged.count("\n") > 8
    assert "name" in paged.splitlines()[0]
    assert "name" not in shown  # nothing but the pager reached the terminal


def test_crm_pager_wins_over_pager_and_gets_less_defaults(example: Path, tmp_path: Path) -> None:
    pager, seen = fake_pager(tmp_path)
    env_file = tmp_path / "less.txt"
    pager_env = f"sh -c 'printf %s \"$LESS\" > {env_file}; exec {pager}'"
    code, _ = on_terminal(["deal", "list"], example, PAGER="false", CRM_PAGER=pager_env)
    assert code == 0
    assert seen.read_text(encoding="utf-8").count("\n") > 8
    assert env_file.read_text(encoding="utf-8") == "FRX"


def test_no_pager_short_tables_and_cat_print_directly(example: Path, tmp_path: Path) -> None:
    pager, seen = fake_pager(tmp_path)
    code, shown = on_terminal(["--no-pager", "contact", "list"], example, PAGER=pager)
    assert code == 0 and "name" in shown and not seen.exists()
    code, shown = on_terminal(["contact", "list"], example, PAGER=pager, LINES="500")
    assert code == 0 and "name" in shown and not seen.exists()
    code, shown = on_terminal(["contact", "list"], example, CRM_PAGER="cat")
    assert code == 0 and "name" in shown


def test_a_missing_pager_still_prints(example: Path) -> None:
    code, shown = on_terminal(["contact", "list"], example, PAGER="no-such-pager-here")
    assert code == 0
    assert "name" in shown


def test_a_pipe_is_never_paged(example: Path, tmp_path: Path) -> None:
    pager, seen = fake_pager(tmp_path)
    env = {**os.environ, "PAGER": pager, "LINES": "3"}
    proc = subprocess.run(
        [sys.executable, "-m", "crm", "contact", "list", "-f", "table"],
        cwd=example,
        capture_output=True,
        env=env,
        timeout=120,
        check=True,
    )
    assert b"name" in proc.stdout and not seen.exists()
