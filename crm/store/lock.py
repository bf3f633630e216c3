"""One writer at a time: an advisory lock on `.crm/lock`, held for a whole command's changes."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from crm.errors import BusyError, ConfigError


def lock_timeout() -> float:
    """Seconds to wait for the lock: $CRM_LOCK_TIMEOUT, default 30."""
    text = os.environ.get("CRM_LOCK_TIMEOUT", "").strip()
    if not text:
        return 30.0
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < 86400:
        raise ConfigError(f"CRM_LOCK_TIMEOUT: '{text}' is not a number of seconds")
    return seconds


@contextmanager
def folder_lock(lock_path: Path, timeout: float | None = None) -> Iterator[None]:
    """Hold an exclusive lock on `lock_path`; waits up to `timeout` seconds for another holder."""
    if timeout is None:
        timeout = lock_timeout()
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _acquire(fd, lock_path, timeout)
        try:
            yield
        finally:
            _release(fd)
    finally:
        os.close(fd)


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _release(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _release(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _acquire(fd: int, lock_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.005
    while not _try_lock(fd):
        if time.monotonic() >= deadline:
            raise BusyError(
                f"another crm command is still writing ({lock_path} is locked)",
                hint="try again in a moment",
            )
        time.sleep(delay)
        delay = min(delay * 2, 0.1)
