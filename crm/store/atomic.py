"""Atomic file replacement: a reader sees the old file or the new one, never half of either."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

TEMP_PREFIX = ".crm-tmp-"  # hidden, so no reader ever takes a leftover for a record


def write_temp(path: Path, content: str | bytes, mode: int = 0o644) -> Path:
    """Write `content` to a hidden temp file beside `path`, flushed and fsynced; return its path.

    Text is written as UTF-8 with \\n line ends; bytes as they are."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=path.suffix, dir=path.parent)
    data = content.encode("utf-8") if isinstance(content, str) else content
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(name, mode)  # mkstemp creates 0600
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise
    return Path(name)


def replace(temp: Path, path: Path) -> None:
    """Move a finished temp file over `path` and make the rename durable."""
    os.replace(temp, path)
    fsync_dir(path.parent)


def write(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_bytes(path: Path, data: bytes) -> None:
    """Replace the file `path` with `data` (an .ics file must keep its CRLF line ends)."""
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(path))
    temp = write_temp(path, data, mode_of(path))
    try:
        replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise


def mode_of(path: Path) -> int:
    try:
        if path.is_dir():
            return 0o644
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        return 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fsync_dir(directory: Path) -> None:
    if os.name != "posix":  # pragma: no cover - directories cannot be opened on Windows
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temps(directory: Path) -> None:
    """Delete temp files a killed writer left behind (only called under the folder lock)."""
    for leftover in directory.glob(f"{TEMP_PREFIX}*"):
        with contextlib.suppress(OSError):
            leftover.unlink()
