"""Properties of the code base itself: help, the error boundary, layering, lazy imports."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.main import get_command

from crm.cli import COMMANDS, build_app

PACKAGE = Path(__file__).resolve().parent.parent / "crm"


def _commands():
    root = get_command(build_app(None))
    stack = [((), root)]
    while stack:
        path, cmd = stack.pop()
        subs = getattr(cmd, "commands", None)
        if subs:
            stack.extend(((*path, name), sub) for name, sub in subs.items())
        else:
            yield " ".join(path), cmd


ALL = sorted(_commands(), key=lambda pair: pair[0])


def test_every_registered_command_is_known():
    names = {path.split()[0] for path, _ in ALL}
    assert names == set(COMMANDS)


@pytest.mark.parametrize(("path", "cmd"), ALL, ids=[p for p, _ in ALL])
def test_every_command_has_help_and_an_example(path, cmd):
    assert cmd.help and len(cmd.help.strip()) > 20, path
    assert "Example" in cmd.help, f"`crm {path} --help` shows no example"
    assert f"crm {path.split()[0]}" in cmd.help


@pytest.mark.parametrize(("path", "cmd"), ALL, ids=[p for p, _ in ALL])
def test_every_command_is_behind_the_error_boundary(path, cmd):
    assert getattr(cmd.callback, "__wrapped__", None) is not None, path


@pytest.mark.parametrize(("path", "cmd"), ALL, ids=[p for p, _ in ALL])
def test_help_runs(crm, path, cmd):
    result = crm(*path.split(), "--help")
    assert result.ok and "Usage: crm" in result.stdout


# -- layering ---------------------------------------------------------------------------------

LAYERS = {
    "core": {"errors", "models", "ids", "money", "dates", "text"},
    "domain": {
        "query",
        "validate",
        "config",
        "records",
        "pipeline",
        "scoring",
        "views",
        "reports",
        "leads",
        "when",
        "agenda",
        "timeline",
        "search",
        "ical",
        "tasks",
        "billing",
        "banking",
        "numbering",
        "documents",
        "invoicing",
        "revenue",
        "vcard",
        "tabular",
        "matching",
        "importing",
        "backup",
        "dedupe",
        "merging",
        "timetrack",
        "timebilling",
        "ledger",
        "assertions",
        "einvoice",
        "changes",
    },
    "presentation": {"output", "editor", "render", "mail"},
    "store": {"automation"},  # rules and hooks, run inside the store's transactions
    "entry": {"cli", "context", "__main__", "__init__"},
}
FORBIDDEN = {
    "core": {
        "crm.store",
        "crm.commands",
        "crm.output",
        "crm.cli",
        "crm.context",
        "typer",
        "rich",
        "jinja2",
        "ruamel",
        "yaml",
        "crm.query",
        "crm.validate",
        "crm.config",
        "crm.records",
    },
    "domain": {
        "crm.store",
        "crm.commands",
        "crm.output",
        "crm.cli",
        "crm.context",
        "typer",
        "rich",
        "ruamel",
    },
    "store": {"crm.commands", "crm.output", "crm.cli", "crm.context", "typer", "rich", "jinja2"},
    "presentation": {"crm.store", "crm.commands", "crm.cli", "typer"},
    "commands": set(),
}


def _layer(module: Path) -> str:
    rel = module.relative_to(PACKAGE)
    if rel.parts[0] == "store":
        return "store"
    if rel.parts[0] == "commands":
        return "commands"
    for layer, names in LAYERS.items():
        if rel.stem in names:
            return layer
    raise AssertionError(f"{rel} belongs to no layer: add it to LAYERS")


def _imports(module: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


@pytest.mark.parametrize("module", sorted(PACKAGE.rglob("*.py")), ids=lambda p: p.name)
def test_layering(module):
    layer = _layer(module)
    for name in _imports(module):
        for banned in FORBIDDEN.get(layer, set()):
            assert not (name == banned or name.startswith(banned + ".")), (
                f"{module.relative_to(PACKAGE)} ({layer}) imports {name}"
            )
        assert name != "click" and not name.startswith("click."), "use typer, never click"
    if layer == "commands" and module.stem != "_options" and not module.stem.startswith("_"):
        siblings = {f"crm.commands.{p.stem}" for p in module.parent.glob("*.py")}
        public = {s for s in siblings if not s.rsplit(".", 1)[1].startswith("_")}
        assert not (_imports(module) & public), f"{module.name} imports another command module"


# -- start-up ---------------------------------------------------------------------------------

PROBE = """
import json, sys
sys.argv = ["crm", *json.loads(sys.argv[1])]
try:
    from crm.cli import main
    main()
except SystemExit:
    pass
finally:
    sys.stdout.flush()
    mods = sorted(m for m in sys.modules if m.split(".")[0] in (
        "ruamel", "rich", "jinja2", "vobject", "email_validator", "babel", "yaml", "anyascii",
        "pydantic", "crm"))
    print("\\nMODULES " + json.dumps(mods), file=sys.stderr)
"""


def _loaded(args: list[str], cwd: Path) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)], cwd=cwd, capture_output=True, text=True
    )
    line = [x for x in out.stderr.splitlines() if x.startswith("MODULES ")][-1]
    return {m.split(".")[0] if not m.startswith("crm") else m for m in json.loads(line[8:])}


def test_help_imports_no_heavy_module(folder):
    loaded = _loaded(["--help"], folder)
    assert not loaded & {"ruamel", "rich", "yaml", "babel", "email_validator", "pydantic"}
    assert not any(m.startswith("crm.commands.contact") for m in loaded)


def test_a_plain_list_imports_only_what_it_needs(crm, folder):
    assert crm("deal", "add", "X", "--value", "10").ok
    loaded = _loaded(["deal", "list", "-f", "json"], folder)
    assert "yaml" in loaded
    assert not loaded & {
        "ruamel",
        "rich",
        "jinja2",
        "vobject",
        "email_validator",
        "babel",
        "anyascii",
        "pydantic",
    }
    assert "crm.commands.contact" not in loaded  # only the group being run is imported


@pytest.mark.parametrize("args", [["--version"], ["--dir", ".", "-V"], ["--debug", "--version"]])
def test_version_imports_neither_typer_nor_the_store(folder, args):
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "crm", *args],
        cwd=folder,
        capture_output=True,
        text=True,
    )
    assert out.stdout.startswith("crm ")
    imported = {line.split("|")[-1].strip() for line in out.stderr.splitlines()}
    assert not imported & {"typer", "yaml", "rich", "crm.store.repo", "crm.models"}


def test_completion_imports_only_the_command_being_typed(crm, folder):
    import os

    env = {
        **os.environ,
        "_CRM_COMPLETE": "complete_bash",
        "COMP_WORDS": "crm deal move ",
        "COMP_CWORD": "3",
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE, "[]"], cwd=folder, capture_output=True, text=True, env=env
    )
    line = [x for x in out.stderr.splitlines() if x.startswith("MODULES ")][-1]
    loaded = set(json.loads(line[8:]))
    assert "crm.commands.deal" in loaded
    assert not any(m.startswith(("crm.commands.contact", "crm.commands.invoice")) for m in loaded)
    assert not any(m.startswith(("rich", "ruamel", "jinja2")) for m in loaded)
