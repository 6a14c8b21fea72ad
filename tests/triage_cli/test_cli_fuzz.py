"""Random argument lists for `classify`, `entities` and `policy check`: whatever is typed, the command
either works (exit 0) or says what is wrong in one line (exit 2) — never a traceback, never exit 1."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import triage.loading
from triage_cli import _register, app

_register()
runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]

COMMANDS: dict[tuple[str, ...], list[str]] = {
    ("classify",): ["--file", "-f", "--format", "--model", "--brand", "--channel", "--id", "--author", "--gender",
                    "--created-at", "--thread", "--agent-name", "--eta"],
    ("entities",): [],
    ("policy", "check"): ["--schema", "--replies", "--policies", "--strict"],
}
VALUES = [
    "-", "", "--", "summary", "json", "whatsapp", "whatsap", "f", "m", "x", "northwind", "default", "acme",
    "2026-09-15T10:00:00+03:00", "2026-02-30", "yesterday", "brand: thanks", "name=Dana", "first_name=",
    "עד 16:00", "052-3456789", "שבועיים מחכה לחבילה", "Charged twice", "\u202eevil", "\x00", "🙂",
    str(ROOT / "data" / "policies" / "default.yaml"), str(ROOT / "data" / "policies"), str(ROOT / "data" / "schemas"),
    str(ROOT / "data" / "replies"), str(ROOT / "data" / "schemas" / "default.yaml"), "/nonexistent/file.yaml",
    str(ROOT / "README.md"), str(ROOT / "models"),
]


POSITIONAL = {
    ("classify",): ["שבועיים מחכה לחבילה, הזמנה 4471902", "Charged twice this month", "-", "hello"],
    ("entities",): ["ת\"ז 123456782, כרטיס 4580 4580 4580 4580", "-", "call 052-3456789"],
    ("policy", "check"): [str(ROOT / "data" / "policies" / "default.yaml"),
                          str(ROOT / "data" / "policies" / "northwind.yaml")],
}
FLAGS = {"--strict"}


@st.composite
def argument_lists(draw: st.DrawFn) -> tuple[list[str], str]:
    """Mostly well-formed commands with odd values (so many succeed), sometimes raw token soup."""
    path = draw(st.sampled_from(sorted(COMMANDS)))
    value = st.one_of(st.sampled_from(VALUES), st.text(max_size=15))
    if draw(st.integers(0, 3)) == 0:
        token = st.one_of(st.sampled_from(COMMANDS[path] or ["--x"]), value)
        args = draw(st.lists(token, max_size=7))
    else:
        args = [draw(st.one_of(st.sampled_from(POSITIONAL[path]), value))]
        for option in draw(st.lists(st.sampled_from(COMMANDS[path] or ["--x"]), max_size=3)):
            args += [option] if option in FLAGS else [option, draw(value)]
    stdin = draw(st.one_of(st.just(""), st.sampled_from(VALUES), st.text(max_size=40)))
    return [*path, *args], stdin


@pytest.fixture()
def cached_engines(monkeypatch: pytest.MonkeyPatch, fake_classifier: Any) -> None:
    """Build each (brand) engine once: the fuzz test is about argument handling, not load time."""
    real = triage.loading.load_engine

    @lru_cache(maxsize=8)
    def cached(brand: str | None) -> Any:
        return real(classifier=fake_classifier, brand=brand)

    def load_engine(model_dir: Path | None = None, *, brand: str | None = None, **kwargs: Any) -> Any:
        if model_dir is not None:
            return real(model_dir, brand=brand, **kwargs)
        return cached(brand)

    monkeypatch.setattr(triage.loading, "load_engine", load_engine)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=argument_lists())
def test_random_arguments_never_give_a_traceback(case: tuple[list[str], str], isolated_home: Path,
                                                 cached_engines: None, no_server: None) -> None:
    args, stdin = case
    result = runner.invoke(app, args, input=stdin)
    event(f"{args[0]} exit {result.exit_code}")
    assert "Traceback" not in result.output, (args, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), (args, repr(result.exception))
    assert result.exit_code in (0, 2), (args, result.exit_code, result.output[-500:])
    if result.exit_code == 2:
        assert any(line.startswith(("error", "warning")) for line in result.stderr.splitlines()) or \
            "Usage:" in result.output, (args, result.output[-500:])
