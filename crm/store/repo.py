"""The record store: one YAML file per record, read in bulk, changed in locked transactions."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from crm import dates, ids
from crm.config import CONFIG_FILE, Config, parse_config
from crm.errors import ConfigError, ConflictError, DataError, NotFoundError
from crm.models import RECORD_TYPES, Issue, RecordType
from crm.records import Edit, Record, apply
from crm.store import atomic, cache, journal, yamlio
from crm.store.folder import STATE_DIR
from crm.store.lock import folder_lock

SUFFIX = ".yaml"


@dataclass(frozen=True, slots=True)
class Change:
    """A file a transaction creates, rewrites or deletes (text None: absent)."""

    path: str
    before: str | None
    after: str | None


@dataclass(frozen=True, slots=True)
class Scan:
    records: list[Record]
    problems: list[DataError]


class Store:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._stamps: dict[str, cache.Stamp] = {}  # of files scanned that the cache may keep
        self.config_digest = ""  # of the crm.yaml `config()` read last: what judged records
        self._settings: Config | None = None

    # -- paths ------------------------------------------------------------------------------

    def folder(self, rtype: RecordType) -> Path:
        return self.root / rtype.plural

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def path_of(self, rtype: RecordType, rid: str) -> Path:
        if not ids.is_valid_id(rid):  # never a path outside the folder
            raise NotFoundError(f"no {rtype.name} '{rid}'")
        return self.folder(rtype) / f"{rid}{SUFFIX}"

    def exists(self, rtype: RecordType, rid: str) -> bool:
        return ids.is_valid_id(rid) and self.path_of(rtype, rid).is_file()

    def files(self, rtype: RecordType) -> list[Path]:
        """Record files of a type: `*.yaml`, hidden files (temp files among them) left out."""
        try:
            entries = os.scandir(self.folder(rtype))
        except FileNotFoundError:
            return []
        with entries:
            names = sorted(
                e.name for e in entries if e.name.endswith(SUFFIX) and not e.name.startswith(".")
            )
        return [self.folder(rtype) / name for name in names]

    # -- reading ----------------------------------------------------------------------------

    def config(self, *, deep: bool = False) -> tuple[Config, list[Issue]]:
        """The folder's settings and every problem in crm.yaml (defaults stand in for bad parts)."""
        path = self.root / CONFIG_FILE
        try:
            raw = path.read_bytes()
            self.config_digest = hashlib.sha256(raw).hexdigest()
            loaded = yamlio.parse(yamlio.decode(raw, CONFIG_FILE), CONFIG_FILE)
        except FileNotFoundError as exc:
            raise ConfigError(f"{path} is missing", hint="create a folder with `crm init`") from exc
        except DataError as exc:
            return Config(), [Issue(CONFIG_FILE, exc.line, exc.detail)]
        config, issues = parse_config(loaded.data, loaded.lines, deep=deep)
        if not deep:
            self._settings = config
        return config, issues

    def settings(self) -> Config:
        """The folder's settings as `config()` read them last (read now if never)."""
        if self._settings is None:
            self.config()
        assert self._settings is not None
        return self._settings

    def load(self, rtype: RecordType, path: Path) -> Record:
        """The record in `path`; DataError when it cannot be read as one."""
        rel = self.rel(path)
        rid = path.name.removesuffix(SUFFIX)
        if not ids.is_valid_id(rid):
            raise DataError(
                rel,
                "file name is not a valid id",
                hint=f"rename it to {ids.slugify(rid)}{SUFFIX}",
            )
        if path.is_symlink() and not _inside(path.resolve(), self.root.resolve()):
            raise DataError(rel, "is a link to a file outside the CRM folder")
        try:
            raw = path.read_bytes()
        except FileNotFoundError as exc:
            raise NotFoundError(f"no {rtype.name} '{rid}'") from exc
        except OSError as exc:
            raise DataError(rel, f"cannot be read: {exc.strerror}") from exc
        data, lines, texts = _parsed(raw, rel)
        return Record(type=rtype, id=rid, data=data, path=rel, lines=lines, raw=texts)

    def read(self, rtype: RecordType, rid: str) -> Record:
        path = self.path_of(rtype, rid)
        if not path.is_file():
            raise NotFoundError(f"no {rtype.name} '{rid}'")
        return self.load(rtype, path)

    def scan(self, rtype: RecordType) -> Scan:
        """Every readable record of a type, and a DataError for each file that is not.

        Files unchanged since the last scan come from the cache (crm.store.cache).
        """
        if not cache.enabled():
            return self._scan_files(rtype)
        folder = self.folder(rtype)
        try:
            listing = os.scandir(folder)
        except FileNotFoundError:
            return Scan([], [])
        store = cache.Cache(self.root)
        before = store.load(rtype.plural)
        after: dict[str, cache.Entry] = {}
        records: list[Record] = []
        problems: list[DataError] = []
        changed = False
        now = time.time_ns()
        enabled = gc.isenabled()
        gc.disable()  # the collector would rescan the growing result on every allocation burst
        try:
            with listing:
                entries = sorted(
                    (e for e in listing if e.name.endswith(SUFFIX) and not e.name.startswith(".")),
                    key=lambda e: e.name,
                )
            for entry in entries:
                try:
                    stamp = cache.stamp_of(entry.stat())
                except FileNotFoundError:  # deleted while we listed
                    continue
                except OSError:
                    stamp = None
                known = before.get(entry.name)
                payload: tuple[Any, ...] | None
                fresh = known is None or known[0] != stamp
                if not fresh and known is not None:
                    payload = known[1]
                else:
                    payload = self._payload(rtype, Path(entry.path))
                    if payload is None:
                        continue
                if stamp is not None and not entry.is_symlink() and not cache.is_racy(stamp, now):
                    if known is not None and not fresh:
                        after[entry.name] = known
                    else:
                        kept = payload[:2] if payload[0] == "ok" else payload
                        after[entry.name] = (stamp, cache.interned(kept))
                    self._stamps[f"{rtype.plural}/{entry.name}"] = stamp
                    changed = changed or fresh
                elif entry.name in before:
                    changed = True
                rel = f"{rtype.plural}/{entry.name}"
                if payload[0] == "ok":
                    rid = entry.name.removesuffix(SUFFIX)
                    if fresh:
                        lines, texts = payload[2], payload[3]
                    else:
                        source = _Reparse(entry.path, rel)
                        lines, texts = _Part(source, 2), _Part(source, 3)
                    records.append(
                        Record(
                            type=rtype, id=rid, data=payload[1], path=rel, lines=lines, raw=texts
                        )
                    )
                else:
                    _, detail, line, hint = payload
                    problems.append(DataError(rel, detail, line=line, hint=hint))
        finally:
            if enabled:
                gc.enable()
        if changed or len(after) != len(before):
            store.save(rtype.plural, after)
        return Scan(records, problems)

    def slim(self, rec: Record) -> Record:
        """`rec` without its lines and raw texts in memory (read again from its file if
        asked for): for commands that hold a whole large folder."""
        if isinstance(rec.lines, _Part):
            return rec
        source = _Reparse(str(self.root / rec.path), rec.path)
        return Record(
            type=rec.type,
            id=rec.id,
            data=rec.data,
            path=rec.path,
            lines=_Part(source, 2),
            raw=_Part(source, 3),
        )

    def derived(
        self, name: str, records: Sequence[Record], salt: Any, compute: Callable[[Record], Any]
    ) -> list[Any]:
        """`compute(rec)` for each record, kept in the cache beside the record's parse.

        For what takes long and depends only on the record's file and `salt` (the settings it
        is judged by): `crm check`'s findings. The values must be plain data (tuples, text).
        """
        if not cache.enabled() or not records:
            return [compute(rec) for rec in records]
        store = cache.Cache(self.root)
        key = f"{name}-{records[0].type.plural}"
        before = store.load(key)
        after: dict[str, cache.Entry] = {}
        out = []
        changed = False
        for rec in records:
            stamp = self._stamps.get(rec.path)
            known = before.get(rec.path)
            if (
                stamp is not None
                and known is not None
                and known[0] == stamp
                and known[1][0] == salt
            ):
                value = known[1][1]
                after[rec.path] = known
            else:
                value = compute(rec)
                if stamp is not None:
                    after[rec.path] = (stamp, (salt, value))
                    changed = True
            out.append(value)
        if changed or len(after) != len(before):
            store.save(key, after)
        return out

    def _payload(self, rtype: RecordType, path: Path) -> tuple[Any, ...] | None:
        """What the cache keeps of a file: its record's parts, or the error; None if gone."""
        try:
            rec = self.load(rtype, path)
        except DataError as exc:
            return ("error", exc.detail, exc.line, exc.hint)
        except NotFoundError:
            return None
        return ("ok", rec.data, dict(rec.lines), dict(rec.raw))  # the cache keeps the first two

    def _scan_files(self, rtype: RecordType) -> Scan:
        records: list[Record] = []
        problems: list[DataError] = []
        enabled = gc.isenabled()
        gc.disable()
        try:
            for path in self.files(rtype):
                try:
                    records.append(self.load(rtype, path))
                except DataError as exc:
                    problems.append(exc)
                except NotFoundError:  # deleted while we listed
                    continue
        finally:
            if enabled:
                gc.enable()
        return Scan(records, problems)

    def scan_all(self) -> tuple[dict[str, list[Record]], list[DataError]]:
        everything: dict[str, list[Record]] = {}
        problems: list[DataError] = []
        for name, rtype in RECORD_TYPES.items():
            scan = self.scan(rtype)
            everything[name] = scan.records
            problems.extend(scan.problems)
        return everything, problems

    # -- writing ----------------------------------------------------------------------------

    def transaction(self, *, dry_run: bool = False) -> Transaction:
        return Transaction(self, dry_run=dry_run)


