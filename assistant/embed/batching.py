"""Questions that arrive while the model is busy are embedded together, in one call.

A server process answers on one event loop. With one ONNX session using all the cores (one
worker, the default), the model runs there, inline: a thread pool in between cost every answer
two hand-offs (8 % of one client's time in issue 24's profile), and while the model holds the
cores the loop has nothing better to do. The questions arriving meanwhile wait in their
sockets; when the call returns, the loop reads them, and the next call takes them all at once.
Where a session has fewer threads than the cores (several workers), calls run on as many
threads as fill the cores, so that a worker holding most of the connections still uses them.

A question that arrives alone never waits: its call starts on the loop's next turn. Only when
the previous call carried several questions, that is under load, may the next one wait a few
turns of the loop, while questions still join it and at most `wait` seconds, to fill up.

Several workers share the machine's cores (`CoreSlots`): a worker's first call always runs
(it takes a slot if one is free), a second one only on a free slot. Balanced, each worker then
runs one call at a time, and the questions arriving meanwhile share the next: packed into one
row (`embed_together`), several questions cost little more than one. A worker holding most of the
connections still takes the core another leaves idle.

Callers outside an event loop (the CLI, the eval command, a build) go straight to the model.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import itertools
import logging
import os
import time
from collections import Counter, deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from assistant.embed.embedding import CachingEmbedder, Embedder, Wrapper
from assistant.errors import ModelError
from assistant.settings import Settings

log = logging.getLogger("mmn_assistant.embedding")


class CoreSlots:
    """The cores as slots for model calls (`count`: as many calls as the sessions' threads fit
    the cores), shared by every worker process of this user's servers: a lock file a slot,
    held (flock) while a call runs. The kernel lets a lock go when its process dies, so a
    killed worker leaks no core. Each process opens the files itself: flock is per open file,
    and a fork shares them."""

    ANY = -1
    """What `take` gives when the files cannot be used: the call runs, as without slots."""

    def __init__(self, count: int, directory: Path | None = None) -> None:
        self.count = max(1, count)
        self.directory = directory or default_slots_dir()
        self._pid = 0
        self._files: list[int] = []
        self._held: set[int] = set()
        self._broken = False

    def _open(self) -> bool:
        """The lock files, opened once a process; False (and a warning, once) if they cannot
        be used, which is not tried again in that process."""
        if self._pid == os.getpid():
            return not self._broken
        for fd in self._files:  # a parent's, inherited through a fork
            os.close(fd)
        self._pid, self._files, self._held, self._broken = os.getpid(), [], set(), False
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            if self.directory.stat().st_uid != os.getuid():
                raise PermissionError(f"{self.directory} belongs to another user")
            flags = os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
            for i in range(self.count):
                self._files.append(os.open(self.directory / f"core-{i}.lock", flags, 0o600))
        except OSError as exc:
            self._fail(exc)
        return not self._broken

    def __del__(self) -> None:
        """The lock files this process opened: a server swapping fine-tuned models makes new
        slots each time, and would otherwise keep the old ones' descriptors."""
        if self._pid == os.getpid():
            for fd in self._files:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _fail(self, exc: OSError) -> None:
        log.warning("model calls are not counted across workers (%s)", exc)
        for fd in self._files:
            os.close(fd)
        self._files, self._held, self._broken = [], set(), True

    def take(self) -> int | None:
        """A free slot, held until `give`; None when every slot runs a call."""
        if not self._open():
            return self.ANY
        for slot, fd in enumerate(self._files):
            if slot in self._held:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # another call runs on it
                continue
            except OSError as exc:  # a file system without flock: count nothing
                self._fail(exc)
                return self.ANY
            self._held.add(slot)
            return slot
        return None

    def give(self, slot: int | None) -> None:
        if slot is not None and slot in self._held and self._pid == os.getpid():
            self._held.discard(slot)
            fcntl.flock(self._files[slot], fcntl.LOCK_UN)

    def give_all(self) -> None:
        """Every slot this process holds (calls a closed event loop will never finish)."""
        for slot in list(self._held):
            self.give(slot)


