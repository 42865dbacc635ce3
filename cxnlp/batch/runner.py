"""One nightly run: read the exports, score what is new, commit chunk by chunk, publish.

Why it is safe to kill at any moment: every chunk's responses, scores, rejects, the file's
progress and the run's counters are committed in one transaction, and a chunk is decided
against what is committed (never against work in flight). A new run finds the dead run's
last committed row per file and goes on from there, so the store ends exactly as an
uninterrupted run would have left it. A comment's scores do not depend on the comments scored
with it (`batch_settings`), so the local engine, which scores a chunk at once, and the Dask engine,
which scores it in partitions on several workers, store the very same scores.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from glob import glob
from pathlib import Path
from typing import Callable

import pandas as pd

from cxnlp.batch.config import BatchConfig
from cxnlp.batch.engines import LocalEngine, ScoringEngine
from cxnlp.batch.outputs import publish
from cxnlp.batch.sources import ExportChunk, read_export
from cxnlp.batch.store import Store, open_store
from cxnlp.config import Settings
from cxnlp.errors import CxnlpError, InputFileError
from cxnlp.io import CSV_SUFFIXES, EXCEL_SUFFIXES, PARQUET_SUFFIXES
from cxnlp.targets import TARGET_MISSED_EXIT

EXPORT_SUFFIXES = CSV_SUFFIXES | EXCEL_SUFFIXES | PARQUET_SUFFIXES
REJECTED_EXIT = 4  # distinct from targets missed (3) and bad usage (2): rows or files were refused
StatusFn = Callable[[str], None]


@dataclass
class RunResult:
    """What a run did, as the one-line summary a scheduler logs."""

    run_id: int
    status: str
    model_version: str
    files: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    rescored: int = 0
    report: str | None = None
    snapshot: str | None = None
    rejected_csv: str | None = None
    targets_missed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    publish_seconds: float = 0.0
    digest: dict | None = field(default=None, repr=False)  # headline figures kept for the next run's comparison

    @property
    def exit_code(self) -> int:
        if self.counts.get("rows_rejected") or self.counts.get("files_rejected"):
            return REJECTED_EXIT
        return TARGET_MISSED_EXIT if self.targets_missed else 0

    def line(self) -> str:
        record = {k: v for k, v in asdict(self).items() if k != "digest"}
        return json.dumps({**record, "exit_code": self.exit_code}, ensure_ascii=False, sort_keys=True)


class BatchRunner:
    """Runs `cxnlp batch`: ingest (optionally rescoring first), then publish the outputs."""

    def __init__(self, config: BatchConfig, settings: Settings, engine: ScoringEngine,
                 config_path: Path | None = None, status: StatusFn | None = None) -> None:
        self.config = config
        self.settings = settings
        self.engine = engine
        self.config_path = config_path
        self.status = status or (lambda message: None)

    @property
    def model_version(self) -> str:
        return self.engine.model_version

    def run(self, rescore: bool = False, publish_outputs: bool = True) -> RunResult:
        started = time.monotonic()
        store = open_store(self.config.store)
        try:
            with store.lock():
                run_id = store.start_run("rescore" if rescore else "batch", self.model_version, type(self.engine).__name__)
                result = RunResult(run_id, "running", self.model_version)
                try:
                    if rescore:
                        result.rescored = self._rescore(store, run_id)
                    result.files = self._ingest(store, run_id)
                    result.counts = {k: int(v) for k, v in store.run(run_id).items()
                                     if k.startswith(("files_", "rows_", "comments_"))}
                    if publish_outputs:
                        publishing = time.monotonic()
                        publish(store, self, result)
                        result.publish_seconds = round(time.monotonic() - publishing, 1)
                except BaseException:
                    store.finish_run(run_id, "failed", result.files)
                    raise
                result.status = "rejected" if result.exit_code == REJECTED_EXIT else "ok"
                result.seconds = round(time.monotonic() - started, 1)
                store.finish_run(run_id, result.status, result.files, result.digest)
                return result
        finally:
            store.close()

    # --- ingest ---------------------------------------------------------------------------------
    def exports(self) -> list[Path]:
        """The export files of tonight, in name order (later names win when a response repeats)."""
        inputs = Path(self.config.inputs)
        paths = list(inputs.iterdir()) if inputs.is_dir() else [Path(p) for p in glob(self.config.inputs)]
        if not paths and not inputs.is_dir():
            raise InputFileError(self.config.inputs, "no such folder and no file matches this pattern.")
        return sorted(p for p in paths if p.is_file() and p.suffix.lower() in EXPORT_SUFFIXES
                      and not p.name.startswith((".", "~$")))

    def _ingest(self, store: Store, run_id: int) -> list[str]:
        names = []
        for path in self.exports():
            names.append(path.name)
            sha = _file_sha(path)
            state = store.file_state(sha)
            if state and state[0] == "done":
                self._skip(store, run_id, f"{path.name}: read before, skipped")
                continue
            mapping = self.config.mapping_for(path)
            if mapping is None:
                self._reject_file(store, run_id, path, sha, "", "no [[batch.sources]] entry's `match` fits this file name",
                                  state)
                continue
            if state is None:
                store.begin_file(sha, str(path), mapping.name, run_id)
            rows_done = state[1] if state else 0
            try:
                for chunk in read_export(path, mapping, chunk_rows=self.config.chunk_rows,
                                         max_comment_chars=self.config.max_comment_chars):
                    if chunk.last_row > rows_done:
                        self._write_chunk(store, run_id, path, sha, mapping.name, chunk, rows_done)
                        self.status(f"{path.name}: rows up to {chunk.last_row} committed")
            except InputFileError as err:
                self._reject_file(store, run_id, path, sha, mapping.name, str(err), state)
                continue
            store.finish_file(sha, run_id)
        return names

    def _write_chunk(self, store: Store, run_id: int, path: Path, sha: str, source: str,
                     chunk: ExportChunk, rows_done: int) -> None:
        responses = chunk.responses[chunk.responses["source_row"] > rows_done]
        rejected = chunk.rejected[chunk.rejected["source_row"] > rows_done]
        fresh, counts = decide(responses, store.stored_versions(responses["response_key"].unique().tolist()))
        comments = chunk.comments.merge(fresh[["response_key", "source_row", "version"]], on=["response_key", "source_row"])
        scored = self._score(comments)
        fresh = fresh.assign(source=source, file_sha=sha, run_id=run_id)
        scored = scored.assign(run_id=run_id)
        rejected = rejected.assign(file_sha=sha, path=str(path), source=source, run_id=run_id,
                                   column_name=rejected["column"])
        counts.update(rows_in=len(responses) + len(rejected), rows_rejected=len(rejected), comments_scored=len(scored))
        store.write_chunk(run_id, fresh, scored, rejected, sha, chunk.last_row, counts)

    def _score(self, comments: pd.DataFrame) -> pd.DataFrame:
        if comments.empty:
            return comments
        rows = self.engine.partition_rows or len(comments)
        parts = [comments.iloc[i:i + rows] for i in range(0, len(comments), rows)]
        return pd.concat(list(self.engine.score_stream(parts, text_col="text")), ignore_index=True)

    def _skip(self, store: Store, run_id: int, message: str) -> None:
        with store.transaction():
            store.add_to_run(run_id, files_skipped=1)
        self.status(message)

    def _reject_file(self, store: Store, run_id: int, path: Path, sha: str, source: str, reason: str,
                     state: tuple | None) -> None:
        """Refuse a whole file: copy it to quarantine (the original stays where the scheduler put it).

        A refused file is tried again every night, since a fixed mapping may make it readable;
        refused again for the same reason it is not news (no second alert, no second copy)."""
        if state and state[0] == "rejected" and state[2] == reason:
            self._skip(store, run_id, f"{path.name}: still refused: {reason}")
            return
        quarantine = Path(self.config.quarantine or Path(self.config.output) / "quarantine")
        quarantine.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, quarantine / f"{sha[:12]}-{path.name}")
        store.reject_file(sha, str(path), source, reason, run_id)
        self.status(f"{path.name}: REJECTED: {reason}")

    def quote_embedder(self):
        """The embedder the report picks quotes with: the local engine's own, else one loaded here."""
        if isinstance(self.engine, LocalEngine):
            return self.engine.pipeline.embedder
        from cxnlp.embed import load_embedder

        return load_embedder(self.settings)

    # --- rescore --------------------------------------------------------------------------------
    def _rescore(self, store: Store, run_id: int) -> int:
        """Score again every stored comment another model version scored, a chunk per transaction."""
        done = 0
        while not (batch := store.comments_to_rescore(self.model_version, self.config.chunk_rows)).empty:
            scored = self._score(batch).assign(run_id=run_id)
            if (scored["cx_model_version"] != self.model_version).any():  # would loop for ever
                raise CxnlpError(f"the engine scored with {sorted(set(scored['cx_model_version']))}, not {self.model_version}")
            store.replace_scores(run_id, scored)
            done += len(scored)
            self.status(f"rescored {done} comments")
        return done


def decide(responses: pd.DataFrame, stored: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Which responses of a chunk to write: new keys, and keys whose content changed.

    A key repeated within one chunk counts once, by its last row (the earlier rows were never
    stored, so they are duplicates, not history); across chunks and nights every stored version
    goes to history. Returns the rows to write with their `version`, and the counts.
    """
    last = responses.drop_duplicates("response_key", keep="last")
    merged = last.merge(stored.rename(columns={"content_hash": "stored_hash", "version": "stored_version"}),
                        on="response_key", how="left")
    new = merged["stored_hash"].isna().to_numpy()
    same = (merged["stored_hash"] == merged["content_hash"]).to_numpy()
    fresh = merged[~same].copy()
    fresh["version"] = fresh["stored_version"].fillna(0).astype("int64") + 1
    counts = {"rows_new": int(new.sum()), "rows_updated": int((~new & ~same).sum()),
              "rows_duplicate": int(same.sum()) + len(responses) - len(last)}
    return fresh.drop(columns=["stored_hash", "stored_version"]), counts


def _file_sha(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
