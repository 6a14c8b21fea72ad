"""Test-only: the real server (``serving.server.serve``, uvicorn, workers) around the FakeClassifier.

Run as ``TRIAGE_FAKE_CLASSIFIER=1 python -m tests.serving.fake_server``; settings come from the usual
TRIAGE_* variables, plus ``TRIAGE_FAKE_DELAY_S``: how long a model call sleeps when a text contains
"slow" (to keep requests in flight while the test sends SIGTERM). This lives under tests/ on purpose: production code has no way to run without a real model.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from fastapi import FastAPI

from serving.app import create_app
from serving.server import serve
from serving.settings import ServeSettings, load_settings
from tests.conftest import FAKE_FALLBACK, FAKE_RULES, ROOT
from triage.classify.base import ClassifierOutput
from triage.classify.fake import FakeClassifier
from triage.engine import Engine
from triage.schema import load_schema

FACTORY = "tests.serving.fake_server:create_app_for_test"


class DelayedFake(FakeClassifier):
    delay_s = 0.0

    def predict(self, texts: Sequence[str]) -> ClassifierOutput:
        if any("slow" in t for t in texts):
            time.sleep(self.delay_s)
        return super().predict(texts)


def create_app_for_test() -> FastAPI:
    if os.environ.get("TRIAGE_FAKE_CLASSIFIER") != "1":
        raise RuntimeError("tests.serving.fake_server is a test helper; set TRIAGE_FAKE_CLASSIFIER=1 in tests only")
    schema = load_schema(ROOT / "data" / "schemas" / "default.yaml")
    classifier = DelayedFake(schema, rules=FAKE_RULES, fallback=FAKE_FALLBACK)
    classifier.delay_s = float(os.environ.get("TRIAGE_FAKE_DELAY_S", "0"))
    return create_app(ServeSettings(), engine=Engine(classifier))


if __name__ == "__main__":
    serve(load_settings(), factory=FACTORY, preflight=False)
