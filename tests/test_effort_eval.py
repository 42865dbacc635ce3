"""Effort evaluation: the measure itself on a hand-computed example, the labelled-file
checks, and the `cxnlp evaluate-effort` command."""

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cxnlp.cli import app
from cxnlp.errors import LabelledDataError
from cxnlp.training.effort_eval import effort_metrics, load_effort_set

nan = np.nan


def test_metrics_on_a_hand_computed_example():
    gold = pd.DataFrame({
        "lang": ["sv", "sv", "sv", "en"],
        "wait_minutes": [60, 100, nan, 30],
        "contacts": [3, nan, 2, nan],
        "steps": [nan, nan, nan, nan],
    })
    predicted = pd.DataFrame({
        "cx_wait_minutes": [65, 120, 10, nan],  # 65 within 10% of 60; 120 is 20% off; 10 where none
        "cx_contacts": pd.array([3, pd.NA, 3, pd.NA], dtype="Int64"),  # counts must be exact
        "cx_steps": pd.array([pd.NA] * 4, dtype="Int64"),
    })
    m = effort_metrics(gold, predicted)
    sv_wait = m["sv"]["wait_minutes"]
    # predicted 3, of which 1 right -> P = 1/3; labelled 2, of which 1 found -> R = 1/2
    assert (sv_wait["tp"], sv_wait["predicted"], sv_wait["support"]) == (1, 3, 2)
    assert sv_wait["precision"] == pytest.approx(1 / 3, abs=1e-4) and sv_wait["recall"] == 0.5
    assert (m["sv"]["contacts"]["precision"], m["sv"]["contacts"]["recall"]) == (0.5, 0.5)
    assert m["en"]["wait_minutes"]["recall"] == 0.0 and m["en"]["wait_minutes"]["support"] == 1
    assert m["all"]["wait_minutes"]["tp"] == 1 and m["all"]["wait_minutes"]["support"] == 3
    assert m["all"]["n"] == 4 and m["all"]["steps"]["support"] == 0


def test_bad_labelled_values_are_reported_with_file_line_and_column(tmp_path):
    path = tmp_path / "effort.csv"
    path.write_text("text,lang,wait_minutes,contacts,steps,split\n"
                    "Väntat 3 timmar,sv,180,,,dev\n"
                    "Ringt fire ganger,no,,fire,,test\n"
                    "Called twice,en,,2,,train\n", "utf-8")
    with pytest.raises(LabelledDataError) as err:
        load_effort_set([path])
    message = str(err.value)
    assert f"{path}:3 [contacts] 'fire' is not a positive number" in message
    assert f"{path}:4 [split] unknown split 'train'" in message


def test_evaluate_effort_command_prints_per_language_table(tmp_path):
    path = tmp_path / "effort.csv"
    path.write_text("text,lang,wait_minutes,contacts,steps,split\n"
                    "Väntade 40 minuter i telefonkön och fick ringa tre gånger,sv,40,3,,test\n"
                    "Had to fill in the same form twice,en,,,2,test\n"
                    "Great staff,en,,,,dev\n", "utf-8")
    result = CliRunner().invoke(app, ["evaluate-effort", str(path), "--labelled-lang"])
    assert result.exit_code == 0, result.output
    assert "2 comments" in result.stdout
    rows = [line for line in result.stdout.splitlines() if "│ sv" in line and "contacts" in line]
    assert len(rows) == 1 and "1.000" in rows[0]


def test_evaluate_effort_rejects_unknown_split(tmp_path):
    result = CliRunner().invoke(app, ["evaluate-effort", "--split", "train"])
    assert result.exit_code == 2
    assert "is not one of test, dev, all" in result.output
