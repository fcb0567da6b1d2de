"""`mmn-assistant serve` as a real uvicorn process on 127.0.0.1."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import pytest

from assistant.store.directory import publish, published_version
from tests.conftest import ROOT, free_port, start_server, stop_server

pytestmark = pytest.mark.server


def post(url: str, payload: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.model
def test_a_real_server_answers_with_cited_passages(live_server):
    status, body = post(live_server + "/api/ask", {"question": "What IVIg dose is used?", "k": 3})
    assert status == 200
    assert body["passages"][0]["citations"] == [4]
    assert "IVIg Therapy" in body["passages"][0]["section"]
    assert "Dr.Oracle assumes no liability" in body["disclaimer"]


@pytest.mark.model
def test_a_real_server_refuses_bad_input_and_keeps_answering(live_server):
    status, body = post(live_server + "/api/ask", {"question": "   "})
    assert status == 422 and "empty" in body["message"]
    status, _ = post(live_server + "/api/ask", {"question": "Does rituximab work?"})
    assert status == 200


@pytest.mark.model
def test_serve_builds_the_index_first_when_there_is_none(tmp_path, index_dir):
    index = tmp_path / "empty-index"
    # No published version, only the caches an earlier build left (the session's): the build
    # runs every stage and reuses the trained ranker; a build from nothing is test_cli's.
    shutil.copytree(index_dir / "cache", index / "cache")
    process, base = start_server(index, tmp_path / "server.log")
    try:
        status, body = post(base + "/api/ask", {"question": "Is rituximab effective?", "k": 1})
        assert (
            status == 200
            and body["passages"][0]["text"] == "Rituximab efficacy is not established in MMN"
        )
        assert published_version(index) == body["index"]["version"]
        assert "no index in" in (tmp_path / "server.log").read_text()
    finally:
        stop_server(process)


def test_serve_with_versions_but_no_pointer_builds_nothing_and_says_how_to_publish(
    corpus_copy, hash_embedder, tmp_path
):
    """The pointer deleted (as its damage message says to do), `serve` took the index for
    none and built the corpus as it was, edits nobody had reviewed, and published them."""
    import subprocess
    import sys

    from assistant.build import build_corpus
    from assistant.store import versions

    index = tmp_path / "index"
    build_corpus(corpus_copy, hash_embedder, index, train=False)
    (index / "CURRENT").unlink()
    kept = versions(index)
    served = subprocess.run(
        [sys.executable, "-m", "assistant", "serve", "--host", "127.0.0.1", "--port", str(free_port()),
         "--index-dir", str(index), "--corpus-dir", str(corpus_copy)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert served.returncode == 1, served.stderr
    assert "no version is published, 1 kept" in served.stderr and "--rollback" in served.stderr
    assert versions(index) == kept and not (index / "CURRENT").exists()


@pytest.mark.model
def test_the_request_log_has_one_structured_line_per_request_and_no_question(
    index_dir, tmp_path, monkeypatch
):
    """Questions may carry patient details: the log names the method, the path without its
    query string, the status and the latency, and nothing of the question."""
    monkeypatch.delenv("MMN_LOG_QUESTIONS", raising=False)
    log = tmp_path / "server.log"
    process, base = start_server(index_dir, log)
    question = "Does Zebediah Quillfeather, aged 47, need IVIg?"
    try:
        assert post(base + "/api/ask", {"question": question, "history": [question]})[0] == 200
        with urllib.request.urlopen(base + "/ask?" + urlencode({"q": question}), timeout=30) as r:
            assert r.status == 200
        assert post(base + "/api/ask", {"question": question + "?" * 500})[0] == 422
    finally:
        stop_server(process)
    text = log.read_text()
    assert "Zebediah" not in text and "Quillfeather" not in text and "q=" not in text
    assert "HTTP/1.1" not in text  # uvicorn's access log, which prints the query string, is off
    # it answered a question of its own before reporting healthy, and logged no request for it
    assert text.count("warmed: one answer in") == 1
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    asked = [line for line in lines if line["path"] in ("/api/ask", "/ask")]
    assert [(line["method"], line["path"], line["status"]) for line in asked] == [
        ("POST", "/api/ask", 200),
        ("GET", "/ask", 200),
        ("POST", "/api/ask", 422),
    ]
    for line in asked:
        assert set(line) == {"time", "method", "path", "status", "ms"}
        assert isinstance(line["ms"], float) and 0 <= line["ms"] < 30_000


def alive(pid: str | int) -> bool:
    """Whether a process runs: a zombie, not yet reaped by whoever adopted it, is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _workers(log: Path, count: int) -> list[str]:
    """The pids of the first `count` workers gunicorn booted, once it has."""
    import re

    deadline = time.monotonic() + 120
    while len(pids := re.findall(r"Booting worker with pid: (\d+)", log.read_text())) < count:
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.25)
    return pids


