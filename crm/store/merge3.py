"""Three-way merge of one record file, field by field: git's merge driver (`crm merge-file`).

The merge is decided on the data as crm reads it, and written as edits to our side's text, so
our comments, key order, formatting, line ends and byte-order mark stay wherever a field did
not change. Lists of ids, tags, emails and phones merge as sets; the lists crm only appends to
(history, payments, reminders, periods invoiced) merge entry by entry: an entry one side took
back or corrected is taken back or corrected, and both sides' new entries are kept. `updated`
takes the later time. A field, or a list entry, changed both ways is a conflict: git's markers
go around its lines only. Comments they added arrive where they wrote them or, when that cannot
be done without a doubt, are marked as a conflict for the user to keep or delete. Anything that
is not a mapping of fields on every side is merged as plain text by git.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import io
import json
import os
import subprocess
import tempfile
from bisect import bisect_right
from collections import Counter
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

BOM = b"\xef\xbb\xbf"
MAX_GROUPS = 20  # their comment groups placed one by one (a git process each); more are marked

Path_ = tuple[str, ...]


class _Absent:
    """A field a side does not have."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()


@dataclass(frozen=True, slots=True)
class _New:
    """A list entry written afresh: `plain` as crm reads it, `typed` as the writer takes it."""

    plain: Any
    typed: Any


@dataclass(frozen=True, slots=True)
class _Updated:
    """Our entry `index` (a mapping, `old`), its fields changed to those of `new`: in place,
    so that our comments beside it stay."""

    index: int
    old: Any
    new: _New


Entry = int | _New | _Updated  # an int: our entry at that index, as it is
Splice = tuple[Entry, ...]  # the entries a list of ours becomes


@dataclass(frozen=True, slots=True)
class Conflict:
    """A field both sides changed, each to its own value (ABSENT: removed)."""

    path: Path_
    ours: Any
    theirs: Any
    edit: Edit | None = None  # their side, as an edit of our file ...
    splice: Splice | None = None  # ... or as the entries our list becomes

    @property
    def name(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True, slots=True)
class Merged:
    data: bytes  # the merged file, conflict markers and all
    conflicts: tuple[str, ...] = ()  # the fields changed both ways (dotted)
    as_text: bool = False  # merged line by line: a side was not a mapping of fields
    reason: str = ""  # why it was merged as text
    comments: tuple[str, ...] = ()  # their comments marked, for the user to keep or delete

    @property
    def clean(self) -> bool:
        return not self.conflicts and not self.comments


@dataclass(frozen=True, slots=True)
class _Side:
    data: dict[str, Any]
    raw: Mapping[str, str]  # yamlio.Loaded.raw: which scalars were unquoted dates, numbers


@dataclass(slots=True)
class _Plan:
    ours_raw: Mapping[str, str]
    theirs_raw: Mapping[str, str]
    edits: list[Edit] = field(default_factory=list)  # turn ours into the merge ...
    splices: dict[str, Splice] = field(default_factory=dict)  # ... with these lists of ours
    conflicts: list[Conflict] = field(default_factory=list)


