"""crm merge: duplicates become one record, and every reference follows."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from crm import output
from crm.commands._options import DryRunOpt
from crm.commands._records import LINKABLE, done, find
from crm.context import AppContext, app_context
from crm.errors import DataError, NotFoundError, UsageError, ValidationError
from crm.merging import Prefer
from crm.models import RECORD_TYPES, RecordType

if TYPE_CHECKING:
    from crm.merging import Plan
    from crm.records import Record
    from crm.store.repo import Transaction


def merge(
    kind: Annotated[
        str,
        typer.Argument(metavar="TYPE", help="contact, company, lead or deal.", show_default=False),
    ],
    keep: Annotated[
        str,
        typer.Argument(
            metavar="KEEP", help="The record to keep: id, unique id prefix, email or name."
        ),
    ],
    others: Annotated[
        list[str],
        typer.Argument(metavar="OTHER...", help="The records merged into it, then removed."),
    ],
    prefer: Annotated[
        Prefer,
        typer.Option(
            "--prefer",
            case_sensitive=False,
            help="Whose value a conflict keeps: keep (the default) or other.",
        ),
    ] = Prefer.KEEP,
    dry_run: DryRunOpt = False,
) -> None:
    """Merge duplicates into the record kept, and make every reference name it.

    Field by field: lists (emails, phones, tags) are unioned, emails and phones compared
    normalised; address, custom fields and external ids merge key by key; notes are joined;
    history is merged by date; `created` is the earliest. Two different values of a field are
    a conflict: --prefer says which stays, and each is reported on stderr. A contact's photo
    goes with the value kept. Then every deal, activity, task, quote, invoice, credit note,
    recurring invoice, contact and converted lead that named an OTHER names KEEP, and the
    OTHERs are removed: all in one step, or nothing. Refused (nothing written) for unknown or
    ambiguous records, a record merged with itself, records of different types, and records
    that issued invoices or credit notes name (those never change).

    \b
    Examples:
      crm merge contact ada-lovelace ada-lovelace-2
      crm merge companies acme-corp acme-gmbh acme --prefer other --dry-run
    """
    from crm.merging import merge_type

    rtype = merge_type(kind)
    ctx = app_context()
    with ctx.store.transaction(dry_run=dry_run) as tx:
        plan = _plan(ctx, rtype, keep, others, prefer)
        _carry_out(ctx, tx, plan)
    for conflict in plan.conflicts:
        output.warn(
            f"conflict in {conflict.field}: kept {_shown(conflict.kept)} ({conflict.kept_from}), "
            f"dropped {_shown(conflict.dropped)} ({conflict.dropped_from})"
        )
    if dry_run:
        output.emit_diff(tx.changes)
        return
    merged = ", ".join(o.id for o in plan.others)
    rewritten = f"; references updated in {len(plan.rewrites)} record(s)" if plan.rewrites else ""
    done(f"Merged {merged} into {plan.keep.path}{rewritten}")


def _plan(ctx: AppContext, rtype: RecordType, keep: str, others: list[str], prefer: Prefer) -> Plan:
    from crm import dates, merging
    from crm.matching import region_of
    from crm.records import validate

    kept = _find(ctx, rtype, keep)
    merged = [_find(ctx, rtype, ref) for ref in others]
    everything: dict[str, list[Record]] = {}
    for user in merging.referring_types(rtype.name):
        scan = ctx.store.scan(user)
        if scan.problems:  # a reference in an unreadable file could not be rewritten
            problem = scan.problems[0]
            raise DataError(
                problem.path,
                problem.detail,
                line=problem.line,
                hint="a merge rewrites every reference: fix the file first (see `crm check`)",
            )
        everything[user.name] = scan.records
    plan = merging.plan(
        kept,
        merged,
        everything,
        prefer=prefer,
        region=region_of(ctx.config.business),
        now=dates.now(),
    )
    issues = validate(_as_record(kept, plan.data), ctx.config)
    if issues:
        shown = "; ".join(issue.message for issue in issues[:3])
        raise ValidationError(
            f"the merged {rtype.name} would not be valid: {shown}",
            hint=f"correct the records first (crm {rtype.name} edit ...)",
        )
    return plan


def _find(ctx: AppContext, rtype: RecordType, ref: str) -> Record:
    """A record of `rtype`; a `type:` prefix naming another type, or a reference that only
    another type has, says that records of different types never merge."""
    kind, colon, rest = ref.partition(":")
    if colon and kind in LINKABLE:
        if kind != rtype.name:
            raise UsageError(
                f"cannot merge {kind} {rest} into a {rtype.name}: "
                "records of different types never merge"
            )
        ref = rest
    try:
        return find(ctx, rtype, ref)
    except NotFoundError:
        for name in LINKABLE:
            other = RECORD_TYPES[name]
            if name != rtype.name and ctx.store.exists(other, ref.strip().lower()):
                raise UsageError(
                    f"'{ref}' is a {name}, not a {rtype.name}: records of different types "
                    "never merge"
                ) from None
        raise


def _carry_out(ctx: AppContext, tx: Transaction, plan: Plan) -> None:
    """Stage the whole merge: the kept record, the files beside it, every reference, removals."""
    rtype = plan.keep.type
    tx.update(plan.keep, list(plan.edits))
    for move in plan.files:
        if move.target is not None:
            try:
                data = (ctx.store.folder(rtype) / move.source).read_bytes()
            except FileNotFoundError:
                output.warn(f"{rtype.plural}/{move.source} is missing; it was not moved")
            else:
                tx.attach(rtype, plan.keep.id, move.target.removeprefix(f"{plan.keep.id}."), data)
        if move.source != move.target:
            tx.detach(rtype, move.source)
    for rec, edits in plan.rewrites:
        tx.update(rec, list(edits))
    for other in plan.others:
        tx.delete(rtype, other.id)


def _as_record(rec: Record, data: dict[str, Any]) -> Record:
    from dataclasses import replace

    return replace(rec, data=data, lines={}, raw={})


def _shown(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)
