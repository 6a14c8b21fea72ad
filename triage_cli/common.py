"""Helpers shared by the command modules: error reporting, the traceback guard, JSON output.

A person at a terminal must never see a Python traceback for a mistake in what they typed: every error
is one line on stderr and exit status 2 (the README promises it). ``user_errors`` turns the errors a
command can meet into that line; ``guard`` wraps every registered command — plugins' too — in it, so a
command that forgot the context manager is covered as well. ``TRIAGE_DEBUG=1`` shows the traceback of an
unexpected error for whoever is debugging triage itself.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import typer

from triage.errors import TriageError

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
DEBUG_ENV = "TRIAGE_DEBUG"
# Exceptions that typer turns into its own messages and exit codes (usage errors exit 2, Exit keeps its
# code); they pass through untouched.
_TYPER_FLOW = (typer.Exit, typer.Abort, typer.TyperException)


def _one_line(text: object) -> str:
    return " ".join(str(text).split()) or "(no message)"


def _validation_message(exc: Exception) -> str:
    # pydantic's own text spans several lines and links to its website: keep field and reason.
    errors = getattr(exc, "errors", None)
    if callable(errors):
        parts = []
        for err in errors()[:5]:
            where = ".".join(str(p) for p in err.get("loc", ())) or "input"
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
        return "; ".join(parts)
    return _one_line(exc)


@contextmanager
def user_errors() -> Iterator[None]:
    """Print any error as one clear line on stderr and exit 2 (unexpected ones exit 1), never a traceback."""
    try:
        yield
    except _TYPER_FLOW:
        raise
    except TriageError as exc:
        # Config errors list one problem per line (file:LINE: ...): keep those lines.
        typer.echo(f"error [{exc.code}]: {exc}", err=True)
        raise typer.Exit(2) from exc
    except KeyboardInterrupt as exc:
        typer.echo("interrupted", err=True)
        raise typer.Exit(130) from exc
    except Exception as exc:
        _report_unexpected(exc)


def _report_unexpected(exc: Exception) -> None:
    from pydantic import ValidationError

    if os.environ.get(DEBUG_ENV):
        raise exc
    if isinstance(exc, ValidationError):
        typer.echo(f"error [invalid_input]: {_validation_message(exc)}", err=True)
        raise typer.Exit(2) from exc
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        typer.echo(f"error [io_error]: {where}{exc.strerror or _one_line(exc)}", err=True)
        raise typer.Exit(2) from exc
    if isinstance(exc, (ValueError, UnicodeError, LookupError)):
        typer.echo(f"error [invalid_input]: {_one_line(exc)}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"error [internal_error]: {type(exc).__name__}: {_one_line(exc)} (a bug in triage; run again with "
               f"{DEBUG_ENV}=1 for the traceback)", err=True)
    raise typer.Exit(1) from exc


def guard(fn: F) -> F:
    """``fn`` run inside ``user_errors`` (the signature is kept, so typer builds the same options)."""
    if getattr(fn, "__triage_guarded__", False):
        return fn

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with user_errors():
            return fn(*args, **kwargs)

    wrapper.__triage_guarded__ = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def echo_json(data: Any, *, indent: int | None = 2) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=indent, default=str) + "\n")


def run(fn: Callable[[], T]) -> T:
    with user_errors():
        return fn()
