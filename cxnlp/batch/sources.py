"""Read survey exports (CSV, XLSX, Parquet; plain, Qualtrics- or SurveyMonkey-shaped) into validated chunks.

A nightly run must never lose or double-count a response, so a file is read in two steps.
First the file as a whole is checked (it decodes to the last byte, every CSV quote closes,
it has the header rows its preset promises and every mapped column) and fails with
`InputFileError` before anything is yielded. Then its rows stream in chunks with fixed boundaries: each row is either accepted
(normalised and hashed) or rejected with its row number, column and reason. Only rows whose
every cell is empty are skipped.

Row numbers are the ones a user sees when opening the file in Excel or LibreOffice: header
rows count, so the first data row of a plain file is row 2 and of a Qualtrics file row 4. In
a CSV whose quoted cells span several lines a row is a record, not a line of text. A Parquet
file is numbered as a plain file (its column names are row 1).
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import itertools
import json
import math
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl.utils import get_column_letter

from cxnlp.batch.config import SourceMapping
from cxnlp.errors import InputFileError, MissingColumnError
from cxnlp.io import CSV_SUFFIXES, EXCEL_SUFFIXES, PARQUET_SUFFIXES, detect_encoding, sniff_delimiter

RESPONSE_COLUMNS = ("response_key", "response_id", "submitted_at", "rating", "segments", "content_hash", "source_row")
COMMENT_COLUMNS = ("response_key", "question", "text", "source_row")  # source_row: tells apart a key repeated in a chunk
REJECT_COLUMNS = ("source_row", "column", "reason", "raw")
RAW_CELL_CHARS = 200  # each cell of a rejected row is kept this long, enough to find and fix it
# A cell this long is not a survey answer but an unclosed quote swallowing the rest of the file.
MAX_CSV_CELL_CHARS = 64 * 1024 * 1024
ISO_8601 = "ISO 8601 (2026-05-01, 2026-05-01T10:18:47 or with an offset, +02:00)"
DECIMAL_COMMA = r"^\s*([+-]?\d+),(\d+)\s*$"  # 7,5 as a Nordic spreadsheet writes 7.5


@dataclass
class ExportChunk:
    """Rows first_row..last_row of one export: accepted responses, their comments, and rejected rows."""

    first_row: int
    last_row: int
    responses: pd.DataFrame
    comments: pd.DataFrame
    rejected: pd.DataFrame


@dataclass(frozen=True)
class ExportShape:
    """What a survey tool's export looks like: its header rows, and the columns it names id and time."""

    header_rows: int
    column_names: Callable[[Path, list[list[str]]], list[str]]
    id: str | None = None
    timestamp: str | None = None
    timestamp_format: str | None = None


def read_export(path: Path, mapping: SourceMapping, *, chunk_rows: int, max_comment_chars: int) -> Iterator[ExportChunk]:
    """Validate the whole file's structure first, then yield chunks of `chunk_rows` data rows in file order.

    Chunk k holds data rows k*chunk_rows to (k+1)*chunk_rows - 1, rejected and blank ones
    included, so a rerun over the same file yields the same chunks. A file with a header and
    no data yields nothing. Raises InputFileError (naming the file, and the row and column
    where there is one) before the first chunk when the file cannot be used as a whole. The
    one failure that can come later is a CSV the csv module cannot parse past some row (a
    cell over 64 M characters: an unclosed quote); it names that row.
    """
    path = Path(path)
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    try:
        rows, typed = _open_rows(path, mapping)
        with closing(rows):
            shape = PRESETS["plain" if path.suffix.lower() in PARQUET_SUFFIXES else mapping.preset]
            header = _read_header(path, rows, shape)
            layout = _Layout.resolve(path, mapping, header, typed)
            numbered = enumerate(rows, shape.header_rows + 1)
            while batch := list(itertools.islice(numbered, chunk_rows)):
                yield layout.chunk(batch, max_comment_chars)
    except OSError as err:
        raise InputFileError(path, f"cannot read the file ({err.strerror or err}).") from err


