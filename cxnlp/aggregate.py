"""From scored comments to the CX lead's answers: which pillar fails, for whom, since
when, what it costs, and which comments show it.

Everything works on the output of `Pipeline.score` (the `cx_*` columns) plus optional
rating, date and segment columns. Every number carries the n behind it and an interval:
Wilson for shares, bootstrap for net sentiment, NPS and NPS impact. Segment cells and
trend changes are flagged only when significant after Benjamini-Hochberg correction and
when at least `min_n` comments stand behind them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import pandas as pd

from cxnlp.embed import Embedder
from cxnlp.errors import CxnlpError, InputFileError
from cxnlp.io import require_column
from cxnlp.pillars import PILLARS
from cxnlp.sentiment import POLARITIES
from cxnlp.stats import (
    benjamini_hochberg,
    bootstrap_percentiles,
    bootstrap_sums,
    percentile_interval,
    proportion_worse_p,
    wilson_interval,
)
from cxnlp.targets import Target, target_table

RatingKind = Literal["nps", "mean"]
PeriodKind = Literal["month", "week"]
LANGUAGE_SEGMENT = "cx_lang"
EFFORT_VALUE_COLUMNS = {"wait_minutes": "cx_wait_minutes", "contacts": "cx_contacts", "steps": "cx_steps"}
MAX_STEPS = 3  # past about three steps, recommendation drops: the rule the effort section tests
# Effort groups: comments whose count in `column` exceeds `above`.
EFFORT_GROUPS = {"multi_contact": ("contacts", 1), "over_three_steps": ("steps", MAX_STEPS)}
EFFORT_MEASURES = ("median_wait_minutes", "p90_wait_minutes", *(f"{g}_share" for g in EFFORT_GROUPS))
WEIGHT_PRESETS: dict[str, dict[str, float]] = {
    "equal": {p: 1.0 for p in PILLARS},
    # KPMG's Customer Experience Excellence research reports personalization and integrity as
    # the pillars that weigh most on advocacy; KPMG publishes a ranking, not these numbers:
    # doubling those two is this team's reading of it.
    "kpmg": {**{p: 1.0 for p in PILLARS}, "personalization": 2.0, "integrity": 2.0},
}


def parse_weights(spec: str) -> dict[str, float]:
    """A preset name ('equal', 'kpmg') or 'pillar=weight,...' (pillars not named weigh 0)."""
    if spec in WEIGHT_PRESETS:
        return dict(WEIGHT_PRESETS[spec])
    weights: dict[str, float] = {}
    for part in spec.split(","):
        name, _, value = part.partition("=")
        name = name.strip()
        if name not in PILLARS:
            raise CxnlpError(f"--weights: {name!r} is not a pillar or preset; pillars: {', '.join(PILLARS)}; presets: {', '.join(WEIGHT_PRESETS)}")
        try:
            weights[name] = float(value)
        except ValueError:
            raise CxnlpError(f"--weights: weight of {name} must be a number, not {value!r}") from None
    return weights


@dataclass(frozen=True)
class InsightOptions:
    """What to aggregate by and how strict to be."""

    rating_col: str | None = None
    rating_kind: RatingKind = "nps"
    date_col: str | None = None
    period: PeriodKind = "month"
    segment_cols: tuple[str, ...] = ()
    weights: dict[str, float] = field(default_factory=lambda: dict(WEIGHT_PRESETS["equal"]))
    min_n: int = 30
    alpha: float = 0.05
    n_boot: int = 1000
    n_quotes: int = 4
    seed: int = 0
    targets: tuple[Target, ...] = ()


class ScoredComments:
    """The scored rows as the arrays the statistics need, validated once.

    `valid` marks rows with a real comment (not empty, not survey noise); `polarity[p]` is
    an (n_rows, n_pillars) boolean matrix of pillar mentions with polarity p.
    """

    def __init__(self, frame: pd.DataFrame, source: Path | str = "<data frame>") -> None:
        for column in ("cx_text", "cx_noise", *(f"cx_{p}_sentiment" for p in PILLARS)):
            require_column(frame, column, source)
        self.frame = frame.reset_index(drop=True)
        self.source = source
        text = self.frame["cx_text"].fillna("").astype(str).str.strip()
        noise = self.frame["cx_noise"].astype(str).str.strip().str.lower().isin(("true", "1", "yes"))
        self.valid = (text != "").to_numpy() & ~noise.to_numpy()
        labels = np.column_stack([self.frame[f"cx_{p}_sentiment"].fillna("").astype(str).str.strip().to_numpy()
                                  for p in PILLARS])
        self.polarity = {pol: (labels == pol) & self.valid[:, None] for pol in POLARITIES}
        self.mentioned = self.polarity["negative"] | self.polarity["neutral"] | self.polarity["positive"]

    def __len__(self) -> int:
        return len(self.frame)

    def effort(self) -> pd.DataFrame | None:
        """Wait minutes, contacts and steps per row (NaN where none was reported, or for noise),
        or None when the file was scored without effort extraction."""
        if not all(c in self.frame.columns for c in EFFORT_VALUE_COLUMNS.values()):
            return None
        values = pd.DataFrame({k: pd.to_numeric(self.frame[c], errors="coerce").astype("float64") for k, c in EFFORT_VALUE_COLUMNS.items()})
        values.loc[~self.valid] = np.nan
        return values

    def rating_values(self, column: str, kind: RatingKind) -> np.ndarray:
        """Per-row value whose mean is the metric: +100/0/-100 for NPS, the rating itself otherwise.

        Blank ratings are missing (NaN); anything else that is not a number, or an NPS
        outside 0-10, is an error naming the lines.
        """
        require_column(self.frame, column, self.source)
        raw = self.frame[column].astype("string").str.strip().replace("", pd.NA)
        numbers = pd.to_numeric(raw.str.replace(",", ".", regex=False), errors="coerce")
        bad = raw.notna() & numbers.isna()
        if kind == "nps":
            bad |= numbers.notna() & ((numbers < 0) | (numbers > 10) | (numbers != numbers.round()))
        if bad.any():
            lines = ", ".join(f"line {i + 2} ({raw[i]!r})" for i in np.flatnonzero(bad.to_numpy())[:5])
            more = f" and {int(bad.sum()) - 5} more" if bad.sum() > 5 else ""
            expected = "an integer 0-10" if kind == "nps" else "a number"
            raise InputFileError(self.source, f"column {column!r}: expected {expected} at {lines}{more}")
        values = numbers.to_numpy(dtype=float)
        if kind == "mean":
            return values
        nps = np.where(values >= 9, 100.0, np.where(values <= 6, -100.0, 0.0))
        nps[np.isnan(values)] = np.nan
        return nps

    def periods(self, column: str, period: PeriodKind) -> pd.Series:
        """Each row's month or ISO week (NaT where the date is blank); bad dates are an error."""
        require_column(self.frame, column, self.source)
        raw = self.frame[column].astype("string").str.strip().replace("", pd.NA)
        dates = pd.to_datetime(raw, errors="coerce", format="mixed")
        bad = raw.notna() & dates.isna()
        if bad.any():
            lines = ", ".join(f"line {i + 2} ({raw[i]!r})" for i in np.flatnonzero(bad.to_numpy())[:5])
            raise InputFileError(self.source, f"column {column!r}: not a date at {lines}")
        if getattr(dates.dt, "tz", None) is not None:
            dates = dates.dt.tz_localize(None)
        return dates.dt.to_period("M" if period == "month" else "W-SUN")

    def segment(self, column: str) -> pd.Series:
        require_column(self.frame, column, self.source)
        return self.frame[column].fillna("").astype(str).str.strip().replace("", "(blank)")


