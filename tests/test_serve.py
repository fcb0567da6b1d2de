"""`mmn-assistant serve` as a real uvicorn process on 127.0.0.1."""

import json
import urllib.error
import urllib.request

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
