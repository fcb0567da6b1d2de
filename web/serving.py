"""`serve`'s processes: one uvicorn server in this process, or gunicorn's pre-fork workers.

`serve --workers 1` runs uvicorn here, with the model loaded before it reports healthy.
`serve --workers N` runs gunicorn as a library (`Prefork`, a `BaseApplication`) with a uvicorn
worker class. Its master preloads: it loads and checks the published index version once (a
damaged one stops `serve` there), makes the app around it, and forks the workers, which serve
that same copy: the passages, articles and vocabulary (295 MiB of Python objects at 100,000
passages) sit in memory once, their pages shared until a worker writes to them. Each worker
loads the model in the app's lifespan (onnxruntime's threads do not survive a fork, so the
master never runs the model), watches for new versions and swaps them in on its own.

When there is no index yet, the build (which runs the model) happens in a child process, so
that the master stays fit to fork.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import ipaddress
import logging
import logging.config
import os
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any

import uvicorn
from fastapi import FastAPI
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from uvicorn.protocols.http.auto import AutoHTTPProtocol
from uvicorn_worker import UvicornWorker

from assistant.embed import SentenceTransformerEmbedder
from assistant.embed.embedding import fine_tuned_embedder
from assistant.engine import Engine, fine_tuned_model
from assistant.errors import AssistantError
from assistant.search.loaded import LoadedIndex, load_index
from assistant.settings import Settings
from assistant.store import has_index, versions
from assistant.store.directory import nothing_published
from web.app import create_app
from web.balance import BalancedServer, ConnectionCounts
from web.guard import LOG_CONFIG

log = logging.getLogger("mmn_assistant.web")

GRACE_S = 10
"""On SIGTERM, requests in flight have this long to finish; gunicorn's master kills what is
left of its workers when it has passed."""

SHUTDOWN_S = 7
"""What a worker's shutdown may add to `GRACE_S` before gunicorn's master kills it: uvicorn's
next tick, the connections just accepted (`web.balance.CONNECT_WAIT_S`), and the lifespan's
end, which waits up to 5 s for a version being loaded."""

PR_SET_PDEATHSIG = 1
"""prctl(2): the signal a process receives when its parent dies (Linux)."""

HEARTBEAT_S = 120
"""A gunicorn worker silent for this long is killed and replaced. A worker is silent until its
lifespan has loaded the model: on a first start that includes exporting it to ONNX (16 s alone,
more with every worker exporting at once on two cores)."""


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost: addresses no other machine can reach."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False


def bind_problem(host: str, port: int) -> str | None:
    """Why the server could not listen on host:port, said before the model and index load (a
    minute of start-up, then uvicorn's log line and exit 3), or None. A check, not a hold: the
    server binds for itself right after."""
    import errno

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        return f"cannot find the host {host!r} ({exc}); give an address such as 127.0.0.1"
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn and gunicorn
        try:
            probe.bind(address)
        except OSError as exc:
            why = {
                errno.EADDRINUSE: "is already in use (another server?); stop it, or choose "
                "another --port",
                errno.EACCES: "needs privileges this user lacks; choose a --port above 1023",
                errno.EADDRNOTAVAIL: "is not an address of this machine; check --host",
            }.get(exc.errno or 0, f"cannot be used ({exc.strerror})")
            return f"{host}:{port} {why}"
    return None


def serve(
    settings: Settings,
    *,
    host: str,
    port: int,
    embedder: SentenceTransformerEmbedder,
    build: Callable[[], object],
) -> None:
    """Serve `settings.index_dir` on host:port with `settings.workers` processes until SIGTERM
    or Ctrl-C; `build()` makes the index first when there is none. Raises `AssistantError`
    when there is no usable version to serve."""
    index_dir = settings.index_dir
    single = settings.workers == 1
    if not has_index(index_dir):
        if versions(index_dir):  # the pointer deleted: a build would publish the corpus's
            raise AssistantError(nothing_published(index_dir))  # edits nobody has reviewed
        if single:  # this process runs the model anyway
            build()
        else:  # the build runs the model, and a master that has cannot fork: in a child
            run_apart(build)
    try:  # a damaged version stops us here, once
        if single:
            embedder.load()  # healthy means ready: the first question does not wait for the model
            engine = Engine.open(index_dir, embedder, settings=settings)
            warmed = engine.warm()
        else:
            loaded = check_published(settings, embedder)
    except AssistantError as exc:
        raise AssistantError(
            f"{exc}\nNo usable index version to serve. Rebuild it with `mmn-assistant build "
            f"--index-dir {index_dir}`, or publish the version before it with "
            "`mmn-assistant build --rollback`."
        ) from None
    logging.config.dictConfig(LOG_CONFIG)
    if not is_loopback(host):
        log.warning(
            "binding to %s: this server answers other machines; its answers have no login. It "
            "answers requests for the hosts %s only (MMN_ALLOWED_HOSTS)",
            host,
            settings.allowed_hosts,
        )
    if single:
        log.info("warmed: one answer in %.0f ms before serving", warmed * 1000)
        # The app logs one line per request without the query string (a question's text);
        # uvicorn's access log would print it, so it is off.
        uvicorn.run(
            create_app(settings, engine=engine, watch=True),
            host=host,
            port=port,
            log_level="info",
            log_config=LOG_CONFIG,
            access_log=False,
            timeout_graceful_shutdown=GRACE_S,
            # X-Forwarded-For names the client only from a proxy the operator named: uvicorn
            # would believe it from any local process, which then escapes the address limits
            proxy_headers=bool(settings.forwarded_allow_ips),
            forwarded_allow_ips=settings.forwarded_allow_ips or None,
        )
        return
    Prefork(settings, loaded, host=host, port=port).run()


def check_published(settings: Settings, embedder: SentenceTransformerEmbedder) -> LoadedIndex:
    """Load and check the published version as `Engine.open` does, without running a model:
    against the weights of the model that will serve it (a fine-tuned version's own, whose
    files are hashed here and loaded only by the workers)."""
    tuned = fine_tuned_model(settings.index_dir)
    model = embedder
    if tuned is not None:
        model = fine_tuned_embedder(tuned, settings, settings.index_dir / "models")
    loaded = load_index(settings.index_dir, model.info)
    Engine(loaded, model, settings=settings)  # reads the ranker too; the model is not loaded
    return loaded


def run_apart(work: Callable[[], object]) -> None:
    """Run `work` in a forked child and raise its `AssistantError` here: what it starts (the
    model's threads) and loads dies with the child."""
    if not hasattr(os, "fork"):  # pragma: no cover - not Linux: work in this process
        work()
        return
    read, write = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the child: report and leave without running any of the parent's cleanup
        die_with_parent(parent)  # a stopped `serve` does not leave its build running, locked
        os.close(read)
        code = 0
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 - every failure goes to the parent
            code = 1
            message = str(exc) if isinstance(exc, AssistantError) else f"{exc!r}"
            os.write(write, message.encode("utf-8", "replace"))
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        message = pipe.read().decode("utf-8", "replace")
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise AssistantError(message or "the build stopped without a word")


class Prefork(BaseApplication):
    """gunicorn, configured here rather than from its command line or a file: it binds
    host:port, preloads the app around the version `loaded` and forks `settings.workers`
    `Worker`s from it."""

    def __init__(self, settings: Settings, loaded: LoadedIndex, *, host: str, port: int) -> None:
        self._settings = settings
        self._loaded = loaded
        # a row per worker, and room for a reload's new generation while the old one stops
        self.counts = ConnectionCounts(4 * settings.workers)
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._options: dict[str, Any] = {
            "bind": [address],
            "workers": settings.workers,
            "worker_class": Worker,
            "preload_app": True,
            "graceful_timeout": GRACE_S + SHUTDOWN_S,
            "timeout": HEARTBEAT_S,
            "keepalive": 5,  # uvicorn's own default, as with one process
            "loglevel": "info",
            "accesslog": None,  # it would print every address with its query string
            "forwarded_allow_ips": settings.forwarded_allow_ips,  # "": no proxy is believed
            # gunicorn's control socket (~/.gunicorn/gunicorn.ctl by default) would be one
            # path for every server on the machine; nothing here uses it.
            "control_socket_disable": True,
            "pre_fork": self.give_row,
            "post_fork": stop_with_master,
            "child_exit": self.take_row,
        }
        super().__init__()

    def load_config(self) -> None:
        for name, value in self._options.items():
            self.cfg.set(name, value)

    def load(self) -> FastAPI:
        """The app, made once in the master (preload): each worker gets it, and the version
        in it, by fork. Its lifespan, run in each worker, loads the model."""
        app = create_app(self._settings, shared=self._loaded)
        # Out of the collector's sight: a worker's collections would otherwise write to every
        # object's header, and so copy every shared page into the worker.
        gc.freeze()
        return app

    def give_row(self, arbiter: Arbiter, worker: Any) -> None:
        """gunicorn's pre_fork hook, in the master: the new worker's row of connection counts."""
        workers = arbiter.WORKERS.values()
        taken = {
            w.connection_row for w in workers if w is not worker and w.connection_row is not None
        }
        worker.connection_counts = self.counts
        worker.connection_row = self.counts.free_row(taken)

    def take_row(self, _: Arbiter, worker: Any) -> None:
        """gunicorn's child_exit hook, in the master: a worker that died holds no connections."""
        if worker.connection_row is not None:
            self.counts.clear(worker.connection_row)


def stop_with_master(_: Any, worker: Any) -> None:
    """gunicorn's post_fork hook, in each new worker: the worker gets SIGTERM (and stops as on
    any SIGTERM) when its master dies. A master killed outright (SIGKILL, the OOM killer) would
    otherwise leave its workers serving on their own, holding the port its restart must bind
    (measured: uvicorn's own workers outlived their killed supervisor by minutes)."""
    die_with_parent(worker.ppid)


def die_with_parent(parent: int) -> None:
    """In a forked child: SIGTERM when `parent` dies, and exit now if it already has. Until the
    child installs handlers of its own, SIGTERM kills it: the parent's handlers it inherited
    would take the signal for the parent's and do nothing."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(0)


def stop(server: uvicorn.Server) -> None:
    """Stop as on SIGTERM: requests in flight are finished, then the lifespan's shutdown."""
    server.should_exit = True


class NoDelayHTTP(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's HTTP protocol with TCP_NODELAY on every connection.

    Without it a response's last segment may wait for the client's delayed ACK: 40 ms on every
    answer (measured with uvicorn's own workers, whose sockets reported protocol 0 so asyncio
    did not set it: a single client's p50 went from 13 to 57 ms). gunicorn sets TCP_NODELAY
    on its listening socket and Linux passes it on to accepted ones; this protocol sets it
    whatever the platform does."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sock: Any = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        super().connection_made(transport)


class Worker(UvicornWorker):
    """A gunicorn worker running uvicorn: the app's own request log only (uvicorn's access log
    is off), TCP_NODELAY, requests in flight finished on SIGTERM, and connections accepted
    while the worker holds no more than the others (`web.balance`)."""

    CONFIG_KWARGS: dict[str, Any] = {
        **UvicornWorker.CONFIG_KWARGS,
        "http": NoDelayHTTP,
        "access_log": False,
        "timeout_graceful_shutdown": GRACE_S,
    }

    connection_counts: ConnectionCounts
    connection_row: int | None = None
    """Given by the master before the fork (`Prefork.give_row`); None: every row is held (a
    reload's generations overlapping), and this worker accepts as uvicorn does."""

    async def _serve(self) -> None:
        """uvicorn_worker's own, with a server that accepts only its share of connections, and
        that stops on SIGQUIT: gunicorn's master sends it on its own SIGINT or SIGQUIT, and
        uvicorn_worker's handler only marks the gunicorn worker stopped, which nothing reads,
        so the master killed the workers when their grace ran out."""
        self.config.app = self.wsgi
        server = (
            uvicorn.Server(self.config)
            if self.connection_row is None
            else BalancedServer(self.config, counts=self.connection_counts, row=self.connection_row)
        )
        asyncio.get_running_loop().add_signal_handler(signal.SIGQUIT, stop, server)
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
