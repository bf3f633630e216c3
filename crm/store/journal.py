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
    """Undo a journalled change that did not finish. True if there was one.

    The journal is trusted only as far as crm could have written it: files of the folder,
    their backups in .crm/backup/ and temp files beside them. One that names anything else
    (a journal brought in by someone else, through git) is set aside, unused.
    """
    journal = state / JOURNAL
    try:
        entries = json.loads(journal.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        entries = []  # a journal cut short: its renames never started
    steps = _checked(state, entries)
    if steps is None:
        from crm.errors import notice

        notice(f"{journal} names files outside the folder: it was not written by crm; ignored")
        _finish(state)
        return False
    for path, backup, temp in steps:
        if backup is not None and backup.exists():
            os.replace(backup, path)
        elif temp is not None and not temp.exists():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # a new file that was already renamed into place
        if temp is not None:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        atomic.fsync_dir(path.parent)
    _finish(state)
    return True


def _checked(state: Path, entries: object) -> list[tuple[Path, Path | None, Path | None]] | None:
    """The journal's steps, if every one stays where crm writes; None if any does not."""
    if not isinstance(entries, list):
        return [] if entries == [] else None
    root = state.parent.resolve()
    backups = (state / BACKUPS).resolve()
    out: list[tuple[Path, Path | None, Path | None]] = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            return None
        path = Path(entry["path"])
        if not path.is_absolute():
            return None
        folder = path.parent.resolve()
        if not (folder == root or root in folder.parents) or state.resolve() in (
            folder,
            *folder.parents,
        ):
            return None
        backup = entry.get("backup")
        temp = entry.get("temp")
        if backup is not None and (
            not isinstance(backup, str) or Path(backup).parent.resolve() != backups
        ):
            return None
        if temp is not None:
            if not isinstance(temp, str):
                return None
            temp_path = Path(temp)
            if temp_path.parent.resolve() != folder or not temp_path.name.startswith(
                atomic.TEMP_PREFIX
            ):
                return None
        out.append(
            (
                folder / path.name,
                Path(backup) if backup else None,
                Path(temp) if temp else None,
            )
        )
    return out


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
