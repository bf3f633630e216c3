"""The commands every record type has: add (through `add_record`), list, show, edit, set, rm."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from crm import dates, output
from crm.commands._options import (
    CrmTyper,
    DryRunOpt,
    FormatOpt,
    LimitOpt,
    RefArg,
    SegmentOpt,
    SortOpt,
    TagFilterOpt,
    WhereOpt,
    interactive,
)
from crm.config import Config, Pipeline
from crm.context import AppContext, app_context
from crm.errors import (
    AmbiguousRefError,
    ConflictError,
    DataError,
    NotFoundError,
    UsageError,
    ValidationError,
)
from crm.ids import slugify
from crm.models import COMPANY, DEAL, RECORD_TYPES, TIME, Issue, Kind, RecordType, record_type
from crm.pipeline import DealLine, deal_line
from crm.records import (
    Edit,
    Record,
    apply,
    check_id,
    dangling,
    email_clash,
    history_edits,
    new_record,
    parse_assignment,
    plan,
    referrers,
    resolve,
    target,
    to_json,
    unlink_edits,
    validate_one,
)
from crm.views import objects

if TYPE_CHECKING:
    from crm.store.repo import Transaction

# -- finding records --------------------------------------------------------------------------


def find(ctx: AppContext, rtype: RecordType, ref: str) -> Record:
    """The record `ref` names; an exact id is read directly, anything else searches the type
    (quotes, invoices and credit notes by their number too)."""
    wanted = ref.strip().lower()
    if ctx.store.exists(rtype, wanted):
        return ctx.store.read(rtype, wanted)
    records = scan(ctx, rtype)
    if rtype.name in ("quote", "invoice", "credit_note"):  # by number: 2026-0007
        for rec in records:
            if str(rec.data.get("number") or "").lower() == wanted:
                return rec
    return resolve(rtype, records, ref)


LINKABLE = ("contact", "company", "lead", "deal")


def find_any(ctx: AppContext, ref: str) -> Record:
    """A contact, company, lead or deal: `type:ref` says which, else the one type it matches."""
    kind, colon, rest = ref.partition(":")
    if colon and kind in LINKABLE:
        return find(ctx, RECORD_TYPES[kind], rest)
    wanted = ref.strip().lower()
    exact = [RECORD_TYPES[t] for t in LINKABLE if ctx.store.exists(RECORD_TYPES[t], wanted)]
    if len(exact) == 1:
        return ctx.store.read(exact[0], wanted)
    found: list[Record] = []
    for name in LINKABLE:
        try:
            found.append(find(ctx, RECORD_TYPES[name], ref))
        except NotFoundError:
            continue
    if len(found) == 1:
        return found[0]
    if not found:
        raise NotFoundError(f"no contact, company, lead or deal matches '{ref}'")
    shown = [f"{r.type.name}:{r.id} ({r.title})" for r in found]
    raise AmbiguousRefError("record", ref, shown)


def links(records: Sequence[Record]) -> list[tuple[str, str, Any]]:
    """Assignments linking an activity or a task to `records` (contacts=..., deals=...)."""
    grouped: dict[str, list[str]] = {}
    for rec in records:
        grouped.setdefault(rec.type.plural, [])
        if rec.id not in grouped[rec.type.plural]:
            grouped[rec.type.plural].append(rec.id)
    return [(plural, "=", ids) for plural, ids in grouped.items()]


def task_follow_ups(
    ctx: AppContext, tx: Transaction, rec: Record, edits: Sequence[Edit], *, moves_series: bool
) -> tuple[list[Edit], str | None]:
    """What a change to a task brings with it, however it is made (`done`, `set`, `edit`).

    A task becoming done gets `done_at` and, if it repeats, its next occurrence (created here,
    its id kept in `next` so that doing it twice never makes two). A new due date set on a
    repeating task (`moves_series`) moves the series: it becomes the anchor of the next ones.
    """
    from crm.tasks import next_task_edits

    if rec.type.name != "task":
        return [], None
    after = apply(rec.data, edits, typed=True)
    extra: list[Edit] = []
    if moves_series and after.get("repeat") and after.get("due") != rec.data.get("due"):
        extra.append(Edit("set", ("anchor",), after["due"]))
    created = None
    if after.get("status") == "done" and rec.data.get("status") != "done":
        extra.append(Edit("set", ("done_at",), tx.now))
        following = next_task_edits(replace(rec, data=apply(rec.data, edits)), tx.now)
        if following:
            body = new_record(rec.type, ctx.config, following, tx.now)
            created = tx.create(rec.type, body, base=slugify(rec.title, fallback="task"))
            extra.append(Edit("set", ("next",), created))
    return extra, created


def scan(ctx: AppContext, rtype: RecordType, *, quiet: bool = False) -> list[Record]:
    scan = ctx.store.scan(rtype)
    if not quiet:
        for problem in scan.problems:
            output.warn(f"skipped {problem}")
    return scan.records


def resolver(ctx: AppContext) -> Callable[[str, str], str]:
    def resolve_ref(target: str, ref: str) -> str:
        return find(ctx, RECORD_TYPES[target], ref).id

    return resolve_ref


def _stdin_notes(
    rtype: RecordType, config: Config, assignment: tuple[str, str, str]
) -> tuple[str, str, str]:
    """`notes=-` reads the notes from stdin, as `add --notes -` does."""
    key, operator, value = assignment
    if value == "-" and target(rtype, config, key).field.kind is Kind.LONGTEXT:
        return key, operator, sys.stdin.read()
    return assignment


def _read_stdin_if_dash(value: str | None) -> str | None:
    if value == "-":
        return sys.stdin.read()
    return value


def select(
    ctx: AppContext,
    rtype: RecordType,
    where: str | None,
    tags: Sequence[str] | None,
    segment: str | None,
) -> list[tuple[Record, dict[str, Any]]]:
    """The records of a type that pass --where, every --tag and --segment, with their JSON."""
    from crm.query import parse_where

    config = ctx.config
    predicates = [parse_where(where, rtype, config)] if where else []
    if segment:
        if segment not in config.segments:
            known = ", ".join(config.segments) or "none declared in crm.yaml"
            raise UsageError(f"no segment '{segment}'", hint=f"segments: {known}")
        expression = config.segment(segment, rtype.name)
        if expression is None:
            raise UsageError(f"segment '{segment}' has no filter for {rtype.plural}")
        try:
            predicates.append(parse_where(expression, rtype, config))
        except UsageError as exc:
            raise UsageError(f"segment '{segment}': {exc.message}", hint=exc.hint) from exc
    records = scan(ctx, rtype)
    credits = scan(ctx, RECORD_TYPES["credit_note"], quiet=True) if rtype.name == "invoice" else []
    pairs = list(zip(records, objects(records, config, dates.now(), credits), strict=True))
    wanted = [t.lower() for t in tags or ()]
    return [
        (rec, obj)
        for rec, obj in pairs
        if all(t in (x.lower() for x in obj["tags"]) for t in wanted)
        and all(p(obj) for p in predicates)
    ]


def select_records(
    ctx: AppContext,
    rtype: RecordType,
    where: str | None,
    tags: Sequence[str] | None,
    segment: str | None,
) -> list[Record]:
    """`select` for callers that need only the records: without filters, no JSON is made."""
    if not (where or tags or segment):
        return scan(ctx, rtype)
    return [rec for rec, _ in select(ctx, rtype, where, tags, segment)]


def chosen_pipeline(config: Config, name: str | None) -> Pipeline:
    """The pipeline --pipeline names (the default one for None)."""
    chosen = config.pipeline(name)
    if chosen is None:
        known = ", ".join(p.name for p in config.pipelines)
        raise UsageError(f"no pipeline '{name}'", hint=f"pipelines: {known}")
    return chosen


def deal_lines(
    ctx: AppContext, where: str | None, tags: Sequence[str] | None, segment: str | None
) -> list[DealLine]:
    """The selected deals for the board, the forecast and the reports, with company names.

    Deals whose pipeline or stage crm.yaml does not declare cannot be placed: they are left
    out with a warning rather than silently.
    """
    config = ctx.config
    now = dates.now()
    lines = [deal_line(rec, config, now) for rec in select_records(ctx, DEAL, where, tags, segment)]
    unplaced = [line.record.id for line in lines if line.stage is None]
    if unplaced:
        shown = ", ".join(unplaced[:5]) + (", ..." if len(unplaced) > 5 else "")
        output.warn(
            f"left out {len(unplaced)} deal(s) whose pipeline or stage crm.yaml does not "
            f"declare: {shown} (see `crm check`)"
        )
    names = {c.id: c.title for c in scan(ctx, COMPANY, quiet=True)}
    return [
        replace(line, company_name=names.get(str(line.record.data.get("company"))))
        for line in lines
        if line.stage is not None
    ]


# -- add --------------------------------------------------------------------------------------


def add_record(
    rtype: RecordType,
    values: Mapping[str, Any],
    *,
    custom: Sequence[str] | None,
    explicit_id: str | None,
    dry_run: bool,
    base: str | None = None,
    also: Callable[[Transaction, Mapping[str, Any]], None] | None = None,
) -> str | None:
    """Create a record from option values (field name -> text or list of texts); print its id.

    The id is `explicit_id`, else made from `base`, else from the record's name or title.
    `also` makes further changes in the same transaction, given the new record's data."""
    ctx = app_context()
    config = ctx.config
    assignments: list[tuple[str, str, Any]] = []
    for key, value in values.items():
        if key == "notes":
            value = _read_stdin_if_dash(value)
        if value not in (None, [], ()):
            assignments.append((key, "=", list(value) if isinstance(value, tuple) else value))
    for item in custom or ():
        key, operator, value = parse_assignment(item)
        if operator != "=":
            raise UsageError(f"--field takes KEY=VALUE, got '{item}'")
        assignments.append((f"custom.{key}", "=", value))
    if explicit_id is not None:
        check_id(rtype, explicit_id)
    with ctx.store.transaction(dry_run=dry_run) as tx:
        edits = plan(rtype, config, {}, assignments, [], resolver(ctx), tx.now)
        preview = apply({}, edits)
        _refuse_duplicate_emails(ctx, rtype, preview, None)
        lookalikes = _lookalikes(ctx, rtype, preview)
        body = new_record(rtype, config, edits, tx.now)
        title = str(preview.get(rtype.title, "")).split("\n")[0]
        base = explicit_id or base or slugify(title, fallback=rtype.name)
        rid = tx.create(rtype, body, base=base, exact=explicit_id is not None)
        if also is not None:
            also(tx, preview)
    for other, reason in lookalikes:
        output.warn(
            f"{rid} looks like {rtype.name} {other.id} ({reason}); "
            f"if it is the same, `crm merge {rtype.name} {other.id} {rid}`"
        )
    if dry_run:
        output.emit_diff(tx.changes)
        return None
    print(rid)
    return rid