class _Reparse:
    """The lines and raw texts of a record that came from the cache, which keeps only its data:
    parsed again from its file the first time they are asked for (to report a problem)."""

    __slots__ = ("_parts", "path", "rel")

    def __init__(self, path: str, rel: str) -> None:
        self.path = path
        self.rel = rel
        self._parts: tuple[Any, ...] | None = None

    def __getitem__(self, index: int) -> Any:
        if self._parts is None:
            try:
                with open(self.path, "rb") as handle:
                    _, lines, texts = _parsed(handle.read(), self.rel)
            except (OSError, DataError):  # changed since: no lines rather than wrong ones
                lines, texts = {}, {}
            self._parts = ("ok", None, lines, texts)
        return self._parts[index]


class _Part(Mapping[str, Any]):
    """A record's lines (index 2) or raw texts (index 3), from a payload or a `_Reparse`."""

    __slots__ = ("_index", "_source")

    def __init__(self, source: Any, index: int) -> None:
        self._source = source
        self._index = index

    def _map(self) -> Mapping[str, Any]:
        found: Mapping[str, Any] = self._source[self._index]
        return found

    def __getitem__(self, key: str) -> Any:
        return self._map()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._map())

    def __len__(self) -> int:
        return len(self._map())


def _parsed(raw: bytes, rel: str) -> tuple[dict[str, Any], dict[str, int], dict[str, str]]:
    """A record file's data, the line of each key and the raw text of each retyped scalar."""
    loaded = yamlio.parse(yamlio.decode(raw, rel), rel)
    data = loaded.data
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise DataError(rel, f"must be a mapping of fields, not {type(data).__name__}", line=1)
    for key in data:
        if not isinstance(key, str):
            raise DataError(rel, f"key {key!r} is not text", line=loaded.lines.get(str(key)))
    return data, loaded.lines, loaded.raw


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


