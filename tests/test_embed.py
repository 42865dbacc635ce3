import numpy as np

from cxnlp.embed import CachingEmbedder, EmbeddingCache


class CountingEmbedder(CachingEmbedder):
    """A backend that records what it was asked to embed, chunk by chunk."""

    model_id, dim, batch_size = "counting", 2, 2

    def __init__(self, cache):
        self.cache = cache
        self.chunks: list[list[str]] = []

    @property
    def seen(self) -> list[str]:
        return [t for chunk in self.chunks for t in chunk]

    def _embed_chunk(self, texts):
        self.chunks.append(list(texts))
        return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)


def _embedder(tmp_path):
    return CountingEmbedder(EmbeddingCache(tmp_path / "cache.sqlite"))


def test_duplicates_and_cached_texts_are_embedded_once(tmp_path):
    embedder = _embedder(tmp_path)
    done = []
    first = embedder.encode(["bra", "dålig", "bra"], progress=done.append)
    assert sorted(embedder.seen) == ["bra", "dålig"]
    assert sum(done) == 3
    np.testing.assert_array_equal(first[0], first[2])

    again = _embedder(tmp_path)  # a new process reading the same cache
    done.clear()
    second = again.encode(["dålig", "ny text", "bra"], progress=done.append)
    assert again.seen == ["ny text"]
    assert sum(done) == 3
    np.testing.assert_array_equal(second[0], first[1])
    assert again.encode([]).shape == (0, 2)


def test_longest_texts_are_embedded_first_so_batches_pad_little():
    embedder = CountingEmbedder(cache=None)
    texts = [f"{'ord ' * n}slut" for n in (3, 40, 1, 17, 25, 9, 2, 30, 5, 12, 8, 33, 4, 21, 6, 14, 7, 11, 10, 13)]
    vectors = embedder.encode(texts)
    lengths = [len(t) for t in embedder.seen]
    assert lengths == sorted(lengths, reverse=True) and len(embedder.chunks) == 2  # chunks of 8 batches of 2
    np.testing.assert_array_equal(vectors[:, 0], [len(t) for t in texts])  # rows still in input order


def test_a_forked_process_writes_the_cache_through_its_own_connection(tmp_path):
    import os

    embedder = _embedder(tmp_path)
    embedder.encode(["bra"])
    inherited = embedder.cache._db
    pid = os.fork()
    if pid == 0:  # the child: embeds a new text, as a fast-tier scoring process does
        try:
            embedder.encode(["från barnet"])
            os._exit(0 if embedder.cache._db is not inherited else 3)
        except BaseException:
            os._exit(2)
    assert os.waitpid(pid, 0)[1] == 0
    assert embedder.cache._db is inherited  # the parent's connection is its own still
    reader = _embedder(tmp_path)
    reader.encode(["från barnet", "bra", "ny"])
    assert reader.seen == ["ny"]  # the child's vector was committed
