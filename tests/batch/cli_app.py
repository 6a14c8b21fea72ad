"""The ``reclassify`` command with a fake engine, registered the way ``triage`` registers it.

In process: ``CliRunner().invoke(app_with(make_engine), ["reclassify", ...])``. In a subprocess (a job
to kill): ``python -m tests.batch.cli_app make_slow_engine reclassify ...`` (a builder of
:mod:`tests.batch.fake_engine` by name, then the command line).
"""

from __future__ import annotations

import sys

import typer

from batch.cli import register
from batch.spec import EngineBuilder
from tests.batch import fake_engine


def app_with(builder: EngineBuilder) -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False, add_completion=False)

    @app.callback()
    def _root() -> None:
        """triage, with a test engine."""

    register(app, engine_builder=builder)
    return app


if __name__ == "__main__":
    app_with(getattr(fake_engine, sys.argv[1]))(args=sys.argv[2:], prog_name="triage")
