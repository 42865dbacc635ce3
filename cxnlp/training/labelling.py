"""The labelling loop: which unlabelled comments to label next, and which labelled ones to check.

`suggest` picks comments the model is least sure about, weighting pillars the training data
has few examples of, keeping languages balanced and skipping near-copies of comments already
picked (greedy maximal marginal relevance on the embeddings). `audit` follows confident
learning: with out-of-fold probabilities, a label is suspicious when the model is at least as
confident of the opposite as it typically is about comments that really have that label.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np
import pandas as pd

from cxnlp.embed import Embedder
from cxnlp.language import UNDETERMINED
from cxnlp.pillars import PILLARS
from cxnlp.sentiment import OVERALL
from cxnlp.training.data import LabelledSet, format_pillars
from cxnlp.training.train import TrainParams, cross_validate

if TYPE_CHECKING:
    from cxnlp.pipeline import Pipeline

SUGGEST_COLUMNS = ("text", "lang", "pillars", "sentiment", "split", "source_row", "priority", "unsure_about")


def pillar_uncertainty(proba: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """1 where a probability sits on its pillar's decision threshold, 0 where it is as far away as it can be."""
    room = np.where(proba < thresholds, thresholds, 1 - thresholds)
    return 1 - np.abs(proba - thresholds) / np.maximum(room, 1e-6)


def rarity_weights(label_counts: dict[str, dict[str, int]] | None) -> np.ndarray:
    """Per pillar, sqrt(mean count / count) over the training labels: a pillar with a quarter of the
    average examples counts double."""
    if not label_counts:
        return np.ones(len(PILLARS))
    counts = np.array([sum(n for lang in label_counts.values() for key, n in lang.items() if key.startswith(f"{p}:"))
                       for p in PILLARS], dtype=float)
    return np.sqrt(counts.mean() / np.maximum(counts, 1))


