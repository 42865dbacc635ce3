"""Fit the pillar, polarity and overall-sentiment heads on embeddings of labelled comments."""

from __future__ import annotations

import json
import platform
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np

from cxnlp.config import DEFAULT_MODELS_DIR
from cxnlp.embed import Embedder
from cxnlp.errors import InputFileError
from cxnlp.features import TextFeatures
from cxnlp.language import LanguageDetector
from cxnlp.pillars import PILLARS, PillarClassifier
from cxnlp.pipeline import OWN_EMBEDDER, ClassifierHeads, Pipeline, Prepared, embed_clauses, prepare
from cxnlp.segment import Segmenter
from cxnlp.sentiment import OVERALL, POLARITIES, SentimentClassifier
from cxnlp.training.data import LabelledSet
from cxnlp.training.evaluate import RowPredictions, evaluate, predict_rows, render_model_card
from cxnlp.training.registry import new_version_dir
from cxnlp.training.setfit import SetFitParams, finetune_embedder


@dataclass
class TrainParams:
    C_pillars: float = 4.0
    C_sentiment: float = 8.0
    cv: int = 5
    seed: int = 0


def fit_heads(data: LabelledSet, embedder: Embedder, params: TrainParams, segmenter: Segmenter | None = None,
              language: LanguageDetector | None = None) -> ClassifierHeads:
    """Train the three heads on `data` (all its rows; noise rows are left out, as at scoring time)."""
    frame = data.frame
    prep = prepare(frame["text"].tolist(), embedder, language or LanguageDetector(), segmenter or Segmenter())
    content = np.flatnonzero(~prep.noise)
    embed_clauses(prep, embedder, [i for i in content if frame["labels"].iloc[i]])
    features = TextFeatures().fit([prep.text[i] for i in content])
    comment_X = prep.comment_features(features)
    X, Y = comment_X[content], data.Y[content]
    pillars = PillarClassifier(C=params.C_pillars, cv=params.cv, random_state=params.seed).fit(X, Y)
    clause_X = prep.clause_features(features, comment_X)
    polarity = SentimentClassifier(POLARITIES, C=params.C_sentiment).fit(
        *_polarity_examples(data, prep, pillars.predict_proba(clause_X), clause_X))
    overall = SentimentClassifier(OVERALL, C=params.C_sentiment).fit(X, frame["sentiment"].to_numpy()[content].tolist())
    return ClassifierHeads(features, pillars, polarity, overall, embedder_id=embedder.model_id)


