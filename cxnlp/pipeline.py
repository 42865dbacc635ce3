"""The scoring pipeline: read -> clean -> language -> segment -> embed -> classify -> sentiment, effort.

`Pipeline.load()` wires the default models once; `score(df, text_col=...)` returns the
frame with the `cx_*` columns added, rows and input columns untouched.
"""

from __future__ import annotations

import gc
import json
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix, vstack

from cxnlp.clean import clean_texts
from cxnlp.config import Settings
from cxnlp.effort import EFFORT_COLUMNS, EffortExtractor
from cxnlp.embed import Embedder, load_embedder
from cxnlp.errors import ModelNotFoundError
from cxnlp.features import TextFeatures
from cxnlp.io import require_column
from cxnlp.language import LanguageDetector
from cxnlp.pillars import PILLARS, PillarClassifier
from cxnlp.segment import Segmenter
from cxnlp.sentiment import SentimentClassifier

log = logging.getLogger(__name__)
HEADS_CONFIG = "config.json"
OWN_EMBEDDER = "embedder"  # subdirectory of a classifier holding its own fine-tuned embedder (SetFit-style)
ProgressFn = Callable[[int, int], None]  # (texts embedded so far, texts to embed)
MIN_ROWS_PER_WORKER = 500  # below this, forking a scoring process costs more than it saves

OUTPUT_COLUMNS: tuple[str, ...] = (
    "cx_text",
    "cx_lang",
    "cx_lang_conf",
    "cx_noise",
    "cx_pillars",
    *(f"cx_{p}_prob" for p in PILLARS),
    *(f"cx_{p}_sentiment" for p in PILLARS),
    "cx_sentiment",
    "cx_sentiment_score",
    "cx_model_version",
    *EFFORT_COLUMNS,
)


@dataclass
class ClassifierHeads:
    """The trained heads that sit on the embedder, saved together in one directory."""

    features: TextFeatures
    pillars: PillarClassifier
    polarity: SentimentClassifier
    overall: SentimentClassifier
    embedder_id: str
    version: str = "dev"

    def save(self, directory: Path, extra_config: dict | None = None) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.features.save(directory / "features")
        self.pillars.save(directory / "pillars.safetensors")
        self.polarity.save(directory / "polarity.safetensors")
        self.overall.save(directory / "sentiment.safetensors")
        config = {"format": "cxnlp-heads/1", "version": self.version, "embedder_id": self.embedder_id,
                  "pillars": list(self.pillars.pillars), **(extra_config or {})}
        (directory / HEADS_CONFIG).write_text(json.dumps(config, indent=2, ensure_ascii=False), "utf-8")

    @staticmethod
    def version_of(directory: Path | str) -> str:
        """The version a classifier directory holds, without loading its weights."""
        config = Path(directory) / HEADS_CONFIG
        if not config.is_file():
            raise ModelNotFoundError(f"{directory}: no trained classifier here; run `cxnlp train` first.")
        return json.loads(config.read_text("utf-8")).get("version", "dev")

    @classmethod
    def load(cls, directory: Path | str) -> "ClassifierHeads":
        directory = Path(directory)
        version = cls.version_of(directory)
        config = json.loads((directory / HEADS_CONFIG).read_text("utf-8"))
        return cls(
            features=TextFeatures.load(directory / "features"),
            pillars=PillarClassifier.load(directory / "pillars.safetensors"),
            polarity=SentimentClassifier.load(directory / "polarity.safetensors"),
            overall=SentimentClassifier.load(directory / "sentiment.safetensors"),
            embedder_id=config["embedder_id"],
            version=version,
        )