def cell_text(value: object) -> str:
    """A typed cell (XLSX, Parquet) as the user typed it: 7 not 7.0, dates in ISO 8601, nothing for empty."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    return str(value)


def _open_rows(path: Path, mapping: SourceMapping) -> tuple[Iterator[list[str]], bool]:
    """The file's rows as lists of cell text, and whether its cells were typed (a workbook, Parquet)."""
    if not path.is_file():
        raise InputFileError(path, "file not found.")
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return _csv_rows(path, mapping), False
    if suffix in EXCEL_SUFFIXES:
        return _xlsx_rows(path), True
    if suffix in PARQUET_SUFFIXES:
        return _parquet_rows(path), True
    raise InputFileError(path, f"unsupported file type {suffix!r}; use .csv, .tsv, .txt, .xlsx or .parquet.")


def _csv_rows(path: Path, mapping: SourceMapping) -> Iterator[list[str]]:
    encoding = detect_encoding(path, mapping.encoding)  # reads the whole file once, cheaply
    csv.field_size_limit(max(csv.field_size_limit(), MAX_CSV_CELL_CHARS))
    with path.open(encoding=encoding, newline="") as fh:
        first_line = fh.readline()
    if not first_line:
        return  # empty, or nothing but a byte-order mark
    delimiter = mapping.delimiter or sniff_delimiter(first_line.rstrip("\r\n"), path.suffix.lower())
    _refuse_unclosed_quote(path, encoding, delimiter)
    with path.open(encoding=encoding, newline="") as fh:
        row = 0
        try:
            for row, cells in enumerate(csv.reader(fh, delimiter=delimiter), 1):
                yield cells
        except csv.Error as err:
            raise InputFileError(path, f"row {row + 1}: cannot parse the CSV any further ({err}).") from err


def _refuse_unclosed_quote(path: Path, encoding: str, delimiter: str) -> None:
    """Fail on a quote that is never closed: the csv module would silently read every later row into that cell.

    A strict parse of the whole file finds it; other strictness errors (`"a"b`) are left to
    the lenient reading, which makes `ab` of it as `score` does.
    """
    with path.open(encoding=encoding, newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter, strict=True)
        row = 0
        while True:
            row += 1
            try:
                next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                if "unexpected end of data" in str(err):  # CPython's message for end of file inside quotes
                    raise InputFileError(
                        path, f"row {row}: a quoted cell opened here is never closed, so every row after it "
                              "would be read as part of it; close the quote or remove it.") from err


def _xlsx_rows(path: Path) -> Iterator[list[str]]:
    """The first worksheet's rows; read-only mode streams them instead of loading the workbook."""
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as err:  # openpyxl raises many types for a file that is not a workbook
        raise InputFileError(path, f"cannot read as an Excel workbook ({err}).") from err
    try:
        for values in workbook.worksheets[0].iter_rows(values_only=True):
            yield [cell_text(value) for value in values]
    finally:
        workbook.close()


def _parquet_rows(path: Path, batch_rows: int = 10_000) -> Iterator[list[str]]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as err:  # pyarrow raises ArrowInvalid, OSError, ... for a file that is not Parquet
        raise InputFileError(path, f"cannot read as Parquet ({err}).") from err
    try:
        yield list(parquet.schema_arrow.names)
        for batch in parquet.iter_batches(batch_size=batch_rows):
            columns = [[cell_text(value) for value in column.to_pylist()] for column in batch.columns]
            yield from map(list, zip(*columns))
    finally:
        parquet.close()


def _read_header(path: Path, rows: Iterator[list[str]], shape: ExportShape) -> list[str]:
    header = list(itertools.islice(rows, shape.header_rows))
    if not header or not any(cell.strip() for cell in header[0]):
        raise InputFileError(path, "the file is empty." if not header else "row 1 is empty; it must name the columns.")
    if len(header) < shape.header_rows:
        raise InputFileError(path, f"has {len(header)} row(s); this export shape has {shape.header_rows} header rows.")
    return shape.column_names(path, header)


def _plain_names(path: Path, header: list[list[str]]) -> list[str]:
    return [cell.strip() for cell in header[0]]


