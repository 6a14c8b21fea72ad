"""The ``triage`` command line: a shell around the library, with commands contributed by the other shells.

The root app holds the inference commands (``classify``, ``entities``, ``policy``). Other packages add
theirs through the ``triage.commands`` entry-point group (``pyproject.toml``), the way pytest and datasette
plugins register: ``serving`` adds ``serve``, ``training`` adds ``train``, ``export``, ``evaluate`` and
``data``, ``batch`` adds ``reclassify``. The core ``triage`` package knows none of them. Each entry point
names a ``register(app)`` function; heavy imports (torch, FastAPI, Ray) happen inside the commands that
need them, so ``triage --help`` stays fast.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

import typer

from triage import __version__

COMMANDS_GROUP = "triage.commands"
log = logging.getLogger(__name__)

app = typer.Typer(
    name="triage",
    help="NLP triage for social customer care: intent, sentiment, urgency, personal data, routing, replies.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
_registered = False


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
    """Add the root commands and every installed plugin's commands to ``app`` (once)."""
    global _registered
    if _registered:
        return
    from triage_cli import classify_cmd, policy_cmd

    classify_cmd.register(app)
    policy_cmd.register(app)
    for ep in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        ep.load()(app)
    _registered = True


def main() -> None:
    _register()
    app()
