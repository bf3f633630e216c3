"""crm check: validate the whole folder."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import typer

from crm import assertions, dates, invoicing, output, scoring
from crm.commands._options import FormatOpt
from crm.config import Config
from crm.context import app_context
from crm.models import RECORD_TYPES, Issue
from crm.output import Format
from crm.records import Record, validate, validate_links


def check(fmt: FormatOpt = None) -> None:
    """Validate every file: YAML syntax, fields, references, duplicate emails, invoice numbers
    (duplicated or missing in a series), the documents kept at issue (changed or missing) and
    the figures records assert (`assert: {total: "4500.00"}`, docs/billing.md).

    Prints each problem as `path:line: message` and exits 1 if there is any, so it
    fits a git pre-commit hook and the CI of a data repository.

    \b
    Examples:
      crm check
      crm check --format json | jq length
    """
    ctx = app_context()
    config, issues = ctx.store.config(deep=True)
    issues = list(issues)
    salt = (ctx.store.config_digest, dates.today().isoformat())
    everything: dict[str, list[Record]] = {}
    for name, rtype in RECORD_TYPES.items():  # type by type: a folder's lines never all at once
        scan = ctx.store.scan(rtype)
        for problem in scan.problems:
            message = f"{problem.detail} ({problem.hint})" if problem.hint else problem.detail
            issues.append(Issue(problem.path, problem.line, message))
        found = ctx.store.derived("check", scan.records, salt, lambda rec: _judged(rec, config))
        issues.extend(Issue(*item) for items in found for item in items)
        everything[name] = [ctx.store.slim(rec) for rec in scan.records]
    issues.extend(validate_links(everything))
    issues.extend(invoicing.problems(everything, config, _reader(ctx.root)))
    issues.extend(assertions.problems(everything, config, dates.today()))  # never cached
    issues.extend(scoring.problems(config))
    issues.sort(key=Issue.sort_key)
    fmt_ = output.resolve_format(fmt)
    if fmt_ in (Format.JSON, Format.JSONL, Format.YAML, Format.CSV):
        rows = [{"path": i.path, "line": i.line, "message": i.message} for i in issues]
        output.emit_rows(rows, ["path", "line", "message"], fmt_)
    else:
        for issue in issues:
            print(issue)
    if sys.stderr.isatty():
        count = sum(len(r) for r in everything.values())
        output.info(f"{count} records checked: {len(issues) or 'no'} problem(s)")
    if issues:
        raise typer.Exit(1)


def _judged(rec: Record, config: Config) -> tuple[tuple[str, int | None, str], ...]:
    """The record's own problems, as plain data the cache can keep."""
    return tuple((i.path, i.line, i.message) for i in validate(rec, config))


def _reader(root: Path) -> Callable[[str], bytes | None]:
    def read(rel: str) -> bytes | None:
        try:
            return (root / rel).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            return None

    return read
