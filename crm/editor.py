"""Handing a file to the user's editor."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

from crm.errors import CrmError


def editor_command() -> list[str]:
    """$VISUAL, else $EDITOR, else a sensible default for the platform."""
    chosen = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if chosen:
        return shlex.split(chosen, posix=os.name != "nt")
    return ["notepad"] if os.name == "nt" else ["vi"]


def edit(path: Path) -> None:
    """Open `path` in the editor and wait; an editor that fails or cannot start is an error."""
    command = editor_command()
    try:
        result = subprocess.run([*command, str(path)], check=False)
    except FileNotFoundError as exc:
        raise CrmError(
            f"cannot start the editor '{command[0]}'", hint="set $VISUAL or $EDITOR"
        ) from exc
    if result.returncode != 0:
        raise CrmError(f"the editor exited with status {result.returncode}; nothing was saved")
