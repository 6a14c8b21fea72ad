"""Corrections to and from the files review tools read: JSON Lines, CSV, Label Studio, Argilla.

Every export carries only redacted text (the text stored with the correction). Every import redacts the
text and notes again before storing (a reviewer may have pasted a phone number) and keeps only values the
model's schema allows (other rows are reported, not stored).

- **jsonl** / **csv**: one stored row per line, every column (``learning.feedback``).
- **label-studio**: ``export`` writes a JSON list of *tasks* as Label Studio imports them
  (``{"data": {"text", "post_id", ...}, "predictions": [{"model_version", "result": [...]}]}``, one task
  per post, the current corrections as pre-annotations: ``choices`` results with ``from_name`` = the head,
  ``to_name`` = ``text``) and ``<file>.config.xml``, the labeling interface (one ``<Choices>`` per head,
  ``reply_mode``, ``actions`` (multiple) and a ``queue`` ``<TextArea>``). ``import`` reads Label
  Studio's JSON export of the reviewed project: each task's latest annotation that was not cancelled;
  ``completed_by`` becomes the actor.
- **argilla**: ``export`` writes a JSON list of records for ``dataset.records.log(records)`` (keys: the
  ``text`` field, one suggestion per question named after the head, metadata ``post_id`` and
  ``model_version``; ``id`` is the post id) and ``<file>.settings.json`` describing the dataset settings to
  create (``TextField`` text, one ``LabelQuestion`` per head, ``MultiLabelQuestion`` actions). ``import``
  reads ``dataset.records.to_list(flatten=False)`` / ``to_json`` output (``responses`` by question: lists of
  ``{value, user_id, status}``; only ``submitted`` ones count) or the flat form
  (``<question>.responses`` with ``.users`` and ``.status`` beside it).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from learning.feedback import ACTIONS, REPLY_MODES, check_correction
from triage.errors import InputError, TriageError
from triage.schema import LabelSchema

FORMATS = ("jsonl", "csv", "label-studio", "argilla")
COLUMNS = ("id", "post_id", "head", "label", "kind", "note", "redacted_text", "model_version", "tenant", "actor",
           "source", "template_id", "reply_text", "created_at")
CHOICE_FIELDS = ("reply_mode", "actions")
Redact = Callable[[str], str]


def _latest_by_post(rows: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per post: its text, model version, tenant and the latest value of each corrected field."""
    posts: dict[str, dict[str, Any]] = {}
    for r in rows:
        post = posts.setdefault(r["post_id"], {"text": r["redacted_text"], "values": {}, "model_version": None,
                                               "tenant": r.get("tenant")})
        post["text"] = r["redacted_text"]
        post["model_version"] = r.get("model_version") or post["model_version"]
        post["values"][r["head"]] = r["label"]
    return posts


# Export ------------------------------------------------------------------------------------------------------


