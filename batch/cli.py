"""``triage reclassify``: score a stored file of posts again (JSON Lines, CSV or Parquet), resumably."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import typer

from triage_cli.common import user_errors


def _auto_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _summary_lines(report: Any) -> list[str]:
    lines = [
        f"rows: {report.rows}  scored: {report.scored}  manual (kept): {report.manual}  "
        f"rejected: {report.rejected}" + (f" {report.rejects_by_code}" if report.rejects_by_code else ""),
    ]
    for head, tally in report.heads.items():
        if tally.compared:
            share = 100.0 * tally.changed / tally.compared
            lines.append(f"{head}: {tally.changed} of {tally.compared} labels {'would change' if report.dry_run else 'changed'} ({share:.1f}%)")
        else:
            lines.append(f"{head}: no labels in the input to compare with")
    resumed = f" (resumed at row {report.resumed_from_row})" if report.resumed_from_row else ""
    lines.append(
        f"{report.rows_this_run} rows in {report.elapsed_s:.1f} s = {report.rows_per_s:.1f} rows/s "
        f"[{report.engine} engine, {report.model_version}]{resumed}"
    )
    if not report.dry_run:
        lines.append(f"output: {report.output}  rejects: {report.rejects}")
    return lines


def reclassify(
    input: Path = typer.Option(..., "--input", "-i", help="Posts to score: .jsonl, .csv or .parquet."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Where to write (format from its extension, else the input's). Not needed with --dry-run."
    ),
    engine: str = typer.Option("local", "--engine", help="local (default) or ray."),
    model: Path | None = typer.Option(None, "--model", help="Model folder (default: the shipped models/default)."),
    brand: str | None = typer.Option(None, "--brand", help="Brand policy to route with."),
    input_format: str | None = typer.Option(None, "--format", help="Input format when the extension does not say: jsonl, csv, parquet."),
    id_column: str = typer.Option("id", "--id-column", help="Column holding the post id."),
    text_column: str = typer.Option("text", "--text-column", help="Column holding the post text."),
    channel_column: str = typer.Option("channel", "--channel-column", help="Column holding the channel (used when present)."),
    created_at_column: str | None = typer.Option(
        None, "--created-at-column", help="Column with the post's time (ISO 8601 or epoch), used for routing SLAs."
    ),
    keep_manual: str | None = typer.Option(
        None, "--keep-manual", help="Column marking rows labelled by a person (true/1/yes/a name): never overwritten."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Report how many labels would change, with examples; write nothing."),
    chunk_size: int = typer.Option(1000, "--chunk-size", help="Rows per chunk (one part file and one checkpoint each)."),
    batch_size: int = typer.Option(64, "--batch-size", help="Rows per model call, length-sorted within a chunk."),
    workers: int = typer.Option(0, "--workers", help="Local engine: scoring processes (0 = one per CPU)."),
    threads: int | None = typer.Option(None, "--threads", help="ONNX threads per engine (default TRIAGE_THREADS or 1)."),
    reclassified_at: str | None = typer.Option(
        None, "--reclassified-at", help="ISO 8601 time to write (default: the job's start, kept when resuming)."
    ),
    restart: bool = typer.Option(False, "--restart", help="Discard an unfinished job for another input or other options."),
    examples: int = typer.Option(5, "--examples", help="Examples of changed labels to report per head."),
    ray_address: str | None = typer.Option(None, "--ray-address", help="Ray cluster to join (default: start a local Ray)."),
    ray_concurrency: int | None = typer.Option(None, "--ray-concurrency", help="Ray actors (default: one per cluster CPU)."),
    ray_num_cpus: float = typer.Option(0.5, "--ray-num-cpus", help="CPUs reserved per Ray actor; keep it below 1."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar on stderr."),
    as_json: bool = typer.Option(False, "--json", help="Print the full report as JSON instead of a summary."),
    engine_factory: str | None = typer.Option(
        None, "--engine-factory", hidden=True, help="module:function returning an Engine (tests, custom set-ups)."
    ),
) -> None:
    """Reclassify every post of a stored file: streaming, resumable (rerun the same command), atomic output.

    Rejected rows (missing text, broken encoding, oversized) go to OUT.rejects.jsonl with the reason.
    """
    from batch import Columns, EngineSpec, ReclassifyOptions
    from batch import reclassify as run_job
    from batch.job import tqdm_progress

    if engine not in ("local", "ray"):
        raise typer.BadParameter("use 'local' or 'ray'", param_hint="--engine")
    try:
        at = datetime.fromisoformat(reclassified_at) if reclassified_at else None
    except ValueError as exc:
        raise typer.BadParameter(f"not an ISO 8601 time: {exc}", param_hint="--reclassified-at") from exc
    with user_errors():
        options = ReclassifyOptions(
            input_format=input_format,
            columns=Columns(
                id=id_column,
                text=text_column,
                channel=channel_column or None,
                created_at=created_at_column,
                manual=keep_manual,
            ),
            chunk_size=chunk_size,
            batch_size=batch_size,
            engine="ray" if engine == "ray" else "local",
            workers=workers if workers > 0 else _auto_workers(),
            engine_spec=EngineSpec(
                model_dir=str(model) if model else None, brand=brand, threads=threads, factory=engine_factory
            ),
            reclassified_at=at,
            dry_run=dry_run,
            restart=restart,
            examples=examples,
            ray_address=ray_address,
            ray_concurrency=ray_concurrency,
            ray_num_cpus=ray_num_cpus,
        )
        report = run_job(input, output, options, progress=tqdm_progress if progress else None)
    if as_json or dry_run:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    if not as_json:
        for line in _summary_lines(report):
            typer.echo(line, err=dry_run)


def register(app: typer.Typer) -> None:
    """Entry point (group ``triage.commands``): add ``triage reclassify``."""
    app.command()(reclassify)
