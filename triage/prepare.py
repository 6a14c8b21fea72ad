"""The stages before the model: validate -> normalise -> language -> entities, as one ``PostContext``.

They need no model, so the engine, ``triage entities`` and anything that stores text (feedback, the post
store) share this one implementation: a text is redacted the same way wherever it goes.
"""

from __future__ import annotations

import time

from triage.entities import EntityExtractor
from triage.text.language import LanguageIdentifier
from triage.text.normalise import normalise
from triage.text.validate import TextLimits, check_text
from triage.types import Post, PostContext


def elapsed_ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


class TextStages:
    """Validation and the model-free stages. Thread-compatible: share one per worker process."""

    def __init__(
        self,
        limits: TextLimits | None = None,
        language_identifier: LanguageIdentifier | None = None,
        entity_extractor: EntityExtractor | None = None,
    ) -> None:
        self.limits = limits or TextLimits()
        self.language_identifier = language_identifier or LanguageIdentifier()
        self.entity_extractor = entity_extractor or EntityExtractor()

    def check(self, post: Post, prefix: str = "") -> None:
        """Validate a post's texts against the limits; InputError names the field (``prefix`` + path)."""
        check_text(post.text, self.limits, field=f"{prefix}text")
        for j, message in enumerate(post.thread):
            check_text(message.text, self.limits, field=f"{prefix}thread[{j}].text")

    def prepare(self, post: Post, *, checked: bool = False) -> PostContext:
        """normalise -> language -> entities (``checked``: the caller validated the post already)."""
        if not checked:
            self.check(post)
        timings: dict[str, float] = {}
        t = time.perf_counter()
        norm = normalise(post.text)
        timings["normalise"] = elapsed_ms(t)
        t = time.perf_counter()
        language = self.language_identifier.identify(norm.text)
        timings["language"] = elapsed_ms(t)
        t = time.perf_counter()
        entities = self.entity_extractor.extract(norm, language.language)
        timings["entities"] = elapsed_ms(t)
        return PostContext(post, norm, language, entities, timings)

    def redact(self, text: str) -> str:
        """``text`` with its personal data replaced ([PHONE], [EMAIL], ...): for anything that stores text."""
        norm = normalise(text)
        language = self.language_identifier.identify(norm.text)
        return self.entity_extractor.extract(norm, language.language).redacted_text
