"""Merging duplicates: records of one type become the one kept, and every reference follows.

Pure: records in, a plan out (the kept record's edits, the conflicts settled, the files kept
beside records to move, the edits to every record that referred to a merged one). The command
carries out the plan in one store transaction, so that a merge happens whole or not at all.

Rules, field by field (docs/dedupe.md):
- lists (emails, phones, tags, references, kept vCard lines) are unioned, the kept record's
  items first; emails and phones are compared normalised (crm.matching), tags ignoring case;
- mappings (address, custom fields, external ids, a lead's `converted` links) are merged key
  by key;
- notes (and other long texts) are concatenated, separated by a blank line;
- history entries are concatenated and sorted by their `at`; when the last of them does not
  name the stage (status) kept, an entry for the merge says so; `created` is the earliest;
- any other field is a scalar: a value on one side only is taken; two different values are a
  conflict, settled by `prefer` and reported. A deal's pipeline and stage, and its value and
  currency, are taken together from one record; a converted lead stays converted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from crm.dates import parse_timestamp
from crm.errors import ConflictError, UsageError
from crm.ids import is_safe_file_name
from crm.matching import phone_key
from crm.models import RECORD_TYPES, Kind, RecordType
from crm.records import Edit, Record, apply, as_list, email_key, plain

TYPES = ("contact", "company", "lead", "deal")
# Fields taken together from one record: a stage with its pipeline, a value with its currency;
# from the first record (in order of preference) that has the first of them.
UNITS: dict[str, tuple[tuple[str, ...], ...]] = {
    "deal": (("stage", "pipeline"), ("value", "currency")),
}
_STAMPS = ("created", "updated")
_LINKED = ("contact", "company", "deal")  # what a converted lead's links name
TRACKED = {"deal": "stage", "lead": "status"}  # what a history entry records


class Prefer(StrEnum):
    """Whose value a conflict keeps: the kept record's, or the other records'."""

    KEEP = "keep"
    OTHER = "other"


@dataclass(frozen=True, slots=True, kw_only=True)
class Conflict:
    """Two different values of one field: the one kept and the one dropped, and their records."""

    field: str
    kept: Any
    kept_from: str
    dropped: Any
    dropped_from: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FileMove:
    """A file kept beside a record (a contact's photo): moved to `target`, or removed (None)."""

    source: str
    target: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    keep: Record
    others: tuple[Record, ...]
    edits: tuple[Edit, ...]  # to the kept record
    data: dict[str, Any]  # the kept record as it will be (plain values, as read)
    conflicts: tuple[Conflict, ...]
    files: tuple[FileMove, ...]
    rewrites: tuple[tuple[Record, tuple[Edit, ...]], ...]  # references to the merged ones


def merge_type(name: str) -> RecordType:
    """The type `crm merge` is given: contact, company, lead or deal (or their plurals)."""
    for tname in TYPES:
        rtype = RECORD_TYPES[tname]
        if name.strip().lower() in (rtype.name, rtype.plural):
            return rtype
    raise UsageError(
        f"cannot merge '{name}'", hint="the types that merge: contact, company, lead, deal"
    )


def referring_types(target: str) -> list[RecordType]:
    """Every type whose records may hold an id of a `target` record."""
    return [
        t
        for t in RECORD_TYPES.values()
        if any(f.target == target for f in t.refs())
        or (
            target in ("contact", "company", "deal") and any(f.kind is Kind.LINKS for f in t.fields)
        )
    ]


# -- the plan ---------------------------------------------------------------------------------


def plan(
    keep: Record,
    others: Sequence[Record],
    everything: Mapping[str, Sequence[Record]],
    *,
    prefer: Prefer = Prefer.KEEP,
    region: str | None = None,
    now: dt.datetime | None = None,
) -> Plan:
    """How to merge `others` into `keep`, given every record that may refer to them.

    Raises (nothing is planned) for a record merged with itself, records of other types, and
    references that issued invoices or credit notes hold: those documents never change.
    """
    _refuse_bad_sets(keep, others)
    merged, conflicts, files = _merge(keep, others, prefer, region)
    _close_history(keep.type.name, merged, now)
    olds = {o.id for o in others}
    merged = _rewritten(keep.type, merged, keep.type.name, olds, keep.id)
    edits = _edits(keep.data, merged)
    gone = {(keep.type.name, rid) for rid in olds}
    rewrites = []
    for tname, records in everything.items():
        if not any(t.name == tname for t in referring_types(keep.type.name)):
            continue
        for rec in records:
            if (tname, rec.id) in gone or (tname == keep.type.name and rec.id == keep.id):
                continue
            changes = reference_edits(rec, keep.type.name, olds, keep.id)
            if changes:
                rewrites.append((rec, tuple(changes)))
    _refuse_frozen(keep, others, rewrites)
    return Plan(
        keep=keep,
        others=tuple(others),
        edits=tuple(edits),
        data=apply(keep.data, edits),
        conflicts=tuple(conflicts),
        files=tuple(files),
        rewrites=tuple(rewrites),
    )


def _refuse_bad_sets(keep: Record, others: Sequence[Record]) -> None:
    if not others:
        raise UsageError("nothing to merge: name the records to merge into the one kept")
    label = keep.type.name.replace("_", " ")
    seen = {keep.id}
    for other in others:
        if other.type.name != keep.type.name:
            raise UsageError(
                f"cannot merge {other.type.name} {other.id} into {label} {keep.id}: "
                "records of different types never merge"
            )
        if other.id == keep.id:
            raise UsageError(f"cannot merge {label} {keep.id} with itself")
        if other.id in seen:
            raise UsageError(f"{label} {other.id} is named twice")
        seen.add(other.id)


def _refuse_frozen(
    keep: Record, others: Sequence[Record], rewrites: Sequence[tuple[Record, tuple[Edit, ...]]]
) -> None:
    """Issued invoices and credit notes keep what they say, their customer and deal among it."""
    from crm.invoicing import frozen_problem

    frozen = [
        rec for rec, edits in rewrites if frozen_problem(rec, apply(rec.data, edits)) is not None
    ]
    if not frozen:
        return
    label = keep.type.name.replace("_", " ")
    named: dict[str, list[str]] = {}
    for rec in frozen:
        for other in others:
            if reference_edits(rec, keep.type.name, {other.id}, keep.id):
                named.setdefault(other.id, []).append(_document(rec))
    shown = "; ".join(f"{rid}: {', '.join(sorted(docs))}" for rid, docs in named.items())
    if len(named) == 1:
        (rid,) = named
        rest = [o.id for o in others if o.id != rid]
        hint = f"keep the one they name instead: crm merge {keep.type.name} {rid} " + " ".join(
            [keep.id, *rest]
        )
    else:
        hint = "issued documents never change; only one of these records can be kept"
    raise ConflictError(
        f"issued documents name the {label} that would be removed ({shown}) and never change",
        hint=hint,
    )


def _document(rec: Record) -> str:
    what = "invoice" if rec.type.name == "invoice" else "credit note"
    return f"{what} {rec.data.get('number') or rec.id}"


# -- references -------------------------------------------------------------------------------


def reference_edits(rec: Record, target: str, olds: set[str], new: str) -> list[Edit]:
    """The edits that make `rec` refer to `new` wherever it refers to one of `olds` (records
    of type `target`): reference fields, lists of references (without doubling an entry), and
    a converted lead's links."""
    changed = _rewritten(rec.type, rec.data, target, olds, new)
    edits: list[Edit] = []
    for key, value in changed.items():
        before = rec.data.get(key)
        if value == before:
            continue
        if isinstance(value, dict) and isinstance(before, dict):
            edits.extend(Edit("set", (key, k), v) for k, v in value.items() if before.get(k) != v)
        else:
            edits.append(Edit("set", (key,), value))
    return edits


def _rewritten(
    rtype: RecordType, data: Mapping[str, Any], target: str, olds: set[str], new: str
) -> dict[str, Any]:
    out = dict(data)
    for f in rtype.fields:
        value = data.get(f.name)
        if f.kind is Kind.REFS and f.target == target and olds & set(as_list(value)):
            ids: list[str] = []
            for rid in as_list(value):
                rid = new if rid in olds else rid
                if rid not in ids:
                    ids.append(rid)
            out[f.name] = ids
        elif f.kind is Kind.REF and f.target == target and isinstance(value, str) and value in olds:
            out[f.name] = new
        elif f.kind is Kind.LINKS and isinstance(value, dict) and value.get(target) in olds:
            out[f.name] = {**value, target: new}
    return out


# -- merging the data -------------------------------------------------------------------------


def _present(value: Any) -> bool:
    return value is not None and value != "" and value != [] and value != {}


def _merge(
    keep: Record, others: Sequence[Record], prefer: Prefer, region: str | None
) -> tuple[dict[str, Any], list[Conflict], list[FileMove]]:
    """The kept record's new data (typed for the writer), the conflicts, the file moves."""
    rtype = keep.type
    sources = [keep, *others]  # lists and notes: the kept record's first
    ranked = [keep, *others] if prefer is Prefer.KEEP else [*others, keep]  # conflicts
    typed = {rec.id: _typed(rec.data, "", rec.raw) for rec in sources}
    conflicts: list[Conflict] = []
    files: list[FileMove] = []
    keys: list[str] = []
    for rec in sources:
        keys.extend(k for k in typed[rec.id] if k not in keys)
    ordered = [k for k in rtype.key_order if k in keys] + [
        k for k in keys if k not in rtype.key_order
    ]
    units = {name: unit for unit in UNITS.get(rtype.name, ()) for name in unit}
    merged: dict[str, Any] = {}

    def values(key: str, order: Sequence[Record]) -> list[tuple[str, Any]]:
        return [(r.id, typed[r.id][key]) for r in order if _present(typed[r.id].get(key))]

    for key in ordered:
        if key in merged or key == "updated":
            continue
        f = rtype.field(key)
        kind = f.kind if f is not None and f.name == key else None
        found = values(key, sources)
        if not found and key not in units:  # nothing to merge: the kept record's stays
            merged[key] = typed[keep.id].get(key)
        elif key == "created":
            merged[key] = min((v for _, v in found), key=_moment, default=None)
        elif key in units:
            for name, value in _unit(units[key], ranked, typed, conflicts).items():
                merged[name] = value
        elif rtype.name == "lead" and key == "status":
            merged[key] = _lead_status(ranked, typed, conflicts)
        elif kind in (Kind.EMAILS, Kind.PHONES, Kind.TAGS, Kind.REFS, Kind.EXTRA) or (
            kind is None and all(isinstance(v, list) for _, v in found)
        ):
            merged[key] = _union([v for _, v in found], _normaliser(kind, region))
        elif kind is Kind.HISTORY:
            entries = [e for _, v in found if isinstance(v, list) for e in v]
            merged[key] = sorted(_distinct_entries(entries), key=lambda e: _moment(_at(e)))
        elif kind is Kind.LONGTEXT and all(isinstance(v, str) for _, v in found):
            merged[key] = _concatenated([v for _, v in found])
        elif found and all(isinstance(v, dict) for _, v in found) and kind is not Kind.FILE:
            ranked_values = [(r.id, typed[r.id][key]) for r in ranked if key in typed[r.id]]
            merged[key] = _mapping(key, ranked_values, conflicts)
        else:
            merged[key] = _scalar(key, values(key, ranked), conflicts)
            if kind is Kind.FILE:
                files.extend(_file_moves(keep, key, merged, typed))
    return {k: v for k, v in merged.items() if v is not None}, conflicts, files


def _scalar(field: str, found: Sequence[tuple[str, Any]], conflicts: list[Conflict]) -> Any:
    """The first value present (in order of preference); every different one is a conflict."""
    if not found:
        return None
    winner_id, winner = found[0]
    for rid, value in found[1:]:
        if plain(value) != plain(winner):
            conflicts.append(
                Conflict(
                    field=field,
                    kept=plain(winner),
                    kept_from=winner_id,
                    dropped=plain(value),
                    dropped_from=rid,
                )
            )
    return winner


def _mapping(
    field: str, found: Sequence[tuple[str, Any]], conflicts: list[Conflict]
) -> dict[str, Any]:
    """Mappings merged key by key, each key settled as a scalar, in the preferred order."""
    keys: list[str] = []
    for _, mapping in found:
        if isinstance(mapping, dict):
            keys.extend(k for k in mapping if k not in keys)
    out: dict[str, Any] = {}
    for key in keys:
        present = [
            (rid, m[key]) for rid, m in found if isinstance(m, dict) and _present(m.get(key))
        ]
        value = _scalar(f"{field}.{key}", present, conflicts)
        if value is not None:
            out[key] = value
    return out


def _unit(
    names: Sequence[str],
    ranked: Sequence[Record],
    typed: Mapping[str, Mapping[str, Any]],
    conflicts: list[Conflict],
) -> dict[str, Any]:
    """Fields that belong together, all from the first record (in order of preference) that
    has the first of them (else any of them)."""
    holders = [r for r in ranked if _present(typed[r.id].get(names[0]))]
    firsts = {r.id for r in holders}
    holders += [
        r
        for r in ranked
        if r.id not in firsts and any(_present(typed[r.id].get(n)) for n in names[1:])
    ]
    if not holders:
        return {}
    chosen = typed[holders[0].id]
    for rec in holders[1:]:
        for name in names:
            value = typed[rec.id].get(name)
            if _present(value) and plain(value) != plain(chosen.get(name)):
                conflicts.append(
                    Conflict(
                        field=name,
                        kept=plain(chosen.get(name)),
                        kept_from=holders[0].id,
                        dropped=plain(value),
                        dropped_from=rec.id,
                    )
                )
    return {name: chosen.get(name) for name in names}


def _close_history(tname: str, merged: dict[str, Any], now: dt.datetime | None) -> None:
    """Append an entry when the merged history ends on another stage than the one kept.

    Reports read the last entry as the stage a deal is in since; after a merge that took the
    stage from one record and later entries from another, it would be wrong.
    """
    tracked = TRACKED.get(tname)
    history = merged.get("history")
    if tracked is None or not isinstance(history, list) or not history:
        return
    last = history[-1]
    current = merged.get(tracked)
    if not isinstance(last, dict) or current is None or last.get(tracked) == current:
        return
    moment = now or _at(last)
    entry: dict[str, Any] = {"at": moment, tracked: current}
    if last.get(tracked) is not None:
        entry["from"] = last[tracked]
    merged["history"] = [*history, entry]


def _lead_status(
    ranked: Sequence[Record], typed: Mapping[str, Mapping[str, Any]], conflicts: list[Conflict]
) -> Any:
    """A lead that was converted stays converted (its links are merged too)."""
    found = [(r.id, typed[r.id]["status"]) for r in ranked if _present(typed[r.id].get("status"))]
    converted = [pair for pair in found if pair[1] == "converted"]
    return _scalar(
        "status", converted[:1] + [p for p in found if p not in converted[:1]], conflicts
    )


def _file_moves(
    keep: Record, key: str, merged: dict[str, Any], typed: Mapping[str, Mapping[str, Any]]
) -> list[FileMove]:
    """The kept record keeps one file (`photo`): the chosen one, named after it; the rest go."""
    chosen = merged.get(key)
    names = [v for v in (d.get(key) for d in typed.values()) if isinstance(v, str)]
    if not isinstance(chosen, str) or not is_safe_file_name(chosen):
        return []
    owner = next((rid for rid, d in typed.items() if d.get(key) == chosen), keep.id)
    target = chosen
    moves = []
    if owner != keep.id:
        suffix = chosen.removeprefix(f"{owner}.") if chosen.startswith(f"{owner}.") else None
        suffix = suffix or chosen.split(".", 1)[1]
        target = f"{keep.id}.{suffix}"
        merged[key] = target
        moves.append(FileMove(source=chosen, target=target))
    for name in dict.fromkeys(names):
        if name not in (chosen, target) and is_safe_file_name(name):
            moves.append(FileMove(source=name, target=None))
    return moves


def _normaliser(kind: Kind | None, region: str | None) -> Callable[[Any], Any]:
    if kind is Kind.EMAILS:
        return lambda v: email_key(str(v))
    if kind is Kind.PHONES:
        return lambda v: phone_key(str(v), region) or " ".join(str(v).split()).casefold()
    if kind is Kind.TAGS:
        return lambda v: str(v).strip().casefold()
    return plain


def _union(lists: Sequence[Any], key: Callable[[Any], Any]) -> list[Any]:
    out: list[Any] = []
    seen: list[Any] = []
    for items in lists:
        for item in items if isinstance(items, list) else [items]:
            k = key(item)
            if k not in seen:
                seen.append(k)
                out.append(item)
    return out


def _concatenated(texts: Sequence[str]) -> str:
    parts: list[str] = []
    for text in texts:
        text = text.strip("\n").rstrip()
        if text and text not in parts:
            parts.append(text)
    return "\n\n".join(parts)


def _at(entry: Any) -> Any:
    return entry.get("at") if isinstance(entry, dict) else None


def _distinct_entries(entries: Sequence[Any]) -> list[Any]:
    """History entries without repeats: one entry for a moment and stage (status), however
    many of the records had it (a copied file, a record merged twice)."""
    seen: set[tuple[Any, ...]] = set()
    out = []
    for entry in entries:
        if isinstance(entry, Mapping):
            moment = _moment(_at(entry))
            key: tuple[Any, ...] = (
                moment if moment != float("inf") else str(plain(_at(entry))),
                *(str(plain(entry.get(k))) for k in ("stage", "status", "pipeline")),
            )
            if key in seen:
                continue
            seen.add(key)
        out.append(entry)
    return out


def _moment(value: Any) -> float:
    """A timestamp or date for sorting; what is not one sorts last."""
    moment = parse_timestamp(plain(value)) if value is not None else None
    return moment.timestamp() if moment is not None else float("inf")


# -- values as the writer should write them -----------------------------------------------------


def _typed(value: Any, path: str, raw: Mapping[str, str]) -> Any:
    """`value` as read, with the dates and timestamps the file wrote unquoted made dates again
    (the reader turns them into ISO text), so that a rewritten field keeps its form."""
    prefix = f"{path}." if path else ""
    if isinstance(value, dict):
        return {k: _typed(v, f"{prefix}{k}", raw) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v, f"{prefix}{i}", raw) for i, v in enumerate(value)]
    if isinstance(value, str) and path in raw:
        return _date_of(value)
    return value


def _date_of(text: str) -> Any:
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text


def _edits(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Edit]:
    """The edits that turn `before` (as read) into `after` (typed), touching only what changes:
    mappings key by key, lists that only grow by appending."""
    edits: list[Edit] = []
    for key, value in after.items():
        if key == "updated":
            continue
        old = before.get(key)
        if plain(value) == old:
            continue
        if isinstance(value, dict) and isinstance(old, dict):
            for sub, item in value.items():
                if plain(item) != old.get(sub):
                    edits.append(Edit("set", (key, sub), item))
            edits.extend(Edit("unset", (key, sub)) for sub in old if sub not in value)
        elif (
            isinstance(value, list)
            and isinstance(old, list)
            and old
            and all(isinstance(v, str) for v in value)
            and plain(value[: len(old)]) == old
        ):
            edits.append(Edit("append", (key,), value[len(old) :]))
        else:
            edits.append(Edit("set", (key,), value))
    # A field the kept record loses: one of a unit taken from another record (a currency).
    edits.extend(
        Edit("unset", (key,))
        for key, old in before.items()
        if key not in after and key not in _STAMPS and _present(old)
    )
    return edits
