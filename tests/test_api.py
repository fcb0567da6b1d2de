"""The JSON API on the real app, the real model and a real index."""

import json

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.limits import MAX_BODY_BYTES, MAX_K, MAX_QUESTION_CHARS
from assistant.settings import Settings
from web.app import SECURITY_HEADERS, create_app

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def client(engine):
    with TestClient(create_app(engine=engine)) as client:
        yield client


def test_ask_returns_ranked_cited_passages_and_the_disclaimer(client, engine):
    response = client.post("/api/ask", json={"question": "What IVIg dose is used?"})
    assert response.status_code == 200
    body = response.json()
    assert body["question"] == "What IVIg dose is used?"
    assert body["answerable"] is True
    assert len(body["passages"]) == 5
    top = body["passages"][0]
    assert top["rank"] == 1
    assert top["text"] == "Dosing: 1.6-2.4 g/kg given intravenously over 3-5 days"
    assert top["citations"] == [4]
    assert top["section"][-1] == "IVIg Therapy"
    assert top["article_id"] == "what-is-multifocal-motor-neuropathy"
    assert top["article_title"] == "What is multifocal motor neuropathy?"
    assert top["last_updated"] == "2026-02-02"
    assert top["url"] == f"/article/what-is-multifocal-motor-neuropathy#p-{top['id']}"
    assert set(top) >= {
        "rank",
        "id",
        "text",
        "score",
        "section",
        "citations",
        "context",
        "article_id",
        "article_title",
        "last_updated",
        "url",
    }
    assert body["disclaimer"] == engine.index.articles[top["article_id"]].disclaimer
    assert body["index"]["passage_count"] == 32
    assert body["index"]["model"] == "sentence-transformers/all-MiniLM-L6-v2"


def test_history_and_k(client):
    response = client.post(
        "/api/ask",
        json={"question": "side effects?", "history": ["Is cyclophosphamide used?"], "k": 3},
    )
    assert response.status_code == 200
    assert response.json()["history"] == ["Is cyclophosphamide used?"]
    assert len(response.json()["passages"]) == 3


def test_health_reports_the_served_index(client, engine):
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["index"]["version"] == engine.index.version


@pytest.mark.parametrize(
    ("payload", "field", "words"),
    [
        ({"question": ""}, "question", "empty"),
        ({"question": "   "}, "question", "empty"),
        ({"question": "x" * (MAX_QUESTION_CHARS + 1)}, "question", str(MAX_QUESTION_CHARS)),
        ({"question": 42}, "question", "string"),
        ({}, "question", "required"),
        ({"question": "ok", "k": 0}, "k", "greater than or equal to 1"),
        ({"question": "ok", "k": MAX_K + 1}, "k", f"less than or equal to {MAX_K}"),
        ({"question": "ok", "k": "five"}, "k", "integer"),
        ({"question": "ok", "history": "not a list"}, "history", "list"),
        ({"question": "ok", "history": [""]}, "history", "empty"),
        ({"question": "ok", "history": ["fine", 5]}, "history[1]:", "string"),  # as the core says
        ({"question": "ok", "colour": "blue"}, "colour", "not permitted"),
    ],
)
def test_invalid_requests_get_a_422_a_person_can_act_on(client, payload, field, words):
    response = client.post("/api/ask", json=payload)
    assert response.status_code == 422
    body = response.json()
    assert field in body["message"] and words in body["message"]
    assert isinstance(body["detail"], list) and body["detail"]