def _lookalikes(
    ctx: AppContext, rtype: RecordType, data: Mapping[str, Any]
) -> list[tuple[Record, str]]:
    """Existing records a new one looks like (same phone, a similar name): at most three."""
    if rtype.name not in ("contact", "company", "lead"):
        return []
    from crm.dedupe import lookalikes, plain_keys
    from crm.matching import region_of

    region = region_of(ctx.config.business)
    records = scan(ctx, rtype, quiet=True)
    keys = ctx.store.derived(
        "keys", records, region, lambda rec: plain_keys(rtype.name, rec, region)
    )
    found = lookalikes(rtype.name, data, records, region, keys=keys)
    return [(rec, reason) for rec, reason, _ in found[:3]]


def _refuse_duplicate_emails(
    ctx: AppContext, rtype: RecordType, data: Mapping[str, Any], self_id: str | None
) -> None:
    if not data.get("emails"):
        return
    clash = email_clash(data, scan(ctx, rtype, quiet=True), self_id)
    if clash is not None:
        email, rec = clash
        raise ConflictError(
            f"{email} is already the email of {rtype.name} {rec.id} ({rec.title})",
            hint=f"see `crm {rtype.name} show {rec.id}`",
        )


def _exists(ctx: AppContext) -> Callable[[str, str], bool]:
    return lambda rtype, rid: ctx.store.exists(RECORD_TYPES[rtype], rid)


