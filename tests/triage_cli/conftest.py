"""Fixtures for running CLI commands safely: a throw-away project home, the fake model, no server.

Commands with default paths write into the project (``triage data build`` writes data/corpus, ``data
stats`` writes STATS.md). Tests that throw bad or random arguments at every command must never touch the
real files, so they run with ``TRIAGE_HOME`` pointing at a temporary copy of the small config folders
(schemas, policies, reply libraries) and an empty ``data/raw`` and ``data/corpus``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

import triage.loading

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    for name in ("schemas", "policies", "replies"):
        shutil.copytree(ROOT / "data" / name, home / "data" / name)
    for name in ("raw", "corpus"):
        (home / "data" / name).mkdir(parents=True)
    monkeypatch.setenv("TRIAGE_HOME", str(home))
    monkeypatch.delenv("TRIAGE_MODEL", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)                     # relative outputs (runs/, eval-*) land here
    return home


@pytest.fixture()
def fast_model(monkeypatch: pytest.MonkeyPatch, fake_classifier: Any) -> None:
    """The shipped model takes seconds to load; the fake stands in unless a --model folder is named."""
    real = triage.loading.load_classifier

    def load(model_dir: Path | None = None, threads: int | None = None) -> Any:
        return fake_classifier if model_dir is None else real(model_dir, threads)

    monkeypatch.setattr(triage.loading, "load_classifier", load)


@pytest.fixture()
def no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """If arguments ever got as far as starting the server, fail instead of serving forever."""
    try:
        import serving.server
    except ImportError:
        return

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the arguments reached the point of starting the server")

    monkeypatch.setattr(serving.server, "run_uvicorn", refuse)
