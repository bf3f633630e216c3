"""The data folder's git repository: commits of what crm changed, and what git knows of a file.

Plain `git` through subprocess: it behaves exactly like the user's own git (config, hooks,
signing) and is the fastest way in. Files are always named: never `git add -A`.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crm.errors import GitError, notice

if TYPE_CHECKING:
    from crm.store.repo import Change

_SEPARATOR = "\x1f"
TRAILER = "Crm-Version"  # marks a commit crm made: the ones `crm undo` takes back
UNDO_TRAILER = "Crm-Undoes"  # on an undo: the Crm-Change it took back
CHANGE_TRAILER = "Crm-Change"  # a crm commit's own id, which a rebase keeps
AUTOCOMMIT_ENV = "CRM_AUTOCOMMIT"  # set while crm commits: its own pre-commit hook stands aside
_IN_PROGRESS = ("MERGE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD", "rebase-merge", "rebase-apply")

# The command line being run, for the subject of a commit of several files (set by crm.cli).
command_line: list[str] | None = None


def run(
    root: Path,
    *args: str,
    input: str | None = None,
    check: bool = False,
    timeout: float | None = 60,
) -> subprocess.CompletedProcess[str]:
    """`git ARGS` in `root`; GitError when git is missing, or (`check`) when it fails.

    `timeout=None` for what changes the repository (commit, revert, rebase): a git killed
    half-way would leave its index.lock behind. A read that takes too long is asked to stop
    (SIGTERM, so git cleans up) before it is killed.
    """
    env = {
        **os.environ,
        "GIT_TERMINAL_PROMPT": "0",
        AUTOCOMMIT_ENV: "1",
        "LC_ALL": "C",  # messages parsed below are git's English ones
    }
    try:
        process = subprocess.Popen(
            ["git", *args],
            cwd=root,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=env,
        )
    except FileNotFoundError as exc:
        raise GitError(
            "git is not installed", hint="install git to use history, undo, sync"
        ) from exc
    except OSError as exc:  # E2BIG: too many file names for one command line
        raise GitError(f"git {args[0]} could not start: {exc.strerror or exc}") from exc
    try:
        out, err = process.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        process.terminate()
        try:
            process.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
        raise GitError(f"git {args[0]} took longer than {timeout:.0f} s") from exc
    result = subprocess.CompletedProcess(["git", *args], process.returncode, out, err)
    if check and result.returncode != 0:
        raise GitError(f"git {args[0]} failed: {first_line(result.stderr or result.stdout)}")
    return result


def first_line(text: str) -> str:
    """git's verdict in one line: its error, with the first file it names after a colon."""
    raw = [line for line in text.splitlines() if line.strip()]
    lines = [line.strip() for line in raw]
    for i, line in enumerate(lines):  # git's own verdict, rather than the hints around it
        if line.startswith(("fatal:", "error:", "CONFLICT")):
            if line.endswith(":") and i + 1 < len(raw) and raw[i + 1][:1] in ("\t", " "):
                return f"{line} {lines[i + 1]}"
            return line
    return lines[0] if lines else "no message"


@dataclass(frozen=True, slots=True)
class Repo:
    top: Path  # the work tree's top folder
    git_dir: Path


def repo_of(root: Path) -> Repo | None:
    """The git repository holding `root`, or None (not one, or git missing)."""
    try:
        result = run(root, "rev-parse", "--show-toplevel", "--absolute-git-dir")
    except GitError:
        return None
    if result.returncode != 0:
        return None
    top, git_dir = result.stdout.splitlines()[:2]
    return Repo(Path(top), Path(git_dir))


def require_repo(root: Path) -> Repo:
    found = repo_of(root)
    if found is None:
        raise GitError(
            f"{root} is not in a git repository",
            hint="`git init` it, or make folders with `crm init`",
        )
    return found


def operation_in_progress(repo: Repo) -> str | None:
    """The merge, rebase, cherry-pick or revert the user is in the middle of, if any."""
    for name in _IN_PROGRESS:
        if (repo.git_dir / name).exists():
            return {
                "MERGE_HEAD": "a merge",
                "CHERRY_PICK_HEAD": "a cherry-pick",
                "REVERT_HEAD": "a revert",
            }.get(name, "a rebase")
    return None


