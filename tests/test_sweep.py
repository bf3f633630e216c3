"""Every command, with missing, wrong and absurd arguments, in an empty, a missing and a broken
folder: a non-zero exit says why in one line, and nothing ever ends in a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from crm.cli import build_app
from helpers import Run

# (no NUL bytes: no process can be given one in its arguments)
ABSURD = ("../../etc/passwd", "x" * 3000 + "💥", "-1")
OPTION_VALUES = ("../💥\n;rm -rf", "9" * 400, "")
# Commands that would wait for a person, or write where a test must not
SKIP_POSITIONAL = {"init"}


def _commands() -> list[tuple[str, object]]:
    root = get_command(build_app(None))
    stack = [((), root)]
    found = []
    while stack:
        path, cmd = stack.pop()
        subs = getattr(cmd, "commands", None)
        if subs:
            stack.extend(((*path, name), sub) for name, sub in subs.items())
        else:
            found.append((" ".join(path), cmd))
    return sorted(found, key=lambda pair: pair[0])


ALL = _commands()
_APP = build_app(None)
_CLI = get_command(_APP)


@pytest.fixture(autouse=True)
def _built_once(monkeypatch):
    """Typer builds the app's command tree on every invoke (~100 ms): here, once."""
    import typer.testing

    build = typer.testing._get_command
    monkeypatch.setattr(
        typer.testing, "_get_command", lambda app: _CLI if app is _APP else build(app)
    )


@pytest.fixture
def crm():
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> Run:
        result = runner.invoke(_APP, list(args), input=input, catch_exceptions=True)
        exc = None if isinstance(result.exception, SystemExit) else result.exception
        return Run(result.exit_code, result.stdout, result.stderr, exc)

    return run


def _variants(path: str, cmd) -> list[list[str]]:
    words = path.split()
    positionals = [p for p in cmd.params if p.param_type_name == "argument"]
    options = [
        p
        for p in cmd.params
        if p.param_type_name == "option" and not p.is_flag and not p.count and p.name != "help"
    ]
    out = [words, [*words, "--no-such-option"]]
    if positionals and path not in SKIP_POSITIONAL:
        for value in ABSURD:
            out.append([*words, *([value] * len(positionals))])
    filler = ["x"] * len(positionals) if path not in SKIP_POSITIONAL else []
    for option in options[:6]:
        for value in OPTION_VALUES:
            out.append([*words, *filler, option.opts[0], value])
    return out


def _broken(folder: Path) -> None:
    (folder / "contacts" / "broken.yaml").write_bytes(b"name: [unclosed\n\xff\xfe")
    (folder / "deals" / "wrong-types.yaml").write_text(
        "title: 12\nvalue: [1, 2]\nstage: {a: b}\nclose_date: soon\n"
    )
    (folder / "invoices" / "odd.yaml").write_text("number: !!python/object:os.system ls\n")
    (folder / "tasks" / "list.yaml").write_text("- just\n- a list\n")


REPORTS = {"check", "fmt"}  # exit 1: problems found, each on a line of its own


def _assert_clean(args: list[str], result) -> None:
    shown = " ".join(repr(a)[:40] for a in args)
    assert result.exception is None, f"crm {shown}: {result.exception!r}"
    assert "Traceback" not in result.stdout + result.stderr, f"crm {shown}"
    if result.exit_code == 1 and args and args[-1] in REPORTS | {"--check"}:
        assert result.stdout.strip() or result.stderr.strip(), f"crm {shown}"
    elif result.exit_code not in (0, 2):  # 2: usage errors, in Click's own words
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert lines, f"crm {shown}: exit {result.exit_code} with nothing said"
        assert lines[-1].startswith("Error: "), f"crm {shown}: {result.stderr[-300:]}"
        assert sum(line.startswith("Error: ") for line in lines) == 1, f"crm {shown}"


@pytest.mark.parametrize(("path", "cmd"), ALL, ids=[p for p, _ in ALL])
def test_every_command_fails_cleanly(crm, folder, tmp_path, monkeypatch, path, cmd):
    monkeypatch.setenv("EDITOR", "true")
    monkeypatch.setenv("CRM_LOCK_TIMEOUT", "2")
    monkeypatch.setenv("CRM_HOOK_TIMEOUT", "2")
    variants = _variants(path, cmd)
    for args in variants:  # an empty folder
        _assert_clean(args, crm(*args, input=""))
    missing = tmp_path / "no-such-folder"
    for args in variants[:2]:
        _assert_clean(args, crm("--dir", str(missing), *args, input=""))
    _broken(folder)
    for args in variants[:5]:  # missing, unknown and absurd arguments
        _assert_clean(args, crm(*args, input=""))
    config = folder / "crm.yaml"
    config.write_text("currency: [EUR\nstages: 12\n")
    for args in variants[:2]:
        _assert_clean(args, crm(*args, input=""))
