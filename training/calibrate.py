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


def fit_temperature(logits: np.ndarray, labels: np.ndarray, lo: float = 0.05, hi: float = 20.0, iters: int = 60) -> float:
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
            calibration[head.name] = calibrate_head(np.concatenate(parts_l), np.concatenate(parts_y), config.calibration)
        else:
            calibration[head.name] = {"temperature": 1.0, "threshold": head.threshold, "n_dev": 0}
        calibration[head.name]["min_margin"] = head.min_margin
        calibration[head.name]["dev_sources"] = names
    return calibration, metrics
