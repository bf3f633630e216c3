"""Git: autocommit of exactly the files a command changed, history field by field, undo, sync."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from helpers import no_traceback, run_process


def git(cwd: Path, *args: str, check: bool = True) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if check:
        assert result.returncode == 0, result.stderr
    return result.stdout


def commits(cwd: Path) -> list[str]:
    return git(cwd, "log", "--format=%s").splitlines()


def files_of(cwd: Path, rev: str = "HEAD") -> list[str]:
    return sorted(git(cwd, "show", "--name-only", "--format=", rev).split())


@pytest.fixture
def repo(isolated: Path, crm) -> Path:
    """A CRM folder made by `crm init` with its git repository (autocommit on)."""
    result = crm("init", "--name", "Test Studio")
    assert result.ok, result.stderr
    return isolated


def test_init_turns_autocommit_on_and_registers_the_merge_driver(repo, crm):
    assert "autocommit: true" in (repo / "crm.yaml").read_text()
    assert "merge=crm" in (repo / ".gitattributes").read_text()
    assert "merge-file" in git(repo, "config", "merge.crm.driver")
    assert commits(repo) == ["crm: init"]
    assert ".gitattributes" in files_of(repo)
    assert git(repo, "status", "--porcelain") == ""


def test_no_git_folders_do_not_autocommit(folder):
    assert "autocommit: false" in (folder / "crm.yaml").read_text()
    assert not (folder / ".gitattributes").exists()


def test_each_write_is_one_commit_of_exactly_its_files(repo, crm):
    assert crm("contact", "add", "Ada Lovelace", "--email", "ada@example.com").ok
    assert commits(repo)[0] == "crm: add contact ada-lovelace"
    assert files_of(repo) == ["contacts/ada-lovelace.yaml"]
    assert crm("deal", "add", "Acme redesign", "--contact", "ada", "--value", "100").ok
    assert crm("deal", "move", "acme-redesign", "proposal").ok
    assert commits(repo)[:2] == [
        "crm: move deal acme-redesign to proposal",
        "crm: add deal acme-redesign",
    ]
    assert files_of(repo) == ["deals/acme-redesign.yaml"]
    assert crm("contact", "set", "ada", "title=CTO", "tags+=vip").ok
    assert commits(repo)[0] == "crm: set contact ada-lovelace (title, tags)"
    assert git(repo, "status", "--porcelain") == ""
    body = git(repo, "log", "-1", "--format=%B")
    assert "Crm-Version:" in body


def test_a_change_of_several_files_is_one_commit_listing_each(repo, crm):
    assert crm(
        "lead", "add", "Grace Hopper", "--company", "Navy Lab", "--email", "grace@navy.example"
    ).ok
    before = len(commits(repo))
    result = crm("lead", "convert", "grace", "--deal", "Intranet", "--value", "18000")
    assert result.ok, result.stderr
    assert len(commits(repo)) == before + 1
    changed = files_of(repo)
    assert "leads/grace-hopper.yaml" in changed
    assert any(f.startswith("contacts/") for f in changed)
    assert any(f.startswith("deals/") for f in changed)
    body = git(repo, "log", "-1", "--format=%B")
    for name in changed:
        rid = Path(name).stem
        assert rid in body
    assert git(repo, "status", "--porcelain") == ""


def test_the_command_line_names_a_commit_of_several_files(repo):
    assert (
        run_process("lead", "add", "Grace Hopper", "--email", "g@navy.example", cwd=repo).returncode
        == 0
    )
    result = run_process("lead", "convert", "grace", "--deal", "Intranet", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert commits(repo)[0] == "crm: lead convert grace --deal Intranet"


def test_a_hand_staged_change_is_never_swept_in(repo, crm):
    (repo / "notes.txt").write_text("mine\n")
    git(repo, "add", "notes.txt")
    (repo / "crm.yaml").write_text((repo / "crm.yaml").read_text() + "# my comment\n")
    git(repo, "add", "crm.yaml")
    assert crm("contact", "add", "Ada Lovelace").ok
    assert files_of(repo) == ["contacts/ada-lovelace.yaml"]
    staged = git(repo, "diff", "--cached", "--name-only").split()
    assert staged == ["crm.yaml", "notes.txt"]


def test_nothing_is_committed_for_a_failed_or_dry_run_command(repo, crm):
    assert crm("contact", "add", "Ada Lovelace", "--email", "ada@example.com").ok
    count = len(commits(repo))
    failed = crm("contact", "add", "Bad", "--email", "not an email")
    assert failed.exit_code != 0
    no_traceback(failed)
    dry = crm("contact", "set", "ada", "title=CTO", "--dry-run")
    assert dry.ok and "title" in dry.stdout
    refused = crm("contact", "add", "Ada Again", "--email", "ada@example.com")
    assert refused.exit_code == 23
    assert len(commits(repo)) == count
    assert git(repo, "status", "--porcelain") == ""


def test_a_no_op_change_makes_no_commit(repo, crm):
    assert crm("contact", "add", "Ada Lovelace", "--title", "CTO").ok
    count = len(commits(repo))
    assert crm("contact", "set", "ada", "title=CTO").ok
    assert len(commits(repo)) == count


def test_autocommit_off_commits_nothing(repo, crm):
    config = repo / "crm.yaml"
    config.write_text(config.read_text().replace("autocommit: true", "autocommit: false"))
    git(repo, "commit", "-qam", "autocommit off")
    assert crm("contact", "add", "Ada Lovelace").ok
    assert commits(repo)[0] == "autocommit off"
    assert "?? contacts/" in git(repo, "status", "--porcelain")


def test_outside_a_repository_the_change_is_written_with_a_warning(folder, crm):
    config = folder / "crm.yaml"
    config.write_text(config.read_text().replace("autocommit: false", "autocommit: true"))
    result = crm("contact", "add", "Ada Lovelace")
    assert result.ok
    assert (folder / "contacts" / "ada-lovelace.yaml").exists()
    assert "not in a git repository" in result.stderr


def test_during_a_merge_crm_writes_but_does_not_commit(repo, crm):
    (repo / ".git" / "MERGE_HEAD").write_text(git(repo, "rev-parse", "HEAD"))
    result = crm("contact", "add", "Ada Lovelace")
    assert result.ok
    assert "merge is in progress" in result.stderr
    assert commits(repo) == ["crm: init"]


def test_a_failing_commit_is_a_warning_not_an_error(repo, crm):
    hook = repo / ".git" / "hooks" / "commit-msg"
    hook.write_text("#!/bin/sh\necho 'policy: no' >&2\nexit 1\n")
    hook.chmod(0o755)
    result = crm("contact", "add", "Ada Lovelace")
    assert result.ok
    assert "not committed" in result.stderr
    assert (repo / "contacts" / "ada-lovelace.yaml").exists()


def test_attachments_kept_beside_a_record_go_into_its_commit(repo, crm, monkeypatch):
    config = repo / "crm.yaml"
    config.write_text(config.read_text().replace("  numbering:", "  pdf: false\n  numbering:"))
    git(repo, "commit", "-qam", "html documents")
    monkeypatch.setenv("CRM_NOW", "2026-11-23T10:00:00")
    assert crm("company", "add", "Acme GmbH").ok
    made = crm("invoice", "new", "Website", "--for", "acme")
    rid = made.stdout.strip()
    assert crm("invoice", "line", "add", rid, "--text", "Design", "--price", "100").ok
    issued = crm("invoice", "issue", rid)
    assert issued.ok, issued.stderr
    assert files_of(repo) == [f"invoices/{rid}.html", f"invoices/{rid}.yaml"]
    number = json.loads(crm("invoice", "show", rid, "-f", "json").stdout)["number"]
    assert commits(repo)[0] == f"crm: issue invoice {number}"
    assert crm("invoice", "pay", rid, "--amount", "10").ok
    assert commits(repo)[0] == f"crm: record a payment of invoice {number}"


# -- history -----------------------------------------------------------------------------------


def test_history_shows_each_field_from_and_to_with_when_and_who(repo, crm, monkeypatch):
    monkeypatch.setenv("CRM_NOW", "2026-11-20T09:00:00")
    assert crm("contact", "add", "Ada Lovelace", "--title", "Engineer").ok
    monkeypatch.setenv("CRM_NOW", "2026-11-21T09:00:00")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Bob Partner")
    assert crm("contact", "set", "ada", "title=CTO", "tags+=vip", "address.city=Berlin").ok
    result = crm("history", "ada", "-f", "json")
    assert result.ok, result.stderr
    entries = json.loads(result.stdout)
    assert [e["subject"] for e in entries] == [
        "crm: set contact ada-lovelace (title, address, tags)",
        "crm: add contact ada-lovelace",
    ]
    newest = entries[0]
    assert newest["author"] == "Bob Partner"
    assert newest["at"][:2] == "20"
    changes = {c["field"]: c for c in newest["changes"]}
    assert changes["title"]["from"] == "Engineer" and changes["title"]["to"] == "CTO"
    assert changes["tags"]["added"] == ["vip"]
    assert changes["address"]["to"] == {"city": "Berlin"}
    assert "updated" not in changes
    assert entries[1]["changes"] == [{"field": "(file)", "from": None, "to": "created"}]
    table = crm("history", "ada", "-f", "tsv")
    assert "title\tEngineer\tCTO" in table.stdout
    everything = json.loads(crm("history", "ada", "--all", "-f", "json").stdout)
    assert "updated" in {c["field"] for c in everything[0]["changes"]}


def test_history_of_nested_fields_and_hand_commits(repo, crm):
    assert crm("contact", "add", "Ada Lovelace", "--city", "London").ok
    path = repo / "contacts" / "ada-lovelace.yaml"
    path.write_text(path.read_text().replace("London", "Paris"))
    git(repo, "commit", "-qam", "moved to Paris")
    entries = json.loads(crm("history", "contact:ada", "-f", "json").stdout)
    assert entries[0]["subject"] == "moved to Paris"
    assert entries[0]["changes"] == [{"field": "address.city", "from": "London", "to": "Paris"}]


def test_history_of_a_removed_record_by_its_file(repo, crm):
    assert crm("contact", "add", "Ada Lovelace").ok
    assert crm("contact", "rm", "ada", "--yes").ok or crm("contact", "rm", "ada", "--force").ok
    result = crm("history", "contacts/ada-lovelace.yaml", "-f", "json")
    assert result.ok, result.stderr
    entries = json.loads(result.stdout)
    assert entries[0]["changes"] == [{"field": "(file)", "from": "present", "to": "removed"}]
    assert crm("history", "contact:ada-lovelace", "-f", "json").ok


def test_history_errors_are_one_line(repo, crm):
    missing = crm("history", "nobody")
    assert missing.exit_code == 20
    no_traceback(missing)
    escape = crm("history", "../etc/passwd.yaml")
    assert escape.exit_code == 20
    no_traceback(escape)


def test_history_outside_git_says_so(folder, crm):
    assert crm("contact", "add", "Ada Lovelace").ok
    result = crm("history", "ada")
    assert result.exit_code == 27
    assert "not in a git repository" in result.stderr
    no_traceback(result)


# -- undo ---------------------------------------------------------------------------------------


def test_undo_takes_back_the_last_crm_commit_then_the_one_before(repo, crm):
    assert crm("contact", "add", "Ada Lovelace", "--title", "Engineer").ok
    assert crm("contact", "set", "ada", "title=CTO").ok
    dry = crm("undo", "--dry-run")
    assert dry.ok and "set contact ada-lovelace (title)" in dry.stdout
    assert commits(repo)[0] == "crm: set contact ada-lovelace (title)"
    result = crm("undo")
    assert result.ok, result.stderr
    assert "Undid" in result.stderr
    assert commits(repo)[0] == "crm: undo set contact ada-lovelace (title)"
    assert "title: Engineer" in (repo / "contacts" / "ada-lovelace.yaml").read_text()
    assert crm("undo").ok
    assert not (repo / "contacts" / "ada-lovelace.yaml").exists()
    assert commits(repo)[0] == "crm: undo add contact ada-lovelace"
    nothing = crm("undo")
    assert nothing.exit_code == 27 and "no change of yours made by crm" in nothing.stderr


def test_undo_refuses_with_a_dirty_work_tree(repo, crm):
    assert crm("contact", "add", "Ada Lovelace").ok
    config = repo / "crm.yaml"
    config.write_text(config.read_text() + "# edited\n")
    result = crm("undo")
    assert result.exit_code == 27
    assert "uncommitted changes in crm.yaml" in result.stderr
    assert (repo / "contacts" / "ada-lovelace.yaml").exists()
    no_traceback(result)


def test_undo_refuses_when_a_later_commit_depends_on_it(repo, crm):
    assert crm("contact", "add", "Ada Lovelace").ok
    path = repo / "contacts" / "ada-lovelace.yaml"
    path.write_text(path.read_text() + "# checked by hand\n")
    git(repo, "commit", "-qam", "a note of mine")
    result = crm("undo")
    assert result.exit_code == 27
    assert "a note of mine" in result.stderr and "contacts/ada-lovelace.yaml" in result.stderr
    assert path.exists()


def test_undo_steps_over_unrelated_hand_commits(repo, crm):
    assert crm("contact", "add", "Ada Lovelace").ok
    (repo / "README.txt").write_text("hello\n")
    git(repo, "add", "README.txt")
    git(repo, "commit", "-qm", "readme")
    assert crm("undo").ok
    assert not (repo / "contacts" / "ada-lovelace.yaml").exists()
    assert (repo / "README.txt").exists()


def test_undo_of_a_change_to_several_files(repo, crm):
    assert crm("lead", "add", "Grace Hopper", "--email", "g@navy.example").ok
    assert crm("lead", "convert", "grace", "--deal", "Intranet").ok
    assert crm("undo").ok
    assert sorted(p.name for p in (repo / "deals").glob("*.yaml")) == []
    assert sorted(p.name for p in (repo / "contacts").glob("*.yaml")) == []
    lead = (repo / "leads" / "grace-hopper.yaml").read_text()
    assert "converted" not in lead
    assert crm("check").ok


# -- sync ---------------------------------------------------------------------------------------


@pytest.fixture
def shared(tmp_path: Path, repo: Path) -> tuple[Path, Path]:
    """Two clones of one bare remote: this folder (`repo`, pushed first) and a partner's."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "-u", "origin", "HEAD")
    partner = tmp_path / "partner"
    git(tmp_path, "clone", "-q", str(remote), str(partner))
    assert run_process("hooks", "install", cwd=partner).returncode == 0
    git(partner, "add", ".gitattributes")
    git(partner, "diff", "--cached", "--quiet", check=False)
    return repo, partner


