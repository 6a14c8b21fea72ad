"""Fuzzing policy files: whatever a person writes, loading says what is wrong with line numbers — never a
traceback — and a policy that loads routes a post without failing."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from triage.errors import ConfigError
from triage.routing.check import coverage_warnings
from triage.routing.policy import load_policy
from triage.routing.router import PolicyRouter
from triage.schema import LabelSchema

from .support import MINIMAL_POLICY, at, route

BASE: dict[str, Any] = yaml.safe_load(MINIMAL_POLICY)
LINE = re.compile(r"^\S+:\d+: ")

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["he", "en", "ru", "care", "mod", "P1", "P9", "hide", "reply", "none", "critical", "spam",
                     "08:00-17:00", "25:00-26:00", "closed", "(a+)+$", "[", "facebook", "israel", "Mars/Olympus",
                     "complaint", "חיוב", "2026-02-30"]),
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                      max_leaves=12)
# Raw YAML tokens that safe_dump would quote: broken dates, tags, anchors, flow errors.
RAW = ["2026-02-30", "2026-13-01", "!!binary xyz", "*nowhere", "&a [*a]", "{", "!!python/object:os.system x",
       "!!timestamp yesterday", "0o99", "[1, [2, [3, [4]]]]", "'unclosed", "- a\n- b"]


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += paths(v, (*prefix, i))
    return out


ALL_PATHS = paths(BASE)[1:]


def mutate(data: Any, path: tuple[Any, ...], value: Any, delete: bool) -> Any:
    import copy

    out = copy.deepcopy(data)
    node = out
    for part in path[:-1]:
        node = node[part]
    if delete and isinstance(node, dict):
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    return out


@st.composite
def policy_texts(draw: st.DrawFn) -> str:
    data: Any = BASE
    for _ in range(draw(st.integers(1, 3))):
        available = paths(data)[1:] if isinstance(data, dict) else []
        if not available:
            break
        path = draw(st.sampled_from(available))
        data = mutate(data, path, draw(values), draw(st.booleans()))
    if draw(st.booleans()):
        data = {**data, draw(st.sampled_from(["sector", "priority_sla", "hide_guard", "language_overflow",
                                               "never_hide", "private_when", "extra"])): draw(values)}
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    if draw(st.integers(0, 3)) == 0:
        lines = text.splitlines()
        i = draw(st.integers(0, len(lines) - 1))
        key = lines[i].split(":", 1)[0]
        lines[i] = f"{key}: {draw(st.sampled_from(RAW))}" if ":" in lines[i] else draw(st.sampled_from(RAW))
        text = "\n".join(lines) + "\n"
    return text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(text=policy_texts())
def test_any_policy_file_loads_or_fails_with_line_numbers(tmp_path: Path, default_schema: LabelSchema,
                                                         text: str) -> None:
    path = tmp_path / "acme.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        policy = load_policy(path, default_schema, replies_root=tmp_path / "replies")
    except ConfigError as exc:
        message = str(exc)
        problems = [line for line in message.splitlines()[1:] if line.strip()] or message.splitlines()[:1]
        assert all(LINE.match(line) for line in problems), message
        return
    # A policy that loads must route, and `policy check` can judge it: neither fails on what loaded.
    decision = route(PolicyRouter(policy), default_schema, "my order is late", now=at(2026, 9, 15), intent="complaint")
    assert decision.queue in policy.spec.queues
    assert all(LINE.match(w) for w in coverage_warnings(policy))
