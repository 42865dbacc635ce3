"""The report people read: one self-contained HTML file (plotly.js inlined, no network),
plus `summary.json` and CSV tables for BI tools, written next to it.

Words live in `resources/report/<lang>.json` (English, Swedish, Norwegian), the page
layout in `resources/report/report.html.j2`; this module only turns `Insights` into
figures and sentences.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from jinja2 import Environment, select_autoescape
from plotly.offline import get_plotlyjs

from cxnlp.aggregate import EFFORT_GROUPS, Finding, Insights
from cxnlp.htmlpage import figure_html
from cxnlp.io import atomic_write_text, write_table
from cxnlp.pillars import PILLARS

REPORT_LANGUAGES = ("en", "sv", "no")
RESOURCES = resources.files("cxnlp") / "resources" / "report"
NEGATIVE, POSITIVE, NEUTRAL_GREY = "#c0392b", "#1e8449", "#7f8c8d"


@lru_cache(maxsize=None)
def report_text(lang: str) -> dict:
    """The report's words in one language."""
    if lang not in REPORT_LANGUAGES:
        raise ValueError(f"report language must be one of {', '.join(REPORT_LANGUAGES)}, not {lang!r}")
    return json.loads((RESOURCES / f"{lang}.json").read_text(encoding="utf-8"))


@dataclass
class ReportFiles:
    html: Path
    summary: Path
    tables: list[Path]


