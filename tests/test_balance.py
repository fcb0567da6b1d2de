"""`serve --workers N` spreads connections over its workers (web/balance.py), and a worker that
stops answering does not keep clients waiting."""

import asyncio
import errno
import http.client
import json
import os
import re
import signal
import socket
import time
from collections import Counter
from pathlib import Path

import pytest
import uvicorn

from tests.conftest import run_loop, start_server, stop_server
from web import balance
from web.balance import ConnectionCounts


def test_counts_written_in_a_fork_are_read_in_its_parent():
    """The master makes the counts before it forks; each worker writes its own row."""
    counts = ConnectionCounts(4)
    row = counts.free_row(set())
    child = os.fork()
    if child == 0:  # a worker: accept, then publish its connections
        try:
            counts.join(row)
            counts.publish(row, 7, accepted=True)
            counts.publish(row, 7, accepted=True)  # one more, and one closed meanwhile
        finally:
            os._exit(0)
    os.waitpid(child, 0)
    assert counts.others(counts.free_row({row})) == ((7,), 2)
    assert counts.others(row) == ((), 0)  # a worker does not count itself
    counts.clear(row)  # the master, when that worker exits
    assert counts.others(3) == ((), 0)


def test_a_row_is_counted_only_while_its_worker_accepts_and_its_loop_runs(monkeypatch):
    counts = ConnectionCounts(2)
    counts.publish(0, 5)  # a stale count in a row no worker has joined
    assert counts.others(1) == ((), 0)
    counts.join(0)
    assert counts.others(1) == ((0,), 0)
    counts.clear(0)  # it stopped accepting (an error): not counted until it joins again
    counts.publish(0, 3)  # its loop still ticks
    assert counts.others(1) == ((), 0)
    counts.join(0)
    monkeypatch.setattr(balance, "STALE_S", 0.0)  # its loop has not written since
    time.sleep(0.001)
    assert counts.others(1) == ((), 0)


def test_a_new_worker_gets_a_free_row_and_none_when_all_are_held():
    """A reload's new generation may start while the old one still holds its rows: a worker
    without a row accepts as uvicorn does, and the master goes on."""
    counts = ConnectionCounts(3)
    counts.join(1)
    counts.publish(1, 4)
    assert counts.free_row({0}) == 1  # cleared for its new worker
    assert counts.others(0) == ((), 0)
    assert counts.free_row({0, 1, 2}) is None


