"""The `crm` command: global options, and command groups imported only when they are used."""

import importlib
import os
import sys
from pathlib import Path
from typing import Annotated

from crm import __version__

# name -> (module, help, is a group of commands). Only the module of the command being run is
# imported; the others are listed in --help from this table.
COMMANDS: dict[str, tuple[str, str, bool]] = {
    "init": ("crm.commands.init", "Create a CRM folder.", False),
    "contact": ("crm.commands.contact", "Contacts: the people you work with.", True),
    "company": ("crm.commands.company", "Companies (accounts): who you sell to.", True),
    "lead": ("crm.commands.lead", "Leads: people who may become customers.", True),
    "deal": ("crm.commands.deal", "Deals (opportunities): what you hope to sell.", True),
    "pipeline": (
        "crm.commands.pipeline",
        "The pipeline board: deals by stage, with totals.",
        False,
    ),
    "forecast": ("crm.commands.forecast", "Weighted revenue ahead, by month or quarter.", False),
    "log": ("crm.commands.activity", "Log a call, email, meeting or note.", False),
    "activity": ("crm.commands.activity", "Activities: calls, emails, meetings, notes.", True),
    "task": ("crm.commands.task", "Tasks and follow-ups, with due dates and repeats.", True),
    "agenda": ("crm.commands.agenda", "What needs doing, today and this week.", False),
    "today": ("crm.commands.agenda", "The agenda (the same as crm agenda).", False),
    "remind": ("crm.commands.agenda", "For cron: the agenda, silent when nothing is due.", False),
    "touch": ("crm.commands.touch", "Keeping in touch: who is due, snooze.", True),
    "search": ("crm.commands.search", "Find anything: names, emails, phones, notes.", False),
    "product": ("crm.commands.product", "Products and services: the catalogue.", True),
    "quote": ("crm.commands.quote", "Quotes: offers from draft to accepted.", True),
    "invoice": (
        "crm.commands.invoice",
        "Invoices: issue, payments, credit notes, reminders, recurring.",
        True,
    ),
    "credit-note": ("crm.commands.credit_note", "Credit notes correcting invoices.", True),
    "recurring": ("crm.commands.recurring", "Recurring invoices: retainers, subscriptions.", True),
    "time": (
        "crm.commands.time",
        "Tracked time: import from Toggl, Clockify, timewarrior, timeclock; bill it.",
        True,
    ),
    "import": (
        "crm.commands.imports",
        "Import: vCards, CSV from other programs, crm's own JSON.",
        True,
    ),
    "export": (
        "crm.commands.export",
        "Export: vCards, CSV, JSON, iCalendar for calendar and task apps.",
        True,
    ),
    "report": (
        "crm.commands.report",
        "Reports: funnel, winloss, velocity, stalled; revenue, receivables, customers.",
        True,
    ),
    "dedupe": (
        "crm.commands.dedupe",
        "Likely duplicate contacts, companies or leads, with reasons and scores.",
        False,
    ),
    "merge": (
        "crm.commands.merge",
        "Merge duplicates into one record; every reference follows.",
        False,
    ),
    "check": ("crm.commands.check", "Validate every file; exit 1 on any problem.", False),
    "fmt": (
        "crm.commands.fmt",
        "Rewrite records in the canonical form.",
        False,
    ),
    "history": (
        "crm.commands.vcs",
        "A record's changes over time, field by field.",
        False,
    ),
    "undo": ("crm.commands.vcs", "Take back the last change crm committed.", False),
    "sync": (
        "crm.commands.vcs",
        "Pull (rebase), check and push through git.",
        False,
    ),
    "hooks": ("crm.commands.hooks", "Git hooks and the merge driver; the folder's hooks/.", True),
    "merge-file": (
        "crm.commands.merge_file",
        "Git merge driver: a three-way merge of a record, field by field.",
        False,
    ),
    "rules": ("crm.commands.rules", "Automation rules: list, test, run (for cron).", True),
    "mail": ("crm.commands.mail", "Email: test the SMTP settings, store the password.", True),
    "cache": ("crm.commands.cache", "The cache of parsed records: clear it.", True),
}
_GLOBAL_WITH_VALUE = ("--dir",)
_HELP = """A CRM for freelancers, kept as plain YAML files in a git repository you own.

\b
The data folder is --dir, else $CRM_DIR, else the nearest folder holding crm.yaml.
Start with `crm init`, then `crm contact add --help`. Exit codes: docs/cli.md.
"""