def test_sync_pushes_and_pulls(shared, crm):
    _mine, partner = shared
    assert crm("contact", "add", "Ada Lovelace").ok
    pushed = crm("sync")
    assert pushed.ok, pushed.stderr
    assert "Pushed 1 commit" in pushed.stderr
    pulled = run_process("sync", cwd=partner)
    assert pulled.returncode == 0, pulled.stderr
    assert "Pulled 1 commit" in pulled.stderr
    assert (partner / "contacts" / "ada-lovelace.yaml").exists()
    again = crm("sync")
    assert again.ok and "Up to date" in again.stderr


def test_sync_rebases_my_work_on_the_partners(shared, crm):
    mine, partner = shared
    assert run_process("contact", "add", "Grace Hopper", cwd=partner).returncode == 0
    assert run_process("sync", cwd=partner).returncode == 0
    assert crm("contact", "add", "Ada Lovelace").ok
    result = crm("sync")
    assert result.ok, result.stderr
    assert "Pulled 1 commit" in result.stderr and "Pushed 1 commit" in result.stderr
    assert (mine / "contacts" / "grace-hopper.yaml").exists()
    assert git(mine, "log", "--format=%s", "--merges") == ""  # a straight line, no merge commits


def test_sync_does_not_push_what_check_rejects(shared, crm):
    mine, _partner = shared
    broken = mine / "contacts" / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    git(mine, "add", "contacts/broken.yaml")
    git(mine, "commit", "-qm", "broken by hand", "--no-verify")
    result = crm("sync")
    assert result.exit_code == 27
    assert "not pushed" in result.stderr
    assert "contacts/broken.yaml" in result.stdout
    assert git(mine, "rev-list", "--count", "@{u}..HEAD").strip() == "1"


