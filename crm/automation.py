"""Automation: rules in crm.yaml that act on events, and the folder's hooks/ executables.

A rule names an event (a record added, a field changed, a deal entering a stage, a status
changed, or the time-based task_overdue, invoice_overdue and quote_expiring), an optional
condition in the --where language, and actions. Event rules fire inside the transaction of
the command that caused the event, so their changes are written and committed with it (and
shown by --dry-run); what rules change never fires further rules. Time-based rules fire from
`crm rules run`, once per record: the record keeps `fired: {rule: when}`.

Hooks are executables in the folder's hooks/: `pre-<event>` run before anything is written and
may refuse the change; `on-<event>` run after it was written and committed. They run only once
trusted on this machine (`crm hooks trust`), since a folder shared through git could bring in
code nobody here has read.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crm import dates, ids
from crm.errors import (
    ConflictError,
    CrmError,
    NotFoundError,
    RefusedError,
    UsageError,
    ValidationError,
    notice,
)
from crm.models import (
    ACTIVITY_TYPES,
    DERIVED,
    INVOICE_STATUSES,
    LEAD_STATUSES,
    PRIORITIES,
    QUOTE_STATUSES,
    RECORD_TYPES,
    TASK_STATUSES,
    Field,
    Issue,
    Kind,
    RecordType,
)

if TYPE_CHECKING:
    from crm.config import Config
    from crm.records import Record
    from crm.store.repo import Change, Store, Transaction

HOOKS_DIR = "hooks"
TRUST_FILE = "trusted-hooks.json"  # in the user's config folder (trust_path): never shared
HOOK_EVENTS = ("add", "change", "stage", "status", "delete")
HOOK_TIMEOUT = 30.0  # seconds; $CRM_HOOK_TIMEOUT
HOOK_OUTPUT = 64 * 1024  # bytes of a hook's stdout and of its stderr kept (the rest dropped)
DEPTH_ENV = "CRM_HOOK_DEPTH"  # set for each hook: how many hooks deep the crm it runs is
MAX_HOOK_DEPTH = 2  # a crm run by a hook runs hooks; one run by a hook of that runs none
TIMED = {"task_overdue": "task", "invoice_overdue": "invoice", "quote_expiring": "quote"}
EVENTS = ("add", "change", "stage", "status", *TIMED)
ACTIONS = ("task", "set", "tag", "log", "email", "hook")
STATUSES: dict[str, tuple[str, ...]] = {
    "lead": LEAD_STATUSES,
    "task": TASK_STATUSES,
    "quote": QUOTE_STATUSES,
    "invoice": INVOICE_STATUSES,
    "credit_note": ("draft", "issued"),
}
LINKABLE = ("contact", "company", "lead", "deal")  # what tasks and activities link to
_DEFAULT_DAYS = {"task_overdue": 0, "invoice_overdue": 0, "quote_expiring": 3}
_RULE_KEYS = ("name", "event", "on", "type", "field", "stage", "status", "days", "if", "do")
_STAGE_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")
_PLACEHOLDER_RE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)?)\s*\}\}")
_TEMPLATE_MARK_RE = re.compile(r"\{\{|\}\}|\{%|%\}|\{#")
_SPAN_RE = re.compile(r"\s*([0-9]{1,4})\s*([dwmy])\s*")
# Fields whose change is crm's own bookkeeping, not an event.
_BOOKKEEPING = frozenset({"created", "updated", "fired"})
# The field whose new value makes a time-based event come again (a task given a new due date).
_REFERENCE = {"task_overdue": "due", "quote_expiring": "valid_until"}


# -- rules ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    """One thing a rule does: `kind` (task, set, tag, log, email, hook) and its settings."""

    kind: str
    spec: Any  # a mapping (task, set, log, email) or a text (tag, hook)
    key: str  # where it is in crm.yaml: rules.0.do.1

    def describe(self) -> str:
        spec = self.spec
        if self.kind == "task":
            due = f" due {spec['due']}" if spec.get("due") else ""
            return f'task "{spec["title"]}"{due}'
        if self.kind == "set":
            return "set " + ", ".join(f"{k}={_text(v)}" for k, v in spec.items())
        if self.kind == "log":
            return f'log {spec.get("type", "note")} "{spec["text"]}"'
        if self.kind == "email":
            to = f" to {spec['to']}" if spec.get("to") else ""
            return f"email {spec['template']}{to}"
        return f"{self.kind} {spec}"

    def plain(self) -> dict[str, Any]:
        return {self.kind: dict(self.spec) if isinstance(self.spec, Mapping) else self.spec}


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """An automation rule of crm.yaml `rules:`."""

    name: str
    event: str
    types: tuple[str, ...]  # the record types it applies to
    field: str | None = None  # change: the field (None: any)
    value: str | None = None  # stage / status: the one entered (None: any)
    days: int = 0  # time-based: days after due (overdue) or before valid_until (expiring)
    condition: str | None = None
    actions: tuple[Action, ...] = ()
    key: str = ""  # rules.0
    typed: bool = False  # `type:` was given

    @property
    def timed(self) -> bool:
        return self.event in TIMED

    def describe(self) -> str:
        """The event in words: `deal enters stage proposal`."""
        what = " or ".join(self.types) if self.typed or len(self.types) == 1 else "record"
        if self.event == "add":
            return f"{what} added"
        if self.event == "change":
            return f"{what}: {self.field or 'any field'} changed"
        if self.event == "stage":
            return f"deal enters stage {self.value}" if self.value else "deal changes stage"
        if self.event == "status":
            return f"{what} status becomes {self.value}" if self.value else f"{what} status changes"
        if self.event == "task_overdue":
            return "task overdue" + (f" by {self.days} days" if self.days else "")
        if self.event == "invoice_overdue":
            return "invoice overdue" + (f" by {self.days} days" if self.days else "")
        return f"quote expiring within {self.days} days"

    def plain(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "event": self.event,
            "type": list(self.types),
            "field": self.field,
            "stage": self.value if self.event == "stage" else None,
            "status": self.value if self.event == "status" else None,
            "days": self.days if self.timed else None,
            "if": self.condition,
            "do": [a.plain() for a in self.actions],
            "description": self.describe(),
        }


def parse_rules(raw: Any, problem: Any) -> tuple[Rule, ...]:
    """crm.yaml `rules:`; each problem reported through `problem(key, message)`."""
    if not isinstance(raw, list):
        problem("rules", "must be a list of rules (name, event, if, do)")
        return ()
    rules: list[Rule] = []
    names: set[str] = set()
    for i, item in enumerate(raw):
        key = f"rules.{i}"
        report: list[tuple[str, str]] = []

        def found(where: str, message: str, report: list[tuple[str, str]] = report) -> None:
            report.append((where, message))

        rule = _parse_rule(item, key, found)
        for k, message in report:
            problem(k, message)
        if rule is None or report:
            continue
        if rule.name in names:
            problem(f"{key}.name", f"another rule is called '{rule.name}'; names are unique")
            continue
        names.add(rule.name)
        rules.append(rule)
    return tuple(rules)


def _parse_rule(item: Any, key: str, problem: Callable[[str, str], None]) -> Rule | None:
    if not isinstance(item, dict):
        problem(key, "a rule is a mapping with name, event, if (optional) and do")
        return None
    for unknown in item:
        if unknown not in _RULE_KEYS:
            problem(f"{key}.{unknown}", f"unknown key; a rule has {', '.join(_RULE_KEYS[:-1])}, do")
    name = item.get("name")
    if not isinstance(name, str) or not ids.is_valid_id(name):
        problem(
            f"{key}.name" if "name" in item else key,
            "a rule needs a name: lower-case letters, digits and hyphens (it keys `fired:`)",
        )
        return None
    if "event" in item and "on" in item:
        problem(f"{key}.on", 'give the event once: event: (or "on":)')
    event_key = f"{key}.event" if "event" in item else f"{key}.on"
    event = item.get("event", item.get("on"))
    if event not in EVENTS:
        problem(event_key, f"'{event}' is not an event; one of: {', '.join(EVENTS)}")
        return None
    types = _rule_types(item, key, event, problem)
    if types is None:
        return None
    field_name = _rule_field(item, key, event, types, problem)
    value = _rule_value(item, key, event, types, problem)
    days = _DEFAULT_DAYS.get(event, 0)
    if "days" in item:
        raw_days = item["days"]
        if event not in TIMED:
            problem(f"{key}.days", f"only time-based events take days ({', '.join(TIMED)})")
        elif isinstance(raw_days, bool) or not isinstance(raw_days, int) or raw_days < 0:
            problem(f"{key}.days", f"'{raw_days}' is not a whole number of days")
        else:
            days = raw_days
    condition = item.get("if")
    if condition is not None:
        if not isinstance(condition, str) or not condition.strip():
            problem(f"{key}.if", "must be a filter, as for --where (quote it)")
            condition = None
        else:
            message = condition_problem(condition, types, None)
            if message:
                problem(f"{key}.if", message)
    actions = _parse_actions(item.get("do"), f"{key}.do", types, problem)
    return Rule(
        name=name,
        event=event,
        types=types,
        field=field_name,
        value=value,
        days=days,
        condition=condition,
        actions=actions,
        key=key,
        typed="type" in item,
    )


def _rule_types(
    item: dict[str, Any], key: str, event: str, problem: Callable[[str, str], None]
) -> tuple[str, ...] | None:
    fixed = {"stage": "deal", **TIMED}.get(event)
    raw = item.get("type")
    if raw is None:
        if fixed:
            return (fixed,)
        if event == "status":
            return tuple(STATUSES)
        return tuple(RECORD_TYPES)
    from crm.models import record_type

    names = []
    for one in raw if isinstance(raw, list) else [raw]:
        try:
            names.append(record_type(str(one)).name)
        except KeyError:
            known = ", ".join(RECORD_TYPES)
            problem(f"{key}.type", f"'{one}' is not a record type; one of {known}")
            return None
    if fixed and names != [fixed]:
        problem(f"{key}.type", f"{event} is an event of {fixed} records")
        return None
    if event == "status":
        without = [n for n in names if n not in STATUSES]
        if without:
            problem(f"{key}.type", f"{without[0]} records have no status; {', '.join(STATUSES)} do")
            return None
    return tuple(dict.fromkeys(names))


def _rule_field(
    item: dict[str, Any],
    key: str,
    event: str,
    types: tuple[str, ...],
    problem: Callable[[str, str], None],
) -> str | None:
    raw = item.get("field")
    if raw is None:
        return None
    if event != "change":
        problem(f"{key}.field", "only the change event takes field:")
        return None
    text = str(raw)
    head, dot, rest = text.partition(".")
    if head == "custom" and rest:
        return text
    found = {RECORD_TYPES[t].field(head) for t in types} - {None}
    if not found:
        problem(
            f"{key}.field",
            f"no field '{text}' on {' or '.join(types) if len(types) < 4 else 'records'} "
            "(custom fields are custom.NAME)",
        )
        return None
    canonical = next(iter(found))
    assert canonical is not None
    return canonical.name + (dot + rest if rest else "")


def _rule_value(
    item: dict[str, Any],
    key: str,
    event: str,
    types: tuple[str, ...],
    problem: Callable[[str, str], None],
) -> str | None:
    for name in ("stage", "status"):
        if name in item and event != name:
            problem(f"{key}.{name}", f"only the {name} event takes {name}:")
    if event == "stage" and item.get("stage") is not None:
        stage = str(item["stage"])
        if not _STAGE_RE.fullmatch(stage):
            problem(f"{key}.stage", f"'{stage}' is not a stage name")
            return None
        return stage
    if event == "status" and item.get("status") is not None:
        status = str(item["status"])
        known = sorted({s for t in types for s in STATUSES[t]})
        if status not in known:
            problem(f"{key}.status", f"'{status}' is not one of: {', '.join(known)}")
            return None
        return status
    return None


def condition_problem(text: str, types: Sequence[str], config: Config | None) -> str | None:
    """Why the filter `text` cannot be read for records of `types` (None: it can).

    Without `config` (while crm.yaml itself is read) custom fields are not known yet: rules
    name them `custom.NAME`, which every record may hold."""
    from crm.config import Config
    from crm.query import parse_where

    for name in types:
        try:
            parse_where(text, RECORD_TYPES[name], config or Config())
        except UsageError as exc:
            message = exc.message.removeprefix("--where: ")
            if "has no field" in message:
                if len(types) > 1:
                    message += " (give the rule a type:)"
                elif config is None:
                    message += " (custom fields are custom.NAME in rules)"
            return message
    return None


def _parse_actions(
    raw: Any, key: str, types: tuple[str, ...], problem: Callable[[str, str], None]
) -> tuple[Action, ...]:
    if not isinstance(raw, list) or not raw:
        problem(key, f"a rule needs do: a list of actions ({', '.join(ACTIONS)})")
        return ()
    actions = []
    for i, item in enumerate(raw):
        at = f"{key}.{i}"
        if not isinstance(item, dict) or len(item) != 1:
            problem(at, f"an action is one of {', '.join(ACTIONS)}, e.g. `- tag: vip`")
            continue
        kind, spec = next(iter(item.items()))
        if kind not in ACTIONS:
            problem(f"{at}.{kind}", f"unknown action; one of {', '.join(ACTIONS)}")
            continue
        checked = _ACTION_PARSERS[kind](spec, f"{at}.{kind}", types, problem)
        if checked is not None:
            actions.append(Action(kind=kind, spec=checked, key=f"{at}.{kind}"))
    return tuple(actions)


def _texts(
    spec: dict[str, Any],
    names: Sequence[str],
    key: str,
    types: Sequence[str],
    problem: Callable[[str, str], None],
) -> bool:
    """Whether the text settings `names` of an action are text with valid placeholders."""
    ok = True
    for name in names:
        value = spec.get(name)
        if value is None:
            continue
        values = value if isinstance(value, list) and name in ("tags", "for") else [value]
        for one in values:
            if isinstance(one, dict | list) or one is None:
                problem(f"{key}.{name}", "must be text")
                ok = False
                continue
            message = placeholder_problem(_text(one), types)
            if message:
                problem(f"{key}.{name}", message)
                ok = False
    return ok


def _mapping(
    spec: Any, key: str, main: str, allowed: Sequence[str], problem: Callable[[str, str], None]
) -> dict[str, Any] | None:
    """An action's settings: a mapping of `allowed` keys, or a text that is its `main` one."""
    if isinstance(spec, str | int | float) and not isinstance(spec, bool):
        spec = {main: str(spec)}
    if not isinstance(spec, dict):
        problem(key, f"must be a mapping ({', '.join(allowed)})")
        return None
    for unknown in spec:
        if unknown not in allowed:
            problem(f"{key}.{unknown}", f"unknown setting; one of {', '.join(allowed)}")
            return None
    if spec.get(main) in (None, ""):
        problem(key, f"needs {main}:")
        return None
    return dict(spec)


