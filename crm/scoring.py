"""Lead scoring: rules from crm.yaml give points; bands name the result (hot, warm, cold)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from crm.config import CONFIG_FILE, Config, Rule
from crm.errors import UsageError
from crm.models import LEAD, RECORD_TYPES, Issue
from crm.query import Predicate, parse_where


@dataclass(frozen=True, slots=True)
class Score:
    points: int
    band: str
    hits: tuple[Rule, ...]  # the rules that gave points, in the order declared

    def json(self) -> dict[str, Any]:
        return {
            "score": self.points,
            "band": self.band,
            "rules": [{"label": r.label, "points": r.points, "when": r.when} for r in self.hits],
        }


class Scorer:
    """The rules of a Config, parsed once, applied to leads' JSON objects."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._rules: list[tuple[Rule, Predicate]] = []
        for rule in config.rules:
            try:
                self._rules.append((rule, _parse_rule(rule.when, config)))
            except UsageError:
                continue  # reported by `problems`; a bad rule gives no points meanwhile

    def score(self, lead: Mapping[str, Any]) -> Score:
        hits = tuple(rule for rule, holds in self._rules if holds(lead))
        points = sum(rule.points for rule in hits)
        return Score(points, self.config.band(points), hits)


_SELF_REFERENCE = re.compile(r"(?<![\w.])(score|band)(?![\w.])")


def _parse_rule(when: str, config: Config) -> Predicate:
    if _SELF_REFERENCE.search(when):
        raise UsageError("a scoring rule cannot depend on the score or band it makes")
    return parse_where(when, LEAD, config)


def problems(config: Config) -> list[Issue]:
    """Scoring rules and segments whose filter does not parse (for `crm check`)."""
    out = []
    for i, rule in enumerate(config.rules):
        try:
            _parse_rule(rule.when, config)
        except UsageError as exc:
            out.append(Issue(CONFIG_FILE, None, f"scoring.rules.{i}.when: {exc.message}"))
    checks = []
    for name, spec in config.segments.items():
        for rtype in RECORD_TYPES.values():
            expression = spec.get(rtype.name) if isinstance(spec, Mapping) else spec
            if expression is not None and (isinstance(spec, Mapping) or rtype.name == "deal"):
                key = f"segments.{name}" + (f".{rtype.name}" if isinstance(spec, Mapping) else "")
                checks.append((key, rtype, expression))
    for key, rtype, expression in checks:
        try:
            parse_where(expression, rtype, config)
        except UsageError as exc:
            out.append(Issue(CONFIG_FILE, None, f"{key}: {exc.message}"))
    return out


def annotate(objs: Sequence[dict[str, Any]], config: Config) -> None:
    """Add `score` and `band` to leads' JSON objects."""
    scorer = Scorer(config)
    for obj in objs:
        result = scorer.score(obj)
        obj["score"] = result.points
        obj["band"] = result.band