def export_rows(rows: Sequence[dict[str, Any]], fmt: str, out: Path, schema: LabelSchema) -> list[Path]:
    """Write ``rows`` (stored corrections) as ``fmt``; the files written."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "jsonl":
        out.write_text("".join(json.dumps({c: r.get(c) for c in COLUMNS}, ensure_ascii=False) + "\n" for r in rows),
                       encoding="utf-8")
        return [out]
    if fmt == "csv":
        with out.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(COLUMNS))
            writer.writeheader()
            writer.writerows({c: r.get(c) for c in COLUMNS} for r in rows)
        return [out]
    if fmt == "label-studio":
        return _export_label_studio(rows, out, schema)
    if fmt == "argilla":
        return _export_argilla(rows, out, schema)
    raise InputError(f"unknown format {fmt!r}; formats: {', '.join(FORMATS)}", code="unknown_format")


def _ls_result(head: str, value: str) -> dict[str, Any]:
    if head == "queue":
        return {"from_name": "queue", "to_name": "text", "type": "textarea", "value": {"text": [value]}}
    choices = value.split("+") if head == "actions" else [value]
    return {"from_name": head, "to_name": "text", "type": "choices", "value": {"choices": choices}}


def _export_label_studio(rows: Sequence[dict[str, Any]], out: Path, schema: LabelSchema) -> list[Path]:
    tasks = []
    for post_id, post in _latest_by_post(rows).items():
        result = [_ls_result(h, v) for h, v in post["values"].items() if h != "reply"]
        tasks.append({"data": {"text": post["text"], "post_id": post_id, "model_version": post["model_version"],
                               "tenant": post["tenant"]},
                      "predictions": [{"model_version": "triage-corrections", "result": result}]})
    out.write_text(json.dumps(tasks, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    config = out.with_suffix(".config.xml")
    config.write_text(label_studio_config(schema), encoding="utf-8")
    return [out, config]


def label_studio_config(schema: LabelSchema) -> str:
    """The labeling interface: the text, one single-choice list per head, reply mode, actions, queue."""
    lines = ['<View>', '  <Text name="text" value="$text"/>']
    for head in schema.public_heads:
        lines.append(f'  <Header value={quoteattr(head.name)}/>')
        lines.append(f'  <Choices name={quoteattr(head.name)} toName="text" choice="single" showInline="true">')
        lines += [f'    <Choice value={quoteattr(label)}/>' for label in head.labels]
        lines.append("  </Choices>")
    lines.append('  <Header value="reply_mode"/>')
    lines.append('  <Choices name="reply_mode" toName="text" choice="single" showInline="true">')
    lines += [f'    <Choice value={quoteattr(m)}/>' for m in REPLY_MODES]
    lines.append("  </Choices>")
    lines.append('  <Header value="actions"/>')
    lines.append('  <Choices name="actions" toName="text" choice="multiple" showInline="true">')
    lines += [f'    <Choice value={quoteattr(a)}/>' for a in ACTIONS]
    lines.append("  </Choices>")
    lines.append('  <TextArea name="queue" toName="text" maxSubmissions="1" placeholder="queue (optional)"/>')
    lines.append("</View>")
    return "\n".join(lines) + "\n"


def argilla_settings(schema: LabelSchema) -> dict[str, Any]:
    """The dataset settings the Argilla export expects (create them with rg.Settings, see docs/LEARNING.md)."""
    questions = [{"type": "label_selection", "name": h.name, "labels": list(h.labels), "required": False}
                 for h in schema.public_heads]
    questions += [{"type": "label_selection", "name": "reply_mode", "labels": list(REPLY_MODES), "required": False},
                  {"type": "multi_label_selection", "name": "actions", "labels": list(ACTIONS), "required": False},
                  {"type": "text", "name": "queue", "required": False}]
    return {"fields": [{"type": "text", "name": "text", "required": True}], "questions": questions,
            "metadata": [{"type": "terms", "name": "post_id"}, {"type": "terms", "name": "model_version"}]}


def _export_argilla(rows: Sequence[dict[str, Any]], out: Path, schema: LabelSchema) -> list[Path]:
    records = []
    for post_id, post in _latest_by_post(rows).items():
        record: dict[str, Any] = {"id": post_id, "text": post["text"], "post_id": post_id,
                                  "model_version": post["model_version"] or ""}
        for head, value in post["values"].items():
            if head != "reply":
                record[head] = value.split("+") if head == "actions" else value
        records.append(record)
    out.write_text(json.dumps(records, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    settings = out.with_suffix(".settings.json")
    settings.write_text(json.dumps(argilla_settings(schema), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return [out, settings]


# Import ------------------------------------------------------------------------------------------------------


def _load_json(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = [json.loads(line) for line in text.splitlines() if line.strip()]
    if isinstance(data, dict):
        data = data.get("records") or data.get("tasks") or [data]
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a JSON list of records or tasks", code="invalid_import")
    return data


def _actor(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("email") or value.get("username") or value.get("id")
    return str(value) if value not in (None, "") else None


def _ls_values(annotation: dict[str, Any]) -> dict[str, str]:
    values: dict[str, str] = {}
    for item in annotation.get("result", []):
        head, value = item.get("from_name"), item.get("value", {})
        if not head:
            continue
        if item.get("type") == "choices" and value.get("choices"):
            values[head] = "+".join(value["choices"]) if head == "actions" else str(value["choices"][0])
        elif item.get("type") == "textarea" and value.get("text"):
            values[head] = str(value["text"][0]).strip()
    return values


def read_label_studio(path: Path) -> list[dict[str, Any]]:
    """Corrections from a Label Studio JSON export: each task's latest annotation that was not cancelled."""
    out = []
    for task in _load_json(path):
        annotations = [a for a in task.get("annotations", []) if not a.get("was_cancelled")]
        if not annotations:
            continue
        latest = max(annotations, key=lambda a: (str(a.get("updated_at") or a.get("created_at") or ""),
                                                 str(a.get("id"))))
        data = task.get("data", {})
        post_id = str(data.get("post_id") or f"ls-{task.get('id')}")
        for head, label in _ls_values(latest).items():
            out.append({"post_id": post_id, "head": head, "label": label, "text": str(data.get("text") or ""),
                        "actor": _actor(latest.get("completed_by")), "model_version": data.get("model_version"),
                        "created_at": latest.get("updated_at") or latest.get("created_at"), "source": "label_studio"})
    return out


