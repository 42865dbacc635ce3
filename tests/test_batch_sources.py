import csv
import datetime
import json
import tomllib
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from cxnlp.batch.config import SourceMapping, load_batch_config
from cxnlp.batch.sources import COMMENT_COLUMNS, REJECT_COLUMNS, RESPONSE_COLUMNS, read_export
from cxnlp.errors import InputFileError, MissingColumnError
from cxnlp.io import read_table

ROOT = Path(__file__).resolve().parent.parent
PLAIN = SourceMapping(name="nps", id="id", timestamp="when", rating="nps", segments={"region": "region", "channel": "channel"},
                      comments={"why": "why", "else": "else"})
PLAIN_HEADER = ["id", "when", "channel", "region", "nps", "why", "else"]
QUALTRICS_HEADER = [
    ["StartDate", "RecordedDate", "ResponseId", "Q1", "Q2", "Q3", "Q4"],
    ["Start Date", "Recorded Date", "Response ID", "How likely...?", "Why?", "Anything else?", "Channel"],
    ['{"ImportId":"startDate","timeZone":"Europe/Oslo"}', '{"ImportId":"recordedDate"}', '{"ImportId":"_recordId"}',
     '{"ImportId":"QID1"}', '{"ImportId":"QID2_TEXT"}', '{"ImportId":"QID3_TEXT"}', '{"ImportId":"QID4"}'],
]
QUALTRICS = SourceMapping(name="q", preset="qualtrics", rating="Q1", segments={"channel": "Q4"},
                          comments={"why": "Q2", "else": "Q3"})
SURVEYMONKEY_HEADER = [
    ["Respondent ID", "Collector ID", "Start Date", "End Date", "How likely?", "Why?", "Where?", "", "Services?", ""],
    ["", "", "", "", "Response", "Open-Ended Response", "Response", "Other (please specify)", "Mobile", "TV"],
]
SURVEYMONKEY = SourceMapping(name="sm", preset="surveymonkey", rating="How likely?", segments={"region": "Where?"},
                             comments={"why": "Why? | Open-Ended Response", "other": "Where? | Other (please specify)"})


def write_rows(path: Path, rows: list[list[object]], delimiter: str = ",", encoding: str = "utf-8-sig") -> Path:
    """A CSV (as text) or a workbook (typed cells, as a survey tool writes them), by suffix."""
    if path.suffix == ".xlsx":
        workbook = openpyxl.Workbook()
        for row in rows:
            workbook.active.append(row)
        workbook.save(path)
    else:
        with path.open("w", encoding=encoding, newline="") as fh:
            csv.writer(fh, delimiter=delimiter).writerows(rows)
    return path


def read_all(path: Path, mapping: SourceMapping, chunk_rows: int = 1000, max_comment_chars: int = 50):
    chunks = list(read_export(path, mapping, chunk_rows=chunk_rows, max_comment_chars=max_comment_chars))
    frames = [pd.concat([getattr(c, part) for c in chunks], ignore_index=True) for part in ("responses", "comments", "rejected")]
    return chunks, *frames


