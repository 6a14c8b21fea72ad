"""Joint thresholds: the fewest silent errors within a budget of posts sent to a person."""

from __future__ import annotations

import numpy as np

from training.calibrate import joint_thresholds


def test_joint_thresholds_catch_the_unsure_wrong_posts_within_the_budget() -> None:
    rng = np.random.default_rng(3)
    n = 400
    probs, labels = {}, {}
    for head in ("intent", "urgency"):
        conf = rng.uniform(0.4, 1.0, n)
        p = np.stack([conf, 1 - conf], axis=1)
        probs[head] = p
        # Wrong exactly where the model is unsure (confidence under 0.6): a threshold of 0.6 catches them all.
        labels[head] = np.where(conf < 0.6, 1, 0)
    thresholds, report = joint_thresholds(probs, labels, {"intent": 0.0, "urgency": 0.0}, budget=0.6)
    assert report["flagged"] <= 0.6
    assert report["silent_errors"] == 0.0
    assert all(0.575 <= t <= 0.625 for t in thresholds.values())


def test_an_impossible_budget_flags_as_few_as_it_can() -> None:
    probs = {"h": np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3]])}
    labels = {"h": np.array([1, 1, 1])}
    thresholds, report = joint_thresholds(probs, labels, {"h": 0.0}, budget=0.2)
    assert report["flagged"] == 0.0 and report["silent_errors"] == 1.0
    assert thresholds["h"] <= 0.7