def _argilla_responses(record: dict[str, Any]) -> dict[str, tuple[Any, str | None]]:
    """question -> (value, user) of the first submitted response, nested or flat."""
    found: dict[str, tuple[Any, str | None]] = {}
    nested = record.get("responses")
    if isinstance(nested, dict):
        for question, responses in nested.items():
            for r in responses or []:
                if isinstance(r, dict) and r.get("status", "submitted") == "submitted" and r.get("value") is not None:
                    found.setdefault(question, (r["value"], _actor(r.get("user_id"))))
    for key, values in record.items():
        if not key.endswith(".responses") or not isinstance(values, list):
            continue
        question = key.removesuffix(".responses")
        users = record.get(f"{key}.users") or [None] * len(values)
        status = record.get(f"{key}.status") or ["submitted"] * len(values)
        for value, user, st in zip(values, users, status, strict=False):
            if st == "submitted" and value is not None:
                found.setdefault(question, (value, _actor(user)))
                break
    return found


def read_argilla(path: Path) -> list[dict[str, Any]]:
    """Corrections from Argilla records (``to_list(flatten=False)``/``to_json``, or flattened)."""
    out = []
    for record in _load_json(path):
        nested_fields, nested_metadata = record.get("fields"), record.get("metadata")
        fields = nested_fields if isinstance(nested_fields, dict) else record
        metadata = nested_metadata if isinstance(nested_metadata, dict) else record
        post_id = str(metadata.get("post_id") or record.get("external_id") or record.get("id") or "")
        for question, (value, user) in _argilla_responses(record).items():
            label = "+".join(value) if isinstance(value, list) else str(value)
            out.append({"post_id": post_id, "head": question, "label": label, "text": str(fields.get("text") or ""),
                        "actor": user, "model_version": metadata.get("model_version") or None,
                        "created_at": record.get("updated_at"), "source": "argilla"})
    return out


def read_rows(path: Path, fmt: str) -> list[dict[str, Any]]:
    """Corrections from a file in ``fmt`` (not yet checked or redacted)."""
    path = Path(path)
    if fmt == "label-studio":
        return read_label_studio(path)
    if fmt == "argilla":
        return read_argilla(path)
    if fmt == "jsonl":
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    elif fmt == "csv":
        with path.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
    else:
        raise InputError(f"unknown format {fmt!r}; formats: {', '.join(FORMATS)}", code="unknown_format")
    return [{**{k: (v if v != "" else None) for k, v in r.items()},
             "text": r.get("redacted_text") or r.get("text") or "",
             "source": r.get("source") or fmt} for r in rows]


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def prepare_import(raw: Sequence[dict[str, Any]], schema: LabelSchema, redact: Redact, *, tenant: str | None = None,
                   actor: str | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows ready for ``FeedbackStore.add_many`` (checked, redacted) and one message per refused row."""
    rows, errors = [], []
    for i, r in enumerate(raw):
        where = f"row {i + 1} (post {r.get('post_id')!r}, {r.get('head')!r})"
        try:
            if not r.get("post_id") or not r.get("head") or r.get("label") in (None, ""):
                raise InputError("needs post_id, head and label")
            if not str(r.get("text") or "").strip():
                raise InputError("has no text")
            label = check_correction(schema, str(r["head"]), str(r["label"]))
        except TriageError as exc:
            errors.append(f"{where}: {exc}")
            continue
        note = r.get("note")
        reply = r.get("reply_text")
        rows.append({"post_id": str(r["post_id"])[:200], "head": str(r["head"]), "label": label,
                     "redacted_text": redact(str(r["text"])), "note": redact(str(note)) if note else None,
                     "model_version": r.get("model_version"), "tenant": tenant or r.get("tenant"),
                     "actor": actor or r.get("actor"), "source": r.get("source") or "jsonl",
                     "template_id": r.get("template_id"), "reply_text": redact(str(reply)) if reply else None,
                     "created_at": _when(r.get("created_at"))})
    return rows, errors


def dedupe(rows: Sequence[dict[str, Any]], existing: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows not already stored (same post, head, label, actor and source): importing twice stores once."""
    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        return r["post_id"], r["head"], r["label"], r.get("actor"), r.get("source")

    seen = {key(r) for r in existing}
    out = []
    for r in rows:
        if key(r) not in seen:
            seen.add(key(r))
            out.append(r)
    return out