def test_plain_csv_gives_one_response_per_row_and_one_comment_per_answer(tmp_path):
    path = write_rows(tmp_path / "export.csv", [
        PLAIN_HEADER,
        ["A1", "2026-05-01T10:00:00+02:00", " app ", "Oslo", "9", "  Fast and kind. ", "Thanks!"],
        ["A2", "2026-05-02", "web", "Bergen", "", "", ""],
        ["A3", "2026-05-03 08:15:00", "phone", "Malmö", "7,0", "Line 1\r\nline 2", ""],
    ], delimiter=";")
    chunks, responses, comments, rejected = read_all(path, PLAIN)
    assert list(responses.columns) == list(RESPONSE_COLUMNS) and list(comments.columns) == list(COMMENT_COLUMNS)
    assert rejected.empty and len(chunks) == 1 and (chunks[0].first_row, chunks[0].last_row) == (2, 4)
    assert responses["response_key"].tolist() == ["nps:A1", "nps:A2", "nps:A3"]
    assert responses["response_id"].tolist() == ["A1", "A2", "A3"]
    assert responses["submitted_at"].dtype == "datetime64[ns]"
    assert responses["submitted_at"].tolist() == [pd.Timestamp("2026-05-01 08:00"), pd.Timestamp("2026-05-02"),
                                                  pd.Timestamp("2026-05-03 08:15")]  # the offset became UTC
    assert responses["rating"].iloc[[0, 2]].tolist() == [9.0, 7.0] and pd.isna(responses["rating"].iloc[1])
    assert json.loads(responses["segments"].iloc[0]) == {"channel": "app", "region": "Oslo"}
    assert list(json.loads(responses["segments"].iloc[0])) == ["channel", "region"]  # keys sorted
    assert responses["source_row"].tolist() == [2, 3, 4]
    assert responses["content_hash"].str.fullmatch(r"[0-9a-f]{64}").all()
    # Two answers, one response; the response without answers is kept (its rating counts).
    assert comments.values.tolist() == [["nps:A1", "why", "Fast and kind.", 2], ["nps:A1", "else", "Thanks!", 2],
                                        ["nps:A3", "why", "Line 1\nline 2", 4]]


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_qualtrics_export_uses_its_id_and_date_columns_and_data_starts_on_row_4(tmp_path, suffix):
    path = write_rows(tmp_path / f"q{suffix}", QUALTRICS_HEADER + [
        ["2026-10-01 09:00:00", "2026-10-01 09:05:00", "R_abc", 3, "Slow.\nVery slow.", "", "app"],
        ["2026-10-02 09:00:00", "2026-10-02 09:05:00", "R_def", 10, "Great", "Keep it up", "store"],
    ])
    chunks, responses, comments, rejected = read_all(path, QUALTRICS)
    assert rejected.empty
    assert responses["response_key"].tolist() == ["q:R_abc", "q:R_def"]
    assert responses["submitted_at"].tolist() == [pd.Timestamp("2026-10-01 09:05"), pd.Timestamp("2026-10-02 09:05")]
    assert responses["rating"].tolist() == [3.0, 10.0]
    # A quoted comment spanning two lines is one row: the next response is row 5, as in Excel.
    assert responses["source_row"].tolist() == [4, 5] and chunks[0].first_row == 4
    assert comments.values.tolist() == [["q:R_abc", "why", "Slow.\nVery slow.", 4], ["q:R_def", "why", "Great", 5],
                                        ["q:R_def", "else", "Keep it up", 5]]


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_surveymonkey_export_names_sub_columns_after_their_question(tmp_path, suffix):
    path = write_rows(tmp_path / f"sm{suffix}", SURVEYMONKEY_HEADER + [
        [114520200001, 431902217, "11/03/2026 10:01:00 AM", "11/03/2026 10:15:32 PM", 6, "Queue", "Oslo", "", "Mobile", ""],
        [114520200002, 431902217, "11/04/2026 09:00:00 AM", "11/04/2026 09:03:00 AM", 9, "", "", "Narvik", "", "TV"],
    ])
    chunks, responses, comments, rejected = read_all(path, SURVEYMONKEY)
    assert rejected.empty
    # Typed workbook cells read as typed: no "114520200001.0".
    assert responses["response_key"].tolist() == ["sm:114520200001", "sm:114520200002"]
    assert responses["submitted_at"].tolist() == [pd.Timestamp("2026-11-03 22:15:32"), pd.Timestamp("2026-11-04 09:03")]
    assert responses["source_row"].tolist() == [3, 4]
    assert comments.values.tolist() == [["sm:114520200001", "why", "Queue", 3], ["sm:114520200002", "other", "Narvik", 4]]
    assert [json.loads(s)["region"] for s in responses["segments"]] == ["Oslo", ""]


def test_workbook_date_cells_blank_rows_and_numbers_read_as_a_user_sees_them(tmp_path):
    path = write_rows(tmp_path / "plain.xlsx", [
        PLAIN_HEADER,
        [1001, datetime.datetime(2026, 5, 4, 13, 30), "app", "Oslo", 8.0, "ok"],  # no cells after the last filled one
        [None] * 7,  # a blank row in the middle still counts as a row
        [1002, datetime.date(2026, 5, 5), "web", "Bergen", 10, "fine", "more"],
    ])
    chunks, responses, comments, rejected = read_all(path, PLAIN.model_copy(update={"timestamp_format": "%d.%m.%Y"}))
    assert rejected.empty
    assert responses["response_id"].tolist() == ["1001", "1002"]
    assert responses["submitted_at"].tolist() == [pd.Timestamp("2026-05-04 13:30"), pd.Timestamp("2026-05-05")]
    assert responses["rating"].tolist() == [8.0, 10.0]
    assert responses["source_row"].tolist() == [2, 4]


