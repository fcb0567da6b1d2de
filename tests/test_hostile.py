"""Hostile requests against a real server (`mmn-assistant serve`, the `live_server` fixture).

Each gets a clear 4xx that says what to fix (JSON errors as `{"message", "detail"}`, pages as a
readable error page), or is trimmed where trimming is the documented behaviour; never a 5xx,
never a stack trace, always the security headers; and the server answers a normal question
correctly right after. Requests that httpx would tidy up (dot segments, malformed HTTP) go out
over a raw socket, byte for byte.

The editors' desk gets the same, signed in, with `no-store` on every answer; an action that got
past its checks would write to the repository's corpus (the server's), so every case fails one.
"""

from __future__ import annotations

import html
import json
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from assistant.engine import Engine
from assistant.limits import (
    MAX_BODY_BYTES,
    MAX_HISTORY_ITEMS,
    MAX_JSON_DEPTH,
    MAX_QUESTION_CHARS,
    MAX_URL_BYTES,
)
from web.app import SECURITY_HEADERS, create_app

pytestmark = [pytest.mark.model, pytest.mark.server]

DOSE = "What IVIg dose is used?"
DOSE_ANSWER = "Dosing: 1.6-2.4 g/kg given intravenously over 3-5 days"
ARTICLE_ID = "what-is-multifocal-motor-neuropathy"
JSON = {"content-type": "application/json"}
LEAKS = ("Traceback", 'File "', "Error:", "[project]", "root:x:", "import ", "def ")
"""Text that must never appear in a response: a stack trace or a file from outside /static."""


# --- helpers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """A response read off a socket: what the server sent, untouched."""

    status_code: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def send_raw(base: str, request: bytes, *, source: str | None = None) -> Raw:
    """Send bytes as they are (no URL normalisation, no framing checks) and read the answer;
    `source`: the loopback address to send from."""
    url = urlsplit(base)
    bound = None if source is None else (source, 0)
    with socket.create_connection(
        (url.hostname, url.port), timeout=30, source_address=bound
    ) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    return Raw(int(status_line.split()[1]), headers, body)


def get_raw(base: str, target: bytes) -> Raw:
    return send_raw(
        base, b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )


def page_message(text: str) -> str:
    """The error a page shows a person: an error panel's message or the question form's."""
    found = re.search(r'class="(?:error-panel__message|ask__error)"[^>]*>(.*?)</p>', text, re.S)
    assert found, text[:2000]
    return visible(found.group(1))


def visible(text: str) -> str:
    """A page's text without its markup, as a person reads it."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", text)).split())


def assert_headers(response: httpx.Response | Raw, status: int) -> None:
    assert response.status_code == status, response.text[:2000]
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name.lower()] == value, name


def assert_safe(response: httpx.Response | Raw, status: int) -> None:
    """The status, the security headers, and no stack trace or stray file in the body."""
    assert_headers(response, status)
    assert not [leak for leak in LEAKS if leak in response.text], response.text[:2000]


def assert_json_error(response: httpx.Response, status: int, *words: str) -> dict[str, Any]:
    assert_safe(response, status)
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"message", "detail"} and isinstance(body["message"], str)
    if status == 422:  # the first errors found, each where and what
        assert isinstance(body["detail"], list) and 1 <= len(body["detail"]) <= 10
        assert all(set(error) == {"loc", "msg", "type"} for error in body["detail"])
    else:  # the status in a few words
        assert isinstance(body["detail"], str) and body["detail"]
    for word in words:
        assert word in body["message"], body["message"]
    return body


def assert_error_page(response: httpx.Response | Raw, status: int, *words: str) -> str:
    assert_safe(response, status)
    assert response.headers["content-type"].startswith("text/html")
    message = page_message(response.text)
    for word in words:
        assert word in message, message
    return message


def assert_still_answers(client: httpx.Client) -> None:
    """The server is still up and still right: a normal question gets its passage."""
    response = client.post("/api/ask", json={"question": DOSE, "k": 1})
    assert response.status_code == 200
    assert response.json()["passages"][0]["text"] == DOSE_ANSWER


@pytest.fixture(scope="module")
def client(live_server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server, timeout=30) as http:
        yield http


# --- the JSON API -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One hostile request to POST /api/ask and the status and message words it must get."""

    name: str
    status: int
    words: tuple[str, ...]
    payload: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=lambda: JSON)

    def send(self, client: httpx.Client) -> httpx.Response:
        content = self.content if self.content is not None else json.dumps(self.payload).encode()
        return client.post("/api/ask", content=content, headers=self.headers)


def nested(depth: int) -> bytes:
    return b'{"question": ' + b"[" * depth + b"]" * depth + b"}"


def ask_with(**fields: Any) -> dict[str, Any]:
    return {"question": DOSE, **fields}


