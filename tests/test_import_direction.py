"""The core library must not depend on its shells or on heavy training/serving stacks."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "triage"
# The CLI is a shell inside the package: it may import typer and, lazily, serving and training.
SHELLS = {CORE / "cli", CORE / "__main__.py"}
FORBIDDEN = {"serving", "training", "fastapi", "starlette", "uvicorn", "typer", "click", "torch", "transformers", "ray"}


def _core_files() -> list[Path]:
    return [p for p in CORE.rglob("*.py") if not any(p == s or s in p.parents for s in SHELLS)]


def test_core_source_never_imports_shells_or_heavy_stacks() -> None:
    offenders = []
    for path in _core_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []


def test_importing_the_core_loads_no_heavy_stack() -> None:
    modules = sorted({p.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".").removesuffix(".__init__") for p in _core_files()})
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {sorted(FORBIDDEN)!r})\n"
        + "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == ""