def test_parquet_export_is_read_as_a_plain_table(tmp_path):
    path = tmp_path / "export.parquet"
    pd.DataFrame({
        "id": [7, 8], "when": pd.to_datetime(["2026-06-01 10:00", "2026-06-02 11:00"]),
        "channel": ["app", None], "region": ["Umeå", "Oslo"], "nps": [4.0, float("nan")],
        "why": ["Crashes", None], "else": [None, "Nice"], "unmapped": [1.5, 2.0],
    }).to_parquet(path)
    chunks, responses, comments, rejected = read_all(path, PLAIN, chunk_rows=1)
    assert rejected.empty and [(c.first_row, c.last_row) for c in chunks] == [(2, 2), (3, 3)]
    assert responses["response_key"].tolist() == ["nps:7", "nps:8"]
    assert responses["submitted_at"].tolist() == [pd.Timestamp("2026-06-01 10:00"), pd.Timestamp("2026-06-02 11:00")]
    assert responses["rating"].iloc[0] == 4.0 and pd.isna(responses["rating"].iloc[1])
    assert json.loads(responses["segments"].iloc[1]) == {"channel": "", "region": "Oslo"}
    assert comments.values.tolist() == [["nps:7", "why", "Crashes", 2], ["nps:8", "else", "Nice", 3]]


def test_each_bad_row_is_rejected_with_its_row_column_and_reason_and_the_rest_goes_on(tmp_path):
    long_comment = "x" * 60
    path = write_rows(tmp_path / "bad.csv", [
        PLAIN_HEADER,
        ["1", "2026-05-01", "app", "Oslo", "9", "fine", ""],  # row 2: good
        ["2", "2026-05-01", "app", "Oslo", "9", "a", "b", "extra"],  # row 3: 8 fields
        ["", "2026-05-01", "app", "Oslo", "9", "no id", ""],  # row 4
        ["4", "", "app", "Oslo", "9", "no date", ""],  # row 5
        ["5", "01/05/2026", "app", "Oslo", "9", "odd date", ""],  # row 6
        ["6", "2026-05-01", "app", "Oslo", "nine", "", ""],  # row 7
        ["7", "2026-05-01", "app", "Oslo", "11", "", ""],  # row 8
        ["8", "2026-05-01", "app", "Oslo", "7.5", "", ""],  # row 9
        ["9", "2026-05-01", "app", "Oslo", "", "ok", long_comment],  # row 10
        ["", "", "", "", "", "", ""],  # row 11: all empty, skipped silently
        ["", "", "store", "", "", "", ""],  # row 12: not all empty, so validated: no id
        ["13", "2026-05-01", "app", "Oslo", "", "", ""],  # row 13: good, no rating (allowed)
    ])
    chunks, responses, comments, rejected = read_all(path, PLAIN)
    assert list(rejected.columns) == list(REJECT_COLUMNS)
    assert responses["source_row"].tolist() == [2, 13]
    found = list(zip(rejected["source_row"], rejected["column"], rejected["reason"]))
    expected = [
        (3, "", "the row has 8 fields, the header has 7"),
        (4, "id", "empty response id"),
        (5, "when", "empty timestamp (expected ISO 8601"),
        (6, "when", "'01/05/2026' is not a timestamp in ISO 8601"),
        (7, "nps", "rating 'nine' is not a number"),
        (8, "nps", "NPS '11' is not a whole number from 0 to 10"),
        (9, "nps", "NPS '7.5' is not a whole number from 0 to 10"),
        (10, "else", "comment is 60 characters, the limit is 50"),
        (12, "id", "empty response id"),
    ]
    assert [(row, column) for row, column, _ in found] == [(row, column) for row, column, _ in expected]
    for (_, _, reason), (_, _, start) in zip(found, expected):
        assert reason.startswith(start), reason
    raw = json.loads(rejected["raw"].iloc[0])
    assert raw["id"] == "2" and raw["column (H)"] == "extra"
    assert len(json.loads(rejected.set_index("source_row").loc[10, "raw"])["else"]) == 60


def test_a_named_timestamp_format_is_quoted_when_a_value_does_not_fit_and_a_mean_rating_takes_any_number(tmp_path):
    path = write_rows(tmp_path / "csat.csv", [["id", "when", "csat", "why"], ["1", "2026-05-01", "4,5", "ok"],
                                              ["2", "01.05.2026", "-2", "ok"]])
    mapping = SourceMapping(name="csat", id="id", timestamp="when", timestamp_format="%d.%m.%Y", rating="csat",
                            rating_kind="mean", comments={"why": "why"})
    _, responses, _, rejected = read_all(path, mapping)
    assert rejected[["source_row", "column", "reason"]].values.tolist() == [
        [2, "when", "'2026-05-01' is not a timestamp in the format %d.%m.%Y"]]
    assert responses["rating"].tolist() == [-2.0]


