import gc
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from cxnlp import OUTPUT_COLUMNS, PILLARS
from cxnlp.errors import MissingColumnError
from cxnlp.pipeline import ClassifierHeads, Pipeline, pillar_polarity_proba
from cxnlp.sentiment import POLARITIES


@pytest.fixture(scope="module")
def scored(toy_pipeline):
    df = pd.DataFrame({
        "id": ["a", "b", "c", "d", "e"],
        "comment": ["Rude and dismissive staff", "-", "Friendly and kind staff but waited forty minutes in the queue",
                    "Call me on 070-123 45 67 or mail me at x.y@example.com, hidden fees and lies", None],
        "nps": [2, 5, 6, 0, 9],
    })
    return df, toy_pipeline.score(df, text_col="comment")


def test_a_pillar_takes_the_polarity_of_all_its_clauses_not_of_one_fragment():
    empathy, effort = PILLARS.index("empathy"), PILLARS.index("time_and_effort")
    negative, positive = np.eye(3)[POLARITIES.index("negative")], np.eye(3)[POLARITIES.index("positive")]
    about = np.zeros((5, len(PILLARS)))
    # comment 0: a negative fragment a little more about empathy than two positive clauses, which outweigh it;
    # its one clause about effort is negative. Comment 1 has no clause rows; comment 2 one negative clause.
    about[:4, empathy] = [0.6, 0.5, 0.5, 0.0]
    about[:4, effort] = [0.0, 0.0, 0.0, 0.9]
    about[4, empathy] = 0.7
    polarity = np.array([negative, positive, positive, negative, negative])
    proba = pillar_polarity_proba(about, polarity, np.array([0, 0, 0, 0, 2]), 3)
    said = {(i, j): POLARITIES[int(proba[i, j].argmax())] for i, j in [(0, empathy), (0, effort), (2, empathy)]}
    assert said == {(0, empathy): "positive", (0, effort): "negative", (2, empathy): "negative"}
    assert np.allclose(proba[0, empathy], (0.6 * negative + 0.5 * positive + 0.5 * positive) / 1.6)
    assert not proba[1].any()


def test_score_keeps_input_and_adds_every_cx_column(scored):
    df, out = scored
    assert out.columns.tolist() == [*df.columns, *OUTPUT_COLUMNS]
    pd.testing.assert_frame_equal(out[df.columns], df)
    assert out["cx_lang"].isin(["sv", "no", "en", "und"]).all()
    assert out["cx_sentiment"].isin(["positive", "negative", "neutral", "mixed"]).all()
    assert out["cx_sentiment_score"].between(-1, 1).all()


def test_noise_and_empty_rows_get_no_pillars(scored):
    _, out = scored
    for i in (1, 4):
        assert out.loc[i, "cx_noise"] and out.loc[i, "cx_pillars"] == "" and out.loc[i, "cx_sentiment"] == "neutral"
        assert all(out.loc[i, f"cx_{p}_prob"] == 0 for p in PILLARS)


def test_pillar_sentiment_comes_from_its_own_clause(scored):
    _, out = scored
    assert out.loc[0, "cx_empathy_sentiment"] == "negative"
    assert set(out.loc[2, "cx_pillars"].split(";")) >= {"empathy", "time_and_effort"}
    assert out.loc[2, "cx_empathy_sentiment"] == "positive"
    assert out.loc[2, "cx_time_and_effort_sentiment"] == "negative"
    for p in PILLARS:  # a pillar's sentiment is filled exactly when the pillar is predicted
        assert ((out[f"cx_{p}_sentiment"] != "") == out["cx_pillars"].str.contains(p)).all()


def test_personal_data_never_reaches_the_output(scored):
    _, out = scored
    assert out.loc[3, "cx_text"] == "Call me on [phone] or mail me at [email], hidden fees and lies"
    assert "integrity" in out.loc[3, "cx_pillars"]


