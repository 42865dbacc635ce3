"""Features the heads read: the sentence embedding side by side with TF-IDF word and
character n-grams of the same text.

Embeddings carry meaning across languages; n-grams carry the exact words respondents use
for a pillar ("kö", "telefonkø", "on hold", "otrevlig"), misspellings included. On the
team's test split the two together beat either alone by several F1 points (see the model
card). The vocabularies and idf weights are saved as JSON and safetensors, never pickled.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
from scipy.sparse import csr_matrix, hstack

from cxnlp.bags import word_bags
from cxnlp.persist import load_state, save_state

if TYPE_CHECKING:
    from sklearn.feature_extraction.text import TfidfVectorizer

WORD_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # a word for the word n-grams: two or more word characters
DTYPE = np.float32


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

    def vectorizers(self) -> tuple[TfidfVectorizer, TfidfVectorizer]:
        """The scikit-learn vectorizers (characters, words) whose vocabularies and idf weights `fit` keeps.
        `transform` gives what their `transform` would, without them: importing scikit-learn cost about
        0.9 s of every `Pipeline.load`, and scoring needs none of it."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        return (
            TfidfVectorizer(analyzer="char_wb", ngram_range=self.char_ngrams, min_df=self.min_df,
                            max_features=self.max_char_features, sublinear_tf=True, dtype=DTYPE),
            TfidfVectorizer(analyzer="word", ngram_range=self.word_ngrams, min_df=self.min_df,
                            token_pattern=WORD_TOKEN.pattern, sublinear_tf=True, dtype=DTYPE),
        )

    def fit(self, texts: Sequence[str]) -> "TextFeatures":
        char, word = (v.fit(texts) for v in self.vectorizers())
        self.char_vocabulary_, self.char_idf_ = char.vocabulary_, char.idf_
        self.word_vocabulary_, self.word_idf_ = word.vocabulary_, word.idf_
        return self

    @property
    def n_ngram_features(self) -> int:
        """Columns after the embedding: what a head's width minus this must equal the embedder's."""
        return len(self.char_vocabulary_) + len(self.word_vocabulary_)

    def transform(self, texts: Sequence[str], embeddings: np.ndarray,
                  word_grams: dict[str, list[int]] | None = None) -> csr_matrix:
        """The n-grams are worked out once per distinct text; the same values as the fitted vectorizers'
        `transform`, to the bit. `word_grams` (word -> its character n-gram columns) is read and filled
        in: a caller transforming related texts (a comment's clauses after the comments) passes the same
        dict, so each word is analysed once across the calls."""
        if len(texts) != embeddings.shape[0]:
            raise ValueError(f"{len(texts)} texts but {embeddings.shape[0]} embedding rows")
        row_of: dict[str, int] = {}
        inverse = np.fromiter((row_of.setdefault(t, len(row_of)) for t in texts), dtype=np.int64, count=len(texts))
        distinct = list(row_of)
        char = self._char_counts(distinct, {} if word_grams is None else word_grams)
        ngrams = hstack([_tfidf(char, self.char_idf_), _tfidf(self._word_counts(distinct), self.word_idf_)],
                        format="csr", dtype=DTYPE)[inverse]
        return _beside(embeddings, ngrams)

    def _char_counts(self, texts: Sequence[str], grams_of: dict[str, list[int]]) -> csr_matrix:
        """The character vectorizer's counts, summed from each distinct word's: `char_wb` n-grams never
        cross a space, and comments share most of their words, so each word is analysed once (`grams_of`)."""
        low, high, vocabulary = *self.char_ngrams, self.char_vocabulary_
        text_words, words = word_bags([text.lower().split() for text in texts])  # char_wb's preprocessing and split
        columns = []
        for word in words:
            if (cols := grams_of.get(word)) is None:
                cols = grams_of[word] = [j for gram in _word_edge_grams(word, low, high)
                                         if (j := vocabulary.get(gram)) is not None]
            columns.append(cols)
        gram_cols = [j for cols in columns for j in cols]
        word_rows = np.repeat(np.arange(len(words)), [len(cols) for cols in columns])
        per_word = csr_matrix((np.ones(len(gram_cols), np.int64), (word_rows, gram_cols)),
                              shape=(len(words), len(vocabulary)))
        counts = (text_words @ per_word).astype(DTYPE)
        counts.sort_indices()
        return counts

    def _word_counts(self, texts: Sequence[str]) -> csr_matrix:
        """The word vectorizer's counts: its tokens and n-grams of them, looked up with `dict.get` (its
        `transform` raises and catches a `KeyError` for every n-gram outside the vocabulary)."""
        low, high, vocabulary = *self.word_ngrams, self.word_vocabulary_
        text_rows, gram_cols = [], []
        for k, text in enumerate(texts):
            tokens = WORD_TOKEN.findall(text.lower())
            for n in range(low, high + 1):
                for i in range(len(tokens) - n + 1):
                    if (j := vocabulary.get(tokens[i] if n == 1 else " ".join(tokens[i : i + n]))) is not None:
                        text_rows.append(k)
                        gram_cols.append(j)
        counts = csr_matrix((np.ones(len(text_rows), np.int64), (text_rows, gram_cols)),
                            shape=(len(texts), len(vocabulary))).astype(DTYPE)
        counts.sort_indices()
        return counts

    def save(self, path: Path) -> None:
        params = {"char_ngrams": self.char_ngrams, "word_ngrams": self.word_ngrams,
                  "max_char_features": self.max_char_features, "min_df": self.min_df}
        vocab = {"char": _ordered_terms(self.char_vocabulary_), "word": _ordered_terms(self.word_vocabulary_)}
        save_state(path.with_suffix(".safetensors"), {"char_idf": self.char_idf_, "word_idf": self.word_idf_}, params)
        path.with_suffix(".json").write_text(json.dumps(vocab, ensure_ascii=False), "utf-8")

    @classmethod
    def load(cls, path: Path) -> "TextFeatures":
        arrays, params = load_state(path.with_suffix(".safetensors"))
        vocab = json.loads(path.with_suffix(".json").read_text("utf-8"))
        model = cls(**params)
        model.char_vocabulary_ = {term: i for i, term in enumerate(vocab["char"])}
        model.word_vocabulary_ = {term: i for i, term in enumerate(vocab["word"])}
        model.char_idf_, model.word_idf_ = arrays["char_idf"], arrays["word_idf"]
        return model


