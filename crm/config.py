"""crm.yaml: the owner's business, currency, pipeline stages and custom field declarations."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from crm import money
from crm.errors import ValidationError
from crm.models import RECORD_TYPES, Field, Issue, Kind, line_of

CONFIG_FILE = "crm.yaml"
STAGE_STATUSES = ("open", "won", "lost")
CUSTOM_TYPES: dict[str, Kind] = {
    "text": Kind.TEXT,
    "number": Kind.NUMBER,
    "money": Kind.MONEY,
    "date": Kind.DATE,
    "bool": Kind.BOOL,
    "choice": Kind.CHOICE,
    "url": Kind.URL,
    "email": Kind.EMAIL,
}
_NAME_RE = re.compile(r"[a-z][a-z0-9_]*")
_STAGE_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")
_CURRENCY_RE = re.compile(r"[A-Z]{3}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Stage:
    name: str
    label: str
    probability: int
    status: str = "open"  # open, won or lost


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomField:
    name: str
    type: str
    label: str
    values: tuple[str, ...] = ()
    currency: str | None = None

    def as_field(self) -> Field:
        return Field(
            name=self.name, kind=CUSTOM_TYPES[self.type], choices=self.values, help=self.label
        )


DEFAULT_STAGES = (
    Stage(name="lead", label="Lead", probability=10),
    Stage(name="qualified", label="Qualified", probability=25),
    Stage(name="proposal", label="Proposal", probability=50),
    Stage(name="negotiation", label="Negotiation", probability=75),
    Stage(name="won", label="Won", probability=100, status="won"),
    Stage(name="lost", label="Lost", probability=0, status="lost"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    currency: str = "EUR"
    stages: tuple[Stage, ...] = DEFAULT_STAGES
    custom: Mapping[str, Mapping[str, CustomField]] = field(default_factory=dict)
    business: Mapping[str, Any] = field(default_factory=dict)

    @property
    def stage_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.stages)

    def stage(self, name: str) -> Stage | None:
        for s in self.stages:
            if s.name == name:
                return s
        return None

    @property
    def default_stage(self) -> Stage:
        return next((s for s in self.stages if s.status == "open"), self.stages[0])

    def custom_fields(self, record_type: str) -> Mapping[str, CustomField]:
        return self.custom.get(record_type, {})


def parse_config(
    data: Any, lines: Mapping[str, int], *, deep: bool = False
) -> tuple[Config, list[Issue]]:
    """A Config from the parsed crm.yaml, and every problem found in it (defaults fill gaps).

    Currency codes are checked against ISO 4217 only when `deep` (for `crm check`): the
    table of currencies is not worth loading for every command.
    """
    issues: list[Issue] = []

    def currency_code(raw: Any) -> str:
        code = str(raw).strip().upper()
        if deep:
            return money.normalize_currency(code)
        if not _CURRENCY_RE.fullmatch(code):
            raise ValidationError(f"'{raw}' is not an ISO 4217 currency code", hint="e.g. EUR")
        return code

    def problem(key: str, message: str) -> None:
        issues.append(
            Issue(CONFIG_FILE, line_of(lines, key), f"{key}: {message}" if key else message)
        )

    if data is None:
        data = {}
    if not isinstance(data, dict):
        problem("", "must be a mapping of settings")
        return Config(), issues

    currency = "EUR"
    if data.get("currency") is not None:
        try:
            currency = currency_code(data["currency"])
        except ValidationError as exc:
            problem("currency", str(exc))

    stages: tuple[Stage, ...] = DEFAULT_STAGES
    if data.get("stages") is not None:
        stages = _parse_stages(data["stages"], problem) or DEFAULT_STAGES

    custom: dict[str, dict[str, CustomField]] = {}
    raw_fields = data.get("fields") or {}
    if not isinstance(raw_fields, dict):
        problem("fields", "must map record types to their custom fields")
        raw_fields = {}
    for type_name, declared in raw_fields.items():
        if type_name not in RECORD_TYPES:
            problem(f"fields.{type_name}", f"unknown record type; one of {', '.join(RECORD_TYPES)}")
            continue
        custom[type_name] = _parse_custom(type_name, declared or {}, problem, currency_code)

    business = data.get("business") or {}
    if not isinstance(business, dict):
        problem("business", "must be a mapping (name, email, address, ...)")
        business = {}
    return Config(currency=currency, stages=stages, custom=custom, business=business), issues


def _parse_stages(raw: Any, problem: Any) -> tuple[Stage, ...]:
    if not isinstance(raw, list) or not raw:
        problem("stages", "must be a non-empty list of stages")
        return ()
    stages: list[Stage] = []
    for i, item in enumerate(raw):
        key = f"stages.{i}"
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict):
            problem(key, "must be a mapping with name, probability and status")
            continue
        name = str(item.get("name", ""))
        if not _STAGE_RE.fullmatch(name):
            problem(f"{key}.name", f"'{name}' is not a stage name (lower-case letters, digits, -)")
            continue
        if name in (s.name for s in stages):
            problem(f"{key}.name", f"stage '{name}' is declared twice")
            continue
        status = str(item.get("status", "open"))
        if status not in STAGE_STATUSES:
            problem(f"{key}.status", f"'{status}' is not one of: {', '.join(STAGE_STATUSES)}")
            status = "open"
        default_probability = {"won": 100, "lost": 0}.get(status, 50)
        probability = item.get("probability", default_probability)
        if isinstance(probability, bool) or not isinstance(probability, int):
            problem(f"{key}.probability", f"'{probability}' is not a whole number")
            probability = default_probability
        elif not 0 <= probability <= 100:
            problem(f"{key}.probability", f"{probability} is not between 0 and 100")
            probability = max(0, min(100, probability))
        label = str(item.get("label") or name.replace("-", " ").replace("_", " ").capitalize())
        stages.append(Stage(name=name, label=label, probability=probability, status=status))
    if stages and not any(s.status == "open" for s in stages):
        problem("stages", "at least one stage must be open")
    return tuple(stages)


def _parse_custom(
    type_name: str, declared: Any, problem: Any, currency_code: Any
) -> dict[str, CustomField]:
    out: dict[str, CustomField] = {}
    if not isinstance(declared, dict):
        problem(f"fields.{type_name}", "must map field names to their declarations")
        return out
    builtin = RECORD_TYPES[type_name]
    for name, spec in declared.items():
        key = f"fields.{type_name}.{name}"
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            problem(key, "field names are lower-case letters, digits and _")
            continue
        if builtin.field(name) is not None:
            problem(key, f"'{name}' is a built-in field of {type_name}")
            continue
        if isinstance(spec, str):
            spec = {"type": spec}
        if not isinstance(spec, dict):
            problem(key, "must be a type name or a mapping with type:")
            continue
        ftype = str(spec.get("type", "text"))
        if ftype not in CUSTOM_TYPES:
            problem(f"{key}.type", f"'{ftype}' is not one of: {', '.join(CUSTOM_TYPES)}")
            continue
        values: tuple[str, ...] = ()
        if ftype == "choice":
            raw_values = spec.get("values")
            if not isinstance(raw_values, list) or not raw_values:
                problem(f"{key}.values", "a choice field needs a list of values")
                continue
            bad = [v for v in raw_values if not isinstance(v, str | int) or isinstance(v, bool)]
            if bad:
                problem(f"{key}.values", f"{bad[0]!r} is not text; put the values in quotes")
                continue
            values = tuple(str(v) for v in raw_values)
        currency = None
        if spec.get("currency") is not None:
            try:
                currency = currency_code(spec["currency"])
            except ValidationError as exc:
                problem(f"{key}.currency", str(exc))
        label = str(spec.get("label") or name.replace("_", " ").capitalize())
        out[name] = CustomField(
            name=name, type=ftype, label=label, values=values, currency=currency
        )
    return out
