"""What a nightly run publishes: the report over its window, a Parquet snapshot, rejects, a summary.

The report reads responses, not comments: a response that answered two open questions
counts once in NPS and in every share, with its comments merged (see `response_frame`).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from cxnlp.aggregate import EFFORT_MEASURES, InsightOptions, build_insights, changes_since
from cxnlp.batch.store import Store
from cxnlp.io import atomic_write_text, write_table
from cxnlp.pillars import PILLARS
from cxnlp.pipeline import OUTPUT_COLUMNS
from cxnlp.targets import alert_lines, load_targets

if TYPE_CHECKING:
    from cxnlp.batch.runner import BatchRunner, RunResult

DATE_COLUMN, RATING_COLUMN = "submitted_at", "rating"
# What the report reads from the store: not the raw text, ids or hashes (a large window stays small).
REPORT_FIELDS = ("response_key", DATE_COLUMN, RATING_COLUMN, "segments", "question",
                 *(c for c in OUTPUT_COLUMNS if c != "cx_effort_spans"))
MERGED_TEXT_SEPARATOR = " / "


def publish(store: Store, runner: "BatchRunner", result: "RunResult") -> None:
    """Write the snapshot, the report (with the change since the last run) and the rejects of this run."""
    config = runner.config
    output = Path(config.output)
    segments = sorted({name for source in config.sources for name in source.segments})
    result.snapshot = str(write_snapshot(store, output / "scored_comments.parquet", segments))
    rejected = store.rejected_rows(result.run_id)
    if len(rejected):
        result.rejected_csv = str(write_table(rejected, output / "rejected" / f"run-{result.run_id}.csv"))
    newest = store.newest_submission()
    if newest is not None:
        since = newest - timedelta(days=config.window_days) if config.window_days else None
        rows, sampled_from = window_rows(store, since, config.report_max_responses)
        frame = response_frame(rows, segments)
        _write_report(store, runner, result, frame, segments, output / "report" / "report.html",
                      sampled_from=sampled_from)
    atomic_write_text(output / "runs" / f"run-{result.run_id}.json", result.line() + "\n")


def _write_report(store: Store, runner: "BatchRunner", result: "RunResult", frame: pd.DataFrame,
                  segments: list[str], html: Path, sampled_from: int | None = None) -> None:
    from cxnlp.report import ReportWriter

    config = runner.config
    targets = tuple(load_targets(runner.config_path, EFFORT_MEASURES)) if runner.config_path else ()
    options = InsightOptions(
        rating_col=RATING_COLUMN, rating_kind=config.sources[0].rating_kind, date_col=DATE_COLUMN,
        period=config.period, segment_cols=tuple(segments), targets=targets,
    )
    insights = build_insights(frame, options, runner.quote_embedder(), source=config.store)
    insights.coverage["sampled_from"] = sampled_from
    result.digest = {"run_id": result.run_id, **insights.digest()}
    if sampled_from:
        result.digest["rows"] = sampled_from  # "responses in the window" counts them all
    previous = store.previous_summary(result.run_id)
    changes = changes_since(previous, result.digest) if previous else None
    ReportWriter(config.report_lang, source=Path(config.inputs).name).write(insights, html, changes=changes)
    result.report = str(html)
    result.targets_missed = alert_lines(insights.targets) if insights.targets is not None else []


def window_rows(store: Store, since, max_responses: int) -> tuple[pd.DataFrame, int | None]:
    """The report's rows, and the window's response count when they are a sample of it (else None).
    A window of more than `max_responses` responses is sampled by a hash of the response key, so the
    sample is seeded, stable from run to run, and streamed in chunks."""
    total = store.count_responses(since)
    keep = min(1.0, max_responses / total) if total else 1.0
    parts = []
    for rows in store.scored_comments(since, fields=REPORT_FIELDS):
        if keep < 1.0:
            rows = rows[_key_fraction(rows["response_key"]) < keep]
        parts.append(rows)
    return pd.concat(parts, ignore_index=True), (total if keep < 1.0 else None)


def _key_fraction(keys: pd.Series) -> np.ndarray:
    """A stable number in [0, 1) per response key (the same on every machine and run)."""
    return pd.util.hash_pandas_object(keys, index=False).to_numpy() / 2.0**64


def write_snapshot(store: Store, path: Path, segments: list[str]) -> Path:
    """Every stored response with its scored comments, one row per comment, streamed to Parquet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    writer = None
    try:
        for rows in store.scored_comments():
            table = pa.Table.from_pandas(expand_segments(rows, segments), preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table.cast(writer.schema))
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        return path
    tmp.replace(path)
    return path


def expand_segments(rows: pd.DataFrame, segments: list[str]) -> pd.DataFrame:
    """The `segments` JSON of each response as one column per configured segment name."""
    parsed = [json.loads(s) if isinstance(s, str) and s else {} for s in rows["segments"]]
    out = rows.drop(columns=["segments"])
    for name in segments:
        out[name] = [p.get(name, "") for p in parsed]
    return out


def response_frame(rows: pd.DataFrame, segments: list[str]) -> pd.DataFrame:
    """One row per response: comments of a response merged, so ratings and shares count it once.

    Merging: texts joined; a pillar's sentiment comes from the comment most sure of that pillar;
    pillars are the union; effort figures take the largest reported; noise only if all are noise.
    """
    rows = expand_segments(rows, segments).sort_values(["response_key", "question"], kind="stable", na_position="first")
    rows["cx_text"] = rows["cx_text"].fillna("")
    rows["cx_noise"] = rows["cx_noise"].fillna(False).astype(bool)
    for p in PILLARS:
        rows[f"cx_{p}_sentiment"] = rows[f"cx_{p}_sentiment"].fillna("")
    counts = rows.groupby("response_key", sort=False)["response_key"].transform("size")
    single = rows[counts == 1]
    multi = rows[counts > 1]
    if len(multi):
        merged = [_merge_comments(group) for _, group in multi.groupby("response_key", sort=False)]
        single = pd.concat([single, pd.DataFrame(merged)], ignore_index=True)
    return single.sort_values([DATE_COLUMN, "response_key"], kind="stable").reset_index(drop=True)


def _merge_comments(group: pd.DataFrame) -> dict:
    first = group.iloc[0].to_dict()
    real = group[(group["cx_text"].str.strip() != "") & ~group["cx_noise"]]
    if real.empty:
        return first
    merged = real.iloc[0].to_dict()
    merged["cx_text"] = MERGED_TEXT_SEPARATOR.join(real["cx_text"])
    for p in PILLARS:
        said = real[real[f"cx_{p}_sentiment"] != ""]
        merged[f"cx_{p}_prob"] = float(real[f"cx_{p}_prob"].max())
        if len(said):
            merged[f"cx_{p}_sentiment"] = said.loc[said[f"cx_{p}_prob"].idxmax(), f"cx_{p}_sentiment"]
    merged["cx_pillars"] = ";".join(p for p in PILLARS if merged[f"cx_{p}_sentiment"])
    for column in ("cx_wait_minutes", "cx_contacts", "cx_steps"):
        values = pd.to_numeric(real[column], errors="coerce")
        merged[column] = float(values.max()) if values.notna().any() else np.nan
    return merged
