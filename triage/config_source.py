"""YAML config files with line numbers, and errors that point at the line to fix.

Policies and reply libraries are written by people, so a mistake must be reported where it is:
``acme.yaml:42: rules[3].when.intent[0]: unknown label 'complant' for head 'intent' (did you mean
'complaint'?)``. ``yaml.safe_load`` forgets positions, so files are composed into nodes first and every
mapping key and sequence item's line is recorded under its path (the same path pydantic reports in an
error's ``loc``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from triage.errors import ConfigError

Loc = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Issue:
    """One problem in a config file: where (a data path) and what."""

    loc: Loc
    message: str


@dataclass
class SourceDoc:
    """A parsed YAML document with the line (1-based) of every key and item, by data path."""

    path: str
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: Loc) -> int:
        """The line of the deepest part of ``loc`` that exists in the file (1 when none does)."""
        probe = tuple(loc)
        while probe:
            if probe in self.lines:
                return self.lines[probe]
            probe = probe[:-1]
        return self.lines.get((), 1)

    def resolve(self, loc: Sequence[Any]) -> Loc:
        """Drop the parts of a pydantic ``loc`` that are not in the data (union member tags).

        The last part is kept even when absent: it names a missing field.
        """
        out: list[str | int] = []
        node = self.data
        parts = list(loc)
        for i, part in enumerate(parts):
            in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
            if (isinstance(node, dict) and part in node) or in_list:
                out.append(part)
                node = node[part]
            elif i == len(parts) - 1 and isinstance(part, str | int) and not _is_type_tag(part):
                out.append(part)
            # anything else is a tag pydantic adds for union members ("str", "list[str]", ...)
        return tuple(out)

    def format(self, issues: Iterable[Issue]) -> str:
        """``file:LINE: path: message`` lines, in file order."""
        rows = sorted(((self.line_of(i.loc), format_loc(i.loc), i.message) for i in issues), key=lambda r: r[0])
        seen: set[tuple[int, str, str]] = set()
        lines = []
        for row in rows:
            if row in seen:
                continue
            seen.add(row)
            line, where, message = row
            lines.append(f"{self.path}:{line}: {where}: {message}")
        return "\n".join(lines)

    def fail(self, issues: Sequence[Issue], what: str) -> ConfigError:
        return ConfigError(f"{self.path}: invalid {what} ({len(issues)} problem{'s' if len(issues) != 1 else ''}):\n"
                           + self.format(issues))


def _is_type_tag(part: object) -> bool:
    return isinstance(part, str) and (
        "[" in part or part in {"str", "int", "float", "bool", "list", "dict", "none", "function-after", "union"}
    )


def format_loc(loc: Loc) -> str:
    """``("rules", 3, "when", "intent")`` -> ``rules[3].when.intent``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _walk(loader: yaml.SafeLoader, node: yaml.Node, loc: Loc, lines: dict[Loc, int], issues: list[Issue]) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key == "<<":  # merge key: its entries are reported at the merged mapping
                continue
            line = key_node.start_mark.line + 1
            if key in seen:
                issues.append(Issue((*loc, key), f"key {key!r} appears twice (lines {seen[key]} and {line})"))
            seen[key] = line
            lines[(*loc, key)] = line
            _walk(loader, value_node, (*loc, key), lines, issues)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*loc, i)] = item.start_mark.line + 1
            _walk(loader, item, (*loc, i), lines, issues)


def read_yaml(path: Path) -> SourceDoc:
    """Parse ``path`` keeping the line of every key and list item; ConfigError on unreadable YAML."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path} does not exist") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text: {exc}") from exc
    return parse_yaml(text, str(path))


def parse_yaml(text: str, source: str) -> SourceDoc:
    """Like ``read_yaml`` for text already in memory; ``source`` names it in messages."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return SourceDoc(source, None, {(): 1})
        data = loader.construct_document(node)
        lines: dict[Loc, int] = {(): node.start_mark.line + 1}
        issues: list[Issue] = []
        _walk(loader, node, (), lines, issues)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise ConfigError(f"{source}:{line}: not valid YAML: {exc.problem or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    finally:
        loader.dispose()
    doc = SourceDoc(source, data, lines)
    if issues:
        raise doc.fail(issues, "YAML")
    return doc


def pydantic_issues(doc: SourceDoc, error: ValidationError) -> list[Issue]:
    """Turn a pydantic error into issues whose paths exist in ``doc`` (so they get a line)."""
    issues = []
    for err in error.errors():
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling; see docs/ROUTING.md for the format)"
        elif err["type"] == "missing":
            msg = "required field is missing"
        issues.append(Issue(doc.resolve(err["loc"]), msg))
    return issues


def validate_model(doc: SourceDoc, model: type[M], what: str) -> M:
    """Validate ``doc.data`` as ``model``; ConfigError listing every problem with its line."""
    if not isinstance(doc.data, dict):
        raise ConfigError(f"{doc.path}:1: (top level): expected a mapping of fields, got {type(doc.data).__name__}")
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        raise doc.fail(pydantic_issues(doc, exc), what) from exc
