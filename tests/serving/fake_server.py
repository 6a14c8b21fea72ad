"""Test-only: the real server (``serving.server.serve``, supervisor, workers) around the FakeClassifier.

Run as ``TRIAGE_FAKE_CLASSIFIER=1 python -m tests.serving.fake_server``; settings come from the usual
TRIAGE_* variables, plus:

- ``TRIAGE_FAKE_DELAY_S``: how long a model call sleeps when a text contains "slow" (to keep requests in
  flight while a test sends SIGTERM, or to get an inference call stuck);
- ``TRIAGE_FAKE_CRASH=1``: every worker's app factory raises, as a worker with a start-up bug would.

This lives under tests/ on purpose: production code has no way to run without a real model.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence

from fastapi import FastAPI

from serving.app import create_app, text_limits, worker_settings
from serving.server import serve
from serving.settings import load_settings
from tests.conftest import FAKE_FALLBACK, FAKE_RULES, ROOT
from triage.classify.base import ClassifierOutput
from triage.classify.fake import FakeClassifier
from triage.engine import Engine
from triage.errors import TriageError
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
    if os.environ.get("TRIAGE_FAKE_CRASH") == "1":
        raise RuntimeError("a start-up bug in the worker")
    schema = load_schema(ROOT / "data" / "schemas" / "default.yaml")
    classifier = DelayedFake(schema, rules=FAKE_RULES, fallback=FAKE_FALLBACK)
    classifier.delay_s = float(os.environ.get("TRIAGE_FAKE_DELAY_S", "0"))
    settings = worker_settings()
    return create_app(settings, engine=Engine(classifier, limits=text_limits(settings)))


def main() -> int:
    """What `triage serve` does, with the fake factory: one line and exit 2 on a user error."""
    try:
        serve(load_settings(), factory=FACTORY, preflight=False)
    except TriageError as exc:
        sys.stderr.write(f"error [{exc.code}]: {exc}\n")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
