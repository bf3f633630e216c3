"""Three-way merge of one record file, field by field: git's merge driver (`crm merge-file`).

The merge is decided on the data as crm reads it, and written as edits to our side's text, so
our comments, key order and formatting stay wherever a field did not change. Lists of ids,
tags, emails and phones merge as sets; the lists crm only appends to (history, payments,
reminders, periods invoiced) keep every side's new entries; `updated` takes the later time.
A field changed both ways is a conflict: git's markers go around that field's lines only.
Anything that is not a mapping of fields on every side is merged as plain text by git.
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crm import dates
from crm.errors import DataError, GitError
from crm.models import LIST_KINDS, RECORD_TYPES, Kind, RecordType
from crm.records import Edit
from crm.store import yamlio
from crm.validate import CONFLICT_END, CONFLICT_SPLIT, CONFLICT_START

OURS = "ours"
THEIRS = "theirs"
BASE = "base"

APPEND_ONLY = frozenset({Kind.HISTORY, Kind.PAYMENTS, Kind.ENTRIES})
SET_LIKE = LIST_KINDS  # emails, phones, tags, refs

Path_ = tuple[str, ...]


class _Absent:
    """A field a side does not have."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()


@dataclass(frozen=True, slots=True)
class Conflict:
    """A field both sides changed, each to its own value (ABSENT: removed)."""

    path: Path_
    ours: Any
    theirs: Any

    @property
    def name(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True, slots=True)
class Merged:
    data: bytes  # the merged file, conflict markers and all
    conflicts: tuple[str, ...] = ()  # the fields changed both ways (dotted)
    as_text: bool = False  # merged line by line: a side was not a mapping of fields
    reason: str = ""  # why it was merged as text

    @property
    def clean(self) -> bool:
        return not self.conflicts


@dataclass(frozen=True, slots=True)
class _Side:
    data: dict[str, Any]
    raw: Mapping[str, str]  # yamlio.Loaded.raw: which scalars were unquoted dates, numbers


@dataclass(slots=True)
class _Plan:
    edits: list[Edit] = field(default_factory=list)  # turn ours into the merge
    conflicts: list[Conflict] = field(default_factory=list)


def record_type_of(path: str | None) -> RecordType | None:
    """The record type of a file by its folder (`deals/x.yaml`, `crm/deals/x.yaml`)."""
    if not path:
        return None
    folder = Path(path).parent.name
    return next((t for t in RECORD_TYPES.values() if t.plural == folder), None)


def merge_files(base: bytes, ours: bytes, theirs: bytes, path: str | None = None) -> Merged:
    """Merge `theirs` into `ours`, both changed from `base` (empty when both added the file)."""
    rel = path or "record"
    try:
        texts = [yamlio.decode(raw, rel) for raw in (base, ours, theirs)]
        sides = [_side(text, rel) for text in texts]
    except DataError as exc:
        return _text_merge(base, ours, theirs, exc.detail)
    try:
        return _merge_texts(texts[0], texts[1], texts[2], sides, rel, record_type_of(path))
    except DataError as exc:  # ruamel refuses what PyYAML read: nothing lost, git merges lines
        return _text_merge(base, ours, theirs, exc.detail)


def _side(text: str, rel: str) -> _Side:
    loaded = yamlio.parse(text, rel)
    data = {} if loaded.data is None else loaded.data
    if not isinstance(data, dict):
        raise DataError(rel, "is not a mapping of fields")
    return _Side(data, loaded.raw)


def _merge_texts(
    base: str,
    ours: str,
    theirs: str,
    sides: Sequence[_Side],
    rel: str,
    rtype: RecordType | None,
) -> Merged:
    b, o, t = sides
    plan = _Plan()
    expected = _merge_map(b.data, o.data, t.data, (), rtype, t.raw, plan)
    order = rtype.key_order if rtype else ()
    text = yamlio.edit_text(ours, rel, plan.edits, order) if plan.edits else ours
    if plan.edits and not _same(_parsed(text, rel), expected):
        # an edit the writer cannot express exactly: merge line by line rather than lose it
        return _text_merge(_b(base), _b(ours), _b(theirs), "the merge could not be written")
    if not plan.conflicts:
        return Merged(text.encode("utf-8"))
    ours_text = yamlio.edit_text(text, rel, [], order)  # the form the other side is dumped in
    theirs_edits = [_set_or_unset(c.path, c.theirs, t.raw) for c in plan.conflicts]
    theirs_text = yamlio.edit_text(text, rel, theirs_edits, order)
    if theirs_text == ours_text:  # values that differ but are written alike: let git show them
        return _text_merge(_b(base), _b(ours), _b(theirs), "the conflict could not be shown")
    marked = _marked(ours_text, theirs_text)
    names = tuple(c.name for c in plan.conflicts)
    return Merged(marked.encode("utf-8"), conflicts=names)


