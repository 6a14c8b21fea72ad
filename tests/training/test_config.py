"""Training recipes are strict, commented YAML files that validate and name real schema heads."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch", reason="training needs the train extra (pip install -e '.[train]')")

from training.config import TrainConfig, load_config
from triage.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "training" / "configs").glob("*.yaml"))


def test_the_three_recipes_exist() -> None:
    assert {p.stem for p in CONFIGS} >= {"default", "tiny", "banking77"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_recipe_validates(path: Path) -> None:
    config = load_config(path, base=ROOT)
    heads = config.model_heads()
    schema = config.load_schema()
    assert [h.name for h in heads][: len(schema.heads)] == schema.head_names
    assert all(s.path.is_absolute() for s in config.sources)
    assert "#" in path.read_text(encoding="utf-8"), "recipes are commented"


def test_banking77_recipe_uses_its_own_schema() -> None:
    config = load_config(ROOT / "training" / "configs" / "banking77.yaml", base=ROOT)
    assert config.load_schema().name == "banking77"
    assert [h.name for h in config.model_heads()] == ["banking_intent"]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    return path


BASE = """
name: x
schema: data/schemas/default.yaml
sources:
  - {name: corpus, kind: corpus, path: data/corpus}
"""


def test_unknown_keys_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"optim\.learning_rate"):
        load_config(_write(tmp_path, BASE + "optim: {learning_rate: 0.1}\n"), base=ROOT)


def test_unknown_source_kind_is_rejected(tmp_path: Path) -> None:
    bad = BASE.replace("kind: corpus", "kind: twitter")
    with pytest.raises(ConfigError, match="kind"):
        load_config(_write(tmp_path, bad), base=ROOT)


def test_auxiliary_head_may_not_shadow_a_schema_head(tmp_path: Path) -> None:
    text = BASE + "auxiliary_heads:\n  - {name: intent, labels: [a, b]}\n"
    with pytest.raises(ConfigError, match="clash"):
        load_config(_write(tmp_path, text), base=ROOT)


def test_random_encoder_needs_a_layer_count() -> None:
    with pytest.raises(ValueError, match="num_layers"):
        TrainConfig.model_validate({"name": "x", "schema": "s.yaml", "sources": [
            {"name": "c", "kind": "corpus", "path": "d"}], "encoder": {"init": "random"}})
