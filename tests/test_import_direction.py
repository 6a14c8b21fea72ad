"""The package fence: what each of the project's packages may import, and no import cycles at all.

``triage`` is the inference library: it imports none of the shells around it (the command line, the
REST service, training, batch jobs) and none of their heavy stacks. The shells may import the core and
the command line's shared helpers, never each other. No exemptions: a new dependency either fits this
table or the design is wrong.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("triage", "triage_cli", "batch", "serving", "training", "bench", "store", "learning")
HEAVY = {"fastapi", "starlette", "uvicorn", "typer", "click", "torch", "transformers", "ray", "sqlalchemy",
         "alembic", "datasets", "sklearn", "matplotlib", "prometheus_client"}
# package -> the project's packages it may import (besides itself)
ALLOWED = {
    "triage": set(),
    "triage_cli": {"triage"},
    "batch": {"triage", "triage_cli"},
    "serving": {"triage", "triage_cli", "store", "learning"},
    "training": {"triage", "triage_cli"},
    "bench": {"triage", "batch", "serving", "training", "store", "learning"},
    "store": {"triage", "triage_cli"},
    # the learning loop: corrections, registry, compare, shadow, active learning (serving reads it)
    "learning": {"triage", "triage_cli", "store", "training"},
}


def _modules() -> dict[str, Path]:
    """Every module of the project's packages: dotted name -> file."""
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = path.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".").removesuffix(".__init__")
            out[name] = path
    return out


def _imported_names(path: Path, module: str) -> list[str]:
    """Every module name ``path`` imports, at any depth (lazy imports inside functions count too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")
                parent = parts if is_package else parts[:-1]
                parent = parent[: len(parent) - (node.level - 1)]
                base = ".".join([*parent, base] if base else parent)
            names.append(base)
            names += [f"{base}.{a.name}" for a in node.names]
    return names


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        for imported in _imported_names(path, name):
            if imported in modules and imported != name:
                graph[name].add(imported)
    return graph


def test_every_package_imports_only_what_the_fence_allows() -> None:
    offenders = []
    for name, path in _modules().items():
        package = name.split(".")[0]
        for imported in _imported_names(path, name):
            top = imported.split(".")[0]
            if top in PACKAGES and top != package and top not in ALLOWED[package]:
                offenders.append(f"{path.relative_to(ROOT)}: {imported}")
            if package == "triage" and top in HEAVY:
                offenders.append(f"{path.relative_to(ROOT)}: {imported} (heavy stack in the core)")
    assert offenders == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles_among_the_projects_modules() -> None:
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_importing_the_core_loads_no_heavy_stack() -> None:
    modules = sorted(m for m in _modules() if m.split(".")[0] == "triage" and m != "triage.__main__")
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {sorted(HEAVY | set(PACKAGES) - {'triage'})!r})\n"
        + "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == ""
