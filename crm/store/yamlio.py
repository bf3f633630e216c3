"""YAML in and out.

Reads use PyYAML's safe C loader (fast, never constructs objects). Writes use ruamel.yaml's
round-trip mode, so editing one field of a hand-written file keeps its comments, key order and
quoting. The two speak different YAML versions (1.1 and 1.2); the writer quotes every string that
either would read as something else, so what the tool writes reads back identically through both.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import yaml

from crm.dates import iso
from crm.errors import DataError
from crm.models import ADDRESS_KEYS

if TYPE_CHECKING:
    from ruamel.yaml import YAML

    from crm.records import Edit

_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[valid-type,misc]
    """The safe loader, except that an impossible date (2026-13-01) stays text for `check`."""


def _timestamp(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    try:
        return yaml.constructor.SafeConstructor.construct_yaml_timestamp(loader, node)
    except (ValueError, OverflowError):
        return loader.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)

MAX_BYTES = 4 * 1024 * 1024
MAX_NODES = 100_000  # bounds alias expansion ("billion laughs") and absurd documents

STR_TAG = "tag:yaml.org,2002:str"
# Line breaks to YAML 1.1 but not to 1.2, and a BOM: only safe inside double quotes.
_SPECIAL = re.compile("[\x85\u2028\u2029\ufeff]")


@functools.cache
def _non_printable() -> re.Pattern[str]:
    """What PyYAML's reader refuses unescaped: all but tab, LF, CR and printable Unicode.

    Compiled on first use: the pattern takes ~7 ms to build, and reads never need it.
    """
    return re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


_RESOLVER: Any = yaml.resolver.Resolver()
_TAG_NAMES = {
    "tag:yaml.org,2002:bool": "a boolean",
    "tag:yaml.org,2002:int": "a number",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:null": "empty",
    "tag:yaml.org,2002:timestamp": "a date",
}


@dataclass(frozen=True, slots=True)
class Loaded:
    """A parsed document, the line of every key and list item by dotted path, and the text
    of every unquoted scalar that was read as something other than a string (for `check`
    to tell `title: 0123`, read as 83, from `title: 83`)."""

    data: Any
    lines: dict[str, int] = field(default_factory=dict)
    raw: dict[str, str] = field(default_factory=dict)


def decode(raw: bytes, path: str) -> str:
    """UTF-8 text of a file, without a byte-order mark."""
    if len(raw) > MAX_BYTES:
        raise DataError(path, f"file is larger than {MAX_BYTES // (1024 * 1024)} MB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(path, "not valid UTF-8", line=line, hint="save the file as UTF-8") from exc
    return text.removeprefix("\ufeff")


def parse(text: str, path: str) -> Loaded:
    """Parse one YAML document safely; dates and timestamps come back as ISO 8601 strings."""
    return compose(text, path)[0]


def compose(text: str, path: str) -> tuple[Loaded, yaml.Node | None]:
    """`parse`, and the node tree the data was built from (its marks, tags and styles), for
    the canonical form (crm.store.canonical)."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        walker = _Walker(path, loader)
        data = walker.build(node, "") if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise DataError(path, f"invalid YAML: {problem}", line=line) from exc
    except yaml.YAMLError as exc:
        raise DataError(path, f"invalid YAML: {exc}") from exc
    except (ValueError, OverflowError) as exc:  # e.g. an integer of 5,000 digits
        raise DataError(path, f"unreadable value: {exc}") from exc
    except RecursionError as exc:
        raise DataError(path, "document is nested too deeply") from exc
    finally:
        loader.dispose()
    return Loaded(data, walker.lines, walker.raw), node


_MAP = yaml.MappingNode
_SEQ = yaml.SequenceNode
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_SIMPLE_TAGS = frozenset(
    {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}
)


# A date, or a UTC time to the second: ISO 8601 already as `iso()` writes it (an impossible
# date such as 2026-02-30 stays the same text either way).
_CANONICAL_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:T[0-9]{2}:[0-9]{2}:[0-9]{2}Z)?")


_MAX_BITS = 14_000  # about 4,300 digits: Python's limit for printing a number as text


