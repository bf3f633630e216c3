"""Full-text search over every record and activity: accents, case and phone formats ignored."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from crm.records import Record

# Dates and bookkeeping: every record has them, so matching them finds everything.
_INTERNAL = frozenset(
    {
        "created",
        "updated",
        "history",
        "at",
        "due",
        "anchor",
        "done_at",
        "touch_after",
        "converted",
        "next",
        "last_contact",
        "close_date",
    }
)
_WEIGHTS = {
    "name": 10,
    "title": 10,
    "text": 6,
    "emails": 8,
    "phones": 8,
    "domain": 8,
    "company": 5,
    "tags": 5,
}


def fold(text: str) -> str:
    """Text as search compares it: no accents, no case (Jürgen finds jurgen and JÜRGEN)."""
    if text.isascii():  # most text: nothing to decompose
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _values(data: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every text value of a record with its dotted field name."""
    if isinstance(data, Mapping):
        for key, value in data.items():
            if key not in _INTERNAL:
                yield from _values(value, f"{path}.{key}" if path else str(key))
    elif isinstance(data, list):
        for item in data:
            yield from _values(item, path)
    elif data is not None and not isinstance(data, bool):
        yield path, str(data)


@dataclass(frozen=True, slots=True)
class Hit:
    record: Record
    score: int
    matches: tuple[tuple[str, str], ...]  # (field, the text around the match)

    def json(self) -> dict[str, Any]:
        return {
            "type": self.record.type.name,
            "id": self.record.id,
            "title": self.record.title.split("\n", 1)[0],
            "score": self.score,
            "matches": [{"field": f, "text": t} for f, t in self.matches],
        }


def _snippet(text: str, start: int, length: int) -> str:
    flat = " ".join(text.split())
    if len(flat) <= 60:
        return flat
    left = max(0, start - 25)
    return ("…" if left else "") + flat[left : left + 60].strip() + "…"


def _match(term: str, field: str, text: str) -> tuple[int, str] | None:
    folded = fold(" ".join(text.split()))
    position = folded.find(term)
    if position < 0 and field.startswith("phones"):
        # 030 555 finds +49 (30) 555-0199: digits only, a trunk 0 dropped
        digits = _digits(term).lstrip("0")
        if len(digits) >= 2 and digits in _digits(text):
            position = 0
    if position < 0:
        return None
    weight = _WEIGHTS.get(field.split(".")[0], 2)
    whole = re.search(rf"(?<!\w){re.escape(term)}(?!\w)", folded) is not None
    return weight + (2 if whole else 0), _snippet(text, max(position, 0), len(term))


def _may_match(terms: Sequence[str], values: Sequence[tuple[str, str]]) -> bool:
    """Whether every term occurs somewhere in the record: one test of the whole record
    spares matching field by field in the many records that cannot match."""
    blob = fold("\n".join(" ".join(text.split()) for _, text in values))
    phones = None
    for term in terms:
        if term in blob:
            continue
        digits = _digits(term).lstrip("0")
        if len(digits) < 2:
            return False
        if phones is None:
            phones = "|".join(_digits(t) for f, t in values if f.startswith("phones"))
        if digits not in phones:
            return False
    return True


def search(query: str, records: Sequence[Record]) -> list[Hit]:
    """Records in which every word of `query` occurs, best matches first."""
    terms = [fold(t) for t in query.split() if t.strip()]
    if not terms:
        return []
    hits = []
    for rec in records:
        values = list(_values(rec.data))
        if not _may_match(terms, values):
            continue
        score = 0
        matches: dict[str, str] = {}
        for term in terms:
            best = None
            for field, text in values:
                found = _match(term, field, text)
                if found and (best is None or found[0] > best[0]):
                    best = (found[0], field, found[1])
            if best is None:
                break
            score += best[0]
            matches.setdefault(best[1], best[2])
        else:
            hits.append(Hit(rec, score, tuple(matches.items())))
    hits.sort(key=lambda h: (-h.score, h.record.type.name, h.record.id))
    return hits