def _qualtrics_names(path: Path, header: list[list[str]]) -> list[str]:
    """Row 1 names the columns; row 2 holds question texts; row 3 must be Qualtrics' ImportId JSON."""
    import_ids = [(index, cell.strip()) for index, cell in enumerate(header[2]) if cell.strip()]
    for index, cell in import_ids or [(0, "")]:
        if not _is_import_id(cell):
            raise InputFileError(
                path,
                f"row 3, column {get_column_letter(index + 1)}: expected Qualtrics ImportId JSON such as "
                f'{{"ImportId":"QID1"}}, found {cell[:60]!r}. This looks like a legacy or already-cleaned '
                'export: give it one header row and use preset = "plain".',
            )
    return _plain_names(path, header)


def _is_import_id(cell: str) -> bool:
    try:
        value = json.loads(cell)
    except ValueError:
        return False
    return isinstance(value, dict) and "ImportId" in value


def _surveymonkey_names(path: Path, header: list[list[str]]) -> list[str]:
    """Row 1 holds the question (blank cells continue it), row 2 its sub-label: "Q", or "Q | option"."""
    top, sub = ([cell.strip() for cell in row] for row in header)
    if "Respondent ID" not in top:
        raise InputFileError(path, "row 1 has no 'Respondent ID' column, so it is not a SurveyMonkey export.")
    below_id = top.index("Respondent ID")
    if below_id < len(sub) and sub[below_id]:
        raise InputFileError(
            path,
            f"row 2, column {get_column_letter(below_id + 1)} holds {sub[below_id][:60]!r} where a SurveyMonkey "
            'export leaves a blank sub-label: this export has one header row, use preset = "plain".',
        )
    names, question = [], ""
    for index in range(max(len(top), len(sub))):
        question = (top[index] if index < len(top) else "") or question
        label = sub[index] if index < len(sub) else ""
        names.append(question if label in ("", "Response") else f"{question} | {label}")
    return names


PRESETS: dict[str, ExportShape] = {
    "plain": ExportShape(1, _plain_names),
    "qualtrics": ExportShape(3, _qualtrics_names, "ResponseId", "RecordedDate", "%Y-%m-%d %H:%M:%S"),
    "surveymonkey": ExportShape(2, _surveymonkey_names, "Respondent ID", "End Date", "%m/%d/%Y %I:%M:%S %p"),
}


@dataclass(frozen=True)
class _Field:
    """One mapped column: its name in the export and its position in a row."""

    column: str
    index: int