def test_sync_refuses_uncommitted_changes_and_a_folder_without_remote(repo, crm):
    alone = crm("sync")
    assert alone.exit_code == 27 and "no remote" in alone.stderr
    (repo / "crm.yaml").write_text((repo / "crm.yaml").read_text() + "# x\n")
    dirty = crm("sync")
    assert dirty.exit_code == 27 and "uncommitted changes in crm.yaml" in dirty.stderr
    no_traceback(dirty)


def test_sync_sets_the_upstream_on_the_first_push(tmp_path, repo, crm):
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    result = crm("sync")
    assert result.ok, result.stderr
    assert git(repo, "rev-parse", "--abbrev-ref", "@{u}").strip().startswith("origin/")


def test_sync_stops_at_a_conflict_with_what_to_do(shared, crm):
    _mine, partner = shared
    assert crm("contact", "add", "Ada Lovelace", "--title", "Engineer").ok
    assert crm("sync").ok
    assert run_process("sync", cwd=partner).returncode == 0
    assert run_process("contact", "set", "ada", "title=CTO", cwd=partner).returncode == 0
    assert run_process("sync", cwd=partner).returncode == 0
    assert crm("contact", "set", "ada", "title=Chief Engineer").ok
    result = crm("sync")
    assert result.exit_code == 27
    assert "conflict in contacts/ada-lovelace.yaml" in result.stderr
    assert "git rebase --continue" in result.stderr
    no_traceback(result)
    again = crm("sync")
    assert again.exit_code == 27 and "rebase is in progress" in again.stderr


