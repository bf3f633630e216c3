"""crm.yaml: the owner's business, currency, pipeline stages and custom field declarations."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from crm import money
from crm.errors import ValidationError
from crm.models import RECORD_TYPES, Field, Issue, Kind, line_of
from crm.when import parse_cadence

if TYPE_CHECKING:
    from crm.timetrack import TimeSettings

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


DEFAULT_STAGES: tuple[Stage, ...] = (
    Stage(name="lead", label="Lead", probability=10),
    Stage(name="qualified", label="Qualified", probability=25),
    Stage(name="proposal", label="Proposal", probability=50),
    Stage(name="negotiation", label="Negotiation", probability=75),
    Stage(name="won", label="Won", probability=100, status="won"),
    Stage(name="lost", label="Lost", probability=0, status="lost"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Pipeline:
    """A sales channel and its stages, in order."""

    name: str
    label: str
    stages: tuple[Stage, ...]

    @property
    def stage_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.stages)

    def stage(self, name: str | None) -> Stage | None:
        return next((s for s in self.stages if s.name == name), None)

    @property
    def first_stage(self) -> Stage:
        """Where a new deal starts: the first open stage."""
        return next((s for s in self.stages if s.status == "open"), self.stages[0])

    def closing_stage(self, status: str) -> Stage | None:
        """The first stage whose status is `status` (won or lost)."""
        return next((s for s in self.stages if s.status == status), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """A lead scoring rule: `points` when the --where expression `when` holds."""

    when: str
    points: int
    label: str


DEFAULT_RULES = (
    Rule(when="emails", points=10, label="has an email address"),
    Rule(when="phones", points=5, label="has a phone number"),
    Rule(when="source=referral", points=20, label="came by referral"),
    Rule(when="budget>0", points=15, label="budget known (B)"),
    Rule(when="authority=yes", points=15, label="decides (A)"),
    Rule(when="need", points=10, label="need known (N)"),
    Rule(when="timeline", points=10, label="timeline known (T)"),
    Rule(when="last_contact>=today-14", points=15, label="spoken to in the last 14 days"),
)
DEFAULT_BANDS = (("hot", 60), ("warm", 30))


@dataclass(frozen=True, slots=True, kw_only=True)
class Reminder:
    """A payment reminder level: sent `days` after the due date, with its text and fee."""

    days: int
    text: str
    fee: str = "0"


REGIME_NOTES = {
    "reverse_charge": "Reverse charge: the recipient is liable for the VAT "
    "(Article 196, Council Directive 2006/112/EC).",
    "small_business": "No VAT is charged: small business exemption.",
}
DEFAULT_REMINDERS = (
    Reminder(
        days=7,
        text="A friendly reminder: the invoice below is still open. "
        "If you have paid it in the meantime, thank you, and please ignore this letter.",
    ),
    Reminder(days=21, text="Second reminder: please pay the invoice below within 7 days."),
)


EINVOICE_CHOICES = ("none", "facturx")


@dataclass(frozen=True, slots=True, kw_only=True)
class GitSettings:
    """crm.yaml `git:`: whether every command that writes commits what it changed."""

    autocommit: bool = False  # `crm init` writes `autocommit: true`


@dataclass(frozen=True, slots=True, kw_only=True)
class Billing:
    """How quotes and invoices are made (crm.yaml `billing:`)."""

    locale: str = "en_GB"
    payment_terms: int = 14  # days from issue to due
    quote_days: int = 30  # days a quote is valid
    tax_rate: str = "0"  # the default rate of lines, in percent
    regime: str = "standard"  # standard, reverse_charge or small_business
    per_line: bool = False  # round tax per line instead of per rate
    numbering: Mapping[str, str] = field(default_factory=dict)
    bank: Mapping[str, str] = field(default_factory=dict)  # holder, iban, bic, bank
    notes: Mapping[str, str] = field(default_factory=lambda: dict(REGIME_NOTES))
    reminders: tuple[Reminder, ...] = DEFAULT_REMINDERS
    pdf: bool = True  # keep a PDF of each issued document (else HTML)
    payment_qr: bool = True  # an EPC QR code (GiroCode) on invoices in euros (crm.banking)
    einvoice: str = "none"  # facturx: issued invoices are Factur-X PDFs (customers may differ)

    def pattern(self, kind: str) -> str:
        from crm.numbering import DEFAULTS

        return self.numbering.get(kind) or DEFAULTS[kind]


DEFAULT_PIPELINE = "sales"


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    currency: str = "EUR"
    pipelines: tuple[Pipeline, ...] = (
        Pipeline(name=DEFAULT_PIPELINE, label="Sales", stages=DEFAULT_STAGES),
    )
    custom: Mapping[str, Mapping[str, CustomField]] = field(default_factory=dict)
    business: Mapping[str, Any] = field(default_factory=dict)
    rules: tuple[Rule, ...] = DEFAULT_RULES
    bands: tuple[tuple[str, int], ...] = DEFAULT_BANDS  # highest minimum score first
    segments: Mapping[str, str | Mapping[str, str]] = field(default_factory=dict)
    stalled_days: int = 30
    cadence: Mapping[str, str] = field(default_factory=dict)  # tag -> keep-in-touch interval
    billing: Billing = field(default_factory=Billing)
    follow_up_days: int = 7  # a lead not contacted for this long shows in the agenda
    time: TimeSettings | None = None  # tracked time: rounding and rules (crm.timetrack)
    ledger: Mapping[str, Any] = field(default_factory=dict)  # account names (crm.ledger)
    git: GitSettings = field(default_factory=GitSettings)
    mail: Any = None  # how email is sent: crm.mail.MailSettings, None when not set up
    automation: tuple[Any, ...] = ()  # rules: on an event, if a filter holds, do (crm.automation)

    @property
    def default_pipeline(self) -> Pipeline:
        return self.pipelines[0]

    def pipeline(self, name: str | None) -> Pipeline | None:
        """The pipeline called `name`; the default one for None or ""."""
        if not name:
            return self.default_pipeline
        return next((p for p in self.pipelines if p.name == name), None)

    def custom_fields(self, record_type: str) -> Mapping[str, CustomField]:
        return self.custom.get(record_type, {})

    def band(self, score: int) -> str:
        return next((name for name, minimum in self.bands if score >= minimum), "cold")

    def segment(self, name: str, record_type: str) -> str | None:
        """The filter a segment applies to records of `record_type`, if it has one for them."""
        spec = self.segments.get(name)
        if isinstance(spec, Mapping):
            return spec.get(record_type)
        return spec


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

    pipelines = _parse_pipelines(data, problem)

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
    if deep and business.get("vat_id") is not None:  # a hand-written file: checked, kept
        from crm.banking import normalize_vat_id

        try:
            normalize_vat_id(str(business["vat_id"]))
        except ValidationError as exc:
            problem("business.vat_id", exc.message)
    rules, bands = _parse_scoring(data.get("scoring"), problem)
    segments: dict[str, str | Mapping[str, str]] = {}
    raw_segments = data.get("segments") or {}
    if not isinstance(raw_segments, dict):
        problem("segments", "must map segment names to filters")
        raw_segments = {}
    for name, spec in raw_segments.items():
        if isinstance(spec, str) or (
            isinstance(spec, dict)
            and all(k in RECORD_TYPES and isinstance(v, str) for k, v in spec.items())
        ):
            segments[name] = spec
        else:
            problem(f"segments.{name}", "must be a filter, or a mapping of record types to filters")
    stalled = _days(data, "stalled_days", 30, problem)
    follow_up = _days(data, "follow_up_days", 7, problem)
    cadence: dict[str, str] = {}
    raw_cadence = data.get("cadence") or {}
    if not isinstance(raw_cadence, dict):
        problem("cadence", "must map tags to intervals, e.g. {client: 1m, prospect: 2w}")
        raw_cadence = {}
    for tag, span in raw_cadence.items():
        try:
            cadence[str(tag)] = parse_cadence(str(span))
        except ValidationError as exc:
            problem(f"cadence.{tag}", str(exc))
    billing = _parse_billing(data.get("billing"), problem, deep=deep)
    time = None
    if data.get("time") is not None:  # tracked time: crm time import, invoice new --from-time
        from crm.timetrack import parse_settings as parse_time

        time = parse_time(data["time"], problem)
    ledger: dict[str, Any] = {}
    if data.get("ledger") is not None:  # crm export ledger's account names
        from crm.ledger import parse_settings

        ledger = parse_settings(data["ledger"], problem)
    git = _parse_git(data.get("git"), problem)
    mail = None
    if data.get("mail") is not None:  # SMTP settings for invoice send, remind --mail
        from crm.mail import parse_settings as parse_mail

        mail = parse_mail(data["mail"], problem)
    automation: tuple[Any, ...] = ()
    if data.get("rules") is not None:  # automation rules (crm rules)
        from crm.automation import parse_rules

        automation = parse_rules(data["rules"], problem)
    config = Config(
        git=git,
        mail=mail,
        automation=automation,
        billing=billing,
        currency=currency,
        pipelines=pipelines,
        custom=custom,
        business=business,
        rules=rules,
        bands=bands,
        segments=segments,
        stalled_days=stalled,
        cadence=cadence,
        follow_up_days=follow_up,
        time=time,
        ledger=ledger,
    )
    return config, issues


def _parse_git(raw: Any, problem: Any) -> GitSettings:
    if raw is None:
        return GitSettings()
    if not isinstance(raw, dict):
        problem("git", "must be a mapping, e.g. {autocommit: true}")
        return GitSettings()
    for key in raw:
        if key != "autocommit":
            problem(f"git.{key}", "unknown setting; git: has autocommit")
    value = raw.get("autocommit", False)
    if not isinstance(value, bool):
        problem("git.autocommit", f"'{value}' is not true or false")
        return GitSettings()
    return GitSettings(autocommit=value)


def _parse_billing(raw: Any, problem: Any, *, deep: bool = False) -> Billing:
    from crm.billing import REGIMES, parse_rate
    from crm.numbering import series

    if raw is None:
        return Billing()
    if not isinstance(raw, dict):
        problem("billing", "must be a mapping (payment_terms, tax_rate, numbering, ...)")
        return Billing()
    values: dict[str, Any] = {}
    for key in ("payment_terms", "quote_days"):
        if key in raw:
            values[key] = _days(raw, key, 14, lambda k, m: problem(f"billing.{k}", m))
    if raw.get("tax_rate") is not None:
        try:
            values["tax_rate"] = str(parse_rate(raw["tax_rate"]))
        except ValidationError as exc:
            problem("billing.tax_rate", str(exc))
    if raw.get("regime") is not None:
        if raw["regime"] in REGIMES:
            values["regime"] = raw["regime"]
        else:
            problem("billing.regime", f"'{raw['regime']}' is not one of: {', '.join(REGIMES)}")
    if raw.get("rounding") is not None:
        if raw["rounding"] in ("per_rate", "per_line"):
            values["per_line"] = raw["rounding"] == "per_line"
        else:
            problem("billing.rounding", "is per_rate (EN 16931, the default) or per_line")
    if raw.get("locale") is not None:
        values["locale"] = str(raw["locale"])
        if deep:  # Babel's locale data is loaded only for `crm check`, not for every command
            from babel import Locale, UnknownLocaleError

            try:
                Locale.parse(values["locale"])
            except (ValueError, UnknownLocaleError):
                problem("billing.locale", f"'{raw['locale']}' is not a locale (e.g. en_GB, de_DE)")
    if isinstance(raw.get("pdf"), bool):
        values["pdf"] = raw["pdf"]
    if isinstance(raw.get("payment_qr"), bool):
        values["payment_qr"] = raw["payment_qr"]
    elif raw.get("payment_qr") is not None:
        problem("billing.payment_qr", f"'{raw['payment_qr']}' is not true or false")
    if raw.get("einvoice") is not None:
        if raw["einvoice"] in EINVOICE_CHOICES:
            values["einvoice"] = raw["einvoice"]
        else:
            problem("billing.einvoice", f"is one of: {', '.join(EINVOICE_CHOICES)}")
    for key in ("numbering", "bank", "notes"):
        part = raw.get(key)
        if part is None:
            continue
        if not isinstance(part, dict):
            problem(f"billing.{key}", "must be a mapping")
            continue
        values[key] = {str(k): str(v) for k, v in part.items() if v is not None}
    if deep and "bank" in values:  # reported by `crm check`; `invoice issue` refuses them
        from crm.banking import bank_problems

        for key, message in bank_problems(values["bank"]):
            problem(f"billing.bank.{key}", message)
    if "notes" in values:
        values["notes"] = {**REGIME_NOTES, **values["notes"]}
    for kind, pattern in values.get("numbering", {}).items():
        if kind not in ("invoice", "credit_note", "quote"):
            problem(f"billing.numbering.{kind}", "is one of invoice, credit_note, quote")
            continue
        try:
            series(pattern)
        except ValidationError as exc:
            problem(f"billing.numbering.{kind}", str(exc))
    if raw.get("reminders") is not None:
        levels = []
        for i, item in enumerate(raw["reminders"] if isinstance(raw["reminders"], list) else []):
            if not isinstance(item, dict) or not isinstance(item.get("days"), int):
                problem(f"billing.reminders.{i}", "needs days (after the due date) and text")
                continue
            levels.append(
                Reminder(
                    days=item["days"],
                    text=str(item.get("text") or ""),
                    fee=str(item.get("fee") or "0"),
                )
            )
        values["reminders"] = tuple(sorted(levels, key=lambda r: r.days))
    return Billing(**values)


def _days(data: dict[str, Any], key: str, default: int, problem: Any) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        problem(key, f"'{value}' is not a whole number of days")
        return default
    return value


def _parse_pipelines(data: dict[str, Any], problem: Any) -> tuple[Pipeline, ...]:
    """`pipelines:` (several), else `stages:` (one pipeline), else the default stages."""
    raw = data.get("pipelines")
    if raw is None:
        stages = DEFAULT_STAGES
        if data.get("stages") is not None:
            stages = _parse_stages(data["stages"], problem, "stages") or DEFAULT_STAGES
        return (Pipeline(name=DEFAULT_PIPELINE, label="Sales", stages=stages),)
    if data.get("stages") is not None:
        problem("stages", "with `pipelines:`, give each pipeline its own stages")
    if not isinstance(raw, dict) or not raw:
        problem("pipelines", "must map pipeline names to their stages")
        return Config().pipelines
    pipelines: list[Pipeline] = []
    for name, spec in raw.items():
        key = f"pipelines.{name}"
        if not isinstance(name, str) or not _STAGE_RE.fullmatch(name):
            problem(key, "pipeline names are lower-case letters, digits, - and _")
            continue
        if not isinstance(spec, dict):
            problem(key, "must be a mapping with stages (and an optional label, default)")
            continue
        stages = _parse_stages(spec.get("stages"), problem, f"{key}.stages")
        if not stages:
            continue
        label = str(spec.get("label") or name.replace("-", " ").replace("_", " ").capitalize())
        pipeline = Pipeline(name=name, label=label, stages=stages)
        if spec.get("default") is True:
            pipelines.insert(0, pipeline)
        else:
            pipelines.append(pipeline)
    return tuple(pipelines) or Config().pipelines


def _parse_scoring(raw: Any, problem: Any) -> tuple[tuple[Rule, ...], tuple[tuple[str, int], ...]]:
    if raw is None:
        return DEFAULT_RULES, DEFAULT_BANDS
    if not isinstance(raw, dict):
        problem("scoring", "must be a mapping with rules and bands")
        return DEFAULT_RULES, DEFAULT_BANDS
    rules: list[Rule] = []
    raw_rules = raw.get("rules") or []
    if not isinstance(raw_rules, list):
        problem("scoring.rules", "must be a list of rules (when, points, label)")
        raw_rules = []
    for i, item in enumerate(raw_rules):
        key = f"scoring.rules.{i}"
        if not isinstance(item, dict) or not isinstance(item.get("when"), str):
            problem(key, "a rule needs `when:` (a filter, as for --where) and `points:`")
            continue
        points = item.get("points")
        if isinstance(points, bool) or not isinstance(points, int):
            problem(f"{key}.points", f"'{points}' is not a whole number")
            continue
        label = str(item.get("label") or item["when"])
        rules.append(Rule(when=item["when"], points=points, label=label))
    bands: list[tuple[str, int]] = []
    raw_bands = raw.get("bands", dict(DEFAULT_BANDS))
    if not isinstance(raw_bands, dict):
        problem("scoring.bands", "must map band names to their minimum score")
        raw_bands = dict(DEFAULT_BANDS)
    for name, minimum in raw_bands.items():
        if isinstance(minimum, bool) or not isinstance(minimum, int):
            problem(f"scoring.bands.{name}", f"'{minimum}' is not a whole number")
            continue
        bands.append((str(name), minimum))
    bands.sort(key=lambda band: -band[1])
    return tuple(rules), tuple(bands)


def _parse_stages(raw: Any, problem: Any, prefix: str) -> tuple[Stage, ...]:
    if not isinstance(raw, list) or not raw:
        problem(prefix, "must be a non-empty list of stages")
        return ()
    stages: list[Stage] = []
    for i, item in enumerate(raw):
        key = f"{prefix}.{i}"
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
        problem(prefix, "at least one stage must be open")
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
        label = str(spec.get("label") or name.replace("_", " "))
        out[name] = CustomField(
            name=name, type=ftype, label=label, values=values, currency=currency
        )
    return out
