"""Read and write the tables users bring: CSV (any common encoding and delimiter), XLSX, Parquet.

Every cell of a CSV or XLSX is read as text so that what the user wrote comes back out
unchanged (ids with leading zeros, dates, empty cells). Problems become `InputFileError`s
that name the file, and the line where there is one.
"""

from __future__ import annotations

import codecs
import io
import re
from pathlib import Path

import pandas as pd

from cxnlp.errors import InputFileError, MissingColumnError

CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
EXCEL_SUFFIXES = {".xlsx", ".xlsm"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
DELIMITERS = ",;\t|"
# Tried in order when a CSV has no BOM; cp1252 is what Nordic Excel writes on Windows.
FALLBACK_ENCODINGS = ("utf-8", "cp1252")
# Where read_table records the CSV dialect so write_table can answer in kind.
DELIMITER_ATTR = "cxnlp_delimiter"
FORMULA_START = r"[=+\-@\t\r]"  # what makes a spreadsheet treat a cell as a formula


def read_table(path: Path | str, *, encoding: str | None = None, delimiter: str | None = None) -> pd.DataFrame:
    """Read a CSV, XLSX or Parquet file into a DataFrame, choosing the reader by suffix."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "file not found.")
    suffix = path.suffix.lower()
    if suffix in EXCEL_SUFFIXES:
        try:
            return pd.read_excel(path, dtype=str, keep_default_na=False, engine="openpyxl")
        except Exception as err:  # openpyxl raises many types for corrupt files
            raise InputFileError(path, f"cannot read as an Excel workbook ({err}).") from err
    if suffix in PARQUET_SUFFIXES:
        try:
            return pd.read_parquet(path)
        except Exception as err:
            raise InputFileError(path, f"cannot read as Parquet ({err}).") from err
    if suffix in CSV_SUFFIXES:
        return _read_csv(path, encoding, delimiter)
    raise InputFileError(path, f"unsupported file type {suffix!r}; use .csv, .tsv, .xlsx or .parquet.")


def require_column(df: pd.DataFrame, column: str, path: Path | str) -> None:
    """Fail with the list of available columns when `column` is absent."""
    if column not in df.columns:
        raise MissingColumnError(path, column, [str(c) for c in df.columns])


def write_table(df: pd.DataFrame, path: Path | str) -> Path:
    """Write by suffix; a CSV keeps the delimiter it was read with and gets a BOM for Excel.

    CSV and XLSX are what analysts open in Excel, so their text cells are `excel_safe`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    tmp = path.with_name(f".{path.name}.partial")
    if suffix in EXCEL_SUFFIXES | CSV_SUFFIXES:
        df = excel_safe(df)
    if suffix in EXCEL_SUFFIXES:
        df.to_excel(tmp, index=False, engine="openpyxl")
    elif suffix in PARQUET_SUFFIXES:
        df.to_parquet(tmp, index=False)
    elif suffix in CSV_SUFFIXES:
        sep = df.attrs.get(DELIMITER_ATTR, "\t" if suffix == ".tsv" else ",")
        df.to_csv(tmp, index=False, sep=sep, encoding="utf-8-sig")
    else:
        raise InputFileError(path, f"unsupported output type {suffix!r}; use .csv, .tsv, .xlsx or .parquet.")
    tmp.replace(path)  # never leave a half-written output behind
    return path


def excel_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Text cells that Excel would run as a formula (=, +, -, @, tab, CR first) get a leading apostrophe.

    A respondent can type `=HYPERLINK(...)` into a survey; opened in Excel that cell would act.
    Numbers such as -3 are left alone, so ratings stay numbers.
    """
    out = df.copy()
    for column in out.columns:
        values = out[column]
        if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
            continue
        text = values.where(values.map(lambda v: isinstance(v, str)), "")
        risky = text.str.match(FORMULA_START) & pd.to_numeric(text, errors="coerce").isna()
        if risky.any():
            out.loc[risky, column] = "'" + text[risky]
    out.attrs = dict(df.attrs)
    return out


def atomic_write_text(path: Path | str, text: str) -> Path:
    """Write UTF-8 text through a temporary file, so a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def _read_csv(path: Path, encoding: str | None, delimiter: str | None) -> pd.DataFrame:
    used_encoding = detect_encoding(path, encoding)
    text = path.read_bytes().decode(used_encoding)
    sep = delimiter or sniff_delimiter(text.split("\n", 1)[0], path.suffix.lower())
    try:
        df = pd.read_csv(
            io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_filter=False, engine="c"
        )
    except pd.errors.ParserError as err:
        raise InputFileError(path, f"malformed CSV ({used_encoding}, delimiter {sep!r}): {err}") from err
    except pd.errors.EmptyDataError as err:
        raise InputFileError(path, "the file is empty.") from err
    df.attrs[DELIMITER_ATTR] = sep
    return df


def detect_encoding(path: Path, encoding: str | None = None) -> str:
    """The encoding the whole file decodes with: the given one, else by BOM, else UTF-8, else Windows-1252.

    Streams the file in blocks, so a bad byte on the last line of a huge export is found
    before a single row is used, without holding the file in memory.
    """
    with path.open("rb") as fh:
        head = fh.read(len(codecs.BOM_UTF8))
    if encoding:
        candidates: tuple[str, ...] = (encoding,)
    elif head.startswith(codecs.BOM_UTF8):
        candidates = ("utf-8-sig",)
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ("utf-16",)
    else:
        candidates = FALLBACK_ENCODINGS
    for name in candidates:
        try:
            decoder = codecs.getincrementaldecoder(name)()
        except LookupError as err:
            raise InputFileError(path, f"unknown encoding {name!r}.") from err
        bad_line = _first_undecodable_line(path, decoder)
        if bad_line is None:
            return name
    raise InputFileError(
        path,
        f"cannot decode line {bad_line} as {' or '.join(candidates)}; save the file as UTF-8 or give its "
        "encoding (--encoding, or `encoding` in a batch mapping).",
    )


def _first_undecodable_line(path: Path, decoder: codecs.IncrementalDecoder) -> int | None:
    lines_before = 0  # newlines in the blocks already decoded
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as err:  # err.object: the block after any carried-over partial character
                return lines_before + err.object[: err.start].count(b"\n") + 1
            lines_before += block.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return lines_before + 1
    return None


def sniff_delimiter(header_line: str, suffix: str) -> str:
    """Pick the delimiter that splits the header line most often, ignoring quoted text.

    The header is used rather than csv.Sniffer because free-text comments full of commas
    fool the sniffer into choosing ',' for a semicolon file; quoted column names (a
    question's text, say) are skipped for the same reason.
    """
    if suffix == ".tsv":
        return "\t"
    unquoted = re.sub(r'"[^"]*"', "", header_line)
    counts = {d: unquoted.count(d) for d in DELIMITERS}
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] else ","
