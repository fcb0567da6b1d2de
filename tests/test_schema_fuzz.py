"""Fuzz the JSON API from its own OpenAPI schema with schemathesis, against a real server.

`schemathesis run` reads `/openapi.json` from `mmn-assistant serve` (the `live_server` fixture:
the same uvicorn, middleware and model a clinician reaches) and sends every operation a few
hundred requests: the schema's examples, its boundary values (coverage phase), then generated
ones, valid and deliberately invalid. Every check schemathesis has for a single response runs
on each: no 5xx, every status and content type documented, every body (errors included) in its
documented schema, valid requests accepted, invalid ones refused, 405 with `Allow` for a method
the schema does not list.

The command line runs it, not the pytest plugin: its fixture-backed loader fails under pytest 9
(`Function` has no `_nodeid`), and the command line is also how to run it by hand:

    .venv/bin/schemathesis run http://127.0.0.1:8000/openapi.json --checks all --max-examples 300

The seed changes from run to run, so CI explores new inputs; a failure prints its seed and a
curl command that reproduces it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from assistant.limits import MAX_HISTORY_ITEMS, MAX_K, MAX_QUESTION_CHARS, MIN_K

pytestmark = [pytest.mark.model, pytest.mark.server]

EXAMPLES = 300
"""Per operation; a valid question costs one embedding (~25 ms) on the real server."""


def served_schema(base: str) -> dict:
    with urllib.request.urlopen(base + "/openapi.json", timeout=30) as response:
        return json.load(response)


def test_every_api_operation_documents_its_errors_in_one_shape(live_server):
    """What the fuzzer holds responses to: every error status an operation can return is in
    the schema, with the `{message, detail}` body."""
    schema = served_schema(live_server)
    operations = {
        (method.upper(), path): spec
        for path, methods in schema["paths"].items()
        for method, spec in methods.items()
    }
    assert set(operations) == {
        ("POST", "/api/ask"),
        ("GET", "/api/health"),
        ("HEAD", "/api/health"),
    }
    reading = {"400", "413", "414"}
    error_statuses = {"POST": {"400", "413", "414", "415", "422"}, "GET": reading, "HEAD": reading}
    for (method, _), spec in operations.items():
        responses = spec["responses"]
        assert set(responses) == {"200"} | error_statuses[method]
        for status in error_statuses[method]:
            ref = responses[status]["content"]["application/json"]["schema"]["$ref"]
            assert ref == "#/components/schemas/ErrorResponse"
    error = schema["components"]["schemas"]["ErrorResponse"]
    assert error["required"] == ["message", "detail"]
    ask = schema["components"]["schemas"]["AskRequest"]
    assert ask["additionalProperties"] is False
    assert ask["properties"]["question"]["maxLength"] == MAX_QUESTION_CHARS
    assert ask["properties"]["history"]["maxItems"] == MAX_HISTORY_ITEMS
    k = ask["properties"]["k"]
    assert (k["type"], k["minimum"], k["maximum"]) == ("integer", MIN_K, MAX_K)
    string = next(c for c in ask["properties"]["article"]["anyOf"] if c.get("type") == "string")
    assert string["enum"] == ["what-is-multifocal-motor-neuropathy"]  # the served articles


def test_schemathesis_finds_nothing_on_any_operation(live_server, tmp_path: Path):
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", live_server + "/openapi.json",
        "--checks", "all",
        "--max-examples", str(EXAMPLES),
        "--workers", "1",  # the other core is the server's
        "--request-timeout", "30",
        "--generation-database", "none",
        "--no-color",
    ]  # fmt: skip
    run = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False
    )
    report = run.stdout + run.stderr
    assert run.returncode == 0, report[-20000:]
    operations = sum(len(methods) for methods in served_schema(live_server)["paths"].values())
    assert re.search(rf"Tested: {operations}\b", report), report[-5000:]
    generated = int(re.search(r"(\d+) generated", report).group(1))
    assert generated >= EXAMPLES, report[-5000:]