# -- commits of crm's own changes -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pending:
    """What `before_write` learnt of the files a transaction is about to write."""

    root: Path
    paths: tuple[str, ...]
    tracked: frozenset[str]  # known to git (in HEAD or the index)


def before_write(root: Path, paths: Sequence[str], *, keep: bool = True) -> Pending | None:
    """Make ready to commit `paths` once they are written: None (with a notice) when no commit
    can be made. Edits made outside crm to these files and not yet committed are committed
    first, on their own: crm's commit then holds crm's change only, and `crm undo` never takes
    back work of yours."""
    if not paths:
        return None
    repo = repo_of(root)
    if repo is None:
        notice(f"git.autocommit is on but {root} is not in a git repository: nothing committed")
        return None
    busy = operation_in_progress(repo)
    if busy:
        notice(f"not committed: {busy} is in progress; commit these changes when it is done")
        return None
    if not _on_branch(repo):
        notice("not committed: HEAD is detached (no branch); check out a branch to commit")
        return None
    try:
        status = _status(root, paths)
        dirty = sorted(status)
        tracked = frozenset(p for p, code in status.items() if code != "??") | frozenset(
            p for p in paths if p not in status and (root / p).exists()
        )
        if dirty and keep:
            _keep_outside_edits(root, dirty, status)
            tracked |= frozenset(dirty)
    except GitError as exc:
        notice(f"not committed: {exc}")
        return None
    return Pending(root, tuple(sorted(set(paths))), tracked)


def _on_branch(repo: Repo) -> bool:
    try:
        head = (repo.git_dir / "HEAD").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return True  # let git itself decide
    return head.startswith("ref:")


def _status(root: Path, paths: Sequence[str]) -> dict[str, str]:
    """git's two-letter status of each of `paths` that is not clean (?? untracked)."""
    out: dict[str, str] = {}
    for chunk in _chunks(paths):
        result = run(
            root, "status", "--porcelain", "-z", "--untracked-files=all", "--", *chunk, check=True
        )
        entries = iter(result.stdout.split("\0"))
        for entry in entries:
            if len(entry) < 4:
                continue
            code, path = entry[:2], entry[3:]
            if code[0] in "RC":
                next(entries, None)  # the name it had before
            out[path] = code
    return out


def _chunks(paths: Sequence[str], size: int = 500) -> list[Sequence[str]]:
    """File names in batches a command line can hold."""
    return [paths[i : i + size] for i in range(0, len(paths), size)]


def _keep_outside_edits(root: Path, dirty: Sequence[str], status: dict[str, str]) -> None:
    """Commit the files' present state, changed outside crm, before crm changes them."""
    from crm import __version__

    untracked = [p for p in dirty if status.get(p) == "??"]
    if untracked:
        _add(root, untracked)
    names = ", ".join(dirty[:3]) + (f" and {len(dirty) - 3} more" if len(dirty) > 3 else "")
    command = " ".join(_quote(arg) for arg in command_line) if command_line else "crm"
    text = (
        f"Edits of {names} made outside crm\n\n"
        f"Committed on their own before `{command}` changed the same files, so that its\n"
        f"commit holds its change only.\n\nCrm-Kept: {__version__}\n"
    )
    result = _commit(root, dirty, text)
    if result.returncode != 0:
        raise GitError(f"git commit failed: {first_line(result.stderr or result.stdout)}")


def _add(root: Path, paths: Sequence[str]) -> None:
    run(
        root,
        "add",
        "--pathspec-from-file=-",
        "--pathspec-file-nul",
        input="\0".join(paths),
        check=True,
        timeout=None,
    )


def _commit(root: Path, paths: Sequence[str], text: str) -> subprocess.CompletedProcess[str]:
    """`git commit --only` of exactly `paths`, with the message `text`."""
    import tempfile

    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", prefix=".crm-msg-", suffix=".txt", delete=False
    ) as handle:
        handle.write(text)
    try:
        return run(
            root,
            "commit",
            "-q",
            "--only",
            "-F",
            handle.name,
            "--pathspec-from-file=-",
            "--pathspec-file-nul",
            input="\0".join(paths),
            timeout=None,
        )
    finally:
        os.unlink(handle.name)


