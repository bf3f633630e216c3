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

    @staticmethod
    def _add(idx: Index, rec: Record) -> None:
        idx.add(rec.id, rec.data)
        if rec.type.name in ("contact", "company"):  # the UID `crm export vcard` made for it
            from crm.vcard import made_uid

            idx.by_external.setdefault(("vcard", made_uid(rec.id, rec.type.name)), rec.id)

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
            self.outcomes.append(outcome)
            advance()
        return self.outcomes

    def upsert(self, rtype: RecordType, incoming: Incoming) -> Outcome:
        title = str(incoming.values.get(rtype.title) or "").strip()
        found = self.index(rtype).match(
            match_data(rtype, incoming), by=match_order(rtype, incoming)
        )
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
            values["company"] = self.company_for(incoming.company, values.get("emails"))
        elif incoming.company:
            values["company"] = self._existing_or_new_company(rtype, incoming.company)
        if incoming.contact:
            values["contact"] = self._resolve_ref("contact", incoming.contact)
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
                and ext_id == made_uid(current_id, rtype.name)
            )
            if not ours and (not isinstance(ids, dict) or str(ids.get(system)) != ext_id):
                edits.append(Edit("set", ("external_ids", system), ext_id))
        custom = data.get("custom")
        if not isinstance(custom, dict):
            custom = {}
        for name, text in incoming.custom.items():
            if text and str(custom.get(name)) != text:
                edits.append(Edit("set", ("custom", name), text))
        if incoming.extra is not None and rtype is CONTACT:
            if incoming.extra:
                edits.append(Edit("set", ("vcard",), list(incoming.extra)))
            elif data.get("vcard"):
                edits.append(Edit("unset", ("vcard",)))
        return edits

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

    def company_for(self, name: str, emails: Any) -> str:
        """The id of the company called `name` (compared loosely: `ACME GmbH` is `Acme`),
        created if there is none, with the domain of a work email when no company has it."""
        if name in self.records(COMPANY):  # an id, as `crm export csv` writes it
            return name
        idx = self.index(COMPANY)
        domains = [d for d in (domain_key(str(e)) for e in _texts(emails)) if d]
        found = idx.match({"name": name}, by=("name",))
        if found is not None:
            return found[0]
        values: dict[str, Any] = {"name": name}
        if domains and not idx.by_domain.get(domains[0]):
            values["domain"] = domains[0]
        outcome = self.upsert(COMPANY, Incoming(source="", values=values))
        assert outcome.id is not None
        self.outcomes.append(replace(outcome, reason="named by an imported contact"))
        return outcome.id

    def _existing_or_new_company(self, rtype: RecordType, name: str) -> str:
        """A company for a deal or lead: a lead keeps the name as text; a deal links one."""
        if rtype.name == "lead":
            return name
        try:
            return self._resolve_ref("company", name)
        except CrmError:
            return self.company_for(name, None)


def _texts(value: Any) -> Sequence[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


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
