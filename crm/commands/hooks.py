"""crm hooks: git's hooks and merge driver for the folder; the folder's own hooks/."""

from __future__ import annotations

from typing import Annotated

import typer

from crm import output
from crm.commands._options import CrmTyper, FormatOpt
from crm.context import app_context
from crm.output import Format

app = CrmTyper(help="Git hooks and the merge driver; the folder's hooks/.")


@app.command("install")
def install(
    force: Annotated[
        bool, typer.Option("--force", help="Replace a pre-commit hook of your own.")
    ] = False,
) -> None:
    """Install git's pre-commit hook (`crm check --staged`) and the merge driver for records.

    The hook refuses a commit whose staged records do not pass `crm check`; the merge driver
    (`crm merge-file`) merges two people's changes to one record field by field. Both live in
    the repository's .git (not shared): run this once in every clone. .gitattributes, which
    names the driver for the record folders, is added to the folder to commit.

    \b
    Examples:
      crm hooks install
      crm hooks install --force    # replace a pre-commit hook of your own
    """
    from crm.store import folder, git

    ctx = app_context()
    git.require_repo(ctx.root)
    git.install_merge_driver(ctx.root)  # first: a hook of your own must not keep it out
    output.info("Merge driver `crm merge-file` registered in the repository's config")
    if git.ensure_attributes(ctx.root, folder.GITATTRIBUTES):
        output.info("Added the record folders to .gitattributes: commit it")
    path, changed = git.install_pre_commit(ctx.root, force=force)
    output.info(f"{'Installed' if changed else 'Already installed'}: {path}")


@app.command("list")
def list_hooks(fmt: FormatOpt = None) -> None:
    """List the executables in the folder's hooks/: the event each runs on, whether it is
    executable, and whether it is trusted on this machine (as it is now).

    A hook runs only once trusted here (`crm hooks trust`): one that came in with `git pull`,
    or changed since it was trusted, does not run; a `pre-` hook in that state refuses every
    command it would check. `link` is where a symbolic link leads: one to a file outside the
    CRM folder never runs.

    \b
    Examples:
      crm hooks list
      crm hooks list --format json
    """
    from crm import automation

    ctx = app_context()
    used: dict[str, list[str]] = {}
    for rule in ctx.config.automation:
        for action in rule.actions:
            if action.kind == "hook":
                used.setdefault(str(action.spec), []).append(rule.name)
    hooks = automation.hook_files(ctx.root)
    rows = [
        {
            "name": hook.name,
            "event": hook.event,
            "executable": hook.executable,
            "trusted": hook.trusted,
            "rules": used.get(hook.name, []),
            "link": hook.link,
        }
        for hook in hooks
    ]
    for name, rules in used.items():
        if not any(row["name"] == name for row in rows):
            output.warn(f"rule {rules[0]} runs hooks/{name}, which is not there")
    for hook in hooks:
        if hook.outside:
            output.warn(
                f"{automation.HOOKS_DIR}/{hook.name} is a link to a file outside the CRM "
                f"folder ({hook.link}): never run"
            )
    chosen = output.resolve_format(fmt)
    if not rows and chosen is Format.TABLE:
        output.info(f"No hooks: {ctx.root / automation.HOOKS_DIR} holds none")
        return
    columns = ["name", "event", "executable", "trusted", "rules"]
    if chosen is not Format.TABLE or any(hook.link for hook in hooks):
        columns.append("link")
    output.emit_rows(rows, columns, chosen)


@app.command("trust")
def trust(
    names: Annotated[
        list[str] | None,
        typer.Argument(
            help="The hooks to trust (default: every one in hooks/).", metavar="NAME..."
        ),
    ] = None,
) -> None:
    """Trust the folder's hooks on this machine, as they are now: only then do they run.

    Read a hook before trusting it: it runs with your rights whenever crm changes a record.
    The trust (each file's SHA-256, for this folder) is kept outside it, in
    ~/.config/crm/trusted-hooks.json ($XDG_CONFIG_HOME/crm), never in the folder git shares:
    a hook that changes (a `git pull`) is not run again until trusted again. A link to a file
    outside the folder is never trusted.

    \b
    Examples:
      crm hooks list
      crm hooks trust pre-stage on-add
      crm hooks trust              # every hook in hooks/
    """
    from crm import automation

    ctx = app_context()
    trusted = automation.trust(ctx.root, names or [])
    if not trusted:
        output.info(f"No hooks to trust in {ctx.root / automation.HOOKS_DIR}")
    for hook in trusted:
        note = "" if hook.executable else " (not executable: chmod +x it to run it)"
        output.info(f"Trusted {automation.HOOKS_DIR}/{hook.name} ({hook.digest[:12]}){note}")
