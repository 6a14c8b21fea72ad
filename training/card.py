"""The model card (README.md of an exported model folder), rendered from metrics.json and the checkpoint.

Real text first: the card opens with the labeled real posts of brands the model never saw (per language
and head, beside TF-IDF and the model this one replaced), every target with its n and met / not met, and
the engine's silent errors; the written test split and the public sets come after, then how the model
was built.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from training.config import TrainConfig
from training.evaluate import (
    BarCheck,
    EvalView,
    Metrics,
    PreviousModel,
    RealEvaluation,
    all_bars,
    bars_table,
    check_bars,
    describe_kernels,
    head_section,
    language_order,
    real_table,
    silent_table,
    source_roles,
)
from training.metrics import fmt
from triage.schema import LabelSchema


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


def _missed_targets(checks: Sequence[BarCheck]) -> list[str]:
    missed = [f"{c.bar.label()} ({c.bar.language or 'all'}): {fmt(c.value, 2 if c.bar.metric == 'drop_points' else 3)} "
              f"{'>' if c.bar.at_most else '<'} {c.bar.limit:.2f}, n = {c.n}" for c in checks if c.met is False]
    return [f"- Targets not met: {'; '.join(missed)}."] if missed else []


def card_checks(metrics: Metrics, config: TrainConfig) -> list[BarCheck]:
    """Every bar the card reports: the issue's when the recipe has real posts, then the recipe's targets."""
    roles = source_roles(config.sources)
    tests = {roles.get(name, name): res["model"] for name, res in (metrics.test or {}).items()}
    previous = {}
    if metrics.previous:
        previous = {roles.get(name, name): res["model"] for name, res in metrics.previous.test.items()}
    if metrics.real:
        tests["real"] = metrics.real.model
    view = EvalView(tests, metrics.real.silent if metrics.real else {}, previous)
    return check_bars(all_bars(config.export.targets, roles, issue=metrics.real is not None), view)


def _intro(config: TrainConfig, schema: LabelSchema) -> list[str]:
    return [
        f"# {config.export.name} {config.export.version}",
        "",
        f"Multi-head classifier for social customer-care posts, schema `{schema.name}` "
        f"({', '.join(h.name for h in schema.heads)}). {schema.description}",
        "",
        "Load it with `triage classify --model THIS_FOLDER` (the shipped default needs no flag). The runtime needs "
        "onnxruntime and tokenizers only; loading verifies the sha256 of every file in `manifest.json`.",
        "",
    ]


def _real_section(metrics: Metrics, config: TrainConfig, checks: Sequence[BarCheck]) -> list[str]:
    """The card's lead: real posts of unseen brands, the targets, then who is sent to a person."""
    real = metrics.real
    if real is None:
        return ["## Targets (test split)", "", *bars_table(checks)] if checks else []
    previous, roles = metrics.previous, source_roles(config.sources)
    prev_real = next((r["model"] for n, r in previous.test.items() if roles.get(n) == "real"),
                     None) if previous else None
    lines = ["## Real text: brands the model never saw", "",
             f"The project's labels of real posts (`data/real`, test split by brand: {real.n} posts, "
             + ", ".join(f"{k} {real.n_by_language[k]}" for k in sorted(real.n_by_language, key=language_order))
             + "), through this folder's runtime. Beside it, "
             + (f"{real.baseline_note}, the real and written training splits." if real.baseline_note
                else "no baseline.")
             + (f" Previous: `{previous.model}` ({previous.dir}), scored again on the same rows." if previous else ""),
             "", *real_table(real, prev_real), *_against_previous(real, prev_real, previous),
             "## Targets", "",
             "Real test split unless the target says `written` (the corpus test split) or `he_fb` (Hebrew Facebook "
             "sentiment test_gold). Silent-error rate: the share of posts wrong on any head that the engine does not "
             "send to a person.", "", *bars_table(checks), *_stale_previous(previous),
             "## Sent to a person, and silent errors (real test split)", "",
             "Every post through the whole engine (`triage.loading.load_engine`, default brand policy), so "
             "`routing.needs_human` is the decision production makes.", "", *silent_table(real.silent)]
    sources = sorted({s for c in metrics.calibration.values() for s in c.get("dev_sources", [])})
    if sources:
        lines += [f"Thresholds and temperatures were fitted on the dev split of: {', '.join(sources)} "
                  "(per head in the calibration table).", ""]
    return lines


