"""Records: references, planned changes, validation and the JSON form scripts rely on."""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from crm import ids, money
from crm.config import Config, Pipeline, Stage
from crm.dates import iso, local_date
from crm.errors import (
    AmbiguousRefError,
    NotFoundError,
    UsageError,
    ValidationError,
)
from crm.models import ADDRESS_KEYS, RECORD_TYPES, Field, Issue, Kind, RecordType, line_of
from crm.validate import check_value, parse_input

Op = Literal["set", "unset", "append", "remove", "push"]
RefResolver = Callable[[str, str], str]  # (target type, reference) -> id


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    type: RecordType
    id: str
    data: dict[str, Any]
    path: str  # relative to the data folder, e.g. contacts/ada-lovelace.yaml
    lines: Mapping[str, int] = field(default_factory=dict)
    raw: Mapping[str, str] = field(default_factory=dict)  # see yamlio.Loaded

    @property
    def title(self) -> str:
        value = self.data.get(self.type.title)
        return str(value) if value is not None else self.id

    def list_of(self, name: str) -> list[str]:
        """A many-valued field as a list, whether the file holds a list or one value."""
        return as_list(self.data.get(name))

    def issue(self, key: str, message: str, *, at: str | None = None) -> Issue:
        """A problem with field `key`, reported at the line of `at` (default: of the key)."""
        line = line_of(self.lines, at or key)
        return Issue(self.path, line, f"{key}: {message}" if key else message)


@dataclass(frozen=True, slots=True)
class Edit:
    """One change to a record file: set, unset, add/remove items of a list (append, remove),
    or add an entry to a list whatever it holds (push: history)."""

    op: Op
    path: tuple[str, ...]
    value: Any = None

    def replace(self, **changes: Any) -> Edit:
        return dataclasses.replace(self, **changes)


def as_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [str(v) for v in value if v is not None]
    return [str(value)]


# ---------------------------------------------------------------------------------------------
# Finding records


def resolve(rtype: RecordType, records: Iterable[Record], ref: str) -> Record:
    """The one record `ref` names: its id, an exact email or name, or a unique id prefix."""
    wanted = ref.strip().lower()
    if not wanted:
        raise UsageError(f"an empty {rtype.name} reference")
    pool = list(records)
    tiers: list[list[Record]] = [[], [], [], []]
    for rec in pool:
        if rec.id == wanted:
            return rec
        if wanted in (e.lower() for e in rec.list_of("emails")):
            tiers[0].append(rec)
        elif rec.title.strip().lower() == wanted:
            tiers[1].append(rec)
        elif rec.id.startswith(wanted):
            tiers[2].append(rec)
    for tier in tiers:
        if len(tier) == 1:
            return tier[0]
        if len(tier) > 1:
            shown = [f"{r.id} ({r.title})" for r in sorted(tier, key=lambda r: r.id)]
            raise AmbiguousRefError(rtype.name, ref, shown)
    names = [r.id for r in pool] + [r.title for r in pool]
    close = difflib.get_close_matches(ref, names, n=3, cutoff=0.6)
    group = rtype.name.replace("_", "-")
    hint = f"did you mean {', '.join(close)}?" if close else f"see `crm {group} list`"
    raise NotFoundError(f"no {rtype.name} matches '{ref}'", hint=hint)


def referrers(target: Record, everything: Mapping[str, Sequence[Record]]) -> list[Record]:
    """Records whose reference fields name `target`."""
    found = []
    for rtype_name, records in everything.items():
        refs = [f for f in RECORD_TYPES[rtype_name].refs() if f.target == target.type.name]
        if not refs:
            continue
        for rec in records:
            if any(target.id in _ids(rec.data.get(f.name)) for f in refs):
                found.append(rec)
    return found


# ---------------------------------------------------------------------------------------------
# Planning changes

_ASSIGN_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_.]*)\s*([+-]?=)(.*)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Target:
    """Where a KEY points: a built-in field, an address part or a custom field."""

    path: tuple[str, ...]
    field: Field

    @property
    def key(self) -> str:
        return ".".join(self.path)


