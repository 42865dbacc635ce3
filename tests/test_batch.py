"""`cxnlp batch`: incremental, idempotent, crash-safe, loud about bad input.

Most tests run the runner in-process with the toy pipeline (fast, deterministic); the
kill-and-resume test runs the real CLI in a subprocess and kills it with SIGKILL.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from cxnlp.batch.config import load_batch_config
from cxnlp.batch.engines import LocalEngine
from cxnlp.batch.runner import REJECTED_EXIT, BatchRunner
from cxnlp.batch.store import StoreLockedError, open_store
from cxnlp.config import Settings

from conftest import CLASSIFIER_DIR, EMBEDDER_DIR

COMMENTS = [
    "Väntade 45 minuter i telefonkön innan någon svarade.",
    "Trevlig personal i butiken, de tog sig tid att förklara.",
    "Fakturan var högre än det pris jag blev lovad.",
    "Ventet lenge i telefonkø, og ingen ringte tilbake som avtalt.",
    "Hyggelig og hjelpsom betjening på chat.",
    "Appen krasjer hver gang jeg prøver å betale regningen.",
    "Friendly staff who remembered my case from last week.",
    "Hidden fees on the bill that nobody mentioned when I signed up.",
    "Problem still not fixed after three calls.",
    "Quick and easy, sorted in two minutes.",
    "",
    "Ok",
]
STORED_TABLES = ("responses", "response_history", "comments", "comment_history", "rejected", "files")
RUN_BOOKKEEPING = ("run_id", "done_run", "superseded_run")  # which run did it differs after a resume


def export_rows(n: int, first_id: int = 1, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    return [{"id": f"R{first_id + i:05d}", "submitted_at": f"2026-{rng.randint(9, 10):02d}-{rng.randint(1, 28):02d}T12:00:00",
             "channel": rng.choice(["app", "phone", "store"]), "nps": str(rng.randint(0, 10)),
             "comment": rng.choice(COMMENTS)} for i in range(n)]


def write_export(path: Path, rows: list[dict], columns: tuple[str, ...] = ("id", "submitted_at", "channel", "nps", "comment")) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=list(columns)).to_csv(path, sep=";", index=False)
    return path


def write_config(folder: Path, store: str = "cxnlp.duckdb", chunk_rows: int = 10, extra: str = "") -> Path:
    config = folder / "cxnlp.toml"
    config.write_text(f"""
