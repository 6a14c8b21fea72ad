"""End to end on the tiny recipe: `triage train` -> `triage export` -> OnnxClassifier -> `triage evaluate`.

Also: training resumes exactly from a checkpoint, a corrupted artifact is refused, and a schema other
than the default (BANKING77) trains and exports the same way.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

torch = pytest.importorskip("torch", reason="training needs the train extra (pip install -e '.[train]')")

from typer.testing import CliRunner  # noqa: E402

from tests.conftest import require_shared  # noqa: E402
from triage.artifact import MANIFEST  # noqa: E402
from triage.classify.onnx_model import OnnxClassifier  # noqa: E402
from triage.errors import ModelArtifactError  # noqa: E402
from triage_cli import _register, app  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "training" / "configs" / "tiny.yaml"
runner = CliRunner()
_register()

# Used only when data/corpus is absent (e.g. a partial checkout): a few posts in the corpus format.
_FALLBACK = [
    ("שבועיים מחכה לחבילה ואף אחד לא עונה", "he", "complaint", "negative", "high"),
    ("תודה לנציגה שרית, שירות מדהים!", "he", "praise", "positive", "low"),
    ("כמה עולה החבילה של הסיבים?", "he", "purchase_intent", "neutral", "normal"),
    ("Charged twice this month. Again.", "en", "complaint", "negative", "high"),
    ("Cancel my subscription now", "en", "churn_risk", "negative", "high"),
    ("How do I reset my router?", "en", "question", "neutral", "normal"),
    ("Follow me for free crypto", "en", "spam", "neutral", "low"),
    ("found glass in my salad, my kid is at the ER", "en", "complaint", "negative", "critical"),
]


def _tiny_config(tmp: Path) -> Path:
    if (ROOT / "data" / "corpus" / "train.jsonl").is_file():
        return TINY
    corpus = tmp / "corpus"
    corpus.mkdir()
    for split in ("train", "dev", "test"):
        with (corpus / f"{split}.jsonl").open("w", encoding="utf-8") as fh:
            for i, (text, lang, intent, sentiment, urgency) in enumerate(_FALLBACK * 3):
                fh.write(json.dumps({"id": f"p-{i:012x}", "text": f"{text} {i}", "language": lang, "mixed": False,
                                     "intent": intent, "sentiment": sentiment, "urgency": urgency, "entities": [],
                                     "channel": "facebook", "sector": "telecom"}, ensure_ascii=False) + "\n")
    raw = yaml.safe_load(TINY.read_text(encoding="utf-8"))
    raw["sources"][0]["path"] = str(corpus)
    raw["schema"] = str(ROOT / "data" / "schemas" / "default.yaml")
    path = tmp / "tiny.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny_artifact(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, float]:
    tmp = tmp_path_factory.mktemp("tiny")
    start = time.perf_counter()
    result = runner.invoke(app, ["train", "--config", str(_tiny_config(tmp)), "--out", str(tmp / "run")])
    assert result.exit_code == 0, result.output
    assert "final checkpoint" in result.output and "intent" in result.output  # the summary table
    result = runner.invoke(app, ["export", str(tmp / "run"), str(tmp / "model")])
    assert result.exit_code == 0, result.output
    return tmp / "run", tmp / "model", time.perf_counter() - start


@pytest.mark.slow
def test_tiny_recipe_trains_exports_loads_and_evaluates(tiny_artifact: tuple[Path, Path, float],
                                                        tmp_path: Path) -> None:
    run, model_dir, seconds = tiny_artifact
    assert seconds < 120, f"tiny train + export took {seconds:.0f}s"
    names = {p.name for p in model_dir.iterdir()}
    assert names == {"manifest.json", "model.onnx", "tokenizer.json", "training_config.json", "metrics.json",
                     "README.md"}
    manifest = json.loads((model_dir / MANIFEST).read_text(encoding="utf-8"))
    assert set(manifest["files"]) == names - {"manifest.json"}
    assert manifest["base_model"]["sha256"] and manifest["training"]["data_sha256"]
    assert {"torch", "onnxruntime", "tokenizers"} <= set(manifest["libraries"])
    assert manifest["onnx"]["parity_max_abs_diff_fp32"] < 1e-4
    # All three candidates were built and scored on dev (the tiny recipe turns int8_compute on), whichever ships.
    metrics = json.loads((model_dir / "metrics.json").read_text(encoding="utf-8"))
    assert set(metrics["dev"]) == {"fp32", "int8", "int8_static"}
    assert manifest["onnx"]["int8_static_quantised"]["matmul_int8_compute"] > 0
    assert "int8_static_max_dev_drop_points" in manifest["onnx"]

    clf = OnnxClassifier(model_dir)
    texts = ["שבועיים מחכה לחבילה", "Cancel my subscription now please", "?", "Follow me for free crypto " * 20]
    out = clf.predict(texts)
    for head in clf.schema.heads:
        probs = out.probabilities[head.name]
        assert probs.shape == (4, len(head.labels)) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    assert out.embeddings is not None and np.allclose(np.linalg.norm(out.embeddings, axis=1), 1, atol=1e-4)
    for i, t in enumerate(texts):  # batch equals single
        one = clf.predict([t])
        for head in clf.schema.heads:
            assert np.allclose(one.probabilities[head.name][0], out.probabilities[head.name][i], atol=1e-5)

    # Small slices keep the TF-IDF baseline quick: train.jsonl beside test.jsonl is found automatically.
    corpus = Path(json.loads((run / "run.json").read_text())["config"]["sources"][0]["path"])
    for split, n in (("train", 300), ("test", 80)):
        lines = (corpus / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()[:n]
        (tmp_path / f"{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    data = tmp_path / "test.jsonl"
    result = runner.invoke(app, ["evaluate", str(model_dir), str(data), "--out", str(tmp_path / "eval")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "eval" / "metrics.json").read_text(encoding="utf-8"))
    assert set(report["metrics"]) == {"intent", "sentiment", "urgency"}
    assert set(report["baseline"]) == {"intent", "sentiment", "urgency"}  # train.jsonl beside test.jsonl
    assert "by_language" in report["metrics"]["intent"]
    for head in ("intent", "sentiment", "urgency"):
        assert (tmp_path / "eval" / f"confusion_{head}.png").stat().st_size > 1000
    assert "baseline macro-F1" in (tmp_path / "eval" / "report.md").read_text(encoding="utf-8")


def _copy(model_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(model_dir, target)
    return target


def test_a_flipped_byte_in_model_onnx_is_refused(tiny_artifact: tuple[Path, Path, float], tmp_path: Path) -> None:
    model_dir = _copy(tiny_artifact[1], tmp_path)
    blob = bytearray((model_dir / "model.onnx").read_bytes())
    blob[len(blob) // 2] ^= 0x01
    (model_dir / "model.onnx").write_bytes(bytes(blob))
    with pytest.raises(ModelArtifactError, match=r"model\.onnx does not match its manifest"):
        OnnxClassifier(model_dir)


def test_an_edited_manifest_is_refused(tiny_artifact: tuple[Path, Path, float], tmp_path: Path) -> None:
    model_dir = _copy(tiny_artifact[1], tmp_path)
    manifest = json.loads((model_dir / MANIFEST).read_text(encoding="utf-8"))
    manifest["files"]["tokenizer.json"] = "0" * 64
    (model_dir / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ModelArtifactError, match=r"tokenizer\.json does not match"):
        OnnxClassifier(model_dir)
    (model_dir / MANIFEST).write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelArtifactError, match="not valid JSON"):
        OnnxClassifier(model_dir)


def test_a_manifest_whose_labels_do_not_fit_the_model_is_refused(tiny_artifact: tuple[Path, Path, float],
                                                                  tmp_path: Path) -> None:
    model_dir = _copy(tiny_artifact[1], tmp_path)
    manifest = json.loads((model_dir / MANIFEST).read_text(encoding="utf-8"))
    manifest["schema"]["heads"][0]["labels"].append("extra_label")
    (model_dir / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ModelArtifactError, match="labels"):
        OnnxClassifier(model_dir)


def test_training_resumes_exactly_from_its_checkpoint(tmp_path: Path) -> None:
    """Interrupt after epoch 1 of 2, resume: the weights equal an uninterrupted run's."""
    from training import loop as tr
    from training.data import Batch
    from training.losses import masked_cross_entropy
    from training.model import MultiHeadModel, random_encoder_config
    from training.sources import Example
    from triage.schema import HeadSpec

    torch.set_num_threads(1)
    heads = [HeadSpec(name="h", labels=["a", "b"])]
    rng = np.random.default_rng(1)
    pool = {"s": [Example(f"t{i}", {"h": i % 2}, "s", "train", ids=[0, *rng.integers(4, 50, 6).tolist(), 2])
                  for i in range(24)]}
    dev = {"s": pool["s"][:8]}
    spec = tr.FitSpec("t", 2, 4, 1e-3, 1e-3, 0.0, 0.1, 1.0, 5, None, False, 2, 8, seed=3)

    def model() -> MultiHeadModel:
        torch.manual_seed(0)
        return MultiHeadModel(random_encoder_config(50, 1, 16, 2, 32, 32, dropout=0.2), heads)

    weights = {"*": {"h": torch.ones(2)}}

    def loss(logits: dict, batch: Batch) -> torch.Tensor:
        return masked_cross_entropy(logits, batch, weights)

    tr.fit(model(), pool, {}, dev, {}, loss, spec, tmp_path / "whole", resume=False)

    real_save = tr.save_state
    calls = {"n": 0}

    def save_then_die(*args: object, **kwargs: object) -> None:
        real_save(*args, **kwargs)  # type: ignore[arg-type]
        calls["n"] += 1
        raise KeyboardInterrupt

    tr.save_state = save_then_die  # type: ignore[assignment]
    try:
        with pytest.raises(KeyboardInterrupt):
            tr.fit(model(), pool, {}, dev, {}, loss, spec, tmp_path / "cut", resume=False)
    finally:
        tr.save_state = real_save  # type: ignore[assignment]
    assert calls["n"] == 1
    result = tr.fit(model(), pool, {}, dev, {}, loss, spec, tmp_path / "cut", resume=True)
    assert result.resumed_from == 0 and len(result.history) == 2
    from safetensors.torch import load_file

    a = load_file(str(tmp_path / "whole" / "state" / "model.safetensors"))
    b = load_file(str(tmp_path / "cut" / "state" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_a_brand_schema_trains_and_exports_the_same_way(tmp_path: Path) -> None:
    datasets = require_shared()
    raw = yaml.safe_load(TINY.read_text(encoding="utf-8"))
    raw.update({
        "name": "tiny-banking77",
        "schema": str(ROOT / "data" / "schemas" / "banking77.yaml"),
        "sources": [{"name": "banking77", "kind": "banking77", "path": str(datasets / "en-banking77"),
                     "heads": {"banking_intent": "intent"}, "limit": 80}],
        "distill": {"enabled": False},
        "export": {"name": "tiny-banking77", "int8": False, "evaluate_test": False, "measure_speed": False},
    })
    raw["optim"]["epochs"] = 1
    config = tmp_path / "b.yaml"
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    assert runner.invoke(app, ["train", "--config", str(config), "--out", str(tmp_path / "run")]).exit_code == 0
    result = runner.invoke(app, ["export", str(tmp_path / "run"), str(tmp_path / "model"), "--name", "acme-banking"])
    assert result.exit_code == 0, result.output
    clf = OnnxClassifier(tmp_path / "model")
    assert clf.schema.name == "banking77" and clf.schema.head_names == ["banking_intent"]
    manifest = json.loads((tmp_path / "model" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["name"] == "acme-banking"  # --name, not the recipe's tiny-banking77
    probs = clf.predict(["I am still waiting on my card?"]).probabilities["banking_intent"]
    assert probs.shape == (1, 77)


@pytest.mark.slow
def test_export_overrides_name_and_int8_limit_only(tiny_artifact: tuple[Path, Path, float]) -> None:
    from training.export import load_checkpoint

    run, _, _ = tiny_artifact
    plain = load_checkpoint(run).config.export
    changed = load_checkpoint(run, name="triage-teacher", max_int8_drop=1.25).config.export
    assert (changed.name, changed.max_int8_drop_points) == ("triage-teacher", 1.25)
    assert changed.model_dump(exclude={"name", "max_int8_drop_points"}) == plain.model_dump(
        exclude={"name", "max_int8_drop_points"})
    assert load_checkpoint(run, name="x").config.export.max_int8_drop_points == plain.max_int8_drop_points
