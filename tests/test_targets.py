"""Targets: misses alert only when the interval says so; config errors name the key."""

import pytest
from typer.testing import CliRunner

from conftest import scored_frame
from cxnlp.aggregate import EFFORT_MEASURES, InsightOptions, build_insights
from cxnlp.cli import app
from cxnlp.targets import AT_RISK, MET, MISSED, Target, TargetConfigError, parse_target_spec, target_status, targets_from_config

TARGETS_TOML = """
[targets.pillars]
empathy = { negative_share = "<= 10%" }

[targets.effort]
over_three_steps_share = "<= 1%"
median_wait_minutes = "<= 200"

[targets.segments."channel=app".pillars]
time_and_effort = { negative_share = "<= 15%" }
"""


def test_spec_parsing():
    assert parse_target_spec("<= 15%", "x") == ("<=", 0.15)
    assert parse_target_spec(">=0,2", "x") == (">=", 0.2)
    with pytest.raises(TargetConfigError, match="x: target 'about 3'"):
        parse_target_spec("about 3", "x")


def test_status_uses_the_interval():
    target = Target("empathy", "net_sentiment", ">=", 0.2)
    assert target_status(target, 0.25, 0.1, 0.4) == MET
    assert target_status(target, 0.15, 0.05, 0.3) == AT_RISK  # misses, but 0.2 is inside the interval
    assert target_status(target, 0.05, -0.05, 0.15) == MISSED


def test_config_errors_name_the_key():
    with pytest.raises(TargetConfigError, match=r"cxnlp.toml \[targets\].pillars: 'speed' is not a pillar"):
        targets_from_config({"targets": {"pillars": {"speed": {"score": ">= 50"}}}}, "cxnlp.toml")
    with pytest.raises(TargetConfigError, match="unknown measure 'nps'"):
        targets_from_config({"targets": {"pillars": {"empathy": {"nps": ">= 50"}}}}, "cxnlp.toml")
    with pytest.raises(TargetConfigError, match="must be 'column=value'"):
        targets_from_config({"targets": {"segments": {"app": {}}}}, "cxnlp.toml")


def test_planted_miss_is_missed_and_level_target_is_met():
    import tomllib

    targets = targets_from_config(tomllib.loads(TARGETS_TOML), "t.toml", EFFORT_MEASURES)
    table = build_insights(scored_frame(), InsightOptions(n_boot=200, targets=tuple(targets))).targets
    by_subject = table.set_index("subject")
    effort = table[table["subject"] == "effort"].set_index("measure")
    assert effort.loc["over_three_steps_share", "status"] == MISSED  # about 6% planted
    assert effort.loc["median_wait_minutes", "status"] == MET
    assert by_subject.loc["empathy", "status"] == MET  # 8% everywhere
    app = by_subject.loc["time_and_effort"]
    assert app["status"] == MISSED and app["lo"] > 0.15 and app["segment"] == "channel"


def test_cli_report_prints_alert_and_exits_3(tmp_path):
    scored = tmp_path / "scored.csv"
    scored_frame().to_csv(scored, index=False)
    config = tmp_path / "cxnlp.toml"
    config.write_text(TARGETS_TOML, "utf-8")
    result = CliRunner().invoke(app, ["report", str(scored), "-o", str(tmp_path / "r.html"), "--no-quotes",
                                      "--targets", str(config), "-q"])
    assert result.exit_code == 3
    alerts = [line for line in result.stderr.splitlines() if line.startswith("TARGET MISSED")]
    assert len(alerts) == 2 and "effort over_three_steps_share <= 0.01" in alerts[0]
    assert "time_and_effort negative_share in channel=app <= 0.15" in alerts[1]
    assert (tmp_path / "targets.csv").is_file()
