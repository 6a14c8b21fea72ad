from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from triage.classify.base import ClassifierOutput
from triage.classify.fake import FakeClassifier
from triage.engine import Engine
from triage.errors import InferenceError, InputError
from triage.text.validate import TextLimits
from triage.types import Post

POSTS = [
    "שבועיים מחכה לחבילה ואף אחד לא עונה, הזמנה 4471902",
    "Charged twice this month. Again. call me 052-3456789",
    "תודה לנציגה שרית, שירות מדהים!",
    "Follow me for free crypto",
    "מצאתי זכוכית בסלט!!! עורך דין כבר בדרך",
    "😂😂😂😂",
    "Где мой заказ?",
]


@pytest.fixture()
def engine(fake_classifier: FakeClassifier) -> Engine:
    return Engine(fake_classifier)


def test_single_post_gives_a_full_result(engine: Engine) -> None:
    result = engine.triage(Post(text=POSTS[0], id="p1"))
    assert result.post_id == "p1"
    assert result.language.language == "he"
    assert result.labels == {"intent": "complaint", "sentiment": "negative", "urgency": "normal"}
    assert set(result.heads["intent"].probabilities) == set(engine.classifier.schema.head("intent").labels)
    assert abs(sum(result.heads["intent"].probabilities.values()) - 1.0) < 1e-5
    assert [e.type for e in result.entities] == ["order_id"]
    assert result.model_version == "fake-0"
    assert {"normalise", "language", "entities", "classify"} <= set(result.timings_ms)


def test_batch_equals_single(engine: Engine) -> None:
    posts = [Post(text=t, id=str(i)) for i, t in enumerate(POSTS)]
    batch = engine.triage_batch(posts)
    for post, got in zip(posts, batch, strict=True):
        alone = engine.triage(post)
        assert got.model_dump(exclude={"timings_ms"}) == alone.model_dump(exclude={"timings_ms"})
    assert engine.classifier.calls[0] == len(posts)  # one model call for the whole batch


def test_redacted_text_has_no_pii(engine: Engine) -> None:
    result = engine.triage(Post(text=POSTS[1]))
    assert "052-3456789" not in result.redacted_text and "[PHONE]" in result.redacted_text


@pytest.mark.parametrize(
    ("text", "code"),
    [("", "empty_text"), ("   \n", "empty_text"), ("x" * 5001, "text_too_long"),
     ("bad \ud800 surrogate", "invalid_utf8")],
)
def test_bad_text_is_a_clear_input_error(engine: Engine, text: str, code: str) -> None:
    with pytest.raises(InputError) as info:
        engine.triage(Post(text=text))
    assert info.value.code == code and info.value.field == "text"


def test_bidi_overrides_are_rejected_by_default_and_stripped_on_request(fake_classifier: FakeClassifier) -> None:
    # One validation for every path: the library's default is the API's (a bidi override is refused).
    text = "\u202eתודה\u202c רבה"
    with pytest.raises(InputError) as info:
        Engine(fake_classifier).triage(Post(text=text))
    assert info.value.code == "bidi_control"
    lenient = Engine(fake_classifier, limits=TextLimits(reject_bidi_overrides=False))
    assert lenient.triage(Post(text=text)).normalised_text == "תודה רבה"


def test_batch_error_names_the_post(engine: Engine) -> None:
    with pytest.raises(InputError, match="post 1"):
        engine.triage_batch([Post(text="ok"), Post(text="")])


def test_a_failing_model_raises_inference_error_never_a_guess(default_schema) -> None:
    class Broken(FakeClassifier):
        def predict(self, texts):  # type: ignore[override]
            raise RuntimeError("session died")

    with pytest.raises(InferenceError, match="session died"):
        Engine(Broken(default_schema)).triage(Post(text="hello"))


def test_uncertain_heads_are_flagged(default_schema) -> None:
    class Unsure(FakeClassifier):
        def predict(self, texts):  # type: ignore[override]
            out = super().predict(texts)
            n = len(default_schema.head("intent").labels)
            out.probabilities["intent"] = np.full((len(texts), n), 1.0 / n, dtype=np.float32)
            return ClassifierOutput(out.probabilities, out.embeddings)

    result = Engine(Unsure(default_schema)).triage(Post(text="hmm"))
    assert result.heads["intent"].uncertain and not result.heads["sentiment"].uncertain


def test_naive_timestamps_are_utc() -> None:
    post = Post(text="x", created_at=datetime(2026, 1, 1, 12, 0))
    assert post.created_at == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_unknown_channel_is_rejected() -> None:
    with pytest.raises(ValueError, match="channel"):
        Post.model_validate({"text": "x", "channel": "myspace"})


def test_a_thread_in_the_request_is_context_without_a_store(engine: Engine) -> None:
    from triage.types import ThreadMessage

    alone = engine.triage(Post(text="Same here"))
    assert alone.context is None and "context" not in alone.timings_ms
    reply = engine.triage(Post(text="Same here", thread=[ThreadMessage(role="customer", text="no internet in Haifa")]))
    assert reply.context is not None and reply.context.me_too and not reply.context.is_follow_up
    chase = engine.triage(Post(text="still waiting!!", thread=[ThreadMessage(role="customer", text="my router died"),
                                                                ThreadMessage(role="customer", text="hello?")]))
    assert chase.context is not None and chase.context.is_follow_up and chase.context.repeat_count == 3
    assert chase.labels["urgency"] == "high" and chase.heads["urgency"].label == "normal"
    assert chase.context.urgency_raised_from == "normal"