class _Fallback(Exception):
    """The merge cannot be written field by field: git merges the lines instead."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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
        decoded = [yamlio.decode(raw, rel) for raw in (base, ours, theirs)]
        texts = [text.replace("\r\n", "\n") for text in decoded]
        sides = [_side(text, rel) for text in texts]
    except DataError as exc:
        return _text_merge(base, ours, theirs, exc.detail)
    try:
        merged = _merge_texts(texts[0], texts[1], texts[2], sides, rel, record_type_of(path))
    except DataError as exc:  # ruamel refuses what PyYAML read: nothing lost, git merges lines
        return _text_merge(base, ours, theirs, exc.detail)
    except _Fallback as exc:
        return _text_merge(base, ours, theirs, exc.reason)
    data = merged.data
    ours_text = decoded[1]
    if "\r\n" in ours_text and ours_text.count("\r\n") == ours_text.count("\n"):
        data = data.replace(b"\n", b"\r\n")  # ours' line ends
    if ours.startswith(BOM):
        data = BOM + data
    return dataclasses.replace(merged, data=data)


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
    plan = _Plan(o.raw, t.raw)
    expected = _merge_map(b.data, o.data, t.data, (), rtype, plan)
    order = rtype.key_order if rtype else ()
    written = _written(ours, rel, plan.edits, plan.splices, order)
    if (plan.edits or plan.splices) and not yamlio.same_data(_parsed(written, rel), expected):
        # an edit the writer cannot express exactly: merge line by line rather than lose it
        raise _Fallback("the merge could not be written")
    kept = _Lines(ours, theirs, sides, rel, order)
    text = kept.restore(written)
    if not plan.conflicts:
        text, unplaced = _their_comments(base, ours, theirs, text, expected, rel)
        if not unplaced:
            return Merged(text.encode("utf-8"))
        text = _ended_text(text)
        marked = _marked(text, _comments_added(text, unplaced, theirs, rel))
        return Merged(marked.encode("utf-8"), comments=_texts(unplaced))
    spliced = {c.path[0] for c in plan.conflicts if c.splice is not None}
    theirs_edits = [e for e in plan.edits if e.path[0] not in spliced]
    theirs_edits += [c.edit for c in plan.conflicts if c.edit is not None]
    theirs_splices = dict(plan.splices)
    theirs_splices.update((c.path[0], c.splice) for c in plan.conflicts if c.splice is not None)
    theirs_text = kept.restore(_written(ours, rel, theirs_edits, theirs_splices, order))
    if _ended_text(theirs_text) == _ended_text(text):
        # values that differ but are written alike: let git show them
        raise _Fallback("the conflict could not be shown")
    unplaced = _groups(_lost_comments(base, theirs, text, theirs_text))  # on neither side
    if unplaced:
        theirs_text = _comments_added(theirs_text, unplaced, theirs, rel)
    marked = _marked(_ended_text(text), _ended_text(theirs_text))
    names = tuple(c.name for c in plan.conflicts)
    return Merged(marked.encode("utf-8"), conflicts=names, comments=_texts(unplaced))


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
            plan,
        )
        if value is not ABSENT:
            merged[key] = value
    return merged


def _merge_value(b: Any, o: Any, t: Any, path: Path_, rtype: RecordType | None, plan: _Plan) -> Any:
    raw = plan.theirs_raw
    if yamlio.same_data(o, t) or yamlio.same_data(b, t):
        return o
    if yamlio.same_data(b, o):
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
        nested = _merge_map({} if b is ABSENT else b, o, t, path, rtype, plan)
        return nested if nested or not o else ABSENT  # a mapping emptied goes with its key
    if kind in SET_LIKE and not _any_mapping(b, o, t):
        return _merge_set(b, o, t, path, plan)
    if kind in APPEND_ONLY and _all_lists(b, o, t):
        return _merge_entries(b, o, t, path, plan)
    plan.conflicts.append(Conflict(path, o, t, edit=_set_or_unset(path, t, raw)))
    return o


def _kind(rtype: RecordType | None, path: Path_) -> Kind | None:
    if rtype is None or len(path) != 1:
        return None
    found = rtype.field(path[0])
    return found.kind if found else None


@dataclass(frozen=True, slots=True)
class _Diff:
    """How one side changed a list from base: the runs of entries it kept (base index to its
    index) and the runs it replaced (`gone`, maybe none, by `new`, maybe none)."""

    runs: list[tuple[range, range, int | None]]  # base entries, its entries, change (None: kept)
    kept: dict[int, int]
    changes: list[tuple[range, range]]
    change_of: dict[int, int]  # base index -> the change that took it


def _diff(base: Sequence[Any], side: Sequence[Any], *, paired: bool = False) -> _Diff:
    """With `paired`, entries replaced are told apart: an entry that shares a field's value
    with the one it replaced is that entry corrected; one that shares none is another entry
    (the first taken back, a new one added)."""
    matcher = difflib.SequenceMatcher(None, _keys(base), _keys(side), autojunk=False)
    runs: list[tuple[range, range, int | None]] = []
    kept: dict[int, int] = {}
    changes: list[tuple[range, range]] = []
    change_of: dict[int, int] = {}
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            runs.append((range(i1, i2), range(j1, j2), None))
            kept.update(zip(range(i1, i2), range(j1, j2), strict=True))
            continue
        parts = [(range(i1, i2), range(j1, j2))]
        if paired and op == "replace":
            parts = _paired(base, side, i1, i2, j1, j2)
        for gone, new in parts:
            runs.append((gone, new, len(changes)))
            change_of.update(dict.fromkeys(gone, len(changes)))
            changes.append((gone, new))
    return _Diff(runs, kept, changes, change_of)


def _paired(
    base: Sequence[Any], side: Sequence[Any], i1: int, i2: int, j1: int, j2: int
) -> list[tuple[range, range]]:
    """Entries base[i1:i2] replaced by side[j1:j2], as corrections (one by one), removals
    and additions, in order."""
    parts: list[tuple[range, range]] = []
    j = j1
    for i in range(i1, i2):
        hit = next((n for n in range(j, j2) if _related(base[i], side[n])), None)
        if hit is None:
            parts.append((range(i, i + 1), range(j, j)))
            continue
        if hit > j:
            parts.append((range(i, i), range(j, hit)))
        parts.append((range(i, i + 1), range(hit, hit + 1)))
        j = hit + 1
    if j < j2:
        parts.append((range(i2, i2), range(j, j2)))
    return parts


def _related(old: Any, new: Any) -> bool:
    """Whether `new` may be `old` corrected: mappings with a field of the same value."""
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return True
    return any(key in new and yamlio.same_data(value, new[key]) for key, value in old.items())


def _keys(items: Sequence[Any]) -> list[str]:
    """Each entry as text that is equal exactly when the entries are `_same`."""
    out = []
    for item in items:
        try:
            out.append(json.dumps(item, sort_keys=True, ensure_ascii=False))
        except (TypeError, ValueError):
            out.append(repr(item))
    return out


def _contested(
    ours: Sequence[Any], od: _Diff, theirs: Sequence[Any], td: _Diff, *, both_new: bool
) -> tuple[set[int], set[int]]:
    """The changes (ours', theirs') that took the same base entry each its own way; with
    `both_new`, only where both sides put entries of their own in its place."""
    mine: set[int] = set()
    yours: set[int] = set()
    for i, k in od.change_of.items():
        n = td.change_of.get(i)
        if n is None:
            continue
        a = [ours[j] for j in od.changes[k][1]]
        z = [theirs[j] for j in td.changes[n][1]]
        if yamlio.same_data(a, z) or (both_new and not (a and z)):
            continue
        mine.add(k)
        yours.add(n)
    return mine, yours


def _merge_set(b: Any, o: Any, t: Any, path: Path_, plan: _Plan) -> Any:
    """Both sides' additions and removals, in our order (theirs' additions at the end); an
    item both sides replaced, each by its own, is a conflict (`web` renamed two ways)."""
    base, ours, theirs = _items(b), _items(o), _items(t)
    raw = plan.theirs_raw
    mine, _ = _contested(ours, _diff(base, ours), theirs, _diff(base, theirs), both_new=True)
    if mine:
        plan.conflicts.append(Conflict(path, o, t, edit=_set_or_unset(path, t, raw)))
        return o
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


def _merge_entries(b: Any, o: Any, t: Any, path: Path_, plan: _Plan) -> Any:
    """A three-way merge of a list crm appends to (payments, history, reminders, ...).

    An entry one side removed or corrected, the other left as it was, is removed or
    corrected; both sides' new entries are kept, one the same on both sides once; an entry
    both sides removed or corrected, each its own way, is a conflict.
    """
    base, ours, theirs = _items(b), _items(o), _items(t)
    od, td = _diff(base, ours, paired=True), _diff(base, theirs, paired=True)
    mine, yours = _contested(ours, od, theirs, td, both_new=False)
    name = ".".join(path)
    raw = plan.theirs_raw

    def built(prefer_theirs: bool) -> list[Entry]:
        ours_taken = {k for k in range(len(od.changes)) if not (prefer_theirs and k in mine)}
        theirs_taken = {k for k in range(len(td.changes)) if prefer_theirs or k not in yours}
        # our new entries kept: one of theirs the same is the same entry, added on both sides
        pool = [ours[j] for k in sorted(ours_taken) for j in od.changes[k][1]]
        out: list[Entry] = []
        done: set[int] = set()

        def take(k: int, in_place: int | None = None) -> None:
            if k in done:
                return
            done.add(k)
            gone, new = td.changes[k]
            fresh = []
            for j in new:
                hit = next((n for n, x in enumerate(pool) if yamlio.same_data(x, theirs[j])), None)
                if hit is None:
                    fresh.append(j)
                else:
                    del pool[hit]
            one = len(gone) == 1 and len(new) == 1 and len(fresh) == 1
            if in_place is not None and one and _all_dicts(ours[in_place], theirs[fresh[0]]):
                entry = _new(theirs[fresh[0]], raw, f"{name}.{fresh[0]}")
                out.append(_Updated(in_place, ours[in_place], entry))
                return
            out.extend(_new(theirs[j], raw, f"{name}.{j}") for j in fresh)

        for gone, new, change in od.runs:
            if change is None:
                for i, j in zip(gone, new, strict=True):
                    k = td.change_of.get(i)
                    if k is None or k not in theirs_taken:
                        out.append(j)
                    else:
                        take(k, in_place=j)  # our entry goes: theirs in its place
                continue
            if change in ours_taken:
                out.extend(new)
                for i in gone:  # the same change of theirs, or one left out: nothing new
                    k = td.change_of.get(i)
                    if k is not None and k in theirs_taken:
                        take(k)
                continue
            for i in gone:  # ours left out: their version of these entries
                k = td.change_of.get(i)
                if k is not None:
                    take(k)
                elif i in td.kept:
                    j = td.kept[i]
                    out.append(_new(theirs[j], raw, f"{name}.{j}"))
        for k in range(len(td.changes)):  # their new entries, at the end
            if k in theirs_taken:
                take(k)
        return out

    value, change = _list_change(path, o, ours, built(False))
    if isinstance(change, Edit):
        plan.edits.append(change)
    elif change is not None:
        plan.splices[path[0]] = change
    if mine:
        alternative, their_change = _list_change(path, o, ours, built(True), explicit=True)
        edit = their_change if isinstance(their_change, Edit) else None
        splice = their_change if isinstance(their_change, tuple) else None
        plan.conflicts.append(Conflict(path, value, alternative, edit=edit, splice=splice))
    return value


def _list_change(
    path: Path_, o: Any, ours: Sequence[Any], entries: Sequence[Entry], *, explicit: bool = False
) -> tuple[Any, Edit | Splice | None]:
    """What our list becomes, as data, and as the change of our file that makes it (None: no
    change, unless `explicit`)."""
    plain = [_plain(e, ours) for e in entries]
    ours_list = isinstance(o, list) and bool(o)
    if not plain:
        if ours_list:
            return ABSENT, Edit("unset", path)
        return o, (_set_or_unset(path, o, {}) if explicit else None)
    if ours_list:
        splice = tuple(entries)
        if splice == tuple(range(len(ours))) and not explicit:
            return o, None
        return plain, splice
    typed = [e.typed for e in entries if isinstance(e, _New)]
    return plain, Edit("set", path, typed)


def _plain(entry: Entry, ours: Sequence[Any]) -> Any:
    if isinstance(entry, int):
        return ours[entry]
    if isinstance(entry, _Updated):
        return entry.new.plain
    return entry.plain


def _new(value: Any, raw: Mapping[str, str], dotted: str) -> _New:
    return _New(value, _typed(value, raw, dotted))


def _items(value: Any) -> list[Any]:
    if value is ABSENT or value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _has(items: Sequence[Any], value: Any) -> bool:
    return any(yamlio.same_data(item, value) for item in items)


def _any_mapping(*values: Any) -> bool:
    return any(isinstance(v, dict) or (isinstance(v, list) and _any_mapping(*v)) for v in values)


def _all_lists(*values: Any) -> bool:
    return all(v is ABSENT or v is None or isinstance(v, list) for v in values)


def _all_dicts(*values: Any) -> bool:
    return all(isinstance(v, dict) for v in values)


def _later(theirs: Any, ours: Any) -> bool:
    """Whether their timestamp is later than ours (one that is not a time never wins)."""
    their_time = dates.parse_timestamp(theirs)
    our_time = dates.parse_timestamp(ours)
    if their_time is None:
        return False
    return our_time is None or their_time > our_time


def _is_time(value: Any) -> bool:
    return dates.parse_timestamp(value) is not None


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


def _written(
    text: str, rel: str, edits: Sequence[Edit], splices: Mapping[str, Splice], order: Sequence[str]
) -> str:
    """`text` with `splices` and `edits` applied (`text` itself when there are none)."""
    if splices:
        text = _spliced(text, rel, splices)
    if edits:
        text = yamlio.edit_text(text, rel, edits, order)
    return text


def _spliced(text: str, rel: str, splices: Mapping[str, Splice]) -> str:
    """`text` with lists of its fields turned into the entries `splices` give, our entries
    kept as written (their comments and all)."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.error import YAMLError
    from ruamel.yaml.util import load_yaml_guess_indent

    y = yamlio._yaml()
    try:
        doc, indent, seq_indent = load_yaml_guess_indent(text, yaml=y)
    except (YAMLError, ValueError) as exc:
        raise DataError(rel, f"cannot be edited: {exc}".replace("\n", " ")) from exc
    y.indent(**yamlio._indent_of(indent, seq_indent, yamlio._mapping_indent(text)))
    for key, entries in splices.items():
        seq = doc.get(key) if isinstance(doc, CommentedMap) else None
        if not isinstance(seq, CommentedSeq):
            raise _Fallback(f"{key} could not be merged entry by entry")
        _splice(seq, entries)
    out = io.StringIO()
    y.dump(doc, out)
    return out.getvalue()


