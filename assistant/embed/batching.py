"""Questions that arrive while the model is busy are embedded together, in one call.

On two cores a gold question costs onnxruntime 11.4 ms of CPU alone and 8.1 ms in a call of
eight grouped by length (bench/README.md, issue 16). The server answers each request on a
thread of its pool, so concurrent questions can meet here.

The first caller finding the model idle embeds at once, so a lone clinician never waits for
company. Callers arriving meanwhile queue; when the model is free, one of them takes everything
queued (up to `max_texts`) into the next call. Only when the previous call already carried
several callers, that is under load, may the next one wait up to `wait` seconds to fill up.
A worker whose session has fewer threads than the machine has cores runs as many calls at once
as fill the cores: with one call at a time, a worker that got most of the connections left a
core idle (72.7 answers/s against 126 in one run of bench/load.py with two workers).
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from assistant.embed.embedding import CachingEmbedder, Embedder, Wrapper
from assistant.errors import ModelError
from assistant.settings import Settings


@dataclass(slots=True, eq=False)
class _Request:
    texts: Sequence[str]
    vectors: np.ndarray | None = None
    error: BaseException | None = None
    taken: bool = False
    """In a call already: its caller waits for that call, and never leads one."""
    done: bool = False


class BatchingEmbedder(Wrapper):
    """An `Embedder` that merges concurrent calls into one call of the one it wraps.

    `max_texts` bounds a merged call (a longer call goes straight through, as a build's does);
    `wait` is the longest a call may be held to gather others, and is spent only under load;
    `max_calls` calls may run at once (as many as the session's threads leave cores for).
    `calls` and `texts` count the inner calls and the texts they carried, `sizes` the calls by
    the number of texts they carried.
    """

    def __init__(
        self, inner: Embedder, *, max_texts: int = 32, wait: float = 0.0, max_calls: int = 1
    ) -> None:
        self.inner = inner
        self.max_texts = max(1, max_texts)
        self.wait = max(0.0, wait)
        self.max_calls = max(1, max_calls)
        self._queue: deque[_Request] = deque()
        self._ready = threading.Condition()
        self._running = 0
        self._gathering = False
        """A call is waiting for company: newcomers join it rather than start their own."""
        self._last_size = 1
        """How many requests the last call carried: more than one means load."""
        self.calls = 0
        self.texts = 0
        self.sizes: Counter[int] = Counter()

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        if progress or not texts or len(texts) >= self.max_texts:
            return self.inner.embed(texts, progress=progress)
        request = _Request(texts)
        with self._ready:
            self._queue.append(request)
            self._ready.notify_all()  # a call gathering company counts the newcomer
            while not request.done and (
                request.taken or self._running >= self.max_calls or self._gathering
            ):
                self._ready.wait()
            if not request.done:
                self._running += 1
                try:
                    batch = self._take(request)
                except BaseException:
                    self._running -= 1
                    self._ready.notify_all()
                    raise
        if not request.done:
            self._run(batch)
        if request.error is not None:
            # each caller gets its own error, so that tracebacks do not mix threads' frames
            raise ModelError(f"the model failed on a batch of questions ({request.error})")
        assert request.vectors is not None
        return request.vectors

    def _take(self, leader: _Request) -> list[_Request]:
        """The queued requests for the next call (the caller holds the lock; `leader` first).

        Under load (the last call carried more than one request) the call waits up to `wait`
        for more, so that it fills up instead of leaving with one question."""
        self._queue.remove(leader)
        leader.taken = True
        if self._last_size > 1 and self.wait:
            self._gathering = True
            deadline = time.monotonic() + self.wait
            while len(leader.texts) + self._queued_texts() < self.max_texts:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._ready.wait(left)
            self._gathering = False
        batch, size = [leader], len(leader.texts)
        while self._queue and size + len(self._queue[0].texts) <= self.max_texts:
            request = self._queue.popleft()
            request.taken = True
            batch.append(request)
            size += len(request.texts)
        self._last_size = len(batch)
        self._ready.notify_all()  # those left over may start the next call, if one is free
        return batch

    def _queued_texts(self) -> int:
        return sum(len(r.texts) for r in self._queue)

    def _run(self, batch: list[_Request]) -> None:
        """One inner call for the whole batch; every caller gets its rows or the error."""
        texts = [t for r in batch for t in r.texts]
        try:
            vectors = self.inner.embed(texts)
            start = 0
            for request in batch:
                # a copy: the question cache keeps rows, and a view would keep the whole batch
                request.vectors = vectors[start : start + len(request.texts)].copy()
                start += len(request.texts)
        except BaseException as exc:  # each caller raises on its own thread
            for request in batch:
                request.error = exc
        with self._ready:
            self.calls += 1
            self.texts += len(texts)
            self.sizes[len(texts)] += 1
            for request in batch:
                request.done = True
            self._running -= 1
            self._ready.notify_all()


def serving(inner: Embedder, settings: Settings) -> CachingEmbedder:
    """How questions reach the model when answering: a cache of recent vectors in front of
    the batcher, sized by the settings (`MMN_QUERY_CACHE`, `MMN_BATCH_TEXTS`,
    `MMN_BATCH_WAIT_MS`)."""
    return CachingEmbedder(
        BatchingEmbedder(
            inner,
            max_texts=settings.batch_texts,
            wait=settings.batch_wait_ms / 1000,
            max_calls=settings.concurrent_model_calls,
        ),
        settings.query_cache,
    )


def batch_report(model: Embedder) -> str | None:
    """What the batcher behind `model` did, for the log when a server stops: the calls, the
    questions they carried and the calls by size (None: no batcher)."""
    while not isinstance(model, BatchingEmbedder):
        model = getattr(model, "inner", None)  # type: ignore[assignment]
        if model is None:
            return None
    sizes = ", ".join(f"{size}: {n}" for size, n in sorted(model.sizes.items()))
    return f"model calls {model.calls} carrying {model.texts} texts; calls by size {{{sizes}}}"
