"""The index on disk: a directory of versions, one of them published.

    index/
      CURRENT                  name of the published version (replaced atomically)
      versions/<version>/
        manifest.json          model, dimension, counts, corpus hash, articles, file hashes
        vectors.faiss          FAISS inner-product index; vector i is passage i
        passages.jsonl         line i is passage i, with its citation metadata
        articles.json          each article's metadata and disclaimer
        vocabulary.json        abbreviations learnt from the corpus and the synonyms rules
        lexical/               the BM25 index (bm25s); document i is passage i
        ranker/                what was learnt from the example questions (a `Trainer` writes it)

A build writes a new version into a staging directory, flushes and validates it, moves
it into `versions/` and only then replaces `CURRENT`. A build that fails at any point
leaves the published version exactly as it was.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from assistant import __version__
from assistant.embed.embedding import Embedder, ModelInfo
from assistant.embed.vectorcache import VectorCache, embed_with_cache
from assistant.errors import IndexStoreError
from assistant.ingest.chunking import INDEX_TEXT_VERSION
from assistant.ingest.vocabulary import Rule, Vocabulary
from assistant.records import Article, Passage
from assistant.store.lexical import LEXICAL_DIR, LexicalIndex
from assistant.store.manifest import (
    REBUILD,
    ArticleEntry,
    BuildReport,
    Manifest,
    VectorIndexEntry,
    read_manifest,
)
from assistant.store.vectorindex import (
    FaissStore,
    VectorStore,
    build_vectors,
    choose,
    read_vectors,
)

POINTER = "CURRENT"
VERSIONS = "versions"
STAGING_PREFIX = ".staging-"
LOCK = ".build.lock"
KEEP_VERSIONS = 3
"""Versions kept on disk (the published one always among them), for `build --rollback`."""
RANKER_DIR = "ranker"
MODEL_DIR = "model"
"""A fine-tuned model's directory inside a version (`build --fine-tune`)."""
REQUIRED = ("vectors.faiss", "passages.jsonl", "articles.json", "vocabulary.json")


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


@dataclass(frozen=True, slots=True)
class TrainingInputs:
    """What a build hands its trainer: the model, the vectors it has, the indexes it built,
    and where to write what it learns."""

    embedder: Embedder
    cached: dict[str, np.ndarray]
    lexical: LexicalIndex
    passage_vectors: np.ndarray
    passage_ids: list[str]
    index_dir: Path
    target: Path
    vocabulary: Vocabulary
    progress: bool


@dataclass(frozen=True, slots=True)
class TrainingOutcome:
    """What a trainer hands back to the build."""

    entry: dict[str, Any]
    """The manifest's `training` entry."""
    passages: np.ndarray | None = None
    """The passage vectors to search (with their learnt offsets); None: the model's own."""
    cache_keys: tuple[str, ...] = ()
    cache_vectors: np.ndarray | None = None
    """Vectors the trainer embedded (the example questions), for the next build's cache."""


Trainer = Callable[[TrainingInputs], TrainingOutcome]
"""Learns from the examples into `inputs.target`."""


def untrained(reason: str = "built with --no-train") -> TrainingOutcome:
    """The outcome of a version built without training."""
    return TrainingOutcome({"trained": False, "reason": reason})


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write(path: Path, data: bytes) -> str:
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return hashlib.sha256(data).hexdigest()


def corpus_sha256(articles: list[Article]) -> str:
    digest = hashlib.sha256()
    for article in sorted(articles, key=lambda a: a.id):
        digest.update(f"{article.id}\0{article.sha256}\n".encode())
    return digest.hexdigest()


def _passage_json(passage: Passage) -> str:
    return json.dumps(dataclasses.asdict(passage), ensure_ascii=False)


def _article_json(article: Article) -> dict[str, Any]:
    data = dataclasses.asdict(article)
    data.pop("passages")
    data["last_updated"] = article.last_updated.isoformat()
    data["passage_count"] = len(article.passages)
    return data


def _hash_tree(directory: Path) -> dict[str, str]:
    """SHA-256 of every file below a version directory but the manifest, by relative path."""
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.name != "manifest.json"
    }


def _fsync_tree(directory: Path) -> None:
    for path in directory.rglob("*"):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
    for path in [directory, *(p for p in directory.rglob("*") if p.is_dir())]:
        _fsync_dir(path)