def _completed_words() -> list[str] | None:
    """The words before the one a shell asks completions for (None: cannot tell)."""
    import shlex

    try:
        if "COMP_WORDS" in os.environ:  # bash
            words = shlex.split(os.environ["COMP_WORDS"])
            return words[1 : int(os.environ.get("COMP_CWORD", len(words)))]
        typed = os.environ.get("_TYPER_COMPLETE_ARGS")  # zsh, fish, PowerShell
        if typed is None:
            return None
        words = shlex.split(typed)[1:]
        return words if typed.endswith(" ") or not words else words[:-1]
    except ValueError:  # an unclosed quote
        return None


def _invoked(args: list[str]) -> str | None:
    """The command named on the command line; "" if none; None when every module is needed."""
    if "_CRM_COMPLETE" in os.environ:  # a shell asking: only the command being typed is needed
        words = _completed_words()
        if words is None:
            return None
        args = words
    for arg in _without_globals(args):
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return ""


def _without_globals(args: list[str]) -> list[str]:
    """The arguments without the global options `--dir PATH`, `--dir=PATH`, `--debug` and
    `--no-pager`."""
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in _GLOBAL_WITH_VALUE:
            skip = True
        elif arg.startswith("--dir=") or arg in ("--debug", "--no-pager"):
            continue
        else:
            out.append(arg)
    return out


def build_app(only: str | None = None):  # type: ignore[no-untyped-def]
    """The Typer app. `only` names the one command to import ("" none, None all)."""
    import typer

    from crm.commands._options import CrmTyper
    from crm.context import Settings, configure

    app = CrmTyper(name="crm", help=_HELP, add_completion=True)

    def show_version(value: bool) -> None:
        if value:
            print(f"crm {__version__}")
            raise typer.Exit()

    @app.callback()
    def root(
        dir: Annotated[
            Path | None,
            typer.Option(
                "--dir",
                envvar="CRM_DIR",
                help="The CRM folder (default: the nearest folder with a crm.yaml).",
                show_default=False,
            ),
        ] = None,
        debug: Annotated[
            bool,
            typer.Option("--debug", envvar="CRM_DEBUG", help="Show tracebacks of errors."),
        ] = False,
        no_pager: Annotated[
            bool,
            typer.Option(
                "--no-pager", help="Print long tables whole instead of through $CRM_PAGER/$PAGER."
            ),
        ] = False,
        version: Annotated[
            bool,
            typer.Option(
                "--version", "-V", callback=show_version, is_eager=True, help="Print the version."
            ),
        ] = False,
    ) -> None:
        configure(Settings(dir=dir, debug=debug))
        if no_pager:
            from crm import output

            output.no_pager()

    for name, (module_name, help_text, is_group) in COMMANDS.items():
        if only is None or only == name:
            module = importlib.import_module(module_name)
            if is_group:
                app.add_typer(module.app, name=name, help=help_text)
            else:
                app.command(name, help=None)(getattr(module, name.replace("-", "_")))
        elif is_group:
            app.add_typer(CrmTyper(help=help_text), name=name, help=help_text)
        else:
            app.command(name, help=help_text)(lambda: None)
    return app


def main() -> None:
    args = sys.argv[1:]
    if _without_globals(args) in (["--version"], ["-V"]):  # answered before Typer is imported
        print(f"crm {__version__}")
        return
    app = build_app(_invoked(args))
    from crm.store import git

    git.command_line = ["crm", *_without_globals(args)]
    try:
        app(args=args, prog_name="crm")
    except BrokenPipeError:
        # The reader of our output went away (`crm contact list | head`): not an error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)
