"""The `[batch]` table of cxnlp.toml: where exports come from, how their columns map, where results go.

One `[[batch.sources]]` entry per kind of export. A survey tool's export shape (its header
rows, its usual id and date columns) is a preset, so a mapping names only what differs.
Paths are relative to the config file, so the same file works from cron and from a shell.
"""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cxnlp.errors import InputFileError

Preset = Literal["plain", "qualtrics", "surveymonkey"]


class SourceMapping(BaseModel):
    """How one kind of export's columns map onto a response: id, time, rating, segments, comments."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Namespace of this survey's response ids (ids from two surveys never clash).")
    match: str = Field("*", description="Glob on the file name choosing the files this mapping reads.")
    preset: Preset = Field("plain", description="Export shape: plain (one header row), qualtrics, surveymonkey.")
    id: str | None = Field(None, description="Response-id column; without one a response is known by its content.")
    timestamp: str | None = Field(None, description="Column with when the response was submitted.")
    timestamp_format: str | None = Field(None, description="strptime format; default: ISO 8601 or the preset's.")
    rating: str | None = Field(None, description="Column with the 0-10 NPS answer (or another numeric rating).")
    rating_kind: Literal["nps", "mean"] = Field("nps", description="nps: 0-10 likelihood to recommend; mean: any number.")
    segments: dict[str, str] = Field(default_factory=dict, description="Report segment name -> export column.")
    comments: dict[str, str] = Field(description="Question key -> export column holding a free-text answer.")
    encoding: str | None = Field(None, description="CSV encoding; default: detected (BOM, UTF-8, Windows-1252).")
    delimiter: str | None = Field(None, description="CSV delimiter; default: detected from the header.")

    @field_validator("comments")
    @classmethod
    def _at_least_one_comment(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise ValueError("map at least one comment column, e.g. comments = { why = \"Q2\" }")
        return value

    def matches(self, path: Path) -> bool:
        return fnmatch.fnmatch(path.name, self.match)


class BatchConfig(BaseModel):
    """Everything a nightly `cxnlp batch` run needs; see the README's "Nightly batch" section."""

    model_config = ConfigDict(extra="forbid")

    inputs: str = Field(description="Folder or glob of exports (.csv, .tsv, .xlsx, .parquet).")
    store: str = Field("cxnlp.duckdb", description="DuckDB file, or a postgresql:// URL.")
    output: str = Field("batch-output", description="Folder for the report, the snapshot and run summaries.")
    quarantine: str | None = Field(None, description="Folder for copies of rejected files (default: <output>/quarantine).")
    window_days: int | None = Field(90, ge=1, description="Days of responses the report covers, ending at the newest.")
    report_max_responses: int = Field(
        300_000, ge=1000,
        description="A window holding more responses is reported from a seeded random sample of this many "
        "(the page says so), which keeps a run within its memory budget; intervals widen accordingly.")
    chunk_rows: int = Field(2000, ge=1, description="Rows scored and committed per transaction.")
    max_comment_chars: int = Field(10_000, ge=1, description="Longer comments are rejected, not truncated.")
    report_lang: Literal["en", "sv", "no"] = Field("en", description="Language of the report's text.")
    period: Literal["month", "week"] = Field("month", description="Trend period in the report.")
    sources: list[SourceMapping] = Field(description="One mapping per kind of export.")

    @model_validator(mode="after")
    def _one_store_one_metric(self) -> "BatchConfig":
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise ValueError(f"source names must be unique, got {names}")
        kinds = {s.rating_kind for s in self.sources}
        if len(kinds) > 1:  # one report cannot average NPS answers with, say, 1-5 CSAT ratings
            raise ValueError(f"all sources must share one rating_kind, got {sorted(kinds)}; use one config per metric")
        return self

    def mapping_for(self, path: Path) -> SourceMapping | None:
        """The first mapping whose `match` fits the file name (None: no mapping reads this file)."""
        return next((s for s in self.sources if s.matches(path)), None)


def load_batch_config(path: Path) -> BatchConfig:
    """Read `[batch]` from a cxnlp.toml, resolving its relative paths against the file's folder."""
    try:
        with Path(path).open("rb") as fh:
            table = tomllib.load(fh).get("batch")
    except FileNotFoundError:
        raise InputFileError(path, "config file not found.") from None
    except tomllib.TOMLDecodeError as err:
        raise InputFileError(path, f"not valid TOML: {err}") from None
    if table is None:
        raise InputFileError(path, "has no [batch] table; see the README's 'Nightly batch' section.")
    try:
        config = BatchConfig(**table)
    except ValidationError as err:
        problems = "; ".join(f"batch.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        raise InputFileError(path, f"invalid [batch] settings: {problems}") from None
    base = Path(path).resolve().parent
    resolved = {
        "inputs": _resolve(base, config.inputs),
        "output": _resolve(base, config.output),
        "quarantine": _resolve(base, config.quarantine) if config.quarantine else None,
        "store": config.store if "://" in config.store else _resolve(base, config.store),
    }
    return config.model_copy(update=resolved)


def _resolve(base: Path, value: str) -> str:
    return str((base / value).resolve())
