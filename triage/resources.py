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
    return Path(os.environ.get("TRIAGE_MODEL", project_home() / "models" / "default"))


def policies_dir() -> Path:
    return project_home() / "data" / "policies"


def replies_dir() -> Path:
    return project_home() / "data" / "replies"
