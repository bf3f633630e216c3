"""crm init, and how every other command finds the folder."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from helpers import no_traceback


def test_init_creates_the_folder(crm, isolated):
    result = crm("init", "studio", "--name", 'Jane\'s "Design" Studio', "--currency", "chf")
    assert result.ok, result.stderr
    root = isolated / "studio"
    for sub in ("contacts", "companies", "leads", "deals"):
        assert (root / sub).is_dir()
    config_text = (root / "crm.yaml").read_text(encoding="utf-8")
    assert "# " in config_text  # documented with comments
    config = yaml.safe_load(config_text)
    assert config["business"]["name"] == 'Jane\'s "Design" Studio'
    assert config["currency"] == "CHF"
    assert [s["name"] for s in config["stages"]][:2] == ["lead", "qualified"]
    assert ".crm/" in (root / ".gitignore").read_text()
    assert result.stdout == ""
    assert "Created a CRM folder" in result.stderr


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_init_makes_a_git_repository_with_a_first_commit(crm, isolated):
    assert crm("init", "studio").ok
    log = subprocess.run(
        ["git", "log", "--oneline"], cwd=isolated / "studio", capture_output=True, text=True
    )
    assert "crm: init" in log.stdout
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=isolated / "studio", capture_output=True, text=True
    ).stdout.split()
    assert "crm.yaml" in tracked and ".gitignore" in tracked


def test_init_no_git(crm, isolated):
    assert crm("init", "--no-git").ok
    assert (isolated / "crm.yaml").is_file()
    assert not (isolated / ".git").exists()


def test_init_refuses_an_existing_crm(crm, isolated):
    assert crm("init", "--no-git").ok
    before = (isolated / "crm.yaml").read_text()
    result = crm("init", "--no-git", "--name", "Other")
    assert result.exit_code == 23
    assert "already a CRM folder" in result.stderr
    assert (isolated / "crm.yaml").read_text() == before
    no_traceback(result)


def test_init_rejects_a_bad_currency_and_writes_nothing(crm, isolated):
    result = crm("init", "x", "--currency", "EURO")
    assert result.exit_code == 22
    assert "ISO 4217" in result.stderr
    assert not (isolated / "x").exists()


def test_no_folder_is_a_clear_error(crm):
    result = crm("contact", "list")
    assert result.exit_code == 3
    assert result.stderr.startswith("Error: no CRM folder")
    assert "crm init" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    no_traceback(result)


def test_folder_found_by_walking_up(crm, folder, monkeypatch):
    deep = folder / "contacts" / "sub"
    deep.mkdir()
    monkeypatch.chdir(deep)
    assert crm("contact", "add", "Ada Lovelace").stdout == "ada-lovelace\n"
    assert (folder / "contacts" / "ada-lovelace.yaml").is_file()


def test_folder_from_dir_option_and_env(crm, isolated, monkeypatch):
    assert crm("init", "elsewhere", "--no-git").ok
    other = isolated / "other"
    other.mkdir()
    monkeypatch.chdir(other)
    assert crm("--dir", str(isolated / "elsewhere"), "contact", "add", "Ada").ok
    result = crm("contact", "list", "-f", "ids", env={"CRM_DIR": str(isolated / "elsewhere")})
    assert result.stdout == "ada\n"
    missing = crm("--dir", str(isolated / "nope"), "contact", "list")
    assert missing.exit_code == 3
    assert "is not a CRM folder" in missing.stderr


def test_invalid_crm_yaml_names_file_and_line(crm, folder):
    (folder / "crm.yaml").write_text(
        "currency: EUR\nstages:\n  - name: lead\n    probability: 150\n"
    )
    result = crm("contact", "list")
    assert result.exit_code == 3
    assert "crm.yaml:4: stages.0.probability: 150 is not between 0 and 100" in result.stderr
    no_traceback(result)


def test_malformed_crm_yaml(crm, folder):
    (folder / "crm.yaml").write_text("currency: [EUR\n")
    result = crm("deal", "list")
    assert result.exit_code == 3
    assert "crm.yaml:2:" in result.stderr and "invalid YAML" in result.stderr
    no_traceback(result)


def test_empty_crm_yaml_means_defaults(crm, folder):
    (folder / "crm.yaml").write_text("")
    result = crm("deal", "add", "Something", "--value", "10")
    assert result.ok, result.stderr
    data = yaml.safe_load((folder / "deals" / "something.yaml").read_text())
    assert data["currency"] == "EUR" and data["stage"] == "lead"


def test_version_and_help(crm):
    from crm import __version__

    assert crm("--version").stdout == f"crm {__version__}\n"
    result = crm("--help")
    assert result.ok and "contact" in result.stdout and "deal" in result.stdout


def test_version_fast_path_runs_without_typer(tmp_path):
    import sys

    code = "import sys; sys.argv=['crm','--version']; from crm.cli import main; main(); print('typer' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.stdout.splitlines()[-1] == "False"


def test_nothing_outside_the_folder_is_touched(crm, folder: Path):
    before = sorted(p.name for p in folder.parent.iterdir())
    crm("contact", "add", "Ada")
    assert sorted(p.name for p in folder.parent.iterdir()) == before


def test_init_dry_run_writes_nothing(crm, isolated):
    result = crm("init", "studio", "--dry-run")
    assert result.ok
    assert f"+++ b/{Path('studio') / 'crm.yaml'}" in result.stdout
    assert "+currency: EUR" in result.stdout
    assert not (isolated / "studio").exists()


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_init_in_a_folder_with_files_commits_only_its_own(crm, isolated):
    studio = isolated / "studio"
    (studio / "private").mkdir(parents=True)
    (studio / "private" / "key.txt").write_text("secret")
    (studio / ".gitignore").write_text("*.log")
    assert crm("init", "studio").ok
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=studio, capture_output=True, text=True
    ).stdout.split()
    assert "private/key.txt" not in tracked
    assert "crm.yaml" in tracked
    assert (studio / ".gitignore").read_text().startswith("*.log\n")
    assert "/.crm/" in (studio / ".gitignore").read_text()


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_init_inside_an_existing_repository_leaves_git_alone(crm, isolated):
    subprocess.run(["git", "init", "-q"], cwd=isolated, check=True)
    result = crm("init", "studio")
    assert result.ok
    assert "already inside the git repository" in result.stderr
    assert not (isolated / "studio" / ".git").exists()
