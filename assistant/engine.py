"""The one core call behind every surface: question in, `Answer` out.

The CLI, the JSON API and the web page are thin shells over `Engine.ask`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from assistant.answer import Answer, assemble
from assistant.embedding import Embedder
from assistant.index import LoadedIndex, load_index
from assistant.limits import DEFAULT_K, check_k, clean_history, clean_question
from assistant.retrieval import DenseRetriever


class Engine:
    """A loaded index plus the model that searches it."""

    def __init__(self, index: LoadedIndex, embedder: Embedder) -> None:
        self.index = index
        self.embedder = embedder
        self._retriever = DenseRetriever(index, embedder)

    @classmethod
    def open(cls, index_dir: Path, embedder: Embedder) -> Engine:
        """Load the published index version, checked against the running model."""
        return cls(load_index(index_dir, embedder.info), embedder)

    def ask(self, question: str, history: Sequence[str] = (), k: int = DEFAULT_K) -> Answer:
        """Answer a question with ranked, cited passages and the disclaimer.

        Raises `QueryError` for input outside the documented limits, before any model work.
        """
        question = clean_question(question)
        earlier = clean_history(list(history))
        k = check_k(k)
        hits = self._retriever.search(question, k)
        return assemble(question, earlier, hits, self.index)