def _parse_task(
    spec: Any, key: str, types: tuple[str, ...], problem: Callable[[str, str], None]
) -> dict[str, Any] | None:
    task = _mapping(
        spec, key, "title", ("title", "due", "priority", "for", "tags", "notes"), problem
    )
    if task is None or not _texts(task, ("title", "tags", "notes"), key, types, problem):
        return None
    if task.get("due") is not None:
        due = _text(task["due"])
        try:
            if not _SPAN_RE.fullmatch(due.lstrip("+")):  # a span: valid, and no dateutil to import
                due_after(due, dt.datetime.now(dt.UTC))
        except ValidationError as exc:
            problem(f"{key}.due", f"{exc.message} ({exc.hint})" if exc.hint else exc.message)
            return None
        task["due"] = due
    if task.get("priority") is not None and task["priority"] not in PRIORITIES:
        problem(f"{key}.priority", f"'{task['priority']}' is not one of: {', '.join(PRIORITIES)}")
        return None
    targets = task.get("for", "record")
    targets = [str(t) for t in (targets if isinstance(targets, list) else [targets])]
    for target in targets:
        if target == "record":
            continue
        found = [RECORD_TYPES[t].field(target) for t in types]
        if not any(f is not None and f.kind in (Kind.REF, Kind.REFS) for f in found):
            problem(
                f"{key}.for",
                f"'{target}' is not a reference field of {' or '.join(types[:3])}; "
                "for: is `record` or fields such as company, contact, deal",
            )
            return None
    task["for"] = targets
    return task


def _parse_set(
    spec: Any, key: str, types: tuple[str, ...], problem: Callable[[str, str], None]
) -> dict[str, Any] | None:
    from crm.config import Config
    from crm.records import target

    if not isinstance(spec, dict) or not spec:
        problem(key, "must map fields to values, e.g. {priority: high}")
        return None
    out: dict[str, Any] = {}
    for name, value in spec.items():
        text_name = str(name)
        if not text_name.startswith("custom."):
            for rtype in types:
                try:
                    target(RECORD_TYPES[rtype], Config(), text_name)
                except UsageError as exc:
                    problem(f"{key}.{text_name}", f"{exc.message} (custom fields are custom.NAME)")
                    return None
        if isinstance(value, dict):
            problem(f"{key}.{text_name}", "must be a value or a list of values")
            return None
        values = value if isinstance(value, list) else [value]
        for one in values:
            message = placeholder_problem(_text(one), types)
            if message:
                problem(f"{key}.{text_name}", message)
                return None
        out[text_name] = [_text(v) for v in value] if isinstance(value, list) else _text(value)
    return out


def _parse_tag(
    spec: Any, key: str, types: tuple[str, ...], problem: Callable[[str, str], None]
) -> str | None:
    from crm.config import Config
    from crm.validate import parse_input

    if not isinstance(spec, str | int) or isinstance(spec, bool):
        problem(key, "must be a tag, e.g. `tag: overdue`")
        return None
    try:
        tag = parse_input(Field(name="tag", kind=Kind.TAGS), str(spec), Config())
    except ValidationError as exc:
        problem(key, exc.message)
        return None
    if not isinstance(tag, str):
        problem(key, "must be a tag, e.g. `tag: overdue`")
        return None
    return tag