def target(rtype: RecordType, config: Config, key: str, *, reading: bool = False) -> Target:
    """The field a user's KEY names: `email`, `address.city`, `custom.size` or just `size`.

    `reading` (for filters and sorting) also admits the fields crm keeps (`created`) and
    custom fields found in files but not declared (`custom.shoe_size`).
    """
    head, _, rest = key.partition(".")
    builtin = rtype.field(head)
    bare_address_part = head in ADDRESS_KEYS and head not in config.custom_fields(rtype.name)
    if builtin is None and bare_address_part and not rest and rtype.field("address"):
        head, rest, builtin = "address", head, rtype.field("address")
    if builtin is not None and builtin.kind is Kind.ADDRESS and not rest:
        return Target(("address",), builtin)  # the whole address, as one text
    if builtin is not None and builtin.kind is Kind.ADDRESS:
        if rest not in ADDRESS_KEYS:
            raise UsageError(f"address has parts {', '.join(ADDRESS_KEYS)}; got '{key}'")
        return Target(("address", rest), Field(name=f"address.{rest}", kind=Kind.TEXT))
    if builtin is not None and builtin.kind is not Kind.CUSTOM and not rest:
        if not builtin.writable and not reading:
            raise UsageError(f"{builtin.name} is kept by crm and cannot be set")
        return Target((builtin.name,), builtin)
    name = rest if head == "custom" else key
    declared = config.custom_fields(rtype.name).get(name)
    if declared is None and reading and head == "custom" and rest:
        return Target(("custom", name), Field(name=name, kind=Kind.TEXT))
    if declared is None:
        known = ", ".join(f.name for f in rtype.fields if f.writable and f.kind is not Kind.CUSTOM)
        custom = ", ".join(config.custom_fields(rtype.name)) or "none declared"
        raise UsageError(
            f"{rtype.name} has no field '{key}'",
            hint=f"fields: {known}; custom fields (crm.yaml): {custom}",
        )
    return Target(("custom", name), dataclasses.replace(declared.as_field(), name=name))


def parse_assignment(text: str) -> tuple[str, str, str]:
    """`KEY=VALUE`, `KEY+=VALUE` or `KEY-=VALUE` as (key, operator, value)."""
    match = _ASSIGN_RE.fullmatch(text)
    if not match:
        raise UsageError(f"'{text}' is not KEY=VALUE")
    key, operator, value = match.groups()
    return key.strip(), operator, value


def plan(
    rtype: RecordType,
    config: Config,
    current: Mapping[str, Any],
    assignments: Sequence[tuple[str, str, Any]],
    unsets: Sequence[str],
    resolve_ref: RefResolver,
    now: dt.datetime,
    extra: Sequence[Edit] = (),
) -> list[Edit]:
    """The edits that carry out `assignments` (key, operator, text or list of texts) and `unsets`.

    Every value is parsed and validated; the result is checked as a whole (money against its
    currency, a stage against the deal's pipeline), so that a plan either applies cleanly or
    raises before anything is written. An empty `current` plans a new record, with defaults.
    Stage and status changes are recorded in the record's history, dated `now`.
    """
    edits: list[Edit] = []
    for key, operator, raw in assignments:
        tgt = target(rtype, config, key)
        if (
            tgt.path[:1] == ("address",)
            and len(tgt.path) == 2
            and isinstance(current.get("address"), str)
        ):
            raise ValidationError(
                f"{tgt.key}: the address is written as one text here, not in parts",
                hint="`--unset address` first, or change it with `edit`",
            )
        texts = raw if isinstance(raw, list) else [raw]
        values = _values(tgt, texts, config, resolve_ref)
        if operator == "=":
            if tgt.field.is_list:
                edits.append(Edit("set", tgt.path, values) if values else Edit("unset", tgt.path))
            elif values:
                if len(values) > 1:
                    raise UsageError(f"{tgt.key} takes one value, got {len(values)}")
                edits.append(Edit("set", tgt.path, values[0]))
            else:
                edits.append(Edit("unset", tgt.path))
        elif not tgt.field.is_list:
            raise UsageError(f"{operator} works on lists (emails, phones, tags), not on {tgt.key}")
        elif values:
            edits.append(Edit("append" if operator == "+=" else "remove", tgt.path, values))
    for key in unsets:
        edits.append(Edit("unset", target(rtype, config, key).path))
    edits.extend(extra)  # fields crm keeps itself (a lead's `converted` links)
    for edit in edits:
        head = rtype.field(edit.path[0])
        if head is not None and head.required and edit.op in ("unset", "remove"):
            after = apply(current, [edit])
            if not after.get(head.name):
                raise ValidationError(f"{head.name} is required and cannot be removed")
    if not current:
        edits.extend(_defaults(rtype, config, apply({}, edits, typed=True)))
    if rtype.name == "deal":
        _stage_edits(config, current, edits, now)
    elif rtype.name == "lead":
        _status_edits(current, edits, now)
    _money_edits(rtype, config, current, edits)
    return edits


