"""Builds started from the editors' desk: a real `mmn-assistant build` process whose outcome
is recorded (a failure leaves the published version serving), one build at a time, a build
whose process is gone concluded from its log, roll back, and the audit trail of each.

No model: the builds here fail while parsing, before the model loads (under a second); the
browser tests run one that publishes."""

from __future__ import annotations

import atexit
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from assistant.desk.jobs import LOGS, Build, Builds
from assistant.feedback.accounts import Accounts
from assistant.feedback.store import FeedbackError, FeedbackStore
from assistant.settings import current
from assistant.store.directory import POINTER, VERSIONS, published_version, version_name
from tests.conftest import ARTICLE

OLD = version_name(datetime(2026, 1, 5, 8, 0, tzinfo=UTC))
LIVE = version_name(datetime(2026, 2, 2, 8, 0, tzinfo=UTC))
NEW = version_name(datetime(2026, 3, 1, 8, 0, tzinfo=UTC))


@pytest.fixture
def store(tmp_path: Path) -> FeedbackStore:
    return FeedbackStore(tmp_path / "data" / "feedback.sqlite3")


@pytest.fixture
def index(tmp_path: Path) -> Path:
    """An index directory with `LIVE` published (its files are never read by these builds)."""
    folder = tmp_path / "index"
    keep(folder, LIVE)
    (folder / POINTER).write_text(f"{LIVE}\n", encoding="utf-8")
    return folder


@pytest.fixture
def builds(corpus_copy: Path, index: Path, store: FeedbackStore) -> Builds:
    return Builds(store, current(corpus_dir=corpus_copy, index_dir=index))


_WHOLE: list[Path] = []


def keep(index: Path, version: str) -> None:
    """A version on disk that can be published and rolled back to: the files of one real
    version (built once, with the hash embedder and no training), which a rollback checks."""
    if not _WHOLE:
        from assistant.build import build_index
        from assistant.ingest.corpus import load_corpus
        from tests.conftest import CORPUS, HashEmbedder

        built = Path(tempfile.mkdtemp(prefix="desk-jobs-version-"))
        atexit.register(shutil.rmtree, built, True)
        _WHOLE.append(build_index(load_corpus(CORPUS), HashEmbedder(), built).path)
    shutil.copytree(_WHOLE[0], index / VERSIONS / version)


def finished(builds: Builds, build_id: int, timeout: float = 30) -> Build:
    """The build once it has ended (and its waiting thread has recorded how)."""
    deadline = time.monotonic() + timeout
    while (build := builds.get(build_id)).state == "running":
        assert time.monotonic() < deadline, f"build #{build_id} still running: {build.tail()}"
        time.sleep(0.05)
    for thread in threading.enumerate():
        if thread.name == f"desk-build-{build_id}":
            thread.join(timeout)
    return builds.get(build_id)


def running_row(store: FeedbackStore, log: Path, pid: int | None, who: str = "alice") -> int:
    """A build row as a worker that has since gone away left it: `running`, with its log."""
    with store.connect() as db:
        cursor = db.execute(
            "INSERT INTO builds (started_at, who, state, pid, log) VALUES (?, ?, 'running', ?, ?)",
            ("2026-03-01T08:00:00+00:00", who, pid, str(log)),
        )
    return int(cursor.lastrowid or 0)


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


# --- a build that fails -------------------------------------------------------------------------


def test_a_build_of_a_broken_examples_file_fails_and_the_live_version_keeps_serving(
    builds, corpus_copy, index, store
):
    examples = corpus_copy / "examples" / f"{ARTICLE.stem}.jsonl"
    with examples.open("a", encoding="utf-8") as handle:
        handle.write('{"question": "a line cut short\n')

    started = builds.start("alice")
    assert (started.state, started.who) == ("running", "alice")
    with pytest.raises(FeedbackError, match=f"build #{started.id}, started by alice .* is still"):
        builds.start("bob")  # one build at a time

    build = finished(builds, started.id)
    assert build.state == "failed" and build.version is None and build.finished_at
    assert f"{examples.name}:" in build.message and "not a JSON object" in build.message
    assert build.message.endswith("the published version is still serving")
    assert any("not a JSON object" in line for line in build.tail())
    assert Path(build.log) == index / LOGS / f"{build.id}.log"
    assert published_version(index) == LIVE
    assert [b.id for b in builds.recent()] == [started.id]
    assert builds.running() is None

    trail = Accounts(store).trail()
    assert [(e.who, e.action, e.target) for e in trail] == [
        ("alice", "build failed", f"build #{build.id}"),
        ("alice", "build started", f"build #{build.id}"),
    ]
    assert trail[0].detail == build.message