# -- related records --------------------------------------------------------------------------


def _summary(rec: Record, config: Config) -> dict[str, Any]:
    obj = to_json(rec, config)
    if rec.type.name in ("quote", "invoice", "credit_note"):
        from crm.documents import money_fields

        obj.update(money_fields(rec, config, dates.today()))
    elif rec.type.name == "recurring":
        from crm.invoicing import recurring_state

        obj.update(recurring_state(rec, dates.today()))
    return {c: obj.get(c) for c in rec.type.columns}


def related(ctx: AppContext, rec: Record) -> dict[str, Any]:
    """Records `rec` points to (its company, contact) and records pointing to it (deals)."""
    config = ctx.config
    out: dict[str, Any] = {}
    for problem in dangling(rec, _exists(ctx)):
        output.warn(str(problem))
    for f in rec.type.refs():
        ref = rec.data.get(f.name)
        assert f.target is not None
        target = RECORD_TYPES[f.target]
        out[f.name] = None
        if isinstance(ref, str) and ctx.store.exists(target, ref):
            try:
                other = ctx.store.read(target, ref)
            except DataError as exc:
                output.warn(f"skipped {exc}")
                out[f.name] = {"id": ref, target.title: None}
                continue
            out[f.name] = {"id": other.id, target.title: other.title}
    for other_type in RECORD_TYPES.values():
        if other_type.name in ("activity", "task"):
            continue  # they are in the timeline
        if any(f.target == rec.type.name for f in other_type.refs()):
            everything = {other_type.name: scan(ctx, other_type, quiet=True)}
            rows = [_summary(r, config) for r in referrers(rec, everything)]
            out[other_type.plural] = sorted(rows, key=lambda r: str(r.get("id")))
    return out