class _Walker:
    """Builds JSON-like data from the node tree in one pass (the safe loader's constructor
    would be a second, and turning its dates into text a third), collecting the line of every
    key and item and the raw text of every unquoted scalar not read as text; refuses what no
    record may hold."""

    def __init__(self, path: str, loader: Any) -> None:
        self.path = path
        self.loader = loader
        self.lines: dict[str, int] = {}
        self.raw: dict[str, str] = {}
        self.count = 0

    def build(self, node: yaml.Node, prefix: str) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise DataError(self.path, f"document has more than {MAX_NODES} nodes (aliases?)")
        tag = node.tag
        if tag == STR_TAG and type(node) is yaml.ScalarNode:
            return node.value
        if type(node) is _MAP and tag == "tag:yaml.org,2002:map":
            out: dict[str, Any] = {}
            lines = self.lines
            for key_node, value_node in node.value:
                key = str(key_node.value)
                dotted = f"{prefix}{key}"
                line = key_node.start_mark.line + 1
                if key_node.tag != STR_TAG or type(key_node) is not yaml.ScalarNode:
                    kind = _TAG_NAMES.get(key_node.tag, "something other than text")
                    message = f"key '{key}' is read as {kind}; put it in quotes"
                    raise DataError(self.path, message, line=line)
                if dotted in lines:
                    first = lines[dotted]
                    message = f"duplicate key '{dotted}' (first on line {first})"
                    raise DataError(self.path, message, line=line)
                lines[dotted] = line
                out[key] = self.build(value_node, dotted + ".")
            return out
        if type(node) is _SEQ and tag == "tag:yaml.org,2002:seq":
            items = []
            for i, item in enumerate(node.value):
                self.lines[f"{prefix}{i}"] = item.start_mark.line + 1
                items.append(self.build(item, f"{prefix}{i}."))
            return items
        if type(node) is yaml.ScalarNode and not node.style and tag != STR_TAG:
            self.raw[prefix[:-1]] = str(node.value)
        scalar = type(node) is yaml.ScalarNode
        if scalar and tag == "tag:yaml.org,2002:null":
            return None
        if scalar and tag == _TIMESTAMP_TAG and _CANONICAL_TIME.fullmatch(node.value):
            return node.value  # what reading it and writing it out as ISO 8601 would give
        if scalar and (tag in _SIMPLE_TAGS or tag == _TIMESTAMP_TAG):
            value = self.loader.construct_object(node)
        else:  # another tag: what the safe loader makes of it (or its refusal)
            value = self.loader.construct_object(node, deep=True)
        return _plain(value, self.path)


def _plain(value: Any, path: str) -> Any:
    """Turn what the safe loader built into JSON-like data: dates become ISO strings."""
    if isinstance(value, dict):
        return {(_plain_key(k)): _plain(v, path) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, path) for v in value]
    if isinstance(value, dt.date):  # datetime is a date too
        return iso(value)
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > _MAX_BITS:
        raise DataError(path, "a number too long to be read (thousands of digits)")
    if isinstance(value, float) and not math.isfinite(value):
        return {math.inf: ".inf", -math.inf: "-.inf"}.get(value, ".nan")  # JSON has no NaN
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    raise DataError(path, f"unsupported YAML value of type {type(value).__name__}")


def _plain_key(key: Any) -> Any:
    return iso(key) if isinstance(key, dt.date) else key


# ---------------------------------------------------------------------------------------------
# Writing


def needs_double_quotes(text: str) -> bool:
    """True when a plain or single-quoted scalar would read back differently somewhere.

    PyYAML (YAML 1.1) takes `no`, `on`, `1:30`, `0123` for booleans and numbers where
    ruamel.yaml (1.2) sees strings; NEL and the Unicode line separators are line breaks in 1.1
    only. Double quotes with escapes mean the same to both.
    """
    if _RESOLVER.resolve(yaml.ScalarNode, text, (True, False)) != STR_TAG:
        return True
    return bool(_SPECIAL.search(text) or _non_printable().search(text) or "\r" in text)


def _block_safe(text: str) -> bool:
    """Whether `text` may be written as a `|` literal block, the readable form for notes."""
    return "\n" in text and not needs_double_quotes(text) and "\t" not in text


def _represent_text(representer: Any, data: str) -> Any:
    style = '"' if needs_double_quotes(data) else None
    return representer.represent_scalar(STR_TAG, str(data), style=style)


def _represent_datetime(representer: Any, data: dt.datetime) -> Any:
    return representer.represent_scalar("tag:yaml.org,2002:timestamp", iso(data))


def _represent_decimal(representer: Any, data: Decimal) -> Any:
    return representer.represent_scalar(STR_TAG, str(data), style='"')


def _represent_bare(representer: Any, data: Any) -> Any:
    return representer.represent_scalar(data.tag, str(data))


