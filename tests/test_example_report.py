"""The bundled example export tells a story; the real models must find it first in line."""

from conftest import ROOT
from cxnlp.aggregate import InsightOptions, build_insights
from cxnlp.io import read_table

EXAMPLE = ROOT / "data" / "raw" / "example_survey_export.csv"


def test_planted_app_breakdown_is_the_top_finding(real_pipeline):
    scored = real_pipeline.score(read_table(EXAMPLE), text_col="comment")
    # The options `make run` uses.
    options = InsightOptions(rating_col="nps", date_col="submitted_at", segment_cols=("channel", "journey", "region"))
    top = build_insights(scored, options).findings[0]
    assert (top.pillar, top.polarity, top.segment, top.value) == ("time_and_effort", "negative", "channel", "app")
    assert top.change is not None and top.change.since == "2026-09"
    assert top.impact_hi < 0


def test_nightly_batch_over_the_example_exports_tells_the_same_story(real_pipeline, tmp_path):
    """`make run`'s batch: every response once, the corrected re-export as updates, the same top finding."""
    from cxnlp.batch.config import load_batch_config
    from cxnlp.batch.engines import LocalEngine
    from cxnlp.batch.runner import BatchRunner
    from cxnlp.batch.sources import read_export
    from cxnlp.config import Settings
    from cxnlp.targets import TARGET_MISSED_EXIT

    config_path = ROOT / "data" / "raw" / "cxnlp.toml"
    config = load_batch_config(config_path).model_copy(
        update={"store": str(tmp_path / "cxnlp.duckdb"), "output": str(tmp_path / "out")})
    result = BatchRunner(config, Settings.load(config_path), LocalEngine(real_pipeline), config_path=config_path).run()
    corrected = next((ROOT / "data" / "raw" / "exports").glob("*corrected*"))
    reexported = sum(len(c.responses) for c in read_export(corrected, config.mapping_for(corrected), chunk_rows=1000,
                                                           max_comment_chars=config.max_comment_chars))
    counts = result.counts
    assert counts["rows_new"] == len(read_table(EXAMPLE)) and counts["rows_rejected"] == 0
    assert counts["rows_updated"] > 0 and counts["rows_updated"] + counts["rows_duplicate"] == reexported
    assert result.exit_code == TARGET_MISSED_EXIT  # the example config misses targets on purpose
    top = result.digest["findings"][0]
    assert top == "time_and_effort|negative|channel=app"
