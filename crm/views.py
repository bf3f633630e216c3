"""Records as scripts and filters see them: the stored fields plus what is derived from them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from crm import pipeline, scoring
from crm.config import Config
from crm.records import Record, to_json


def objects(records: Sequence[Record], config: Config, now: dt.datetime) -> list[dict[str, Any]]:
    """The JSON objects of `records` (all of one type), with their derived fields."""
    objs = [to_json(rec, config) for rec in records]
    if not records:
        return objs
    kind = records[0].type.name
    if kind == "lead":
        scoring.annotate(objs, config)
    elif kind == "deal":
        for obj, rec in zip(objs, records, strict=True):
            line = pipeline.deal_line(rec, config, now)
            obj["weighted"] = None if line.weighted is None else str(line.weighted)
            obj["days_in_stage"] = line.days_in_stage
    return objs
