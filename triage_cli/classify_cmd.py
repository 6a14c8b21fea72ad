"""``triage classify`` and ``triage entities``: posts in, JSON (or a one-line summary per post) out.

Input: the post as an argument, ``-`` for the whole of stdin as one post, or ``--file F`` (``-`` for
stdin) with one post per line — plain text lines, or JSON Lines objects with ``text`` and any other
``Post`` field (``id``, ``channel``, ``author``, ``created_at``, ``thread``, ``metadata``...). Options
give the defaults a JSON line may override.

Everything the user typed is checked before the model loads, so a typo costs no model load and gives one
line on stderr and exit status 2. The engine is loaded and warmed up (tokenizers, language detector,
spaCy) before the first post, and that time is reported on stderr apart from the posts' own
``timings_ms``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from triage.errors import InputError
from triage.text.validate import TextLimits, check_text
from triage.types import CHANNELS, Post, TriageResult
from triage_cli.common import echo_json, user_errors

BATCH = 64
STDIN = "-"
JSONL_SUFFIXES = (".jsonl", ".ndjson")

Channel = StrEnum("Channel", {c: c for c in CHANNELS})  # type: ignore[misc]


class OutputFormat(StrEnum):
    json = "json"
    summary = "summary"


class Gender(StrEnum):
    f = "f"
    m = "m"


def _parse_author(value: str | None, gender: Gender | None) -> dict[str, Any] | None:
    """``"Dana Levi"`` (a display name) or ``"first_name=Dana,handle=@dana"``."""
    if value is None:
        return {"gender": gender.value} if gender else None
    if "=" not in value:
        author: dict[str, Any] = {"name": value}
    else:
        author = {}
        for part in value.split(","):
            key, sep, item = part.partition("=")
            key = key.strip()
            if not sep or key not in ("name", "first_name", "handle"):
                raise typer.BadParameter(f"expected NAME or name=/first_name=/handle= pairs, got {part!r}",
                                         param_hint="--author")
            author[key] = item.strip()
    if gender is not None:
        author["gender"] = gender.value
    return author


def _parse_created_at(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not an ISO 8601 time (like 2026-09-15T10:30+03:00)",
                                 param_hint="--created-at") from exc


def _parse_thread(messages: Sequence[str]) -> list[dict[str, str]]:
    """``"brand: ..."`` and ``"customer: ..."`` set who wrote a parent message (default: the customer)."""
    out = []
    for message in messages:
        role, sep, rest = message.partition(":")
        if sep and role.strip() in ("brand", "customer", "other"):
            out.append({"role": role.strip(), "text": rest.strip()})
        else:
            out.append({"role": "customer", "text": message})
    return out


def _read_text(source: str) -> str:
    if source == STDIN:
        data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode("utf-8")
        return _decode(data, "stdin").rstrip("\r\n")
    return source


def _decode(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{where} is not UTF-8 text (byte {exc.start}: {exc.reason})", code="invalid_utf8") from exc


def _file_lines(file: Path) -> tuple[str, list[str]]:
    if str(file) == STDIN:
        data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode("utf-8")
        return "stdin", _decode(data, "stdin").splitlines()
    if file.is_dir():
        raise InputError(f"{file} is a folder, not a file of posts", code="invalid_file")
    try:
        data = file.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(f"{file} does not exist", code="file_not_found") from exc
    return str(file), _decode(data, str(file)).splitlines()


def _is_jsonl(file: Path, lines: list[str]) -> bool:
    if file.suffix.lower() in JSONL_SUFFIXES:
        return True
    first = next((line for line in lines if line.strip()), "")
    return first.lstrip().startswith("{")


def _posts_from_file(file: Path, defaults: dict[str, Any]) -> list[Post]:
    where, lines = _file_lines(file)
    jsonl = _is_jsonl(file, lines)
    posts: list[Post] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            if jsonl:
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise ValueError(f"expected a JSON object with 'text', got {type(row).__name__}")
                posts.append(Post.model_validate({**defaults, **row}))
            else:
                posts.append(Post.model_validate({**defaults, "text": line, "id": defaults.get("id") or str(number)}))
        except ValueError as exc:  # json and pydantic errors alike
            raise InputError(f"{where}:{number}: {_short(exc)}", code="invalid_post") from exc
    if not posts:
        raise InputError(f"{where} holds no posts", code="empty_input")
    return posts


def _check_posts(posts: Sequence[Post], where: str | None) -> None:
    """The engine's text checks (empty, too long, broken encoding), naming the post's id or line."""
    limits = TextLimits()
    for i, post in enumerate(posts):
        prefix = f"{where}: post {post.id or i + 1}: " if where else ""
        check_text(post.text, limits, field=f"{prefix}text")
        for j, message in enumerate(post.thread):
            check_text(message.text, limits, field=f"{prefix}thread[{j}].text")


def _short(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'post'}: {e['msg']}" for e in errors()[:3])
    return " ".join(str(exc).split())


def _summary(index: int, result: TriageResult) -> str:
    labels = "/".join(result.labels.values())
    parts = [f"#{result.post_id or index}", result.language.language, labels]
    d = result.routing
    if d is not None:
        parts.append(f"-> {d.queue} {d.priority} {d.reply_mode}" + (" needs-human" if d.needs_human else ""))
        parts.append(f"due {d.first_response_due:%Y-%m-%d %H:%M}")
        if "hide" in d.actions:
            parts.append("HIDE")
    top = result.suggested_replies[0].template_id if result.suggested_replies else "-"
    parts.append(f"reply={top}")
    text = " ".join(result.redacted_text.split())
    parts.append(json.dumps(text[:60] + ("…" if len(text) > 60 else ""), ensure_ascii=False))
    return "  ".join(parts)


def _batches(posts: Sequence[Post]) -> Iterator[Sequence[Post]]:
    for i in range(0, len(posts), BATCH):
        yield posts[i : i + BATCH]


def classify(
    text: str | None = typer.Argument(None, help="The post's text; '-' reads one post from stdin."),
    file: Path | None = typer.Option(None, "--file", "-f", help="Posts, one per line (text or JSON Lines); '-' is "
                                     "stdin."),
    output_format: OutputFormat = typer.Option(OutputFormat.json, "--format", help="json: the full result (JSON "
                                               "Lines for --file); summary: one line per post."),
    model: Path | None = typer.Option(None, "--model", help="Model folder (default: the shipped models/default)."),
    brand: str | None = typer.Option(None, "--brand", help="Brand policy to route with (default: 'default')."),
    channel: Channel = typer.Option("facebook", "--channel", help="Channel the post came from."),
    post_id: str | None = typer.Option(None, "--id", help="The post's id."),
    author: str | None = typer.Option(None, "--author", help="Display name, or first_name=..,handle=.. pairs."),
    gender: Gender | None = typer.Option(None, "--gender", help="Address the author as a woman (f) or a man (m)."),
    created_at: str | None = typer.Option(None, "--created-at", help="When the post was written (ISO 8601)."),
    thread: list[str] = typer.Option([], "--thread", help="An earlier message of the thread, oldest first "
                                     "(repeatable; prefix 'brand:' for the brand's own)."),
    agent_name: str | None = typer.Option(None, "--agent-name", help="Who signs the suggested replies."),
    eta: str | None = typer.Option(None, "--eta", help="When the brand will answer ('by 4 pm', '16:00')."),
) -> None:
    """Triage posts and print the full TriageResult as JSON, or a one-line summary per post."""
    from triage.loading import load_engine

    if (text is None) == (file is None):
        raise typer.BadParameter("give the post's text (or '-' for stdin), or --file", param_hint="TEXT")
    defaults: dict[str, Any] = {
        "channel": channel.value, "brand": brand, "id": post_id, "author": _parse_author(author, gender),
        "created_at": _parse_created_at(created_at), "thread": _parse_thread(thread),
        "agent_name": agent_name, "eta": eta,
    }
    defaults = {k: v for k, v in defaults.items() if v not in (None, [])}
    with user_errors():
        # Every input is read and checked before the model loads.
        if text is not None:
            posts = [Post.model_validate({**defaults, "text": _read_text(text)})]
            _check_posts(posts, None)
        else:
            posts = _posts_from_file(file, defaults)  # type: ignore[arg-type]
            _check_posts(posts, str(file))
        start = time.perf_counter()
        engine = load_engine(model_dir=model, brand=brand)
        engine.warm_up()
        load_ms = (time.perf_counter() - start) * 1000
        start = time.perf_counter()
        results = [r for batch in _batches(posts) for r in engine.triage_batch(batch)]
        run_ms = (time.perf_counter() - start) * 1000
    for i, result in enumerate(results, 1):
        if output_format is OutputFormat.summary:
            typer.echo(_summary(i, result))
        else:
            echo_json(result.model_dump(mode="json"), indent=2 if file is None else None)
    # Load and warm-up are paid once per process; the posts' own timings_ms leave them out.
    typer.echo(f"load_ms={load_ms:.0f} posts={len(results)} triage_ms={run_ms:.0f}", err=True)


def entities(text: str = typer.Argument(..., help="The post's text; '-' reads it from stdin.")) -> None:
    """Print the personal and case data found in a post, with offsets, and its redacted text."""
    from triage.prepare import TextStages

    with user_errors():
        context = TextStages().prepare(Post(text=_read_text(text)))
        echo_json({"language": context.language.language, **context.entities.model_dump(mode="json")})


def register(app: typer.Typer) -> None:
    for command in (classify, entities):
        app.command()(command)
