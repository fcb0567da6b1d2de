"""Vectors already computed, kept by model and text, so that a rebuild embeds only what changed.

One file per model (`index/cache/<weights sha256>.npz`): the SHA-256 of each embedded text and
its vector. A passage whose embedded text and model are unchanged gets its stored vector back;
a changed text, a new passage or another model is embedded afresh. The cache only saves time:
a missing or damaged cache file is ignored (and rewritten by the next build), never trusted.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.embed.embedding import Embedder
from assistant.errors import IndexStoreError

CACHE_DIR = "cache"
log = logging.getLogger("mmn_assistant.cache")


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Embedded:
    """The vectors of a build, in passage order, and how many came from the cache."""

    vectors: np.ndarray
    keys: tuple[str, ...]
    reused: int
    embedded: int
    stored: np.ndarray | None = None
    """The vectors kept under `keys`, when they are not `vectors`: a long passage's windows
    (`assistant.embed.windows`)."""

    @property
    def cache_vectors(self) -> np.ndarray:
        """What the vector cache keeps under `keys`."""
        return self.vectors if self.stored is None else self.stored


class VectorCache:
    """The stored vectors of one model under an index directory."""

    def __init__(self, index_dir: Path, model_sha256: str, dimension: int) -> None:
        self.path = index_dir / CACHE_DIR / f"{model_sha256}.npz"
        self._dimension = dimension

    def load(self) -> dict[str, np.ndarray]:
        try:
            with np.load(self.path, allow_pickle=False) as data:
                keys, vectors = data["keys"], data["vectors"]
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError) as exc:
            log.warning("ignoring the damaged vector cache %s (%s)", self.path, exc)
            return {}
        if vectors.ndim != 2 or vectors.shape != (len(keys), self._dimension):
            log.warning("ignoring the vector cache %s: shape %s", self.path, vectors.shape)
            return {}
        return {str(k): v for k, v in zip(keys, vectors, strict=True)}

    def save(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        """Replace the cache with these vectors, atomically (a crash leaves the old file)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.stem}.{secrets.token_hex(4)}.tmp.npz")
        unique = dict(zip(keys, range(len(keys)), strict=True))
        try:
            with temporary.open("wb") as handle:
                kept = vectors[list(unique.values())]
                np.savez(handle, keys=np.array(list(unique)), vectors=kept)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:  # a full disk must not keep the part written (a killed build's
            temporary.unlink(missing_ok=True)  # is cleared by the next, `store.build_lock`)
            raise


def embed_with_cache(
    embedder: Embedder,
    texts: Sequence[str],
    cached: dict[str, np.ndarray],
    *,
    progress: bool = False,
) -> Embedded:
    """Embed the texts the cache does not hold; take the others' vectors from it."""
    keys = tuple(text_key(t) for t in texts)
    missing = [i for i, key in enumerate(keys) if key not in cached]
    fresh = embedder.embed([texts[i] for i in missing], progress=progress) if missing else None
    if fresh is not None and fresh.shape != (len(missing), embedder.info.dimension):
        raise IndexStoreError(
            f"the model returned vectors of shape {fresh.shape}, "
            f"expected ({len(missing)}, {embedder.info.dimension})"
        )
    vectors = np.zeros((len(texts), embedder.info.dimension), dtype=np.float32)
    for i, key in enumerate(keys):
        if key in cached:
            vectors[i] = cached[key]
    if fresh is not None:
        vectors[missing] = fresh
    return Embedded(vectors, keys, reused=len(texts) - len(missing), embedded=len(missing))