def test_not_json_and_too_large_bodies(client):
    response = client.post(
        "/api/ask",
        content=b"question=hi",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415
    assert "Content-Type: application/json" in response.json()["message"]
    response = client.post(
        "/api/ask",
        content=b"x" * (MAX_BODY_BYTES + 1),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert "larger than" in response.json()["message"]


def test_security_headers_on_json_responses(client):
    for response in (client.get("/api/health"), client.post("/api/ask", json={})):
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value


def test_an_article_filter_and_an_unknown_article(client):
    response = client.post(
        "/api/ask",
        json={"question": "dose?", "article": "what-is-multifocal-motor-neuropathy", "k": 2},
    )
    assert response.status_code == 200
    assert {p["article_id"] for p in response.json()["passages"]} == {
        "what-is-multifocal-motor-neuropathy"
    }
    response = client.post("/api/ask", json={"question": "dose?", "article": "nope"})
    assert response.status_code == 422
    assert "there is no article 'nope'" in response.json()["message"]
    assert response.json()["detail"][0]["loc"] == ["body", "article"]  # the field to mend


@pytest.mark.parametrize(
    ("question", "history"),
    [("What IVIg dose is used?", []), ("Any side effects?", ["Is cyclophosphamide used?"]),
     ("What is the capital of France?", [])],
)  # fmt: skip
def test_every_answer_matches_the_documented_response_schema(client, question, history):
    from web.api import AskResponse

    response = client.post("/api/ask", json={"question": question, "history": history})
    assert response.status_code == 200
    checked = AskResponse.model_validate(response.json(), strict=True)
    assert checked.model_dump(mode="json") == response.json()  # no field beyond the schema


def test_the_request_log_leaves_questions_out_unless_asked_to(engine, caplog, monkeypatch):
    question = "Does Zebediah Quillfeather need IVIg?"
    for log_questions in (False, True):
        caplog.clear()
        app = create_app(Settings(log_questions=log_questions), engine=engine)
        with TestClient(app) as client, caplog.at_level("INFO", "mmn_assistant.requests"):
            client.post("/api/ask", json={"question": question, "k": 1})
            client.get("/ask", params={"q": question, "history": "Is IVIg used?"})
        lines = [json.loads(r.getMessage()) for r in caplog.records if r.name.endswith("requests")]
        assert [(line["method"], line["path"], line["status"]) for line in lines] == [
            ("POST", "/api/ask", 200),
            ("GET", "/ask", 200),
        ]
        logged = [line.get("question") for line in lines]
        assert logged == ([question, question] if log_questions else [None, None])
        if log_questions:
            assert lines[1]["history"] == ["Is IVIg used?"]
    monkeypatch.setenv("MMN_LOG_QUESTIONS", "1")
    assert Settings().log_questions
    monkeypatch.setenv("MMN_LOG_QUESTIONS", "0")
    assert not Settings().log_questions


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"question": "What IVIg dose is used?"}', "application/json; charset=utf-8"),
        (b'{"question": "What IVIg dose is used?"}', "application/problem+json"),
        ('\ufeff{"question": "What IVIg dose is used?"}'.encode(), "application/json"),
        (b'  {"question": "Is MMN painful?", "question": "What IVIg dose is used?"}\n', None),
        (b'{"question": "What IVIg dose is used?", "k": 1e400}', None),
        (b'{"question": "What IVIg dose is used?", "k": NaN}', None),
        (b" \n ", None),
    ],
)
def test_raw_bodies_get_the_same_answer_by_the_shortcut_and_by_the_route(
    client, content, content_type
):
    """Bytes as clients send them: a charset, a +json type, a byte-order mark, duplicate keys,
    numbers JSON cannot hold, a body of white space."""
    _both_ways(client, content, content_type or "application/json")


def _guard(app):
    """The app's RequestGuard, as the first request built the middleware around it."""
    from web.guard import RequestGuard

    layer = app.middleware_stack
    while not isinstance(layer, RequestGuard):
        layer = layer.app
    return layer


def _both_ways(client, content: bytes, content_type: str = "application/json", watch=None):
    """The same POST /api/ask answered by the guard's shortcut (seen by `watch`, when given),
    then by the FastAPI route alone."""
    client.get("/api/health")  # builds the middleware
    guard = _guard(client.app)
    shortcut = guard.shortcuts["/api/ask"]
    headers = {"content-type": content_type}
    try:
        guard.shortcuts = {"/api/ask": watch(shortcut) if watch else shortcut}
        fast = client.post("/api/ask", content=content, headers=headers)
        guard.shortcuts = {}
        routed = client.post("/api/ask", content=content, headers=headers)
    finally:
        guard.shortcuts = {"/api/ask": shortcut}
    assert (fast.status_code, fast.content) == (routed.status_code, routed.content)
    assert dict(fast.headers) == dict(routed.headers)
    return fast


SHORTCUT_CASES = [
    {"question": "What IVIg dose is used?"},
    {"question": "  side   effects?\t", "history": ["Is cyclophosphamide used?"], "k": 3},
    {"question": "Is MMN painful?", "article": "what-is-multifocal-motor-neuropathy", "k": 1},
    {"question": "What is the capital of France?"},
    {"question": "Wie wird MMN behandelt? é ü 日本"},
    {"question": "What is MMN?", "article": "no-such-article"},
    {"question": "What is MMN?", "k": True},
    {"question": "What is MMN?", "k": "5"},
    {"question": ""},
    {"question": "What is MMN?", "extra": 1},
    ["What is MMN?"],
    "What is MMN?",
    None,
]


