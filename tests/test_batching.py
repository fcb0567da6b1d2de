"""Concurrent questions share one model call, and each gets its own vectors back."""

import asyncio
import multiprocessing
import os
import threading
import time

import numpy as np
import pytest

from assistant.embed.batching import BatchingEmbedder, CoreSlots, batch_report, serving
from assistant.embed.embedding import CachingEmbedder, embed_async
from assistant.embed.onnxmodel import similar_lengths
from assistant.errors import ModelError
from tests.conftest import run_loop

QUESTIONS = [
    "What IVIg dose is used?",
    "Which nerves are affected first?",
    "Is there sensory loss?",
    "What do nerve conduction studies show in multifocal motor neuropathy with block?",
    "Are GM1 antibodies found?",
    "How is it told apart from ALS?",
]


class Recorder:
    """The real model, recording each call; `fail` makes calls raise. Each call past the first
    `free` ones waits for its gate (set by the test), so that the test can line questions up
    while the model is busy."""

    def __init__(self, inner, *, fail: bool = False, free: int = 100) -> None:
        self.inner = inner
        self.info = inner.info
        self.fail = fail
        self.free = free
        self.calls: list[list[str]] = []
        self.gates = [threading.Event() for _ in range(8)]
        self.entered = threading.Semaphore(0)

    def embed(self, texts, *, progress=False):
        number = len(self.calls)
        self.calls.append(list(texts))
        self.entered.release()
        if number >= self.free:
            assert self.gates[number - self.free].wait(10)
        if self.fail:
            raise ModelError("the model failed")
        return self.inner.embed(texts)


class Packing(Recorder):
    """A `Recorder` whose model embeds several texts at once through `embed_together`."""

    def __init__(self, inner, **kwargs) -> None:
        super().__init__(inner, **kwargs)
        self.together: list[list[str]] = []

    def embed_together(self, texts):
        self.together.append(list(texts))
        return self.inner.embed_together(texts)


def alone(embedder, texts):
    return embedder.embed(texts)


@pytest.mark.model
def test_questions_arriving_together_share_one_call_and_get_their_own_rows(embedder):
    model = Recorder(embedder)
    batcher = BatchingEmbedder(model, max_texts=32)
    groups = [[QUESTIONS[0]], [QUESTIONS[1], QUESTIONS[2]], [QUESTIONS[3]]]

    async def ask():
        return await asyncio.gather(*(batcher.embed_async(g) for g in groups))

    results = run_loop(ask())
    assert model.calls == [QUESTIONS[:4]]  # one call, in the order they came
    assert (batcher.calls, batcher.texts) == (1, 4)
    for texts, vectors in zip(groups, results, strict=True):
        np.testing.assert_allclose(vectors, alone(embedder, texts), atol=1e-5)
    # what a server logs when it stops: the calls by how many texts they carried
    assert batch_report(CachingEmbedder(batcher, 16)) == (
        "model calls 1 carrying 4 texts; calls by size {4: 1}"
    )


@pytest.mark.model
def test_a_batch_never_exceeds_its_bound_and_the_rest_takes_the_next_call(embedder):
    model = Recorder(embedder)
    batcher = BatchingEmbedder(model, max_texts=3)
    groups = [[QUESTIONS[0]], [QUESTIONS[1], QUESTIONS[2]], [QUESTIONS[3]], [QUESTIONS[4]]]

    async def ask():
        return await asyncio.gather(*(batcher.embed_async(g) for g in groups))

    results = run_loop(ask())
    assert [len(call) for call in model.calls] == [3, 2]
    assert all(r.shape == (len(g), 384) for r, g in zip(results, groups, strict=True))


