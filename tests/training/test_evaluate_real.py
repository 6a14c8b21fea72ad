"""Real-text evaluation: frequent-class macro-F1, silent errors through the engine, the bars, metrics.json.

The pieces are checked on small hand-made inputs (their answers are known); one slow test runs the shipped
model on a few real test posts when the model and ../shared are present.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DATASETS, ROOT
from training.evaluate import (
    ISSUE_BARS,
    Bar,
    Decisions,
    EvalView,
    Metrics,
    RealEvaluation,
    RealSplit,
    add_frequent_macro_f1,
    all_bars,
    check_bars,
    describe_kernels,
    engine_decisions,
    real_summary,
    silent_errors,
)
from training.sources import LabeledRow
from triage.artifact import metrics_summary
from triage.schema import LabelSchema

SHIPPED = ROOT / "models" / "default"


def _group(per_class: dict[str, tuple[float, int]], accuracy: float = 0.5, n: int = 100) -> dict:
    return {"n": n, "accuracy": accuracy, "macro_f1": 0.5,
            "per_class": {lab: {"precision": f, "recall": f, "f1": f, "support": s}
                          for lab, (f, s) in per_class.items()}}


def test_frequent_macro_f1_averages_only_classes_with_ten_posts() -> None:
    per_head = {"intent": {"all": _group({"complaint": (0.9, 80), "praise": (0.7, 10), "request": (0.0, 3)}),
                           "by_language": {"en": _group({"complaint": (0.8, 12), "praise": (0.6, 9)})}}}
    add_frequent_macro_f1(per_head)
    assert per_head["intent"]["all"]["macro_f1_frequent"] == pytest.approx(0.8)
    assert per_head["intent"]["all"]["frequent_classes"] == ["complaint", "praise"]
    assert per_head["intent"]["by_language"]["en"]["macro_f1_frequent"] == pytest.approx(0.8)


def _rows(default_schema: LabelSchema) -> list[LabeledRow]:
    gold = {"intent": "complaint", "sentiment": "negative", "urgency": "high"}
    return [LabeledRow(f"post {i}", dict(gold), "he" if i < 6 else "en") for i in range(10)]


def test_silent_errors_count_wrong_posts_that_no_person_checks(default_schema: LabelSchema) -> None:
    rows = _rows(default_schema)
    right = {"intent": "complaint", "sentiment": "negative", "urgency": "high"}
    wrong = right | {"urgency": "low"}
    # he: 2 wrong and automated, 1 wrong and sent, 1 right and sent, 2 right automated; en: 1 wrong automated.
    labels = [wrong, wrong, wrong, right, right, right, wrong, right, right, right]
    human = [False, False, True, True, False, False, False, False, False, False]
    out = silent_errors(rows, Decisions(labels, human, "test"), default_schema.public_heads)
    he, en, both = out["he"], out["en"], out["all"]
    assert (he.n, he.to_person, he.wrong_any_head, he.silent_errors) == (6, 2, 3, 2)
    assert he.silent_error_rate == pytest.approx(2 / 6) and he.human_share == pytest.approx(2 / 6)
    assert he.automated_all_heads_right == pytest.approx(2 / 4)
    assert (en.n, en.silent_errors, en.to_person) == (4, 1, 0)
    assert (both.n, both.silent_errors) == (10, 3)


def test_engine_decisions_use_routing_needs_human(fake_classifier: object) -> None:
    from triage.loading import load_engine

    engine = load_engine(classifier=fake_classifier, replies=False)  # type: ignore[arg-type]
    rows = [LabeledRow("found glass in my salad", {"urgency": "critical"}, "en"),
            LabeledRow("thanks, great service", {"intent": "praise"}, "en")]
    out = engine_decisions(engine, RealSplit("test", rows, ["twitter", "review"]))
    assert out.labels[0]["urgency"] == "critical" and out.needs_human[0]  # the policy sends every critical post
    assert out.labels[1]["intent"] == "praise"
    assert "routing" in out.decided_by


def _view(accuracy: float, silent_rate: float, human: float, drop_from: float | None = None) -> EvalView:
    from training.evaluate import SilentErrors

    g: dict[str, Any] = {"n": 100, "accuracy": accuracy, "macro_f1": accuracy, "per_class": {}}
    tests: dict[str, dict[str, Any]] = {"real": {"intent": {"all": g, "by_language": {"he": g}}},
                                        "written": {"intent": {"all": g}}}
    silent = {"he": SilentErrors(n=100, to_person=int(human * 100), wrong_any_head=30,
                                 silent_errors=int(silent_rate * 100), human_share=human,
                                 silent_error_rate=silent_rate, decided_by="test")}
    previous = {"written": {"intent": {"all": g | {"macro_f1": drop_from}}}} if drop_from is not None else {}
    return EvalView(tests, silent, previous)


def test_bars_say_met_not_met_and_not_measured() -> None:
    bars = [Bar(role="real", head="intent", metric="accuracy", limit=0.85, language="he"),
            Bar(role="real", metric="silent_error_rate", limit=0.10, at_most=True, language="he"),
            Bar(role="real", metric="human_share", limit=0.30, at_most=True, language="he"),
            Bar(role="written", head="intent", metric="drop_points", limit=2.0, at_most=True),
            Bar(role="he_fb", head="sentiment", metric="accuracy", limit=0.9)]
    checks = check_bars(bars, _view(0.9, 0.12, 0.25, drop_from=0.93))
    assert [c.met for c in checks] == [True, False, True, False, None]
    assert checks[3].value == pytest.approx(3.0) and checks[0].n == 100
    assert "silent-error rate" in checks[1].bar.label() and checks[1].bar.goal() == "≤ 0.10"


def test_recipe_targets_join_the_issue_bars_once() -> None:
    targets = [{"source": "real", "head": "intent", "metric": "accuracy", "min": 0.85, "languages": ["he", "en"]},
               {"source": "corpus", "head": "sentiment", "metric": "macro_f1", "min": 0.85, "languages": ["he"]}]
    bars = all_bars(targets, {"real": "real", "corpus": "written"})
    assert len(bars) == len(ISSUE_BARS) + 1  # real intent accuracy is already an issue bar
    assert bars[-1].key == ("written", "sentiment", "macro_f1", "he")
    assert all_bars(targets, {"corpus": "written"}, issue=False)[0].role == "real"


def test_metrics_file_keeps_old_readers_working(tmp_path: Path) -> None:
    from training.evaluate import SilentErrors

    g = {"n": 10, "accuracy": 0.5, "macro_f1": 0.4, "per_class": {}}
    real = RealEvaluation(split="test", n=10, n_by_language={"he": 10},
                          model={"intent": {"all": g, "by_language": {"he": g}}},
                          silent={"he": SilentErrors(n=10, to_person=3, wrong_any_head=5, silent_errors=2,
                                                     human_share=0.3, silent_error_rate=0.2, decided_by="t")})
    m = Metrics(model="x@1", kind="teacher", real=real, real_test=real_summary(real))
    (tmp_path / "metrics.json").write_text(json.dumps(m.model_dump(mode="python", exclude_none=True)), encoding="utf-8")
    summary = metrics_summary(tmp_path)
    assert summary is not None and summary["real_test"]["intent_accuracy_he"] == 0.5
    assert summary["real_test"]["silent_error_rate_he"] == 0.2
    if (SHIPPED / "metrics.json").is_file():  # a metrics.json written before this model existed still loads
        Metrics.model_validate(json.loads((SHIPPED / "metrics.json").read_text(encoding="utf-8")))


def test_kernels_sentence_names_the_fused_int8_kernel() -> None:
    info = {"weights": "int8", "int8_quantised": {"matmul": 72, "gather": 2}, "int8_scheme": "weights only",
            "runtime_kernels": {"onnxruntime": "1.32.0", "provider": "CPUExecutionProvider",
                                "optimisation": "ORT_ENABLE_ALL", "ops": {"com.microsoft:MatMulNBits": 72,
                                                                          "Reshape": 48},
                                "quantised_ops": {"com.microsoft:MatMulNBits": [
                                    {"bits": 8, "block_size": 32, "accuracy_level": 4}]}}}
    text = describe_kernels(info)
    assert "72 MatMul weights" in text and "`com.microsoft:MatMulNBits` ×72" in text
    assert "accuracy level 4" in text and "int8" in text and "Reshape" not in text
    assert "not recorded" in describe_kernels({"weights": "fp32"})


@pytest.mark.slow
def test_shipped_model_on_a_few_real_test_posts() -> None:
    if not (SHIPPED / "manifest.json").is_file() or not DATASETS.is_dir():
        pytest.skip("needs models/default and ../shared/datasets")
    from training.evaluate import evaluate_real, read_real_split

    full = read_real_split("test")
    keep = list(range(0, len(full.rows), max(1, len(full.rows) // 24)))
    split = RealSplit("test", [full.rows[i] for i in keep], [full.channels[i] for i in keep])
    out = evaluate_real(SHIPPED, split, threads=1, engine=False)
    assert set(out.n_by_language) == {"he", "en"}
    assert {"intent", "sentiment", "urgency"} <= set(out.model)
    assert "macro_f1_frequent" in out.model["intent"]["by_language"]["he"]
    assert out.silent["all"].n == len(split.rows) and "thresholds" in out.silent["all"].decided_by


@pytest.mark.slow
def test_triage_evaluate_real_needs_no_file(tmp_path: Path) -> None:
    if not (SHIPPED / "manifest.json").is_file() or not DATASETS.is_dir():
        pytest.skip("needs models/default and ../shared/datasets")
    from typer.testing import CliRunner

    from triage_cli import _register, app

    _register()
    runner = CliRunner()
    result = runner.invoke(app, ["evaluate", str(SHIPPED), "--real", "--limit", "40", "--no-baseline",
                                 "--out", str(tmp_path / "eval")])
    assert result.exit_code == 0, result.output
    assert "silent_error_rate" in result.output
    report = json.loads((tmp_path / "eval" / "metrics.json").read_text(encoding="utf-8"))
    assert report["real"]["n"] == 40 and report["real"]["silent"]["all"]["decided_by"].startswith("engine routing")
    assert any(t["target"] == "real intent accuracy" for t in report["targets"])
    assert "## Sent to a person" in (tmp_path / "eval" / "report.md").read_text(encoding="utf-8")
    bad = runner.invoke(app, ["evaluate", str(SHIPPED)])
    assert bad.exit_code == 2 and "either a labeled file or --real" in bad.output