def _splice(seq: Any, entries: Splice) -> None:
    from ruamel.yaml.comments import CommentedMap

    old = list(seq)
    notes = dict(seq.ca.items)
    origins = [
        e if isinstance(e, int) else e.index if isinstance(e, _Updated) else None for e in entries
    ]
    dropped = sorted(set(range(len(old))) - {i for i in origins if i is not None})
    below = [(j, _trailing(old[j], notes.get(j))) for j in dropped]  # whole-line comments
    list.clear(seq)
    seq.ca.items.clear()
    for n, entry in enumerate(entries):
        if isinstance(entry, int):
            list.append(seq, old[entry])
        elif isinstance(entry, _Updated) and isinstance(old[entry.index], CommentedMap):
            list.append(seq, _updated(old[entry.index], entry))
        else:
            node = entry.new.typed if isinstance(entry, _Updated) else entry.typed
            list.append(seq, yamlio.to_node(node))
        origin = origins[n]
        if origin is not None and origin in notes:
            seq.ca.items[n] = notes[origin]
    for j, comment in below:
        if comment and len(seq):
            # beside the entry now where the dropped one was: the one before what followed it
            after = next((n for n, i in enumerate(origins) if i is not None and i > j), len(seq))
            yamlio._append_comment(seq, max(after - 1, 0), comment)