def _pairs(
    rtype: RecordType, obj: Mapping[str, Any], rel: Mapping[str, Any], config: Config
) -> list[tuple[str, Any]]:
    """Label and value of each field, as `show` prints them for people."""
    pairs: list[tuple[str, Any]] = [("id", obj["id"])]
    for f in rtype.fields:
        value = obj.get(f.name)
        if f.name in (rtype.title, "notes") or f.kind in (Kind.CUSTOM, Kind.HISTORY):
            continue
        if f.kind is Kind.REF and isinstance(rel.get(f.name), Mapping):
            target = rel[f.name]
            value = f"{target['id']} ({next(iter(v for k, v in target.items() if k != 'id'))})"
        if f.name == "value" and value is not None:
            value = f"{value} {obj.get('currency') or ''}".strip()
            if obj.get("weighted") is not None:  # shown beside the value it weighs
                pairs.append(("value", value))
                value = f"{obj['weighted']} {obj.get('currency') or ''}".strip()
                pairs.append(("weighted", value))
                continue
        if f.name == "currency":
            continue
        pairs.append((f.name.replace("_", " "), value))
    declared = config.custom_fields(rtype.name)
    for name, value in (obj.get("custom") or {}).items():
        spec = declared.get(name)
        if spec is not None and spec.type == "money" and value is not None:
            value = f"{value} {spec.currency or config.currency}"
        pairs.append((spec.label if spec else name.replace("_", " "), value))
    known = {f.name for f in rtype.fields} | {"id", "type", "weighted"}
    pairs.extend((k.replace("_", " "), v) for k, v in obj.items() if k not in known)
    return pairs


# -- the generic commands ---------------------------------------------------------------------