def test_a_missing_mapped_column_fails_the_file_naming_the_column_the_file_and_what_it_has(tmp_path):
    path = write_rows(tmp_path / "export.csv", [["id", "when", "nps", "comment"], ["1", "2026-05-01", "9", "ok"]])
    with pytest.raises(MissingColumnError, match=r"export.csv: no column named 'why'; the file has: id, when, nps, comment") as err:
        next(read_export(path, PLAIN.model_copy(update={"segments": {}}), chunk_rows=10, max_comment_chars=50))
    assert "comments.why" in str(err.value)


def test_an_undecodable_byte_on_a_late_line_fails_before_any_chunk(tmp_path):
    path = tmp_path / "late.csv"
    lines = ["id,when,nps,why"] + [f"{i},2026-05-01,9,fine" for i in range(5000)]
    path.write_bytes("\n".join(lines).encode() + b"\n5000,2026-05-01,9,bro\x81\x8d ken\n")
    chunks = read_export(path, SourceMapping(name="n", id="id", comments={"why": "why"}), chunk_rows=10, max_comment_chars=50)
    with pytest.raises(InputFileError, match=r"late.csv: cannot decode line 5002 as utf-8 or cp1252"):
        next(chunks)


def test_a_quote_never_closed_fails_the_file_instead_of_swallowing_the_rows_after_it(tmp_path):
    path = tmp_path / "unclosed.csv"
    path.write_text('id,why\n1,"two\nlines"\n2,"never closed\n3,lost?\n4,lost?\n', encoding="utf-8")
    with pytest.raises(InputFileError, match=r"unclosed.csv: row 3: a quoted cell opened here is never closed"):
        next(read_export(path, SourceMapping(name="n", id="id", comments={"why": "why"}), chunk_rows=10, max_comment_chars=50))


@pytest.mark.parametrize(("preset", "rows", "message"), [
    ("plain", [], "the file is empty"),
    ("qualtrics", QUALTRICS_HEADER[:2] + [["2026-10-01 09:00:00", "2026-10-01 09:05:00", "R_abc", "3", "x", "", "app"]],
     r"row 3, column A: expected Qualtrics ImportId JSON.*preset = \"plain\""),
    ("qualtrics", QUALTRICS_HEADER[:2], "has 2 row"),
    ("surveymonkey", [SURVEYMONKEY_HEADER[0], ["114520200001"] + [""] * 9], r"row 2, column A.*preset = \"plain\""),
    ("surveymonkey", [PLAIN_HEADER, PLAIN_HEADER], "no 'Respondent ID' column"),
])
def test_header_rows_not_shaped_as_the_preset_says_fail_the_file(tmp_path, preset, rows, message):
    path = write_rows(tmp_path / "export.csv", rows)
    mapping = SourceMapping(name="x", preset=preset, comments={"why": "Q2"})
    with pytest.raises(InputFileError, match=message):
        next(read_export(path, mapping, chunk_rows=10, max_comment_chars=50))


def test_a_header_without_data_yields_nothing(tmp_path):
    path = write_rows(tmp_path / "empty.csv", [PLAIN_HEADER])
    assert list(read_export(path, PLAIN, chunk_rows=10, max_comment_chars=50)) == []


def test_chunk_boundaries_depend_only_on_the_file_and_chunk_rows(tmp_path):
    rows = [PLAIN_HEADER] + [[str(i), "2026-05-01", "app", "Oslo", "8", f"comment {i}", ""] for i in range(10)]
    rows[3][4] = "x"  # row 4 is rejected
    rows[5] = [""] * 7  # row 6 is blank: skipped, but still occupies its place
    path = write_rows(tmp_path / "export.csv", rows)
    first = list(read_export(path, PLAIN, chunk_rows=4, max_comment_chars=50))
    again = list(read_export(path, PLAIN, chunk_rows=4, max_comment_chars=50))
    assert [(c.first_row, c.last_row) for c in first] == [(2, 5), (6, 9), (10, 11)]
    assert [c.responses["source_row"].tolist() for c in first] == [[2, 3, 5], [7, 8, 9], [10, 11]]
    assert [c.rejected["source_row"].tolist() for c in first] == [[4], [], []]
    for a, b in zip(first, again):
        pd.testing.assert_frame_equal(a.responses, b.responses)
        pd.testing.assert_frame_equal(a.comments, b.comments)
        pd.testing.assert_frame_equal(a.rejected, b.rejected)
    _, whole, _, _ = read_all(path, PLAIN)
    pd.testing.assert_frame_equal(pd.concat([c.responses for c in first], ignore_index=True), whole)