def bare(text: str, tag: str) -> Any:
    """A scalar written as `text` without quotes, read as `tag` (the canonical text of a
    float or a timestamp, which no Python value of them writes exactly so)."""
    scalar = _ruamel()[2](text)
    scalar.tag = tag
    return scalar


@functools.cache
def _ruamel() -> tuple[type, type, type]:
    """The Text string type, the Representer and the Bare scalar type, built on first use
    (ruamel is imported lazily).

    Only values crm writes are Text. Everything else in a file it re-writes keeps ruamel's own
    round-trip form, so a hand-written `newsletter: yes` stays exactly that.
    """
    from ruamel.yaml.representer import RoundTripRepresenter
    from ruamel.yaml.scalarstring import ScalarString

    class Text(ScalarString):
        """A string crm writes: double-quoted wherever either YAML version would misread it.

        A ScalarString, so that ruamel never recasts it into the style of the value it replaces
        (a `|` block cannot hold a control character; single quotes cannot hold NEL).
        """

        __slots__ = ()

    class Representer(RoundTripRepresenter):
        def ignore_aliases(self, data: Any) -> bool:
            # `updated: *id001` would baffle a human; anchors a human wrote are kept
            if isinstance(data, str | int | float | dt.date | Decimal):
                return True
            return bool(super().ignore_aliases(data))

    class Bare(str):
        """Text written plain, with the tag `bare()` gives it."""

        tag: str

    Representer.add_representer(Text, _represent_text)
    Representer.add_representer(dt.datetime, _represent_datetime)
    Representer.add_representer(Decimal, _represent_decimal)
    Representer.add_representer(Bare, _represent_bare)
    return Text, Representer, Bare


def _yaml() -> YAML:
    from ruamel.yaml import YAML

    y = YAML()
    y.Representer = _ruamel()[1]
    y.preserve_quotes = True
    y.width = 4096  # never fold long lines: a changed field stays one changed line
    y.indent(mapping=2, sequence=4, offset=2)  # lists as "  - item" under their key
    return y


def to_node(value: Any) -> Any:
    """A Python value as ruamel should write it: multi-line text as a literal block."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.scalarstring import LiteralScalarString

    if isinstance(value, str):
        return LiteralScalarString(value) if _block_safe(value) else _ruamel()[0](value)
    if isinstance(value, dict):
        node = CommentedMap()
        for k, v in value.items():
            node[to_node(k)] = to_node(v)
        return node
    if isinstance(value, list | tuple):
        seq = CommentedSeq()
        seq.extend(to_node(v) for v in value)
        return seq
    return value


@functools.cache
def _writer() -> YAML:
    return _yaml()


def dump_node(node: Any) -> str:
    """Text of a tree `to_node` (or crm.store.canonical) built, as `dump_new` writes it."""
    out = io.StringIO()
    _writer().dump(node, out)
    return out.getvalue()


def dump_new(data: dict[str, Any]) -> str:
    """Text of a new file: keys in the order given, values as `to_node` writes them."""
    out = io.StringIO()
    _yaml().dump(to_node(data), out)
    return out.getvalue()


def edit_text(text: str, path: str, edits: Iterable[Edit], order: Sequence[str]) -> str:
    """Apply `edits` to the YAML `text` of a record, keeping everything else as written."""
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.error import YAMLError
    from ruamel.yaml.util import load_yaml_guess_indent

    y = _yaml()
    try:
        doc, indent, block_seq_indent = load_yaml_guess_indent(text, yaml=y)
    except (YAMLError, ValueError) as exc:
        raise DataError(path, f"cannot be edited: {exc}".replace("\n", " ")) from exc
    y.indent(**_indent_of(indent, block_seq_indent, _mapping_indent(text)))  # keep the file's own
    if doc is None:
        doc = CommentedMap()
    if not isinstance(doc, CommentedMap):
        raise DataError(path, "is not a mapping of fields", line=1)
    for edit in edits:
        _apply(doc, edit, order)
    out = io.StringIO()
    y.dump(doc, out)
    return out.getvalue()


def _indent_of(
    indent: int | None, block_seq_indent: int | None, mapping: int | None
) -> dict[str, int]:
    """ruamel's indent settings from what `load_yaml_guess_indent` saw in a file."""
    if indent is None or not 0 < indent < 12:
        indent = None
    if block_seq_indent is None or indent is None or not 0 <= block_seq_indent < indent:
        # no lists seen: `indent` (if any) is the mapping indent; new lists go "  - x"
        mapping = mapping or indent or 2
        return {"mapping": mapping, "sequence": mapping + 2, "offset": mapping}
    if mapping is None:
        mapping = indent - block_seq_indent if indent - block_seq_indent > 1 else 2
    return {"mapping": mapping, "sequence": indent, "offset": block_seq_indent}


