from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from triage import __version__
from triage_cli import _register, app

_register()
runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_entities_prints_json_with_offsets() -> None:
    text = "הזמנה 4471902, טלפון 052-3456789"
    result = runner.invoke(app, ["entities", text])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["language"] == "he"
    assert [(e["type"], text[e["start"] : e["end"]]) for e in data["entities"]] == [
        ("order_id", "4471902"),
        ("phone", "052-3456789"),
    ]
    assert data["redacted_text"] == "הזמנה 4471902, טלפון [PHONE]"


def test_entities_rejects_empty_text_clearly() -> None:
    result = runner.invoke(app, ["entities", "  "])
    assert result.exit_code == 2
    assert "empty_text" in result.stderr


def test_classify_says_clearly_when_no_model_is_installed(tmp_path: Path) -> None:
    result = runner.invoke(app, ["classify", "שלום", "--model", str(tmp_path / "nothing")])
    assert result.exit_code == 2
    assert "no model is installed" in result.stderr and "triage train" in result.stderr
