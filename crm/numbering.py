"""Document numbers: gapless series from patterns like `{year}-{seq:04}`.

A number is given when a document is issued (drafts have none), under the folder lock, as the
next one of its series; with `{year}` in the pattern the series starts again each year.
Issued documents are never deleted, so numbers are never reused and never leave gaps.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from crm.errors import ValidationError

DEFAULTS = {
    "invoice": "{year}-{seq:04}",
    "credit_note": "CN{year}-{seq:04}",
    "quote": "Q{year}-{seq:03}",
}
_FIELDS = {"year": r"(?P<year>[0-9]{4})", "yy": r"(?P<yy>[0-9]{2})", "seq": r"(?P<seq>[0-9]+)"}


@dataclass(frozen=True, slots=True)
class Series:
    pattern: str
    regex: re.Pattern[str]
    yearly: bool

    def number(self, year: int, seq: int) -> str:
        return self.pattern.format(year=year, yy=f"{year % 100:02d}", seq=seq)

    def parse(self, number: str) -> tuple[int | None, int] | None:
        """(year, sequence) of a number of this series, or None if it is not one."""
        match = self.regex.fullmatch(number)
        if not match:
            return None
        groups = match.groupdict()
        year = int(groups["year"]) if groups.get("year") else None
        if year is None and groups.get("yy"):
            year = 2000 + int(groups["yy"])
        return year, int(groups["seq"])


def series(pattern: str) -> Series:
    """The series a pattern describes; it must contain {seq}."""
    parts = []
    names = set()
    try:
        parsed = list(string.Formatter().parse(pattern))
    except ValueError as exc:
        raise ValidationError(f"'{pattern}' is not a number pattern: {exc}") from exc
    for literal, name, spec, _ in parsed:
        parts.append(re.escape(literal))
        if name is None:
            continue
        if name not in _FIELDS:
            raise ValidationError(
                f"'{pattern}': unknown field {{{name}}}", hint="use {year}, {yy} and {seq}"
            )
        if name == "seq" and spec and not re.fullmatch(r"0[1-9]d?", spec):
            raise ValidationError(f"'{pattern}': {{seq:{spec}}} is not a width like {{seq:04}}")
        names.add(name)
        parts.append(_FIELDS[name])
    if "seq" not in names:
        raise ValidationError(f"'{pattern}' has no {{seq}}", hint="e.g. {year}-{seq:04}")
    return Series(pattern, re.compile("".join(parts)), bool(names & {"year", "yy"}))


def next_number(pattern: str, existing: Iterable[str], year: int) -> str:
    """The number after the highest one of the series (of `year`, when the series is yearly)."""
    chosen = series(pattern)
    highest = 0
    for number in existing:
        parsed = chosen.parse(number)
        if parsed and (not chosen.yearly or parsed[0] == year):
            highest = max(highest, parsed[1])
    return chosen.number(year, highest + 1)


def problems(pattern: str, numbers: Mapping[str, list[str]]) -> list[tuple[str, str]]:
    """Duplicate and missing numbers of a series: (path, message) pairs.

    `numbers` maps each number to the files that carry it (a git merge of two branches that
    both issued can give two files one number).
    """
    chosen = series(pattern)
    out = []
    seen: dict[int | None, set[int]] = {}
    for number, paths in sorted(numbers.items()):
        if len(paths) > 1:
            for path in paths[1:]:
                out.append((path, f"number {number} is also on {paths[0]}"))
        parsed = chosen.parse(number)
        if parsed is None:
            out.append((paths[0], f"number {number} does not follow the pattern {pattern}"))
            continue
        seen.setdefault(parsed[0] if chosen.yearly else None, set()).add(parsed[1])
    for year, seqs in sorted(seen.items(), key=lambda kv: kv[0] or 0):
        missing = sorted(set(range(1, max(seqs) + 1)) - seqs)
        if missing:
            shown = ", ".join(chosen.number(year or 0, s) for s in missing[:5])
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            out.append(("crm.yaml", f"series {pattern}: missing {shown}{more}"))
    return out
