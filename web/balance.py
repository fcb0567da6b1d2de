"""Connections spread evenly over `serve --workers N`'s processes.

gunicorn's workers share one listening socket, and the first to wake accepts. uvloop accepts
every connection waiting at once, so the worker that was idle a moment sooner takes nearly
all: measured (issue 24), one worker held 13-15 of 16 kept-alive connections and packed up to
15 questions a model call, while the other ran calls of one, the costly kind.

Here each worker accepts for itself (`BalancedServer`) and only while it holds no more
connections than the least loaded other worker (`ConnectionCounts`, a row per worker in memory
the master shares with its forks). A worker holding more steps back for `STEP_BACK_S`; if no
other worker took a connection meanwhile (it is busy, or stuck), it accepts after all, and a
worker whose loop has not written its row for `STALE_S` is not counted: a client never waits
on a worker that does not answer.

Kept-alive connections stay where they were accepted: those opened while the other worker was
starting, or restarting after a crash, would stay with one worker for as long as their clients
keep asking. So a worker holding two or more connections above the least loaded asks one
client every `SHED_EVERY_S` to reconnect (`Connection: close` on its response, which HTTP
clients and proxies honour), and the new connection goes to a worker with fewer.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import mmap
import os
import socket
import ssl
import time
from functools import partial

import numpy as np
import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("mmn_assistant.web")

STEP_BACK_S = 0.005
"""How long a worker holding more connections than another leaves a waiting one to the others.
A worker whose loop is free takes it within a tenth of a millisecond; under full load on two
cores its loop may wait a scheduler slice (a few ms) for a core."""

STALE_S = 0.5
"""A worker's row not written for this long is not counted. Each worker writes its row on
every tick of uvicorn's loop (0.1 s) and when it accepts; a worker that stops (SIGSTOP, a hung
loop) then costs new clients at most this long of steps back."""

ACCEPT_PAUSE_S = 1.0
"""After an accept that failed for want of resources (descriptors, memory), how long to stop
accepting, as asyncio's own servers do: the connection stays queued, and trying again at once
would spin."""

LOST = {
    errno.EPROTO, errno.EPERM, errno.ENETDOWN, errno.ENOPROTOOPT, errno.EHOSTDOWN,
    errno.ENONET, errno.EHOSTUNREACH, errno.EOPNOTSUPP, errno.ENETUNREACH,
}  # fmt: skip
"""Errors of accept(2) that took one connection with them (Linux's man page: retry, as for
EAGAIN). Any other (descriptors or memory run out, a broken listener) pauses accepting."""

CONNECT_WAIT_S = 1.0
"""When a worker stops, how long the connections it has accepted may take to become uvicorn's
(a TLS handshake); those still on their way are then closed."""

SHED_EVERY_S = 0.1
"""At most one client a worker is asked to reconnect in this long: the counts move (and are
written) before the next, so the workers do not shed more than the imbalance."""


class ConnectionCounts:
    """Each worker's open connections, in an anonymous shared mapping made by the master before
    it forks: a row per worker (its pid while it accepts, its connections, when it last wrote,
    how many it has accepted), each written by its worker only; the master clears a row when
    its worker exits. A row not written for `STALE_S` is not counted: its worker's loop does
    not run (stopped, stuck)."""

    def __init__(self, rows: int) -> None:
        self._memory = mmap.mmap(-1, max(1, rows) * 32)  # MAP_SHARED: forks see every write
        self._rows = np.frombuffer(self._memory, dtype=np.int64).reshape(-1, 4)

    def free_row(self, taken: set[int]) -> int | None:
        """A row for a new worker (in the master, before it forks): one no live worker holds,
        cleared; None when every row is held (the worker then accepts as uvicorn does)."""
        row = next((i for i in range(len(self._rows)) if i not in taken), None)
        if row is not None:
            self.clear(row)
        return row

    def clear(self, row: int) -> None:
        self._rows[row] = 0

    def join(self, row: int) -> None:
        """This worker accepts from now on: the others count it."""
        self._rows[row] = (os.getpid(), 0, _now_us(), 0)

    def publish(self, row: int, count: int, *, accepted: bool = False) -> None:
        self._rows[row, 1:3] = (count, _now_us())
        if accepted:
            self._rows[row, 3] += 1

    def others(self, row: int) -> tuple[tuple[int, ...], int]:
        """The connections of every other accepting worker whose loop wrote lately, and how
        many those workers have accepted in all (which moves whenever one takes a connection,
        even if another of its connections closed meanwhile)."""
        fresh = _now_us() - int(STALE_S * 1e6)
        rows = [
            (count, accepted)
            for i, (pid, count, written, accepted) in enumerate(self._rows.tolist())
            if pid and i != row and written >= fresh
        ]
        return tuple(count for count, _ in rows), sum(accepted for _, accepted in rows)


def _now_us() -> int:
    """CLOCK_MONOTONIC, which every process on the machine reads alike, in microseconds."""
    return time.monotonic_ns() // 1000


class BalancedServer(uvicorn.Server):
    """uvicorn's server accepting on gunicorn's shared sockets itself, one connection a
    readiness, while this worker is among the least loaded (`ConnectionCounts`)."""

    def __init__(self, config: uvicorn.Config, *, counts: ConnectionCounts, row: int) -> None:
        super().__init__(config)
        self.counts = counts
        self.row = row
        self._listeners: list[socket.socket] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._arriving: set[object] = set()
        """Accepted connections not yet among uvicorn's: their socket, then their protocol."""
        self._stepped_back: tuple[float, int] | None = None
        """When this worker last left a connection to the others, and their accepts then."""
        self._paused: dict[int, asyncio.TimerHandle] = {}
        self._left = False
        """Accepting is paused for an error: the others do not count this worker meanwhile."""
        self._shed_at = 0.0

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn runs the lifespan and marks itself started; its own servers would accept
        # every waiting connection at once, so it gets none, and the listeners are read here
        await super().startup(sockets=[])
        if not self.started or self.should_exit:
            return
        loop = asyncio.get_running_loop()
        self._protocol = partial(  # what uvicorn's own servers make a connection's protocol with
            self.config.http_protocol_class,
            config=self.config,  # type: ignore[call-arg]
            server_state=self.server_state,
            app_state=self.lifespan.state,
        )
        self._listeners = [getattr(s, "sock", s) for s in sockets or []]
        # each connection's protocol takes the app from here when it is made
        self.config.loaded_app = Shedding(self.config.loaded_app, self)
        self.counts.join(self.row)
        log.info("accepting its share of connections (row %d)", self.row)
        for listener in self._listeners:
            loop.add_reader(listener.fileno(), self._readable, loop, listener)

    def _open(self) -> int:
        """This worker's connections, each once: uvicorn's, and those on their way to it."""
        connections = self.server_state.connections
        if self._arriving:
            self._arriving = {a for a in self._arriving if a not in connections}
        return len(connections) + len(self._arriving)

    def over_share(self) -> bool:
        """This worker holds two or more connections above the least loaded other."""
        others, _ = self.counts.others(self.row)
        return bool(others) and self._open() > min(others) + 1

    def should_shed(self) -> bool:
        """Whether the response starting now should ask its client to reconnect: this worker
        is over its share and has not asked one lately (decided as the response starts, so
        the connection closes, and the counts move, before the next)."""
        now = time.monotonic()
        if now - self._shed_at < SHED_EVERY_S or not self.over_share():
            return False
        self._shed_at = now
        return True

    def _readable(self, loop: asyncio.AbstractEventLoop, listener: socket.socket) -> None:
        """A connection waits on `listener`: take it, or leave it to a less loaded worker."""
        if self.should_exit:  # told to stop: it waits for a worker that will answer it
            loop.remove_reader(listener.fileno())
            return
        if not self._may_take(loop, listener):
            return
        try:
            connection, _ = listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return  # another worker took it, or its client left
        except OSError as exc:
            if exc.errno not in LOST:  # out of descriptors or memory, or a broken listener:
                # the connection stays queued, and the others take it meanwhile
                log.warning("cannot accept connections for %.0f s (%s)", ACCEPT_PAUSE_S, exc)
                self._left = True
                self.counts.clear(self.row)
                self._pause(loop, listener, ACCEPT_PAUSE_S)
            return
        connection.setblocking(False)
        self._arriving.add(connection)
        task = loop.create_task(self._connect(loop, connection))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self.counts.publish(self.row, self._open(), accepted=True)

    def _may_take(self, loop: asyncio.AbstractEventLoop, listener: socket.socket) -> bool:
        mine, (others, accepted) = self._open(), self.counts.others(self.row)
        if not others or mine <= min(others):
            self._stepped_back = None
            return True
        now = time.monotonic()
        if (
            self._stepped_back is not None
            and now - self._stepped_back[0] < 20 * STEP_BACK_S
            and self._stepped_back[1] == accepted
            and now - self._shed_at > STALE_S  # a client it shed is not taken back
        ):  # no one took it while this worker stood back: the others are busy or stuck
            self._stepped_back = None
            return True
        self._stepped_back = (now, accepted)
        self._pause(loop, listener, STEP_BACK_S)
        return False

    def _pause(
        self, loop: asyncio.AbstractEventLoop, listener: socket.socket, delay: float
    ) -> None:
        fd = listener.fileno()
        loop.remove_reader(fd)
        self._paused[fd] = loop.call_later(delay, self._resume, loop, listener)

    def _resume(self, loop: asyncio.AbstractEventLoop, listener: socket.socket) -> None:
        self._paused.pop(listener.fileno(), None)
        if self.should_exit:
            return
        if self._left:  # counted again
            self._left = False
            self.counts.join(self.row)
            self.counts.publish(self.row, self._open())
        loop.add_reader(listener.fileno(), self._readable, loop, listener)

    async def _connect(self, loop: asyncio.AbstractEventLoop, connection: socket.socket) -> None:
        protocol: asyncio.BaseProtocol | None = None

        def made() -> asyncio.BaseProtocol:  # uvicorn counts it once connected, not yet
            nonlocal protocol
            protocol = self._protocol()
            self._arriving.discard(connection)
            self._arriving.add(protocol)
            return protocol

        try:
            await loop.connect_accepted_socket(made, connection, ssl=self.config.ssl)
        except asyncio.CancelledError:  # the worker stops (`shutdown`)
            connection.close()
            raise
        except Exception as exc:  # noqa: BLE001 - one connection lost, the server goes on
            connection.close()
            level = logging.DEBUG if isinstance(exc, ssl.SSLError) else logging.WARNING
            log.log(level, "a connection was dropped as it opened (%s)", exc)
        finally:
            self._arriving.discard(connection)
            self._arriving.discard(protocol)

    async def on_tick(self, counter: int) -> bool:
        if self._listeners:  # the count, and that this worker's loop runs
            self.counts.publish(self.row, self._open())
        return await super().on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Stop accepting, leave the others' counts, let the connections just accepted become
        uvicorn's (`CONNECT_WAIT_S`), then uvicorn's own shutdown closes them all."""
        loop = asyncio.get_running_loop()
        for listener in self._listeners:
            loop.remove_reader(listener.fileno())
        for handle in self._paused.values():
            handle.cancel()
        self._paused.clear()
        if self._listeners:
            self.counts.clear(self.row)
        if self._tasks:  # accepted, not yet uvicorn's: it would neither close nor answer them,
            # and would wait on them until the master kills this worker
            _, late = await asyncio.wait(set(self._tasks), timeout=CONNECT_WAIT_S)
            for task in late:  # a TLS handshake that does not end
                task.cancel()
        await super().shutdown(sockets)


class Shedding:
    """ASGI middleware: while `server` is over its share, a response it picks asks its client
    to reconnect (`Connection: close`). Only once the request's body is read whole: closing
    with bytes unread would reset the connection, and the client could lose the response
    (an early 413, a 503)."""

    def __init__(self, app: ASGIApp, server: BalancedServer) -> None:
        self.app = app
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.server.over_share():
            await self.app(scope, receive, send)
            return
        names = {name for name, _ in scope["headers"]}
        read = b"content-length" not in names and b"transfer-encoding" not in names

        async def receiving() -> Message:
            nonlocal read
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body", False):
                read = True
            return message

        async def closing(message: Message) -> None:
            if message["type"] == "http.response.start" and read:
                headers = list(message.get("headers", []))
                closes = any(
                    n.lower() == b"connection" and b"close" in v.lower() for n, v in headers
                )
                if not closes and self.server.should_shed():
                    message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receiving, closing)
