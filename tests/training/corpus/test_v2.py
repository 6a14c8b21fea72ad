"""Corpus v2: the new fields, scenario de-duplication and split, and the shortcut measures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from training.corpus.build import (
    build_corpus,
    merge_scenarios,
    number_problem,
    scenario_split,
    scenario_twins,
)
from training.corpus.check import Minimums, check_corpus
from training.corpus.records import SPLITS, CorpusRecord
from training.corpus.stats import (
    long_complaints,
    noise_measures,
    pure_words,
    quote_and_handle_measures,
    sentiment_conventions,
    short_posts_other,
    shortcut_report,
    terse_share_by_intent,
    urgency_from_intent,
    word_purity,
)

V1 = {"text": "Cancel my subscription now", "language": "en", "mixed": False, "intent": "churn_risk",
      "sentiment": "negative", "urgency": "high", "channel": "twitter", "sector": "telecom"}


def _v2(text: str, scenario: str, **kw) -> dict:
    row = {"text": text, "language": "he", "mixed": False, "intent": "complaint", "sentiment": "negative",
           "urgency": "high", "channel": "facebook", "sector": "internet_tv", "scenario": scenario,
           "kind": "terse", "parent": None, "translit": False}
    return row | kw


V2 = [
    _v2("אין אינטרנט שוב", "he-a-001"),
    _v2("גם אצלי", "he-a-001", intent="other", sentiment="neutral", urgency="low", kind="thread_reply",
        parent="כל השכונה בלי אינטרנט מהבוקר"),
    _v2("ein li internet kvar 3 yamim", "he-a-001", kind="translit", translit=True),
    _v2("איך מצטרפים?", "he-a-002", intent="purchase_intent", sentiment="neutral", urgency="normal",
        kind="ad_comment", parent="מבצע סיבים 99 ש״ח לחודש!"),
]


def _write(folder: Path, name: str, rows: list[dict]) -> None:
    folder.mkdir(exist_ok=True)
    (folder / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def _rows(corpus: Path) -> dict[str, list[dict]]:
    return {s: [json.loads(line) for line in (corpus / f"{s}.jsonl").open(encoding="utf-8")] for s in SPLITS}


@pytest.fixture()
def built_v2(tmp_path: Path, default_schema):
    _write(tmp_path / "raw", "v1.jsonl", [V1])
    _write(tmp_path / "raw", "v2_x.jsonl", V2)
    report = build_corpus(tmp_path / "raw", tmp_path / "corpus", default_schema, embeddings=np.eye(5, dtype=np.float32))
    return report, tmp_path / "corpus"


def test_v2_fields_are_stored_and_v1_rows_get_their_own_scenario(built_v2, default_schema) -> None:
    report, corpus = built_v2
    assert report.rejected == [] and report.groups == 3
    rows = {r["text"]: r for split in _rows(corpus).values() for r in split}
    v1 = rows[V1["text"]]
    assert v1["scenario"] == "v1-" + v1["id"][2:] and v1["kind"] is None and v1["parent"] is None
    assert v1["batch"] == "v1" and v1["translit"] is False
    reply = rows["גם אצלי"]
    assert (reply["scenario"], reply["kind"], reply["parent"], reply["batch"]) == (
        "he-a-001", "thread_reply", "כל השכונה בלי אינטרנט מהבוקר", "v2_x")
    translit = rows["ein li internet kvar 3 yamim"]
    assert translit["language"] == "he" and translit["translit"] is True
    assert check_corpus(corpus, default_schema).ok


def test_rows_written_before_v2_are_still_valid() -> None:
    old = {k: v for k, v in V1.items()} | {"id": "p-0123456789ab", "entities": []}
    rec = CorpusRecord.model_validate(old)
    assert rec.scenario is None and rec.kind is None and not rec.translit and rec.group == "v1-0123456789ab"


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (_v2("hello there", "s1", language="en", translit=True, kind="translit"), "translit posts are Hebrew"),
        (_v2("שלום", "s1", translit=True, kind="translit"), "has Hebrew letters"),
        (_v2("+1", "s1", kind="thread_reply"), "needs its parent"),
        (_v2("אין קליטה", "s1", kind="rant_ish"), "kind="),
        (_v2("אין קליטה", ""), "scenario"),
        (_v2("אין קליטה", "v1-abc"), "reserved for v1"),
        ({k: v for k, v in _v2("אין קליטה", "s1").items() if k != "parent"}, "differ from"),
        (_v2("ת.ז 123456789 ואף אחד לא חוזר אליי", "s1"), "fails its check digit"),
        (_v2("my card 4580 1234 5678 9012 was charged twice", "s1", language="en"), "fails the Luhn check"),
    ],
)
def test_invalid_v2_rows_are_rejected_with_a_reason(tmp_path: Path, default_schema, row: dict, reason: str) -> None:
    _write(tmp_path / "raw", "v2_x.jsonl", [row, V2[0]])
    report = build_corpus(tmp_path / "raw", tmp_path / "corpus", default_schema, embeddings=np.eye(1, dtype=np.float32))
    assert len(report.rejected) == 1 and reason in report.rejected[0], report.rejected
    assert report.rejected[0].startswith("v2_x.jsonl:1:")


def test_valid_check_digits_and_order_numbers_are_kept() -> None:
    assert number_problem("ת.ז 123456782 ואף אחד לא חוזר אליי") is None
    assert number_problem("order ID 123456789 is missing") is None
    assert number_problem("WhatsApp +86 138 0013 8000") is None
    assert number_problem("card 4580 1234 5678 9015") is None  # Luhn-valid


def _group_rows(n_groups: int, size: int) -> list[dict]:
    rows = []
    for g in range(n_groups):
        for k in range(size):
            rows.append({"id": f"p-{g:06d}{k:06d}", "scenario": f"g{g}", "language": "he" if g % 3 else "en",
                         "intent": ["complaint", "other", "question"][g % 3 if k else 0]})
    return rows


def test_scenario_split_keeps_groups_together_in_80_10_10() -> None:
    rows = _group_rows(200, 4)
    splits = scenario_split(rows, 13, 0.1, 0.1)
    where = {r["scenario"]: s for s, split_rows in splits.items() for r in split_rows}
    assert all(where[r["scenario"]] == s for s, split_rows in splits.items() for r in split_rows)
    assert sum(len(v) for v in splits.values()) == len(rows)
    assert [round(len(splits[s]) / len(rows), 2) for s in SPLITS] == [0.8, 0.1, 0.1]
    assert splits == scenario_split(rows, 13, 0.1, 0.1)
    assert splits != scenario_split(rows, 14, 0.1, 0.1)


def test_single_post_groups_split_like_before() -> None:
    splits = scenario_split(_group_rows(100, 1), 13, 0.1, 0.1)
    assert {s: len(v) for s, v in splits.items()} == {"train": 80, "dev": 10, "test": 10}


def test_scenario_twins_merge_groups_but_short_posts_do_not() -> None:
    rows = [
        {"text": "כל נווה שאנן בלי אינטרנט מהבוקר מה קורה", "scenario": "a"},
        {"text": "גם אצלי", "scenario": "a"},
        {"text": "בנווה שאנן אין אינטרנט מהבוקר, מה קורה איתכם", "scenario": "b"},
        {"text": "גם אצלי!!", "scenario": "c"},
        {"text": "the gym charged me twice for march again", "scenario": "d"},
    ]
    vectors = np.array([[1, 0, 0], [0, 1, 0], [0.98, 0.199, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    pairs = scenario_twins(rows, vectors)
    assert pairs == [(0, 2)]  # rows 1 and 3 are identical in meaning but too short to name a situation
    assert merge_scenarios(rows, pairs) == [("b", "a")]
    assert [r["scenario"] for r in rows] == ["a", "a", "a", "c", "d"]


def test_merge_scenarios_follows_chains_to_the_first_written_group() -> None:
    rows = [{"scenario": g} for g in ("a", "b", "c", "d")]
    assert merge_scenarios(rows, [(2, 3), (1, 2)]) == [("c", "b"), ("d", "b")]
    assert [r["scenario"] for r in rows] == ["a", "b", "b", "b"]


def test_check_catches_a_scenario_in_two_splits(built_v2, default_schema) -> None:
    _, corpus = built_v2
    rows = _rows(corpus)
    group_split = next(s for s in SPLITS if any(r["scenario"] == "he-a-001" for r in rows[s]))
    other = next(s for s in SPLITS if s != group_split)
    moved = next(r for r in rows[group_split] if r["scenario"] == "he-a-001")
    rows[group_split].remove(moved)
    rows[other].append(moved)
    rows[group_split].append(dict(moved, text="עדיין אין אינטרנט", id="p-00000000000a", entities=[]))
    for s in SPLITS:
        (corpus / f"{s}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows[s]),
                                           encoding="utf-8")
    report = check_corpus(corpus, default_schema)
    assert any("scenario 'he-a-001' leaks across splits" in p for p in report.problems), report.problems


def test_check_requires_translit_rows_to_be_hebrew(built_v2, default_schema) -> None:
    _, corpus = built_v2
    rows = _rows(corpus)
    for s in SPLITS:
        for r in rows[s]:
            if r["translit"]:
                r["language"] = "en"
        (corpus / f"{s}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows[s]),
                                           encoding="utf-8")
    report = check_corpus(corpus, default_schema)
    assert any("translit" in p for p in report.problems)


def test_v2_minimums_name_the_intents_without_enough_terse_posts(built_v2, default_schema) -> None:
    _, corpus = built_v2
    problems = check_corpus(corpus, default_schema, Minimums()).problems
    assert any("corpus v2 has 4 posts" in p for p in problems)
    assert any(p.startswith("v2 intent praise: 0% of posts have <= 5 words") for p in problems)
    assert not any(p.startswith("v2 intent complaint:") for p in problems)  # both complaints are terse
    assert any(p.startswith("v2 kind rant: 0 posts") for p in problems)


# Shortcut measures on small inputs with known answers ---------------------------------------------------------


def _post(text: str, intent: str = "other", urgency: str = "low", sentiment: str = "neutral",
          language: str = "he") -> dict:
    return {"text": text, "intent": intent, "urgency": urgency, "sentiment": sentiment, "language": language}


def test_length_shortcuts() -> None:
    long_text = " ".join(["word"] * 16)
    rows = [_post("lol"), _post("first!"), _post("אין אינטרנט שוב", "complaint"), _post("🙏🙏"),
            _post(long_text, "complaint"), _post(long_text, "complaint"), _post(long_text, "praise")]
    assert short_posts_other(rows) == {"posts": 4, "other": 3, "share": 0.75}
    assert long_complaints(rows) == round(2 / 3, 4)
    assert terse_share_by_intent(rows) == {"complaint": round(1 / 3, 4), "other": 1.0, "praise": 0.0}


def test_urgency_from_intent_is_the_majority_rule_accuracy() -> None:
    rows = [_post("a", "complaint", "high"), _post("b", "complaint", "high"), _post("c", "complaint", "low"),
            _post("d", "praise", "low"), _post("e", "praise", "normal")]
    assert urgency_from_intent(rows) == 0.6  # complaint->high right 2 of 3, praise->either right 1 of 2


def test_pure_words_need_enough_posts_and_purity() -> None:
    rows = [_post(f"רעיון {i}", "suggestion") for i in range(9)] + [_post("רעיון גרוע", "complaint")]
    rows += [_post(f"cancel {i}", "churn_risk") for i in range(8)] + [_post("cancel order", "request")] * 2
    found = pure_words(rows, min_count=10, purity=0.9)
    assert [(d["word"], d["posts"], d["intent"], d["purity"]) for d in found] == [("רעיון", 10, "suggestion", 0.9)]


def test_word_purity_follows_named_words() -> None:
    rows = [_post("כדאי לכם לתקן", "suggestion"), _post("כדאי שתחזרו אליי", "request"), _post("לא כדאי", "complaint"),
            _post("רעיון טוב", "suggestion")]
    assert word_purity(rows, ("כדאי", "רעיון", "https")) == {
        "כדאי": {"posts": 3, "intent": "suggestion", "purity": round(1 / 3, 4)},
        "רעיון": {"posts": 1, "intent": "suggestion", "purity": 1.0},
        "https": {"posts": 0, "intent": "", "purity": 0.0},
    }


def test_noise_measures() -> None:
    rows = [_post("למהההה אין אינטרנט"), _post("איפה המשלוח???"), _post("אתמול,אין כלום"),
            _post("אין קליטה בכלל מהבוקר בבית"), _post("😡😡"), _post("שורה\nשנייה"),
            _post("see www.site.com now")]
    assert noise_measures(rows) == {
        "letter_flood": round(1 / 7, 4), "punct_flood": round(1 / 7, 4), "missing_space": round(1 / 7, 4),
        "no_punctuation": round(1 / 7, 4), "emoji_only": round(1 / 7, 4), "line_breaks": round(1 / 7, 4),
    }


def test_quotes_and_handles() -> None:
    rows = [_post("הנציג אמר 'אין צפי' וניתק"), _post('כתבו לי "בטיפול" ושילמתי 99 ש"ח'),
            _post("עולה 99 ש״ח @partner_il @דני_כהן"), _post("he said 'soon'", language="en")]
    assert quote_and_handle_measures(rows) == {
        "he_quotations": 2, "he_quotations_double": 0.5, "he_handles": 2, "he_handles_latin": 0.5,
    }


def test_sentiment_conventions() -> None:
    rows = [_post("שבת שלום לכולם", sentiment="positive"), _post("good morning!"), _post("@דני תראה"),
            _post("כמה עולה?", "purchase_intent"), _post("love it, how much?", "purchase_intent", sentiment="positive")]
    assert sentiment_conventions(rows) == {
        "greetings": 2, "greetings_positive": 1, "greetings_positive_share": 0.5,
        "purchase_intent_positive_share": 0.5,
    }


def test_shortcut_report_compares_v1_with_v1_plus_v2(built_v2) -> None:
    _, corpus = built_v2
    records = [CorpusRecord.model_validate(r) for rows in _rows(corpus).values() for r in rows]
    report = shortcut_report(records)
    assert [report[k]["posts"] for k in ("v1", "v1+v2", "v2")] == [1, 5, 4]
    assert report["v1"]["short_posts_other"] == {"posts": 1, "other": 0, "share": 0.0}
    assert report["v1+v2"]["short_posts_other"]["other"] == 1
