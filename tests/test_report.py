"""The report as its readers get it: a page that draws offline, in their language, with
tables beside it; and the `cxnlp report` command's errors."""

import json
import re
import shutil

import pandas as pd
import pytest
from plotly.offline import get_plotlyjs
from typer.testing import CliRunner

from conftest import ROOT, HashingEmbedder, scored_frame
from cxnlp.aggregate import InsightOptions, build_insights
from cxnlp.cli import app
from cxnlp.report import ReportWriter

OPTIONS = InsightOptions(rating_col="nps", date_col="submitted_at", segment_cols=("channel", "journey"), n_boot=200)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOT = ROOT / "out" / "report_screenshot.png"


@pytest.fixture(scope="module")
def insights():
    return build_insights(scored_frame(), OPTIONS, HashingEmbedder())


def test_statement_names_pillar_segment_period_and_cost_in_swedish(insights):
    writer = ReportWriter("sv")
    text = writer.statement(insights.findings[0], insights)
    top = insights.findings[0]
    assert text.startswith("Klagomål på tid och ansträngning i channel app sedan september 2026 kostar ")
    assert f"{-top.impact:.1f} NPS-poäng ({-top.impact_hi:.1f} till {-top.impact_lo:.1f})" in text


def test_write_produces_page_summary_and_tables(tmp_path, insights):
    files = ReportWriter("no").write(insights, tmp_path / "rapport.html")
    html = files.html.read_text("utf-8")
    assert '<html lang="nb">' in html and "Hvor kundeopplevelsen svikter" in html
    own_markup = html.replace(get_plotlyjs(), "")  # the library's bundle mentions its home page in strings
    assert get_plotlyjs() in html and not re.search(r'(src|href)="https?://', own_markup)
    summary = json.loads(files.summary.read_text("utf-8"), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert summary["findings"][0]["pillar"] == "time_and_effort"
    assert summary["coverage"]["rows"] == 3000
    assert {p.name for p in files.tables} == {"pillar_scores.csv", "segment_cells.csv", "findings.csv", "impact.csv", "trends.csv", "effort.csv"}
    assert 'id="effort"' in html and "Innsats kundene beskriver" in html
    cells = pd.read_csv(tmp_path / "segment_cells.csv")
    assert cells["flagged"].sum() == 1


def test_cli_report_end_to_end_and_bad_column(tmp_path):
    scored = tmp_path / "scored.csv"
    scored_frame(n=600).to_csv(scored, index=False)
    out = tmp_path / "r" / "report.html"
    runner = CliRunner()
    ok = runner.invoke(app, ["report", str(scored), "-o", str(out), "--date-col", "submitted_at", "--nps-col", "nps",
                             "-s", "channel", "--no-quotes", "--lang", "en"])
    assert ok.exit_code == 0, ok.output
    assert out.is_file() and (out.parent / "summary.json").is_file()
    bad = runner.invoke(app, ["report", str(scored), "-o", str(out), "--nps-col", "rating", "--no-quotes"])
    assert bad.exit_code == 2
    assert "no column named 'rating'" in bad.stderr


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian package `chromium`)")
def test_report_draws_in_headless_chromium_without_errors(tmp_path, insights):
    sync_api = pytest.importorskip("playwright.sync_api")
    files = ReportWriter("en").write(insights, tmp_path / "report.html")
    errors, requests = [], []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("request", lambda req: requests.append(req.url) if not req.url.startswith(("file:", "data:")) else None)
        page.goto(files.html.as_uri())
        assert page.locator("#effort table tr").count() == 1 + 1 + 4 + 3 + 3  # header, all, channels, journeys, languages
        expected = 1 + 1 + 3 + 1  # scores, impact, three segment heatmaps (channel, journey, language), trends
        page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {expected}", timeout=20000)
        drawn = page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')].map(
            el => el.querySelectorAll('.scatterlayer .trace, .barlayer .trace, .heatmaplayer image, .hm image').length)""")
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        browser.close()
    assert len(drawn) == expected
    assert all(n > 0 for n in drawn), drawn
    assert errors == [] and requests == []
