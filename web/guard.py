"""The outermost layer of the app: every request passes here before any route or model work.

It refuses what no route should see (an address or a body over the limits, a body that is not
UTF-8 JSON, JSON nested deeper than a request ever is), puts the security headers on every
response, errors and static files included, answers a crash with a clean 500 instead of a stack
trace, and logs one structured line per request. The line holds the method, the path without
its query string, the status and the latency: questions may carry patient details, so their
text is logged only when `Settings.log_questions` is set.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs, unquote_to_bytes

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.config import LOGGING_CONFIG

from assistant.limits import MAX_BODY_BYTES, MAX_JSON_DEPTH, MAX_URL_BYTES
from assistant.settings import host_name

request_log = logging.getLogger("mmn_assistant.requests")

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    # An answer's address holds its question: it never leaves for another site. Same-origin
    # (not no-referrer) so that the browser names our origin on the feedback form's POST.
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}

LOG_CONFIG: dict[str, Any] = {
    **LOGGING_CONFIG,
    "formatters": {**LOGGING_CONFIG["formatters"], "line": {"format": "%(message)s"}},
    "handlers": {
        **LOGGING_CONFIG["handlers"],
        "requests": {
            "class": "logging.StreamHandler",
            "formatter": "line",
            "stream": "ext://sys.stderr",
        },
    },
    "loggers": {
        **LOGGING_CONFIG["loggers"],
        "mmn_assistant": {"handlers": ["default"], "level": "INFO", "propagate": False},
        "mmn_assistant.requests": {"handlers": ["requests"], "level": "INFO", "propagate": False},
    },
}
"""uvicorn's logging plus the app's loggers, for `serve`: the request log as bare JSON lines on
stderr, the rest as uvicorn prints it. `serve` turns uvicorn's access log off: it prints every
address with its query string, and so the text of every question asked on the page."""

PRIVATE_PATHS = frozenset({"/ask", "/api/ask", "/feedback"})
"""Responses that hold a question: never kept by a shared cache or the browser's history."""


def private(path: str) -> bool:
    """Whether a response to `path` holds a question or the desk's work: `no-store`."""
    return path in PRIVATE_PATHS or path == "/desk" or path.startswith("/desk/")


@lru_cache(maxsize=64)
def shortcut_headers(path: str) -> tuple[tuple[bytes, bytes], ...]:
    """The headers of a shortcut's JSON answer to `path`, but its length: what a Starlette
    JSON `Response` passed through `RequestGuard` carries, made once a path, not per answer."""
    raw = [(b"content-type", b"application/json")]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in SECURITY_HEADERS.items()]
    return tuple(raw + [(b"cache-control", b"no-store")] if private(path) else raw)


UNCOUNTED_PATHS = frozenset({"/api/health"})
"""Answered even when the server is full: a load balancer's health check must not see a busy
server as a dead one."""
OVERLOADED = "the server is answering as many questions as it can at once; try again in a second"

LOGGED_PATH_CHARS = 200
"""A path is cut to this length in the log, so a hostile address cannot flood it."""

Reject = Callable[[Request, int, str, Any], Response]
"""Builds an error response: (request, status, message, detail); JSON or a page by path."""
Shortcut = Callable[[Scope, bytes], Awaitable[bytes | None]]
"""Answers a POST to one path from its body with a JSON body, or None to pass the request on
to the app's route (see `RequestGuard`). Bodies are checked as JSON (`check_json_body`) under
/api/ only: a shortcut elsewhere reads them as sent."""

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*+"')
_NOT_BRACKET = re.compile(rb"[^\[\]{}]")
_JSON_TYPE = re.compile(r"^application/(?:[\w.+-]+\+)?json\s*(?:;.*)?$", re.IGNORECASE)


