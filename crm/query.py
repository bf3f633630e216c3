"""The `--where` filter language and `--sort` keys, over records' JSON form.

    expr  := term ("or" term)*
    term  := factor ("and" factor)*
    factor:= "not" factor | "(" expr ")" | "tag:" NAME | FIELD OP VALUE | FIELD
    OP    := "=" | "!=" | "<" | "<=" | ">" | ">=" | "~" (contains) | "!~" (does not contain)

Values may be quoted ("van der Berg"). Comparison is case-insensitive; numbers compare as
numbers and ISO dates as dates; `today`, `today-30` and `today+7` are dates relative to today.
On a list field (emails, phones, tags) a condition holds when any item satisfies it (`!=` and
`!~`: when none does). A bare FIELD holds when it has a value.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from crm import dates
from crm.config import Config
from crm.errors import UsageError
from crm.models import DERIVED, RecordType
from crm.records import target

Predicate = Callable[[Mapping[str, Any]], bool]

_TOKEN_RE = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<paren>[()])
  | (?P<tag>tag:(?P<tagname>[^\s()]+))
  | (?P<cmp>(?P<field>[A-Za-z_][\w.-]*)\s*(?P<op>!=|<=|>=|!~|=|<|>|~)\s*
        (?P<value>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s()]*))
  | (?P<word>[A-Za-z_][\w.-]*)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # paren, tag, cmp, word
    text: str
    column: int
    field: str = ""
    op: str = ""
    value: str = ""


def field_path(rtype: RecordType, config: Config, name: str) -> tuple[str, ...]:
    """Where a field a user names lives in a record's JSON: `email` -> (emails,)."""
    if name in ("id", "type") or name in DERIVED.get(rtype.name, ()):
        return (name,)
    return target(rtype, config, name, reading=True).path


