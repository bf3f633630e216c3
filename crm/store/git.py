"""What git knows about the data folder: who changed a file, and when."""

from __future__ import annotations

import subprocess
from pathlib import Path

_SEPARATOR = "\x1f"


def file_history(root: Path, relative: str, limit: int = 50) -> list[dict[str, str]]:
    """The commits that changed a file, newest first: at (ISO), author, subject.

    Empty when the folder is not in a git repository or git is not installed.
    """
    try:
        result = subprocess.run(
            [
                "git",
                "log",
                f"-{limit}",
                "--follow",
                f"--format=%aI{_SEPARATOR}%an{_SEPARATOR}%s",
                "--",
                relative,
            ],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    if result.returncode != 0:
        return []
    out = []
    for line in result.stdout.splitlines():
        parts = line.split(_SEPARATOR, 2)
        if len(parts) == 3:
            out.append({"at": parts[0], "author": parts[1], "subject": parts[2]})
    return out
