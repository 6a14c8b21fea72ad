"""Model card: it leads with real text (table, targets with n and met / not met, silent errors), then the
written test split, and says which kernels and quantisation the artifact uses. Limitations are derived from
the recipe and the measured metrics."""

from __future__ import annotations

from pathlib import Path

from training.card import _missed_targets, _public_data_line, model_card
from training.config import ExportConfig, SourceConfig, Target, TrainConfig
from training.evaluate import Bar, BarCheck, Metrics, PreviousModel, RealEvaluation, SilentErrors
from triage.schema import LabelSchema


def _config(*kinds: str, targets: list[Target] | None = None) -> TrainConfig:
    sources = [SourceConfig(name=k if k != "real_labels" else "real", kind=k, path=Path("x"))
               for k in kinds]  # type: ignore[arg-type]
    return TrainConfig(name="t", schema=Path("s.yaml"), sources=sources, export=ExportConfig(targets=targets or []))


def test_missed_targets_name_the_metric_value_and_n() -> None:
    bar = Bar(role="he_fb", head="sentiment", metric="macro_f1", limit=0.8)
    assert _missed_targets([BarCheck(bar, 0.9, 100, True), BarCheck(bar, None, 0, None)]) == []
    (line,) = _missed_targets([BarCheck(bar, 0.62, 100, False)])
    assert "he_fb sentiment macro-F1 (all): 0.620 < 0.80, n = 100" in line


def test_public_data_line_follows_the_recipe_sources() -> None:
    assert _public_data_line(_config("corpus")) == []
    (line,) = _public_data_line(_config("corpus", "banking77"))
    assert "banking77 (CC BY 4.0)" in line and "he-sentiment" not in line


def _group(accuracy: float, n: int, per_class: dict[str, int]) -> dict:
    pcs = {lab: {"precision": accuracy, "recall": accuracy, "f1": accuracy, "support": s}
           for lab, s in per_class.items()}
    labels = list(per_class)
    return {"n": n, "accuracy": accuracy, "macro_f1": accuracy - 0.1, "macro_f1_frequent": accuracy - 0.05, "ece": 0.05,
            "per_class": pcs, "confusion": {"labels": labels, "matrix": [[0] * len(labels) for _ in labels]}}


def _metrics(schema: LabelSchema) -> Metrics:
    per_head = {h.name: {"all": _group(0.6, 120, {lab: 10 for lab in h.labels}),
                         "by_language": {"he": _group(0.57, 100, {lab: 10 for lab in h.labels}),
                                         "en": _group(0.7, 20, {lab: 2 for lab in h.labels})}}
                for h in schema.heads}
    silent = {k: SilentErrors(n=n, to_person=n // 3, wrong_any_head=n // 2, silent_errors=n // 4, human_share=1 / 3,
                              silent_error_rate=0.25, decided_by="engine routing.needs_human, default brand policy")
              for k, n in (("he", 100), ("en", 20), ("all", 120))}
    real = RealEvaluation(split="test", n=120, n_by_language={"he": 100, "en": 20}, model=per_head, silent=silent)
    written = {h.name: {"all": _group(0.9, 530, {lab: 50 for lab in h.labels})} for h in schema.heads}
    onnx = {"opset": 17, "weights": "int8", "bytes": 45e6, "outputs": ["logits__intent"],
            "parity_max_abs_diff_fp32": 1e-6,
            "int8_quantised": {"matmul": 72, "gather": 2}, "int8_scheme": "weights only",
            "runtime_kernels": {"onnxruntime": "1.32.0", "provider": "CPUExecutionProvider",
                                "optimisation": "ORT_ENABLE_ALL",
                                "ops": {"com.microsoft:MatMulNBits": 72},
                                "quantised_ops": {"com.microsoft:MatMulNBits": [{"bits": 8, "accuracy_level": 4}]}}}
    previous = PreviousModel(model="old@1", dir="models/default", test={"corpus": {"n": 530, "model": {
        h.name: {"all": _group(0.95, 530, {lab: 50 for lab in h.labels})} for h in schema.heads}}})
    return Metrics(model="new@3", kind="teacher", real=real, previous=previous, onnx=onnx,
                   test={"corpus": {"n": 530, "model": written, "baseline": {}}},
                   calibration={h.name: {"temperature": 1.1, "threshold": 0.4, "dev_sources": ["real"]}
                                for h in schema.heads})


def test_card_leads_with_real_text_then_written_then_the_model(default_schema: LabelSchema) -> None:
    ckpt = {"kind": "teacher", "architecture": {"num_layers": 12, "hidden_size": 384, "vocab_size": 60000,
                                                "encoder": "e"},
            "base_model": {"name": "e5", "sha256": "0" * 64}, "counts": {"train": {}, "dev": {}, "test": {}}}
    metrics = _metrics(default_schema)
    card = model_card(metrics, ckpt, _config("real_labels", "corpus"), default_schema, metrics.onnx)
    order = [card.index(s) for s in ("## Real text", "## Targets", "## Sent to a person", "## Written test split",
                                     "## Model", "## Limitations")]
    assert order == sorted(order)
    assert "| real intent accuracy | he | 100 | 0.570 | ≥ 0.85 | **no** |" in card
    assert "| real silent-error rate | he | 100 | 0.250 | ≤ 0.10 | **no** |" in card
    assert "| written intent macro-F1 drop vs previous model | all | 530 | 5.00 | ≤ 2.00 points | **no** |" in card
    assert "`com.microsoft:MatMulNBits` ×72" in card and "accuracy level 4" in card
    assert "Previous: `old@1`" in card and "fitted on the dev split of: real" in card
    assert "Targets not met:" in card


def test_the_real_table_has_an_all_languages_row_and_the_delta_against_the_previous_model(
        default_schema: LabelSchema) -> None:
    ckpt = {"kind": "student", "architecture": {"num_layers": 6, "hidden_size": 384, "vocab_size": 60000,
                                                "encoder": "e"},
            "base_model": {"name": "e5", "sha256": "0" * 64}, "counts": {"train": {}, "dev": {}, "test": {}}}
    metrics = _metrics(default_schema)
    assert metrics.previous is not None
    # The previous model on the same real rows: 0.45 macro-F1 on every head and language (this one: 0.5).
    metrics.previous.test["real"] = {"n": 120, "model": {
        h.name: {"all": _group(0.55, 120, {lab: 10 for lab in h.labels}),
                 "by_language": {"he": _group(0.55, 100, {lab: 10 for lab in h.labels})}}
        for h in default_schema.heads}}
    card = model_card(metrics, ckpt, _config("real_labels", "corpus"), default_schema, metrics.onnx)
    assert "| all | intent | 120 | 0.600 | 0.500 | 0.550 | 0.550 | 0.450 |" in card
    assert "| he | intent | 100 | 0.570 | 0.470 | 0.520 | 0.550 | 0.450 |" in card
    assert ("This model minus `old@1`, macro-F1 points on the whole split: intent +5.00, sentiment +5.00, "
            "urgency +5.00.") in card
    assert "the one decision they may take is the release's" in card
