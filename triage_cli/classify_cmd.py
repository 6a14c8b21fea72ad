"""``triage classify`` and ``triage entities``: one post in, JSON out."""

from __future__ import annotations

from pathlib import Path

import typer

from triage_cli.common import echo_json, user_errors


def classify(
    text: str = typer.Argument(..., help="The post's text."),
    model: Path | None = typer.Option(None, "--model", help="Model folder (default: the shipped models/default)."),
    brand: str | None = typer.Option(None, "--brand", help="Brand policy to route with (default: 'default')."),
    channel: str = typer.Option("facebook", "--channel", help="Channel the post came from."),
) -> None:
    """Triage one post and print the full TriageResult as JSON."""
    from triage.loading import load_engine
    from triage.types import Post

    with user_errors():
        engine = load_engine(model_dir=model, brand=brand)
        post = Post.model_validate({"text": text, "channel": channel, "brand": brand})
        echo_json(engine.triage(post).model_dump(mode="json"))


def entities(text: str = typer.Argument(..., help="The post's text.")) -> None:
    """Print the personal and case data found in a post, with offsets, and its redacted text."""
    from triage.prepare import TextStages
    from triage.types import Post

    with user_errors():
        context = TextStages().prepare(Post(text=text))
        echo_json({"language": context.language.language, **context.entities.model_dump(mode="json")})


def register(app: typer.Typer) -> None:
    for command in (classify, entities):
        app.command()(command)