API_CASES = [
    # empty and white space
    Case("empty question", 422, ("question is empty",), {"question": ""}),
    Case("white space only", 422, ("question is empty",), {"question": " \t\n\u00a0\u2003 "}),
    Case("control characters only", 422, ("question is empty",), {"question": "\0\x07\x1b\x7f"}),
    Case("missing question", 422, ("question", "required"), {"k": 3}),
    Case("empty body", 422, ("JSON object",), content=b""),
    # size
    Case("100 kB question", 413, ("larger than 65536 bytes",), {"question": "x" * 100_000}),
    Case("60 kB question", 422, ("60000 characters long", "limit is 500"), {"question": "x" * 60_000}),
    Case(
        "one character over",
        422,
        (f"{MAX_QUESTION_CHARS + 1} characters long",),
        {"question": "x" * (MAX_QUESTION_CHARS + 1)},
    ),
    # encodings
    Case("invalid UTF-8", 422, ("not UTF-8",), content=b'{"question": "\xff\xfe dose?"}'),
    Case("UTF-16", 422, ("not UTF-8",), content=json.dumps({"question": DOSE}).encode("utf-16")),
    Case("raw NUL byte", 422, ("not UTF-8",), content=b'{"question": "dose\x00?"}'),
    Case("unpaired surrogate", 422, ("U+D800",), content=b'{"question": "dose \\ud800?"}'),
    Case("not JSON", 422, ("not valid JSON", "at character 20)"), content=b'{"question": "dose?"'),
    Case("NaN for k", 422, ("k",), content=b'{"question": "dose?", "k": NaN}'),
    # the wrong JSON type at every level and field
    *[
        Case(f"body {body}", 422, ("JSON object",), content=body.encode())
        for body in ("[]", "null", '"What IVIg dose is used?"', "42", "true")
    ],
    *[
        Case(f"question {value!r}", 422, ("question", "string"), {"question": value})
        for value in (42, 4.2, True, None, [DOSE], {"text": DOSE})
    ],
    *[
        Case(f"history {value!r}", 422, ("history",), ask_with(history=value))
        for value in (DOSE, 42, None, {"0": DOSE}, [1], [None], [[DOSE]], [""])
    ],
    *[
        Case(f"k {value!r}", 422, ("k",), ask_with(k=value))
        for value in ("5", True, 2.5, None, [5], {"k": 5}, 0, -1, 21, 10**9, 10**40)
    ],
    *[
        Case(f"article {value!r}", 422, ("article",), ask_with(article=value))
        for value in (42, True, [ARTICLE_ID], {"id": ARTICLE_ID}, "nope", "../../etc", "a" * 10_000)
    ],
    # nesting
    Case("nesting past the limit", 422, ("nests",), content=nested(MAX_JSON_DEPTH)),
    Case("nesting 5000 deep", 422, ("nests 5001 levels",), content=nested(5000)),
    Case("nesting past the body limit", 413, ("larger than",), content=nested(MAX_BODY_BYTES)),
    # history
    Case(
        "a history of thousands",
        422,
        ("history has 5000 questions", f"at most {MAX_HISTORY_ITEMS}"),
        ask_with(history=["IVIg?"] * 5000),
    ),
    Case(
        "one earlier question too many",
        422,
        (f"history has {MAX_HISTORY_ITEMS + 1} questions",),
        ask_with(history=["Is IVIg used?"] * (MAX_HISTORY_ITEMS + 1)),
    ),
    Case("an empty earlier question", 422, ("history[1] is empty",), ask_with(history=["a", " "])),
    # unknown fields
    Case("unknown field", 422, ("colour", "not permitted"), ask_with(colour="blue")),
    Case("prototype pollution", 422, ("__proto__", "not permitted"), ask_with(__proto__={"k": 1})),
    # content types
    *[
        Case(f"sent as {kind or 'nothing'}", 415, ("Content-Type: application/json",), ask_with(), None, headers)
        for kind, headers in (
            ("text/plain", {"content-type": "text/plain"}),
            ("a form", {"content-type": "application/x-www-form-urlencoded"}),
            ("multipart", {"content-type": "multipart/form-data; boundary=x"}),
            ("XML", {"content-type": "application/xml"}),
            ("JSON-ish", {"content-type": "application/jsonx"}),
            (None, {}),
        )
    ],
]  # fmt: skip


@pytest.mark.parametrize("case", API_CASES, ids=lambda case: case.name)
def test_the_api_refuses_hostile_input_clearly_and_keeps_answering(client, case):
    response = case.send(client)
    assert_json_error(response, case.status, *case.words)
    assert_still_answers(client)


def test_thousands_of_bad_fields_get_a_short_answer(client):
    """A 422 names the first few problems: a small body never comes back many times larger."""
    for payload in (
        ask_with(**{f"field{i}": 1 for i in range(4000)}),
        ask_with(history=[1] * 10_000),
        ask_with(history=[[1]] * MAX_HISTORY_ITEMS, k="many", article=[1]),
    ):
        response = client.post("/api/ask", json=payload)
        body = assert_json_error(response, 422)
        assert len(body["detail"]) <= 10 and len(response.content) < 4096
    assert_still_answers(client)


@pytest.mark.parametrize(
    ("sent", "asked"),
    [
        ("What IVIg\0dose is used?", DOSE),
        ("\x1b[1mWhat IVIg dose is used?\x07", "[1mWhat IVIg dose is used?"),
        ("  What \t IVIg\r\ndose\u2028is used?\u00a0 ", DOSE),
        ("What IV\u200bIg dose\u00ad is\u202e used?\ufeff", DOSE),
        ("What \uff29\uff36\uff29\uff47\u3000dose is used\uff1f", DOSE),
    ],
    ids=["NUL", "terminal escape and bell", "white space", "invisible", "full-width"],
)
def test_control_characters_and_white_space_are_trimmed_and_the_question_answered(
    client, sent, asked
):
    response = client.post("/api/ask", json={"question": sent, "history": [sent], "k": 1})
    assert_headers(response, 200)
    body = response.json()
    assert body["question"] == asked and body["history"] == [asked]
    assert body["passages"][0]["text"] == DOSE_ANSWER