def _defaults(rtype: RecordType, config: Config, new: Mapping[str, Any]) -> list[Edit]:
    """What a new record gets unless told otherwise: a deal's pipeline (written out, so that a
    later change of the default pipeline never moves it), first stage and currency."""
    if rtype.name == "lead" and not new.get("status"):
        return [Edit("set", ("status",), "new")]
    if rtype.name == "task":
        edits = [] if new.get("status") else [Edit("set", ("status",), "open")]
        if new.get("repeat") and new.get("due") is not None and not new.get("anchor"):
            edits.append(Edit("set", ("anchor",), new["due"]))  # monthly stays on the 31st
        return edits
    if rtype.name != "deal":
        return []
    edits = []
    pipeline = config.pipeline(new.get("pipeline"))
    if not new.get("pipeline") and pipeline is not None:
        edits.append(Edit("set", ("pipeline",), pipeline.name))
    if not new.get("stage") and pipeline is not None:
        edits.append(Edit("set", ("stage",), pipeline.first_stage.name))
    if new.get("value") is not None and not new.get("currency"):
        edits.append(Edit("set", ("currency",), config.currency))
    return edits


def _stage_edits(
    config: Config, current: Mapping[str, Any], edits: list[Edit], now: dt.datetime
) -> None:
    """Check a deal's pipeline and stage, write them as declared, and date a stage change."""
    after = apply(current, edits)
    name = after.get("pipeline")
    pipeline = config.pipeline(name)
    if pipeline is None:
        known = ", ".join(p.name for p in config.pipelines)
        raise ValidationError(f"pipeline: '{name}' is not one of: {known}")
    stage = after.get("stage")
    if stage is None:
        return
    match = next((s for s in pipeline.stage_names if s.lower() == str(stage).lower()), None)
    if match is None:
        raise ValidationError(
            f"stage: '{stage}' is not one of: {', '.join(pipeline.stage_names)}",
            hint=f"the stages of pipeline {pipeline.name}",
        )
    if match != stage:
        edits.append(Edit("set", ("stage",), match))
    if match != current.get("stage"):
        entry: dict[str, Any] = {"at": now, "stage": match}
        if current.get("stage"):
            entry["from"] = current["stage"]
        closing = pipeline.stage(match)
        if closing is not None and closing.status == "lost" and after.get("lost_reason"):
            entry["reason"] = after["lost_reason"]
        elif current.get("lost_reason") and not any(e.path == ("lost_reason",) for e in edits):
            edits.append(Edit("unset", ("lost_reason",)))  # a revived deal is no longer lost
        edits.append(Edit("push", ("history",), entry))


def _status_edits(current: Mapping[str, Any], edits: list[Edit], now: dt.datetime) -> None:
    """Date a lead's status change; `converted` is only reached through `lead convert`."""
    after = apply(current, edits)
    status = after.get("status")
    if status == current.get("status"):
        return
    if current.get("status") == "converted":
        raise ValidationError("status: the lead is converted; its status no longer changes")
    if status == "converted" and not after.get("converted"):
        raise ValidationError(
            "status: a lead becomes converted through `crm lead convert`",
            hint="it creates the contact, company and deal",
        )
    if status is None:
        return
    entry: dict[str, Any] = {"at": now, "status": status}
    if current.get("status"):
        entry["from"] = current["status"]
    edits.append(Edit("push", ("history",), entry))
    if status == "contacted" and not any(e.path == ("last_contact",) for e in edits):
        edits.append(Edit("set", ("last_contact",), local_date(now)))


