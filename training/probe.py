"""Did domain adaptation help? A linear probe of the encoder before and after, on real posts.

Both encoders (the base e5 and the MLM-adapted one) embed the real train and dev posts (mean pooling, the
model's own); a logistic regression per head is fitted on train and scored on dev (macro-F1). A frozen
probe isolates what the representation learned from unlabeled text, at a fraction of a fine-tuning run's
cost; the fine-tuned teachers' dev scores are the second measurement when both are trained.

    python -m training.probe --config training/configs/default.yaml --run runs/default
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from training.checkpoint import write_json
from training.config import TrainConfig, load_config
from training.loop import model_device
from training.metrics import macro_f1
from training.model import MultiHeadModel, pad_batch
from training.sources import Example

log = logging.getLogger(__name__)


@torch.inference_mode()
def embed(model: MultiHeadModel, examples: list[Example], batch_size: int = 64) -> np.ndarray:
    model.eval()
    device = model_device(model)
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].ids))
    out = np.zeros((len(examples), model.encoder_config.hidden_size), np.float32)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        ids, mask = pad_batch([examples[i].ids for i in chunk])
        _, pooled = model(ids.to(device), mask.to(device))
        out[chunk] = pooled.float().cpu().numpy()
    return out


def probe_scores(train_x: np.ndarray, train: list[Example], dev_x: np.ndarray, dev: list[Example],
                 heads: list[str]) -> dict[str, float]:
    """Dev macro-F1 per head of a class-balanced logistic regression fitted on the train embeddings."""
    from sklearn.linear_model import LogisticRegression

    scores = {}
    for head in heads:
        tr = [i for i, e in enumerate(train) if head in e.labels]
        dv = [i for i, e in enumerate(dev) if head in e.labels]
        clf = LogisticRegression(max_iter=2000, class_weight="balanced", C=2.0)
        clf.fit(train_x[tr], [train[i].labels[head] for i in tr])
        pred = clf.predict(dev_x[dv])
        scores[head] = macro_f1(np.array([dev[i].labels[head] for i in dv]), pred)
    return scores


def compare_encoders(config: TrainConfig, run: Path) -> dict[str, Any]:
    """Probe scores of the base and the adapted encoder on the real source's train -> dev."""
    from training.prepare import prepare
    from training.pretrain import load_adapted
    from training.train import build_model

    prep = prepare(config, run, resume=True)
    real = next(s.name for s in config.sources if s.kind == "real_labels")
    train, dev = prep.data.train[real], prep.data.dev[real]
    heads = [h.name for h in prep.data.heads if not h.auxiliary]
    plain = config.model_copy(update={"adapt": config.adapt.model_copy(update={"enabled": False})})
    report: dict[str, Any] = {"train": len(train), "dev": len(dev)}
    for name in ("base", "adapted"):
        model = build_model(plain, prep.data.heads, prep, run)
        if name == "adapted" and not load_adapted(model, run):
            raise FileNotFoundError(f"{run} has no adapted encoder: run `triage train --stage adapt` first")
        report[name] = probe_scores(embed(model, train), train, embed(model, dev), dev, heads)
        log.info("probe %s: %s", name, report[name])
    report["delta_points"] = {h: round(100 * (report["adapted"][h] - report["base"][h]), 2) for h in heads}
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.probe", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--run", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    report = compare_encoders(load_config(args.config), args.run)
    write_json(args.run / "adapted" / "probe.json", report)
    print(json.dumps(report["delta_points"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