def _parse_log(
    spec: Any, key: str, types: tuple[str, ...], problem: Callable[[str, str], None]
) -> dict[str, Any] | None:
    entry = _mapping(spec, key, "text", ("type", "text"), problem)
    if entry is None or not _texts(entry, ("text",), key, types, problem):
        return None
    entry["type"] = str(entry.get("type") or "note")
    if entry["type"] not in ACTIVITY_TYPES:
        problem(f"{key}.type", f"'{entry['type']}' is not one of: {', '.join(ACTIVITY_TYPES)}")
        return None
    entry["text"] = _text(entry["text"])
    return entry


def _parse_email(
    spec: Any, key: str, types: tuple[str, ...], problem: Callable[[str, str], None]
) -> dict[str, Any] | None:
    mail = _mapping(spec, key, "template", ("template", "to", "cc", "attach"), problem)
    if mail is None or not _texts(mail, ("to", "cc"), key, types, problem):
        return None
    template = str(mail["template"])
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", template):
        problem(f"{key}.template", f"'{template}' is not a template name (e.g. overdue-notice)")
        return None
    mail["template"] = template
    if "attach" in mail and not isinstance(mail["attach"], bool):
        problem(f"{key}.attach", "is true (attach the record's document) or false")
        return None
    for name in ("to", "cc"):
        if mail.get(name) is not None:
            mail[name] = _text(mail[name])
    return mail


def _parse_hook(
    spec: Any, key: str, types: tuple[str, ...], problem: Callable[[str, str], None]
) -> str | None:
    if not isinstance(spec, str) or not ids.is_valid_id(spec):
        problem(key, "must name an executable in hooks/: lower-case letters, digits, hyphens")
        return None
    return spec


_ACTION_PARSERS: dict[str, Callable[..., Any]] = {
    "task": _parse_task,
    "set": _parse_set,
    "tag": _parse_tag,
    "log": _parse_log,
    "email": _parse_email,
    "hook": _parse_hook,
}


def problems(
    config: Config, lines: Mapping[str, int] | None = None, root: Path | None = None
) -> list[Issue]:
    """What only the whole of crm.yaml tells about its rules: conditions naming custom fields
    it does not declare, stages no pipeline has, email actions without `mail:` or for records
    that keep no document to attach (at their line in crm.yaml, from `lines`); and with the
    folder's `root`, what would fail when a rule fires: an email template neither the folder's
    templates/ nor crm has, a `hook:` that is not in hooks/."""
    from crm.config import CONFIG_FILE
    from crm.models import line_of

    def at(key: str) -> int | None:
        return line_of(lines, key) if lines else None

    def issue(key: str, message: str) -> None:
        out.append(Issue(CONFIG_FILE, at(key), f"{key}: {message}"))

    out: list[Issue] = []
    stages = {s for p in config.pipelines for s in p.stage_names}
    for rule in config.automation:
        if rule.event == "stage" and rule.value and rule.value not in stages:
            issue(f"{rule.key}.stage", f"no pipeline has a stage '{rule.value}'")
        if rule.condition:
            message = condition_problem(rule.condition, rule.types, config)
            if message:
                issue(f"{rule.key}.if", message)
        for action in rule.actions:
            if action.kind == "email":
                _email_problems(action, rule, config, root, issue)
            elif action.kind == "hook" and root is not None:
                path = root / HOOKS_DIR / str(action.spec)
                if not path.is_file():
                    issue(action.key, f"no {HOOKS_DIR}/{action.spec} to run")
                elif not os.access(path, os.X_OK):
                    issue(action.key, f"{HOOKS_DIR}/{action.spec} is not executable (chmod +x it)")
    return out


def _email_problems(
    action: Action,
    rule: Rule,
    config: Config,
    root: Path | None,
    issue: Callable[[str, str], None],
) -> None:
    if config.mail is None:
        issue(action.key, "sends email, but crm.yaml has no `mail:` (docs/email.md)")
    if action.spec.get("attach") and not {"invoice", "credit_note"} & set(rule.types):
        kinds = " or ".join(rule.types) if len(rule.types) < 4 else "these"
        issue(
            f"{action.key}.attach",
            f"{kinds} records keep no document to attach (issued invoices and credit notes do)",
        )
    if root is None:
        return
    name = str(action.spec["template"])
    packaged = Path(__file__).resolve().parent / "templates"
    for part in ("subject", "txt"):
        file = f"{name}.{part}.j2"
        if not (root / "templates" / file).is_file() and not (packaged / file).is_file():
            issue(f"{action.key}.template", f"no template {file} in templates/ (nor built in)")


# -- placeholders and dates -------------------------------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(_text(v) for v in value.values() if v not in (None, ""))
    return str(value)


def placeholder_problem(text: str, types: Sequence[str]) -> str | None:
    """Why `text` is not text with `{{ field }}` placeholders of records of `types`."""
    rest = _PLACEHOLDER_RE.sub("", text)
    if _TEMPLATE_MARK_RE.search(rest):
        return "placeholders are {{ field }} (a field of the record, custom.NAME, id, today)"
    for match in _PLACEHOLDER_RE.finditer(text):
        name = match.group(1)
        if not any(_knows(RECORD_TYPES[t], name) for t in types):
            return f"{{{{ {name} }}}}: no such field (custom fields are custom.NAME)"
    return None


def _knows(rtype: RecordType, name: str) -> bool:
    head, _, rest = name.partition(".")
    if name in ("id", "type", "today", "rule") or name in DERIVED.get(rtype.name, ()):
        return True
    if head == "custom":
        return bool(rest)
    found = rtype.field(head)
    if found is None:
        return False
    return not rest or found.kind is Kind.ADDRESS


def fill(text: str, values: Mapping[str, Any]) -> str:
    """`text` with each `{{ field }}` replaced by the value in `values` (a record's JSON):
    plain lookups in mappings, nothing that could reach code."""

    def value_of(match: re.Match[str]) -> str:
        found: Any = values
        for part in match.group(1).split("."):
            found = found.get(part) if isinstance(found, Mapping) else None
        return _text(found)

    return _PLACEHOLDER_RE.sub(value_of, text)


def due_after(text: str, now: dt.datetime) -> dt.date | dt.datetime:
    """A task's due date from a rule: `3d`, `1w` and `2m` count from `now`, as do +3d,
    tomorrow, friday; a date stays itself."""
    from crm.when import parse_when

    match = _SPAN_RE.fullmatch(text)
    return parse_when(f"+{match.group(1)}{match.group(2)}" if match else text, now)


# -- events -----------------------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class Event:
    """A record added, changed (maybe entering a stage or status) or removed by a transaction."""

    kind: str  # add, change, stage, status, delete
    rtype: RecordType
    id: str
    path: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    changed: tuple[str, ...] = ()
    value: str | None = None  # the stage or status entered
    previous: str | None = None  # the one left
    rule: str | None = None  # the rule whose action made the change

    def record(self, *, before: bool = False) -> Record:
        from crm.records import Record

        data = self.before if before else self.after
        return Record(type=self.rtype, id=self.id, data=dict(data or {}), path=self.path)

    def payload(self, config: Config, *, dry_run: bool = False) -> dict[str, Any]:
        """The JSON a hook reads on stdin."""
        from crm.records import to_json

        out: dict[str, Any] = {
            "event": self.kind,
            "type": self.rtype.name,
            "id": self.id,
            "path": self.path,
            "record": to_json(self.record(), config) if self.after is not None else None,
            "before": to_json(self.record(before=True), config)
            if self.before is not None
            else None,
            "changed": list(self.changed),
        }
        if self.kind in ("stage", "status"):
            out[self.kind] = self.value
            out["from"] = self.previous
        out["rule"] = self.rule
        out["dry_run"] = dry_run
        return out


def record_events(changes: Iterable[Change]) -> list[Event]:
    """The events in a transaction's changes: one per record file added, changed or removed,
    and for a change of stage or status (a record added in one enters it) one more."""
    from crm.store import yamlio

    events: list[Event] = []
    for change in changes:
        folder, _, name = change.path.rpartition("/")
        rtype = next((t for t in RECORD_TYPES.values() if t.plural == folder), None)
        if rtype is None or not name.endswith(".yaml") or name.startswith("."):
            continue
        rid = name.removesuffix(".yaml")
        before = _data(yamlio, change.before, change.path)
        after = _data(yamlio, change.after, change.path)
        unreadable = (change.before is not None and before is None) or (
            change.after is not None and after is None
        )
        if unreadable:
            continue  # not a record (yet): `crm check` reports it
        common: dict[str, Any] = {
            "rtype": rtype,
            "id": rid,
            "path": change.path,
            "before": before,
            "after": after,
        }
        if after is None:
            events.append(Event(kind="delete", changed=tuple(before or ()), **common))
            continue
        changed = _changed(before or {}, after)
        if before is None:
            events.append(Event(kind="add", changed=changed, **common))
        elif changed:
            events.append(Event(kind="change", changed=changed, **common))
        else:
            continue
        kinds = (
            ("stage",) if rtype.name == "deal" else ("status",) if rtype.name in STATUSES else ()
        )
        for kind in kinds:
            old = (before or {}).get(kind)
            new = after.get(kind)
            if new is not None and new != old:
                events.append(
                    Event(
                        kind=kind,
                        changed=changed,
                        value=str(new),
                        previous=None if old is None else str(old),
                        **common,
                    )
                )
    return events


