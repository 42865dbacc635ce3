import numpy as np

from cxnlp.embed import EmbeddingCache, SentenceTransformerEmbedder


class CountingModel:
    """Stands in for a SentenceTransformer: records what it was asked to embed."""

    def __init__(self):
        self.seen: list[str] = []

    def encode(self, texts, **_):
        self.seen.extend(texts)
        return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)


def _embedder(tmp_path):
    embedder = SentenceTransformerEmbedder.__new__(SentenceTransformerEmbedder)
    embedder.model, embedder.prompt_name, embedder.batch_size = CountingModel(), "query", 2
    embedder.model_id, embedder.dim = "counting", 2
    embedder.cache = EmbeddingCache(tmp_path / "cache.sqlite")
    return embedder


def test_duplicates_and_cached_texts_are_embedded_once(tmp_path):
    embedder = _embedder(tmp_path)
    done = []
    first = embedder.encode(["bra", "dålig", "bra"], progress=done.append)
    assert sorted(embedder.model.seen) == ["bra", "dålig"]
    assert sum(done) == 3
    np.testing.assert_array_equal(first[0], first[2])

    again = _embedder(tmp_path)  # a new process reading the same cache
    done.clear()
    second = again.encode(["dålig", "ny text", "bra"], progress=done.append)
    assert again.model.seen == ["ny text"]
    assert sum(done) == 3
    np.testing.assert_array_equal(second[0], first[1])
    assert again.encode([]).shape == (0, 2)