@pytest.mark.model
def test_a_worker_with_cores_to_spare_runs_a_second_call_while_the_first_holds_the_model(
    embedder,
):
    """Sessions of one thread on two cores: the first call runs on a thread of its own, so the
    loop takes the next question into a second call at once; a third waits for a free call
    and then goes with whatever else queued."""
    model = Recorder(embedder, free=0)
    batcher = BatchingEmbedder(model, max_calls=2)

    async def ask():
        first = asyncio.ensure_future(batcher.embed_async([QUESTIONS[0]]))
        await asyncio.to_thread(model.entered.acquire)
        second = asyncio.ensure_future(batcher.embed_async([QUESTIONS[1]]))
        await asyncio.to_thread(model.entered.acquire)
        assert model.calls == [[QUESTIONS[0]], [QUESTIONS[1]]]  # both in the model at once
        third = asyncio.ensure_future(batcher.embed_async([QUESTIONS[2]]))
        fourth = asyncio.ensure_future(batcher.embed_async([QUESTIONS[3]]))
        await asyncio.sleep(0.1)
        assert len(model.calls) == 2 and len(batcher._queue) == 2  # no call is free
        model.gates[1].set()  # the second call ends; the two queued go together
        await asyncio.to_thread(model.entered.acquire)
        assert model.calls[2] == [QUESTIONS[2], QUESTIONS[3]]
        model.gates[0].set()
        model.gates[2].set()
        return await asyncio.gather(first, second, third, fourth)

    results = run_loop(ask())
    for question, vectors in zip(QUESTIONS, results, strict=False):
        np.testing.assert_allclose(vectors, alone(embedder, [question]), atol=1e-5)
    assert batcher._running == 0


@pytest.mark.model
def test_questions_sharing_a_call_are_packed_and_get_the_vectors_they_get_alone(embedder):
    model = Packing(embedder)
    batcher = BatchingEmbedder(model, max_texts=32)

    async def ask():
        return await asyncio.gather(*(batcher.embed_async([q]) for q in QUESTIONS))

    results = run_loop(ask())
    assert model.together == [QUESTIONS] and model.calls == []  # one packed call, no other
    for question, vectors in zip(QUESTIONS, results, strict=True):
        np.testing.assert_allclose(vectors, alone(embedder, [question]), atol=1e-6)
    # one question's texts (a follow-up and its context) take the path `eval` takes
    follow_up = QUESTIONS[:2]
    vectors = run_loop(batcher.embed_async(follow_up))
    assert model.calls == [follow_up] and len(model.together) == 1
    np.testing.assert_array_equal(vectors, embedder.embed(follow_up))


class BrokenPacking(Packing):
    def embed_together(self, texts):
        super().embed_together(texts)
        raise ModelError("the packed graph failed")


@pytest.mark.model
def test_questions_whose_packed_call_fails_are_answered_from_padded_batches(embedder):
    model = BrokenPacking(embedder)
    batcher = BatchingEmbedder(model, max_texts=32)

    async def ask():
        return await asyncio.gather(*(batcher.embed_async([q]) for q in QUESTIONS[:3]))

    results = run_loop(ask())
    assert model.together == [QUESTIONS[:3]] and model.calls == [QUESTIONS[:3]]
    for question, vectors in zip(QUESTIONS, results, strict=False):
        np.testing.assert_allclose(vectors, alone(embedder, [question]), atol=1e-5)


@pytest.mark.model
def test_workers_share_the_cores_and_a_second_call_runs_only_on_a_free_one(embedder, tmp_path):
    """Two workers with one-thread sessions on two cores (two batchers, each with its own lock
    files, as forked processes have): while both run a call, a worker's next questions wait
    for its own call and then go together; while the other worker is idle, a worker takes the
    second core at once."""
    model_a, model_b = Recorder(embedder, free=0), Recorder(embedder, free=0)
    a = BatchingEmbedder(model_a, max_calls=2, slots=CoreSlots(2, tmp_path))
    b = BatchingEmbedder(model_b, max_calls=2, slots=CoreSlots(2, tmp_path))

    async def ask():
        a1 = asyncio.ensure_future(a.embed_async([QUESTIONS[0]]))
        assert await asyncio.to_thread(model_a.entered.acquire, timeout=10)
        b1 = asyncio.ensure_future(b.embed_async([QUESTIONS[1]]))
        assert await asyncio.to_thread(model_b.entered.acquire, timeout=10)
        a2 = asyncio.ensure_future(a.embed_async([QUESTIONS[2]]))
        a3 = asyncio.ensure_future(a.embed_async([QUESTIONS[3]]))
        await asyncio.sleep(0.2)
        assert len(model_a.calls) == 1 and len(a._queue) == 2  # both cores are running calls
        model_a.gates[0].set()  # a's call ends: its two queued questions go together
        assert await asyncio.to_thread(model_a.entered.acquire, timeout=10)
        assert model_a.calls[1] == [QUESTIONS[2], QUESTIONS[3]]
        model_b.gates[0].set()
        await b1  # b is idle now: a's next question runs beside a's call, on the free core
        a4 = asyncio.ensure_future(a.embed_async([QUESTIONS[4]]))
        assert await asyncio.to_thread(model_a.entered.acquire, timeout=10)
        assert model_a.calls[2] == [QUESTIONS[4]]
        for gate in model_a.gates[1:3]:
            gate.set()
        return await asyncio.gather(a1, a2, a3, a4)

    results = run_loop(ask())
    for question, vectors in zip([QUESTIONS[0], *QUESTIONS[2:5]], results, strict=True):
        np.testing.assert_allclose(vectors, alone(embedder, [question]), atol=1e-5)
    fresh = CoreSlots(2, tmp_path)  # every core was given back
    assert {fresh.take(), fresh.take()} == {0, 1}


