"""Calibration on dev: one temperature per head, then a confidence threshold per head.

* **Temperature**: the T > 0 that minimises the negative log-likelihood of ``softmax(logits / T)`` on
  the dev examples labeled for that head (a 1-D convex problem in log T: golden-section search).
* **Threshold**: the lowest confidence t such that dev accuracy over the examples with calibrated
  confidence >= t reaches ``target_accuracy`` (selective classification): below it, a person checks
  the post. Clipped to [min_threshold, max_threshold]. The coverage at t is recorded alongside.
* **min_margin** stays the schema's default (not tuned).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from training.config import CalibrationConfig, TrainConfig
from training.loop import dev_metrics
from training.metrics import expected_calibration_error, softmax
from training.model import MultiHeadModel
from training.sources import Example


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    p = softmax(logits, temperature)
    return float(-np.log(np.clip(p[np.arange(len(labels)), labels], 1e-12, None)).mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray, lo: float = 0.05, hi: float = 20.0,
                    iters: int = 60) -> float:
    """Temperature minimising dev NLL (golden-section search on log T)."""
    if len(labels) == 0:
        return 1.0
    a, b = math.log(lo), math.log(hi)
    g = (math.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = nll(logits, labels, math.exp(c)), nll(logits, labels, math.exp(d))
    for _ in range(iters):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = nll(logits, labels, math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = nll(logits, labels, math.exp(d))
    return float(math.exp((a + b) / 2))


def selective_threshold(probs: np.ndarray, labels: np.ndarray, config: CalibrationConfig) -> tuple[float, float, float]:
    """(threshold, dev accuracy above it, coverage above it)."""
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    grid = np.round(np.arange(config.min_threshold, config.max_threshold + 1e-9, 0.01), 2)
    chosen = float(config.max_threshold)
    for t in grid:
        sel = conf >= t
        if sel.sum() >= 10 and correct[sel].mean() >= config.target_accuracy:
            chosen = float(t)
            break
    sel = conf >= chosen
    acc = float(correct[sel].mean()) if sel.any() else float("nan")
    return chosen, acc, float(sel.mean()) if len(sel) else 0.0


def calibrate_head(logits: np.ndarray, labels: np.ndarray, config: CalibrationConfig) -> dict[str, Any]:
    """Temperature, threshold and the dev figures behind them for one head."""
    t = fit_temperature(logits, labels)
    probs = softmax(logits, t)
    threshold, acc, coverage = selective_threshold(probs, labels, config)
    return {
        "temperature": t,
        "threshold": threshold,
        "n_dev": len(labels),
        "nll_before": nll(logits, labels, 1.0) if len(labels) else None,
        "nll_after": nll(logits, labels, t) if len(labels) else None,
        "ece_before": expected_calibration_error(softmax(logits, 1.0), labels) if len(labels) else None,
        "ece_after": expected_calibration_error(probs, labels) if len(labels) else None,
        "accuracy_above_threshold": acc,
        "coverage_above_threshold": coverage,
        "target_accuracy": config.target_accuracy,
    }


def calibrate_model(model: MultiHeadModel, dev: dict[str, list[Example]], config: TrainConfig) -> tuple[dict, dict]:
    """(calibration per head, dev metrics per source and head) for the model as it is now."""
    metrics, logits = dev_metrics(model, dev, config.optim.eval_batch_size)
    calibration = {}
    preferred = config.calibration.sources
    for head in model.head_specs:
        labeled = [n for n, rows in dev.items() if any(head.name in e.labels for e in rows)]
        # Fit on the preferred dev sources (the real posts) when they label this head; else on all that do.
        names = [n for n in labeled if preferred is None or n in preferred] or labeled
        parts_l, parts_y = [], []
        for name in names:
            rows = dev[name]
            sel = [i for i, e in enumerate(rows) if head.name in e.labels]
            parts_l.append(logits[name][head.name][sel])
            parts_y.append(np.array([rows[i].labels[head.name] for i in sel]))
        if parts_l:
            calibration[head.name] = calibrate_head(np.concatenate(parts_l), np.concatenate(parts_y),
                                                    config.calibration)
        else:
            calibration[head.name] = {"temperature": 1.0, "threshold": head.threshold, "n_dev": 0}
        calibration[head.name]["min_margin"] = head.min_margin
        calibration[head.name]["dev_sources"] = names
    public = [h.name for h in model.head_specs if not h.auxiliary]
    apply_joint_thresholds(calibration, logits, dev, public, config.calibration)
    return calibration, metrics


def joint_thresholds(probs: dict[str, np.ndarray], labels: dict[str, np.ndarray], min_margins: dict[str, float],
                     budget: float, grid: np.ndarray | None = None) -> tuple[dict[str, float], dict[str, float]]:
    """Per-head thresholds that leave the fewest silent errors while flagging at most ``budget`` of the posts.

    A post is flagged (sent to a person) when any head's confidence is under its threshold or its top-2
    margin under the head's minimum; it is a silent error when some head is wrong and it is not flagged.
    Thresholds per head are picked jointly from ``grid`` (exhaustively: 3 heads x 27 values); per-head
    accuracy targets cannot see that the heads' uncertainties overlap on the same posts.
    """
    heads = list(probs)
    grid = np.round(np.arange(0.30, 0.951, 0.025), 3) if grid is None else grid
    conf = {h: probs[h].max(axis=1) for h in heads}
    wrong = np.zeros(len(next(iter(labels.values()))), bool)
    margin_flag = np.zeros_like(wrong)
    for h in heads:
        top2 = np.sort(probs[h], axis=1)[:, -2:]
        margin_flag |= (top2[:, 1] - top2[:, 0]) < min_margins.get(h, 0.0)
        wrong |= probs[h].argmax(axis=1) != labels[h]
    below = [conf[h][None, :] < grid[:, None] for h in heads]  # (grid, posts) per head
    flagged = margin_flag[None, :]
    for i, b in enumerate(below):
        shape = [1] * len(heads) + [b.shape[1]]
        shape[i] = len(grid)
        flagged = flagged | b.reshape(shape)
    flag_rate = flagged.mean(axis=-1)
    silent = (wrong & ~flagged).mean(axis=-1)
    feasible = flag_rate <= budget
    if not feasible.any():
        best = np.unravel_index(np.argmin(flag_rate), flag_rate.shape)
    else:
        score = np.where(feasible, silent + 1e-3 * flag_rate, np.inf)  # ties: the fewer flagged
        best = np.unravel_index(np.argmin(score), score.shape)
    chosen = {h: float(grid[best[i]]) for i, h in enumerate(heads)}
    return chosen, {"flagged": float(flag_rate[best]), "silent_errors": float(silent[best]),
                    "wrong_any": float(wrong.mean()), "posts": len(wrong), "budget": budget}


def apply_joint_thresholds(calibration: dict[str, Any], logits: dict[str, dict[str, np.ndarray]],
                           dev: dict[str, list[Example]], heads: list[str], config: CalibrationConfig) -> None:
    """Replace the public heads' thresholds in ``calibration`` by :func:`joint_thresholds` on the preferred
    dev sources' posts that are labeled for every public head (when ``human_budget`` is set)."""
    if config.human_budget is None:
        return
    names = [n for n in dev if config.sources is None or n in config.sources]
    probs: dict[str, list[np.ndarray]] = {h: [] for h in heads}
    labels: dict[str, list[np.ndarray]] = {h: [] for h in heads}
    for name in names:
        rows = [i for i, e in enumerate(dev[name]) if all(h in e.labels for h in heads)]
        for h in heads:
            probs[h].append(softmax(logits[name][h][rows], calibration[h]["temperature"]))
            labels[h].append(np.array([dev[name][i].labels[h] for i in rows], dtype=int))
    if not any(len(p) for parts in probs.values() for p in parts):
        return
    chosen, report = joint_thresholds({h: np.concatenate(probs[h]) for h in heads},
                                      {h: np.concatenate(labels[h]) for h in heads},
                                      {h: calibration[h].get("min_margin", 0.0) for h in heads}, config.human_budget)
    for h, t in chosen.items():
        calibration[h]["threshold"] = t
        calibration[h]["joint"] = report
