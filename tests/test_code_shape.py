"""Code shape: no function or method of the project's packages is longer than 80 lines.

A function's length runs from its ``def`` line to its last line (``end_lineno - lineno + 1``), docstring
and signature included. No exemptions: a longer function is split into named helpers.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("triage", "triage_cli", "serving", "store", "batch", "training", "learning")
MAX_LINES = 80


def _long_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            assert node.end_lineno is not None
            lines = node.end_lineno - node.lineno + 1
            if lines > MAX_LINES:
                found.append(f"{path.relative_to(ROOT).as_posix()}:{node.name} ({lines} lines)")
    return found


def test_no_function_is_longer_than_80_lines() -> None:
    files = []
    for package in PACKAGES:
        assert (ROOT / package).is_dir(), f"package {package} is missing"
        files += sorted((ROOT / package).rglob("*.py"))
    assert files
    too_long = [entry for path in files for entry in _long_functions(path)]
    assert not too_long, f"functions longer than {MAX_LINES} lines:\n" + "\n".join(too_long)