def hold_every_core(directory, held, stop) -> None:
    slots = CoreSlots(2, directory)
    held.put([slots.take(), slots.take()])
    stop.wait(30)


def test_a_core_held_by_a_worker_that_was_killed_is_free_again(tmp_path):
    """The cores are lock files the kernel lets go with their process: a worker killed in the
    middle of a model call (the OOM killer) does not take a core away from the rest."""
    context = multiprocessing.get_context("spawn")
    held, stop = context.Queue(), context.Event()
    worker = context.Process(target=hold_every_core, args=(tmp_path, held, stop))
    worker.start()
    try:
        assert sorted(held.get(timeout=30)) == [0, 1]
        slots = CoreSlots(2, tmp_path)
        assert slots.take() is None  # every core runs the other worker's call
    finally:
        worker.kill()
        worker.join(10)
    assert {slots.take(), slots.take()} == {0, 1}
    assert slots.take() is None
    slots.give(0)
    assert slots.take() == 0


@pytest.mark.model
def test_cores_that_cannot_be_counted_leave_calls_as_they_were(tmp_path, embedder):
    """Lock files the server cannot write (a read-only temporary directory): no call waits
    for a core, as before cores were shared."""
    blocked = tmp_path / "file"
    blocked.write_text("")
    slots = CoreSlots(2, blocked / "cores")  # under a file: cannot be made
    assert slots.take() == CoreSlots.ANY
    slots.give(CoreSlots.ANY)
    model = Recorder(embedder, free=0)
    batcher = BatchingEmbedder(model, max_calls=2, slots=slots)

    async def ask():
        first = asyncio.ensure_future(batcher.embed_async(["a"]))
        assert await asyncio.to_thread(model.entered.acquire, timeout=10)
        second = asyncio.ensure_future(batcher.embed_async(["b"]))
        assert await asyncio.to_thread(model.entered.acquire, timeout=10)  # beside the first
        model.gates[0].set()
        model.gates[1].set()
        return await asyncio.gather(first, second)

    assert [v.shape for v in run_loop(ask())] == [(1, 384), (1, 384)]
    assert model.calls == [["a"], ["b"]]  # two calls at once, as without shared cores


def test_slots_no_longer_used_leave_no_open_files(tmp_path):
    """Each fine-tuned model swapped in brings slots of its own: those it replaces must close
    their lock files, or a long-running server leaks descriptors with every swap."""
    import gc

    def open_files() -> int:
        return len(os.listdir("/proc/self/fd"))

    before = open_files()
    for _ in range(3):
        slots = CoreSlots(4, tmp_path / "cores")
        slots.give(slots.take())
        assert open_files() == before + 4
        del slots
        gc.collect()
    assert open_files() == before


def test_a_server_with_no_usable_temporary_directory_starts_and_counts_no_cores(
    tmp_path, monkeypatch
):
    """No runtime directory and a temporary directory that cannot be written (a read-only
    container): the slots are not used, with a warning; nothing fails, and the lock files
    never land in the working directory."""
    blocked = tmp_path / "file"
    blocked.write_text("")
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("TMPDIR", str(blocked))
    slots = CoreSlots(2)
    assert slots.directory.parent == blocked
    assert slots.take() == CoreSlots.ANY