def test_content_hash_ignores_unmapped_columns_and_sees_corrected_answers(tmp_path):
    base = [["A1", "2026-05-01", "app", "Oslo", "9", "Fast", ""], ["A2", "2026-05-02", "web", "Oslo", "3", "Slow", ""]]
    original = write_rows(tmp_path / "original.csv", [PLAIN_HEADER] + base)
    extra = write_rows(tmp_path / "extra.csv", [PLAIN_HEADER + ["Duration"]] + [row + ["120"] for row in base])
    corrected = write_rows(tmp_path / "corrected.csv", [PLAIN_HEADER] + [base[0], base[1][:5] + ["Slow, but solved", ""]])
    rerated = write_rows(tmp_path / "rerated.csv", [PLAIN_HEADER] + [base[0][:4] + ["10"] + base[0][5:], base[1]])
    hashes = {path.stem: read_all(path, PLAIN)[1]["content_hash"].tolist() for path in (original, extra, corrected, rerated)}
    assert hashes["extra"] == hashes["original"]
    assert hashes["corrected"][0] == hashes["original"][0] and hashes["corrected"][1] != hashes["original"][1]
    assert hashes["rerated"][0] != hashes["original"][0] and hashes["rerated"][1] == hashes["original"][1]
    # Without an id a response is known by its content: the key is the hash, so it survives an extra column too.
    no_id = PLAIN.model_copy(update={"id": None})
    keys = [read_all(path, no_id)[1]["response_key"].tolist() for path in (original, extra)]
    assert keys[0] == keys[1] == [f"nps:#{h[:20]}" for h in hashes["original"]]
    assert read_all(original, no_id)[1]["response_id"].tolist() == [None, None]


def test_example_exports_hold_every_example_response_once_plus_the_corrected_reexport():
    config = load_batch_config(ROOT / "data" / "raw" / "cxnlp.toml")
    files = sorted(Path(config.inputs).iterdir())
    read = {}
    for path in files:
        mapping = config.mapping_for(path)
        assert mapping is not None, path
        _, responses, comments, rejected = read_all(path, mapping, config.chunk_rows, config.max_comment_chars)
        assert rejected.empty, rejected.head()
        read[path.name] = responses
    example = read_table(ROOT / "data" / "raw" / "example_survey_export.csv")
    with (Path(config.inputs) / "qualtrics_2026-10_corrected.csv").open(encoding="utf-8-sig", newline="") as fh:
        corrected_rows = sum(1 for _ in csv.reader(fh)) - 3
    assert sum(len(r) for r in read.values()) == len(example) + corrected_rows
    originals = pd.concat([r for name, r in read.items() if "corrected" not in name])
    assert originals["response_key"].is_unique and len(originals) == len(example)
    corrected = read["qualtrics_2026-10_corrected.csv"].merge(read["qualtrics_2026-10.csv"], on="response_key")
    assert len(corrected) == corrected_rows  # every re-exported response is one already seen
    changed = (corrected["content_hash_x"] != corrected["content_hash_y"]).sum()
    assert 0 < changed < corrected_rows  # some corrected, the rest unchanged duplicates


def test_the_readme_shows_the_mappings_the_example_config_uses():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Export mappings"):]
    example = section[section.index("```toml") + len("```toml"):section.index("```\n", section.index("```toml") + 7)]
    with (ROOT / "data" / "raw" / "cxnlp.toml").open("rb") as fh:
        config = tomllib.load(fh)
    assert tomllib.loads(example)["batch"]["sources"] == config["batch"]["sources"]


def test_an_id_repeated_in_one_file_gives_two_responses_whose_comments_keep_their_row(tmp_path):
    """Duplicates are the runner's to resolve; it needs to know which row each comment came from."""
    path = write_rows(tmp_path / "dup.csv", [PLAIN_HEADER, ["A1", "2026-05-01", "app", "Oslo", "9", "first", ""],
                                             ["A1", "2026-05-01", "app", "Oslo", "9", "second", ""]])
    _, responses, comments, _ = read_all(path, PLAIN)
    assert responses["response_key"].tolist() == ["nps:A1", "nps:A1"]
    assert comments[["text", "source_row"]].values.tolist() == [["first", 2], ["second", 3]]
