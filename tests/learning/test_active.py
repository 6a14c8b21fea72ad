"""Active learning: uncertainty from margin and entropy, one pick per cluster, reasons in words."""

from __future__ import annotations

import numpy as np

from learning.active import head_uncertainty, kmeans, random_select, select, uncertainty

LABELS = {"intent": ["complaint", "praise", "question"], "sentiment": ["negative", "positive"]}


def _probs(rows: list[tuple[list[float], list[float]]]) -> dict[str, np.ndarray]:
    return {"intent": np.array([r[0] for r in rows]), "sentiment": np.array([r[1] for r in rows])}


def test_uncertainty_grows_as_the_top_two_labels_draw_level() -> None:
    score, margin, entropy = head_uncertainty(np.array([[0.98, 0.01, 0.01], [0.5, 0.45, 0.05], [1 / 3] * 3]))
    assert score[0] < score[1] < score[2] and np.isclose(score[2], 1.0)
    assert np.allclose(margin, [0.97, 0.05, 0.0]) and entropy[0] < entropy[1] < entropy[2]
    total, per_head = uncertainty(_probs([([0.98, 0.01, 0.01], [0.99, 0.01]), ([0.98, 0.01, 0.01], [0.5, 0.5])]))
    assert total[1] > total[0] and per_head["sentiment"][1] > per_head["intent"][1]


def test_one_pick_per_cluster_so_near_duplicates_do_not_fill_the_queue() -> None:
    unsure, sure = ([0.4, 0.35, 0.25], [0.5, 0.5]), ([0.98, 0.01, 0.01], [0.99, 0.01])
    probs = _probs([unsure, unsure, unsure, ([0.6, 0.3, 0.1], [0.7, 0.3]), sure])
    a, b = np.eye(4)[0], np.eye(4)[1]
    emb = np.vstack([a, a, a + 0.001, b, b])  # posts 0-2 are the same text: one of them is enough
    picks = select(probs, emb, 2, labels=LABELS)
    assert sorted(p.index for p in picks)[1] == 3 and len({p.cluster for p in picks}) == 2
    first = picks[0]
    assert first.index in (0, 1, 2)
    assert first.reasons[0].startswith("sentiment: negative 0.50 vs positive 0.50 (margin 0.00")
    assert first.reasons[-1] == f"cluster {first.cluster + 1} of 2: the best of 3 similar post(s)"
    assert first.to_dict()["heads"]["intent"]["label"] == "complaint"
    no_emb = select(probs, None, 3, labels=LABELS)
    assert [p.index for p in no_emb] == [0, 1, 2] and "without embeddings" in no_emb[0].reasons[-1]


def test_rarity_lifts_posts_that_may_carry_a_label_with_few_examples() -> None:
    from learning.active import label_counts, rarity

    labels = {"intent": ["complaint", "suggestion"]}
    probs = {"intent": np.array([[0.55, 0.45], [0.2, 0.8], [0.9, 0.1]])}
    counts = label_counts({("intent", "complaint"): 99, ("intent", "suggestion"): 0, ("mood", "x"): 3}, labels)
    assert counts == {"intent": [99, 0]}
    r = rarity(probs, counts)
    assert r[1] > r[0] > r[2] and np.isclose(rarity(probs, None), 0).all()
    by_uncertainty = select(probs, None, 1, labels=labels)
    by_rarity = select(probs, None, 1, labels=labels, label_counts=counts)
    assert by_uncertainty[0].index == 0 and by_rarity[0].index == 1
    assert "may be intent suggestion (0.80): 0 labeled so far" in by_rarity[0].reasons


def test_kmeans_and_random_baseline_are_seeded() -> None:
    x = np.vstack([np.zeros((5, 2)), np.ones((5, 2)) * 10])
    labels = kmeans(x, 2, seed=1)
    assert len(set(labels[:5])) == 1 and len(set(labels[5:])) == 1 and labels[0] != labels[5]
    assert random_select(10, 3, seed=4) == random_select(10, 3, seed=4) and len(set(random_select(10, 10))) == 10
    assert select({}, None, 3, labels=LABELS) == [] and select(_probs([]), None, 3, labels=LABELS) == []
