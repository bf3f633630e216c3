"""Text as other programs write it: byte encodings, and cells a spreadsheet would run."""

from __future__ import annotations

import re

_NUMBER_RE = re.compile(r"[-+]?[0-9]+(?:\.[0-9]+)?")


def sniff_utf16(data: bytes) -> str | None:
    """`utf-16-le` or `utf-16-be` for UTF-16 without a byte-order mark, else None.

    Mostly-ASCII UTF-16 has a NUL in every other byte: the even ones for big-endian.
    """
    sample = data[:4096]
    if len(sample) < 8:
        return None
    even, odd = sample[0::2], sample[1::2]
    nul_even, nul_odd = even.count(0) / len(even), odd.count(0) / len(odd)
    if nul_odd > 0.3 and nul_even < 0.05:
        return "utf-16-le"
    if nul_even > 0.3 and nul_odd < 0.05:
        return "utf-16-be"
    return None


def neutralise(cell: str, *, keep_numbers: bool = True) -> str:
    """A cell no spreadsheet runs as a formula: text starting with = + - @ TAB or CR gets a
    leading apostrophe. `keep_numbers` leaves plain numbers (`-50.00`, `+1`) as they are."""
    if not cell or cell[0] not in "=+-@\t\r":
        return cell
    if keep_numbers and _NUMBER_RE.fullmatch(cell):
        return cell
    return "'" + cell
