"""A cache of parsed records, one file per record type under `.crm/cache/`.

The YAML files are the truth; the cache only spares parsing them again. Each entry is checked
against its file's inode, size, mtime and ctime on every read, so hand edits, `git checkout`,
`git pull`, renames and deletes are all seen on the next command. A file changed less than
two seconds before it was read is not cached (its timestamps could hide a second change in
the same clock tick: git's "racy" case). A cache that is missing, unreadable or written by
another version is ignored and rewritten; it is replaced atomically, so concurrent readers
see either the old or the new one. Cached values are plain data (text, numbers, lists,
mappings): unpickling refuses any class, so a planted cache file cannot run code.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from crm import __version__
from crm.store.folder import STATE_DIR

FORMAT = 2
CACHE_DIR = f"{STATE_DIR}/cache"
RACY_NS = 2_000_000_000  # files changed this recently are parsed again next time
_TEMP_PREFIX = ".tmp-"

Stamp = tuple[int, int, int, int]  # inode, size, mtime_ns, ctime_ns
Entry = tuple[Stamp, tuple[Any, ...]]  # payload: ("ok", data) | ("error", detail, line, hint)


def enabled() -> bool:
    """False when CRM_NO_CACHE is set (to compare results, or on a shared read-only folder)."""
    return not os.environ.get("CRM_NO_CACHE")


def stamp_of(st: os.stat_result) -> Stamp:
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def is_racy(stamp: Stamp, now_ns: int) -> bool:
    return max(stamp[2], stamp[3]) > now_ns - RACY_NS


def _signature() -> tuple[Any, ...]:
    """What the cached values depend on besides the files: crm's version, the parser and the
    modules that judge records (their files' times, for a changed installation), PyYAML."""
    import yaml

    from crm import banking, records, validate
    from crm.store import yamlio

    times = []
    for module in (yamlio, records, validate, banking, sys.modules[__name__]):
        try:
            times.append(os.stat(module.__file__ or "").st_mtime_ns)
        except OSError:
            times.append(0)
    library = (yaml.__version__, getattr(yaml, "__with_libyaml__", False))
    return (FORMAT, __version__, sys.version_info[:2], library, tuple(times))


class _DataOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"the cache may hold no {module}.{name}")


def interned(value: Any) -> Any:
    """`value` with keys and short texts shared: pickle then writes each once, and loading
    the cache takes less than half the time. (Entries read from the cache share theirs.)"""
    if isinstance(value, dict):
        return {interned(k): interned(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = [interned(v) for v in value]
        return tuple(items) if isinstance(value, tuple) else items
    if isinstance(value, str) and len(value) <= 40:
        return sys.intern(value)
    return value


class Cache:
    """The cache files of one data folder."""

    def __init__(self, root: Path) -> None:
        self.dir = root / CACHE_DIR

    def _path(self, plural: str) -> Path:
        return self.dir / f"{plural}.pickle"

    def load(self, plural: str) -> dict[str, Entry]:
        """The entries of a record type by file name; empty when there is no usable cache."""
        try:
            data = self._path(plural).read_bytes()
        except OSError:
            return {}
        try:
            signature, entries = _DataOnly(io.BytesIO(data)).load()
        except Exception:  # truncated, foreign or corrupt: simply rebuilt
            return {}
        if signature != _signature() or not isinstance(entries, dict):
            return {}
        return entries

    def save(self, plural: str, entries: dict[str, Entry]) -> None:
        """Replace a type's cache; quietly does nothing where the folder cannot be written."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            data = pickle.dumps((_signature(), entries), protocol=pickle.HIGHEST_PROTOCOL)
            fd, temp = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=self.dir)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                # No fsync: after a crash a torn cache is unreadable and rebuilt, never trusted.
                os.replace(temp, self._path(plural))
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
        except OSError:
            return
        self._sweep()

    def _sweep(self) -> None:
        """Remove temp files that a killed process left more than an hour ago."""
        limit = time.time() - 3600
        with contextlib.suppress(OSError), os.scandir(self.dir) as entries:
            for entry in entries:
                if entry.name.startswith(_TEMP_PREFIX):
                    with contextlib.suppress(OSError):
                        if entry.stat().st_mtime < limit:
                            os.unlink(entry.path)

    def clear(self) -> int:
        """Remove every cache file; how many there were."""
        removed = 0
        with (
            contextlib.suppress(FileNotFoundError, NotADirectoryError),
            os.scandir(self.dir) as entries,
        ):
            for entry in entries:
                if entry.is_file():
                    os.unlink(entry.path)
                    removed += 1
        return removed