def build_index(
    articles: list[Article],
    embedder: Embedder,
    index_dir: Path,
    *,
    synonyms: list[Rule] | None = None,
    progress: bool = False,
    full: bool = False,
    index_type: str = "auto",
    trainer: Trainer | None = None,
    model_dir: Path | None = None,
    fine_tuned: dict[str, Any] | None = None,
) -> LoadedIndex:
    """Embed the passages, write a new version and publish it; returns it loaded.

    With a `trainer` (the build passes `assistant.search.training`'s), what it learns is written
    into the version's `ranker/` directory and the passage vectors it returns are the ones
    searched; without one, the version serves the model untrained.

    Vectors of unchanged texts come from the vector cache unless `full` is set. The manifest's
    `build` entry says what changed against the published version and what was reused, and its
    `vector_index` entry which FAISS index was built and why (`index_type`: see
    `assistant.store.vectorindex`).
    """
    with build_lock(index_dir):
        return _build(
            articles,
            embedder,
            index_dir,
            synonyms or [],
            progress=progress,
            full=full,
            index_type=index_type,
            trainer=trainer,
            model_dir=model_dir,
            fine_tuned=fine_tuned,
        )


def _build(
    articles: list[Article],
    embedder: Embedder,
    index_dir: Path,
    synonyms: list[Rule],
    *,
    progress: bool,
    full: bool,
    index_type: str,
    trainer: Trainer | None,
    model_dir: Path | None,
    fine_tuned: dict[str, Any] | None,
) -> LoadedIndex:
    import faiss

    started = time.perf_counter()
    passages = [p for article in articles for p in article.passages]
    if not passages:
        raise IndexStoreError("nothing to index: the corpus has no passages")
    choice = choose(len(passages), index_type)  # an unknown type fails before any work
    info = embedder.info
    cache = VectorCache(index_dir, info.weights_sha256, info.dimension)
    cached = {} if full else cache.load()
    embedded = embed_with_cache(
        embedder, [p.index_text for p in passages], cached, progress=progress
    )
    vectors = embedded.vectors
    changes = compare(_published_passages(index_dir), passages)

    index_dir.mkdir(parents=True, exist_ok=True)
    (index_dir / VERSIONS).mkdir(exist_ok=True)
    built_at = datetime.now(UTC)
    version = f"{built_at:%Y%m%dT%H%M%S.%f}-{secrets.token_hex(3)}"  # names sort by build time
    staging = index_dir / f"{STAGING_PREFIX}{version}"
    staging.mkdir()
    try:
        vocabulary = Vocabulary.of_corpus(articles, list(synonyms))
        _write(staging / "vocabulary.json", json.dumps(vocabulary.to_json(), indent=1).encode())
        lexical = LexicalIndex.build([p.index_text for p in passages])
        lexical.save(staging / LEXICAL_DIR)
        inputs = TrainingInputs(
            embedder=embedder,
            cached=cached,
            lexical=lexical,
            passage_vectors=vectors,
            passage_ids=[p.id for p in passages],
            index_dir=index_dir,
            target=staging / RANKER_DIR,
            vocabulary=vocabulary,
            progress=progress,
        )
        trained = trainer(inputs) if trainer is not None else untrained()
        # what is searched is what was learnt: the passages with their learnt offsets
        served = vectors if trained.passages is None else trained.passages
        searchable, choice = build_vectors(served, choice)
        _write(staging / "vectors.faiss", bytes(faiss.serialize_index(searchable)))
        _write(
            staging / "passages.jsonl",
            ("\n".join(_passage_json(p) for p in passages) + "\n").encode(),
        )
        _write(
            staging / "articles.json",
            json.dumps([_article_json(a) for a in articles], ensure_ascii=False, indent=1).encode(),
        )
        if model_dir is not None:  # the fine-tuned model travels with the version it serves
            shutil.copytree(model_dir, staging / MODEL_DIR)
        _fsync_tree(staging)
        hashes = _hash_tree(staging)
        manifest = Manifest(
            version=version,
            built_at=built_at.isoformat(timespec="seconds"),
            build_seconds=round(time.perf_counter() - started, 3),
            package_version=__version__,
            model=info,
            index_type=choice.kind,
            vector_index=VectorIndexEntry(choice.kind, choice.reason, choice.params),
            index_text_version=INDEX_TEXT_VERSION,
            passage_count=len(passages),
            corpus_sha256=corpus_sha256(articles),
            articles=tuple(
                ArticleEntry(
                    id=a.id,
                    title=a.title,
                    last_updated=a.last_updated.isoformat(),
                    review_status=a.review_status,
                    source=a.source,
                    sha256=a.sha256,
                    passage_count=len(a.passages),
                )
                for a in articles
            ),
            files=hashes,
            build=BuildReport(
                **changes, reused=embedded.reused, embedded=embedded.embedded, full=full
            ),
            training=trained.entry,
            fine_tuned=fine_tuned,
        )
        _write(staging / "manifest.json", json.dumps(manifest.to_json(), indent=1).encode())
        _fsync_dir(staging)
        loaded = load_version(staging, info, version=version)  # validate before publishing
        final = index_dir / VERSIONS / version
        os.replace(staging, final)
        _fsync_dir(index_dir / VERSIONS)
        publish(index_dir, version)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if trained.cache_vectors is not None:  # the example questions' vectors join the passages'
        cache.save(
            [*embedded.keys, *trained.cache_keys], np.concatenate([vectors, trained.cache_vectors])
        )
    else:
        cache.save(embedded.keys, vectors)
    prune(index_dir)
    return dataclasses.replace(loaded, path=final)