@dataclass
class Prepared:
    """Comments made ready for the heads: cleaned, language-tagged, split and embedded."""

    text: list[str]
    noise: np.ndarray
    lang: list[str]
    lang_conf: np.ndarray
    clauses: list[list[str]]
    embeddings: np.ndarray  # one row per comment; zeros for noise
    clause_text: list[str]  # clauses of the comments chosen by `embed_clauses`, flattened
    clause_vecs: np.ndarray  # one row per clause_text
    clause_owner: np.ndarray  # index of the comment each clause row belongs to (ascending)
    # word -> its character n-gram columns, filled by the comments' features and read by their clauses'
    word_grams: dict[str, list[int]] = field(default_factory=dict)

    def comment_features(self, features: TextFeatures):
        return features.transform(self.text, self.embeddings, self.word_grams)

    def clause_features(self, features: TextFeatures, comment_X: csr_matrix) -> csr_matrix:
        """Features of the clause rows. A one-clause comment's clause is the comment itself (same text,
        same vector), so its row of `comment_X` is reused rather than worked out again."""
        own = np.array([len(self.clauses[i]) == 1 for i in self.clause_owner], dtype=bool)
        split = np.flatnonzero(~own)
        if not len(split):
            return comment_X[self.clause_owner]
        parts = features.transform([self.clause_text[k] for k in split], self.clause_vecs[split], self.word_grams)
        rows = np.where(own, self.clause_owner, 0)
        rows[split] = comment_X.shape[0] + np.arange(len(split))
        return vstack([comment_X, parts], format="csr")[rows]


@dataclass
class Analysis:
    """What the pipeline concluded about a list of texts, one row per text."""

    prepared: Prepared
    pillar_proba: np.ndarray
    pillar_pred: np.ndarray
    pillar_polarity: list[dict[str, str]]
    overall_proba: np.ndarray
    sentiment: list[str]
    sentiment_score: np.ndarray


class ProgressTracker:
    """Adds up embedding work across stages into one (done, total) callback."""

    def __init__(self, callback: ProgressFn | None) -> None:
        self.callback = callback
        self.done = self.total = 0

    def expect(self, n: int) -> None:
        self.total += n

    def advance(self, n: int) -> None:
        self.done += n
        if self.callback:
            self.callback(self.done, self.total)


def _languages_and_clauses(texts: list[str], noise: np.ndarray, language: LanguageDetector,
                           segmenter: Segmenter) -> tuple[dict, dict[str, list[str]]]:
    """Language guess of each distinct text and clauses of each distinct content text: survey
    exports repeat a lot, so each is worked out once."""
    distinct = list(dict.fromkeys(texts))
    guess_of = dict(zip(distinct, language.detect_many(distinct)))
    to_split = list(dict.fromkeys(t for t, is_noise in zip(texts, noise) if not is_noise))
    return guess_of, dict(zip(to_split, segmenter.split(to_split, [guess_of[t].lang for t in to_split])))


def prepare(
    raw_texts: Sequence[object],
    embedder: Embedder,
    language: LanguageDetector,
    segmenter: Segmenter,
    progress: ProgressTracker | None = None,
) -> Prepared:
    """Clean, detect language, split into clauses, and embed the comments (not yet their clauses).

    Language detection and clause splitting (pure Python) run in a second thread while the embedder
    computes: its native code releases the GIL, so the two overlap instead of queueing."""
    cleaned = clean_texts(raw_texts)
    texts = cleaned["text"].tolist()
    noise = cleaned["noise"].to_numpy()
    content = [i for i in range(len(texts)) if not noise[i]]
    progress = progress or ProgressTracker(None)
    progress.expect(len(content))
    embeddings = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    with ThreadPoolExecutor(max_workers=1) as pool:
        text_work = pool.submit(_languages_and_clauses, texts, noise, language, segmenter)
        embeddings[content] = embedder.encode([texts[i] for i in content], progress=progress.advance)
        guess_of, clauses_of = text_work.result()
    guesses = [guess_of[t] for t in texts]
    clauses: list[list[str]] = [[] for _ in texts]
    for i in content:
        items = clauses_of[texts[i]]
        clauses[i] = items if len(items) > 1 else [texts[i]]
    return Prepared(texts, noise, [g.lang for g in guesses], np.array([g.confidence for g in guesses]), clauses,
                    embeddings, [], np.zeros((0, embedder.dim), dtype=np.float32), np.zeros(0, dtype=int))


