"""The ``triage`` command line: thin typer shells over plain library functions.

Each command group lives in its own module and registers itself on ``app``; heavy imports (torch,
FastAPI, Ray) happen inside the commands that need them, so ``triage --help`` stays fast.
"""

from __future__ import annotations

import typer

from triage import __version__

app = typer.Typer(
    name="triage",
    help="NLP triage for social customer care: intent, sentiment, urgency, personal data, routing, replies.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"triage {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """triage command line."""


def _register() -> None:
    # Imported for their side effect of adding commands to ``app``.
    from triage.cli import data_cmd, inspect_cmd  # noqa: F401
    from triage.cli import reclassify_cmd  # noqa: F401
    from triage.cli import serve_cmd  # noqa: F401
    from triage.cli import policy_cmd  # noqa: F401
    from triage.cli import train_cmd  # noqa: F401


def main() -> None:
    _register()
    app()
