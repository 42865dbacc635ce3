"""Turn texts into vectors: the `Embedder` interface, the sentence-transformers backend,
and an on-disk cache so a text already embedded by the same model is never embedded twice.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol, Sequence

import numpy as np

from cxnlp.errors import ModelNotFoundError

if TYPE_CHECKING:
    from cxnlp.config import Settings

ProgressCallback = Callable[[int], None]


class Embedder(Protocol):
    """Anything that maps texts to L2-normalised float32 rows; tests swap in a fake."""

    model_id: str
    dim: int

    def encode(self, texts: Sequence[str], progress: ProgressCallback | None = None) -> np.ndarray: ...


def text_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class EmbeddingCache:
    """SQLite table of vectors keyed by (model id, text hash). Safe across processes and crashes."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS vectors (model TEXT, key BLOB, vec BLOB, PRIMARY KEY (model, key))"
        )

    def get(self, model_id: str, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        found: dict[bytes, np.ndarray] = {}
        for start in range(0, len(keys), 500):
            chunk = list(keys[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT key, vec FROM vectors WHERE model = ? AND key IN ({marks})", [model_id, *chunk]
            )
            found.update((key, np.frombuffer(vec, dtype=np.float32)) for key, vec in rows)
        return found

    def put(self, model_id: str, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
                ((model_id, key, vec.astype(np.float32).tobytes()) for key, vec in zip(keys, vectors)),
            )


def _fingerprint(model: str) -> str:
    """A model id that changes when a local model directory is rebuilt differently."""
    path = Path(model)
    if not path.is_dir():
        return model
    h = hashlib.sha256()
    for name in ("config.json", "config_sentence_transformers.json", "tokenizer.json"):
        if (path / name).is_file():
            h.update((path / name).read_bytes())
    weights = path / "model.safetensors"
    if weights.is_file():
        h.update(str(weights.stat().st_size).encode())
        with weights.open("rb") as fh:
            h.update(fh.read(1 << 20))
    return f"{path.name}-{h.hexdigest()[:16]}"


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded once, with de-duplication and an optional cache.

    Parameters
    ----------
    model: directory or hub name of a sentence-transformers model.
    prompt_name: which of the model's prompts to prepend (e5 models need `query: `).
    batch_size: texts per forward pass.
    cache_dir: folder of the embedding cache; None disables it.
    """

    def __init__(
        self,
        model: str,
        *,
        prompt_name: str | None = "query",
        batch_size: int = 32,
        device: str = "cpu",
        cache_dir: str | Path | None = None,
    ) -> None:
        from sentence_transformers import SentenceTransformer

        if not Path(model).is_dir() and (os.sep in model or model.startswith(".")):
            raise ModelNotFoundError(
                f"embedder {model!r} not found; build it with `cxnlp models build-embedder` (or `make run`)."
            )
        self.model = SentenceTransformer(model, device=device)
        self.prompt_name = prompt_name if prompt_name in (self.model.prompts or {}) else None
        self.batch_size = batch_size
        self.model_id = f"{_fingerprint(model)}:{self.prompt_name or ''}"
        dimension = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(dimension())
        self.cache = EmbeddingCache(Path(cache_dir) / "embeddings.sqlite") if cache_dir else None

    @classmethod
    def from_settings(cls, settings: "Settings") -> "SentenceTransformerEmbedder":
        return cls(settings.embedder, batch_size=settings.batch_size, device=settings.device,
                   cache_dir=settings.cache_dir)

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
        todo.sort(key=lambda i: len(unique[i]), reverse=True)
        step = self.batch_size * 8
        for start in range(0, len(todo), step):
            idx = todo[start : start + step]
            vecs = self.model.encode(
                [unique[i] for i in idx],
                prompt_name=self.prompt_name,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            ).astype(np.float32)
            chunk_keys = [keys[i] for i in idx]
            known.update(zip(chunk_keys, vecs))
            if self.cache:
                self.cache.put(self.model_id, chunk_keys, vecs)
            if progress:
                progress(sum(counts[unique[i]] for i in idx))
        row_of = {t: known[k] for t, k in zip(unique, keys)}
        return np.stack([row_of[t] for t in texts])