def embed_clauses(prep: Prepared, embedder: Embedder, rows: Sequence[int],
                  progress: ProgressTracker | None = None) -> None:
    """Fill `prep.clause_*` for the comments in `rows`. A one-clause comment reuses its own vector, and
    so does a clause that is word for word another comment, so only new clause texts cost embedding work."""
    rows = sorted(int(i) for i in rows if prep.clauses[i])
    vector_of = {prep.text[i]: prep.embeddings[i] for i in np.flatnonzero(~prep.noise)}
    new_texts = list(dict.fromkeys(c for i in rows if len(prep.clauses[i]) > 1 for c in prep.clauses[i]
                                   if c not in vector_of))
    progress = progress or ProgressTracker(None)
    progress.expect(len(new_texts))
    vector_of.update(zip(new_texts, embedder.encode(new_texts, progress=progress.advance)))
    text, vecs, owner = [], [], []
    for i in rows:
        single = len(prep.clauses[i]) == 1
        for clause in prep.clauses[i]:
            text.append(clause)
            vecs.append(prep.embeddings[i] if single else vector_of[clause])
            owner.append(i)
    prep.clause_text = text
    prep.clause_vecs = np.array(vecs, dtype=np.float32).reshape(len(vecs), embedder.dim)
    prep.clause_owner = np.array(owner, dtype=int)


def pillar_polarity_proba(clause_pillar_proba: np.ndarray, clause_polarity_proba: np.ndarray, owner: np.ndarray,
                          n: int) -> np.ndarray:
    """(n, pillars, polarities): for each comment and pillar, the polarity of its clauses averaged with
    each clause weighted by how likely it is about that pillar; zeros where a comment has no clause rows.

    Reading only the one clause most about the pillar let a stray fragment decide: in a 17-clause airline
    review, empathy came from "but not overly friendly." On the team's test split and the other writers'
    banks the weighted mean gets more pillar polarities right (docs/performance.md, "Ninth round")."""
    out = np.zeros((n, clause_pillar_proba.shape[1], clause_polarity_proba.shape[1]))
    if not len(owner):
        return out
    comments, starts = np.unique(owner, return_index=True)  # owner is ascending: a comment's clauses are adjacent
    weighted = np.add.reduceat(clause_pillar_proba[:, :, None] * clause_polarity_proba[:, None, :], starts, axis=0)
    weight = np.add.reduceat(clause_pillar_proba, starts, axis=0)
    out[comments] = weighted / np.maximum(weight, np.finfo(float).tiny)[:, :, None]
    return out


