"""crm hooks: git's hooks and merge driver for the folder; the folder's own hooks/."""

from __future__ import annotations

from typing import Annotated

import typer

from crm import output
from crm.commands._options import CrmTyper
from crm.context import app_context

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
    path, changed = git.install_pre_commit(ctx.root, force=force)
    git.install_merge_driver(ctx.root)
    added = git.ensure_attributes(ctx.root, folder.GITATTRIBUTES)
    output.info(f"{'Installed' if changed else 'Already installed'}: {path}")
    output.info("Merge driver `crm merge-file` registered in the repository's config")
    if added:
        output.info("Added the record folders to .gitattributes: commit it")
