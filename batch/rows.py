"""A ``TriageResult`` as flat output columns.

The columns depend on the model's schema (one label column and one ``p_<head>`` column per public head;
no head name is written here) and on whether the engine routes. Probabilities and entities are JSON
strings so that every format (CSV included) holds them the same way; JSON Lines output turns them back
into nested values.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from batch.io import ResultField
from triage.types import TriageResult

STATUS_OK = "ok"
STATUS_MANUAL = "manual"
STATUS_REJECTED = "rejected"
ROUTING_FIELDS: tuple[str, ...] = ("queue", "priority", "reply_mode", "needs_human")


def result_fields(heads: Sequence[str], has_routing: bool) -> list[ResultField]:
    """The columns a job adds, in output order."""
    fields = [ResultField("language", pa.string())]
    fields += [ResultField(h, pa.string()) for h in heads]
    fields += [ResultField(f"p_{h}", pa.string(), json=True) for h in heads]
    fields += [ResultField("entities", pa.string(), json=True), ResultField("redacted_text", pa.string())]
    if has_routing:
        fields += [
            ResultField("queue", pa.string()),
            ResultField("priority", pa.string()),
            ResultField("reply_mode", pa.string()),
            ResultField("needs_human", pa.bool_()),
        ]
    fields += [
        ResultField("model_version", pa.string()),
        ResultField("reclassified_at", pa.string()),
        ResultField("reclassify_status", pa.string(), always=True),
        ResultField("reclassify_error", pa.string(), always=True),
    ]
    return fields


def dumps_compact(value: Any) -> str:
    # ensure_ascii=False keeps Hebrew readable; the fixed separators keep the bytes stable.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def flatten(result: TriageResult, heads: Sequence[str], has_routing: bool, reclassified_at: str) -> dict[str, Any]:
    """The output values of one scored post (status and error excluded)."""
    row: dict[str, Any] = {"language": result.language.language}
    for h in heads:
        row[h] = result.labels[h]
    for h in heads:
        row[f"p_{h}"] = dumps_compact(result.heads[h].probabilities)
    row["entities"] = dumps_compact([e.model_dump(mode="json") for e in result.entities])
    row["redacted_text"] = result.redacted_text
    if has_routing:
        r = result.routing
        row["queue"] = r.queue if r else None
        row["priority"] = r.priority if r else None
        row["reply_mode"] = r.reply_mode if r else None
        row["needs_human"] = r.needs_human if r else None
    row["model_version"] = result.model_version
    row["reclassified_at"] = reclassified_at
    return row
