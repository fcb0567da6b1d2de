"""Lexical retrieval: BM25 over stemmed words, with bm25s.

Dense vectors miss exact clinical tokens ("GM1", "IgM", "1.6-2.4 g/kg") and BM25 misses
paraphrase; fused, each covers the other's blind spot.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from assistant.ingest.tokens import tokenize

LEXICAL_DIR = "lexical"


class LexicalIndex:
    """BM25 scores for every passage; passage i of the index is document i here."""

    def __init__(self, model) -> None:  # bm25s.BM25
        # A memory-mapped matrix is read through plain views of the same pages: every slice of
        # a np.memmap runs Python code of its own (two a query word, 12 % of ranking's time).
        for name, array in model.scores.items():
            if isinstance(array, np.memmap):
                model.scores[name] = array.view(np.ndarray)
        self._model = model
        self.vocabulary = frozenset(k for k in model.vocab_dict if k)
        self.size = int(model.scores["num_docs"])
        # The score matrix's columns, read here without bm25s's per-query Python (its
        # `np.add.at` alone was a third of BM25's 65 us an answer). Only for plain BM25: the
        # variants that score words a passage lacks go through bm25s.
        self._plain = model.nonoccurrence_array is None
        self._dtype = np.dtype(model.dtype)

    @classmethod
    def build(cls, texts: Sequence[str]) -> LexicalIndex:
        import bm25s

        model = bm25s.BM25()
        model.index(tokenize(texts), show_progress=False)
        return cls(model)

    def save(self, directory: Path) -> None:
        self._model.save(str(directory), show_progress=False)

    @classmethod
    def load(cls, directory: Path, *, mmap: bool = False) -> LexicalIndex:
        """`mmap` leaves the score matrix in the page cache, shared by every process serving
        the version, instead of a copy in each."""
        import bm25s

        model = bm25s.BM25.load(str(directory), mmap=mmap, show_progress=False, verbosity=0)
        return cls(model)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every passage for the query (0 where no word matches)."""
        return self.scores_of(tokenize([query])[0])

    def scores_of(self, stems: Sequence[str]) -> np.ndarray:
        """BM25 score of every passage for a query already read (`assistant.ingest.tokens`)."""
        tokens = [t for t in stems if t in self.vocabulary]
        if not tokens:
            return np.zeros(self.size, dtype=np.float32)
        if not self._plain:
            return np.asarray(self._model.get_scores(tokens), dtype=np.float32)
        # bm25s's sum, word by word in the query's order: a word's column names each passage
        # once, so adding through its positions is `np.add.at`'s sum, bit for bit
        matrix, ids = self._model.scores, self._model.vocab_dict  # shared, mapped: no copies
        data, positions, starts = matrix["data"], matrix["indices"], matrix["indptr"]
        scores = np.zeros(self.size, dtype=self._dtype)
        for word in tokens:
            i = ids[word]
            start, end = starts[i], starts[i + 1]
            scores[positions[start:end]] += data[start:end]
        return scores.astype(np.float32, copy=False)
