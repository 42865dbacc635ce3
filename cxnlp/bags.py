"""Texts as bags of their distinct words, for the stages whose per-text value is a sum over words.

Survey comments share most of their words, so a stage that works word by word (character n-grams,
tokenizer pieces, language profiles) does each distinct word once and gets the texts back with one
sparse product: `bag @ per_word_values`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.sparse import csr_matrix


def word_bags(words_of: Sequence[Sequence[str]]) -> tuple[csr_matrix, list[str]]:
    """(texts x distinct words) counts, int64, and the distinct words in column order."""
    column: dict[str, int] = {}
    indices = np.fromiter((column.setdefault(w, len(column)) for words in words_of for w in words), dtype=np.int64)
    indptr = np.zeros(len(words_of) + 1, dtype=np.int64)
    np.cumsum([len(words) for words in words_of], out=indptr[1:])
    bags = csr_matrix((np.ones(len(indices), dtype=np.int64), indices, indptr), shape=(len(words_of), len(column)))
    bags.sum_duplicates()
    return bags, list(column)
