"""All output: data to stdout in the chosen format, messages to stderr.

Tables are drawn here rather than with Rich: they must fit 80 columns without dropping a
column, and stay fast at tens of thousands of rows. No control character from a record ever
reaches the terminal.
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import json
import os
import re
import shutil
import sys
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TextIO


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    JSONL = "jsonl"
    CSV = "csv"
    TSV = "tsv"
    YAML = "yaml"
    IDS = "ids"


def resolve_format(chosen: Format | None) -> Format:
    """The format asked for; else $CRM_FORMAT; else a table on a terminal and TSV elsewhere."""
    if chosen is not None:
        return chosen
    env = os.environ.get("CRM_FORMAT", "").strip().lower()
    if env in Format.__members__.values():
        return Format(env)
    return Format.TABLE if sys.stdout.isatty() else Format.TSV


# -- messages (stderr) ------------------------------------------------------------------------


def _color(stream: TextIO) -> bool:
    """Colour only on a terminal, and never with NO_COLOR or TERM=dumb."""
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def error(message: str) -> None:
    prefix = "\x1b[31mError:\x1b[0m" if _color(sys.stderr) else "Error:"
    print(f"{prefix} {_one_line(message)}", file=sys.stderr)


def warn(message: str) -> None:
    prefix = "\x1b[33mWarning:\x1b[0m" if _color(sys.stderr) else "Warning:"
    print(f"{prefix} {_one_line(message)}", file=sys.stderr)


def info(message: str) -> None:
    print(message, file=sys.stderr)


PROGRESS_FROM = 300  # records: below this, an import or export is over before a bar helps


@contextlib.contextmanager
def progress(total: int, label: str) -> Iterator[Callable[[], None]]:
    """A progress bar on stderr for `total` steps; yields the function that advances it.

    Only on a terminal and only for long runs: scripts, cron and pipes see nothing.
    """
    if total < PROGRESS_FROM or not sys.stderr.isatty():
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import Progress

    console = Console(stderr=True, markup=False, emoji=False, highlight=False)
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda: bar.advance(task)


def _one_line(message: str) -> str:
    return " ".join(message.split("\n"))


# -- the pager ----------------------------------------------------------------------------------

_paging = True


def no_pager() -> None:
    """Never page (`--no-pager`)."""
    global _paging
    _paging = False


def screen(text: str) -> None:
    """Write `text` for people: through a pager when it is longer than the terminal is high.

    The pager is $CRM_PAGER, else $PAGER, else `less` (with LESS=FRX unless set, as git does:
    it quits at once if the text fits); `cat` or an empty value turns paging off.
    """
    out = sys.stdout
    if _paging and out.isatty() and text.count("\n") >= shutil.get_terminal_size().lines:
        command = os.environ.get("CRM_PAGER", os.environ.get("PAGER", "less")).strip()
        if command not in ("", "cat") and _page(command, text):
            return
    out.write(text)


def _page(command: str, text: str) -> bool:
    """Run the pager (a shell command, like git's) on `text`; False if it could not start."""
    import subprocess

    sys.stdout.flush()
    env = {"LESS": "FRX", "LV": "-c", **os.environ}
    try:
        # the user's own $PAGER, run by the shell as git runs it
        proc = subprocess.Popen(command, shell=True, stdin=subprocess.PIPE, env=env)
    except OSError:
        return False
    assert proc.stdin is not None
    with contextlib.suppress(BrokenPipeError):  # the reader quit the pager early
        proc.stdin.write(text.encode(sys.stdout.encoding or "utf-8", "replace"))
    with contextlib.suppress(BrokenPipeError):
        proc.stdin.close()
    while True:
        try:
            code = proc.wait()
            break
        except KeyboardInterrupt:  # Ctrl-C belongs to the pager, which decides to quit
            continue
    return code not in (126, 127)  # the shell found no such pager: print instead


# -- cells --------------------------------------------------------------------------------------


def cell(value: Any) -> str:
    """A value as one line of text for tables, CSV and TSV."""
    if type(value) is str:  # most cells
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(cell(v) for v in value)
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {cell(v)}" for k, v in value.items() if v not in (None, ""))
    return str(value)


def csv_safe(text: str) -> str:
    """Neutralise a cell a spreadsheet would run as a formula (`=SUM(...)`, `@cmd`, ...)."""
    from crm.text import neutralise

    return neutralise(text)


# -- lists and records ------------------------------------------------------------------------


def emit_rows(
    items: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    fmt: Format,
    *,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Print records: whole objects for JSON/JSONL/YAML, the given columns for the rest."""
    out = sys.stdout
    if fmt is Format.JSON:
        _json(list(items), out)
    elif fmt is Format.JSONL:
        for item in items:
            out.write(json.dumps(item, ensure_ascii=False, default=str) + "\n")
    elif fmt is Format.YAML:
        _yaml(list(items), out)
    elif fmt is Format.IDS:
        for item in items:
            if item.get("id"):
                out.write(f"{item['id']}\n")
    elif fmt is Format.CSV:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for item in items:
            writer.writerow([csv_safe(cell(item.get(c))) for c in columns])
    elif fmt is Format.TSV:
        for item in items:
            out.write("\t".join(_tsv(cell(item.get(c))) for c in columns) + "\n")
    else:
        names = {**HEADERS, **(headers or {})}
        rows = [[cell(item.get(c)) for c in columns] for item in items]
        lines = _table_lines([names.get(c, c) for c in columns], rows, columns, _Style())
        screen("\n".join(lines) + "\n")


_TSV = str.maketrans({"\t": " ", "\r": " ", "\n": " "})


def _tsv(text: str) -> str:
    return text.translate(_TSV)


def _json(value: Any, out: TextIO) -> None:
    out.write(json.dumps(value, ensure_ascii=False, indent=2, default=str) + "\n")


def _yaml(value: Any, out: TextIO) -> None:
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    out.write(yaml.dump(value, Dumper=dumper, sort_keys=False, allow_unicode=True, width=4096))


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    columns: Sequence[str]
    rows: Sequence[Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class Detail:
    """One record for people: a heading, label/value pairs, notes and related tables."""

    heading: str
    pairs: Sequence[tuple[str, Any]]
    notes: str | None = None
    sections: Sequence[Section] = field(default_factory=tuple)


def emit_record(obj: Mapping[str, Any], detail: Detail, fmt: Format) -> None:
    """Print one record: the JSON object for machines, `detail` for people."""
    if fmt is Format.TABLE:
        _detail(detail)
    elif fmt is Format.JSON:
        _json(obj, sys.stdout)
    elif fmt is Format.YAML:
        _yaml(dict(obj), sys.stdout)
    else:
        emit_rows([obj], [k for k in obj if k not in ("related", "timeline")], fmt)


def _detail(detail: Detail) -> None:
    style = _Style()
    lines = [style.bold(_clean(detail.heading))]
    shown = [(label, _clean(cell(value))) for label, value in detail.pairs if cell(value)]
    label_width = max((_width(label) for label, _ in shown), default=0)
    for label, text in shown:
        lines.append(f"  {style.dim(_pad(label, label_width))}  {text}")
    if detail.notes:
        lines += ["", style.bold("Notes")]
        lines += [f"  {_clean(line)}" for line in detail.notes.rstrip().splitlines()]
    for section in detail.sections:
        lines += ["", style.bold(f"{section.title} ({len(section.rows)})")]
        if section.rows:
            rows = [[cell(row.get(c)) for c in section.columns] for row in section.rows]
            headers = [HEADERS.get(c, c) for c in section.columns]
            lines += [
                f"  {line}" for line in _table_lines(headers, rows, section.columns, style, 2)
            ]
    screen("\n".join(lines) + "\n")


# -- tables -----------------------------------------------------------------------------------

HEADERS = {"probability": "prob", "close_date": "close", "currency": "cur", "over_90": "90+"}
_FIXED = frozenset({"due", "at", "type", "band", "score", "days_in_stage"}) | frozenset(
    {
        "id",
        "stage",
        "value",
        "currency",
        "probability",
        "close_date",
        "status",
        "created",
        "updated",
        "line",
        "path",
    }
)
_RIGHT = frozenset({"value", "probability", "line"})
_PRIMARY = frozenset({"name", "title", "text"})
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


class _Style:
    """ANSI bold and dim, only on a terminal and without NO_COLOR."""

    def __init__(self) -> None:
        self.on = _color(sys.stdout)

    def bold(self, text: str) -> str:
        return f"\x1b[1m{text}\x1b[0m" if self.on else text

    def dim(self, text: str) -> str:
        return f"\x1b[2m{text}\x1b[0m" if self.on else text


def _clean(text: str) -> str:
    """No control characters reach the terminal: a name cannot clear the screen or recolour it."""
    return _CONTROL.sub("\ufffd", text.replace("\n", " ").replace("\t", " "))


def _char_width(char: str) -> int:
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def _width(text: str) -> int:
    if text.isascii():
        return len(text)
    return sum(_char_width(c) for c in text)


def _truncate(text: str, width: int) -> str:
    if _width(text) <= width:
        return text
    out, used = [], 0
    for char in text:
        w = _char_width(char)
        if used + w > width - 1:
            break
        out.append(char)
        used += w
    return "".join(out) + "…"


def _pad(text: str, width: int, right: bool = False) -> str:
    gap = " " * max(0, width - _width(text))
    return gap + text if right else text + gap


def _terminal_width() -> int | None:
    """Columns to fit tables into: the terminal's, or $COLUMNS; None (no limit) in a pipe."""
    if os.environ.get("COLUMNS", "").isdigit():
        return int(os.environ["COLUMNS"])
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None


def _table_lines(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    keys: Sequence[str],
    style: _Style,
    indent: int = 0,
    right: frozenset[str] = _RIGHT,
) -> list[str]:
    rows = [[_clean(c) for c in row] for row in rows]
    widths = [max([_width(h), *(_width(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    limit = _terminal_width()
    if limit is not None:
        keep = _fit(widths, headers, keys, limit - indent)
        headers = [headers[i] for i in keep]
        rows = [[row[i] for i in keep] for row in rows]
        keys = [keys[i] for i in keep]
        widths = [widths[i] for i in keep]
    aligned = [k in right for k in keys]

    def line(cells: Sequence[str]) -> str:
        parts = [
            _pad(_truncate(c, w), w, r) for c, w, r in zip(cells, widths, aligned, strict=True)
        ]
        return "  ".join(parts).rstrip()

    out = [style.bold(line(headers)), style.dim("─" * (sum(widths) + 2 * (len(widths) - 1)))]
    out.extend(line(row) for row in rows)
    return out


def _fit(widths: list[int], headers: Sequence[str], keys: Sequence[str], limit: int) -> list[int]:
    """Make the table fit `limit` columns; returns the indexes of the columns to show.

    Free-text columns are narrowed first (never the name or title below 20); then columns are
    left out from the right (never the id or the name/title); then free text narrows further.
    """
    keep = list(range(len(keys)))

    def total() -> int:
        return sum(widths[i] for i in keep) + 2 * (len(keep) - 1)

    def narrow(floor_of: Callable[[int], int]) -> None:
        excess = total() - limit
        while excess > 0:
            candidates = [i for i in keep if keys[i] not in _FIXED and widths[i] > floor_of(i)]
            if not candidates:
                return
            widest = max(candidates, key=lambda i: widths[i])
            widths[widest] -= 1
            excess -= 1

    def comfortable(i: int) -> int:
        return max(20 if keys[i] in _PRIMARY else 10, _width(headers[i]))

    narrow(lambda i: min(widths[i], comfortable(i)))
    while total() > limit:
        droppable = [i for i in keep if keys[i] not in _PRIMARY and keys[i] != "id"]
        if not droppable:
            break
        keep.remove(droppable[-1])
        narrow(lambda i: min(widths[i], comfortable(i)))
    narrow(lambda i: max(6, _width(headers[i])))
    return keep


# -- changes ----------------------------------------------------------------------------------


def emit_diff(changes: Iterable[Any]) -> None:
    """A unified diff of what a --dry-run would write."""
    out = sys.stdout
    for change in changes:
        before = (change.before or "").splitlines(keepends=True)
        after = (change.after or "").splitlines(keepends=True)
        old = f"a/{change.path}" if change.before is not None else "/dev/null"
        new = f"b/{change.path}" if change.after is not None else "/dev/null"
        for line in difflib.unified_diff(before, after, old, new):
            out.write(line if line.endswith("\n") else line + "\n")


# -- selling: the board, the forecast, reports --------------------------------------------------

DEAL_ROW = (
    "id",
    "title",
    "company",
    "stage",
    "value",
    "currency",
    "probability",
    "weighted",
    "close_date",
    "days_in_stage",
)


@contextlib.contextmanager
def _rich_screen() -> Iterator[Any]:
    """A Rich console whose output goes to `screen` (and so to the pager when it is long)."""
    from rich.console import Console

    # markup and emoji off: a company called "[bold]" or ":smile:" must print as written
    console = Console(markup=False, emoji=False, highlight=False, no_color="NO_COLOR" in os.environ)
    with console.capture() as captured:
        yield console
    screen(captured.get())


def _deal_table(
    deals: Sequence[Mapping[str, Any]], *, show_stage: bool = False, show_days: bool = True
) -> Any:
    from rich.table import Table

    from crm.money import display

    table = Table(box=None, expand=True, show_header=False, pad_edge=False, padding=(0, 1))
    table.add_column("title", ratio=3, no_wrap=True, overflow="ellipsis")
    table.add_column("company", ratio=2, no_wrap=True, overflow="ellipsis", style="dim")
    if show_stage:
        table.add_column("stage", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("close", no_wrap=True)
    if show_days:
        table.add_column("days", justify="right", no_wrap=True, style="dim")
    for deal in deals:
        value = display(deal["value"], deal["currency"]) if deal.get("value") else ""
        days = deal.get("days_in_stage")
        company = deal.get("company_name") or deal.get("company") or ""
        row = [_clean(str(deal["title"])), _clean(str(company))]
        if show_stage:
            row.append(str(deal.get("stage") or ""))
        row += [value, deal.get("close_date") or ""]
        if show_days:
            row.append(f"{days}d" if days is not None else "")
        table.add_row(*row)
    return table


def emit_board(board: Mapping[str, Any], fmt: Format, *, show_closed: bool) -> None:
    """The pipeline board: a section per stage with its deals and totals, then grand totals."""
    if fmt is not Format.TABLE:
        rows = [
            {"pipeline": board["pipeline"], **{k: d.get(k) for k in DEAL_ROW}}
            for stage in board["stages"]
            for d in stage["deals"]
        ]
        if fmt in (Format.JSON, Format.YAML):
            (_json if fmt is Format.JSON else _yaml)(dict(board), sys.stdout)
        else:
            emit_rows(rows, ["pipeline", *DEAL_ROW], fmt)
        return
    from rich.padding import Padding
    from rich.rule import Rule
    from rich.text import Text

    from crm.money import display_totals

    with _rich_screen() as console:
        console.print(Text(f"Pipeline: {board['pipeline']}", style="bold"))
        for stage in board["stages"]:
            count = stage["count"]
            title = f"{stage['label']} · {stage['probability']}% · {count} deal{'s' * (count != 1)}"
            summary = display_totals(stage["totals"])
            if stage["status"] == "open":
                summary += f"   weighted {display_totals(stage['weighted'])}"
            if stage["status"] != "open" and not show_closed:
                console.print(Text(f"{title}: {summary}", style="dim"))
                continue
            console.print(Rule(Text(title, style="bold"), align="left"))
            console.print(Text(f"  {summary}", style="dim", overflow="fold"))
            if stage["deals"]:
                table = _deal_table(stage["deals"], show_days=stage["status"] == "open")
                console.print(Padding(table, (0, 0, 0, 2)))
        opened = board["open"]
        console.print(Rule(style="dim"))
        console.print(Text(f"Open: {display_totals(opened['totals'])}", style="bold"))
        console.print(Text(f"Weighted: {display_totals(opened['weighted'])}", style="bold"))


def emit_scores(rows: Sequence[Mapping[str, Any]], fmt: Format) -> None:
    """Lead scores: for people, each lead with every rule that gave it points on a line."""
    if fmt is not Format.TABLE:
        emit_rows(rows, ["id", "name", "status", "score", "band", "reasons"], fmt)
        return
    style = _Style()
    lines = []
    for row in rows:
        head = f"{row['score']:>4}  {row['band']:<5}  {_clean(str(row['name']))} ({row['id']})"
        lines.append(style.bold(head) + style.dim(f"  {row.get('status') or ''}"))
        lines += [f"      {rule['points']:+4d}  {_clean(rule['label'])}" for rule in row["rules"]]
    screen("\n".join(lines) + ("\n" if lines else ""))


def bar(value: float, largest: float, width: int) -> str:
    """A horizontal bar of eighths-of-a-cell blocks, `width` cells for `largest`."""
    if largest <= 0 or value <= 0:
        return ""
    eighths = round(value / largest * width * 8)
    full, part = divmod(eighths, 8)
    return "█" * full + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[part]


def emit_forecast(data: Mapping[str, Any], fmt: Format) -> None:
    """Weighted revenue per period and currency, with a bar each; overdue and undated after."""
    buckets = [*data["periods"], data["later"], data["overdue"], data["undated"]]
    if fmt is not Format.TABLE:
        if fmt in (Format.JSON, Format.YAML):
            (_json if fmt is Format.JSON else _yaml)(dict(data), sys.stdout)
            return
        rows = [
            {
                "period": b["period"],
                "start": b["start"],
                "end": b["end"],
                "count": b["count"],
                "currency": c,
                "weighted": w,
                "total": b["totals"].get(c),
            }
            for b in buckets
            for c, w in (sorted(b["weighted"].items()) or [(None, None)])
        ]
        emit_rows(rows, ["period", "start", "end", "count", "currency", "weighted", "total"], fmt)
        return
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from crm.money import display

    with _rich_screen() as console:
        largest: dict[str, float] = {}
        for b in data["periods"]:
            for currency, amount in b["weighted"].items():
                largest[currency] = max(largest.get(currency, 0.0), float(amount))
        table = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False, header_style="bold")
        table.add_column("period", no_wrap=True)
        table.add_column("deals", justify="right", no_wrap=True)
        table.add_column("weighted", justify="right", no_wrap=True)
        table.add_column("", ratio=1, no_wrap=True, style="cyan")
        table.add_column("total", justify="right", no_wrap=True, style="dim")
        bar_width = max(10, console.width - 60)
        for b in data["periods"]:
            currencies = sorted(b["weighted"]) or [""]
            for i, currency in enumerate(currencies):
                weighted = b["weighted"].get(currency)
                table.add_row(
                    b["period"] if i == 0 else "",
                    str(b["count"]) if i == 0 else "",
                    display(weighted, currency) if weighted else "",
                    bar(float(weighted), largest[currency], bar_width) if weighted else "",
                    display(b["totals"][currency], currency) if weighted else "",
                )
        console.print(
            Text("Forecast: weighted by probability, by expected close date", style="bold")
        )
        console.print(table)
        from crm.money import display_totals

        for b, label in ((data["later"], "Later"), (data["undated"], "No close date")):
            if b["count"]:
                console.print(
                    f"{label}: {b['count']} deal(s), weighted {display_totals(b['weighted'])}"
                )
        overdue = data["overdue"]
        if overdue["count"]:
            console.print()
            total = display_totals(overdue["totals"])
            message = f"Overdue to close: {overdue['count']} deal(s), {total}"
            console.print(Text(message, style="bold red"))
            console.print(_deal_table(overdue["deals"], show_stage=True))


@dataclass(frozen=True, slots=True)
class ReportTable:
    """A table of a report for people. `bar` names a column drawn as a bar from `bar_values`."""

    title: str
    columns: Sequence[str]
    rows: Sequence[Mapping[str, Any]]
    right: frozenset[str] = frozenset()
    bar_values: Sequence[float] | None = None


@dataclass(frozen=True, slots=True)
class Report:
    title: str
    tables: Sequence[ReportTable]
    summary: Sequence[tuple[str, str]] = ()


def emit_report(
    report: Report,
    data: Any,
    fmt: Format,
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
) -> None:
    """A report: Rich tables for people; `data` as JSON/YAML; `rows` as CSV/TSV/JSONL."""
    if fmt is Format.JSON:
        _json(data, sys.stdout)
        return
    if fmt is Format.YAML:
        _yaml(data, sys.stdout)
        return
    if fmt is not Format.TABLE:
        emit_rows(rows, columns, fmt)
        return
    style = _Style()
    lines = [style.bold(_clean(report.title))]
    lines += [f"  {style.dim(label + ':')} {_clean(value)}" for label, value in report.summary]
    for section in report.tables:
        lines += ["", style.bold(_clean(section.title))]
        if not section.rows:
            lines.append(style.dim("  (none)"))
            continue
        keys = list(section.columns)
        cells = [[cell(row.get(c)) for c in keys] for row in section.rows]
        if section.bar_values is not None:
            largest = max(section.bar_values, default=0.0)
            keys.append("bar")
            for line, value in zip(cells, section.bar_values, strict=True):
                line.append(bar(value, largest, 24))
        headers = [k if k != "bar" else "" for k in keys]
        table = _table_lines(headers, cells, keys, style, 2, section.right)
        lines += [f"  {line}" for line in table]
    screen("\n".join(lines) + "\n")


def emit_agenda(agenda: Mapping[str, Any], fmt: Format, *, plain: bool = False) -> None:
    """The agenda: sections of what needs doing, overdue first; `plain` never colours (cron)."""
    if fmt in (Format.JSON, Format.YAML):
        (_json if fmt is Format.JSON else _yaml)(dict(agenda), sys.stdout)
        return
    if fmt is not Format.TABLE:
        rows = [
            {"section": section, **{k: v for k, v in item.items() if not isinstance(v, dict)}}
            for section in ("overdue_tasks", "tasks", "touches", "deals", "leads", "invoices")
            for item in agenda.get(section, ())
        ]
        columns = ["section", "id", "title", "name", "due", "close_date", "amount_due", "currency"]
        emit_rows(rows, columns, fmt)
        return
    from crm.money import display

    style = _Style()
    if plain:
        style.on = False
    today = agenda["today"]

    def urgent(text: str, day: str | None) -> str:
        if not style.on or not day:
            return text
        code = "31" if day[:10] < today else "33" if day[:10] == today else None
        return f"\x1b[{code}m{text}\x1b[0m" if code else text

    lines = [style.bold(f"Agenda for {today} (and the next {agenda['days']} days)")]

    def section(title: str, items: Sequence[Any], render: Callable[[Any], str]) -> None:
        if items:
            lines.extend(["", style.bold(f"{title} ({len(items)})")])
            lines.extend(f"  {render(item)}" for item in items)

    def task(item: Mapping[str, Any]) -> str:
        about = f"  ({', '.join(item['for'])})" if item["for"] else ""
        flag = f"  [{item['priority']}]" if item.get("priority") else ""
        return urgent(f"{item['due']}  {_clean(item['title'])}{about}{flag}", item["due"])

    def touch(item: Mapping[str, Any]) -> str:
        last = f"last {item['last_touch']}" if item["last_touch"] else "never touched"
        return urgent(
            f"{item['due']}  {_clean(item['name'])} ({item['type']} {item['id']})  every "
            f"{item['cadence']}, {last}",
            item["due"],
        )

    def deal(item: Mapping[str, Any]) -> str:
        value = display(item["value"], item["currency"]) if item.get("value") else ""
        return urgent(
            f"{item['close_date']}  {_clean(item['title'])} ({item['id']})  {item['stage']}  "
            f"{value}",
            item["close_date"],
        ).rstrip()

    def lead(item: Mapping[str, Any]) -> str:
        return f"{_clean(item['name'])} ({item['id']})  {item['status']} since {item['since']}"

    section("Overdue tasks", agenda["overdue_tasks"], task)
    section("Tasks due", agenda["tasks"], task)
    section("Keep in touch", agenda["touches"], touch)
    section("Deals to close", agenda["deals"], deal)
    section("Leads waiting for contact", agenda["leads"], lead)

    def invoice(item: Mapping[str, Any]) -> str:
        sent = f"  {item['reminders']} reminder(s) sent" if item["reminders"] else ""
        return urgent(
            f"{item['due']}  invoice {item['number']}  {_clean(item['title'])}  "
            f"{display(item['amount_due'], item['currency'])} due{sent}",
            item["due"],
        )

    section("Invoices falling due", agenda.get("invoices", ()), invoice)
    screen("\n".join(lines) + "\n")
