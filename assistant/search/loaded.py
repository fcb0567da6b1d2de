"""A published index version, read into the objects a search uses and checked as a whole.

The store (`assistant.store`) checks a version's manifest, model and file hashes and reads its
records; here its search structures are opened (FAISS vectors, the BM25 index, the vocabulary)
and held against each other, so that a version whose parts disagree is never served.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path

from assistant.errors import IndexStoreError
from assistant.ingest.vocabulary import Vocabulary
from assistant.records import Article, ModelInfo, Passage
from assistant.search.lexical import LexicalIndex
from assistant.search.vectorindex import FaissStore, VectorStore, read_vectors
from assistant.store.directory import (
    LEXICAL_DIR,
    RANKER_DIR,
    VECTORS,
    VERSIONS,
    VOCABULARY,
    nothing_published,
    open_version,
    published_version,
)
from assistant.store.manifest import REBUILD, Manifest


@dataclass(frozen=True, slots=True)
class LoadedIndex:
    """A published version, loaded and checked: what retrieval searches."""

    version: str
    path: Path
    manifest: Manifest
    vectors: VectorStore
    passages: tuple[Passage, ...]
    articles: dict[str, Article]
    lexical: LexicalIndex
    vocabulary: Vocabulary
    ranker_dir: Path | None
    """The version's `ranker/` directory (what training learnt), or None: served untrained."""

    @property
    def built_at(self) -> str | None:
        """When the version was built (ISO 8601, UTC)."""
        return self.manifest.built_at

    def shown_examples(self) -> list[str]:
        """Questions to offer on the home page: the first example questions of each article's
        examples file, taken in turn from each article."""
        shown = self.manifest.training.get("shown") or {}
        columns = [list(v) for v in shown.values()]
        return [q for row in itertools.zip_longest(*columns) for q in row if q]


def load_index(index_dir: Path, model: ModelInfo) -> LoadedIndex:
    """Load and check the published version against its manifest and the running model."""
    version = published_version(index_dir)
    if version is None:
        raise IndexStoreError(nothing_published(index_dir))
    return load_version(index_dir / VERSIONS / version, model, version=version)


def load_version(path: Path, model: ModelInfo, *, version: str) -> LoadedIndex:
    """Load one version directory, refusing any mismatch or damaged file with a clear message."""
    stored = open_version(path, model, version=version)
    manifest = stored.manifest
    try:
        vectors = FaissStore(read_vectors(path / VECTORS, manifest.index_type))
        vocabulary = Vocabulary.from_json(
            json.loads((path / VOCABULARY).read_text(encoding="utf-8"))
        )
        lexical = LexicalIndex.load(path / LEXICAL_DIR, mmap=True)
    except (RuntimeError, ValueError, KeyError, TypeError, OSError) as exc:
        raise IndexStoreError(f"{path}: cannot read the index files ({exc}); {REBUILD}") from None
    if vectors.kind != manifest.index_type:
        raise IndexStoreError(
            f"{path}: {VECTORS} holds a {vectors.kind} index, but the manifest says "
            f"{manifest.index_type}; {REBUILD}"
        )
    if vectors.dimension != model.dimension:
        raise IndexStoreError(
            f"{path}: FAISS dimension {vectors.dimension} != model dimension {model.dimension}; "
            f"{REBUILD}"
        )
    count = manifest.passage_count
    if not (vectors.size == len(stored.passages) == count == lexical.size):
        raise IndexStoreError(
            f"{path}: {vectors.size} vectors, {len(stored.passages)} passages, {lexical.size} "
            f"lexical documents, manifest says {count}; {REBUILD}"
        )
    ranker_dir = path / RANKER_DIR if (path / RANKER_DIR).is_dir() else None
    return LoadedIndex(
        version,
        path,
        manifest,
        vectors,
        stored.passages,
        stored.articles,
        lexical,
        vocabulary,
        ranker_dir,
    )
