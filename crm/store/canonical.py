"""The canonical form of a record file: the text crm itself writes for the data in it.

The text is rebuilt from what crm reads (PyYAML, YAML 1.1) and written by the same writer as a
new record (crm.store.yamlio), keys in schema order; the comments of the file are then put back
beside the keys and list items they belong to. docs/format.md ("Canonical form") is the
contract. Nothing here may change what a file means: `format_text` proves for every text it
returns that it reads back as the same data with the same comments, and is its own canonical
form, else it returns the problems instead.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from crm import ids
from crm.errors import DataError
from crm.models import ADDRESS_KEYS, LIST_KINDS, Field, Kind, RecordType
from crm.store import yamlio

Key = str | int
KeyPath = tuple[Key, ...]

_STR = yamlio.STR_TAG
_FLOAT = "tag:yaml.org,2002:float"
_NULL = "tag:yaml.org,2002:null"
_TIME = "tag:yaml.org,2002:timestamp"

# Kinds whose values may be rewritten from one spelling to another that reads the same.
_NUMBERS = frozenset({Kind.NUMBER, Kind.PERCENT, Kind.DAYS, Kind.MINUTES})
_TIMES = frozenset({Kind.DATE, Kind.TIMESTAMP, Kind.WHEN, Kind.BIRTHDAY})
_LOOSE = _NUMBERS | _TIMES | {Kind.BOOL}

_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_BLOCK_HEADER = re.compile(r"[|>][0-9+-]*")
_END = ("<end>",)  # where the comments after the last key go


@dataclass(frozen=True, slots=True)
class Formatted:
    """The canonical text of a file, or (text None) why it cannot be put in canonical form."""

    text: str | None
    problems: tuple[DataError, ...] = ()


@dataclass(frozen=True, slots=True)
class FileResult:
    """One record file in canonical form: its text, whether it already is that exactly (bytes
    and all), or (text None) why it cannot be put in canonical form."""

    rtype: RecordType
    rid: str
    rel: str
    text: str | None
    canonical: bool
    problems: tuple[DataError, ...] = ()


def format_file(
    root: Path, rtype: RecordType, path: Path, custom: Mapping[str, Kind] | None = None
) -> FileResult:
    """`format_text` of the record file at `path` (in `root`'s folder of `rtype`)."""
    rel = path.relative_to(root).as_posix()
    rid = path.name.removesuffix(".yaml")

    def refused(*problems: DataError) -> FileResult:
        return FileResult(rtype, rid, rel, None, False, problems)

    if not ids.is_valid_id(rid):
        hint = f"rename it to {ids.slugify(rid)}.yaml"
        return refused(DataError(rel, "file name is not a valid id", hint=hint))
    if path.is_symlink():  # rewriting it would put a file in place of the link
        return refused(DataError(rel, "is a link: format the file it points to"))
    try:
        raw = path.read_bytes()
        text = yamlio.decode(raw, rel)
    except DataError as exc:
        return refused(exc)
    except OSError as exc:
        return refused(DataError(rel, f"cannot be read: {exc.strerror}"))
    done = format_text(text, rel, rtype, custom)
    if done.text is None:
        return refused(*done.problems)
    return FileResult(rtype, rid, rel, done.text, done.text.encode("utf-8") == raw)


def format_text(
    text: str, path: str, rtype: RecordType, custom: Mapping[str, Kind] | None = None
) -> Formatted:
    """The canonical form of the record file `text` (decoded: no byte-order mark).

    `custom` gives the kinds of the custom fields crm.yaml declares for `rtype`.
    """
    try:
        first = _render(text, path, rtype, custom or {})
        if first.text is None or first.text == text:
            return first
        again = _render(first.text, path, rtype, custom or {})
        problem = _proof(text, first.text, again.text, path)
    except RecursionError:  # nested deeper than the writer goes: one odd file stops no other
        problem = "is nested too deeply to be put in canonical form; left as it is"
    if problem:
        return Formatted(None, (DataError(path, problem),))
    return first


def _proof(before: str, after: str, again: str | None, path: str) -> str | None:
    """Why `after` may not replace `before`, if it may not."""
    try:
        old, old_node = yamlio.compose(_lf(before), path)
        new, new_node = yamlio.compose(after, path)
    except DataError:
        return "its canonical form would not read back; left as it is"
    if not yamlio.same_data(old.data, new.data):
        return "its canonical form would read as different data; left as it is"
    if sorted(_comment_texts(_lf(before), old_node)) != sorted(_comment_texts(after, new_node)):
        return "its comments could not all be kept in canonical form; left as it is"
    if again != after:
        return "its canonical form is not stable; left as it is"
    return None


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _render(text: str, path: str, rtype: RecordType, custom: Mapping[str, Kind]) -> Formatted:
    text = _lf(text)
    try:
        loaded, node = yamlio.compose(text, path)
    except DataError as exc:
        return Formatted(None, (exc,))
    data = loaded.data
    if node is None or data is None:  # no fields: only comments, or nothing
        return Formatted(_with_comments(text, node, "", path))
    if not isinstance(data, dict):
        kind = type(data).__name__
        return Formatted(
            None, (DataError(path, f"must be a mapping of fields, not {kind}", line=1),)
        )
    builder = _Builder(path, rtype, custom)
    tree = builder.build(node, data, ())
    if builder.problems:
        return Formatted(None, tuple(builder.problems))
    emitted = _fast_dump(tree)
    if emitted is None:
        emitted = yamlio.dump_node(tree)
    if "#" in text or _BLANK_LINE.search(text):
        return Formatted(_with_comments(text, node, emitted, path))
    return Formatted(emitted)


# ---------------------------------------------------------------------------------------------
# Values and key order


class _Builder:
    """The tree of the canonical text, from the node tree and the data crm read from it."""

    def __init__(self, path: str, rtype: RecordType, custom: Mapping[str, Kind]) -> None:
        self.path = path
        self.rtype = rtype
        self.fields: dict[str, Field] = {f.name: f for f in rtype.fields}
        self.custom = custom
        self.problems: list[DataError] = []

    def build(self, node: yaml.Node, value: Any, where: KeyPath) -> Any:
        from ruamel.yaml.comments import CommentedMap, CommentedSeq

        if isinstance(value, dict) and isinstance(node, yaml.MappingNode):
            nodes = {str(k.value): v for k, v in node.value}
            out = CommentedMap()
            for key in ordered(list(value), self.order(where)):
                out[yamlio.to_node(key)] = self.build(nodes[key], value[key], (*where, key))
            return out
        if isinstance(value, list) and isinstance(node, yaml.SequenceNode):
            items = zip(node.value, value, strict=True)
            return CommentedSeq(self.build(n, v, (*where, i)) for i, (n, v) in enumerate(items))
        return self.scalar(node, value, where)

    def order(self, where: KeyPath) -> Sequence[str]:
        if not where:
            return self.rtype.key_order
        top = self.fields.get(str(where[0]))
        if len(where) == 1 and top is not None and top.kind is Kind.ADDRESS:
            return ADDRESS_KEYS
        return ()  # as written: custom fields, lines, payments, history, ...

    def kind(self, where: KeyPath) -> Kind | None:
        """The kind of value the schema expects at `where` (None: any)."""
        top = self.fields.get(str(where[0]))
        if top is None:
            return None
        if len(where) == 1:
            return top.kind
        if len(where) == 2:
            if top.kind in LIST_KINDS and isinstance(where[1], int):
                return top.kind
            if top.kind is Kind.ADDRESS:
                return Kind.TEXT
            if top.kind is Kind.CUSTOM:
                return self.custom.get(str(where[1]))
        return None

    def scalar(self, node: yaml.Node, value: Any, where: KeyPath) -> Any:
        if not isinstance(node, yaml.ScalarNode) or isinstance(value, dict | list):
            return self.refuse(node, where, "something crm cannot write back")
        if isinstance(value, str) and node.tag == _STR:
            return yamlio.to_node(value)
        kind = self.kind(where)
        strict = kind is not None and kind not in _LOOSE  # text, money, ...: as written
        written = str(node.value)
        if node.tag == _TIME and isinstance(value, str):
            if strict:  # a date where text belongs: text, in quotes
                if written != value:
                    return self.refuse(node, where, value)
                return yamlio.to_node(value)
            if not _is_moment(value):  # 2026-02-30: text to every reader, so in quotes
                return yamlio.to_node(value)
            return yamlio.bare(value, _TIME)  # ISO 8601, as `iso()` writes it
        if node.tag == _NULL:
            return None
        text = _text_of(value)
        if text is None:
            return self.refuse(node, where, value)
        if written != text and not (node.style or _reads_alike(written, value, kind, strict)):
            return self.refuse(node, where, text)
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return int(value)
        return yamlio.bare(text, _FLOAT)

    def refuse(self, node: yaml.Node, where: KeyPath, read: Any) -> None:
        """Report a value whose text and reading differ: which one is meant is not ours to
        guess (`title: no` is false to crm, the text "no" to YAML 1.2)."""
        key = ".".join(str(k) for k in where)
        written = str(node.value)
        message = (
            f'{key}: {written} reads as {read}; write "{written}" (in quotes) if that is '
            f"what you mean, else {read}"
        )
        self.problems.append(DataError(self.path, message, line=node.start_mark.line + 1))


def ordered(keys: Sequence[str], order: Sequence[str]) -> list[str]:
    """`keys` in the schema's `order`; a key the schema does not know stays after the key it
    follows (at the top if it follows none), as `yamlio.edit_text` leaves it."""
    if not order:
        return list(keys)
    rank = {name: i for i, name in enumerate(order)}
    top: list[str] = []
    groups: list[tuple[int, list[str]]] = []
    for key in keys:
        if key in rank:
            groups.append((rank[key], [key]))
        elif groups:
            groups[-1][1].append(key)
        else:
            top.append(key)
    groups.sort(key=lambda group: group[0])
    return top + [key for _, group in groups for key in group]


def _is_moment(text: str) -> bool:
    try:
        if len(text) == 10:
            dt.date.fromisoformat(text)
        else:
            dt.datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _text_of(value: Any) -> str | None:
    """How crm writes a number, a yes/no or nothing, plain; None for anything else."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float_text(value)
    if value in (".inf", "-.inf", ".nan"):  # the reader's text of a float JSON cannot hold
        return str(value)
    return None


def _float_text(value: float) -> str:
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    mantissa, e, exponent = text.partition("e")
    if e and "." not in mantissa:
        text = f"{mantissa}.0e{exponent}"  # YAML 1.1 reads 1e+20 as text, 1.0e+20 as a number
    return text


def _reads_alike(written: str, value: Any, kind: Kind | None, strict: bool) -> bool:
    """Whether `written` may be replaced by the canonical text of `value` (what crm read):
    yes/no in a yes/no field; elsewhere only when YAML 1.2 (ruamel.yaml, most other tools)
    reads `written` as the same value, and the field is not one that keeps its text (nor,
    for a number with a fraction, one that is not a number field)."""
    if kind is Kind.BOOL and isinstance(value, bool):
        return True
    if strict or (isinstance(value, float) and kind not in _NUMBERS):
        return False  # 1.50 is 1.5 to every reader, but the 0 may matter (an amount)
    other = _yaml12(written)
    return other is not _UNREADABLE and _text_of(other) == _text_of(value)


_UNREADABLE = object()


@functools.lru_cache(maxsize=4096)
def _yaml12(text: str) -> Any:
    from ruamel.yaml import YAML

    try:
        value = YAML(typ="safe", pure=True).load(text)
    except Exception:  # whatever ruamel refuses reads alike to nothing
        return _UNREADABLE
    return float(value) if isinstance(value, float) else value


# ---------------------------------------------------------------------------------------------
# Writing: the common cases without the emitter


# What the emitter writes unescaped: printable, no line break, no tab, no byte-order mark.
_PRINTABLE = re.compile("[\x20-\x7e\xa0-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]+")
_NUMERIC_START = frozenset("0123456789+-.")
_INDICATORS = frozenset("#,[]{}&*!|>'\"%@`")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LONG = 1000  # the writer's line width is 4096; longer text is left to it


def _fast_dump(tree: Any) -> str | None:
    """The text `yamlio.dump_node(tree)` writes, for the trees most records make (short text,
    numbers, dates, lists and mappings in block style); None for anything else. ~20 times
    faster than the emitter, which `crm fmt --check` of a large folder would wait for."""
    if not isinstance(tree, dict) or not tree:
        return None
    out: list[str] = []
    if not _fast_map(tree, 0, out, ""):
        return None
    out.append("")
    return "\n".join(out)


def _fast_map(mapping: Mapping[Any, Any], indent: int, out: list[str], prefix: str) -> bool:
    pad = " " * indent
    for i, (key, value) in enumerate(mapping.items()):
        if (
            not isinstance(key, str)
            or type(key) is not _text_type()
            or not _KEY.fullmatch(key)
            or yamlio.needs_double_quotes(key)
        ):
            return False
        lead = (prefix if i == 0 and prefix else pad) + key
        if isinstance(value, dict):
            if not value:
                out.append(f"{lead}: {{}}")
                continue
            out.append(f"{lead}:")
            if not _fast_map(value, indent + 2, out, ""):
                return False
        elif isinstance(value, list):
            if not value:
                out.append(f"{lead}: []")
                continue
            out.append(f"{lead}:")
            dash = " " * (indent + 2) + "- "
            for item in value:
                if isinstance(item, dict):
                    if not item or not _fast_map(item, indent + 4, out, dash):
                        return False
                    continue
                text = _fast_scalar(item)
                if not text:
                    return False
                out.append(dash + text)
        elif value is None:
            out.append(f"{lead}:")
        else:
            text = _fast_scalar(value)
            if text is None:
                literal = isinstance(value, str) and type(value) is _literal_type()
                if not literal or not _fast_literal(value, indent, out, lead):
                    return False
                continue
            out.append(f"{lead}: {text}")
    return True


def _fast_literal(value: str, indent: int, out: list[str], lead: str) -> bool:
    """A `|` block: text of whole lines, the first not indented, none ending in blanks."""
    body = value[:-1] if value.endswith("\n") else value
    if not body or body[0] in " \n" or body.endswith("\n") or len(value) > _LONG:
        return False
    lines = body.split("\n")
    if any(line != line.rstrip() for line in lines):
        return False
    out.append(f"{lead}: |" if value.endswith("\n") else f"{lead}: |-")
    pad = " " * (indent + 2)
    out.extend(pad + line if line else "" for line in lines)
    return True


def _fast_scalar(value: Any) -> str | None:
    """A scalar as the emitter writes it (`Emitter.choose_scalar_style` for one line of text
    in a block mapping or list), or None when that needs the emitter."""
    kind = type(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is _bare_type():
        return str(value)
    if kind is not _text_type() or not isinstance(value, str) or not value or len(value) > _LONG:
        return None
    if not _PRINTABLE.fullmatch(value):
        return None
    if yamlio.needs_double_quotes(value):  # written with the style '"'
        return None if '"' in value or "\\" in value or not value.isascii() else f'"{value}"'
    if _plain_allowed(value):
        return str(value)
    if "'" in value:
        return None if '"' in value or "\\" in value else f'"{value}"'
    return f"'{value}'"


def _plain_allowed(value: str) -> bool:
    first = value[0]
    if first == " " or value[-1] in " :" or first in _INDICATORS:
        return False
    if value.startswith(("---", "...")) or ": " in value or " #" in value:
        return False
    if first in "?:-" and (len(value) == 1 or value[1] == " "):
        return False
    return first not in _NUMERIC_START or _plain_to_yaml12(value)


@functools.cache
def _text_type() -> type:
    return type(yamlio.to_node("x"))


@functools.cache
def _literal_type() -> type:
    return type(yamlio.to_node("x\ny"))


@functools.cache
def _bare_type() -> type:
    return type(yamlio.bare("1", _FLOAT))


@functools.lru_cache(maxsize=4096)
def _plain_to_yaml12(text: str) -> bool:
    """Whether YAML 1.2 (the writer's resolver) reads `text` written plain as text."""
    from ruamel.yaml.nodes import ScalarNode
    from ruamel.yaml.resolver import VersionedResolver

    tag = VersionedResolver().resolve(ScalarNode, text, (True, False))
    return str(tag) == _STR


# ---------------------------------------------------------------------------------------------
# Comments


@dataclass(frozen=True, slots=True)
class _Outline:
    starts: list[tuple[int, int, KeyPath]]  # (line, column, path) of every key and item
    cover: dict[int, list[tuple[int, int]]]  # line -> column ranges inside scalars


_ALL = 1 << 30  # "to the end of the line"


def _outline(node: yaml.Node | None, lines: Sequence[str]) -> _Outline:
    starts: list[tuple[int, int, KeyPath]] = []
    cover: dict[int, list[tuple[int, int]]] = {}
    seen: set[int] = set()

    def covered(line: int, start: int, end: int) -> None:
        cover.setdefault(line, []).append((start, end))

    def scalar(n: yaml.Node) -> None:
        l1, c1 = n.start_mark.line, n.start_mark.column
        l2, c2 = n.end_mark.line, n.end_mark.column
        style = getattr(n, "style", None)
        if style in ("|", ">"):
            header = _BLOCK_HEADER.match(lines[l1], c1)
            covered(l1, c1, header.end() if header else c1 + 1)
            last = l2 - 1 if c2 == 0 else l2
            if header is None or "+" not in header.group():
                # trailing blank lines are not part of the text: they separate keys
                while last > l1 and not lines[last].strip():
                    last -= 1
            for line in range(l1 + 1, last + 1):
                covered(line, 0, _ALL)
            return
        if l1 == l2:
            covered(l1, c1, c2)
            return
        covered(l1, c1, _ALL)
        for line in range(l1 + 1, l2):
            covered(line, 0, _ALL)
        covered(l2, 0, c2)

    def walk(n: yaml.Node, where: KeyPath) -> None:
        if id(n) in seen:  # an alias: the anchored nodes were walked where they stand
            return
        seen.add(id(n))
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                key = str(k.value)
                starts.append((k.start_mark.line, k.start_mark.column, (*where, key)))
                scalar(k)
                walk(v, (*where, key))
        elif isinstance(n, yaml.SequenceNode):
            for i, item in enumerate(n.value):
                starts.append((item.start_mark.line, item.start_mark.column, (*where, i)))
                walk(item, (*where, i))
        else:
            scalar(n)

    if node is not None:
        walk(node, ())
    return _Outline(starts, cover)


def _comment_at(line: str, ranges: Sequence[tuple[int, int]]) -> int | None:
    """The column where a comment starts on `line`, if one does."""
    at = line.find("#")
    while at >= 0:
        if (at == 0 or line[at - 1] in " \t") and not any(a <= at < b for a, b in ranges):
            return at
        at = line.find("#", at + 1)
    return None


def _comment_texts(text: str, node: yaml.Node | None) -> list[str]:
    lines = text.split("\n")
    outline = _outline(node, lines)
    found = []
    for i, line in enumerate(lines):
        at = _comment_at(line, outline.cover.get(i, ()))
        if at is not None:
            found.append(line[at:].rstrip())
    return found


def _with_comments(text: str, node: yaml.Node | None, emitted: str, path: str) -> str:
    """`emitted` (canonical, without comments) with the comments and blank lines of `text`:
    a whole-line comment or blank line goes before the key or item below it, an end-of-line
    comment after the key or item on its line (at its column, if there is room)."""
    lines = text.split("\n")
    outline = _outline(node, lines)
    first: dict[int, KeyPath] = {}
    for number, _, where in outline.starts:
        first.setdefault(number, where)  # the outermost: a key comes before what it holds
    positions = [(number, column) for number, column, _ in outline.starts]
    above: dict[KeyPath, list[str]] = {}
    beside: dict[KeyPath, list[tuple[int, str]]] = {}
    pending: list[str] = []
    for i, line in enumerate(lines):
        ranges = outline.cover.get(i, ())
        at = _comment_at(line, ranges)
        content = line[:at] if at is not None else line
        inside = any(a <= 0 and b >= _ALL for a, b in ranges)
        if not inside and not content.strip() and not any(a < len(content) for a, _ in ranges):
            pending.append(line[at:].rstrip() if at is not None else "")
            continue
        if i in first and pending:
            above.setdefault(first[i], []).extend(pending)
            pending = []
        if at is None:
            continue
        comment = line[at:].rstrip()
        owner = first.get(i)
        if owner is None and any(a < at for a, _ in ranges):
            # the end of a value begun on an earlier line: the key or item it belongs to
            index = bisect.bisect_right(positions, (i, at)) - 1
            owner = outline.starts[index][2] if index >= 0 else None
        if owner is None:  # beside `---`, `...`, a lone `-` or `}`: above what comes next
            pending.append(comment)
        else:
            beside.setdefault(owner, []).append((at, comment))
    above.setdefault(_END, []).extend(pending)

    out_lines = emitted.split("\n")[:-1]
    try:
        out_node = yamlio.compose(emitted, path)[1]
    except DataError:  # cannot happen for what the writer wrote; the proof would tell
        out_node = None
    target: dict[KeyPath, int] = {}
    for number, _, where in _outline(out_node, out_lines).starts:
        target.setdefault(where, number)
    before: dict[int, list[str]] = {}
    after: dict[int, list[tuple[int, str]]] = {}
    end = list(above.pop(_END, []))
    for where, block in above.items():
        if where in target:
            before.setdefault(target[where], []).extend(block)
        else:
            end.extend(block)
    for where, comments in beside.items():
        if where in target:
            after.setdefault(target[where], []).extend(comments)
        else:
            end.extend(comment for _, comment in comments)

    out: list[str] = []

    def add(line: str) -> None:
        if line or (out and out[-1]):  # no blank line first, nor two in a row
            out.append(line)

    for i, line in enumerate(out_lines):
        indent = " " * (len(line) - len(line.lstrip(" ")))
        for comment in before.get(i, ()):
            add(indent + comment if comment else "")
        beside_line = after.get(i)
        if beside_line:
            for _, extra in beside_line[1:]:  # one end-of-line comment a line; others above
                add(indent + extra)
            column, comment = beside_line[0]
            line = line.ljust(column) + comment if len(line) < column else f"{line} {comment}"
        out.append(line)
    written = len(out)
    for comment in end:
        add(comment)
    while len(out) > written and not out[-1]:
        out.pop()  # blank lines after the last comment
    return "\n".join(out) + "\n" if out else ""