@dataclass(frozen=True)
class _Layout:
    """Where each mapped field sits in this file's rows, and how to turn a batch of rows into a chunk."""

    mapping: SourceMapping
    header: list[str]
    raw_keys: list[str]
    typed: bool
    id: _Field | None
    timestamp: _Field | None
    timestamp_format: str | None
    rating: _Field | None
    segments: dict[str, _Field]
    comments: dict[str, _Field]

    @classmethod
    def resolve(cls, path: Path, mapping: SourceMapping, header: list[str], typed: bool) -> "_Layout":
        preset = PRESETS[mapping.preset]

        def find(column: str | None, role: str) -> _Field | None:
            if column is None:
                return None
            positions = [index for index, name in enumerate(header) if name == column]
            if not positions:
                raise MissingColumnError(
                    path, column, [name[:60] for name in header if name],  # a binary file's 'header' can be long
                    f"The mapping {mapping.name!r} reads it as {role}: fix its [[batch.sources]] entry or the export.",
                )
            if len(positions) > 1:
                letters = ", ".join(get_column_letter(index + 1) for index in positions)
                raise InputFileError(path, f"column {column!r} ({role}) appears more than once (columns {letters}).")
            return _Field(column, positions[0])

        return cls(
            mapping=mapping,
            header=header,
            raw_keys=_raw_keys(header),
            typed=typed,
            id=find(mapping.id or preset.id, "id"),
            timestamp=find(mapping.timestamp or preset.timestamp, "timestamp"),
            timestamp_format=mapping.timestamp_format or preset.timestamp_format,
            rating=find(mapping.rating, "rating"),
            segments={name: find(column, f"segments.{name}") for name, column in sorted(mapping.segments.items())},
            comments={key: find(column, f"comments.{key}") for key, column in mapping.comments.items()},
        )

    def chunk(self, batch: list[tuple[int, list[str]]], max_comment_chars: int) -> ExportChunk:
        rows: list[int] = []
        cells: list[list[str]] = []
        rejects: list[tuple[int, str, str, str]] = []
        width = len(self.header)
        for row, values in batch:
            if not any(value.strip() for value in values):
                continue  # a blank line: nothing to keep, nothing to report
            values = self._fit(values)
            if len(values) != width:
                reason = f"the row has {len(values)} fields, the header has {width}"
                reason += "" if self.typed else " (a delimiter in an unquoted cell?)"
                rejects.append((row, "", reason, self._raw(values)))
                continue
            rows.append(row)
            cells.append(values)
        checked = _Checked(self, rows, cells, max_comment_chars)
        rejects += [(rows[i], column, reason, self._raw(cells[i])) for i, (column, reason) in checked.problems.items()]
        rejected = pd.DataFrame(sorted(rejects), columns=list(REJECT_COLUMNS)).astype(
            {"source_row": "int64", "column": "str", "reason": "str", "raw": "str"})
        responses, comments = checked.frames()
        return ExportChunk(batch[0][0], batch[-1][0], responses, comments, rejected)

    def _fit(self, values: list[str]) -> list[str]:
        """Drop empty cells past the header; a workbook row stops at its last filled cell, so pad it."""
        width = len(self.header)
        if len(values) > width and not any(value.strip() for value in values[width:]):
            values = values[:width]
        if self.typed and len(values) < width:
            values = values + [""] * (width - len(values))
        return values

    def _raw(self, values: list[str]) -> str:
        keys = self.raw_keys + [f"column ({get_column_letter(i + 1)})" for i in range(len(self.raw_keys), len(values))]
        return json.dumps({key: value[:RAW_CELL_CHARS] for key, value in zip(keys, values)}, ensure_ascii=False)


def _raw_keys(header: list[str]) -> list[str]:
    """Header names made unique (blank or repeated ones get their column letter), so raw JSON keeps every cell."""
    counts = Counter(header)
    return [name if name and counts[name] == 1 else f"{name or 'column'} ({get_column_letter(i + 1)})"
            for i, name in enumerate(header)]