def _updated(node: Any, entry: _Updated) -> Any:
    """Our mapping `node`, its changed fields set to theirs, the rest as we wrote them."""
    old, new = entry.old, entry.new
    for key in [k for k in node if k not in new.plain]:
        yamlio._delete(node, key)
    for key, value in new.plain.items():
        if key not in old or not yamlio.same_data(old[key], value):
            node[key] = yamlio.to_node(new.typed[key])
    return node


def _trailing(node: Any, note: Any) -> str:
    """The whole-line comments that follow an entry of a list (ruamel keeps them with the
    entry's last value, or, for a plain value, in the list's `note` of it); "" if none."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    slot, position = note, 0
    if isinstance(node, CommentedMap | CommentedSeq) and node:
        last = list(node)[-1] if isinstance(node, CommentedMap) else len(node) - 1
        if isinstance(node[last], CommentedMap | CommentedSeq) and node[last]:
            return _trailing(node[last], node.ca.items.get(last))
        slot = node.ca.items.get(last)
        position = 2 if isinstance(node, CommentedMap) else 0
    token = slot[position] if slot and len(slot) > position else None
    if token is None or "\n" not in token.value:
        return ""
    rest: str = token.value.split("\n", 1)[1]
    return rest if rest.strip() else ""


class _Lines:
    """The lines to write the merge with. The writer re-spaces what it re-writes (`key:   x`,
    `~`, a folded string); a field that did not change keeps our lines as we wrote them, and a
    field taken from their side their lines (their comments in it and all)."""

    def __init__(
        self, ours: str, theirs: str, sides: Sequence[_Side], rel: str, order: Sequence[str]
    ) -> None:
        self.ours = _ended_text(ours)
        self.theirs = _ended_text(theirs)
        self.ours_data, self.theirs_data = sides[1].data, sides[2].data
        self.rel = rel
        self.order = order
        self._known: tuple[_Blocks, _Blocks, _Blocks] | None = None

    def restore(self, text: str) -> str:
        """`text` (what the writer made of our file) with those lines put back."""
        if text == self.ours:
            return text
        try:
            if self._known is None:
                normal = yamlio.edit_text(self.ours, self.rel, [], self.order)
                self._known = (
                    _blocks(self.ours, self.rel)[0],
                    _blocks(normal, self.rel)[0],
                    _blocks(self.theirs, self.rel)[0],
                )
            mine, normal_blocks, theirs = self._known
            now, data = _blocks(text, self.rel)
            out: list[str] = []
            for key, lines in now.items():
                if key is not None and key in theirs and self._theirs(key, data):
                    out.extend(theirs[key])
                elif key in mine and key in normal_blocks:
                    as_written = normal_blocks[key]
                    if lines == as_written:
                        out.extend(mine[key])
                    else:
                        out.extend(_restored_lines(lines, as_written, mine[key]))
                else:
                    out.extend(lines)
            restored = "".join(out)
            if restored != text and yamlio.same_data(_parsed(restored, self.rel), data):
                return restored
        except (DataError, _Fallback):
            pass
        return text

    def _theirs(self, key: str, data: Mapping[str, Any]) -> bool:
        """Whether the merge took field `key` from their side."""
        value = data.get(key, ABSENT)
        return yamlio.same_data(value, self.theirs_data.get(key, ABSENT)) and not yamlio.same_data(
            value, self.ours_data.get(key, ABSENT)
        )


_Blocks = dict[str | None, list[str]]


def _ended_text(text: str) -> str:
    return text if text.endswith("\n") or not text else text + "\n"


def _blocks(text: str, rel: str) -> tuple[_Blocks, dict[str, Any]]:
    """The lines of each top-level field, in the order of the text (None: those above the
    first field), and the data."""
    loaded = yamlio.parse(text, rel)
    data = {} if loaded.data is None else loaded.data
    if not isinstance(data, dict):
        raise _Fallback("not a mapping of fields")
    lines = _split(text)
    starts = sorted((loaded.lines[k], k) for k in data if k in loaded.lines)
    blocks: _Blocks = {None: lines[: starts[0][0] - 1] if starts else lines}
    for n, (line, key) in enumerate(starts):
        end = starts[n + 1][0] - 1 if n + 1 < len(starts) else len(lines)
        blocks[key] = lines[line - 1 : end]
    return blocks, data


def _restored_lines(lines: list[str], normal: list[str], original: list[str]) -> list[str]:
    """`lines` of a changed field, those the writer left as they were as we wrote them."""
    pairs = difflib.SequenceMatcher(
        None, [_squeezed(x) for x in normal], [_squeezed(x) for x in original], autojunk=False
    )
    back = {a + k: b + k for a, b, size in pairs.get_matching_blocks() for k in range(size)}
    out = list(lines)
    same = difflib.SequenceMatcher(None, normal, lines, autojunk=False)
    for a, b, size in same.get_matching_blocks():
        for k in range(size):
            if a + k in back:
                out[b + k] = original[back[a + k]]
    return out


def _squeezed(line: str) -> str:
    return "".join(line.split())


def _split(text: str) -> list[str]:
    """The lines of `text`, each with its line break: only `\\n` ends a line here."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _marked(ours: str, theirs: str) -> str:
    """`ours` with git's conflict markers around each run of lines where `theirs` differs."""
    a, b = _split(ours), _split(theirs)
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


