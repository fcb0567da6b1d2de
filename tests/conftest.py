"""Shared fixtures: the real model once per session, a real index in a temporary directory,
and a deterministic fake embedder for the tests of mechanics."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assistant.records import ModelInfo

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
ARTICLE = CORPUS / "what-is-multifocal-motor-neuropathy.txt"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Starlette's TestClient names its host "testserver": the apps the tests make answer it too.
os.environ.setdefault("MMN_ALLOWED_HOSTS", "localhost,127.0.0.1,::1,testserver")
# The model's ONNX export is made once per test session, and every server the tests start
# (they inherit the environment) reuses it instead of exporting into its own index directory.
_OWN_EXPORT = "MMN_MODEL_EXPORT_DIR" not in os.environ
if _OWN_EXPORT:  # not setdefault: its argument would make a directory on every import
    os.environ["MMN_MODEL_EXPORT_DIR"] = tempfile.mkdtemp(prefix="mmn-model-export-")
EXPORT_DIR = Path(os.environ["MMN_MODEL_EXPORT_DIR"])


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The session's export is 87 MB: removed when the session that made it ends (every server
    it started is stopped by then), so test runs do not fill /tmp."""
    if _OWN_EXPORT:
        shutil.rmtree(EXPORT_DIR, ignore_errors=True)


class HashEmbedder:
    """Deterministic bag-of-words vectors: fast, and equal texts give equal vectors."""

    def __init__(self, dimension: int = 64) -> None:
        self._info = ModelInfo(
            name="test-hash-embedder",
            path="(tests)",
            weights_sha256=hashlib.sha256(b"test-hash-embedder").hexdigest(),
            dimension=dimension,
            official=False,
        )
        self.calls: list[int] = []

    @property
    def info(self) -> ModelInfo:
        return self._info

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        self.calls.append(len(texts))
        out = np.zeros((len(texts), self._info.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in re.findall(r"\w+", text.lower()):
                slot = int(hashlib.md5(token.encode()).hexdigest(), 16) % self._info.dimension
                out[row, slot] += 1.0
            norm = np.linalg.norm(out[row]) or 1.0
            out[row] /= norm
        return out


@pytest.fixture(autouse=True)
def _state_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing a test does may write into the repository's own index/."""
    monkeypatch.setenv("MMN_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("MMN_FEEDBACK_DB", str(tmp_path / "data" / "feedback.sqlite3"))
    monkeypatch.delenv("MMN_FINE_TUNE", raising=False)  # builds as by default, whatever the shell


@pytest.fixture
def hash_embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture(scope="module")
def article():
    """The first article, parsed."""
    from assistant.ingest.corpus import load_article

    return load_article(ARTICLE)


@pytest.fixture(scope="module")
def vocabulary(article):
    """The vocabulary a build of the first article alone would have."""
    from assistant.ingest.glossary import load_synonyms
    from assistant.ingest.vocabulary import Vocabulary

    texts = [article.title, article.topic, *(p.index_text for p in article.passages)]
    return Vocabulary.build(texts, load_synonyms(CORPUS))


@pytest.fixture
def corpus_copy(tmp_path: Path) -> Path:
    """A private copy of the corpus that a test may edit."""
    target = tmp_path / "corpus"
    shutil.copytree(CORPUS, target)
    return target


@pytest.fixture(scope="session")
def embedder():
    """The real all-MiniLM-L6-v2, loaded once for the whole test session."""
    from assistant.embed.embedding import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(export_dir=EXPORT_DIR)


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory: pytest.TempPathFactory, embedder) -> Path:
    """A real index of the real corpus, built once per session in a temporary directory."""
    from assistant.build import build_corpus

    directory = tmp_path_factory.mktemp("index")
    build_corpus(CORPUS, embedder, directory)
    return directory


@pytest.fixture(scope="session")
def two_articles_dir(tmp_path_factory: pytest.TempPathFactory, embedder, index_dir) -> Path:
    """The corpus with the second article and its editors' examples, built for real once: the
    safety proposals and the routing between articles both read it."""
    from tests.updates import build_two_articles

    return build_two_articles(tmp_path_factory.mktemp("two-articles"), embedder, index_dir)


@pytest.fixture(scope="session")
def shifted_two_articles_dir(tmp_path_factory: pytest.TempPathFactory, embedder, index_dir) -> Path:
    """The corpus with the second article, built with the bridges as shifts of the question's
    vector (`TrainingSettings(bridges="shifts")`): built once for the safety proposals and the
    shifts tests, since a training is most of a build's 40 s."""
    from assistant.settings import TrainingSettings
    from tests.updates import build_two_articles

    root = tmp_path_factory.mktemp("shifted-two-articles")
    settings = TrainingSettings(bridges="shifts")
    return build_two_articles(root, embedder, index_dir, training=settings)


@pytest.fixture(scope="session")
def engine(index_dir: Path, embedder):
    from assistant.engine import Engine

    return Engine.open(index_dir, embedder)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(index_dir: Path, log: Path, *extra: str):
    """Start `mmn-assistant serve` on a free loopback port; returns (process, base URL) once healthy.
    Its feedback store is `feedback.sqlite3` beside the log."""
    import subprocess
    import sys
    import time
    import urllib.request

    port = free_port()
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "assistant", "serve", "--host", "127.0.0.1", "--port", str(port),
             "--index-dir", str(index_dir), "--corpus-dir", str(CORPUS), *extra],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "MMN_FEEDBACK_DB": str(log.parent / "feedback.sqlite3")},
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(base + "/api/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the server did not become healthy:\n{log.read_text()}")
        time.sleep(0.25)
    return process, base


