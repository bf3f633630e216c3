"""Records as scripts and filters see them: the stored fields plus what is derived from them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from crm import dates, pipeline, scoring
from crm.config import Config
from crm.documents import DOCUMENT_TYPES, by_invoice, money_fields
from crm.records import Record, to_json


def objects(
    records: Sequence[Record],
    config: Config,
    now: dt.datetime,
    credit_notes: Sequence[Record] = (),
) -> list[dict[str, Any]]:
    """The JSON objects of `records` (all of one type), with their derived fields.

    For invoices, `credit_notes` are those that may reduce them."""
    objs = [to_json(rec, config) for rec in records]
    if not records:
        return objs
    kind = records[0].type.name
    if kind == "lead":
        scoring.annotate(objs, config)
    elif kind in DOCUMENT_TYPES:
        today = dates.local_date(now)
        notes = by_invoice(credit_notes)
        for obj, rec in zip(objs, records, strict=True):
            obj.update(money_fields(rec, config, today, notes.get(rec.id, ())))
    elif kind == "recurring":
        from crm.invoicing import recurring_state

        today = dates.local_date(now)
        for obj, rec in zip(objs, records, strict=True):
            obj.update(recurring_state(rec, today))
    elif kind == "deal":
        for obj, rec in zip(objs, records, strict=True):
            line = pipeline.deal_line(rec, config, now)
            obj["weighted"] = None if line.weighted is None else str(line.weighted)
            obj["days_in_stage"] = line.days_in_stage
    return objs
