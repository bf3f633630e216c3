"""The benchmark's smoke test: a generated folder passes `crm check`, and the harness runs every
command on it and writes a row for each. No timing is asserted: CI machines vary too much."""

from __future__ import annotations

import datetime as dt
import importlib
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from helpers import run_process

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
COMMANDS = (
    "crm --version",
    "crm --help",
    "contact list",
    "contact show",
    "pipeline",
    "forecast",
    "report receivables",
    "search",
    "agenda",
    "check",
    "contact add",
    "deal move",
    "invoice issue",
    "import csv",
    "export vcard",
)


def test_a_generated_folder_passes_check(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    made = subprocess.run(
        [sys.executable, str(BENCH / "generate.py"), str(folder), "--records", "1000"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    files = list(folder.glob("*/*.yaml"))
    assert 900 <= len(files) <= 1100
    checked = run_process("--dir", str(folder), "check", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout == ""


def _bench_module(name: str) -> ModuleType:
    """A module of bench/, which is a folder of scripts rather than a package."""
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCH))


def test_the_generator_is_deterministic(tmp_path: Path) -> None:
    generate = _bench_module("generate")
    today = dt.date(2026, 11, 23)
    first = generate.generate(tmp_path / "a", 300, seed=7, today=today)
    second = generate.generate(tmp_path / "b", 300, seed=7, today=today)
    assert first == second
    names = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.*"))
    assert names == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.*"))
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_the_harness_times_every_command(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    args = ["--sizes", "1000", "--runs", "1", "--import-runs", "1", "--csv-rows", "300"]
    bench = [sys.executable, str(BENCH / "run.py"), *args, "--work", str(tmp_path / "work")]
    done = subprocess.run([*bench, "--out", str(out)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    text = out.read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([^`]+)` \| 1,000 \| (\S+) \| (\S+) \|", text, re.M)
    assert sorted(name for name, _cold, _median in rows) == sorted(COMMANDS)
    assert all(median != "failed" for _name, _cold, median in rows)
    assert "## Machine" in text

    # The next run compares with this one, read back from the raw figures at the end.
    previous, date = _bench_module("run").previous_medians(out)
    assert set(previous) == {(name, 1000) for name in COMMANDS}
    assert date
