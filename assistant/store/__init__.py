"""Store: index versions on disk (build, publish, load, roll back), the FAISS vector index and
the BM25 lexical index."""

from assistant.store.index import (
    VERSIONS,
    LoadedIndex,
    has_index,
    load_index,
    manifest_summary,
    published_version,
    read_manifest,
    rollback,
    versions,
)
from assistant.store.vectorindex import AUTO_FLAT_LIMIT, INDEX_TYPES

__all__ = [
    "AUTO_FLAT_LIMIT",
    "INDEX_TYPES",
    "VERSIONS",
    "LoadedIndex",
    "has_index",
    "load_index",
    "manifest_summary",
    "published_version",
    "read_manifest",
    "rollback",
    "versions",
]
