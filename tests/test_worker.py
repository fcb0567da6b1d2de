"""`serve --workers`: the HTTP protocol each worker speaks (a worker is started for real in
test_serve.py)."""

from __future__ import annotations

from typing import Any


def test_worker_connections_send_small_responses_at_once():
    """A worker's accepted sockets come without TCP_NODELAY (their listening socket reports
    protocol 0); the worker's protocol sets it, or each answer waits 40 ms for a delayed ACK."""
    import socket

    import uvicorn
    from uvicorn.server import ServerState

    from web.worker import NoDelayHTTP

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
