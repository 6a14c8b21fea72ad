"""The ``triage`` command line: a shell around the library, with commands contributed by the other shells.

The root app holds the inference commands (``classify``, ``entities``, ``policy``). Other packages add
theirs through the ``triage.commands`` entry-point group (``pyproject.toml``), the way pytest and datasette
plugins register: ``serving`` adds ``serve``, ``training`` adds ``train``, ``export``, ``evaluate`` and
``data``, ``batch`` adds ``reclassify``. The core ``triage`` package knows none of them. Each entry point
names a ``register(app)`` function; heavy imports (torch, FastAPI, Ray) happen inside the commands that
need them, so ``triage --help`` stays fast.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points
from typing import Any

import typer
from typer.core import TyperGroup

from triage import __version__

COMMANDS_GROUP = "triage.commands"
log = logging.getLogger(__name__)

class OneLineErrors(TyperGroup):
    """The root command group: a usage error (bad option value, missing argument) is one line and exit 2.

    Typer draws usage errors in a box of 5-10 lines; the README promises one line for every error, so
    scripts can grep it and a person reads it at once. Help asked for by running a group without a
    command is still shown in full.
    """

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, windows_expand_args: bool = True, **extra: Any) -> Any:
        run = functools.partial(super().main, args, prog_name, complete_var, standalone_mode=False,
                                windows_expand_args=windows_expand_args, **extra)
        if not standalone_mode:
            return run()
        try:
            rv = run()
        except typer.TyperException as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":
                exc.show()  # type: ignore[attr-defined]
            else:
                ctx = getattr(exc, "ctx", None)
                where = f"{ctx.command_path}: " if ctx is not None else ""
                hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
                message = " ".join(str(exc.format_message()).split()).replace("Value error, ", "")
                typer.echo(f"error [usage]: {where}{message}{hint}", err=True)
            sys.exit(getattr(exc, "exit_code", 2))
        except typer.Abort:
            typer.echo("aborted", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    name="triage",
    help="NLP triage for social customer care: intent, sentiment, urgency, personal data, routing, replies.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    cls=OneLineErrors,
)
_registered = False


def _version(value: bool) -> None:
    if value:
        typer.echo(f"triage {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """triage command line."""


def _register() -> None:
    """Add the root commands and every installed plugin's commands to ``app`` (once), each one guarded."""
    global _registered
    if _registered:
        return
    from triage_cli import classify_cmd, policy_cmd

    classify_cmd.register(app)
    policy_cmd.register(app)
    for ep in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        try:
            ep.load()(app)
        except Exception as exc:
            # One broken plugin must not take the other commands down with a traceback.
            log.warning("plugin %r (%s) could not be loaded: %s: %s", ep.name, ep.value, type(exc).__name__, exc)
    _guard_all(app)
    _registered = True


def _guard_all(typer_app: typer.Typer) -> None:
    """Wrap every command and group callback, plugins' included, so no traceback reaches a user."""
    import inspect

    from triage_cli.common import guard

    def wrap(info: object) -> None:
        # Unset callbacks are typer placeholders, not functions: leave those alone.
        callback = getattr(info, "callback", None)
        if info is not None and (inspect.isfunction(callback) or inspect.ismethod(callback)):
            info.callback = guard(callback)  # type: ignore[attr-defined]

    for command in typer_app.registered_commands:
        wrap(command)
    if typer_app is not app:
        wrap(typer_app.registered_callback)
    for group in typer_app.registered_groups:
        wrap(group)
        if group.typer_instance is not None:
            _guard_all(group.typer_instance)


def main() -> None:
    _register()
    app()
