"""crm lead: people who may become customers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from crm import dates, output
from crm.commands._options import (
    DryRunOpt,
    EmailOpt,
    FieldOpt,
    FormatOpt,
    IdOpt,
    NotesOpt,
    PhoneOpt,
    RefArg,
    TagOpt,
    WhereOpt,
)
from crm.commands._records import add_record, find, record_app, resolver, scan, select
from crm.context import AppContext, app_context
from crm.errors import ConflictError, CrmError, UsageError, ValidationError
from crm.ids import slugify
from crm.models import COMPANY, CONTACT, DEAL, LEAD, LEAD_STATUSES, RecordType
from crm.records import Edit, as_list, email_key, new_record, plan
from crm.store.repo import Transaction
from crm.views import objects


def add(
    name: Annotated[str | None, typer.Argument(help="Full name.", show_default=False)] = None,
    company: Annotated[
        str | None, typer.Option("--company", "-c", help="Company name, as plain text.")
    ] = None,
    title: Annotated[str | None, typer.Option("--title", help="Job title or role.")] = None,
    email: EmailOpt = None,
    phone: PhoneOpt = None,
    source: Annotated[
        str | None,
        typer.Option("--source", help="Where the lead came from (website, referral...)."),
    ] = None,
    status: Annotated[
        str, typer.Option("--status", help=f"One of: {', '.join(LEAD_STATUSES[:-1])}.")
    ] = "new",
    budget: Annotated[
        str | None, typer.Option("--budget", help="BANT: their budget, e.g. 5000.")
    ] = None,
    authority: Annotated[
        str | None, typer.Option("--authority", help="BANT: whether they decide (yes/no).")
    ] = None,
    need: Annotated[str | None, typer.Option("--need", help="BANT: what they need.")] = None,
    timeline: Annotated[
        str | None, typer.Option("--timeline", help="BANT: when (e.g. Q1 2027).")
    ] = None,
    last_contact: Annotated[
        str | None, typer.Option("--last-contact", help="When you last spoke (YYYY-MM-DD).")
    ] = None,
    tag: TagOpt = None,
    notes: NotesOpt = None,
    field: FieldOpt = None,
    id: IdOpt = None,
    from_json: Annotated[
        str | None,
        typer.Option(
            "--from-json",
            help="Read the lead (a JSON object, or a list of them) from this file; - for stdin.",
            show_default=False,
        ),
    ] = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Add a lead and print its id.

    With --from-json, leads come as JSON, as a web form's webhook or a mail filter sends them:
    keys named like fields fill them (email, phone, company, source, ...), other keys are kept
    under `form:`. A lead whose email is already a lead's or a contact's is reported on stderr
    and not added. The ids of the leads added are printed, one per line.

    \b
    Examples:
      crm lead add "Grace Hopper" --company "Navy Labs" --email grace@navy.example --source referral
      crm lead add "Alan Turing" --status contacted --tag conference
      echo '{"name": "Ada", "email": "ada@x.example", "message": "Hi"}' | crm lead add --from-json -
    """
    if from_json is not None:
        if name is not None:
            raise UsageError("give a NAME or --from-json, not both")
        _add_from_json(from_json, dry_run)
        return
    if name is None:
        raise UsageError("a lead needs a NAME (or --from-json)")
    add_record(
        LEAD,
        {
            "name": name,
            "company": company,
            "title": title,
            "emails": email,
            "phones": phone,
            "source": source,
            "status": status,
            "budget": budget,
            "authority": authority,
            "need": need,
            "timeline": timeline,
            "last_contact": last_contact,
            "tags": tag,
            "notes": notes,
        },
        custom=field,
        explicit_id=id,
        dry_run=dry_run,
    )


app = record_app(LEAD, "status=new and source=website", add)