def _against_previous(real: RealEvaluation, prev_real: dict[str, Any] | None,
                      previous: PreviousModel | None) -> list[str]:
    """This model minus the previous one, macro-F1 points per head on every language together."""
    if not prev_real or previous is None:
        return []
    deltas = [f"{head} {100.0 * (m['all']['macro_f1'] - prev_real[head]['all']['macro_f1']):+.2f}"
              for head, m in real.model.items() if head in prev_real]
    if not deltas:
        return []
    return [f"This model minus `{previous.model}`, macro-F1 points on the whole split: {', '.join(deltas)}.", ""]


def _stale_previous(previous: PreviousModel | None) -> list[str]:
    if not previous or not previous.test_split_changed:
        return []
    return [f"Caution: `{previous.model}` was trained beside another version of the test split of "
            f"{', '.join(previous.test_split_changed)} (the data was rebuilt and its splits re-drawn), so posts it "
            "trained on may now be test posts: its figures there are too good, and the drop against it is unfair "
            "to this model.", ""]


def _test_sections(metrics: Metrics, config: TrainConfig) -> list[str]:
    test = metrics.test or {}
    if not test:
        return []
    lines = ["## Written test split and public sets", "",
             "Model = this folder through the runtime; baseline = TF-IDF (char 2–5 + word 1–2) + logistic "
             "regression (balanced, C=10) trained on the same source's training split.", ""]
    for source, res in test.items():
        lines += [f"### {source} (n = {res['n']})", ""]
        if source in config.export.reference:
            lines += [f"Reference figures: {config.export.reference[source]}", ""]
        for head, m in res["model"].items():
            lines += head_section(head, m, res.get("baseline", {}).get(head), "####")
    return lines


def _real_details(metrics: Metrics) -> list[str]:
    if metrics.real is None:
        return []
    lines = ["## Real test split: per class and confusion", ""]
    for head, m in metrics.real.model.items():
        lines += head_section(head, m, metrics.real.baseline.get(head), "###")
    return lines


def _model_section(ckpt: dict[str, Any], config: TrainConfig, onnx_info: dict[str, Any]) -> list[str]:
    arch, base = ckpt["architecture"], ckpt["base_model"]
    return [
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
        f"- **Kernels and quantisation**: {describe_kernels(onnx_info)} (on the export machine; another onnxruntime "
        "or CPU may pick other kernels)",
        f"- **Auxiliary training heads** (not exported): {', '.join(arch.get('auxiliary_heads') or []) or 'none'}",
        "",
    ]