def _b(text: str) -> bytes:
    return text.encode("utf-8")


def _parsed(text: str, rel: str) -> Any:
    data = yamlio.parse(text, rel).data
    return {} if data is None else data


# -- deciding, field by field ---------------------------------------------------------------


def _merge_map(
    base: Mapping[str, Any],
    ours: Mapping[str, Any],
    theirs: Mapping[str, Any],
    prefix: Path_,
    rtype: RecordType | None,
    raw: Mapping[str, str],
    plan: _Plan,
) -> dict[str, Any]:
    """The merge of three mappings (what the file will hold), planning the edits on the way."""
    merged: dict[str, Any] = {}
    for key in dict.fromkeys([*ours, *theirs, *base]):
        value = _merge_value(
            base.get(key, ABSENT),
            ours.get(key, ABSENT),
            theirs.get(key, ABSENT),
            (*prefix, key),
            rtype,
            raw,
            plan,
        )
        if value is not ABSENT:
            merged[key] = value
    return merged


def _merge_value(
    b: Any,
    o: Any,
    t: Any,
    path: Path_,
    rtype: RecordType | None,
    raw: Mapping[str, str],
    plan: _Plan,
) -> Any:
    if _same(o, t) or _same(b, t):
        return o
    if _same(b, o):
        plan.edits.append(_set_or_unset(path, t, raw))
        return t
    kind = _kind(rtype, path)
    if path == ("updated",):  # the later time
        if _later(t, o):
            plan.edits.append(_set_or_unset(path, t, raw))
            return t
        return o
    if len(path) == 2 and _kind(rtype, path[:1]) is Kind.FIRED and _is_time(o) and _is_time(t):
        if _later(o, t):  # a rule that fired on both sides fired first at the earlier time
            plan.edits.append(_set_or_unset(path, t, raw))
            return t
        return o
    if isinstance(o, dict) and isinstance(t, dict) and (b is ABSENT or isinstance(b, dict)):
        nested = _merge_map({} if b is ABSENT else b, o, t, path, rtype, raw, plan)
        return nested if nested or not o else ABSENT  # a mapping emptied goes with its key
    if kind in SET_LIKE and not _any_mapping(b, o, t):
        return _merge_set(b, o, t, path, raw, plan)
    if kind in APPEND_ONLY and _all_lists(b, o, t):
        return _merge_appended(b, o, t, path, raw, plan)
    plan.conflicts.append(Conflict(path, o, t))
    return o


def _kind(rtype: RecordType | None, path: Path_) -> Kind | None:
    if rtype is None or len(path) != 1:
        return None
    found = rtype.field(path[0])
    return found.kind if found else None


def _merge_set(b: Any, o: Any, t: Any, path: Path_, raw: Mapping[str, str], plan: _Plan) -> Any:
    """Both sides' additions and removals, in our order (theirs' additions at the end)."""
    base, ours, theirs = _items(b), _items(o), _items(t)
    removed = [x for x in ours if _has(base, x) and not _has(theirs, x)]
    added = [(i, x) for i, x in enumerate(theirs) if not _has(base, x) and not _has(ours, x)]
    added = [(i, x) for n, (i, x) in enumerate(added) if not _has([y for _, y in added[:n]], x)]
    if not removed and not added:
        return o
    name = ".".join(path)
    if removed:
        plan.edits.append(Edit("remove", path, removed))
    if added:
        values = [_typed(x, raw, f"{name}.{i}" if isinstance(t, list) else name) for i, x in added]
        plan.edits.append(Edit("append", path, values))
    kept = [x for x in ours if not _has(removed, x)] + [x for _, x in added]
    return kept if kept else ABSENT


def _merge_appended(
    b: Any, o: Any, t: Any, path: Path_, raw: Mapping[str, str], plan: _Plan
) -> Any:
    """Our entries, then their new ones: an entry both added (the same) is kept once."""
    base, ours, theirs = _items(b), _items(o), _items(t)
    new: list[tuple[int, Any]] = []
    for i, item in enumerate(theirs):
        if not _has(base, item) and not _has(ours, item) and not _has([x for _, x in new], item):
            new.append((i, item))
    name = ".".join(path)
    for i, item in new:
        plan.edits.append(Edit("push", path, _typed(item, raw, f"{name}.{i}")))
    return [*ours, *(item for _, item in new)] if new else o


