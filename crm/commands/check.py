"""crm check: validate the whole folder, or (--staged) the records about to be committed."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from crm import assertions, dates, invoicing, output, scoring
from crm.commands._options import FormatOpt
from crm.config import CONFIG_FILE, Config
from crm.context import AppContext, app_context
from crm.errors import DataError, GitError
from crm.models import RECORD_TYPES, Issue, RecordType
from crm.output import Format
from crm.records import Record, dangling, validate, validate_links
from crm.validate import (
    conflict_message,
    conflicted_values,
    merge_conflicts,
    value_conflict_message,
)

if TYPE_CHECKING:
    from crm.store.repo import Store

SUFFIX = ".yaml"


def check(
    fmt: FormatOpt = None,
    staged: Annotated[
        bool,
        typer.Option(
            "--staged",
            help="Check the records as staged in git's index (the pre-commit hook): report "
            "only problems in the staged files; quiet when there are none.",
        ),
    ] = False,
) -> None:
    """Validate every file: YAML syntax, merge conflicts left in files, fields, references,
    duplicate emails, invoice numbers (duplicated or missing in a series), the documents kept
    at issue (changed or missing) and the figures records assert (`assert: {total:
    "4500.00"}`, docs/billing.md).

    Prints each problem as `path:line: message` and exits 1 if there is any, so it fits a git
    pre-commit hook and the CI of a data repository. With --staged, checks what `git commit`
    would commit: the records in git's index, references resolved against the staged tree.

    \b
    Examples:
      crm check
      crm check --format json | jq length
      crm check --staged        # what `crm hooks install`'s pre-commit hook runs
    """
    ctx = app_context()
    if staged:
        issues = _staged_issues(ctx)
        count = None
    else:
        issues, count = _folder_issues(ctx)
    issues.sort(key=Issue.sort_key)
    fmt_ = output.resolve_format(fmt)
    if fmt_ in (Format.JSON, Format.JSONL, Format.YAML, Format.CSV):
        if issues or not staged:
            rows = [{"path": i.path, "line": i.line, "message": i.message} for i in issues]
            output.emit_rows(rows, ["path", "line", "message"], fmt_)
    else:
        for issue in issues:
            print(issue)
    if count is not None and sys.stderr.isatty():
        output.info(f"{count} records checked: {len(issues) or 'no'} problem(s)")
    if staged and issues:
        output.info(
            "The staged records have problems: fix them and `git add` them again "
            "(`git commit --no-verify` commits anyway)."
        )
    if issues:
        raise typer.Exit(1)


def _folder_issues(ctx: AppContext) -> tuple[list[Issue], int]:
    config, issues = ctx.store.config(deep=True)
    issues = _unmerged_config(list(issues), _file_text(ctx.root, CONFIG_FILE))
    salt = (ctx.store.config_digest, dates.today().isoformat())

    def text_of(rel: str) -> str | None:
        return _file_text(ctx.root, rel)

    everything: dict[str, list[Record]] = {}
    for name, rtype in RECORD_TYPES.items():  # type by type: a folder's lines never all at once
        scan = ctx.store.scan(rtype)
        issues.extend(_unreadable(scan.problems, lambda rel: _file_text(ctx.root, rel)))
        found = ctx.store.derived(
            "check", scan.records, salt, lambda rec: _judged(rec, config, text_of)
        )
        issues.extend(Issue(*item) for items in found for item in items)
        everything[name] = [ctx.store.slim(rec) for rec in scan.records]
    issues.extend(_folder_wide(everything, config, _reader(ctx.root)))
    return issues, sum(len(r) for r in everything.values())


def _folder_wide(
    everything: Mapping[str, list[Record]],
    config: Config,
    read_file: Callable[[str], bytes | None],
) -> list[Issue]:
    """What only the whole folder shows: dangling references, one email on two records,
    duplicate numbers, documents changed since issue, asserted figures that do not hold."""
    issues = validate_links(everything)
    issues.extend(invoicing.problems(everything, config, read_file))
    issues.extend(assertions.problems(everything, config, dates.today()))  # never cached
    issues.extend(scoring.problems(config))
    if config.automation:
        issues.extend(_rule_problems(config))
    return issues


def _rule_problems(config: Config) -> list[Issue]:
    """The rules' problems only the whole of crm.yaml shows, at their lines."""
    from crm.automation import problems
    from crm.context import app_context
    from crm.errors import DataError
    from crm.store import yamlio

    path = app_context().root / "crm.yaml"
    try:
        lines = yamlio.parse(yamlio.decode(path.read_bytes(), "crm.yaml"), "crm.yaml").lines
    except (OSError, DataError):
        lines = {}
    return problems(config, lines, app_context().root)


