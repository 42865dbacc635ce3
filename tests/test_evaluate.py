"""Evaluation beyond F1: calibration, pillar confusion, baselines in the same run, cross-validation, HTML."""

import numpy as np
import pytest

from cxnlp.training.baselines import KeywordBaseline, TfidfLogRegBaseline
from cxnlp.training.benchmark import run_evaluation
from cxnlp.training.evaluate import pillar_confusion, reliability
from cxnlp.training.evaluation_page import render_evaluation
from cxnlp.training.train import TrainParams


def test_expected_calibration_error_of_an_overconfident_model():
    ece, curve = reliability(np.full(100, 0.9), np.r_[np.ones(50), np.zeros(50)])
    assert ece == pytest.approx(0.4)
    assert curve == [{"lo": 0.9, "hi": 1.0, "mean_prob": 0.9, "frequency": 0.5, "n": 100}]
    assert reliability(np.array([0.0, 0.0, 1.0, 1.0]), np.array([0, 0, 1, 1]))[0] == 0.0


def test_pillar_confusion_says_which_pillar_was_taken_for_which():
    # integrity, expectations, resolution, time_and_effort are columns 1..4 in PILLARS order
    Y = np.array([[0, 1, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 1, 0]])
    P = np.array([[0, 0, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 1, 0]])
    confusion = pillar_confusion(Y, P)
    m = np.array(confusion["matrix"])
    assert confusion["labels"][-1] == "(none)"
    assert m[1, 2] == 1  # integrity mistaken for expectations
    assert m[3, 6] == 1  # resolution missed, nothing in its place
    assert m[6, 5] == 1  # empathy predicted where nothing was missed
    assert m[4, 4] == 1 and m.sum() == 4


def test_keyword_baseline_uses_the_shipped_stems():
    P = KeywordBaseline().fit([], np.zeros((0, 6))).predict(["Vi fick vänta i kön", "Lovely weather"])
    assert P.tolist() == [[0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0]]


def test_tfidf_baseline_learns_the_toy_words(toy_labelled):
    texts = toy_labelled.frame["text"].tolist()
    P = TfidfLogRegBaseline(cv=3).fit(texts, toy_labelled.Y).predict(["Rude and dismissive staff", "Hidden fees"])
    assert P[0, 5] == 1 and P[1, 1] == 1


def test_evaluation_on_the_test_split_has_baselines_and_a_self_contained_page(toy_pipeline, toy_labelled_with_test):
    result = run_evaluation(toy_pipeline, toy_labelled_with_test, TrainParams(cv=3))
    assert set(result["baselines"]) == {"keywords", "tfidf_logreg", "zero_shot"}
    assert result["metrics"]["all"]["n"] == len(toy_labelled_with_test.subset("test").frame)
    assert 0 <= result["metrics"]["all"]["calibration"]["pillar_ece"] <= 1
    html = render_evaluation(result)
    assert html.count("<script") >= 3 and html.count('class="plotly-graph-div"') == 2
    assert "<script src" not in html and html.count("Plotly.newPlot") == 2  # nothing fetched
    assert html.count("plotly.js v") == 1  # the library inlined once


def test_cross_validation_measures_every_row_out_of_fold(toy_pipeline, toy_labelled):
    result = run_evaluation(toy_pipeline, toy_labelled, TrainParams(cv=2), cv=3, baselines=False)
    assert result["metrics"]["all"]["n"] == len(toy_labelled.frame)
    assert len(result["fold_macro_f1"]["model"]) == 3
    assert result["baselines"] == {} and "3-fold" in result["protocol"]


def test_a_split_without_rows_is_a_clear_error(toy_pipeline, toy_labelled):
    from cxnlp.errors import LabelledDataError

    with pytest.raises(LabelledDataError, match="no rows in split 'test'; pass --split all, or --cv 5"):
        run_evaluation(toy_pipeline, toy_labelled, TrainParams(cv=3))