def _quotas(available: dict[str, int], n: int) -> dict[str, int]:
    """n split evenly over languages; what a language cannot fill goes to the others."""
    quotas = {lang: 0 for lang in available}
    remaining = n
    while remaining > 0:
        open_langs = [lang for lang in sorted(available) if quotas[lang] < available[lang]]
        if not open_langs:
            break
        share = max(remaining // len(open_langs), 1)
        for lang in open_langs:
            take = min(share, available[lang] - quotas[lang], remaining)
            quotas[lang] += take
            remaining -= take
    return quotas


def _diverse_pick(score: np.ndarray, vecs: np.ndarray, k: int, redundancy: float) -> list[int]:
    """Greedy maximal marginal relevance: best score minus `redundancy` x similarity to what is picked.
    Vectors are centred first: sentence embeddings of unrelated comments are far from orthogonal."""
    vecs = vecs - vecs.mean(axis=0)
    vecs = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
    picked: list[int] = []
    closest = np.zeros(len(score))
    for _ in range(min(k, len(score))):
        gain = score - redundancy * closest
        gain[picked] = -np.inf
        best = int(np.argmax(gain))
        picked.append(best)
        closest = np.maximum(closest, vecs @ vecs[best])
    return picked


def suggest(pipeline: "Pipeline", texts: Sequence[object], n: int = 200, label_counts: dict | None = None,
            redundancy: float = 1.0) -> pd.DataFrame:
    """The `n` comments most worth labelling next, as rows of a labelled file with the model's
    current guess pre-filled (`pillars`, `sentiment`), for an analyst to correct."""
    analysis = pipeline.analyse(list(texts))
    prep = analysis.prepared
    uncertainty = pillar_uncertainty(analysis.pillar_proba, pipeline.heads.pillars.thresholds_) * rarity_weights(label_counts)
    score = uncertainty.max(axis=1)
    first = pd.Series(prep.text).duplicated()
    langs = np.array(prep.lang)
    # A comment in no language we could decide cannot become a labelled row (it needs sv, no or en).
    candidates = np.flatnonzero(~prep.noise & ~first.to_numpy() & (pd.Series(prep.text).str.strip() != "")
                                & (langs != UNDETERMINED))
    quotas = _quotas({lang: int((langs[candidates] == lang).sum()) for lang in set(langs[candidates])}, n)
    chosen: list[int] = []
    for lang, k in quotas.items():
        pool = candidates[langs[candidates] == lang]
        chosen += [int(pool[i]) for i in _diverse_pick(score[pool], prep.embeddings[pool], k, redundancy)]
    chosen.sort(key=lambda i: -score[i])
    return pd.DataFrame({
        "text": [prep.text[i] for i in chosen],
        "lang": langs[chosen],
        "pillars": [format_pillars(analysis.pillar_polarity[i]) for i in chosen],
        "sentiment": [analysis.sentiment[i] for i in chosen],
        "split": "train",
        "source_row": [i + 2 for i in chosen],  # line in the input file, header = 1
        "priority": np.round(score[chosen], 3),  # uncertainty x pillar rarity
        "unsure_about": [PILLARS[int(np.argmax(uncertainty[i]))] for i in chosen],
    }, columns=list(SUGGEST_COLUMNS))


def audit(data: LabelledSet, embedder: Embedder, params: TrainParams, folds: int = 5,
          max_self_confidence: float = 1.0) -> pd.DataFrame:
    """Labelled rows that are probably mislabelled, most suspicious first, with the model's
    out-of-fold view of them. `self_confidence` is the probability the model gives the label as
    written; the lower, the more suspicious. On a large set, `max_self_confidence` (e.g. 0.05) keeps
    only the blatant cases, a list a reviewer can get through."""
    rows = cross_validate(data, embedder, params, data.folds(folds, params.seed))
    Y, proba = rows.Y.astype(bool), rows.proba
    given = np.where(Y, proba, 1 - proba)  # probability of each pillar label as written
    # Confident-learning thresholds: how sure the model typically is about rows truly with / without a pillar.
    sure_present = np.array([proba[Y[:, j], j].mean() if Y[:, j].any() else 1.0 for j in range(len(PILLARS))])
    sure_absent = np.array([(1 - proba[~Y[:, j], j]).mean() if (~Y[:, j]).any() else 1.0 for j in range(len(PILLARS))])
    flagged = np.where(Y, 1 - proba >= sure_absent, proba >= sure_present)

    sentiment_index = np.array([OVERALL.index(s) for s in rows.sentiment_true])
    sentiment_given = rows.sentiment_proba[np.arange(len(Y)), sentiment_index]
    predicted_index = rows.sentiment_proba.argmax(axis=1)
    sure_sentiment = np.array([rows.sentiment_proba[sentiment_index == k, k].mean() if (sentiment_index == k).any() else 1.0
                               for k in range(len(OVERALL))])
    sentiment_flag = (predicted_index != sentiment_index) & (rows.sentiment_proba.max(axis=1) >= sure_sentiment[predicted_index])

    out = []
    frame = data.frame
    for i in np.flatnonzero(flagged.any(axis=1) | sentiment_flag):
        issues, confidences = [], []
        for j in np.flatnonzero(flagged[i]):
            issues.append(f"{PILLARS[j]}: labelled {'present' if Y[i, j] else 'absent'}, model p={proba[i, j]:.2f}")
            confidences.append(given[i, j])
        if sentiment_flag[i]:
            issues.append(f"sentiment: labelled {rows.sentiment_true[i]}, model says {OVERALL[predicted_index[i]]}"
                          f" (p={rows.sentiment_proba[i].max():.2f})")
            confidences.append(sentiment_given[i])
        out.append({"file": frame["file"].iloc[i], "line": int(frame["line"].iloc[i]), "text": frame["text"].iloc[i],
                    "lang": frame["lang"].iloc[i], "pillars": frame["pillars"].iloc[i],
                    "sentiment": frame["sentiment"].iloc[i],
                    "model_pillars": ";".join(PILLARS[j] for j in np.flatnonzero(rows.P[i])),
                    "model_sentiment": rows.sentiment_pred[i],
                    "self_confidence": round(float(min(confidences)), 4), "issues": "; ".join(issues)})
    columns = ["file", "line", "text", "lang", "pillars", "sentiment", "model_pillars", "model_sentiment",
               "self_confidence", "issues"]
    found = pd.DataFrame(out, columns=columns)
    found = found[found["self_confidence"] <= max_self_confidence]
    return found.sort_values("self_confidence", kind="stable").reset_index(drop=True)
