"""Helpers shared by the command modules: error reporting and JSON output."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import typer

from triage.errors import TriageError

T = TypeVar("T")


@contextmanager
def user_errors() -> Iterator[None]:
    """Print a TriageError as one clear line on stderr and exit 2, never a traceback."""
    try:
        yield
    except TriageError as exc:
        typer.echo(f"error [{exc.code}]: {exc}", err=True)
        raise typer.Exit(2) from exc


def echo_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def run(fn: Callable[[], T]) -> T:
    with user_errors():
        return fn()
