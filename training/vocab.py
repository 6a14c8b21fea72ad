"""Vocabulary trimming: keep the pieces the product's languages need, slice the embedding table to match.

e5-small's word-embedding table has 250,037 rows (96 M parameters: two thirds of the model) for ~100
languages. Keeping

* the special pieces (``<s> <pad> </s> <unk> <mask>``),
* every piece produced when tokenising all training and evaluation texts (public sets included),
* every single-character piece (so that any text stays coverable without ``<unk>``),
* every piece of the scripts in ``keep_all_scripts`` (Hebrew: ~5k pieces), and
* the best-scoring pieces of ``fill_scripts``, tier by tier (ASCII-letter pieces first — English —,
  then letterless pieces such as digits, punctuation and emoji, then other Latin, Cyrillic, Arabic)
  up to ``budget``

keeps segmentation identical to the full tokenizer on every text seen here (a Unigram Viterbi path
stays optimal when only competing pieces are removed) and on most unseen text of those scripts.
Pieces keep their original scores and relative order, so ids are a monotone remapping: new id ``i``
is old id ``kept[i]``, and embedding row ``i`` is the old row ``kept[i]``.
"""

from __future__ import annotations

import copy
import json
import logging
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

from training.config import VocabConfig
from training.encoder.tokenizer import METASPACE, QUERY_PREFIX

log = logging.getLogger(__name__)

SPECIAL_PIECES = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")


@lru_cache(maxsize=65536)
def char_script(ch: str) -> str:
    """First word of the character's Unicode name (HEBREW, LATIN, CJK...), or COMMON for non-letters."""
    if not ch.isalpha():
        return "COMMON"
    try:
        return unicodedata.name(ch).split()[0]
    except ValueError:
        return "UNKNOWN"


def piece_script(piece: str) -> str:
    """The one script of a piece's letters: ASCII when they are all a-z/A-Z (English and friends), else
    the Unicode script (LATIN, HEBREW...); COMMON when it has no letters, MIXED when it has several."""
    letters = [c for c in piece.replace(METASPACE, "") if c.isalpha()]
    if not letters:
        return "COMMON"
    if all(c.isascii() for c in letters):
        return "ASCII"
    scripts = {char_script(c) for c in letters}
    return scripts.pop() if len(scripts) == 1 else "MIXED"


@dataclass
class TrimmedVocab:
    """The trimmed tokenizer (as tokenizer.json data) and, per new id, the old id it came from."""

    tokenizer_json: dict[str, Any]
    kept: list[int]
    stats: dict[str, int]

    def tokenizer(self) -> Tokenizer:
        return Tokenizer.from_str(json.dumps(self.tokenizer_json, ensure_ascii=False))

    def save(self, path: Path) -> None:
        self.tokenizer().save(str(path))


