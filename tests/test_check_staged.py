"""`crm check --staged` and the pre-commit hook: the records as staged in git's index; and
conflict markers left in files, as `crm check` reports them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from helpers import no_traceback


def git(root: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    if ok:
        assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result


@pytest.fixture
def repo(crm, isolated: Path) -> Path:
    """A CRM folder made with git, the hooks installed, a company and a contact committed."""
    assert crm("init", "--name", "Test Studio").ok
    assert crm("hooks", "install").ok
    assert crm("company", "add", "Acme GmbH", "--id", "acme").ok
    assert crm("contact", "add", "Ada Lovelace", "--email", "ada@acme.example").ok
    assert git(isolated, "status", "--porcelain").stdout == ""
    return isolated


def commit(root: Path, *paths: str) -> subprocess.CompletedProcess[str]:
    git(root, "add", "--", *paths)
    return git(root, "commit", "-m", "by hand", ok=False)


def test_the_hook_refuses_a_broken_record_and_accepts_a_good_one(repo: Path):
    (repo / "deals" / "big.yaml").write_text("title: Big\ncompany: ghost\nvalue: 12.345\n")
    refused = commit(repo, "deals/big.yaml")
    assert refused.returncode != 0
    out = refused.stdout + refused.stderr
    assert "deals/big.yaml:2: company: no company 'ghost' (dangling reference)" in out
    assert "deals/big.yaml:3: value:" in out
    assert "Traceback" not in out
    assert git(repo, "log", "-1", "--format=%s").stdout.startswith("crm: add contact")
    (repo / "deals" / "big.yaml").write_text('title: Big\ncompany: acme\nvalue: "12.00"\n')
    accepted = commit(repo, "deals/big.yaml")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert git(repo, "log", "-1", "--format=%s").stdout.strip() == "by hand"


def test_conflict_markers_in_a_staged_record_stop_the_commit(repo: Path):
    path = repo / "contacts" / "ada-lovelace.yaml"
    lines = path.read_text().splitlines(keepends=True)
    lines[1:1] = ["<<<<<<< ours\n", "title: CEO\n", "=======\n", "title: CTO\n", ">>>>>>> theirs\n"]
    path.write_text("".join(lines))
    refused = commit(repo, "contacts/ada-lovelace.yaml")
    assert refused.returncode != 0
    assert (
        "contacts/ada-lovelace.yaml:2: unresolved merge conflict (lines 2-6: keep the right lines"
        in refused.stderr  # git shows a hook's output on stderr
    )


def test_what_is_checked_is_the_index_not_the_work_tree(crm, repo: Path):
    path = repo / "deals" / "big.yaml"
    path.write_text("title: Big\ncompany: ghost\n")
    git(repo, "add", "deals/big.yaml")
    path.write_text("title: Big\ncompany: acme\n")  # fixed, but not staged
    result = crm("check", "--staged")
    assert result.exit_code == 1
    assert result.stdout == "deals/big.yaml:2: company: no company 'ghost' (dangling reference)\n"
    git(repo, "add", "deals/big.yaml")
    path.write_text("title: [broken\n")  # broken, but not staged
    result = crm("check", "--staged")
    assert result.ok and result.stdout == "" and result.stderr == ""
    assert crm("check").exit_code == 1  # the work tree is what plain check sees


def test_quiet_when_nothing_is_staged_even_if_the_folder_has_problems(crm, repo: Path):
    (repo / "deals" / "loose.yaml").write_text("title: [broken\n")  # not staged
    result = crm("check", "--staged")
    assert result.ok and result.stdout == "" and result.stderr == ""
    result = crm("check", "--staged", "--format", "json")
    assert result.ok and result.stdout == ""


def test_only_the_staged_files_problems_are_reported(crm, repo: Path):
    git(repo, "rm", "-q", "--cached", "contacts/ada-lovelace.yaml")
    git(repo, "commit", "-q", "--no-verify", "-m", "untrack")
    (repo / "contacts" / "ada-lovelace.yaml").write_text("name: Ada\nbirthday: soon\n")
    (repo / "contacts" / "bob.yaml").write_text("name: Bob\n")
    git(repo, "add", "contacts/bob.yaml")
    result = crm("check", "--staged")
    assert result.ok, result.stdout


def test_references_resolve_against_the_staged_tree(crm, repo: Path):
    (repo / "contacts" / "grace.yaml").write_text("name: Grace\n")  # not staged
    (repo / "deals" / "navy.yaml").write_text("title: Navy\ncontact: grace\n")
    git(repo, "add", "deals/navy.yaml")
    result = crm("check", "--staged")
    assert result.exit_code == 1
    assert "deals/navy.yaml:2: contact: no contact 'grace' (dangling reference)" in result.stdout
    git(repo, "add", "contacts/grace.yaml")
    assert crm("check", "--staged").ok


def test_a_staged_removal_that_leaves_a_reference_dangling_is_reported(crm, repo: Path):
    (repo / "deals" / "big.yaml").write_text("title: Big\ncompany: acme\n")
    assert commit(repo, "deals/big.yaml").returncode == 0
    git(repo, "rm", "-q", "companies/acme.yaml")
    result = crm("check", "--staged")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == (
        "deals/big.yaml:2: company: no company 'acme' (dangling reference)"
    )


def test_a_duplicate_email_is_reported_whichever_file_sorts_first(crm, repo: Path):
    (repo / "contacts" / "a-twin.yaml").write_text("name: Twin\nemails:\n  - ADA@acme.example\n")
    git(repo, "add", "contacts/a-twin.yaml")
    result = crm("check", "--staged", "--format", "json")
    assert result.exit_code == 1
    rows = json.loads(result.stdout)
    assert rows == [
        {
            "path": "contacts/ada-lovelace.yaml",
            "line": 3,
            "message": "emails.0: ada@acme.example is also on contacts/a-twin.yaml",
        }
    ]


def test_a_broken_staged_crm_yaml_is_reported(crm, repo: Path):
    config = repo / "crm.yaml"
    good = config.read_text()
    config.write_text(good + "currency: [EUR\n")
    git(repo, "add", "crm.yaml")
    config.write_text(good)
    result = crm("check", "--staged")
    assert result.exit_code == 1
    assert result.stdout.startswith("crm.yaml:")
    no_traceback(result)


def test_crm_own_commits_are_not_held_up_by_the_hook(crm, repo: Path):
    # A record already broken in HEAD: the hook would refuse any commit of it ...
    (repo / "contacts" / "bob.yaml").write_text("name: Bob\ncompany: ghost\n")
    git(repo, "add", "contacts/bob.yaml")
    git(repo, "commit", "-q", "--no-verify", "-m", "bob")
    assert crm("check", "--staged").ok  # nothing staged
    # ... but crm's own commit of it goes through (CRM_AUTOCOMMIT: the hook stands aside).
    result = crm("contact", "set", "bob", "title=CEO")
    assert result.ok, result.stderr
    assert "not committed" not in result.stderr
    assert git(repo, "log", "-1", "--format=%s").stdout.strip() == "crm: set contact bob (title)"
    assert git(repo, "status", "--porcelain").stdout == ""


def test_staged_outside_a_git_repository_is_a_clear_error(crm, folder: Path):
    result = crm("check", "--staged")
    no_traceback(result)
    assert result.exit_code == 27
    assert "not in a git repository" in result.stderr


def test_check_reports_conflict_markers_at_their_line_not_as_a_yaml_error(crm, folder: Path):
    (folder / "deals" / "x.yaml").write_text(
        "title: X\n<<<<<<< ours\nstage: won\n=======\nstage: lost\n>>>>>>> theirs\n"
    )
    (folder / "crm.yaml").write_text(
        (folder / "crm.yaml").read_text() + "<<<<<<< HEAD\ncurrency: EUR\n=======\n"
    )
    result = crm("check")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert any(
        line.startswith("crm.yaml:")
        and "unresolved merge conflict (from line" in line
        and "no >>>>>>> end marker" in line
        for line in lines
    ), lines
    assert "deals/x.yaml:2: unresolved merge conflict (lines 2-6: keep the right lines, " in (
        result.stdout
    )
    assert "invalid YAML" not in result.stdout


def test_a_crm_folder_inside_a_larger_repository(crm, isolated: Path, monkeypatch):
    git(isolated, "init", "-q")
    (isolated / "README").write_text("other things\n")
    git(isolated, "add", "README")
    git(isolated, "commit", "-q", "-m", "first")
    sub = isolated / "data"
    sub.mkdir()
    monkeypatch.chdir(sub)
    assert crm("init", "--name", "Test Studio").ok
    assert crm("hooks", "install").ok
    git(isolated, "add", "data")
    assert git(isolated, "commit", "-q", "-m", "crm folder", ok=False).returncode == 0
    (sub / "deals" / "big.yaml").write_text("title: Big\ncompany: ghost\n")
    (isolated / "notes.yaml").write_text("not: [a record\n")  # outside the CRM folder: not checked
    git(isolated, "add", "data/deals/big.yaml", "notes.yaml")
    refused = git(isolated, "commit", "-m", "deal", ok=False)
    assert refused.returncode != 0
    assert "deals/big.yaml:2: company: no company 'ghost' (dangling reference)" in refused.stderr
    (sub / "deals" / "big.yaml").write_text("title: Big\n")
    git(isolated, "add", "data/deals/big.yaml")
    accepted = git(isolated, "commit", "-q", "-m", "deal", ok=False)
    assert accepted.returncode == 0, accepted.stderr


QUOTED = (
    'name: Ada Lovelace\nnotes: "Met at the fair\n<<<<<<< ours\nwants a quote\n=======\n'
    'wants a call\n>>>>>>> theirs\nin May"\n'
)


def test_markers_inside_a_multi_line_quoted_value_are_found(crm, folder: Path):
    """A conflict inside a quoted value still reads as YAML (as one long string)."""
    (folder / "contacts" / "ada.yaml").write_text(QUOTED)
    (folder / "deals" / "x.yaml").write_text(
        "title: X\ntags: [web,\n<<<<<<< ours\nprint\n=======\nseo\n>>>>>>> theirs\n]\n"
    )
    for _ in range(2):  # the second time from the cache
        result = crm("check")
        assert result.exit_code == 1
        assert result.stdout.splitlines() == [
            "contacts/ada.yaml:3: unresolved merge conflict (lines 3-7: keep the right lines, "
            "delete the markers, then `git add` the file)",
            "deals/x.yaml:3: unresolved merge conflict (lines 3-7: keep the right lines, "
            "delete the markers, then `git add` the file)",
        ]


def test_markers_moved_off_the_start_of_their_lines_are_found_at_the_field(crm, folder: Path):
    (folder / "contacts" / "ada.yaml").write_text(
        'name: Ada\nnotes: "one\n  <<<<<<< ours\n  two\n  =======\n  three\n  >>>>>>> theirs\n  x"\n'
    )
    result = crm("check")
    assert result.exit_code == 1
    assert result.stdout == (
        "contacts/ada.yaml:2: notes: unresolved merge conflict in the value (keep the right "
        "text, delete the markers, then `git add` the file)\n"
    )


def test_markers_inside_a_quoted_value_stop_the_commit(crm, repo: Path):
    path = repo / "contacts" / "ada-lovelace.yaml"
    path.write_text(path.read_text() + QUOTED.split("\n", 1)[1])
    refused = commit(repo, "contacts/ada-lovelace.yaml")
    assert refused.returncode != 0
    assert "contacts/ada-lovelace.yaml:" in refused.stderr
    assert "unresolved merge conflict (lines" in refused.stderr
    result = crm("check", "--staged")
    assert result.exit_code == 1 and "unresolved merge conflict" in result.stdout
