"""Settings from TRIAGE_* variables, the bind policy, ``serve()`` wiring and the ``triage serve`` command."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from typer.testing import CliRunner

from serving import server
from serving.keys import hash_key, make_entry
from serving.metrics import MULTIPROC_ENV
from serving.settings import ServeSettings, available_cores, load_settings
from triage.errors import ConfigError, ModelNotInstalledError
from triage_cli import _register, app

_register()
runner = CliRunner()
# serve() configures logging for the process; the test process keeps its own.
_NO_LOG_CONFIG = mock.patch("logging.config.dictConfig")


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _, acme = make_entry("acme")
    _, ops = make_entry("ops", "*")
    monkeypatch.setenv("TRIAGE_API_KEYS", f"{acme}, {ops}")
    monkeypatch.setenv("TRIAGE_MAX_BATCH", "7")
    monkeypatch.setenv("TRIAGE_MICROBATCH", "false")
    monkeypatch.setenv("TRIAGE_MODEL", str(tmp_path))
    monkeypatch.setenv("TRIAGE_REQUEST_TIMEOUT_S", "2.5")
    s = ServeSettings()
    assert [k.tenant for k in s.api_keys] == ["acme", "ops"] and s.auth_enabled
    assert s.max_batch == 7 and s.microbatch is False and s.model_dir == tmp_path and s.request_timeout_s == 2.5
    monkeypatch.setenv("TRIAGE_MODEL_DIR", str(tmp_path / "other"))
    assert ServeSettings().model_dir == tmp_path / "other"  # the server's own name wins


def test_defaults() -> None:
    with mock.patch.dict(os.environ, {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}, clear=True):
        s = ServeSettings()
    assert s.host == "127.0.0.1" and s.port == 8000 and s.threads == 1 and not s.auth_enabled
    assert s.microbatch is True and s.database_url == "sqlite:///./triage-feedback.db"
    assert s.max_body_bytes >= s.max_batch * s.max_chars * 6  # a full batch of \\u-escaped Hebrew fits
    assert s.resolved_workers() == available_cores() >= 1


def test_workers_read_exactly_the_parents_settings(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text(make_entry("acme", "acme,globex")[1] + "\n")
    s = ServeSettings(api_keys_file=keys, max_batch=9, microbatch=True, model_dir=tmp_path, port=9000, brand="acme")
    with mock.patch.dict(os.environ, s.to_env(), clear=True):
        again = ServeSettings()
    assert again.model_dump() == s.model_dump()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TRIAGE_MAX_BATCH": "0"}, "TRIAGE_MAX_BATCH"),
        ({"TRIAGE_PORT": "http"}, "TRIAGE_PORT"),
        ({"TRIAGE_API_KEYS": "acme:secret"}, "TRIAGE_API_KEYS: the entry for tenant 'acme' does not hold a sha256"),
        ({"TRIAGE_DATABASE_URL": "feedback.db"}, "TRIAGE_DATABASE_URL: not an SQLAlchemy URL"),
        ({"TRIAGE_LOG_LEVEL": "loud"}, "TRIAGE_LOG_LEVEL"),
    ],
)
def test_invalid_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigError, match=message) as info:
        load_settings()
    assert "secret" not in str(info.value) or "sha256" in str(info.value)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.0.0.2", True), ("localhost", True), ("::1", True), ("[::1]", True),
     ("0.0.0.0", False), ("::", False), ("10.1.2.3", False), ("example.com", False)],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert server.is_loopback(host) is loopback


def test_without_keys_the_server_binds_loopback_only(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="triage.serving")
    assert server.bind_host(ServeSettings(host="0.0.0.0", api_keys=[])) == "127.0.0.1"
    assert "refusing to bind to 0.0.0.0; binding to 127.0.0.1 only" in caplog.text
    assert server.bind_host(ServeSettings(host="0.0.0.0", api_keys=[make_entry("a")[1]])) == "0.0.0.0"


def test_serve_wires_uvicorn(tmp_path: Path) -> None:
    calls: list[dict[str, Any]] = []

    def fake_run(config: Any, **options: Any) -> None:
        calls.append({"config": config, "env": dict(os.environ), **options})

    with mock.patch.dict(os.environ, {}, clear=False), mock.patch.object(server, "run_uvicorn",
                                                                         fake_run), _NO_LOG_CONFIG:
        os.environ.pop(MULTIPROC_ENV, None)
        settings = ServeSettings(host="0.0.0.0", workers=2, graceful_timeout_s=12, api_keys=[])
        server.serve(settings, preflight=False)
    (call,) = calls
    config = call["config"]
    assert config.app == "serving.app:create_app_from_env" and config.factory is True
    assert config.host == "127.0.0.1" and config.workers == 2 and config.timeout_graceful_shutdown == 12
    assert config.access_log is False and config.lifespan == "on" and config.timeout_worker_healthcheck >= 30
    assert call["env"]["TRIAGE_THREADS"] == "1" and call["env"]["TRIAGE_HOST"] == "127.0.0.1"
    metrics_dir = call["env"][MULTIPROC_ENV]
    assert metrics_dir and not Path(metrics_dir).exists()  # made for the run, removed after it


def test_shared_socket_is_tcp_so_connections_get_nodelay() -> None:
    import socket

    from serving.supervisor import tcp_socket

    sock = tcp_socket("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP and sock.get_inheritable()
    finally:
        sock.close()


def test_serve_refuses_to_start_without_a_model(tmp_path: Path) -> None:
    with pytest.raises(ModelNotInstalledError), mock.patch.object(server, "run_uvicorn") as run, _NO_LOG_CONFIG:
        server.serve(ServeSettings(model_dir=tmp_path / "none"))
    run.assert_not_called()


def test_cli_serve_help_and_errors(tmp_path: Path) -> None:
    result = runner.invoke(app, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--workers", "--model", "--threads", "--microbatch", "hash-key"):
        assert option in result.output
    with _NO_LOG_CONFIG:
        result = runner.invoke(app, ["serve", "--model", str(tmp_path / "nothing")])
    assert result.exit_code == 2 and "model_not_installed" in result.stderr and "no model is installed" in result.stderr
    result = runner.invoke(app, ["serve", "--workers", "0"])
    assert result.exit_code == 2 and "TRIAGE_WORKERS" in result.stderr


def test_cli_serve_passes_options(tmp_path: Path) -> None:
    seen: list[ServeSettings] = []
    with mock.patch("serving.server.serve", lambda s: seen.append(s)):
        result = runner.invoke(app, ["serve", "--port", "9100", "--workers", "3", "--model", str(tmp_path),
                                     "--microbatch"])
    assert result.exit_code == 0, result.output
    assert seen[0].port == 9100 and seen[0].workers == 3 and seen[0].model_dir == tmp_path and seen[0].microbatch


def test_cli_hash_key() -> None:
    result = runner.invoke(app, ["serve", "hash-key", "--tenant", "acme", "--brands", "acme,globex"])
    assert result.exit_code == 0
    key = result.stdout.split("not stored anywhere): ")[1].split()[0]
    assert f"acme:{hash_key(key)}:acme|globex" in result.stdout
    result = runner.invoke(app, ["serve", "hash-key", "--tenant", "ops", "--key", "given-key", "--brands", "*"])
    assert result.exit_code == 0 and "given-key" not in result.stdout
    assert f"ops:{hash_key('given-key')}:*" in result.stdout
    result = runner.invoke(app, ["serve", "hash-key", "--tenant", "bad tenant"])
    assert result.exit_code == 2 and "invalid_key_entry" in result.stderr


# --- Regressions: TRIAGE_API_KEYS_FILE, worker start-up failures (defect 3) ------------------------


def test_serve_with_a_keys_file_gives_workers_settings_they_can_read(tmp_path: Path) -> None:
    # The parent merged the file into TRIAGE_API_KEYS and left TRIAGE_API_KEYS_FILE set: every worker read
    # both, found each key twice and died ("the same API key hash is configured twice"), in a loop.
    keys = tmp_path / "keys"
    keys.write_text(make_entry("acme", "default")[1] + "\n", encoding="utf-8")
    seen: list[dict[str, str]] = []
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_") and k != MULTIPROC_ENV}
    with mock.patch.dict(os.environ, {**clean, "TRIAGE_API_KEYS_FILE": str(keys)}, clear=True), _NO_LOG_CONFIG, \
            mock.patch.object(server, "run_uvicorn", lambda config, **_: seen.append(dict(os.environ))):
        parent = load_settings()
        server.serve(parent, preflight=False)
        (worker_env,) = seen
        with mock.patch.dict(os.environ, worker_env, clear=True):
            worker = load_settings()  # what serving.app.create_app_from_env does in each worker
    assert "TRIAGE_API_KEYS_FILE" not in worker_env
    assert [k.tenant for k in worker.api_keys] == ["acme"] and worker.model_dump() == parent.model_dump()


def test_export_for_workers_drops_merged_variables(tmp_path: Path) -> None:
    from serving.settings import export_for_workers

    keys = tmp_path / "keys"
    keys.write_text(make_entry("acme")[1] + "\n", encoding="utf-8")
    environ = {"TRIAGE_API_KEYS_FILE": str(keys), "PATH": "/bin"}
    with mock.patch.dict(os.environ, environ, clear=True):
        export_for_workers(load_settings(), environ)
    assert "TRIAGE_API_KEYS_FILE" not in environ and environ["TRIAGE_API_KEYS"].startswith("acme:")
    assert environ["PATH"] == "/bin"


def test_a_worker_with_invalid_settings_exits_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from serving.app import create_app_from_env

    monkeypatch.setenv("TRIAGE_MAX_BATCH", "0")
    caplog.set_level(logging.ERROR, logger="triage.serving")
    with pytest.raises(SystemExit) as info:
        create_app_from_env()
    assert info.value.code == 2
    (record,) = caplog.records
    assert record.getMessage().startswith("error [invalid_config]: invalid server settings")
    assert "TRIAGE_MAX_BATCH" in record.getMessage() and record.exc_info is None
    assert "pydantic" not in record.getMessage() and "Traceback" not in caplog.text


@pytest.mark.parametrize(
    ("code", "ready", "crashes", "stop", "words"),
    [
        (75, True, 0, False, "stuck inference"),
        (2, False, 1, True, "settings"),
        (3, False, 1, True, "before it was ready"),
        (1, False, 1, True, "before it was ready"),
        (-9, True, 1, False, "killed by SIGKILL"),
        (-11, True, 5, True, "5 times"),
        (0, True, 2, False, "exit status 0"),
    ],
)
def test_supervisor_replaces_workers_or_stops_rather_than_loop(
    code: int, ready: bool, crashes: int, stop: bool, words: str
) -> None:
    from serving.supervisor import decide

    stops, message = decide(1234, code, ready, crashes)
    assert stops is stop and words in message
