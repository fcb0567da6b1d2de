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
        ranker/                what was learnt from the example questions
        model/                 the fine-tuned model, when built with `--fine-tune`

This module only writes, seals, publishes, checks, rolls back and lists versions; what the
files hold is made by the build's stages (`assistant.build`) and read back into searchable
objects by `assistant.search.loaded`. A version is written into a staging directory, flushed,
sealed with its manifest and checked, moved into `versions/`, and only then does `CURRENT`
point at it: a build that fails at any point leaves the published version exactly as it was.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from assistant.errors import IndexStoreError, os_problem
from assistant.records import Article, ModelInfo, Passage
from assistant.store.manifest import REBUILD, Manifest, read_manifest

POINTER = "CURRENT"
VERSIONS = "versions"
STAGING_PREFIX = ".staging-"
LOCK = ".build.lock"
KEEP_VERSIONS = 3
HISTORY = "PUBLISHED"
"""The versions published in turn, one a line, the published one last (`store.history`)."""
"""Versions kept on disk (the published one always among them), for `build --rollback`."""

MANIFEST = "manifest.json"
VECTORS = "vectors.faiss"
PASSAGES = "passages.jsonl"
ARTICLES = "articles.json"
VOCABULARY = "vocabulary.json"
LEXICAL_DIR = "lexical"
RANKER_DIR = "ranker"
MODEL_DIR = "model"
LINEAGE = "lineage.json"
"""Which passage continues which of the version before (`assistant.ingest.lineage`)."""
"""A fine-tuned model's directory inside a version (`build --fine-tune`)."""
REQUIRED = (VECTORS, PASSAGES, ARTICLES, VOCABULARY)


@dataclass(frozen=True, slots=True)
class StoredVersion:
    """A version directory whose manifest, model and file hashes were checked, with the
    records it holds; the search structures in it are read by `assistant.search.loaded`."""

    version: str
    path: Path
    manifest: Manifest
    passages: tuple[Passage, ...]
    articles: dict[str, Article]


def version_name(built_at: datetime) -> str:
    """A new version's name: names sort by build time, and a random tail keeps two apart."""
    return f"{built_at:%Y%m%dT%H%M%S.%f}-{secrets.token_hex(3)}"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_synced(path: Path, data: bytes) -> str:
    """Write `data` to `path` and flush it to the disk; returns its SHA-256."""
    try:
        with path.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:  # a full disk's error on write names no file: say which, and where
        if exc.filename is None:
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    return hashlib.sha256(data).hexdigest()


def _fsync_tree(directory: Path) -> None:
    for path in directory.rglob("*"):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
    for path in [directory, *(p for p in directory.rglob("*") if p.is_dir())]:
        _fsync_dir(path)


def _hash_tree(directory: Path) -> dict[str, str]:
    """SHA-256 of every file below a version directory but the manifest, by relative path."""
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.name != MANIFEST
    }


class Staging:
    """A version being written: its files go in, `files()` flushes and hashes them, `seal`
    writes the manifest, and `publish` moves the version in and points `CURRENT` at it."""

    def __init__(self, index_dir: Path, version: str) -> None:
        self.index_dir = index_dir
        self.version = version
        self.path = index_dir / f"{STAGING_PREFIX}{version}"

    def write(self, name: str, data: bytes) -> None:
        write_synced(self.path / name, data)

    def write_records(self, articles: Sequence[Article]) -> None:
        """`passages.jsonl` (line i is passage i, in article order) and `articles.json`."""
        passages = [p for a in articles for p in a.passages]
        self.write(PASSAGES, ("\n".join(map(_passage_json, passages)) + "\n").encode())
        data = [_article_json(a) for a in articles]
        self.write(ARTICLES, json.dumps(data, ensure_ascii=False, indent=1).encode())

    def copy_tree(self, source: Path, name: str) -> None:
        shutil.copytree(source, self.path / name)

    def files(self) -> dict[str, str]:
        """Flush everything written so far and return each file's SHA-256 (for the manifest)."""
        _fsync_tree(self.path)
        return _hash_tree(self.path)

    def seal(self, manifest: Manifest) -> None:
        self.write(MANIFEST, json.dumps(manifest.to_json(), indent=1).encode())
        _fsync_dir(self.path)

    def publish(self) -> Path:
        """Move the sealed version into `versions/` and publish it; returns where it now is.
        A pointer that cannot be written takes the version out again: left in `versions/`, a
        version never published would be a rollback's "version before"."""
        from assistant.store.history import published_history, record  # it reads versions

        served = published_history(self.index_dir)
        final = self.index_dir / VERSIONS / self.version
        os.replace(self.path, final)
        _fsync_dir(self.index_dir / VERSIONS)
        try:
            publish(self.index_dir, self.version)
        except BaseException:
            try:
                published = published_version(self.index_dir)
            except IndexStoreError:
                published = None
            if published != self.version:  # the pointer was never moved to it
                shutil.rmtree(final, ignore_errors=True)
            raise
        record(self.index_dir, [*served, self.version])
        return final


