"""Leads: conversion into contact, company and deal; leads arriving as JSON from web forms."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from crm.config import Config
from crm.errors import UsageError
from crm.models import LEAD, Kind
from crm.records import Record, as_list, email_key

Assignment = tuple[str, str, Any]


def match_company(lead: Record, companies: Iterable[Record]) -> Record | None:
    """The existing company a lead belongs to: same name, else the domain of its email."""
    name = str(lead.data.get("company") or "").strip().casefold()
    domains = {e.rpartition("@")[2].casefold() for e in lead.list_of("emails")}
    by_domain = None
    for company in companies:
        if name and company.title.strip().casefold() == name:
            return company
        domain = str(company.data.get("domain") or "").casefold()
        if domain and domain in domains and by_domain is None:
            by_domain = company
    return by_domain if name or by_domain else None


def match_contact(lead: Record, contacts: Iterable[Record]) -> Record | None:
    """The existing contact a lead already is: same email, else same name."""
    emails = {email_key(e) for e in lead.list_of("emails")}
    name = lead.title.strip().casefold()
    by_name = None
    for contact in contacts:
        if emails & {email_key(e) for e in contact.list_of("emails")}:
            return contact
        if contact.title.strip().casefold() == name and by_name is None:
            by_name = contact
    return by_name


def contact_assignments(lead: Record, company_id: str | None) -> list[Assignment]:
    """A new contact made from a lead: name, emails, phones, title, tags, notes, company."""
    data = lead.data
    out: list[Assignment] = [("name", "=", lead.title)]
    for key in ("emails", "phones", "tags"):
        if as_list(data.get(key)):
            out.append((key, "=", as_list(data.get(key))))
    for key in ("title", "notes"):
        if data.get(key):
            out.append((key, "=", str(data[key])))
    if company_id:
        out.append(("company", "=", company_id))
    return out


_ALIASES = {
    "email": "emails",
    "phone": "phones",
    "tag": "tags",
    "note": "notes",
    "organization": "company",
    "organisation": "company",
    "message": "notes",
}
_KEPT = {
    "name",
    "company",
    "title",
    "emails",
    "phones",
    "source",
    "status",
    "budget",
    "authority",
    "need",
    "timeline",
    "tags",
    "notes",
}


def from_json(item: Any, config: Config) -> tuple[list[Assignment], dict[str, Any]]:
    """A lead sent as JSON (a web form, a mail filter): its assignments, and the keys crm has
    no field for, kept as they came under `form:`."""
    if not isinstance(item, Mapping):
        raise UsageError("each lead must be a JSON object")
    declared = config.custom_fields("lead")
    assignments: list[Assignment] = []
    form: dict[str, Any] = {}
    for raw_key, value in item.items():
        key = _ALIASES.get(str(raw_key).lower(), str(raw_key).lower())
        if value is None or value == "" or value == []:
            continue
        if key in _KEPT:
            field = LEAD.field(key)
            if field is not None and field.is_list:
                values = value if isinstance(value, list) else [value]
                assignments.append((key, "+=", [str(v) for v in values]))
            elif field is not None and field.kind is Kind.BOOL and isinstance(value, bool):
                assignments.append((key, "=", "yes" if value else "no"))
            else:
                assignments.append((key, "=", str(value)))
        elif key in declared:
            assignments.append((f"custom.{key}", "=", str(value)))
        else:
            form[str(raw_key)] = value
    if not any(key == "name" for key, _, _ in assignments):
        raise UsageError("a lead needs a name")
    return assignments, form