@pytest.mark.parametrize("sent", ["\u200b\u200b\u200b", "\u202e\u2066 \ufeff"])
def test_a_question_of_invisible_characters_is_empty(client, sent):
    response = client.post("/api/ask", json={"question": sent})
    assert_headers(response, 422)
    assert "question is empty; type a question" in response.text


def test_json_may_say_its_charset_or_be_a_json_subtype(client):
    for kind in ("application/json; charset=utf-8", "application/problem+json"):
        response = client.post(
            "/api/ask", content=json.dumps({"question": DOSE}), headers={"content-type": kind}
        )
        assert_headers(response, 200)


def test_a_body_over_the_limit_is_refused_before_it_is_read(client, live_server):
    declared = send_raw(
        live_server,
        b"POST /api/ask HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000000000\r\nConnection: close\r\n\r\n{}",
    )  # a gigabyte announced, two bytes sent: the answer comes at once
    assert declared.status_code == 413 and b"larger than 65536 bytes" in declared.body
    chunked = client.post(
        "/api/ask", content=iter([b'{"question": "', b"x" * 40_000, b"x" * 40_000, b'"}']),
        headers=JSON,
    )  # fmt: skip
    assert "content-length" not in chunked.request.headers  # streamed: no length to trust
    assert_json_error(chunked, 413, "larger than 65536 bytes")
    assert_still_answers(client)


@pytest.mark.parametrize(
    ("method", "path", "status", "words"),
    [
        ("GET", "/api/ask", 405, ("GET is not allowed on /api/ask", "POST")),
        ("PUT", "/api/ask", 405, ("PUT is not allowed",)),
        ("DELETE", "/api/health", 405, ("DELETE is not allowed", "GET")),
        ("GET", "/api/nope", 404, ("nothing at /api/nope", "/openapi.json")),
        ("POST", "/api/ask/", 404, ("nothing at /api/ask/",)),  # not a redirect a POST loses
        ("GET", "/api/health?x=%ff%fe", 400, ("not UTF-8",)),
        ("GET", "/api/health?q=" + "x" * MAX_URL_BYTES, 414, (f"limit is {MAX_URL_BYTES}",)),
        ("POST", "/openapi.json", 405, ("POST is not allowed",)),
    ],
)
def test_api_errors_outside_the_body_are_json_in_the_documented_shape(
    client, method, path, status, words
):
    assert_json_error(client.request(method, path), status, *words)
    assert_still_answers(client)


# --- the page -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "status", "words"),
    [
        ("q=", 422, ("Your question is empty",)),
        ("q=%20%09%0A", 422, ("Your question is empty",)),
        ("q=%00%07%1B", 422, ("Your question is empty",)),
        ("", 422, ("Your question is empty",)),
        ("q=" + "x" * 5000, 422, ("5000 characters long", "limit is 500")),
        ("q=" + "x" * 14_000, 414, (f"limit is {MAX_URL_BYTES}", "shorter question")),
        ("q=dose" + "&history=IVIg" * 1000, 414, ("new conversation",)),
        ("q=%FF%FEdose", 400, ("not UTF-8",)),
        ("q=dose&history=" + "y" * 600, 422, ("Earlier question 1", "600 characters")),
        ("q=dose&article=nope", 404, ("no article called “nope”", "listed below")),
        ("q=dose&article=" + quote("../../etc/passwd", safe=""), 404, ("no article called",)),
    ],
    ids=[
        "empty", "white space", "control characters", "no q", "5 kB", "14 kB", "history of 1000",
        "invalid UTF-8", "long earlier question", "unknown article", "article traversal",
    ],
)  # fmt: skip
def test_the_page_refuses_hostile_questions_with_a_readable_message(
    client, live_server, query, status, words
):
    response = get_raw(live_server, b"/ask?" + query.encode())
    assert_error_page(response, status, *words)
    assert_still_answers(client)


@pytest.mark.parametrize(
    "query", ["q=" + "x" * 100_000, "q=dose" + "&history=IVIg" * 5000], ids=["100 kB", "5000"]
)
def test_an_address_past_the_servers_own_limit_is_refused_either_way(client, live_server, query):
    """Past 16 KiB, uvicorn may refuse the request head itself (a bare 400, when it arrives in
    pieces) before the app can answer its 414: a clear 4xx either way."""
    response = get_raw(live_server, b"/ask?" + query.encode())
    if response.status_code == 400:
        assert "Invalid HTTP request received." in response.text
    else:
        assert_error_page(response, 414, f"limit is {MAX_URL_BYTES}")
    assert_still_answers(client)


def test_the_page_trims_control_characters_and_a_history_of_a_thousand(client):
    history = "&".join(["history=IVIg"] * 900)  # 12 kB: just under the address limit
    response = client.get(f"/ask?q=%00What%07+IVIg+dose+is+used%3F&{history}")
    assert_headers(response, 200)
    assert re.search(r'<h1 class="question"[^>]*>What IVIg dose is used\?</h1>', response.text)
    dropped = 900 - MAX_HISTORY_ITEMS
    assert f"{dropped} older questions were left out" in visible(response.text)
    assert DOSE_ANSWER in visible(response.text)
    assert_still_answers(client)