def _unreadable(problems: Iterable[DataError], text_of: Callable[[str], str | None]) -> list[Issue]:
    """The files that could not be read as records: a conflict a merge left in one is said
    so, at its markers, rather than as the YAML error it causes."""
    issues: list[Issue] = []
    for problem in problems:
        text = text_of(problem.path)
        conflicts = merge_conflicts(text) if text else []
        if conflicts:
            issues.extend(Issue(problem.path, a, conflict_message(a, b)) for a, b in conflicts)
            continue
        message = f"{problem.detail} ({problem.hint})" if problem.hint else problem.detail
        issues.append(Issue(problem.path, problem.line, message))
    return issues


def _unmerged_config(issues: list[Issue], text: str | None) -> list[Issue]:
    """crm.yaml's problems, its conflict markers in place of the YAML error they cause."""
    conflicts = merge_conflicts(text) if text else []
    if not conflicts:
        return issues
    kept = [i for i in issues if not (i.path == CONFIG_FILE and "YAML" in i.message)]
    return kept + [Issue(CONFIG_FILE, a, conflict_message(a, b)) for a, b in conflicts]


def _judged(
    rec: Record, config: Config, text_of: Callable[[str], str | None]
) -> tuple[tuple[str, int | None, str], ...]:
    """The record's own problems, as plain data the cache can keep."""
    issues = _with_conflicts(rec, validate(rec, config), text_of)
    return tuple((i.path, i.line, i.message) for i in issues)


def _with_conflicts(
    rec: Record, issues: list[Issue], text_of: Callable[[str], str | None]
) -> list[Issue]:
    """`issues`, and a conflict git left inside a record that still reads (in a quoted or
    bracketed value) at its markers' lines, in place of what it makes of the lines between
    them. The file is read again only when a value holds markers."""
    fields = conflicted_values(rec.data)
    if not fields:
        return issues
    text = text_of(rec.path)
    conflicts = merge_conflicts(text) if text else []
    if not conflicts:
        return issues + [rec.issue(name, value_conflict_message()) for name in fields]
    spans = [(a, b if b is not None else a) for a, b in conflicts]
    kept = [i for i in issues if not any(a <= (i.line or 0) <= b for a, b in spans)]
    return kept + [Issue(rec.path, a, conflict_message(a, b)) for a, b in conflicts]


def _reader(root: Path) -> Callable[[str], bytes | None]:
    def read(rel: str) -> bytes | None:
        try:
            return (root / rel).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            return None

    return read


def _file_text(root: Path, rel: str) -> str | None:
    data = _reader(root)(rel)
    return data.decode("utf-8", "replace") if data is not None else None


# -- the staged records ------------------------------------------------------------------------


def _staged_issues(ctx: AppContext) -> list[Issue]:
    """The problems of the files staged in git's index, judged against the staged tree."""
    from crm.store import git

    root = ctx.root
    git.require_repo(root)
    folders = [rtype.plural for rtype in RECORD_TYPES.values()]
    changed = _split(
        git.run(
            root,
            "diff",
            "--cached",
            "--name-status",
            "-z",
            "--no-renames",
            "--relative",
            "--",
            CONFIG_FILE,
            *folders,
            check=True,
        ).stdout
    )
    touched = {path for status, path in changed if status != "D"}
    removed = {path for status, path in changed if status == "D"}
    staged = {p for p in touched if _record_type(p) or p == CONFIG_FILE}
    gone = {(rtype.name, Path(p).stem) for p in removed if (rtype := _record_type(p))}
    if not staged and not gone:
        return []
    # Files whose work-tree text is not what is staged: read from the index instead.
    differ = set(
        _paths(
            git.run(
                root,
                "diff",
                "--name-only",
                "-z",
                "--relative",
                "--",
                CONFIG_FILE,
                *folders,
                check=True,
            ).stdout
        )
    )
    untracked = set(
        _paths(
            git.run(
                root,
                "ls-files",
                "-z",
                "--others",
                "--exclude-standard",
                "--",
                CONFIG_FILE,
                *folders,
                check=True,
            ).stdout
        )
    )
    index = _Index(root, differ)
    index.prefetch(sorted(differ))
    config, config_issues = _staged_config(ctx.store, index)
    issues = [i for i in config_issues if CONFIG_FILE in staged]
    everything: dict[str, list[Record]] = {}
    for name, rtype in RECORD_TYPES.items():
        scan = ctx.store.scan(rtype)
        records = [r for r in scan.records if r.path not in differ | untracked]
        problems = [p for p in scan.problems if p.path not in differ | untracked]
        for rel in sorted(p for p in differ if _record_type(p) is rtype):
            try:
                rec = _record(rtype, rel, index.read(rel))
            except DataError as exc:
                problems.append(exc)
            else:
                if rec is not None:
                    records.append(rec)
        issues.extend(_unreadable((p for p in problems if p.path in staged), index.text))
        for rec in records:
            if rec.path in staged:
                issues.extend(_with_conflicts(rec, validate(rec, config), index.text))
        everything[name] = records
    for issue in _folder_wide(everything, config, index.read):
        if issue.path in staged or _also_on(issue) in staged:
            issues.append(issue)
    known = {(name, rec.id) for name, recs in everything.items() for rec in recs}
    for records in everything.values():  # what a staged removal leaves dangling
        for rec in records:
            issues.extend(dangling(rec, lambda t, rid: (t, rid) not in gone or (t, rid) in known))
    return sorted(set(issues), key=Issue.sort_key)


