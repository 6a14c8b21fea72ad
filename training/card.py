"""The model card (README.md of an exported model folder), rendered from metrics.json and the checkpoint."""

from __future__ import annotations

from typing import Any

from training.config import Target, TrainConfig
from training.evaluate import head_section
from training.metrics import fmt
from triage.schema import LabelSchema


def target_value(test: dict[str, Any], target: Target, language: str | None) -> tuple[float | None, int]:
    """The measured value of a target (None when the data is absent) and its n."""
    source = test.get(target.source, {}).get("model", {}).get(target.head)
    if not source:
        return None, 0
    m = source["all"] if language is None else source.get("by_language", {}).get(language)
    if not m:
        return None, 0
    if target.metric.startswith("recall:"):
        label = target.metric.split(":", 1)[1]
        c = m["per_class"].get(label)
        return (c["recall"], c["support"]) if c and c["support"] else (None, 0)
    return m[target.metric], m["n"]


def targets_section(test: dict[str, Any], targets: list[Target]) -> list[str]:
    lines = ["## Targets (test split)", "", "| source | head | metric | language | n | value | target | met |",
             "|---|---|---|---|---|---|---|---|"]
    for t in targets:
        for lang in t.languages or [None]:
            value, n = target_value(test, t, lang)
            met = "–" if value is None else ("yes" if value >= t.min else "**no**")
            lines.append(f"| {t.source} | {t.head} | {t.metric} | {lang or 'all'} | {n} | {fmt(value)} | ≥ {t.min:.2f} | {met} |")
    return [*lines, ""]


def dev_compare(title: str, columns: dict[str, dict[str, dict[str, dict[str, float]]]], heads: set[str]) -> list[str]:
    names = list(columns)
    lines = [title, "", "| dev source | head | " + " | ".join(f"{n} macro-F1" for n in names) + " |",
             "|---|---|" + "---|" * len(names)]
    keys = sorted({(s, h) for c in columns.values() for s, per in c.items() for h in per if h in heads})
    for s, h in keys:
        cells = [fmt(columns[n].get(s, {}).get(h, {}).get("macro_f1")) for n in names]
        lines.append(f"| {s} | {h} | " + " | ".join(cells) + " |")
    return [*lines, ""]


# A public source kind -> its dataset folder under ../shared/datasets and its licence, for the card.
PUBLIC_SOURCES = {
    "he_sentiment_facebook": "he-sentiment-facebook (MIT)",
    "complaints": "en-complaints-severity (MIT)",
    "youtube_spam": "en-youtube-spam (CC BY 4.0)",
    "customer_care_threads": "en-customer-care-threads (Apache 2.0, unlabeled)",
    "banking77": "en-banking77 (CC BY 4.0)",
}

# Known, measured caveats of a source, printed in the card of any model trained with it.
KIND_NOTES = {
    "he_sentiment_facebook": (
        "Hebrew Facebook sentiment is comments on the Israeli President's page: 'positive' there is mostly support "
        "for a public figure and 'off-topic' (our `neutral`) has 165 training rows, while the project's corpus follows "
        "customer-care conventions (a complaint is at best neutral). Both are learned by one sentiment head, so "
        "the model trades a little of this benchmark for brand posts; its `neutral` F1 there stays low."
    ),
}


def _public_data_line(config: TrainConfig) -> list[str]:
    names = [PUBLIC_SOURCES[k] for k in dict.fromkeys(s.kind for s in config.sources) if k in PUBLIC_SOURCES]
    return [f"- Public data used for training: {', '.join(names)}. See ../shared/datasets."] if names else []


def _missed_targets(test: dict[str, Any], targets: list[Target]) -> list[str]:
    missed = []
    for t in targets:
        for lang in t.languages or [None]:
            value, n = target_value(test, t, lang)
            if value is not None and value < t.min:
                missed.append(f"{t.source} {t.head} {t.metric} ({lang or 'all'}): {fmt(value)} < {t.min:.2f}, n = {n}")
    return [f"- Targets not met on the test split: {'; '.join(missed)}."] if missed else []


