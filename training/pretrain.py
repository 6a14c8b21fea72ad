"""Domain adaptation: continued masked-language-model training of the encoder on unlabeled real text.

multilingual-e5-small was trained on web text and sentence pairs; our posts are terse app reviews,
Facebook comments and tweets with slang, typos and letter floods. A few epochs of MLM on the real pool
(training brands only) teach the encoder that register before fine-tuning.

e5 ships no MLM head, so a fresh one is trained alongside: a dense + GELU + LayerNorm transform and a
decoder tied to the (frozen) word-embedding table. Only the encoder's weights are kept
(``OUT/adapted/encoder.safetensors``); ``adapt.json`` records the loss and the masked-token accuracy on
a held-out share of the texts before and after, so the effect is measured, not assumed.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from training.config import AdaptConfig
from training.loop import autocast, model_device, progress
from training.model import MultiHeadModel, pad_batch

log = logging.getLogger(__name__)

ADAPTED_DIR = "adapted"
ENCODER_WEIGHTS = "encoder.safetensors"
SPECIAL_IDS = (0, 1, 2, 3)  # <s>, <pad>, </s>, <unk>


class MlmHead(nn.Module):
    """BERT's prediction head with the decoder tied to the (frozen) input embeddings."""

    def __init__(self, embeddings: nn.Embedding, hidden: int, eps: float = 1e-12, mask_id: int = 3) -> None:
        super().__init__()
        self.mask_id = mask_id
        self.transform = nn.Linear(hidden, hidden)
        self.norm = nn.LayerNorm(hidden, eps=eps)
        self.embeddings = embeddings
        self.bias = nn.Parameter(torch.zeros(embeddings.num_embeddings))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        x = self.norm(F.gelu(self.transform(hidden)))
        return x @ self.embeddings.weight.t() + self.bias


@dataclass
class MaskedBatch:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    targets: torch.Tensor  # -100 where nothing is predicted


def mask_tokens(ids: Sequence[Sequence[int]], probability: float, vocab_size: int, rng: random.Random,
                protect: int = 0, mask_id: int = 3) -> MaskedBatch:
    """BERT masking: ``probability`` of the ordinary tokens are predicted (80 % ``mask_id``, 10 % random,
    10 % kept). ``mask_id`` is the tokenizer's <mask> when the trimmed vocabulary kept it, else <unk>.

    ``protect`` leading tokens after <s> (the "query: " prefix) are never masked.
    """
    input_ids, mask = pad_batch(ids)
    targets = torch.full_like(input_ids, -100)
    for row, seq in enumerate(ids):
        for col in range(1 + protect, len(seq)):
            token = seq[col]
            if token in SPECIAL_IDS or rng.random() >= probability:
                continue
            targets[row, col] = token
            roll = rng.random()
            if roll < 0.8:
                input_ids[row, col] = mask_id
            elif roll < 0.9:
                input_ids[row, col] = rng.randrange(4, vocab_size)
    return MaskedBatch(input_ids, mask, targets)


