"""Measure a pipeline on labelled comments: pillars, polarity, overall sentiment and language,
per language, computed exactly as `cxnlp score` would label the same comments."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Sequence

import numpy as np

from cxnlp.pillars import PILLARS
from cxnlp.training.data import LabelledSet

if TYPE_CHECKING:
    from cxnlp.pipeline import Pipeline

SHORT_WORDS = 5  # "comments under five words", where language detection is hardest
CALIBRATION_BINS = 10
NONE = "(none)"


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


@dataclass
class RowPredictions:
    """What a classifier said about each labelled row, beside the truth: everything the metrics need,
    so out-of-fold predictions from cross-validation can be pooled and measured like one test set."""

    lang: np.ndarray  # labelled language
    Y: np.ndarray  # (n, pillars) true 0/1
    P: np.ndarray  # (n, pillars) predicted 0/1
    proba: np.ndarray  # (n, pillars) predicted probability
    detected_lang: np.ndarray
    noise: np.ndarray
    words: np.ndarray
    sentiment_true: np.ndarray
    sentiment_pred: np.ndarray
    sentiment_proba: np.ndarray  # (n, overall labels) in the order of `cxnlp.sentiment.OVERALL`
    polarity_hits: np.ndarray  # per row: pillars found with the right polarity
    polarity_total: np.ndarray  # per row: pillars both labelled and predicted

    @classmethod
    def concat(cls, parts: Sequence["RowPredictions"]) -> "RowPredictions":
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)))

    def take(self, index: np.ndarray) -> "RowPredictions":
        return RowPredictions(*(getattr(self, f.name)[index] for f in fields(self)))


def predict_rows(pipeline: "Pipeline", data: LabelledSet) -> RowPredictions:
    """Run the pipeline on the labelled texts exactly as `cxnlp score` would."""
    frame = data.frame
    analysis = pipeline.analyse(frame["text"].tolist())
    prep = analysis.prepared
    hits = np.zeros(len(frame), dtype=int)
    total = np.zeros(len(frame), dtype=int)
    for i, (truth, guess) in enumerate(zip(frame["labels"], analysis.pillar_polarity)):
        both = set(truth) & set(guess)
        total[i] = len(both)
        hits[i] = sum(truth[p] == guess[p] for p in both)
    return RowPredictions(
        lang=frame["lang"].to_numpy(), Y=data.Y, P=analysis.pillar_pred, proba=analysis.pillar_proba,
        detected_lang=np.array(prep.lang), noise=np.asarray(prep.noise, dtype=bool),
        words=np.array([len(t.split()) for t in prep.text]), sentiment_true=frame["sentiment"].to_numpy(),
        sentiment_pred=np.array(analysis.sentiment), sentiment_proba=analysis.overall_proba,
        polarity_hits=hits, polarity_total=total,
    )


def reliability(prob: np.ndarray, outcome: np.ndarray, bins: int = CALIBRATION_BINS) -> tuple[float, list[dict]]:
    """Expected calibration error and the reliability curve: per equal-width probability bin, the mean
    predicted probability against how often the event really happened."""
    prob, outcome = np.ravel(prob).astype(float), np.ravel(outcome).astype(float)
    which = np.minimum((prob * bins).astype(int), bins - 1)
    curve, ece = [], 0.0
    for b in range(bins):
        m = which == b
        if not m.any():
            continue
        mean_prob, freq = float(prob[m].mean()), float(outcome[m].mean())
        ece += m.sum() / len(prob) * abs(mean_prob - freq)
        curve.append({"lo": b / bins, "hi": (b + 1) / bins, "mean_prob": round(mean_prob, 4),
                      "frequency": round(freq, 4), "n": int(m.sum())})
    return round(ece, 4), curve


def pillar_confusion(Y: np.ndarray, P: np.ndarray) -> dict:
    """Which pillar is mistaken for which: in a row, every missed pillar is counted against every
    wrongly predicted one; misses with nothing predicted instead go to the `(none)` column, and
    false alarms with nothing missed to the `(none)` row. The diagonal holds correct pillars."""
    k = len(PILLARS)
    matrix = np.zeros((k + 1, k + 1), dtype=int)
    for y, p in zip(Y.astype(bool), P.astype(bool)):
        missed, extra = np.flatnonzero(y & ~p), np.flatnonzero(p & ~y)
        matrix[np.flatnonzero(y & p), np.flatnonzero(y & p)] += 1
        for a in missed:
            matrix[a, extra if len(extra) else [k]] += 1
        if not len(missed):
            matrix[k, extra] += 1
    return {"labels": [*PILLARS, NONE], "matrix": matrix.tolist()}


def metrics(rows: RowPredictions) -> dict:
    """Metrics per labelled language and over all rows."""
    results = {}
    for lang in ["all", *sorted(set(rows.lang))]:
        m = np.ones(len(rows.lang), bool) if lang == "all" else rows.lang == lang
        content = m & ~rows.noise
        short = content & (rows.words < SHORT_WORDS)
        pillar_ece, pillar_curve = reliability(rows.proba[m], rows.Y[m])
        sentiment_ok = rows.sentiment_pred == rows.sentiment_true
        sentiment_ece, _ = reliability(rows.sentiment_proba[m].max(axis=1), sentiment_ok[m])
        detected_ok = rows.detected_lang == rows.lang
        results[lang] = {
            "n": int(m.sum()),
            "pillars": pillar_metrics(rows.Y[m], rows.P[m]),
            "polarity_accuracy": round(rows.polarity_hits[m].sum() / max(rows.polarity_total[m].sum(), 1), 4),
            "polarity_n": int(rows.polarity_total[m].sum()),
            "sentiment_accuracy": round(float(sentiment_ok[m].mean()), 4),
            "language_accuracy": round(float(detected_ok[content].mean()), 4) if content.any() else None,
            "language_accuracy_short": round(float(detected_ok[short].mean()), 4) if short.any() else None,
            "language_n_short": int(short.sum()),
            "calibration": {"pillar_ece": pillar_ece, "sentiment_ece": sentiment_ece, "pillar_reliability": pillar_curve},
            "confusion": pillar_confusion(rows.Y[m], rows.P[m]),
        }
    return results


def evaluate(pipeline: "Pipeline", data: LabelledSet) -> dict:
    """Metrics per labelled language and over all rows, computed as `cxnlp score` would label them."""
    return metrics(predict_rows(pipeline, data))


def _macro_f1_per_resample(Y: np.ndarray, P: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Macro-F1 over pillars present, for each row of `weights` (how often each comment was drawn)."""
    Y, P = Y.astype(float), P.astype(float)
    tp, fp, fn = weights @ (Y * P), weights @ ((1 - Y) * P), weights @ (Y * (1 - P))
    f1 = 2 * tp / np.maximum(2 * tp + fp + fn, 1e-12)
    present = (weights @ Y) > 0
    return (f1 * present).sum(axis=1) / np.maximum(present.sum(axis=1), 1)