# -- their comments -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Comment:
    line: int  # from 1
    column: int  # of the `#`
    text: str  # from the `#` to the end of the line, trailing spaces dropped
    whole: bool  # alone on its line


def _comments(text: str) -> list[_Comment]:
    """The comments of a YAML text: each `#` after a space or a line break that no token
    (a key, a value, a quoted or block string) covers."""
    import yaml

    if "#" not in text:
        return []
    spans: list[tuple[int, int]] = []
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            start, end = token.start_mark.index, token.end_mark.index
            if isinstance(token, yaml.ScalarToken) and token.style in ("|", ">"):
                start = text.find("\n", start)  # a comment may follow `|` on its line
            if end > start >= 0:
                spans.append((start, end))
    except yaml.YAMLError:
        return []
    spans.sort()
    starts = [start for start, _ in spans]
    found: list[_Comment] = []
    at = text.find("#")
    while at != -1:
        k = bisect_right(starts, at) - 1
        covered = k >= 0 and spans[k][1] > at
        if covered or (at > 0 and text[at - 1] not in " \t\n"):
            at = text.find("#", at + 1)
            continue
        line_start = text.rfind("\n", 0, at) + 1
        end = text.find("\n", at)
        end = len(text) if end == -1 else end
        line = text.count("\n", 0, at) + 1
        whole = not text[line_start:at].strip()
        found.append(_Comment(line, at - line_start, text[at:end].rstrip(), whole))
        at = text.find("#", end)
    return found


