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
from urllib.parse import urlsplit

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
    reading = {"400", "413", "414", "500"}  # health is never shed (no 503) and reads no body
    error_statuses = {
        "POST": reading | {"408", "415", "422", "503"},
        "GET": reading,
        "HEAD": reading,
    }
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


# --- the editors' desk --------------------------------------------------------------------------

DESK_EXAMPLES = 50
"""Per operation, each run: both runs together take well under a minute."""
FUZZ_EDITOR, FUZZ_PASSWORD = "fuzz.editor", "a password for the fuzzer"
NEVER_FUZZED = ("/desk/publish/build", "/desk/publish/rollback", "/desk/logout")
"""Left out of the signed-in run: with a valid form token (it has none) a fuzzer would start
builds, publish the version before, or end its own session."""


def fuzz_desk(base: str, tmp_path: Path, name: str, *extra: str) -> tuple[str, list[dict]]:
    """Run schemathesis on the desk's own schema, no-5xx only; the requests and answers (HAR)."""
    har = tmp_path / f"{name}.har"
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", base + "/desk/openapi.json",
        "--checks", "not_a_server_error",
        "--max-examples", str(DESK_EXAMPLES),
        "--workers", "1",
        "--request-timeout", "30",
        "--generation-database", "none",
        "--report", "har", "--report-har-path", str(har),
        "--no-color",
        *extra,
    ]  # fmt: skip
    run = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False
    )
    report = run.stdout + run.stderr
    assert run.returncode == 0, report[-20000:]
    generated = int(re.search(r"(\d+) generated", report).group(1))
    assert generated >= DESK_EXAMPLES, report[-5000:]
    return report, json.loads(har.read_text())["log"]["entries"]


def test_schemathesis_finds_no_server_error_on_the_desk_signed_in_or_not(
    live_server, server_dir, tmp_path: Path
):
    """The desk's schema (/desk/openapi.json, its own: the clinicians' schema lists none of
    it) fuzzed twice: as anyone, and with an editor's session cookie. Neither run gets a 5xx,
    the signed-in one reaches the pages, and no decision goes through without a form token."""
    from assistant.feedback import FeedbackStore
    from assistant.feedback.accounts import Accounts
    from tests.test_desk_security import Visitor, ensure_editor

    ensure_editor(server_dir, FUZZ_EDITOR, FUZZ_PASSWORD)
    assert not [p for p in served_schema(live_server)["paths"] if p.startswith("/desk")]
    with urllib.request.urlopen(live_server + "/desk/openapi.json", timeout=30) as response:
        desk = json.load(response)
    operations = {(m.upper(), p) for p, methods in desk["paths"].items() for m in methods}
    assert {p for _, p in operations} >= {"/desk", "/desk/login", *NEVER_FUZZED}
    assert all(p.startswith("/desk") for _, p in operations)

    form = "mmn_form=" + "0f" * 32  # a browser's form cookie: tokens are checked against it
    report, anyone = fuzz_desk(live_server, tmp_path, "anyone", "-H", f"Cookie: {form}")
    assert re.search(rf"Tested: {len(operations)}\b", report), report[-5000:]
    pages = [e for e in anyone if e["request"]["method"] == "GET" and "/login" not in e["request"]["url"]]  # fmt: skip
    assert pages and not [e for e in pages if e["response"]["status"] == 200]  # none opened

    visitor = Visitor(live_server, "127.0.3.1")
    try:
        session = visitor.session(FUZZ_EDITOR, FUZZ_PASSWORD)
        excluded = [arg for path in NEVER_FUZZED for arg in ("--exclude-path", path)]
        cookie = ["-H", f"Cookie: mmn_desk={session}; {form}"]
        report, signed = fuzz_desk(live_server, tmp_path, "signed-in", *cookie, *excluded)
        assert re.search(rf"Tested: {len(operations) - len(NEVER_FUZZED)}\b", report)
        assert not [e for e in signed if urlsplit(e["request"]["url"]).path in NEVER_FUZZED]
        reached = {urlsplit(e["request"]["url"]).path for e in signed if e["response"]["status"] == 200}  # fmt: skip
        assert {"/desk", "/desk/judgements", "/desk/audit"} <= reached, reached
        assert visitor.get("/desk", session=session).status_code == 200  # still signed in
    finally:
        visitor.close()
    trail = Accounts(FeedbackStore(server_dir / "feedback.sqlite3")).trail(2000)
    assert not [e for e in trail if e.who == FUZZ_EDITOR and e.action != "signed in"]
