"""The canonical model test, on a tiny randomly initialised network (fast on 2 CPU cores).

Overfit a handful of examples through the masked multi-head loss, save and reload (same outputs),
batch equals single, and ONNX equals torch at several batch sizes and lengths.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs the train extra (pip install -e '.[train]')")

from training.data import Batch, collate  # noqa: E402
from training.export import export_onnx, onnx_parity, output_names  # noqa: E402
from training.losses import class_weights, masked_cross_entropy  # noqa: E402
from training.model import MultiHeadModel, pad_batch, random_encoder_config  # noqa: E402
from training.sources import IGNORE, Example  # noqa: E402
from triage.schema import HeadSpec  # noqa: E402

HEADS = [HeadSpec(name="intent", labels=["a", "b", "c"]), HeadSpec(name="sentiment", labels=["neg", "neu", "pos"]),
         HeadSpec(name="spam", labels=["ham", "spam"], auxiliary=True)]
VOCAB = 120


def tiny_model(seed: int = 0) -> MultiHeadModel:
    torch.manual_seed(seed)
    cfg = random_encoder_config(VOCAB, num_layers=2, hidden_size=32, num_attention_heads=2, intermediate_size=64,
                                max_position=64, dropout=0.0)
    return MultiHeadModel(cfg, HEADS, head_dropout=0.0)


def examples() -> list[Example]:
    rng = np.random.default_rng(0)
    rows = []
    # Only some heads are known per example: the masked loss must cope.
    labels = [{"intent": 0, "sentiment": 2}, {"intent": 1}, {"sentiment": 0}, {"intent": 2, "spam": 1},
              {"spam": 0}, {"intent": 0, "sentiment": 1, "spam": 0}]
    for i, lab in enumerate(labels):
        n = int(rng.integers(4, 12))
        ids = [0, *rng.integers(4, VOCAB, n).tolist(), 2]
        rows.append(Example(text=f"t{i}", labels=lab, source="s", split="train", ids=ids))
    return rows


@pytest.fixture(scope="module")
def trained() -> tuple[MultiHeadModel, list[Example]]:
    torch.set_num_threads(1)  # a tiny model: one thread is fastest, and the box is shared
    model = tiny_model()
    rows = examples()
    weights = class_weights({"s": rows}, HEADS, "sqrt_inverse", 5.0)
    batch = collate(rows, HEADS, {"s": 1.0})
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    first = None
    for _ in range(60):
        logits, _ = model(batch.input_ids, batch.attention_mask)
        loss = masked_cross_entropy(logits, batch, weights)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05 * first
    model.eval()
    return model, rows


def test_overfits_every_known_label(trained: tuple[MultiHeadModel, list[Example]]) -> None:
    model, rows = trained
    ids, mask = pad_batch([r.ids for r in rows])
    with torch.inference_mode():
        logits, emb = model(ids, mask)
    for i, r in enumerate(rows):
        for head, y in r.labels.items():
            assert int(logits[head][i].argmax()) == y
    assert torch.allclose(emb.norm(dim=-1), torch.ones(len(rows)), atol=1e-5)


def test_save_reload_gives_the_same_outputs(trained: tuple[MultiHeadModel, list[Example]], tmp_path: Path) -> None:
    model, rows = trained
    model.save(tmp_path)
    again = MultiHeadModel.load(tmp_path)
    ids, mask = pad_batch([r.ids for r in rows])
    with torch.inference_mode():
        a, ea = model(ids, mask)
        b, eb = again(ids, mask)
    for head in a:
        assert torch.equal(a[head], b[head])
    assert torch.equal(ea, eb)


def test_batch_equals_single(trained: tuple[MultiHeadModel, list[Example]]) -> None:
    model, rows = trained
    ids, mask = pad_batch([r.ids for r in rows])
    with torch.inference_mode():
        batch, emb = model(ids, mask)
        for i, r in enumerate(rows):
            one, e1 = model(*pad_batch([r.ids]))
            for head in batch:
                assert torch.allclose(batch[head][i], one[head][0], atol=1e-5)
            assert torch.allclose(emb[i], e1[0], atol=1e-5)


def test_onnx_equals_torch_at_several_batch_sizes_and_lengths(trained: tuple[MultiHeadModel, list[Example]],
                                                              tmp_path: Path) -> None:
    model, _ = trained
    public = [h.name for h in HEADS if not h.auxiliary]
    path = tmp_path / "m.onnx"
    export_onnx(model, public, path)
    import onnx

    graph = onnx.load(str(path)).graph
    assert [o.name for o in graph.output] == output_names(public) == ["logits__intent", "logits__sentiment",
                                                                      "embedding"]
    assert [i.name for i in graph.input] == ["input_ids", "attention_mask"]
    cases = [(b, n) for b in (1, 3, 8) for n in (3, 17, 50)]
    assert onnx_parity(model, public, path, cases) < 1e-4


def _batch(logits_rows: int) -> Batch:
    labels = {"intent": torch.tensor([0, IGNORE, 2]), "sentiment": torch.tensor([IGNORE, IGNORE, IGNORE])}
    return Batch(torch.zeros((3, 4), dtype=torch.long), torch.ones((3, 4), dtype=torch.long), labels,
                 torch.ones(logits_rows), None, ["s"] * logits_rows)


def test_masked_loss_ignores_unknown_heads() -> None:
    torch.manual_seed(0)
    weights = {"*": {"intent": torch.ones(3), "sentiment": torch.ones(3)}}
    intent = torch.randn(3, 3, requires_grad=True)
    sentiment = torch.randn(3, 3, requires_grad=True)
    batch = _batch(3)
    loss = masked_cross_entropy({"intent": intent, "sentiment": sentiment}, batch, weights)
    other = masked_cross_entropy({"intent": intent, "sentiment": sentiment.detach() * 100}, batch, weights)
    # The unknown head changes nothing, and the unknown intent row is not in the mean's denominator.
    expected = torch.nn.functional.cross_entropy(intent[[0, 2]], torch.tensor([0, 2]))
    assert torch.allclose(loss, expected) and torch.allclose(other, expected)
    loss.backward()
    assert sentiment.grad is None or float(sentiment.grad.abs().sum()) == 0.0
    assert intent.grad is not None and float(intent.grad[1].abs().sum()) == 0.0  # the unknown row gets no gradient


def test_class_weights_favour_rare_labels_within_each_source() -> None:
    rows = [Example("x", {"intent": 0}, "a", "train") for _ in range(90)] + [
        Example("y", {"intent": 1}, "a", "train") for _ in range(10)]
    other = [Example("z", {"intent": 0}, "b", "train") for _ in range(5)] + [
        Example("w", {"intent": 1}, "b", "train") for _ in range(45)]
    cw = class_weights({"a": rows, "b": other}, HEADS[:1], "sqrt_inverse", 5.0)
    a, b = cw["a"]["intent"], cw["b"]["intent"]
    assert float(a[1]) > float(a[0]) and float(b[0]) > float(b[1])  # what is rare differs per source
    assert abs(float((a[0] * 90 + a[1] * 10) / 100) - 1.0) < 1e-5  # mean 1 over the source's labels
    pooled = class_weights({"a": rows, "b": other}, HEADS[:1], "sqrt_inverse", 5.0, per_source=False)
    assert set(pooled) == {"*"}