def record_app(
    rtype: RecordType,
    example: str,
    add: Callable[..., None] | None,
    list_command: Callable[..., None] | None = None,
    show_command: Callable[..., None] | None = None,
) -> CrmTyper:
    """A command group for `rtype`: its own `add` (if any), and list, show, edit, set and rm.

    Its help text is the one in `crm.cli.COMMANDS`; `example` is a --where expression.
    """
    app = CrmTyper()
    name = rtype.name.replace("_", "-")  # as typed: crm credit-note
    label = rtype.name.replace("_", " ")  # as said: a credit note
    a_label = ("an " if label[0] in "aeiou" else "a ") + label

    def list_records(
        where: WhereOpt = None,
        sort: SortOpt = None,
        limit: LimitOpt = None,
        tag: TagFilterOpt = None,
        segment: SegmentOpt = None,
        fmt: FormatOpt = None,
    ) -> None:
        from crm.query import field_path, sort_objects

        ctx = app_context()
        objs = [obj for _, obj in select(ctx, rtype, where, tag, segment)]
        objs = sort_objects(
            objs,
            field_path(rtype, ctx.config, (sort or rtype.title).lstrip("-")),
            descending=bool(sort and sort.startswith("-")),
        )
        if limit:
            objs = objs[:limit]
        output.emit_rows(objs, rtype.columns, output.resolve_format(fmt))

    list_records.__doc__ = f"""List {rtype.plural}, filtered and sorted.

    \b
    Examples:
      crm {name} list
      crm {name} list --where "{example}" --sort -updated --limit 10
      crm {name} list --tag client --format json | jq '.[].id'
    """

    def show(
        ref: RefArg,
        fmt: FormatOpt = None,
    ) -> None:
        ctx = app_context()
        rec = find(ctx, rtype, ref)
        credits = (
            scan(ctx, RECORD_TYPES["credit_note"], quiet=True) if rtype.name == "invoice" else []
        )
        obj = objects([rec], ctx.config, dates.now(), credits)[0]
        rel = related(ctx, rec)
        sections = [
            output.Section(key.replace("_", " ").capitalize(), _section_columns(rtype, key), rows)
            for key, rows in rel.items()
            if isinstance(rows, list) and (rows or key in ("contacts", "deals"))
        ]
        events: list[dict[str, Any]] = []
        if rtype.name in LINKABLE:
            events = timeline_of(ctx, rec)
            rows = [{**e, "at": str(e["at"])[:16].replace("T", " ")} for e in events]
            sections.append(output.Section("Timeline", ["at", "kind", "text"], rows))
        detail = output.Detail(
            heading=rec.title,
            pairs=_pairs(rtype, obj, rel, ctx.config),
            notes=obj.get("notes") if isinstance(obj.get("notes"), str) else None,
            sections=sections,
        )
        whole = {**obj, "related": rel, **({"timeline": events} if rtype.name in LINKABLE else {})}
        output.emit_record(whole, detail, output.resolve_format(fmt))

    show.__doc__ = f"""Show one {label} with its related records.

    \b
    Examples:
      crm {name} show {_example_ref(rtype)}
      crm {name} show {_example_ref(rtype)} --format json
    """

    def set_fields(
        ref: RefArg,
        assignments: Annotated[
            list[str] | None,
            typer.Argument(
                help="KEY=VALUE to set; KEY+=VALUE / KEY-=VALUE to add to / remove from a list."
            ),
        ] = None,
        unset: Annotated[
            list[str] | None, typer.Option("--unset", "-u", help="Remove this field (repeatable).")
        ] = None,
        dry_run: DryRunOpt = False,
    ) -> None:
        if not assignments and not unset:
            raise UsageError("nothing to change: give KEY=VALUE or --unset KEY")
        ctx = app_context()
        config = ctx.config
        parsed = [_stdin_notes(rtype, config, parse_assignment(a)) for a in assignments or ()]
        with ctx.store.transaction(dry_run=dry_run) as tx:
            rec = find(ctx, rtype, ref)
            edits = plan(rtype, config, rec.data, parsed, unset or (), resolver(ctx), tx.now)
            refuse_frozen(rec, apply(rec.data, edits))
            _refuse_duplicate_emails(ctx, rtype, apply(rec.data, edits), rec.id)
            extra, created = task_follow_ups(ctx, tx, rec, edits, moves_series=True)
            changed = tx.update(rec, [*edits, *extra])
        if dry_run:
            output.emit_diff(tx.changes)
        elif created:
            print(created)  # the next occurrence of a repeating task
        elif not changed:
            done(f"{rec.path}: already so, nothing changed")
        else:
            done(f"Updated {rec.path}")

    set_fields.__doc__ = f"""Change fields of {a_label}, keeping the rest of its file as written.

    Lists (emails, phones, tags) take comma-separated values; custom fields are set by name.

    \b
    Examples:
      crm {name} set {_example_ref(rtype)} {_example_set(rtype)}
      crm {name} set {_example_ref(rtype)} tags+=vip --unset notes
    """

    def edit(
        ref: RefArg,
        dry_run: DryRunOpt = False,
    ) -> None:
        ctx = app_context()
        rec = find(ctx, rtype, ref)
        edit_in_editor(ctx, rec, dry_run=dry_run)

    edit.__doc__ = f"""Edit {a_label}'s file in $VISUAL or $EDITOR; it is validated before saving.

    \b
    Example:
      crm {name} edit {_example_ref(rtype)}
    """

    def remove(
        ref: RefArg,
        force: Annotated[
            bool, typer.Option("--force", help="Remove even if referenced; clear those references.")
        ] = False,
        yes: Annotated[
            bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")
        ] = False,
        dry_run: DryRunOpt = False,
    ) -> None:
        ctx = app_context()
        rec = find(ctx, rtype, ref)
        if interactive() and not yes and not dry_run:
            typer.confirm(f"Remove {label} {rec.id} ({rec.title})?", abort=True)
        with ctx.store.transaction(dry_run=dry_run) as tx:
            rec = ctx.store.read(rtype, rec.id)
            refuse_removal(rec)
            everything = {t: scan(ctx, RECORD_TYPES[t], quiet=True) for t in _referring(rtype)}
            # Time billed by a draft invoice removed is unbilled again: no --force needed.
            billed_time = rtype.name == "invoice"
            released = [u for u in referrers(rec, everything) if billed_time and u.type is TIME]
            users = [u for u in referrers(rec, everything) if not (billed_time and u.type is TIME)]
            if users and not force:
                shown = ", ".join(f"{u.type.name} {u.id}" for u in users[:5])
                more = f" and {len(users) - 5} more" if len(users) > 5 else ""
                raise ConflictError(
                    f"{label} {rec.id} is referred to by {shown}{more}",
                    hint="--force removes it and clears those references",
                )
            for user in [*users, *released]:
                tx.update(user, unlink_edits(user, rec))
            tx.delete(rtype, rec.id)
        if dry_run:
            output.emit_diff(tx.changes)
        else:
            cleared = f"; cleared the reference in {len(users)} record(s)" if users else ""
            unbilled = f"; {len(released)} time entries are unbilled again" if released else ""
            done(f"Removed {rec.path}{cleared}{unbilled}")

    remove.__doc__ = f"""Remove {a_label}. Refuses while other records refer to it, unless --force.

    \b
    Example:
      crm {name} rm {_example_ref(rtype)} --yes
    """

    if add is not None:
        app.command("add")(add)
    app.command("list")(list_command or list_records)
    app.command("show")(show_command or show)
    app.command("edit")(edit)
    app.command("set")(set_fields)
    app.command("rm")(remove)
    return app