def _word_edge_grams(word: str, low: int, high: int) -> list[str]:
    """The character n-grams `char_wb` takes from one word: the word padded with a space on each side,
    every n from low to high, and a padded word shorter than n once, as a whole."""
    padded = f" {word} "
    grams = []
    for n in range(low, high + 1):
        grams.extend(padded[i : i + n] for i in range(max(1, len(padded) - n + 1)))
        if len(padded) <= n:
            break
    return grams


def _tfidf(counts: csr_matrix, idf: np.ndarray) -> csr_matrix:
    """The vectorizers' weighting of counts, in place: sublinear tf (1 + log), times idf, each row
    divided by its l2 norm. Each step in the same precision as scikit-learn's (squares in float32 summed
    in order in float64, the division in float64), so the values are the same to the bit."""
    data = counts.data
    np.log(data, out=data)
    data += 1.0
    data *= idf[counts.indices]
    squares = csr_matrix(((data * data).astype(np.float64), counts.indices, counts.indptr), shape=counts.shape)
    norms = np.repeat(np.sqrt(squares @ np.ones(counts.shape[1])), np.diff(counts.indptr))
    weighted = norms != 0.0  # a row of zeros is left as it is
    data[weighted] = data[weighted] / norms[weighted]
    return counts


def _beside(dense: np.ndarray, sparse: csr_matrix) -> csr_matrix:
    """`hstack([csr_matrix(dense), sparse])` without `csr_matrix(dense)`, which scans the block for
    zeros and copies it twice: every entry is stored, zeros too, which changes no product."""
    n, d = dense.shape
    block = csr_matrix((dense.ravel(), np.tile(np.arange(d, dtype=np.int32), n), np.arange(n + 1) * d),
                       shape=(n, d))
    return hstack([block, sparse], format="csr", dtype=DTYPE)


def _ordered_terms(vocabulary: dict[str, int]) -> list[str]:
    """Terms in column order, so the list index is the column."""
    terms = [""] * len(vocabulary)
    for term, column in vocabulary.items():
        terms[column] = term
    return terms