# -- hooks install ------------------------------------------------------------------------------


def test_hooks_install_writes_the_hook_and_the_merge_attributes(isolated, crm):
    git(isolated, "init", "-q")
    assert crm("init", "--no-git").ok  # a folder put under git by hand
    result = crm("hooks", "install")
    assert result.ok, result.stderr
    hook = isolated / ".git" / "hooks" / "pre-commit"
    text = hook.read_text()
    assert "check --staged" in text and hook.stat().st_mode & 0o111
    assert "/contacts/*.yaml merge=crm" in (isolated / ".gitattributes").read_text()
    assert "merge-file %O %A %B %P" in git(isolated, "config", "merge.crm.driver")
    again = crm("hooks", "install")
    assert again.ok and "Already installed" in again.stderr


def test_hooks_install_keeps_a_hook_of_your_own_unless_forced(repo, crm):
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\nmake lint\n")
    refused = crm("hooks", "install")
    assert refused.exit_code == 27 and "hook of your own" in refused.stderr
    assert hook.read_text() == "#!/bin/sh\nmake lint\n"
    assert crm("hooks", "install", "--force").ok
    assert (repo / ".git" / "hooks" / "pre-commit.orig").read_text() == "#!/bin/sh\nmake lint\n"
    assert "check --staged" in hook.read_text()