def test_missing_text_column_is_a_clear_error(toy_pipeline):
    with pytest.raises(MissingColumnError, match="no column named 'text'"):
        toy_pipeline.score(pd.DataFrame({"comment": ["x"]}), text_col="text")


def test_heads_round_trip_through_a_directory(tmp_path, toy_pipeline):
    toy_pipeline.heads.save(tmp_path / "heads")
    loaded = ClassifierHeads.load(tmp_path / "heads")
    again = Pipeline(toy_pipeline.embedder, loaded)
    texts = ["Rude staff but quick app", "Väntade en timme i kön"]
    a, b = toy_pipeline.analyse(texts), again.analyse(texts)
    np.testing.assert_allclose(a.pillar_proba, b.pillar_proba, rtol=1e-6)
    assert a.pillar_polarity == b.pillar_polarity and a.sentiment == b.sentiment


class RecordingEmbedder:
    """Wraps the test embedder and records every text it is asked to embed."""

    def __init__(self, inner):
        self.inner, self.model_id, self.dim = inner, inner.model_id, inner.dim
        self.seen: list[str] = []

    def encode(self, texts, progress=None):
        self.seen.extend(texts)
        return self.inner.encode(texts, progress)


def test_a_clause_that_is_another_comment_is_not_embedded_again(toy_pipeline):
    recorder = RecordingEmbedder(toy_pipeline.embedder)
    pipe = Pipeline(recorder, toy_pipeline.heads)
    texts = ["Rude and dismissive staff. The queue took forty minutes", "The queue took forty minutes",
             "The queue took forty minutes"]
    analysis = pipe.analyse(texts)

    prep = analysis.prepared
    assert prep.clauses[0] == ["Rude and dismissive staff.", "The queue took forty minutes"]
    assert recorder.seen == [*texts, "Rude and dismissive staff."]  # the clause pass embeds only the new clause
    reused = prep.clause_text.index("The queue took forty minutes")
    np.testing.assert_array_equal(prep.clause_vecs[reused], prep.embeddings[1])
    assert prep.lang[1] == prep.lang[2] and prep.clauses[1] == prep.clauses[2]


class FreezeRecordingEmbedder(RecordingEmbedder):
    """Notes how many objects the garbage collector was told to skip while it embedded."""

    def encode(self, texts, progress=None):
        self.frozen = gc.get_freeze_count()
        return super().encode(texts, progress)


def test_scoring_keeps_older_objects_out_of_the_collector_and_leaves_it_as_it_found_it(toy_pipeline):
    recorder = FreezeRecordingEmbedder(toy_pipeline.embedder)
    pipe = Pipeline(recorder, toy_pipeline.heads)
    df = pd.DataFrame({"comment": ["Rude staff", "Waited forty minutes in the queue"]})
    gc.unfreeze()
    try:
        pipe.score(df)
        assert recorder.frozen > 0  # the loaded models, among others, were not traversed while it scored
        assert gc.get_freeze_count() == 0  # nothing the caller made stays uncollectable after the call
        gc.freeze()
        pipe.score(df)
        assert gc.get_freeze_count() > 0  # the caller's own freeze is not undone
    finally:
        gc.unfreeze()


def test_loading_and_scoring_never_import_scikit_learn(toy_pipeline, tmp_path):
    """scikit-learn only fits: importing it added about 0.9 s to every `cxnlp score` (docs/performance.md)."""
    toy_pipeline.heads.save(tmp_path / "heads")
    script = f"""
import sys
import numpy as np, pandas as pd
from cxnlp.pipeline import ClassifierHeads, Pipeline

class Embedder:
    model_id, dim = "hashing-test", 256
    def encode(self, texts, progress=None):
        return np.ones((len(texts), self.dim), dtype=np.float32) / 16

scored = Pipeline(Embedder(), ClassifierHeads.load({str(tmp_path / "heads")!r})).score(
    pd.DataFrame({{"comment": ["Rude staff", "Väntade en timme i kön"]}}))
print(len(scored), sorted(name for name in sys.modules if name.split(".")[0] == "sklearn"))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2", "[]"]