def default_slots_dir() -> Path:
    """The user's runtime directory where there is one (no cleaner removes files from it by
    age, as tmpfiles may in /tmp while servers hold them), else the temporary directory. Not
    `tempfile.gettempdir()`: with no writable temporary directory it raises, or picks the
    working directory, where servers started from different places would not share slots
    (an unusable directory leaves calls uncounted, with a warning)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return Path(runtime) / "mmn-assistant-cores"
    temporary = os.environ.get("TMPDIR", "")
    temporary = temporary if os.path.isabs(temporary) else "/tmp"
    return Path(temporary) / f"mmn-assistant-cores-{os.getuid()}"


@dataclass(slots=True, eq=False)
class _Request:
    texts: Sequence[str]
    future: asyncio.Future[np.ndarray]


@dataclass(slots=True, eq=False)
class _Call:
    batch: list[_Request]
    texts: list[str]
    slot: int | None


class BatchingEmbedder(Wrapper):
    """An `Embedder` whose `embed_async` merges the calls of one event loop into calls of the
    embedder it wraps.

    `max_texts` bounds a merged call (a longer request goes in a call of its own); `wait` is the
    longest a call may be held to gather others, and is spent only under load. `max_calls`
    calls may run at once: one runs on the loop itself; more run on as many threads, so that a
    worker whose sessions have one thread each still fills the cores when it holds most of the
    connections (issue 16: one call at a time left a core idle). `calls` and `texts` count the
    merged calls and the texts they carried, `sizes` the calls by the number of texts.
    With `slots`, a call beyond the first runs only on a core no other call holds.
    """

    def __init__(
        self,
        inner: Embedder,
        *,
        max_texts: int = 32,
        wait: float = 0.0,
        max_calls: int = 1,
        slots: CoreSlots | None = None,
    ) -> None:
        self.inner = inner
        self.max_texts = max(1, max_texts)
        self.wait = max(0.0, wait)
        self.max_calls = max(1, max_calls)
        self.slots = slots
        self._slot: int | None = None
        """The core the next call holds, taken when it was allowed to start."""
        self._pool: ThreadPoolExecutor | None = None
        self._queue: deque[_Request] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        """The loop whose calls are merged; a caller on another loop (tests run several)
        goes straight to the model."""
        self._looking = False
        """A look at the queue is scheduled on the loop."""
        self._running = 0
        self._gathering_since = 0.0
        self._seen = 0
        self._last_size = 1
        """How many requests the last call carried: more than one means load."""
        self.calls = 0
        self.texts = 0
        self.sizes: Counter[int] = Counter()

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """A call from outside the event loop: straight to the model."""
        return self.inner.embed(texts, progress=progress)

    async def embed_async(self, texts: Sequence[str]) -> np.ndarray:
        """The vectors of `texts`, from a call shared with the questions queued beside them
        (a request of `max_texts` or more goes in a call of its own)."""
        loop = asyncio.get_running_loop()
        if self._loop is None or self._loop.is_closed():
            # a new loop (a restarted app in the same process): what the old one left behind
            # can never be answered there
            self._loop, self._queue, self._running, self._looking = loop, deque(), 0, False
            if self.slots is not None:
                self.slots.give_all()
            self._slot = None
        if not texts or loop is not self._loop:
            return self.inner.embed(texts)
        request = _Request(texts, loop.create_future())
        self._queue.append(request)
        self._look_soon(loop)
        return await request.future

    def _look_soon(self, loop: asyncio.AbstractEventLoop) -> None:
        """Look at the queue on the loop's next turn, if a call may start: this worker's first
        always may; another only on a core no call holds."""
        if not self._looking and self._queue and self._running < self.max_calls:
            if self.slots is not None:
                self._slot = self.slots.take()
                if self._slot is None and self._running:
                    return  # every core runs a call: the next starts when this one's ends
            self._looking = True
            self._gathering_since = time.monotonic()
            self._seen = 0
            loop.call_soon(self._look, loop)

    def _look(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start a call with the queue's head, unless it should gather more first."""
        queued = len(self._queue)
        if (
            self._last_size > 1
            and queued != self._seen  # others joined since the last look: look once more
            and sum(len(r.texts) for r in self._queue) < self.max_texts
            and time.monotonic() - self._gathering_since < self.wait
        ):
            self._seen = queued
            loop.call_soon(self._look, loop)
            return
        self._looking = False
        batch = self._take()
        slot, self._slot = self._slot, None
        if not batch and self.slots is not None:
            self.slots.give(slot)
        if batch:
            self._last_size = len(batch)
            self._running += 1
            texts = [t for r in batch for t in r.texts]
            call = _Call(batch, texts, slot)
            groups = [r.texts for r in batch]
            try:  # on the loop when one call at a time: no hand-off to a thread and back
                if self.max_calls == 1:
                    outcomes = _called(self.inner, groups)
                else:
                    if self._pool is None:
                        self._pool = ThreadPoolExecutor(self.max_calls, thread_name_prefix="model")
                    done = loop.run_in_executor(self._pool, _called, self.inner, groups)
            except BaseException as exc:  # the call did not run to its end (Ctrl-C, no pool)
                self._finish(call, loop, None, exc)
                raise
            if self.max_calls == 1:
                self._finish(call, loop, outcomes, None)
            else:
                done.add_done_callback(partial(self._done, call, loop))
        self._look_soon(loop)

    def _done(
        self, call: _Call, loop: asyncio.AbstractEventLoop, done: asyncio.Future[list[Outcome]]
    ) -> None:
        """A call on a thread has ended (on the loop again): hand out its outcome."""
        if done.cancelled():
            self._finish(call, loop, None, ModelError("the model call was cancelled"))
        elif (error := done.exception()) is not None:
            self._finish(call, loop, None, error)
        else:
            self._finish(call, loop, done.result(), None)

    def _take(self) -> list[_Request]:
        """The queued requests for the next call, up to `max_texts` texts (at least one)."""
        batch: list[_Request] = []
        size = 0
        while self._queue and (not batch or size + len(self._queue[0].texts) <= self.max_texts):
            request = self._queue.popleft()
            if not request.future.cancelled():  # its client has gone
                batch.append(request)
                size += len(request.texts)
        return batch

    def _finish(
        self,
        call: _Call,
        loop: asyncio.AbstractEventLoop,
        outcomes: list[Outcome] | None,
        error: BaseException | None,
    ) -> None:
        """Every caller of a call gets its rows or an error of its own (`error`: the call did
        not run to its end); the next call may start, whatever happens here."""
        texts = call.texts
        try:
            for i, request in enumerate(call.batch):
                if request.future.done():  # its client has gone (cancelled)
                    continue
                if outcomes is None:
                    request.future.set_exception(ModelError(f"the model call failed ({error})"))
                elif isinstance(outcome := outcomes[i], np.ndarray):
                    request.future.set_result(outcome)
                else:
                    request.future.set_exception(
                        ModelError(f"the model failed on this question ({outcome})")
                    )
        finally:
            self.calls += 1
            self.texts += len(texts)
            self.sizes[len(texts)] += 1
            self._running -= 1
            if self.slots is not None:
                self.slots.give(call.slot)
            if not loop.is_closed():
                self._look_soon(loop)


