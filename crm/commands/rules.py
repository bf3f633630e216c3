"""crm rules: automation rules in crm.yaml."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from crm import output
from crm.commands._options import CrmTyper, DryRunOpt, FormatOpt
from crm.context import AppContext, app_context
from crm.errors import AmbiguousRefError, NotFoundError, UsageError
from crm.output import Format

if TYPE_CHECKING:
    import datetime as dt

    from crm.records import Record

app = CrmTyper(help="Automation rules: list, test, run (for cron).")

TodayOpt = Annotated[
    str | None,
    typer.Option(
        "--today", help="Act as if today were this date (YYYY-MM-DD).", show_default=False
    ),
]


def _today(text: str | None) -> dt.date:
    from crm import dates

    return dates.parse_date(text) if text else dates.today()


def _warn_problems(ctx: AppContext) -> None:
    """What would make a rule fail when it fires (a template or hook that is not there, no
    `mail:`), as `crm check` reports it, at its line in crm.yaml."""
    from crm import automation
    from crm.config import CONFIG_FILE
    from crm.errors import DataError
    from crm.store import yamlio

    try:
        raw = (ctx.root / CONFIG_FILE).read_bytes()
        lines = yamlio.parse(yamlio.decode(raw, CONFIG_FILE), CONFIG_FILE).lines
    except (OSError, DataError):
        lines = {}
    for issue in automation.problems(ctx.config, lines, ctx.root):
        output.warn(str(issue))


@app.command("list")
def list_rules(fmt: FormatOpt = None) -> None:
    """List the rules of crm.yaml: name, event, condition and actions.

    \b
    Examples:
      crm rules list
      crm rules list --format json | jq '.[].name'
    """
    ctx = app_context()
    rules = ctx.config.automation
    _warn_problems(ctx)
    chosen = output.resolve_format(fmt)
    if chosen in (Format.JSON, Format.JSONL, Format.YAML):
        output.emit_rows([r.plain() for r in rules], ["name"], chosen)
        return
    rows = [
        {
            "name": r.name,
            "event": r.describe(),
            "if": r.condition or "",
            "do": "; ".join(a.describe() for a in r.actions),
        }
        for r in rules
    ]
    if not rows and chosen is Format.TABLE:
        output.info("No rules: crm.yaml has no `rules:` (see docs/automation.md)")
        return
    output.emit_rows(rows, ["name", "event", "if", "do"], chosen)


def _find(ctx: AppContext, ref: str) -> Record:
    """The record REF names, of whatever type; `type:REF` says which."""
    from crm.commands._records import find
    from crm.models import RECORD_TYPES, record_type

    kind, colon, rest = ref.partition(":")
    if colon:
        try:
            return find(ctx, record_type(kind.replace("-", "_")), rest)
        except KeyError:
            pass
    found: list[Record] = []
    for rtype in RECORD_TYPES.values():
        try:
            found.append(find(ctx, rtype, ref))
        except (NotFoundError, AmbiguousRefError):
            continue
    exact = [r for r in found if r.id == ref.strip().lower()]
    if len(exact) == 1 or len(found) == 1:
        return (exact or found)[0]
    if not found:
        raise NotFoundError(
            f"no record matches '{ref}'", hint="name it as TYPE:REF, e.g. deal:acme"
        )
    shown = [f"{r.type.name}:{r.id} ({r.title})" for r in found]
    raise AmbiguousRefError("record", ref, shown)


@app.command("test")
def test(
    ref: Annotated[
        str,
        typer.Argument(help="The record: id, number, email or name; TYPE:REF says the type."),
    ],
    today: TodayOpt = None,
    fmt: FormatOpt = None,
) -> None:
    """Show, for one record, each rule: whether it fires and why.

    For a time-based rule: whether its event has come (overdue, expiring), whether its
    condition holds (with the values compared) and whether it fired for the record before.
    For an event rule: whether it would fire when its event happens to the record.

    \b
    Examples:
      crm rules test acme-website-redesign
      crm rules test invoice:2026-0007 --today 2026-12-01
      crm rules test ada --format json
    """
    from crm import automation, dates
    from crm.views import objects

    ctx = app_context()
    rec = _find(ctx, ref)
    day = _today(today)
    config = ctx.config
    _warn_problems(ctx)
    moment = dates.now() if today is None else automation.noon(day)
    credits = []
    if rec.type.name == "invoice":
        from crm.models import RECORD_TYPES

        credits = ctx.store.scan(RECORD_TYPES["credit_note"]).records
    obj = objects([rec], config, moment, credits)[0]
    verdicts = [automation.explain(rule, rec, obj, config, day) for rule in config.automation]
    chosen = output.resolve_format(fmt)
    if chosen in (Format.JSON, Format.JSONL, Format.YAML):
        output.emit_rows([v.plain() for v in verdicts], ["rule"], chosen)
        return
    if not verdicts:
        output.info("No rules: crm.yaml has no `rules:` (see docs/automation.md)")
        return
    rows: list[dict[str, Any]] = []
    for rule, v in zip(config.automation, verdicts, strict=True):
        if not v.applies or not v.fires:
            verdict = "no"
        elif rule.timed:
            verdict = "fires now"
        else:
            verdict = "on its event"
        rows.append({"rule": v.rule, "event": v.event, "fires": verdict, "why": "; ".join(v.why)})
    output.emit_rows(rows, ["rule", "event", "fires", "why"], chosen)


@app.command("run")
def run(
    today: TodayOpt = None,
    rule: Annotated[
        list[str] | None,
        typer.Option("--rule", "-r", help="Only this rule (repeatable).", show_default=False),
    ] = None,
    dry_run: DryRunOpt = False,
    fmt: FormatOpt = None,
) -> None:
    """Fire the time-based rules (task_overdue, invoice_overdue, quote_expiring); for cron.

    Each rule fires once per record: the record keeps `fired: {rule: when}`, so running this
    again (every hour, or after a missed day) never repeats a firing. Silent when nothing
    fires; otherwise a line per firing. A firing that fails (an email not sent) is taken back
    and tried again next time, the others are written; the exit code is then that failure's
    (26 for email, docs/cli.md). The pre- hooks judge the whole run before any email is sent.
    `--today` may be a day past (to catch up); a day to come only with --dry-run.

    \b
    Examples:
      crm rules run
      crm rules run --dry-run --today 2026-12-01
      crm rules run --rule chase-overdue
      15 7 * * *  cd ~/crm && crm rules run     # crontab: every morning at 7:15
    """
    from crm import automation

    ctx = app_context()
    config = ctx.config
    timed = [r for r in config.automation if r.timed]
    if rule:
        known = {r.name: r for r in config.automation}
        for name in rule:
            if name not in known:
                shown = ", ".join(known) or "none in crm.yaml"
                raise UsageError(f"no rule '{name}'", hint=f"rules: {shown}")
            if not known[name].timed:
                raise UsageError(
                    f"rule '{name}' fires on its event ({known[name].describe()}), not from "
                    "`crm rules run`"
                )
        timed = [r for r in timed if r.name in rule]
    day = _today(today)
    if today is not None and not dry_run:
        from crm import dates

        if day > dates.today():
            raise UsageError(
                f"--today {day} is in the future: the rules would fire (and email) for real "
                "what has not come yet, and keep it as fired",
                hint="see what would fire with --dry-run",
            )
    with ctx.store.transaction(dry_run=dry_run) as tx:
        tx.message = "run the rules" + (f" {', '.join(rule)}" if rule else "")
        firings = automation.run_timed(tx, timed, day)
    failed = [f for f in firings if f.error is not None]
    done = [f for f in firings if f.error is None]
    chosen = output.resolve_format(fmt) if fmt is not None else None
    if chosen in (Format.JSON, Format.JSONL, Format.YAML):
        output.emit_rows([f.plain() for f in firings], ["rule"], chosen)
    else:
        for firing in done:
            what = f"{firing.type.replace('_', ' ')} {firing.id}"
            print(f"{firing.rule}: {what} ({firing.title}): {'; '.join(firing.done)}")
    for firing in failed:
        assert firing.error is not None
        output.warn(
            f"{firing.rule}: {firing.type} {firing.id}: {firing.error} (tried again next time)"
        )
    if dry_run:
        output.emit_diff(tx.changes)
    if failed:
        raise typer.Exit(failed[0].error.exit_code if failed[0].error else 1)
