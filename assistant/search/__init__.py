"""Search: the learnt ranker (adapter, passage offsets, "not covered" vectors), its training
at build time, fusion with BM25, and the search that applies them to a question."""

from assistant.search.retrieval import DEFAULT_OPTIONS, VARIANTS, Retrieval, RetrievalOptions

__all__ = ["DEFAULT_OPTIONS", "VARIANTS", "Retrieval", "RetrievalOptions"]