@pytest.mark.parametrize(
    "target",
    [
        b"/article/../../etc/passwd",
        b"/article/..%2f..%2f..%2fetc%2fpasswd",
        b"/article/%2e%2e%2f%2e%2e%2fpyproject.toml",
        b"/article/..%5c..%5cpyproject.toml",
        b"/article/" + ARTICLE_ID.encode() + b"/../../../pyproject.toml",
        b"/static/../app.py",
        b"/static/../../pyproject.toml",
        b"/static/..%2fapp.py",
        b"/static/%2e%2e/%2e%2e/pyproject.toml",
        b"/static/%2e%2e%2f%2e%2e%2fpyproject.toml",
        b"/static/....//....//pyproject.toml",
        b"/static//etc/passwd",
        b"/static/%2fetc%2fpasswd",
        b"/static/..%5capp.py",
        b"/static/style.css%00.py",
        b"/static/templates/base.html",
        b"/static/",
        b"/static",
    ],
)
def test_path_traversal_gets_a_404_page_and_no_file(client, live_server, target):
    response = get_raw(live_server, target)
    assert response.status_code in (404, 307), response.text[:500]
    if response.status_code == 307:  # "/static" -> "/static/": a redirect within the site
        assert response.headers["location"].endswith("/static/")
        return
    assert_error_page(response, 404)
    assert_still_answers(client)


def test_an_article_address_of_any_length_or_content_is_a_clean_404_or_414(client, live_server):
    assert_error_page(get_raw(live_server, b"/article/%00%1b%ff"), 404, "no article called")
    assert_error_page(get_raw(live_server, b"/article/" + b"a" * 14_000), 414, "limit is")
    assert_still_answers(client)


# --- below the app: malformed HTTP --------------------------------------------------------------


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /ask?q=dose HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n",
        b"GET /\x00 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header\r\n\r\n",
        b"POST /api/ask HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: u\r\n\r\n",
    ],
    ids=["not HTTP", "bad length", "NUL in target", "bad header", "bad chunk", "two hosts"],
)
def test_malformed_http_is_refused_by_the_server_and_it_keeps_answering(
    client, live_server, request_bytes
):
    """uvicorn answers these before the app sees them, with a bare 400 (no security headers,
    as there is no page to protect), but for two Host headers, which the guard refuses; and
    the app keeps answering."""
    response = send_raw(live_server, request_bytes)
    assert response.status_code == 400
    assert not [leak for leak in LEAKS if leak in response.text]
    assert_still_answers(client)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /ask?q=dose HTTP/1.1\r\nHost: rebind.attacker.example\r\nConnection: close\r\n\r\n",
        b"POST /api/ask HTTP/1.1\r\nHost: rebind.attacker.example:8000\r\n"
        b"Content-Type: application/json\r\nContent-Length: 19\r\nConnection: close\r\n\r\n"
        b'{"question":"dose"}',
    ],
    ids=["page", "api"],
)
def test_a_request_naming_another_host_is_refused_before_any_answer(
    client, live_server, request_bytes
):
    """A page on another site whose name is pointed at 127.0.0.1 (DNS rebinding) reaches the
    server as its own origin; the Host it sends still names that site, and gets no answer."""
    response = send_raw(live_server, request_bytes)
    assert response.status_code == 400
    assert "MMN_ALLOWED_HOSTS" in response.text and "IVIg" not in response.text
    assert response.headers["x-frame-options"] == "DENY"
    port = live_server.rsplit(":", 1)[1].encode()
    fine = request_bytes.replace(b"rebind.attacker.example:8000", b"localhost:" + port)
    assert (
        send_raw(live_server, fine.replace(b"rebind.attacker.example", b"localhost")).status_code
        == 200
    )
    assert_still_answers(client)


# --- security headers on every kind of response -------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/", 200),
        ("HEAD", "/", 200),
        ("GET", f"/ask?q={quote(DOSE)}", 200),
        ("GET", "/ask?q=", 422),
        ("GET", f"/article/{ARTICLE_ID}", 200),
        ("GET", "/article/nope", 404),
        ("GET", "/nowhere", 404),
        ("POST", "/", 405),
        ("GET", "/ask?q=%ff", 400),
        ("GET", "/ask?q=" + "x" * MAX_URL_BYTES, 414),
        ("GET", "/static/style.css", 200),
        ("GET", "/static/page.js", 200),
        ("GET", "/static/favicon.svg", 200),
        ("GET", "/static/nope.css", 404),
        ("GET", "/openapi.json", 200),
        ("GET", "/api/health", 200),
        ("GET", "/api/ask", 405),
        ("GET", "/api/nope", 404),
    ],
)
def test_every_route_and_error_carries_the_security_headers(client, method, path, status):
    assert_headers(client.request(method, path), status)


