import pandas as pd
import pytest

from cxnlp.errors import LabelledDataError
from cxnlp.training.data import load_labelled, parse_pillars


def test_parse_pillars():
    assert parse_pillars("empathy:positive; time_and_effort:NEGATIVE") == {
        "empathy": "positive", "time_and_effort": "negative"}
    assert parse_pillars("") == {}
    with pytest.raises(ValueError, match="unknown pillar 'speed'"):
        parse_pillars("speed:negative")
    with pytest.raises(ValueError, match="needs a polarity"):
        parse_pillars("empathy")


def _write(tmp_path, rows, name="l.csv"):
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_problems_are_reported_with_file_line_and_column(tmp_path):
    rows = [
        {"text": "Snabbt", "lang": "sv", "pillars": "time_and_effort:positive", "sentiment": "positive"},
        {"text": "", "lang": "sv", "pillars": "", "sentiment": "neutral"},
        {"text": "Dålig", "lang": "de", "pillars": "empathy:bad", "sentiment": "meh"},
        {"text": "snabbt", "lang": "sv", "pillars": "", "sentiment": "positive"},
    ]
    path = _write(tmp_path, rows)
    with pytest.raises(LabelledDataError) as err:
        load_labelled([path])
    message = str(err.value)
    assert f"{path}:3 [text] empty text" in message
    assert f"{path}:4 [lang] unknown language 'de'" in message
    assert f"{path}:4 [pillars] 'empathy:bad' needs a polarity" in message
    assert f"{path}:4 [sentiment] unknown sentiment 'meh'" in message
    assert f"{path}:5 [text] same text as {path}:2 but different labels" in message
    kept = load_labelled([path], allow_warnings=True)
    assert kept.frame["text"].tolist() == ["Snabbt"]


def test_one_column_per_pillar_is_accepted(tmp_path):
    path = _write(tmp_path, [{"text": "Kind but slow", "lang": "en", "sentiment": "mixed", "empathy": "positive",
                              "time_and_effort": "negative", "integrity": ""}])
    data = load_labelled([path], allow_warnings=True)
    assert data.frame.loc[0, "labels"] == {"empathy": "positive", "time_and_effort": "negative"}
    assert data.Y.tolist() == [[0, 0, 0, 0, 1, 1]]
    assert any("only 0 examples in 'sv'" in str(p) for p in data.problems)
