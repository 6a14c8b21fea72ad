"""A ``TriageResult`` as flat output columns.

The columns depend on the model's schema (one label column and one ``p_<head>`` column per public head;
no head name is written here) and on whether the engine routes. Probabilities, entities and routing
reasons are JSON strings so that every format (CSV included) holds them the same way; JSON Lines output
turns them back into nested values.

Routing columns (only when the engine routes), enough to plan a backlog:

- ``queue``, ``priority``, ``rule`` (the policy rule that matched, or ``default``);
- ``sla_minutes`` (the SLA budget) and ``first_response_due`` (ISO 8601, UTC; counted from the post's
  time when the input has one, else from the job's ``reclassified_at``);
- ``reply_mode`` (public / private), ``actions`` (comma-joined, e.g. ``reply,escalate``),
  ``needs_human`` and ``reasons`` (a JSON list of why the rule matched).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import pyarrow as pa

from batch.jsonline import dumps_compact
from triage.types import RoutingDecision, TriageResult


@dataclass(frozen=True)
class ResultField:
    """One column the job adds. ``json``: held as a JSON string (nested in JSON Lines output)."""

    name: str
    type: pa.DataType
    json: bool = False
    # Set on every row, also rows that were not scored (status and error).
    always: bool = False


ROUTING_FIELDS: tuple[ResultField, ...] = (
    ResultField("queue", pa.string()),
    ResultField("priority", pa.string()),
    ResultField("rule", pa.string()),
    ResultField("sla_minutes", pa.int64()),
    ResultField("first_response_due", pa.string()),
    ResultField("reply_mode", pa.string()),
    ResultField("actions", pa.string()),
    ResultField("needs_human", pa.bool_()),
    ResultField("reasons", pa.string(), json=True),
)


def result_fields(heads: Sequence[str], has_routing: bool) -> list[ResultField]:
    """The columns a job adds, in output order."""
    fields = [ResultField("language", pa.string())]
    fields += [ResultField(h, pa.string()) for h in heads]
    fields += [ResultField(f"p_{h}", pa.string(), json=True) for h in heads]
    fields += [ResultField("entities", pa.string(), json=True), ResultField("redacted_text", pa.string())]
    if has_routing:
        fields += ROUTING_FIELDS
    fields += [
        ResultField("model_version", pa.string()),
        ResultField("reclassified_at", pa.string()),
        ResultField("reclassify_status", pa.string(), always=True),
        ResultField("reclassify_error", pa.string(), always=True),
    ]
    return fields


def _routing(r: RoutingDecision | None) -> dict[str, Any]:
    if r is None:
        return {f.name: None for f in ROUTING_FIELDS}
    due = r.first_response_due
    due = due.replace(tzinfo=UTC) if due.tzinfo is None else due.astimezone(UTC)
    return {
        "queue": r.queue,
        "priority": r.priority,
        "rule": r.rule,
        "sla_minutes": r.sla_minutes,
        "first_response_due": due.isoformat(),
        "reply_mode": r.reply_mode,
        "actions": ",".join(r.actions),
        "needs_human": r.needs_human,
        "reasons": dumps_compact(list(r.reasons)),
    }


def flatten(
    result: TriageResult, heads: Sequence[str], has_routing: bool, reclassified_at: str
) -> dict[str, Any]:
    """The output values of one scored post (status and error excluded)."""
    row: dict[str, Any] = {"language": result.language.language}
    for h in heads:
        row[h] = result.labels[h]
    for h in heads:
        row[f"p_{h}"] = dumps_compact(result.heads[h].probabilities)
    row["entities"] = dumps_compact([e.model_dump(mode="json") for e in result.entities])
    row["redacted_text"] = result.redacted_text
    if has_routing:
        row.update(_routing(result.routing))
    row["model_version"] = result.model_version
    row["reclassified_at"] = reclassified_at
    return row
