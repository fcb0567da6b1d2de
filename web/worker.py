"""The app as each `serve --workers N` process builds it, and the HTTP protocol it speaks.

uvicorn starts the workers itself, from an import string, so each one builds its own app from
the settings its parent handed down (`Settings.hand_to_workers`): it loads the model, serves the
published index version and watches for new ones, exactly as a single server does.

The supervisor loads and checks the published version once, before the workers exist, and
starts them by fork instead of uvicorn's spawn: each worker serves that same copy, whose pages
the kernel shares until a worker writes to them, instead of loading one of its own (passages,
articles and vocabulary as Python objects: 295 MiB a worker at 100,000 passages). Each worker
still loads the model itself: onnxruntime's threads do not survive a fork. A version published
later is loaded by each worker on its own.
"""

from __future__ import annotations

import asyncio
import signal
import socket
from typing import Any

from fastapi import FastAPI
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from assistant.search.loaded import LoadedIndex
from assistant.settings import current
from web.app import create_app

SHARED: LoadedIndex | None = None
"""The version the supervisor loaded before forking its workers; None when they were spawned."""


def app() -> FastAPI:
    if SHARED is not None:
        # A forked worker inherits the supervisor's handlers, which only queue a signal for
        # the supervisor's loop; uvicorn sets SIGINT and SIGTERM again, and these go back to
        # what a spawned worker does on them.
        for name in ("SIGHUP", "SIGTTIN", "SIGTTOU"):
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), signal.SIG_DFL)
    return create_app(current(), shared=SHARED)


def fork_sharing(index: LoadedIndex) -> None:
    """Have uvicorn fork its workers, which then serve `index` as this process loaded it
    (where uvicorn or the system cannot fork, they are spawned and load their own)."""
    import gc
    import multiprocessing

    import uvicorn._subprocess as workers

    global SHARED
    if "fork" not in multiprocessing.get_all_start_methods() or not hasattr(workers, "spawn"):
        return
    SHARED = index
    workers.spawn = multiprocessing.get_context("fork")  # type: ignore[assignment]
    # Out of the collector's sight: a worker's collections would otherwise write to every
    # object's header, and so copy every shared page into the worker.
    gc.freeze()


class NoDelayHTTP(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's HTTP protocol with TCP_NODELAY on every connection.

    A worker receives the listening socket from its parent; the socket it gets back reports
    protocol 0 instead of TCP, so asyncio does not set TCP_NODELAY on the connections it
    accepts, and a response's last segment waits for the client's delayed ACK: 40 ms on every
    answer (measured: a single client's p50 went from 13 to 57 ms with two workers)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sock: Any = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        super().connection_made(transport)