def test_json_answers_and_errors_carry_the_security_headers(client):
    assert_headers(client.post("/api/ask", json={"question": DOSE}), 200)
    assert_safe(client.post("/api/ask", json={"question": ""}), 422)
    assert_safe(client.post("/api/ask", content=b"x", headers={"content-type": "text/plain"}), 415)
    big = b"x" * (MAX_BODY_BYTES + 1)
    assert_safe(client.post("/api/ask", content=big, headers=JSON), 413)


# --- the editors' desk, signed in -----------------------------------------------------------------

DESK_EDITOR, DESK_PASSWORD = "hostile.editor", "a hostile battery password"
FORM_TYPE = "application/x-www-form-urlencoded"
TOKEN = b"@CSRF@"
"""Stands for the signed-in session's form token in a case's body."""
PASSAGE = b"@PASSAGE@"
"""Stands for the id of a real passage (DOSE's) in a case's address."""
NOT_A_JUDGEMENT = "/desk/judgements/999999999"


@dataclass(frozen=True)
class Desk:
    """The signed-in editor of these cases (the session and its form token), the login form's
    cookie and token, and a real passage's id."""

    base: str
    session: str
    token: str
    form_cookie: str
    form_token: str
    passage: str


@dataclass(frozen=True)
class DeskCase:
    """One hostile request to the desk, sent byte for byte with a cookie (`cookie`), and the
    status and message words it must get. TOKEN in the body stands for the form token."""

    name: str
    method: str
    target: bytes
    status: int
    words: tuple[str, ...] = ()
    body: bytes | None = None
    content_type: str | None = FORM_TYPE
    cookie: str = "session"
    """What the request carries: the editor's `session`, the login page's `form`, or `none`."""
    json: bool = False
    """Ask for JSON (Accept: application/json)."""

    def send(self, desk: Desk, *, source: str | None = None) -> Raw:
        host = urlsplit(desk.base).netloc.encode()
        target = self.target.replace(PASSAGE, desk.passage.encode())
        head = [b"%s %s HTTP/1.1" % (self.method.encode(), target), b"Host: " + host]
        head.append(b"Connection: close")
        if self.json:
            head.append(b"Accept: application/json")
        token = desk.form_token if self.cookie == "form" else desk.token
        if self.cookie != "none":
            cookie = f"mmn_desk={desk.session}" if self.cookie == "session" else f"mmn_form={desk.form_cookie}"  # fmt: skip
            head.append(b"Cookie: " + cookie.encode())
        if self.body is not None:
            body = self.body.replace(TOKEN, token.encode())
            if self.content_type is not None:
                head.append(b"Content-Type: " + self.content_type.encode())
            head.append(b"Content-Length: %d" % len(body))
        else:
            body = b""
        return send_raw(desk.base, b"\r\n".join(head) + b"\r\n\r\n" + body, source=source)


def with_token(**fields: str) -> bytes:
    """A form body with the session's own token and these fields, urlencoded."""
    return b"csrf=" + TOKEN + (b"&" + urlencode(fields).encode() if fields else b"")


def desk_message(response: Raw) -> str:
    """What a desk answer says: its error panel, its page's error, or its JSON message."""
    if response.headers.get("content-type", "").startswith("application/json"):
        return json.loads(response.body)["message"]
    found = re.search(r'class="[^"]*\b(?:error-panel__message|desk-error)\b[^"]*"[^>]*>(.*?)</p>', response.text, re.S)  # fmt: skip
    return visible(found.group(1)) if found else ""


def assert_desk_safe(response: Raw, status: int, *words: str) -> None:
    """`assert_safe`, `no-store`, nothing sent turned into markup, and the message's words."""
    assert_safe(response, status)
    assert response.headers["cache-control"] == "no-store"
    assert "<script>alert" not in response.text
    message = desk_message(response)
    for word in words:  # pages say it as a sentence, JSON as a clause
        assert word.lower() in message.lower(), (word, message)


@pytest.fixture(scope="module")
def desk(live_server: str, server_dir) -> Iterator[Desk]:
    """The live server's desk, on (this module's editor), and a session of that editor's."""
    from tests.test_desk_security import Visitor, ensure_editor

    ensure_editor(server_dir, DESK_EDITOR, DESK_PASSWORD)
    visitor = Visitor(live_server, "127.0.2.1")
    try:
        session = visitor.session(DESK_EDITOR, DESK_PASSWORD)
        answer = visitor.http.post("/api/ask", json={"question": DOSE, "k": 1}).json()
        form_cookie, form_token = visitor.login_form()
        passage = answer["passages"][0]["id"]
        yield Desk(live_server, session, visitor.csrf(session), form_cookie, form_token, passage)
    finally:
        visitor.close()


def assert_desk_still_works(client: httpx.Client, desk: Desk) -> None:
    """The editor is still signed in and the desk still answers, as does a clinician."""
    page = client.get("/desk/audit", headers={"Cookie": f"mmn_desk={desk.session}"})
    assert page.status_code == 200 and "Signed in as" in page.text
    assert_still_answers(client)


HUGE = "x" * 60_000
"""A field just under the body limit."""
DIGITS = b"9" * 10_000