def _items(value: Any) -> list[Any]:
    if value is ABSENT or value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _has(items: Sequence[Any], value: Any) -> bool:
    return any(_same(item, value) for item in items)


def _any_mapping(*values: Any) -> bool:
    return any(isinstance(v, dict) or (isinstance(v, list) and _any_mapping(*v)) for v in values)


def _all_lists(*values: Any) -> bool:
    return all(v is ABSENT or v is None or isinstance(v, list) for v in values)


def _later(theirs: Any, ours: Any) -> bool:
    """Whether their timestamp is later than ours (one that is not a time never wins)."""
    their_time = dates.parse_timestamp(theirs)
    our_time = dates.parse_timestamp(ours)
    if their_time is None:
        return False
    return our_time is None or their_time > our_time


def _is_time(value: Any) -> bool:
    return dates.parse_timestamp(value) is not None


def _same(a: Any, b: Any) -> bool:
    """Equal as data, and of the same types: `true` is not `1`, `1` is not `1.0`."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a is b or a == b)


# -- writing ------------------------------------------------------------------------------------


def _set_or_unset(path: Path_, value: Any, raw: Mapping[str, str]) -> Edit:
    if value is ABSENT:
        return Edit("unset", path)
    return Edit("set", path, _typed(value, raw, ".".join(path)))


def _typed(value: Any, raw: Mapping[str, str], dotted: str) -> Any:
    """`value` as it came from their side's file, for the writer: what was an unquoted date
    or time there becomes one again (crm reads both as the same ISO text; written back as
    text, it would gain quotes)."""
    if isinstance(value, dict):
        return {k: _typed(v, raw, f"{dotted}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v, raw, f"{dotted}.{i}") for i, v in enumerate(value)]
    if isinstance(value, str) and dotted in raw:
        return _moment(value)
    return value


def _moment(text: str) -> Any:
    if len(text) == 10:
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            return text
    moment = dates.parse_timestamp(text)
    if moment is not None and "T" in text and dates.iso(moment) == text:
        return moment
    return text


def _marked(ours: str, theirs: str) -> str:
    """`ours` with git's conflict markers around each run of lines where `theirs` differs."""
    a, b = ours.splitlines(keepends=True), theirs.splitlines(keepends=True)
    out: list[str] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            out.extend(a[i1:i2])
            continue
        out.append(f"{CONFLICT_START} {OURS}\n")
        out.extend(_ended(a[i1:i2]))
        out.append(f"{CONFLICT_SPLIT}\n")
        out.extend(_ended(b[j1:j2]))
        out.append(f"{CONFLICT_END} {THEIRS}\n")
    return "".join(out)


def _ended(lines: list[str]) -> list[str]:
    return [line if line.endswith("\n") else line + "\n" for line in lines]


# -- line by line, when a side is not a record ------------------------------------------------


def _text_merge(base: bytes, ours: bytes, theirs: bytes, reason: str) -> Merged:
    """git's own line-by-line merge (`git merge-file`): conflicts marked, nothing lost."""
    with tempfile.TemporaryDirectory(prefix="crm-merge-") as folder:
        names = []
        for label, data in ((OURS, ours), (BASE, base), (THEIRS, theirs)):
            file = Path(folder) / label
            file.write_bytes(data)
            names.append(str(file))
        try:
            result = subprocess.run(
                ["git", "merge-file", "-p", "-L", OURS, "-L", BASE, "-L", THEIRS, *names],
                capture_output=True,
                env={**os.environ, "LC_ALL": "C"},
                timeout=60,
                check=False,
            )
        except FileNotFoundError as exc:
            raise GitError("git is not installed", hint="install git to merge") from exc
        except subprocess.TimeoutExpired as exc:
            raise GitError("git merge-file took longer than 60 s") from exc
    if result.returncode < 0 or result.returncode > 127:
        message = result.stderr.decode("utf-8", "replace").strip() or "failed"
        raise GitError(f"git merge-file: {message}")
    conflicts = ("(lines)",) if result.returncode else ()
    return Merged(result.stdout, conflicts=conflicts, as_text=True, reason=reason)
