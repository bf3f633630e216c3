"""crm init: create a data folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crm import output
from crm.commands._options import DryRunOpt
from crm.context import settings
from crm.money import normalize_currency
from crm.store.folder import git_init, init_folder, init_plan
from crm.store.repo import Change


def init(
    path: Annotated[
        Path | None,
        typer.Argument(
            help="Folder to create (default: --dir, else the current folder).", show_default=False
        ),
    ] = None,
    name: Annotated[str, typer.Option("--name", help="Your business name.")] = "My Business",
    currency: Annotated[
        str, typer.Option("--currency", help="Default currency (ISO 4217).")
    ] = "EUR",
    email: Annotated[
        str | None, typer.Option("--email", help="Your business email.", show_default=False)
    ] = None,
    no_git: Annotated[
        bool, typer.Option("--no-git", help="Do not make it a git repository.")
    ] = False,
    dry_run: DryRunOpt = False,
) -> None:
    """Create a CRM folder: crm.yaml, a folder per record type, .gitignore and a git repository.

    Refuses to touch a folder that already has a crm.yaml.

    \b
    Examples:
      crm init ~/crm --name "Jane Doe Design" --currency EUR
      crm init --no-git
    """
    from crm.validate import normalize_email

    root = path or settings().dir or Path.cwd()
    code = normalize_currency(currency)
    address = normalize_email(email) if email else None
    plan = init_plan(root, name.strip() or "My Business", code, address, git=not no_git)
    if dry_run:
        output.emit_diff(
            Change(str(file), file.read_text("utf-8") if file.exists() else None, text)
            for file, text in plan.items()
        )
        return
    init_folder(plan)
    if not no_git:
        note = git_init(root, plan)
        if note:
            output.warn(note)
        from crm.store.git import install_merge_driver, repo_of

        if repo_of(root) is not None:
            install_merge_driver(root)
    output.info(f"Created a CRM folder in {root}")
    output.info(
        'Next: edit crm.yaml, then `crm contact add "Ada Lovelace" --email ada@example.com`'
    )
