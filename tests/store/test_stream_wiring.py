"""The engine wired to the post store and the crisis detector (``store.stream``), idempotent helpdesk events,
and the ``triage replay`` / ``triage incidents`` commands."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from store import PostStore
from store.stream import Stream, connect_stream, list_incidents, open_tracker
from tests.conftest import FAKE_FALLBACK, FAKE_RULES, ROOT
from tests.store.conftest import KEY, T0
from triage.classify.fake import FakeClassifier
from triage.engine import Engine
from triage.errors import InputError
from triage.loading import load_engine
from triage.schema import LabelSchema
from triage.types import Author, Post
from triage_cli import _register, app

_register()
runner = CliRunner()
EXAMPLE = ROOT / "docs" / "examples" / "stream_example.jsonl"


@pytest.fixture(scope="module")
def routed_engine(default_schema: LabelSchema) -> Engine:
    return load_engine(classifier=FakeClassifier(default_schema, rules=FAKE_RULES, fallback=FAKE_FALLBACK),
                       replies=False)


@pytest.fixture()
def stream(db_path: Path, routed_engine: Engine) -> Iterator[Stream]:
    store = PostStore(f"sqlite:///{db_path}", identity_key=KEY, redact=routed_engine.redact)
    yield connect_stream(routed_engine, store)
    store.close()


def _post(text: str, post_id: str, minutes: float, channel: str = "facebook", handle: str = "dana_k",
          **metadata: object) -> Post:
    return Post(text=text, id=post_id, channel=channel, author=Author(handle=handle),  # type: ignore[arg-type]
                created_at=T0 + timedelta(minutes=minutes), metadata=metadata)


def test_a_customer_on_two_channels_is_one_case(stream: Stream) -> None:
    first = stream.engine.triage(_post("charged twice this month, call me 052-3456789", "fb-1", 0))
    assert first.routing is not None and first.routing.queue == "billing" and first.context is not None
    assert not first.context.is_follow_up
    # WhatsApp: the handle is her phone number; nothing in the text names her.
    again = stream.engine.triage(_post("still waiting, third time I write", "wa-1", 90, "whatsapp", "+972523456789"))
    ctx = again.context
    assert ctx is not None and ctx.is_follow_up and ctx.linked_post_id == "fb-1" and ctx.case_id == "fb-1"
    assert (ctx.repeat_count, ctx.urgency_floor, ctx.urgency_raised_from) == (3, "high", "normal")
    assert again.labels["urgency"] == "high" and again.heads["urgency"].label == "normal"
    assert again.routing is not None and (again.routing.queue, again.routing.priority) == ("billing", "P2")
    stored = stream.store.get_post("wa-1")
    assert stored is not None and stored.context is not None and stored.context["case_id"] == "fb-1"
    assert stored.customer_key == stream.store.get_post("fb-1").customer_key  # type: ignore[union-attr]
    assert stored.labels["urgency"] == "high"


def test_a_me_too_under_a_stored_post_joins_its_incident(stream: Stream) -> None:
    parent = stream.engine.triage(_post("אין אינטרנט בכל רמת גן, אני עובר לפרטנר", "fb-100", 0, handle="noa"))
    assert parent.routing is not None and parent.routing.triggers == ["outage"]
    assert parent.context is not None and parent.context.incident is not None
    reply = stream.engine.triage(_post("גם אצלי", "fb-101", 2, handle="yossi", parent_id="fb-100"))
    ctx = reply.context
    assert ctx is not None and ctx.me_too and ctx.parent_post_id == "fb-100"
    assert ctx.incident is not None and ctx.incident.id == parent.context.incident.id
    assert reply.routing is not None and reply.routing.queue == "crisis" and reply.routing.triggers == ["outage"]
    stored = stream.store.get_post("fb-101")
    assert stored is not None and stored.triggers == ["outage"] and stored.thread_id == "fb-100"


def test_incidents_live_in_the_store_for_every_worker(stream: Stream, db_path: Path, routed_engine: Engine) -> None:
    for i in range(8):
        stream.engine.triage(_post("אין אינטרנט בחיפה, עובר לפרטנר" if i == 0 else "אין אינטרנט בחיפה", f"p{i}", i,
                                   handle=f"u{i}"))
    other_worker = open_tracker(PostStore(f"sqlite:///{db_path}", identity_key=KEY, redact=routed_engine.redact))
    found = list_incidents(other_worker)
    assert [(i.state, i.posts, i.triggers) for i in found] == [("opened", 8, ["outage"])]
    assert list_incidents(other_worker, state="resolved") == [] and list_incidents(other_worker, brands=["x"]) == []
    assert other_worker.incident("default", found[0].id) == found[0]
    assert other_worker.incident("nobody", "nobody-000001") is None and "nobody" not in other_worker.brands()


def test_events_are_idempotent_by_their_id(stream: Stream) -> None:
    stream.engine.triage(_post("charged twice", "fb-1", 0))
    event, created = stream.store.record_event("fb-1", "replied", "agent-17", event_id="hd-1", note="call 052-3456789")
    again, created_again = stream.store.record_event("fb-1", "replied", "agent-17", event_id="hd-1")
    assert created and not created_again and again.id == event.id and event.note == "call [PHONE]"
    assert len(stream.store.list_events(post_id="fb-1")) == 1
    with pytest.raises(InputError) as err:
        stream.store.record_event("fb-1", "resolved", "agent-17", event_id="hd-1")
    assert err.value.code == "event_id_conflict"
    _, fresh = stream.store.record_event("fb-1", "resolved", "agent-17")  # no id: every call is recorded
    assert fresh and len(stream.store.list_events(post_id="fb-1")) == 2


def _cli(*args: str):
    return runner.invoke(app, list(args))


@pytest.fixture()
def cli_env(db_path: Path, routed_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TRIAGE_IDENTITY_KEY", KEY.secret.decode())
    monkeypatch.delenv("TRIAGE_STORE_URL", raising=False)
    monkeypatch.setattr("triage.loading.load_engine", lambda *a, **k: routed_engine)
    return f"sqlite:///{db_path}"


def test_replay_the_worked_example(cli_env: str) -> None:
    result = _cli("replay", str(EXAMPLE), "--store", cli_env)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "replied on fb-100 by agent-17 (already recorded)" in out
    assert "me-too of fb-100" in out and "follow-up of fb-200 (case fb-200, contact 3" in out
    assert len(out.splitlines()) >= 29 and out.splitlines()[-1].startswith(("incidents:", "  default-"))


def _wave_file(tmp_path: Path) -> Path:
    lines = [{"id": f"p{i}", "text": "אין אינטרנט בחיפה, עובר לפרטנר" if i == 0 else "אין אינטרנט בחיפה",
              "channel": ("facebook", "instagram", "twitter")[i % 3], "author": {"handle": f"@u{i}"},
              "created_at": f"2026-06-07T09:{i:02d}:00+03:00"} for i in range(12)]
    path = tmp_path / "wave.jsonl"
    path.write_text("\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n", encoding="utf-8")
    return path


def test_replay_a_wave_then_list_and_show_incidents(cli_env: str, tmp_path: Path) -> None:
    result = _cli("replay", str(_wave_file(tmp_path)), "--store", cli_env, "--quiet-until", "2026-06-07T16:00+03:00")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "** incident default-000001 opened: trigger/outage" in out
    assert "** incident default-000001 growing" in out and "** incident default-000001 resolved" in out
    assert len([line for line in out.splitlines() if line.startswith("p") and "incident default-000001" in line]) == 12
    listed = _cli("incidents", "list", "--url", cli_env, "--state", "all", "--json")
    assert listed.exit_code == 0, listed.output
    incidents = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(i["id"], i["state"], i["posts"]) for i in incidents] == [("default-000001", "resolved", 12)]
    shown = _cli("incidents", "show", "default-000001", "--url", cli_env)
    assert shown.exit_code == 0 and json.loads(shown.stdout)["counts_by_channel"]["twitter"] == 4
    assert _cli("incidents", "list", "--url", cli_env).stdout == ""  # nothing open any more
    table = _cli("incidents", "list", "--url", cli_env, "--state", "resolved").stdout
    assert table.startswith("default-000001  resolved trigger/outage") and "first=p0" in table


def test_incident_commands_fail_in_one_line(cli_env: str) -> None:
    for args, code in ((("incidents", "show", "nope"), "unknown_incident"),
                       (("incidents", "show", "default-000009"), "unknown_incident"),
                       (("incidents", "list", "--state", "closed"), "invalid_state")):
        result = _cli(*args, "--url", cli_env)
        assert result.exit_code == 2 and f"error [{code}]" in result.stderr, result.output
        assert len(result.stderr.strip().splitlines()) == 1


def test_replay_refuses_a_bad_file_before_loading_anything(cli_env: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\nnot json\n', encoding="utf-8")
    result = _cli("replay", str(bad), "--store", cli_env)
    assert result.exit_code == 2 and "bad.jsonl:2: not JSON" in result.stderr
    webhook = _cli("replay", str(EXAMPLE), "--store", cli_env, "--webhook", "http://127.0.0.1:9/")
    assert webhook.exit_code == 2 and "error [missing_secret]" in webhook.stderr


def test_two_workers_share_one_detector_state(db_path: Path, routed_engine: Engine) -> None:
    workers = [connect_stream(routed_engine, PostStore(f"sqlite:///{db_path}", identity_key=KEY,
                                                       redact=routed_engine.redact)) for _ in range(2)]
    refs = []
    for i in range(10):
        text = "אין אינטרנט בחיפה, עובר לפרטנר" if i == 0 else "אין אינטרנט בחיפה"
        result = workers[i % 2].engine.triage(_post(text, f"p{i}", i, handle=f"u{i}"))
        refs.append(result.context.incident if result.context else None)
    assert all(r is not None and r.id == "default-000001" for r in refs)
    assert [r.posts for r in refs if r] == list(range(1, 11))  # each worker saw the other's posts
    found = list_incidents(workers[0].tracker)
    assert [(i.id, i.posts, i.authors) for i in found] == [("default-000001", 10, 10)]
    for worker in workers:
        worker.store.close()
