"""Find the passages that answer a question."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from assistant.embedding import Embedder
from assistant.index import LoadedIndex


@dataclass(frozen=True, slots=True)
class Hit:
    """One retrieved passage: its position in the index and how well it matched."""

    index: int
    score: float
    dense: float | None = None


class DenseRetriever:
    """Exact inner-product search over normalised vectors (cosine similarity)."""

    def __init__(self, index: LoadedIndex, embedder: Embedder) -> None:
        self._index = index
        self._embedder = embedder

    def search(self, query: str, k: int) -> list[Hit]:
        vector = self._embedder.embed([query])
        k = min(k, self._index.vectors.ntotal)
        scores, ids = self._index.vectors.search(np.ascontiguousarray(vector), k)
        return [
            Hit(int(i), float(s), dense=float(s))
            for i, s in zip(ids[0], scores[0], strict=True)
            if i >= 0
        ]