def model_card(metrics: dict[str, Any], ckpt: dict[str, Any], config: TrainConfig, schema: LabelSchema,
               onnx_info: dict[str, Any]) -> str:
    arch = ckpt["architecture"]
    base = ckpt["base_model"]
    heads = {h.name for h in schema.heads}
    calibration = metrics["calibration"]
    lines = [
        f"# {config.export.name} {config.export.version}",
        "",
        f"Multi-head classifier for social customer-care posts, schema `{schema.name}` "
        f"({', '.join(h.name for h in schema.heads)}). {schema.description}",
        "",
        "Load it with `triage classify --model THIS_FOLDER` (the shipped default needs no flag). The runtime needs "
        "onnxruntime and tokenizers only; loading verifies the sha256 of every file in `manifest.json`.",
        "",
        "## Model",
        "",
        f"- **Kind**: {ckpt['kind']}; {arch['num_layers']} layers, hidden {arch['hidden_size']}, "
        f"vocabulary {arch['vocab_size']} pieces"
        + (f" (teacher layers {arch['student_layers']} kept)" if arch.get("student_layers") else ""),
        f"- **Base model**: {base['name']}, source sha256 `{base['sha256']}` (init: {base.get('init')})",
        f"- **Architecture**: {arch['encoder']}",
        f"- **Input**: `query: ` + normalised text, at most {config.max_length} tokens (longer posts are truncated)",
        f"- **ONNX**: opset {onnx_info['opset']}, {onnx_info['weights']} weights, {onnx_info['bytes'] / 1e6:.1f} MB; "
        f"outputs {', '.join(f'`{o}`' for o in onnx_info['outputs'])}; max |ONNX − torch| on fp32 = "
        f"{onnx_info['parity_max_abs_diff_fp32']:.1e}",
        f"- **Auxiliary training heads** (not exported): {', '.join(arch.get('auxiliary_heads') or []) or 'none'}",
        "",
        "## Heads, labels and calibration",
        "",
        "Temperatures are fitted on dev by minimising NLL through this ONNX model. The threshold is the lowest "
        f"confidence at which dev accuracy above it reaches {config.calibration.target_accuracy:.0%}; "
        "below it (or below the top-2 margin) a person checks the post.",
        "",
        "| head | labels | temperature | threshold | dev coverage above | dev accuracy above | dev ECE before → after |",
        "|---|---|---|---|---|---|---|",
    ]
    for h in schema.heads:
        c = calibration.get(h.name, {})
        lines.append(
            f"| {h.name} | {', '.join(h.labels)} | {fmt(c.get('temperature'), 2)} | {fmt(c.get('threshold'), 2)} | "
            f"{fmt(c.get('coverage_above_threshold'))} | {fmt(c.get('accuracy_above_threshold'))} | "
            f"{fmt(c.get('ece_before'))} → {fmt(c.get('ece_after'))} |")
    for head, per in (onnx_info.get("decision_offsets") or {}).items():
        for label, o in per.items():
            lines.append("")
            lines.append(
                f"Decision offset: `{head}` logit of `{label}` raised by {o['offset']:.2f} (baked into the head's bias), "
                f"the smallest that brings its dev recall to ≥ {o['min_recall']:.2f} "
                f"({fmt(o['dev_recall_before'])} → {fmt(o['dev_recall_after'])}, n = {o['n_dev']}; dev macro-F1 of "
                f"`{head}` {fmt(o['dev_macro_f1_before'])} → {fmt(o['dev_macro_f1_after'])}). Missing it costs more than a false alarm.")
    lines += ["", "## Training data", "", f"Recipe `{config.name}` (`training_config.json`): {config.description}", "",
              "| source | train | dev | test |", "|---|---|---|---|"]
    counts = ckpt["counts"]
    for s in config.sources:
        lines.append(f"| {s.name} (`{s.kind}`, {s.per_epoch or 'all'} per epoch, weight {s.weight}) | "
                     f"{counts['train'].get(s.name, 0)} | {counts['dev'].get(s.name, 0)} | {counts['test'].get(s.name, 0)} |")
    lines += ["", f"Unlabeled texts for distillation: {counts.get('unlabeled', 0)}. The sha256 of every data file is in "
              "`manifest.json` (`training.data_sha256`). Test splits were never used for training, early stopping, "
              "calibration or any choice.", ""]
    test = metrics.get("test") or {}
    if config.export.targets and test:
        lines += targets_section(test, config.export.targets)
    if test:
        lines += ["## Results on the test splits", "",
                  "Model = this folder through the runtime; baseline = TF-IDF (char 2–5 + word 1–2) + logistic "
                  "regression (balanced, C=10) trained on the same source's training split.", ""]
        for source, res in test.items():
            lines += [f"### {source} (n = {res['n']})", ""]
            if source in config.export.reference:
                lines += [f"Reference figures: {config.export.reference[source]}", ""]
            for head, m in res["model"].items():
                lines += head_section(head, m, res.get("baseline", {}).get(head), "####")
    dev = metrics.get("dev", {})
    if "teacher_dev" in metrics:
        lines += dev_compare("## Teacher vs student (dev)",
                             {"teacher": metrics["teacher_dev"], "student": metrics.get("dev_torch") or {}}, heads)
        lines += [f"Student within {config.distill.max_drop_points} points of the teacher on every head: "
                  f"{'yes' if metrics.get('within_tolerance') else 'no'} (deltas in points: "
                  f"{metrics.get('delta_points_vs_teacher')}).", ""]
    if len(dev) > 1:
        lines += dev_compare("## fp32 vs int8 (dev, through onnxruntime)", dev, heads)
        lines += [f"Largest int8 drop: {onnx_info.get('int8_max_dev_drop_points')} points "
                  f"(kept if < {config.export.max_int8_drop_points}); shipped: {onnx_info['weights']}.", ""]
    if metrics.get("speed"):
        lines += ["## Speed", "", "`OnnxClassifier.predict` on test posts, this machine's CPU:", "",
                  "| threads | batch | posts/s | mean tokens | one post alone (ms) |", "|---|---|---|---|---|"]
        for s in metrics["speed"]:
            lines.append(f"| {s['threads']} | {s['batch_size']} | {s['posts_per_second']:.0f} | {s['mean_tokens']:.1f} | "
                         f"{s['single_post_ms']:.1f} |")
        lines.append("")
    lines += [
        "## Limitations",
        "",
        "- The project corpus is small and partly written for this purpose; real traffic will differ (slang, "
        "threads, images). Re-evaluate on your own labeled posts with `triage evaluate`.",
        "- Arabic and Russian posts are recognised by the language stage, but the heads were trained mostly on "
        "Hebrew and English; treat their labels as low-confidence.",
        "- Posts longer than the maximum length are truncated; sarcasm and thread context remain hard.",
        *_public_data_line(config),
        *_missed_targets(test, config.export.targets),
        *(f"- {KIND_NOTES[k]}" for k in dict.fromkeys(s.kind for s in config.sources) if k in KIND_NOTES),
        "",
    ]
    return "\n".join(lines)
