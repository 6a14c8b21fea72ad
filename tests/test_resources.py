"""Model folders named on the command line / TRIAGE_MODEL: a path, or a shipped model's name."""

from __future__ import annotations

from pathlib import Path

import pytest

from triage import resources


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "models" / "teacher").mkdir(parents=True)
    monkeypatch.setenv("TRIAGE_HOME", str(tmp_path))
    monkeypatch.delenv("TRIAGE_MODEL", raising=False)
    return tmp_path


def test_a_bare_name_is_a_shipped_model(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(home / "data")  # no ./teacher here
    assert resources.resolve_model_dir("teacher") == home / "models" / "teacher"


def test_an_existing_folder_wins_over_a_name(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (home / "data" / "teacher").mkdir()
    monkeypatch.chdir(home / "data")
    assert resources.resolve_model_dir("teacher") == Path("teacher")


def test_paths_and_unknown_names_are_returned_as_given(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(home / "data")
    assert resources.resolve_model_dir("runs/x") == Path("runs/x")
    assert resources.resolve_model_dir("nosuch") == Path("nosuch")


def test_triage_model_takes_a_name_and_defaults_to_default(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(home / "data")
    assert resources.default_model_dir() == home / "models" / "default"
    monkeypatch.setenv("TRIAGE_MODEL", "teacher")
    assert resources.default_model_dir() == home / "models" / "teacher"
