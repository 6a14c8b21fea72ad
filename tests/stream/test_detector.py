"""Behaviour of the crisis detector on small deterministic streams (see helpers.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tests.stream.helpers import START, Stream, changes, config, merge, opened, run
from triage.stream import CrisisDetector

DAY = 24.0


def _warm(stream: Stream, days: float = 2.0) -> list:
    return list(stream.background(START, days * DAY))


def test_steady_background_opens_no_incident() -> None:
    stream = Stream(rate_per_min=3.0)
    observations = run(CrisisDetector(config()), list(stream.background(START, 4 * DAY)))
    assert opened(observations) == []


def test_burst_of_near_identical_complaints_opens_one_incident() -> None:
    stream = Stream()
    warm = _warm(stream)
    burst_start = START + timedelta(days=2, hours=3)
    burst = stream.burst(burst_start, n=20, minutes=10)
    after = list(stream.background(burst_start, 2.0))
    detector = CrisisDetector(config())
    observations = run(detector, merge(warm, burst, after))
    ids = opened(observations)
    assert len(ids) == 1
    incident = next(i for i in detector.incidents("acme") if i.id == ids[0])
    assert incident.kind == "volume"
    assert incident.opened_at - burst[0].time < timedelta(minutes=10)
    assert incident.first_post_id == burst[0].post_id
    assert set(incident.example_post_ids) <= {e.post_id for e in burst}
    assert incident.posts == 20 and incident.authors >= 4
    assert sum(incident.counts_by_channel.values()) == 20
    assert any("trouble posts in 10 min" in r for r in incident.reasons)


def test_sale_that_looks_busy_opens_no_incident() -> None:
    stream = Stream(rate_per_min=3.0)
    warm = _warm(stream)
    # Two days of a sale: three times the traffic, mostly purchase questions and happy buyers, and the
    # classifier calls a few of those sale questions complaints.
    sale_mix = (("sale", "purchase_intent", "neutral", "normal", "sales", 0.6),
                ("sale", "praise", "positive", "low", "community", 0.3),
                ("sale", "complaint", "neutral", "normal", "care", 0.05))
    sale = stream.background(START + timedelta(days=2), 2 * DAY, busy=2.0, extra=sale_mix)
    observations = run(CrisisDetector(config()), merge(warm, sale))
    assert opened(observations) == []


def test_incident_is_deduplicated_and_grows() -> None:
    stream = Stream()
    warm = _warm(stream)
    start = START + timedelta(days=2, hours=3)
    first = stream.burst(start, n=10, minutes=10)
    more = stream.burst(start + timedelta(minutes=10), n=80, minutes=50)
    detector = CrisisDetector(config())
    observations = run(detector, merge(warm, first, more))
    assert len(opened(observations)) == 1
    assert len(changes(observations, "growing")) == 1
    (incident,) = detector.incidents("acme")
    assert incident.state == "growing"
    assert incident.posts == 90


def test_incident_resolves_after_quiet_and_a_new_burst_opens_a_new_one() -> None:
    stream = Stream()
    warm = _warm(stream)
    start = START + timedelta(days=2, hours=3)
    burst = stream.burst(start, n=20, minutes=10)
    quiet = list(stream.background(start, 8.0))
    again = stream.burst(start + timedelta(hours=8), n=20, minutes=10)
    tail = list(stream.background(start + timedelta(hours=8), 1.0))
    detector = CrisisDetector(config(resolve_after_minutes=120.0))
    observations = run(detector, merge(warm, burst, quiet, again, tail))
    first, second = opened(observations)
    assert changes(observations, "resolved") == [first]
    resolved = next(i for i in detector.incidents("acme") if i.id == first)
    assert resolved.state == "resolved" and resolved.resolved_at is not None
    # Quiet means the last two hours are no longer significantly above the baseline.
    assert resolved.resolved_at - resolved.opened_at >= timedelta(minutes=120)
    assert resolved.resolved_at < again[0].time
    assert second != first


def test_tick_resolves_when_no_posts_arrive() -> None:
    stream = Stream()
    burst = stream.burst(START + timedelta(days=2), n=20, minutes=10)
    detector = CrisisDetector(config())
    run(detector, merge(_warm(stream), burst))
    assert [c.change for c in detector.tick(burst[-1].time + timedelta(hours=6))] == ["resolved"]


def test_one_customer_writing_ten_times_is_not_a_crisis() -> None:
    stream = Stream()
    flood = stream.burst(START + timedelta(days=2, hours=3), n=10, minutes=10, topic="my-order", author="same")
    observations = run(CrisisDetector(config()), merge(_warm(stream), flood))
    assert opened(observations) == []


def test_viral_post_opens_one_incident_and_grows_with_its_counts() -> None:
    stream = Stream()
    t = START + timedelta(days=2, hours=3)
    post = stream.post(t, "viral", "complaint", channel="tiktok", shares=3, views=400)
    refreshes = [
        stream.post(t + timedelta(minutes=5 * k), "viral", "complaint", channel="tiktok", shares=shares,
                    views=shares * 100, refresh=True)
        for k, shares in ((1, 40), (2, 150), (3, 400), (4, 900))
    ]
    refreshes = [replace(r, post_id=post.post_id) for r in refreshes]
    detector = CrisisDetector(config())
    observations = run(detector, merge(_warm(stream), [post], refreshes))
    ids = opened(observations)
    assert len(ids) == 1
    (incident,) = detector.incidents("acme")
    assert incident.kind == "viral" and incident.first_post_id == post.post_id
    assert incident.opened_at == refreshes[1].time  # 150 shares: past the floor and far above the brand
    assert incident.state == "growing"  # 900 shares is more than twice the reach at opening
    assert incident.posts == 1  # refreshes are not new posts


def test_stated_share_count_makes_a_post_viral() -> None:
    stream = Stream()
    post = stream.post(START + timedelta(hours=3), "viral", "complaint", text="הפוסט הזה כבר עם 2,000 שיתופים")
    (observation,) = run(CrisisDetector(config()), [post])
    (change,) = observation.changes
    assert change.incident.kind == "viral"
    assert "2,000 shares" in change.incident.reasons[0]


def test_critical_trigger_opens_an_incident_of_its_own_kind() -> None:
    stream = Stream()
    t = START + timedelta(days=2, hours=3)
    lawyer = stream.post(t, "delivery", "complaint", urgency="critical", triggers=("lawyer",))
    detector = CrisisDetector(config())
    observations = run(detector, merge(_warm(stream), [lawyer]))
    (iid,) = opened(observations)
    incident = next(i for i in detector.incidents("acme") if i.id == iid)
    assert incident.kind == "trigger" and incident.triggers == ["lawyer"]
    assert incident.first_post_id == lawyer.post_id
    assert incident.opened_at == t  # no warm-up needed: a single post decides


def test_trigger_words_without_urgency_or_in_praise_open_nothing() -> None:
    stream = Stream()
    t = START + timedelta(hours=3)
    calm = stream.post(t, "praise", "praise", sentiment="positive", urgency="critical", triggers=("media",))
    minor = stream.post(t, "delivery", "complaint", urgency="low", triggers=("lawyer",))
    assert opened(run(CrisisDetector(config()), [calm, minor])) == []


def test_campaign_trigger_posts_join_one_incident_across_clusters() -> None:
    stream = Stream()
    t = START + timedelta(hours=3)
    posts = [stream.post(t + timedelta(minutes=k), f"phish-{k}", "question", "neutral", "critical", "crisis",
                         triggers=("phishing",)) for k in range(5)]
    detector = CrisisDetector(config())
    observations = run(detector, posts)
    assert len(opened(observations)) == 1
    (incident,) = detector.incidents("acme")
    assert incident.posts == 5


def test_text_signatures_cluster_posts_without_embeddings() -> None:
    stream = Stream()
    warm = [replace(e, embedding=None) for e in _warm(stream)]
    start = START + timedelta(days=2, hours=3)
    texts = [f"Is there an outage in Haifa? no internet since {h}:00!!" for h in range(20)]
    burst = [stream.post(start + timedelta(seconds=25 * k), "x", "complaint", text=text, embed=False)
             for k, text in enumerate(texts)]
    observations = run(CrisisDetector(config()), merge(warm, burst))
    assert len(opened(observations)) == 1
    clusters = {o.cluster for o in observations[-20:]}
    assert len(clusters) == 1 and next(iter(clusters)).startswith("t")