@contextmanager
def staging(index_dir: Path, version: str) -> Iterator[Staging]:
    """A staging directory for `version`, removed if anything fails before it is published."""
    (index_dir / VERSIONS).mkdir(parents=True, exist_ok=True)
    staged = Staging(index_dir, version)
    staged.path.mkdir()
    try:
        yield staged
    except BaseException:
        shutil.rmtree(staged.path, ignore_errors=True)
        raise


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
        for pattern in (f"{POINTER}.*.tmp", f"{HISTORY}.*.tmp"):
            for leftover in index_dir.glob(pattern):
                leftover.unlink(missing_ok=True)
        for leftover in index_dir.glob("cache/.*.tmp.npz"):  # a vector cache half written
            leftover.unlink(missing_ok=True)
        yield


def publish(index_dir: Path, version: str) -> None:
    """Make `version` the published one, in one atomic step."""
    if not (index_dir / VERSIONS / version / MANIFEST).is_file():
        raise IndexStoreError(f"{index_dir}: no version {version!r} to publish")
    temporary = index_dir / f"{POINTER}.{secrets.token_hex(4)}.tmp"
    write_synced(temporary, f"{version}\n".encode())
    os.replace(temporary, index_dir / POINTER)
    _fsync_dir(index_dir)


def published_version(index_dir: Path) -> str | None:
    """The published version's name, or None when nothing was ever published. Raises
    `IndexStoreError` when the pointer is damaged (not text, not a file, not a version's
    name): read as a path, it would blame a missing manifest somewhere else."""
    pointer = index_dir / POINTER
    try:
        version = pointer.read_bytes().decode("utf-8").strip()
    except FileNotFoundError:
        return None
    except (NotADirectoryError, PermissionError) as exc:  # the directory, not the pointer
        raise IndexStoreError(os_problem(exc)) from None
    except (OSError, UnicodeDecodeError) as exc:
        problem = exc.strerror if isinstance(exc, OSError) else "not text"
        raise IndexStoreError(_damaged(pointer, problem or str(exc))) from None
    if version and not _VERSION_NAME.fullmatch(version):
        raise IndexStoreError(_damaged(pointer, f"{version[:60]!r} is no version's name"))
    return version or None


_VERSION_NAME = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,99}")
"""What `version_name` makes (and any one plain directory name): never a path."""


def _damaged(pointer: Path, problem: str) -> str:
    return (
        f"{pointer}: damaged ({problem}); it names the published version. Delete it, then "
        "`mmn-assistant build --rollback` publishes the version published last, or "
        "`mmn-assistant build` a new one"
    )


def nothing_published(index_dir: Path) -> str:
    """What to say when no version is published: whether any was built, and the way back."""
    if kept := versions(index_dir):  # the pointer is gone, the versions are not
        return (
            f"{index_dir}: no version is published, {len(kept)} kept (newest {kept[-1]}); "
            "`mmn-assistant build --rollback` publishes the one published last, or "
            "`mmn-assistant build` builds the corpus as it is now"
        )
    return f"{index_dir}: no index has been built; run `mmn-assistant build`"


def has_index(index_dir: Path) -> bool:
    version = published_version(index_dir)
    return version is not None and (index_dir / VERSIONS / version / MANIFEST).is_file()


def versions(index_dir: Path) -> list[str]:
    """The complete versions in the index directory, oldest first (names sort by build time)."""
    root = index_dir / VERSIONS
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / MANIFEST).is_file())


def published_passages(index_dir: Path) -> list[Passage]:
    """The published version's passages, to compare a build with (none if unreadable)."""
    version = published_version(index_dir)
    return [] if version is None else version_passages(index_dir, version)