def _data(yamlio: Any, text: str | None, path: str) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        data = yamlio.parse(text, path).data
    except CrmError:
        return None
    if data is None:
        return {}
    return data if isinstance(data, dict) else None


def _changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[str, ...]:
    """The fields that differ, crm's bookkeeping left out; `custom.size` for a custom field."""
    out: list[str] = []
    for key in dict.fromkeys([*before, *after]):
        if key in _BOOKKEEPING or before.get(key) == after.get(key):
            continue
        out.append(key)
        old, new = before.get(key), after.get(key)
        if isinstance(old, dict) or isinstance(new, dict):
            old = old if isinstance(old, dict) else {}
            new = new if isinstance(new, dict) else {}
            out.extend(
                f"{key}.{k}" for k in dict.fromkeys([*old, *new]) if old.get(k) != new.get(k)
            )
    return tuple(out)


def _matches(rule: Rule, event: Event) -> bool:
    """Whether `event` is the one `rule` waits for (its condition aside)."""
    if rule.timed or event.rtype.name not in rule.types:
        return False
    if rule.event == "add":
        return event.kind == "add"
    if rule.event == "change":
        return event.kind == "change" and (rule.field is None or rule.field in event.changed)
    if rule.event in ("stage", "status"):
        return event.kind == rule.event and (rule.value is None or rule.value == event.value)
    return False


# -- the state of a transaction ---------------------------------------------------------------


class _Work:
    """Rules acting inside one transaction: the records as staged so far, and the changes."""

    def __init__(self, tx: Transaction, now: dt.datetime) -> None:
        self.tx = tx
        self.store: Store = tx.store
        self.config: Config = tx.store.settings()
        self.now = now  # what due dates count from and derived fields are as of
        self.today = dates.local_date(now)
        self.made: dict[str, str] = {}  # path of a record a rule created -> the rule
        self.staged = False  # whether a rule staged a change
        self.pending: list[Pending] = []
        self.failures: list[Firing] = []  # time-based firings that failed
        self._credits: list[Record] | None = None

    def _staged(self, rtype: RecordType, rid: str) -> Change | None:
        return self.tx.change_of(rtype, rid)

    def exists(self, rtype: RecordType, rid: str) -> bool:
        staged = self._staged(rtype, rid)
        if staged is not None:
            return staged.after is not None
        return self.store.exists(rtype, rid)

    def current(self, rtype: RecordType, rid: str) -> Record:
        """The record as this transaction has it (staged changes included)."""
        from crm.records import Record
        from crm.store import yamlio

        staged = self._staged(rtype, rid)
        if staged is None:
            return self.store.read(rtype, rid)
        if staged.after is None:
            raise NotFoundError(f"no {rtype.name} '{rid}'")
        loaded = yamlio.parse(staged.after, staged.path)
        data = loaded.data if isinstance(loaded.data, dict) else {}
        return Record(
            type=rtype, id=rid, data=data, path=staged.path, lines=loaded.lines, raw=loaded.raw
        )

    def resolve(self, target: str, ref: str) -> str:
        from crm.records import resolve

        rtype = RECORD_TYPES[target]
        wanted = ref.strip().lower()
        if ids.is_valid_id(wanted) and self.exists(rtype, wanted):
            return wanted
        return resolve(rtype, self.store.scan(rtype).records, ref).id

    def credits(self) -> list[Record]:
        if self._credits is None:
            self._credits = self.store.scan(RECORD_TYPES["credit_note"]).records
        return self._credits

    def obj(self, rec: Record) -> dict[str, Any]:
        """The record's JSON with its derived fields, as filters and placeholders see it."""
        from crm.views import objects

        credits = self.credits() if rec.type.name == "invoice" else []
        return objects([rec], self.config, self.now, credits)[0]

    def address(self, rec: Record) -> tuple[str, str]:
        """Who an email about `rec` goes to by default, (name, address): the record itself
        when it has an email, else its contact, else its company."""
        people = ("contact", "lead")  # a company's name is not a person's to greet
        if rec.list_of("emails") and rec.type.name in (*people, "company"):
            return rec.title if rec.type.name in people else "", rec.list_of("emails")[0]
        for name in ("contact", "company"):
            ref = rec.data.get(name)
            f = rec.type.field(name)
            if f is None or f.kind is not Kind.REF or f.target is None:
                continue
            if not isinstance(ref, str) or not ids.is_valid_id(ref):
                continue
            try:
                other = self.current(RECORD_TYPES[f.target], ref)
            except CrmError:
                continue
            if other.list_of("emails"):
                return other.title if other.type.name in people else "", other.list_of("emails")[0]
        return "", ""


def noon(day: dt.date) -> dt.datetime:
    """Noon of `day` where the user is: a moment that is on that day in every reading."""
    return dt.datetime.combine(day, dt.time(12), tzinfo=dates.local_zone())


@dataclass(frozen=True, slots=True, kw_only=True)
class Pending:
    """An action with effects outside the folder (email, hook), run once the change is written."""

    rule: Rule
    action: Action
    event: str
    rtype: RecordType
    id: str
    path: str
    obj: dict[str, Any]  # the record's JSON, with its derived fields
    extra: dict[str, Any] = field(default_factory=dict)  # today, rule; an email's seller...
    to: str = ""  # where an email goes by default: the record's address, or its contact's


def _condition_holds(rule: Rule, rtype: RecordType, obj: Mapping[str, Any], config: Config) -> bool:
    if not rule.condition:
        return True
    from crm.query import parse_where

    try:
        predicate = parse_where(rule.condition, rtype, config)
    except UsageError as exc:
        raise UsageError(
            f"crm.yaml: {rule.key}.if: {exc.message.removeprefix('--where: ')}"
        ) from exc
    return predicate(obj)


def _act(work: _Work, rule: Rule, action: Action, rec: Record, event: str) -> str:
    """Carry out one action of `rule` on `rec` in the transaction; what it did, in words.
    Email and hooks are kept for later (`Pending`)."""
    from crm.ids import slugify
    from crm.records import apply, new_record, plan

    config = work.config
    tx = work.tx
    obj = work.obj(rec)
    extra: dict[str, Any] = {"today": work.today.isoformat(), "rule": rule.name}
    values = {**obj, **extra}
    kind = action.kind
    spec = action.spec
    if kind in ("email", "hook"):
        to = ""
        if kind == "email":
            from crm.documents import seller

            name, to = work.address(rec)
            extra |= {
                "record": obj,
                "seller": seller(config),
                "recipient": {"name": name, "email": to},
                "locale": config.billing.locale,
                "currency": obj.get("currency") or config.currency,
            }
        pending = Pending(
            rule=rule,
            action=action,
            event=event,
            rtype=rec.type,
            id=rec.id,
            path=rec.path,
            obj=obj,
            extra=extra,
            to=to,
        )
        work.pending.append(pending)
        return action.describe()
    if kind in ("task", "log"):
        rtype = RECORD_TYPES["task" if kind == "task" else "activity"]
        assignments: list[tuple[str, str, Any]] = []
        links = _links(rec, spec.get("for", ["record"]) if kind == "task" else ["record"])
        assignments.extend((plural, "=", found) for plural, found in links.items())
        if kind == "task":
            title = " ".join(fill(spec["title"], values).split())  # one line, whatever it names
            assignments.append(("title", "=", title))
            if spec.get("due"):
                assignments.append(
                    ("due", "=", dates.iso(due_after(fill(spec["due"], values), work.now)))
                )
            for name in ("priority", "notes"):
                if spec.get(name):
                    assignments.append((name, "=", fill(str(spec[name]), values)))
            if spec.get("tags"):
                tags = spec["tags"] if isinstance(spec["tags"], list) else [spec["tags"]]
                assignments.append(("tags", "=", [fill(str(t), values) for t in tags]))
            base = slugify(title, fallback="task")
        else:
            title = fill(spec["text"], values)
            at = dates.iso(tx.now)
            assignments += [("type", "=", spec["type"]), ("at", "=", at), ("text", "=", title)]
            day = dates.local_date(tx.now).isoformat()
            base = slugify(f"{day}-{spec['type']}-{rec.title}", fallback="activity")
        edits = plan(rtype, config, {}, assignments, (), work.resolve, tx.now)
        body = new_record(rtype, config, edits, tx.now)
        rid = tx.create(rtype, body, base=base)
        work.staged = True
        work.made[f"{rtype.plural}/{rid}.yaml"] = rule.name
        return f"{kind} {rid}" + (f' "{title}"' if kind == "task" else "")
    if kind == "set":
        assignments = [
            (
                name,
                "=",
                [fill(v, values) for v in value]
                if isinstance(value, list)
                else fill(value, values),
            )
            for name, value in spec.items()
        ]
    else:  # tag
        assignments = [("tags", "+=", [fill(spec, values)])]
    edits = plan(rec.type, config, rec.data, assignments, (), work.resolve, tx.now)
    after = apply(rec.data, edits)
    from crm.invoicing import frozen_problem

    frozen = frozen_problem(rec, after)
    if frozen:
        raise ConflictError(frozen)
    work.staged = _update(tx, rec, edits) or work.staged
    return action.describe()


