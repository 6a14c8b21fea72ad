"""Reply template text: ``{name}`` placeholders and ``[[...]]`` optional clauses.

Convention
    ``{order_id}``          a placeholder. When there is no value, the library's neutral *fallback*
                            wording for that language is used (``ההזמנה``, ``your order``) and the name is
                            listed in ``missing_placeholders`` so an agent can fill it in.
    ``[[, {first_name}]]``  an optional clause. When any placeholder inside has no value the whole clause
                            is left out (``שלום, {first_name}!`` reads ``שלום!``), and the name is listed.

So a suggested reply never shows a raw ``{...}`` or a ``[name]`` marker. Single-bracket markers are
rejected at load for the same reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

PLACEHOLDER_NAME = r"[a-z][a-z0-9_]*"
_CLAUSE_RE = re.compile(r"\[\[(.*?)\]\]", re.S)
_PH_RE = re.compile(r"\{(" + PLACEHOLDER_NAME + r")\}")
_MARKER_RE = re.compile(r"\[[^\[\]\n]{1,40}\]")


@dataclass(frozen=True)
class Part:
    """Literal text (``name`` None), a placeholder, or an optional clause (``clause`` set)."""

    text: str = ""
    name: str | None = None
    clause: tuple[Part, ...] | None = None


@dataclass(frozen=True)
class ParsedText:
    parts: tuple[Part, ...]

    @property
    def required(self) -> list[str]:
        """Placeholders outside optional clauses, in order of appearance."""
        return _unique(p.name for p in self.parts if p.name is not None)

    @property
    def optional(self) -> list[str]:
        """Placeholders inside optional clauses."""
        return _unique(q.name for p in self.parts if p.clause for q in p.clause if q.name is not None)

    @property
    def names(self) -> list[str]:
        return _unique([*self.required, *self.optional])

    def preceding_text(self) -> list[tuple[str, str]]:
        """(literal text written before it, name) for every placeholder, for checks on the words around it."""
        out: list[tuple[str, str]] = []
        before = ""
        for part in self.parts:
            inner = part.clause if part.clause is not None else (part,)
            for q in inner:
                if q.name is not None:
                    out.append((before, q.name))
                    before = ""
                else:
                    before += q.text
        return out


def _unique(names: object) -> list[str]:
    out: list[str] = []
    for n in names:  # type: ignore[attr-defined]
        if n not in out:
            out.append(n)
    return out


def _parse_flat(text: str, errors: list[str], where: str) -> list[Part]:
    parts: list[Part] = []
    pos = 0
    for m in _PH_RE.finditer(text):
        parts.append(Part(text=text[pos : m.start()]))
        parts.append(Part(name=m.group(1)))
        pos = m.end()
    parts.append(Part(text=text[pos:]))
    literal = "".join(p.text for p in parts)
    if "{" in literal or "}" in literal:
        errors.append(f"stray brace {where}: placeholders are written {{name}} with lower-case letters, digits, _")
    if "[[" in literal or "]]" in literal:
        errors.append(f"unbalanced or nested [[ ]] {where}")
    elif _MARKER_RE.search(literal):
        errors.append(f"'{_MARKER_RE.search(literal).group(0)}'-style marker {where}: "  # type: ignore[union-attr]
                      "write optional parts as [[...]] and values as {name}")
    return [p for p in parts if p.name is not None or p.text]


def parse_text(text: str) -> tuple[ParsedText, list[str]]:
    """Parse template text; the second value lists syntax errors (empty when fine)."""
    errors: list[str] = []
    parts: list[Part] = []
    pos = 0
    for m in _CLAUSE_RE.finditer(text):
        parts.extend(_parse_flat(text[pos : m.start()], errors, "in the text"))
        inner = _parse_flat(m.group(1), errors, "inside [[...]]")
        if not any(p.name for p in inner):
            errors.append(f"optional clause [[{m.group(1)}]] has no placeholder, so it would always show")
        parts.append(Part(clause=tuple(inner)))
        pos = m.end()
    parts.extend(_parse_flat(text[pos:], errors, "in the text"))
    return ParsedText(tuple(parts)), errors


_SPACES_RE = re.compile(r"[ \t]{2,}")
_SPACE_BEFORE_PUNCT_RE = re.compile(r"[ \t]+([,.!?:;)])")


def tidy(text: str) -> str:
    """Spaces left by a dropped clause: no doubles, none before punctuation, none at the ends."""
    text = _SPACES_RE.sub(" ", text)
    text = _SPACE_BEFORE_PUNCT_RE.sub(r"\1", text)
    text = re.sub(r",[ \t]*([,.!?])", r"\1", text)
    return "\n".join(line.strip() for line in text.strip().splitlines())


def render(
    parsed: ParsedText, value: Callable[[str], str | None], fallback: Mapping[str, str]
) -> tuple[str, list[str]]:
    """Fill the placeholders. ``value(name)`` gives a real value or None; returns (text, missing names)."""
    missing: list[str] = []
    out: list[str] = []
    for part in parsed.parts:
        if part.clause is not None:
            values = {q.name: value(q.name) for q in part.clause if q.name is not None}
            absent = [n for n, v in values.items() if not v]
            if absent:
                missing += absent
                continue
            out.extend(q.text if q.name is None else str(values[q.name]) for q in part.clause)
        elif part.name is not None:
            got = value(part.name)
            if got:
                out.append(got)
            else:
                missing.append(part.name)
                out.append(fallback.get(part.name, ""))
        else:
            out.append(part.text)
    return tidy("".join(out)), _unique(missing)