def after_write(
    pending: Pending, changes: Sequence[Change], message: str | None = None
) -> str | None:
    """Commit exactly the files of `changes` (nothing else staged goes with them); the commit's
    id, or None with a notice when it could not be made. The files are written either way."""
    root = pending.root
    try:
        present = [p for p in pending.paths if (root / p).exists()]
        new = [p for p in present if p not in pending.tracked]
        if new:
            ignored: set[str] = set()
            for chunk in _chunks(new):
                found = run(root, "check-ignore", "-z", "--", *chunk)
                ignored.update(_lines(found, "\0"))
            new = [p for p in new if p not in ignored]
            if new:
                _add(root, new)
        named = sorted({*(p for p in pending.paths if p in pending.tracked), *new})
        if not named:
            return None
        result = _commit(root, named, commit_message(changes, message))
        if result.returncode != 0:
            why = first_line(result.stderr or result.stdout)
            if "user.email" in result.stderr or "identity" in result.stderr:
                why = "set git's user.name and user.email"
            elif "nothing to commit" in result.stdout + result.stderr:
                return None  # written as it was committed already
            notice(f"changes written but not committed: {why}")
            return None
        return run(root, "rev-parse", "HEAD", check=True).stdout.strip()
    except GitError as exc:
        notice(f"changes written but not committed: {exc}")
        return None


def autocommit(root: Path, changes: Sequence[Change], message: str | None = None) -> str | None:
    """Commit files already written (`before_write`, then `after_write`)."""
    pending = before_write(root, [change.path for change in changes], keep=False)
    return after_write(pending, changes, message) if pending is not None else None


def _lines(result: subprocess.CompletedProcess[str], sep: str = "\n") -> list[str]:
    return [part for part in result.stdout.split(sep) if part]


def commit_message(changes: Sequence[Change], subject: str | None = None) -> str:
    """`crm: <what>` on the first line, then a line per file changed, then crm's trailer."""
    from crm import __version__

    records = [c for c in changes if c.path.endswith(".yaml")]
    lines = [describe(change) for change in records]
    kept = [describe(change) for change in changes if not change.path.endswith(".yaml")]
    if subject is None:
        if len(lines) == 1:
            subject = lines[0]
        elif command_line:
            words = command_line[1:] if command_line[:1] == ["crm"] else command_line
            subject = " ".join(_quote(arg) for arg in words)
        elif lines:
            subject = f"{lines[0]} and {len(lines) - 1} more"
        else:
            subject = "change " + ", ".join(change.path for change in changes)
    subject = " ".join(subject.split())
    if len(subject) > 100:
        subject = subject[:99] + "…"
    listed = lines + kept if len(lines) > 1 or kept else []
    body = "".join(f"- {line}\n" for line in listed) + "\n" if listed else ""
    import uuid

    change = uuid.uuid4().hex[:16]  # survives a rebase, unlike the commit's id
    return f"crm: {subject}\n\n{body}{CHANGE_TRAILER}: {change}\n{TRAILER}: {__version__}\n"


def _quote(arg: str) -> str:
    return arg if arg and all(c.isalnum() or c in "-_.,:/=@+%" for c in arg) else repr(arg)


def describe(change: Change) -> str:
    """One change in words: `add contact ada`, `move deal acme to proposal`, `set ... (a, b)`."""
    from crm.models import RECORD_TYPES

    folder, _, name = change.path.rpartition("/")
    rtype = next((t for t in RECORD_TYPES.values() if t.plural == folder), None)
    if rtype is None or not name.endswith(".yaml"):
        verb = "remove" if change.after is None else "keep" if change.before is None else "update"
        return f"{verb} {change.path}"
    rid = name.removesuffix(".yaml")
    what = f"{rtype.name} {rid}"
    if change.before is None:
        return f"add {what}"
    if change.after is None:
        return f"remove {what}"
    before, after = _data(change.before), _data(change.after)
    keys = [
        k
        for k in dict.fromkeys([*before, *after])
        if before.get(k) != after.get(k) and k != "updated"
    ]
    if after.get("number"):  # documents are known by their number
        what = f"{rtype.name.replace('_', ' ')} {after['number']}"
    if "stage" in keys and after.get("stage"):
        return f"move {what} to {after['stage']}"
    if "status" in keys and after.get("status"):
        action = _STATUS_VERBS.get(str(after["status"]))
        if action is not None:
            return f"{action} {what}"
        return f"{what}: status {after['status']}"
    if keys == ["payments"]:
        return f"record a payment of {what}"
    if not keys:
        return f"rewrite {what}"
    return f"set {what} ({', '.join(keys)})"


