"""crm merge-file: git's merge driver for record files."""

from __future__ import annotations


def merge_file() -> None:
    """Three-way merge of a record file, field by field."""
