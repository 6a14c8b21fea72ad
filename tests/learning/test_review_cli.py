"""``triage review next`` with the shipped model over a post store, and ``triage audit`` as a root command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from learning.feedback import FeedbackStore
from store.poststore import PostStore
from tests.conftest import FAKE_FALLBACK, FAKE_RULES
from triage.classify.fake import FakeClassifier
from triage.engine import Engine
from triage.schema import LabelSchema
from triage.types import Post
from triage_cli import _register, app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()
_register()


def test_review_next_ranks_stored_posts_nobody_corrected(tmp_path: Path, default_schema: LabelSchema) -> None:
    if not (ROOT / "models" / "default" / "model.onnx").is_file():
        pytest.skip("the shipped model is absent")
    store_url, db = f"sqlite:///{tmp_path / 'store.db'}", f"sqlite:///{tmp_path / 'fb.db'}"
    engine = Engine(FakeClassifier(default_schema, rules=FAKE_RULES, fallback=FAKE_FALLBACK))
    store = PostStore(store_url, identity_key=None)
    texts = ["שבועיים מחכה לחבילה ואף אחד לא עונה", "תודה רבה, שירות מעולה", "How do I reset my router?",
             "Charged twice this month. Again.", "אולי כדאי להוסיף מצב לילה לאפליקציה"]
    for i, text in enumerate(texts):
        store.save_result(Post(text=text, id=f"p{i}"), engine.triage(Post(text=text, id=f"p{i}")))
    store.audit("ops", "promoted", "passed", model_version="m@2")
    store.close()
    feedback = FeedbackStore(db)
    feedback.add(post_id="p1", head="intent", label="praise", redacted_text=texts[1])
    feedback.close()
    result = runner.invoke(app, ["review", "next", "--model", str(ROOT / "models" / "default"), "--store-url",
                                 store_url,
                                 "--db", db, "--limit", "3"])
    assert result.exit_code == 0, result.output
    items = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(items) == 3 and "p1" not in {i["post_id"] for i in items}
    assert all(i["reasons"] and set(i["heads"]) == {"intent", "sentiment", "urgency"} for i in items)
    assert items[0]["score"] >= items[1]["score"] >= items[2]["score"]
    assert any("may be" in r for i in items for r in i["reasons"])  # rarity: one correction so far
    audit = runner.invoke(app, ["audit", "--url", store_url, "--action", "promoted"])
    assert audit.exit_code == 0 and [json.loads(x)["model_version"] for x in audit.stdout.splitlines()] == ["m@2"]
    listed = runner.invoke(app, ["feedback", "list", "--db", db])
    assert listed.exit_code == 0 and json.loads(listed.stdout)["post_id"] == "p1"