DESK_CASES = [
    # addresses: traversal, NUL, 10,000 digits, numbers that are not ids
    DeskCase("build ..", "GET", b"/desk/builds/..", 404, ("there is no build",)),
    DeskCase("build ../ encoded", "GET", b"/desk/builds/..%2f..%2fpyproject.toml", 404),
    DeskCase("build %00", "GET", b"/desk/builds/%00", 404, ("there is no build",)),
    DeskCase("build 10,000 digits", "GET", b"/desk/builds/" + DIGITS, 404, ("there is no build",)),
    *[
        DeskCase(f"build {number}", "GET", b"/desk/builds/" + number.encode(), 404, ("build",))
        for number in ("0", "-1", "1e3", "0x10", "1.5", "%201", "%D9%A3", "999999999")
    ],
    DeskCase("desk ../", "GET", b"/desk/../pyproject.toml", 404),
    DeskCase("judgements ../../", "GET", b"/desk/judgements/../../web/app.py", 404),
    DeskCase("desk %2e%2e", "GET", b"/desk/%2e%2e/%2e%2e/pyproject.toml", 404),
    DeskCase("desk nowhere", "GET", b"/desk/nowhere", 404),
    # query strings: ignored where they mean nothing, refused where they break the limits
    *[
        DeskCase(f"did={did[:12]!r}", "GET", b"/desk/judgements?did=" + did.encode(), 200)
        for did in ("", "-1", "%00", "1'--", "1" * 10_000, "%3Cscript%3E")
    ],
    DeskCase("next of 11 kB", "GET", b"/desk/login?next=/desk/" + b"a" * 11_000, 303),
    DeskCase("query not UTF-8", "GET", b"/desk/audit?x=%ff%fe", 400, ("not UTF-8",)),
    DeskCase("address too long", "GET", b"/desk/audit?x=" + b"y" * 13_000, 414, ("limit is",)),
    DeskCase("schema not UTF-8", "GET", b"/desk/openapi.json?x=%ff", 400, ("not UTF-8",)),
    # ids and kinds in the actions' addresses (the form token is right: only the address is not)
    DeskCase("cancel build 999999", "POST", b"/desk/builds/999999/cancel", 404, ("there is no build #999999",), with_token()),  # fmt: skip  # was 409, its page 404
    DeskCase("judgement ..", "POST", b"/desk/judgements/%2e%2e/accept", 404, ("there is no judgement",), with_token()),  # fmt: skip
    DeskCase("judgement ../", "POST", b"/desk/judgements/../../desk/publish/build", 404, (), with_token()),  # fmt: skip
    DeskCase("judgement %00", "POST", b"/desk/judgements/%00/reject", 404, ("there is no judgement",), with_token()),  # fmt: skip
    DeskCase("judgement 10,000 digits", "POST", b"/desk/judgements/" + DIGITS + b"/accept", 404, ("there is no judgement",), with_token()),  # fmt: skip
    DeskCase("judgement -1", "POST", b"/desk/judgements/-1/reject", 404, ("there is no judgement",), with_token()),  # fmt: skip
    DeskCase("judgement markup", "POST", b"/desk/judgements/%3Cscript%3E/reject", 404, ("there is no judgement '<script>'",), with_token()),  # fmt: skip
    DeskCase("no such judgement", "POST", NOT_A_JUDGEMENT.encode() + b"/reject", 404, ("no feedback with id 999999999",), with_token()),  # fmt: skip
    DeskCase("unknown kind", "POST", b"/desk/changes/nope/0123456789/fix", 404, ("no such item",), with_token()),  # fmt: skip
    DeskCase("unknown action", "POST", b"/desk/changes/followed/0123456789/remove", 404, ("no such item",), with_token()),  # fmt: skip
    DeskCase("kind and action swapped", "POST", b"/desk/changes/fix/0123456789/followed", 404, ("no such item",), with_token()),  # fmt: skip
    DeskCase("key ..", "POST", b"/desk/changes/stale/%2e%2e/remove", 404, ("no such item",), with_token()),  # fmt: skip
    DeskCase("key ../", "POST", b"/desk/changes/stale/../remove", 404, (), with_token()),
    DeskCase("key %00", "POST", b"/desk/changes/unreachable/%00/question", 404, ("no such item",), with_token()),  # fmt: skip
    DeskCase("key of 10,000", "POST", b"/desk/changes/stale/" + b"a" * 10_000 + b"/remove", 404, ("no such item",), with_token()),  # fmt: skip
    DeskCase("no such example", "POST", b"/desk/changes/followed/0123456789/fix", 409, ("no followed example",), with_token()),  # fmt: skip
    DeskCase("nothing to fix at once", "POST", b"/desk/changes/followed/all", 409, ("no example listed here is waiting",), with_token()),  # fmt: skip
    DeskCase("no such passage to ask about", "POST", b"/desk/changes/unexampled/deadbeefdeadbeef/question", 409, ("no single passage",), with_token(question=DOSE)),  # fmt: skip
    DeskCase("no such passage", "POST", b"/desk/changes/unreachable/deadbeefdeadbeef/question", 409, ("no single passage",), with_token(question=HUGE[:30_000], gold=HUGE[:30_000])),  # fmt: skip
    # huge and odd fields (a real passage, and a question and gold that both fail its checks)
    DeskCase("huge question", "POST", b"/desk/changes/unreachable/" + PASSAGE + b"/question", 409, ("60000 characters long",), with_token(question=HUGE, gold="not in it")),  # fmt: skip
    DeskCase("gold not in the passage", "POST", b"/desk/changes/unreachable/" + PASSAGE + b"/question", 409, ("is not in the passage",), with_token(question=DOSE, gold=HUGE[:5000])),  # fmt: skip
    DeskCase("huge choice and gold", "POST", NOT_A_JUDGEMENT.encode() + b"/accept", 404, ("no feedback",), with_token(choice=HUGE[:30_000], gold=HUGE[:30_000])),  # fmt: skip
    DeskCase("huge passage", "POST", b"/desk/changes/set-aside/0123456789/answered", 409, ("no out-of-scope example",), with_token(passage=HUGE)),  # fmt: skip
    DeskCase("20,000 fields", "POST", NOT_A_JUDGEMENT.encode() + b"/reject", 404, ("no feedback",), b"a=&" * 20_000 + with_token()),  # fmt: skip
    DeskCase("token last of many", "POST", NOT_A_JUDGEMENT.encode() + b"/reject", 404, ("no feedback",), b"csrf=x&" * 5_000 + with_token()),  # fmt: skip
    DeskCase("invalid UTF-8 escaped", "POST", NOT_A_JUDGEMENT.encode() + b"/accept", 404, ("no feedback",), with_token() + b"&gold=%ff%fe&choice=%00"),  # fmt: skip
    DeskCase("body over the limit", "POST", NOT_A_JUDGEMENT.encode() + b"/reject", 413, ("larger than 65536 bytes",), with_token(gold="x" * 70_000)),  # fmt: skip
    # bodies: not UTF-8, not a form, no token
    DeskCase("body not UTF-8", "POST", NOT_A_JUDGEMENT.encode() + b"/reject", 400, ("not UTF-8",), with_token() + b"&gold=caf\xe9"),  # fmt: skip
    DeskCase("body in UTF-16", "POST", NOT_A_JUDGEMENT.encode() + b"/reject", 400, ("not UTF-8",), "csrf=x".encode("utf-16")),  # fmt: skip
    DeskCase("a latin-1 charset", "POST", NOT_A_JUDGEMENT.encode() + b"/reject", 400, ("not UTF-8",), with_token() + b"&gold=\xe9", FORM_TYPE + "; charset=latin-1"),  # fmt: skip
    DeskCase("JSON body", "POST", NOT_A_JUDGEMENT.encode() + b"/reject", 415, (FORM_TYPE,), b'{"csrf": "' + TOKEN + b'"}', "application/json"),  # fmt: skip
    DeskCase("JSON body sent as a form", "POST", NOT_A_JUDGEMENT.encode() + b"/reject", 403, ("form has expired",), b'{"csrf": "' + TOKEN + b'"}'),  # fmt: skip
    DeskCase("text", "POST", NOT_A_JUDGEMENT.encode() + b"/reject", 415, (FORM_TYPE,), with_token(), "text/plain"),  # fmt: skip
    DeskCase("multipart", "POST", NOT_A_JUDGEMENT.encode() + b"/reject", 415, (FORM_TYPE,), b"--x\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n" + TOKEN + b"\r\n--x--\r\n", "multipart/form-data; boundary=x"),  # fmt: skip
    DeskCase("no content type", "POST", NOT_A_JUDGEMENT.encode() + b"/reject", 415, (FORM_TYPE,), with_token(), None),  # fmt: skip
    DeskCase("no body", "POST", NOT_A_JUDGEMENT.encode() + b"/reject", 415, (FORM_TYPE,)),
    DeskCase("NUL in the token", "POST", NOT_A_JUDGEMENT.encode() + b"/reject", 403, ("form has expired",), b"csrf=" + TOKEN + b"\x00"),  # fmt: skip
    DeskCase("token not ASCII", "POST", NOT_A_JUDGEMENT.encode() + b"/reject", 403, ("form has expired",), "csrf=é½€".encode()),  # fmt: skip
    DeskCase("token not ASCII, JSON", "POST", NOT_A_JUDGEMENT.encode() + b"/reject", 403, ("form has expired",), b"csrf=%C3%A9" * 2, json=True),  # fmt: skip
    DeskCase("lone percent", "POST", NOT_A_JUDGEMENT.encode() + b"/reject", 403, ("form has expired",), b"csrf=%"),  # fmt: skip
    # methods
    DeskCase("PUT", "PUT", b"/desk", 405),
    DeskCase("DELETE", "DELETE", NOT_A_JUDGEMENT.encode() + b"/accept", 405),
    DeskCase("GET a POST", "GET", b"/desk/logout", 405),
    DeskCase("POST a page", "POST", b"/desk/audit", 405, (), with_token()),
    # asked for as JSON: the same refusals, as JSON
    DeskCase("JSON: build 10,000 digits", "GET", b"/desk/builds/" + DIGITS, 404, ("there is no build",), json=True),  # fmt: skip
    DeskCase("JSON: no such judgement", "POST", NOT_A_JUDGEMENT.encode() + b"/reject", 404, ("no feedback",), with_token(), json=True),  # fmt: skip
    DeskCase("JSON: body not UTF-8", "POST", NOT_A_JUDGEMENT.encode() + b"/reject", 400, ("not UTF-8",), b"csrf=\xff", json=True),  # fmt: skip
    DeskCase("JSON: JSON body", "POST", NOT_A_JUDGEMENT.encode() + b"/reject", 415, (FORM_TYPE,), b"{}", "application/json", json=True),  # fmt: skip
    # without the session: the same addresses ask for the login, whatever they hold
    DeskCase("no session, 10,000 digits", "GET", b"/desk/builds/" + DIGITS, 303, cookie="none"),
    DeskCase("no session, JSON body", "POST", NOT_A_JUDGEMENT.encode() + b"/reject", 303, (), b"{}", "application/json", cookie="none"),  # fmt: skip
    DeskCase("no session, JSON", "GET", b"/desk/builds/%00", 401, ("sign in",), cookie="none", json=True),  # fmt: skip
]  # fmt: skip

