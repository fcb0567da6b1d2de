"""`mmn-assistant serve` as a real uvicorn process on 127.0.0.1."""

import json
import urllib.error
import urllib.request


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
