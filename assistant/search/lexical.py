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
        return np.asarray(self._model.get_scores(tokens), dtype=np.float32)