def stop_server(process) -> None:
    import subprocess

    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="session")
def server_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The live server's own files: its log and its feedback store."""
    return tmp_path_factory.mktemp("server")


@pytest.fixture(scope="session")
def live_server(index_dir: Path, server_dir: Path):
    """`mmn-assistant serve` as a real process on 127.0.0.1, answering from the session's index."""
    process, base = start_server(index_dir, server_dir / "server.log")
    yield base
    stop_server(process)


MODEL_FIXTURES = {
    "embedder", "torch_embedder", "engine", "index_dir", "two_articles", "client",
    "shifted_two_articles_dir", "two_articles_dir",
}  # fmt: skip
SERVER_FIXTURES = {"live_server", "server"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Each test module declares its markers itself (`pytestmark`, or a mark on a test), so
    that `make test-fast` (`-m "not model and not server and not browser and not slow"`) runs
    only what needs none of them. A test that takes the real model or a server through a
    fixture without saying so would slip into the fast loop: it is refused here, by name."""
    unmarked = []
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        for needs, marker in ((MODEL_FIXTURES, "model"), (SERVER_FIXTURES, "server")):
            if fixtures & needs and item.get_closest_marker(marker) is None:
                unmarked.append(f"{item.nodeid} (uses {sorted(fixtures & needs)[0]})")
    if unmarked:
        raise pytest.UsageError(
            "mark these tests (or their module's pytestmark) "
            + "model/server: "
            + "; ".join(unmarked)
        )


def run_loop(coroutine):
    """Run a coroutine to its end on an event loop of its own thread, as a server's loop runs:
    the browser tests' driver keeps a loop running on the main thread, where `asyncio.run`
    is refused."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


# --- the browser (tests/test_browser.py, tests/test_desk_browser.py) ---------------------------

CHROMIUM = Path(os.environ.get("MMN_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = ROOT / "test-artifacts" / "browser"
"""Screenshots of the browser tests (git-ignored)."""
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _unavailable() -> str | None:
    if not CHROMIUM.exists():
        return f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[dev]')"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session; session-scoped so that a missing browser skips
    (or fails) before the live server is started."""
    reason = _unavailable()
    if reason is not None:
        if os.environ.get("MMN_REQUIRE_BROWSER") == "1":
            pytest.fail(f"MMN_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@contextmanager
def hang_guard(seconds: int = 10) -> Iterator[None]:
    """Fail the test if its block runs for `seconds`: a guard against a parser that backtracks
    for minutes on a hostile line, not a speed target (those live in bench/)."""

    def hung(*_: object) -> None:
        raise AssertionError(f"still running after {seconds} s: a pattern backtracks")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
