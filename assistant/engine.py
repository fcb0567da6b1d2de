"""The one core call behind every surface: question in, `Answer` out.

The CLI, the JSON API and the web page are thin shells over `Engine.ask`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from assistant.answer import Answer, assemble, longest_list, shown_hits
from assistant.embed.batching import serving
from assistant.embed.embedding import CachingEmbedder, Embedder, embed_async, fine_tuned_embedder
from assistant.errors import AssistantError, IndexStoreError
from assistant.ingest import unmentioned
from assistant.ingest.matching import zipf
from assistant.limits import DEFAULT_K, Query, check_k
from assistant.search.loaded import LoadedIndex, load_index
from assistant.search.retrieval import (
    DEFAULT_OPTIONS,
    Reading,
    Retrieval,
    RetrievalOptions,
    Retriever,
    relevant_flags,
)
from assistant.search.vectorindex import use_search_threads
from assistant.settings import Settings, defaults
from assistant.store.directory import MODEL_DIR, VERSIONS, published_version
from assistant.store.manifest import read_manifest

WARM_QUESTION = "What is the usual treatment and how well does it work?"
"""Asked by `Engine.warm` when a server loads a version; nothing in it names a specialty."""

_FINE_TUNED: dict[Path, CachingEmbedder] = {}
"""Fine-tuned models already loaded, by directory: a server re-opening a version (or the next
one with the same model) does not load it again."""


def _fine_tuned(model_dir: Path, index_dir: Path, settings: Settings) -> CachingEmbedder:
    if model_dir not in _FINE_TUNED:
        embedder = serving(fine_tuned_embedder(model_dir, settings, index_dir / "models"), settings)
        embedder.load()
        _FINE_TUNED.clear()  # one fine-tuned model in memory at a time
        _FINE_TUNED[model_dir] = embedder
    return _FINE_TUNED[model_dir]


def fine_tuned_model(index_dir: Path) -> Path | None:
    """The fine-tuned model the published version carries (built with `--fine-tune`), if any."""
    version = published_version(index_dir)
    if version is None:
        return None
    path = index_dir / VERSIONS / version
    if (path / MODEL_DIR).is_dir() and read_manifest(path).fine_tuned:
        return path / MODEL_DIR
    return None


class Engine:
    """A loaded index plus the model that searches it. `settings` size the question cache and
    the batcher (default: the documented defaults; the CLI and the server pass theirs)."""

    def __init__(
        self, index: LoadedIndex, embedder: Embedder, *, settings: Settings | None = None
    ) -> None:
        self.index = index
        # Questions go through a cache of recent vectors and the batcher; pass a CachingEmbedder
        # to share them across engines (the server does, so a swapped-in index keeps them).
        if not isinstance(embedder, CachingEmbedder):
            embedder = serving(embedder, settings or defaults())
        self.embedder = embedder
        use_search_threads()
        self._retriever = Retriever(index, embedder)
        self.ranker = self._retriever.ranker
        self._spare = longest_list(index.passages)

    def base_model(self) -> Embedder | None:
        """The model a build embeds with, where this engine's is that one (not fine-tuned):
        what the desk traces rewordings with, as the next build will, without a second copy.
        The model itself, past the question cache and the batcher."""
        if self.index.manifest.fine_tuned is not None:
            return None
        model = self.embedder
        while (inner := getattr(model, "inner", None)) is not None:
            model = inner
        return model

    def _depth(self, k: int) -> int:
        """How many hits to rank for k passages: more, for the places of those a lead-in above
        already lists, within the ranker's candidates (more would rescale the fused scores)."""
        return max(k, min(k + self._spare, self.ranker.candidates))

    @classmethod
    def open(
        cls,
        index_dir: Path,
        embedder: Embedder,
        *,
        loaded: LoadedIndex | None = None,
        settings: Settings | None = None,
    ) -> Engine:
        """Load the published index version, checked against the running model; a version
        built with `--fine-tune` is served with the fine-tuned model it carries. `loaded`: the
        version as another process already loaded and checked it (the master of forked
        workers), used when it is still the published one."""
        settings = settings or defaults()
        model_dir = fine_tuned_model(index_dir)
        if model_dir is not None:
            embedder = _fine_tuned(model_dir, index_dir, settings)
        if loaded is not None and loaded.version == published_version(index_dir):
            if loaded.manifest.model.weights_sha256 == embedder.info.weights_sha256:
                return cls(loaded, embedder, settings=settings)
        return cls(load_index(index_dir, embedder.info), embedder, settings=settings)

    @classmethod
    def from_loaded(
        cls, index_dir: Path, loaded: LoadedIndex, embedder: Embedder, *, settings: Settings
    ) -> Engine:
        """A version another process loaded and checked (the master of forked workers), served
        with the model it was checked against: its own, if it was built with `--fine-tune`.
        Raises `IndexStoreError` if the model at hand has other weights (the version's files
        pruned since, say): answers from the wrong model would look right and be wrong."""
        if loaded.manifest.fine_tuned:
            embedder = _fine_tuned(loaded.path / MODEL_DIR, index_dir, settings)
        if loaded.manifest.model.weights_sha256 != embedder.info.weights_sha256:
            raise IndexStoreError(
                f"{loaded.path}: built with other weights than the model at hand "
                f"({embedder.info.name}); rebuild it, or publish another version"
            )
        return cls(loaded, embedder, settings=settings)

    def warm(self) -> float:
        """Answer a question nobody asked, before anyone does, and return the seconds it took:
        what runs once a process (the model's first call, the word frequencies a spelling check
        reads, numpy's and FAISS's first calls) is then not paid by the first clinician
        (`bench/startup.py`: the first answer after a start 268 ms before, 6.6 after)."""
        started = time.perf_counter()
        try:
            zipf("warm")  # wordfreq loads its tables on the first word it is asked about
            unmentioned.warm()  # and the English words an unmentioned word is checked against
            self.answer(Query(WARM_QUESTION, ()))
        except AssistantError:
            raise
        except Exception as exc:  # a version that cannot answer is not served: say why
            raise IndexStoreError(
                f"index version {self.index.version} could not answer a first question "
                f"({exc!r}); rebuild it"
            ) from exc
        return time.perf_counter() - started

    def ask(
        self,
        question: str,
        history: Sequence[str] = (),
        k: int = DEFAULT_K,
        *,
        article: str | None = None,
        options: RetrievalOptions = DEFAULT_OPTIONS,
    ) -> Answer:
        """Answer a question with ranked, cited passages and the disclaimer.

        Raises `QueryError` for input outside the documented limits, before any model work.
        """
        return self.answer(
            Query.read(question, history), check_k(k), article=article, options=options
        )

    def answer(
        self,
        query: Query,
        k: int = DEFAULT_K,
        *,
        article: str | None = None,
        options: RetrievalOptions = DEFAULT_OPTIONS,
    ) -> Answer:
        """`ask` for a question already read (the API's validators have checked it)."""
        reading = self._retriever.read(
            query.question, query.history, k=self._depth(k), options=options, article=article
        )
        vectors = self.embedder.embed(reading.embed) if reading.embed else None
        return self._answered(query, reading, vectors, k)

    async def ask_async(
        self,
        question: str,
        history: Sequence[str] = (),
        k: int = DEFAULT_K,
        *,
        article: str | None = None,
    ) -> Answer:
        """`ask` on the server's event loop (see `answer_async`)."""
        return await self.answer_async(Query.read(question, history), check_k(k), article=article)

    async def answer_async(
        self, query: Query, k: int = DEFAULT_K, *, article: str | None = None
    ) -> Answer:
        """`answer` on the server's event loop: the same stages, the model call shared with the
        questions arriving meanwhile (`assistant.embed.batching`)."""
        depth = self._depth(k)
        reading = self._retriever.read(query.question, query.history, k=depth, article=article)
        vectors = await embed_async(self.embedder, reading.embed) if reading.embed else None
        return self._answered(query, reading, vectors, k)

    def _answered(
        self, query: Query, reading: Reading, vectors: np.ndarray | None, k: int
    ) -> Answer:
        """The answer from the ranking of `reading`, ranked again as deep as fusion goes when
        the lead-ins shown listed more of its hits than the longest list has items."""
        retrieval = self._retriever.rank(reading, vectors)
        answer = self.answer_from(query.question, query.history, retrieval, k)
        deepest = reading.ranker.candidates
        if len(answer.passages) < k and len(retrieval.hits) == reading.k < deepest:
            retrieval = self._retriever.rank(replace(reading, k=deepest), vectors)
            answer = self.answer_from(query.question, query.history, retrieval, k)
        return answer

    def answer_from(
        self, question: str, history: Sequence[str], retrieval: Retrieval, k: int
    ) -> Answer:
        """Assemble the top k passages (`shown_hits`) with the ranker's decision on whether any
        answers; each labelled relevant by the passages shown above it, not by hits skipped."""
        hits = shown_hits(retrieval.hits, self.index.passages, k)
        shown = replace(retrieval, hits=hits)
        return assemble(
            question,
            tuple(history),
            hits,
            self.index,
            answerable=not retrieval.declined,
            relevant=list(relevant_flags(shown, self.ranker.relevant_margin)),
            unmentioned=retrieval.unmentioned,
        )

    def retrieve(
        self,
        question: str,
        history: Sequence[str],
        k: int,
        *,
        options: RetrievalOptions = DEFAULT_OPTIONS,
        article: str | None = None,
        timings: dict[str, float] | None = None,
    ) -> Retrieval:
        """The ranked hits and signals behind an answer (used by the eval command and the
        benchmarks; `timings` receives each stage's seconds)."""
        return self._retriever.search(
            question, history, k=k, options=options, article=article, timings=timings
        )
