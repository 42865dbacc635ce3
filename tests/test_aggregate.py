"""The insights a CX lead acts on: intervals, NPS impact, flags only where real, trends."""

import numpy as np
import pandas as pd
import pytest

from conftest import HashingEmbedder, scored_frame
from cxnlp.aggregate import (
    InsightOptions, ScoredComments, build_insights, change_point, parse_weights, rating_impact,
    segment_table,
)
from cxnlp.errors import CxnlpError, InputFileError
from cxnlp.stats import benjamini_hochberg, wilson_interval

OPTIONS = InsightOptions(rating_col="nps", date_col="submitted_at", segment_cols=("channel", "journey"), n_boot=300)


def test_nps_impact_matches_hand_computation():
    # NPS of all ten: 4 promoters (10, 10, 9, 10), 4 detractors (3, 2, 0, 6) -> 0.
    # Without rows 5 and 6 (the 3 and the 2): 4 promoters, 2 detractors of 8 -> +25.
    # So the comments in rows 5 and 6 cost 25 points: impact = 0 - 25.
    frame = pd.DataFrame({"nps": ["10", "10", "9", "8", "7", "3", "2", "0", "10", "6"]})
    m = ScoredComments(_scored(frame))
    values = m.rating_values("nps", "nps")
    assert values.mean() == 0
    group = np.zeros((10, 1), dtype=bool)
    group[[5, 6], 0] = True
    impact = rating_impact(values, group, n_boot=200)
    assert impact.loc[0, "impact"] == pytest.approx(-25.0)
    assert impact.loc[0, "impact_lo"] <= -25.0 <= impact.loc[0, "impact_hi"]
    assert impact.loc[0, "n"] == 2


def test_mean_rating_impact_is_on_the_mean():
    m = ScoredComments(_scored(pd.DataFrame({"csat": ["5", "4", "1", "", "5"]})))
    values = m.rating_values("csat", "mean")
    group = np.array([[False], [False], [True], [False], [False]])
    # mean of 5, 4, 1, 5 is 3.75; without the 1 it is 4.67: impact -0.9167
    assert rating_impact(values, group, n_boot=50).loc[0, "impact"] == pytest.approx(3.75 - 14 / 3)


def test_bad_nps_names_line_and_column():
    m = ScoredComments(_scored(pd.DataFrame({"nps": ["10", "ten", "11", ""]})), source="export.csv")
    with pytest.raises(InputFileError, match=r"export.csv: column 'nps': expected an integer 0-10 at line 3 \('ten'\), line 4 \('11'\)"):
        m.rating_values("nps", "nps")


def test_wilson_interval_known_value():
    lo, hi = wilson_interval(0, 10)
    assert lo == pytest.approx(0.0, abs=1e-12) and hi == pytest.approx(0.2775, abs=1e-4)


def test_benjamini_hochberg_adjusts_in_input_order():
    q = benjamini_hochberg(np.array([0.04, 0.01, 0.03]))
    assert q == pytest.approx([0.04, 0.03, 0.04])


def test_no_real_difference_flags_nothing():
    m = ScoredComments(scored_frame(planted=False, seed=3))
    cells = segment_table(m, {"channel": m.segment("channel"), "journey": m.segment("journey")})
    assert len(cells) == 7 * 6 and not cells["flagged"].any()


def test_planted_breakdown_is_flagged_and_dated():
    m = ScoredComments(scored_frame())
    cells = segment_table(m, {"channel": m.segment("channel")})
    flagged = cells[cells["flagged"]]
    assert list(zip(flagged["value"], flagged["pillar"])) == [("app", "time_and_effort")]
    j = 4  # time_and_effort
    change = change_point(m.polarity["negative"][:, j], (m.segment("channel") == "app").to_numpy() & m.valid,
                          m.periods("submitted_at", "month"))
    assert change.since == "2026-09" and change.rate_after > 0.5 > 0.1 > change.rate_before


def test_top_finding_is_the_planted_breakdown_with_quotes():
    insights = build_insights(scored_frame(), OPTIONS, HashingEmbedder())
    top = insights.findings[0]
    assert (top.pillar, top.segment, top.value, top.change.since) == ("time_and_effort", "channel", "app", "2026-09")
    assert top.impact < 0 and top.impact_lo <= top.impact <= top.impact_hi
    assert 3 <= len(top.quotes) <= 5 and all("app" in q for q in top.quotes)
    worse = insights.trends[insights.trends["worse"]]
    assert set(worse["pillar"]) == {"time_and_effort"}


