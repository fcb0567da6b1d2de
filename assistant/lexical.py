"""Lexical retrieval: BM25 over stemmed words, with bm25s.

Dense vectors miss exact clinical tokens ("GM1", "IgM", "1.6-2.4 g/kg") and BM25 misses
paraphrase; fused, each covers the other's blind spot.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

LEXICAL_DIR = "lexical"


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


TOKEN = re.compile(r"(?u)\b\w\w+\b")
"""bm25s's own token pattern: words of two characters or more."""


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.tokenization import _infer_stopwords

    return frozenset(_infer_stopwords("en"))


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Lower-cased, stop words removed, Snowball-stemmed words: the same for passages and queries.

    The same tokens as `bm25s.tokenize(texts, stopwords="en", stemmer=...)` (a test holds them
    together) at a fraction of its cost: bm25s rebuilds its stop-word set and vocabulary on each
    call, about 1 ms for one question, which is a tenth of the ONNX query embedding.
    """
    stem = _stemmer().stemWords
    stop = _stopwords()
    return [stem([w for w in TOKEN.findall(text.lower()) if w not in stop]) for text in texts]


class LexicalIndex:
    """BM25 scores for every passage; passage i of the index is document i here."""

    def __init__(self, model) -> None:  # bm25s.BM25
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
    def load(cls, directory: Path) -> LexicalIndex:
        import bm25s

        return cls(bm25s.BM25.load(str(directory), show_progress=False, verbosity=0))

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every passage for the query (0 where no word matches)."""
        tokens = [t for t in tokenize([query])[0] if t in self.vocabulary]
        if not tokens:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._model.get_scores(tokens), dtype=np.float32)
