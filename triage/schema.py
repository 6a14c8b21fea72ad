"""Label schemas: which heads a model predicts and which labels each head has.

The schema is data, not code: the default one lives in ``data/schemas/default.yaml`` and a brand can
train with its own (``data/schemas/banking77.yaml`` is an example). Nothing else in the library names a
label of the default schema.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from triage.errors import ConfigError

SCHEMA_FORMAT_VERSION = 1

Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
# Labels come from brands' own taxonomies (BANKING77 has "reverted_card_payment?"): any visible text.
Label = Annotated[str, StringConstraints(pattern=r"^\S+$", max_length=80)]


class HeadSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Name
    labels: list[Label] = Field(min_length=2)
    description: str = ""
    threshold: float = Field(default=0.5, ge=0.0, le=1.0, description="Confidence below which a person checks.")
    min_margin: float = Field(default=0.0, ge=0.0, le=1.0, description="Top-2 margin below which a person checks.")
    auxiliary: bool = Field(default=False, description="Trained to help the encoder; not part of the result.")

    @model_validator(mode="after")
    def _unique(self) -> HeadSpec:
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"head {self.name!r} lists a label twice")
        return self


class LabelSchema(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    format_version: int = SCHEMA_FORMAT_VERSION
    name: Name
    version: str = "1"
    description: str = ""
    heads: list[HeadSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> LabelSchema:
        if self.format_version != SCHEMA_FORMAT_VERSION:
            raise ValueError(
                f"format_version {self.format_version} is not supported (expected {SCHEMA_FORMAT_VERSION})"
            )
        names = [h.name for h in self.heads]
        if len(set(names)) != len(names):
            raise ValueError("two heads share a name")
        return self

    def head(self, name: str) -> HeadSpec:
        for h in self.heads:
            if h.name == name:
                return h
        raise KeyError(f"schema {self.name!r} has no head {name!r}; heads: {self.head_names}")

    @property
    def head_names(self) -> list[str]:
        return [h.name for h in self.heads]

    @property
    def public_heads(self) -> list[HeadSpec]:
        return [h for h in self.heads if not h.auxiliary]


def format_validation_error(source: str, error: ValidationError) -> str:
    """Turn a pydantic error into lines a person can act on: where, what."""
    lines = []
    for err in error.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"  {where}: {err['msg']}")
    return f"{source} is invalid:\n" + "\n".join(lines)


def load_yaml_file(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path} does not exist") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text: {exc}") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc


def load_schema(path: Path) -> LabelSchema:
    """Read and validate a schema file; raise ConfigError saying what is wrong."""
    raw = load_yaml_file(path)
    try:
        return LabelSchema.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(str(path), exc)) from exc


def suggest_names(value: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(value, list(known), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"({hint}known: {', '.join(known)})"


def check_head_label(schema: LabelSchema, head: str, label: str) -> str | None:
    """An error message when ``head``/``label`` are not in the schema's public heads, else None."""
    heads = [h.name for h in schema.public_heads]
    if head not in heads:
        return f"unknown head {head!r} in schema {schema.name!r} {suggest_names(head, heads)}"
    labels = schema.head(head).labels
    if label not in labels:
        return f"unknown label {label!r} for head {head!r} {suggest_names(label, labels)}"
    return None
