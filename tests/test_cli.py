"""The `cxnlp` command as a user runs it: files in, files out, clear errors and exit codes."""

import pandas as pd
from typer.testing import CliRunner

from cxnlp import OUTPUT_COLUMNS
from cxnlp.cli import app

runner = CliRunner()


def test_missing_input_file_exits_2_naming_it(tmp_path):
    result = runner.invoke(app, ["score", str(tmp_path / "nope.csv"), "-o", str(tmp_path / "o.csv")])
    assert result.exit_code == 2
    assert "nope.csv: file not found" in result.stderr


def test_missing_text_column_exits_2_listing_columns(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("id;svar_text\n1;bra\n", "utf-8")
    result = runner.invoke(app, ["score", str(path), "-o", str(tmp_path / "o.csv"), "--text-col", "comment"])
    assert result.exit_code == 2
    assert "no column named 'comment'; the file has: id, svar_text" in result.stderr


def test_score_semicolon_csv_end_to_end(tmp_path, real_pipeline):
    path = tmp_path / "survey.csv"
    rows = ["id;kanal;kommentar", "1;telefon;Trevlig personal men jag väntade 40 minuter i telefonkön",
            '2;chat;"Hei, fikk aldri svar på e-posten min; veldig skuffet"', "3;app;-",
            "4;store;The staff were lovely and sorted out my refund straight away"]
    path.write_bytes(("\r\n".join(rows) + "\r\n").encode("utf-8-sig"))
    out = tmp_path / "scored.xlsx"
    result = runner.invoke(app, ["score", str(path), "-o", str(out), "--text-col", "kommentar", "--quiet"])
    assert result.exit_code == 0, result.stderr
    scored = pd.read_excel(out, dtype=str, keep_default_na=False)
    assert scored.columns.tolist() == ["id", "kanal", "kommentar", *OUTPUT_COLUMNS]
    assert scored["id"].tolist() == ["1", "2", "3", "4"]
    assert scored["cx_lang"].tolist() == ["sv", "no", "und", "en"]
    assert scored.loc[2, "cx_noise"] == "True" and scored.loc[2, "cx_pillars"] == ""
    first = scored.loc[0]
    assert first["cx_empathy_sentiment"] == "positive"
    assert first["cx_time_and_effort_sentiment"] == "negative"


def test_score_quiet_prints_only_the_output_path_even_on_the_torch_backend(tmp_path, real_pipeline):
    """A script that captures `cxnlp score -q` gets the path and nothing else: no weights bar, no
    library notices (the torch backend is where transformers and sentence-transformers print them)."""
    import os
    import subprocess
    import sys

    path, out = tmp_path / "in.csv", tmp_path / "out.csv"
    path.write_text("comment\nVäntade länge i kön\nFriendly staff\n", "utf-8")
    env = {**os.environ, "CXNLP_BACKEND": "torch", "CXNLP_CACHE_DIR": ""}
    done = subprocess.run([sys.executable, "-m", "cxnlp", "score", str(path), "-o", str(out), "-q"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == (f"{out}\n", "")
