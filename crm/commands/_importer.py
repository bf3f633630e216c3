"""Importing into the store: incoming records matched, created or updated in one transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

from crm import output
from crm.context import AppContext
from crm.dedupe import Matcher
from crm.errors import CrmError, NotFoundError
from crm.ids import slugify
from crm.importing import (
    Incoming,
    Outcome,
    assignments,
    match_data,
    match_order,
    safe_plan,
    stage_for,
)
from crm.matching import Index, domain_key, region_of
from crm.models import COMPANY, CONTACT, RECORD_TYPES, RecordType
from crm.records import Edit, Record, apply, as_list, email_key, new_record, plain, resolve
from crm.store.repo import Transaction


class Importer:
    """Brings incoming records into the store through `tx`, keeping its own view of the folder
    current as it goes, so that two rows about one person in one file make one contact."""

    def __init__(self, ctx: AppContext, tx: Transaction) -> None:
        self.ctx = ctx
        self.tx = tx
        self.config = ctx.config
        self.region = region_of(self.config.business)
        self._records: dict[str, dict[str, Record]] = {}
        self._indexes: dict[str, Index] = {}
        self._matchers: dict[str, Matcher] = {}  # records as they were before the import
        self._made: dict[str, dict[str, str]] = {}  # type -> UID crm export made -> id
        self._sources: dict[tuple[str, str], str] = {}  # (type, id) -> first source here
        self.outcomes: list[Outcome] = []

    # -- the folder as this import sees it ---------------------------------------------------

    def records(self, rtype: RecordType) -> dict[str, Record]:
        if rtype.name not in self._records:
            scan = self.ctx.store.scan(rtype)
            for problem in scan.problems:
                output.warn(f"skipped {problem}")
            self._records[rtype.name] = {r.id: r for r in scan.records}
        return self._records[rtype.name]

    def index(self, rtype: RecordType) -> Index:
        if rtype.name not in self._indexes:
            idx = Index(rtype.name, self.region)
            for rec in self.records(rtype).values():
                self._add(idx, rec)
            self._indexes[rtype.name] = idx
        return self._indexes[rtype.name]

    def _add(self, idx: Index, rec: Record) -> None:
        idx.add(rec.id, rec.data)
        if rec.type.name in ("contact", "company"):  # the UIDs `crm export vcard` made for it
            from crm.vcard import made_uid

            made = self._made.setdefault(rec.type.name, {})
            made.setdefault(made_uid(rec.id, rec.type.name, rec.data.get("created")), rec.id)
            made.setdefault(made_uid(rec.id, rec.type.name), rec.id)  # as crm made them before

    def _match(self, rtype: RecordType, incoming: Incoming) -> tuple[str, str] | None:
        """The record `incoming` is, and why: by its id in the other system, then by a UID
        `crm export vcard` made for one of ours, then by email, domain or name.

        A made UID is the same in every folder that has a record of that id made at that
        second (`crm init` and `CRM_NOW` in scripts), so it is trusted only when the emails
        agree: a card with emails none of which the record has is somebody else."""
        idx = self.index(rtype)
        data = match_data(rtype, incoming)
        order = match_order(rtype, incoming)
        found = idx.match(data, by=("external",))
        if found is None and incoming.external is not None and incoming.external[0] == "vcard":
            rid = self._made.get(rtype.name, {}).get(incoming.external[1])
            if rid is not None:
                theirs = {email_key(str(e)) for e in as_list(incoming.values.get("emails"))}
                ours = idx.keys_by_id[rid].emails
                if not (theirs and ours) or theirs & ours:
                    found = (rid, "external id")
        return found or idx.match(data, by=tuple(k for k in order if k != "external"))

    def _lookalikes(self, rtype: RecordType, data: dict[str, Any]) -> list[str]:
        """Warnings for a new record that looks like one we had: `crm merge` can join them."""
        if rtype.name not in ("contact", "company", "lead"):
            return []
        if rtype.name not in self._matchers:
            before = list(self.records(rtype).values())
            self._matchers[rtype.name] = Matcher(rtype.name, before, self.region)
        found = self._matchers[rtype.name].find(data)[:3]
        return [f"looks like {rtype.name} {rec.id} ({reason})" for rec, reason, _ in found]

    def _remember(self, rec: Record) -> None:
        self.records(rec.type)[rec.id] = rec
        self._add(self.index(rec.type), rec)

    def _resolve_ref(self, target: str, ref: str) -> str:
        rtype = RECORD_TYPES[target]
        records = self.records(rtype)
        if ref in records:
            return ref
        return resolve(rtype, records.values(), ref).id

    # -- importing -----------------------------------------------------------------------------

    def run(
        self, rtype: RecordType, items: Iterable[Incoming], advance: Callable[[], None]
    ) -> list[Outcome]:
        for incoming in items:
            try:
                outcome = self.upsert(rtype, incoming)
            except CrmError as exc:
                outcome = Outcome(
                    "skipped",
                    rtype.name,
                    None,
                    str(incoming.values.get(rtype.title) or ""),
                    incoming.source,
                    exc.message,
                    incoming.warnings,
                )
            self.outcomes.append(self._once(outcome))
            advance()
        return self.outcomes

    def _once(self, outcome: Outcome) -> Outcome:
        """`outcome`, with a warning when an earlier row of this import had the same record:
        the later row's values win, which is rarely what two rows about one person meant."""
        if outcome.id is None or outcome.action == "skipped" or not outcome.source:
            return outcome
        first = self._sources.setdefault((outcome.type, outcome.id), outcome.source)
        if first == outcome.source:
            return outcome
        file, _, line = first.rpartition(":")
        this_file, _, this_line = outcome.source.rpartition(":")
        rows = "cards" if file.lower().endswith((".vcf", ".vcard")) else "rows"
        both = f"{rows} {line} and {this_line}" if file == this_file else f"{first} and this"
        warning = f"{both} both match {outcome.type} {outcome.id}; the later one's values win"
        return replace(outcome, warnings=(*outcome.warnings, warning))

    def upsert(self, rtype: RecordType, incoming: Incoming) -> Outcome:
        incoming = _valid_emails(incoming)  # before matching: a bad one must not decide it
        title = str(incoming.values.get(rtype.title) or "").strip()
        found = self._match(rtype, incoming)
        current = self.records(rtype)[found[0]] if found else None
        if current is None and not title and not as_list(incoming.values.get("emails")):
            raise NotFoundError(f"no {rtype.title}")
        values = dict(incoming.values)
        warnings = list(incoming.warnings)
        emails = as_list(values.get("emails"))
        if not title and current is None and emails and rtype.name in ("contact", "lead"):
            title = values[rtype.title] = emails[0]  # as address books show such a card
        if rtype.name == "deal" and isinstance(values.get("stage"), str):
            self._deal_stage(values, warnings)
        if incoming.company_id is not None:
            owner = self.index(COMPANY).match(
                {"external_ids": dict([incoming.company_id])}, by=("external",)
            )
            if owner is not None:
                values["company"] = owner[0]
            else:
                system, ext_id = incoming.company_id
                warnings.append(
                    f"company: no company has {system} id {ext_id}; import the companies first"
                )
        elif rtype is CONTACT and incoming.company:
            values["company"] = self.company_for(
                incoming.company, values.get("emails"), incoming.work_emails, source=incoming.source
            )
        elif incoming.company:
            values["company"] = self._existing_or_new_company(
                rtype, incoming.company, incoming.source
            )
        if incoming.contact:
            try:
                values["contact"] = self._resolve_ref("contact", incoming.contact)
            except CrmError as exc:  # the deal is still a deal: imported without the link
                warnings.append(f"contact: {exc.message}; left out")
        self._drop_taken_emails(rtype, values, current, warnings)
        data = current.data if current else {}
        wanted, more = assignments(rtype, values, data, self.region)
        warnings.extend(more)
        extra = self._kept_edits(rtype, incoming, data, current.id if current else None)
        edits, more = safe_plan(
            rtype, self.config, data, wanted, self._resolve_ref, self.tx.now, extra
        )
        warnings.extend(more)
        if current is None:
            return self._create(rtype, incoming, edits, title, warnings)
        if apply(current.data, edits) == current.data:
            reason = f"same {found[1]}" if found else ""
            return Outcome(
                "unchanged", rtype.name, current.id, current.title, incoming.source, reason,
                tuple(warnings),
            )  # fmt: skip
        edits = self._attach_photo(rtype, current.id, incoming, edits)
        self.tx.update(current, edits)
        self._remember(replace(current, data=apply(current.data, edits)))
        reason = f"matched by {found[1]}" if found else ""
        return Outcome(
            "updated", rtype.name, current.id, current.title, incoming.source, reason,
            tuple(warnings),
        )  # fmt: skip

    def _deal_stage(self, values: dict[str, Any], warnings: list[str]) -> None:
        """Another CRM's stage as ours (`Closed Won` is our won stage), or left out."""
        pipeline = self.config.pipeline(values.get("pipeline") or None)
        if pipeline is None:
            return
        stage = stage_for(str(values["stage"]), pipeline)
        if stage is None:
            warnings.append(f"stage: '{values['stage']}' is no stage of {pipeline.name}; left out")
            del values["stage"]
        else:
            values["stage"] = stage

    def _create(
        self,
        rtype: RecordType,
        incoming: Incoming,
        edits: list[Edit],
        title: str,
        warnings: list[str],
    ) -> Outcome:
        body = new_record(rtype, self.config, edits, self.tx.now)
        warnings = [*warnings, *self._lookalikes(rtype, plain(body))]
        rid = self.tx.create(rtype, body, base=slugify(title, fallback=rtype.name))
        path = self.ctx.store.rel(self.ctx.store.path_of(rtype, rid))
        rec = Record(type=rtype, id=rid, data=plain(body), path=path)
        photo = self._attach_photo(rtype, rid, incoming, [])
        if photo:
            self.tx.update(rec, photo)
            rec = replace(rec, data=apply(rec.data, photo))
        self._remember(rec)
        return Outcome("created", rtype.name, rid, title, incoming.source, "", tuple(warnings))

    def _kept_edits(
        self,
        rtype: RecordType,
        incoming: Incoming,
        data: dict[str, Any],
        current_id: str | None,
    ) -> list[Edit]:
        """Edits to the fields crm keeps: external ids and vCard lines."""
        from crm.vcard import made_uid

        edits: list[Edit] = []
        if incoming.external is not None:
            system, ext_id = incoming.external
            ids = data.get("external_ids")
            ours = (
                current_id is not None
                and system == "vcard"
                and ext_id == made_uid(current_id, rtype.name, data.get("created"))
            )
            # A record keeps the id it has in a system (matched by email, a card with another
            # UID updates it and the next import of either card does too: no flip-flop).
            # A UID crm made for another record here is that record's card's, not this one's.
            made = self._made.get(rtype.name, {}).get(ext_id) if system == "vcard" else None
            theirs = made is not None and made != current_id
            if not ours and not theirs and (not isinstance(ids, dict) or not ids.get(system)):
                edits.append(Edit("set", ("external_ids", system), ext_id))
        custom = data.get("custom")
        if not isinstance(custom, dict):
            custom = {}
        for name, text in incoming.custom.items():
            if text and str(custom.get(name)) != text:
                edits.append(Edit("set", ("custom", name), text))
        if incoming.extra is not None and rtype is CONTACT:
            edits.extend(self._kept_lines(incoming, data, current_id))
        return edits

    @staticmethod
    def _kept_lines(incoming: Incoming, data: dict[str, Any], current_id: str | None) -> list[Edit]:
        """The kept vCard lines: the card the record came from (the same UID, or the one
        `crm export vcard` made for it) replaces them, so a line deleted on the phone goes;
        any other card (another UID, or none) only adds the lines the record lacks."""
        from crm.vcard import made_uid

        have = [str(line) for line in as_list(data.get("vcard"))]
        lines = list(incoming.extra or ())
        ids = data.get("external_ids")
        uid = (
            incoming.external[1] if incoming.external and incoming.external[0] == "vcard" else None
        )
        same_card = uid is not None and (
            (isinstance(ids, dict) and str(ids.get("vcard")) == uid)
            or (
                current_id is not None
                and uid == made_uid(current_id, "contact", data.get("created"))
            )
            or (current_id is not None and uid == made_uid(current_id, "contact"))
        )
        if not same_card:
            lines = [*have, *(line for line in lines if line not in have)]
        if lines == have:
            return []
        return [Edit("set", ("vcard",), lines)] if lines else [Edit("unset", ("vcard",))]

    def _attach_photo(
        self, rtype: RecordType, rid: str, incoming: Incoming, edits: list[Edit]
    ) -> list[Edit]:
        if incoming.photo is None or rtype is not CONTACT:
            return edits
        data, suffix = incoming.photo
        path = self.ctx.store.folder(rtype) / f"{rid}.photo.{suffix}"
        try:
            same = path.read_bytes() == data
        except OSError:
            same = False
        name = path.name if same else self.tx.attach(rtype, rid, f"photo.{suffix}", data)
        return [*edits, Edit("set", ("photo",), name)]

    def _drop_taken_emails(
        self,
        rtype: RecordType,
        values: dict[str, Any],
        current: Record | None,
        warnings: list[str],
    ) -> None:
        """Leave out emails another record of the type already has: one email, one record."""
        emails = values.get("emails")
        if not emails:
            return
        owners = self.index(rtype).by_email
        kept = []
        for email in emails if isinstance(emails, list) else [emails]:
            owner = owners.get(email_key(str(email)))
            if owner is not None and (current is None or owner != current.id):
                warnings.append(f"emails: {email} is the email of {rtype.name} {owner}; left out")
            else:
                kept.append(email)
        values["emails"] = kept

    # -- companies -------------------------------------------------------------------------

    def _company_at(self, emails: Any) -> str | None:
        """The company whose web domain is that of one of `emails` (free mail says nothing)."""
        idx = self.index(COMPANY)
        for domain in (domain_key(str(e)) for e in _texts(emails)):
            if domain and domain in idx.by_domain:
                return idx.by_domain[domain]
        return None

    def company_for(
        self, name: str, emails: Any, work: Sequence[str] = (), *, source: str = ""
    ) -> str:
        """The id of the company called `name` (compared loosely: `ACME GmbH` is `Acme`), else
        the one at the domain of a work email (`EMAIL;TYPE=WORK:jane@ibm.com`: the company with
        domain ibm.com, whatever its name), else a new one, with the domain of one of `emails`
        when no company has it. Only work emails: a home address at a small provider names
        no employer, and the company that first came with that domain would take everyone."""
        if name in self.records(COMPANY):  # an id, as `crm export csv` writes it
            return name
        idx = self.index(COMPANY)
        domains = [d for d in (domain_key(str(e)) for e in _texts(emails)) if d]
        found = idx.match({"name": name}, by=("name",))
        if found is not None:
            return found[0]
        at = self._company_at(work)
        if at is not None:
            return at
        values: dict[str, Any] = {"name": name}
        if domains and not idx.by_domain.get(domains[0]):
            values["domain"] = domains[0]
        outcome = self.upsert(COMPANY, Incoming(source=source, values=values))
        assert outcome.id is not None
        self.outcomes.append(replace(outcome, reason="named by an imported contact"))
        return outcome.id

    def _existing_or_new_company(self, rtype: RecordType, name: str, source: str) -> str:
        """A company for a deal or lead: a lead keeps the name as text; a deal links one."""
        if rtype.name == "lead":
            return name
        try:
            return self._resolve_ref("company", name)
        except CrmError:
            return self.company_for(name, None, source=source)


