"""The inference runtime: onnxruntime + tokenizers, no torch.

Texts are length-sorted into batches so that padding is small (at most ``batch_size`` posts and
``max_batch_tokens`` padded positions per call), scored, and restored to input order.
Probabilities are calibrated with each head's temperature from the manifest.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from triage.artifact import ONNX_FILE, TOKENIZER_FILE, Manifest, model_info, verify_artifact
from triage.classify.base import ClassifierOutput
from triage.errors import InferenceError, ModelArtifactError

DEFAULT_BATCH_SIZE = 32
# At most this many token positions (rows x padded width) per onnxruntime call. onnxruntime's memory arena
# keeps the largest call's activations for the life of the process: 32 posts of 96 tokens grew the fast
# model's session by 108 MiB, 8 of 96 by 35 MiB (bench/results). Typical posts (~28 tokens) still go 32 at a
# time; long ones go in smaller batches, which costs them little (their rows are long already).
DEFAULT_MAX_BATCH_TOKENS = 1024


def default_threads() -> int:
    # One inference thread per worker process: on small machines oversubscription costs ~5x.
    return int(os.environ.get("TRIAGE_THREADS", "1"))


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits.astype(np.float64) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


class OnnxClassifier:
    """A model folder loaded for inference. Verifies the folder's hashes before loading anything."""

    def __init__(self, model_dir: Path, *, threads: int | None = None, batch_size: int = DEFAULT_BATCH_SIZE,
                 max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.model_dir = Path(model_dir)
        self.manifest: Manifest = verify_artifact(self.model_dir)
        self.schema = self.manifest.label_schema
        self.info = model_info(self.model_dir, self.manifest)
        self.version = self.info.version
        self.thresholds = {h: c.threshold for h, c in self.manifest.heads.items()}
        self.min_margins = {h: c.min_margin for h, c in self.manifest.heads.items()}
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        try:
            self.tokenizer = Tokenizer.from_file(str(self.model_dir / TOKENIZER_FILE))
            options = ort.SessionOptions()
            n = threads or default_threads()
            options.intra_op_num_threads = n
            options.inter_op_num_threads = 1
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            self.session = ort.InferenceSession(
                str(self.model_dir / ONNX_FILE), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise ModelArtifactError(f"cannot load the model in {self.model_dir}: {exc}") from exc
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=self.manifest.max_length)
        self._pad_id = self.tokenizer.token_to_id("<pad>") or 1
        self._outputs = [o.name for o in self.session.get_outputs()]
        shapes = {o.name: o.shape for o in self.session.get_outputs()}
        for head in self.schema.heads:
            name = f"logits__{head.name}"
            if name not in self._outputs:
                raise ModelArtifactError(f"{self.model_dir / ONNX_FILE} has no output {name}")
            # The manifest is not hashed by itself: make sure its labels at least fit the network.
            width = shapes[name][-1] if shapes[name] else None
            if isinstance(width, int) and width != len(head.labels):
                raise ModelArtifactError(
                    f"{self.model_dir / ONNX_FILE} gives {width} scores for head {head.name!r} but the manifest "
                    f"lists {len(head.labels)} labels; the manifest was edited or belongs to another model"
                )

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        prefix = self.manifest.query_prefix
        return [e.ids for e in self.tokenizer.encode_batch([prefix + t for t in texts])]

    def _run(self, ids: list[list[int]]) -> dict[str, np.ndarray]:
        width = max(len(x) for x in ids)
        input_ids = np.full((len(ids), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for i, row in enumerate(ids):
            input_ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        values = self.session.run(self._outputs, {"input_ids": input_ids, "attention_mask": mask})
        return dict(zip(self._outputs, values, strict=True))

    def predict(self, texts: Sequence[str]) -> ClassifierOutput:
        if not texts:
            return ClassifierOutput({h.name: np.zeros((0, len(h.labels)), np.float32) for h in self.schema.heads})
        # Reposts and spam floods repeat texts: score each distinct text once, then give every copy its row.
        first: dict[str, int] = {}
        where = np.array([first.setdefault(t, len(first)) for t in texts])
        if len(first) < len(texts):
            out = self._predict_distinct(list(first))
            embeddings = out.embeddings[where] if out.embeddings is not None else None
            return ClassifierOutput({h: v[where] for h, v in out.probabilities.items()}, embeddings)
        return self._predict_distinct(texts)

    def _predict_distinct(self, texts: Sequence[str]) -> ClassifierOutput:
        ids = self.encode(texts)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        logits = {h.name: np.zeros((len(ids), len(h.labels)), np.float32) for h in self.schema.heads}
        embeddings: np.ndarray | None = None
        try:
            for chunk in self._chunks(order, [len(x) for x in ids]):
                out = self._run([ids[i] for i in chunk])
                for head in self.schema.heads:
                    logits[head.name][chunk] = out[f"logits__{head.name}"]
                if "embedding" in out:
                    if embeddings is None:
                        embeddings = np.zeros((len(ids), out["embedding"].shape[1]), np.float32)
                    embeddings[chunk] = out["embedding"]
        except Exception as exc:
            raise InferenceError(f"onnxruntime failed on a batch: {exc}") from exc
        probs = {
            h: softmax(v, self.manifest.heads[h].temperature) for h, v in logits.items()
        }
        return ClassifierOutput(probabilities=probs, embeddings=embeddings)

    def _chunks(self, order: list[int], lengths: list[int]) -> list[list[int]]:
        """``order`` (ascending length) cut into batches of at most ``batch_size`` rows and, once a batch holds
        more than one row, at most ``max_batch_tokens`` padded positions (a longer single post still goes)."""
        chunks: list[list[int]] = []
        current: list[int] = []
        for i in order:
            if current and (len(current) == self.batch_size or (len(current) + 1) * lengths[i] > self.max_batch_tokens):
                chunks.append(current)
                current = []
            current.append(i)
        if current:
            chunks.append(current)
        return chunks

    def embed(self, texts: Sequence[str]) -> np.ndarray | None:
        return self.predict(texts).embeddings