def pillar_scores(m: ScoredComments, mask: np.ndarray | None = None, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per pillar: mentions and their share of comments, polarity counts, net sentiment and a
    0-100 score (50 * (net + 1): 100 all positive, 0 all negative), with intervals."""
    rows = m.valid if mask is None else (m.valid & mask)
    n = int(rows.sum())
    pos = m.polarity["positive"][rows].astype(np.float32)
    neg = m.polarity["negative"][rows].astype(np.float32)
    mentions = m.mentioned[rows].sum(axis=0)
    net = _net(pos.sum(0), neg.sum(0), mentions)
    if n:
        k = len(PILLARS)
        sums = bootstrap_sums(np.hstack([pos, neg, m.mentioned[rows].astype(np.float32)]), n_boot, seed)
        net_lo, net_hi = percentile_interval(_net(sums[:, :k], sums[:, k:2 * k], sums[:, 2 * k:]))
    else:
        net_lo = net_hi = np.full(len(PILLARS), np.nan)
    share_lo, share_hi = wilson_interval(mentions, n)
    return pd.DataFrame({
        "pillar": PILLARS,
        "comments": n,
        "mentions": mentions,
        "mention_share": mentions / n if n else np.nan,
        "mention_share_lo": share_lo,
        "mention_share_hi": share_hi,
        "positive": m.polarity["positive"][rows].sum(0),
        "neutral": m.polarity["neutral"][rows].sum(0),
        "negative": m.polarity["negative"][rows].sum(0),
        "net_sentiment": net,
        "net_sentiment_lo": net_lo,
        "net_sentiment_hi": net_hi,
        "score": 50 * (net + 1),
        "score_lo": 50 * (net_lo + 1),
        "score_hi": 50 * (net_hi + 1),
    })


def _net(pos: np.ndarray, neg: np.ndarray, mentions: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mentions > 0, (pos - neg) / mentions, np.nan)


def cx_index(scores: pd.DataFrame, weights: dict[str, float]) -> dict[str, float]:
    """Weighted mean of the pillar scores (pillars nobody mentioned are left out), with the
    interval from the pillar intervals' weighted means (conservative: assumes they move together)."""
    unknown = set(weights) - set(PILLARS)
    if unknown:
        raise ValueError(f"unknown pillar(s) in weights: {sorted(unknown)}")
    s = scores.set_index("pillar")
    w = pd.Series({p: float(weights.get(p, 0.0)) for p in PILLARS})
    w = w[s["score"].notna() & (w > 0)]
    if w.empty:
        return {"value": float("nan"), "lo": float("nan"), "hi": float("nan")}
    w = w / w.sum()
    return {k: float((s.loc[w.index, col] * w).sum()) for k, col in (("value", "score"), ("lo", "score_lo"), ("hi", "score_hi"))}


def rating_summary(values: np.ndarray, n_boot: int = 1000, seed: int = 0) -> dict[str, float]:
    """Mean of the per-row values (the NPS itself for NPS values) with a bootstrap interval."""
    v = values[~np.isnan(values)]
    if v.size == 0:
        return {"value": float("nan"), "lo": float("nan"), "hi": float("nan"), "n": 0}
    lo, hi = percentile_interval(bootstrap_sums(v, n_boot, seed)[:, 0] / v.size)
    return {"value": float(v.mean()), "lo": float(lo), "hi": float(hi), "n": int(v.size)}


def rating_impact(values: np.ndarray, groups: np.ndarray, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Leave-one-out impact of each group (a column of the boolean matrix `groups`):
    metric(all rated rows) - metric(all rated rows except the group's), with a bootstrap interval.
    For NPS values this is the NPS points the group's comments move the score by."""
    rated = ~np.isnan(values)
    v = values[rated]
    g = groups[rated].astype(np.float32)
    keep = 1.0 - g
    impact = lo = hi = np.full(g.shape[1], np.nan)
    if v.size:
        k = g.shape[1]
        sums = bootstrap_sums(np.hstack([v[:, None], v[:, None] * keep, keep]), n_boot, seed)
        with np.errstate(invalid="ignore", divide="ignore"):
            impact = v.mean() - (v @ keep) / keep.sum(0)
            samples = (sums[:, :1] / v.size) - sums[:, 1:k + 1] / sums[:, k + 1:]
        lo, hi = percentile_interval(samples)
    return pd.DataFrame({"n": g.sum(0).astype(int), "impact": impact, "impact_lo": lo, "impact_hi": hi})


def pillar_impact(m: ScoredComments, values: np.ndarray, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Impact on the rating of the comments mentioning each pillar with each polarity."""
    keys = [(p, pol) for pol in POLARITIES for p in PILLARS]
    groups = np.column_stack([m.polarity[pol][:, PILLARS.index(p)] for p, pol in keys])
    table = rating_impact(values, groups, n_boot, seed)
    table.insert(0, "polarity", [pol for _, pol in keys])
    table.insert(0, "pillar", [p for p, _ in keys])
    return table


def segment_table(m: ScoredComments, segments: dict[str, pd.Series], min_n: int = 30, alpha: float = 0.05) -> pd.DataFrame:
    """Pillar x segment cells: negative-mention rate in the cell against the rest of the data,
    flagged when significantly higher (one-sided z-test, BH-corrected over every cell of every
    segment column) and backed by at least `min_n` comments."""
    neg = m.polarity["negative"]
    net_all = m.polarity["positive"].astype(int) - neg.astype(int)
    rows = []
    for column, values in segments.items():
        for value in sorted(values.unique()):
            in_value = (values == value).to_numpy()
            inside, outside = in_value & m.valid, ~in_value & m.valid
            n_in, n_out = int(inside.sum()), int(outside.sum())
            k_in, k_out = neg[inside].sum(0), neg[outside].sum(0)
            mentions = m.mentioned[inside].sum(0)
            p = proportion_worse_p(k_in, n_in, k_out, n_out)
            for j, pillar in enumerate(PILLARS):
                rows.append({
                    "segment": column, "value": value, "pillar": pillar, "comments": n_in,
                    "negative": int(k_in[j]), "negative_rate": k_in[j] / n_in if n_in else np.nan,
                    "rest_negative_rate": k_out[j] / n_out if n_out else np.nan,
                    "net_sentiment": net_all[inside, j].sum() / mentions[j] if mentions[j] else np.nan,
                    "p_value": float(p[j]) if n_in >= min_n else np.nan,
                })
    table = pd.DataFrame(rows, columns=["segment", "value", "pillar", "comments", "negative", "negative_rate",
                                        "rest_negative_rate", "net_sentiment", "p_value"])
    return _flag_significant(table, "flagged", alpha)


def trend_table(m: ScoredComments, periods: pd.Series, values: np.ndarray | None = None,
                min_n: int = 30, alpha: float = 0.05) -> pd.DataFrame:
    """Per period and pillar: comments, negative rate with interval, net sentiment, the rating,
    and the change from the previous period, flagged `worse` when the rise in negative rate is
    significant (BH-corrected over all period-pillar pairs)."""
    neg = m.polarity["negative"]
    order = sorted(periods.dropna().unique())
    rows = []
    prev = None
    for period in order:
        inside = (periods == period).to_numpy() & m.valid
        n = int(inside.sum())
        k = neg[inside].sum(0)
        mentions = m.mentioned[inside].sum(0)
        pos = m.polarity["positive"][inside].sum(0)
        rated = (periods == period).to_numpy() & ~np.isnan(values) if values is not None else None
        rating = float(values[rated].mean()) if rated is not None and rated.any() else np.nan
        p = proportion_worse_p(k, n, prev[1], prev[0]) if prev and n >= min_n and prev[0] >= min_n else np.full(len(PILLARS), np.nan)
        for j, pillar in enumerate(PILLARS):
            rows.append({
                "period": str(period), "pillar": pillar, "comments": n, "negative": int(k[j]),
                "negative_rate": k[j] / n if n else np.nan,
                "net_sentiment": (pos[j] - k[j]) / mentions[j] if mentions[j] else np.nan,
                "rating": rating,
                "change": (k[j] / n - prev[1][j] / prev[0]) if prev and n and prev[0] else np.nan,
                "p_value": p[j],
            })
        prev = (n, k)
    table = pd.DataFrame(rows, columns=["period", "pillar", "comments", "negative", "negative_rate",
                                        "net_sentiment", "rating", "change", "p_value"])
    return _flag_significant(table, "worse", alpha)


def _flag_significant(table: pd.DataFrame, flag: str, alpha: float) -> pd.DataFrame:
    """Add BH q-values over the tested rows, the `flag` column, and the negative rate's interval."""
    tested = table["p_value"].notna().to_numpy()
    table["q_value"] = np.nan
    table.loc[tested, "q_value"] = benjamini_hochberg(table.loc[tested, "p_value"].to_numpy())
    table[flag] = tested & (table["q_value"] < alpha).to_numpy()
    lo, hi = wilson_interval(table["negative"], table["comments"])
    at = table.columns.get_loc("negative_rate") + 1
    table.insert(at, "negative_rate_lo", lo)
    table.insert(at + 1, "negative_rate_hi", hi)
    return table


@dataclass
class ChangePoint:
    """The period from which a negative rate is significantly higher than before it."""

    since: str
    rate_before: float
    rate_after: float
    p_value: float  # Bonferroni-corrected over the candidate splits


def change_point(hits: np.ndarray, scope: np.ndarray, periods: pd.Series, min_n: int = 30,
                 alpha: float = 0.05) -> ChangePoint | None:
    """The split of the period sequence where `hits` rose most significantly within `scope`."""
    order = sorted(periods.dropna().unique())
    best = None
    tested = 0
    for split in order[1:]:
        after = (periods >= split).to_numpy() & scope
        before = (periods < split).to_numpy() & scope
        n1, n0 = int(after.sum()), int(before.sum())
        if n1 < min_n or n0 < min_n:
            continue
        tested += 1
        k1, k0 = int(hits[after].sum()), int(hits[before].sum())
        p = float(proportion_worse_p(k1, n1, k0, n0))
        if best is None or p < best.p_value:
            best = ChangePoint(str(split), k0 / n0, k1 / n1, p)
    if best is None:
        return None
    best.p_value = min(1.0, best.p_value * tested)
    return best if best.p_value < alpha else None


@dataclass
class Finding:
    """One place where the experience breaks down, with the rows that prove it."""

    pillar: str
    polarity: str
    segment: str | None  # segment column, None for all comments
    value: str | None
    change: ChangePoint | None
    rows: np.ndarray  # indices into the scored frame
    comments_in_scope: int
    rate: float  # negative-mention rate in scope (and period)
    rest_rate: float  # the same rate elsewhere
    impact: float = float("nan")
    impact_lo: float = float("nan")
    impact_hi: float = float("nan")
    quotes: list[str] = field(default_factory=list)

    def record(self) -> dict:
        """Plain values for JSON and CSV."""
        return {
            "pillar": self.pillar, "polarity": self.polarity, "segment": self.segment, "value": self.value,
            "since": self.change.since if self.change else None,
            "rate_before": self.change.rate_before if self.change else None,
            "change_p_value": self.change.p_value if self.change else None,
            "comments": int(self.rows.size), "comments_in_scope": self.comments_in_scope,
            "rate": self.rate, "rest_rate": self.rest_rate,
            "impact": self.impact, "impact_lo": self.impact_lo, "impact_hi": self.impact_hi,
            "quotes": self.quotes,
        }


def find_breakdowns(m: ScoredComments, segments: dict[str, pd.Series], cells: pd.DataFrame,
                    periods: pd.Series | None, values: np.ndarray | None, options: InsightOptions,
                    overlap: float = 0.6) -> list[Finding]:
    """Negative pillar mentions where they concentrate (flagged segment cells) or where they
    rose (a significant change point), ranked by the NPS or rating points their comments
    cost, or by their number when there is no rating. Without dates or segment columns there
    is nothing to locate them by, and every pillar's complaints are a finding. A finding whose
    comments mostly repeat a higher-ranked one for the same pillar is dropped."""
    neg = m.polarity["negative"]
    localisable = periods is not None or bool(options.segment_cols)
    candidates: list[Finding] = []
    for j, pillar in enumerate(PILLARS):
        flagged = cells[(cells["pillar"] == pillar) & cells["flagged"]]
        scopes = [(r.segment, r.value, (segments[r.segment] == r.value).to_numpy()) for r in flagged.itertuples()]
        if not scopes:
            scopes = [(None, None, np.ones(len(m), dtype=bool))]
        for column, value, scope in scopes:
            scope = scope & m.valid
            change = change_point(neg[:, j], scope, periods, options.min_n, options.alpha) if periods is not None else None
            if column is None and change is None and localisable:
                continue  # the same everywhere and always: a level (see the pillar scores), not a breakdown
            in_period = (periods >= pd.Period(change.since)).to_numpy() if change else np.ones(len(m), dtype=bool)
            scope_now = scope & in_period
            rest = m.valid & ~scope_now
            rows = np.flatnonzero(scope_now & neg[:, j])
            candidates.append(Finding(
                pillar, "negative", column, value, change, rows, int(scope_now.sum()),
                rate=rows.size / max(int(scope_now.sum()), 1),
                rest_rate=float(neg[rest, j].sum() / max(int(rest.sum()), 1)),
            ))
    if not candidates:
        return []
    if values is not None:
        groups = np.zeros((len(m), len(candidates)), dtype=bool)
        for i, f in enumerate(candidates):
            groups[f.rows, i] = True
        impact = rating_impact(values, groups, options.n_boot, options.seed)
        for f, row in zip(candidates, impact.itertuples()):
            f.impact, f.impact_lo, f.impact_hi = float(row.impact), float(row.impact_lo), float(row.impact_hi)
        candidates.sort(key=lambda f: (f.impact, -f.rows.size))
    else:
        candidates.sort(key=lambda f: -f.rows.size)
    kept: list[Finding] = []
    for f in candidates:
        earlier = [k for k in kept if k.pillar == f.pillar]
        if any(np.isin(f.rows, k.rows).mean() >= overlap for k in earlier if f.rows.size):
            continue
        kept.append(f)
    return kept


def representative_quotes(texts: Sequence[str], embedder: Embedder, k: int = 4,
                          exclude: frozenset[str] = frozenset(), max_candidates: int = 300, seed: int = 0) -> list[str]:
    """The k distinct texts closest to the centroid of all of them in embedding space,
    skipping those in `exclude` (quoted already for a higher-ranked finding).

    A finding with more than `max_candidates` distinct texts is judged on a seeded sample of
    them: its centroid is the whole's within sampling error, and a window of a million
    responses does not embed them all again to pick four quotes."""
    unique = list(dict.fromkeys(t for t in texts if t.strip()))
    if not unique:
        return []
    if len(unique) > max_candidates:
        picked = np.random.default_rng(seed).choice(len(unique), max_candidates, replace=False)
        unique = [unique[i] for i in np.sort(picked)]
    vectors = embedder.encode(unique)
    closeness = vectors @ vectors.mean(axis=0)
    order = np.argsort(-closeness, kind="stable")
    return [unique[i] for i in order if unique[i] not in exclude][:k]


def rating_gap(values: np.ndarray, group: np.ndarray, n_boot: int = 1000, seed: int = 0) -> dict[str, float]:
    """Mean rating (the NPS, for NPS values) of a group against everyone else, and the
    difference with a bootstrap interval."""
    rated = ~np.isnan(values)
    v, g = values[rated], group[rated].astype(np.float32)
    out = {"n": int(g.sum()), "group": np.nan, "rest": np.nan, "gap": np.nan, "gap_lo": np.nan, "gap_hi": np.nan}
    if 0 < g.sum() < g.size:
        sums = bootstrap_sums(np.column_stack([v * g, g, v * (1 - g), 1 - g]), n_boot, seed)
        with np.errstate(invalid="ignore", divide="ignore"):
            samples = sums[:, 0] / sums[:, 1] - sums[:, 2] / sums[:, 3]
        lo, hi = percentile_interval(samples)
        inside, rest = v[g > 0].mean(), v[g == 0].mean()
        out.update(group=float(inside), rest=float(rest), gap=float(inside - rest), gap_lo=float(lo), gap_hi=float(hi))
    return out


def effort_measures(effort: pd.DataFrame, rows: np.ndarray, n_boot: int = 1000, seed: int = 0) -> dict[str, tuple[float, float, float, int]]:
    """Each effort measure as (value, lo, hi, n) over the comments in `rows`: median and 90th
    percentile wait among comments reporting one (bootstrap intervals), and the shares of comments
    reporting more than one contact and more than three steps (Wilson intervals)."""
    n = int(rows.sum())
    waits = effort.loc[rows, "wait_minutes"].dropna().to_numpy()
    out: dict[str, tuple[float, float, float, int]] = {}
    for name, q in (("median_wait_minutes", 50), ("p90_wait_minutes", 90)):
        if waits.size:
            lo, hi = percentile_interval(bootstrap_percentiles(waits, q, n_boot, seed))
            out[name] = (float(np.percentile(waits, q)), float(lo), float(hi), int(waits.size))
        else:
            out[name] = (np.nan, np.nan, np.nan, 0)
    for group, (column, above) in EFFORT_GROUPS.items():
        k = int((effort.loc[rows, column] > above).sum())
        lo, hi = wilson_interval(k, n)
        out[f"{group}_share"] = (k / n if n else np.nan, float(lo), float(hi), n)
    return out


def effort_table(m: ScoredComments, effort: pd.DataFrame, segments: dict[str, pd.Series], values: np.ndarray | None,
                 n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Effort per segment (and for all comments): the measures above, and the rating of
    comments reporting more than one contact, or more than three steps, against the rest."""
    scopes = [("all", "all", m.valid)]
    scopes += [(col, val, (series == val).to_numpy() & m.valid) for col, series in segments.items() for val in sorted(series.unique())]
    rows = []
    for column, value, inside in scopes:
        row: dict[str, object] = {"segment": column, "value": value, "comments": int(inside.sum())}
        for name, (v, lo, hi, n) in effort_measures(effort, inside, n_boot, seed).items():
            row.update({name: v, f"{name}_lo": lo, f"{name}_hi": hi, f"{name}_n": n})
        if values is not None:
            for name, (count_column, above) in EFFORT_GROUPS.items():
                group = inside & (effort[count_column] > above).to_numpy()
                gap = rating_gap(np.where(inside, values, np.nan), group, n_boot, seed)
                row.update({f"rating_{name}": gap["group"], f"rating_not_{name}": gap["rest"], f"rating_gap_{name}": gap["gap"],
                            f"rating_gap_{name}_lo": gap["gap_lo"], f"rating_gap_{name}_hi": gap["gap_hi"]})
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass
class Insights:
    """Everything the report shows, as tables and findings."""

    options: InsightOptions
    coverage: dict
    scores: pd.DataFrame
    index: dict[str, float]
    rating: dict[str, float] | None
    impact: pd.DataFrame | None
    cells: pd.DataFrame
    trends: pd.DataFrame | None
    findings: list[Finding]
    targets: pd.DataFrame | None = None
    effort: pd.DataFrame | None = None

    def summary(self) -> dict:
        """A JSON-ready digest for BI tools and for the nightly run's change since last time."""
        worse = self.trends[self.trends["worse"]] if self.trends is not None else None
        return {
            "coverage": self.coverage,
            "rating": {"column": self.options.rating_col, "kind": self.options.rating_kind, **self.rating} if self.rating else None,
            "cx_index": {**self.index, "weights": self.options.weights},
            "pillars": self.scores.to_dict(orient="records"),
            "impact": self.impact.to_dict(orient="records") if self.impact is not None else None,
            "flagged_cells": self.cells[self.cells["flagged"]].to_dict(orient="records"),
            "got_worse": worse.to_dict(orient="records") if worse is not None else None,
            "findings": [f.record() for f in self.findings],
            "targets": self.targets.to_dict(orient="records") if self.targets is not None else None,
            "effort": self.effort.to_dict(orient="records") if self.effort is not None else None,
        }

    def digest(self) -> dict:
        """The few headline figures a later run compares itself with ("since the last run")."""
        scores = self.scores.set_index("pillar")["score"]
        return {
            "rows": int(self.coverage["rows"]), "comments": int(self.coverage["comments"]),
            "rating": _finite(self.rating["value"]) if self.rating else None,
            "cx_index": _finite(self.index["value"]),
            "pillars": {p: _finite(scores.get(p, float("nan"))) for p in PILLARS},
            "findings": [finding_key(f) for f in self.findings],
        }


def finding_key(finding: Finding) -> str:
    """Names a finding across runs: the same pillar, polarity and place is the same finding."""
    where = f"{finding.segment}={finding.value}" if finding.segment else "all"
    return f"{finding.pillar}|{finding.polarity}|{where}"


def changes_since(previous: dict, current: dict) -> dict:
    """Measure by measure, the previous digest against this one, and which findings are new or gone."""
    measures = [("rows", previous.get("rows"), current["rows"]), ("rating", previous.get("rating"), current["rating"]),
                ("cx_index", previous.get("cx_index"), current["cx_index"])]
    measures += [(p, previous.get("pillars", {}).get(p), current["pillars"][p]) for p in PILLARS]
    rows = [{"measure": name, "before": before, "now": now,
             "change": now - before if before is not None and now is not None else None}
            for name, before, now in measures if before is not None or now is not None]
    before_findings, now_findings = previous.get("findings", []), current["findings"]
    return {"run_id": previous.get("run_id"), "measures": rows,
            "new_findings": [k for k in now_findings if k not in before_findings],
            "gone_findings": [k for k in before_findings if k not in now_findings]}


def _finite(x: float) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


def build_insights(df: pd.DataFrame, options: InsightOptions, embedder: Embedder | None = None,
                   source: Path | str = "<data frame>") -> Insights:
    """Aggregate a scored frame into scores, impact, segment cells, trends and ranked findings;
    with an embedder, each finding gets its most representative comments as quotes."""
    m = ScoredComments(df, source)
    values = m.rating_values(options.rating_col, options.rating_kind) if options.rating_col else None
    periods = m.periods(options.date_col, options.period) if options.date_col else None
    segment_cols = list(dict.fromkeys([*options.segment_cols, *([LANGUAGE_SEGMENT] if LANGUAGE_SEGMENT in df.columns else [])]))
    segments = {c: m.segment(c) for c in segment_cols}
    effort = m.effort()
    scores = pillar_scores(m, n_boot=options.n_boot, seed=options.seed)
    cells = segment_table(m, segments, options.min_n, options.alpha)
    findings = find_breakdowns(m, segments, cells, periods, values, options)
    if embedder is not None:
        texts = m.frame["cx_text"].fillna("").astype(str).to_numpy()
        quoted: set[str] = set()
        for f in findings:
            f.quotes = representative_quotes(list(texts[f.rows]), embedder, options.n_quotes, frozenset(quoted),
                                             seed=options.seed)
            quoted.update(f.quotes)
    langs = m.frame["cx_lang"].astype(str).value_counts().to_dict() if "cx_lang" in df.columns else {}
    coverage = {
        "rows": len(m), "comments": int(m.valid.sum()), "noise_or_empty": int(len(m) - m.valid.sum()),
        "languages": {k: int(v) for k, v in langs.items()},
        "model_version": sorted(m.frame["cx_model_version"].dropna().astype(str).unique().tolist())
        if "cx_model_version" in df.columns else [],
        "first_period": str(periods.min()) if periods is not None and periods.notna().any() else None,
        "last_period": str(periods.max()) if periods is not None and periods.notna().any() else None,
    }
    return Insights(
        options=options, coverage=coverage, scores=scores, index=cx_index(scores, options.weights),
        rating=rating_summary(values, options.n_boot, options.seed) if values is not None else None,
        impact=pillar_impact(m, values, options.n_boot, options.seed) if values is not None else None,
        cells=cells,
        trends=trend_table(m, periods, values, options.min_n, options.alpha) if periods is not None else None,
        findings=findings,
        targets=target_table(list(options.targets), _target_measure(m, effort, options)) if options.targets else None,
        effort=effort_table(m, effort, segments, values, options.n_boot, options.seed) if effort is not None else None,
    )


def _target_measure(m: ScoredComments, effort: pd.DataFrame | None, options: InsightOptions):
    """A function giving a target's (value, lo, hi, n), with pillar scores computed once per scope."""
    scores: dict[tuple[str, str] | None, pd.DataFrame] = {}

    def scope_mask(target: Target) -> np.ndarray | None:
        return (m.segment(target.scope[0]) == target.scope[1]).to_numpy() if target.scope else None

    def measure(target: Target) -> tuple[float, float, float, int]:
        if target.subject == "effort":
            if effort is None:
                raise CxnlpError(f"target '{target.describe()}': the scored file has no effort columns; score it again")
            mask = scope_mask(target)
            return effort_measures(effort, m.valid if mask is None else m.valid & mask, options.n_boot, options.seed)[target.measure]
        if target.scope not in scores:
            scores[target.scope] = pillar_scores(m, scope_mask(target), options.n_boot, options.seed).set_index("pillar")
        row = scores[target.scope].loc[target.subject]
        if target.measure == "negative_share":
            lo, hi = wilson_interval(row["negative"], row["comments"])
            return float(row["negative"] / row["comments"]) if row["comments"] else np.nan, float(lo), float(hi), int(row["comments"])
        if target.measure == "mention_share":
            return float(row["mention_share"]), float(row["mention_share_lo"]), float(row["mention_share_hi"]), int(row["comments"])
        return float(row[target.measure]), float(row[f"{target.measure}_lo"]), float(row[f"{target.measure}_hi"]), int(row["mentions"])

    return measure
