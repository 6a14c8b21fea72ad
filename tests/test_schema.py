from __future__ import annotations

from pathlib import Path

import pytest

from triage.errors import ConfigError
from triage.schema import load_schema

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("path", sorted((ROOT / "data" / "schemas").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_schemas_validate(path: Path) -> None:
    schema = load_schema(path)
    assert schema.heads and all(len(h.labels) >= 2 for h in schema.heads)


def test_default_schema_matches_the_taxonomy() -> None:
    schema = load_schema(ROOT / "data" / "schemas" / "default.yaml")
    assert schema.head("intent").labels == [
        "spam", "churn_risk", "complaint", "request", "purchase_intent", "question", "suggestion", "praise", "other",
    ]
    assert schema.head("sentiment").labels == ["negative", "neutral", "positive"]
    assert schema.head("urgency").labels == ["critical", "high", "normal", "low"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\nheads: []\n", "heads"),
        ("name: x\nheads:\n  - name: a\n    labels: [p, p]\n", "twice"),
        ("name: x\nheads:\n  - name: a\n    labels: [p, q]\n    colour: red\n", "colour"),
        ("name: x\nheads: [\n", "not valid YAML"),
    ],
)
def test_bad_schemas_are_rejected_with_the_reason(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_schema(path)
