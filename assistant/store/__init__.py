"""Store: the index directory of versions. It writes, seals, publishes, checks, lists and rolls
back versions, and knows nothing of what their search structures hold."""

from assistant.store.directory import VERSIONS, has_index, published_version, versions
from assistant.store.history import rollback, way_back
from assistant.store.manifest import Manifest, read_manifest

__all__ = [
    "VERSIONS",
    "Manifest",
    "has_index",
    "published_version",
    "read_manifest",
    "rollback",
    "versions",
    "way_back",
]