def history_edits(
    rtype: RecordType,
    config: Config,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    now: dt.datetime,
) -> list[Edit]:
    """The history entries for a stage or status changed outside `plan` (in an editor)."""
    keys = ("pipeline", "stage", "lost_reason") if rtype.name == "deal" else ("status",)
    edits = [
        Edit("set", (key,), after[key])
        for key in keys
        if after.get(key) is not None and after.get(key) != before.get(key)
    ]
    if rtype.name == "deal":
        _stage_edits(config, before, edits, now)
    elif rtype.name == "lead" and after.get("converted") == before.get("converted"):
        _status_edits(before, edits, now)
    return [edit for edit in edits if edit.op == "push"]


def _values(
    tgt: Target, texts: Sequence[str], config: Config, resolve_ref: RefResolver
) -> list[Any]:
    if tgt.field.is_list:
        texts = [part for text in texts for part in str(text).split(",")]
    values = []
    for text in texts:
        if tgt.field.kind in (Kind.REF, Kind.REFS) and str(text).strip():
            assert tgt.field.target is not None
            values.append(resolve_ref(tgt.field.target, str(text)))
            continue
        value = parse_input(tgt.field, str(text), config)
        if value is not None and value not in values:
            values.append(value)
    return values


def _money_edits(
    rtype: RecordType, config: Config, current: Mapping[str, Any], edits: list[Edit]
) -> None:
    """Write every money value with its currency's minor units; refuse what would need rounding.

    A record's own amounts (a deal's value, a product's price) are in its own currency, else
    the folder's; a custom money field in the currency crm.yaml declares for it."""
    after = apply(current, edits)
    currency = str(after.get("currency") or config.currency).upper()
    for i, edit in enumerate(edits):
        if edit.op != "set" or not isinstance(edit.value, Decimal):
            continue
        if edit.path[0] == "custom":
            declared = config.custom_fields(rtype.name).get(edit.path[-1])
            field_currency = (declared.currency if declared else None) or config.currency
        else:
            field_currency = currency
        edits[i] = edit.replace(value=_money(edit.path, edit.value, field_currency))
    # A new currency rewrites kept amounts in its minor units; 12.50 cannot become JPY.
    if not any(e.path == ("currency",) for e in edits):
        return
    for f in rtype.fields:
        value = after.get(f.name)
        if f.kind is not Kind.MONEY or not isinstance(value, str):
            continue
        if any(e.path == (f.name,) for e in edits):
            continue
        rewritten = _money((f.name,), money.parse_amount(value), currency)
        if rewritten != value:
            edits.append(Edit("set", (f.name,), rewritten))


def _money(path: tuple[str, ...], amount: Decimal, currency: str) -> str:
    if path == ("value",) and amount < 0:
        raise ValidationError(f"value: {amount} is negative; a deal is worth 0 or more")
    try:
        return money.to_money(amount, currency)
    except ValidationError as exc:
        raise ValidationError(f"{'.'.join(path)}: {exc.message}") from exc


def apply(data: Mapping[str, Any], edits: Iterable[Edit], *, typed: bool = False) -> dict[str, Any]:
    """`data` with `edits` applied: what the file will hold, as the reader returns it.

    With `typed`, new values stay as the edits carry them (dates as dates), for the writer.
    """
    value_of: Callable[[Any], Any] = _same if typed else plain
    out: dict[str, Any] = _copy(data)
    for edit in edits:
        *parents, key = edit.path
        holder = out
        for name in parents:
            child = holder.get(name)
            if not isinstance(child, dict):
                child = {}
                holder[name] = child
            holder = child
        current = as_list(holder.get(key))
        if edit.op == "set":
            holder[key] = value_of(edit.value)
        elif edit.op == "unset":
            holder.pop(key, None)
        elif edit.op == "append":
            holder[key] = current + [v for v in value_of(edit.value) if v not in current]
        elif edit.op == "push":
            existing = holder.get(key)
            holder[key] = [*(existing if isinstance(existing, list) else []), value_of(edit.value)]
        elif edit.op == "remove":
            remaining = [v for v in current if v not in value_of(edit.value)]
            if remaining:
                holder[key] = remaining
            else:
                holder.pop(key, None)
        if parents and not holder:
            out.pop(parents[0], None)
    return out


