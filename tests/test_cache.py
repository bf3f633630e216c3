"""The cache of parsed records: never the truth, always in step with the files."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
from pathlib import Path

import pytest

from crm.store import cache

READS = [
    ("contact", "list", "-f", "json"),
    ("company", "list", "-f", "json"),
    ("lead", "list", "-f", "json"),
    ("deal", "list", "-f", "json"),
    ("activity", "list", "-f", "json"),
    ("task", "list", "-f", "json"),
    ("invoice", "list", "-f", "json"),
    ("quote", "list", "-f", "json"),
    ("pipeline", "-f", "json"),
    ("forecast", "-f", "json"),
    ("report", "receivables", "-f", "json"),
    ("report", "funnel", "-f", "json"),
    ("search", "design", "-f", "json"),
    ("agenda", "-f", "json"),
    ("contact", "show", "ada-lovelace", "-f", "json"),
    ("check",),
]


@pytest.fixture
def trusting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cache even files written a moment ago (tests write everything a moment ago)."""
    monkeypatch.setattr(cache, "RACY_NS", 0)


def _outputs(crm) -> list[tuple[int, str, str]]:
    return [(r.exit_code, r.stdout, r.stderr) for r in (crm(*args) for args in READS)]


def _same_with_and_without_cache(crm) -> None:
    cached = _outputs(crm)
    again = _outputs(crm)  # now every entry comes from the cache
    plain = [
        (r.exit_code, r.stdout, r.stderr)
        for r in (crm(*args, env={"CRM_NO_CACHE": "1"}) for args in READS)
    ]
    assert cached == plain
    assert again == plain


