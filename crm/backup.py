"""The whole CRM as one JSON document, and back: for backups, scripts and moving machines.

The document (docs/format.md#json-export) holds every record as its file holds it, the files
kept beside records (photos, issued invoices) in base64, and crm.yaml as text.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from crm import ids
from crm.dates import iso
from crm.errors import DataError
from crm.models import RECORD_TYPES, RecordType

FORMAT = "crm-export"
VERSION = 1
_DATE_RE = re.compile(r"\d{4}-\d\d-\d\d")
_TIMESTAMP_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)?")


def document(
    records: Mapping[str, Sequence[tuple[str, Mapping[str, Any]]]],
    files: Mapping[str, bytes],
    config_text: str | None,
    now: dt.datetime,
) -> dict[str, Any]:
    """The export document: `records` maps a type's folder name to (id, data) pairs."""
    doc: dict[str, Any] = {"format": FORMAT, "version": VERSION, "exported_at": iso(now)}
    if config_text is not None:
        doc["config"] = config_text
    doc["records"] = {
        plural: {rid: dict(data) for rid, data in sorted(pairs)}
        for plural, pairs in records.items()
    }
    doc["files"] = {
        name: base64.b64encode(data).decode("ascii") for name, data in sorted(files.items())
    }
    return doc


@dataclass(frozen=True, slots=True)
class Contents:
    """What an export document holds, checked."""

    records: list[tuple[RecordType, str, dict[str, Any]]]
    files: list[tuple[RecordType, str, str, bytes]]  # type, record id, suffix, bytes
    config: str | None


def read_document(doc: Any, source: str) -> Contents:
    """The records and files of an export document; DataError naming what is wrong."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise DataError(source, f'is not a crm export (no "format": "{FORMAT}")')
    if doc.get("version") != VERSION:
        raise DataError(source, f"is a version {doc.get('version')} export; this crm reads 1")
    by_plural = {t.plural: t for t in RECORD_TYPES.values()}
    records: list[tuple[RecordType, str, dict[str, Any]]] = []
    groups = doc.get("records") or {}
    if not isinstance(groups, dict):
        raise DataError(source, "records: must map record types to records")
    for plural, group in groups.items():
        rtype = by_plural.get(plural)
        if rtype is None or not isinstance(group, dict):
            raise DataError(source, f"records.{plural}: not a record type crm knows")
        for rid, data in group.items():
            if not isinstance(rid, str) or not ids.is_valid_id(rid):
                raise DataError(source, f"records.{plural}: '{rid}' is not a valid id")
            if not isinstance(data, dict):
                raise DataError(source, f"records.{plural}.{rid}: must be a mapping of fields")
            records.append((rtype, rid, data))
    files: list[tuple[RecordType, str, str, bytes]] = []
    blobs = doc.get("files") or {}
    if not isinstance(blobs, dict):
        raise DataError(source, "files: must map file names to base64 text")
    for name, text in blobs.items():
        folder, _, file_name = str(name).partition("/")
        rtype = by_plural.get(folder)
        rid, _, suffix = file_name.partition(".")
        record_file = suffix.rsplit(".", 1)[-1] in ("yaml", "yml")
        if (
            rtype is None
            or record_file
            or not ids.is_valid_id(rid)
            or not ids.is_safe_file_name(file_name)
        ):
            raise DataError(source, f"files: '{name}' is not a file kept beside a record")
        try:
            data = base64.b64decode(str(text), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise DataError(source, f"files.{name}: not base64 ({exc})") from exc
        files.append((rtype, rid, suffix, data))
    config = doc.get("config")
    if config is not None and not isinstance(config, str):
        raise DataError(source, "config: must be the text of crm.yaml")
    return Contents(records, files, config)


def typed(value: Any) -> Any:
    """JSON values as a record file writes them: ISO dates and timestamps unquoted again."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    if isinstance(value, str):
        if _DATE_RE.fullmatch(value):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                return value
        if _TIMESTAMP_RE.fullmatch(value):
            try:
                moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                return value
            return moment if iso(moment) == value else value
    return value