class _Checked:
    """One chunk's rows parsed column by column; `problems` maps a row's position to its first fault."""

    def __init__(self, layout: _Layout, rows: list[int], cells: list[list[str]], max_comment_chars: int) -> None:
        self.layout, self.rows, self.cells = layout, rows, cells
        self.problems: dict[int, tuple[str, str]] = {}
        n = len(rows)
        self.ids = self._text(layout.id) if layout.id else None
        if layout.id:
            self._flag(layout.id, self.ids.eq(""), lambda i: "empty response id")
        self.submitted_at = (self._timestamps() if layout.timestamp
                             else pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns]"))
        self.rating = self._ratings() if layout.rating else pd.Series(np.nan, index=range(n), dtype="float64")
        self.segments = {name: self._text(field) for name, field in layout.segments.items()}
        self.comments: dict[str, pd.Series] = {}
        for key, field in layout.comments.items():
            text = self._text(field).str.replace("\r\n", "\n", regex=False)
            lengths = text.str.len()
            self._flag(field, lengths.gt(max_comment_chars),
                       lambda i: f"comment is {lengths.iat[i]} characters, the limit is {max_comment_chars}")
            self.comments[key] = text

    def _text(self, field: _Field) -> pd.Series:
        """The field's cells with surrounding whitespace stripped."""
        return pd.Series([row[field.index] for row in self.cells], index=range(len(self.cells)), dtype="str").str.strip()

    def _flag(self, field: _Field, bad: pd.Series, reason: Callable[[int], str]) -> None:
        """Record `reason(i)` for each bad row i that has no earlier fault: a row is rejected once."""
        for i in np.flatnonzero(bad.to_numpy(dtype=bool)):
            if int(i) not in self.problems:
                self.problems[int(i)] = (field.column, reason(int(i)))

    def _timestamps(self) -> pd.Series:
        field, fmt = self.layout.timestamp, self.layout.timestamp_format
        text = self._text(field)
        parsed = pd.to_datetime(text, format=fmt or "ISO8601", errors="coerce", utc=True)
        if fmt and self.layout.typed:  # a real date cell arrives as ISO text, whatever format the mapping names
            retry = parsed.isna() & text.ne("")
            parsed[retry] = pd.to_datetime(text[retry], format="ISO8601", errors="coerce", utc=True)
        expected = f"the format {fmt}" if fmt else ISO_8601
        self._flag(field, text.eq(""), lambda i: f"empty timestamp (expected {expected})")
        self._flag(field, parsed.isna(), lambda i: f"{text.iat[i]!r} is not a timestamp in {expected}")
        # An offset is turned into UTC and dropped; a time without one is kept as written.
        return parsed.dt.tz_convert(None).astype("datetime64[ns]")

    def _ratings(self) -> pd.Series:
        field = self.layout.rating
        text = self._text(field)
        values = pd.to_numeric(text.str.replace(DECIMAL_COMMA, r"\1.\2", regex=True), errors="coerce").astype("float64")
        given = text.ne("")
        self._flag(field, given & ~np.isfinite(values), lambda i: f"rating {text.iat[i]!r} is not a number")
        if self.layout.mapping.rating_kind == "nps":
            off_scale = given & np.isfinite(values) & ((values % 1 != 0) | (values < 0) | (values > 10))
            self._flag(field, off_scale, lambda i: f"NPS {text.iat[i]!r} is not a whole number from 0 to 10")
        return values.where(given & np.isfinite(values))

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The accepted rows as responses, and their non-empty answers as comments (file order, then mapping order)."""
        kept = [i for i in range(len(self.rows)) if i not in self.problems]
        stamps = self.submitted_at.dt.strftime("%Y-%m-%dT%H:%M:%S.%f").to_numpy(dtype=object)
        ratings = self.rating.to_numpy()
        segments = {name: column.to_list() for name, column in self.segments.items()}
        answers = {question: column.to_list() for question, column in self.comments.items()}
        segment_json = [json.dumps({name: column[i] for name, column in segments.items()}, ensure_ascii=False)
                        for i in kept]
        questions = sorted(answers)
        hashes = [
            _content_hash(stamps[i] if isinstance(stamps[i], str) else None,
                          None if math.isnan(ratings[i]) else float(ratings[i]),
                          segments_i, [(q, answers[q][i]) for q in questions])
            for i, segments_i in zip(kept, segment_json)
        ]
        ids = self.ids.to_list() if self.ids is not None else [None] * len(self.rows)
        name = self.layout.mapping.name
        keys = [f"{name}:{ids[i]}" if ids[i] is not None else f"{name}:#{digest[:20]}" for i, digest in zip(kept, hashes)]
        responses = pd.DataFrame({
            "response_key": pd.Series(keys, dtype="str"),
            "response_id": pd.Series([ids[i] for i in kept], dtype="object"),
            "submitted_at": pd.Series(self.submitted_at.to_numpy()[kept], dtype="datetime64[ns]"),
            "rating": pd.Series(ratings[kept], dtype="float64"),
            "segments": pd.Series(segment_json, dtype="str"),
            "content_hash": pd.Series(hashes, dtype="str"),
            "source_row": pd.Series([self.rows[i] for i in kept], dtype="int64"),
        }, columns=list(RESPONSE_COLUMNS))
        records = [(key, question, texts[i], self.rows[i])
                   for key, i in zip(keys, kept) for question, texts in answers.items() if texts[i]]
        comments = pd.DataFrame(records, columns=list(COMMENT_COLUMNS)).astype(
            {"response_key": "str", "question": "str", "text": "str", "source_row": "int64"})
        return responses, comments


def _content_hash(timestamp: str | None, rating: float | None, segments: str, comments: list[tuple[str, str]]) -> str:
    """sha256 over the mapped fields only: a re-export with an extra column is not a change, a corrected answer is."""
    payload = json.dumps([timestamp, rating, segments, comments], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