[batch]
inputs = "exports"
store = "{store}"
output = "out"
chunk_rows = {chunk_rows}
max_comment_chars = 300
window_days = 400
{extra}
[[batch.sources]]
name = "nps"
match = "*.csv"
id = "id"
timestamp = "submitted_at"
rating = "nps"
segments = {{ channel = "channel" }}
comments = {{ why = "comment" }}
""", encoding="utf-8")
    return config


@pytest.fixture(scope="module")
def engine(toy_pipeline):
    return LocalEngine(toy_pipeline)


@pytest.fixture(params=["duckdb", "postgresql"])
def store_url(request) -> str:
    """The same tests against the embedded default and a real PostgreSQL server."""
    return "cxnlp.duckdb" if request.param == "duckdb" else request.getfixturevalue("fresh_postgres_url")


def run(config: Path, engine, **kwargs):
    return BatchRunner(load_batch_config(config), Settings.load(config), engine, config_path=config).run(**kwargs)


def stored(config: Path) -> dict[str, pd.DataFrame]:
    store = open_store(load_batch_config(config).store)
    try:
        return {t: store.table(t).drop(columns=list(RUN_BOOKKEEPING), errors="ignore") for t in STORED_TABLES}
    finally:
        store.close()


def test_second_run_of_the_same_night_changes_nothing(tmp_path, engine, store_url):
    write_export(tmp_path / "exports" / "night1.csv", export_rows(25))
    config = write_config(tmp_path, store=store_url)
    first = run(config, engine, publish_outputs=False)
    assert first.counts["rows_new"] == 25 and first.counts["rows_duplicate"] == 0
    before = stored(config)
    second = run(config, engine, publish_outputs=False)
    assert second.counts["rows_new"] == 0 and second.counts["files_skipped"] == 1 and second.counts["comments_scored"] == 0
    for table, frame in stored(config).items():
        pd.testing.assert_frame_equal(frame, before[table], obj=table)


def test_a_copy_and_an_overlapping_export_add_nothing_twice(tmp_path, engine):
    rows = export_rows(20)
    write_export(tmp_path / "exports" / "a.csv", rows)
    write_export(tmp_path / "exports" / "b_copy_renamed.csv", rows)  # same bytes, other name
    write_export(tmp_path / "exports" / "c_overlap.csv", rows[10:] + export_rows(5, first_id=100))
    result = run(write_config(tmp_path), engine, publish_outputs=False)
    assert result.counts["rows_new"] == 25
    assert result.counts["files_skipped"] == 1  # the byte-identical copy
    assert result.counts["rows_duplicate"] == 10
    assert len(stored(tmp_path / "cxnlp.toml")["responses"]) == 25


def test_corrected_reexport_updates_the_response_and_keeps_history(tmp_path, engine, store_url):
    rows = export_rows(12)
    write_export(tmp_path / "exports" / "2026-10-01.csv", rows)
    config = write_config(tmp_path, store=store_url)
    run(config, engine, publish_outputs=False)
    corrected = [dict(r) for r in rows[:3]]
    corrected[0]["nps"] = "10" if corrected[0]["nps"] != "10" else "0"
    corrected[1]["comment"] = "Changed my mind: the refund arrived and the problem is fixed."
    write_export(tmp_path / "exports" / "2026-10-02_corrected.csv", corrected)
    result = run(config, engine, publish_outputs=False)
    assert (result.counts["rows_updated"], result.counts["rows_duplicate"], result.counts["rows_new"]) == (2, 1, 0)
    tables = stored(config)
    responses = tables["responses"].set_index("response_key")
    assert responses.loc["nps:R00001", "version"] == 2 and responses.loc["nps:R00001", "rating"] == float(corrected[0]["nps"])
    assert responses.loc["nps:R00003", "version"] == 1
    history = tables["response_history"].set_index("response_key")
    assert sorted(history.index) == ["nps:R00001", "nps:R00002"]
    assert history.loc["nps:R00001", "rating"] == float(rows[0]["nps"])
    comments = tables["comments"].set_index("response_key")
    assert comments.loc["nps:R00002", "text"] == corrected[1]["comment"]
    assert tables["comment_history"].set_index("response_key").loc["nps:R00002", "text"] == rows[1]["comment"]


def test_bad_rows_and_files_are_rejected_loudly_and_the_rest_goes_on(tmp_path, engine, store_url):
    good = export_rows(8)
    bad_rows = export_rows(3, first_id=50)
    bad_rows[0]["nps"] = "eleven"
    bad_rows[1]["comment"] = "x" * 400  # over max_comment_chars = 300
    write_export(tmp_path / "exports" / "1_good.csv", good)
    write_export(tmp_path / "exports" / "2_mixed.csv", bad_rows)
    write_export(tmp_path / "exports" / "3_no_nps_column.csv", good, columns=("id", "submitted_at", "channel", "comment"))
    (tmp_path / "exports" / "4_binary.csv").write_bytes(b"id;nps\n\xff\xfe\x00\x81garbage\n")
    config = write_config(tmp_path, store=store_url)
    result = run(config, engine)
    assert result.exit_code == REJECTED_EXIT
    assert result.counts["rows_new"] == 9 and result.counts["rows_rejected"] == 2 and result.counts["files_rejected"] == 2
    rejected = stored(config)["rejected"]
    by_row = {(Path(p).name, r): (c, reason) for p, r, c, reason in rejected[["path", "source_row", "column_name", "reason"]].itertuples(index=False)}
    assert by_row[("2_mixed.csv", 2)][0] == "nps" and "eleven" in by_row[("2_mixed.csv", 2)][1]
    assert by_row[("2_mixed.csv", 3)][0] == "comment" and "400" in by_row[("2_mixed.csv", 3)][1]
    assert "nps" in by_row[("3_no_nps_column.csv", 0)][1]
    quarantined = sorted(p.name.split("-", 1)[1] for p in (tmp_path / "out" / "quarantine").iterdir())
    assert quarantined == ["3_no_nps_column.csv", "4_binary.csv"]
    assert (tmp_path / "exports" / "4_binary.csv").exists()  # the scheduler's folder is left as it was
    listing = pd.read_csv(result.rejected_csv, sep=None, engine="python", encoding="utf-8-sig")
    assert len(listing) == 4
    again = run(config, engine, publish_outputs=False)  # known bad files are not news: no second alert
    assert again.exit_code == 0 and again.counts["files_skipped"] == 4


def test_outputs_report_snapshot_and_change_since_last_run(tmp_path, engine, store_url):
    write_export(tmp_path / "exports" / "night1.csv", export_rows(40))
    config = write_config(tmp_path, store=store_url)
    first = run(config, engine)
    summary = json.loads(first.line())
    assert summary["report"] and Path(summary["report"]).is_file()
    snapshot = pd.read_parquet(first.snapshot)
    assert len(snapshot) == 40 and {"channel", "cx_pillars", "rating", "submitted_at"} <= set(snapshot.columns)
    assert "since_last_run" in json.loads((tmp_path / "out" / "report" / "summary.json").read_text())
    write_export(tmp_path / "exports" / "night2.csv", export_rows(30, first_id=500, seed=1))
    second = run(config, engine)
    since = json.loads((tmp_path / "out" / "report" / "summary.json").read_text())["since_last_run"]
    assert since["run_id"] == first.run_id
    rows = {m["measure"]: m for m in since["measures"]}
    assert (rows["rows"]["before"], rows["rows"]["now"]) == (40, 70)
    assert "Since the last run" in Path(second.report).read_text(encoding="utf-8")
    assert len(pd.read_parquet(second.snapshot)) == 70


def test_formula_like_comments_are_escaped_in_the_rejected_csv(tmp_path, engine):
    rows = export_rows(2)
    rows[1]["nps"] = "=HYPERLINK(\"http://x\")"
    write_export(tmp_path / "exports" / "night.csv", rows)
    result = run(write_config(tmp_path), engine)
    text = Path(result.rejected_csv).read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK" in text and ";=HYPERLINK" not in text


def test_two_comment_questions_count_as_one_response(tmp_path, engine):
    config = write_config(tmp_path).read_text(encoding="utf-8").replace(
        'comments = { why = "comment" }', 'comments = { why = "comment", else = "more" }')
    (tmp_path / "cxnlp.toml").write_text(config, encoding="utf-8")
    rows = export_rows(6)
    for r in rows:
        r["more"] = "Appen er tungvint." if r["id"] == "R00002" else ""
    write_export(tmp_path / "exports" / "night.csv", rows, columns=("id", "submitted_at", "channel", "nps", "comment", "more"))
    result = run(tmp_path / "cxnlp.toml", engine)
    comments = stored(tmp_path / "cxnlp.toml")["comments"]
    assert len(comments[comments["response_key"] == "nps:R00002"]) == (2 if rows[1]["comment"] else 1)
    summary = json.loads((Path(result.report).parent / "summary.json").read_text())
    assert summary["coverage"]["rows"] == 6 and summary["rating"]["n"] == 6


def test_a_second_run_while_one_holds_the_store_is_refused(tmp_path, engine, store_url):
    write_export(tmp_path / "exports" / "night.csv", export_rows(3))
    config = write_config(tmp_path, store=store_url)
    holder = open_store(load_batch_config(config).store)
    try:
        with holder.lock(), pytest.raises(StoreLockedError, match="in use by"):
            run(config, engine, publish_outputs=False)
    finally:
        holder.close()
    assert run(config, engine, publish_outputs=False).counts["rows_new"] == 3  # free again


def test_rescore_with_a_new_model_version_is_resumable(tmp_path, toy_pipeline, engine, store_url):
    rows = export_rows(25)
    write_export(tmp_path / "exports" / "night.csv", rows)
    config = write_config(tmp_path, store=store_url)
    run(config, engine, publish_outputs=False)
    with_text = sum(bool(r["comment"]) for r in rows)

    class NewVersion(LocalEngine):
        """The toy model under a new version name, dying after `fail_after` scoring tasks."""

        def __init__(self, pipeline, fail_after=None):
            super().__init__(pipeline)
            self.model_version, self.fail_after = "v-next", fail_after

        def score_stream(self, frames, text_col="text"):
            for frame in super().score_stream(frames, text_col):
                if self.fail_after == 0:
                    raise RuntimeError("worker lost")
                if self.fail_after is not None:
                    self.fail_after -= 1
                yield frame.assign(cx_model_version=self.model_version)

    with pytest.raises(RuntimeError, match="worker lost"):
        run(config, NewVersion(toy_pipeline, fail_after=1), rescore=True, publish_outputs=False)
    assert (stored(config)["comments"]["cx_model_version"] == "v-next").sum() == 10  # one chunk committed
    result = run(config, NewVersion(toy_pipeline), rescore=True, publish_outputs=False)
    assert result.rescored == with_text - 10
    assert set(stored(config)["comments"]["cx_model_version"]) == {"v-next"}
    assert run(config, NewVersion(toy_pipeline), rescore=True, publish_outputs=False).rescored == 0


def test_the_local_engine_scores_whole_chunks_and_a_cluster_engine_partitions(tmp_path, toy_pipeline):
    """A whole chunk per call is what lets the pipeline use its scoring processes; partitions are
    what spread a chunk over a cluster. Either way the same scores are stored."""

    class Recording(LocalEngine):
        def __init__(self, pipeline, partition_rows=None):
            super().__init__(pipeline)
            self.partition_rows, self.frame_rows = partition_rows, []

        def score_stream(self, frames, text_col="text"):
            frames = list(frames)
            self.frame_rows.append([len(frame) for frame in frames])
            return super().score_stream(frames, text_col)

    rows = export_rows(1300, seed=3)
    with_text = [sum(bool(r["comment"]) for r in rows[i:i + 1000]) for i in (0, 1000)]
    stores = {}
    for name, engine, frame_rows in (
        ("local", Recording(toy_pipeline), [[with_text[0]], [with_text[1]]]),
        ("partitioned", Recording(toy_pipeline, 400), [[400, 400, with_text[0] - 800], [with_text[1]]]),
    ):
        write_export(tmp_path / name / "exports" / "night.csv", rows)
        config = write_config(tmp_path / name, chunk_rows=1000)
        run(config, engine, publish_outputs=False)
        stores[name] = stored(config)
        assert engine.frame_rows == frame_rows, name
    for table in STORED_TABLES:
        pd.testing.assert_frame_equal(stores["partitioned"][table].drop(columns=["path"], errors="ignore"),
                                      stores["local"][table].drop(columns=["path"], errors="ignore"),
                                      check_exact=True, obj=table)


@pytest.mark.skipif(not (EMBEDDER_DIR / "model.safetensors").is_file() or not (CLASSIFIER_DIR / "config.json").is_file(),
                    reason="real models not built; run `make embedder`")
@pytest.mark.parametrize("backend", ["duckdb", "postgresql"])
def test_killed_run_resumes_to_exactly_the_uninterrupted_store(tmp_path, request, backend):
    """SIGKILL a real `cxnlp batch` after its second committed chunk, run again, compare."""
    rows = export_rows(60, seed=7)
    for name in ("killed", "clean"):
        write_export(tmp_path / name / "exports" / "night1.csv", rows[:35])
        write_export(tmp_path / name / "exports" / "night2.csv", rows[30:] + export_rows(6, first_id=900))
        url = "cxnlp.duckdb" if backend == "duckdb" else request.getfixturevalue("postgres_server").create_database(f"kill_{name}")
        write_config(tmp_path / name, store=url, chunk_rows=8)
    # One embedding cache for both: the clean run reads vectors the killed run wrote.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CXNLP_CACHE_DIR": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "cxnlp", "batch", "--config", "cxnlp.toml"]

    proc = subprocess.Popen(command, cwd=tmp_path / "killed", env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    commits = 0
    deadline = time.monotonic() + 300
    for line in proc.stderr:
        commits += "committed" in line
        if commits == 2 or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert commits == 2, "the run never committed two chunks"
    resumed = subprocess.run(command, cwd=tmp_path / "killed", env=env, capture_output=True, text=True)
    clean = subprocess.run(command, cwd=tmp_path / "clean", env=env, capture_output=True, text=True)
    assert resumed.returncode in (0, 3) and clean.returncode in (0, 3), resumed.stderr + clean.stderr
    killed_store, clean_store = stored(tmp_path / "killed" / "cxnlp.toml"), stored(tmp_path / "clean" / "cxnlp.toml")
    for table in STORED_TABLES:
        a = killed_store[table].drop(columns=["path"], errors="ignore")
        b = clean_store[table].drop(columns=["path"], errors="ignore")
        pd.testing.assert_frame_equal(a, b, obj=table)
    store = open_store(load_batch_config(tmp_path / "killed" / "cxnlp.toml").store)
    try:
        runs = store.table("runs")
    finally:
        store.close()
    assert list(runs["status"]) == ["interrupted", "ok"]
    assert json.loads(resumed.stdout.strip().splitlines()[-1])["counts"]["rows_new"] < 66


def test_config_mistakes_name_the_file_and_the_setting(tmp_path):
    from cxnlp.errors import InputFileError

    config = write_config(tmp_path)
    text = config.read_text(encoding="utf-8")
    config.write_text(text + '\n[[batch.sources]]\nname = "csat"\nrating_kind = "mean"\ncomments = { why = "c" }\n',
                      encoding="utf-8")
    with pytest.raises(InputFileError, match="cxnlp.toml.*rating_kind"):
        load_batch_config(config)
    config.write_text(text.replace('comments = { why = "comment" }', ""), encoding="utf-8")
    with pytest.raises(InputFileError, match=r"batch\.sources\.0\.comments"):
        load_batch_config(config)
    config.write_text("[cxnlp]\nbackend = 'onnx-int8'\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"no \[batch\] table"):
        load_batch_config(config)


def test_a_refused_file_is_read_once_its_mapping_is_fixed(tmp_path, engine):
    write_export(tmp_path / "exports" / "night.csv", export_rows(4))
    pd.DataFrame(export_rows(3, first_id=70)).to_csv(tmp_path / "exports" / "extra.tsv", sep="\t", index=False)
    config = write_config(tmp_path)
    first = run(config, engine, publish_outputs=False)
    assert (first.counts["files_rejected"], first.counts["rows_new"], first.exit_code) == (1, 4, REJECTED_EXIT)
    assert run(config, engine, publish_outputs=False).exit_code == 0  # the same refusal is not news
    config.write_text(config.read_text(encoding="utf-8").replace('match = "*.csv"', 'match = "*.?sv"'), encoding="utf-8")
    fixed = run(config, engine, publish_outputs=False)
    assert (fixed.counts["rows_new"], fixed.counts["files_rejected"], fixed.exit_code) == (3, 0, 0)
    assert dict(stored(config)["files"][["path", "status"]].itertuples(index=False)) == {
        str(tmp_path / "exports" / "night.csv"): "done", str(tmp_path / "exports" / "extra.tsv"): "done"}


def test_a_window_larger_than_the_report_budget_is_reported_from_a_stable_sample(tmp_path, engine):
    write_export(tmp_path / "exports" / "night.csv", export_rows(2500, seed=3))
    config = write_config(tmp_path, chunk_rows=2500, extra="report_max_responses = 1000\n")
    result = run(config, engine)
    coverage = json.loads((Path(result.report).parent / "summary.json").read_text())["coverage"]
    assert coverage["sampled_from"] == 2500 and 800 < coverage["rows"] < 1200  # a hash-based share of 40%
    assert "drawn at random" in Path(result.report).read_text(encoding="utf-8")
    again = run(config, engine)
    assert json.loads((Path(again.report).parent / "summary.json").read_text())["coverage"]["rows"] == coverage["rows"]
