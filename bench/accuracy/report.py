"""The Markdown of the accuracy benchmark: machine, models and kernels, targets side by side, real posts
first, then the written corpus and the public sets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bench.common import fmt, machine_markdown, md_table, targets_table

if TYPE_CHECKING:
    from training.evaluate import BarCheck

HE_FB_REFERENCE = [
    ("TF-IDF char 2–5 + word 1–2 + LR (dataset README)", 0.877, 0.654, "accuracy / macro-F1 on test_gold"),
    ("Hebrew BERT-base (AlephBERT / AlephBERTGimmel papers)", None, None,
     "reported ≈ 0.89–0.90 F1; the papers' F1 is not necessarily 3-class macro-F1"),
]
COMPLAINTS_REFERENCE = [
    ("Preoţiuc-Pietro et al. 2019 (complaint detection)", "≈ 0.79 F1", "their own split"),
    ("Jin & Aletras 2020", "≈ 0.87 macro-F1", "their own split"),
    ("TF-IDF + LR (dataset README)", "0.83 macro-F1 (10-fold CV); 0.74 on brand-addressed tweets", "10-fold CV"),
]


def machine_line(r: dict[str, Any]) -> str:
    """One line that says where the numbers come from: CPU model and the int8-relevant ISA flags."""
    m = r["machine"]
    cpu, isa = m["cpu"], set(m["cpu"]["isa"])
    flags = ", ".join(f"{f} {'yes' if f in isa else 'no'}" for f in ("avx2", "avx512_vnni"))
    return (f"Machine: {cpu['model']} ({cpu.get('vendor')} family {cpu.get('family')} model {cpu.get('model_number')}"
            f"{', under a hypervisor' if cpu.get('hypervisor') else ''}), {m['cpus_usable']} usable cores; {flags}; "
            f"onnxruntime {m['libraries'].get('onnxruntime')}.")


def bars_markdown(checks: dict[str, list[BarCheck]], labels: dict[str, str]) -> list[str]:
    """Every bar once, each model's figure and met / not met beside it (n is the shipped model's)."""
    names = list(checks)
    if not names:
        return []
    head = ["target", "language", "goal", "n"]
    for name in names:
        head += [labels.get(name, name)] + (["met?"] if name != "tfidf" else [])
    rows = []
    for i, c in enumerate(checks[names[0]]):
        row: list[object] = [c.bar.label(), c.bar.language or "all", c.bar.goal(), c.n or None]
        for name in names:
            other = checks[name][i]
            row.append(other.value)
            if name != "tfidf":
                row.append({True: "yes", False: "**no**", None: "—"}[other.met])
        rows.append(row)
    return ["## Targets", "", "Real test split unless the target says `written` (corpus test split) or `he_fb` "
            "(Hebrew Facebook sentiment). The written-split drop compares the first model with the second.", "",
            md_table(head, rows), ""]


def _head_rows(corpus: dict[str, Any], labels: dict[str, str]) -> list[list[object]]:
    rows = []
    for name, res in corpus["models"].items():
        if not res:
            continue
        for head, m in res["metrics"].items():
            for lang, g in [("all", m["all"]), *list(m.get("by_language", {}).items())]:
                crit = g["per_class"].get("critical")
                rows.append([head, lang, labels.get(name, name), g["n"], g["accuracy"], g["macro_f1"], g.get("ece"),
                             crit["recall"] if crit and crit["support"] else None])
    return sorted(rows, key=lambda x: (str(x[0]), str(x[1]) != "all", str(x[1])))


def corpus_markdown(corpus: dict[str, Any], labels: dict[str, str]) -> list[str]:
    lines = [f"## Written corpus test split ({corpus['n']} posts; TF-IDF trained on {corpus['train_rows']})", "",
             md_table(["head", "language", "model", "n", "accuracy", "macro-F1", "ECE", "critical recall"],
                      _head_rows(corpus, labels)), ""]
    student = (corpus["models"].get("shipped") or {}).get("metrics", {})
    for head, m in student.items():
        classes = list(m["all"]["per_class"])
        rows = []
        for name, res in corpus["models"].items():
            if res and head in res["metrics"]:
                pc = res["metrics"][head]["all"]["per_class"]
                rows.append([labels.get(name, name), *[pc[c]["f1"] if pc[c]["support"] else None for c in classes]])
        lines += [f"### Per-class F1: {head}", "", md_table(["model", *classes], rows), ""]
    auto = (corpus["models"].get("shipped") or {}).get("automation")
    return lines + (automation_markdown(auto, corpus, list(student), labels.get("shipped", "shipped")) if auto else [])


def automation_markdown(auto: dict[str, Any], corpus: dict[str, Any], heads: list[str], label: str) -> list[str]:
    rows = []
    for key, rule in (("engine_routing", f"engine routing `needs_human` ({corpus.get('needs_human_source')})"),
                      ("uncertain_any_head", "model thresholds: any head uncertain")):
        x = auto.get(key)
        if x:
            rows.append([rule, f"{x['share_to_person']:.1%}", x["automated"], *[x.get(f"accuracy_{h}") for h in heads],
                         x["accuracy_all_heads"]])
    curve = [[c["threshold"], f"{c['coverage']:.1%}", c["accuracy_all_heads"],
              *[f"{c[f'coverage_{h}']:.1%} / {fmt(c[f'accuracy_{h}'])}" for h in heads]] for c in auto["curve"]]
    return [f"### Sent to a person, and the accuracy of the rest ({label}, written test split)", "",
            md_table(["rule", "to a person", "automated posts", *[f"accuracy {h}" for h in heads], "all heads right"],
                     rows), "",
            f"All heads right on every post: {fmt(auto['accuracy_all_heads_everything'])}. Thresholds: "
            + ", ".join(f"{h} {v:.2f} (margin {auto['min_margins'][h]:.2f})" for h, v in auto["thresholds"].items())
            + ".", "", "### Automation curve (threshold on the least confident head)", "",
            md_table(["threshold", "coverage", "accuracy, all heads", *[f"{h}: coverage / accuracy" for h in heads]],
                     curve), ""]


def he_fb_markdown(he: dict[str, Any], labels: dict[str, str]) -> list[str]:
    rows = [[labels.get(name, name), m["all"]["n"], m["all"]["accuracy"], m["all"]["macro_f1"],
             *[m["all"]["per_class"][c]["f1"] for c in ("negative", "neutral", "positive")]]
            for name, m in he["models"].items()]
    return [f"## Hebrew Facebook sentiment, test_gold ({he['n']} comments; TF-IDF trained on train.tsv, "
            f"{he['train_rows']} rows)", "",
            md_table(["model", "n", "accuracy", "macro-F1", "F1 negative", "F1 neutral (off-topic)", "F1 positive"],
                     rows), "", "Reported figures:", "",
            md_table(["system", "accuracy", "macro-F1", "note"], HE_FB_REFERENCE), ""]


def complaints_markdown(comp: dict[str, Any], labels: dict[str, str]) -> list[str]:
    rows = []
    for name, m in comp["models"].items():
        a, b, s = m["complaint_all"], m["complaint_brand_addressed"], m["sentiment_brand_addressed"]
        rows.append([labels.get(name, name), a.get("accuracy"), a.get("macro_f1"), b.get("n"), b.get("accuracy"),
                     b.get("macro_f1"), b.get("f1_complaint"), s.get("accuracy"), s.get("macro_f1")])
    return [f"## English complaints to brands, held-out test split ({comp['n']} tweets, "
            f"{comp['n_brand_addressed']} brand-addressed; {comp['split']})", "",
            f"Complaint = {comp['complaint_rule']} for our models; TF-IDF is trained on the complaint label of "
            "the train split.", "",
            md_table(["model", "complaint acc (all)", "complaint macro-F1 (all)", "n brand", "complaint acc (brand)",
                      "complaint macro-F1 (brand)", "F1 complaint (brand)", "sentiment acc (brand)",
                      "sentiment macro-F1 (brand)"], rows), "", "Reported figures (other splits):", "",
            md_table(["system", "figure", "protocol"], COMPLAINTS_REFERENCE), ""]


def accuracy_markdown(r: dict[str, Any], checks: dict[str, list[BarCheck]]) -> str:
    from bench.accuracy.real import real_markdown

    labels = r.get("labels") or {}
    smoke = " (SMOKE RUN: tiny inputs and a random model, numbers mean nothing)" if r["smoke"] else ""
    lines = [f"# Accuracy benchmark{smoke}", "", machine_line(r), "", machine_markdown(r), "",
             "Models: " + "; ".join(f"**{labels.get(k, k)}** — {v}" for k, v in r.get("models", {}).items()) + ".", ""]
    lines += [f"Kernels and quantisation of **{labels.get(k, k)}**: {v}." for k, v in (r.get("kernels") or {}).items()]
    lines += ["", f"Targets from: the issue's bars and `{r.get('targets_source')}`.", ""]
    lines += bars_markdown(checks, labels)
    other = [t for t in r["targets"] if t.name.startswith("distillation")]
    lines += ["### Distillation", "", targets_table(other), ""] if other else []
    if r.get("real"):
        lines += real_markdown(r["real"], labels)
    if r.get("corpus"):
        lines += corpus_markdown(r["corpus"], labels)
    if r.get("he_fb"):
        lines += he_fb_markdown(r["he_fb"], labels)
    if r.get("complaints"):
        lines += complaints_markdown(r["complaints"], labels)
    if r.get("notes"):
        lines += ["## Notes", "", *[f"- {n}" for n in r["notes"]], ""]
    return "\n".join(lines)