def _update(tx: Transaction, rec: Record, edits: Sequence[Any]) -> bool:
    """Stage `edits` to `rec`, as `tx.update` does. A record this same transaction creates
    (an import's) is written from its own text with only the changed keys written anew: the
    comment-keeping editor's round trip is for files someone wrote, and would double the time
    an import with rules takes."""
    from crm.records import Edit, apply

    if apply(rec.data, edits) == rec.data:
        return False
    change = tx.change_of(rec.type, rec.id)
    if change is not None and change.before is None and change.after is not None:
        text = _spliced(change.after, rec, [*edits, Edit("set", ("updated",), tx.now)])
        if text is not None:
            tx.write_text(rec.type, rec.id, text)
            return True
    return tx.update(rec, edits)


def _spliced(text: str, rec: Record, edits: Sequence[Any]) -> str | None:
    """`text` (a new record's, as crm wrote it) with `edits`, each top-level key they change
    written anew and every other line kept; None when that cannot be done safely (comments,
    a value partly kept whose form the data alone does not tell), for the editor to do."""
    from crm.models import LIST_KINDS
    from crm.records import apply
    from crm.store import yamlio

    if "#" in text or not text.endswith("\n"):
        return None
    after = apply(rec.data, edits)
    typed = apply(rec.data, edits, typed=True)
    whole = {e.path[0] for e in edits if e.op == "set" and len(e.path) == 1}
    changed = [k for k in dict.fromkeys([*rec.data, *after]) if rec.data.get(k) != after.get(k)]
    for key in changed:
        kept_part = key in rec.data and key in after and key not in whole
        f = rec.type.field(key)
        if kept_part and (f is None or f.kind not in LIST_KINDS):
            return None  # e.g. a list of dated entries: its dates are text in `rec.data`
    starts = sorted((rec.lines.get(key, 0), key) for key in rec.data)
    if len(starts) != len(rec.data) or (starts and starts[0][0] != 1):
        return None
    lines = text.splitlines(keepends=True)
    blocks: dict[str, str] = {}
    for i, (line, key) in enumerate(starts):
        end = starts[i + 1][0] - 1 if i + 1 < len(starts) else len(lines)
        blocks[key] = "".join(lines[line - 1 : end])
    order = [key for _, key in starts if key in after]
    rank = _ranks(rec.type)
    for key in after:
        if key not in rec.data:
            later = [i for i, k in enumerate(order) if rank(k) > rank(key)]
            order.insert(later[0] if later else len(order), key)
    out = "".join(_block(key, typed[key]) if key in changed else blocks[key] for key in order)
    try:
        same = yamlio.parse(out, rec.path).data == after
    except CrmError:
        same = False
    return out if same else None


def _block(key: str, value: Any) -> str:
    """The lines of one top-level key as a new record has them; the same tags on every
    record of an import are written once."""
    from crm.store import yamlio

    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return _list_block(key, tuple(value))
    return yamlio.dump_new({key: value})


@functools.lru_cache(maxsize=512)
def _list_block(key: str, value: tuple[str, ...]) -> str:
    from crm.store import yamlio

    return yamlio.dump_new({key: list(value)})


def _ranks(rtype: RecordType) -> Callable[[str], int]:
    """Where a key goes in a new record: schema order, keys crm has no field for after, the
    timestamps last (as crm.records.new_record orders them)."""
    order = {name: i for i, name in enumerate(rtype.key_order)}
    stamps = {"created": len(order) + 1, "updated": len(order) + 2}

    def rank(key: str) -> int:
        return stamps.get(key, order.get(key, len(order)))

    return rank


def _links(rec: Record, targets: Sequence[str]) -> dict[str, list[str]]:
    """What a task or an activity made for `rec` links to: the record itself when tasks can
    link to it, else the contact, company and deal it names; or the fields `targets` names."""
    out: dict[str, list[str]] = {}

    def add(type_name: str, rid: Any) -> None:
        if type_name in LINKABLE and isinstance(rid, str) and ids.is_valid_id(rid):
            plural = RECORD_TYPES[type_name].plural
            if rid not in out.setdefault(plural, []):
                out[plural].append(rid)

    for target in targets:
        if target == "record" and rec.type.name in LINKABLE:
            add(rec.type.name, rec.id)
            continue
        names = (
            [target]
            if target != "record"
            else ["company", "contact", "deal", "contacts", "companies", "leads", "deals"]
        )
        for name in names:
            found = rec.type.field(name)
            if found is None or found.kind not in (Kind.REF, Kind.REFS) or found.target is None:
                continue
            value = rec.data.get(found.name)
            for rid in value if isinstance(value, list) else [value]:
                add(found.target, rid)
    return out


def _fire(work: _Work, rule: Rule, rec: Record, event: str) -> list[str]:
    """Every action of `rule` on `rec`, each on the record as the one before left it."""
    done = []
    for action in rule.actions:
        current = work.current(rec.type, rec.id)
        try:
            done.append(_act(work, rule, action, current, event))
        except CrmError as exc:
            raise _named(rule, exc) from exc
    return done


def _named(rule: Rule, exc: CrmError) -> CrmError:
    """`exc` saying which rule it comes from (a DataError names its file already)."""
    if type(exc).__init__ is not CrmError.__init__:
        return exc
    return type(exc)(f"rule {rule.name}: {exc.message}", hint=exc.hint)


# -- the transaction's side: event rules and hooks --------------------------------------------


def before_write(tx: Transaction) -> None:
    """Fire the event rules on what `tx` changes (staging their changes in it), then run the
    pre- hooks, which may refuse the change. Called with the lock held, before anything is
    written; in a dry run the rules fire and no hook runs."""
    config = tx.store.settings()
    root = tx.store.root
    hooks = (root / HOOKS_DIR).is_dir()
    rules = config.automation if tx.rules else ()
    if not hooks and not any(not r.timed or r.event in _REFERENCE for r in rules):
        return  # nothing to look at: no event rules, no hooks
    events = record_events(tx.changes)
    work = _Work(tx, tx.now)
    if rules:
        _refresh_fired(work, events)
        for event in events:  # the events of the command's own changes: rules never cascade
            for rule in rules:
                if not _matches(rule, event):
                    continue
                rec = work.current(event.rtype, event.id)
                if _condition_holds(rule, rec.type, work.obj(rec), config):
                    _fire(work, rule, rec, event.kind)
        if work.staged:
            events = record_events(tx.changes)
            for event in events:
                event.rule = work.made.get(event.path)
    kept = [item for item in tx.events if isinstance(item, Pending)]  # from `crm rules run`
    tx.events = [*events, *kept, *work.pending]
    if tx.dry_run:
        for item in [*kept, *work.pending]:
            notice(f"rule {item.rule.name} would {item.action.describe()} (not in a dry run)")
        return
    if hooks:
        for event in events:
            run_hook(root, f"pre-{event.kind}", event.payload(config), _env(root, event), pre=True)


def _refresh_fired(work: _Work, events: Sequence[Event]) -> None:
    """A task given a new due date, or a quote a new valid_until, may fall overdue or expire
    again: a new event for the time-based rules that fired for it."""
    for event in events:
        fired = (event.after or {}).get("fired")
        if event.kind != "change" or not isinstance(fired, dict):
            continue
        stale = [
            rule.name
            for rule in work.config.automation
            if rule.event in _REFERENCE
            and _REFERENCE[rule.event] in event.changed
            and event.rtype.name in rule.types
            and rule.name in fired
        ]
        if stale:
            from crm.records import Edit

            rec = work.current(event.rtype, event.id)
            work.tx.update(rec, [Edit("unset", ("fired", name)) for name in stale])
            work.staged = True


def after_write(tx: Transaction) -> None:
    """Run the on- hooks for what `tx` changed, after it was written (and committed), then the
    email and hook actions of the rules that fired; a failure is a warning."""
    root = tx.store.root
    config = tx.store.settings()
    hooks = (root / HOOKS_DIR).is_dir()
    for item in tx.events:
        if isinstance(item, Event) and hooks:
            payload = item.payload(config)
            payload["commit"] = tx.commit
            try:
                run_hook(root, f"on-{item.kind}", payload, _env(root, item), pre=False)
            except CrmError as exc:
                notice(str(exc))
    for item in tx.events:
        if isinstance(item, Pending):
            try:
                side_effect(root, config, item)
            except CrmError as exc:
                notice(f"rule {item.rule.name}: {exc}")


