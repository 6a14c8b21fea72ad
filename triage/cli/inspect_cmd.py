"""``triage classify`` and ``triage entities``: one post in, JSON out."""

from __future__ import annotations

from pathlib import Path

import typer

from triage.cli import app
from triage.cli.common import echo_json, user_errors


@app.command()
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


@app.command()
def entities(text: str = typer.Argument(..., help="The post's text.")) -> None:
    """Print the personal and case data found in a post, with offsets, and its redacted text."""
    from triage.entities import EntityExtractor
    from triage.text.language import LanguageIdentifier
    from triage.text.normalise import normalise
    from triage.text.validate import TextLimits, check_text

    with user_errors():
        check_text(text, TextLimits())
        norm = normalise(text)
        language = LanguageIdentifier().identify(norm.text)
        result = EntityExtractor().extract(norm, language.language)
        echo_json({"language": language.language, **result.model_dump(mode="json")})