def run_serve(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "assistant", "serve", "--port", str(free_port()), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.model
def test_serve_refuses_a_damaged_index_and_says_how_to_rebuild(index_dir, tmp_path, workers):
    """A server with nothing trustworthy to serve exits at once, naming the damage and the fix,
    instead of starting and answering from a broken index (with workers too: the master
    loads and checks the version before starting any)."""
    damaged = tmp_path / "index"
    shutil.copytree(index_dir, damaged)
    vectors = damaged / "versions" / published_version(damaged) / "vectors.faiss"
    vectors.write_bytes(vectors.read_bytes()[:100])  # truncated
    done = run_serve("--index-dir", str(damaged), "--workers", workers)
    assert done.returncode == 1
    assert "vectors.faiss does not match its hash" in done.stderr
    assert "mmn-assistant build" in done.stderr and "--rollback" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.model
def test_serve_binds_to_loopback_unless_told_otherwise(index_dir, tmp_path):
    done = run_serve("--host", "0.0.0.0", "--index-dir", str(index_dir))
    assert done.returncode == 2
    assert "--allow-remote" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.model
def test_serve_says_a_busy_port_or_unknown_host_before_loading_anything(index_dir):
    """One line and exit 1 within seconds, not a minute of start-up, then uvicorn's log line
    and exit 3."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        done = run_serve("--port", str(port), "--index-dir", str(index_dir))
        assert done.returncode == 1, done.stderr
        assert f"127.0.0.1:{port} is already in use" in done.stderr and "--port" in done.stderr
        assert "Traceback" not in done.stderr and "serving index version" not in done.stderr
        assert time.monotonic() - started < 20
    done = run_serve(
        "--host", "no-such-host.invalid", "--allow-remote", "--index-dir", str(index_dir)
    )
    assert done.returncode == 1 and "cannot find the host 'no-such-host.invalid'" in done.stderr


@pytest.mark.model
def test_sigterm_lets_requests_in_flight_finish_and_exits_cleanly(index_dir, tmp_path):
    """An operator's restart must not cut off a clinician's answer: requests already sent when
    SIGTERM arrives are answered, then the process exits. uvicorn re-raises the signal once it
    has shut down, so that whoever sent it sees it took effect: status -15, not a crash."""
    log = tmp_path / "server.log"
    process, base = start_server(index_dir, log)
    host, port = base.removeprefix("http://").split(":")
    # Each request is sent but for the last byte of its body, so it cannot be answered (nor
    # finished) before the signal: it is in flight, whatever the load on the machine.
    sockets = []
    for i in range(12):
        body = json.dumps({"question": f"What IVIg dose is used? ({i})"}).encode()
        head = (
            f"POST /api/ask HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        connection = socket.create_connection((host, int(port)), timeout=60)
        connection.sendall(head + body[:-1])
        sockets.append((connection, body[-1:]))
    time.sleep(0.5)  # the server reads the headers: each request has begun
    process.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    results: list[int] = []
    for connection, rest in sockets:
        connection.sendall(rest)
        with connection, connection.makefile("rb") as reply:
            results.append(int(reply.readline().split()[1]))
    assert process.wait(timeout=30) in (0, -signal.SIGTERM)
    assert results == [200] * 12, results
    text = log.read_text()
    assert "Waiting for application shutdown" in text and "Finished server process" in text
    assert "Traceback" not in text


@pytest.mark.model
def test_uptime_checks_may_ask_for_the_health_status_alone(live_server):
    """Load balancers and uptime monitors send HEAD: the status without the body."""
    request = urllib.request.Request(live_server + "/api/health", method="HEAD")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        assert response.read() == b""
        assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.model
def test_two_workers_answer_and_their_output_holds_no_question(index_dir, tmp_path, monkeypatch):
    """`serve --workers 2`: both processes answer, each serving the version its master
    loaded once (forked, not loaded again), and neither prints a question's text (no uvicorn
    access log in any worker)."""
    import re

    monkeypatch.delenv("MMN_LOG_QUESTIONS", raising=False)
    log = tmp_path / "server.log"
    process, base = start_server(index_dir, log, "--workers", "2")
    question = "Does Zebediah Quillfeather, aged 47, need IVIg?"
    try:
        deadline = time.monotonic() + 120
        while len(set(re.findall(r"Started server process \[(\d+)\]", log.read_text()))) < 2:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.25)
        for _ in range(6):
            assert post(base + "/api/ask", {"question": question})[0] == 200
            with urllib.request.urlopen(
                base + "/ask?" + urlencode({"q": question}), timeout=30
            ) as r:
                assert r.status == 200
    finally:
        stop_server(process)
    text = log.read_text()
    assert "Zebediah" not in text and "q=" not in text and "HTTP/1.1" not in text
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert sum(line["path"] in ("/api/ask", "/ask") for line in lines) == 12
    assert text.count("as the master loaded it (shared)") == 2
    # each worker answered a question of its own before its first clinician's
    assert text.count("warmed: one answer in") == 2


@pytest.mark.model
def test_workers_do_not_outlive_a_killed_master(index_dir, tmp_path):
    """A master killed outright (SIGKILL, the OOM killer) takes its workers with it: left on
    their own they would keep serving and hold the port that its restart must bind."""
    log = tmp_path / "server.log"
    process, base = start_server(index_dir, log, "--workers", "2")
    workers = _workers(log, 2)
    process.kill()
    process.wait(timeout=15)
    deadline = time.monotonic() + 15
    while any(map(alive, workers)):
        assert time.monotonic() < deadline, f"workers {workers} outlived their master"
        time.sleep(0.1)
    port = int(base.rsplit(":", 1)[1])
    with socket.create_server(("127.0.0.1", port)):  # the port is free for a restart
        pass


@pytest.mark.model
def test_slow_bodies_get_408_at_the_bound_while_others_are_answered(
    index_dir, tmp_path, monkeypatch
):
    """Ten clients that send a body a byte at a time hold no slot for long: each gets 408 once
    MMN_BODY_TIMEOUT has passed, and a question sent meanwhile is answered."""
    monkeypatch.setenv("MMN_BODY_TIMEOUT", "2")
    process, base = start_server(index_dir, tmp_path / "server.log")
    port = int(base.rsplit(":", 1)[1])
    head = (
        b"POST /api/ask HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n{"
    )
    slow = []
    try:
        for _ in range(10):
            client = socket.create_connection(("127.0.0.1", port), timeout=20)
            client.sendall(head)
            slow.append(client)
        started = time.monotonic()
        assert post(base + "/api/ask", {"question": "What IVIg dose is used?"})[0] == 200
        for client in slow:
            reply = b""
            while chunk := client.recv(4096):  # the server closes the connection after it
                reply += chunk
            assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
            assert b"did not arrive within 2 seconds" in reply
        assert time.monotonic() - started < 15  # the bound, not the 100 s the bodies would take
    finally:
        for client in slow:
            client.close()
        stop_server(process)


@pytest.mark.model
def test_a_worker_restarted_while_a_damaged_version_is_published_serves_the_last_good(
    index_dir, tmp_path
):
    """The running workers refuse a damaged version and keep theirs. A worker that dies then
    (a crash, the OOM killer) is replaced, and the replacement must not fail on the damaged
    version: gunicorn would take a failed boot for a broken app and stop the whole server."""
    served = tmp_path / "index"
    shutil.copytree(index_dir, served)
    good = published_version(served)
    damaged = good.replace("-", "-dmg", 1)
    shutil.copytree(served / "versions" / good, served / "versions" / damaged)
    vectors = served / "versions" / damaged / "vectors.faiss"
    vectors.write_bytes(vectors.read_bytes()[:100])  # truncated
    log = tmp_path / "server.log"
    process, base = start_server(served, log, "--workers", "2")
    try:
        first = _workers(log, 2)
        publish(served, damaged)
        time.sleep(2.5)  # the workers' watchers refuse it
        os.kill(int(first[0]), signal.SIGKILL)
        _workers(log, 3)  # its replacement
        deadline = time.monotonic() + 60
        while (text := log.read_text()).count("warmed: one answer in") < 3:
            assert "Worker failed to boot" not in text, text
            assert time.monotonic() < deadline, text
            time.sleep(0.25)
        assert process.poll() is None, log.read_text()
        for _ in range(8):  # whichever worker answers, it answers from the good version
            status, body = post(base + "/api/ask", {"question": "What IVIg dose is used?"})
            assert status == 200 and body["index"]["version"] == good
    finally:
        stop_server(process)
    assert "refused index version" in log.read_text()


@pytest.mark.model
def test_sigint_to_the_master_alone_stops_its_workers_cleanly(index_dir, tmp_path):
    """A supervisor that signals only the main process (SIGINT, SIGQUIT: gunicorn's quick
    stop) must see the workers finish their shutdown, not be killed at the end of the grace
    period."""
    log = tmp_path / "server.log"
    process, base = start_server(index_dir, log, "--workers", "2")
    _workers(log, 2)
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)
    took = time.monotonic() - started
    text = log.read_text()
    assert "was sent SIGKILL" not in text and "Perhaps out of memory" not in text, text
    assert text.count("Finished server process") == 2, text
    assert took < 5, (took, text)


def test_a_stopped_serve_does_not_leave_its_first_build_running(tmp_path):
    """`serve --workers N` with no index builds in a child process. Stopping `serve` meanwhile
    must stop the build: left running on its own, it would hold both cores, and the build lock
    that makes a restarted `serve` refuse to start ("another build is running")."""
    started = tmp_path / "build.pid"
    code = (
        "import os, time\n"
        "from pathlib import Path\n"
        "from web.serving import run_apart\n"
        f"run_apart(lambda: Path({str(started)!r}).write_text(str(os.getpid())) and time.sleep(60))\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while not started.exists() or not started.read_text():
            assert parent.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        build = int(started.read_text())
        parent.terminate()
        parent.wait(timeout=15)
        deadline = time.monotonic() + 10
        while alive(build):
            assert time.monotonic() < deadline, "the build outlived the serve that started it"
            time.sleep(0.05)
    finally:
        parent.kill()


def test_a_child_whose_parent_died_or_is_told_to_stop_exits_before_its_own_handlers():
    """A worker (or build) forked just as its parent dies, or sent SIGTERM before it has
    handlers of its own, stops: the parent's handlers it inherited would swallow the signal,
    and it would serve on, orphaned."""
    from web.serving import die_with_parent

    outcomes = []
    for parent in ("dead", "alive"):
        child = os.fork()
        if child == 0:  # pragma: no cover - the child
            signal.signal(signal.SIGTERM, lambda *_: None)  # as if inherited from a master
            die_with_parent(os.getppid() + (1 if parent == "dead" else 0))
            os.kill(os.getpid(), signal.SIGTERM)  # its master dying
            time.sleep(5)
            os._exit(7)
        _, status = os.waitpid(child, 0)
        outcomes.append(os.waitstatus_to_exitcode(status))
    assert outcomes == [0, -signal.SIGTERM]
