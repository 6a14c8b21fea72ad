"""What the store's commands share: the URL option's help and the one-line error reporting."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from triage_cli.common import user_errors

URL_HELP = "SQLAlchemy URL [TRIAGE_STORE_URL, sqlite:///./triage-store.db]."


@contextmanager
def errors() -> Iterator[None]:
    """TriageError: one line, exit 2 (user_errors); a database error: one line, exit 1."""
    from sqlalchemy.exc import SQLAlchemyError

    with user_errors():
        try:
            yield
        except SQLAlchemyError as exc:
            orig = getattr(exc, "orig", None)
            first = (str(orig if orig is not None else exc).splitlines() or [""])[0]
            typer.echo(f"error [database]: {type(exc).__name__}: {first}", err=True)
            raise typer.Exit(1) from exc


