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
