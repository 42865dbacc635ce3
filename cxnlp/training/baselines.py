"""Baselines a trained classifier must beat, fitted and measured in the same run on the same rows.

Each is a tiny estimator over cleaned comment texts: `fit(texts, Y)` with Y the (n, pillars)
0/1 matrix, `predict(texts)` giving the same shape. Without them a macro-F1 of 0.8 says
nothing; beside them it says how much the embedder and the heads add.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Sequence

import numpy as np

from cxnlp.embed import Embedder
from cxnlp.features import TextFeatures
from cxnlp.pillars import PILLARS, PillarClassifier, best_f1_threshold


def _resource(name: str) -> dict:
    data = json.loads(resources.files("cxnlp.resources").joinpath(name).read_text("utf-8"))
    data.pop("_doc", None)
    return data


class KeywordBaseline:
    """A comment touches a pillar when it contains one of the pillar's stems from
    `resources/pillar_keywords.json` (all languages tried on every comment). Learns nothing."""

    name = "keywords"

    def __init__(self, keywords: dict[str, dict[str, list[str]]] | None = None) -> None:
        self.keywords = keywords

    def fit(self, texts: Sequence[str], Y: np.ndarray) -> "KeywordBaseline":
        by_language = self.keywords or _resource("pillar_keywords.json")
        self.stems_ = [sorted({s.lower() for lang in by_language.values() for s in lang.get(p, [])}) for p in PILLARS]
        return self

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        lowered = [t.lower() for t in texts]
        return np.array([[int(any(s in t for s in stems)) for stems in self.stems_] for t in lowered],
                        dtype=int).reshape(len(texts), len(PILLARS))


class TfidfLogRegBaseline:
    """The classifier's own n-gram features and pillar head without the embedding: TF-IDF word and
    character n-grams, one calibrated logistic regression per pillar, thresholds tuned out of fold."""

    name = "tfidf_logreg"

    def __init__(self, C: float = 4.0, cv: int = 5, random_state: int = 0) -> None:
        self.C = C
        self.cv = cv
        self.random_state = random_state

    def _X(self, texts: Sequence[str]):
        return self.features_.transform(texts, np.zeros((len(texts), 0), dtype=np.float32))

    def fit(self, texts: Sequence[str], Y: np.ndarray) -> "TfidfLogRegBaseline":
        self.features_ = TextFeatures().fit(texts)
        self.pillars_ = PillarClassifier(C=self.C, cv=self.cv, random_state=self.random_state).fit(self._X(texts), Y)
        return self

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        return self.pillars_.predict(self._X(texts))


class ZeroShotBaseline:
    """Cosine similarity between a comment and each pillar's descriptions in Swedish, Norwegian and
    English (`resources/pillar_descriptions.json`); the only thing learnt from the labels is one
    similarity cut-off per pillar."""

    name = "zero_shot"

    def __init__(self, embedder: Embedder, descriptions: dict[str, dict[str, list[str]]] | None = None) -> None:
        self.embedder = embedder
        self.descriptions = descriptions

    def _similarity(self, texts: Sequence[str]) -> np.ndarray:
        return self.embedder.encode(list(texts)) @ self.centroids_.T

    def fit(self, texts: Sequence[str], Y: np.ndarray) -> "ZeroShotBaseline":
        by_language = self.descriptions or _resource("pillar_descriptions.json")
        centroids = []
        for pillar in PILLARS:
            vecs = self.embedder.encode([d for lang in by_language.values() for d in lang[pillar]])
            mean = vecs.mean(axis=0)
            centroids.append(mean / max(np.linalg.norm(mean), 1e-12))
        self.centroids_ = np.array(centroids, dtype=np.float32)
        sims = self._similarity(texts)
        self.thresholds_ = np.array([best_f1_threshold(Y[:, j], sims[:, j], lo=-1.0, hi=1.0)
                                     for j in range(len(PILLARS))])
        return self

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        return (self._similarity(texts) >= self.thresholds_).astype(int)


def make_baselines(embedder: Embedder, seed: int = 0) -> list:
    return [KeywordBaseline(), TfidfLogRegBaseline(random_state=seed), ZeroShotBaseline(embedder)]