class Pipeline:
    """Scores comments; each stage is a swappable object."""

    def __init__(
        self,
        embedder: Embedder,
        heads: ClassifierHeads,
        language: LanguageDetector | None = None,
        segmenter: Segmenter | None = None,
        effort: EffortExtractor | None = None,
        workers: int = 1,
        read_effort: bool = True,
    ) -> None:
        self.embedder = embedder
        self.workers = workers
        self.heads = heads
        self.language = language or LanguageDetector()
        self.segmenter = segmenter or Segmenter()
        self.effort = (effort or EffortExtractor()) if read_effort else None
        self._pool: ProcessPoolExecutor | None = None
        self._pool_forked_from: tuple = ()  # the worker count and components the pool's processes hold
        if heads.embedder_id not in (embedder.model_id, getattr(embedder, "source_id", None)):
            log.warning("classifier was trained on embedder %s but %s is loaded", heads.embedder_id, embedder.model_id)
        expected = heads.pillars.coef_.shape[1] - heads.features.n_ngram_features
        if expected != embedder.dim:
            raise ModelNotFoundError(
                f"classifier expects {expected}-d embeddings but the embedder gives {embedder.dim}; "
                "retrain with `cxnlp train`."
            )

    @classmethod
    def load(cls, path: Path | str | None = None, settings: Settings | None = None) -> "Pipeline":
        """Load the default models (from `models/`), or the classifier directory at `path`."""
        settings = settings or Settings.load()
        classifier = Path(path or settings.classifier)
        if (classifier / OWN_EMBEDDER).is_dir():
            # a fine-tuned (setfit) embedder has no ONNX export: it runs in torch
            settings = settings.model_copy(update={"embedder": str(classifier / OWN_EMBEDDER), "backend": "torch"})
        return cls(load_embedder(settings), ClassifierHeads.load(classifier),
                   language=LanguageDetector(character_model=settings.language_model), workers=settings.workers,
                   read_effort=settings.effort)

    def analyse(self, raw_texts: Sequence[object], progress: ProgressFn | None = None) -> Analysis:
        tracker = ProgressTracker(progress)
        prep = prepare(raw_texts, self.embedder, self.language, self.segmenter, tracker)
        heads = self.heads
        X = prep.comment_features(heads.features)
        proba = heads.pillars.predict_proba(X)
        proba[prep.noise] = 0.0
        pred = heads.pillars.decide(proba)
        embed_clauses(prep, self.embedder, np.flatnonzero(pred.any(axis=1)), tracker)
        polarity = self._pillar_polarity(pred, prep, X)
        overall = heads.overall.predict_proba(X)
        sentiment = [heads.overall.labels[k] for k in overall.argmax(axis=1)]
        score = heads.overall.score_of(overall)
        for i in np.flatnonzero(prep.noise):
            sentiment[i], score[i] = "neutral", 0.0
        return Analysis(prep, proba, pred, polarity, overall, sentiment, score)

    def _pillar_polarity(self, pred: np.ndarray, prep: "Prepared", comment_X: csr_matrix) -> list[dict[str, str]]:
        """For each predicted pillar, the polarity its clauses give it (`pillar_polarity_proba`)."""
        out: list[dict[str, str]] = [{} for _ in prep.text]
        if not len(prep.clause_vecs):
            return out
        X = prep.clause_features(self.heads.features, comment_X)
        polarity = self.heads.polarity
        proba = pillar_polarity_proba(self.heads.pillars.predict_proba(X), polarity.predict_proba(X),
                                      prep.clause_owner, len(out))
        has_clauses = np.zeros(len(out), dtype=bool)
        has_clauses[prep.clause_owner] = True
        for i, j in zip(*np.nonzero(pred & has_clauses[:, None])):
            out[i][PILLARS[j]] = polarity.labels[int(proba[i, j].argmax())]
        return out

    def score(self, df: pd.DataFrame, text_col: str = "comment", progress: ProgressFn | None = None) -> pd.DataFrame:
        """Return a copy of `df` with the `cx_*` columns added (existing ones replaced).

        With `workers` > 1 and enough rows, chunks are scored at once: the first in this process, the
        others in scoring processes forked from it (`_chunk_processes`). A chunk holds every row of its
        texts, so a text repeated across the input is worked out once, and chunks get equal numbers of
        distinct texts, which is what costs. The rows come back in their order, and each row is scored
        as it would be alone."""
        require_column(df, text_col, "the DataFrame")
        with _collector_skips_older_objects():
            return self._score(df, text_col, progress)

    def _score(self, df: pd.DataFrame, text_col: str, progress: ProgressFn | None) -> pd.DataFrame:
        chunks = min(self.workers, len(df) // MIN_ROWS_PER_WORKER)
        if (chunks < 2 or "fork" not in multiprocessing.get_all_start_methods()
                or multiprocessing.current_process().daemon):  # a Dask worker, say: it may not start processes
            return self._score_chunk(df, text_col, progress)
        chunk_of = pd.factorize(df[text_col])[0] % chunks  # the n-th distinct text goes to chunk n % chunks
        rows = [positions for k in range(chunks) if len(positions := np.flatnonzero(chunk_of == k))]
        if len(rows) < 2:  # one distinct text
            return self._score_chunk(df, text_col, progress)
        jobs = [(df.iloc[positions], text_col) for positions in rows]
        pool = self._chunk_processes()
        others = [pool.submit(_score_forked, job) for job in jobs[1:]]
        scored = [self._score_chunk(*jobs[0], None)]
        for job, future in zip(jobs[1:], others):
            if progress:
                progress(sum(len(part) for part in scored), len(df))
            try:
                scored.append(future.result())
            except BrokenProcessPool:  # a scoring process died (killed, out of memory): its chunk is scored here
                log.warning("a scoring process died; scoring its %d rows in this process", len(job[0]))
                self.close()
                scored.append(self._score_chunk(*job, None))
        if progress:
            progress(len(df), len(df))
        return pd.concat(scored).iloc[np.argsort(np.concatenate(rows), kind="stable")]

    def _chunk_processes(self) -> ProcessPoolExecutor:
        """`workers - 1` scoring processes, forked from this pipeline at its first large input and kept
        for the next ones: forking anew for every call cost more than scoring 1,000 comments takes, as each
        fork's processes copy the pages they write (docs/performance.md). Forked again if a component or
        `workers` was changed since, so they never score with a stale pipeline."""
        forked_from = (self.workers, self.embedder, self.heads, self.language, self.segmenter, self.effort)
        if self._pool is not None and all(a is b for a, b in zip(forked_from, self._pool_forked_from)):
            return self._pool
        self.close()
        # forked inside `score`'s `_collector_skips_older_objects`: the children keep the models frozen out
        # of their collections, which would otherwise copy the models' pages
        self._pool = ProcessPoolExecutor(self.workers - 1, mp_context=multiprocessing.get_context("fork"),
                                         initializer=_adopt, initargs=(self,))
        self._pool.submit(int)  # with fork, the processes start at the first task, forked here
        self._pool_forked_from = forked_from
        return self._pool

    def close(self) -> None:
        """Stop the scoring processes, if any were forked; the pipeline stays usable."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool, self._pool_forked_from = None, ()

    def __enter__(self) -> "Pipeline":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _score_chunk(self, df: pd.DataFrame, text_col: str, progress: ProgressFn | None) -> pd.DataFrame:
        a = self.analyse(df[text_col].tolist(), progress=progress)
        prep = a.prepared
        columns: dict[str, object] = {
            "cx_text": prep.text,
            "cx_lang": prep.lang,
            "cx_lang_conf": np.round(prep.lang_conf, 4),
            "cx_noise": prep.noise,
            "cx_pillars": [";".join(PILLARS[j] for j in np.flatnonzero(row)) for row in a.pillar_pred],
            **{f"cx_{p}_prob": np.round(a.pillar_proba[:, j], 4) for j, p in enumerate(PILLARS)},
            **{f"cx_{p}_sentiment": [pol.get(p, "") for pol in a.pillar_polarity] for p in PILLARS},
            "cx_sentiment": a.sentiment,
            "cx_sentiment_score": np.round(a.sentiment_score, 4),
            "cx_model_version": [self.heads.version] * len(df),
        }
        if self.effort is not None:  # `effort = false`: the columns are left out, not left empty
            effort = self.effort.transform(prep.text, prep.lang)  # reads the cleaned text in its detected language
            columns.update((column, effort[column].array) for column in EFFORT_COLUMNS)
        kept = df.drop(columns=[c for c in OUTPUT_COLUMNS if c in df.columns])
        # one frame of the new columns put beside the input's: assigning ~30 columns one by one cost
        # more than the heads (docs/performance.md)
        return pd.concat([kept, pd.DataFrame(columns, index=df.index)], axis=1)


@contextmanager
def _collector_skips_older_objects() -> Iterator[None]:
    """Keep the objects that exist now (the loaded models: some 330,000) out of the garbage collector's
    passes until the block ends: scoring 10,000 comments in one process set off a full pass, which spent
    0.15 s on them (collection time of the call 0.19 s, 0.05 s frozen). `gc.freeze` and `gc.unfreeze` only
    move list heads. If something froze objects already (a forked scoring process, the caller), that is
    left as it is."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


_FORKED: Pipeline | None = None  # in a scoring process: the pipeline it was forked from


def _adopt(pipeline: Pipeline) -> None:
    global _FORKED
    _FORKED = pipeline
    threading.Thread(target=_exit_when_orphaned, args=(os.getppid(),), name="cxnlp-orphan-watch", daemon=True).start()


def _exit_when_orphaned(parent: int) -> None:
    """A scoring process outlives the pipeline's process only if that was killed outright (SIGKILL, the
    out-of-memory killer, a scheduler's timeout), which gives it no chance to stop them: they stop
    themselves, rather than idle for ever holding memory. (PR_SET_PDEATHSIG would fire when the forking
    thread ends, not the process.)"""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(1)


def _score_forked(job: tuple[pd.DataFrame, str]) -> pd.DataFrame:
    df, text_col = job
    return _FORKED._score_chunk(df, text_col, None)