class Refusing:
    """A listener whose accept fails as a process out of descriptors sees it."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))  # listening, no one connects

    def fileno(self) -> int:
        return self.sock.fileno()

    def accept(self):
        raise OSError(errno.EMFILE, "Too many open files")


def test_a_worker_that_cannot_accept_is_not_counted_until_it_can(monkeypatch):
    """Out of descriptors, a worker stops accepting for a while: meanwhile the others do not
    count it (they would step back, and shed clients, towards a worker that cannot take them),
    and it is counted again when it accepts again."""
    monkeypatch.setattr(balance, "ACCEPT_PAUSE_S", 0.05)
    counts = ConnectionCounts(2)
    listener = Refusing()

    async def run() -> tuple[tuple, tuple, tuple]:
        loop = asyncio.get_running_loop()
        server = balance.BalancedServer(uvicorn.Config(app=None), counts=counts, row=0)
        counts.join(0)
        server._listeners = [listener]
        loop.add_reader(listener.fileno(), server._readable, loop, listener)
        before = counts.others(1)
        server._readable(loop, listener)
        during = counts.others(1)
        await asyncio.sleep(0.1)
        loop.remove_reader(listener.fileno())
        return before, during, counts.others(1)

    try:
        before, during, after = run_loop(run())
    finally:
        listener.sock.close()
    assert before == ((0,), 0) and during == ((), 0) and after == ((0,), 0)


def test_a_worker_holding_more_steps_back_once_then_takes_what_no_one_took():
    """The rule each worker applies to a waiting connection, and to shedding, on counts it
    reads from the shared rows (row 0 this worker, row 1 the other)."""
    counts = ConnectionCounts(2)
    listener = Refusing()

    async def run() -> list[bool]:
        loop = asyncio.get_running_loop()
        server = balance.BalancedServer(uvicorn.Config(app=None), counts=counts, row=0)
        counts.join(0)
        counts.join(1)
        seen = [server._may_take(loop, listener)]  # 0 against 0: takes it
        server._arriving = {object(), object()}  # now it holds two, the other none
        seen.append(server._may_take(loop, listener))  # steps back
        seen.append(server._may_take(loop, listener))  # no one took it: takes it
        seen.append(server._may_take(loop, listener))  # steps back
        counts.publish(1, 0, accepted=True)  # the other took one (and one of its closed)
        seen.append(server._may_take(loop, listener))  # so it steps back again
        seen += [server.should_shed(), server.should_shed()]  # one client in 0.1 s
        seen.append(server._may_take(loop, listener))  # steps back
        seen.append(server._may_take(loop, listener))  # and does not take back what it shed
        server._arriving = set()
        return seen

    try:
        seen = run_loop(run())
    finally:
        listener.sock.close()
    assert seen == [True, False, True, False, False, True, False, False, False]


async def hello(scope, receive, send) -> None:
    """The smallest app: a kept-alive answer to any request."""
    await receive()
    headers = [(b"content-length", b"2")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok"})


def test_a_connection_accepted_as_its_worker_stops_is_answered_then_closed():
    """A connection accepted just before a worker is told to stop (a reload, a restart) is
    still on its way to uvicorn when uvicorn closes its connections: it must be among them,
    closed (its request answered first if uvicorn has read it), not left open for the
    worker's shutdown to wait on until the master kills it."""
    counts = ConnectionCounts(1)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    client = socket.create_connection(listener.getsockname(), timeout=5)
    client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")

    async def run() -> float:
        loop = asyncio.get_running_loop()
        config = uvicorn.Config(app=hello, lifespan="off", log_level="warning")
        config.load()
        server = balance.BalancedServer(config, counts=counts, row=0)
        server.lifespan = config.lifespan_class(config)  # as uvicorn's `serve` makes it
        await server.startup(sockets=[listener])
        server._readable(loop, listener)  # accepted; its protocol is made on a later turn
        started = time.monotonic()
        await asyncio.wait_for(server.shutdown(), 3)
        return time.monotonic() - started

    try:
        took = run_loop(run())
        received = b""
        while chunk := client.recv(4096):  # to the end: the worker closed it
            received += chunk
    finally:
        client.close()
        listener.close()
    assert received in (b"", b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"), received
    assert took < 1.5


def where(port: int, workers: set[str], clients: list[socket.socket]) -> dict[int, str]:
    """The worker holding each of `clients`' connections, by the client's port: the server's
    end of each (in /proc/net/tcp) and the workers' descriptors pointing at it. A connection
    still waiting to be accepted is waited for (up to 3 s)."""
    ours = {c.getsockname()[1] for c in clients}
    deadline = time.monotonic() + 3
    while True:
        inodes = {}
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
            client = int(remote.split(":")[1], 16)
            if int(local.split(":")[1], 16) == port and client in ours and state == "01":
                inodes[f"socket:[{inode}]"] = client
        held: dict[int, str] = {}
        for pid in workers:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                try:
                    link = os.readlink(fd)
                except OSError:
                    continue
                if link in inodes:
                    held[inodes[link]] = pid
        if len(held) >= len(ours) or time.monotonic() > deadline:
            return held
        time.sleep(0.05)


def holders(port: int, workers: set[str], clients: list[socket.socket]) -> Counter:
    """How many of `clients`' connections each worker holds."""
    return Counter(where(port, workers, clients).values())


def connected(clients: list[http.client.HTTPConnection]) -> list[socket.socket]:
    """The clients' sockets, reconnecting those the server asked to (`Connection: close`)."""
    for client in clients:
        if client.sock is None:
            client.connect()
    return [c.sock for c in clients]


def ask(connection: http.client.HTTPConnection, question: str) -> int:
    body = json.dumps({"question": question})
    try:
        connection.request("POST", "/api/ask", body, {"content-type": "application/json"})
        response = connection.getresponse()
    except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
        # the server closed it while it sat idle (uvicorn's keep-alive, 5 s): as a browser
        # does, open a new one
        connection.close()
        connection.request("POST", "/api/ask", body, {"content-type": "application/json"})
        response = connection.getresponse()
    response.read()
    return response.status


@pytest.mark.model
@pytest.mark.server
def test_two_workers_share_the_connections_and_a_stopped_one_holds_none(index_dir, tmp_path):
    """Sixteen kept-alive clients end up eight a worker, give or take one (gunicorn's shared
    socket alone gave one worker 13-15 of them). Connections that close are counted out. A
    worker that stops answering (SIGSTOP here) leaves new clients to the other, and when it
    comes back, the other asks clients to reconnect until they are even again."""
    log = tmp_path / "server.log"
    process, base = start_server(index_dir, log, "--workers", "2")
    port = int(base.rsplit(":", 1)[1])
    stopped = None
    try:
        deadline = time.monotonic() + 120
        while log.read_text().count("accepting its share of connections") < 2:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.25)
        workers = set(re.findall(r"Started server process \[(\d+)\]", log.read_text()))

        clients = [http.client.HTTPConnection("127.0.0.1", port, timeout=30) for _ in range(16)]
        for client in clients:
            client.connect()
        time.sleep(0.3)
        held = holders(port, workers, [c.sock for c in clients])
        assert sorted(held.values()) in ([8, 8], [7, 9]), held
        assert all(ask(c, "What is multifocal motor neuropathy?") == 200 for c in clients)
        held = holders(port, workers, connected(clients))

        # the clients of one worker leave; the counts follow, and newcomers go to that worker
        first = next(iter(held))
        by_port = where(port, workers, connected(clients))
        leaving = [c for c in clients if by_port[c.sock.getsockname()[1]] == first]
        for client in leaving:
            client.close()
        time.sleep(0.5)
        newcomers = [http.client.HTTPConnection("127.0.0.1", port, timeout=30) for _ in range(8)]
        for client in newcomers:
            client.connect()
        time.sleep(0.3)
        assert holders(port, workers, [c.sock for c in newcomers])[first] >= 7

        # a worker stops answering: clients arriving now are answered by the other
        stopped = first
        os.kill(int(stopped), signal.SIGSTOP)
        late = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(4)]
        for client in late:  # each at once: the other steps back 5 ms, then takes it
            started = time.monotonic()
            assert ask(client, "How is MMN treated?") == 200
            assert time.monotonic() - started < 1.0
        (other,) = workers - {stopped}
        assert holders(port, workers, connected(late)) == {other: 4}

        # it comes back: the other holds four more, and sheds two as its clients ask again
        os.kill(int(stopped), signal.SIGCONT)
        stopped = None
        everyone = [c for c in clients if c not in leaving] + newcomers + late
        deadline = time.monotonic() + 20
        while True:
            assert all(ask(c, "Which nerves does MMN affect?") == 200 for c in everyone)
            held = holders(port, workers, connected(everyone))
            counts = [held[pid] for pid in workers]
            if sum(counts) == len(everyone) and max(counts) - min(counts) <= 1:
                break
            assert time.monotonic() < deadline, held
    finally:
        if stopped is not None:
            os.kill(int(stopped), signal.SIGCONT)
        stop_server(process)
