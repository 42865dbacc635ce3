import pandas as pd
import pytest

from cxnlp.errors import InputFileError, MissingColumnError
from cxnlp.io import read_table, require_column, write_table

ROWS = [["1", "Väntade länge, men löst"], ["002", "Bra; snabbt"], ["3", ""]]


def _csv(path, text, encoding):
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize(
    "sep, encoding",
    [(",", "utf-8"), (";", "utf-8-sig"), ("\t", "utf-16"), (";", "cp1252"), ("|", "utf-8")],
)
def test_csv_dialects_and_encodings_round_trip(tmp_path, sep, encoding):
    lines = [sep.join(["id", "comment"])] + [sep.join([i, f'"{c}"']) for i, c in ROWS]
    df = read_table(_csv(tmp_path / "in.csv", "\r\n".join(lines) + "\r\n", encoding))
    assert df.columns.tolist() == ["id", "comment"]
    assert df.values.tolist() == ROWS  # ids keep leading zeros, empty stays empty
    out = write_table(df, tmp_path / "out.csv")
    assert read_table(out).values.tolist() == ROWS
    assert out.read_text("utf-8-sig").splitlines()[0] == sep.join(["id", "comment"])


def test_excel_and_parquet_round_trip(tmp_path):
    df = pd.DataFrame(ROWS, columns=["id", "comment"])
    for name in ("t.xlsx", "t.parquet"):
        assert read_table(write_table(df, tmp_path / name)).values.tolist() == ROWS


def test_errors_name_the_file_and_line(tmp_path):
    with pytest.raises(InputFileError, match="missing.csv: file not found"):
        read_table(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_bytes("id,comment\n1,ok\n2,".encode() + b"\x81\x8d broken\n")
    with pytest.raises(InputFileError, match=r"bad.csv: cannot decode line 3"):
        read_table(bad)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("id,comment\n1,ok\n2,a,b,c\n", "utf-8")
    with pytest.raises(InputFileError, match=r"ragged.csv: malformed CSV.*line 3"):
        read_table(ragged)
    with pytest.raises(InputFileError, match="unsupported file type"):
        read_table(_csv(tmp_path / "x.json", "{}", "utf-8"))


def test_missing_column_lists_what_is_there(tmp_path):
    df = pd.DataFrame({"id": ["1"], "kommentar": ["bra"]})
    with pytest.raises(MissingColumnError, match=r"in.csv: no column named 'comment'; the file has: id, kommentar"):
        require_column(df, "comment", tmp_path / "in.csv")