def refuse_frozen(rec: Record, after: Mapping[str, Any]) -> None:
    """An issued invoice or credit note keeps what it says (its number, lines, parties)."""
    from crm.invoicing import frozen_problem

    problem = frozen_problem(rec, after)
    if problem:
        raise ConflictError(problem)


def refuse_removal(rec: Record) -> None:
    """Numbers are never reused: an issued invoice or credit note is never removed. Billed time
    is not removed either: imported again, it would be billed twice."""
    from crm.invoicing import is_issued

    if rec.type.name == "time" and rec.data.get("invoice"):
        raise ConflictError(
            f"time entry {rec.id} is billed on invoice {rec.data['invoice']} and stays",
            hint="remove that draft invoice first to unbill it",
        )
    if is_issued(rec):
        raise ConflictError(
            f"{rec.type.name.replace('_', ' ')} {rec.data.get('number')} is issued and stays: "
            "numbers are never reused",
            hint="cancel it with a credit note: crm invoice credit "
            + str(rec.data.get("invoice") or rec.id),
        )


def timeline_of(ctx: AppContext, rec: Record) -> list[dict[str, Any]]:
    """Everything that happened with a contact, company, lead or deal, newest first."""
    from crm import timeline
    from crm.store.git import file_history

    def records(name: str) -> list[Record]:
        return scan(ctx, RECORD_TYPES[name], quiet=True)

    return timeline.build(
        rec,
        records("activity"),
        records("task"),
        records("deal"),
        records("contact"),
        file_history(ctx.root, rec.path),
    )


def _section_columns(rtype: RecordType, plural: str) -> list[str]:
    """Columns of a related list, less the one that points back at the record shown."""
    other = record_type(plural)
    back = {f.name for f in other.refs() if f.target == rtype.name}
    return [c for c in other.columns if c not in back and c != "probability"]


def _referring(rtype: RecordType) -> list[str]:
    return [t.name for t in RECORD_TYPES.values() if any(f.target == rtype.name for f in t.refs())]