def test_a_build_of_a_malformed_article_says_which_file_and_line(builds, corpus_copy, index):
    (corpus_copy / ARTICLE.name).write_text("\n\nnot an article at all\n", encoding="utf-8")
    build = finished(builds, builds.start("alice").id)
    assert build.state == "failed"
    assert ARTICLE.name in build.message and "still serving" in build.message
    assert published_version(index) == LIVE


def test_a_new_build_may_start_once_the_last_one_has_ended(builds, corpus_copy):
    (corpus_copy / ARTICLE.name).write_text("", encoding="utf-8")
    first = finished(builds, builds.start("alice").id)
    second = finished(builds, builds.start("bob").id)
    assert (first.state, second.state) == ("failed", "failed")
    assert [b.who for b in builds.recent()] == ["bob", "alice"]


# --- a build whose worker went away -------------------------------------------------------------


def test_a_running_build_whose_process_is_gone_is_concluded_published_from_its_log(
    builds, index, store, tmp_path
):
    keep(index, NEW)
    (index / POINTER).write_text(f"{NEW}\n", encoding="utf-8")
    log = tmp_path / "build.log"
    log.write_text(
        "parsed corpus/what-is-multifocal-motor-neuropathy.txt: 32 passages\n"
        f"built index version {NEW} in {index / VERSIONS / NEW}: 32 passages, 0 embedded\n",
        encoding="utf-8",
    )
    build_id = running_row(store, log, dead_pid())

    build = builds.get(build_id)

    assert (build.state, build.version, build.message) == ("published", NEW, f"published {NEW}")
    assert builds.running() is None
    (entry,) = Accounts(store).trail()
    assert (entry.who, entry.action, entry.target) == ("alice", "build published", f"build #{build_id}")  # fmt: skip
    assert builds.get(build_id) == build  # concluded once: nothing more is recorded
    assert len(Accounts(store).trail()) == 1


def test_a_running_build_whose_process_is_gone_with_an_error_is_concluded_failed(
    builds, store, tmp_path
):
    log = tmp_path / "build.log"
    log.write_text("parsed …\nError: corpus/x.txt:1: the first line is not a title\n", "utf-8")
    build = builds.get(running_row(store, log, dead_pid()))
    assert build.state == "failed" and build.version is None
    assert build.message == (
        "the build failed: Error: corpus/x.txt:1: the first line is not a title; "
        "the published version is still serving"
    )


def test_a_running_build_with_no_process_and_an_empty_log_was_stopped(builds, store, tmp_path):
    log = tmp_path / "build.log"
    log.write_text("", encoding="utf-8")
    build = builds.get(running_row(store, log, None))
    assert build.state == "failed"
    assert build.message.startswith("the build was stopped: the build printed nothing")


def test_an_unknown_build_is_a_clear_error(builds):
    with pytest.raises(FeedbackError, match="there is no build #7"):
        builds.get(7)


# --- rolling back -------------------------------------------------------------------------------


def test_roll_back_publishes_the_version_before_and_is_audited(builds, index, store):
    keep(index, OLD)
    assert builds.roll_back("alice") == OLD
    assert published_version(index) == OLD
    (entry,) = Accounts(store).trail()
    assert (entry.who, entry.action, entry.target, entry.detail) == (
        "alice", "rolled back", f"version {OLD}", f"was {LIVE}",
    )  # fmt: skip