NO_MATCH = "That name and password do not match"
LOGIN_CASES = [
    DeskCase("JSON body", "POST", b"/desk/login", 415, (FORM_TYPE,), b'{"name": "a", "csrf": "' + TOKEN + b'"}', "application/json", "form"),  # fmt: skip
    DeskCase("not UTF-8", "POST", b"/desk/login", 400, ("not UTF-8",), with_token(name="a") + b"&password=\xff\xfe", cookie="form"),  # fmt: skip
    DeskCase("no token", "POST", b"/desk/login", 403, ("form has expired",), b"name=a&password=b", cookie="form"),  # fmt: skip
    DeskCase("token not ASCII", "POST", b"/desk/login", 403, ("form has expired",), b"name=a&password=b&csrf=%C3%A9" + b"0" * 63, cookie="form"),  # fmt: skip
    DeskCase("huge name and password", "POST", b"/desk/login", 403, (NO_MATCH,), with_token(name=HUGE[:30_000], password=HUGE[:30_000]), cookie="form"),  # fmt: skip
    DeskCase("markup for a name", "POST", b"/desk/login", 403, (NO_MATCH,), with_token(name="<script>alert(1)</script>", password="x"), cookie="form"),  # fmt: skip
    DeskCase("NUL and controls", "POST", b"/desk/login", 403, (NO_MATCH,), with_token(name="\x00\x1b[1m", password="\x00" * 20), cookie="form"),  # fmt: skip
    DeskCase("another site next", "POST", b"/desk/login", 403, (NO_MATCH,), with_token(name="a", password="b", next="//evil.example"), cookie="form"),  # fmt: skip
]  # fmt: skip


