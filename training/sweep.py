"""Experiments on one prepared bundle: which recipe choices help on real posts, then the final models.

Every variant fine-tunes a teacher on the same tokenised data and is scored on the dev sources named in
``optim.select_on`` (the real posts of the dev brand). The variants answer the recipe's open questions
one at a time, each measured rather than assumed:

* ``base``       the recipe with domain adaptation and self-training switched off;
* ``adapt``      + continued MLM training on the unlabeled real pool;
* ``fb_head``    + the Hebrew Facebook set on an auxiliary head of its own instead of the care sentiment head;
* ``self_train`` + one round of self-training from the best teacher so far.

The best teacher (by dev score) is then distilled into the student, and both are written compactly
(``training.compact``) with a JSON report, so they can travel back from an accelerator machine.

    python -m training.sweep --config training/configs/default.yaml --bundle B --out runs/sweep --budget-minutes 8
"""

from __future__ import annotations

import argparse
import copy
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from training.checkpoint import write_json
from training.config import TrainConfig, load_config
from training.prepare import Prepared
from training.sources import Example
from training.train import run_adapt, run_self_training, run_teacher, set_threads

log = logging.getLogger(__name__)
FB_SOURCE = "he_fb"
FB_HEAD = "fb_sentiment"


def _variant_config(config: TrainConfig, adapt: bool) -> TrainConfig:
    return config.model_copy(update={"adapt": config.adapt.model_copy(update={"enabled": adapt}),
                                     "self_train": config.self_train.model_copy(update={"enabled": False})})


def fb_on_own_head(prep: Prepared, config: TrainConfig) -> tuple[Prepared, TrainConfig]:
    """The same data with the Facebook rows labeling an auxiliary ``fb_sentiment`` head, not ``sentiment``."""
    from triage.schema import HeadSpec

    sentiment = next(h for h in prep.data.heads if h.name == "sentiment")
    head = HeadSpec(name=FB_HEAD, labels=list(sentiment.labels), auxiliary=True,
                    description="Hebrew Facebook sentiment (political comments), kept off the care head.")
    data = copy.copy(prep.data)
    data.heads = [*prep.data.heads, head]

    def moved(rows: list[Example]) -> list[Example]:
        return [Example(e.text, {FB_HEAD: e.labels["sentiment"]} if "sentiment" in e.labels else {}, e.source,
                        e.split, e.language, e.meta, e.ids) for e in rows]

    for group in (data.train, data.dev, data.test):
        if FB_SOURCE in group:
            group[FB_SOURCE] = moved(group[FB_SOURCE])
    new_config = config.model_copy(update={"auxiliary_heads": [*config.auxiliary_heads, head]})
    return Prepared(data, prep.tokenizer, prep.tokenizer_path, prep.base_dir, prep.base_info, prep.kept), new_config


def _score(report: dict[str, Any], config: TrainConfig) -> dict[str, Any]:
    dev = report["dev"]
    return {"dev_score": report["dev_score"], "best_epoch": report.get("best_epoch"),
            "select_on": config.optim.select_on, "dev": dev, "seconds": report.get("train_seconds")}


