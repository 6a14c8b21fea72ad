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
        typer.echo(f"error: this command needs the train extra (pip install -e '.[train]'); missing {missing}", err=True)
        raise typer.Exit(2)


def train(
    config: Path = typer.Option(..., "--config", help="Training recipe (YAML), e.g. training/configs/default.yaml."),
    out: Path | None = typer.Option(None, "--out", help="Run folder (default runs/<recipe name>)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the run folder's last checkpoint."),
    stage: str = typer.Option("all", "--stage", help="all | adapt | teacher | self-train | student."),
    bundle: Path | None = typer.Option(None, "--bundle", help="A prepared bundle (python -m training.bundle) "
                                       "to train from instead of the sources and base model here."),
) -> None:
    """Fine-tune the encoder with one head per schema head (and distil a student when the recipe says so)."""
    _require_training()
    _training_logs()
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


def export(
    checkpoint: Path = typer.Argument(..., help="A run folder (its final checkpoint) or a checkpoint folder."),
    out_dir: Path = typer.Argument(..., help="Model folder to write (replaced if it exists)."),
    int8: bool | None = typer.Option(None, "--int8/--no-int8", help="Try int8 weights (default: as the recipe says)."),
    test: bool | None = typer.Option(None, "--test/--no-test", help="Evaluate on the test splits for the model card."),
    threads: int = typer.Option(2, "--threads", help="CPU threads for export and evaluation."),
) -> None:
    """Write the self-describing model folder: model.onnx, tokenizer.json, manifest.json, metrics.json, README.md."""
    _require_training()
    _training_logs()
    from training.export import export_artifact

    with user_errors():
        metrics = export_artifact(checkpoint, out_dir, int8=int8, evaluate_test=test, threads=threads)
    onnx = metrics["onnx"]
    typer.echo(f"wrote {out_dir} ({onnx['weights']}, {onnx['bytes'] / 1e6:.1f} MB)")
    for source, res in (metrics.get("test") or {}).items():
        for head, m in res["model"].items():
            typer.echo(f"test {source}/{head}: accuracy {m['all']['accuracy']:.3f}, macro-F1 {m['all']['macro_f1']:.3f}")


def evaluate(
    model: Path = typer.Argument(..., help="Model folder."),
    data: Path = typer.Argument(..., help="Labeled JSONL, CSV or TSV."),
    out: Path | None = typer.Option(None, "--out", help="Report folder (default ./eval-<data name>)."),
    baseline_train: Path | None = typer.Option(None, "--baseline-train", help="Training file for the TF-IDF baseline "
                                               "(default: the train file beside a test file)."),
    no_baseline: bool = typer.Option(False, "--no-baseline", help="Skip the TF-IDF + logistic regression baseline."),
    text_column: str | None = typer.Option(None, "--text-column", help="Text column (default: preset or 'text')."),
    label_column: list[str] = typer.Option([], "--label-column", help="HEAD=COLUMN, repeatable (default: columns named like heads)."),
    language_column: str | None = typer.Option(None, "--language-column", help="Language column for per-language figures."),
    preset: str | None = typer.Option(None, "--preset", help="A public dataset's reading rules (detected from the folder name)."),
    limit: int | None = typer.Option(None, "--limit", help="Evaluate the first N rows only."),
    threads: int = typer.Option(2, "--threads"),
) -> None:
    """Metrics JSON, a Markdown report and a confusion matrix per head, beside a TF-IDF baseline."""
    _require_training(("datasets", "sklearn", "matplotlib"))
    _training_logs()
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


def register(app: typer.Typer) -> None:
    """Entry point (group ``triage.commands``): add ``triage train | export | evaluate``."""
    for command in (train, export, evaluate):
        app.command()(command)