def compare(old: Sequence[Passage], new: Sequence[Passage]) -> dict[str, int]:
    """What a build changes: passages kept as they were, edited in place (the same article and
    section, other text), added and removed. Ids follow the text, so an edit is a new id."""
    old_ids = {p.id for p in old}
    new_ids = {p.id for p in new}
    gone: dict[tuple[str, tuple[str, ...]], int] = {}
    for passage in old:
        if passage.id not in new_ids:
            key = (passage.article_id, passage.section)
            gone[key] = gone.get(key, 0) + 1
    changed = added = 0
    for passage in new:
        if passage.id in old_ids:
            continue
        key = (passage.article_id, passage.section)
        if gone.get(key):
            gone[key] -= 1
            changed += 1
        else:
            added += 1
    return {
        "unchanged": len(new_ids & old_ids),
        "changed": changed,
        "added": added,
        "removed": sum(gone.values()),
    }


def _published_passages(index_dir: Path) -> list[Passage]:
    """The published version's passages, to compare a build with (none if unreadable)."""
    version = published_version(index_dir)
    if version is None:
        return []
    try:
        lines = (index_dir / VERSIONS / version / "passages.jsonl").read_text(encoding="utf-8")
        return [_passage_from_json(json.loads(line)) for line in lines.splitlines() if line.strip()]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def versions(index_dir: Path) -> list[str]:
    """The complete versions in the index directory, oldest first (names sort by build time)."""
    root = index_dir / VERSIONS
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "manifest.json").is_file())


def prune(index_dir: Path, keep: int = KEEP_VERSIONS) -> list[str]:
    """Delete all but the newest `keep` versions, never the published one; returns the deleted."""
    current = published_version(index_dir)
    old = [v for v in versions(index_dir)[:-keep] if v != current]
    for version in old:
        shutil.rmtree(index_dir / VERSIONS / version, ignore_errors=True)
    return old


def rollback(index_dir: Path) -> str:
    """Publish the version built before the published one; returns its name."""
    current = published_version(index_dir)
    available = versions(index_dir)
    earlier = [v for v in available if current is None or v < current]
    if not earlier:
        raise IndexStoreError(
            f"{index_dir}: no version older than {current or 'none'} to roll back to "
            f"(kept: {', '.join(available) or 'none'})"
        )
    publish(index_dir, earlier[-1])
    return earlier[-1]


@contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """One build at a time per index directory; the lock dies with its process (even kill -9).

    Holding it, whatever staging directories or pointer files are left are a dead build's
    garbage, and are removed so that they never trip a later build.
    """
    import fcntl

    index_dir.mkdir(parents=True, exist_ok=True)
    with (index_dir / LOCK).open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexStoreError(
                f"{index_dir}: another build is running; wait for it to finish"
            ) from None
        for leftover in index_dir.glob(f"{STAGING_PREFIX}*"):
            shutil.rmtree(leftover, ignore_errors=True)
        for leftover in index_dir.glob(f"{POINTER}.*.tmp"):
            leftover.unlink(missing_ok=True)
        yield


def publish(index_dir: Path, version: str) -> None:
    """Make `version` the published one, in one atomic step."""
    if not (index_dir / VERSIONS / version / "manifest.json").is_file():
        raise IndexStoreError(f"{index_dir}: no version {version!r} to publish")
    temporary = index_dir / f"{POINTER}.{secrets.token_hex(4)}.tmp"
    _write(temporary, f"{version}\n".encode())
    os.replace(temporary, index_dir / POINTER)
    _fsync_dir(index_dir)


def published_version(index_dir: Path) -> str | None:
    """The published version's name, or None when nothing was ever published."""
    try:
        version = (index_dir / POINTER).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return version or None