def test_the_pre_commit_hook_stands_aside_for_crms_own_commits(repo, crm):
    assert crm("hooks", "install").ok
    hook = repo / ".git" / "hooks" / "pre-commit"
    # a hook that would refuse everything, behind the line that lets crm's commits through
    hook.write_text(hook.read_text().replace("top=$(", "echo refused >&2; exit 1\ntop=$("))
    assert crm("contact", "add", "Ada Lovelace").ok
    assert commits(repo)[0] == "crm: add contact ada-lovelace"
    (repo / "notes.txt").write_text("x\n")
    git(repo, "add", "notes.txt")
    assert (
        "refused"
        in subprocess.run(
            ["git", "commit", "-qm", "mine"], cwd=repo, capture_output=True, text=True
        ).stderr
    )


def test_undo_never_takes_back_an_issued_invoice_but_may_take_back_a_payment(
    repo, crm, monkeypatch
):
    config = repo / "crm.yaml"
    config.write_text(config.read_text().replace("  numbering:", "  pdf: false\n  numbering:"))
    git(repo, "commit", "-qam", "html documents")
    monkeypatch.setenv("CRM_NOW", "2026-11-23T10:00:00")
    assert crm("company", "add", "Acme GmbH").ok
    rid = crm("invoice", "new", "Website", "--for", "acme").stdout.strip()
    assert crm("invoice", "line", "add", rid, "--text", "Design", "--price", "100").ok
    assert crm("invoice", "issue", rid).ok
    refused = crm("undo")
    assert refused.exit_code == 23
    assert "is issued" in refused.stderr and "credit note" in refused.stderr
    no_traceback(refused)
    assert crm("invoice", "pay", rid, "--amount", "50").ok
    taken_back = crm("undo")
    assert taken_back.ok, taken_back.stderr
    assert "payments" not in (repo / "invoices" / f"{rid}.yaml").read_text()
    assert crm("undo").exit_code == 23  # next in line: the issue itself