def sweep(config: TrainConfig, prep: Prepared, out: Path, budget_minutes: float) -> dict[str, Any]:
    """Run the variants in order while time allows; return the report with the winning teacher folder."""
    started = time.perf_counter()
    results: dict[str, Any] = {}

    def left() -> float:
        return budget_minutes - (time.perf_counter() - started) / 60

    base_cfg = _variant_config(config, adapt=False)
    results["base"] = _score(run_teacher(base_cfg, prep, out / "base" / "teacher", False), base_cfg)
    write_json(out / "sweep.json", results)
    best = ("base", out / "base" / "teacher", base_cfg, prep)
    if config.adapt.enabled and left() > 2:
        adapt_cfg = _variant_config(config, adapt=True)
        results["adapt_mlm"] = _guarded("adapt_mlm", results, run_adapt, adapt_cfg, prep, out / "adapt", False)
        report = _guarded("adapt", results, run_teacher, adapt_cfg, prep, out / "adapt" / "teacher", False)
        if report is not None:
            results["adapt"] = _score(report, adapt_cfg)
            if results["adapt"]["dev_score"] > results[best[0]]["dev_score"]:
                best = ("adapt", out / "adapt" / "teacher", adapt_cfg, prep)
        write_json(out / "sweep.json", results)
    if left() > 2:
        fb_prep, fb_cfg = fb_on_own_head(best[3], best[2])
        folder = out / "fb_head"
        if best[0] == "adapt":
            shutil.copytree(out / "adapt" / "adapted", folder / "adapted", dirs_exist_ok=True)
        report = _guarded("fb_head", results, run_teacher, fb_cfg, fb_prep, folder / "teacher", False)
        if report is not None:
            results["fb_head"] = _score(report, fb_cfg)
            if results["fb_head"]["dev_score"] > results[best[0]]["dev_score"]:
                best = ("fb_head", folder / "teacher", fb_cfg, fb_prep)
        write_json(out / "sweep.json", results)
    if config.self_train.enabled and left() > 3:
        st_cfg = best[2].model_copy(update={"self_train": config.self_train})
        outcome = _guarded("self_train", results, run_self_training, st_cfg, best[3], best[1].parent, best[1], False)
        if outcome is not None:
            chosen, rounds = outcome
            results["self_train"] = {"rounds": rounds, "chosen": chosen.name}
            if chosen != best[1]:
                best = ("self_train", chosen, st_cfg, best[3])
    results["winner"] = {"variant": best[0], "teacher": str(best[1])}
    results["minutes"] = (time.perf_counter() - started) / 60
    write_json(out / "sweep.json", results)
    return {"results": results, "best": best}


def final_student(best: tuple[str, Path, TrainConfig, Prepared], out: Path) -> dict[str, Any] | None:
    """Distil the winning teacher (the recipe's distill settings) into ``out/student``."""
    from training.distill import distill

    _, teacher_dir, cfg, prep = best
    if not cfg.distill.enabled:
        return None
    return distill(cfg, prep.data, teacher_dir, out / "student", prep.tokenizer_path, prep.base_info)


def write_transfer(best: tuple[str, Path, TrainConfig, Prepared], out: Path, report_dir: Path) -> list[Path]:
    """The winning teacher as compact files (int8 rows: it is exported to int8 anyway) in ``report_dir``."""
    from training.compact import compact

    files = compact(best[1], report_dir, "teacher", int8=True)
    write_json(report_dir / "recipe.json", {"variant": best[0], "config": best[2].model_dump(mode="json",
                                                                                             by_alias=True)})
    return files


def _guarded(name: str, results: dict[str, Any], fn: Any, *args: Any) -> Any:
    """Run one experiment; a failure is recorded and the sweep goes on (one lease, no second chance)."""
    try:
        return fn(*args)
    except Exception as exc:  # an experiment's crash must not lose the others' results
        log.exception("%s failed", name)
        results[f"{name}_error"] = f"{type(exc).__name__}: {exc}"
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.sweep", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="Run folder for the variants.")
    parser.add_argument("--report", type=Path, required=True, help="Where the compact models and reports go.")
    parser.add_argument("--budget-minutes", type=float, default=6.0, help="Start no teacher experiment after this.")
    parser.add_argument("--total-minutes", type=float, default=8.5, help="The student stops by this time.")
    parser.add_argument("--device", default=None, help="Override optim.device (e.g. cuda).")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from training.bundle import read_bundle

    config = load_config(args.config)
    if args.device:
        config = config.model_copy(update={"optim": config.optim.model_copy(update={"device": args.device})})
    set_threads(config.optim.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    args.report.mkdir(parents=True, exist_ok=True)
    prep = read_bundle(config, args.bundle, args.out)
    outcome = sweep(config, prep, args.out, args.budget_minutes)
    results = outcome["results"]
    write_json(args.report / "sweep.json", results)
    write_transfer(outcome["best"], args.out, args.report)  # the teacher first: it must come back whatever happens
    left = args.total_minutes - (time.perf_counter() - started) / 60
    name, folder, cfg, best_prep = outcome["best"]
    cfg = cfg.model_copy(update={"distill": cfg.distill.model_copy(update={"max_minutes": max(0.5, left - 0.5)})})
    student = _guarded("student", results, final_student, (name, folder, cfg, best_prep), args.out)
    results["student"] = student
    results["total_minutes"] = (time.perf_counter() - started) / 60
    write_json(args.report / "sweep.json", results)
    if student is not None:
        from training.compact import compact

        compact(args.out / "student", args.report, "student", int8=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
