"""Where `cxnlp batch` scores its chunks: in this process, or on a dask.distributed cluster.

An engine only scores. The runner reads chunks, hands them over as an iterable and commits what
comes back, in the order it went in; the store is never written from a worker. Both engines give
the same frames for the same chunks, so a night scored on a cluster is the night scored locally.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable, Iterator, Literal

import pandas as pd
from distributed import Client, Future, LocalCluster, Worker, get_worker
from distributed.diagnostics.plugin import WorkerPlugin

from cxnlp.config import Settings
from cxnlp.errors import ClusterError
from cxnlp.pipeline import Pipeline

CONNECT_TIMEOUT_S = 30
PARTITION_ROWS = 500  # comments per task on a cluster: a chunk's partitions run on several workers at once
_END = object()  # marks the end of the runner's chunks


def batch_settings(settings: Settings) -> Settings:
    """The settings scoring runs with in a batch: one text per forward pass of the embedder.

    With the default int8 backend, ONNX Runtime quantises activations with one scale per batch,
    so a comment's vector shifts with the comments batched next to it (up to 0.017 per coordinate,
    measured). The store would then depend on chunk boundaries, on what the embedding cache
    already held and, on a cluster, on which worker got which chunk first. Embedded alone, a
    comment's scores depend on that comment only: local and Dask agree exactly, and a resumed
    run stores what an uninterrupted one would."""
    return settings.model_copy(update={"batch_size": 1})


class ScoringEngine:
    """What the runner scores with: `score_stream` over its chunks, then `close` (or a `with` block).
    `model_version` is the classifier version every frame it returns was scored with; `partition_rows`
    how many comments the runner hands over per frame (None: a whole chunk at once)."""

    model_version: str
    partition_rows: int | None = None

    def score_stream(self, frames: Iterable[pd.DataFrame], text_col: str = "text") -> Iterator[pd.DataFrame]:
        raise NotImplementedError

    def close(self) -> None:
        """Release what the engine holds."""

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalEngine(ScoringEngine):
    """Score chunks with one Pipeline: a whole chunk per call, which the pipeline spreads over its own
    scoring processes (`workers`). Handed 500-row partitions, the fast tier scored on one core: a
    partition is below what the pipeline forks for (docs/performance.md, section 6)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.model_version = pipeline.heads.version

    def score_stream(self, frames: Iterable[pd.DataFrame], text_col: str = "text") -> Iterator[pd.DataFrame]:
        """Yield each frame with the cx_* columns added (Pipeline.score), in input order, one at a time."""
        for frame in frames:
            yield self.pipeline.score(frame, text_col=text_col)


# Pipelines loaded in this process, by plugin name: makes the once-per-worker promise checkable.
PIPELINE_LOADS: Counter[str] = Counter()


def pipeline_loads(plugin_name: str) -> int:
    """How many times this process loaded the named plugin's pipeline (run on workers by `Client.run`)."""
    return PIPELINE_LOADS[plugin_name]


class PipelinePlugin(WorkerPlugin):
    """Loads the pipeline once when a worker joins and keeps it for every chunk that worker scores.

    The settings travel as plain JSON: the model paths in them must be readable on the worker. The
    embedder's arithmetic gets as many threads as the worker has task threads (the cores it was
    given), not the driver's core count. The pipeline lives on one thread of its own, loaded and
    used only there (its SQLite cache connection may not cross threads), so chunks on one worker
    are scored one at a time, each with all the worker's cores."""

    idempotent = False

    def __init__(self, name: str, settings_json: str) -> None:
        self.name = name
        self.settings_json = settings_json
        self.pipeline: Pipeline | None = None
        self.thread: ThreadPoolExecutor | None = None

    async def setup(self, worker: Worker) -> None:
        settings = Settings.model_validate_json(self.settings_json)
        settings = settings.model_copy(update={"threads": worker.state.nthreads})
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self.name)
        # Loading takes seconds: awaited, so the worker keeps answering the scheduler meanwhile.
        self.pipeline = await asyncio.wrap_future(self.thread.submit(Pipeline.load, settings.classifier, settings))
        PIPELINE_LOADS[self.name] += 1

    def teardown(self, worker: Worker) -> None:
        if self.thread is not None:
            self.thread.shutdown(wait=False)
        self.pipeline = None

    def score(self, frame: pd.DataFrame, text_col: str) -> pd.DataFrame:
        assert self.pipeline is not None and self.thread is not None, "the plugin's setup has not run"
        return self.thread.submit(self.pipeline.score, frame, text_col=text_col).result()


