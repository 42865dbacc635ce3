"""The labelling loop: suggestions ready to fill in, and an audit that finds a planted mistake."""

import pandas as pd

from conftest import HashingEmbedder, toy_frame
from cxnlp.training.data import load_labelled
from cxnlp.training.labelling import audit, suggest
from cxnlp.training.train import TrainParams


def test_audit_puts_a_planted_wrong_label_first(tmp_path):
    frame = toy_frame(4)
    wrong = frame.index[frame["text"] == "Waited forty minutes in the queue x"][0]
    frame.loc[wrong, "pillars"] = "empathy:negative"
    frame.to_csv(tmp_path / "l.csv", index=False)
    data = load_labelled([tmp_path / "l.csv"], allow_warnings=True)
    suspicious = audit(data, HashingEmbedder(), TrainParams(cv=2), folds=2)
    top = suspicious.iloc[0]
    assert (top["text"], top["line"]) == ("Waited forty minutes in the queue x", wrong + 2)
    assert "empathy: labelled present" in top["issues"] and "time_and_effort: labelled absent" in top["issues"]
    assert len(suspicious) < len(frame) // 4
    cutoff = suspicious["self_confidence"].iloc[1]  # a reviewer's stricter list: only the blatant cases
    strict = audit(data, HashingEmbedder(), TrainParams(cv=2), folds=2, max_self_confidence=cutoff)
    assert strict["text"].iloc[0] == top["text"] and 2 <= len(strict) < len(suspicious)
    assert (strict["self_confidence"] <= cutoff).all()


def test_suggestions_are_balanced_distinct_and_load_as_labelled_data(toy_pipeline, tmp_path):
    pool = [f"{text} {tail}" for text in toy_frame(1)["text"] for tail in ("igen", "again", "nå igjen", "idag")]
    pool += ["-", "n/a", pool[0]]
    picked = suggest(toy_pipeline, pool, n=12)
    assert len(picked) == 12 and picked["text"].is_unique
    assert not picked["text"].isin(["-", "n/a"]).any()
    counts = picked["lang"].value_counts()  # comments in no decidable language are not suggested: they cannot load
    assert set(counts.index) == {"sv", "no", "en"} and counts.max() - counts.min() <= 1
    assert picked["priority"].is_monotonic_decreasing
    path = tmp_path / "to_label.csv"
    picked.to_csv(path, index=False)
    reloaded = load_labelled([path], allow_warnings=True)
    assert len(reloaded.frame) == 12
    assert pd.read_csv(path)["source_row"].between(2, len(pool) + 1).all()
