"""Engine builders for batch tests: the fake classifier with the suite's keyword rules, no model.

Each is a top-level function ``builder(spec=None) -> Engine``, passed to jobs as
``reclassify(..., engine_builder=make_engine)``: worker processes and Ray actors import it by name.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from batch.spec import EngineSpec
from tests.conftest import FAKE_FALLBACK, FAKE_RULES
from triage.classify.base import ClassifierOutput
from triage.classify.fake import FakeClassifier
from triage.engine import Engine
from triage.resources import default_schema_path
from triage.schema import load_schema
from triage.text.validate import TextLimits


def _fake() -> FakeClassifier:
    return FakeClassifier(load_schema(default_schema_path()), rules=FAKE_RULES, fallback=FAKE_FALLBACK)


def make_engine(spec: EngineSpec | None = None) -> Engine:
    return Engine(_fake())


class _SlowFake(FakeClassifier):
    """Slow enough that a test can kill the job between two chunks."""

    def predict(self, texts: Sequence[str]) -> ClassifierOutput:
        time.sleep(0.002 * len(texts))
        return super().predict(texts)


def make_slow_engine(spec: EngineSpec | None = None) -> Engine:
    return Engine(_SlowFake(load_schema(default_schema_path()), rules=FAKE_RULES, fallback=FAKE_FALLBACK))


def make_lenient_engine(spec: EngineSpec | None = None) -> Engine:
    """Strips bidi override characters instead of rejecting them (limits the API never uses)."""
    return Engine(_fake(), limits=TextLimits(reject_bidi_overrides=False))


def make_routed_engine(spec: EngineSpec | None = None) -> Engine:
    """The fake classifier behind the real loader: the default brand's routing policy, no replies."""
    from triage.loading import load_engine

    return load_engine(classifier=_fake(), brand=spec.brand if spec else None, replies=False)