def test_roll_back_with_no_earlier_version_fails_clearly_and_changes_nothing(builds, index, store):
    with pytest.raises(
        FeedbackError, match=f"no version published before {LIVE} is kept to roll back to"
    ):
        builds.roll_back("alice")
    assert published_version(index) == LIVE
    assert Accounts(store).trail() == []


def test_roll_back_is_refused_while_a_build_runs(builds, index, store, tmp_path):
    keep(index, OLD)
    log = tmp_path / "build.log"
    log.write_text("", encoding="utf-8")
    # a process whose command line reads `assistant build` stands for the running build
    sleeper = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "assistant", "build"]
    )
    try:
        running_row(store, log, sleeper.pid)
        with pytest.raises(FeedbackError, match="is running; roll back once it has finished"):
            builds.roll_back("alice")
        with pytest.raises(FeedbackError, match="is still running"):
            builds.start("bob")
    finally:
        sleeper.kill()
        sleeper.wait()
    assert published_version(index) == LIVE


def test_a_build_is_published_however_long_its_report(builds, store, tmp_path):
    """The version line comes before the change report, which can run to hundreds of lines."""
    log = tmp_path / "long.log"
    report = "".join(f"    added     article:{n} a passage\n" for n in range(600))
    log.write_text(f"built index version {NEW} in /x: 600 passages\n{report}", encoding="utf-8")
    build = builds.get(running_row(store, log, dead_pid()))
    assert (build.state, build.version) == ("published", NEW)


def test_a_build_another_worker_is_starting_is_not_concluded_before_its_pid(
    builds, store, tmp_path
):
    """Between the row and the process, another worker must not call it failed."""
    log = tmp_path / "starting.log"
    log.write_text("", encoding="utf-8")
    with store.connect() as db:
        db.execute(
            "INSERT INTO builds (started_at, who, state, log) VALUES (?, 'alice', 'running', ?)",
            (datetime.now(UTC).isoformat(timespec="seconds"), str(log)),
        )
    assert builds.running() is not None
    with pytest.raises(FeedbackError, match="still running"):
        builds.start("bob")


def test_a_build_that_has_already_published_is_not_cancelled_as_failed(builds, index, store):
    """Cancelled after it published (while it printed its report), a build was recorded as
    failed, "the published version is still serving", while its new version served."""
    # a process that reads as a build to the desk (its command line names `assistant build`)
    sleeper = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "assistant", "build"]
    )
    try:
        build_id = running_row(store, index / "build.log", sleeper.pid)  # started 08:00:00
        keep(index, NEW)  # built at 08:00:00.000000, after it started
        (index / POINTER).write_text(f"{NEW}\n", encoding="utf-8")
        with pytest.raises(FeedbackError, match=f"has already published {NEW}"):
            builds.cancel("bob", build_id)
        assert sleeper.poll() is None  # not stopped
        assert builds.get(build_id, conclude=False).state == "running"
        assert "build cancelled" not in [e.action for e in Accounts(store).trail()]
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_running_build_can_be_cancelled_and_the_published_version_keeps_serving(
    builds, index, store
):
    build = builds.start("alice")
    assert build.state == "running"
    with store.connect() as db:
        (pid,) = db.execute("SELECT pid FROM builds WHERE id = ?", (build.id,)).fetchone()
    cancelled = builds.cancel("bob", build.id)
    assert cancelled.state == "failed" and "cancelled by bob" in (cancelled.message or "")
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # the waiting thread reaps it
    assert not Path(f"/proc/{pid}").exists(), "the build's process is still running"
    assert finished(builds, build.id).message == cancelled.message  # the waiter kept it
    assert published_version(index) == LIVE
    trail = [(e.who, e.action) for e in Accounts(store).trail()]
    assert ("bob", "build cancelled") in trail
    with pytest.raises(FeedbackError, match="is not running"):
        builds.cancel("bob", build.id)
    again = builds.start("carol")  # the next build is not held up
    assert again.state == "running"
    builds.cancel("carol", again.id)  # (and does not go on using the cores after the test)
    finished(builds, again.id)
