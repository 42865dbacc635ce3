"""The fast tier: a small static model distilled from the embedder, with its own heads, chosen by `--tier fast`."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from processes import running

from cxnlp.config import TIERS, Settings
from cxnlp.static_distill import choose_vocabulary

ROOT = Path(__file__).resolve().parent.parent
FAST = ROOT / "models" / "fast"
ONNX_CONFIG = ROOT / "models" / "embedder" / "onnx" / "config.json"


def test_vocabulary_keeps_the_data_s_pieces_then_the_most_probable_latin_ones():
    pieces = [("<s>", 0.0), ("▁och", -3.0), ("▁的", -2.0), ("▁kö", -9.0), ("▁the", -2.5), ("▁ære", -4.0), ("▁zzz", -12.0)]
    keep = choose_vocabulary(pieces, used_ids={3, 0}, size=4, skip={0})
    assert keep.tolist() == [1, 3, 4, 5]  # kö (used), then the, och, ære by probability; never <s> or 的


@pytest.fixture(scope="module")
def fast_pipeline():
    if not ((FAST / "classifier" / "config.json").is_file() and ONNX_CONFIG.is_file()):
        pytest.skip("fast tier or the embedder's ONNX tokenizer missing; run `make embedder`")
    from cxnlp.pipeline import Pipeline

    with Pipeline.load(settings=Settings(cache_dir=None, **TIERS["fast"])) as pipeline:
        yield pipeline


def test_fast_tier_scores_with_its_own_heads(fast_pipeline):
    texts = ["Väntade en timme i telefonkön", "Hyggelig og hjelpsom betjening", "Hidden fees on my bill", "-"]
    analysis = fast_pipeline.analyse(texts)

    assert fast_pipeline.heads.embedder_id == fast_pipeline.embedder.model_id
    assert analysis.prepared.embeddings.shape[1] == fast_pipeline.embedder.dim
    np.testing.assert_allclose(np.linalg.norm(analysis.prepared.embeddings[:3], axis=1), 1.0, rtol=1e-5)
    assert [("time_and_effort" in p) for p in analysis.pillar_polarity[:1]] == [True]
    assert analysis.pillar_polarity[0]["time_and_effort"] == "negative"
    assert not analysis.pillar_pred[3].any()


def test_fast_tier_settings_are_the_static_model_the_vectorised_language_model_and_one_process_per_core():
    settings = Settings(**TIERS["fast"])
    assert (settings.backend, settings.language_model) == ("static", "naive-bayes")
    assert settings.workers >= 1 and settings.effort  # effort columns stay unless a user turns them off


def test_scoring_in_forked_chunks_gives_the_rows_one_process_gives(fast_pipeline, in_two_processes):
    import pandas as pd

    df, alone = in_two_processes
    seen = []
    forked = fast_pipeline.score(df, text_col="comment", progress=lambda done, total: seen.append((done, total)))
    pd.testing.assert_frame_equal(forked, alone)
    assert seen[-1] == (len(df), len(df))
    same = pd.DataFrame({"comment": [df["comment"].iloc[0]] * 24})  # one distinct text: one chunk, scored here
    fast_pipeline.workers = 1
    same_alone = fast_pipeline.score(same, text_col="comment")
    fast_pipeline.workers = 2
    pd.testing.assert_frame_equal(fast_pipeline.score(same, text_col="comment"), same_alone)


def _comments():
    import pandas as pd

    texts = ["Väntade 45 minuter i telefonkön men trevlig personal", "Hyggelig betjening", "Ringt tre ganger uten svar",
             "Hidden fees on my bill, called three times", "-", "Fick hjälp direkt", "Appen er tungvint"] * 4
    # a noise row, another column and a repeating index, all of which must come back as they were
    return pd.DataFrame({"id": range(len(texts)), "comment": texts}, index=[f"r{i % 5}" for i in range(len(texts))])


def _scoring_processes() -> set[int]:
    return {child.pid for child in multiprocessing.active_children()}


@pytest.fixture
def in_two_processes(fast_pipeline, monkeypatch):
    """The comments and their rows scored in one process; the pipeline then set, with no processes
    forked yet, to score them in two."""
    import cxnlp.pipeline

    df = _comments()
    fast_pipeline.workers = 1
    alone = fast_pipeline.score(df, text_col="comment")
    monkeypatch.setattr(cxnlp.pipeline, "MIN_ROWS_PER_WORKER", 5)  # so 28 rows are worth two processes
    fast_pipeline.workers = 2
    fast_pipeline.close()
    return df, alone


def test_scoring_processes_are_forked_once_and_never_score_with_a_replaced_component(fast_pipeline,
                                                                                    in_two_processes):
    import pandas as pd

    from cxnlp.effort import EFFORT_COLUMNS

    df, alone = in_two_processes
    pd.testing.assert_frame_equal(fast_pipeline.score(df, text_col="comment"), alone)
    forked = _scoring_processes()
    assert len(forked) == 1
    reversed_rows = df.iloc[::-1]
    pd.testing.assert_frame_equal(fast_pipeline.score(reversed_rows, text_col="comment"), alone.iloc[::-1])
    assert _scoring_processes() == forked  # the same process scored the second input
    effort, fast_pipeline.effort = fast_pipeline.effort, None
    try:
        without = fast_pipeline.score(df, text_col="comment")
    finally:
        fast_pipeline.effort = effort
    assert not set(EFFORT_COLUMNS) & set(without.columns)  # a process forked before the change would add them
    assert not _scoring_processes() & forked
    fast_pipeline.close()
    assert not _scoring_processes()
    pd.testing.assert_frame_equal(fast_pipeline.score(df, text_col="comment"), alone)  # usable after close


def _die(job):
    os._exit(1)


@pytest.mark.parametrize("workers", [2, 3])  # with 3, both scoring processes die: each chunk is scored here
def test_rows_of_a_scoring_process_that_dies_are_scored_here(fast_pipeline, in_two_processes, monkeypatch, caplog,
                                                             workers):
    import pandas as pd

    import cxnlp.pipeline

    df, alone = in_two_processes
    fast_pipeline.workers = workers
    with monkeypatch.context() as patched:
        patched.setattr(cxnlp.pipeline, "_score_forked", _die)
        with caplog.at_level(logging.WARNING, logger="cxnlp.pipeline"):
            scored = fast_pipeline.score(df, text_col="comment")
    pd.testing.assert_frame_equal(scored, alone)
    assert "a scoring process died" in caplog.text
    pd.testing.assert_frame_equal(fast_pipeline.score(df, text_col="comment"), alone)  # forked anew


def _score_in(pipeline, df, results) -> None:
    results.put(pipeline.score(df, text_col="comment"))


def test_a_daemon_process_such_as_a_dask_worker_scores_in_one_process(fast_pipeline, in_two_processes):
    import pandas as pd

    df, alone = in_two_processes
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    daemon = context.Process(target=_score_in, args=(fast_pipeline, df, results), daemon=True)
    daemon.start()
    scored = results.get(timeout=120)  # a daemon may not start processes: forking chunks would raise
    daemon.join(timeout=60)
    assert daemon.exitcode == 0
    pd.testing.assert_frame_equal(scored, alone)


def _score_then_wait(pipeline, df, pids) -> None:
    pipeline.score(df, text_col="comment")
    pids.put(sorted(_scoring_processes()))
    time.sleep(600)  # killed by the test long before


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
def test_scoring_processes_stop_when_the_process_that_forked_them_is_killed(fast_pipeline, in_two_processes):
    df, _ = in_two_processes
    context = multiprocessing.get_context("fork")
    pids = context.Queue()
    job = context.Process(target=_score_then_wait, args=(fast_pipeline, df, pids))  # a nightly run, say
    job.start()
    forked = pids.get(timeout=120)
    assert len(forked) == 1 and running(forked[0])
    os.kill(job.pid, signal.SIGKILL)  # no chance to close its pipeline
    job.join(timeout=10)
    deadline = time.monotonic() + 15
    while running(forked[0]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not running(forked[0])


def test_an_empty_frame_comes_back_with_the_output_columns(fast_pipeline):
    from cxnlp.pipeline import OUTPUT_COLUMNS

    empty = _comments().iloc[:0]
    scored = fast_pipeline.score(empty, text_col="comment")
    assert scored.empty and list(scored.columns) == ["id", "comment", *OUTPUT_COLUMNS]


def test_effort_turned_off_leaves_its_columns_out(fast_pipeline):
    import pandas as pd

    from cxnlp.effort import EFFORT_COLUMNS
    from cxnlp.pipeline import Pipeline

    without = Pipeline(fast_pipeline.embedder, fast_pipeline.heads, fast_pipeline.language, read_effort=False)
    scored = without.score(pd.DataFrame({"comment": ["Väntade 45 minuter i kön"]}), text_col="comment")
    assert not set(EFFORT_COLUMNS) & set(scored.columns)
    assert scored["cx_pillars"].iloc[0] == fast_pipeline.score(
        pd.DataFrame({"comment": ["Väntade 45 minuter i kön"]}), text_col="comment")["cx_pillars"].iloc[0]