def _best_clause_per_pillar(clause_proba: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
    """(n, pillars) index of the clause row most likely about each pillar, -1 where a comment has none."""
    best = np.full((n, clause_proba.shape[1]), -1, dtype=int)
    starts = np.searchsorted(owner, np.arange(n))
    ends = np.searchsorted(owner, np.arange(n), side="right")
    for i in np.flatnonzero(ends > starts):
        best[i] = starts[i] + np.argmax(clause_proba[starts[i] : ends[i]], axis=0)
    return best


def _polarity_examples(data: LabelledSet, prep: Prepared, clause_proba: np.ndarray, clause_X):
    """Each labelled (comment, pillar, polarity) becomes one example: the clause most about that pillar.
    The head so learns a clause's polarity; scoring weighs it over all the clauses (`pillar_polarity_proba`)."""
    best = _best_clause_per_pillar(clause_proba, prep.clause_owner, len(prep.text))
    rows, targets = [], []
    for i, labels in enumerate(data.frame["labels"]):
        for pillar, polarity in labels.items():
            clause = best[i, PILLARS.index(pillar)]
            if clause >= 0:
                rows.append(clause)
                targets.append(polarity)
    return clause_X[rows], targets


def params_of(model_dir: Path) -> TrainParams:
    """The parameters a saved classifier was trained with (defaults where its config predates them)."""
    config = json.loads((model_dir / "config.json").read_text("utf-8"))
    saved = config.get("trained", {}).get("params", {})
    return TrainParams(**{k: v for k, v in saved.items() if k in TrainParams.__dataclass_fields__})


def cross_validate(data: LabelledSet, embedder: Embedder, params: TrainParams, fold: np.ndarray) -> RowPredictions:
    """Out-of-fold predictions for every row, in the rows' order: one model per fold, each measured
    on the comments it never saw. For data too small to spare a fixed test split, and for `label audit`."""
    parts, order = [], []
    for i in range(int(fold.max()) + 1):
        heads = fit_heads(data.rows(fold != i), embedder, params)
        parts.append(predict_rows(Pipeline(embedder, heads), data.rows(fold == i)))
        order.append(np.flatnonzero(fold == i))
    return RowPredictions.concat(parts).take(np.argsort(np.concatenate(order)))


METHODS = ("head", "setfit")


def train(data: LabelledSet, embedder: Embedder, models_dir: Path = DEFAULT_MODELS_DIR,
          params: TrainParams | None = None, output_dir: Path | None = None, method: str = "head",
          setfit: SetFitParams | None = None) -> dict:
    """Train on the `train` split, measure on the `test` split, and write a new model version
    (heads + metrics.json + model card) to `output_dir`, by default a fresh directory under
    `models_dir`. Never overwrites: an existing non-empty `output_dir` is refused.

    `method="setfit"` also fine-tunes the embedder contrastively and fits heads on it; both
    candidates are measured on the test split and the better one is kept (the head-only one on a
    tie, being cheaper to run and ship), with the margin written into the model card."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    params = params or TrainParams()
    created = datetime.now(timezone.utc)
    data_hash = data.data_hash()
    output_dir = output_dir or new_version_dir(models_dir, data_hash, created)
    if output_dir.exists() and any(output_dir.iterdir()):
        raise InputFileError(output_dir, "already holds a model; `cxnlp train` never overwrites one, choose a new --output.")
    train_set, test_set = data.subset("train"), data.subset("test")
    candidates = {"head": _timed_fit(train_set, embedder, params)}
    if method == "setfit":
        started = time.perf_counter()
        tuned = finetune_embedder(embedder, train_set, output_dir / OWN_EMBEDDER, setfit or SetFitParams(seed=params.seed))
        tuned_embedder, tuned_heads, head_minutes = _timed_fit(train_set, tuned, params)
        candidates["setfit"] = (tuned_embedder, tuned_heads, (time.perf_counter() - started) / 60)
    measured = {name: evaluate(Pipeline(e, h), test_set) if len(test_set.frame) else {}
                for name, (e, h, _) in candidates.items()}
    winner = max(candidates, key=lambda name: (_macro_f1(measured[name]), name == "head")) if len(test_set.frame) else method
    if winner != "setfit" and (output_dir / OWN_EMBEDDER).exists():
        shutil.rmtree(output_dir / OWN_EMBEDDER)
    kept_embedder, heads, minutes = candidates[winner]
    heads.version = output_dir.name
    card = {
        "version": heads.version,
        "method": winner,
        "created": created.isoformat(timespec="seconds"),
        "data_hash": data_hash,
        "data_files": sorted(set(data.frame["file"])),
        "label_counts": _label_counts(train_set),
        "n_train": len(train_set.frame),
        "n_test": len(test_set.frame),
        "params": params.__dict__,
        "embedder_id": kept_embedder.model_id,
        "training_minutes": round(minutes, 2),
        "libraries": {name: metadata.version(name) for name in
                      ("scikit-learn", "sentence-transformers", "torch", "spacy", "langdetect", "numpy")},
        "python": platform.python_version(),
        "metrics": measured[winner],
    }
    if len(candidates) > 1:
        card["method_comparison"] = {
            "setfit_params": (setfit or SetFitParams(seed=params.seed)).__dict__,
            "candidates": {name: {"macro_f1": {lang: m["pillars"]["macro_f1"] for lang, m in measured[name].items()},
                                  "training_minutes": round(candidates[name][2], 2)} for name in candidates},
            "kept": winner,
            "margin_macro_f1": round(abs(_macro_f1(measured["setfit"]) - _macro_f1(measured["head"])), 4),
        }
    heads.save(output_dir, extra_config={"trained": {k: card[k] for k in ("created", "data_hash", "params", "method")}})
    write_card(output_dir, card)
    return card


def _timed_fit(data: LabelledSet, embedder: Embedder, params: TrainParams) -> tuple[Embedder, ClassifierHeads, float]:
    started = time.perf_counter()
    heads = fit_heads(data, embedder, params)
    return embedder, heads, (time.perf_counter() - started) / 60


def _macro_f1(metrics: dict) -> float:
    return metrics["all"]["pillars"]["macro_f1"] if metrics else 0.0


def write_card(output_dir: Path, card: dict) -> None:
    (output_dir / "metrics.json").write_text(json.dumps(card, indent=2, ensure_ascii=False), "utf-8")
    (output_dir / "README.md").write_text(render_model_card(card), "utf-8")


def _label_counts(data: LabelledSet) -> dict:
    counts: dict[str, dict[str, int]] = {}
    for lang, labels in zip(data.frame["lang"], data.frame["labels"]):
        bucket = counts.setdefault(lang, {"comments": 0})
        bucket["comments"] += 1
        for pillar, polarity in labels.items():
            key = f"{pillar}:{polarity}"
            bucket[key] = bucket.get(key, 0) + 1
    return counts
