"""``triage policy check FILE``: validate a brand policy (and its reply library) before deploying it."""

from __future__ import annotations

from pathlib import Path

import typer

policy_app = typer.Typer(help="Brand routing policies: check them before the engine loads them.", no_args_is_help=True)


@policy_app.command("check")
def check(
    file: Path = typer.Argument(..., help="The policy file, e.g. data/policies/default.yaml."),
    schema: Path | None = typer.Option(
        None, "--schema", help="Label schema the policy must fit (default: data/schemas/default.yaml)."
    ),
    replies: Path | None = typer.Option(
        None, "--replies", help="Folder of reply libraries (default: data/replies)."
    ),
) -> None:
    """Check FILE against the schema and its reply library. Exit 0 with a summary, or 2 with
    ``file:LINE: path: problem`` lines."""
    from triage.errors import TriageError
    from triage.resources import default_schema_path
    from triage.routing.policy import load_policy, summarise
    from triage.schema import load_schema

    try:
        label_schema = load_schema(schema or default_schema_path())
        policy = load_policy(file, label_schema, replies_root=replies)
    except TriageError as exc:
        typer.echo(f"error [{exc.code}]: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"{file}: OK")
    for line in summarise(policy):
        typer.echo(f"  {line}")


def register(app: typer.Typer) -> None:
    app.add_typer(policy_app, name="policy")