_STATUS_VERBS = {
    "issued": "issue",
    "sent": "send",
    "accepted": "accept",
    "declined": "decline",
    "done": "complete",
    "converted": "convert",
}


def _data(text: str) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


# -- what git knows ---------------------------------------------------------------------------


def file_history(root: Path, relative: str, limit: int = 50) -> list[dict[str, str]]:
    """The commits that changed a file, newest first: at (ISO), author, subject.

    Empty when the folder is not in a git repository or git is not installed.
    """
    try:
        result = run(
            root,
            "log",
            f"-{limit}",
            "--follow",
            f"--format=%aI{_SEPARATOR}%an{_SEPARATOR}%s",
            "--",
            relative,
            timeout=10,
        )
    except GitError:
        return []
    if result.returncode != 0:
        return []
    out = []
    for line in result.stdout.splitlines():
        parts = line.split(_SEPARATOR, 2)
        if len(parts) == 3:
            out.append({"at": parts[0], "author": parts[1], "subject": parts[2]})
    return out


# -- hooks and the merge driver --------------------------------------------------------------

HOOK_MARK = "# installed by `crm hooks install`"
DRIVER = "crm"  # the name in .gitattributes: `merge=crm`


def _crm_command() -> str:
    """This crm, as a shell word list: the Python it runs on, so a hook finds it without PATH."""
    import shlex
    import sys

    # -P: a folder called crm where git runs the hook must not stand in for the package
    return f"{shlex.quote(sys.executable)} -P -m crm"


def driver_command() -> str:
    """The merge driver's command. Should this Python be gone (a virtual environment rebuilt,
    crm upgraded elsewhere), git's own line-by-line merge stands in: it marks conflicts, where
    a missing driver would leave our side alone and call it a conflict without markers."""
    import shlex
    import sys

    python = shlex.quote(sys.executable)
    return (
        f"if [ -x {python} ]; then {python} -P -m crm merge-file %O %A %B %P; "
        "else git merge-file -L ours -L base -L theirs %A %O %B; fi"
    )


def install_merge_driver(root: Path) -> None:
    """Register `crm merge-file` as git's merge driver `crm` in the repository's config
    (the .gitattributes naming it travels with the repository; the config does not)."""
    run(root, "config", f"merge.{DRIVER}.name", "crm records, merged field by field", check=True)
    run(root, "config", f"merge.{DRIVER}.driver", driver_command(), check=True)


def merge_driver_ready(root: Path) -> bool:
    """Whether this clone's merge driver is this crm's (registered, and not another Python's)."""
    found = run(root, "config", "--get", f"merge.{DRIVER}.driver")
    return found.returncode == 0 and found.stdout.strip() == driver_command()


def ensure_attributes(root: Path, lines: str) -> bool:
    """Add the merge attributes to the folder's .gitattributes; False if already there."""
    from crm.store import atomic

    path = root / ".gitattributes"
    try:
        existing = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        existing = ""
    missing = [line for line in lines.splitlines(keepends=True) if line.strip() not in existing]
    wanted = [line for line in missing if not line.startswith("#")]
    if not wanted:
        return False
    text = existing + ("\n" if existing and not existing.endswith("\n") else "") + "".join(missing)
    atomic.write(path, text)
    return True


def pre_commit_hook(repo: Repo, root: Path) -> str:
    """The text of the pre-commit hook: `crm check --staged` on the folder's staged records."""
    import shlex

    relative = os.path.relpath(root.resolve(), repo.top.resolve())
    folder = '"$top"' if relative == "." else f'"$top"/{shlex.quote(relative)}'
    return f"""#!/bin/sh
{HOOK_MARK}: checks the staged records before each commit.
# crm's own commits were checked when they were made.
[ -n "${AUTOCOMMIT_ENV}" ] && exit 0
# A hook of your own that this one replaced runs first.
own="$(dirname "$0")/pre-commit.orig"
if [ -x "$own" ]; then "$own" "$@" || exit $?; fi
top=$(git rev-parse --show-toplevel) || exit 1
exec {_crm_command()} --dir {folder} check --staged
"""


