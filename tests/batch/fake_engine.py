"""Engine factories for batch tests: the fake classifier with the suite's keyword rules, no model.

Referenced by dotted path (``tests.batch.fake_engine:make_engine``) from jobs run in subprocesses,
worker processes and Ray actors.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from tests.conftest import FAKE_FALLBACK, FAKE_RULES
from triage.classify.base import ClassifierOutput
from triage.classify.fake import FakeClassifier
from triage.engine import Engine
from triage.resources import default_schema_path
from triage.schema import load_schema


def make_engine() -> Engine:
    return Engine(FakeClassifier(load_schema(default_schema_path()), rules=FAKE_RULES, fallback=FAKE_FALLBACK))


class _SlowFake(FakeClassifier):
    """Slow enough that a test can kill the job between two chunks."""

    def predict(self, texts: Sequence[str]) -> ClassifierOutput:
        time.sleep(0.002 * len(texts))
        return super().predict(texts)


def make_slow_engine() -> Engine:
    return Engine(_SlowFake(load_schema(default_schema_path()), rules=FAKE_RULES, fallback=FAKE_FALLBACK))


def make_strict_engine() -> Engine:
    """Rejects bidi override characters instead of stripping them."""
    from triage.text.validate import TextLimits

    return Engine(
        FakeClassifier(load_schema(default_schema_path()), rules=FAKE_RULES, fallback=FAKE_FALLBACK),
        limits=TextLimits(reject_bidi_overrides=True),
    )


def make_routed_engine() -> Engine:
    """The fake classifier behind the real loader: the default brand's routing policy and replies."""
    from triage.loading import load_engine

    return load_engine(classifier=FakeClassifier(load_schema(default_schema_path()), rules=FAKE_RULES, fallback=FAKE_FALLBACK))