def test_edits_made_outside_crm_are_committed_apart_and_undo_keeps_them(repo, crm):
    assert crm("contact", "add", "Ada Lovelace").ok
    path = repo / "contacts" / "ada-lovelace.yaml"
    path.write_text(path.read_text() + "notes: Met her at the fair\n")  # not committed
    assert crm("contact", "set", "ada", "title=CTO").ok
    subjects = commits(repo)
    assert subjects[0] == "crm: set contact ada-lovelace (title)"
    assert subjects[1] == "Edits of contacts/ada-lovelace.yaml made outside crm"
    assert "+notes" not in git(repo, "show", "-U0", "HEAD", "--format=")  # crm's change only
    assert crm("undo").ok
    text = path.read_text()
    assert "Met her at the fair" in text and "CTO" not in text


def test_a_file_crm_could_not_commit_before_is_committed_on_its_own(repo, crm):
    hook = repo / ".git" / "hooks" / "commit-msg"
    hook.write_text("#!/bin/sh\nexit 1\n")
    hook.chmod(0o755)
    assert crm("contact", "add", "Bob Builder").ok  # written, not committed
    hook.unlink()
    assert crm("contact", "set", "bob", "title=Boss").ok
    assert commits(repo)[:2] == [
        "crm: set contact bob-builder (title)",
        "Edits of contacts/bob-builder.yaml made outside crm",
    ]
    assert crm("undo").ok
    assert (repo / "contacts" / "bob-builder.yaml").exists()  # only the title is taken back


def test_on_a_detached_head_crm_writes_but_does_not_commit(repo, crm):
    git(repo, "checkout", "-q", "--detach")
    result = crm("contact", "add", "Ada Lovelace")
    assert result.ok and "HEAD is detached" in result.stderr
    assert commits(repo) == ["crm: init"]


def test_undo_skips_a_partners_changes_and_survives_a_rebase(shared, crm, monkeypatch):
    mine, partner = shared
    assert crm("contact", "add", "Eve Example").ok
    assert crm("contact", "set", "eve", "title=Boss").ok
    assert crm("undo").ok  # the title, taken back
    partner_env = {"GIT_AUTHOR_EMAIL": "bob@example.com", "GIT_COMMITTER_EMAIL": "bob@example.com"}
    assert (
        run_process("contact", "add", "Grace Hopper", cwd=partner, env=partner_env).returncode == 0
    )
    assert run_process("sync", cwd=partner, env=partner_env).returncode == 0
    assert crm("sync").ok  # my three commits rebased onto Bob's: new commit ids
    dry = crm("undo", "--dry-run")
    assert dry.ok and "add contact eve-example" in dry.stdout  # not Bob's, not the undone title
    assert crm("undo").ok
    assert not (mine / "contacts" / "eve-example.yaml").exists()
    assert (mine / "contacts" / "grace-hopper.yaml").exists()


def test_a_change_of_thousands_of_files_is_one_commit(repo):
    from crm.store import git as store_git
    from crm.store.repo import Change

    changes = []
    for i in range(3000):
        name = f"contacts/person-{i:05d}-with-a-rather-long-name-to-fill-the-line.yaml"
        (repo / name).write_text(f"name: Person {i}\n")
        changes.append(Change(name, None, f"name: Person {i}\n"))
    sha = store_git.autocommit(repo, changes, "import 3000 contacts")
    assert sha is not None
    assert commits(repo)[0] == "crm: import 3000 contacts"
    assert len(files_of(repo)) == 3000