@pytest.mark.parametrize("case", DESK_CASES, ids=lambda case: case.name)
def test_the_desk_refuses_hostile_input_clearly_and_keeps_working(client, desk, case):
    response = case.send(desk)
    assert_desk_safe(response, case.status, *case.words)
    if case.json:
        assert response.headers["content-type"] == "application/json"
        assert set(json.loads(response.body)) in ({"message", "detail"}, {"ok", "message"})
    if case.status == 303:
        assert response.headers["location"].startswith("/desk")
    assert_desk_still_works(client, desk)


@pytest.mark.parametrize("case", LOGIN_CASES, ids=lambda case: case.name)
def test_the_login_refuses_hostile_input_clearly_and_keeps_working(client, desk, case):
    """From an address of their own: these count as sign-in attempts (20 a minute)."""
    response = case.send(desk, source="127.0.2.2")
    assert_desk_safe(response, case.status, *case.words)
    assert "mmn_desk=" not in response.headers.get("set-cookie", "")
    if case.status == 403 and NO_MATCH in case.words:
        assert 'name="next" value="/desk"' in response.text
    assert_desk_still_works(client, desk)


# --- in process: a crash, and no model work for a refused request -------------------------------


class BrokenEngine:
    """An engine whose index is fine and whose every answer crashes."""

    def __init__(self, engine: Engine) -> None:
        self.index = engine.index

    def ask(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internal state")


def test_a_crash_is_a_clean_500_with_the_headers_and_no_trace(engine):
    app = create_app(engine=BrokenEngine(engine))  # type: ignore[arg-type]
    with TestClient(app, raise_server_exceptions=False) as broken:
        api = broken.post("/api/ask", json={"question": DOSE})
        assert_json_error(api, 500, "failed to answer")
        page = broken.get(f"/ask?q={quote(DOSE)}")
        assert_error_page(page, 500, "failed to answer")
        for response in (api, page):
            assert "secret internal state" not in response.text


class CountingEmbedder:
    """The real model, counting how many texts it is asked to embed."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.texts = 0

    @property
    def info(self) -> Any:
        return self.inner.info

    def embed(self, texts: Any, *, progress: bool = False) -> Any:
        self.texts += len(texts)
        return self.inner.embed(texts, progress=progress)


def test_every_limit_is_enforced_before_any_model_work(engine, embedder):
    counting = CountingEmbedder(embedder)
    with TestClient(create_app(engine=Engine(engine.index, counting))) as app:
        for case in API_CASES:
            assert case.send(app).status_code == case.status, case.name
        for query in ("q=", "q=" + "x" * 600, "q=dose&history=" + "y" * 600):
            assert app.get("/ask?" + query).status_code == 422
        assert app.get("/ask?q=dose&article=no").status_code == 404  # the address is wrong
        assert app.get("/ask?q=" + "x" * MAX_URL_BYTES).status_code == 414
        assert counting.texts == 0
        assert app.post("/api/ask", json={"question": DOSE}).status_code == 200
        assert counting.texts > 0
