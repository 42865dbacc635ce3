"""Self-contained HTML pages: one file an analyst can mail or open offline, with plotly.js
inlined once (never fetched from a CDN) however many figures the page holds."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    import plotly.graph_objects as go

PLOTLY_MARKER = 'class="plotly-graph-div"'
STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 70rem;
       padding: 0 1rem; color: #1f2933; line-height: 1.45; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2rem; border-bottom: 1px solid #d9e2ec; }
table { border-collapse: collapse; margin: 0.75rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #d9e2ec; padding: 0.3rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f0f4f8; }
.note { color: #52606d; font-size: 0.9rem; }
"""


def page(title: str, body_html: str) -> str:
    """A complete HTML document; plotly.js is embedded only if the body holds a plotly figure."""
    script = ""
    if PLOTLY_MARKER in body_html:
        from plotly.offline import get_plotlyjs

        script = f'<script type="text/javascript">{get_plotlyjs()}</script>'
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n{script}\n</head>\n"
            f"<body>\n<h1>{html.escape(title)}</h1>\n{body_html}\n</body>\n</html>\n")


def figure_html(fig: "go.Figure") -> str:
    """A figure as a `<div>` that relies on the plotly.js that `page` inlines."""
    return fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False, "responsive": True})


def table_html(rows: Sequence[Sequence[object]]) -> str:
    """First row is the header; every cell is escaped."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows[1:])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
