"""Writers killed with SIGKILL at random moments, many times: nothing half-written, nothing lost
that was reported done, and `crm check` clean afterwards."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import BILLING

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")


def _start(folder: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-P", "-m", "crm", "--dir", str(folder), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "CRM_NOW": "2026-11-23T10:00:00"},
    )


def _csv(folder: Path, n: int) -> Path:
    path = folder.parent / f"import-{n}.csv"
    rows = "".join(f"Person {n}-{i},p{n}-{i}@example.com\n" for i in range(20))
    path.write_text("Name,E-mail Address\n" + rows)
    return path


def test_writers_killed_at_random_leave_a_sound_folder(crm, folder, monkeypatch):
    config = folder / "crm.yaml"
    text = config.read_text()
    config.write_text(text[: text.index("# Quotes and invoices")] + BILLING)
    monkeypatch.setenv("CRM_NOW", "2026-11-23T10:00:00")
    assert crm("company", "add", "Acme GmbH", "--street", "Hauptstr. 1").ok
    assert crm("company", "set", "acme-gmbh", "vat_id=DE123456788", "address.city=Berlin").ok
    assert crm("contact", "add", "Ada Lovelace", "--email", "ada@acme.example").ok
    assert crm("deal", "add", "Big deal", "--value", "1000").ok
    drafts = []
    for i in range(6):
        rid = crm("invoice", "new", f"Work {i}", "--for", "acme").stdout.strip()
        assert crm("invoice", "line", "add", rid, "--text", "Design", "--price", "100").ok
        drafts.append(rid)

    rng = random.Random(20261207)
    stages = ["qualified", "proposal", "negotiation"]
    done_titles: dict[str, str] = {}
    done_adds: list[str] = []
    done_stage: list[str] = []
    issued_ok: list[str] = []
    imported: list[int] = []
    for n in range(36):
        kind = rng.choice(["add", "set", "move", "issue", "import"])
        if kind == "add":
            args = ["contact", "add", f"Person {n}", "--email", f"person{n}@example.com"]
        elif kind == "set":
            args = ["contact", "set", "ada", f"title=Title {n}"]
        elif kind == "move":
            stage = rng.choice(stages)
            args = ["deal", "move", "big-deal", stage]
        elif kind == "issue":
            args = ["invoice", "issue", drafts[n % len(drafts)]]
        else:
            args = ["import", "csv", str(_csv(folder, n)), "--type", "contacts"]
        proc = _start(folder, *args)
        time.sleep(rng.uniform(0.05, 0.6))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate()
        assert "Traceback" not in err
        if proc.returncode == 0:
            if kind == "add":
                done_adds.append(out.strip())
            elif kind == "set":
                done_titles["ada"] = f"Title {n}"
            elif kind == "move":
                done_stage.append(args[-1])
            elif kind == "issue":
                issued_ok.append(args[-1])
            else:
                imported.append(n)

    # the next writer repairs whatever a killed one left half-done
    assert crm("company", "set", "acme-gmbh", "tags+=checked").ok
    check = crm("check")
    assert check.ok, check.stdout + check.stderr

    for sub in folder.iterdir():
        if sub.is_dir() and not sub.name.startswith("."):
            for path in sub.iterdir():
                assert not path.name.startswith(".crm-tmp") or path.name.startswith(".")
                if path.suffix == ".yaml" and not path.name.startswith("."):
                    assert isinstance(yaml.safe_load(path.read_text()), dict), path
    assert not (folder / ".crm" / "journal.json").exists()

    for rid in done_adds:
        assert (folder / "contacts" / f"{rid}.yaml").exists(), rid
    if "ada" in done_titles:
        # a later set may have finished unreported (killed after its write): the last one
        # reported is at least there, or a later one
        title = yaml.safe_load((folder / "contacts" / "ada-lovelace.yaml").read_text())["title"]
        assert int(title.split()[-1]) >= int(done_titles["ada"].split()[-1])
    for rid in issued_ok:
        data = yaml.safe_load((folder / "invoices" / f"{rid}.yaml").read_text())
        assert data["status"] == "issued" and data["number"], rid
    for n in imported:
        for i in range(20):
            assert any(
                f"p{n}-{i}@example.com" in p.read_text()
                for p in (folder / "contacts").glob("*.yaml")
            )
    numbers = sorted(
        yaml.safe_load(p.read_text()).get("number")
        for p in (folder / "invoices").glob("*.yaml")
        if yaml.safe_load(p.read_text()).get("number")
    )
    assert len(numbers) == len(set(numbers))  # gapless and distinct is what check verified
