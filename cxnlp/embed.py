"""Turn texts into vectors: the `Embedder` interface, the sentence-transformers backend,
and an on-disk cache so a text already embedded by the same model is never embedded twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Protocol, Sequence

import numpy as np

from cxnlp.errors import ModelNotFoundError

if TYPE_CHECKING:
    from cxnlp.config import Settings
    from cxnlp.onnx_export import OnnxExport

ProgressCallback = Callable[[int], None]


class Embedder(Protocol):
    """Anything that maps texts to L2-normalised float32 rows; tests swap in a fake.

    `model_id` names exactly these vectors (the cache key); a backend that approximates another
    model's vectors may also say which in `source_id`, so heads trained on that model are accepted.
    """

    model_id: str
    dim: int

    def encode(self, texts: Sequence[str], progress: ProgressCallback | None = None) -> np.ndarray: ...


def text_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class EmbeddingCache:
    """SQLite table of vectors keyed by (model id, text hash). Safe across processes and crashes: a
    process forked from the one that opened it (the fast tier's scoring processes) opens its own
    connection, as SQLite forbids using one across a fork."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._connect()
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS vectors (model TEXT, key BLOB, vec BLOB, PRIMARY KEY (model, key))"
        )

    def _connect(self) -> None:
        self._db, self._pid = sqlite3.connect(self.path, timeout=60), os.getpid()
        self._db.execute("PRAGMA journal_mode=WAL")

    @property
    def db(self) -> sqlite3.Connection:
        if self._pid != os.getpid():
            self._inherited = self._db  # kept, never used or closed: closing it here could disturb the parent's
            self._connect()
        return self._db

    def get(self, model_id: str, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        found: dict[bytes, np.ndarray] = {}
        for start in range(0, len(keys), 500):
            chunk = list(keys[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT key, vec FROM vectors WHERE model = ? AND key IN ({marks})", [model_id, *chunk]
            )
            found.update((key, np.frombuffer(vec, dtype=np.float32)) for key, vec in rows)
        return found

    def put(self, model_id: str, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        db = self.db
        with db:
            db.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
                ((model_id, key, vec.astype(np.float32).tobytes()) for key, vec in zip(keys, vectors)),
            )


FINETUNE_RECORD = "cxnlp_finetune.json"  # written beside a fine-tuned embedder: what it was tuned from and on


def _fingerprint(model: str) -> str:
    """A model id that changes when a local model directory is rebuilt differently. Only the head of
    the weights is read (a full hash of 470 MB at every load is too slow), which a fine-tune that
    leaves the word embeddings alone does not change: so a fine-tuned embedder carries a record of
    its tuning (`FINETUNE_RECORD`, with the hash of all its weights), and the record counts here."""
    path = Path(model)
    if not path.is_dir():
        return model
    h = hashlib.sha256()
    for name in ("config.json", "config_sentence_transformers.json", "tokenizer.json", FINETUNE_RECORD):
        if (path / name).is_file():
            h.update((path / name).read_bytes())
    weights = path / "model.safetensors"
    if weights.is_file():
        h.update(str(weights.stat().st_size).encode())
        with weights.open("rb") as fh:
            h.update(fh.read(1 << 20))
    return f"{path.name}-{h.hexdigest()[:16]}"


class CachingEmbedder:
    """What every backend shares: each distinct text embedded once, texts already in the cache not
    at all, and the rest in order of length so batches carry little padding.

    Subclasses set `model_id`, `dim`, `batch_size`, `cache` and implement `_embed_chunk`;
    `_lengths` may count tokens instead of characters where the backend can do so cheaply.
    """

    model_id: str
    dim: int
    batch_size: int
    cache: EmbeddingCache | None = None

    def _embed_chunk(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def _lengths(self, texts: list[str]) -> list[int]:
        return [len(t) for t in texts]

    def encode(self, texts: Sequence[str], progress: ProgressCallback | None = None) -> np.ndarray:
        """Embed `texts` (one row each), embedding each distinct uncached text once."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        counts: dict[str, int] = {}
        for t in texts:
            counts[t] = counts.get(t, 0) + 1
        unique = list(counts)
        keys = [text_key(t) for t in unique]
        known = self.cache.get(self.model_id, keys) if self.cache else {}
        todo = [i for i, k in enumerate(keys) if k not in known]
        if progress and len(todo) < len(unique):
            progress(len(texts) - sum(counts[unique[i]] for i in todo))
        # Longest first in chunks, so padding is minimal and progress is steady.
        lengths = self._lengths([unique[i] for i in todo])
        todo = [i for _, i in sorted(zip(lengths, todo), key=lambda pair: -pair[0])]
        step = self.batch_size * 8
        for start in range(0, len(todo), step):
            idx = todo[start : start + step]
            vecs = self._embed_chunk([unique[i] for i in idx]).astype(np.float32, copy=False)
            chunk_keys = [keys[i] for i in idx]
            known.update(zip(chunk_keys, vecs))
            if self.cache:
                self.cache.put(self.model_id, chunk_keys, vecs)
            if progress:
                progress(sum(counts[unique[i]] for i in idx))
        row_of = {t: known[k] for t, k in zip(unique, keys)}
        return np.stack([row_of[t] for t in texts])


def _cache(cache_dir: str | Path | None) -> EmbeddingCache | None:
    return EmbeddingCache(Path(cache_dir) / "embeddings.sqlite") if cache_dir else None


def _require_dir(model: str) -> None:
    if not Path(model).is_dir() and (os.sep in model or model.startswith(".")):
        raise ModelNotFoundError(
            f"embedder {model!r} not found; build it with `cxnlp models build-embedder` (or `make run`)."
        )


@contextmanager
def _library_chatter_off() -> Iterator[None]:
    """Loading a model prints transformers' weights bar and sentence-transformers' notice of the model's
    default prompt. Neither means anything here (cxnlp always names its prompt), and `--quiet` must be quiet."""
    import logging

    from transformers.utils import logging as transformers_logging

    notices = logging.getLogger("sentence_transformers")
    level, bars = notices.level, transformers_logging.is_progress_bar_enabled()
    notices.setLevel(logging.ERROR)
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        notices.setLevel(level)
        if bars:
            transformers_logging.enable_progress_bar()


class SentenceTransformerEmbedder(CachingEmbedder):
    """A sentence-transformers model in torch float32: the reference backend the others are measured against.

    Parameters
    ----------
    model: directory or hub name of a sentence-transformers model.
    prompt_name: which of the model's prompts to prepend (e5 models need `query: `).
    batch_size: texts per forward pass.
    threads: torch intra-op threads (torch's own default counts hyper-threads and oversubscribes).
    cache_dir: folder of the embedding cache; None disables it.
    """

    def __init__(
        self,
        model: str,
        *,
        prompt_name: str | None = "query",
        batch_size: int = 32,
        device: str = "cpu",
        threads: int | None = None,
        cache_dir: str | Path | None = None,
    ) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        _require_dir(model)
        if threads:
            torch.set_num_threads(threads)
        with _library_chatter_off():
            self.model = SentenceTransformer(model, device=device)
        self.prompt_name = prompt_name if prompt_name in (self.model.prompts or {}) else None
        self.batch_size = batch_size
        self.model_id = f"{_fingerprint(model)}:{self.prompt_name or ''}"
        dimension = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(dimension())
        self.cache = _cache(cache_dir)

    def _embed_chunk(self, texts: list[str]) -> np.ndarray:
        return self.model.encode(texts, prompt_name=self.prompt_name, batch_size=self.batch_size,
                                 normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)


class OnnxEmbedder(CachingEmbedder):
    """The embedder exported by `cxnlp models export-onnx`, run by ONNX Runtime: pooling and
    normalisation are in the graph, tokens are counted once to sort and batch by length.

    Parameters
    ----------
    model: the sentence-transformers directory the ONNX files were exported from (they live in its
        `onnx/` folder).
    variant: `float32` or `int8` (dynamically quantised weights).
    batch_size: texts per forward pass.
    threads: ONNX Runtime intra-op threads; one inter-op thread (the graph is a single chain).
    cache_dir: folder of the embedding cache; None disables it.
    export: the exported files, when they are not (yet) in `model/onnx` (the export checks them first).
    """

    def __init__(self, model: str, *, variant: str = "int8", batch_size: int = 32, threads: int | None = None,
                 cache_dir: str | Path | None = None, export: "OnnxExport | None" = None) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        from cxnlp.onnx_export import OnnxExport

        _require_dir(model)
        export = export or OnnxExport.load(Path(model))
        weights = export.weights(variant)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or 0
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        self.session = onnxruntime.InferenceSession(str(weights), options, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(export.tokenizer_path))
        self.tokenizer.enable_truncation(export.max_seq_length)
        self.prenormalise = export.prenormaliser()
        self.prompt = export.prompt
        self.pad_id = export.pad_id
        self.batch_size = batch_size
        self.dim = export.dim
        self.source_id = f"{_fingerprint(model)}:{export.prompt_name}"  # the torch model's model_id
        # int8 activations are quantised with one scale per batch, so a vector embedded alone differs
        # from one embedded among others: they are cached apart (the batch path embeds alone).
        alone = "-alone" if variant == "int8" and batch_size == 1 else ""
        self.model_id = f"{_fingerprint(model)}+onnx-{variant}{alone}-{export.fingerprint(variant)}:{export.prompt_name}"
        self.cache = _cache(cache_dir)

    def _token_ids(self, texts: list[str]) -> list[list[int]]:
        encodings = self.tokenizer.encode_batch([self.prompt + self.prenormalise(t) for t in texts])
        return [e.ids for e in encodings]

    def _lengths(self, texts: list[str]) -> list[int]:
        return [len(ids) for ids in self._token_ids(texts)]

    def _embed_chunk(self, texts: list[str]) -> np.ndarray:
        ids = self._token_ids(texts)
        order = np.argsort([-len(x) for x in ids], kind="stable")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(ids), self.batch_size):
            rows = order[start : start + self.batch_size]
            width = max(len(ids[r]) for r in rows)
            input_ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for k, r in enumerate(rows):
                input_ids[k, : len(ids[r])] = ids[r]
                mask[k, : len(ids[r])] = 1
            out[rows] = self.session.run(None, {"input_ids": input_ids, "attention_mask": mask})[0]
        return out


class StaticEmbedder(CachingEmbedder):
    """The fast tier's embedder: a text is the normalised mean of its tokens' distilled vectors
    (`cxnlp models distill-static`), no transformer; thousands of comments per second.

    Parameters
    ----------
    model: directory of the static model.
    embedder: the embedder directory whose tokenizer (`onnx/tokenizer.json`) the model was distilled with.
    """

    def __init__(self, model: str, *, embedder: str, batch_size: int = 1024) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        from cxnlp.onnx_export import OnnxExport
        from cxnlp.static_distill import CONFIG, WEIGHTS

        if not (Path(model) / WEIGHTS).is_file():
            raise ModelNotFoundError(f"{model}: no static model here; distil one with `cxnlp models distill-static`.")
        config = json.loads((Path(model) / CONFIG).read_text("utf-8"))
        arrays = load_file(str(Path(model) / WEIGHTS))
        export = OnnxExport.load(Path(embedder))
        self.tokenizer = Tokenizer.from_file(str(export.tokenizer_path))
        self.prenormalise = export.prenormaliser()
        self.vectors = arrays["vectors"].astype(np.float32)
        self.row_of_id = np.full(self.tokenizer.get_vocab_size(), -1, dtype=np.int64)
        self.row_of_id[arrays["ids"]] = np.arange(len(arrays["ids"]))
        self.dim = int(self.vectors.shape[1])
        self.batch_size = batch_size
        self.model_id = f"static-{config['sha256'][:16]}"

    def _embed_chunk(self, texts: list[str]) -> np.ndarray:
        """Sum of each text's known pieces' vectors, normalised (so it is the mean's direction). No piece
        spans a space (the tokenizer marks each word's start), so each distinct word is tokenised once."""
        from scipy.sparse import csr_matrix

        from cxnlp.bags import word_bags

        text_words, words = word_bags([[w for w in self.prenormalise(t).split(" ") if w] for t in texts])
        # ids only: the offsets `encode_batch` also computes cost four times as much here
        encodings = self.tokenizer.encode_batch_fast(words, add_special_tokens=False)
        rows = self.row_of_id[np.fromiter((i for e in encodings for i in e.ids), dtype=np.int64)]
        owner = np.repeat(np.arange(len(words)), [len(e.ids) for e in encodings])
        known = rows >= 0
        word_pieces = csr_matrix((np.ones(known.sum(), dtype=np.float32), (owner[known], rows[known])),
                                 shape=(len(words), len(self.vectors)))
        out = np.asarray(text_words.astype(np.float32) @ (word_pieces @ self.vectors), dtype=np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)


BACKENDS = ("torch", "onnx-float32", "onnx-int8", "static")


def load_embedder(settings: "Settings") -> CachingEmbedder:
    """The embedder the settings ask for: one place decides backend, threads and cache."""
    if settings.backend == "torch":
        return SentenceTransformerEmbedder(settings.embedder, batch_size=settings.batch_size, device=settings.device,
                                           threads=settings.threads, cache_dir=settings.cache_dir)
    if settings.backend == "static":  # cheaper to recompute than to look up in the cache
        return StaticEmbedder(settings.static_embedder, embedder=settings.embedder)
    return OnnxEmbedder(settings.embedder, variant=settings.backend.removeprefix("onnx-"),
                        batch_size=settings.batch_size, threads=settings.threads, cache_dir=settings.cache_dir)