def _record_type(rel: str) -> RecordType | None:
    """The type of a record file by its path (`deals/x.yaml`), or None when it is not one."""
    folder, _, name = rel.partition("/")
    if not name.endswith(SUFFIX) or "/" in name or name.startswith("."):
        return None
    return next((t for t in RECORD_TYPES.values() if t.plural == folder), None)


def _also_on(issue: Issue) -> str:
    """The other file a duplicate (email, number, external id) is reported against."""
    _, found, other = issue.message.rpartition(" is also on ")
    return other if found else ""


def _split(out: str) -> list[tuple[str, str]]:
    parts = out.split("\0")
    return [(parts[i][:1], parts[i + 1]) for i in range(0, len(parts) - 1, 2) if parts[i]]


def _paths(out: str) -> list[str]:
    return [part for part in out.split("\0") if part]


class _Index:
    """Files as staged in git's index, for those whose work-tree text differs; the others
    are read from the work tree (the same bytes, and no git process per file)."""

    def __init__(self, root: Path, differ: set[str]) -> None:
        self.root = root
        self.differ = differ
        self._blobs: dict[str, bytes | None] = {}

    def read(self, rel: str) -> bytes | None:
        if rel not in self.differ:
            return _reader(self.root)(rel)
        if rel not in self._blobs:
            self._blobs.update(_cat(self.root, [rel]))
        return self._blobs[rel]

    def prefetch(self, paths: Iterable[str]) -> None:
        wanted = [p for p in paths if p in self.differ and p not in self._blobs]
        if wanted:
            self._blobs.update(_cat(self.root, wanted))

    def text(self, rel: str) -> str | None:
        data = self.read(rel)
        return data.decode("utf-8", "replace") if data is not None else None


def _cat(root: Path, paths: list[str]) -> dict[str, bytes | None]:
    """The staged contents of `paths` (None: not in the index), through one `git cat-file`."""
    request = "".join(f":./{p}\n" for p in paths).encode("utf-8")
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        result = subprocess.run(
            ["git", "cat-file", "--batch"],
            cwd=root,
            input=request,
            capture_output=True,
            env=env,
            timeout=60,
            check=False,
        )
    except FileNotFoundError as exc:
        raise GitError("git is not installed", hint="install git to check staged files") from exc
    except subprocess.TimeoutExpired as exc:
        raise GitError("git cat-file took longer than 60 s") from exc
    if result.returncode != 0:
        raise GitError(f"git cat-file failed: {result.stderr.decode('utf-8', 'replace')}")
    out: dict[str, bytes | None] = {}
    data, pos = result.stdout, 0
    for path in paths:
        end = data.index(b"\n", pos)
        header = data[pos:end].split()
        pos = end + 1
        if len(header) == 3 and header[1] == b"blob":
            size = int(header[2])
            out[path] = data[pos : pos + size]
            pos += size + 1  # the blob, and the newline after it
        else:
            out[path] = None
    return out


def _record(rtype: RecordType, rel: str, raw: bytes | None) -> Record | None:
    """The record of a staged file (None: not in the index); DataError when unreadable."""
    from crm import ids
    from crm.store import yamlio

    if raw is None:
        return None
    rid = Path(rel).name.removesuffix(SUFFIX)
    if not ids.is_valid_id(rid):
        raise DataError(rel, "file name is not a valid id", hint=f"rename it to {ids.slugify(rid)}")
    loaded = yamlio.parse(yamlio.decode(raw, rel), rel)
    data = {} if loaded.data is None else loaded.data
    if not isinstance(data, dict):
        raise DataError(rel, f"must be a mapping of fields, not {type(data).__name__}", line=1)
    return Record(type=rtype, id=rid, data=data, path=rel, lines=loaded.lines, raw=loaded.raw)


def _staged_config(store: Store, index: _Index) -> tuple[Config, list[Issue]]:
    """The staged crm.yaml's settings and problems (the work tree's when it is the same)."""
    from crm.config import parse_config
    from crm.store import yamlio

    if CONFIG_FILE not in index.differ:
        config, issues = store.config(deep=True)
        return config, _unmerged_config(list(issues), index.text(CONFIG_FILE))
    raw = index.read(CONFIG_FILE)
    if raw is None:
        return Config(), []
    try:
        loaded = yamlio.parse(yamlio.decode(raw, CONFIG_FILE), CONFIG_FILE)
    except DataError as exc:
        issues = [Issue(CONFIG_FILE, exc.line, exc.detail)]
        return Config(), _unmerged_config(issues, index.text(CONFIG_FILE))
    config, issues = parse_config(loaded.data, loaded.lines, deep=True)
    return config, list(issues)
