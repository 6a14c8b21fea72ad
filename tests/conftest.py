"""Shared fixtures: the default schema, a fake classifier, and the path to ../shared."""

from __future__ import annotations

from pathlib import Path

import pytest

from triage.classify.fake import FakeClassifier
from triage.schema import LabelSchema, load_schema

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
DATASETS = SHARED / "datasets"

FAKE_RULES = {
    "intent": {
        "spam": ["crypto", "הרווחתי"],
        "churn_risk": ["cancel", "עובר ל", "מתנתק"],
        "complaint": ["charged twice", "מחכה", "לא עונה", "glass", "זכוכית"],
        "question": ["?"],
        "praise": ["thanks", "תודה"],
    },
    "sentiment": {"negative": ["charged", "מחכה", "cancel", "glass", "זכוכית"], "positive": ["thanks", "תודה"]},
    "urgency": {"critical": ["glass", "זכוכית", "lawyer", "עורך דין"], "high": ["cancel", "עובר ל"]},
}
FAKE_FALLBACK = {"intent": "other", "sentiment": "neutral", "urgency": "normal"}


@pytest.fixture(scope="session")
def default_schema() -> LabelSchema:
    return load_schema(ROOT / "data" / "schemas" / "default.yaml")


@pytest.fixture()
def fake_classifier(default_schema: LabelSchema) -> FakeClassifier:
    return FakeClassifier(default_schema, rules=FAKE_RULES, fallback=FAKE_FALLBACK)


def require_shared() -> Path:
    if not DATASETS.is_dir():
        pytest.skip(
            f"../shared/datasets is absent (looked in {DATASETS}); public-data tests need it beside the project"
        )
    return DATASETS
