"""Search: the loaded index version (FAISS vectors, BM25, vocabulary), the learnt ranker as
served, fusion, and the search that applies them to a question. Training lives in
`assistant.train`."""

from assistant.search.retrieval import DEFAULT_OPTIONS, VARIANTS, Retrieval, RetrievalOptions

__all__ = ["DEFAULT_OPTIONS", "VARIANTS", "Retrieval", "RetrievalOptions"]
