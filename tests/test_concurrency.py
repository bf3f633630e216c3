"""Several processes writing at once lose nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import yaml

DRIVER = textwrap.dedent(
    """
    import sys
    from typer.testing import CliRunner
    from crm.cli import build_app

    root, prefix, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    app = build_app(None)
    runner = CliRunner()
    for i in range(count):
        for args in (
            ["contact", "set", "ada", f"tags+={prefix}{i}"],
            ["contact", "add", "Same Name"],
        ):
            result = runner.invoke(app, ["--dir", root, *args])
            if result.exit_code != 0:
                print(args, result.exit_code, result.stderr, file=sys.stderr)
                sys.exit(1)
    """
)


def test_concurrent_writers_lose_nothing(crm, folder: Path, tmp_path: Path):
    assert crm("contact", "add", "Ada").ok
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    count = 25
    procs = [
        subprocess.Popen(
            [sys.executable, str(driver), str(folder), prefix, str(count)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for prefix in ("a", "b", "c")
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    tags = yaml.safe_load((folder / "contacts" / "ada.yaml").read_text())["tags"]
    assert sorted(tags) == sorted(f"{p}{i}" for p in "abc" for i in range(count))
    same = sorted(p.name for p in (folder / "contacts").glob("same-name*.yaml"))
    assert len(same) == 3 * count  # every add got its own id; none overwrote another
    assert not list((folder / "contacts").glob(".crm-tmp-*"))
    assert crm("check").ok