@pytest.mark.model
def test_a_lone_question_does_not_wait_for_company_even_after_a_busy_spell(embedder):
    batcher = BatchingEmbedder(embedder, max_texts=32, wait=5.0)

    async def ask():
        await asyncio.gather(*(batcher.embed_async([q]) for q in QUESTIONS[:3]))
        started = time.monotonic()
        for question in QUESTIONS[3:]:  # under load by the last call, but nobody joins
            await batcher.embed_async([question])
        return time.monotonic() - started

    assert run_loop(ask()) < 4  # none of the three spent the 5 s a call may gather for
    assert dict(batcher.sizes) == {3: 1, 1: 3}


@pytest.mark.model
@pytest.mark.parametrize("calls", [1, 2])
def test_a_failed_call_fails_every_question_it_carried_and_the_next_is_answered(embedder, calls):
    model = Recorder(embedder, fail=True)
    batcher = BatchingEmbedder(model, max_calls=calls)

    async def ask():
        return await asyncio.gather(
            *(batcher.embed_async([q]) for q in QUESTIONS[:3]), return_exceptions=True
        )

    errors = run_loop(ask())
    assert all(isinstance(e, ModelError) for e in errors)
    assert len({id(e) for e in errors}) == 3  # each caller its own error
    model.fail = False
    assert run_loop(ask())[0].shape == (1, 384)
    assert batcher._running == 0


class Poisoned(Packing):
    """A model that fails on any call carrying one text (as on a text it cannot take, or an
    allocation that fails for a large call), packed or not."""

    def __init__(self, inner, poison: str, **kwargs) -> None:
        super().__init__(inner, **kwargs)
        self.poison = poison

    def embed(self, texts, *, progress=False):
        if self.poison in texts:
            self.calls.append(list(texts))
            raise ModelError("the model failed")
        return super().embed(texts, progress=progress)

    def embed_together(self, texts):
        if self.poison in texts:
            raise ModelError("the packed graph failed")
        return super().embed_together(texts)


@pytest.mark.model
@pytest.mark.parametrize("calls", [1, 2])
def test_a_question_the_model_fails_on_fails_alone_and_those_beside_it_are_answered(
    embedder, calls
):
    """Clinicians whose questions shared a call with one the model fails on get their answers:
    the call's questions are asked again one by one, and only that one gets the error."""
    model = Poisoned(embedder, QUESTIONS[1])
    batcher = BatchingEmbedder(model, max_calls=calls)

    async def ask():
        return await asyncio.gather(
            *(batcher.embed_async([q]) for q in QUESTIONS[:3]), return_exceptions=True
        )

    first, failed, third = run_loop(ask())
    assert isinstance(failed, ModelError) and "this question" in str(failed)
    for question, vectors in ((QUESTIONS[0], first), (QUESTIONS[2], third)):
        np.testing.assert_allclose(vectors, alone(embedder, [question]), atol=1e-5)
    assert model.calls[0] == QUESTIONS[:3]  # merged first, then one by one
    assert batcher._running == 0


@pytest.mark.model
def test_a_question_whose_client_left_is_not_embedded(embedder):
    model = Recorder(embedder)
    batcher = BatchingEmbedder(model)

    async def ask():
        gone = asyncio.ensure_future(batcher.embed_async([QUESTIONS[0]]))
        kept = asyncio.ensure_future(batcher.embed_async([QUESTIONS[1]]))
        await asyncio.sleep(0)  # both queued
        gone.cancel()
        return await kept

    assert run_loop(ask()).shape == (1, 384)
    assert model.calls == [[QUESTIONS[1]]]


