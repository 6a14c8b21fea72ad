"""The optional micro-batcher: batches under load, no added latency when idle, isolation of bad posts."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from serving.app import create_app
from serving.microbatch import MicroBatcher
from serving.settings import ServeSettings
from tests.conftest import FAKE_FALLBACK, FAKE_RULES
from tests.serving.conftest import engine_with
from triage.classify.base import ClassifierOutput
from triage.classify.fake import FakeClassifier
from triage.engine import Engine
from triage.errors import InputError
from triage.types import Post, TriageResult


def _scorer(engine: Engine, delay: float = 0.0) -> Callable[[Sequence[Post]], list[TriageResult]]:
    def score(posts: Sequence[Post]) -> list[TriageResult]:
        time.sleep(delay)
        return engine.triage_batch(posts)

    return score


def test_concurrent_posts_share_model_calls(shared_engine: Engine) -> None:
    async def main() -> tuple[list[TriageResult], list[int]]:
        with ThreadPoolExecutor(1) as pool:
            batcher = MicroBatcher(_scorer(shared_engine, 0.05), pool, window_ms=5, max_batch=8)
            await batcher.start()
            results = await asyncio.gather(*(batcher.submit(Post(text=f"post {i} thanks")) for i in range(20)))
            await batcher.stop()
            return results, batcher.batches

    results, batches = asyncio.run(main())
    assert [r.normalised_text for r in results] == [f"post {i} thanks" for i in range(20)]
    assert all(r.labels["intent"] == "praise" for r in results)
    assert sum(batches) == 20 and max(batches) == 8 and len(batches) < 20


def test_an_idle_batcher_adds_no_latency(shared_engine: Engine) -> None:
    async def main() -> float:
        with ThreadPoolExecutor(1) as pool:
            batcher = MicroBatcher(_scorer(shared_engine), pool, window_ms=300, max_batch=8)
            await batcher.start()
            await batcher.submit(Post(text="warm"))
            start = time.perf_counter()
            await batcher.submit(Post(text="hello"))
            elapsed = time.perf_counter() - start
            await batcher.stop()
            return elapsed

    assert asyncio.run(main()) < 0.15  # far below the 300 ms window


def test_one_bad_post_does_not_fail_the_others(shared_engine: Engine) -> None:
    async def main() -> list[object]:
        with ThreadPoolExecutor(1) as pool:
            batcher = MicroBatcher(_scorer(shared_engine, 0.05), pool, window_ms=5, max_batch=8)
            await batcher.start()
            blocker = batcher.submit(Post(text="first"))  # occupies the model so the rest queue together
            rest = [batcher.submit(Post(text=t)) for t in ("good one", "   ", "good two")]
            out = await asyncio.gather(blocker, *rest, return_exceptions=True)
            await batcher.stop()
            return out

    out = asyncio.run(main())
    assert isinstance(out[2], InputError) and out[2].code == "empty_text"
    assert [o.normalised_text for o in (out[1], out[3])] == ["good one", "good two"]  # type: ignore[union-attr]


def test_cancelled_posts_are_skipped_and_stop_fails_the_queue(shared_engine: Engine) -> None:
    seen: list[int] = []

    def score(posts: Sequence[Post]) -> list[TriageResult]:
        seen.append(len(posts))
        time.sleep(0.1)
        return shared_engine.triage_batch(posts)

    async def main() -> None:
        with ThreadPoolExecutor(1) as pool:
            batcher = MicroBatcher(score, pool, window_ms=0, max_batch=8)
            await batcher.start()
            first = batcher.submit(Post(text="one"))
            gone = batcher.submit(Post(text="two"))
            kept = batcher.submit(Post(text="three"))
            gone.cancel()  # its caller timed out: it must not be scored
            await asyncio.gather(first, kept)
            running = batcher.submit(Post(text="four"))
            await asyncio.sleep(0.02)  # "four" is being scored now
            queued = batcher.submit(Post(text="five"))
            await batcher.stop()
            assert running.result().normalised_text == "four"  # finished before stop returned
            with pytest.raises(RuntimeError, match="shutting down"):
                queued.result()
            with pytest.raises(RuntimeError, match="not started"):
                batcher.submit(Post(text="late"))

    asyncio.run(main())
    assert seen == [2, 1]


class _Counting(FakeClassifier):
    delay = 0.03

    def predict(self, texts: Sequence[str]) -> ClassifierOutput:
        time.sleep(self.delay)
        return super().predict(texts)


@pytest.mark.parametrize("microbatch", [False, True])
def test_app_results_are_the_same_with_and_without_microbatching(
    microbatch: bool, shared_engine: Engine, default_schema, make_settings: Callable[..., ServeSettings]
) -> None:
    classifier = _Counting(default_schema, rules=FAKE_RULES, fallback=FAKE_FALLBACK)
    app = create_app(make_settings(microbatch=microbatch, microbatch_window_ms=5),
                     engine=engine_with(shared_engine, classifier=classifier))

    async def main() -> list[httpx.Response]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                return await asyncio.gather(
                    *(client.post("/v1/triage", json={"text": f"thanks {i}", "id": str(i)}) for i in range(12))
                )

    responses = asyncio.run(main())
    assert [r.status_code for r in responses] == [200] * 12
    assert [r.json()["post_id"] for r in responses] == [str(i) for i in range(12)]
    assert all(r.json()["labels"]["intent"] == "praise" for r in responses)
    if microbatch:
        assert len(classifier.calls) < 12 and sum(classifier.calls) == 12
    else:
        assert classifier.calls == [1] * 12
    assert threading.active_count() < 50


class _BreaksOnPoison(FakeClassifier):
    """A model that raises on one particular text (a tokenizer edge case, say), slow enough to batch."""

    attempts: list[int]

    def predict(self, texts: Sequence[str]) -> ClassifierOutput:
        self.attempts.append(len(texts))
        time.sleep(0.04)
        if any("poison" in t for t in texts):
            raise RuntimeError("the model cannot score this text")
        return super().predict(texts)


def test_a_post_that_breaks_the_model_fails_only_its_own_request(
    shared_engine: Engine, default_schema, make_settings: Callable[..., ServeSettings]
) -> None:
    """8 normal clients and 1 whose post breaks the model, micro-batched: only that one gets an error."""
    classifier = _BreaksOnPoison(default_schema, rules=FAKE_RULES, fallback=FAKE_FALLBACK)
    classifier.attempts = []
    app = create_app(
        make_settings(microbatch=True, microbatch_window_ms=20),
        engine=engine_with(shared_engine, classifier=classifier),
    )
    texts = ["thanks 0", "thanks 1", "thanks 2", "thanks 3", "poison pill", "thanks 5", "thanks 6", "thanks 7",
             "thanks 8"]

    async def main() -> list[httpx.Response]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                return await asyncio.gather(*(client.post("/v1/triage", json={"text": t}) for t in texts))

    responses = asyncio.run(main())
    assert max(classifier.attempts) > 2  # the posts really went to the model together
    statuses = {t: r.status_code for t, r in zip(texts, responses, strict=True)}
    assert statuses.pop("poison pill") == 503
    assert responses[4].json()["error"]["code"] == "inference_failed"
    assert set(statuses.values()) == {200}, statuses


def test_any_batch_failure_is_retried_post_by_post(shared_engine: Engine) -> None:
    def score(posts: Sequence[Post]) -> list[TriageResult]:
        time.sleep(0.03)
        if any(p.text == "bad" for p in posts):
            raise KeyError("a bug that only this post triggers")
        return shared_engine.triage_batch(posts)

    async def main() -> list[object]:
        with ThreadPoolExecutor(1) as pool:
            batcher = MicroBatcher(score, pool, window_ms=5, max_batch=8)
            await batcher.start()
            blocker = batcher.submit(Post(text="first"))
            rest = [batcher.submit(Post(text=t)) for t in ("one", "bad", "two")]
            out = await asyncio.gather(blocker, *rest, return_exceptions=True)
            await batcher.stop()
            return out

    out = asyncio.run(main())
    assert isinstance(out[2], KeyError)
    assert [o.normalised_text for o in (out[0], out[1], out[3])] == ["first", "one", "two"]  # type: ignore[union-attr]
