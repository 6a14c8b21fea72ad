"""Exports and imports: JSON Lines, CSV, Label Studio and Argilla, redacted both ways, nothing stored twice."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from learning.feedback import FeedbackStore, export_feedback
from learning.formats import label_studio_config, prepare_import, read_argilla, read_label_studio
from triage.schema import LabelSchema
from triage_cli import _register, app

runner = CliRunner()
_register()
PHONE = "052-3456789"


def _db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'fb.db'}"
    store = FeedbackStore(url)
    store.add(post_id="fb-1", head="intent", label="complaint", redacted_text="מחכה לחבילה [PHONE]", actor="a1",
              model_version="m@1")
    store.add(post_id="fb-1", head="actions", label="escalate+reply", redacted_text="מחכה לחבילה [PHONE]", actor="a1")
    store.add(post_id="tw-2", head="sentiment", label="negative", redacted_text="charged twice", actor="a2",
              tenant="acme")
    store.add(post_id="tw-2", head="reply", label="edited", redacted_text="charged twice", reply_text="sorry [EMAIL]",
              template_id="t1")
    store.close()
    return url


def _invoke(*args: str) -> dict:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_jsonl_and_csv_round_trip_into_another_database(tmp_path: Path) -> None:
    url = _db(tmp_path)
    for fmt in ("jsonl", "csv"):
        out = tmp_path / f"fb.{fmt}"
        assert _invoke("feedback", "export", "--db", url, "--format", fmt, "--out", str(out))["rows"] == 4
        other = f"sqlite:///{tmp_path / f'other-{fmt}.db'}"
        assert _invoke("feedback", "import", str(out), "--format", fmt, "--db", other)["stored"] == 4
        again = _invoke("feedback", "import", str(out), "--format", fmt, "--db", other)
        assert again["stored"] == 0 and again["already_stored"] == 4
        rows = export_feedback(other)
        assert [(r["post_id"], r["head"], r["label"], r["actor"]) for r in rows] == [
            ("fb-1", "intent", "complaint", "a1"), ("fb-1", "actions", "escalate+reply", "a1"),
            ("tw-2", "sentiment", "negative", "a2"), ("tw-2", "reply", "edited", None)]
        assert rows[3]["reply_text"] == "sorry [EMAIL]" and rows[2]["tenant"] == "acme"
    assert _invoke("feedback", "export", "--db", url, "--format", "jsonl", "--out", str(tmp_path / "h.jsonl"),
                   "--head", "intent")["rows"] == 1


def test_label_studio_export_is_tasks_with_predictions_and_a_config(tmp_path: Path,
                                                                    default_schema: LabelSchema) -> None:
    out = tmp_path / "ls.json"
    _invoke("feedback", "export", "--db", _db(tmp_path), "--format", "label-studio", "--out", str(out))
    tasks = json.loads(out.read_text(encoding="utf-8"))
    assert [t["data"]["post_id"] for t in tasks] == ["fb-1", "tw-2"]
    result = tasks[0]["predictions"][0]["result"]
    assert {"from_name": "intent", "to_name": "text", "type": "choices", "value": {"choices": ["complaint"]}} in result
    assert {"from_name": "actions", "to_name": "text", "type": "choices",
            "value": {"choices": ["escalate", "reply"]}} in result
    assert PHONE not in out.read_text(encoding="utf-8")
    config = out.with_suffix(".config.xml").read_text(encoding="utf-8")
    assert config == label_studio_config(default_schema)
    assert '<Choices name="intent" toName="text" choice="single"' in config and '<Choice value="churn_risk"/>' in config


def test_label_studio_export_of_a_reviewed_project_comes_back(tmp_path: Path, default_schema: LabelSchema) -> None:
    export = [  # Label Studio's JSON export: tasks with annotations (the shape its docs describe)
        {"id": 11, "data": {"text": f"call me {PHONE}", "post_id": "fb-1", "model_version": "m@1"},
         "annotations": [
             {"id": 1, "completed_by": {"email": "dana@acme.example"}, "was_cancelled": False,
              "created_at": "2026-05-01T10:00:00Z", "updated_at": "2026-05-01T10:00:00Z",
              "result": [{"from_name": "intent", "to_name": "text", "type": "choices",
                          "value": {"choices": ["request"]}}]},
             {"id": 2, "completed_by": 7, "was_cancelled": False, "created_at": "2026-05-02T10:00:00Z",
              "result": [{"from_name": "intent", "to_name": "text", "type": "choices",
                          "value": {"choices": ["complaint"]}},
                         {"from_name": "actions", "to_name": "text", "type": "choices",
                          "value": {"choices": ["reply", "escalate"]}},
                         {"from_name": "queue", "to_name": "text", "type": "textarea",
                          "value": {"text": ["billing"]}}]},
             {"id": 3, "completed_by": 8, "was_cancelled": True, "created_at": "2026-05-03T10:00:00Z",
              "result": [{"from_name": "intent", "to_name": "text", "type": "choices",
                          "value": {"choices": ["spam"]}}]}]},
        {"id": 12, "data": {"text": "no annotation yet"}, "annotations": []},
    ]
    path = tmp_path / "reviewed.json"
    path.write_text(json.dumps(export), encoding="utf-8")
    raw = read_label_studio(path)
    assert [(r["head"], r["label"], r["actor"]) for r in raw] == [
        ("intent", "complaint", "7"), ("actions", "reply+escalate", "7"), ("queue", "billing", "7")]
    rows, errors = prepare_import(raw, default_schema, lambda t: t.replace(PHONE, "[PHONE]"), tenant="acme")
    assert errors == [] and [r["label"] for r in rows] == ["complaint", "escalate+reply", "billing"]
    assert rows[0]["redacted_text"] == "call me [PHONE]" and rows[0]["source"] == "label_studio"
    assert rows[0]["tenant"] == "acme" and rows[0]["created_at"].isoformat() == "2026-05-02T10:00:00+00:00"
    url = f"sqlite:///{tmp_path / 'fb.db'}"
    assert _invoke("feedback", "import", str(path), "--format", "label-studio", "--db", url)["stored"] == 3
    assert PHONE not in json.dumps(export_feedback(url))


def test_argilla_records_go_out_with_settings_and_come_back_nested_or_flat(
    tmp_path: Path, default_schema: LabelSchema
) -> None:
    out = tmp_path / "argilla.json"
    _invoke("feedback", "export", "--db", _db(tmp_path), "--format", "argilla", "--out", str(out))
    records = json.loads(out.read_text(encoding="utf-8"))
    assert records[0] == {"id": "fb-1", "text": "מחכה לחבילה [PHONE]", "post_id": "fb-1", "model_version": "m@1",
                          "intent": "complaint", "actions": ["escalate", "reply"]}
    settings = json.loads(out.with_suffix(".settings.json").read_text(encoding="utf-8"))
    assert settings["fields"] == [{"type": "text", "name": "text", "required": True}]
    assert {"type": "multi_label_selection", "name": "actions", "labels": ["reply", "escalate", "hide", "like", "none"],
            "required": False} in settings["questions"]
    nested = [{"id": "r1", "fields": {"text": f"{PHONE} charged twice"}, "metadata": {"post_id": "tw-2"},
               "responses": {"sentiment": [{"value": "negative", "user_id": "u-1", "status": "submitted"}],
                             "intent": [{"value": "spam", "user_id": "u-2", "status": "draft"},
                                        {"value": "complaint", "user_id": "u-3", "status": "submitted"}],
                             "actions": [{"value": ["hide"], "user_id": "u-1", "status": "submitted"}]}}]
    flat = [{"id": "tw-3", "text": "great app", "post_id": "tw-3", "sentiment.responses": ["positive"],
             "sentiment.responses.users": ["u-9"], "sentiment.responses.status": ["submitted"],
             "urgency.responses": ["urgentish"], "urgency.responses.users": ["u-9"]}]
    for name, data in (("nested", nested), ("flat", flat)):
        (tmp_path / f"{name}.json").write_text(json.dumps(data), encoding="utf-8")
    got = read_argilla(tmp_path / "nested.json")
    assert [(r["post_id"], r["head"], r["label"], r["actor"]) for r in got] == [
        ("tw-2", "sentiment", "negative", "u-1"), ("tw-2", "intent", "complaint", "u-3"),
        ("tw-2", "actions", "hide", "u-1")]
    rows, errors = prepare_import(read_argilla(tmp_path / "flat.json"), default_schema, str)
    assert [(r["head"], r["label"], r["actor"]) for r in rows] == [("sentiment", "positive", "u-9")]
    assert len(errors) == 1 and "urgentish" in errors[0]
    result = runner.invoke(app, ["feedback", "import", str(tmp_path / "flat.json"), "--format", "argilla", "--db",
                                 f"sqlite:///{tmp_path / 'x.db'}", "--strict"])
    assert result.exit_code == 2 and "nothing stored" in result.output