def _valid_emails(incoming: Incoming) -> Incoming:
    """`incoming` without the emails that are not valid, each left out with a warning."""
    from crm.errors import ValidationError
    from crm.validate import normalize_email

    emails = incoming.values.get("emails")
    if not emails:
        return incoming
    kept: list[str] = []
    warnings = list(incoming.warnings)
    for email in _texts(emails):
        try:
            normalize_email(email.strip())
        except ValidationError as exc:
            warnings.append(f"emails: {exc.message}; left out")
            continue
        kept.append(email)
    if len(kept) == len(_texts(emails)):
        return incoming
    return replace(incoming, values={**incoming.values, "emails": kept}, warnings=tuple(warnings))


def _texts(value: Any) -> Sequence[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]


def summary(outcomes: Sequence[Outcome], dry_run: bool) -> str:
    """`Imported 2 contacts (1 created, 1 updated), 1 company (1 created); 1 skipped`."""
    from crm.models import RECORD_TYPES

    by_type: dict[str, dict[str, int]] = {}
    skipped = 0
    for outcome in outcomes:
        if outcome.action == "skipped":
            skipped += 1
            continue
        counts = by_type.setdefault(outcome.type, {})
        counts[outcome.action] = counts.get(outcome.action, 0) + 1
    parts = []
    for name, counts in sorted(by_type.items(), key=lambda kv: list(RECORD_TYPES).index(kv[0])):
        rtype = RECORD_TYPES[name]
        total = sum(counts.values())
        noun = rtype.name.replace("_", " ") if total == 1 else rtype.plural.replace("_", " ")
        detail = ", ".join(f"{n} {action}" for action, n in counts.items())
        parts.append(f"{total} {noun} ({detail})")
    text = ("Would import " if dry_run else "Imported ") + (", ".join(parts) or "nothing")
    return text + (f"; {skipped} skipped" if skipped else "")
