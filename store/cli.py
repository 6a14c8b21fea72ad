"""``triage store``: migrate, stats, show, purge, retention and audit over the post store.

A thin shell over ``store.PostStore``. Bad input (an unknown post, a malformed URL or date, a missing
option) prints one line and exits 2; a database failure prints one line and exits 1; never a traceback.
"""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from store.cli_errors import URL_HELP
from store.cli_errors import errors as _errors
from triage.errors import InputError
from triage.types import CHANNELS
from triage_cli.common import echo_json

store_app = typer.Typer(
    help="The post store (redacted posts, events, identity links, audit). URL: --url or TRIAGE_STORE_URL; "
    "identity key: TRIAGE_IDENTITY_KEY. See docs/STORE.md.",
    no_args_is_help=True,
)


def _store(url: str | None):  # -> PostStore (imported here: SQLAlchemy only when a command runs)
    from store.poststore import PostStore

    return PostStore(url)


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InputError(f"--since {value!r} is not an ISO date or time (e.g. 2026-05-01 or 2026-05-01T08:00+03:00)",
                         code="invalid_since", field="since") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


@store_app.command("migrate")
def migrate_cmd(
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    revision: str = typer.Option("head", "--revision", help="Alembic revision to upgrade to."),
) -> None:
    """Create or upgrade the store's tables (Alembic migrations)."""
    from store.db import migrate, safe_url, store_url

    with _errors():
        reached = migrate(store_url(url), revision)
        typer.echo(f"store {safe_url(store_url(url))}: at revision {reached}")


@store_app.command("stats")
def stats_cmd(url: str | None = typer.Option(None, "--url", help=URL_HELP)) -> None:
    """Counts per brand, channel, event kind and identity kind; oldest and newest post."""
    with _errors():
        echo_json(_store(url).stats())


@store_app.command("show")
def show_cmd(
    post_id: str = typer.Argument(..., help="The stored post's id."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
) -> None:
    """One stored post (redacted) with its events."""
    with _errors():
        store = _store(url)
        post = store.get_post(post_id)
        if post is None:
            raise InputError(f"no stored post {post_id!r}", code="unknown_post", field="post_id")
        events = store.list_events(post_id=post_id)
        echo_json({"post": post.to_dict(), "events": [e.to_dict() for e in events]})


@store_app.command("purge")
def purge_cmd(
    customer: str | None = typer.Option(None, "--customer", help="The brand's customer id."),
    channel: str | None = typer.Option(None, "--channel", help="Channel of --handle."),
    handle: str | None = typer.Option(None, "--handle", help="The author's handle on --channel."),
    brand: str | None = typer.Option(None, "--brand", help="Only this brand (default: every brand)."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
) -> None:
    """Right to be forgotten: delete every post, event and identity link of a customer or a handle."""
    with _errors():
        if bool(customer) == bool(handle or channel):
            raise InputError("give either --customer ID or --channel C --handle H", code="invalid_purge")
        if not customer and not (channel and handle):
            raise InputError("--channel and --handle go together", code="invalid_purge")
        if channel is not None and channel not in CHANNELS:
            raise InputError(f"unknown channel {channel!r}; channels: {', '.join(CHANNELS)}",
                             code="unknown_channel", field="channel")
        report = _store(url).purge_customer(customer_id=customer, channel=channel, handle=handle, brand=brand)
        echo_json(report.to_dict())


@store_app.command("retention")
def retention_cmd(
    brand: str = typer.Option(..., "--brand", help="The brand whose old posts go."),
    days: int = typer.Option(..., "--days", help="Keep posts written in the last N days."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count what would go; delete nothing."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
) -> None:
    """Delete a brand's posts older than N days, with their events and stale identity links."""
    with _errors():
        if days < 1:
            raise InputError(f"--days must be at least 1 (got {days})", code="invalid_retention", field="days")
        echo_json(_store(url).apply_retention(brand, days, dry_run=dry_run).to_dict())


@store_app.command("audit")
def audit_cmd(
    since: str | None = typer.Option(None, "--since", help="Only entries at or after this ISO date or time."),
    limit: int = typer.Option(1000, "--limit", help="At most this many entries, oldest first."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    action: str | None = typer.Option(None, "--action", help="Only this action (e.g. promoted, hide, escalate)."),
    actor: str | None = typer.Option(None, "--actor", help="Only this actor."),
) -> None:
    """The audit log: automated actions, model changes, purges and retention runs (JSON lines)."""
    import json

    with _errors():
        entries = _store(url).audit_log(since=_since(since), limit=max(1, limit), action=action, actor=actor)
        for entry in entries:
            typer.echo(json.dumps(entry.to_dict(), ensure_ascii=False))


def register(app: typer.Typer) -> None:
    """Entry point (group ``triage.commands``): add ``triage store``, ``triage incidents`` and ``triage replay``."""
    from store import stream_cli

    app.add_typer(store_app, name="store")
    stream_cli.register(app)
