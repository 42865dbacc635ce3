"""Where nightly runs keep everything: responses, scored comments, history, runs, files and rejects.

One class of SQL for two databases: DuckDB (a single file, the default) and PostgreSQL (a
`postgresql://` URL). The SQL is the subset both speak; what differs is how a DataFrame gets
into a query (`stage`), how placeholders are written, and how the one-run-at-a-time lock is
held. Every write the runner makes for a chunk happens in one transaction, so a run killed at
any instant leaves either all of a chunk or none of it.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

from cxnlp.errors import CxnlpError
from cxnlp.pipeline import OUTPUT_COLUMNS

SCHEMA_VERSION = 1
LOCK_ID = 7_412_019  # PostgreSQL advisory-lock key of `cxnlp batch`
DUCKDB_MEMORY_LIMIT = "256MB"  # DuckDB caches up to 80 % of RAM by default; the batch's budget is 2 GB in all

TEXT, FLOAT, INT, BOOL, TIME = "TEXT", "DOUBLE PRECISION", "BIGINT", "BOOLEAN", "TIMESTAMP"


def _cx_type(column: str) -> str:
    if column == "cx_noise":
        return BOOL
    if column.endswith(("_prob", "_conf", "_score")) or column in ("cx_wait_minutes", "cx_contacts", "cx_steps"):
        return FLOAT
    return TEXT


RESPONSE_FIELDS: dict[str, str] = {
    "response_key": TEXT, "source": TEXT, "response_id": TEXT, "submitted_at": TIME, "rating": FLOAT,
    "segments": TEXT, "content_hash": TEXT, "version": INT, "file_sha": TEXT, "source_row": INT, "run_id": INT,
}
COMMENT_FIELDS: dict[str, str] = {
    "response_key": TEXT, "question": TEXT, "version": INT, "text": TEXT,
    **{c: _cx_type(c) for c in OUTPUT_COLUMNS}, "run_id": INT,
}
TABLES: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
    "responses": (RESPONSE_FIELDS, ("response_key",)),
    "response_history": ({**RESPONSE_FIELDS, "superseded_run": INT}, ("response_key", "version")),
    "comments": (COMMENT_FIELDS, ("response_key", "question")),
    "comment_history": ({**COMMENT_FIELDS, "superseded_run": INT}, ("response_key", "question", "version")),
    "rejected": ({"file_sha": TEXT, "source_row": INT, "path": TEXT, "source": TEXT, "column_name": TEXT,
                  "reason": TEXT, "raw": TEXT, "run_id": INT}, ("file_sha", "source_row")),
    "files": ({"file_sha": TEXT, "path": TEXT, "source": TEXT, "rows_done": INT, "status": TEXT, "reason": TEXT,
               "run_id": INT, "done_run": INT}, ("file_sha",)),
    "runs": ({"run_id": INT, "kind": TEXT, "started_at": TIME, "ended_at": TIME, "status": TEXT,
              "model_version": TEXT, "engine": TEXT, "host": TEXT, "pid": INT, "files": TEXT,
              "files_new": INT, "files_skipped": INT, "files_rejected": INT, "rows_in": INT, "rows_new": INT,
              "rows_updated": INT, "rows_duplicate": INT, "rows_rejected": INT, "comments_scored": INT,
              "summary": TEXT}, ("run_id",)),
    "meta": ({"key": TEXT, "value": TEXT}, ("key",)),
}
RUN_COUNTERS = ("files_new", "files_skipped", "files_rejected", "rows_in", "rows_new", "rows_updated",
                "rows_duplicate", "rows_rejected", "comments_scored")


class StoreLockedError(CxnlpError):
    """Another `cxnlp batch` run holds the store: the scheduler should try again later."""

    exit_code = 75  # EX_TEMPFAIL


class Store:
    """The batch database. Use `open_store(url)`; subclasses differ only in plumbing."""

    dialect = ""

    def __init__(self, url: str) -> None:
        self.url = url

    # --- plumbing each database implements -------------------------------------------------
    def execute(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        raise NotImplementedError

    def query_frame(self, sql: str, params: Sequence[object] = ()) -> pd.DataFrame:
        raise NotImplementedError

    def iter_frames(self, sql: str, params: Sequence[object] = (), rows: int = 50_000) -> Iterator[pd.DataFrame]:
        raise NotImplementedError

    def stage(self, name: str, frame: pd.DataFrame, types: dict[str, str]) -> None:
        """Make `frame` queryable as table `name` until the current transaction ends."""
        raise NotImplementedError

    @contextmanager
    def transaction(self) -> Iterator[None]:
        raise NotImplementedError

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the one-run-at-a-time lock; the operating system or server frees it if the owner dies."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    # --- schema ------------------------------------------------------------------------------
    def create_schema(self) -> None:
        with self.transaction():
            for table, (fields, key) in TABLES.items():
                columns = ", ".join(f"{name} {kind}" for name, kind in fields.items())
                self.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns}, PRIMARY KEY ({', '.join(key)}))")
            found = self.execute("SELECT value FROM meta WHERE key = 'schema_version'")
            if not found:
                self.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif int(found[0][0]) != SCHEMA_VERSION:
                raise CxnlpError(f"{self.url}: store schema version {found[0][0]}, this cxnlp reads {SCHEMA_VERSION}")

    # --- runs ----------------------------------------------------------------------------------
    def start_run(self, kind: str, model_version: str, engine: str) -> int:
        """Close runs whose process died (we hold the lock, so none is alive) and open a new one."""
        with self.transaction():
            self.execute("UPDATE runs SET status = 'interrupted' WHERE status = 'running'")
            run_id = int(self.execute("SELECT COALESCE(MAX(run_id), 0) + 1 FROM runs")[0][0])
            self.execute(
                "INSERT INTO runs (run_id, kind, started_at, status, model_version, engine, host, pid, files, "
                + ", ".join(RUN_COUNTERS) + ") VALUES (?, ?, ?, 'running', ?, ?, ?, ?, '[]'"
                + ", 0" * len(RUN_COUNTERS) + ")",
                (run_id, kind, _now(), model_version, engine, socket.gethostname(), os.getpid()),
            )
        return run_id

    def add_to_run(self, run_id: int, **counts: int) -> None:
        """Add to a run's counters (inside the caller's transaction, so they move with the data)."""
        unknown = set(counts) - set(RUN_COUNTERS)
        if unknown:
            raise ValueError(f"unknown run counters {sorted(unknown)}")
        if counts:
            assignments = ", ".join(f"{name} = {name} + ?" for name in counts)
            self.execute(f"UPDATE runs SET {assignments} WHERE run_id = ?", (*map(int, counts.values()), run_id))

    def finish_run(self, run_id: int, status: str, files: list[str], summary: dict | None = None) -> None:
        with self.transaction():
            self.execute(
                "UPDATE runs SET status = ?, ended_at = ?, files = ?, summary = ? WHERE run_id = ?",
                (status, _now(), json.dumps(files), json.dumps(summary) if summary is not None else None, run_id),
            )

    def run(self, run_id: int) -> dict:
        return self.query_frame("SELECT * FROM runs WHERE run_id = ?", (run_id,)).iloc[0].to_dict()

    def previous_summary(self, run_id: int) -> dict | None:
        """The headline figures of the last finished run before this one, for "since last run"."""
        rows = self.execute(
            "SELECT summary FROM runs WHERE run_id < ? AND summary IS NOT NULL ORDER BY run_id DESC LIMIT 1", (run_id,)
        )
        return json.loads(rows[0][0]) if rows else None

    # --- files ---------------------------------------------------------------------------------
    def file_state(self, file_sha: str) -> tuple[str, int, str | None] | None:
        """(status, rows committed, reason refused) of a file seen before, by content: a renamed
        copy is the same file."""
        rows = self.execute("SELECT status, rows_done, reason FROM files WHERE file_sha = ?", (file_sha,))
        return (rows[0][0], int(rows[0][1]), rows[0][2]) if rows else None

    def begin_file(self, file_sha: str, path: str, source: str, run_id: int) -> None:
        """Record a file never seen before, and count it as new for the run, in one transaction."""
        with self.transaction():
            self.execute(
                "INSERT INTO files (file_sha, path, source, rows_done, status, run_id) VALUES (?, ?, ?, 0, 'partial', ?) "
                "ON CONFLICT (file_sha) DO NOTHING", (file_sha, path, source, run_id),
            )
            self.add_to_run(run_id, files_new=1)

    def reject_file(self, file_sha: str, path: str, source: str, reason: str, run_id: int) -> None:
        """A file that cannot be used at all: one rejected row (row 0) and the file marked rejected."""
        with self.transaction():
            self.execute(
                "INSERT INTO files (file_sha, path, source, rows_done, status, reason, run_id) "
                "VALUES (?, ?, ?, 0, 'rejected', ?, ?) ON CONFLICT (file_sha) DO UPDATE SET status = 'rejected', reason = ?",
                (file_sha, path, source, reason, run_id, reason),
            )
            self.execute(
                "INSERT INTO rejected (file_sha, source_row, path, source, column_name, reason, raw, run_id) "
                "VALUES (?, 0, ?, ?, '', ?, '', ?) ON CONFLICT (file_sha, source_row) DO NOTHING",
                (file_sha, path, source, reason, run_id),
            )
            self.add_to_run(run_id, files_rejected=1)

    # --- responses and comments ----------------------------------------------------------------
    def stored_versions(self, keys: Sequence[str]) -> pd.DataFrame:
        """content_hash and version of the given response keys that are stored (others absent)."""
        with self.transaction():
            self.stage("wanted_keys", pd.DataFrame({"response_key": list(keys)}), {"response_key": TEXT})
            return self.query_frame(
                "SELECT r.response_key, r.content_hash, r.version FROM responses r "
                "JOIN wanted_keys k ON r.response_key = k.response_key"
            )

    def write_chunk(self, run_id: int, responses: pd.DataFrame, comments: pd.DataFrame, rejected: pd.DataFrame,
                    file_sha: str, rows_done: int, counts: dict[str, int]) -> None:
        """Commit one chunk: responses (new or newer versions), their scored comments, rejects, progress.

        A response that is stored already moves with its comments to the history tables first, so a
        corrected re-export keeps what it replaced. Only a chunk with such a response (version 2 and up)
        looks for them: the look scans the stored tables, and in a back-fill of new responses it cost
        more with every chunk committed (docs/performance.md, section 6).
        """
        with self.transaction():
            if len(responses):
                self.stage("chunk_responses", responses, RESPONSE_FIELDS)
                self.stage("chunk_comments", comments, COMMENT_FIELDS)
                if (responses["version"] > 1).any():
                    self._move_to_history(run_id)
                self._insert_from("responses", "chunk_responses", RESPONSE_FIELDS)
                self._insert_from("comments", "chunk_comments", COMMENT_FIELDS)
            if len(rejected):
                fields = TABLES["rejected"][0]
                self.stage("chunk_rejected", rejected, fields)
                self.execute(
                    f"INSERT INTO rejected ({', '.join(fields)}) SELECT {', '.join(fields)} FROM chunk_rejected "
                    "ON CONFLICT (file_sha, source_row) DO NOTHING"
                )
            self.execute("UPDATE files SET rows_done = ? WHERE file_sha = ?", (rows_done, file_sha))
            self.add_to_run(run_id, **counts)

    def finish_file(self, file_sha: str, run_id: int) -> None:
        """Every row of the file is committed: later runs skip it by its content hash."""
        with self.transaction():
            self.execute("UPDATE files SET status = 'done', done_run = ? WHERE file_sha = ?", (run_id, file_sha))

    def _move_to_history(self, run_id: int) -> None:
        old = "SELECT response_key FROM chunk_responses"
        fields = ", ".join(RESPONSE_FIELDS)
        self.execute(
            f"INSERT INTO response_history ({fields}, superseded_run) SELECT {fields}, ? FROM responses "
            f"WHERE response_key IN ({old})", (run_id,),
        )
        fields = ", ".join(COMMENT_FIELDS)
        self.execute(
            f"INSERT INTO comment_history ({fields}, superseded_run) SELECT {fields}, ? FROM comments "
            f"WHERE response_key IN ({old})", (run_id,),
        )
        self.execute(f"DELETE FROM comments WHERE response_key IN ({old})")
        self.execute(f"DELETE FROM responses WHERE response_key IN ({old})")

    def _insert_from(self, table: str, staged: str, fields: dict[str, str]) -> None:
        names = ", ".join(fields)
        self.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {staged}")

    def comments_to_rescore(self, model_version: str, limit: int) -> pd.DataFrame:
        """The next comments scored by another model version, in a stable order (so a rescore resumes)."""
        return self.query_frame(
            "SELECT response_key, question, version, text FROM comments WHERE cx_model_version <> ? "
            "ORDER BY response_key, question LIMIT ?", (model_version, limit),
        )

    def replace_scores(self, run_id: int, comments: pd.DataFrame) -> None:
        """Rescored comments replace their old scores in one transaction."""
        with self.transaction():
            self.stage("rescored", comments, COMMENT_FIELDS)
            self.execute(
                "DELETE FROM comments USING rescored "
                "WHERE comments.response_key = rescored.response_key AND comments.question = rescored.question"
            )
            self._insert_from("comments", "rescored", COMMENT_FIELDS)
            self.add_to_run(run_id, comments_scored=len(comments))

    def model_versions(self) -> dict[str, int]:
        """Comments per model version that scored them."""
        return {str(v): int(n) for v, n in self.execute(
            "SELECT cx_model_version, COUNT(*) FROM comments GROUP BY cx_model_version ORDER BY 1")}

    # --- reading back --------------------------------------------------------------------------
    def count_responses(self, since: datetime | None = None) -> int:
        where, params = ("WHERE submitted_at >= ?", (since,)) if since is not None else ("", ())
        return int(self.execute(f"SELECT COUNT(*) FROM responses {where}", params)[0][0])

    def newest_submission(self) -> datetime | None:
        value = self.execute("SELECT MAX(submitted_at) FROM responses")[0][0]
        return pd.Timestamp(value).to_pydatetime() if value is not None else None

    def scored_comments(self, since: datetime | None = None, rows: int = 50_000,
                        fields: Sequence[str] | None = None) -> Iterator[pd.DataFrame]:
        """Responses joined with their scored comments (responses without comments too), in chunks,
        in no particular order (sorting a million rows would cost the memory streaming saves).

        `fields` picks columns (default: all but bookkeeping), so a report over a large window
        reads only what it needs."""
        available = {**{n: "r" for n in RESPONSE_FIELDS if n not in ("version", "run_id")},
                     **{n: "c" for n in COMMENT_FIELDS if n not in ("response_key", "run_id")}}
        wanted = list(fields) if fields is not None else list(available)
        unknown = [n for n in wanted if n not in available]
        if unknown:
            raise ValueError(f"unknown fields {unknown}")
        where, params = ("WHERE r.submitted_at >= ?", (since,)) if since is not None else ("", ())
        return self.iter_frames(
            f"SELECT {', '.join(f'{available[n]}.{n}' for n in wanted)} FROM responses r "
            f"LEFT JOIN comments c ON c.response_key = r.response_key {where}", params, rows,
        )

    def rejected_rows(self, run_id: int | None = None) -> pd.DataFrame:
        where, params = ("WHERE run_id = ?", (run_id,)) if run_id is not None else ("", ())
        return self.query_frame(f"SELECT * FROM rejected {where} ORDER BY path, source_row", params)

    def table(self, name: str) -> pd.DataFrame:
        """A whole table in key order (tests and audits compare stores with it)."""
        key = TABLES[name][1]
        return self.query_frame(f"SELECT * FROM {name} ORDER BY {', '.join(key)}")


class DuckDBStore(Store):
    """The embedded default: one file, and a lock file beside it."""

    dialect = "duckdb"

    def __init__(self, url: str) -> None:
        import duckdb

        super().__init__(url)
        self.path = Path(url)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self._lock_file = None
        self._acquire_file_lock()  # a second writer would fail on DuckDB's own file lock with a worse message
        try:
            # Without insertion order kept, DuckDB streams a large join instead of buffering it.
            self.con = duckdb.connect(str(self.path), config={"memory_limit": DUCKDB_MEMORY_LIMIT,
                                                              "preserve_insertion_order": False})
        except Exception:
            self._release_file_lock()
            raise
        self._staged: list[str] = []

    def _acquire_file_lock(self) -> None:
        handle = self._lock_path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            handle.close()
            raise StoreLockedError(f"{self.path} is in use by {owner}; try again when it has finished.") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"cxnlp pid {os.getpid()} on {socket.gethostname()} since {_now():%Y-%m-%d %H:%M:%S}")
        handle.flush()
        self._lock_file = handle

    def _release_file_lock(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()  # closing releases the flock
            self._lock_file = None

    @contextmanager
    def lock(self) -> Iterator[None]:
        yield  # held from open to close: DuckDB lets one process at a time open the file anyway

    def execute(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        cursor = self.con.execute(sql, _plain(params))
        return cursor.fetchall() if cursor.description else []

    def query_frame(self, sql: str, params: Sequence[object] = ()) -> pd.DataFrame:
        return self.con.execute(sql, _plain(params)).fetchdf()

    def iter_frames(self, sql: str, params: Sequence[object] = (), rows: int = 50_000) -> Iterator[pd.DataFrame]:
        reader = self.con.sql(sql, params=_plain(params) or None).to_arrow_reader(rows)
        for batch in reader:
            yield batch.to_pandas()

    def stage(self, name: str, frame: pd.DataFrame, types: dict[str, str]) -> None:
        self.con.register(name, _typed(frame, types))
        self._staged.append(name)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        else:
            self.con.execute("COMMIT")
        finally:
            for name in self._staged:
                self.con.unregister(name)
            self._staged.clear()

    def close(self) -> None:
        self.con.close()
        self._release_file_lock()


class PostgresStore(Store):
    """A PostgreSQL database: the same tables; the lock is a session advisory lock."""

    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        import psycopg

        super().__init__(url)
        try:
            self.conn = psycopg.connect(url, autocommit=True)
        except psycopg.OperationalError as err:
            raise CxnlpError(f"cannot connect to the store {_redact(url)}: {str(err).strip()}") from None
        self._locked = False

    @contextmanager
    def lock(self) -> Iterator[None]:
        if not self.execute("SELECT pg_try_advisory_lock(?)", (LOCK_ID,))[0][0]:
            owner = self.execute("SELECT host, pid, started_at FROM runs WHERE status = 'running' ORDER BY run_id DESC LIMIT 1") \
                if self._has_runs() else []
            who = f"run on {owner[0][0]} (pid {owner[0][1]}, since {owner[0][2]:%Y-%m-%d %H:%M:%S})" if owner else "another run"
            raise StoreLockedError(f"{_redact(self.url)} is in use by {who}; try again when it has finished.")
        try:
            yield
        finally:
            self.execute("SELECT pg_advisory_unlock(?)", (LOCK_ID,))

    def _has_runs(self) -> bool:
        return bool(self.execute("SELECT to_regclass('runs') IS NOT NULL")[0][0])

    def execute(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        with self.conn.cursor() as cur:
            cur.execute(_pg(sql), _plain(params))
            return cur.fetchall() if cur.description else []

    def query_frame(self, sql: str, params: Sequence[object] = ()) -> pd.DataFrame:
        with self.conn.cursor() as cur:
            cur.execute(_pg(sql), _plain(params))
            return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])

    def iter_frames(self, sql: str, params: Sequence[object] = (), rows: int = 50_000) -> Iterator[pd.DataFrame]:
        with self.conn.transaction(), self.conn.cursor(name="cxnlp_read") as cur:
            cur.execute(_pg(sql), _plain(params))
            while batch := cur.fetchmany(rows):
                yield pd.DataFrame(batch, columns=[d.name for d in cur.description])

    def stage(self, name: str, frame: pd.DataFrame, types: dict[str, str]) -> None:
        frame, columns = _typed(frame, types), list(types)
        self.execute(f"CREATE TEMP TABLE {name} ({', '.join(f'{c} {types[c]}' for c in columns)}) ON COMMIT DROP")
        values = [_python_values(frame[c]) for c in columns]
        with self.conn.cursor() as cur, cur.copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in zip(*values):
                copy.write_row(row)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.conn.transaction():
            yield

    def close(self) -> None:
        self.conn.close()


def open_store(url: str) -> Store:
    """A DuckDB file path or a postgresql:// URL, with the schema in place."""
    store: Store = PostgresStore(url) if url.startswith(("postgresql://", "postgres://")) else DuckDBStore(url)
    try:
        store.create_schema()
    except BaseException:
        store.close()
        raise
    return store