def _add_from_json(source: str, dry_run: bool) -> None:
    import json
    import sys

    from crm.leads import from_json

    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        data = json.loads(text)
    except OSError as exc:
        raise UsageError(f"--from-json: cannot read {source}: {exc.strerror}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationError(f"--from-json: not valid JSON: {exc}") from exc
    items = data if isinstance(data, list) else [data]
    ctx = app_context()
    config = ctx.config
    created: list[str] = []
    with ctx.store.transaction(dry_run=dry_run) as tx:
        known = scan(ctx, LEAD, quiet=True) + scan(ctx, CONTACT, quiet=True)
        taken = {email_key(e): f"{r.type.name} {r.id}" for r in known for e in r.list_of("emails")}
        for number, item in enumerate(items, 1):
            try:
                assignments, form = from_json(item, config)
                edits = plan(LEAD, config, {}, assignments, (), resolver(ctx), tx.now)
            except CrmError as exc:
                where = f"lead {number} of {len(items)}: " if len(items) > 1 else ""
                raise type(exc)(f"{where}{exc.message}", hint=exc.hint) from exc
            extra = [Edit("set", ("form",), form)] if form else []  # keys crm has no field for
            body = new_record(LEAD, config, [*edits, *extra], tx.now)
            emails = [email_key(e) for e in as_list(body.get("emails"))]
            clash = next((taken[e] for e in emails if e in taken), None)
            if clash is not None:
                output.warn(f"not added: {body['name']} is already {clash}")
                continue
            rid = tx.create(LEAD, body, base=slugify(str(body["name"]), fallback="lead"))
            created.append(rid)
            taken.update(dict.fromkeys(emails, f"lead {rid}"))
    if dry_run:
        output.emit_diff(tx.changes)
        return
    for rid in created:
        print(rid)


def score(
    ref: Annotated[
        str | None, typer.Argument(help="One lead (default: every open lead).", show_default=False)
    ] = None,
    where: WhereOpt = None,
    fmt: FormatOpt = None,
) -> None:
    """Score leads with the rules in crm.yaml, and show which rules gave the points.

    Scores are computed when asked, never stored: `lead list` shows them too, and can sort
    (--sort -score) and filter (--where "band=hot") by them. Converted, unqualified and junk
    leads are left out unless named.

    \b
    Examples:
      crm lead score
      crm lead score grace --format json
    """
    from crm.scoring import Scorer

    ctx = app_context()
    config = ctx.config
    if ref is not None:
        rec = find(ctx, LEAD, ref)
        pairs = [(rec, objects([rec], config, dates.now())[0])]
    else:
        pairs = [
            (rec, obj)
            for rec, obj in select(ctx, LEAD, where, None, None)
            if obj.get("status") not in ("converted", "junk", "unqualified")
        ]
    scorer = Scorer(config)
    rows = []
    for rec, obj in pairs:
        result = scorer.score(obj)
        reasons = "; ".join(f"{r.label} ({r.points:+d})" for r in result.hits)
        rows.append(
            {
                "id": rec.id,
                "name": rec.title,
                "status": obj.get("status"),
                **result.json(),
                "reasons": reasons,
            }
        )
    rows.sort(key=lambda r: (-r["score"], r["id"]))
    output.emit_scores(rows, output.resolve_format(fmt))


def convert(
    ref: RefArg,
    deal: Annotated[
        str | None, typer.Option("--deal", help="Also open a deal with this title.")
    ] = None,
    value: Annotated[str | None, typer.Option("--value", help="The deal's value.")] = None,
    stage: Annotated[str | None, typer.Option("--stage", help="The deal's stage.")] = None,
    pipeline: Annotated[str | None, typer.Option("--pipeline", help="The deal's pipeline.")] = None,
    currency: Annotated[str | None, typer.Option("--currency", help="The deal's currency.")] = None,
    close_date: Annotated[
        str | None, typer.Option("--close-date", help="The deal's expected close date.")
    ] = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Convert a lead: make (or find) its company and contact, optionally open a deal.

    An existing company with the lead's company name (or its email's domain) and an existing
    contact with its email (or name) are linked instead of duplicated. The lead is marked
    converted, with links to what it became. All or nothing; converting twice is refused.
    Prints one line per record: its type, id, and whether it was created or linked.

    \b
    Examples:
      crm lead convert grace
      crm lead convert grace --deal "Intranet relaunch" --value 18000 --stage proposal
    """
    details = {
        "value": value,
        "stage": stage,
        "pipeline": pipeline,
        "currency": currency,
        "close_date": close_date,
    }
    if deal is None and any(details.values()):
        raise UsageError("--value, --stage, ... describe the deal: add --deal TITLE")
    ctx = app_context()
    with ctx.store.transaction(dry_run=dry_run) as tx:
        result = _Conversion(ctx, tx).run(ref, deal, details)
    if dry_run:
        output.emit_diff(tx.changes)
        return
    for kind, rid, how in result:
        print(f"{kind}\t{rid}\t{how}")


class _Conversion:
    """`lead convert` inside one transaction: records made here resolve as references."""

    def __init__(self, ctx: AppContext, tx: Transaction) -> None:
        self.ctx = ctx
        self.tx = tx
        self.made: set[tuple[str, str]] = set()

    def resolve(self, target: str, text: str) -> str:
        return text if (target, text) in self.made else resolver(self.ctx)(target, text)

    def create(self, rtype: RecordType, assignments: list[tuple[str, str, Any]]) -> str:
        config = self.ctx.config
        edits = plan(rtype, config, {}, assignments, (), self.resolve, self.tx.now)
        body = new_record(rtype, config, edits, self.tx.now)
        rid = self.tx.create(rtype, body, base=slugify(str(body[rtype.title]), fallback=rtype.name))
        self.made.add((rtype.name, rid))
        return rid

    def run(
        self, ref: str, deal: str | None, details: dict[str, str | None]
    ) -> list[tuple[str, str, str]]:
        from crm.leads import contact_assignments, match_company, match_contact

        ctx, config = self.ctx, self.ctx.config
        lead = find(ctx, LEAD, ref)
        links = lead.data.get("converted")
        if lead.data.get("status") == "converted" or links:
            shown = ", ".join(f"{k} {v}" for k, v in (links or {}).items() if k != "at")
            raise ConflictError(f"lead {lead.id} is already converted ({shown or 'no links'})")
        out: list[tuple[str, str, str]] = []
        company = match_company(lead, scan(ctx, COMPANY, quiet=True))
        company_id = company.id if company else None
        if company is None and lead.data.get("company"):
            company_id = self.create(COMPANY, [("name", "=", str(lead.data["company"]))])
        if company_id:
            out.append(("company", company_id, "linked" if company else "created"))
        contact = match_contact(lead, scan(ctx, CONTACT, quiet=True))
        contact_id = contact.id if contact else None
        if contact_id is None:
            contact_id = self.create(CONTACT, contact_assignments(lead, company_id))
        out.append(("contact", contact_id, "linked" if contact else "created"))
        if deal is not None:
            fields = {"title": deal, "contact": contact_id, "company": company_id, **details}
            deal_id = self.create(DEAL, [(k, "=", v) for k, v in fields.items() if v])
            out.append(("deal", deal_id, "created"))
        converted: dict[str, Any] = {kind: rid for kind, rid, _ in out}
        converted["at"] = self.tx.now
        edits = plan(
            LEAD,
            config,
            lead.data,
            [("status", "=", "converted")],
            (),
            self.resolve,
            self.tx.now,
            extra=[Edit("set", ("converted",), converted)],
        )
        self.tx.update(lead, edits)
        return out


app.command("score")(score)
app.command("convert")(convert)
