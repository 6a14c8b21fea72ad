"""``triage serve``: run the REST service; ``triage serve hash-key``: create an API key.

A thin shell over ``serving.server.serve`` and ``serving.keys``; FastAPI and uvicorn are imported only
when the command runs (they come with the ``serve`` extra).
"""

from __future__ import annotations

from pathlib import Path

import typer

from triage_cli.common import user_errors

serve_app = typer.Typer(
    help="Run the REST scoring service (needs the serve extra). Settings: TRIAGE_* variables, see docs/SERVING.md.",
    no_args_is_help=False,
)


def _require_serve_extra() -> None:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        typer.echo(f'error [missing_extra]: {exc.name} is not installed; pip install -e ".[serve]"', err=True)
        raise typer.Exit(2) from exc


@serve_app.callback(invoke_without_command=True)
def serve(
    ctx: typer.Context,
    host: str | None = typer.Option(None, "--host", help="Interface to bind [TRIAGE_HOST, 127.0.0.1]."),
    port: int | None = typer.Option(None, "--port", help="TCP port [TRIAGE_PORT, 8000]."),
    workers: int | None = typer.Option(None, "--workers", help="Worker processes [TRIAGE_WORKERS, one per core]."),
    model: Path | None = typer.Option(None, "--model", help="Model folder [TRIAGE_MODEL_DIR, models/default]."),
    threads: int | None = typer.Option(None, "--threads", help="Inference threads per worker [TRIAGE_THREADS, 1]."),
    microbatch: bool | None = typer.Option(
        None, "--microbatch/--no-microbatch", help="Micro-batch concurrent requests [TRIAGE_MICROBATCH, on]."
    ),
) -> None:
    """Start the server. Without API keys it binds to 127.0.0.1 only."""
    if ctx.invoked_subcommand is not None:
        return
    _require_serve_extra()
    from serving.server import serve as run_server
    from serving.settings import load_settings

    with user_errors():
        settings = load_settings(
            host=host, port=port, workers=workers, model_dir=model, threads=threads, microbatch=microbatch
        )
        run_server(settings)


@serve_app.command("hash-key")
def hash_key(
    tenant: str = typer.Option(..., "--tenant", help="Who holds the key; also its brand unless --brands is given."),
    brands: str | None = typer.Option(None, "--brands", help="Comma-separated brands the key may use, or * for all."),
    key: str | None = typer.Option(None, "--key", help="Hash this key instead of creating a new one."),
) -> None:
    """Create an API key and print it with the entry to add to TRIAGE_API_KEYS / TRIAGE_API_KEYS_FILE."""
    from serving.keys import make_entry

    try:
        new, entry = make_entry(tenant, brands, key)
    except ValueError as exc:
        typer.echo(f"error [invalid_key_entry]: {exc}", err=True)
        raise typer.Exit(2) from exc
    if key is None:
        typer.echo(f"key (give it to the client; it is not stored anywhere): {new}")
    typer.echo(f"entry (add it to TRIAGE_API_KEYS or TRIAGE_API_KEYS_FILE): {entry}")


def register(app: typer.Typer) -> None:
    """Entry point (group ``triage.commands``): add ``triage serve``."""
    app.add_typer(serve_app, name="serve")
