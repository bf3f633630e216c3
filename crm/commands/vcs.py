"""crm history, undo, sync: the folder's git repository."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from crm import output
from crm.commands import _complete
from crm.commands._options import DryRunOpt, FormatOpt
from crm.context import AppContext, app_context
from crm.errors import GitError, NotFoundError
from crm.output import Format

if TYPE_CHECKING:
    from crm.store.git import Commit

HistoryRef = Annotated[
    str,
    typer.Argument(
        help="The record: id, prefix, email or name; TYPE:REF for any type (invoice:2026-0007); "
        "or its file (deals/acme.yaml), also one since removed.",
        autocompletion=_complete.record,
        show_default=False,
    ),
]


def history(
    ref: HistoryRef,
    all_fields: Annotated[
        bool, typer.Option("--all", help="Show the `updated` timestamp's changes too.")
    ] = False,
    limit: Annotated[
        int | None,
        typer.Option("--limit", "-l", min=1, help="Only the N newest commits.", show_default=False),
    ] = None,
    fmt: FormatOpt = None,
) -> None:
    """A record's changes over time, field by field: what changed from what to what, when and
    by whom, from the git log of its file (newest first).

    \b
    Examples:
      crm history acme-website-redesign
      crm history invoice:2026-0007
      crm history contacts/ada-lovelace.yaml --format json
    """
    from crm.changes import field_changes, list_delta
    from crm.store import git

    ctx = app_context()
    path = _record_file(ctx, ref)
    versions = git.file_versions(ctx.root, path)
    if not versions:
        raise NotFoundError(
            f"{path} has no committed versions",
            hint="commit it (git.autocommit in crm.yaml does it for you)",
        )
    commits: list[dict[str, Any]] = []
    for version in versions:
        data, before = (
            _readable(version.text, version.path),
            _readable(version.before, version.path),
        )
        changes: list[dict[str, Any]] = []
        if version.text is None:
            changes.append({"field": "(file)", "from": "present", "to": "removed"})
        elif data is None:
            changes.append({"field": "(file)", "from": None, "to": "not readable YAML"})
        elif version.before is None:
            changes.append({"field": "(file)", "from": None, "to": "created"})
        else:
            if before is None:
                changes.append({"field": "(file)", "from": "not readable YAML", "to": None})
            for change in field_changes(before, data, noise=all_fields):
                item: dict[str, Any] = {
                    "field": change.field,
                    "from": _plain(change.before),
                    "to": _plain(change.after),
                }
                delta = list_delta(change.before, change.after)
                if delta is not None:
                    item["added"], item["removed"] = delta
                changes.append(item)
        commits.append(
            {
                "commit": version.commit,
                "at": version.at,
                "author": version.author,
                "email": version.email,
                "subject": version.subject,
                "path": version.path,
                "changes": changes,
            }
        )
    commits.reverse()
    if limit is not None:
        commits = commits[:limit]
    fmt_ = output.resolve_format(fmt)
    if fmt_ in (Format.JSON, Format.YAML):
        output.emit_rows(commits, [], fmt_)
        return
    rows: list[dict[str, Any]] = []
    for commit in commits:
        first = True
        shown = commit["changes"] or [{"field": "(no field changed)", "from": None, "to": None}]
        for change in shown:
            row = {
                "commit": commit["commit"][:10],
                "at": commit["at"][:16].replace("T", " "),
                "author": commit["author"],
                "subject": commit["subject"],
                "field": change["field"],
                "from": _cell(change.get("from")),
                "to": _cell(change.get("to")),
            }
            if "added" in change:
                row["to"] = " ".join(
                    [*(f"+{v}" for v in change["added"]), *(f"-{v}" for v in change["removed"])]
                )
                row["from"] = ""
            if fmt_ is Format.TABLE and not first:
                row.update(commit="", at="", author="", subject="")
            first = False
            rows.append(row)
    columns = ["at", "author", "field", "from", "to"]
    if fmt_ is not Format.TABLE:
        columns = ["commit", "at", "author", "field", "from", "to", "subject"]
    output.emit_rows(rows, columns, fmt_)


def _readable(text: str | None, path: str) -> dict[str, Any] | None:
    """A version's data; None when absent or not a readable mapping."""
    from crm.store import yamlio

    if text is None:
        return None
    try:
        loaded = yamlio.parse(text, path).data
    except Exception:  # a version that was broken then: shown as unreadable
        return None
    return loaded if isinstance(loaded, dict) else ({} if loaded is None else None)


