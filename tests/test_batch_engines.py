"""The Dask engine scores a night's chunks exactly as the local engine does: same frames, same
order, a bounded window of chunks in flight, and each worker loading the model once."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import CLASSIFIER_DIR, EMBEDDER_DIR

from cxnlp import OUTPUT_COLUMNS
from cxnlp.config import Settings
from cxnlp.errors import ClusterError, MissingColumnError, ModelNotFoundError

COMMENTS = [
    "Väntade 45 minuter i telefonkön och sen bröts samtalet.",
    "Personalen i butiken var otroligt trevlig och hjälpsam!",
    "Kundeservice svarte aldri på e-posten min, helt håpløst.",
    "The app crashes every time I try to pay my bill.",
    "-",
    "Jag fick tillbaka pengarna direkt, smidigt.",
    "Måtte ringe fire ganger før noen tok tak i saken.",
    "Hidden fees on the invoice that nobody told me about.",
    "Bra",
    "Dere lovet å ringe tilbake, men ingen ringte.",
    "They knew my history and didn't make me repeat anything.",
    "Fakturan var fel tre månader i rad och ingen tar ansvar.",
    "Veldig hyggelig dame på telefonen, hun forsto meg.",
    "Had to fill in five different forms to change my address",
    "Inget att tillägga",
    "Leveransen kom en vecka för sent utan förklaring.",
    "Great",
    "Prisene er ærlige og lette å forstå.",
    "Chat support solved it in two minutes, impressive.",
    "Ni lovade återkoppling inom 24 timmar men jag har väntat i två veckor.",
    "Ingen hjalp meg, jeg ble sendt rundt mellom avdelinger.",
    "Rude agent who hung up on me.",
    "Väldigt nöjd med bemötandet, de lyssnade verkligen.",
    "Appen er treg og logger meg ut hele tiden.",
]
CHUNK_SIZES = [5, 3, 8, 4, 10, 6, 7]  # 43 comments: the list and then some of it again, across chunks


def night_chunks() -> list[pd.DataFrame]:
    """Chunks as the runner hands them over; comments come back in later chunks (the cache's case)."""
    texts = (COMMENTS * 2)[: sum(CHUNK_SIZES)]
    chunks, start = [], 0
    for number, size in enumerate(CHUNK_SIZES):
        rows = range(start, start + size)
        chunks.append(pd.DataFrame({"response_key": [f"survey:R{i}" for i in rows],
                                    "question": ["why" if i % 3 else "improve" for i in rows],
                                    "text": [texts[i] for i in rows]}, index=pd.RangeIndex(start, start + size)))
        start += size
    return chunks


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    if not (EMBEDDER_DIR / "onnx" / "embedder-int8.onnx").is_file():
        pytest.skip("models/embedder and its ONNX export not built; run `make embedder`")
    return Settings(embedder=str(EMBEDDER_DIR), classifier=str(CLASSIFIER_DIR), threads=2,
                    cache_dir=str(tmp_path_factory.mktemp("local-cache")))


@pytest.fixture(scope="module")
def local_frames(settings):
    from cxnlp.batch.engines import make_engine

    with make_engine("local", settings) as engine:
        frames = list(engine.score_stream(night_chunks()))
    assert {v for f in frames for v in f["cx_model_version"]} == {engine.model_version}
    return frames


@pytest.fixture(scope="module")
def dask_engine(settings, tmp_path_factory):
    """Two worker processes of one thread each, sharing their own cold cache: what they embed must
    not depend on which of them got a chunk first, nor on what the local run cached."""
    from distributed import LocalCluster

    from cxnlp.batch.engines import DaskEngine, batch_settings

    dask_settings = batch_settings(settings.model_copy(update={"cache_dir": str(tmp_path_factory.mktemp("dask-cache"))}))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        with DaskEngine(cluster.scheduler_address, dask_settings, max_in_flight=3) as engine:
            yield engine


class CountingChunks:
    """The runner's iterable: records how far it has been pulled, and checks the window each time."""

    def __init__(self, chunks: list[pd.DataFrame]) -> None:
        self.chunks = chunks
        self.pulled = 0
        self.yielded = 0
        self.most_ahead = 0

    def __iter__(self):
        for chunk in self.chunks:
            self.pulled += 1
            self.most_ahead = max(self.most_ahead, self.pulled - self.yielded)
            yield chunk


def test_dask_engine_gives_the_local_engines_frames_in_order(dask_engine, local_frames):
    chunks = CountingChunks(night_chunks())
    frames = []
    for frame in dask_engine.score_stream(chunks):
        frames.append(frame)
        chunks.yielded += 1
    assert chunks.pulled == len(CHUNK_SIZES)
    assert chunks.most_ahead == dask_engine.max_in_flight == 3  # the window was used, and never exceeded
    assert len(frames) == len(local_frames) == len(CHUNK_SIZES)
    assert {v for f in frames for v in f["cx_model_version"]} == {dask_engine.model_version}
    for chunk, local, remote in zip(night_chunks(), local_frames, frames):
        assert remote["response_key"].tolist() == chunk["response_key"].tolist()
        assert list(remote.columns) == [*chunk.columns, *OUTPUT_COLUMNS]
        pd.testing.assert_frame_equal(remote, local, check_exact=True)


def test_scores_do_not_depend_on_what_the_embedding_cache_held(settings, local_frames):
    """Comments repeated in later chunks came from the cache in the local run; a resumed run or a
    worker that got a chunk first would embed them afresh, and must store the same scores."""
    from cxnlp.batch.engines import make_engine

    with make_engine("local", settings.model_copy(update={"cache_dir": None})) as engine:
        uncached = list(engine.score_stream(night_chunks()))
    for local, fresh in zip(local_frames, uncached):
        pd.testing.assert_frame_equal(fresh, local, check_exact=True)


def test_each_worker_loads_the_model_once_for_all_chunks(dask_engine):
    list(dask_engine.score_stream(night_chunks()))
    assert sorted(dask_engine.pipeline_loads().values()) == [1, 1]


def test_dask_engine_pulls_no_further_than_the_consumer_needs(dask_engine):
    chunks = CountingChunks(night_chunks())
    stream = dask_engine.score_stream(chunks)
    first = next(stream)
    stream.close()  # the runner stops after one chunk (e.g. told to shut down)
    assert first["response_key"].tolist() == night_chunks()[0]["response_key"].tolist()
    assert chunks.pulled == dask_engine.max_in_flight


def test_dask_engine_raises_the_workers_error_for_a_bad_chunk(dask_engine):
    chunks = night_chunks()
    chunks[1] = chunks[1].rename(columns={"text": "comment"})
    stream = dask_engine.score_stream(chunks)
    next(stream)
    with pytest.raises(MissingColumnError, match="'text'"):
        next(stream)


def test_a_chunk_scored_by_another_model_version_is_refused(dask_engine, monkeypatch):
    """A worker that joined mid-run with other models installed must not mix versions into the night."""
    monkeypatch.setattr(dask_engine, "model_version", "the-version-the-run-started-with")
    with pytest.raises(ClusterError, match="the-version-the-run-started-with"):
        next(dask_engine.score_stream(night_chunks()))


def test_a_model_the_workers_cannot_read_fails_before_any_chunk(dask_engine, settings, tmp_path):
    from cxnlp.batch.engines import make_engine

    missing = settings.model_copy(update={"classifier": str(tmp_path / "no-such-classifier")})
    with pytest.raises(ModelNotFoundError, match="no-such-classifier"):
        make_engine("dask", missing)  # no scheduler: starts its own local cluster, and stops it again
    assert len(next(dask_engine.score_stream(night_chunks()[:1]))) == CHUNK_SIZES[0]  # other clusters unharmed


def test_a_night_on_the_cluster_stores_exactly_what_the_local_engine_stores(dask_engine, settings, tmp_path):
    """The whole `cxnlp batch` path: two exports, a repeat and a correction, chunks split into
    partitions the two workers score in parallel; every stored table equal to the local run's."""
    from test_batch import STORED_TABLES, export_rows, run, stored, write_config, write_export

    from cxnlp.batch.engines import make_engine

    rows = export_rows(1200, seed=5)
    corrected = [dict(r, nps="0" if r["nps"] != "0" else "1") for r in rows[:5]]
    stores = {}
    for name in ("local", "dask"):
        write_export(tmp_path / name / "exports" / "night1.csv", rows)
        write_export(tmp_path / name / "exports" / "night2.csv", corrected + export_rows(40, first_id=5000, seed=6))
        config = write_config(tmp_path / name, chunk_rows=1000)
        if name == "local":
            with make_engine("local", settings) as local:
                run(config, local, publish_outputs=False)
        else:
            run(config, dask_engine, publish_outputs=False)
        stores[name] = stored(config)
    for table in STORED_TABLES:
        pd.testing.assert_frame_equal(stores["dask"][table].drop(columns=["path"], errors="ignore"),
                                      stores["local"][table].drop(columns=["path"], errors="ignore"),
                                      check_exact=True, obj=table)
    assert len(stores["local"]["response_history"]) == 5