def _later(path: Path, seconds: int = 5) -> None:
    """Give a file edited by hand a later mtime, as the clock would after a pause."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + seconds * 1_000_000_000))


def _ada(example: Path) -> None:
    (example / "contacts" / "ada-lovelace.yaml").write_text(
        "name: Ada Lovelace\nemails: [ada@design.example]\ncompany: alster-physio\n"
    )


def test_reads_agree_with_the_files_through_every_kind_of_change(example: Path, crm, trusting):
    _ada(example)
    _same_with_and_without_cache(crm)
    assert (example / ".crm" / "cache" / "contacts.pickle").is_file()
    # a hand edit of the same size, in place
    deal = next((example / "deals").glob("*.yaml"))
    text = deal.read_text()
    stage = "lost" if "stage: won" in text else "won"
    edited = text.replace("stage: ", f"stage: {stage}\n#", 1)
    deal.write_text(edited)
    _later(deal)
    _same_with_and_without_cache(crm)
    # deleted, renamed, broken and new files
    victims = sorted((example / "activities").glob("*.yaml"))
    victims[0].unlink()
    victims[1].rename(victims[1].with_name("renamed-by-hand.yaml"))
    (example / "contacts" / "broken.yaml").write_text("name: [unclosed\n")
    (example / "contacts" / "grace-hopper.yaml").write_text("name: Grace Hopper\n")
    _same_with_and_without_cache(crm)
    (example / "contacts" / "broken.yaml").write_text("name: Fixed\n")
    _later(example / "contacts" / "broken.yaml")
    _same_with_and_without_cache(crm)


def test_git_checkout_of_an_older_commit_is_seen(example: Path, crm, trusting):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=example, check=True, capture_output=True)

    _ada(example)
    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "before")
    first = _outputs(crm)
    assert crm("deal", "move", next(iter(_ids(example, "deals"))), "won").ok
    assert crm("contact", "add", "Grace Hopper").ok
    (example / "contacts" / "ada-lovelace.yaml").unlink()
    git("add", "-A")
    git("commit", "-qm", "after")
    _same_with_and_without_cache(crm)
    git("checkout", "-q", "HEAD~1")
    _same_with_and_without_cache(crm)
    assert _outputs(crm) == first


def _ids(folder: Path, plural: str) -> list[str]:
    return sorted(p.stem for p in (folder / plural).glob("*.yaml"))


def test_files_changed_a_moment_ago_are_not_trusted(folder: Path, crm):
    """An edit within the same clock tick, keeping size and mtime, is still seen."""
    path = folder / "contacts" / "ada.yaml"
    path.write_text("name: Ada\n")
    assert "Ada" in crm("contact", "list", "-f", "tsv").stdout
    st = path.stat()
    with path.open("r+") as handle:  # in place: same inode
        handle.write("name: Bob\n")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert "Bob" in crm("contact", "list", "-f", "tsv").stdout


def test_a_bad_or_foreign_cache_is_rebuilt_and_never_run(folder: Path, crm, trusting, tmp_path):
    (folder / "contacts" / "ada.yaml").write_text("name: Ada\n")
    assert crm("contact", "list").ok
    stored = folder / ".crm" / "cache" / "contacts.pickle"
    assert stored.is_file()
    stored.write_bytes(b"\x80\x05garbage")
    assert "Ada" in crm("contact", "list", "-f", "tsv").stdout

    marker = tmp_path / "ran"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    stored.write_bytes(pickle.dumps(Exploit()))
    assert "Ada" in crm("contact", "list", "-f", "tsv").stdout
    assert not marker.exists()
    # a cache of another version is ignored: an entry claiming the file holds someone else
    signature, entries = pickle.loads(stored.read_bytes())
    stamp = next(iter(entries.values()))[0]
    fake = {"ada.yaml": (stamp, ("ok", {"name": "Mallory"}, {}, {}))}
    stored.write_bytes(pickle.dumps(((0, "0.0.0", (3, 0), 0), fake)))
    assert "Ada" in crm("contact", "list", "-f", "tsv").stdout
    # (while one of this version is trusted for a file whose stamp it matches)
    stored.write_bytes(pickle.dumps((signature, fake)))
    assert "Mallory" in crm("contact", "list", "-f", "tsv").stdout


def test_cache_clear_and_a_folder_that_cannot_hold_one(folder: Path, crm, trusting):
    (folder / "contacts" / "ada.yaml").write_text("name: Ada\n")
    assert crm("contact", "list").ok
    result = crm("cache", "clear")
    assert result.ok and result.stdout == ""
    assert not list((folder / ".crm" / "cache").iterdir())
    (folder / ".crm" / "cache").rmdir()
    (folder / ".crm" / "cache").write_text("not a folder")  # the cache cannot be written
    assert "Ada" in crm("contact", "list", "-f", "tsv").stdout
    assert crm("cache", "clear").ok
    result = crm("contact", "list", "-f", "tsv", env={"CRM_NO_CACHE": "1"})
    assert "Ada" in result.stdout


def test_records_from_the_cache_still_know_their_lines(folder: Path, crm, trusting):
    from crm.models import CONTACT
    from crm.store.repo import Store

    (folder / "contacts" / "ada.yaml").write_text("# Ada\nname: Ada\nemails:\n  - nope\n")
    first = Store(folder).scan(CONTACT).records[0]
    again = Store(folder).scan(CONTACT).records[0]  # from the cache: data only
    assert again.data == first.data == {"name": "Ada", "emails": ["nope"]}
    assert dict(again.lines) == dict(first.lines) == {"name": 2, "emails": 3, "emails.0": 4}
    assert str(again.issue("emails.0", "bad")) == "contacts/ada.yaml:4: emails.0: bad"
    result = crm("check")
    assert result.exit_code == 1 and "contacts/ada.yaml:4: emails" in result.stdout
    assert crm("check").stdout == result.stdout  # the findings kept in the cache


@pytest.mark.parametrize(
    "value",
    [
        "!!timestamp {a: 1}",
        "!!timestamp [1]",
        "!!null {a: 1}",
        "0x" + "f" * 5000,
        ":".join(["1"] * 3000),
    ],
)
def test_odd_values_are_findings_of_one_file_never_a_failed_command(folder: Path, crm, value):
    (folder / "contacts" / "ok.yaml").write_text("name: Ok\n")
    (folder / "contacts" / "odd.yaml").write_text(f"name: Odd\ntitle: {value}\n")
    for _ in range(2):  # and the same from the cache
        listed = crm("contact", "list", "-f", "json")
        assert listed.exit_code == 0 and "Ok" in listed.stdout, listed.stderr
        assert "contacts/odd.yaml" in listed.stderr
        checked = crm("check")
        assert checked.exit_code == 1 and "contacts/odd.yaml:" in checked.stdout
        assert "unexpected" not in checked.stderr + listed.stderr