def _plain(value: Any) -> Any:
    """A YAML value as JSON would carry it: dates as ISO text."""
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _record_file(ctx: AppContext, ref: str) -> str:
    """The folder-relative path of the record `ref` names (a removed one by its path)."""
    from crm import ids
    from crm.commands._records import find, find_any
    from crm.models import RECORD_TYPES

    text = ref.strip()
    folder, slash, name = text.rpartition("/")
    if slash and name.endswith(".yaml"):
        rtype = next((t for t in RECORD_TYPES.values() if t.plural == folder), None)
        if rtype is None or not ids.is_valid_id(name.removesuffix(".yaml")):
            raise NotFoundError(f"'{ref}' is not a record file (TYPE/ID.yaml)")
        return f"{folder}/{name}"
    kind, colon, rest = text.partition(":")
    if colon and kind.replace("-", "_") in RECORD_TYPES:
        rtype = RECORD_TYPES[kind.replace("-", "_")]
        try:
            return find(ctx, rtype, rest).path
        except NotFoundError:
            if ids.is_valid_id(rest):  # removed since: git still knows it
                return f"{rtype.plural}/{rest}.yaml"
            raise
    try:
        return find_any(ctx, text).path
    except NotFoundError:
        for rtype in RECORD_TYPES.values():
            if rtype.name in ("contact", "company", "lead", "deal"):
                continue
            try:
                return find(ctx, rtype, text).path
            except NotFoundError:
                continue
        raise


def undo(
    dry_run: DryRunOpt = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask (a terminal asks).")] = False,
) -> None:
    """Take back the last change crm committed, with a new commit that reverts it.

    Run it again to take back the change before that. Refuses, saying why, when the work tree
    has uncommitted changes or a later commit (yours, or one pulled by `crm sync`) changed the
    same files.

    \b
    Examples:
      crm undo --dry-run    # what would be taken back
      crm undo
    """
    from crm.commands._options import interactive
    from crm.store import git
    from crm.store.folder import STATE_DIR
    from crm.store.lock import folder_lock

    ctx = app_context()
    repo = git.require_repo(ctx.root)
    with folder_lock(ctx.root / STATE_DIR / "lock"):
        busy = git.operation_in_progress(repo)
        if busy:
            raise GitError(f"{busy} is in progress", hint="finish or abort it first")
        target, later = _undo_target(git.recent_commits(ctx.root), git.identity(ctx.root))
        changed = set(target.files)
        for commit in later:
            common = sorted(changed & set(commit.files))
            if common:
                raise GitError(
                    f"cannot undo {target.sha[:10]} ({target.subject}): the later commit "
                    f"{commit.sha[:10]} ({commit.subject}) also changed {common[0]}",
                    hint="undo or revert that one first, or change the record by hand",
                )
        dirty = git.dirty(ctx.root)
        if dirty:
            more = f" and {len(dirty) - 1} more" if len(dirty) > 1 else ""
            raise GitError(
                f"uncommitted changes in {dirty[0]}{more}",
                hint="commit or discard them first (git status shows them)",
            )
        _refuse_frozen(ctx.root, target)
        what = target.subject.removeprefix("crm: ")
        if dry_run:
            print(f"Would undo {target.sha[:10]}: {target.subject}")
            for name in target.files:
                print(f"  {name}")
            return
        if interactive() and not yes and not typer.confirm(f"Undo “{what}”?", default=True):
            raise typer.Exit(1)
        reverted = git.run(ctx.root, "revert", "--no-commit", target.sha, timeout=None)
        if reverted.returncode != 0:
            git.run(ctx.root, "revert", "--abort")
            raise GitError(f"git revert failed: {git.first_line(reverted.stderr)}")
        from crm import __version__

        message = (
            f"crm: undo {what}\n\nThis takes back {target.sha}.\n\n"
            f"{git.UNDO_TRAILER}: {target.change or target.sha}\n{git.TRAILER}: {__version__}\n"
        )
        result = git.run(ctx.root, "commit", "-q", "-F", "-", input=message, timeout=None)
        if result.returncode != 0:
            git.run(ctx.root, "revert", "--abort")
            git.run(ctx.root, "reset", "-q", "--merge")
            if "nothing to commit" in result.stdout + result.stderr:
                raise GitError(
                    f"{target.sha[:10]} ({target.subject}) changes nothing any more: "
                    "it was taken back already",
                    hint="revert it by hand with git if you must",
                )
            raise GitError(f"git commit failed: {git.first_line(result.stderr or result.stdout)}")
    output.info(f"Undid {target.sha[:10]}: {what}")