@pytest.mark.parametrize("payload", SHORTCUT_CASES, ids=lambda p: json.dumps(p)[:40])
def test_the_shortcut_answers_as_the_route_does(client, payload):
    """`POST /api/ask` is answered before routing when its body is well formed; whichever
    path a request takes, the client gets the same status, headers and body."""
    taken = []

    def watch(shortcut):
        async def watched(scope, body):
            taken.append(await shortcut(scope, body))
            return taken[-1]

        return watched

    fast = _both_ways(client, json.dumps(payload, ensure_ascii=False).encode(), watch=watch)
    assert (taken != [None]) == (fast.status_code == 200), "valid requests take the shortcut"
    if fast.status_code == 200:
        assert fast.json()["disclaimer"] and fast.json()["passages"]


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=40),
    st.sampled_from(["What IVIg dose is used?", "what-is-multifocal-motor-neuropathy", "\ud800"]),
)
_FIELDS = st.sampled_from(["question", "history", "k", "article", "extra", "Question"])
_BODIES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_FIELDS, inner, max_size=5),
    max_leaves=8,
) | st.fixed_dictionaries(
    {"question": st.text(min_size=1, max_size=60)},
    optional={
        "history": st.lists(st.text(max_size=30), max_size=3),
        "k": st.one_of(st.integers(-2, 25), st.floats(0, 20), st.booleans()),
        "article": st.sampled_from(["what-is-multifocal-motor-neuropathy", "nope", ""]),
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=_BODIES, escaped=st.booleans())
def test_any_body_gets_the_same_answer_by_the_shortcut_and_by_the_route(client, payload, escaped):
    """Whatever JSON a client sends, the shortcut answers it as the route would, or leaves it
    to the route: status and bytes are the same either way."""
    content = json.dumps(payload, ensure_ascii=escaped).encode("utf-8", "surrogatepass")
    fast = _both_ways(client, content)
    assert fast.status_code in (200, 422), fast.content[:300]


def test_every_operation_in_the_schema_has_an_id_of_its_own(client):
    """OpenAPI forbids two operations with one id, and client generators refuse such a
    schema: GET and HEAD of /api/health used to share one."""
    operations = client.get("/openapi.json").json()["paths"]
    ids = [op["operationId"] for ops in operations.values() for op in ops.values()]
    assert len(ids) == len(set(ids)), ids
    assert operations["/api/health"]["head"]["operationId"].endswith("_head")
    assert operations["/api/health"]["get"]["operationId"].endswith("_get")
    assert client.head("/api/health").status_code == 200


DDX_LEAD_IN = "MMN must be distinguished from several conditions with overlapping features:"


def test_a_lead_in_comes_with_the_list_it_introduces(client):
    """Alone, "… must be distinguished from several conditions …:" names none of them: a
    lead-in in an answer carries its list, each statement with its citations and place."""
    body = client.post("/api/ask", json={"question": "MMN ddx?", "k": 10}).json()
    lead = next(p for p in body["passages"] if p["text"] == DDX_LEAD_IN)
    assert [i["text"].split("—")[0] for i in lead["items"]] == [
        "Amyotrophic lateral sclerosis (ALS) and other motor neuron diseases",
        "Chronic inflammatory demyelinating polyneuropathy (CIDP) with asymmetric onset",
        "Lewis-Sumner syndrome (MADSAM neuropathy)",
    ]
    assert [i["citations"] for i in lead["items"]] == [[2], [1, 2], [1]]
    assert all(i["url"].startswith("/article/what-is-multifocal-motor-neuropathy#p-")
               for i in lead["items"])  # fmt: skip
    assert all(p["items"] == [] for p in body["passages"] if not p["text"].endswith(":"))


def test_the_schema_names_the_refusals_a_client_must_handle(client):
    """A generated client models only what the schema lists: the server's load shedding (503
    with Retry-After), a body too slow (408) and a crash (500) are answered in the same shape."""
    ask = client.get("/openapi.json").json()["paths"]["/api/ask"]["post"]["responses"]
    for status in ("408", "413", "415", "422", "500", "503"):
        assert ask[status]["content"]["application/json"]["schema"]["$ref"].endswith(
            "/ErrorResponse"
        ), status
    assert "Retry-After" in ask["503"]["headers"]
