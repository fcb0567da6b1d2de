"""Concurrent questions share one model call, and each gets its own vectors back."""

import threading
import time

import numpy as np
import pytest

from assistant.embed.batching import BatchingEmbedder, batch_report, serving
from assistant.embed.embedding import CachingEmbedder
from assistant.embed.onnxmodel import similar_lengths
from assistant.errors import ModelError

QUESTIONS = [
    "What IVIg dose is used?",
    "Which nerves are affected first?",
    "Is there sensory loss?",
    "What do nerve conduction studies show in multifocal motor neuropathy with block?",
    "Are GM1 antibodies found?",
    "How is it told apart from ALS?",
]


def serving_like(batcher: BatchingEmbedder) -> CachingEmbedder:
    """The batcher behind a cache, as a server holds it."""
    return CachingEmbedder(batcher, 16)


class Gate:
    """The real model behind a gate: the first call waits until `release` is set, so that the
    test can line up other callers while the model is busy; `fail` makes calls raise."""

    def __init__(self, inner, fail: bool = False) -> None:
        self.inner = inner
        self.info = inner.info
        self.fail = fail
        self.entered = threading.Event()
        self.release = threading.Event()
        self.calls: list[list[str]] = []

    def embed(self, texts, *, progress=False):
        self.calls.append(list(texts))
        self.entered.set()
        self.release.wait(10)
        if self.fail:
            raise ModelError("the model failed")
        return self.inner.embed(texts)


def run_concurrently(batcher, groups):
    """Each group of texts from its own thread; returns each thread's vectors or error."""
    results: dict[int, object] = {}

    def ask(i: int, texts: list[str]) -> None:
        try:
            results[i] = batcher.embed(texts)
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            results[i] = exc

    threads = [threading.Thread(target=ask, args=(i, g)) for i, g in enumerate(groups)]
    threads[0].start()
    return threads, results


def line_up(batcher: BatchingEmbedder, gate: Gate, threads: list[threading.Thread]) -> None:
    """The first thread's call holds the model; the others queue behind it, in order; then
    the model is let go and every thread finishes."""
    assert gate.entered.wait(10)
    for queued, thread in enumerate(threads[1:], start=1):
        thread.start()
        wait_queued(batcher, queued)
    gate.release.set()
    for thread in threads:
        thread.join(10)