def side_effect(root: Path, config: Config, item: Pending, *, dry_run: bool = False) -> str:
    """Send a rule's email or run its hook; what was done, in words."""
    if item.action.kind == "hook":
        name = str(item.action.spec)
        payload = {
            "event": item.event,
            "type": item.rtype.name,
            "id": item.id,
            "path": item.path,
            "record": item.obj,
            "rule": item.rule.name,
            "dry_run": dry_run,
        }
        env = {
            "CRM_EVENT": item.event,
            "CRM_TYPE": item.rtype.name,
            "CRM_ID": item.id,
            "CRM_RULE": item.rule.name,
        }
        if dry_run:
            return f"would run hooks/{name}"
        ran = run_hook(root, name, payload, {**_base_env(root), **env}, pre=False, required=True)
        return f"ran hooks/{name}" if ran else f"hooks/{name} not run"
    return send_email(root, config, item, dry_run=dry_run)


def send_email(root: Path, config: Config, item: Pending, *, dry_run: bool = False) -> str:
    """The email action: a message from the template (the folder's templates/ first) to the
    record's address, or the action's `to:`; MailError when it cannot be sent."""
    from crm import mail

    spec = item.action.spec
    values = {**item.obj, **item.extra}
    what = f"{item.rtype.name.replace('_', ' ')} {item.obj.get('number') or item.id}"
    to: list[str | tuple[str | None, str]]
    if spec.get("to"):
        filled = fill(spec["to"], values)
        if not filled.strip():
            raise ValidationError(
                f"to: {spec['to']} is empty for {what}: the field has no value",
                hint=f"give the record that field, or change `to:` ({item.action.key})",
            )
        to = [str(a) for a in mail.address_list(filled)]
        name, address = mail.split_address(str(to[0]))
        values["recipient"] = {"name": name, "email": address}
    elif item.to:
        to = [(item.extra.get("recipient", {}).get("name") or None, item.to)]
    else:
        raise ValidationError(
            f"no address to email {what} at",
            hint=f"give the record or its contact an email, or set `to:` ({item.action.key})",
        )
    cc = fill(spec["cc"], values) if spec.get("cc") else ""
    attachments: list[tuple[str, bytes, str]] = []
    if spec.get("attach"):
        name, data = kept_document(root, item.rtype, item.path, item.obj)
        attachments.append((name, data, mail.mime_type(name)))
    message = mail.compose(
        config, root, spec["template"], values, to=to, cc=cc, attachments=attachments
    )
    sent_to = ", ".join(mail.addresses(message, "To", "Cc"))
    if dry_run:
        return f"would email {sent_to}"
    mail.deliver(mail.settings_of(config), message)
    return f"emailed {sent_to}"


def kept_document(
    root: Path, rtype: RecordType, path: str, data: Mapping[str, Any]
) -> tuple[str, bytes]:
    """The file an issued record keeps (its `document:`), as (file name, bytes), checked: it
    is there, beside the record and not a link out of the folder, and matches the SHA-256 the
    record keeps, so that what goes out is what was issued, byte for byte. DataError if not."""
    import hashlib

    from crm.errors import DataError

    document = data.get("document")
    if not isinstance(document, Mapping) or not document.get("file"):
        raise DataError(
            path, "keeps no document to attach", hint="only issued invoices and credit notes do"
        )
    name = str(document["file"])
    if not ids.is_safe_file_name(name):
        raise DataError(path, f"document: '{name}' is not a file beside the record")
    file = root / rtype.plural / name
    rel = f"{rtype.plural}/{name}"
    hint = "see `crm check`"
    try:
        if not _inside(file.resolve(), root.resolve()):
            raise DataError(rel, "is a link to a file outside the CRM folder: not sent", hint=hint)
        content = file.read_bytes()
    except FileNotFoundError as exc:
        raise DataError(rel, "is missing, so there is nothing to attach", hint=hint) from exc
    except OSError as exc:
        raise DataError(rel, f"cannot be read: {exc.strerror or exc}") from exc
    if hashlib.sha256(content).hexdigest() != document.get("sha256"):
        raise DataError(
            rel,
            "does not match the sha256 its record keeps: it was changed since it was issued, "
            "so it is not sent",
            hint=hint,
        )
    return name, content


# -- time-based rules: crm rules run ----------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class Firing:
    """A time-based rule fired (or failed to) for one record in `crm rules run`."""

    rule: str
    type: str
    id: str
    title: str
    done: list[str] = field(default_factory=list)
    error: CrmError | None = None

    def plain(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "type": self.type,
            "id": self.id,
            "title": self.title,
            "done": self.done,
            "error": str(self.error) if self.error else None,
        }


def timed_match(
    rule: Rule, rec: Record, obj: Mapping[str, Any], today: dt.date
) -> tuple[bool, str]:
    """Whether the time-based event of `rule` has come for `rec` on `today`, and why."""
    from crm.tasks import due_day

    what = f"{rec.type.name} {obj.get('number') or rec.id}"
    if rule.event == "task_overdue":
        if rec.data.get("status") == "done":
            return False, f"{what} is done"
        day = due_day(rec.data)
        if day is None:
            return False, f"{what} has no due date"
        late = (today - day).days
        if late < max(rule.days, 1):
            when = "not overdue" if late < 1 else f"overdue by {late} days"
            return False, f"{what} is {when} (due {day}); the rule waits for {max(rule.days, 1)}"
        return True, f"{what} is overdue by {late} days (due {day})"
    if rule.event == "invoice_overdue":
        due = rec.data.get("due")
        if obj.get("status") != "overdue" or not isinstance(due, str):
            return (
                False,
                f"{what} is {obj.get('status') or rec.data.get('status') or 'draft'}, not overdue",
            )
        late = (today - dt.date.fromisoformat(due[:10])).days
        if late < max(rule.days, 1):
            return False, f"{what} is overdue by {late} days; the rule waits for {rule.days}"
        return True, f"{what} is overdue by {late} days (due {due})"
    until = rec.data.get("valid_until")
    if rec.data.get("status") != "sent":
        return False, f"{what} is {rec.data.get('status') or 'draft'}, not sent"
    if not isinstance(until, str) or not dates.is_iso_date(until[:10]):
        return False, f"{what} has no valid_until"
    left = (dt.date.fromisoformat(until[:10]) - today).days
    if left < 0:
        return False, f"{what} expired on {until}"
    if left > rule.days:
        return (
            False,
            f"{what} is valid for {left} more days (until {until}); "
            f"the rule acts {rule.days} days before",
        )
    return True, f"{what} expires in {left} days ({until})"


def fired_at(rec: Record, rule: Rule) -> str | None:
    fired = rec.data.get("fired")
    if isinstance(fired, dict) and fired.get(rule.name) is not None:
        return str(fired[rule.name])
    return None


def run_timed(tx: Transaction, rules: Sequence[Rule], today: dt.date) -> list[Firing]:
    """Fire the time-based `rules` whose event has come by `today` for records they have not
    fired for. Each firing is staged with the record's `fired:` entry; then the pre- hooks
    judge the whole change (a refusal sends nothing); then the emails go out, and a firing
    whose email is not sent is taken back whole, to be tried again next time; hooks run after
    the write. Returns every firing and failure."""
    tx.rules = False  # what these rules change fires no event rule
    start = tx.savepoint()
    work = _Work(tx, noon(today) if today != dates.local_date(tx.now) else tx.now)
    staged = _stage_timed(work, rules, today, sent={}, failed={})
    tx.events = [p for p in work.pending if p.action.kind != "email"]  # for after the write
    tx.prepare()  # the pre- hooks (never in a dry run) before any email: a refusal sends none
    for item in tx.events:
        if isinstance(item, Event):
            item.rule = work.made.get(item.path)
    sent: dict[tuple[str, str, str], list[str]] = {}
    failed: dict[tuple[str, str, str], CrmError] = {}
    for firing, emails in staged:
        key = (firing.rule, firing.type, firing.id)
        done = list(firing.done)
        try:
            for item in emails:
                said = side_effect(work.store.root, work.config, item, dry_run=tx.dry_run)
                planned = item.action.describe()
                done = [said if d == planned else d for d in done]
        except CrmError as exc:
            failed[key] = exc  # an email sent before it in the same firing is sent again later
            continue
        if emails:
            sent[key] = done
        firing.done = done
    if not failed:
        return [f for f, _ in staged] + work.failures
    # Stage again without the firings whose email failed; those sent stay fired, whatever
    # the others changed since.
    tx.rollback(start)
    work = _Work(tx, work.now)
    staged = _stage_timed(work, rules, today, sent=sent, failed=failed)
    hooks = [p for p in work.pending if p.action.kind != "email"]
    tx.events = [*_events_after(tx, work), *hooks]
    return [f for f, _ in staged] + work.failures


