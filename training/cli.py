"""``triage train | export | evaluate``: thin shells over ``training`` (imported lazily: it needs torch)."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from triage_cli.common import echo_json, user_errors


def _training_logs() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _require_training(modules: tuple[str, ...] = ("torch", "transformers", "datasets")) -> None:
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        typer.echo(f"error: this command needs the train extra (pip install -e '.[train]'); missing {missing}",
                   err=True)
        raise typer.Exit(2)


def train(
    config: Path | None = typer.Option(None, "--config", help="Training recipe (YAML), e.g. "
                                       "training/configs/default.yaml (with --from: the checkpoint's own recipe)."),
    out: Path | None = typer.Option(None, "--out", help="Run folder (default runs/<recipe name>)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the run folder's last checkpoint."),
    stage: str = typer.Option("all", "--stage", help="all | adapt | teacher | self-train | student."),
    bundle: Path | None = typer.Option(None, "--bundle", help="A prepared bundle (python -m training.bundle) "
                                       "to train from instead of the sources and base model here."),
    from_model: Path | None = typer.Option(None, "--from", help="Warm start: continue this run folder's (or "
                                           "checkpoint folder's) model with --feedback; see docs/LEARNING.md."),
    feedback: str | None = typer.Option(None, "--feedback", help="With --from: the feedback database URL "
                                        "(sqlite:///./triage-feedback.db) or a JSON Lines export of it."),
    budget_minutes: float = typer.Option(20.0, "--budget-minutes", help="With --from: the time the run may take."),
    epochs: int | None = typer.Option(None, "--epochs", help="With --from: epochs (default: as many as fit the "
                                      "budget, at most 3)."),
    lr_scale: float = typer.Option(0.5, "--lr-scale", help="With --from: learning rates x this (of the recipe's)."),
) -> None:
    """Fine-tune the encoder with one head per schema head (and distil a student when the recipe says so)."""
    _require_training()
    _training_logs()
    if from_model is not None or feedback is not None:
        _warm_start(from_model, feedback, config, out, budget_minutes, epochs, lr_scale)
        return
    if config is None:
        typer.echo("error [usage]: give --config RECIPE (or --from RUN --feedback DB_URL for a warm start)", err=True)
        raise typer.Exit(2)
    from training.config import load_config
    from training.train import STAGES
    from training.train import train as run_training

    if stage not in STAGES:
        typer.echo(f"error: --stage must be one of {', '.join(STAGES)}", err=True)
        raise typer.Exit(2)
    with user_errors():
        cfg = load_config(config)
        result = run_training(cfg, out or Path("runs") / cfg.name, resume=resume, stage=stage, bundle=bundle)
    typer.echo(result.summary)
    for note in result.notes:
        typer.echo(f"note: {note}")
    typer.echo(f"final checkpoint: {result.final} ({result.seconds / 60:.1f} min). "
               f"Next: triage export {result.out_dir} MODEL_DIR")


def _warm_start(from_model: Path | None, feedback: str | None, config: Path | None, out: Path | None,
                budget_minutes: float, epochs: int | None = None, lr_scale: float = 0.5) -> None:
    """``triage train --from RUN --feedback DB``: training.warmstart (corrections + replay, within the budget)."""
    if from_model is None or not feedback:
        typer.echo("error [usage]: a warm start needs both --from RUN and --feedback DB_URL", err=True)
        raise typer.Exit(2)
    from training.config import load_config
    from training.warmstart import warm_start

    with user_errors():
        cfg = load_config(config) if config is not None else None
        target = out or Path("runs") / f"{from_model.name}-ft"
        result = warm_start(from_model, feedback, target, config=cfg, budget_minutes=budget_minutes, epochs=epochs,
                            lr_scale=lr_scale)
    typer.echo(result.summary)
    for note in result.notes:
        typer.echo(f"note: {note}")
    typer.echo(f"warm start: {result.report['version']} from {result.report['from_version']}, "
               f"{result.report['counts']['train_posts']} corrected posts + replay, {result.seconds / 60:.1f} min. "
               f"Next: triage export {result.out_dir} MODEL_DIR && triage models add MODEL_DIR")


def export(
    checkpoint: Path = typer.Argument(..., help="A run folder (its final checkpoint) or a checkpoint folder."),
    out_dir: Path = typer.Argument(..., help="Model folder to write (replaced if it exists)."),
    int8: bool | None = typer.Option(None, "--int8/--no-int8", help="Try the int8 candidates: int8 weights, and static "
                                     "int8 compute where the recipe's export.int8_compute is on (default: as the "
                                     "recipe says)."),
    test: bool | None = typer.Option(None, "--test/--no-test", help="Evaluate on the test splits for the model card."),
    threads: int = typer.Option(2, "--threads", help="CPU threads for export and evaluation."),
    recipe: Path | None = typer.Option(None, "--recipe", help="Take the calibration and export sections from this "
                                       "recipe instead of the one the checkpoint was trained with."),
    previous: Path | None = typer.Option(None, "--previous", help="Model folder to compare with on the same test "
                                         "rows (default: the model OUT_DIR holds now, which this export replaces)."),
    name: str | None = typer.Option(None, "--name", help="The artifact's name in its manifest and card (default: "
                                    "the recipe's export.name), e.g. triage-fast for a model beside the default."),
    max_int8_drop: float | None = typer.Option(None, "--max-int8-drop", min=0.0, help="Keep int8 weights when they "
                                               "cost less than this many dev macro-F1 points on every head (default: "
                                               "the recipe's export.max_int8_drop_points)."),
) -> None:
    """Write the self-describing model folder: model.onnx, tokenizer.json, manifest.json, metrics.json, README.md."""
    _require_training()
    _training_logs()
    from training.export import export_artifact

    with user_errors():
        metrics = export_artifact(checkpoint, out_dir, int8=int8, evaluate_test=test, threads=threads,
                                  previous=previous, recipe=recipe, name=name,
                                  max_int8_drop=max_int8_drop)
    onnx = metrics["onnx"]
    typer.echo(f"wrote {out_dir} ({onnx['weights']}, {onnx['bytes'] / 1e6:.1f} MB)")
    real = metrics.get("real")
    for head, m in (real["model"] if real else {}).items():  # real text first, per language
        for lang, g in m.get("by_language", {}).items():
            typer.echo(f"real test {lang}/{head}: accuracy {g['accuracy']:.3f}, macro-F1 {g['macro_f1']:.3f}")
    for lang, s in (real["silent"] if real else {}).items():
        typer.echo(f"real test {lang}: silent errors {s['silent_error_rate']:.1%}, sent to a person "
                   f"{s['human_share']:.1%}")
    for source, res in (metrics.get("test") or {}).items():
        for head, m in res["model"].items():
            typer.echo(
                f"test {source}/{head}: accuracy {m['all']['accuracy']:.3f}, macro-F1 {m['all']['macro_f1']:.3f}"
            )


def evaluate(
    model: Path = typer.Argument(..., help="Model folder."),
    data: Path | None = typer.Argument(None, help="Labeled JSONL, CSV or TSV (not with --real)."),
    real: bool = typer.Option(False, "--real", help="The project's labeled real posts (data/real, texts from "
                              "../shared/datasets): per language, silent errors through the engine, the targets."),
    split: str = typer.Option("test", "--split", help="With --real: test (brands never seen), dev or train."),
    out: Path | None = typer.Option(None, "--out",
                                    help="Report folder (default ./eval-<data name> or ./eval-real-<split>)."),
    baseline_train: Path | None = typer.Option(None, "--baseline-train", help="Training file for the TF-IDF baseline "
                                               "(default: the train file beside a test file)."),
    no_baseline: bool = typer.Option(False, "--no-baseline", help="Skip the TF-IDF + logistic regression baseline."),
    text_column: str | None = typer.Option(None, "--text-column", help="Text column (default: preset or 'text')."),
    label_column: list[str] = typer.Option([], "--label-column",
                                           help="HEAD=COLUMN, repeatable (default: columns named like heads)."),
    language_column: str | None = typer.Option(None, "--language-column",
                                               help="Language column for per-language figures."),
    preset: str | None = typer.Option(None, "--preset",
                                      help="A public dataset's reading rules (detected from the folder name)."),
    limit: int | None = typer.Option(None, "--limit", help="Evaluate the first N rows only."),
    threads: int = typer.Option(2, "--threads"),
) -> None:
    """Metrics JSON, a Markdown report and a confusion matrix per head, beside a TF-IDF baseline."""
    _require_training(("datasets", "sklearn", "matplotlib"))
    _training_logs()
    if real == (data is not None):
        typer.echo("error: give either a labeled file or --real", err=True)
        raise typer.Exit(2)
    if real:
        _evaluate_real(model, out, split, no_baseline, threads, limit)
        return
    assert data is not None
    from training.evaluate import evaluate as run_evaluation

    labels = {}
    for item in label_column:
        head, sep, column = item.partition("=")
        if not sep or not head or not column:
            typer.echo(f"error: --label-column expects HEAD=COLUMN, got {item!r}", err=True)
            raise typer.Exit(2)
        labels[head] = column
    with user_errors():
        result = run_evaluation(model, data, out, text_column=text_column, label_columns=labels or None,
                                language_column=language_column, preset=preset, baseline_train=baseline_train,
                                baseline=not no_baseline, threads=threads, limit=limit)
    echo_json({
        "out_dir": result["out_dir"],
        "n": result["n"],
        "heads": {h: {"accuracy": round(m["all"]["accuracy"], 4), "macro_f1": round(m["all"]["macro_f1"], 4),
                      **({"baseline_macro_f1": round(result["baseline"][h]["all"]["macro_f1"], 4)}
                         if h in result.get("baseline", {}) else {})}
                  for h, m in result["metrics"].items()},
    })


def _evaluate_real(model: Path, out: Path | None, split: str, no_baseline: bool, threads: int,
                   limit: int | None) -> None:
    from training.evaluate import evaluate_real_split

    if split not in ("train", "dev", "test"):
        typer.echo("error: --split must be train, dev or test", err=True)
        raise typer.Exit(2)
    with user_errors():
        result = evaluate_real_split(model, out, split=split, threads=threads, baseline=not no_baseline, limit=limit)
    real = result["real"]
    echo_json({
        "out_dir": result["out_dir"],
        "n": real["n_by_language"],
        "by_language": {lang: {h: {"accuracy": round(m["by_language"][lang]["accuracy"], 4),
                                   "macro_f1": round(m["by_language"][lang]["macro_f1"], 4)}
                               for h, m in real["model"].items() if lang in m.get("by_language", {})}
                        for lang in real["n_by_language"]},
        "silent_error_rate": {k: round(v["silent_error_rate"], 4) for k, v in real["silent"].items()
                              if v["silent_error_rate"] is not None},
        "human_share": {k: round(v["human_share"], 4) for k, v in real["silent"].items()
                        if v["human_share"] is not None},
        "targets_missed": [f"{t['target']} ({t['language']})" for t in result["targets"] if t["met"] is False],
    })


def register(app: typer.Typer) -> None:
    """Entry point (group ``triage.commands``): add ``triage train | export | evaluate``."""
    for command in (train, export, evaluate):
        app.command()(command)
