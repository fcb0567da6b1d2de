"""The request guard's load shedding and slow-body cut-off, on a bare ASGI app (no model): what
a client sees when the server is full, and when it sends its body too slowly.

A real server with ten slow clients is in test_serve.py; the figures are in bench/."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

from starlette.responses import JSONResponse

from assistant.settings import current
from web.guard import OVERLOADED, RequestGuard


def reject(_request: Any, status: int, message: str, detail: Any) -> JSONResponse:
    return JSONResponse({"message": message, "detail": detail}, status_code=status)


class Held:
    """An app that answers only when released, so requests stay in flight."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.entered = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.entered += 1
        await self.release.wait()
        await JSONResponse({"ok": True})(scope, receive, send)


def scope(path: str = "/api/ask", method: str = "GET", headers: list | None = None) -> dict:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers or [],
    }


async def call(app: Any, request: dict, receive: Any = None) -> tuple[int, dict, bytes]:
    sent: list[dict] = []

    async def no_body() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await app(request, receive or no_body, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], headers, body


def in_own_loop(coroutine: Any) -> None:
    """Run a coroutine on a fresh event loop in its own thread: the suite's browser tests keep
    Playwright's loop running in the main thread for the session."""
    failure: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(coroutine)
        except BaseException as exc:  # handed to the test's thread, assertion errors included
            failure.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


def test_past_the_cap_a_request_gets_503_with_retry_after_and_health_still_answers():
    async def run() -> None:
        held = Held()
        guard = RequestGuard(held, reject=reject, max_in_flight=2)
        first = asyncio.create_task(call(guard, scope()))
        second = asyncio.create_task(call(guard, scope()))
        while held.entered < 2:
            await asyncio.sleep(0)
        status, headers, body = await call(guard, scope())
        assert status == 503 and headers["retry-after"] == "1"
        assert json.loads(body) == {"message": OVERLOADED, "detail": "Service Unavailable"}
        assert headers["content-type"] == "application/json"
        assert headers["cache-control"] == "no-store" and "content-security-policy" in headers
        health = asyncio.create_task(call(guard, scope("/api/health")))  # a balancer's check
        while held.entered < 3:
            await asyncio.sleep(0)
        held.release.set()
        assert [r[0] for r in await asyncio.gather(first, second, health)] == [200, 200, 200]
        assert guard.in_flight == 0
        assert (await call(guard, scope()))[0] == 200  # room again once they are answered

    in_own_loop(run())


def test_a_body_sent_a_byte_at_a_time_is_cut_off_with_408_at_the_bound():
    async def run() -> None:
        guard = RequestGuard(Held(), reject=reject, body_timeout=0.3)

        async def slow() -> dict:
            await asyncio.sleep(0.1)
            return {"type": "http.request", "body": b"{", "more_body": True}

        headers = [(b"content-length", b"100"), (b"content-type", b"application/json")]
        started = time.monotonic()
        status, sent, body = await call(guard, scope(method="POST", headers=headers), slow)
        waited = time.monotonic() - started
        assert status == 408 and sent["connection"] == "close"
        assert "did not arrive within 0.3 seconds" in json.loads(body)["message"]
        assert 0.3 <= waited < 5  # cut at the bound, not after the 10 s the body would take
        assert guard.in_flight == 0

    in_own_loop(run())


def test_clients_whose_body_never_comes_hold_no_place_under_the_cap():
    """The cap guards the answering: clients that send their headers and then nothing (a slow
    link, or someone locking the server out) must not hold places for the body's 10 s while
    every question gets 503."""

    async def run() -> None:
        guard = RequestGuard(Held(), reject=reject, max_in_flight=2, body_timeout=0.5)
        guard.app.release.set()  # answered at once once in
        never = asyncio.Event()

        async def nothing() -> dict:
            await never.wait()
            return {}

        headers = [(b"content-length", b"40"), (b"content-type", b"application/json")]
        stalled = [
            asyncio.create_task(call(guard, scope(method="POST", headers=headers), nothing))
            for _ in range(3)
        ]
        await asyncio.sleep(0.05)  # each waits for its body
        assert (await call(guard, scope()))[0] == 200
        assert [r[0] for r in await asyncio.gather(*stalled)] == [408, 408, 408]
        assert guard.in_flight == 0

    in_own_loop(run())


def test_a_host_not_allowed_gets_400_naming_the_setting_and_allowed_ones_pass():
    """DNS rebinding: a page on another site, its name pointed at 127.0.0.1, is the server's
    own origin to the browser; only the Host it sends still names that site."""
    allowed = current(allowed_hosts="localhost,127.0.0.1,[::1],*.wards.example").hosts
    anyone = current(allowed_hosts="*").hosts

    async def run() -> None:
        async def answered(host: bytes | None, hosts: frozenset[str] = allowed) -> tuple:
            held = Held()
            held.release.set()
            guard = RequestGuard(held, reject=reject, allowed_hosts=hosts)
            code, _, body = await call(
                guard, scope("/", headers=[] if host is None else [(b"host", host)])
            )
            return code, body

        for host in (b"127.0.0.1:8000", b"LOCALHOST", b"localhost.", b"[::1]:8000", b"[0::1]",
                     b"north.wards.example", b"a.north.wards.example:443", None):  # fmt: skip
            assert (await answered(host))[0] == 200, host
        for host in (b"rebind.attacker.example", b"127.0.0.1.attacker.example", b"wards.example",
                     b"evilwards.example", b"[::2]", b"", b"[::1]x.evil"):  # fmt: skip
            code, body = await answered(host)
            assert code == 400, host
            assert "MMN_ALLOWED_HOSTS" in json.loads(body)["message"]
        assert (await answered(b"x.example", anyone))[0] == 200
        # a balancer's or an orchestrator's probe names the replica by its (changing) address
        held = Held()
        held.release.set()
        guard = RequestGuard(held, reject=reject, allowed_hosts=allowed)
        probe = scope("/api/health", headers=[(b"host", b"10.0.0.7:8001")])
        assert (await call(guard, probe))[0] == 200

    in_own_loop(run())