def _lost_comments(base: str, theirs: str, *merged: str) -> list[_Comment]:
    """The comments they added or changed that none of the `merged` texts has."""
    if "#" not in theirs:
        return []
    theirs_comments = _comments(theirs)
    base_count = Counter(c.text for c in _comments(base))
    if Counter(c.text for c in theirs_comments) <= base_count:
        return []
    present: Counter[str] = Counter()
    for text in merged:
        present |= Counter(c.text for c in _comments(text))
    spare = present - base_count  # what the merge added
    lost = []
    for comment in theirs_comments:
        if base_count[comment.text] > 0:
            base_count[comment.text] -= 1
        elif spare[comment.text] > 0:
            spare[comment.text] -= 1
        else:
            lost.append(comment)
    return lost


def _groups(comments: Sequence[_Comment]) -> list[list[_Comment]]:
    """Comments on consecutive lines, together."""
    groups: list[list[_Comment]] = []
    for comment in comments:
        if groups and groups[-1][-1].line + 1 == comment.line:
            groups[-1].append(comment)
        else:
            groups.append([comment])
    return groups


def _texts(groups: Sequence[Sequence[_Comment]]) -> tuple[str, ...]:
    return tuple(c.text for group in groups for c in group)


def _their_comments(
    base: str, ours: str, theirs: str, text: str, expected: Any, rel: str
) -> tuple[str, list[list[_Comment]]]:
    """`text` (the merge) with the comments they added, wherever git's own line merge can
    place them and the data stays the merge's; and the groups of those it could not place."""
    lost = _lost_comments(base, theirs, text)
    if not lost:
        return text, []
    whole = _clean_merge(ours, base, theirs, expected, rel)  # git's merge of the whole files
    if whole is not None and not _lost_comments(base, theirs, whole):
        return whole, []
    groups = _groups(lost)
    if len(groups) > MAX_GROUPS:
        return text, groups
    unplaced = []
    for group in groups:  # each as the only change from theirs without it to theirs
        placed = _clean_merge(text, _without(theirs, group), theirs, expected, rel)
        wanted = Counter(c.text for c in _comments(text)) + Counter(c.text for c in group)
        if placed is not None and Counter(c.text for c in _comments(placed)) >= wanted:
            text = placed
        else:
            unplaced.append(group)
    return text, unplaced


