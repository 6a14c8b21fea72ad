"""Warm-start retraining on the tiny recipe, then the registry's gate: the whole loop, end to end.

The unit tests are fast; the end-to-end test trains the tiny recipe (a random 2-layer BERT: its accuracy
means nothing) and takes about a minute and a half on 2 cores.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="training needs the train extra (pip install -e '.[train]')")

from typer.testing import CliRunner  # noqa: E402

from learning.feedback import FeedbackStore  # noqa: E402
from learning.registry import Registry  # noqa: E402
from store.poststore import PostStore  # noqa: E402
from training.data import Data  # noqa: E402
from training.sources import Example  # noqa: E402
from training.warmstart import (  # noqa: E402
    apply_corrections,
    correction_examples,
    is_holdout,
    plan,
    resolve_checkpoint,
)
from triage.errors import ConfigError  # noqa: E402
from triage.schema import LabelSchema  # noqa: E402
from triage_cli import _register, app  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()
_register()


def test_the_latest_correction_wins_and_outranks_earlier_labels(default_schema: LabelSchema) -> None:
    heads = default_schema.heads
    intent = heads[0].labels
    rows = [{"id": 1, "post_id": "p1", "head": "intent", "label": "praise", "redacted_text": "thanks!!"},
            {"id": 2, "post_id": "p1", "head": "intent", "label": "complaint", "redacted_text": "thanks!!"},
            {"id": 3, "post_id": "p2", "head": "queue", "label": "billing", "redacted_text": "x"},
            {"id": 4, "post_id": "p3", "head": "sentiment", "label": "negative", "redacted_text": "In dev"}]
    corrections = correction_examples(rows, heads)
    assert [(c.meta["id"], c.labels) for c in corrections] == [("p1", {"intent": intent.index("complaint")}),
                                                              ("p3", {"sentiment": 0})]
    old = Example("thanks!!", {"intent": intent.index("praise"), "urgency": 3}, "corpus", "train", "en", {"id": "c-9"})
    keep = Example("other", {"intent": 0}, "corpus", "train", "en", {"id": "c-1"})
    dev = Example("in dev", {"sentiment": 2}, "corpus", "dev", "en", {"id": "d-1"})
    data = Data(heads, {"corpus": [old, keep]}, {"corpus": [dev]}, {}, [], {}, {})
    train, counts = apply_corrections(data, corrections)
    assert data.train["corpus"] == [keep]  # the same post (same text) trains only as the correction...
    assert train[0].labels == {"intent": intent.index("complaint"), "urgency": 3}  # ...keeping its other heads
    assert dev.labels == {"sentiment": 0} and [c.meta["id"] for c in train] == ["p1"]  # dev takes it, no training
    assert counts == {"merged_train": 1, "relabelled_eval": 1}


def test_the_plan_fits_the_budget() -> None:
    small = plan(200, 9000, 1900, 16.45)
    assert small.epochs == 3 and small.replay_per_epoch == 256 and small.estimated_minutes < 20
    big = plan(5000, 9000, 1900, 16.45)
    assert big.epochs == 1 and big.corrections_per_epoch == 5000 and big.replay_per_epoch == 5000
    assert 10 < big.estimated_minutes <= 20
    slow = plan(5000, 9000, 1900, 5.0)
    assert slow.epochs == 1 and slow.corrections_per_epoch + slow.replay_per_epoch < 10000
    assert slow.estimated_minutes <= 20.5


def test_holdout_is_stable_and_about_one_in_five() -> None:
    ids = [f"post-{i}" for i in range(2000)]
    share = sum(map(is_holdout, ids)) / len(ids)
    assert 0.17 < share < 0.23 and [is_holdout(i) for i in ids[:50]] == [is_holdout(i) for i in ids[:50]]


def test_an_exported_folder_says_what_is_needed() -> None:
    with pytest.raises(ConfigError, match=r"exported model folder .* Pass the training checkpoint") as caught:
        resolve_checkpoint(ROOT / "models" / "default")
    # The shipped default is a distilled student: the message names the checkpoint that made it.
    kind = json.loads((ROOT / "models" / "default" / "manifest.json").read_text(encoding="utf-8"))["training"]["kind"]
    assert f"its {kind} checkpoint: e.g. runs/default/{kind} with checkpoint.json" in str(caught.value)


def _ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def _corrections(url: str, n: int = 150) -> None:
    rows = [json.loads(line) for line in (ROOT / "data" / "corpus" / "train.jsonl").read_text(
        encoding="utf-8").splitlines()]
    store = FeedbackStore(url)
    store.add_many([{"post_id": r["id"], "head": h, "label": r[h], "redacted_text": r["text"], "actor": "agent-1"}
                    for r in rows[100:100 + n] for h in ("intent", "sentiment", "urgency")])
    store.close()


@pytest.mark.slow
def test_corrections_make_a_candidate_that_the_gate_judges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not (ROOT / "data" / "corpus" / "train.jsonl").is_file():
        pytest.skip("data/corpus is absent")
    monkeypatch.setenv("TRIAGE_STORE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    fb = f"sqlite:///{tmp_path / 'fb.db'}"
    _corrections(fb)
    _ok("train", "--config", str(ROOT / "training" / "configs" / "tiny.yaml"), "--out", str(tmp_path / "base"))
    _ok("export", str(tmp_path / "base"), str(tmp_path / "base-model"), "--no-test")
    result = runner.invoke(app, ["train", "--from", str(tmp_path / "base-model"), "--feedback", fb])
    assert result.exit_code == 2 and "Pass the training checkpoint" in result.output
    out = _ok("train", "--from", str(tmp_path / "base"), "--feedback", fb, "--out", str(tmp_path / "ft"))
    assert "warm start: triage-tiny@0.ft" in out and "held out" in out
    ckpt = json.loads((tmp_path / "ft" / "teacher" / "checkpoint.json").read_text(encoding="utf-8"))
    warm = ckpt["warm_start"]
    assert warm["counts"]["posts"] == 150 and warm["counts"]["held_out_posts"] + warm["counts"]["train_posts"] == 150
    assert ckpt["counts"]["train"]["feedback"] == warm["counts"]["train_posts"]
    _ok("export", str(tmp_path / "ft"), str(tmp_path / "ft-model"), "--no-test")
    reg = ["--registry", str(tmp_path / "reg")]
    _ok("models", "add", str(tmp_path / "base-model"), *reg)
    _ok("models", "promote", "triage-tiny@0", *reg)
    cand = json.loads(_ok("models", "add", str(tmp_path / "ft-model"), "--run", str(tmp_path / "ft"), *reg))["model"]
    refused = runner.invoke(app, ["models", "promote", cand, *reg])
    assert refused.exit_code == 2 and "never compared" in refused.output
    compared = runner.invoke(app, ["models", "compare", cand, "--feedback", fb, "--real-limit", "200", "--margin",
                                   "1.0",
                                   *reg])
    assert compared.exit_code == 0, compared.output
    assert "corrections_heldout" in compared.output and "PASSED" in compared.output
    assert json.loads(_ok("models", "promote", cand, *reg))["live"] == cand
    assert Registry(tmp_path / "reg").live() == cand
    assert json.loads(_ok("models", "rollback", "--reason", "test", *reg))["live"] == "triage-tiny@0"
    strict = runner.invoke(app, ["models", "compare", cand, "--feedback", fb, "--real-limit", "200", "--margin", "-1",
                                 *reg])
    assert strict.exit_code == 1 and "FAILED" in strict.output  # a negative margin: any result is a regression
    actions = [e.action for e in PostStore(identity_key=None).audit_log()]
    assert actions == ["model_added", "promoted", "trained", "model_added", "compared", "promoted", "rolled_back",
                       "compared"]
