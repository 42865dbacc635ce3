"""Multi-label pillar classifier on comment embeddings.

One logistic regression per pillar (class-balanced, since most comments touch one or
two pillars), Platt-calibrated on cross-validated scores so `predict_proba` means what
it says, and a per-pillar decision threshold tuned on those same out-of-fold
probabilities. A comment whose every probability is under its threshold gets no pillar.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cxnlp.persist import load_state, save_state

if TYPE_CHECKING:
    from sklearn.linear_model import LogisticRegression

PILLARS: tuple[str, ...] = (
    "personalization",
    "integrity",
    "expectations",
    "resolution",
    "time_and_effort",
    "empathy",
)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def best_f1_threshold(y: np.ndarray, prob: np.ndarray, lo: float = 0.15, hi: float = 0.85) -> float:
    """The probability cut-off in [lo, hi] that maximises F1 on (y, prob)."""
    grid = np.round(np.arange(lo, hi + 1e-9, 0.01), 2)
    pred = prob[None, :] >= grid[:, None]
    tp = (pred & (y[None, :] == 1)).sum(1)
    fp = (pred & (y[None, :] == 0)).sum(1)
    fn = ((~pred) & (y[None, :] == 1)).sum(1)
    f1 = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
    return float(grid[int(np.argmax(f1))])


class PillarClassifier:
    """Parameters: `C` inverse regularisation; `cv` folds for calibration and thresholds.

    scikit-learn is imported by `fit` only: scoring reads the learned arrays, and importing it cost
    about 0.9 s of every `Pipeline.load`."""

    def __init__(self, C: float = 2.0, cv: int = 5, random_state: int = 0, pillars: tuple[str, ...] = PILLARS):
        self.C = C
        self.cv = cv
        self.random_state = random_state
        self.pillars = pillars

    def _new_lr(self) -> LogisticRegression:
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=self.C, class_weight="balanced", max_iter=3000)

    def fit(self, X, Y: np.ndarray) -> "PillarClassifier":
        """X: one row per comment, dense or sparse; Y: (n, pillars) 0/1."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold

        Y = np.asarray(Y, dtype=int)
        if Y.shape != (X.shape[0], len(self.pillars)):
            raise ValueError(f"Y must have shape ({X.shape[0]}, {len(self.pillars)}), got {Y.shape}")
        k = len(self.pillars)
        self.coef_ = np.zeros((k, X.shape[1]), dtype=np.float32)
        self.intercept_ = np.zeros(k, dtype=np.float32)
        self.calibration_ = np.zeros((k, 2), dtype=np.float32)
        self.thresholds_ = np.zeros(k, dtype=np.float32)
        self.oof_proba_ = np.zeros(Y.shape, dtype=np.float32)
        folds = StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state)
        for j in range(k):
            y = Y[:, j]
            scores = np.zeros(X.shape[0])
            for train, held in folds.split(X, y):
                scores[held] = self._new_lr().fit(X[train], y[train]).decision_function(X[held])
            platt = LogisticRegression(C=1e4).fit(scores[:, None], y)
            a, b = float(platt.coef_[0, 0]), float(platt.intercept_[0])
            self.calibration_[j] = (a, b)
            self.oof_proba_[:, j] = _sigmoid(a * scores + b)
            self.thresholds_[j] = best_f1_threshold(y, self.oof_proba_[:, j])
            full = self._new_lr().fit(X, y)
            self.coef_[j], self.intercept_[j] = full.coef_[0], full.intercept_[0]
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Calibrated probability of each pillar, shape (n, 6)."""
        scores = np.asarray(X @ self.coef_.T + self.intercept_)
        return _sigmoid(scores * self.calibration_[:, 0] + self.calibration_[:, 1])

    def decide(self, proba: np.ndarray) -> np.ndarray:
        """0/1 per pillar from probabilities (which the caller may have edited, e.g. zeroed for noise)."""
        return (proba >= self.thresholds_).astype(int)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.decide(self.predict_proba(X))

    def save(self, path: Path) -> None:
        arrays = {"coef": self.coef_, "intercept": self.intercept_, "calibration": self.calibration_,
                  "thresholds": self.thresholds_}
        save_state(path, arrays, {"C": self.C, "cv": self.cv, "random_state": self.random_state,
                                  "pillars": list(self.pillars)})

    @classmethod
    def load(cls, path: Path) -> "PillarClassifier":
        arrays, params = load_state(path)
        model = cls(C=params["C"], cv=params["cv"], random_state=params["random_state"],
                    pillars=tuple(params["pillars"]))
        model.coef_, model.intercept_ = arrays["coef"], arrays["intercept"]
        model.calibration_, model.thresholds_ = arrays["calibration"], arrays["thresholds"]
        return model
