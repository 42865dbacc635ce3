"""Measure a pipeline on labelled comments: pillars, polarity, overall sentiment and language,
per language, computed exactly as `cxnlp score` would label the same comments."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from cxnlp.pillars import PILLARS
from cxnlp.training.data import LabelledSet

if TYPE_CHECKING:
    from cxnlp.pipeline import Pipeline

SHORT_WORDS = 5  # "comments under five words", where language detection is hardest


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4)}


def pillar_metrics(Y: np.ndarray, P: np.ndarray) -> dict:
    """Per-pillar precision/recall/F1/support, micro average, and macro F1 over pillars present."""
    per = {}
    for j, pillar in enumerate(PILLARS):
        tp = int(((Y[:, j] == 1) & (P[:, j] == 1)).sum())
        fp = int(((Y[:, j] == 0) & (P[:, j] == 1)).sum())
        fn = int(((Y[:, j] == 1) & (P[:, j] == 0)).sum())
        per[pillar] = {**_prf(tp, fp, fn), "support": int(Y[:, j].sum())}
    tp, fp, fn = int((Y & P).sum()), int(((1 - Y) & P).sum()), int((Y & (1 - P)).sum())
    present = [m["f1"] for m in per.values() if m["support"]]
    return {"per_pillar": per, "micro": _prf(tp, fp, fn),
            "macro_f1": round(float(np.mean(present)), 4) if present else 0.0}


def evaluate(pipeline: "Pipeline", data: LabelledSet) -> dict:
    """Metrics per labelled language and over all rows."""
    frame = data.frame
    analysis = pipeline.analyse(frame["text"].tolist())
    prep = analysis.prepared
    Y, P = data.Y, analysis.pillar_pred
    true_lang = frame["lang"].to_numpy()
    detected = np.array(prep.lang)
    words = np.array([len(t.split()) for t in prep.text])
    sentiment_ok = np.array(analysis.sentiment) == frame["sentiment"].to_numpy()
    polarity_hits = np.zeros(len(frame), dtype=int)
    polarity_total = np.zeros(len(frame), dtype=int)
    for i, (truth, guess) in enumerate(zip(frame["labels"], analysis.pillar_polarity)):
        both = set(truth) & set(guess)
        polarity_total[i] = len(both)
        polarity_hits[i] = sum(truth[p] == guess[p] for p in both)

    results = {}
    for lang in ["all", *sorted(set(true_lang))]:
        m = np.ones(len(frame), bool) if lang == "all" else true_lang == lang
        content = m & ~prep.noise
        short = content & (words < SHORT_WORDS)
        results[lang] = {
            "n": int(m.sum()),
            "pillars": pillar_metrics(Y[m], P[m]),
            "polarity_accuracy": round(polarity_hits[m].sum() / max(polarity_total[m].sum(), 1), 4),
            "polarity_n": int(polarity_total[m].sum()),
            "sentiment_accuracy": round(float(sentiment_ok[m].mean()), 4),
            "language_accuracy": round(float((detected[content] == true_lang[content]).mean()), 4),
            "language_accuracy_short": round(float((detected[short] == true_lang[short]).mean()), 4)
            if short.any() else None,
            "language_n_short": int(short.sum()),
        }
    return results


def summary_rows(metrics: dict) -> list[list[str]]:
    """Headline rows (one per language) for terminal tables and model cards."""
    header = ["lang", "n", "pillar micro-F1", "pillar macro-F1", "polarity acc", "sentiment acc",
              "language acc", "language acc (<5 words)"]
    rows = [header]
    for lang, m in metrics.items():
        short = m["language_accuracy_short"]
        rows.append([lang, str(m["n"]), f"{m['pillars']['micro']['f1']:.3f}", f"{m['pillars']['macro_f1']:.3f}",
                     f"{m['polarity_accuracy']:.3f}", f"{m['sentiment_accuracy']:.3f}",
                     f"{m['language_accuracy']:.3f}", "-" if short is None else f"{short:.3f} (n={m['language_n_short']})"])
    return rows


def per_pillar_rows(metrics: dict) -> list[list[str]]:
    langs = list(metrics)
    rows = [["pillar", *[f"{lang} F1 (P/R, n)" for lang in langs]]]
    for pillar in PILLARS:
        cells = []
        for lang in langs:
            m = metrics[lang]["pillars"]["per_pillar"][pillar]
            cells.append(f"{m['f1']:.2f} ({m['precision']:.2f}/{m['recall']:.2f}, {m['support']})")
        rows.append([pillar, *cells])
    return rows


def _markdown(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)


def render_model_card(card: dict) -> str:
    """The model card that travels with a trained classifier directory."""
    metrics = card.get("metrics") or {}
    parts = [
        f"# cxnlp classifier heads {card['version']}",
        "",
        "Pillar (multi-label, six CX pillars), pillar-polarity and overall-sentiment heads on the "
        f"embedder `{card['embedder_id']}`. Logistic regressions, Platt-calibrated, per-pillar thresholds "
        "tuned on out-of-fold probabilities. Weights are safetensors; nothing is pickled.",
        "",
        f"- created: {card['created']}",
        f"- training data: {card['n_train']} comments, sha256 `{card['data_hash'][:16]}...`; test split: {card['n_test']}",
        f"- parameters: `{card['params']}`",
        f"- libraries: {', '.join(f'{k} {v}' for k, v in card['libraries'].items())}; Python {card['python']}",
        "",
        "## Label counts (training split)",
        "",
    ]
    for lang, counts in card["label_counts"].items():
        parts.append(f"- **{lang}**: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if metrics:
        parts += ["", "## Test-split metrics", "", "Measured by `cxnlp evaluate` on the fixed test split, which "
                  "training never sees. The test split was written by the same team as the training data, so "
                  "expect lower figures on real comments.", "", _markdown(summary_rows(metrics)),
                  "", "### Per pillar", "", _markdown(per_pillar_rows(metrics))]
    return "\n".join(parts) + "\n"
