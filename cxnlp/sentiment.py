"""Sentiment heads on embeddings: a clause's polarity (a pillar's is its clauses', each weighted by how
likely it is about the pillar: `pipeline.pillar_polarity_proba`), and the whole comment's overall
sentiment (which may be `mixed`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cxnlp.persist import load_state, save_state

POLARITIES: tuple[str, ...] = ("negative", "neutral", "positive")
OVERALL: tuple[str, ...] = ("negative", "neutral", "positive", "mixed")


class SentimentClassifier:
    """Multinomial logistic regression over a fixed label set.

    Parameters: `labels` the classes in output column order; `C` inverse regularisation. scikit-learn
    is imported by `fit` only (`PillarClassifier` says why).
    """

    def __init__(self, labels: tuple[str, ...] = POLARITIES, C: float = 2.0) -> None:
        self.labels = labels
        self.C = C

    def fit(self, X: np.ndarray, y: list[str] | np.ndarray) -> "SentimentClassifier":
        from sklearn.linear_model import LogisticRegression

        unknown = set(y) - set(self.labels)
        if unknown:
            raise ValueError(f"unknown sentiment labels {sorted(unknown)}; expected {self.labels}")
        target = np.array([self.labels.index(v) for v in y])
        lr = LogisticRegression(C=self.C, class_weight="balanced", max_iter=3000).fit(X, target)
        # Classes absent from the data keep a -inf intercept, so they are never predicted.
        self.coef_ = np.zeros((len(self.labels), X.shape[1]), dtype=np.float32)  # X: dense or sparse
        self.intercept_ = np.full(len(self.labels), -1e9, dtype=np.float32)
        coef = lr.coef_ if len(lr.classes_) > 2 else np.vstack([-lr.coef_[0], lr.coef_[0]]) / 2
        intercept = lr.intercept_ if len(lr.classes_) > 2 else np.array([-lr.intercept_[0], lr.intercept_[0]]) / 2
        self.coef_[lr.classes_] = coef
        self.intercept_[lr.classes_] = intercept
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        z = np.asarray(X @ self.coef_.T + self.intercept_)
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, X: np.ndarray) -> list[str]:
        return [self.labels[i] for i in self.predict_proba(X).argmax(axis=1)]

    def score_of(self, proba: np.ndarray) -> np.ndarray:
        """-1..1: probability of positive minus probability of negative."""
        return proba[:, self.labels.index("positive")] - proba[:, self.labels.index("negative")]

    def save(self, path: Path) -> None:
        save_state(path, {"coef": self.coef_, "intercept": self.intercept_}, {"labels": list(self.labels), "C": self.C})

    @classmethod
    def load(cls, path: Path) -> "SentimentClassifier":
        arrays, params = load_state(path)
        model = cls(labels=tuple(params["labels"]), C=params["C"])
        model.coef_, model.intercept_ = arrays["coef"], arrays["intercept"]
        return model