def _refuse_frozen(root: Path, target: Commit) -> None:
    """An issued invoice or credit note, and billed time, stay as they are: undoing their issue
    would free a number already given out, or change a legal document."""
    from crm.errors import ConflictError
    from crm.invoicing import frozen_problem
    from crm.models import RECORD_TYPES
    from crm.records import Record
    from crm.store import git, yamlio

    prefix = git.folder_prefix(root)
    guarded = {
        t.plural: t for t in RECORD_TYPES.values() if t.name in ("invoice", "credit_note", "time")
    }
    files = [
        f
        for f in target.files
        if f.startswith(prefix)
        and f.endswith(".yaml")
        and f[len(prefix) :].partition("/")[0] in guarded
    ]
    for name, (before, after) in git.around(root, target.sha, files).items():
        if after is None:
            continue
        rel = name[len(prefix) :]
        try:
            now = yamlio.parse(after, rel).data
            then = yamlio.parse(before, rel).data if before is not None else {}
        except Exception:
            continue  # not a record crm can judge: git's revert decides
        if not isinstance(now, dict) or not isinstance(then, dict):
            continue
        rtype = guarded[rel.partition("/")[0]]
        rec = Record(type=rtype, id=Path(rel).stem, data=now, path=rel, lines={}, raw={})
        problem = frozen_problem(rec, then) if before is not None else None
        if before is None and rec.data.get("status") in ("issued", "sent"):
            problem = f"{rtype.name.replace('_', ' ')} {now.get('number') or rec.id} is issued"
        if problem:
            raise ConflictError(
                f"cannot undo {target.sha[:10]} ({target.subject}): {problem}",
            )


def _undo_target(commits: list[Commit], me: str) -> tuple[Commit, list[Commit]]:
    """The newest crm commit of yours (authored as `me`) not yet undone, and the commits since
    that still stand (a partner's among them)."""
    undone: set[str] = set()
    later: list[Commit] = []
    for commit in commits:
        if commit.undoes:
            undone.add(commit.undoes)
            continue
        if commit.ids & undone:
            continue
        if commit.crm and commit.parents == 1 and (not me or commit.email == me):
            return commit, later
        later.append(commit)
    raise GitError(
        "no change of yours made by crm to undo",
        hint="crm commits its changes when git.autocommit is on in crm.yaml",
    )


