"""``triage data build | check | stats``: the project's labeled corpus."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from triage_cli.common import user_errors

data_app = typer.Typer(help="Build, check and describe the labeled corpus under data/.", no_args_is_help=True)


def _defaults() -> tuple[Path, Path]:
    from triage.resources import default_schema_path, project_home

    return project_home() / "data" / "corpus", default_schema_path()


@data_app.command("build")
def build(
    raw: Path | None = typer.Option(None, help="Folder of raw hand-written batches (default data/raw)."),
    out: Path | None = typer.Option(None, help="Output folder (default data/corpus)."),
    seed: int = typer.Option(13, help="Split seed."),
) -> None:
    """Validate raw batches, compute entities, remove duplicates and near-duplicates, merge scenario twins,
    write seeded splits by scenario group."""
    from training.corpus.build import build_corpus
    from triage.resources import project_home
    from triage.schema import load_schema

    with user_errors():
        corpus_dir, schema_path = _defaults()
        report = build_corpus(raw or project_home() / "data" / "raw", out or corpus_dir, load_schema(schema_path),
                              seed=seed)
    typer.echo(f"raw rows: {report.raw_rows}; rejected: {len(report.rejected)}; exact duplicates: "
               f"{report.exact_duplicates}; "
               f"near duplicates: {len(report.near_duplicates)}; label conflicts among duplicates: "
               f"{len(report.label_conflicts)}")
    # Every rejected row is shown: a rejection (e.g. an ID that fails its check digit) is never silent.
    for line in report.rejected:
        typer.echo(f"  rejected {line}")
    for line in report.label_conflicts:
        typer.echo(f"  label conflict {line}")
    typer.echo(f"scenario groups: {report.groups}; groups merged as scenario twins: {len(report.merged_scenarios)}")
    typer.echo(f"splits: {report.split_counts}")


@data_app.command("check")
def check(
    corpus: Path | None = typer.Option(None, help="Corpus folder (default data/corpus)."),
    minimums: bool = typer.Option(True, help="Also require the counts the datasheet promises."),
) -> None:
    """Verify schema, labels, entity spans, duplicates and split leakage; exit 1 on any violation."""
    from training.corpus.check import Minimums, check_corpus
    from triage.errors import InputError
    from triage.schema import load_schema

    with user_errors():
        corpus_dir, schema_path = _defaults()
        folder = corpus or corpus_dir
        if not folder.is_dir() or not all((folder / f"{split}.jsonl").is_file() for split in ("train", "dev", "test")):
            raise InputError(f"{folder} is not a corpus folder (train/dev/test.jsonl); build it with `triage data "
                             "build`",
                             code="no_corpus", field="corpus")
        report = check_corpus(folder, load_schema(schema_path), Minimums() if minimums else None)
    typer.echo(f"{report.rows} posts checked; languages {dict(report.counts.get('language', {}))}")
    if not report.ok:
        for problem in report.problems[:200]:
            typer.echo(f"FAIL {problem}", err=True)
        typer.echo(f"{len(report.problems)} problem(s) found", err=True)
        raise typer.Exit(1)
    typer.echo("corpus OK")


@data_app.command("stats")
def stats(
    corpus: Path | None = typer.Option(None, help="Corpus folder (default data/corpus)."),
) -> None:
    """Write stats.json and STATS.md (the datasheet's measured tables) into the corpus folder."""
    from training.corpus.stats import corpus_stats, stats_markdown

    with user_errors():
        corpus_dir = corpus or _defaults()[0]
        result = corpus_stats(corpus_dir)
    (corpus_dir / "stats.json").write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (corpus_dir / "STATS.md").write_text(stats_markdown(result), encoding="utf-8")
    typer.echo(f"wrote {corpus_dir / 'stats.json'} and {corpus_dir / 'STATS.md'}")


def register(app: typer.Typer) -> None:
    """Entry point (group ``triage.commands``): add ``triage data``."""
    app.add_typer(data_app, name="data")
