"""A version's manifest: what was built, from what, with which model, and each file's hash.

Written once by the build as `manifest.json` and sealed (a hash of its own content), read back
into a `Manifest` that every reader (status, health, answers, the engine) uses by attribute.
A manifest that is damaged, edited, of another format or missing a field is refused with a
message saying to rebuild, so no reader ever meets a half-valid one.

The `training` and `fine_tuned` entries stay mappings: their shape belongs to the trainer and
the fine-tuner that wrote them (`assistant.train`), and the store only carries them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.errors import IndexStoreError
from assistant.records import ModelInfo

FORMAT_VERSION = 1
REBUILD = "rebuild the index with `mmn-assistant build`"
LEGACY_INDEX_TYPES = {"IndexFlatIP": "flat"}
"""Index types as manifests named them before the choice by size existed."""


@dataclass(frozen=True, slots=True)
class BuildReport:
    """What a build changed against the version published before it, and what it reused."""

    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    embedded: int = 0
    reused: int = 0
    full: bool = False


@dataclass(frozen=True, slots=True)
class ArticleEntry:
    """An article as the manifest lists it."""

    id: str
    title: str
    last_updated: str  # ISO date
    review_status: str
    source: str
    sha256: str
    passage_count: int


@dataclass(frozen=True, slots=True)
class VectorIndexEntry:
    """Which FAISS index was built and why (see `assistant.search.vectorindex`)."""

    kind: str
    reason: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Manifest:
    version: str
    built_at: str  # ISO 8601, UTC
    build_seconds: float
    package_version: str
    model: ModelInfo
    index_type: str
    vector_index: VectorIndexEntry
    index_text_version: int
    passage_count: int
    corpus_sha256: str
    articles: tuple[ArticleEntry, ...]
    files: dict[str, str]
    """SHA-256 of every file of the version but the manifest, by relative path."""
    build: BuildReport
    training: dict[str, Any]
    fine_tuned: dict[str, Any] | None = None
    changes: dict[str, Any] | None = None
    """The change report against the version published before (`assistant.updates`)."""
    metric: str = "inner_product"
    format: int = FORMAT_VERSION

    @property
    def trained(self) -> bool:
        return bool(self.training.get("trained"))

    def to_json(self) -> dict[str, Any]:
        """The manifest as written, sealed."""
        data = dataclasses.asdict(self)
        data["articles"] = list(data["articles"])
        data["seal"] = seal(data)
        return data

    def summary(self) -> dict[str, Any]:
        """The part that answers and /api/health show."""
        return {
            "version": self.version,
            "built_at": self.built_at,
            "model": self.model.name,
            "model_sha256": self.model.weights_sha256,
            "passage_count": self.passage_count,
            "corpus_sha256": self.corpus_sha256,
            "articles": [
                {"id": a.id, "title": a.title, "last_updated": a.last_updated}
                for a in self.articles
            ],
        }

    @classmethod
    def from_json(cls, data: Any, path: Path) -> Manifest:
        """Check the format and the seal, then read every field; any gap says to rebuild."""
        where = f"{path}/manifest.json"
        if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
            raise IndexStoreError(
                f"{where} is not an index manifest of format {FORMAT_VERSION}; {REBUILD}"
            )
        if data.get("seal") != seal(data):
            raise IndexStoreError(
                f"{where} was changed after the build (its seal does not match its content); "
                f"{REBUILD}"
            )
        try:
            kind = str(data["index_type"])
            vector_index = data.get("vector_index") or {"kind": kind, "reason": "recorded"}
            return cls(
                version=str(data["version"]),
                built_at=str(data["built_at"]),
                build_seconds=float(data["build_seconds"]),
                package_version=str(data["package_version"]),
                model=ModelInfo(**data["model"]),
                index_type=LEGACY_INDEX_TYPES.get(kind, kind),
                vector_index=VectorIndexEntry(**vector_index),
                index_text_version=int(data["index_text_version"]),
                passage_count=int(data["passage_count"]),
                corpus_sha256=str(data["corpus_sha256"]),
                articles=tuple(ArticleEntry(**a) for a in data["articles"]),
                files={str(k): str(v) for k, v in dict(data["files"]).items()},
                build=BuildReport(**(data.get("build") or {})),
                training=dict(data.get("training") or {}),
                fine_tuned=data.get("fine_tuned"),
                changes=data.get("changes"),
                metric=str(data.get("metric", "inner_product")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexStoreError(
                f"{where} lacks or garbles a field ({exc!r}); {REBUILD}"
            ) from None


def seal(manifest: dict[str, Any]) -> str:
    """A hash of the manifest's content (all but the seal itself)."""
    content = {k: v for k, v in manifest.items() if k != "seal"}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def read_manifest(path: Path) -> Manifest:
    """The manifest of the version directory `path`, checked."""
    try:
        data = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexStoreError(f"{path}: manifest.json is missing; rebuild the index") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IndexStoreError(
            f"{path}/manifest.json is damaged ({exc}); rebuild the index"
        ) from None
    return Manifest.from_json(data, path)