_KEY_ONLY_RE = re.compile(r"( *)[^\s#-][^#]*:\s*(#.*)?$")


def _mapping_indent(text: str) -> int | None:
    """How far a nested mapping's keys are indented under their parent key, if the file shows."""
    parent: int | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(line) - len(line.lstrip(" "))
        if parent is not None:
            if indent > parent and not stripped.startswith("- ") and ":" in stripped:
                return indent - parent if 0 < indent - parent < 12 else None
            parent = None
        match = _KEY_ONLY_RE.fullmatch(line)
        if match:
            parent = len(match.group(1))
    return None


def _apply(doc: Any, edit: Edit, order: Sequence[str]) -> None:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    *parents, key = edit.path
    holder = doc
    for i, name in enumerate(parents):
        child = holder.get(name)
        if not isinstance(child, CommentedMap):
            if edit.op in ("unset", "remove"):
                return
            child = CommentedMap()
            _insert(holder, to_node(name), child, order if i == 0 else ())
        holder = child
    current = holder.get(key)
    if edit.op == "set":
        if key in holder:
            holder[key] = to_node(edit.value)
        else:
            nested = order if not parents else _nested_order(parents)
            _insert(holder, to_node(key), to_node(edit.value), nested)
    elif edit.op == "unset":
        _delete(holder, key)
    elif edit.op == "append":
        if isinstance(current, CommentedSeq):
            current.extend(to_node(v) for v in edit.value if v not in current)
        elif key in holder and current not in (None, ""):
            holder[key] = to_node([current, *[v for v in edit.value if v != current]])
        else:
            _apply(doc, edit.replace(op="set", value=list(edit.value)), order)
            return
    elif edit.op == "push":
        if isinstance(current, CommentedSeq):
            current.append(to_node(edit.value))
        else:
            _apply(doc, edit.replace(op="set", value=[edit.value]), order)
            return
    elif edit.op == "remove":
        if isinstance(current, CommentedSeq):
            for v in edit.value:
                while v in current:
                    current.remove(v)
            if not current:
                _delete(holder, key)
        elif current in edit.value:
            _delete(holder, key)
    # A mapping emptied by the edit (the last custom field unset) goes with it.
    if parents and not holder and edit.op in ("unset", "remove"):
        _apply(doc, edit.replace(op="unset", path=tuple(parents)), order)


def _nested_order(parents: Sequence[str]) -> Sequence[str]:
    return ADDRESS_KEYS if list(parents) == ["address"] else ()


def _insert(holder: Any, key: str, value: Any, order: Sequence[str]) -> None:
    """Insert `key` after the last existing key that the schema puts before it."""
    if key not in order:
        holder[key] = value
        return
    rank = order.index(key)
    position = 0
    for i, existing in enumerate(holder):
        if existing in order and order.index(existing) < rank:
            position = i + 1
    if position >= len(holder):
        holder[key] = value
    else:
        holder.insert(position, key, value)


def _delete(holder: Any, key: str) -> None:
    """Delete `key`, keeping the whole-line comments that followed it."""
    if key not in holder:
        return
    keys = list(holder)
    index = keys.index(key)
    token = holder.ca.items.get(key, [None, None, None, None])[2]
    del holder[key]
    holder.ca.items.pop(key, None)
    if token is None or index == 0:
        return
    rest = token.value.split("\n", 1)[1] if "\n" in token.value else ""
    if rest.strip():
        _append_comment(holder, keys[index - 1], rest)


def _append_comment(holder: Any, key: Any, text: str) -> None:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.error import CommentMark
    from ruamel.yaml.tokens import CommentToken

    value = holder[key]
    if isinstance(value, CommentedMap) and value:
        _append_comment(value, list(value)[-1], text)
        return
    if isinstance(value, CommentedSeq) and value:
        slot = value.ca.items.setdefault(len(value) - 1, [None, None])
        position = 0
    else:
        slot = holder.ca.items.setdefault(key, [None, None, None, None])
        position = 2
    existing = slot[position]
    if existing is None:
        slot[position] = CommentToken("\n" + text, CommentMark(0), None)
    else:
        existing.value = existing.value.rstrip("\n") + "\n" + text


def same_data(a: Any, b: Any) -> bool:
    """Equal data, told apart by type as well (to Python, True == 1 == 1.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_data(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_data(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)