def _example_ref(rtype: RecordType) -> str:
    return {
        "contact": "ada",
        "company": "acme",
        "lead": "grace",
        "deal": "acme-redesign",
        "product": "design-hour",
        "quote": "acme-website",
        "invoice": "2026-0007",
        "credit_note": "CN2026-0001",
        "recurring": "acme-retainer",
        "time": "2026-11-20-homepage",
    }.get(rtype.name, rtype.name)


def _example_set(rtype: RecordType) -> str:
    return {
        "contact": "title=CTO email+=ada@home.example",
        "company": "industry=Retail address.city=Berlin",
        "lead": "status=contacted",
        "deal": "value=5200 close_date=2026-12-15",
        "product": "price=105 tax_rate=19",
        "quote": "valid_until=2026-12-31",
        "invoice": "service_date=2026-11-30",
        "credit_note": "tags+=filed",
        "recurring": "end=2027-12-31",
        "time": "rate=95 billable=no",
    }.get(rtype.name, "notes=...")


def done(message: str) -> None:
    """A confirmation for a person at a terminal; scripts get silence."""
    if sys.stderr.isatty():
        output.info(message)


# -- edit -------------------------------------------------------------------------------------


def edit_in_editor(ctx: AppContext, rec: Record, *, dry_run: bool = False) -> None:
    """The `edit` command: the user edits a scratch copy; it replaces the record once valid.

    The copy lives in `.crm/edit/` under a name of its own, so an edit that could not be saved
    is never overwritten by the next one.
    """
    import tempfile

    from crm import editor
    from crm.store import yamlio
    from crm.store.folder import STATE_DIR

    path = ctx.store.path_of(rec.type, rec.id)
    original = path.read_bytes().decode("utf-8")
    folder = ctx.root / STATE_DIR / "edit"
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f"{rec.type.name}-{rec.id}-", suffix=".yaml", dir=folder)
    scratch = Path(name)
    with open(fd, "w", encoding="utf-8", newline="") as handle:
        handle.write(original)
    while True:
        editor.edit(scratch)
        text = scratch.read_text(encoding="utf-8")
        if text == original:
            scratch.unlink()
            done("No changes.")
            return
        problems = _edited_problems(ctx, rec, text)
        if not problems:
            from crm.invoicing import frozen_problem

            frozen = frozen_problem(rec, yamlio.parse(text, rec.path).data)
            problems = [frozen] if frozen else []
        if not problems:
            break
        for problem in problems:
            output.error(str(problem))
        if interactive() and typer.confirm(
            "Edit the file again? (no: leave the record as it was)", default=True
        ):
            continue
        raise ValidationError(
            f"{rec.path} was not changed: the edited file has {len(problems)} problem(s)",
            hint=f"your version is kept in {scratch}",
        )
    with ctx.store.transaction(dry_run=dry_run) as tx:
        if path.read_bytes().decode("utf-8") != original:
            raise ConflictError(
                f"{rec.path} was changed by someone else while you edited it",
                hint=f"your version is kept in {scratch}",
            )
        after = yamlio.parse(text, rec.path).data
        dated = history_edits(rec.type, ctx.config, rec.data, after, tx.now)
        changes = [Edit("set", (k,), v) for k, v in after.items() if rec.data.get(k) != v]
        extra, _ = task_follow_ups(ctx, tx, rec, changes, moves_series=True)
        touched = [*dated, *extra, Edit("set", ("updated",), tx.now)]
        stamped = yamlio.edit_text(text, rec.path, touched, rec.type.key_order)
        tx.write_text(rec.type, rec.id, stamped)
    scratch.unlink()
    if dry_run:
        output.emit_diff(tx.changes)
    else:
        done(f"Saved {rec.path}")


def _edited_problems(ctx: AppContext, rec: Record, text: str) -> list[Issue | str]:
    from crm.store import yamlio

    try:
        loaded = yamlio.parse(text, rec.path)
    except DataError as exc:
        return [str(exc)]
    if not isinstance(loaded.data, dict):
        return [f"{rec.path}:1: must be a mapping of fields"]
    edited = Record(
        type=rec.type,
        id=rec.id,
        data=loaded.data,
        path=rec.path,
        lines=loaded.lines,
        raw=loaded.raw,
    )
    peers = scan(ctx, rec.type, quiet=True) if edited.data.get("emails") else []
    return list(validate_one(edited, ctx.config, _exists(ctx), peers))