def _stage_timed(
    work: _Work,
    rules: Sequence[Rule],
    today: dt.date,
    *,
    sent: Mapping[tuple[str, str, str], list[str]],
    failed: Mapping[tuple[str, str, str], CrmError],
) -> list[tuple[Firing, list[Pending]]]:
    """Stage every firing of the time-based `rules` by `today`, each with its `fired:` entry,
    and return them with their emails (kept out of `work.pending`). A firing in `failed` is
    not staged but reported with its error; one in `sent` (its email went out) is staged
    whatever its event and condition say now, with what it did."""
    from crm.records import Edit

    tx = work.tx
    config = work.config
    out: list[tuple[Firing, list[Pending]]] = []
    work.failures = []
    for type_name in dict.fromkeys(TIMED[r.event] for r in rules if r.timed):
        rtype = RECORD_TYPES[type_name]
        scan = work.store.scan(rtype)
        if not sent and not failed:
            for problem in scan.problems:
                notice(f"skipped {problem}")
        for rec in scan.records:
            for rule in (r for r in rules if r.timed and TIMED[r.event] == type_name):
                key = (rule.name, type_name, rec.id)
                current = work.current(rtype, rec.id)
                if key in failed:
                    work.failures.append(
                        Firing(
                            rule=rule.name,
                            type=type_name,
                            id=rec.id,
                            title=current.title,
                            error=failed[key],
                        )
                    )
                    continue
                if fired_at(current, rule):
                    continue
                if key not in sent:
                    obj = work.obj(current)
                    if not timed_match(rule, current, obj, today)[0]:
                        continue
                    try:
                        if not _condition_holds(rule, rtype, obj, config):
                            continue
                    except UsageError as exc:
                        work.failures.append(
                            Firing(
                                rule=rule.name,
                                type=type_name,
                                id=rec.id,
                                title=current.title,
                                error=exc,
                            )
                        )
                        continue
                firing = Firing(rule=rule.name, type=type_name, id=rec.id, title=current.title)
                point = tx.savepoint()
                pending_before = len(work.pending)
                made_before = dict(work.made)
                try:
                    firing.done = _fire(work, rule, current, rule.event)
                    tx.update(
                        work.current(rtype, rec.id), [Edit("set", ("fired", rule.name), tx.now)]
                    )
                except CrmError as exc:
                    tx.rollback(point)
                    del work.pending[pending_before:]
                    work.made = made_before
                    firing.done = []
                    firing.error = exc
                    work.failures.append(firing)
                    continue
                emails = [p for p in work.pending[pending_before:] if p.action.kind == "email"]
                for item in emails:
                    work.pending.remove(item)
                if key in sent:
                    firing.done = sent[key]
                    emails = []  # sent already
                out.append((firing, emails))
    return out


def _events_after(tx: Transaction, work: _Work) -> list[Event]:
    """The events of what `tx` stages now, for the on- hooks (none without hooks/)."""
    if not (tx.store.root / HOOKS_DIR).is_dir():
        return []
    events = record_events(tx.changes)
    for event in events:
        event.rule = work.made.get(event.path)
    return events


# -- rules test -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """What `crm rules test` says of one rule for one record."""

    rule: str
    event: str
    applies: bool
    fires: bool
    why: list[str]
    fired: str | None = None

    def plain(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "event": self.event,
            "applies": self.applies,
            "fires": self.fires,
            "fired": self.fired,
            "why": self.why,
        }


def explain(
    rule: Rule, rec: Record, obj: Mapping[str, Any], config: Config, today: dt.date
) -> Verdict:
    """Whether `rule` fires for `rec` now (time-based) or on its event (event rules), and why:
    the event, the condition with the values it compared, an earlier firing."""
    why: list[str] = []
    event = rule.describe()
    if rec.type.name not in rule.types:
        kinds = " or ".join(rule.types) if len(rule.types) < 4 else "other records"
        return Verdict(
            rule=rule.name,
            event=event,
            applies=False,
            fires=False,
            why=[f"applies to {kinds}, not to {rec.type.name} records"],
        )
    fired = fired_at(rec, rule) if rule.timed else None
    if rule.timed:
        come, reason = timed_match(rule, rec, obj, today)
        why.append(reason)
    else:
        come = True
        why.append(_event_now(rule, rec))
    held = True
    if rule.condition:
        try:
            held = _condition_holds(rule, rec.type, obj, config)
        except UsageError as exc:
            why.append(str(exc))
            return Verdict(
                rule=rule.name, event=event, applies=True, fires=False, why=why, fired=fired
            )
        shown = ", ".join(
            f"{name} is {json.dumps(value, ensure_ascii=False)}"
            for name, value in compared(rule.condition, rec.type, obj, config)
        )
        why.append(
            f"condition `{rule.condition}` is {'true' if held else 'false'}"
            + (f": {shown}" if shown else "")
        )
    else:
        why.append("no condition")
    if fired:
        why.append(f"already fired on {fired[:10]}: never again for this record")
    return Verdict(
        rule=rule.name,
        event=event,
        applies=True,
        fires=come and held and not fired,
        why=why,
        fired=fired,
    )


def _event_now(rule: Rule, rec: Record) -> str:
    if rule.event in ("stage", "status"):
        now = rec.data.get(rule.event)
        if rule.value is None:
            return f"fires when its {rule.event} changes (now {now})"
        state = "is" if now == rule.value else "is not"
        return f"fires when it enters {rule.event} {rule.value}; it {state} there now ({now})"
    if rule.event == "change":
        return f"fires when {rule.field or 'a field'} changes"
    return "fires when such a record is added"


def compared(
    text: str, rtype: RecordType, obj: Mapping[str, Any], config: Config
) -> list[tuple[str, Any]]:
    """The fields a condition looks at, with the record's values."""
    from crm.query import _tokenize, field_path, lookup

    out: list[tuple[str, Any]] = []
    try:
        tokens = _tokenize(text)
    except UsageError:
        return out
    for tok in tokens:
        if tok.kind == "cmp":
            name = tok.field
        elif tok.kind == "word" and tok.text.lower() not in ("and", "or", "not"):
            name = tok.text
        elif tok.kind == "tag":
            name = "tags"
        else:
            continue
        if any(name == seen for seen, _ in out):
            continue
        try:
            out.append((name, lookup(obj, field_path(rtype, config, name))))
        except UsageError:
            continue
    return out


# -- hooks ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class HookFile:
    """An executable in the folder's hooks/ and whether it may run here."""

    name: str
    path: Path
    executable: bool
    digest: str
    trusted: str  # yes, no (never trusted here), changed (since it was)
    link: str | None = None  # where a symbolic link points
    outside: bool = False  # a link to a file outside the CRM folder: never run

    @property
    def event(self) -> str:
        prefix, _, event = self.name.partition("-")
        if prefix in ("pre", "on") and event in HOOK_EVENTS:
            return f"{'before' if prefix == 'pre' else 'after'} {event}"
        return "rule action"


def trust_path() -> Path:
    """Where this machine keeps the hooks it trusts: the user's config folder
    ($XDG_CONFIG_HOME/crm, else ~/.config/crm), never a CRM folder, which git could fill."""
    base = os.environ.get("XDG_CONFIG_HOME", "").strip()
    folder = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return folder / "crm" / TRUST_FILE


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _trust_file(root: Path) -> Path | None:
    """The trust file, unless it lies inside the CRM folder (a HOME that is the folder, or in
    it): a file there could have come with `git pull`, so it is never believed."""
    path = trust_path()
    try:
        if _inside(path.resolve(), root.resolve()):
            return None
    except OSError:
        return None
    return path


