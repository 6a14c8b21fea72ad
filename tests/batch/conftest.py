"""Fixtures for the batch tests: small posts files in every format and small job options.

Jobs run with the fake engine: ``reclassify(..., engine_builder=make_engine)`` (tests.batch.fake_engine).
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from batch import ReclassifyOptions

AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

TEXTS = [
    "שבועיים מחכה לחבילה ואף אחד לא עונה, הזמנה 4471902",
    "Charged twice this month. Again. call me 052-3456789",
    "תודה לנציגה שרית, שירות מדהים!",
    "Follow me for free crypto",
    "מצאתי זכוכית בסלט!!! עורך דין כבר בדרך",
    "😂😂😂😂",
    "Где мой заказ?",
    "Cancel my subscription now, write to me at dana@example.com",
    "עד איזו שעה הסניף בדיזינגוף פתוח?",
    "hello, where is my order? it was due yesterday and nobody answers the phone",
]


def make_rows(n: int) -> list[dict[str, Any]]:
    """``n`` posts with varied lengths, an old label per head and a column to carry through."""
    rows = []
    for i in range(n):
        text = TEXTS[i % len(TEXTS)] + (" " + "עוד פרט " * (i % 7) if i % 3 else "") + f" #{i}"
        rows.append(
            {
                "id": f"p{i}",
                "text": text,
                "intent": ["complaint", "other", "praise", "question"][i % 4],
                "sentiment": "neutral",
                "score": i * 1.5,
            }
        )
    return rows


def write_rows(rows: list[dict[str, Any]], path: Path) -> Path:
    """Write ``rows`` in the format of ``path``'s extension."""
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    elif path.suffix == ".csv":
        table = pa.Table.from_pylist([{k: None if v is None else str(v) for k, v in r.items()} for r in rows])
        pacsv.write_csv(table, str(path))
    else:
        pq.write_table(pa.Table.from_pylist(rows), str(path))
    return path


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Read an output file back as dicts (JSON columns stay strings in CSV and Parquet)."""
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    if path.suffix == ".csv":
        header = next(csv.reader(path.open(encoding="utf-8", newline="")))
        # Every column as text (no type guessing); an empty unquoted field is null, "" stays "".
        opts = pacsv.ConvertOptions(
            strings_can_be_null=True, quoted_strings_can_be_null=False, column_types=dict.fromkeys(header, pa.string())
        )
        return pacsv.read_csv(str(path), convert_options=opts).to_pylist()
    return pq.read_table(str(path)).to_pylist()


@pytest.fixture()
def options() -> ReclassifyOptions:
    """A small, deterministic job, scored in this process."""
    return ReclassifyOptions(chunk_size=7, batch_size=4, reclassified_at=AT, workers=1)