def hook_path(repo: Repo, root: Path, name: str) -> Path:
    result = run(root, "rev-parse", "--git-path", f"hooks/{name}", check=True)
    path = Path(result.stdout.strip())
    return path if path.is_absolute() else root / path


def install_pre_commit(root: Path, *, force: bool = False) -> tuple[Path, bool]:
    """Write the pre-commit hook; (its path, whether it changed). A hook of the user's own is
    never overwritten without `force` (it is kept as pre-commit.orig then)."""
    from crm.store import atomic

    repo = require_repo(root)
    path = hook_path(repo, root, "pre-commit")
    common = Path(run(root, "rev-parse", "--git-common-dir", check=True).stdout.strip())
    common = common if common.is_absolute() else root / common
    if not _inside_folder(path.resolve(), common.resolve()):
        raise GitError(
            f"git's core.hooksPath puts hooks in {path.parent}, outside this repository "
            "(shared by others)",
            hint="add `crm check --staged` to the pre-commit hook there yourself",
        )
    text = pre_commit_hook(repo, root)
    try:
        existing = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        existing = None
    if existing == text:
        return path, False
    if existing is not None and HOOK_MARK not in existing:
        kept = path.with_name("pre-commit.orig")
        if not force:
            raise GitError(
                f"{path} is a hook of your own",
                hint="add `crm check --staged` to it, or --force to replace it "
                "(it is kept as pre-commit.orig and runs first)",
            )
        if kept.exists():
            raise GitError(
                f"{kept} exists already, so {path} cannot be kept beside it",
                hint="merge your hooks into one by hand, then install again",
            )
        os.replace(path, kept)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write(path, text)
    path.chmod(0o755)
    return path, True