def has_index(index_dir: Path) -> bool:
    version = published_version(index_dir)
    return version is not None and (index_dir / VERSIONS / version / "manifest.json").is_file()


def load_index(index_dir: Path, model: ModelInfo) -> LoadedIndex:
    """Load and check the published version against its manifest and the running model."""
    version = published_version(index_dir)
    if version is None:
        raise IndexStoreError(f"{index_dir}: no index has been built; run `mmn-assistant build`")
    return load_version(index_dir / VERSIONS / version, model, version=version)


def load_version(path: Path, model: ModelInfo, *, version: str) -> LoadedIndex:
    """Load one version directory, refusing any mismatch or damaged file with a clear message."""
    manifest = read_manifest(path)
    rebuild = REBUILD
    recorded_model, expected_files, count = manifest.model, manifest.files, manifest.passage_count
    if recorded_model.weights_sha256 != model.weights_sha256:
        raise IndexStoreError(
            f"{path}: built with model {recorded_model.name} "
            f"(weights {recorded_model.weights_sha256[:12]}…), but the running model is "
            f"{model.name} (weights {model.weights_sha256[:12]}…); {rebuild}"
        )
    if recorded_model.dimension != model.dimension:
        raise IndexStoreError(
            f"{path}: manifest dimension {recorded_model.dimension} != model dimension "
            f"{model.dimension}; {rebuild}"
        )
    if not set(REQUIRED) <= expected_files.keys():
        raise IndexStoreError(f"{path}/manifest.json does not list the index files; {rebuild}")
    for name, expected in expected_files.items():
        file = path / name
        if not file.is_file():
            raise IndexStoreError(f"{file} is missing; {rebuild}")
        if expected != hashlib.sha256(file.read_bytes()).hexdigest():
            raise IndexStoreError(
                f"{file} does not match its hash in the manifest (damaged); {rebuild}"
            )

    try:
        vectors = FaissStore(read_vectors(path / "vectors.faiss", manifest.index_type))
        passages = tuple(
            _passage_from_json(json.loads(line))
            for line in (path / "passages.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()
        )
        articles = {
            a["id"]: _article_from_json(a)
            for a in json.loads((path / "articles.json").read_text(encoding="utf-8"))
        }
        vocabulary = Vocabulary.from_json(
            json.loads((path / "vocabulary.json").read_text(encoding="utf-8"))
        )
        lexical = LexicalIndex.load(path / LEXICAL_DIR, mmap=True)
    except (RuntimeError, ValueError, KeyError, TypeError, OSError) as exc:
        raise IndexStoreError(f"{path}: cannot read the index files ({exc}); {rebuild}") from None

    recorded_kind = manifest.index_type
    if vectors.kind != recorded_kind:
        raise IndexStoreError(
            f"{path}: vectors.faiss holds a {vectors.kind} index, but the manifest says "
            f"{recorded_kind}; {rebuild}"
        )
    if vectors.dimension != model.dimension:
        raise IndexStoreError(
            f"{path}: FAISS dimension {vectors.dimension} != model dimension {model.dimension}; {rebuild}"
        )
    if not (vectors.size == len(passages) == count == lexical.size):
        raise IndexStoreError(
            f"{path}: {vectors.size} vectors, {len(passages)} passages, {lexical.size} lexical "
            f"documents, manifest says {count}; {rebuild}"
        )
    missing = {p.article_id for p in passages} - articles.keys()
    if missing:
        raise IndexStoreError(f"{path}: passages of unknown articles {sorted(missing)}; {rebuild}")
    by_article: dict[str, list[Passage]] = {}
    for passage in passages:
        by_article.setdefault(passage.article_id, []).append(passage)
    articles = {
        aid: dataclasses.replace(a, passages=tuple(by_article.get(aid, ())))
        for aid, a in articles.items()
    }
    ranker_dir = path / RANKER_DIR if (path / RANKER_DIR).is_dir() else None
    return LoadedIndex(
        version, path, manifest, vectors, passages, articles, lexical, vocabulary, ranker_dir
    )


def _passage_from_json(data: dict[str, Any]) -> Passage:
    data = dict(data)
    data["section"] = tuple(data["section"])
    data["citations"] = tuple(data["citations"])
    return Passage(**data)


def _article_from_json(data: dict[str, Any]) -> Article:
    data = dict(data)
    data.pop("passage_count", None)
    data["last_updated"] = date.fromisoformat(data["last_updated"])
    # asdict wrote (number, text) pairs as lists; a version built before references had none.
    data["references"] = tuple((int(n), str(t)) for n, t in data.get("references", ()))
    return Article(**data, passages=())
