"""Time every crm command as a whole process on generated folders; write docs/benchmarks.md.

    python bench/run.py [--sizes 1000,10000,100000] [--runs 5] [--out docs/benchmarks.md]
                        [--work DIR] [--keep] [--seed 1] [--csv-rows 10000] [--import-runs 2]

For each size a folder is generated once (bench/generate.py) and cached under --work, keyed by
size, seed, date and the generator's own source, then copied to a working folder that the
commands run in, so that writes never touch the cached one. Each command is run once "cold"
(after deleting `.crm/cache`, the index cache, when there is one) and then --runs times "warm";
the table gives the cold time, the median, min and max of the warm runs and the peak memory of
the process. The figures of the previous run are read back from the raw data at the end of the
output file, so each median is compared with the last one. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

# The generator sits beside this script, which is run as a file, not imported from a package.
sys.path.insert(0, str(Path(__file__).resolve().parent))
import generate

ROOT = Path(__file__).resolve().parent.parent
RAW_BEGIN = "<!-- bench-results"
RAW_END = "-->"
# Text written by hand between these lines is kept from one run to the next.
NOTES_BEGIN = "<!-- notes: kept by bench/run.py -->"
NOTES_END = "<!-- end of notes -->"
PACKAGES = ("typer", "click", "rich", "PyYAML", "ruamel.yaml", "weasyprint", "Jinja2", "vobject")


@dataclass
class Folder:
    """A working copy of a generated folder and what the generator said about it."""

    size: int
    path: Path
    pristine: Path
    manifest: dict[str, object]
    csv: Path

    def counts(self) -> dict[str, int]:
        counts = self.manifest["counts"]
        assert isinstance(counts, dict)
        return {str(k): int(v) for k, v in counts.items()}

    def first(self, key: str) -> str:
        value = self.manifest[key]
        assert isinstance(value, list) and value, f"the generated folder has no {key}"
        return str(value[0])


@dataclass
class Command:
    """One benchmarked command: `args(folder, run)` gives its arguments for run number `run`
    (0 is the cold run); `after` restores the folder when a run must not pile up on the last."""

    name: str
    args: Callable[[Folder, int], list[str]]
    cold: bool = True  # whether a run without the index cache means anything
    heavy: bool = False  # runs --import-runs times, not --runs: each run takes many seconds
    after: Callable[[Folder, dict[str, tuple[int, int]]], None] | None = None


@dataclass
class Result:
    command: str
    size: int
    cold_ms: float | None
    runs_ms: list[float]
    peak_mb: float
    failure: str | None = None
    previous_ms: float | None = field(default=None)

    @property
    def median(self) -> float:
        return statistics.median(self.runs_ms)


# --- the commands ----------------------------------------------------------------------------


def _next_stage(folder: Folder) -> str:
    """An open stage the benchmarked deal is not in, so that every move writes; runs in a row
    move it back and forth between two stages."""
    text = (folder.path / "deals" / f"{folder.first('open_deals')}.yaml").read_text("utf-8")
    current = re.search(r"^stage: (\S+)", text, re.M)
    return next(s for s in ("proposal", "negotiation") if not current or s != current[1])


def _draft(folder: Folder, run: int) -> str:
    drafts = folder.manifest["drafts"]
    assert isinstance(drafts, list) and run < len(drafts), "not enough draft invoices"
    return str(drafts[run])


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Size and mtime of every file but crm's working state and git's."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in (".crm", ".git")]
        for name in filenames:
            path = os.path.join(dirpath, name)
            st = os.stat(path)
            out[os.path.relpath(path, root)] = (st.st_size, st.st_mtime_ns)
    return out


def _restore(folder: Folder, before: dict[str, tuple[int, int]]) -> None:
    """Undo a run: remove the files it made, copy back from the cached folder those it changed."""
    after = _snapshot(folder.path)
    for rel, stat in after.items():
        if rel not in before:
            (folder.path / rel).unlink()
        elif stat != before[rel]:
            shutil.copy2(folder.pristine / rel, folder.path / rel)
    for rel in before.keys() - after.keys():
        shutil.copy2(folder.pristine / rel, folder.path / rel)


COMMANDS = (
    Command("crm --version", lambda f, r: ["--version"], cold=False),
    Command("crm --help", lambda f, r: ["--help"], cold=False),
    Command("contact list", lambda f, r: ["contact", "list", "-f", "tsv"]),
    Command(
        "contact show", lambda f, r: ["contact", "show", str(f.manifest["contact"]), "-f", "json"]
    ),
    Command("pipeline", lambda f, r: ["pipeline", "-f", "tsv"]),
    Command("forecast", lambda f, r: ["forecast", "-f", "tsv"]),
    Command("report receivables", lambda f, r: ["report", "receivables", "-f", "tsv"]),
    Command("search", lambda f, r: ["search", str(f.manifest["search"]), "-f", "tsv"]),
    Command("agenda", lambda f, r: ["agenda", "-f", "tsv"]),
    Command("check", lambda f, r: ["check"]),
    Command("export vcard", lambda f, r: ["export", "vcard"]),
    Command(
        "contact add",
        lambda f, r: ["contact", "add", f"Bench Person {r + 1}", "--email", f"b{r + 1}@x.example"],
    ),
    Command(
        "deal move",
        lambda f, r: ["deal", "move", f.first("open_deals"), _next_stage(f)],
    ),
    Command("invoice issue", lambda f, r: ["invoice", "issue", _draft(f, r)]),
    Command(
        "import csv",
        lambda f, r: ["import", "csv", str(f.csv), "--type", "contacts"],
        heavy=True,
        after=_restore,
    ),
)


# --- running ---------------------------------------------------------------------------------


def crm_command() -> list[str]:
    """The `crm` entry point installed beside this Python, as a user runs it."""
    script = Path(sys.executable).parent / "crm"
    return [str(script)] if script.exists() else [sys.executable, "-m", "crm"]


def child_env() -> dict[str, str]:
    """The environment of a plain non-interactive run: no CRM_* settings, no colours."""
    # No CRM_* settings; and Python writes bytecode, as it does for an installed package.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CRM_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(NO_COLOR="1", COLUMNS="100", TZ="UTC")
    return env


def time_process(argv: Sequence[str], env: dict[str, str]) -> tuple[float, float, int, str]:
    """Run `argv` with stdout discarded: (wall ms, peak RSS in MB, exit status, stderr)."""
    with tempfile.TemporaryFile() as err:
        began = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, env=env)
        # wait4 gives this child's own peak RSS; RUSAGE_CHILDREN would give the maximum so far.
        _pid, status, usage = os.wait4(proc.pid, 0)
        took = (time.perf_counter() - began) * 1000
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    kib = usage.ru_maxrss / (1024 if sys.platform == "darwin" else 1)  # bytes on macOS
    return took, kib / 1024, proc.returncode, stderr


def bench_command(cmd: Command, folder: Folder, runs: int, env: dict[str, str]) -> Result:
    """Time one command on one folder: a cold run (when meaningful), then the warm runs."""
    base = [*crm_command(), "--dir", str(folder.path)]
    cold_ms, times, peak, failure = None, [], 0.0, None
    for run in range(runs + 1):
        if run == 0 and not cmd.cold:
            continue
        if run == 0:
            shutil.rmtree(folder.path / ".crm" / "cache", ignore_errors=True)
        before = _snapshot(folder.path) if cmd.after else {}
        took, mb, status, stderr = time_process([*base, *cmd.args(folder, run)], env)
        if cmd.after:
            cmd.after(folder, before)
        peak = max(peak, mb)
        if status != 0 and failure is None:
            last = stderr.strip().splitlines()[-1:] or ["(no message)"]
            failure = f"exit {status}: {last[0]}"
        if run == 0:
            cold_ms = took
        else:
            times.append(took)
    return Result(cmd.name, folder.size, cold_ms, times, round(peak, 1), failure)


def prepare(size: int, args: argparse.Namespace, today: dt.date) -> Folder:
    """The cached generated folder of `size` records (made when missing) and a working copy."""
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    source = hashlib.sha256(Path(generate.__file__).read_bytes()).hexdigest()[:10]
    drafts = max(20, args.runs + 2)
    key = f"{size}-seed{args.seed}-drafts{drafts}-{today.isoformat()}-{source}"
    pristine, manifest_path = work / f"data-{key}", work / f"data-{key}.json"
    if not (pristine.is_dir() and manifest_path.is_file()):
        log(f"[{size}] generating {pristine}")
        partial = work / f".partial-{key}"
        shutil.rmtree(partial, ignore_errors=True)
        manifest = generate.generate(partial, size, seed=args.seed, today=today, drafts=drafts)
        partial.rename(pristine)  # a generation cut short is never taken for a finished one
        manifest_path.write_text(manifest.to_json(), encoding="utf-8")
    csv_path = work / f"contacts-{args.csv_rows}-seed{args.seed}-{source}.csv"
    if not csv_path.exists():
        generate.write_csv(csv_path, args.csv_rows, seed=args.seed)
    target = work / f"run-{size}"
    shutil.rmtree(target, ignore_errors=True)
    log(f"[{size}] copying to {target}")
    shutil.copytree(pristine, target, symlinks=True)
    # crm parses again files changed in the last two seconds (their times could hide an edit):
    # a user's folder is not that fresh, so neither is the one measured.
    time.sleep(2.1)
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    return Folder(size, target, pristine, manifest, csv_path)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the report ------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    """The machine and software the figures were taken on."""
    info = {
        "cpu": _cpu_model(),
        "cores": str(os.cpu_count() or "?"),
        "ram": _ram(),
        "os": platform.platform(),
        "python": platform.python_version(),
    }
    versions = []
    for name in ("crm", *PACKAGES):
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    try:
        import yaml

        versions.append(f"libyaml {'yes' if yaml.__with_libyaml__ else 'no'}")
    except ImportError:
        pass
    info["packages"] = ", ".join(versions)
    info["commit"] = _commit()
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024**2:.1f} GiB"
    except OSError:
        pass
    return "?"


def _commit() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD")
    if commit and git("status", "--porcelain", "--", "crm"):
        commit += " (with uncommitted changes to crm/)"
    return commit or "?"


def previous_medians(path: Path) -> tuple[dict[tuple[str, int], float], str]:
    """The medians of the last run written to `path`, by (command, size), and its date."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return {}, ""
    start = text.rfind(RAW_BEGIN)
    end = text.find(RAW_END, start)
    if start < 0 or end < 0:
        return {}, ""
    try:
        raw = json.loads(text[start + len(RAW_BEGIN) : end])
        medians = {
            (r["command"], int(r["size"])): float(r["median_ms"])
            for r in raw["results"]
            if r.get("median_ms") is not None
        }
    except (ValueError, KeyError, TypeError):
        return {}, ""
    return medians, str(raw.get("date", ""))


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def _change(now: float, before: float | None) -> str:
    if not before:
        return "–"
    pct = (now - before) / before * 100
    return f"{pct:+.0f} %".replace("-", "−")