def _calibration_section(metrics: Metrics, config: TrainConfig, schema: LabelSchema,
                         onnx_info: dict[str, Any]) -> list[str]:
    lines = [
        "## Heads, labels and calibration",
        "",
        "Temperatures are fitted on dev by minimising NLL through this ONNX model. The threshold is the lowest "
        f"confidence at which dev accuracy above it reaches {config.calibration.target_accuracy:.0%}; "
        "below it (or below the top-2 margin) a person checks the post.",
        "",
        "| head | labels | dev sources | temperature | threshold | dev coverage above | dev accuracy above | "
        "dev ECE before → after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for h in schema.heads:
        c = metrics.calibration.get(h.name, {})
        lines.append(
            f"| {h.name} | {', '.join(h.labels)} | {', '.join(c.get('dev_sources', [])) or '–'} | "
            f"{fmt(c.get('temperature'), 2)} | {fmt(c.get('threshold'), 2)} | "
            f"{fmt(c.get('coverage_above_threshold'))} | {fmt(c.get('accuracy_above_threshold'))} | "
            f"{fmt(c.get('ece_before'))} → {fmt(c.get('ece_after'))} |")
    for head, per in (onnx_info.get("decision_offsets") or {}).items():
        for label, o in per.items():
            lines += ["", f"Decision offset: `{head}` logit of `{label}` raised by {o['offset']:.2f} (baked into the "
                      f"head's bias), the smallest that brings its dev recall to ≥ {o['min_recall']:.2f} "
                      f"({fmt(o['dev_recall_before'])} → {fmt(o['dev_recall_after'])}, n = {o['n_dev']}; dev macro-F1 "
                      "of "
                      f"`{head}` {fmt(o['dev_macro_f1_before'])} → {fmt(o['dev_macro_f1_after'])}). Missing it costs "
                      "more than a false alarm."]
    return [*lines, ""]


def _training_data_section(ckpt: dict[str, Any], config: TrainConfig) -> list[str]:
    lines = ["## Training data", "", f"Recipe `{config.name}` (`training_config.json`): {config.description}", "",
             "| source | train | dev | test |", "|---|---|---|---|"]
    counts = ckpt["counts"]
    for s in config.sources:
        lines.append(f"| {s.name} (`{s.kind}`, {s.per_epoch or 'all'} per epoch, weight {s.weight}) | "
                     f"{counts['train'].get(s.name, 0)} | {counts['dev'].get(s.name, 0)} | "
                     f"{counts['test'].get(s.name, 0)} |")
    return [*lines, "",
            f"Unlabeled texts for distillation: {counts.get('unlabeled', 0)}. The sha256 of every data file "
            "is in `manifest.json` (`training.data_sha256`). Test splits were never used for training, early stopping, "
            "calibration or a choice between candidates; the one decision they may take is the release's: whether this "
            "finished model replaces the default (the `all` rows of the real-text table, against the previous model).",
            ""]


def _comparisons(metrics: Metrics, config: TrainConfig, heads: set[str], onnx_info: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if metrics.teacher_dev is not None:
        lines += dev_compare("## Teacher vs student (dev)",
                             {"teacher": metrics.teacher_dev, "student": metrics.dev_torch or {}}, heads)
        lines += [f"Student within {config.distill.max_drop_points} points of the teacher on every head: "
                  f"{'yes' if metrics.within_tolerance else 'no'} (deltas in points: "
                  f"{metrics.delta_points_vs_teacher}).", ""]
    if len(metrics.dev) > 1:
        lines += dev_compare("## fp32 vs int8 candidates (dev, through onnxruntime)", metrics.dev, heads)
        lines += [f"Largest int8 drop (int8 weights, fp32 compute): {onnx_info.get('int8_max_dev_drop_points')} "
                  f"points (kept if < {config.export.max_int8_drop_points})."]
        if "int8_static_max_dev_drop_points" in onnx_info:
            lines += [f"Largest static int8 compute drop (`int8_static`): "
                      f"{onnx_info['int8_static_max_dev_drop_points']} points (kept if < "
                      f"{config.export.max_int8_compute_drop_points}; a post alone vs in a batch differs by at most "
                      f"{onnx_info.get('int8_static_batch_vs_single_max_abs_diff', 0):.1e})."]
        lines += [f"Shipped: {onnx_info['weights']}.", ""]
    if metrics.speed:
        lines += ["## Speed", "", "`OnnxClassifier.predict` on test posts, this machine's CPU:", "",
                  "| threads | batch | posts/s | mean tokens | one post alone (ms) |", "|---|---|---|---|---|"]
        for s in metrics.speed:
            lines.append(f"| {s['threads']} | {s['batch_size']} | {s['posts_per_second']:.0f} | {s['mean_tokens']:.1f} "
                         "| "
                         f"{s['single_post_ms']:.1f} |")
        lines.append("")
    return lines


def _limitations(config: TrainConfig, checks: Sequence[BarCheck]) -> list[str]:
    return [
        "## Limitations",
        "",
        "- Real Hebrew posts are bank and card app reviews only (see `data/real/README.md`); telecom, delivery and "
        "Facebook-comment habits are covered by the written corpus alone. Re-evaluate on your own labeled posts "
        "with `triage evaluate`.",
        "- Arabic and Russian posts are recognised by the language stage, but the heads were trained mostly on "
        "Hebrew and English; treat their labels as low-confidence.",
        "- Posts longer than the maximum length are truncated; sarcasm and thread context remain hard.",
        *_public_data_line(config),
        *_missed_targets(checks),
        *(f"- {KIND_NOTES[k]}" for k in dict.fromkeys(s.kind for s in config.sources) if k in KIND_NOTES),
        "",
    ]


def model_card(metrics: Metrics, ckpt: dict[str, Any], config: TrainConfig, schema: LabelSchema,
               onnx_info: dict[str, Any]) -> str:
    checks = card_checks(metrics, config)
    heads = {h.name for h in schema.heads}
    lines = [
        *_intro(config, schema),
        *_real_section(metrics, config, checks),
        *_test_sections(metrics, config),
        *_real_details(metrics),
        *_model_section(ckpt, config, onnx_info),
        *_calibration_section(metrics, config, schema, onnx_info),
        *_training_data_section(ckpt, config),
        *_comparisons(metrics, config, heads, onnx_info),
        *_limitations(config, checks),
    ]
    return "\n".join(lines)
