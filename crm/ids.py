"""Record ids: readable slugs that can never name a path outside their folder."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

MAX_LEN = 64
SLUG_LEN = 40  # ids made from long titles stop at a word boundary near here
ID_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
# Names Windows reserves whatever the extension; a file called `con.yaml` cannot be created there.
_RESERVED = frozenset(
    {"con", "prn", "aux", "nul"} | {f"com{i}" for i in range(10)} | {f"lpt{i}" for i in range(10)}
)


def is_valid_id(value: str) -> bool:
    """True for `[a-z0-9]` words joined by single hyphens, at most 64 characters."""
    return len(value) <= MAX_LEN and ID_RE.fullmatch(value) is not None and value not in _RESERVED


def slugify(text: str, fallback: str = "record") -> str:
    """A readable id from a name: `Zoë O'Brien & Co.` becomes `zoe-obrien-co`."""
    text = unicodedata.normalize("NFKC", text)
    if not text.isascii():
        from anyascii import anyascii  # transliterates 张伟 to ZhangWei, not to nothing

        text = anyascii(text)
    text = text.lower().replace("'", "").replace("&", " ")
    slug = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    if len(slug) > SLUG_LEN:
        slug = slug[: SLUG_LEN + 1].rsplit("-", 1)[0] or slug[:SLUG_LEN]
    if not slug:
        slug = fallback
    if slug in _RESERVED:
        slug = f"{slug}-1"
    return slug


def unique_id(base: str, taken: Callable[[str], bool]) -> str:
    """`base`, or `base-2`, `base-3`, ... : the first one `taken` says is free."""
    if not taken(base):
        return base
    n = 2
    while taken(f"{base}-{n}"):
        n += 1
    return f"{base}-{n}"


_FILE_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*(?:\.[a-z0-9]+){1,2}")


def is_safe_file_name(value: str) -> bool:
    """A file name kept beside a record (`ada.photo.jpg`): no folder, no dot-file, no `..`."""
    return len(value) <= MAX_LEN + 16 and _FILE_RE.fullmatch(value) is not None
