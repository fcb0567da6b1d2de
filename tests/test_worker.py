"""`serve --workers`: how gunicorn is set up and the HTTP protocol each worker speaks (workers
are started for real in test_serve.py and test_live_swap.py)."""

from __future__ import annotations

from typing import Any

from assistant.settings import Settings


def test_worker_connections_send_small_responses_at_once():
    """An accepted socket may come without TCP_NODELAY; the worker's protocol sets it, or each
    answer may wait 40 ms for the client's delayed ACK."""
    import socket

    import uvicorn
    from uvicorn.server import ServerState

    from web.serving import NoDelayHTTP

    class Transport:
        def __init__(self, sock: socket.socket) -> None:
            self.sock = sock

        def get_extra_info(self, name: str) -> Any:
            return {
                "socket": self.sock,
                "sockname": self.sock.getsockname(),
                "peername": self.sock.getpeername(),
            }.get(name)

        def is_closing(self) -> bool:
            return False

    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        accepted, _ = server.accept()
        with client, accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
            config = uvicorn.Config(app=None)
            config.load()
            protocol = NoDelayHTTP(config=config, server_state=ServerState(), app_state={})
            protocol.connection_made(Transport(accepted))
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


def test_gunicorn_preloads_forks_uvicorn_workers_and_stops_within_the_grace():
    """The master makes the app once and forks the workers from it; on SIGTERM they have
    GRACE_S to finish what is in flight, and the master kills them only once their shutdown
    has had its own time too; no access log, no control socket shared by servers."""
    from web.serving import GRACE_S, SHUTDOWN_S, NoDelayHTTP, Prefork, Worker

    settings = Settings(workers=3)
    cfg = Prefork(settings, None, host="127.0.0.1", port=8123).cfg
    assert cfg.bind == ["127.0.0.1:8123"] and cfg.workers == 3
    assert cfg.preload_app and cfg.worker_class is Worker
    assert cfg.graceful_timeout == GRACE_S + SHUTDOWN_S
    assert cfg.accesslog is None and cfg.control_socket_disable
    assert Worker.CONFIG_KWARGS["http"] is NoDelayHTTP
    assert Worker.CONFIG_KWARGS["access_log"] is False
    assert Worker.CONFIG_KWARGS["timeout_graceful_shutdown"] == GRACE_S
    assert Prefork(settings, None, host="::1", port=8123).cfg.bind == ["[::1]:8123"]