Outcome = np.ndarray | BaseException
"""A question's vectors from a call, or the error the model raised on it."""


def _called(inner: Embedder, groups: list[Sequence[str]]) -> list[Outcome]:
    """Each question's vectors (its `groups` of texts, in order), or the error the model raised
    on it. Several questions' texts go through the model's `embed_together` where it has one
    (packed), then its padded batches; if those fail too, each question is asked alone, so
    that a text the model cannot take fails its own question only. One question's texts take
    the path the CLI and `eval` take."""
    if len(groups) > 1:
        texts = [t for g in groups for t in g]
        together = getattr(inner, "embed_together", None)
        if together is not None:
            try:
                return _rows(together(texts), groups)
            except Exception as exc:  # the packed graph is a speed-up: its padded batches do
                log.warning("questions asked together were not packed (%s)", exc)
        try:
            return _rows(inner.embed(texts), groups)
        except Exception as exc:
            log.warning("questions asked together failed (%s); each is asked alone", exc)
    outcomes: list[Outcome] = []
    for group in groups:
        try:
            outcomes.append(inner.embed(group))
        except Exception as exc:
            outcomes.append(exc)
    return outcomes


def _rows(vectors: np.ndarray, groups: list[Sequence[str]]) -> list[Outcome]:
    """Each question's rows of a merged call's vectors: copies, since the question cache keeps
    rows and a view would keep the whole batch."""
    ends = itertools.accumulate(len(g) for g in groups)
    return [vectors[a:b].copy() for a, b in itertools.pairwise([0, *ends])]


def serving(inner: Embedder, settings: Settings) -> CachingEmbedder:
    """How questions reach the model when answering: a cache of recent vectors in front of
    the batcher, sized by the settings (`MMN_QUERY_CACHE`, `MMN_BATCH_TEXTS`,
    `MMN_BATCH_WAIT_MS`)."""
    calls = settings.concurrent_model_calls
    return CachingEmbedder(
        BatchingEmbedder(
            inner,
            max_texts=settings.batch_texts,
            wait=settings.batch_wait_ms / 1000,
            max_calls=calls,
            slots=CoreSlots(calls) if calls > 1 else None,
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
