"""Likely duplicates: records of one type that share a key, or whose names are alike.

Scores (0-100): a shared external id or email is 100, a shared phone number (E.164) 90, a
shared web domain (companies) 80; names score their similarity ratio × 100 (crm.matching's
normalised name keys, so "ACME GmbH" and "Acme" are one name) and count from a threshold.

Nothing compares all pairs of names: names are blocked by each of their words (a block too
large to compare in full is searched by sorted neighbourhood) and by sorted neighbourhood over
the whole name, forwards and backwards; groups are the connected records (union-find). Pure:
records in, groups out.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from crm.dates import parse_timestamp
from crm.matching import Keys, keys_of, name_similarity
from crm.records import Record

DEFAULT_THRESHOLD = 85
TYPES = ("contact", "company", "lead")  # the types `crm dedupe` looks at
# What a shared key scores, strongest first (also the order reasons are listed in).
SCORES: dict[str, int] = {"external_id": 100, "email": 100, "phone": 90, "domain": 80}
KINDS = (*SCORES, "name")
LABELS = {
    "external_id": "external id",
    "email": "email",
    "phone": "phone",
    "domain": "domain",
    "name": "name",
}
SMALL_BLOCK = 24  # names sharing a word: compared in full up to this many
WINDOW = 8  # sorted neighbourhood: how many neighbours on each side are compared


# -- why records look alike ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Reason:
    """One reason records look alike: `kind` (external_id, email, phone, domain, name), the
    shared key or the two names compared, the score, and the records it applies to."""

    kind: str
    value: str
    score: int
    ids: tuple[str, ...]

    def json(self) -> dict[str, Any]:
        return {
            "reason": self.kind,
            "value": self.value,
            "score": self.score,
            "ids": list(self.ids),
        }

    def text(self) -> str:
        if self.kind == "name":
            return f"name {self.value} ({self.score})"
        return f"{LABELS[self.kind]} {self.value}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Group:
    """Records that are probably one: oldest first (the natural one to keep)."""

    rtype: str
    records: tuple[Record, ...]
    reasons: tuple[Reason, ...]

    @property
    def score(self) -> int:
        return max(r.score for r in self.reasons)

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self.records]

    def json(self) -> dict[str, Any]:
        """The stable JSON form (docs/dedupe.md)."""
        return {
            "type": self.rtype,
            "score": self.score,
            "ids": self.ids,
            "records": [{"id": r.id, "title": r.title} for r in self.records],
            "reasons": [r.json() for r in self.reasons],
            "merge": f"crm merge {self.rtype} {' '.join(self.ids)}",
        }


# -- names ------------------------------------------------------------------------------------


def name_score(a: str, b: str, threshold: int) -> int | None:
    """The similarity (0-100, rounded down) of two name keys if it reaches `threshold`."""
    return _score(a, _counts(a), b, _counts(b), threshold)


def _counts(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for char in text:
        counts[char] = counts.get(char, 0) + 1
    return counts


def _score(
    a: str, counts_a: Mapping[str, int], b: str, counts_b: Mapping[str, int], threshold: int
) -> int | None:
    """`name_score`, cheap bounds first: the ratio 2·matches/(len a + len b) cannot exceed what
    the lengths, or the characters the two have in common, allow."""
    if not a or not b:
        return None
    if a == b:
        return 100
    total = len(a) + len(b)
    if 200 * min(len(a), len(b)) < threshold * total:
        return None
    common = 0
    for char, n in counts_a.items():
        m = counts_b.get(char)
        if m:
            common += n if n < m else m
    if 200 * common < threshold * total:
        return None
    score = int(name_similarity(a, b) * 100 + 1e-9)
    return score if score >= threshold else None


class _Neighbourhood:
    """Entries sorted by a text, to find those near a given text."""

    def __init__(self, entries: Iterable[tuple[str, int]]) -> None:
        ordered = sorted(entries)
        self.texts = [text for text, _ in ordered]
        self.items = [item for _, item in ordered]

    def near(self, text: str) -> list[int]:
        at = bisect_left(self.texts, text)
        return self.items[max(0, at - WINDOW) : at + WINDOW + 1]


def _compact(key: str) -> str:
    return key.replace(" ", "")


def _without(key: str, word: str) -> str:
    words = key.split()
    words.remove(word)
    return " ".join(words)


class NameIndex:
    """Distinct name keys, blocked so that alike ones are found without comparing all pairs."""

    def __init__(self, keys: Iterable[str]) -> None:
        self.keys = sorted({k for k in keys if k})
        self.counts = [_counts(k) for k in self.keys]
        self.by_word: dict[str, list[int]] = {}
        for n, key in enumerate(self.keys):
            for word in set(key.split()):
                self.by_word.setdefault(word, []).append(n)
        self._forward = _Neighbourhood((_compact(k), n) for n, k in enumerate(self.keys))
        self._backward = _Neighbourhood((_compact(k)[::-1], n) for n, k in enumerate(self.keys))
        self._blocks: dict[str, tuple[_Neighbourhood, _Neighbourhood]] = {}

    def _block(self, word: str) -> tuple[_Neighbourhood, _Neighbourhood]:
        """A large block of names sharing `word`, sorted by the rest of the name."""
        if word not in self._blocks:
            rests = [(_compact(_without(self.keys[n], word)), n) for n in self.by_word[word]]
            self._blocks[word] = (
                _Neighbourhood(rests),
                _Neighbourhood((rest[::-1], n) for rest, n in rests),
            )
        return self._blocks[word]

    def candidates(self, key: str) -> set[int]:
        """Indexes of the keys worth comparing with `key` (which need not be in the index)."""
        found: set[int] = set()
        for word in set(key.split()):
            members = self.by_word.get(word)
            if not members:
                continue
            if len(members) <= SMALL_BLOCK:
                found.update(members)
                continue
            rest = _compact(_without(key, word))
            forward, backward = self._block(word)
            found.update(forward.near(rest))
            found.update(backward.near(rest[::-1]))
        compact = _compact(key)
        found.update(self._forward.near(compact))
        found.update(self._backward.near(compact[::-1]))
        return found

    def similar(self, key: str, threshold: int) -> Iterator[tuple[str, int]]:
        """The other keys alike to `key`, with their scores."""
        counts = _counts(key)
        for n in self.candidates(key):
            other = self.keys[n]
            if other != key:
                score = _score(key, counts, other, self.counts[n], threshold)
                if score is not None:
                    yield other, score

    def similar_pairs(self, threshold: int) -> Iterator[tuple[str, str, int]]:
        """Every pair of distinct keys alike enough, each once (a < b)."""
        for n, key in enumerate(self.keys):
            for m in sorted(self.candidates(key)):
                if m > n:
                    score = _score(key, self.counts[n], self.keys[m], self.counts[m], threshold)
                    if score is not None:
                        yield key, self.keys[m], score


# -- groups -----------------------------------------------------------------------------------


class _UnionFind:
    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return root

    def union(self, members: Sequence[int]) -> None:
        first = self.find(members[0])
        for other in members[1:]:
            root = self.find(other)
            if root != first:
                self.parent[root] = first


def _key_values(keys: Keys) -> Iterator[tuple[str, str]]:
    """(kind, value) of every key but the name."""
    for system, value in sorted(keys.external):
        yield "external_id", f"{system}:{value}"
    for email in sorted(keys.emails):
        yield "email", email
    for phone in sorted(keys.phones):
        yield "phone", phone
    for domain in sorted(keys.domains):
        yield "domain", domain


def _age(rec: Record) -> tuple[float, str]:
    """Oldest first (records without `created` last), then by id."""
    created = parse_timestamp(rec.data.get("created"))
    return (created.timestamp() if created else float("inf"), rec.id)


def find_groups(
    rtype: str,
    records: Sequence[Record],
    region: str | None,
    *,
    threshold: int = DEFAULT_THRESHOLD,
) -> list[Group]:
    """Groups of likely duplicates among `records` (all of type `rtype`), best score first.

    Shared keys always count; similar names count from `threshold` (0-100) up. `region` is the
    country that phone numbers without a country code are read in (matching.region_of).
    """
    keys = [keys_of(rtype, rec.data, region) for rec in records]
    found: list[tuple[str, str, int, list[int]]] = []  # kind, value, score, record indexes
    by_key: dict[tuple[str, str], list[int]] = {}
    by_name: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        for pair in _key_values(k):
            by_key.setdefault(pair, []).append(i)
        if k.name:
            by_name.setdefault(k.name, []).append(i)
    for (kind, value), members in by_key.items():
        if len(members) > 1:
            found.append((kind, value, SCORES[kind], members))
    for name, members in by_name.items():
        if len(members) > 1:
            found.append(("name", name, 100, members))
    links = _UnionFind(len(records))
    for *_, members in found:
        links.union(members)
    if threshold <= 100:
        found.extend(_similar_names(by_name, links, threshold))
    reasons: dict[int, list[tuple[str, str, int, list[int]]]] = {}
    for entry in found:
        reasons.setdefault(links.find(entry[3][0]), []).append(entry)
    groups = []
    for entries in reasons.values():
        members = sorted({i for *_, m in entries for i in m}, key=lambda i: _age(records[i]))
        rank = {i: n for n, i in enumerate(members)}
        group_reasons = sorted(
            (
                Reason(
                    kind=kind,
                    value=value,
                    score=score,
                    ids=tuple(records[i].id for i in sorted(set(m), key=rank.__getitem__)),
                )
                for kind, value, score, m in entries
            ),
            key=lambda r: (-r.score, KINDS.index(r.kind), r.value),
        )
        groups.append(
            Group(
                rtype=rtype,
                records=tuple(records[i] for i in members),
                reasons=tuple(group_reasons),
            )
        )
    groups.sort(key=lambda g: (-g.score, g.ids[0]))
    return groups


def _similar_names(
    by_name: Mapping[str, list[int]], links: _UnionFind, threshold: int
) -> Iterator[tuple[str, str, int, list[int]]]:
    """Links between similar names, joined into `links` without chaining: a group's names are
    all alike its first one, so "Anna Zimmermann ~ Tina Zimmermann ~ Tina Zimmer" never makes
    one group of people who merely look alike two by two."""
    anchor: dict[int, str] = {}  # group -> the name its similar names are compared with
    pairs = sorted(NameIndex(by_name).similar_pairs(threshold), key=lambda p: (-p[2], p[0], p[1]))
    for a, b, score in pairs:
        ra, rb = links.find(by_name[a][0]), links.find(by_name[b][0])
        if ra != rb:
            left, right = anchor.get(ra, a), anchor.get(rb, b)
            if left != right and name_score(left, right, threshold) is None:
                continue
            links.union([by_name[a][0], by_name[b][0]])
            anchor[links.find(by_name[a][0])] = left
        yield ("name", f"{a} ~ {b}", score, by_name[a] + by_name[b])


# -- one new record against the existing ones --------------------------------------------------


class Matcher:
    """Existing records of one type, indexed to tell which ones a new record looks like.

    Build it once to check many records (an import); `lookalikes` builds one per call.
    """

    def __init__(
        self,
        rtype: str,
        records: Sequence[Record],
        region: str | None,
        keys: Sequence[tuple[tuple[tuple[str, str], ...], str]] | None = None,
    ) -> None:
        """`keys`, when given, are each record's `plain_keys` (kept in the cache: finding a
        record's keys parses its phone numbers, which takes long in a large folder)."""
        self.rtype = rtype
        self.region = region
        self.records = list(records)
        self.by_key: dict[tuple[str, str], list[int]] = {}
        self.by_name: dict[str, list[int]] = {}
        if keys is None:
            keys = [plain_keys(rtype, rec, region) for rec in self.records]
        for i, (pairs, name) in enumerate(keys):
            for pair in pairs:
                self.by_key.setdefault(pair, []).append(i)
            if name:
                self.by_name.setdefault(name, []).append(i)
        self.names = NameIndex(self.by_name)

    def find(
        self, data: Mapping[str, Any], *, threshold: int = DEFAULT_THRESHOLD
    ) -> list[tuple[Record, str, int]]:
        """The records `data` looks like: (record, reason, score), best first, one per record."""
        k = keys_of(self.rtype, data, self.region)
        best: dict[int, tuple[int, str]] = {}

        def consider(i: int, score: int, reason: str) -> None:
            if i not in best or score > best[i][0]:
                best[i] = (score, reason)

        for kind, value in _key_values(k):
            for i in self.by_key.get((kind, value), ()):
                consider(i, SCORES[kind], f"same {LABELS[kind]} {value}")
        if k.name and threshold <= 100:
            for i in self.by_name.get(k.name, ()):
                consider(i, 100, "same name")
            for other, score in self.names.similar(k.name, threshold):
                for i in self.by_name[other]:
                    consider(i, score, "similar name")
        ranked = sorted(best.items(), key=lambda item: (-item[1][0], self.records[item[0]].id))
        return [(self.records[i], reason, score) for i, (score, reason) in ranked]


def plain_keys(
    rtype: str, rec: Record, region: str | None
) -> tuple[tuple[tuple[str, str], ...], str]:
    """A record's keys as plain data: its (kind, value) pairs and its name key."""
    k = keys_of(rtype, rec.data, region)
    return tuple(_key_values(k)), k.name


def lookalikes(
    rtype: str,
    data: Mapping[str, Any],
    records: Sequence[Record],
    region: str | None,
    *,
    threshold: int = DEFAULT_THRESHOLD,
    keys: Sequence[tuple[tuple[tuple[str, str], ...], str]] | None = None,
) -> list[tuple[Record, str, int]]:
    """The existing `records` (of type `rtype`) that a new record's `data` looks like.

    Each comes once, with its best reason ("same email ada@example.com", "same phone
    +49301234567", "same domain acme.example", "same external id vcard:...", "same name",
    "similar name") and score (0-100), best first. Shared keys always count; similar names
    from `threshold` up. To check many records against the same ones, build a `Matcher` once.
    """
    return Matcher(rtype, records, region, keys).find(data, threshold=threshold)
