"""``triage incidents list|show|receive`` and ``triage replay FILE``: the stream from the command line.

``replay`` runs a JSON Lines file of posts (and helpdesk events) through the engine, the post store and the
crisis detector, one line at a time in file order (each post sees the ones before it), and prints one line
per post, every incident change as it happens, the incidents at the end and the webhook deliveries.
``incidents`` reads the detector's state in the store. ``receive`` is a small webhook receiver that checks
signatures, for trying webhooks out (docs/STREAM.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from store.cli_errors import URL_HELP
from store.cli_errors import errors as _errors
from triage.errors import InputError
from triage_cli.common import echo_json

incidents_app = typer.Typer(
    help="Incidents found by the crisis detector over the stored stream (URL: --url or TRIAGE_STORE_URL). "
    "See docs/STREAM.md.",
    no_args_is_help=True,
)
REF_KEYS = ("thread_id", "parent_id", "customer_id")


def _tracker(url: str | None):  # -> IncidentTracker (SQLAlchemy imported only when a command runs)
    from store.poststore import PostStore
    from store.stream import open_tracker

    return open_tracker(PostStore(url))


def incident_line(incident: Any) -> str:
    """One line for a person: id, state, kind and triggers, posts and channels, the first post."""
    channels = ", ".join(f"{c} {n}" for c, n in sorted(incident.counts_by_channel.items()))
    what = "/".join([incident.kind, *incident.triggers])
    return (f"{incident.id}  {incident.state:<8} {what:<16} posts={incident.posts} authors={incident.authors} "
            f"({channels})  first={incident.first_post_id}  opened={incident.opened_at.isoformat(timespec='minutes')}")


def _check_brands(brands: list[str]) -> None:
    """Every brand must have a policy (checked before the database is opened)."""
    from triage.resources import policies_dir

    known = sorted(p.stem for p in policies_dir().glob("*.yaml"))
    for name in brands:
        if name not in known:
            raise InputError(f"unknown brand {name!r} (brands with a policy: {', '.join(known)})",
                             code="unknown_brand", field="brand")


@incidents_app.command("list")
def list_cmd(
    brand: list[str] = typer.Option([], "--brand", help="Only these brands (repeatable; default: all)."),
    state: str = typer.Option("open", "--state", help="open (opened or growing), opened, growing, resolved, all."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines (the API's incident objects)."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
) -> None:
    """Incidents in the store, newest first."""
    from store.stream import STATES, list_incidents

    with _errors():
        if state not in STATES:
            raise InputError(f"--state must be one of {', '.join(STATES)}", code="invalid_state", field="state")
        _check_brands(brand)
        for incident in list_incidents(_tracker(url), brands=brand or None, state=state):
            typer.echo(json.dumps(incident.model_dump(mode="json"), ensure_ascii=False) if as_json
                       else incident_line(incident))


@incidents_app.command("show")
def show_cmd(
    incident_id: str = typer.Argument(..., help="The incident's id (e.g. default-000001)."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
) -> None:
    """One incident with its evidence (JSON)."""
    from store.stream import brand_of_incident

    with _errors():
        try:
            brand = brand_of_incident(incident_id)
        except ValueError as exc:
            raise InputError(str(exc), code="unknown_incident", field="incident_id") from None
        incident = _tracker(url).incident(brand, incident_id)
        if incident is None:
            raise InputError(f"no incident {incident_id!r} in the store", code="unknown_incident",
                             field="incident_id")
        echo_json(incident.model_dump(mode="json"))


@incidents_app.command("receive")
def receive_cmd(
    port: int = typer.Option(8765, "--port", help="Port to listen on (127.0.0.1)."),
    secret: str = typer.Option(..., "--secret", envvar="TRIAGE_WEBHOOK_SECRET",
                               help="The shared secret [TRIAGE_WEBHOOK_SECRET]."),
    count: int = typer.Option(0, "--count", help="Exit after this many deliveries (0: run until Ctrl-C)."),
) -> None:
    """A webhook receiver for trying webhooks out: checks each signature, prints one line per delivery."""
    from store.webhook_receiver import serve

    serve(port, secret, count)


def _read_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{number}: not JSON ({exc.msg})", code="invalid_input") from None
            if not isinstance(data, dict):
                raise InputError(f"{path}:{number}: expected a JSON object", code="invalid_input")
            yield number, data


def to_post(data: dict[str, Any], default_brand: str | None) -> Any:
    """A ``Post`` from a replay line; ``thread_id``, ``parent_id`` and ``customer_id`` may sit at the top level."""
    from triage.types import Post

    data = dict(data)
    metadata = dict(data.pop("metadata", None) or {})
    for key in REF_KEYS:
        if key in data:
            metadata[key] = data.pop(key)
    if default_brand and not data.get("brand"):
        data["brand"] = default_brand
    return Post.model_validate({**data, "metadata": metadata})


def post_line(result: Any) -> str:
    """One line per replayed post: id, labels, route, triggers, context, incident."""
    labels = "/".join(result.labels.get(h, "-") for h in ("intent", "sentiment", "urgency"))
    routing = result.routing
    route = f"{routing.queue} {routing.priority}" if routing else "-"
    parts = [f"{result.post_id or '-':<8} {labels:<28} -> {route:<14}"]
    if routing and routing.triggers:
        parts.append(f"triggers={','.join(routing.triggers)}")
    ctx = result.context
    if ctx is not None:
        if ctx.is_follow_up:
            raised = ""
            if ctx.urgency_raised_from:
                raised = f", urgency {ctx.urgency_raised_from}->{result.labels.get('urgency')}"
            parts.append(f"follow-up of {ctx.linked_post_id or '-'} (case {ctx.case_id}, contact "
                         f"{ctx.repeat_count}{raised})")
        if ctx.me_too:
            parts.append(f"me-too of {ctx.parent_post_id or 'the thread'}")
        if ctx.repost:
            parts.append("campaign" if ctx.campaign else "repost")
        if ctx.incident is not None:
            parts.append(f"incident {ctx.incident.id}")
    return "  ".join(parts).rstrip()


def is_event(data: dict[str, Any]) -> bool:
    """A helpdesk event line (the body of ``POST /v1/events``), not a post."""
    return "kind" in data and "post_id" in data and "text" not in data


def _change_printer(change: Any) -> None:
    incident = change.incident
    last_reason = incident.reasons[-1] if incident.reasons else ""
    typer.echo(f"  ** incident {incident.id} {change.change}: {'/'.join([incident.kind, *incident.triggers])}, "
               f"{incident.posts} posts, {incident.authors} authors; {last_reason}")


def _replay_event(stream: Any, data: dict[str, Any], number: int) -> None:
    at = datetime.fromisoformat(data["at"]) if data.get("at") else None
    event, created = stream.store.record_event(
        str(data["post_id"]), str(data["kind"]), str(data.get("actor") or "replay"), at=at,
        note=data.get("note"), event_id=data.get("event_id"),
    )
    typer.echo(f"{'event':<8} {event.kind} on {event.post_id} by {event.actor}"
               + ("" if created else " (already recorded)"))


def replay_cmd(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="JSON Lines: posts and helpdesk events, "
                                "as the API takes them."),
    store_url: str | None = typer.Option(None, "--store", help=URL_HELP),
    model: Path | None = typer.Option(None, "--model", help="Model folder (default: the shipped model)."),
    brand: str | None = typer.Option(None, "--brand", help="Brand of posts that name none."),
    webhook: list[str] = typer.Option([], "--webhook", help="POST incident changes here (repeatable)."),
    webhook_secret: str | None = typer.Option(None, "--webhook-secret", envvar="TRIAGE_WEBHOOK_SECRET",
                                              help="Secret of the webhook signatures [TRIAGE_WEBHOOK_SECRET]."),
    quiet_until: str | None = typer.Option(None, "--quiet-until", help="Then let stream time pass to this ISO "
                                           "time with no posts (quiet incidents resolve)."),
    as_json: bool = typer.Option(False, "--json", help="Print each result as JSON instead of one line."),
) -> None:
    """Replay posts through engine + store + crisis detector, in file order; print posts and incidents.

    A line is the body of POST /v1/triage (text, id, channel, author, created_at, brand, metadata with
    thread_id / parent_id / customer_id; those three may also sit at the top level), or the body of
    POST /v1/events (post_id, kind, actor, at, event_id, note).
    """
    with _errors():
        if webhook and not webhook_secret:
            raise InputError("--webhook needs --webhook-secret (or TRIAGE_WEBHOOK_SECRET)", code="missing_secret")
        until = datetime.fromisoformat(quiet_until) if quiet_until else None
        lines = list(_read_lines(file))  # every line is read and parsed before the model loads
        _replay(lines, store_url, model, brand, webhook, webhook_secret or "", until, as_json)


def _replay(lines: list[tuple[int, dict[str, Any]]], store_url: str | None, model: Path | None, brand: str | None,
            webhooks: list[str], secret: str, until: datetime | None, as_json: bool) -> None:
    from store.poststore import PostStore
    from store.stream import connect_stream, list_incidents
    from store.webhooks import WebhookSender
    from triage.loading import load_engine
    from triage.stream.tracker import Listener

    posts = {n: to_post(d, brand) for n, d in lines if not is_event(d)}
    engine = load_engine(model, brand=brand)
    engine.warm_up()  # before the stream is connected: nothing of the warm-up is stored or counted
    store = PostStore(store_url, redact=engine.redact)
    if store.identity_key is None:
        typer.echo("warning: TRIAGE_IDENTITY_KEY is not set: customers are not recognised across posts", err=True)
    sender = WebhookSender(webhooks, secret, backoff_s=0.5, retries=3) if webhooks else None
    listeners: list[Listener] = [_change_printer]
    if sender is not None:
        listeners.append(sender.send)
    stream = connect_stream(engine, store, listeners=listeners)
    for number, data in lines:
        if number not in posts:
            _replay_event(stream, data, number)
            continue
        result = stream.engine.triage(posts[number])
        typer.echo(json.dumps(result.model_dump(mode="json"), ensure_ascii=False) if as_json else post_line(result))
    if until is not None:
        stream.tracker.sweep(until.replace(tzinfo=UTC) if until.tzinfo is None else until)
    typer.echo("incidents:")
    for incident in list_incidents(stream.tracker, state="all"):
        typer.echo("  " + incident_line(incident))
    if sender is not None:
        left = sender.close(timeout_s=30.0)
        for d in sender.outcomes():
            status = "delivered" if d.delivered else f"FAILED ({d.error or d.status})"
            typer.echo(f"webhook {d.type} {d.event_id} -> {d.url}: {status}, HTTP {d.status}, {d.attempts} attempt(s)")
        if left:
            typer.echo(f"webhook: {left} delivery(ies) still queued when the replay ended", err=True)
    store.close()


def register(app: typer.Typer) -> None:
    """Add ``triage incidents`` and ``triage replay`` (called by ``store.cli.register``)."""
    app.add_typer(incidents_app, name="incidents")
    app.command("replay")(replay_cmd)