def test_without_rating_findings_rank_by_volume():
    insights = build_insights(scored_frame(), InsightOptions(segment_cols=("channel",)))
    assert insights.impact is None and insights.rating is None
    sizes = [f.rows.size for f in insights.findings]
    assert sizes == sorted(sizes, reverse=True)


def test_pillar_scores_and_index():
    insights = build_insights(scored_frame(planted=False), InsightOptions(n_boot=200))
    s = insights.scores
    # 8% negative and 10% positive mentions: net about +0.11, score about 55
    assert ((s["score_lo"] < 55.6) & (55.6 < s["score_hi"])).all()
    assert (s["mention_share_lo"] < s["mention_share"]).all() and (s["mention_share"] < s["mention_share_hi"]).all()
    assert insights.index["lo"] < insights.index["value"] < insights.index["hi"]


def test_weights():
    assert parse_weights("kpmg")["integrity"] == 2.0
    assert parse_weights("integrity=2, empathy=0.5") == {"integrity": 2.0, "empathy": 0.5}
    with pytest.raises(CxnlpError, match="'speed' is not a pillar"):
        parse_weights("speed=2")


def _scored(frame):
    """Minimal scored columns around a rating column: no comments."""
    from cxnlp.pillars import PILLARS

    out = frame.copy()
    out["cx_text"] = ""
    out["cx_noise"] = False
    for p in PILLARS:
        out[f"cx_{p}_sentiment"] = ""
    return out


def test_quotes_are_central_distinct_and_not_repeated():
    from cxnlp.aggregate import representative_quotes

    texts = ["slow app login", "slow app again", "slow app login", "app slow login today", "lovely staff"]
    quotes = representative_quotes(texts, HashingEmbedder(), k=2)
    assert len(quotes) == 2 and "lovely staff" not in quotes and len(set(quotes)) == 2
    again = representative_quotes(texts, HashingEmbedder(), k=2, exclude=frozenset(quotes))
    assert not set(again) & set(quotes)


def test_effort_section_measures_and_three_step_rule():
    frame = scored_frame()
    insights = build_insights(frame, OPTIONS)
    overall = insights.effort.set_index("segment").loc["all"]
    valid = frame["cx_text"] != "-"
    waits = frame.loc[valid, "cx_wait_minutes"].dropna()
    assert overall["median_wait_minutes"] == np.median(waits) and overall["median_wait_minutes_n"] == len(waits)
    assert overall["multi_contact_share"] == pytest.approx((frame.loc[valid, "cx_contacts"] > 1).sum() / valid.sum())
    # Everyone reporting more than three steps was planted as a detractor.
    assert overall["rating_over_three_steps"] == -100.0
    assert overall["rating_gap_over_three_steps_hi"] < 0
    assert set(insights.effort["segment"]) == {"all", "channel", "journey", "cx_lang"}


def test_frame_without_effort_columns_has_no_effort_section():
    frame = scored_frame().drop(columns=["cx_wait_minutes", "cx_contacts", "cx_steps"])
    assert build_insights(frame, InsightOptions(n_boot=100)).effort is None


def test_quotes_of_a_large_finding_are_picked_from_a_bounded_sample():
    from conftest import HashingEmbedder

    from cxnlp.aggregate import representative_quotes

    class Counting(HashingEmbedder):
        embedded = 0

        def encode(self, texts, progress=None):
            Counting.embedded += len(texts)
            return super().encode(texts, progress)

    texts = [f"waited {i} minutes in the queue" for i in range(2000)] + ["the app froze"] * 50
    quotes = representative_quotes(texts, Counting(), k=4, max_candidates=300)
    assert Counting.embedded == 300
    assert len(quotes) == 4 and all(q in texts for q in quotes)
    assert quotes == representative_quotes(texts, Counting(), k=4, max_candidates=300)  # seeded


def test_bootstrap_percentiles_equal_percentiles_of_the_resampled_values():
    from cxnlp.stats import bootstrap_percentiles

    values = np.random.default_rng(1).random(40).round(1)
    distinct, counts = np.unique(values, return_counts=True)
    resamples = np.random.default_rng(7).multinomial(values.size, counts / values.size, size=25)
    for q in (50, 90):
        expected = [np.percentile(np.repeat(distinct, w), q) for w in resamples]
        np.testing.assert_allclose(bootstrap_percentiles(values, q, 25, seed=7), expected)
