"""The HTML page of `cxnlp evaluate --html`: the same tables as the terminal, a reliability plot
and the pillar confusion as a heatmap, in one self-contained file."""

from __future__ import annotations

import html

import plotly.graph_objects as go

from cxnlp.htmlpage import figure_html, page, table_html
from cxnlp.training.benchmark import baseline_rows, confusion_rows
from cxnlp.training.evaluate import per_pillar_rows, summary_rows


def reliability_figure(metrics: dict) -> go.Figure:
    """Predicted pillar probability against how often the pillar was really there, per language."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated",
                             line={"dash": "dash", "color": "#9aa5b1"}))
    for lang, m in metrics.items():
        curve = m["calibration"]["pillar_reliability"]
        fig.add_trace(go.Scatter(
            x=[b["mean_prob"] for b in curve], y=[b["frequency"] for b in curve], mode="lines+markers",
            name=f"{lang} (ECE {m['calibration']['pillar_ece']:.3f})",
            text=[f"n={b['n']}" for b in curve], hovertemplate="predicted %{x:.2f}, observed %{y:.2f}, %{text}"))
    fig.update_layout(xaxis_title="predicted probability of a pillar", yaxis_title="observed frequency",
                      height=460, margin={"t": 30}, xaxis={"range": [0, 1]}, yaxis={"range": [0, 1]})
    return fig


def confusion_figure(confusion: dict) -> go.Figure:
    labels = confusion["labels"]
    fig = go.Figure(go.Heatmap(z=confusion["matrix"], x=labels, y=labels, colorscale="Blues",
                               hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>"))
    fig.update_layout(xaxis_title="predicted", yaxis_title="true", yaxis={"autorange": "reversed"},
                      height=480, margin={"t": 30})
    return fig


def render_evaluation(result: dict) -> str:
    metrics = result["metrics"]
    parts = [f'<p class="note">Model <code>{html.escape(result["model"])}</code>; {html.escape(result["protocol"])}; '
             f'data sha256 <code>{result["data_hash"][:16]}</code>.</p>',
             "<h2>Headline</h2>", table_html(summary_rows(metrics))]
    if result["baselines"]:
        parts += ["<h2>Against baselines (pillar macro-F1)</h2>",
                  '<p class="note">Baselines fitted and measured in this run on the same comments.</p>',
                  table_html(baseline_rows(result))]
    parts += ["<h2>Per pillar</h2>", table_html(per_pillar_rows(metrics)),
              "<h2>Calibration</h2>",
              '<p class="note">Each point is a bin of predicted pillar probabilities; on the diagonal the '
              "probabilities mean what they say. ECE: the bins' average distance from the diagonal, "
              "weighted by their size.</p>", figure_html(reliability_figure(metrics)),
              "<h2>Which pillar is mistaken for which</h2>",
              '<p class="note">Rows: the labelled pillar; columns: what the model said instead. The diagonal '
              "counts pillars found; <code>(none)</code> means a pillar missed with nothing in its place, or "
              "predicted where nothing was missed.</p>",
              figure_html(confusion_figure(metrics["all"]["confusion"])), table_html(confusion_rows(result))]
    if "fold_macro_f1" in result:
        parts += ["<h2>Per fold (pillar macro-F1)</h2>",
                  table_html([["method", *(f"fold {i + 1}" for i in range(len(result["fold_macro_f1"]["model"])))],
                              *([name, *(f"{v:.3f}" for v in values)] for name, values in result["fold_macro_f1"].items())])]
    return page(f"cxnlp evaluation: {result['model']}", "\n".join(parts))
