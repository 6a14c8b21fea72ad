"""``triage policy check FILE``: validate a brand policy before deploying it, beside the brands it joins."""

from __future__ import annotations

from pathlib import Path

import typer

from triage_cli.common import user_errors

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
    policies: Path | None = typer.Option(
        None, "--policies", help="Folder of the policies the file is deployed beside (default: data/policies)."
    ),
    strict: bool = typer.Option(False, "--strict", help="Warnings fail the check too (exit 2)."),
) -> None:
    """Check FILE against the schema, its reply library and the other brands of the folder it joins.

    Exit 0 with a summary (and ``warning:`` lines), or 2 with ``file:LINE: path: problem`` lines."""
    from triage.errors import ConfigError
    from triage.resources import default_schema_path, policies_dir
    from triage.routing.check import check_policy_file
    from triage.routing.policy import summarise
    from triage.schema import load_schema

    with user_errors():
        label_schema = load_schema(schema or default_schema_path())
        folder = policies if policies is not None else policies_dir()
        if not folder.is_dir():
            raise ConfigError(f"--policies {folder} is not a folder of policy files", code="invalid_argument")
        report = check_policy_file(file, label_schema, policies_dir=folder, replies_root=replies)
    for warning in report.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if not report.ok or (strict and report.warnings):
        for error in report.errors:
            typer.echo(f"error [invalid_config]: {error}", err=True)
        if report.ok:
            typer.echo(f"error [strict]: {len(report.warnings)} warning(s) and --strict", err=True)
        raise typer.Exit(2)
    assert report.policy is not None
    typer.echo(f"{file}: OK")
    for line in summarise(report.policy):
        typer.echo(f"  {line}")
    beside = ", ".join(report.neighbours) or "no other brand"
    typer.echo(f"  checked beside {beside} in {folder}")
    if report.warnings:
        typer.echo(f"  {len(report.warnings)} warning(s), see above")


def register(app: typer.Typer) -> None:
    app.add_typer(policy_app, name="policy")