def bootstrap_macro_f1_difference(Y: np.ndarray, P_a: np.ndarray, P_b: np.ndarray, n_boot: int = 2000,
                                  seed: int = 0, level: float = 0.95) -> dict:
    """Paired bootstrap over comments of macro-F1(b) - macro-F1(a): both models are scored on the
    same resampled comments, so the interval reflects the difference, not each model's own noise."""
    n = len(Y)
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(n, np.full(n, 1 / n), size=n_boot).astype(float)
    once = np.ones((1, n))
    a, b = _macro_f1_per_resample(Y, P_a, once)[0], _macro_f1_per_resample(Y, P_b, once)[0]
    diff = _macro_f1_per_resample(Y, P_b, weights) - _macro_f1_per_resample(Y, P_a, weights)
    tail = (1 - level) / 2
    return {"n": n, "macro_f1_a": round(float(a), 4), "macro_f1_b": round(float(b), 4),
            "difference": round(float(b - a), 4), "ci_low": round(float(np.quantile(diff, tail)), 4),
            "ci_high": round(float(np.quantile(diff, 1 - tail)), 4),
            "share_b_better": round(float((diff > 0).mean()), 4), "n_boot": n_boot, "level": level}


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def summary_rows(metrics: dict) -> list[list[str]]:
    """Headline rows (one per language) for terminal tables and model cards."""
    header = ["lang", "n", "pillar micro-F1", "pillar macro-F1", "polarity acc", "sentiment acc",
              "pillar ECE", "language acc", "language acc (<5 words)"]
    rows = [header]
    for lang, m in metrics.items():
        short, detected = m["language_accuracy_short"], m["language_accuracy"]
        rows.append([lang, str(m["n"]), f"{m['pillars']['micro']['f1']:.3f}", f"{m['pillars']['macro_f1']:.3f}",
                     f"{m['polarity_accuracy']:.3f}", f"{m['sentiment_accuracy']:.3f}", _fmt(m.get("calibration", {}).get("pillar_ece")),
                     _fmt(detected),
                     "-" if short is None else f"{short:.3f} (n={m['language_n_short']})"])
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
        "tuned on out-of-fold probabilities. Weights are safetensors; nothing is pickled."
        + (" The embedder was fine-tuned contrastively (SetFit-style) and ships in `embedder/` beside the heads."
           if card.get("method") == "setfit" else ""),
        "",
        f"- created: {card['created']}",
        f"- method: {card.get('method', 'head')} (training took {card.get('training_minutes', '?')} minutes)",
        f"- training data: {card['n_train']} comments, sha256 `{card['data_hash'][:16]}...`; test split: {card['n_test']}",
        f"- parameters: `{card['params']}`",
        f"- libraries: {', '.join(f'{k} {v}' for k, v in card['libraries'].items())}; Python {card['python']}",
        "",
        "## Label counts (training split)",
        "",
    ]
    for lang, counts in card["label_counts"].items():
        parts.append(f"- **{lang}**: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    comparison = card.get("method_comparison")
    if comparison:
        rows = [["method", *(f"macro-F1 {lang}" for lang in next(iter(comparison["candidates"].values()))["macro_f1"]),
                 "training minutes"]]
        for name, c in comparison["candidates"].items():
            rows.append([name, *(f"{v:.3f}" for v in c["macro_f1"].values()), f"{c['training_minutes']:.1f}"])
        parts += ["", "## Method", "", f"Trained both ways on the same split; kept **{comparison['kept']}**, ahead by "
                  f"{comparison['margin_macro_f1']:.3f} pillar macro-F1 (all languages) on the test split. "
                  f"SetFit parameters: `{comparison['setfit_params']}`.", "", _markdown(rows)]
    if metrics:
        parts += ["", "## Test-split metrics", "", "Measured by `cxnlp evaluate` on the fixed test split, which "
                  "training never sees. The test split was written by the same team as the training data, so "
                  "expect lower figures on real comments.", "", _markdown(summary_rows(metrics)),
                  "", "### Per pillar", "", _markdown(per_pillar_rows(metrics))]
    return "\n".join(parts) + "\n"