def _inside_folder(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


# -- a file's versions, for `crm history` -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Version:
    commit: str
    at: str  # ISO 8601, the author's date
    author: str
    email: str
    subject: str
    path: str  # the file's path in that commit (it may have been renamed since)
    text: str | None  # None: the commit removed the file
    before: str | None  # in the commit's first parent; None: not there


def file_versions(root: Path, relative: str) -> list[Version]:
    """Every committed version of a file, oldest first (following renames)."""
    require_repo(root)
    log = run(
        root,
        "log",
        "--follow",
        "--no-merges",
        "--name-status",
        "-z",
        f"--format=%x1e%H{_SEPARATOR}%aI{_SEPARATOR}%an{_SEPARATOR}%ae{_SEPARATOR}%s",
        "--",
        relative,
    )
    if log.returncode != 0:  # no commits yet, or the path was never known to git
        return []
    entries: list[tuple[list[str], str, str, bool]] = []
    prefix = folder_prefix(root)  # git prints paths from the top of the work tree
    for chunk in log.stdout.split("\x1e")[1:]:
        head, _, rest = chunk.partition("\n")
        meta = head.rstrip("\0").split(_SEPARATOR)
        if len(meta) != 5:
            continue
        fields = [f for f in rest.strip("\n").split("\0") if f]
        status = fields[0] if fields else "M"
        path = fields[-1] if len(fields) > 1 else prefix + relative
        old = fields[1] if status.startswith(("R", "C")) and len(fields) > 2 else path
        entries.append((meta, path, old, status.startswith("D")))
    entries.reverse()
    specs = [f"{meta[0]}:{path}" for meta, path, _, deleted in entries if not deleted]
    specs += [f"{meta[0]}^:{old}" for meta, _, old, _ in entries]
    texts = _blobs(root, specs)
    out = []
    for meta, path, old, deleted in entries:
        shown = path[len(prefix) :] if prefix and path.startswith(prefix) else path
        text = None if deleted else texts.get(f"{meta[0]}:{path}")
        before = texts.get(f"{meta[0]}^:{old}")
        out.append(Version(meta[0], meta[1], meta[2], meta[3], meta[4], shown, text, before))
    return out


def _blobs(root: Path, specs: list[str]) -> dict[str, str]:
    """The contents of `commit:path` objects (paths from the top of the work tree)."""
    if not specs:
        return {}
    top = repo_of(root)
    where = top.top if top else root
    result = subprocess.run(
        ["git", "cat-file", "--batch"],
        cwd=where,
        input="".join(f"{spec}\n" for spec in specs).encode("utf-8"),
        capture_output=True,
        check=False,
        timeout=120,
    )
    data = result.stdout
    out: dict[str, str] = {}
    pos = 0
    for spec in specs:
        end = data.find(b"\n", pos)
        if end < 0:
            break
        line = data[pos:end]
        pos = end + 1
        if line.endswith((b" missing", b" ambiguous")):
            continue
        parts = line.split(b" ")  # <object> <type> <size>, then the content
        if len(parts) != 3 or not parts[2].isdigit():
            break
        size = int(parts[2])
        if parts[1] == b"blob":
            out[spec] = data[pos : pos + size].decode("utf-8", errors="replace")
        pos += size + 1
    return out


# -- crm's commits, for `crm undo` ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Commit:
    sha: str
    subject: str
    crm: bool  # made by crm (its trailer)
    change: str | None  # crm's id of the change, kept by a rebase
    undoes: str | None  # the change (or, from older versions, the commit) an undo took back
    files: tuple[str, ...]  # paths from the top of the work tree
    parents: int
    email: str  # the author's

    @property
    def ids(self) -> set[str]:
        """What an undo of this commit names it by."""
        return {self.sha, *([self.change] if self.change else [])}


def recent_commits(root: Path, limit: int = 500) -> list[Commit]:
    """The commits of HEAD's first-parent line, newest first."""
    trailer = "%(trailers:key={},valueonly,separator=%x2C)"
    result = run(
        root,
        "log",
        f"-{limit}",
        "--first-parent",
        "--diff-merges=first-parent",
        "--name-only",
        "-z",
        "--format=%x1e"
        + _SEPARATOR.join(
            [
                "%H",
                "%P",
                "%ae",
                "%s",
                trailer.format(TRAILER),
                trailer.format(CHANGE_TRAILER),
                trailer.format(UNDO_TRAILER),
                "",
            ]
        ),
    )
    if result.returncode != 0:
        return []
    out = []
    for chunk in result.stdout.split("\x1e")[1:]:
        parts = chunk.split(_SEPARATOR)
        if len(parts) < 8:
            continue
        sha, parents, email, subject, version, change, undoes, rest = parts[:8]
        files = tuple(f.strip("\n") for f in rest.split("\0") if f.strip("\n"))
        out.append(
            Commit(
                sha=sha,
                subject=subject,
                crm=bool(version.strip()),
                change=change.strip() or None,
                undoes=undoes.strip() or None,
                files=files,
                parents=len(parents.split()),
                email=email,
            )
        )
    return out


def identity(root: Path) -> str:
    """The email address git would author a commit with here ("" if unknown)."""
    result = run(root, "var", "GIT_AUTHOR_IDENT")
    ident = result.stdout.strip()
    return ident[ident.find("<") + 1 : ident.find(">")] if "<" in ident else ""


def dirty(root: Path) -> list[str]:
    """Tracked files with changes not committed, staged or not (paths as git prints them)."""
    result = run(root, "status", "--porcelain", "-z", "--untracked-files=no", check=True)
    return [entry[3:] for entry in result.stdout.split("\0") if len(entry) > 3]


def around(
    root: Path, commit: str, files: Sequence[str]
) -> dict[str, tuple[str | None, str | None]]:
    """Each file (a path from the top of the work tree) as it was before `commit` and after:
    the text, or None where it did not exist."""
    specs = [f"{commit}^:{f}" for f in files] + [f"{commit}:{f}" for f in files]
    texts = _blobs(root, specs)
    return {f: (texts.get(f"{commit}^:{f}"), texts.get(f"{commit}:{f}")) for f in files}


def folder_prefix(root: Path) -> str:
    """The data folder's path from the top of its work tree, with a trailing / ("" at the top)."""
    repo = repo_of(root)
    if repo is None:
        return ""
    rel = os.path.relpath(root.resolve(), repo.top.resolve())
    return "" if rel == "." else rel.replace(os.sep, "/") + "/"