def _plugin_model_version(plugin_name: str, dask_worker: Worker) -> str:
    return dask_worker.plugins[plugin_name].pipeline.heads.version


def _score_on_worker(frame: pd.DataFrame, text_col: str, plugin_name: str) -> pd.DataFrame:
    return get_worker().plugins[plugin_name].score(frame, text_col)


class DaskEngine(ScoringEngine):
    """Score chunks on a dask.distributed cluster; each worker loads the model once."""

    partition_rows = PARTITION_ROWS

    def __init__(self, scheduler: str | None, settings: Settings, max_in_flight: int | None = None) -> None:
        """scheduler: address like tcp://host:8786; None starts a LocalCluster (n_workers from the
        cores, 1 thread each) for trying it on one machine."""
        if max_in_flight is not None and max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}")
        self.plugin_name = f"cxnlp-pipeline-{uuid.uuid4().hex}"
        self.plugin_sent = False  # the scheduler keeps a plugin whose setup failed: it must be removed too
        self.cluster: LocalCluster | None = None
        if scheduler is None:
            self.cluster = LocalCluster(n_workers=len(os.sched_getaffinity(0)), threads_per_worker=1,
                                        processes=True, dashboard_address=":0")  # any free port
            scheduler = self.cluster.scheduler_address
        try:
            self.client: Client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except OSError as err:
            self._close_cluster()
            raise ClusterError(f"cannot reach the Dask scheduler at {scheduler}: {err}") from None
        try:
            self.client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
        except TimeoutError:
            self.close()
            raise ClusterError(f"the Dask scheduler at {scheduler} has no workers after {CONNECT_TIMEOUT_S} s; "
                               "start some with `dask worker`.") from None
        self.max_in_flight = max_in_flight or 2 * len(self.client.nthreads())
        self.plugin_sent = True
        try:
            self.client.register_plugin(PipelinePlugin(self.plugin_name, settings.model_dump_json()),
                                        name=self.plugin_name)
            # Every worker must score with the same model, or one night's scores would mix versions.
            versions = self.client.run(_plugin_model_version, self.plugin_name)
            if len(set(versions.values())) != 1:
                raise ClusterError(f"the Dask workers load different classifier versions from {settings.classifier}: "
                                   f"{versions}; install the same models on every worker.")
        except BaseException:
            self.close()
            raise
        self.model_version = next(iter(versions.values()))

    def score_stream(self, frames: Iterable[pd.DataFrame], text_col: str = "text") -> Iterator[pd.DataFrame]:
        """Yield each frame with the cx_* columns added, in input order. At most `max_in_flight`
        chunks are submitted and not yet yielded, so memory stays bounded however many chunks
        come; the input is pulled only as far as that window needs."""
        pending: deque[Future] = deque()
        source = iter(frames)
        exhausted = False
        try:
            while True:
                while not exhausted and len(pending) < self.max_in_flight:
                    frame = next(source, _END)
                    if frame is _END:
                        exhausted = True
                    else:
                        pending.append(self.client.submit(_score_on_worker, frame, text_col, self.plugin_name,
                                                          pure=False))
                if not pending:
                    return
                scored = pending.popleft().result()
                if (scored["cx_model_version"] != self.model_version).any():  # a worker that joined late
                    raise ClusterError(f"a Dask worker scored with classifier version "
                                       f"{sorted(set(scored['cx_model_version']))}, not {self.model_version}; "
                                       "install the same models on every worker.")
                yield scored
        finally:
            for future in pending:
                future.cancel()

    def pipeline_loads(self) -> dict[str, int]:
        """Pipelines loaded so far by each worker process: 1 each while the once-per-worker promise holds."""
        return self.client.run(pipeline_loads, self.plugin_name)

    def close(self) -> None:
        """Free the models on the workers, disconnect, and stop the LocalCluster this engine started."""
        if self.plugin_sent and self.cluster is None and self.client.status == "running":
            self.client.unregister_worker_plugin(self.plugin_name)
        self.client.close()
        self._close_cluster()

    def _close_cluster(self) -> None:
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None


def make_engine(kind: Literal["local", "dask"], settings: Settings, scheduler: str | None = None) -> LocalEngine | DaskEngine:
    """The engine `cxnlp batch --engine KIND` scores with, on the batch settings (see `batch_settings`)."""
    settings = batch_settings(settings)
    if kind == "local":
        return LocalEngine(Pipeline.load(settings.classifier, settings))
    if kind == "dask":
        return DaskEngine(scheduler, settings)
    raise ValueError(f"unknown engine {kind!r}; choose local or dask")