def _same(value: Any) -> Any:
    return value


def _copy(data: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: (_copy(v) if isinstance(v, Mapping) else list(v) if isinstance(v, list) else v)
        for k, v in data.items()
    }


def plain(value: Any) -> Any:
    """A value as the reader returns it: dates as ISO strings, Decimals as strings."""
    if isinstance(value, dt.date):
        return iso(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def new_record(
    rtype: RecordType, config: Config, edits: Sequence[Edit], now: dt.datetime
) -> dict[str, Any]:
    """The content of a new record file, keys in schema order, values typed for the writer."""
    body = apply({}, edits, typed=True)
    if "address" in body:
        body["address"] = {k: body["address"][k] for k in ADDRESS_KEYS if k in body["address"]}
    if "custom" in body:
        declared = list(config.custom_fields(rtype.name))
        rank = {name: i for i, name in enumerate(declared)}  # then undeclared, as they came
        body["custom"] = dict(
            sorted(body["custom"].items(), key=lambda kv: rank.get(kv[0], len(declared)))
        )
    body["created"] = now
    body["updated"] = now
    ordered = {k: body[k] for k in rtype.key_order if k in body}
    # Keys crm has no field for (a web form's `form:`) go before the timestamps.
    extra = {k: v for k, v in body.items() if k not in ordered}
    stamps = {k: ordered.pop(k) for k in ("created", "updated")}
    return {**ordered, **extra, **stamps}


# ---------------------------------------------------------------------------------------------
# Validation


def validate(rec: Record, config: Config) -> list[Issue]:
    """Every problem with one record on its own (references are checked folder-wide)."""
    issues: list[Issue] = []
    data = rec.data
    bad: set[str] = set()  # fields found wrong on their own, not to be judged again below
    for f in rec.type.fields:
        value = data.get(f.name)
        if f.required and (value is None or str(value).strip() == ""):
            issues.append(rec.issue(f.name, "is required"))
            continue
        if f.is_list and isinstance(value, list):
            for i, item in enumerate(value):
                problem = check_value(f, item, config, rec.raw.get(f"{f.name}.{i}"))
                if problem:
                    issues.append(rec.issue(f.name, problem, at=f"{f.name}.{i}"))
            continue
        if f.kind is Kind.ADDRESS and isinstance(value, dict):
            part_field = Field(name="address", kind=Kind.TEXT)
            for part, text in value.items():
                key = f"address.{part}"
                problem = check_value(part_field, text, config, rec.raw.get(key))
                if problem:
                    issues.append(rec.issue(key, problem))
        problem = check_value(f, value, config, rec.raw.get(f.name))
        if problem:
            issues.append(rec.issue(f.name, problem))
            bad.add(f.name)
    custom = data.get("custom")
    if isinstance(custom, dict):
        declared = config.custom_fields(rec.type.name)
        for name, value in custom.items():
            if name in declared:
                raw = rec.raw.get(f"custom.{name}")
                problem = check_value(declared[name].as_field(), value, config, raw)
                if not problem and declared[name].type == "money" and value is not None:
                    problem = _money_problem(value, declared[name].currency or config.currency)
                if problem:
                    issues.append(rec.issue(f"custom.{name}", problem))
    if rec.type.name == "deal":
        issues.extend(_deal_stage_issues(rec, config))
    if "assert" in data:  # its shape; whether the figures hold is checked folder-wide
        from crm import assertions

        issues.extend(assertions.parse(rec, config)[1])
    if isinstance(data.get("lines"), list) and "lines" not in bad:
        issues.extend(_line_issues(rec, config))
    value = data.get("value")
    if rec.type.name == "deal" and value is not None and not bad & {"value", "currency"}:
        currency = data.get("currency") or config.currency
        if isinstance(currency, str):
            problem = _money_problem(value, currency.upper(), negative_ok=False)
            if problem:
                issues.append(rec.issue("value", problem))
    price = data.get("price")
    if rec.type.name == "product" and price is not None and not bad & {"price", "currency"}:
        currency = data.get("currency") or config.currency
        if isinstance(currency, str):
            problem = _money_problem(price, currency.upper())
            if problem:
                issues.append(rec.issue("price", problem))
    return issues


def _line_issues(rec: Record, config: Config) -> list[Issue]:
    """A document's lines computed as they will be: a bad price or rate names its line."""
    from crm import billing

    currency = str(rec.data.get("currency") or config.currency).upper()
    try:
        billing.compute(rec.data["lines"], currency, default_rate=Decimal(0))
    except ValidationError as exc:
        position = exc.message.split(":")[0].removeprefix("line ")
        at = f"lines.{int(position) - 1}" if position.isdigit() else "lines"
        return [rec.issue("lines", exc.message, at=at)]
    return []


def _deal_stage_issues(rec: Record, config: Config) -> list[Issue]:
    name = rec.data.get("pipeline")
    pipeline = config.pipeline(name if isinstance(name, str) else None)
    if pipeline is None or (name is not None and not isinstance(name, str)):
        known = ", ".join(p.name for p in config.pipelines)
        return [rec.issue("pipeline", f"'{name}' is not one of: {known}")]
    stage = rec.data.get("stage")
    if stage is not None and pipeline.stage(stage) is None:
        choices = ", ".join(pipeline.stage_names)
        return [rec.issue("stage", f"'{stage}' is not one of: {choices}")]
    return []


def _money_problem(value: Any, currency: str, *, negative_ok: bool = True) -> str | None:
    try:
        amount = money.parse_amount(str(value))
        money.to_money(amount, currency)
    except ValidationError as exc:
        return exc.message
    if amount < 0 and not negative_ok:
        return f"{amount} is negative; a deal is worth 0 or more"
    return None


Exists = Callable[[str, str], bool]  # (record type, id) -> is there such a record


def _ids(value: Any) -> list[str]:
    """The ids a reference field holds: one (REF) or a list (REFS)."""
    return [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str) and v]


