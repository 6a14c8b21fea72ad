"""Where the shipped data lives: the default schema, policies, reply libraries and model.

A source checkout or editable install finds them beside the package; an installed copy (e.g. the Docker
image) points ``TRIAGE_HOME`` at a folder holding ``data/`` and ``models/``.
"""

from __future__ import annotations

import os
from pathlib import Path

from triage.errors import ConfigError


def project_home() -> Path:
    env = os.environ.get("TRIAGE_HOME")
    if env:
        home = Path(env)
        if not (home / "data").is_dir():
            raise ConfigError(f"TRIAGE_HOME={env} has no data/ folder; point it at the triage project folder")
        return home
    here = Path(__file__).resolve().parent.parent
    if (here / "data").is_dir():
        return here
    raise ConfigError(
        "cannot find triage's data/ folder: run from a source checkout (pip install -e .) or set TRIAGE_HOME"
    )


def default_schema_path() -> Path:
    return project_home() / "data" / "schemas" / "default.yaml"


def default_model_dir() -> Path:
    """``TRIAGE_MODEL`` (a folder or a shipped model's name), else the shipped ``models/default``."""
    env = os.environ.get("TRIAGE_MODEL")
    return resolve_model_dir(env) if env else project_home() / "models" / "default"


def resolve_model_dir(name_or_path: str | Path) -> Path:
    """A model folder given as a path, or by the name of a folder under ``models/`` (``teacher`` -> ``models/teacher``).

    A bare name that is not a folder here is looked up under the project's ``models/``; anything else is
    returned as given, so a wrong path still fails with the model loader's own message.
    """
    path = Path(name_or_path)
    if path.exists() or len(path.parts) != 1:
        return path
    named = project_home() / "models" / path.name
    return named if named.is_dir() else path


def policies_dir() -> Path:
    return project_home() / "data" / "policies"


def replies_dir() -> Path:
    return project_home() / "data" / "replies"