@pytest.mark.model
def test_a_request_past_the_bound_goes_alone_and_a_call_from_outside_a_loop_goes_straight(
    embedder,
):
    model = Recorder(embedder)
    batcher = BatchingEmbedder(model, max_texts=4)

    async def ask():
        return await asyncio.gather(
            batcher.embed_async(QUESTIONS), batcher.embed_async([QUESTIONS[0]])
        )

    big, small = run_loop(ask())
    assert big.shape == (len(QUESTIONS), 384) and small.shape == (1, 384)
    assert model.calls == [QUESTIONS, [QUESTIONS[0]]] and batcher.calls == 2
    assert batcher.embed(QUESTIONS[:2]).shape == (2, 384)  # the CLI's path: no loop, no batch
    assert model.calls[-1] == QUESTIONS[:2] and batcher.calls == 2


@pytest.mark.model
@pytest.mark.parametrize(("wait", "calls"), [(1.0, 1), (0.0, 3)])
def test_under_load_a_call_gathers_the_questions_still_arriving(embedder, wait, calls):
    """After a call of several (load), the next one looks again while questions keep
    joining, turn by turn of the loop, within `wait`; without a wait it leaves at once."""
    model = Recorder(embedder)
    batcher = BatchingEmbedder(model, wait=wait)

    async def late(question, turns):
        for _ in range(turns):
            await asyncio.sleep(0)
        return await batcher.embed_async([question])

    async def ask():
        await asyncio.gather(late(QUESTIONS[0], 0), late(QUESTIONS[1], 0))  # a busy spell
        started = time.monotonic()
        await asyncio.gather(*(late(q, turns) for turns, q in enumerate(QUESTIONS[2:5])))
        return time.monotonic() - started

    assert run_loop(ask()) < 0.9  # it left when no one more came, not at the deadline
    assert len(model.calls) == 1 + calls
    assert sorted(t for call in model.calls[1:] for t in call) == sorted(QUESTIONS[2:5])


@pytest.mark.model
def test_the_server_embedder_caches_in_front_of_the_batcher(embedder):
    from assistant.settings import Settings

    settings = Settings(batch_texts=7, batch_wait_ms=1.5, query_cache=11)
    served = serving(embedder, settings)
    assert isinstance(served, CachingEmbedder) and isinstance(served.inner, BatchingEmbedder)
    assert (served.inner.max_texts, served.inner.wait, served.size) == (7, 0.0015, 11)
    assert served.inner.max_calls == settings.concurrent_model_calls
    assert served.info == embedder.info

    async def twice():
        first = await embed_async(served, [QUESTIONS[0]])
        return first, await embed_async(served, [QUESTIONS[0]])

    first, again = run_loop(twice())
    np.testing.assert_array_equal(first, again)
    assert (served.hits, served.misses, served.inner.calls) == (1, 1, 1)


@pytest.mark.parametrize(
    ("lengths", "size", "groups"),
    [
        ([10, 49, 12, 30, 9], 32, [[1, 3], [2, 0, 4]]),  # 30 >= 0.6 x 49; 12 < 0.6 x 30
        ([10, 10, 10, 10, 10], 2, [[0, 1], [2, 3], [4]]),
        ([], 8, []),
    ],
)
def test_texts_are_grouped_by_similar_length_within_the_batch_size(lengths, size, groups):
    assert similar_lengths(lengths, size) == groups


@pytest.mark.parametrize(
    ("workers", "threads", "calls"),
    [(1, 0, 1), (2, 0, 2), (2, 2, 1), (4, 0, 2)],
)
def test_model_calls_at_once_fill_the_cores_a_workers_threads_leave(
    monkeypatch, workers, threads, calls
):
    from assistant.settings import current

    monkeypatch.setattr("os.cpu_count", lambda: 2)
    settings = current(workers=workers, onnx_threads=threads)
    assert settings.concurrent_model_calls == calls


@pytest.mark.parametrize(
    ("workers", "threads", "spin", "spins"),
    [
        (1, 0, None, True),  # one worker, both cores: spinning during a call
        (2, 0, None, False),  # one thread a session: nothing to spin
        (2, 2, None, False),  # sessions sharing cores with the other worker's
        (1, 1, None, False),
        (2, 0, True, True),  # MMN_ONNX_SPIN decides when set
        (1, 0, False, False),
    ],
)
def test_spinning_is_decided_by_layout_unless_set(monkeypatch, workers, threads, spin, spins):
    from assistant.settings import current

    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert current(workers=workers, onnx_threads=threads, onnx_spin=spin).spin is spins
