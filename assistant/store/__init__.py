"""Store: index versions on disk (build, publish, load, roll back), the FAISS vector index and
the BM25 lexical index."""

from assistant.store.index import (
    VERSIONS,
    LoadedIndex,
    has_index,
    load_index,
    published_version,
    rollback,
    versions,
)
from assistant.store.manifest import Manifest, read_manifest
from assistant.store.vectorindex import AUTO_FLAT_LIMIT, INDEX_TYPES, FaissStore, VectorStore

__all__ = [
    "AUTO_FLAT_LIMIT",
    "INDEX_TYPES",
    "VERSIONS",
    "FaissStore",
    "VectorStore",
    "LoadedIndex",
    "Manifest",
    "has_index",
    "load_index",
    "published_version",
    "read_manifest",
    "rollback",
    "versions",
]
