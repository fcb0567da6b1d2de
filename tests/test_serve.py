"""`mmn-assistant serve` as a real uvicorn process on 127.0.0.1."""

import json
import urllib.error
import urllib.request
from urllib.parse import urlencode

from assistant.index import published_version
from tests.conftest import start_server, stop_server


def post(url: str, payload: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_real_server_answers_with_cited_passages(live_server):
    status, body = post(live_server + "/api/ask", {"question": "What IVIg dose is used?", "k": 3})
    assert status == 200
    assert body["passages"][0]["citations"] == [4]
    assert "IVIg Therapy" in body["passages"][0]["section"]
    assert "Dr.Oracle assumes no liability" in body["disclaimer"]


def test_a_real_server_refuses_bad_input_and_keeps_answering(live_server):
    status, body = post(live_server + "/api/ask", {"question": "   "})
    assert status == 422 and "empty" in body["message"]
    status, _ = post(live_server + "/api/ask", {"question": "Does rituximab work?"})
    assert status == 200


def test_serve_builds_the_index_first_when_there_is_none(tmp_path):
    index = tmp_path / "empty-index"
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
