"""``triage reclassify``: score a stored file of posts again (JSON Lines, CSV or Parquet), resumably."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from triage_cli.common import user_errors

if (
    TYPE_CHECKING
):  # the job's modules (pyarrow, the engine) load when the command runs: `triage --help` stays fast
    from batch.columns import Columns
    from batch.report import ReclassifyReport
    from batch.spec import EngineBuilder, EngineSpec, ReclassifyOptions


def _auto_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _reclassified_at(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError as exc:
        raise typer.BadParameter(f"not an ISO 8601 time: {exc}", param_hint="--reclassified-at") from exc


def _columns(
    id_column: str, text_column: str, channel_column: str, created_at_column: str | None, keep_manual: str | None
) -> Columns:
    """The input columns that feed the post (an empty ``--channel-column`` means none)."""
    from batch.columns import Columns

    return Columns(
        id=id_column,
        text=text_column,
        channel=channel_column or None,
        created_at=created_at_column,
        manual=keep_manual,
    )


def _job_options(
    engine: str,
    columns: Columns,
    spec: EngineSpec,
    at: datetime | None,
    *,
    input_format: str | None,
    chunk_size: int,
    batch_size: int,
    workers: int,
    dry_run: bool,
    restart: bool,
    examples: int,
    ray_address: str | None,
    ray_concurrency: int | None,
    ray_num_cpus: float,
) -> ReclassifyOptions:
    """The job's options from the command's values (``--workers 0``: one scoring process per CPU)."""
    from batch.spec import ReclassifyOptions

    return ReclassifyOptions(
        input_format=input_format,
        columns=columns,
        chunk_size=chunk_size,
        batch_size=batch_size,
        engine="ray" if engine == "ray" else "local",
        workers=workers if workers > 0 else _auto_workers(),
        engine_spec=spec,
        reclassified_at=at,
        dry_run=dry_run,
        restart=restart,
        examples=examples,
        ray_address=ray_address,
        ray_concurrency=ray_concurrency,
        ray_num_cpus=ray_num_cpus,
    )


def _echo_report(report: ReclassifyReport, as_json: bool, dry_run: bool) -> None:
    from batch.report import summary_lines

    if as_json or dry_run:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    if not as_json:
        for line in summary_lines(report):
            typer.echo(line, err=dry_run)


def make_command(engine_builder: EngineBuilder | None = None) -> Callable[..., None]:
    """The ``reclassify`` command; ``engine_builder`` replaces the model loader (tests, custom set-ups)."""

    def reclassify(
        input: Path = typer.Option(..., "--input", "-i", help="Posts to score: .jsonl, .csv or .parquet."),
        output: Path | None = typer.Option(None, "--output", "-o",
                                           help="Where to write (format from its extension, else the input's). Not "
                                                "needed with --dry-run."),
        engine: str = typer.Option("local", "--engine", help="local (default) or ray."),
        model: Path | None = typer.Option(None, "--model", help="Model folder (default: the shipped models/default)."),
        brand: str | None = typer.Option(None, "--brand", help="Brand policy to route with."),
        input_format: str | None = typer.Option(None, "--format",
                                                help="Input format when the extension does not say: jsonl, csv, "
                                                     "parquet."),
        id_column: str = typer.Option("id", "--id-column",
                                      help="Column holding the post id (a repeated id is rejected as duplicate_id)."),
        text_column: str = typer.Option("text", "--text-column", help="Column holding the post text."),
        channel_column: str = typer.Option("channel", "--channel-column",
                                           help="Column holding the channel (used when present)."),
        created_at_column: str | None = typer.Option(None, "--created-at-column",
                                                     help="Column with the post's time (ISO 8601 or epoch), used for "
                                                          "routing SLAs."),
        keep_manual: str | None = typer.Option(None, "--keep-manual",
                                               help="Column marking rows labelled by a person (true/1/yes/a name): "
                                                    "never overwritten. A row without it is not manual."),
        dry_run: bool = typer.Option(False, "--dry-run",
                                     help="Report how many labels would change, with examples; write nothing."),
        chunk_size: int = typer.Option(1000, "--chunk-size",
                                       help="Rows per chunk (one part file and one checkpoint each)."),
        batch_size: int = typer.Option(64, "--batch-size", help="Rows per model call, length-sorted within a chunk."),
        workers: int = typer.Option(0, "--workers", help="Local engine: scoring processes (0 = one per CPU)."),
        threads: int | None = typer.Option(None, "--threads",
                                           help="ONNX threads per engine (default TRIAGE_THREADS or 1)."),
        reclassified_at: str | None = typer.Option(None, "--reclassified-at",
                                                   help="ISO 8601 time to write (default: the job's start, kept when "
                                                        "resuming)."),
        restart: bool = typer.Option(False, "--restart",
                                     help="Discard an unfinished job for another input or other options."),
        examples: int = typer.Option(5, "--examples", help="Examples of changed labels to report per head."),
        ray_address: str | None = typer.Option(None, "--ray-address",
                                               help="Ray cluster to join (default: start a local Ray)."),
        ray_concurrency: int | None = typer.Option(None, "--ray-concurrency",
                                                   help="Ray actors (default: one per cluster CPU)."),
        ray_num_cpus: float = typer.Option(0.5, "--ray-num-cpus", help="CPUs reserved per Ray actor; keep it below 1."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar on stderr."),
        as_json: bool = typer.Option(False, "--json", help="Print the full report as JSON instead of a summary."),
    ) -> None:  # fmt: skip
        """Reclassify every post of a stored file: streaming, resumable (rerun the same command), atomic output.

        Rejected rows (missing or empty text, broken encoding, oversized, repeated id) stay in the output
        with their status and go to OUT.rejects.jsonl with the reason; blank lines are skipped and listed there.
        """
        from batch.job import reclassify as run_job
        from batch.progress import tqdm_progress
        from batch.spec import EngineSpec

        if engine not in ("local", "ray"):
            raise typer.BadParameter("use 'local' or 'ray'", param_hint="--engine")
        at = _reclassified_at(reclassified_at)
        columns = _columns(id_column, text_column, channel_column, created_at_column, keep_manual)
        spec = EngineSpec(model_dir=str(model) if model else None, brand=brand, threads=threads)
        with user_errors():
            options = _job_options(
                engine, columns, spec, at,
                input_format=input_format, chunk_size=chunk_size, batch_size=batch_size, workers=workers,
                dry_run=dry_run, restart=restart, examples=examples,
                ray_address=ray_address, ray_concurrency=ray_concurrency, ray_num_cpus=ray_num_cpus,
            )  # fmt: skip
            bar = tqdm_progress if progress else None
            report = run_job(input, output, options, progress=bar, engine_builder=engine_builder)
        _echo_report(report, as_json, dry_run)

    return reclassify


def register(app: typer.Typer, *, engine_builder: EngineBuilder | None = None) -> None:
    """Entry point (group ``triage.commands``): add ``triage reclassify``."""
    app.command(name="reclassify")(make_command(engine_builder))