@lru_cache(maxsize=2)
def _base(path: str, mtime: float) -> tuple[dict[str, Any], tuple[str, ...], Tokenizer]:
    """The base tokenizer.json, each piece's script, and the tokenizer (built once: 250k pieces take seconds)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    scripts = tuple(piece_script(p) for p, _ in data["model"]["vocab"])
    tok = Tokenizer.from_file(path)
    tok.no_padding()
    tok.no_truncation()
    return data, scripts, tok


def load_base(path: Path) -> tuple[dict[str, Any], tuple[str, ...], Tokenizer]:
    path = Path(path).resolve()
    return _base(str(path), path.stat().st_mtime)


def observed_ids(tok: Tokenizer, texts: Iterable[str], prefix: str = QUERY_PREFIX, chunk: int = 4096) -> set[int]:
    """Every id ``tok`` (padding and truncation off) produces on ``prefix + text`` for all texts."""
    seen: set[int] = set()
    batch: list[str] = []
    for text in texts:
        batch.append(prefix + text)
        if len(batch) >= chunk:
            for enc in tok.encode_batch(batch):
                seen.update(enc.ids)
            batch = []
    for enc in tok.encode_batch(batch):
        seen.update(enc.ids)
    return seen


def trim_vocabulary(base_tokenizer: Path, texts: Sequence[str], config: VocabConfig,
                    prefix: str = QUERY_PREFIX) -> TrimmedVocab:
    """Build the trimmed tokenizer for ``texts`` from the base ``tokenizer.json``."""
    data, scripts, base = load_base(base_tokenizer)
    vocab: list[list[Any]] = data["model"]["vocab"]
    piece_id = {p: i for i, (p, _) in enumerate(vocab)}

    keep: set[int] = {piece_id[p] for p in SPECIAL_PIECES if p in piece_id}
    n_special = len(keep)
    seen = observed_ids(base, texts, prefix)
    keep |= seen
    n_observed = len(keep)
    if config.keep_single_chars:
        keep |= {i for i, (p, _) in enumerate(vocab) if len(p.replace(METASPACE, "")) <= 1}
    n_single = len(keep)
    all_scripts = {s.upper() for s in config.keep_all_scripts}
    # Fill tiers in priority order; by score within a tier. English (ASCII) comes first: Arabic and
    # Russian posts only need to be recognised, and their single characters always stay.
    tier = {s.upper(): i for i, s in enumerate(config.fill_scripts)}
    keep |= {i for i, s in enumerate(scripts) if s in all_scripts or (s == "ASCII" and "LATIN" in all_scripts)}
    n_scripts = len(keep)
    if len(keep) < config.budget:
        candidates = sorted((i for i, s in enumerate(scripts) if s in tier and i not in keep),
                            key=lambda i: (tier[scripts[i]], -vocab[i][1], i))
        keep |= set(candidates[: config.budget - len(keep)])
    kept = sorted(keep)
    stats = {"base": len(vocab), "special": n_special, "observed": n_observed - n_special,
             "single_chars": n_single - n_observed, "all_scripts": n_scripts - n_single,
             "filled": len(kept) - n_scripts, "kept": len(kept)}
    log.info("vocabulary trimmed: %s", stats)
    return TrimmedVocab(remap_tokenizer_json(data, kept), kept, stats)


def remap_tokenizer_json(data: dict[str, Any], kept: Sequence[int]) -> dict[str, Any]:
    """tokenizer.json restricted to the ``kept`` old ids, every id reference remapped."""
    # Shallow copies except where ids change: deep-copying 250k pieces would cost seconds.
    new = {k: copy.deepcopy(v) for k, v in data.items() if k != "model"}
    new["model"] = {k: v for k, v in data["model"].items() if k != "vocab"}
    old_to_new = {old: i for i, old in enumerate(kept)}
    vocab = data["model"]["vocab"]
    new["model"]["vocab"] = [vocab[i] for i in kept]
    unk = data["model"].get("unk_id")
    if unk is not None:
        if unk not in old_to_new:
            raise ValueError("the trimmed vocabulary must keep <unk>")
        new["model"]["unk_id"] = old_to_new[unk]
    for tok in new.get("added_tokens") or []:
        if tok["id"] not in old_to_new:
            raise ValueError(f"the trimmed vocabulary must keep the added token {tok['content']!r}")
        tok["id"] = old_to_new[tok["id"]]
    post = new.get("post_processor")
    if post and post.get("type") == "TemplateProcessing":
        for spec in post.get("special_tokens", {}).values():
            spec["ids"] = [old_to_new[i] for i in spec["ids"]]
    pad = new.get("padding")
    if pad and pad.get("pad_id") is not None:
        pad["pad_id"] = old_to_new[pad["pad_id"]]
    return new


def segmentation_mismatches(base_tokenizer: Path, trimmed: TrimmedVocab, texts: Sequence[str],
                            prefix: str = QUERY_PREFIX) -> list[str]:
    """Texts whose trimmed segmentation differs from the full tokenizer's (remapped ids compared)."""
    base = load_base(base_tokenizer)[2]
    small = trimmed.tokenizer()
    small.no_padding()
    small.no_truncation()
    old_to_new = {old: i for i, old in enumerate(trimmed.kept)}
    inputs = [prefix + t for t in texts]
    bad = []
    for text, a, b in zip(texts, base.encode_batch(inputs), small.encode_batch(inputs), strict=True):
        if [old_to_new.get(i, -1) for i in a.ids] != b.ids:
            bad.append(text)
    return bad


def slice_rows(weight: Any, kept: Sequence[int]) -> Any:
    """Embedding rows of the kept pieces, in new-id order (works for torch tensors and numpy arrays)."""
    return weight[list(kept)]