def dangling(rec: Record, exists: Exists) -> list[Issue]:
    """The references of `rec` that name no existing record."""
    issues = []
    data = rec.data
    for f in rec.type.refs():
        held = data.get(f.name)
        if not held:
            continue
        for i, value in enumerate(_ids(held)):
            if f.target and not exists(f.target, value):
                at = f"{f.name}.{i}" if f.kind is Kind.REFS else f.name
                issues.append(
                    rec.issue(f.name, f"no {f.target} '{value}' (dangling reference)", at=at)
                )
    return issues


def unlink_edits(rec: Record, target: Record) -> list[Edit]:
    """The edits that remove every reference `rec` holds to `target`."""
    edits = []
    for f in rec.type.refs():
        if f.target == target.type.name and target.id in _ids(rec.data.get(f.name)):
            if f.kind is Kind.REFS:
                edits.append(Edit("remove", (f.name,), [target.id]))
            else:
                edits.append(Edit("unset", (f.name,)))
    return edits


def email_key(email: str) -> str:
    """An email as compared for duplicates: `Ada@Example.com` and `ada@example.com` are one."""
    return unicodedata.normalize("NFC", email.strip()).casefold()


def email_clash(
    data: Mapping[str, Any], others: Iterable[Record], self_id: str | None
) -> tuple[str, Record] | None:
    """An email of `data` that another record already has, and that record."""
    wanted = {email_key(e) for e in as_list(data.get("emails"))}
    if wanted:
        for other in others:
            if other.id != self_id:
                for email in other.list_of("emails"):
                    if email_key(email) in wanted:
                        return email, other
    return None