def _typed(frame: pd.DataFrame, types: dict[str, str]) -> pd.DataFrame:
    """The frame's columns in schema order with the schema's types (missing ones as nulls)."""
    out = {}
    for name, kind in types.items():
        column = frame[name] if name in frame.columns else pd.Series([None] * len(frame), index=frame.index)
        if kind == FLOAT:
            column = pd.to_numeric(column, errors="coerce").astype("float64")
        elif kind == INT:
            column = pd.to_numeric(column, errors="coerce").astype("Int64")
        elif kind == BOOL:
            column = column.astype("boolean")
        elif kind == TIME:
            column = pd.to_datetime(column)
        else:
            column = column.astype(object).where(column.notna(), None)
        out[name] = column.to_numpy() if kind != INT else column
    return pd.DataFrame(out, index=frame.index)


def _python_values(column: pd.Series) -> list:
    """Plain Python values with None for missing ones, which is what a database driver adapts."""
    return [None if v is None or v is pd.NaT or (isinstance(v, float) and np.isnan(v)) or v is pd.NA
            else (v.to_pydatetime() if isinstance(v, pd.Timestamp) else v)
            for v in column.astype(object).tolist()]


def _plain(params: Sequence[object]) -> tuple:
    return tuple(v.item() if isinstance(v, np.generic) else v for v in params)


def _pg(sql: str) -> str:
    return sql.replace("%", "%%").replace("?", "%s")


def _redact(url: str) -> str:
    """A connection URL without its password, for messages and logs."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def _now() -> datetime:
    return datetime.now().replace(microsecond=0)