def lookup(obj: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = obj
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def parse_where(text: str, rtype: RecordType, config: Config) -> Predicate:
    """A predicate over JSON objects for the expression `text`."""
    tokens = _tokenize(text)
    parser = _Parser(tokens, text, rtype, config)
    predicate = parser.expr()
    if parser.pos < len(tokens):
        tok = tokens[parser.pos]
        raise _error(text, tok.column, f"unexpected '{tok.text}'")
    return predicate


def _error(text: str, column: int, message: str) -> UsageError:
    return UsageError(f"--where: {message} at column {column + 1} of '{text}'")


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if not match or match.end() == pos:
            raise _error(text, pos, f"cannot read '{text[pos : pos + 10]}'")
        if match.group("cmp"):
            raw = match.group("value")
            if not raw and match.group("op") not in ("=", "!="):
                raise _error(
                    text, match.start("value"), f"a value is missing after '{match.group('op')}'"
                )
            tokens.append(
                _Token(
                    "cmp",
                    match.group(0),
                    pos,
                    match.group("field"),
                    match.group("op"),
                    _unquote(raw),
                )
            )
        elif match.group("tag"):
            tokens.append(_Token("tag", match.group(0), pos, value=match.group("tagname")))
        elif match.group("paren"):
            tokens.append(_Token("paren", match.group(0), pos))
        elif match.group("word"):
            tokens.append(_Token("word", match.group(0), pos))
        pos = match.end()
    return tokens


def _unquote(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        return re.sub(r"\\(.)", r"\1", raw[1:-1])
    return raw


class _Parser:
    def __init__(self, tokens: list[_Token], text: str, rtype: RecordType, config: Config) -> None:
        self.tokens = tokens
        self.text = text
        self.rtype = rtype
        self.config = config
        self.pos = 0

    def _peek_word(self, word: str) -> bool:
        if self.pos < len(self.tokens):
            tok = self.tokens[self.pos]
            return tok.kind == "word" and tok.text.lower() == word
        return False

    def expr(self) -> Predicate:
        parts = [self.term()]
        while self._peek_word("or"):
            self.pos += 1
            parts.append(self.term())
        if len(parts) == 1:
            return parts[0]
        return lambda obj: any(p(obj) for p in parts)

    def term(self) -> Predicate:
        parts = [self.factor()]
        while self._peek_word("and"):
            self.pos += 1
            parts.append(self.factor())
        if len(parts) == 1:
            return parts[0]
        return lambda obj: all(p(obj) for p in parts)

    def factor(self) -> Predicate:
        if self.pos >= len(self.tokens):
            raise _error(self.text, len(self.text), "the expression ends too early")
        tok = self.tokens[self.pos]
        self.pos += 1
        if tok.kind == "word" and tok.text.lower() == "not":
            inner = self.factor()
            return lambda obj: not inner(obj)
        if tok.kind == "paren" and tok.text == "(":
            inner = self.expr()
            if self.pos >= len(self.tokens) or self.tokens[self.pos].text != ")":
                raise _error(self.text, tok.column, "this '(' is never closed")
            self.pos += 1
            return inner
        if tok.kind == "tag":
            wanted = tok.value.lower()
            return lambda obj: wanted in (str(t).lower() for t in obj.get("tags") or [])
        if tok.kind == "cmp":
            path = self._path(tok)
            return _comparison(path, tok.op, relative_date(tok.value))
        if tok.kind == "word" and tok.text.lower() not in ("and", "or"):
            path = self._path(tok, tok.text)
            return lambda obj: _present(lookup(obj, path))
        raise _error(self.text, tok.column, f"unexpected '{tok.text}'")

    def _path(self, tok: _Token, name: str | None = None) -> tuple[str, ...]:
        try:
            return field_path(self.rtype, self.config, name or tok.field)
        except UsageError as exc:
            raise UsageError(f"--where: {exc.message}", hint=exc.hint) from exc


_RELATIVE_RE = re.compile(r"today(?:([+-])([0-9]{1,5}))?", re.IGNORECASE)


def relative_date(value: str) -> str:
    """`today`, `today-30`, `today+7` as ISO dates; anything else unchanged."""
    match = _RELATIVE_RE.fullmatch(value)
    if not match:
        return value
    days = int(match.group(2) or 0) * (-1 if match.group(1) == "-" else 1)
    return (dates.today() + dt.timedelta(days=days)).isoformat()


def _present(value: Any) -> bool:
    return value not in (None, "", [], {})


def _number(text: str) -> Decimal | None:
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _compare(actual: Any, op: str, wanted: str) -> bool:
    left = _text(actual)
    if op in ("~", "!~"):
        return wanted.lower() in left.lower()
    lnum, rnum = _number(left), _number(wanted)
    if lnum is not None and rnum is not None:
        a: Any = lnum
        b: Any = rnum
    else:
        a, b = left.lower(), wanted.lower()
        if isinstance(actual, bool) and b in ("true", "false"):
            b = "yes" if b == "true" else "no"
    if op in ("=", "!="):
        return bool(a == b)
    try:
        return bool({"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op])
    except TypeError:
        return False


def _comparison(path: tuple[str, ...], op: str, wanted: str) -> Predicate:
    negative = op in ("!=", "!~")
    positive_op = {"!=": "=", "!~": "~"}.get(op, op)

    def predicate(obj: Mapping[str, Any]) -> bool:
        value = lookup(obj, path)
        items = value if isinstance(value, list) else [] if value in (None, "") else [value]
        if wanted == "" and positive_op == "=":
            return bool(items) if negative else not items
        hit = any(_compare(item, positive_op, wanted) for item in items)
        return not hit if negative else hit

    return predicate


def collation_key(text: str) -> str:
    """Text as it sorts for people: Bäckerei with Backhaus, Émile with Emil, case ignored."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


_EMPTY = 3
_ISO_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9:.]+([Zz]|[+-][0-9:]+)?)?")


def sort_key(path: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple[int, Any]]:
    """Sort by a field: numbers numerically, dates and times in time order (whatever their
    offsets), text case-insensitively, empty values last."""

    def key(obj: Mapping[str, Any]) -> tuple[int, Any]:
        value = lookup(obj, path)
        if isinstance(value, list):
            value = value[0] if value else None
        if value in (None, ""):
            return (_EMPTY, "")
        text = _text(value)
        number = _number(text)
        if number is not None:
            return (0, number)
        if _ISO_RE.fullmatch(text):
            moment = dates.parse_timestamp(text)
            if moment is not None:
                return (1, moment.timestamp())
        return (2, collation_key(text))

    return key


def sort_objects(
    objs: list[dict[str, Any]], path: tuple[str, ...], descending: bool = False
) -> list[dict[str, Any]]:
    """`objs` ordered by the field at `path`; records without a value stay last either way."""
    key = sort_key(path)
    keyed = [(key(o), o) for o in objs]
    filled = [pair for pair in keyed if pair[0][0] != _EMPTY]
    empty = [o for k, o in keyed if k[0] == _EMPTY]
    filled.sort(key=lambda pair: pair[0], reverse=descending)
    return [o for _, o in filled] + empty