class ReportWriter:
    """Renders `Insights` in one language.

    Parameters: `lang` report language (en, sv, no); `source` what the data was, shown on the
    page; `max_findings` how many findings the page shows (all are in findings.csv).
    """

    def __init__(self, lang: str = "en", source: str = "", max_findings: int = 8) -> None:
        self.text = report_text(lang)
        self.source = source
        self.max_findings = max_findings

    # words -----------------------------------------------------------------------------------
    def metric_name(self, insights: Insights) -> str:
        opts = insights.options
        return "NPS" if opts.rating_kind == "nps" else str(opts.rating_col)

    def period_label(self, period: str) -> str:
        """'2026-09' -> 'September 2026'; a weekly period -> 'week 36 of 2026'."""
        p = pd.Period(period)
        if p.freqstr.startswith("M"):
            return f"{self.text['months'][p.month - 1]} {p.year}"
        week = p.start_time.isocalendar()
        return self.text["week"].format(week=week.week, year=week.year)

    def segment_label(self, column: str) -> str:
        return self.text["segment_names"].get(column, column)

    def statement(self, finding: Finding, insights: Insights) -> str:
        """The finding in one plain sentence."""
        t = self.text["finding"]
        pillar = self.text["pillars"][finding.pillar]
        where = t["where"].format(segment=self.segment_label(finding.segment), value=finding.value) if finding.segment else t["everywhere"]
        since = t["since"].format(period=self.period_label(finding.change.since)) if finding.change else ""
        fields = dict(pillar=pillar, pillar_lower=pillar.lower(), where=where, since=since, count=finding.rows.size,
                      metric=self.metric_name(insights))
        if insights.impact is not None and not math.isnan(finding.impact):
            return t["impact"].format(**fields, points=_num(-finding.impact), lo=_num(-finding.impact_hi), hi=_num(-finding.impact_lo))
        return t["volume"].format(**fields)

    def finding_numbers(self, finding: Finding) -> str:
        t = self.text["finding"]
        line = t["numbers"].format(count=finding.rows.size, rate=_pct(finding.rate), rest=_pct(finding.rest_rate))
        if finding.change:
            line += t["rise"].format(before=_pct(finding.change.rate_before), period=self.period_label(finding.change.since))
        return line

    def target_rows(self, insights: Insights) -> list[dict]:
        """The target table in the report's words."""
        if insights.targets is None:
            return []
        t = self.text["targets"]
        rows = []
        for row in insights.targets.itertuples():
            subject = t["effort"] if row.subject == "effort" else self.text["pillars"][row.subject]
            measure = t["measures"].get(row.measure, row.measure.replace("_", " "))
            where = f" · {self.segment_label(row.segment)} {row.value_of_segment}" if row.segment else ""
            rows.append({"measure": f"{subject}: {measure}{where}", "target": row.target, "value": f"{row.value:.3g}",
                         "interval": f"{row.lo:.3g} – {row.hi:.3g}", "n": row.n, "status": row.status,
                         "status_text": t["status"][row.status]})
        return rows

    def change_rows(self, changes: dict | None, insights: Insights) -> dict | None:
        """The comparison with the previous run in the report's words, or None on a first run."""
        if not changes:
            return None
        t = self.text
        labels = {"rows": t["changes"]["rows"], "rating": self.metric_name(insights), "cx_index": t["headline"]["index"],
                  **t["pillars"]}

        def shown(x: float | None, signed: bool = False) -> str:
            return "–" if x is None else (f"{x:+.1f}" if signed else f"{x:.1f}" if isinstance(x, float) else str(x))

        def finding(key: str) -> str:
            pillar, polarity, where = key.split("|")
            place = "" if where == "all" else " · " + " ".join(
                (self.segment_label(where.split("=", 1)[0]), where.split("=", 1)[1]))
            return f"{t['pillars'].get(pillar, pillar)} ({t['polarities'].get(polarity, polarity)}){place}"

        return {"run_id": changes["run_id"],
                "measures": [{"label": labels.get(r["measure"], r["measure"]), "before": shown(r["before"]),
                              "now": shown(r["now"]), "change": shown(r["change"], signed=True)}
                             for r in changes["measures"]],
                "new_findings": [finding(k) for k in changes["new_findings"]],
                "gone_findings": [finding(k) for k in changes["gone_findings"]]}

    def effort_rows(self, insights: Insights) -> list[list[str]]:
        """The effort table in the report's words: value [interval] per measure, per segment."""
        if insights.effort is None:
            return []
        rows = []
        for r in insights.effort.to_dict(orient="records"):
            label = self.text["effort"]["all"] if r["segment"] == "all" else f"{self.segment_label(r['segment'])} {r['value']}"
            cells = [label, str(r["comments"])]
            for name in ("median_wait_minutes", "p90_wait_minutes"):
                cells.append(f"{_num(r[name])} [{_num(r[name + '_lo'])}–{_num(r[name + '_hi'])}] n={r[name + '_n']}")
            for name in (f"{group}_share" for group in EFFORT_GROUPS):
                cells.append(f"{_pct(r[name])} [{_pct(r[name + '_lo'])}–{_pct(r[name + '_hi'])}]")
            if insights.rating is not None:
                for name in EFFORT_GROUPS:
                    cells.append(f"{_num(r['rating_' + name])} vs {_num(r['rating_not_' + name])} "
                                 f"[{_num(r['rating_gap_' + name + '_lo'])}–{_num(r['rating_gap_' + name + '_hi'])}]")
            rows.append(cells)
        return rows

    # figures ---------------------------------------------------------------------------------
    def scores_figure(self, insights: Insights) -> go.Figure:
        s = insights.scores.iloc[::-1]
        names = [self.text["pillars"][p] for p in s["pillar"]]
        fig = go.Figure(go.Scatter(
            x=s["score"], y=names, mode="markers", marker=dict(size=12, color=s["score"], colorscale="RdYlGn", cmin=0, cmax=100),
            error_x=dict(type="data", symmetric=False, array=s["score_hi"] - s["score"], arrayminus=s["score"] - s["score_lo"]),
            customdata=np.column_stack([s["mentions"], s["negative"], s["positive"]]),
            hovertemplate="%{y}: %{x:.0f}<br>n=%{customdata[0]} (−%{customdata[1]} / +%{customdata[2]})<extra></extra>",
        ))
        fig.update_xaxes(range=[0, 100], title=self.text["charts"]["score_axis"])
        return _layout(fig, height=320)

    def impact_figure(self, insights: Insights) -> go.Figure:
        metric = self.metric_name(insights)
        fig = go.Figure()
        for polarity, colour in (("negative", NEGATIVE), ("positive", POSITIVE)):
            part = insights.impact[insights.impact["polarity"] == polarity].iloc[::-1]
            fig.add_bar(
                x=part["impact"], y=[self.text["pillars"][p] for p in part["pillar"]], orientation="h",
                name=self.text["polarities"][polarity], marker_color=colour,
                error_x=dict(type="data", symmetric=False, array=part["impact_hi"] - part["impact"],
                             arrayminus=part["impact"] - part["impact_lo"]),
                customdata=part["n"], hovertemplate="%{y}: %{x:.1f} (n=%{customdata})<extra></extra>",
            )
        fig.update_layout(barmode="group")
        fig.update_xaxes(title=self.text["charts"]["impact_axis"].format(metric=metric), zeroline=True)
        return _layout(fig, height=380)

    def heatmap_figure(self, insights: Insights, segment: str) -> go.Figure:
        cells = insights.cells[insights.cells["segment"] == segment]
        table = cells.pivot(index="pillar", columns="value", values="negative_rate").reindex(PILLARS) * 100
        flags = cells.pivot(index="pillar", columns="value", values="flagged").reindex(PILLARS).fillna(False)
        counts = cells.pivot(index="pillar", columns="value", values="comments").reindex(PILLARS)
        labels = np.where(flags.to_numpy(dtype=bool), table.round(0).astype("Int64").astype(str) + "% ▲",
                          table.round(0).astype("Int64").astype(str) + "%")
        fig = go.Figure(go.Heatmap(
            z=table.to_numpy(), x=[str(c) for c in table.columns], y=[self.text["pillars"][p] for p in PILLARS],
            text=labels, texttemplate="%{text}", colorscale="Reds", zmin=0,
            zmax=max(insights.cells["negative_rate"].max() * 100, 1.0),  # one scale for every segment
            customdata=counts.to_numpy(), colorbar=dict(title=self.text["charts"]["heatmap_colour"]),
            hovertemplate="%{y} × %{x}: %{z:.1f}% (n=%{customdata})<extra></extra>",
        ))
        fig.update_yaxes(autorange="reversed")
        fig.update_layout(title=dict(text=f"{self.segment_label(segment)} — ▲ {self.text['charts']['heatmap_flag']}", font_size=14))
        return _layout(fig, height=360)

    def trend_figure(self, insights: Insights) -> go.Figure:
        trends = insights.trends
        fig = go.Figure()
        for pillar in PILLARS:
            part = trends[trends["pillar"] == pillar]
            fig.add_scatter(x=part["period"], y=part["negative_rate"] * 100, mode="lines+markers",
                            name=self.text["pillars"][pillar], customdata=part["comments"],
                            hovertemplate="%{x}: %{y:.1f}% (n=%{customdata})<extra>%{fullData.name}</extra>")
        if insights.rating is not None:
            per_period = trends.drop_duplicates("period")
            fig.add_scatter(x=per_period["period"], y=per_period["rating"], mode="lines", yaxis="y2",
                            name=self.metric_name(insights), line=dict(color="black", dash="dot"))
            fig.update_layout(yaxis2=dict(title=self.text["charts"]["rating_axis"].format(metric=self.metric_name(insights)),
                                          overlaying="y", side="right", showgrid=False))
        fig.update_layout(yaxis=dict(title=self.text["charts"]["trend_axis"], rangemode="tozero"))
        fig.update_xaxes(type="category")
        return _layout(fig, height=380)

    # output ----------------------------------------------------------------------------------
    def render(self, insights: Insights, table_names: list[str], changes: dict | None = None) -> str:
        """The whole page as one string."""
        t = self.text
        metric = self.metric_name(insights)
        opts = insights.options
        figures = {
            "scores": figure_html(self.scores_figure(insights)),
            "impact": figure_html(self.impact_figure(insights)) if insights.impact is not None else None,
            "segments": [figure_html(self.heatmap_figure(insights, s)) for s in insights.cells["segment"].unique()],
            "trends": figure_html(self.trend_figure(insights)) if insights.trends is not None else None,
        }
        findings = [{"statement": self.statement(f, insights), "numbers": self.finding_numbers(f), "quotes": f.quotes,
                     "pillar": f.pillar} for f in insights.findings[: self.max_findings]]
        more = len(insights.findings) - len(findings)
        worse = []
        if insights.trends is not None:
            for row in insights.trends[insights.trends["worse"]].itertuples():
                worse.append(f"{t['pillars'][row.pillar]}: {_pct(row.negative_rate)} ({self.period_label(row.period)}, "
                             f"{'+' if row.change >= 0 else ''}{row.change * 100:.1f} pp)")
        weights = ", ".join(f"{t['pillars'][p]} {w:g}" for p, w in opts.weights.items())
        methods = [m.format(n_boot=opts.n_boot, weights=weights, alpha=opts.alpha, min_n=opts.min_n, metric=metric)
                   for m in t["methods"]]
        targets = self.target_rows(insights)
        cov = insights.coverage
        period = (f"{self.period_label(cov['first_period'])} – {self.period_label(cov['last_period'])}"
                  if cov.get("first_period") else "")
        return _template().render(
            t=t, metric=metric, figures=figures, findings=findings, more=more, worse=worse, targets=targets, effort=self.effort_rows(insights),
            changes=self.change_rows(changes, insights),
            effort_columns=[c.format(metric=metric) for c in t["effort"]["columns"][: 8 if insights.rating else 6]],
            effort_intro=t["effort"]["intro"].format(metric=metric), methods=methods, coverage=cov,
            period=period, plotly_js=get_plotlyjs(), index=insights.index, rating=insights.rating,
            sections={k: v.format(metric=metric) for k, v in t["sections"].items()},
            generated=t["generated"].format(date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), source=self.source),
            tables=t["tables"].format(files=", ".join(table_names)), num=_num,
        )

    def write(self, insights: Insights, output: Path, changes: dict | None = None) -> ReportFiles:
        """Write the HTML page, `summary.json` and the CSV tables into the page's folder.

        `changes` (from `aggregate.changes_since`) adds the comparison with the previous run."""
        folder = output.parent
        folder.mkdir(parents=True, exist_ok=True)
        tables = {"pillar_scores.csv": insights.scores, "segment_cells.csv": insights.cells,
                  "findings.csv": pd.DataFrame([f.record() for f in insights.findings])}
        if insights.impact is not None:
            tables["impact.csv"] = insights.impact
        if insights.trends is not None:
            tables["trends.csv"] = insights.trends
        if insights.targets is not None:
            tables["targets.csv"] = insights.targets
        if insights.effort is not None:
            tables["effort.csv"] = insights.effort
        written = [write_table(frame, folder / name) for name, frame in tables.items()]
        summary = folder / "summary.json"
        digest = {**insights.summary(), "since_last_run": changes}
        atomic_write_text(summary, json.dumps(_plain(digest), indent=2, ensure_ascii=False))
        atomic_write_text(output, self.render(insights, [p.name for p in written] + [summary.name], changes))
        return ReportFiles(output, summary, written)


def _layout(fig: go.Figure, height: int) -> go.Figure:
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=40), template="plotly_white",
                      font=dict(family="system-ui, sans-serif"), legend=dict(orientation="h", y=-0.2))
    return fig


@lru_cache(maxsize=1)
def _template():
    env = Environment(autoescape=select_autoescape(default=True), trim_blocks=True, lstrip_blocks=True)
    return env.from_string((RESOURCES / "report.html.j2").read_text(encoding="utf-8"))


def _num(x: float) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.1f}"


def _pct(x: float) -> str:
    return "–" if x is None or math.isnan(x) else f"{x * 100:.0f}%"


def _plain(value: object) -> object:
    """JSON-safe values: NumPy scalars to Python, NaN to null (bare NaN is not valid JSON)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
