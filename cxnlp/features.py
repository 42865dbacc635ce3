"""Features the heads read: the sentence embedding side by side with TF-IDF word and
character n-grams of the same text.

Embeddings carry meaning across languages; n-grams carry the exact words respondents use
for a pillar ("kö", "telefonkø", "on hold", "otrevlig"), misspellings included. On the
team's test split the two together beat either alone by several F1 points (see the model
card). The vocabularies and idf weights are saved as JSON and safetensors, never pickled.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfTransformer, TfidfVectorizer

from cxnlp.bags import word_bags
from cxnlp.persist import load_state, save_state


class TextFeatures:
    """`[embedding | char n-gram TF-IDF | word n-gram TF-IDF]` as one sparse row per text.

    Parameters
    ----------
    char_ngrams, word_ngrams: n-gram ranges of the two vectorizers.
    max_char_features: cap on the character vocabulary (most frequent kept).
    min_df: an n-gram must occur in this many training texts to count.
    """

    def __init__(self, char_ngrams: tuple[int, int] = (2, 5), word_ngrams: tuple[int, int] = (1, 2),
                 max_char_features: int = 50000, min_df: int = 2) -> None:
        self.char_ngrams = tuple(char_ngrams)
        self.word_ngrams = tuple(word_ngrams)
        self.max_char_features = max_char_features
        self.min_df = min_df

    def _vectorizers(self) -> tuple[TfidfVectorizer, TfidfVectorizer]:
        return (
            TfidfVectorizer(analyzer="char_wb", ngram_range=self.char_ngrams, min_df=self.min_df,
                            max_features=self.max_char_features, sublinear_tf=True, dtype=np.float32),
            TfidfVectorizer(analyzer="word", ngram_range=self.word_ngrams, min_df=self.min_df,
                            sublinear_tf=True, dtype=np.float32),
        )

    def fit(self, texts: Sequence[str]) -> "TextFeatures":
        self.char_, self.word_ = (v.fit(texts) for v in self._vectorizers())
        return self

    @property
    def n_ngram_features(self) -> int:
        """Columns after the embedding: what a head's width minus this must equal the embedder's."""
        return len(self.char_.vocabulary_) + len(self.word_.vocabulary_)

    def transform(self, texts: Sequence[str], embeddings: np.ndarray,
                  word_grams: dict[str, list[int]] | None = None) -> csr_matrix:
        """The n-grams are worked out once per distinct text; the same values as the vectorizers' own
        `transform`, to the bit. `word_grams` (word -> its character n-gram columns) is read and filled
        in: a caller transforming related texts (a comment's clauses after the comments) passes the same
        dict, so each word is analysed once across the calls."""
        if len(texts) != embeddings.shape[0]:
            raise ValueError(f"{len(texts)} texts but {embeddings.shape[0]} embedding rows")
        if not texts:  # scikit-learn's weighting refuses an empty matrix
            return csr_matrix((0, embeddings.shape[1] + self.n_ngram_features), dtype=np.float32)
        row_of: dict[str, int] = {}
        inverse = np.fromiter((row_of.setdefault(t, len(row_of)) for t in texts), dtype=np.int64, count=len(texts))
        distinct = list(row_of)
        char = self._char_counts(distinct, {} if word_grams is None else word_grams)
        ngrams = hstack([_tfidf(self.char_, char), _tfidf(self.word_, self._word_counts(distinct))],
                        format="csr", dtype=np.float32)[inverse]
        return _beside(embeddings, ngrams)

    def _char_counts(self, texts: Sequence[str], grams_of: dict[str, list[int]]) -> csr_matrix:
        """The character vectorizer's counts, summed from each distinct word's: `char_wb` n-grams never
        cross a space, and comments share most of their words, so each word is analysed once (`grams_of`)."""
        analyse, vocabulary = self.char_.build_analyzer(), self.char_.vocabulary_
        text_words, words = word_bags([text.lower().split() for text in texts])  # char_wb's preprocessing and split
        columns = []
        for word in words:
            if (cols := grams_of.get(word)) is None:
                cols = grams_of[word] = [j for gram in analyse(word) if (j := vocabulary.get(gram)) is not None]
            columns.append(cols)
        gram_cols = [j for cols in columns for j in cols]
        word_rows = np.repeat(np.arange(len(words)), [len(cols) for cols in columns])
        per_word = csr_matrix((np.ones(len(gram_cols), np.int64), (word_rows, gram_cols)),
                              shape=(len(words), len(vocabulary)))
        counts = (text_words @ per_word).astype(self.char_.dtype)
        counts.sort_indices()
        return counts

    def _word_counts(self, texts: Sequence[str]) -> csr_matrix:
        """The word vectorizer's counts: its own tokens and n-grams, looked up with `dict.get` (its
        `transform` raises and catches a `KeyError` for every n-gram outside the vocabulary)."""
        tokenize, vocabulary = self.word_.build_tokenizer(), self.word_.vocabulary_
        low, high = self.word_ngrams
        text_rows, gram_cols = [], []
        for k, text in enumerate(texts):
            tokens = tokenize(text.lower())
            for n in range(low, high + 1):
                for i in range(len(tokens) - n + 1):
                    if (j := vocabulary.get(tokens[i] if n == 1 else " ".join(tokens[i : i + n]))) is not None:
                        text_rows.append(k)
                        gram_cols.append(j)
        counts = csr_matrix((np.ones(len(text_rows), np.int64), (text_rows, gram_cols)),
                            shape=(len(texts), len(vocabulary))).astype(self.word_.dtype)
        counts.sort_indices()
        return counts

    def save(self, path: Path) -> None:
        params = {"char_ngrams": self.char_ngrams, "word_ngrams": self.word_ngrams,
                  "max_char_features": self.max_char_features, "min_df": self.min_df}
        vocab = {"char": _ordered_vocabulary(self.char_), "word": _ordered_vocabulary(self.word_)}
        save_state(path.with_suffix(".safetensors"), {"char_idf": self.char_.idf_, "word_idf": self.word_.idf_}, params)
        path.with_suffix(".json").write_text(json.dumps(vocab, ensure_ascii=False), "utf-8")

    @classmethod
    def load(cls, path: Path) -> "TextFeatures":
        arrays, params = load_state(path.with_suffix(".safetensors"))
        vocab = json.loads(path.with_suffix(".json").read_text("utf-8"))
        model = cls(**params)
        model.char_, model.word_ = model._vectorizers()
        for vectorizer, name in ((model.char_, "char"), (model.word_, "word")):
            vectorizer.vocabulary_ = {term: i for i, term in enumerate(vocab[name])}
            vectorizer.idf_ = arrays[f"{name}_idf"]
        return model


def _tfidf(vectorizer: TfidfVectorizer, counts: csr_matrix) -> csr_matrix:
    """What `vectorizer.transform` makes of these counts: its idf weights, sublinear tf, l2 norm."""
    weighting = TfidfTransformer(sublinear_tf=True)  # as fitted in `_vectorizers`
    weighting.idf_ = vectorizer.idf_
    return weighting.transform(counts, copy=False)


def _beside(dense: np.ndarray, sparse: csr_matrix) -> csr_matrix:
    """`hstack([csr_matrix(dense), sparse])` without `csr_matrix(dense)`, which scans the block for
    zeros and copies it twice: every entry is stored, zeros too, which changes no product."""
    n, d = dense.shape
    block = csr_matrix((dense.ravel(), np.tile(np.arange(d, dtype=np.int32), n), np.arange(n + 1) * d),
                       shape=(n, d))
    return hstack([block, sparse], format="csr", dtype=np.float32)


def _ordered_vocabulary(vectorizer: TfidfVectorizer) -> list[str]:
    """Terms in column order, so the list index is the column."""
    terms = [""] * len(vectorizer.vocabulary_)
    for term, column in vectorizer.vocabulary_.items():
        terms[column] = term
    return terms
