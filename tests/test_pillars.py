import numpy as np
import pytest

from cxnlp.pillars import PILLARS, PillarClassifier, best_f1_threshold
from cxnlp.sentiment import OVERALL, SentimentClassifier


@pytest.fixture(scope="module")
def separable():
    rng = np.random.default_rng(0)
    Y = (rng.random((240, len(PILLARS))) < 0.3).astype(int)
    X = Y * 2.0 + rng.normal(0, 0.6, Y.shape)
    return np.hstack([X, rng.normal(0, 1, (240, 4))]).astype(np.float32), Y


def test_pillar_classifier_learns_and_round_trips(tmp_path, separable):
    X, Y = separable
    model = PillarClassifier(cv=3).fit(X[:180], Y[:180])
    pred = model.predict(X[180:])
    assert (pred == Y[180:]).mean() > 0.9
    assert ((0.15 <= model.thresholds_) & (model.thresholds_ <= 0.85)).all()
    model.save(tmp_path / "p.safetensors")
    again = PillarClassifier.load(tmp_path / "p.safetensors")
    np.testing.assert_allclose(again.predict_proba(X), model.predict_proba(X), rtol=1e-6)


def test_no_pillar_is_possible(separable):
    X, Y = separable
    model = PillarClassifier(cv=3).fit(X, Y)
    assert (model.predict(np.zeros((1, X.shape[1]), np.float32) - 3.0).sum()) == 0


def test_fit_validates_label_shape(separable):
    X, Y = separable
    with pytest.raises(ValueError, match="Y must have shape"):
        PillarClassifier().fit(X, Y[:, :3])


def test_best_threshold_maximises_f1():
    y = np.array([0, 0, 1, 1])
    prob = np.array([0.1, 0.45, 0.5, 0.9])
    assert 0.45 < best_f1_threshold(y, prob) <= 0.5


def test_sentiment_classifier_keeps_absent_labels_impossible(tmp_path):
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(2, 0.5, (30, 3)), rng.normal(-2, 0.5, (30, 3))]).astype(np.float32)
    y = ["positive"] * 30 + ["negative"] * 30
    model = SentimentClassifier(OVERALL).fit(X, y)
    assert set(model.predict(X)) == {"positive", "negative"}
    score = model.score_of(model.predict_proba(X))
    assert (score[:30] > 0.5).all() and (score[30:] < -0.5).all()
    model.save(tmp_path / "s.safetensors")
    assert SentimentClassifier.load(tmp_path / "s.safetensors").predict(X) == model.predict(X)
    with pytest.raises(ValueError, match="unknown sentiment labels"):
        SentimentClassifier(OVERALL).fit(X, ["happy"] * 60)