def _without(text: str, group: Sequence[_Comment]) -> str:
    lines = _split(text)
    for comment in sorted(group, key=lambda c: c.line, reverse=True):
        index = comment.line - 1
        if comment.whole:
            del lines[index]
        else:
            line = lines[index]
            ending = "\n" if line.endswith("\n") else ""
            lines[index] = line[: comment.column].rstrip() + ending
    return "".join(lines)


def _clean_merge(ours: str, base: str, theirs: str, expected: Any, rel: str) -> str | None:
    """git's line-by-line merge, if it is clean and reads as `expected`."""
    try:
        data, clean = _git_merge_file(ours.encode(), base.encode(), theirs.encode())
        if not clean:
            return None
        text = yamlio.decode(data, rel)
        return text if yamlio.same_data(_parsed(text, rel), expected) else None
    except (GitError, DataError):
        return None


def _comments_added(text: str, groups: Sequence[Sequence[_Comment]], theirs: str, rel: str) -> str:
    """`text` with the comment `groups` of `theirs` as lines of their own: below the field
    they were in or followed (the first of those `text` has), or at the top."""
    theirs_loaded = yamlio.parse(theirs, rel)
    their_data = theirs_loaded.data if isinstance(theirs_loaded.data, dict) else {}
    their_keys = sorted((theirs_loaded.lines[k], k) for k in their_data if k in theirs_loaded.lines)
    loaded = yamlio.parse(text, rel)
    data = loaded.data if isinstance(loaded.data, dict) else {}
    starts = sorted(loaded.lines[k] for k in data if k in loaded.lines)
    lines = _ended(_split(text))
    whole = {c.line for c in _comments(text) if c.whole}
    inserts: dict[int, list[str]] = {}
    for group in groups:
        anchors = [k for line, k in reversed(their_keys) if line <= group[0].line]
        at = len(lines) if anchors else 0
        for key in anchors:
            if key in data and key in loaded.lines:
                line = loaded.lines[key]
                at = next((s for s in starts if s > line), len(lines) + 1) - 1
                while at > line and (not lines[at - 1].strip() or at in whole):
                    at -= 1  # above the blank lines and our comments before the next field
                break
        inserts.setdefault(at, []).extend(f"{c.text}\n" for c in group)
    out: list[str] = []
    for n, kept in enumerate([*lines, ""]):
        out.extend(inserts.get(n, []))
        out.append(kept)
    added = "".join(out)
    if yamlio.same_data(_parsed(added, rel), data or {}):
        return added
    return "".join(lines) + "".join(c.text + "\n" for group in groups for c in group)


# -- line by line, when a side is not a record ------------------------------------------------


def _text_merge(base: bytes, ours: bytes, theirs: bytes, reason: str) -> Merged:
    """git's own line-by-line merge (`git merge-file`): conflicts marked, nothing lost."""
    data, clean = _git_merge_file(ours, base, theirs)
    conflicts = () if clean else ("(lines)",)
    return Merged(data, conflicts=conflicts, as_text=True, reason=reason)


def _git_merge_file(ours: bytes, base: bytes, theirs: bytes) -> tuple[bytes, bool]:
    """`git merge-file -p`: the merged bytes, and whether the merge was clean."""
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
    return result.stdout, result.returncode == 0