def kept_notes(path: Path) -> str:
    """The hand-written notes of the file `path` (between NOTES_BEGIN and NOTES_END)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return ""
    start, end = text.find(NOTES_BEGIN), text.find(NOTES_END)
    if start < 0 or end < start:
        return ""
    return text[start + len(NOTES_BEGIN) : end].strip("\n")


def render(
    results: Sequence[Result],
    info: dict[str, str],
    counts: dict[int, dict[str, int]],
    args: argparse.Namespace,
    date: str,
    previous_date: str,
    notes: str = "",
) -> str:
    """docs/benchmarks.md: machine, results, data, and the raw figures for the next run."""
    order = {c.name: i for i, c in enumerate(COMMANDS)}
    rows = sorted(results, key=lambda r: (order[r.command], r.size))
    intro = (
        f"Measured on {date} by `make bench` (`python bench/run.py`), which rewrites this file. "
        "Every command runs as a whole process (the installed `crm` entry point, output "
        "discarded) on a folder made by `bench/generate.py` (see Data below). *cold* is one run "
        "after deleting `.crm/cache`, the index cache, when there is one; median, min and max are "
        f"over {args.runs} warm runs ({args.import_runs} for `import csv`, which imports "
        f"{args.csv_rows:,} contact rows into a restored folder each time). Times are in ms; "
        "peak MB is the largest resident set of the process over its runs. *previous* is the "
        "median of the same command and size in the run before"
        + (f" ({previous_date})." if previous_date else " (there was none).")
    )
    out = [
        "# Benchmarks",
        "",
        *textwrap.wrap(intro, 100, break_on_hyphens=False),
        "",
        "## Machine",
        "",
        f"- CPU: {info['cpu']}, {info['cores']} cores",
        f"- RAM: {info['ram']}",
        f"- OS: {info['os']}",
        f"- Python: {info['python']}",
        f"- Packages: {info['packages']}",
        f"- crm at commit {info['commit']}",
        "",
        "## Results",
        "",
        "| command | records | cold | median | min | max | peak MB | previous | change |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if r.failure:
            cells = [f"`{r.command}`", f"{r.size:,}", "failed", "failed", "–", "–", "–", "–", "–"]
        else:
            cells = [
                f"`{r.command}`",
                f"{r.size:,}",
                _ms(r.cold_ms),
                _ms(r.median),
                _ms(min(r.runs_ms)),
                _ms(max(r.runs_ms)),
                f"{r.peak_mb:,.0f}",
                _ms(r.previous_ms),
                _change(r.median, r.previous_ms),
            ]
        out.append("| " + " | ".join(cells) + " |")
    failed = [r for r in rows if r.failure]
    if failed:
        out += ["", "## Failures", ""]
        out += [f"- {r.command} at {r.size:,} records: {r.failure}" for r in failed]
    out += ["", NOTES_BEGIN, notes, NOTES_END] if notes else []
    kinds = list(next(iter(counts.values()), {}))
    out += [
        "",
        "## Data",
        "",
        f"Generated with seed {args.seed}, taking {date[:10]} as today: records per type.",
        "",
        "| records | " + " | ".join(kinds) + " |",
        "|---:|" + "---:|" * len(kinds),
    ]
    for size, per_type in sorted(counts.items()):
        out.append(f"| {size:,} | " + " | ".join(f"{per_type[k]:,}" for k in kinds) + " |")
    results_json = [
        {
            "command": r.command,
            "size": r.size,
            "median_ms": None if r.failure else round(r.median, 1),
            "cold_ms": None if r.cold_ms is None else round(r.cold_ms, 1),
            "runs_ms": [round(t, 1) for t in r.runs_ms],
            "peak_mb": r.peak_mb,
            "failure": r.failure,
        }
        for r in rows
    ]
    head = {"date": date, "runs": args.runs, "seed": args.seed, "machine": info}
    # One result a line: the raw figures stay readable and diff well.
    raw = json.dumps(head, ensure_ascii=False)[:-1] + ', "results": [\n'
    raw += ",\n".join(json.dumps(r, ensure_ascii=False) for r in results_json) + "\n]}"
    out += ["", "The raw figures, read by the next run:", "", RAW_BEGIN, raw, RAW_END, ""]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="records per folder")
    parser.add_argument("--runs", type=int, default=5, help="warm runs of each command")
    parser.add_argument("--import-runs", type=int, default=2, help="warm runs of import csv")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument(
        "--work",
        type=Path,
        default=Path(tempfile.gettempdir()) / "crm-bench",
        help="where generated folders are cached and copied to",
    )
    parser.add_argument("--keep", action="store_true", help="keep the working copies")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--csv-rows", type=int, default=10_000, help="rows for import csv")
    args = parser.parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    args.runs, args.import_runs = max(1, args.runs), max(1, args.import_runs)

    today = dt.datetime.now(dt.UTC).date()
    previous, previous_date = previous_medians(args.out)
    env = child_env()
    results, counts = [], {}
    for size in sizes:
        folder = prepare(size, args, today)
        counts[size] = folder.counts()
        for cmd in COMMANDS:
            runs = args.import_runs if cmd.heavy else args.runs
            result = bench_command(cmd, folder, runs, env)
            result.previous_ms = previous.get((cmd.name, size))
            results.append(result)
            if result.failure:
                log(f"[{size}] {cmd.name}: FAILED {result.failure}")
            else:
                log(
                    f"[{size}] {cmd.name}: cold {_ms(result.cold_ms)} ms, median "
                    f"{_ms(result.median)} ms, peak {result.peak_mb:.0f} MB"
                )
        if not args.keep:
            shutil.rmtree(folder.path, ignore_errors=True)
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = render(results, machine(), counts, args, date, previous_date, kept_notes(args.out))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    log(f"wrote {args.out}")
    return 1 if any(r.failure for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
