"""Training data: every source read, mapped onto the model's heads, tokenised, batched.

``load_data(config)`` reads the sources; ``encode_examples`` tokenises exactly as the runtime does;
``epoch_batches`` draws one epoch (capped sources subsampled, length-sorted buckets, batches shuffled);
``collate`` turns a batch into tensors.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from tokenizers import Tokenizer

from training.config import TrainConfig
from training.encoder.tokenizer import QUERY_PREFIX
from training.model import pad_batch
from training.sources import IGNORE, Example, load_source, source_files, stable_seed
from triage.artifact import sha256_file
from triage.errors import ConfigError
from triage.schema import HeadSpec


@dataclass
class Data:
    """Every example of a run, tokenised, grouped by role and source."""

    heads: list[HeadSpec]
    train: dict[str, list[Example]]
    dev: dict[str, list[Example]]
    test: dict[str, list[Example]]
    unlabeled: list[Example]
    caps: dict[str, int | None]
    files: dict[str, str]  # data file -> sha256

    def all_examples(self) -> list[Example]:
        out = [e for rows in (*self.train.values(), *self.dev.values(), *self.test.values()) for e in rows]
        return out + self.unlabeled


def load_data(config: TrainConfig) -> Data:
    """Read every source of ``config`` and map it onto the model's heads (nothing tokenised yet)."""
    heads = config.model_heads()
    train: dict[str, list[Example]] = {}
    dev: dict[str, list[Example]] = {}
    test: dict[str, list[Example]] = {}
    unlabeled: list[Example] = []
    files: dict[str, str] = {}
    for source in config.sources:
        splits = load_source(source, heads, config.seed)
        for path in source_files(source):
            files[str(path)] = sha256_file(path)
        rows = [e for split in splits.values() for e in split]
        if source.distill_only or not any(e.labels for e in rows):
            unlabeled += [e for e in splits.get("train", [])]
            continue
        for name, target in (("train", train), ("dev", dev), ("test", test)):
            labelled = [e for e in splits.get(name, []) if e.labels]  # type: ignore[call-overload]
            if labelled:
                target[source.name] = labelled
    if not train:
        raise ConfigError(f"config {config.name!r} has no labeled training examples")
    used = {h for rows in train.values() for e in rows for h in e.labels}
    unused = [h.name for h in heads if h.name not in used and not h.auxiliary]
    if unused:
        raise ConfigError(f"no training example has a label for heads {unused}")
    caps = {s.name: s.per_epoch for s in config.sources}
    return Data(heads, train, dev, test, unlabeled, caps, files)


def encode_examples(examples: Sequence[Example], tokenizer: Tokenizer, max_length: int) -> None:
    """Fill ``ids`` exactly as the runtime does: prefix, tokenise, truncate to ``max_length`` incl. <s> </s>."""
    tok = Tokenizer.from_str(tokenizer.to_str())
    tok.no_padding()
    tok.enable_truncation(max_length=max_length)
    encodings = tok.encode_batch([QUERY_PREFIX + e.text for e in examples])
    for ex, enc in zip(examples, encodings, strict=True):
        ex.ids = list(enc.ids)


def epoch_batches(pool: dict[str, list[Example]], caps: dict[str, int | None], epoch: int, seed: int,
                  batch_size: int, bucket_batches: int) -> list[list[Example]]:
    """This epoch's batches: capped sources subsampled, then length-sorted buckets, then batches shuffled."""
    rng = random.Random(stable_seed(seed, "epoch", epoch))
    chosen: list[Example] = []
    for name in sorted(pool):
        rows = pool[name]
        cap = caps.get(name)
        chosen += rng.sample(rows, cap) if cap and cap < len(rows) else rows
    rng.shuffle(chosen)
    batches = []
    size = batch_size * bucket_batches
    for start in range(0, len(chosen), size):
        bucket = sorted(chosen[start : start + size], key=lambda e: len(e.ids))
        batches += [bucket[i : i + batch_size] for i in range(0, len(bucket), batch_size)]
    rng.shuffle(batches)
    return batches


@dataclass
class Batch:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: dict[str, torch.Tensor]
    weights: torch.Tensor
    soft: dict[str, torch.Tensor] | None
    sources: list[str] = field(default_factory=list)

    def to(self, device: torch.device | str) -> Batch:
        """The same batch on ``device`` (a no-op on the CPU)."""
        if str(device) == "cpu":
            return self
        soft = {k: v.to(device) for k, v in self.soft.items()} if self.soft is not None else None
        return Batch(self.input_ids.to(device), self.attention_mask.to(device),
                     {k: v.to(device) for k, v in self.labels.items()}, self.weights.to(device), soft, self.sources)


def collate(rows: Sequence[Example], heads: Sequence[HeadSpec], source_weights: dict[str, float]) -> Batch:
    ids, mask = pad_batch([r.ids for r in rows])
    labels = {h.name: torch.tensor([r.labels.get(h.name, IGNORE) for r in rows], dtype=torch.long) for h in heads}
    weights = torch.tensor([source_weights.get(r.source, 1.0) for r in rows], dtype=torch.float32)
    soft = None
    if all(r.soft is not None for r in rows):
        soft = {h.name: torch.tensor([r.soft[h.name] for r in rows], dtype=torch.float32) for h in heads}  # type: ignore[index]
    return Batch(ids, mask, labels, weights, soft, [r.source for r in rows])


