"""API keys: hashed storage, constant-time lookup, tenants scoped to brands, 401 / 403 errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from serving.keys import KeyRing, hash_key, main, make_entry, new_key, parse_entries, parse_entry
from serving.settings import ServeSettings
from tests.serving.conftest import RecordingRouter, assert_error, engine_with
from triage.engine import Engine
from triage.errors import ConfigError


@pytest.fixture()
def keys() -> dict[str, tuple[str, str]]:
    """tenant -> (key, entry): acme (brand acme), multi (acme and globex), ops (every brand)."""
    return {
        "acme": make_entry("acme"),
        "multi": make_entry("multi", "acme,globex"),
        "ops": make_entry("ops", "*"),
    }


@pytest.fixture()
def authed(make_client: Callable[..., TestClient], shared_engine: Engine,
           keys: dict[str, tuple[str, str]]) -> tuple[TestClient, RecordingRouter]:
    router = RecordingRouter()
    client = make_client(engine=engine_with(shared_engine, router=router), api_keys=[e for _, e in keys.values()])
    return client, router


def test_keys_are_required_on_v1_routes(authed: tuple[TestClient, RecordingRouter]) -> None:
    client, _ = authed
    r = client.post("/v1/triage", json={"text": "hi"})
    assert_error(r, 401, "missing_api_key")
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert_error(client.post("/v1/triage", json={"text": "hi"}, headers={"x-api-key": "trk_wrong"}), 401,
                 "invalid_api_key")
    assert_error(client.get("/v1/model", headers={"authorization": "Bearer nope"}), 401, "invalid_api_key")
    assert_error(client.post("/v1/feedback", json={}), 401, "missing_api_key")
    # Operations endpoints stay open for probes and scrapers.
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/metrics").status_code == 200


def test_header_and_bearer_both_work(authed: tuple[TestClient, RecordingRouter],
                                     keys: dict[str, tuple[str, str]]) -> None:
    client, router = authed
    key = keys["acme"][0]
    assert client.post("/v1/triage", json={"text": "hi"}, headers={"x-api-key": key}).status_code == 200
    assert client.post("/v1/triage", json={"text": "hi"}, headers={"authorization": f"Bearer {key}"}).status_code == 200
    assert client.get("/v1/model", headers={"x-api-key": key}).status_code == 200
    assert router.seen == ["acme", "acme"]  # a post without a brand is triaged for the key's brand


def test_a_key_for_brand_a_cannot_triage_for_brand_b(
    authed: tuple[TestClient, RecordingRouter], keys: dict[str, tuple[str, str]]
) -> None:
    client, router = authed
    acme = {"x-api-key": keys["acme"][0]}
    assert_error(client.post("/v1/triage", json={"text": "hi", "brand": "globex"}, headers=acme), 403,
                 "forbidden_brand", "brand")
    r = client.post("/v1/triage/batch", json={"posts": [{"text": "a"}, {"text": "b", "brand": "globex"}]}, headers=acme)
    assert_error(r, 403, "forbidden_brand", "posts[1].brand")
    assert router.seen == []


def test_multi_brand_and_operator_keys(
    authed: tuple[TestClient, RecordingRouter], keys: dict[str, tuple[str, str]]
) -> None:
    client, router = authed
    multi = {"x-api-key": keys["multi"][0]}
    assert_error(client.post("/v1/triage", json={"text": "hi"}, headers=multi), 422, "brand_required", "brand")
    assert client.post("/v1/triage", json={"text": "hi", "brand": "globex"}, headers=multi).status_code == 200
    ops = {"x-api-key": keys["ops"][0]}
    assert client.post("/v1/triage", json={"text": "hi", "brand": "acme"}, headers=ops).status_code == 200
    assert client.post("/v1/triage", json={"text": "hi"}, headers=ops).status_code == 200
    assert_error(client.post("/v1/triage", json={"text": "hi", "brand": "initech"}, headers=ops), 422, "unknown_brand",
                 "brand")
    assert router.seen == ["globex", "acme", None]


def test_openapi_declares_the_schemes_when_keys_are_configured(authed: tuple[TestClient, RecordingRouter]) -> None:
    client, _ = authed
    spec = client.get("/openapi.json").json()
    assert {"APIKeyHeader", "HTTPBearer"} <= set(spec["components"]["securitySchemes"])
    assert {"401", "403"} <= set(spec["paths"]["/v1/triage"]["post"]["responses"])
    assert "security" not in spec["paths"]["/healthz"]["get"]


def test_entries_round_trip_and_never_hold_the_key() -> None:
    key, entry = make_entry("acme", "acme, acme_il")
    assert key.startswith("trk_") and len(key) > 40 and key not in entry
    parsed = parse_entry(entry)
    assert parsed.tenant == "acme" and parsed.brands == frozenset({"acme", "acme_il"})
    assert parsed.sha256 == hash_key(key) and parse_entry(parsed.to_entry()) == parsed
    assert parse_entry(f"ops:{hash_key(key)}:*").brands is None
    assert parse_entry(f"acme:{hash_key(key).upper()}").brands == frozenset({"acme"})
    assert new_key() != new_key()


@pytest.mark.parametrize(
    "entry",
    ["acme", "acme:" + "a" * 63, "acme:trk_plain_key_here", "bad tenant:" + "a" * 64, "acme:" + "a" * 64 + ":",
     "a:" + "b" * 64 + ":x y"],
)
def test_bad_entries_are_rejected(entry: str) -> None:
    with pytest.raises(ValueError):
        parse_entries(entry) if " " in entry else parse_entry(entry)


def test_lookup_compares_every_entry() -> None:
    keys = [make_entry(f"t{i}") for i in range(5)]
    ring = KeyRing(parse_entries("\n".join(e for _, e in keys) + "\n# a comment\n"))
    assert len(ring) == 5 and bool(ring)
    assert [ring.lookup(k).tenant for k, _ in keys] == [f"t{i}" for i in range(5)]  # type: ignore[union-attr]
    assert ring.lookup("trk_nope") is None and ring.lookup("") is None
    assert not KeyRing()


def test_keys_file_and_duplicates(tmp_path: Path, keys: dict[str, tuple[str, str]]) -> None:
    path = tmp_path / "keys.txt"
    path.write_text(f"# tenants\n{keys['acme'][1]}\n\n{keys['ops'][1]}  # operators\n", encoding="utf-8")
    settings = ServeSettings(api_keys_file=path, api_keys=[keys["multi"][1]])
    assert sorted(k.tenant for k in settings.api_keys) == ["acme", "multi", "ops"]
    assert settings.keyring.lookup(keys["ops"][0]) is not None
    from serving.settings import load_settings

    with pytest.raises(ConfigError, match="twice"):
        load_settings(api_keys_file=path, api_keys=[keys["acme"][1]])
    with pytest.raises(ConfigError, match="TRIAGE_API_KEYS_FILE"):
        load_settings(api_keys_file=tmp_path / "missing.txt")


def test_key_tool_prints_key_and_entry(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["--tenant", "acme", "--brands", "acme,globex"]) == 0
    out = capsys.readouterr().out
    key = out.split("it is not stored anywhere): ")[1].split()[0]
    entry = out.split("TRIAGE_API_KEYS_FILE): ")[1].strip()
    assert parse_entry(entry).sha256 == hash_key(key)
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("my-own-key\n"))
    assert main(["--tenant", "ops", "--brands", "*", "--stdin"]) == 0
    out = capsys.readouterr().out
    assert "my-own-key" not in out and hash_key("my-own-key") in out and out.strip().endswith(":*")
