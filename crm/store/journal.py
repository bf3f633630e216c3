"""All or nothing across files: a change to several files is journalled before it is applied.

Each file is replaced atomically on its own (temp file, fsync, rename); a command that changes
several (`lead convert`, `rm --force`) must not stop half-way either. Before the renames, the
old version of every file is kept (a hard link, so nothing is copied) and the plan is written to
`.crm/journal.json`. If a rename fails, the old versions are put back at once; if the process
dies, the next command to take the folder lock finds the journal and puts them back then.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from crm.store import atomic

JOURNAL = "journal.json"
BACKUPS = "backup"


@dataclass(frozen=True, slots=True)
class Step:
    path: Path
    temp: Path | None  # the new text, ready; None: the file is deleted


def apply(state: Path, steps: Sequence[Step]) -> None:
    """Carry out every step, or none: roll back on any failure."""
    backups = state / BACKUPS
    backups.mkdir(parents=True, exist_ok=True)
    entries = []
    for n, step in enumerate(steps):
        backup = None
        if step.path.exists():
            backup = backups / f"{n}"
            _keep(step.path, backup)
        entries.append(
            {
                "path": str(step.path),
                "temp": str(step.temp) if step.temp else None,
                "backup": str(backup) if backup else None,
            }
        )
    journal = state / JOURNAL
    atomic.write(journal, json.dumps(entries, indent=1))
    try:
        for step in steps:
            if step.temp is not None:
                os.replace(step.temp, step.path)
            else:
                with contextlib.suppress(FileNotFoundError):
                    step.path.unlink()
        for folder in {step.path.parent for step in steps}:
            atomic.fsync_dir(folder)
    except BaseException:
        roll_back(state)
        raise
    _finish(state)


def roll_back(state: Path) -> bool:
    """Undo a journalled change that did not finish. True if there was one."""
    journal = state / JOURNAL
    try:
        entries = json.loads(journal.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        entries = []  # a journal cut short: its renames never started
    for entry in entries:
        path = Path(entry["path"])
        if entry.get("backup") and Path(entry["backup"]).exists():
            os.replace(entry["backup"], path)
        elif entry.get("temp") and not Path(entry["temp"]).exists():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # a new file that was already renamed into place
        if entry.get("temp"):
            with contextlib.suppress(FileNotFoundError):
                Path(entry["temp"]).unlink()
        atomic.fsync_dir(path.parent)
    _finish(state)
    return True


def _keep(path: Path, backup: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        backup.unlink()
    try:
        os.link(path, backup)
    except OSError:  # no hard links on this file system
        shutil.copy2(path, backup)


def _finish(state: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (state / JOURNAL).unlink()
    shutil.rmtree(state / BACKUPS, ignore_errors=True)