def test_history_compares_each_commit_with_its_own_parent_across_a_merge(repo, crm):
    assert crm("contact", "add", "Ada Lovelace", "--title", "Prof").ok
    git(repo, "checkout", "-q", "-b", "side")
    assert crm("contact", "set", "ada", "title=Dr").ok
    git(repo, "checkout", "-q", "-")
    assert crm("contact", "set", "ada", "tags+=vip").ok
    assert crm("hooks", "install").ok
    git(repo, "merge", "-q", "--no-edit", "side")
    assert "title: Dr" in (repo / "contacts" / "ada-lovelace.yaml").read_text()
    entries = json.loads(crm("history", "ada", "-f", "json").stdout)
    by_subject = {e["subject"]: [c["field"] for c in e["changes"]] for e in entries}
    assert by_subject["crm: set contact ada-lovelace (title)"] == ["title"]
    assert by_subject["crm: set contact ada-lovelace (tags)"] == ["tags"]


def test_hooks_install_refuses_a_hooks_path_shared_with_other_repositories(repo, crm, tmp_path):
    shared_hooks = tmp_path / "all-my-hooks"
    git(repo, "config", "core.hooksPath", str(shared_hooks))
    result = crm("hooks", "install")
    assert result.exit_code == 27 and "core.hooksPath" in result.stderr
    assert not (shared_hooks / "pre-commit").exists()
    assert "merge-file" in git(repo, "config", "merge.crm.driver")  # registered all the same


def test_a_replaced_hook_of_your_own_still_runs_first(repo, crm):
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho 'my lint says no' >&2\nexit 1\n")
    hook.chmod(0o755)
    assert crm("hooks", "install", "--force").ok
    (repo / "notes.txt").write_text("x\n")
    git(repo, "add", "notes.txt")
    refused = subprocess.run(
        ["git", "commit", "-qm", "mine"], cwd=repo, capture_output=True, text=True
    )
    assert refused.returncode != 0 and "my lint says no" in refused.stderr
    hook.write_text(hook.read_text())  # a second --force would lose the first hook: refused
    (repo / ".git" / "hooks" / "pre-commit").write_text("#!/bin/sh\nexit 0\n")
    again = crm("hooks", "install", "--force")
    assert again.exit_code == 27 and "pre-commit.orig exists already" in again.stderr


def test_without_its_python_the_merge_driver_falls_back_to_gits_text_merge(repo, crm):
    import sys

    from crm.store.git import driver_command

    broken = driver_command().replace(sys.executable, "/nonexistent/python")
    git(repo, "config", "merge.crm.driver", broken)
    assert crm("contact", "add", "Ada Lovelace", "--title", "Engineer").ok
    git(repo, "checkout", "-q", "-b", "side")
    assert crm("contact", "set", "ada", "title=CTO").ok
    git(repo, "checkout", "-q", "-")
    assert crm("contact", "set", "ada", "title=Chief").ok
    merged = subprocess.run(["git", "merge", "side"], cwd=repo, capture_output=True, text=True)
    assert merged.returncode != 0
    text = (repo / "contacts" / "ada-lovelace.yaml").read_text()
    assert "<<<<<<<" in text and "title: CTO" in text and "title: Chief" in text  # nothing lost


def test_sync_links_a_branch_to_the_remotes_and_repairs_the_driver(tmp_path, shared, crm):
    _mine, partner = shared
    assert crm("contact", "add", "Ada Lovelace").ok
    assert crm("sync").ok
    git(partner, "branch", "--unset-upstream")
    assert run_process("contact", "add", "Grace Hopper", cwd=partner).returncode == 0
    git(partner, "config", "merge.crm.driver", "/gone/python -P -m crm merge-file %O %A %B %P")
    result = run_process("sync", cwd=partner)
    assert result.returncode == 0, result.stderr
    assert "Pulled 1 commit" in result.stderr and "Pushed 1 commit" in result.stderr
    assert git(partner, "rev-parse", "--abbrev-ref", "@{u}").strip().startswith("origin/")
    assert (partner / "contacts" / "ada-lovelace.yaml").exists()
    assert "/gone/python" not in git(partner, "config", "merge.crm.driver")


def test_sync_on_a_detached_head_says_what_to_do(shared, crm):
    mine, _ = shared
    git(mine, "checkout", "-q", "--detach")
    result = crm("sync")
    assert result.exit_code == 27 and "HEAD is detached" in result.stderr