def sync(
    no_push: Annotated[
        bool, typer.Option("--no-push", help="Pull and check only; push nothing.")
    ] = False,
) -> None:
    """Pull (rebase onto the remote's changes), check, push: share one CRM through a remote.

    Your commits are replayed on top of the others'; records changed on both sides merge field
    by field (`crm hooks install` registers the merge driver in each clone). When a change
    conflicts, the rebase stops and says which files to resolve. Nothing is pushed while
    `crm check` finds problems.

    \b
    Examples:
      crm sync
      crm sync --no-push
    """
    from crm.store import git
    from crm.store.folder import STATE_DIR
    from crm.store.lock import folder_lock

    ctx = app_context()
    repo = git.require_repo(ctx.root)
    busy = git.operation_in_progress(repo)
    if busy:
        raise GitError(
            f"{busy} is in progress",
            hint="resolve the files git lists (`git status`), `git add` them, "
            "`git rebase --continue`, then `crm sync` again (docs/git.md)",
        )
    dirty = git.dirty(ctx.root)
    if dirty:
        more = f" and {len(dirty) - 1} more" if len(dirty) > 1 else ""
        raise GitError(
            f"uncommitted changes in {dirty[0]}{more}",
            hint="commit them first (git.autocommit in crm.yaml commits crm's own changes)",
        )
    branch = git.run(ctx.root, "symbolic-ref", "-q", "--short", "HEAD").stdout.strip()
    if not branch:
        raise GitError("HEAD is detached (no branch)", hint="check out a branch, then sync")
    upstream = git.run(ctx.root, "rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{u}")
    remotes = git.run(ctx.root, "remote", check=True).stdout.split()
    if upstream.returncode != 0 and not remotes:
        raise GitError(
            "the repository has no remote to sync with",
            hint="add one: git remote add origin URL",
        )
    remote = "origin" if "origin" in remotes else (remotes[0] if remotes else "")
    if upstream.returncode != 0:  # the remote may have this branch already (a clone's partner)
        fetched = git.run(ctx.root, "fetch", "--quiet", remote, timeout=300)
        if fetched.returncode != 0:
            raise GitError(f"git fetch failed: {git.first_line(fetched.stderr)}")
        if git.run(
            ctx.root, "rev-parse", "--verify", "-q", f"refs/remotes/{remote}/{branch}"
        ).stdout:
            git.run(ctx.root, "branch", f"--set-upstream-to={remote}/{branch}", check=True)
            upstream = git.run(ctx.root, "rev-parse", "--abbrev-ref", "@{u}")
    if not git.merge_driver_ready(ctx.root):  # records merge field by field in this clone too
        git.install_merge_driver(ctx.root)
    with folder_lock(ctx.root / STATE_DIR / "lock"):  # no crm write while git rewrites files
        pulled = 0
        if upstream.returncode == 0:
            fetched = git.run(ctx.root, "fetch", "--quiet", timeout=300)
            if fetched.returncode != 0:
                raise GitError(f"git fetch failed: {git.first_line(fetched.stderr)}")
            pulled = _count(ctx.root, "HEAD..@{u}")
            if pulled:
                rebased = git.run(ctx.root, "rebase", "--quiet", "@{u}", timeout=None)
                if rebased.returncode != 0:
                    conflicted = git.run(
                        ctx.root, "diff", "--name-only", "--diff-filter=U"
                    ).stdout.split()
                    if not conflicted:
                        git.run(ctx.root, "rebase", "--abort")
                        raise GitError(f"git rebase failed: {git.first_line(rebased.stderr)}")
                    shown = ", ".join(conflicted[:3]) + (" ..." if len(conflicted) > 3 else "")
                    raise GitError(
                        f"your changes and the remote's conflict in {shown}",
                        hint="edit the fields between <<<<<<< and >>>>>>>, run `crm check`, "
                        "`git add` the files, `git rebase --continue`, then `crm sync` again; "
                        "or `git rebase --abort` to go back",
                    )
    problems = _check(ctx.root)
    if pulled:
        output.info(f"Pulled {pulled} commit(s)")
    if problems:
        for line in problems:
            print(line)
        raise GitError(
            f"not pushed: `crm check` found {len(problems)} problem(s)",
            hint="fix them, commit, and `crm sync` again",
        )
    if no_push:
        return
    ahead = _count(ctx.root, "@{u}..HEAD") if upstream.returncode == 0 else -1
    if ahead == 0:
        if not pulled:
            output.info("Up to date")
        return
    args = ["push", "--quiet"]
    if upstream.returncode != 0:
        args += ["--set-upstream", remote, branch]
    pushed = git.run(ctx.root, *args, timeout=300)
    if pushed.returncode != 0:
        why = git.first_line(pushed.stderr)
        if "rejected" in pushed.stderr or "fetch first" in pushed.stderr:
            raise GitError(
                "the remote changed while syncing: nothing pushed", hint="run `crm sync` again"
            )
        raise GitError(f"git push failed: {why}")
    output.info(f"Pushed {ahead} commit(s)" if ahead > 0 else "Pushed")


def _count(root: Path, span: str) -> int:
    from crm.store import git

    result = git.run(root, "rev-list", "--count", span)
    return int(result.stdout.strip() or 0) if result.returncode == 0 else 0


def _check(root: Path) -> list[str]:
    """What `crm check` finds in the folder now, one line a problem."""
    result = subprocess.run(
        [sys.executable, "-P", "-m", "crm", "--dir", str(root), "check"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
    )
    if result.returncode not in (0, 1):
        raise GitError(f"crm check failed: {result.stderr.strip() or result.returncode}")
    return [line for line in result.stdout.splitlines() if line.strip()]