def version_passages(index_dir: Path, version: str) -> list[Passage]:
    """A kept version's passages (none if it is gone or unreadable)."""
    try:
        return list(_read_passages(index_dir / VERSIONS / version))
    except (OSError, ValueError, KeyError, TypeError):
        return []


def published_json(index_dir: Path, name: str) -> Any:
    """A JSON file of the published version (None when there is none or it is unreadable): what
    a build continues from, such as its lineage."""
    version = published_version(index_dir)
    if version is None:
        return None
    try:
        return json.loads((index_dir / VERSIONS / version / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def published_manifest(index_dir: Path) -> Manifest | None:
    """The published version's manifest (None when there is none or it is unreadable)."""
    version = published_version(index_dir)
    if version is None:
        return None
    try:
        return read_manifest(index_dir / VERSIONS / version)
    except IndexStoreError:
        return None


def damage(path: Path, manifest: Manifest) -> str | None:
    """What is wrong with a version's files against its manifest (missing, or not the bytes
    it sealed), or None when they are whole."""
    if not set(REQUIRED) <= manifest.files.keys():
        return f"{path}/{MANIFEST} does not list the index files"
    for name, expected in manifest.files.items():
        file = path / name
        try:
            if expected != hashlib.sha256(file.read_bytes()).hexdigest():
                return f"{file} does not match its hash in the manifest (damaged)"
        except OSError:
            return f"{file} is missing or cannot be read"
    return None


def open_version(path: Path, model: ModelInfo, *, version: str) -> StoredVersion:
    """Check one version directory against its manifest and the running model, and read its
    records; any mismatch or damaged file is refused with a message saying to rebuild."""
    manifest = read_manifest(path)
    recorded = manifest.model
    if recorded.weights_sha256 != model.weights_sha256:
        raise IndexStoreError(
            f"{path}: built with model {recorded.name} "
            f"(weights {recorded.weights_sha256[:12]}…), but the running model is "
            f"{model.name} (weights {model.weights_sha256[:12]}…); {REBUILD}"
        )
    if recorded.dimension != model.dimension:
        raise IndexStoreError(
            f"{path}: manifest dimension {recorded.dimension} != model dimension "
            f"{model.dimension}; {REBUILD}"
        )
    if problem := damage(path, manifest):
        raise IndexStoreError(f"{problem}; {REBUILD}")
    try:
        passages = _read_passages(path)
        listed = json.loads((path / ARTICLES).read_text(encoding="utf-8"))
        articles = {a["id"]: _article_from_json(a) for a in listed}
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise IndexStoreError(f"{path}: cannot read the index files ({exc}); {REBUILD}") from None
    missing = {p.article_id for p in passages} - articles.keys()
    if missing:
        raise IndexStoreError(f"{path}: passages of unknown articles {sorted(missing)}; {REBUILD}")
    by_article: dict[str, list[Passage]] = {}
    for passage in passages:
        by_article.setdefault(passage.article_id, []).append(passage)
    articles = {
        aid: dataclasses.replace(a, passages=tuple(by_article.get(aid, ())))
        for aid, a in articles.items()
    }
    return StoredVersion(version, path, manifest, passages, articles)


def _read_passages(path: Path) -> tuple[Passage, ...]:
    lines = (path / PASSAGES).read_text(encoding="utf-8").splitlines()
    return tuple(_passage_from_json(json.loads(line)) for line in lines if line.strip())


def _passage_json(passage: Passage) -> str:
    return json.dumps(dataclasses.asdict(passage), ensure_ascii=False)


def _article_json(article: Article) -> dict[str, Any]:
    data = dataclasses.asdict(article)
    data.pop("passages")
    data.pop("empty_headings")  # a build's warning, not what a version serves
    data["last_updated"] = article.last_updated.isoformat()
    data["passage_count"] = len(article.passages)
    return data


def _passage_from_json(data: dict[str, Any]) -> Passage:
    data = dict(data)
    data["section"] = tuple(data["section"])
    data["citations"] = tuple(data["citations"])
    return Passage(**data)


def _article_from_json(data: dict[str, Any]) -> Article:
    data = dict(data)
    data.pop("passage_count", None)
    data.pop("empty_headings", None)
    data["last_updated"] = date.fromisoformat(data["last_updated"])
    # asdict wrote (number, text) pairs as lists; a version built before references had none.
    data["references"] = tuple((int(n), str(t)) for n, t in data.get("references", ()))
    return Article(**data, passages=())
