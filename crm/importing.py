"""Bringing records in from other programs: what an incoming record is, which record we have it
as, and the changes that create or update it.

Re-importing updates instead of duplicating: an incoming record is matched to an existing one by
its id in the other system, then by email (or domain, for companies). Values it brings replace
ours, but for notes, which are never overwritten; list values (emails, phones, tags) are added
to ours, so nothing typed by hand in them is lost.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from crm.config import Config, Pipeline
from crm.errors import ValidationError
from crm.matching import phone_key
from crm.models import RecordType
from crm.records import Edit, RefResolver, as_list, email_key, plan


class Remarked(str):
    """A value read from another program's file that comes with a warning for its row: the
    text to import, or (`left_out`) the text as found, which is not imported because it
    cannot be read unambiguously (`1/2/91`, `1.234` as an amount in an English file)."""

    remark: str
    left_out: bool

    def __new__(cls, text: str, remark: str, *, left_out: bool = False) -> Remarked:
        self = super().__new__(cls, text)
        self.remark = remark
        self.left_out = left_out
        return self


Assignment = tuple[str, str, Any]  # (key, operator, text or list of texts), as records.plan takes

# What identifies an incoming record, in the order tried, per record type.
MATCH_BY: dict[str, tuple[str, ...]] = {
    "contact": ("external", "email", "name"),
    "company": ("external", "domain", "name"),
    "lead": ("external", "email", "name"),
    "deal": ("external", "name"),
}


def match_order(rtype: RecordType, incoming: Incoming) -> tuple[str, ...]:
    """The keys to match `incoming` by. A person is matched by name (with agreeing phone
    numbers) only when no email identifies them: with an email we do not know, a namesake is
    somebody else."""
    order = MATCH_BY[rtype.name]
    if rtype.name in ("contact", "lead") and as_list(incoming.values.get("emails")):
        order = tuple(k for k in order if k != "name")
    return order


@dataclass(frozen=True, slots=True, kw_only=True)
class Incoming:
    """One record read from another program's file, in the words a user would type."""

    source: str  # file:line, for messages
    values: dict[str, Any]  # field key (`emails`, `address.city`, `custom.x`) -> text or texts
    external: tuple[str, str] | None = None  # (system, id): ("vcard", UID), ("salesforce", ...)
    company: str | None = None  # a company's name, found or created and linked
    work_emails: tuple[str, ...] = ()  # emails marked as work ones: their domain names it too
    company_id: tuple[str, str] | None = None  # or its id in another system: found, never made
    contact: str | None = None  # a deal's contact: name or email of a contact we have
    extra: list[str] | None = None  # vCard lines with no field of ours (replace the kept ones)
    custom: dict[str, str] = field(default_factory=dict)  # undeclared custom fields, as text
    photo: tuple[bytes, str] | None = None  # image bytes and file extension
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an import did (or, with --dry-run, would do) with one incoming record."""

    action: str  # created, updated, unchanged, skipped
    type: str
    id: str | None
    title: str
    source: str
    reason: str = ""
    warnings: tuple[str, ...] = field(default=())

    def row(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "type": self.type,
            "id": self.id,
            "title": self.title,
            "source": self.source,
            "reason": self.reason,
            "warnings": list(self.warnings),
        }


def match_data(rtype: RecordType, incoming: Incoming) -> dict[str, Any]:
    """The incoming record as `matching.keys_of` reads records."""
    values = incoming.values
    data: dict[str, Any] = {
        rtype.title: values.get(rtype.title),
        "emails": as_list(values.get("emails")),
        "phones": as_list(values.get("phones")),
        "domain": values.get("domain"),
        "website": values.get("website"),
    }
    if incoming.external is not None:
        data["external_ids"] = {incoming.external[0]: incoming.external[1]}
    return data


def stage_for(text: str, pipeline: Pipeline) -> str | None:
    """The stage of `pipeline` another CRM's stage names: ours by name or label, else its
    won or lost stage for `Closed Won`, `closedwon`, `won`, ... (None when there is none)."""
    wanted = "".join(c for c in text.casefold() if c.isalnum())
    for stage in pipeline.stages:
        if wanted in (
            "".join(c for c in n.casefold() if c.isalnum()) for n in (stage.name, stage.label)
        ):
            return stage.name
    for status in ("won", "lost"):
        if wanted in (status, f"closed{status}", f"deal{status}"):
            closing = pipeline.closing_stage(status)
            return closing.name if closing else None
    return None


def assignments(
    rtype: RecordType, values: Mapping[str, Any], current: Mapping[str, Any], region: str | None
) -> tuple[list[Assignment], list[str]]:
    """The assignments that bring `values` into a record holding `current`, and warnings.

    Lists gain the items they lack (an email differing only in case, a phone number written
    another way, is not added twice); other fields take the incoming value. A Remarked value
    adds its warning, and is left out when it says so.
    """
    out: list[Assignment] = []
    warnings: list[str] = []
    for key, value in values.items():
        if value in (None, "", []):
            continue
        if isinstance(value, Remarked):
            warnings.append(f"{key}: {value.remark}")
            if value.left_out:
                continue
            value = str(value)
        head = rtype.field(key.split(".")[0])
        if head is not None and head.is_list:
            items = _new_items(head.name, as_list(value), as_list(current.get(head.name)), region)
            if items:
                out.append((head.name, "+=" if current else "=", items))
        elif key.startswith("address.") and isinstance(current.get("address"), str):
            warnings.append(f"{key}: the address is kept as one text; not changed")
        elif (
            key == "notes"
            and current.get("notes")
            and str(value).strip() not in str(current["notes"])
        ):
            warnings.append("notes: yours are kept; the file's differ")
        else:
            out.append((key, "=", value))
    return out, warnings


def _new_items(name: str, items: list[str], have: list[str], region: str | None) -> list[str]:
    key: Callable[[str], str | None] = {
        "emails": email_key,
        "phones": lambda text: phone_key(text, region) or text,
    }.get(name, str.casefold)
    seen = {key(item) for item in have}
    out = []
    for item in items:
        k = key(item)
        if k not in seen:
            seen.add(k)
            out.append(item)
    return out


def safe_plan(
    rtype: RecordType,
    config: Config,
    current: Mapping[str, Any],
    wanted: Sequence[Assignment],
    resolve_ref: RefResolver,
    now: dt.datetime,
    extra: Sequence[Edit] = (),
) -> tuple[list[Edit], list[str]]:
    """records.plan for `wanted`, leaving out the values that are not valid (with a warning
    naming the field), so that one bad phone number never loses a whole contact."""
    try:
        return plan(rtype, config, current, wanted, [], resolve_ref, now, extra), []
    except ValidationError:
        pass
    good: list[Assignment] = []
    warnings: list[str] = []
    for assignment in wanted:
        try:
            plan(rtype, config, current, [*good, assignment], [], resolve_ref, now)
        except ValidationError as exc:
            if isinstance(assignment[2], list) and len(assignment[2]) > 1:
                kept = _valid_items(rtype, config, current, good, assignment, resolve_ref, now)
                dropped = [v for v in assignment[2] if v not in kept]
                warnings.extend(f"{assignment[0]}: '{v}' left out: not valid" for v in dropped)
                if kept:
                    good.append((assignment[0], assignment[1], kept))
            else:
                warnings.append(f"{exc.message}; left out")
            continue
        good.append(assignment)
    return plan(rtype, config, current, good, [], resolve_ref, now, extra), warnings


def _valid_items(
    rtype: RecordType,
    config: Config,
    current: Mapping[str, Any],
    good: Sequence[Assignment],
    assignment: Assignment,
    resolve_ref: RefResolver,
    now: dt.datetime,
) -> list[Any]:
    key, operator, items = assignment
    kept = []
    for item in items:
        try:
            plan(rtype, config, current, [*good, (key, operator, [item])], [], resolve_ref, now)
        except ValidationError:
            continue
        kept.append(item)
    return kept