def wait_queued(batcher: BatchingEmbedder, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(batcher._queue) < count and time.monotonic() < deadline:
        time.sleep(0.005)
    assert len(batcher._queue) == count


@pytest.mark.model
def test_questions_arriving_while_the_model_is_busy_share_the_next_call(embedder):
    gate = Gate(embedder)
    batcher = BatchingEmbedder(gate, max_texts=32)
    groups = [[QUESTIONS[0]], [QUESTIONS[1]], [QUESTIONS[2], QUESTIONS[3]], [QUESTIONS[4]]]
    threads, results = run_concurrently(batcher, groups)
    line_up(batcher, gate, threads)

    assert gate.calls[0] == [QUESTIONS[0]]
    assert sorted(gate.calls[1]) == sorted(QUESTIONS[1:5])  # whoever leads goes first
    assert (batcher.calls, batcher.texts) == (2, 5)
    # what a server logs when it stops: the calls by how many texts they carried
    assert batch_report(serving_like(batcher)) == (
        "model calls 2 carrying 5 texts; calls by size {1: 1, 4: 1}"
    )
    for i, texts in enumerate(groups):
        alone = embedder.embed(texts)
        assert results[i].shape == alone.shape
        np.testing.assert_allclose(results[i], alone, atol=1e-5)


@pytest.mark.model
def test_a_batch_never_exceeds_its_bound_and_the_rest_waits_its_turn(embedder):
    gate = Gate(embedder)
    batcher = BatchingEmbedder(gate, max_texts=3)
    groups = [[QUESTIONS[0]], [QUESTIONS[1], QUESTIONS[2]], [QUESTIONS[3]], [QUESTIONS[4]]]
    threads, results = run_concurrently(batcher, groups)
    line_up(batcher, gate, threads)
    assert [len(call) for call in gate.calls] == [1, 3, 1]
    assert all(isinstance(results[i], np.ndarray) for i in range(len(groups)))


@pytest.mark.model
def test_a_worker_with_cores_to_spare_runs_two_calls_at_once(embedder):
    """With sessions of one thread on two cores, a second question does not wait for the
    first call to end: it starts a call of its own."""
    gate = Gate(embedder)
    batcher = BatchingEmbedder(gate, max_calls=2)
    threads, results = run_concurrently(batcher, [[QUESTIONS[0]], [QUESTIONS[1]], [QUESTIONS[2]]])
    assert gate.entered.wait(10)
    threads[1].start()
    deadline = time.monotonic() + 10
    while len(gate.calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert gate.calls == [[QUESTIONS[0]], [QUESTIONS[1]]]  # both in the model together
    threads[2].start()
    wait_queued(batcher, 1)  # the third waits: both calls are taken
    gate.release.set()
    for thread in threads:
        thread.join(10)
    assert len(gate.calls) == 3
    np.testing.assert_allclose(results[2], embedder.embed([QUESTIONS[2]]), atol=1e-5)


class Turnstile:
    """The real model, each call held until the test lets that call (by its number) through."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.info = inner.info
        self.calls: list[list[str]] = []
        self.gates = [threading.Event() for _ in range(8)]

    def embed(self, texts, *, progress=False):
        number = len(self.calls)
        self.calls.append(list(texts))
        self.gates[number].wait(10)
        return self.inner.embed(texts)


def wait_calls(model, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(model.calls) < count and time.monotonic() < deadline:
        time.sleep(0.005)
    assert len(model.calls) == count


@pytest.mark.model
def test_a_question_already_in_a_call_never_starts_one_when_a_slot_frees(embedder):
    """Two calls run; two more questions queue; the first call ends and one of them leads a
    call carrying both; when the second call ends, the other, already carried, must wait for
    its own call instead of leading one (it used to fail, and its slot was never freed)."""
    model = Turnstile(embedder)
    batcher = BatchingEmbedder(model, max_calls=2)
    threads, results = run_concurrently(batcher, [[q] for q in QUESTIONS[:4]])
    threads[1].start()
    wait_calls(model, 2)
    threads[2].start()
    threads[3].start()
    wait_queued(batcher, 2)
    model.gates[0].set()
    wait_calls(model, 3)
    assert sorted(model.calls[2]) == sorted(QUESTIONS[2:4])
    model.gates[1].set()
    time.sleep(0.2)  # the carried question would lead a call of its own here
    assert len(model.calls) == 3
    model.gates[2].set()
    for thread in threads:
        thread.join(10)
    for i, question in enumerate(QUESTIONS[:4]):
        np.testing.assert_allclose(results[i], embedder.embed([question]), atol=1e-5)
    assert batcher._running == 0
    assert batcher.embed([QUESTIONS[4]]).shape == (1, 384)  # every slot is free again


@pytest.mark.model
def test_a_lone_question_does_not_wait_for_company(embedder):
    batcher = BatchingEmbedder(embedder, max_texts=32, wait=5.0)
    started = time.monotonic()
    for question in QUESTIONS[:3]:
        batcher.embed([question])
    # Three lone calls in a row never gather anyone, so none spends the 5 s wait.
    assert time.monotonic() - started < 4
    assert batcher.calls == 3


@pytest.mark.model
def test_a_failed_call_fails_every_question_it_carried(embedder):
    gate = Gate(embedder, fail=True)
    batcher = BatchingEmbedder(gate)
    threads, results = run_concurrently(batcher, [[q] for q in QUESTIONS[:3]])
    line_up(batcher, gate, threads)
    assert all(isinstance(results[i], ModelError) for i in range(3))
    # The batcher is free again: the next question is answered.
    gate.fail = False
    assert batcher.embed([QUESTIONS[0]]).shape == (1, 384)


@pytest.mark.model
def test_a_build_sized_call_goes_straight_to_the_model(embedder):
    gate = Gate(embedder)
    gate.release.set()
    batcher = BatchingEmbedder(gate, max_texts=4)
    vectors = batcher.embed(QUESTIONS)
    assert vectors.shape == (len(QUESTIONS), 384) and batcher.calls == 0
    assert gate.calls == [QUESTIONS]


@pytest.mark.model
def test_the_server_embedder_caches_in_front_of_the_batcher(embedder):
    from assistant.settings import Settings

    settings = Settings(batch_texts=7, batch_wait_ms=1.5, query_cache=11)
    served = serving(embedder, settings)
    assert isinstance(served, CachingEmbedder) and isinstance(served.inner, BatchingEmbedder)
    assert (served.inner.max_texts, served.inner.wait, served.size) == (7, 0.0015, 11)
    assert served.inner.max_calls == settings.concurrent_model_calls
    assert served.info == embedder.info


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