class Refusal(Exception):
    """A request refused before it reaches a route: its status, message and detail."""

    def __init__(self, status: int, message: str, detail: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.detail = status, message, detail


def json_depth(body: bytes) -> int:
    """How deeply a JSON text nests, counted without parsing it (strings are skipped)."""
    depth = deepest = 0
    for byte in _NOT_BRACKET.sub(b"", _STRING.sub(b"", body)):
        depth += 1 if byte in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest


def check_url(scope: Scope) -> None:
    """The address: short enough, and its query string percent-encoded UTF-8."""
    path = scope.get("raw_path") or scope["path"].encode()
    query: bytes = scope.get("query_string", b"")
    if len(path) + len(query) > MAX_URL_BYTES:
        raise Refusal(
            414,
            f"the address is {len(path) + len(query)} bytes long; the limit is {MAX_URL_BYTES}. "
            "Ask a shorter question, or start a new conversation",
            "URI Too Long",
        )
    try:
        unquote_to_bytes(query.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        raise Refusal(
            400,
            "the address holds bytes that are not UTF-8 text once percent-decoded; "
            "encode the question as UTF-8",
            "Bad Request",
        ) from None


class Hosts:
    """The names a request's Host may give (`Settings.allowed_hosts`): a page on another site
    whose name an attacker points at 127.0.0.1 (DNS rebinding) reaches this server as its own
    origin, so the origin and form-token checks pass; its Host still names the attacker's site."""

    def __init__(self, allowed: frozenset[str]) -> None:
        self.any = "*" in allowed
        self.names = frozenset(a for a in allowed if not a.startswith("*"))
        self.suffixes = tuple(a[1:] for a in allowed if a.startswith("*."))

    def allow(self, name: str) -> bool:
        return self.any or name in self.names or name.endswith(self.suffixes)


def check_host(scope: Scope, hosts: Hosts | None = None) -> None:
    """One Host header at most (RFC 9112, 3.2): with two, a proxy and this server could each
    believe another. h11 refused these itself; httptools, which uvicorn now uses, lets them by.
    With `hosts`, its name must be one of them; a request without Host (HTTP/1.0, never a
    browser's) passes."""
    given = [value for name, value in scope.get("headers", ()) if name == b"host"]
    if len(given) > 1:
        raise Refusal(400, "the request has more than one Host header; send one", "Bad Request")
    if (
        hosts is not None
        and given
        and not hosts.allow(name := host_name(given[0].decode("latin-1")))
    ):
        shown = name if len(name) <= LOGGED_PATH_CHARS else name[:LOGGED_PATH_CHARS] + "…"
        raise Refusal(
            400,
            f"this server does not answer for the host {shown!r}; its operator lists the names "
            "it answers for in MMN_ALLOWED_HOSTS",
            "Bad Request",
        )


def check_json_body(headers: Headers, body: bytes) -> None:
    """A body for the JSON API: sent as JSON, in UTF-8, nested no deeper than a request."""
    content_type = headers.get("content-type", "")
    if not _JSON_TYPE.match(content_type):
        raise Refusal(
            415,
            f"the body is sent as {repr(content_type) if content_type else 'no content type'}; "
            "send a JSON object with the header Content-Type: application/json",
            "Unsupported Media Type",
        )
    try:
        body.decode("utf-8")
        if b"\x00" in body:  # never in JSON text; present when it is UTF-16 or UTF-32
            raise UnicodeError
    except UnicodeError:
        raise _invalid("the body is not UTF-8 text; send the JSON encoded as UTF-8") from None
    opened = body.count(b"[") + body.count(b"{")  # a text nests no deeper than this
    if opened > MAX_JSON_DEPTH and (depth := json_depth(body)) > MAX_JSON_DEPTH:
        raise _invalid(
            f"the body nests {depth} levels deep; a request is an object of strings, a list "
            f"of strings and a number, and at most {MAX_JSON_DEPTH} levels are read"
        )


def _invalid(message: str) -> Refusal:
    return Refusal(422, message, [{"type": "body_invalid", "loc": ["body"], "msg": message}])


class RequestGuard:
    """Pure ASGI middleware, so it sees every response, including those of mounted static files."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        reject: Reject,
        log_questions: bool = False,
        max_in_flight: int = 64,
        body_timeout: float = 10.0,
        shortcuts: Mapping[str, Shortcut] | None = None,
        allowed_hosts: frozenset[str] | None = None,
    ) -> None:
        self.app = app
        self.hosts = None if allowed_hosts is None else Hosts(allowed_hosts)
        self.shortcuts = dict(shortcuts or {})
        """POSTs answered here when they can be: the JSON API's answer skips the framework's
        per-request work (routing, dependencies, exception layers: 0.2 ms of a 5.2 ms answer,
        issue 24); any request the shortcut declines goes to the route, which answers it as
        before, refusals and their documented shapes included."""
        self.reject = reject
        self.log_questions = log_questions
        self.max_in_flight = max_in_flight
        self.body_timeout = body_timeout
        self.in_flight = 0
        """Requests being answered now (one event loop per process: a plain count is safe)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        sent: dict[str, int] = {}
        body = b""
        counted = scope["path"] not in UNCOUNTED_PATHS and not scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                sent["status"] = message["status"]
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                if private(scope["path"]):  # a question may hold patient details; the desk, more
                    headers["Cache-Control"] = "no-store"
            await send(message)

        try:
            try:
                # a balancer's or orchestrator's probe names the replica by its address (a pod's
                # IP changes): health holds no question and no form, so it answers any Host
                check_host(scope, None if scope["path"] in UNCOUNTED_PATHS else self.hosts)
                check_url(scope)
                body = await self._read_body(scope, receive)
            except Refusal as refusal:
                response = self.reject(
                    Request(scope), refusal.status, refusal.message, refusal.detail
                )
                if refusal.status == 408:  # the client is too slow to keep its connection
                    response.headers["Connection"] = "close"
                await response(scope, receive, send_with_headers)
                return
            if counted and self.in_flight >= self.max_in_flight:
                # Shed load instead of queueing without bound: a quick 503 lets a client (or
                # the proxy, on another replica) try again, where a queue would make everyone
                # wait. Counted once the body is in: the cap guards the answering, and clients
                # that send headers and then nothing would otherwise hold every place.
                response = self.reject(Request(scope), 503, OVERLOADED, "Service Unavailable")
                response.headers["Retry-After"] = "1"
                await response(scope, receive, send_with_headers)
                return
            self.in_flight += counted
            try:
                path = scope["path"]
                shortcut = self.shortcuts.get(path) if scope["method"] == "POST" else None
                answered = None if shortcut is None or not body else await shortcut(scope, body)
                if answered is None:
                    await self.app(scope, _replay(body, receive), send_with_headers)
                    return
                length = (b"content-length", str(len(answered)).encode("latin-1"))
                sent["status"] = 200  # the headers made once, sent as a Response would
                await send({"type": "http.response.start", "status": 200,
                            "headers": [length, *shortcut_headers(path)]})  # fmt: skip
                await send({"type": "http.response.body", "body": answered})
            finally:
                self.in_flight -= counted
        except Exception:
            if "status" not in sent:  # the traceback goes to the server log, never to the client
                message = "the server failed to answer; the error is logged. Try again"
                response = self.reject(Request(scope), 500, message, "Internal Server Error")
                await response(scope, receive, send_with_headers)
            raise
        finally:
            self._log(scope, sent.get("status", 500), started, body)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        """The whole body, refused as soon as it passes the limit (before any parsing)."""
        headers = Headers(scope=scope)
        length = headers.get("content-length")
        if length is None and "transfer-encoding" not in headers:
            return b""
        if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
            raise _too_large(int(length))
        chunks: list[bytes] = []
        size = 0
        deadline = time.monotonic() + self.body_timeout
        while True:
            try:  # a body sent a byte a second must not hold a slot for minutes
                # (a timeout scope, not wait_for: wait_for made a task of every receive)
                async with asyncio.timeout(deadline - time.monotonic()):
                    message = await receive()
            except TimeoutError:
                raise Refusal(
                    408,
                    f"the request body did not arrive within {self.body_timeout:g} seconds; "
                    "send it at once",
                    "Request Timeout",
                ) from None
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise _too_large(size, more=message.get("more_body", False))
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and scope["path"].startswith("/api/") and scope["method"] == "POST":
            check_json_body(headers, body)
        return body

    def _log(self, scope: Scope, status: int, started: float, body: bytes) -> None:
        path = scope["path"]
        record: dict[str, Any] = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "method": scope["method"],
            "path": path if len(path) <= LOGGED_PATH_CHARS else path[:LOGGED_PATH_CHARS] + "…",
            "status": status,
            "ms": round((time.perf_counter() - started) * 1000, 1),
        }
        if self.log_questions:
            record.update(_questions(scope, body))
        request_log.info(json.dumps(record))  # JSON escapes newlines: one request, one line


def _too_large(size: int, *, more: bool = False) -> Refusal:
    received = f"{size} bytes or more" if more else f"{size} bytes"
    return Refusal(
        413,
        f"the request body is larger than {MAX_BODY_BYTES} bytes ({received}); send only the "
        "question, its history, k and article",
        "Content Too Large",
    )


def _replay(body: bytes, receive: Receive) -> Receive:
    """Hand the app the body already read, then the connection's own messages (a disconnect)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


def _questions(scope: Scope, body: bytes) -> dict[str, Any]:
    """The question and history of a request, for the debug log only."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"), encoding="utf-8")
    found: dict[str, Any] = {}
    if "q" in query:
        found = {"question": query["q"][-1], "history": query.get("history", [])}
    elif body and scope["path"].startswith("/api/"):
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            return {}
        if isinstance(data, dict):
            found = {k: data[k] for k in ("question", "history") if k in data}
    return found