class Transaction:
    """Changes staged under the folder lock and written together when the block succeeds.

    Every new text is first written to a hidden temp file and fsynced; only when all are ready
    are they renamed into place. An exception anywhere in the block writes nothing.
    """

    def __init__(self, store: Store, *, dry_run: bool) -> None:
        self.store = store
        self.dry_run = dry_run
        self.now = dates.now()
        self._staged: dict[Path, Change] = {}
        self._blobs: dict[Path, bytes] = {}  # files kept beside records, written as they are
        self._lock: contextlib.ExitStack | None = None
        self.recovered = False
        self.message: str | None = None  # the commit's subject; else made from the changes
        self.automate = True  # fire rules and run hooks on these changes
        self.rules = True  # fire event rules (off where rules make the changes: `crm rules run`)
        self.events: list[Any] = []  # what happened, for the on- hooks (crm.automation)
        self.commit: str | None = None  # the commit made of these changes, if any
        self._prepared = False

    def __enter__(self) -> Transaction:
        if not self.dry_run:
            self._lock = contextlib.ExitStack()
            self._lock.enter_context(folder_lock(self.store.root / STATE_DIR / "lock"))
            # A command killed in the middle of a change to several files is undone first.
            self.recovered = journal.roll_back(self.store.root / STATE_DIR)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        written = False
        try:
            if exc_type is None:
                written = self._finish()
        finally:
            if self._lock is not None:
                self._lock.close()
        if written and self.automate:
            from crm import automation

            automation.after_write(self)  # the lock released: an on- hook may run crm itself

    def prepare(self) -> None:
        """Fire the event rules and run the pre- hooks now, on what is staged so far: before
        the block does what cannot be taken back (sends an email), so a hook refusing the
        change stops that too. Stage everything first: later changes meet no rule or hook."""
        from crm import automation

        if self._staged and self.automate and not self._prepared:
            automation.before_write(self)
        self._prepared = True

    def _finish(self) -> bool:
        """Write (and commit) what is staged; whether anything was written."""
        from crm.store import git

        self.prepare()
        if self.dry_run or not self._staged:
            return False
        pending = None
        if self.store.settings().git.autocommit:  # before the write: edits made outside crm
            pending = git.before_write(self.store.root, [c.path for c in self.changes])
        self._commit()
        if pending is not None:
            self.commit = git.after_write(pending, self.changes, self.message)
        return True

    @property
    def changes(self) -> list[Change]:
        return list(self._staged.values())

    def change_of(self, rtype: RecordType, rid: str) -> Change | None:
        """What is staged so far for a record's file, if anything."""
        return self._staged.get(self.store.path_of(rtype, rid))

    def savepoint(self) -> tuple[dict[Path, Change], dict[Path, bytes]]:
        """What is staged so far, for `rollback` to return to (one item of a batch failed)."""
        return dict(self._staged), dict(self._blobs)

    def rollback(self, point: tuple[dict[Path, Change], dict[Path, bytes]]) -> None:
        """Forget what was staged since `point` was taken."""
        self._staged, self._blobs = dict(point[0]), dict(point[1])

    def _current(self, path: Path) -> str | None:
        if path in self._staged:
            return self._staged[path].after
        try:
            return yamlio.decode(path.read_bytes(), self.store.rel(path))
        except FileNotFoundError:
            return None

    def _stage(self, path: Path, after: str | None) -> None:
        before = self._staged[path].before if path in self._staged else self._current(path)
        self._staged[path] = Change(self.store.rel(path), before, after)

    def create(
        self, rtype: RecordType, data: dict[str, Any], *, base: str, exact: bool = False
    ) -> str:
        """Stage a new record; its id is `base`, or `base-2`... unless `exact` forbids that."""

        def taken(candidate: str) -> bool:
            return self._current(self.store.path_of(rtype, candidate)) is not None

        if exact and taken(base):
            raise ConflictError(f"a {rtype.name} with id '{base}' already exists")
        rid = ids.unique_id(base, taken)
        self._stage(self.store.path_of(rtype, rid), yamlio.dump_new(data))
        return rid

    def update(self, rec: Record, edits: Sequence[Edit]) -> bool:
        """Stage `edits` to a record's file, kept as written elsewhere. False if nothing changes.

        `rec` must be the record as read in this transaction: its data tells whether the edits
        change anything, so that a no-op never re-writes a hand-written file.
        """
        if apply(rec.data, edits) == rec.data:
            return False
        path = self.store.path_of(rec.type, rec.id)
        text = self._current(path)
        if text is None:
            raise NotFoundError(f"no {rec.type.name} '{rec.id}'")
        touched = [*edits, Edit("set", ("updated",), self.now)]
        self._stage(path, yamlio.edit_text(text, rec.path, touched, rec.type.key_order))
        return True

    def staged(self, rtype: RecordType) -> list[dict[str, Any]]:
        """The data of records of `rtype` created or changed so far in this transaction."""
        out = []
        for path, change in self._staged.items():
            if path.parent == self.store.folder(rtype) and path.suffix == SUFFIX and change.after:
                data = yamlio.parse(change.after, change.path).data
                if isinstance(data, dict):
                    out.append(data)
        return out

    def write_text(self, rtype: RecordType, rid: str, text: str) -> None:
        self._stage(self.store.path_of(rtype, rid), text)

    def write_config(self, text: str) -> None:
        """Stage a new crm.yaml (an imported backup's)."""
        self._stage(self.store.root / CONFIG_FILE, text)

    def attach(self, rtype: RecordType, rid: str, suffix: str, data: bytes) -> str:
        """Stage a file kept beside a record (`invoices/<id>.pdf`); returns its file name."""
        name = f"{self.store.path_of(rtype, rid).stem}.{suffix}"
        path = self.store.folder(rtype) / name
        self._blobs[path] = data
        self._staged[path] = Change(self.store.rel(path), None, f"({len(data)} bytes)\n")
        return name

    def detach(self, rtype: RecordType, name: str) -> None:
        """Stage the removal of a file kept beside a record (`contacts/<id>.photo.jpg`)."""
        if not ids.is_safe_file_name(name):  # never a path outside the folder
            raise NotFoundError(f"no file '{name}' beside the {rtype.plural}")
        path = self.store.folder(rtype) / name
        self._blobs.pop(path, None)
        if path in self._staged:
            before = self._staged[path].before
        else:
            try:
                before = f"({path.stat().st_size} bytes)\n"
            except FileNotFoundError:
                return
        self._staged[path] = Change(self.store.rel(path), before, None)

    def delete(self, rtype: RecordType, rid: str) -> None:
        self._stage(self.store.path_of(rtype, rid), None)

    def _commit(self) -> None:
        for folder in {path.parent for path in self._staged}:
            atomic.remove_stale_temps(folder)  # what a killed writer left; we hold the lock
        steps: list[journal.Step] = []
        try:
            for path, change in self._staged.items():
                temp = None
                content = self._blobs.get(path, change.after)
                if content is not None:
                    temp = atomic.write_temp(path, content, atomic.mode_of(path))
                steps.append(journal.Step(path, temp))
        except BaseException:
            for step in steps:
                if step.temp is not None:
                    with contextlib.suppress(OSError):
                        step.temp.unlink()
            raise
        if len(steps) == 1 and steps[0].temp is not None:
            atomic.replace(steps[0].temp, steps[0].path)  # one rename is atomic by itself
        elif steps:
            journal.apply(self.store.root / STATE_DIR, steps)
