"""How long ``triage train --from RUN --feedback DB`` takes: measured on the tiny recipe, estimated for the real one.

``python -m bench.learning.retrain_time [--corrections 5000] [--tiny-corrections 1000] [--out DIR]``

Nothing here trains the 12-layer model. It

1. **measures** a short warm start of the tiny recipe (a 2-layer random BERT: trains it, then warm-starts
   it with ``--tiny-corrections`` corpus posts as corrections for one epoch) and compares the wall time
   with what ``training.warmstart.plan`` predicted from the examples/s the tiny checkpoint recorded: that
   checks the planner's arithmetic on a run that really happened;
2. **measures** the fixed cost of a real warm start on this machine: reading and tokenising every source
   of the default recipe (``training/configs/default.yaml``, the data the replay sample comes from);
3. **estimates** the real run: ``plan(corrections, ...)`` with the training speed the shipped 12-layer
   model measured on 2 cores when it was trained (``models/default/metrics.json``: examples/s over its
   whole 5-epoch run, batch 32, max_length 96), plus the measured fixed cost. Evaluation passes are
   counted at 3x the training speed (forward only); the ONNX export that follows is not in the figure.

Writes ``retrain_time.{json,md}`` into ``bench/results``. The machine was shared with a long training job
while this ran: the measured parts are slower than on a quiet machine, and say so.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    DEFAULT_MODEL_DIR,
    ROOT,
    machine_info,
    machine_markdown,
    md_table,
    model_info,
    results_dir,
    write_results,
)
from bench.common import log as say

TINY = ROOT / "training" / "configs" / "tiny.yaml"
DEFAULT = ROOT / "training" / "configs" / "default.yaml"


def _load() -> float:
    return os.getloadavg()[0]


def tiny_measurement(work: Path, corrections: int) -> dict[str, Any]:
    """Train the tiny recipe, then time a one-epoch warm start with ``corrections`` corpus posts."""
    from learning.feedback import FeedbackStore
    from training.config import load_config
    from training.train import train
    from training.warmstart import plan, warm_start

    config = load_config(TINY)
    train(config, work / "base")
    rows = [json.loads(line) for line in (ROOT / "data" / "corpus" / "train.jsonl").read_text(
        encoding="utf-8").splitlines()]
    picked = rows[100:100 + corrections]
    url = f"sqlite:///{work / 'fb.db'}"
    store = FeedbackStore(url)
    store.add_many([{"post_id": r["id"], "head": h, "label": r[h], "redacted_text": r["text"]}
                    for r in picked for h in ("intent", "sentiment", "urgency")])
    store.close()
    load_before = _load()
    start = time.perf_counter()
    result = warm_start(work / "base", url, work / "ft", epochs=1)
    wall = time.perf_counter() - start
    p = result.report["plan"]
    predicted = plan(p["corrections"], p["replay_per_epoch"], 48, p["examples_per_second"], epochs=1)
    return {"recipe": "tiny (2-layer random BERT, hidden 64)", "corrections_rows": len(picked) * 3,
            "trained_posts": result.report["counts"]["train_posts"],
            "held_out_posts": result.report["counts"]["held_out_posts"], "plan": p,
            "measured_seconds": round(wall, 1), "train_seconds": result.report["train_seconds"],
            "examples_per_second": result.report["examples_per_second"],
            "checkpoint_examples_per_second": p["examples_per_second"],
            "predicted_seconds": round(predicted.estimated_minutes * 60, 1), "load_average": [load_before, _load()]}


def fixed_cost() -> dict[str, Any]:
    """Read and tokenise every source of the default recipe, as a warm start of the real model does."""
    from tokenizers import Tokenizer

    from training.config import load_config
    from training.data import encode_examples, load_data

    config = load_config(DEFAULT)
    start = time.perf_counter()
    data = load_data(config)
    read_s = time.perf_counter() - start
    tokenizer = Tokenizer.from_file(str(DEFAULT_MODEL_DIR / "tokenizer.json"))
    start = time.perf_counter()
    encode_examples(data.all_examples(), tokenizer, config.max_length)
    return {"recipe": "training/configs/default.yaml (as it is now)", "read_seconds": round(read_s, 1),
            "tokenise_seconds": round(time.perf_counter() - start, 1),
            "train_examples": {k: len(v) for k, v in data.train.items()},
            "per_epoch_caps": {k: v for k, v in data.caps.items() if v},
            "dev_examples": sum(len(v) for v in data.dev.values())}


def estimate(corrections: int, fixed: dict[str, Any]) -> dict[str, Any]:
    from training.warmstart import plan

    metrics = json.loads((DEFAULT_MODEL_DIR / "metrics.json").read_text(encoding="utf-8"))
    speed = float(metrics["examples_per_second"])
    replay_available = sum(fixed["train_examples"].values())
    the_plan = plan(corrections, replay_available, fixed["dev_examples"], speed)
    fixed_s = fixed["read_seconds"] + fixed["tokenise_seconds"] + 10.0  # + loading the 12-layer checkpoint
    total = the_plan.train_minutes * 60 + the_plan.eval_minutes * 60 + fixed_s
    return {"corrections": corrections, "training_examples_per_second": speed,
            "speed_source": f"{metrics.get('model')}: {metrics.get('train_seconds', 0):.0f} s for its 5-epoch "
                            "training run on this 2-core machine (metrics.json)",
            "plan": the_plan.to_dict(), "fixed_seconds": round(fixed_s, 1), "estimated_minutes": round(total / 60, 1),
            "within_20_minutes": total <= 20 * 60}


def markdown(result: dict[str, Any], header: dict[str, Any]) -> str:
    tiny, fixed, est = result["tiny"], result["fixed"], result["estimates"]
    rows = [[e["corrections"], e["plan"]["epochs"], e["plan"]["corrections_per_epoch"], e["plan"]["replay_per_epoch"],
             e["plan"]["train_minutes"], e["plan"]["eval_minutes"], round(e["fixed_seconds"] / 60, 1),
             e["estimated_minutes"], "yes" if e["within_20_minutes"] else "no"] for e in est]
    tiny_rows = [["corrections", f"{tiny['trained_posts']} posts trained ({tiny['held_out_posts']} held out)"],
                 ["epochs / replay per epoch", f"{tiny['plan']['epochs']} / {tiny['plan']['replay_per_epoch']}"],
                 ["predicted by the planner", f"{tiny['predicted_seconds']} s (from the checkpoint's "
                  f"{tiny['checkpoint_examples_per_second']} examples/s)"],
                 ["measured wall time", f"{tiny['measured_seconds']} s (training {tiny['train_seconds']} s at "
                  f"{tiny['examples_per_second']} examples/s)"],
                 ["load average before / after", " / ".join(f"{x:.2f}" for x in tiny["load_average"])]]
    return "\n\n".join([
        "# Warm-start retraining time",
        "**The 12-layer figures are estimates, not measurements**: no 12-layer training ran for this file (the "
        "machine was busy with another training job). They combine the training speed the shipped model "
        "measured on this 2-core machine over its whole training run with the fixed costs measured here.",
        "## Estimate for the real model (`triage train --from runs/default --feedback DB_URL`)",
        md_table(["corrected posts", "epochs", "corrections / epoch", "replay / epoch", "training min",
                  "evaluation min", "fixed min", "estimated total min", "≤ 20 min"], rows),
        f"Training speed: **{est[0]['training_examples_per_second']:.2f} examples/s** ({est[0]['speed_source']}). "
        f"Fixed cost measured now: reading the default recipe's sources {fixed['read_seconds']} s, tokenising "
        f"them {fixed['tokenise_seconds']} s (+10 s assumed for loading the checkpoint). Evaluation (dev after each "
        f"epoch and calibration: {fixed['dev_examples']} examples each) is counted at 3x the training speed. Not "
        "included: `triage export` (ONNX, int8, test evaluation), a few minutes more.",
        "How the planner spends the budget: every correction once per epoch plus as many replayed original "
        "examples (at least 256), as many epochs (up to 3) as fit in 20 minutes; when even one epoch does not "
        "fit, fewer examples are drawn per epoch. The loop also stops at the budget whatever the estimate said.",
        "## Measured: a short warm start of the tiny recipe",
        md_table(["", ""], tiny_rows),
        "The tiny run checks the planner's arithmetic on a run that happened; its speed says nothing about the "
        "12-layer model.",
        "## Where and what", machine_markdown(header),
    ])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corrections", type=int, nargs="*", default=[200, 1000, 5000])
    ap.add_argument("--tiny-corrections", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="triage-retrain-") as tmp:
        say("tiny warm start")
        tiny = tiny_measurement(Path(tmp), args.tiny_corrections)
    say("fixed cost of the default recipe's data")
    fixed = fixed_cost()
    result = {"tiny": tiny, "fixed": fixed, "estimates": [estimate(n, fixed) for n in args.corrections],
              "seconds": round(time.perf_counter() - t0, 1)}
    header = {"benchmark": "learning", "smoke": False, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "command": "python -m bench.learning.retrain_time", "machine": machine_info(),
              "git": {"commit": "(the commit that adds this file)"}, "model": model_info(DEFAULT_MODEL_DIR)}
    out = results_dir(False, args.out)
    write_results("retrain_time", {"header": header, **result}, markdown(result, header), out)
    say(f"wrote {out}/retrain_time.{{json,md}}")
    return result


if __name__ == "__main__":
    main()