def validate_one(
    rec: Record, config: Config, exists: Exists, peers: Iterable[Record]
) -> list[Issue]:
    """What `crm check` says of one record: its values, references, and emails shared with
    `peers` (the other records of its type)."""
    issues = validate(rec, config) + dangling(rec, exists)
    clash = email_clash(rec.data, peers, rec.id)
    if clash is not None:
        issues.append(rec.issue("emails", f"{clash[0]} is also on {clash[1].path}"))
    return issues


def validate_links(everything: Mapping[str, Sequence[Record]]) -> list[Issue]:
    """Dangling references, and an email shared by two records of one type."""
    issues: list[Issue] = []
    known = {name: {r.id for r in recs} for name, recs in everything.items()}

    def exists(rtype: str, rid: str) -> bool:
        return rid in known.get(rtype, set())

    for records in everything.values():
        seen: dict[str, Record] = {}
        systems: dict[tuple[str, str], Record] = {}
        for rec in records:
            issues.extend(dangling(rec, exists))
            for i, email in enumerate(rec.list_of("emails")):
                other = seen.setdefault(email_key(email), rec)
                if other.id != rec.id:
                    issues.append(rec.issue(f"emails.{i}", f"{email} is also on {other.path}"))
            external = rec.data.get("external_ids")
            for system, ext_id in external.items() if isinstance(external, dict) else ():
                other = systems.setdefault((str(system), str(ext_id)), rec)
                if other.id != rec.id:  # a copied file: a re-import would update only one
                    key = f"external_ids.{system}"
                    issues.append(rec.issue(key, f"{ext_id} is also on {other.path}"))
    return issues


def check_id(rtype: RecordType, value: str) -> str:
    """A user-chosen id, if it is a valid one."""
    if not ids.is_valid_id(value):
        raise ValidationError(
            f"'{value}' is not a valid {rtype.name} id",
            hint="lower-case letters, digits and single hyphens, at most 64 characters",
        )
    return value


# ---------------------------------------------------------------------------------------------
# Output


def deal_stage(rec: Record, config: Config) -> tuple[Pipeline | None, Stage | None]:
    """A deal's pipeline and stage as declared in crm.yaml (None where they are unknown)."""
    pipeline = config.pipeline(rec.data.get("pipeline"))
    if pipeline is None:
        return None, None
    stage = rec.data.get("stage")
    return pipeline, pipeline.stage(stage) if stage else pipeline.first_stage


def effective_probability(rec: Record, config: Config) -> int | None:
    """A deal's own probability, else its stage's; a won deal is certain, a lost one is not."""
    stage = deal_stage(rec, config)[1]
    if stage is not None and stage.status != "open":
        return 100 if stage.status == "won" else 0
    own = rec.data.get("probability")
    if isinstance(own, int) and not isinstance(own, bool):
        return own
    return stage.probability if stage else None


def to_json(rec: Record, config: Config) -> dict[str, Any]:
    """The stable JSON form of a record (docs/cli.md): every field present, unknown keys kept."""
    out: dict[str, Any] = {"id": rec.id, "type": rec.type.name}
    for f in rec.type.fields:
        value = rec.data.get(f.name)
        if f.is_list:
            value = rec.list_of(f.name)
        elif f.kind in (Kind.CUSTOM, Kind.EXTERNAL):
            value = value if isinstance(value, dict) else {}
        elif f.kind is Kind.EXTRA:
            value = value if isinstance(value, list) else []
        elif f.kind in (Kind.TEXT, Kind.LONGTEXT, Kind.MONEY, Kind.VAT_ID) and isinstance(
            value, int | float
        ):
            value = str(value)
        out[f.name] = value
    if rec.type.name == "deal":
        pipeline, stage = deal_stage(rec, config)
        out["pipeline"] = pipeline.name if pipeline else out["pipeline"]
        out["stage"] = stage.name if stage and not out["stage"] else out["stage"]
        out["probability"] = effective_probability(rec, config)
        if out["value"] is not None and out["currency"] is None:
            out["currency"] = config.currency
    for f in rec.type.fields:
        if f.kind is Kind.HISTORY:
            out[f.name] = out[f.name] if isinstance(out[f.name], list) else []
    for key, value in rec.data.items():
        if key not in out:
            out[key] = value
    return out