def _trust_data(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _trusted(root: Path) -> dict[str, str]:
    """The hooks of the folder at `root` trusted here: name -> SHA-256."""
    path = _trust_file(root)
    if path is None:
        return {}
    folders = _trust_data(path).get("folders")
    entry = folders.get(str(root.resolve())) if isinstance(folders, dict) else None
    return {str(k): str(v) for k, v in entry.items()} if isinstance(entry, dict) else {}


def _digest(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _outside(root: Path, path: Path) -> bool:
    """Whether `path` (a hook) leads, through a symbolic link, to a file outside the folder."""
    try:
        return not _inside(path.resolve(), root.resolve())
    except OSError:
        return True


def hook_files(root: Path) -> list[HookFile]:
    """Every file in hooks/, with its state; hidden files, editor backups and samples
    (`on-stage.sample`, as git ships its own) left out."""
    folder = root / HOOKS_DIR
    if not folder.is_dir():
        return []
    trusted = _trusted(root)
    out = []
    for path in sorted(folder.iterdir()):
        skipped = path.name.startswith(".") or path.name.endswith(("~", ".sample"))
        if skipped or not path.is_file():
            continue
        digest = _digest(path)
        known = trusted.get(path.name)
        outside = _outside(root, path)
        state = "yes" if known == digest and not outside else "no" if known is None else "changed"
        out.append(
            HookFile(
                name=path.name,
                path=path,
                executable=os.access(path, os.X_OK),
                digest=digest,
                trusted="no" if outside else state,
                link=os.readlink(path) if path.is_symlink() else None,
                outside=outside,
            )
        )
    return out


def trust(root: Path, names: Sequence[str]) -> list[HookFile]:
    """Record the hooks `names` (all in hooks/ when empty) as trusted here, as they are now.
    A link to a file outside the folder is never trusted: named, it is refused; else skipped
    with a notice."""
    from crm.store import atomic
    from crm.store.lock import folder_lock

    found = {h.name: h for h in hook_files(root)}
    if names:
        missing = [n for n in names if n not in found]
        if missing:
            known = ", ".join(found) or "none"
            raise NotFoundError(f"no hook {missing[0]} in {HOOKS_DIR}/", hint=f"hooks: {known}")
        chosen = [found[n] for n in names]
        for hook in chosen:
            if hook.outside:
                raise ValidationError(_outside_message(hook.name), hint=_OUTSIDE_HINT)
    else:
        chosen = []
        for hook in found.values():
            if hook.outside:
                notice(f"{_outside_message(hook.name)}: not trusted")
            else:
                chosen.append(hook)
    path = _trust_file(root)
    if path is None:
        raise ValidationError(
            f"{trust_path()} is inside the CRM folder, where git could bring it in",
            hint="set XDG_CONFIG_HOME to a folder outside it",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    with folder_lock(path.with_suffix(".lock")):
        data = _trust_data(path)
        folders = data.get("folders")
        folders = dict(folders) if isinstance(folders, dict) else {}
        key = str(root.resolve())
        entry = folders.get(key)
        trusted = {str(k): str(v) for k, v in entry.items()} if isinstance(entry, dict) else {}
        for hook in chosen:
            trusted[hook.name] = hook.digest
        folders[key] = dict(sorted(trusted.items()))
        text = json.dumps({"folders": dict(sorted(folders.items()))}, indent=2, ensure_ascii=False)
        atomic.write(path, text + "\n")
    return chosen


_OUTSIDE_HINT = "copy the file into hooks/ instead of linking to it"


def _outside_message(name: str) -> str:
    return f"{HOOKS_DIR}/{name} is a link to a file outside the CRM folder"


def hook_timeout() -> float:
    text = os.environ.get("CRM_HOOK_TIMEOUT", "").strip()
    if not text:
        return HOOK_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1
    if not 0 < seconds <= 3600:
        raise ValidationError(f"CRM_HOOK_TIMEOUT: '{text}' is not a number of seconds")
    return seconds


def hook_depth() -> int:
    """How many hooks deep this crm runs: 0 for a command you typed, 1 for one a hook ran."""
    text = os.environ.get(DEPTH_ENV, "").strip()
    try:
        return max(int(text), 0) if text else 0
    except ValueError:
        return MAX_HOOK_DEPTH  # not a number crm wrote: run no hooks rather than loop


def _base_env(root: Path) -> dict[str, str]:
    return {"CRM_DIR": str(root), DEPTH_ENV: str(hook_depth() + 1)}


def _env(root: Path, event: Event) -> dict[str, str]:
    return {
        **_base_env(root),
        "CRM_EVENT": event.kind,
        "CRM_TYPE": event.rtype.name,
        "CRM_ID": event.id,
    }


def run_hook(
    root: Path,
    name: str,
    payload: Mapping[str, Any],
    env: Mapping[str, str],
    *,
    pre: bool,
    required: bool = False,
) -> bool:
    """Run hooks/NAME with `payload` as JSON on stdin; whether it ran.

    A hook that is not there is nothing to run (unless `required`: a rule's hook). One not
    trusted here (new, or changed since), a link to a file outside the folder, or one a crm
    run by hooks MAX_HOOK_DEPTH deep would start does not run: a pre- hook refuses the command
    then, since the check it stands for cannot be made; others give a notice. A pre- hook
    exiting non-zero refuses the command with its message; any other failure raises for the
    caller to warn about."""
    path = root / HOOKS_DIR / name
    if not path.is_file():
        if required:
            raise NotFoundError(f"no {HOOKS_DIR}/{name} to run")
        return False
    shown = f"{HOOKS_DIR}/{name}"
    if not os.access(path, os.X_OK):
        notice(f"{shown} is not executable: not run (chmod +x it)")
        return False

    def refuse(why: str, hint: str) -> bool:
        if pre:
            raise RefusedError(f"{shown} {why} and is not run", hint=hint)
        notice(f"{shown} not run: it {why} ({hint})")
        return False

    depth = hook_depth()
    if depth >= MAX_HOOK_DEPTH:
        return refuse(
            f"would be {depth + 1} hooks deep ({DEPTH_ENV}={depth})",
            f"a crm run by a hook runs hooks; one run {MAX_HOOK_DEPTH} hooks deep runs none",
        )
    if _outside(root, path):
        return refuse("is a link to a file outside the CRM folder", _OUTSIDE_HINT)
    digest = _digest(path)
    known = _trusted(root).get(name)
    if known != digest:
        why = "is new here" if known is None else "changed since it was trusted"
        return refuse(f"{why}, until trusted", f"read it, then `crm hooks trust {name}`")
    code, out, err = _execute(root, path, payload, env)
    if code != 0:
        message = _first_line(err) or _first_line(out) or f"exit status {code}"
        if pre:
            raise RefusedError(f"{shown}: {message}")
        raise CrmError(f"{shown} failed: {message}")
    return True


def _hook_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The environment a hook runs in: crm's own, without the SMTP password, and `env`."""
    from crm.mail import PASSWORD_ENV

    return {**{k: v for k, v in os.environ.items() if k != PASSWORD_ENV}, **env}


def _execute(
    root: Path, path: Path, payload: Mapping[str, Any], env: Mapping[str, str]
) -> tuple[int, str, str]:
    """Run the hook and wait for it (not for the pipes it leaves to children of its own):
    its exit code and, up to HOOK_OUTPUT bytes each, what it wrote to stdout and stderr."""
    import selectors
    import subprocess
    import time

    timeout = hook_timeout()
    data = json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")
    try:
        proc = subprocess.Popen(
            [str(path)],
            cwd=root,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_hook_environment(env),
            start_new_session=True,  # its own process group: a timeout ends its children too
        )
    except OSError as exc:
        raise CrmError(f"{HOOKS_DIR}/{path.name} cannot be run: {exc.strerror or exc}") from exc
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    out_fd, err_fd, in_fd = proc.stdout.fileno(), proc.stderr.fileno(), proc.stdin.fileno()
    kept = {out_fd: bytearray(), err_fd: bytearray()}
    deadline = time.monotonic() + timeout
    selector = selectors.DefaultSelector()
    try:
        for fd in kept:
            os.set_blocking(fd, False)
            selector.register(fd, selectors.EVENT_READ)
        waiting = memoryview(data)
        os.set_blocking(in_fd, False)
        selector.register(in_fd, selectors.EVENT_WRITE)
        while proc.poll() is None:
            left = deadline - time.monotonic()
            if left <= 0:
                _stop(proc)
                raise (RefusedError if path.name.startswith("pre-") else CrmError)(
                    f"{HOOKS_DIR}/{path.name} took longer than {timeout:g} s and was stopped"
                )
            if not selector.get_map():  # pipes closed: only its exit to wait for
                try:
                    proc.wait(timeout=left)
                except subprocess.TimeoutExpired:
                    continue
                break
            for key, _ in selector.select(timeout=min(left, 0.05)):
                if key.fd == in_fd:
                    try:
                        waiting = waiting[os.write(in_fd, waiting[:65536]) :]
                    except BlockingIOError:
                        continue
                    except OSError:  # it does not read its stdin: fine
                        waiting = waiting[:0]
                    if not waiting:
                        selector.unregister(in_fd)
                        proc.stdin.close()
                else:
                    _read(key.fd, kept[key.fd], selector)
        # It has ended: what is in its pipes now, without waiting for children that keep them.
        for fd, buffer in kept.items():
            for _ in range(16):
                if fd not in selector.get_map() or not _read(fd, buffer, selector):
                    break
    finally:
        selector.close()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            stream.close()
    text = [bytes(kept[fd]).decode("utf-8", "replace") for fd in (out_fd, err_fd)]
    return proc.returncode, text[0], text[1]


def _read(fd: int, buffer: bytearray, selector: Any) -> bool:
    """Read what the pipe `fd` has now into `buffer`, keeping at most HOOK_OUTPUT bytes (the
    rest is read and dropped, so that the hook never waits on a full pipe); False once there
    is nothing more to read now (or ever: the pipe is unregistered at its end)."""
    try:
        chunk = os.read(fd, 65536)
    except BlockingIOError:
        return False
    except OSError:
        chunk = b""
    if not chunk:
        selector.unregister(fd)
        return False
    room = HOOK_OUTPUT - len(buffer)
    if room > 0:
        buffer += chunk[:room]
    return True


def _stop(proc: Any) -> None:
    """End a hook that took too long, with the children in its process group, and reap it
    (its own exit only: a child that left the group may hold the pipes on)."""
    import contextlib
    import signal
    import subprocess

    killpg = getattr(os, "killpg", None)
    try:
        if killpg is not None:
            killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except OSError:
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


_ESCAPE_RE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_MESSAGE_LENGTH = 300  # characters of a hook's message shown


def _first_line(text: str) -> str:
    """The first non-blank line of a hook's output, without terminal escapes or control
    characters, cut to a short line."""
    for line in text.splitlines():
        line = _CONTROL_RE.sub("", _ESCAPE_RE.sub("", line)).replace("\t", " ").strip()
        if line:
            if len(line) > _MESSAGE_LENGTH:
                return line[: _MESSAGE_LENGTH - 1].rstrip() + "…"
            return line
    return ""