def _hidden(model: MultiHeadModel, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    seq = ids.shape[1]
    position_ids = torch.arange(seq, device=ids.device).unsqueeze(0).expand_as(ids)
    additive = (1.0 - mask[:, None, None, :].to(torch.float32)) * torch.finfo(torch.float32).min
    out = model.encoder(input_ids=ids, attention_mask=additive, token_type_ids=torch.zeros_like(ids),
                        position_ids=position_ids)
    return out.last_hidden_state


def _mlm_step(model: MultiHeadModel, head: MlmHead, batch: MaskedBatch,
              precision: str = "auto") -> tuple[torch.Tensor, int, int]:
    device = model_device(model)
    ids, mask, targets = batch.input_ids.to(device), batch.attention_mask.to(device), batch.targets.to(device)
    with autocast(device, precision):
        logits = head(_hidden(model, ids, mask))
    picked = targets != -100
    loss = F.cross_entropy(logits[picked].float(), targets[picked])
    correct = int((logits[picked].argmax(-1) == targets[picked]).sum())
    return loss, correct, int(picked.sum())


@torch.no_grad()
def mlm_accuracy(model: MultiHeadModel, head: MlmHead, texts: list[list[int]], config: AdaptConfig,
                 protect: int, seed: int) -> dict[str, float]:
    """Loss and masked-token accuracy on ``texts`` (same masks every call: a fixed seed)."""
    model.eval()
    rng = random.Random(seed)
    total_loss, correct, n = 0.0, 0, 0
    for start in range(0, len(texts), 64):
        batch = mask_tokens(texts[start : start + 64], config.mask_probability, head.bias.numel(), rng, protect,
                            head.mask_id)
        if int((batch.targets != -100).sum()) == 0:
            continue
        loss, c, k = _mlm_step(model, head, batch)
        total_loss += float(loss) * k
        correct, n = correct + c, n + k
    return {"loss": total_loss / n if n else math.nan, "accuracy": correct / n if n else math.nan, "tokens": n}


def adapt_encoder(model: MultiHeadModel, texts: list[list[int]], config: AdaptConfig, out_dir: Path,
                  protect: int, seed: int, mask_id: int = 3) -> dict[str, Any]:
    """Continue MLM training of ``model.encoder`` on token-id ``texts``; save the encoder; return the report."""
    rng = random.Random(seed)
    texts = [t for t in texts if len(t) > 3 + protect]
    rng.shuffle(texts)
    if config.max_texts:
        texts = texts[: config.max_texts]
    n_hold = max(1, int(len(texts) * config.holdout)) if config.holdout else 0
    held, train = texts[:n_hold], texts[n_hold:]
    emb = model.encoder.embeddings.word_embeddings
    emb.weight.requires_grad_(False)
    head = MlmHead(emb, model.encoder_config.hidden_size, model.encoder_config.layer_norm_eps, mask_id)
    head = head.to(model_device(model))
    before = mlm_accuracy(model, head, held, config, protect, seed) if held else {}
    history = _mlm_epochs(model, head, train, config, protect, rng)
    after = mlm_accuracy(model, head, held, config, protect, seed) if held else {}
    folder = out_dir / ADAPTED_DIR
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: (v.float() if v.is_floating_point() else v).detach().cpu().contiguous()
             for k, v in model.encoder.state_dict().items()}
    save_file(state, str(folder / ENCODER_WEIGHTS))
    report = {"texts": len(train), "held_out": len(held), "epochs": config.epochs, "history": history,
              "held_out_before": before, "held_out_after": after}
    (folder / "adapt.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    log.info("adapt: held-out masked-token accuracy %.3f -> %.3f", before.get("accuracy", math.nan),
             after.get("accuracy", math.nan))
    return report


def _mlm_epochs(model: MultiHeadModel, head: MlmHead, train: list[list[int]], config: AdaptConfig,
                protect: int, rng: random.Random) -> list[dict[str, float]]:
    params = [p for p in [*model.encoder.parameters(), *head.parameters()] if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.01)
    steps = max(1, math.ceil(len(train) / config.batch_size) * config.epochs)
    warmup = max(1, steps // 20)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup))))
    history, started = [], time.perf_counter()
    for epoch in range(config.epochs):
        model.train()
        order = sorted(range(len(train)), key=lambda i: (len(train[i]), rng.random()))
        batches = [order[i : i + config.batch_size] for i in range(0, len(order), config.batch_size)]
        rng.shuffle(batches)
        total, n = 0.0, 0
        for idx in progress(batches, desc=f"adapt epoch {epoch + 1}/{config.epochs}", unit="batch"):
            batch = mask_tokens([train[i] for i in idx], config.mask_probability, head.bias.numel(), rng, protect,
                                head.mask_id)
            if int((batch.targets != -100).sum()) == 0:
                continue
            loss, _, _ = _mlm_step(model, head, batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            total, n = total + loss.item(), n + 1
        history.append({"epoch": epoch + 1, "loss": total / max(1, n), "seconds": time.perf_counter() - started})
        if config.max_minutes and time.perf_counter() - started > config.max_minutes * 60:
            break
    return history


def load_adapted(model: MultiHeadModel, out_dir: Path) -> bool:
    """Put the adapted encoder weights (if this run made them) into ``model``; True when it did."""
    path = out_dir / ADAPTED_DIR / ENCODER_WEIGHTS
    if not path.is_file():
        return False
    model.encoder.load_state_dict(load_file(str(path)))
    return True
