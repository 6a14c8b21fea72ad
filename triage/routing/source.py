"""Reading policy and reply-library files so that every failure is a ``ConfigError`` with a line.

``triage.config_source.read_yaml`` turns YAML syntax errors into line-numbered ConfigErrors. A few
failures slip past it: PyYAML builds dates while constructing the document, so ``2026-02-30`` raises a
plain ValueError; a directory or an unreadable file raises OSError; an alias that contains itself
(``&a [*a]``) recurses without end when the lines are recorded. People write these files by hand, so
each of these becomes a ConfigError that points at the line to fix.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

import yaml

from triage.config_source import Loc, SourceDoc, format_loc, read_yaml
from triage.errors import ConfigError


def _bad_scalar_line(text: str) -> int:
    """The line of the first scalar PyYAML cannot build (a date like 2026-02-30), else 1."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        stack: list[Any] = [root] if root is not None else []
        seen: set[int] = set()
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            if isinstance(node, yaml.ScalarNode):
                try:
                    loader.construct_object(node)
                except Exception:
                    return node.start_mark.line + 1
            elif isinstance(node, yaml.MappingNode):
                stack.extend(n for pair in reversed(node.value) for n in reversed(pair))
            elif isinstance(node, yaml.SequenceNode):
                stack.extend(reversed(node.value))
    except yaml.YAMLError:
        return 1
    finally:
        loader.dispose()
    return 1


def read_config(path: Path) -> SourceDoc:
    """``read_yaml`` whose every failure is a ConfigError naming the file and a line."""
    path = Path(path)
    try:
        doc = read_yaml(path)
    except ConfigError:
        raise
    except IsADirectoryError as exc:
        raise ConfigError(f"{path}:1: is a folder, not a YAML file") from exc
    except OSError as exc:
        raise ConfigError(f"{path}:1: cannot read the file: {exc.strerror or exc}") from exc
    except RecursionError as exc:
        raise ConfigError(f"{path}:1: the YAML nests too deeply or an alias contains itself") from exc
    except Exception as exc:  # PyYAML's constructors raise assorted built-in errors on malformed tagged values
        try:
            line = _bad_scalar_line(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, RecursionError):
            line = 1
        raise ConfigError(f"{path}:{line}: not a valid value: {exc or type(exc).__name__} "
                          "(quote it to keep it as text)") from exc
    _check_keys(doc)
    return doc


def _check_keys(doc: SourceDoc) -> None:
    # A key with a control character or a line separator is always a typo, and printed back in an error
    # message it would break the message's one-problem-per-line layout: refuse it, shown escaped.
    problems = sorted(
        (line, f"{_shown(loc[:-1])}: key {loc[-1]!r} contains control characters or line breaks")
        for loc, line in doc.lines.items()
        if loc and isinstance(loc[-1], str) and any(_unprintable(ch) for ch in loc[-1])
    )
    if problems:
        raise ConfigError(f"{doc.path}: invalid YAML ({len(problems)} problem{'s' if len(problems) != 1 else ''}):\n"
                          + "\n".join(f"{doc.path}:{line}: {message}" for line, message in problems))


def _unprintable(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")


def _shown(loc: Loc) -> str:
    return format_loc(tuple(repr(p) if isinstance(p, str) and any(map(_unprintable, p)) else p for p in loc))
