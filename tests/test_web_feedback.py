"""`POST /feedback` on the real app and index: the judgement buttons, the form token, the origin
check, the rate limit, the limits on fields, `no-store`, and a store that cannot be written.

The browser clicks the same buttons, with and without JavaScript, in test_browser.py."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from fastapi.testclient import TestClient

from assistant.feedback import FeedbackStore
from assistant.settings import current
from tests.test_web import DOSE, DOSE_PASSAGE, OUT_OF_SCOPE, Node, ask, parse
from web.app import create_app
from web.forms import COOKIE, NOTICES

pytestmark = pytest.mark.model

BASE = "http://testserver"


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "feedback" / "feedback.sqlite3"


@pytest.fixture
def client(engine, store_path):
    settings = current(feedback_db=store_path, feedback_per_minute=30)
    with TestClient(create_app(settings, engine=engine), base_url=BASE) as client:
        yield client


def form_of(doc: Node, rank: int = 1) -> Node:
    forms = [f for f in doc.find_all("form") if "feedback" in f.get("class", "").split()]
    return forms[rank - 1]


def fields(form: Node) -> list[tuple[str, str]]:
    return [(i["name"], i.get("value") or "") for i in form.find_all("input", type="hidden")]


def post_form(client: TestClient, data: list[tuple[str, str]], **headers: str):
    """A form POST as a browser sends it (repeated fields kept in order)."""
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    return client.post(
        "/feedback", content=urlencode(data), headers=headers, follow_redirects=False
    )


def send(client: TestClient, form: Node, verdict: str, *, json: bool = False, **headers: str):
    if json:
        headers["Accept"] = "application/json"
    return post_form(client, [*fields(form), ("verdict", verdict)], **headers)


def rows(store_path: Path):
    return FeedbackStore(store_path).rows()


def test_each_passage_has_two_buttons_and_a_privacy_note_above_them(client):
    doc = ask(client, DOSE)
    form = form_of(doc)
    buttons = [(b["value"], b.text) for b in form.find_all("button")]
    assert buttons == [
        ("answers", "Answers my question (passage 1)"),
        ("not", "Not this (passage 1)"),
    ]
    assert form["method"] == "post" and form["action"] == "/feedback"
    assert form["aria-label"] == "Your judgement of passage 1"
    names = {name for name, _ in fields(form)}
    assert {"csrf", "question", "article", "passage", "rank"} <= names
    privacy = doc.one("p", "feedback__privacy").text
    assert "this question for the article's editors" in privacy and "patient identifiers" in privacy


def test_a_judgement_is_stored_and_comes_back_to_the_same_answer_with_thanks(client, store_path):
    first = ask(client, "And the dose?", "How is MMN treated?")
    response = send(client, form_of(first), "answers")
    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    query = parse_qs(location.query)
    assert (location.path, query["q"], query["history"]) == (
        "/ask", ["And the dose?"], ["How is MMN treated?"]
    )  # fmt: skip
    assert query["feedback"] == ["saved"] and location.fragment == "feedback-notice"
    (row,) = rows(store_path)
    assert (row.question, row.history, row.verdict, row.rank) == (
        "And the dose?", ("How is MMN treated?",), "answers", 1
    )  # fmt: skip
    assert row.index_version == client.app.state.engine.index.version  # the page's version
    assert ("version", row.index_version) in fields(form_of(first))
    back = parse(client.get(response.headers["location"]).text)
    assert back.one("div", "notice--thanks").text.strip() == NOTICES["saved"]


def test_with_javascript_the_answer_is_json_and_nothing_redirects(client, store_path):
    response = send(client, form_of(ask(client, DOSE), 2), "not", json=True)
    assert response.status_code == 200
    assert response.json() == {"saved": True, "message": NOTICES["saved"]}
    assert [(r.verdict, r.rank) for r in rows(store_path)] == [("not", 2)]


def test_a_declined_answer_offers_the_article_should_cover_this(client, store_path):
    doc = ask(client, OUT_OF_SCOPE)
    missing = next(f for f in doc.find_all("form") if "feedback--missing" in f.get("class", ""))
    assert [b.text for b in missing.find_all("button")] == ["The article should cover this"]
    assert send(client, missing, "missing").status_code == 303
    (row,) = rows(store_path)
    assert (row.verdict, row.passage, row.rank, row.question) == (
        "missing",
        None,
        None,
        OUT_OF_SCOPE,
    )


def test_a_post_without_a_valid_token_is_refused(client, store_path):
    form = form_of(ask(client, DOSE))
    forged = [(n, "0" * 64 if n == "csrf" else v) for n, v in fields(form)]
    response = post_form(client, [*forged, ("verdict", "answers")])
    assert response.status_code == 403 and "reload the answer" in response.text
    client.cookies.clear()  # the token without the cookie it was made for
    assert send(client, form, "answers").status_code == 403
    assert rows(store_path) == []


def test_a_post_from_another_origin_is_refused_even_with_a_token(client, store_path):
    form = form_of(ask(client, DOSE))
    response = send(client, form, "answers", Origin="https://evil.example")
    assert response.status_code == 403
    # as the desk refuses them: a browser that sends no Origin but names the other site
    for headers in ({"Referer": "https://evil.example/page"}, {"Sec-Fetch-Site": "cross-site"}):
        assert send(client, form, "answers", **headers).status_code == 403, headers
    assert send(client, form, "answers", json=True, Origin=BASE).status_code == 200
    assert len(rows(store_path)) == 1


def test_the_cookie_is_http_only_and_same_site_strict(client):
    response = client.get("/ask", params={"q": DOSE})
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    again = client.get("/ask", params={"q": DOSE})
    assert "set-cookie" not in again.headers  # one cookie per browser, not one per page


def test_the_31st_judgement_in_a_minute_is_refused_with_retry_after(client, store_path):
    form = form_of(ask(client, DOSE))
    for _ in range(30):
        assert send(client, form, "answers", json=True).status_code == 200
    refused = send(client, form, "answers", json=True)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert "wait" in refused.json()["message"]
    assert len(rows(store_path)) == 1  # one browser's same judgement, sent thirty times


def test_the_same_judgement_again_is_one_vote_and_another_browsers_is_its_own(client, store_path):
    """A reviewer's twenty clicks stored twenty rows, twenty votes in `feedback stats`."""
    doc = ask(client, OUT_OF_SCOPE)
    missing = next(f for f in doc.find_all("form") if "feedback--missing" in f.get("class", ""))
    for _ in range(3):
        assert send(client, missing, "missing", json=True).json()["saved"] is True
    (row,) = rows(store_path)
    client.cookies.clear()  # a colleague's browser judges the same answer
    doc = ask(client, OUT_OF_SCOPE)
    missing = next(f for f in doc.find_all("form") if "feedback--missing" in f.get("class", ""))
    assert send(client, missing, "missing", json=True).status_code == 200
    first, second = rows(store_path)
    assert first.id == row.id and first.client != second.client
    assert len(first.client) == 64 and first.client not in missing.text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("rank", "\u00b2"), "rank must be a whole number"),  # "²".isdigit(), yet not a number
        (("rank", "1" * 5000), "rank must be a whole number"),
        (("verdict", "maybe"), "verdict must be one of answers, not, missing"),
        (("question", "x" * 501), "the limit is 500"),
        (("question", "   "), "question is empty"),
        (("rank", "0"), "rank must be a whole number from 1 to 20"),
        (("passage", "not-a-passage"), "passage is not a passage of that article"),
        (("article", "no-such-article"), "article is not an article of this index"),
        (("searched", "no-such-article"), "searched is not an article of this index"),
    ],
)
def test_fields_outside_the_limits_get_422_saying_what_to_fix(client, store_path, change, message):
    form = form_of(ask(client, DOSE))
    name, value = change
    data = [(n, value if n == name else v) for n, v in fields(form)]
    data.append(("verdict", value if name == "verdict" else "answers"))
    response = post_form(client, data, Accept="application/json")
    assert response.status_code == 422
    assert message in response.json()["message"]
    assert rows(store_path) == []


def test_answers_and_feedback_are_never_cached(client):
    assert client.get("/ask", params={"q": DOSE}).headers["cache-control"] == "no-store"
    api = client.post("/api/ask", json={"question": DOSE})
    assert api.headers["cache-control"] == "no-store"
    response = send(client, form_of(ask(client, DOSE)), "answers")
    assert response.headers["cache-control"] == "no-store"
    assert "no-store" not in client.get("/").headers.get("cache-control", "")


def test_a_damaged_store_never_stops_answers_and_the_page_says_so(client, store_path, caplog):
    store_path.parent.mkdir(parents=True, exist_ok=True)
    store_path.write_bytes(b"not a database " * 200)
    doc = ask(client, DOSE)
    assert DOSE_PASSAGE in doc.text
    assert client.post("/api/ask", json={"question": DOSE}).status_code == 200
    with caplog.at_level(logging.ERROR, logger="mmn_assistant.web"):
        response = send(client, form_of(doc), "answers", json=True)
    assert response.status_code == 503
    assert response.json() == {"saved": False, "message": NOTICES["failed"]}
    assert any("feedback not saved" in r.getMessage() for r in caplog.records)
    after = send(client, form_of(doc), "answers")
    back = parse(client.get(after.headers["location"]).text)
    assert NOTICES["failed"] in back.text and DOSE_PASSAGE in back.text


def test_a_store_folder_the_server_cannot_reach_never_stops_the_page(engine, tmp_path):
    """A store configured under a file (or a folder the service user may not enter) raised
    NotADirectoryError from the form key's clean-up: every answer page was a 500."""
    (tmp_path / "not-a-folder").write_text("a file", encoding="utf-8")
    settings = current(feedback_db=tmp_path / "not-a-folder" / "feedback.sqlite3")
    with TestClient(create_app(settings, engine=engine), base_url=BASE) as client:
        for _ in range(2):  # and not only the first time
            doc = ask(client, DOSE)
            assert DOSE_PASSAGE in doc.text
        response = send(client, form_of(doc), "answers", json=True)
    assert response.status_code == 503
    assert response.json() == {"saved": False, "message": NOTICES["failed"]}


def test_a_new_form_cookie_for_each_judgement_does_not_lift_the_limit(engine, store_path):
    """Anyone may load a page and get a form cookie: a client that did so before each judgement
    passed the per-browser limit and could fill the store and the editors' queue. An address
    may send ten browsers' worth a minute."""
    settings = current(feedback_db=store_path, feedback_per_minute=2)
    with TestClient(create_app(settings, engine=engine), base_url=BASE) as client:
        statuses = []
        for _ in range(22):
            client.cookies.clear()
            statuses.append(
                send(client, form_of(ask(client, DOSE)), "answers", json=True).status_code
            )
    assert statuses[:20] == [200] * 20 and statuses[20:] == [429, 429]
    assert len(rows(store_path)) == 20


def test_a_page_from_a_version_still_kept_is_judged_against_that_versions_passages(
    engine, store_path, tmp_path
):
    """An editor corrects the dose and rebuilds while a clinician reads the old answer: their
    "Not this" on the old dose was refused ("not a passage of that article") and lost. A page
    of any version still kept is checked against that version's passages; a version pruned (or
    never built) is refused, and the served version does not take another's passages."""
    import dataclasses
    import json

    from assistant.store.directory import PASSAGES

    served = engine.index.version
    dose = next(p for p in engine.index.passages if p.text == DOSE_PASSAGE)
    old = dataclasses.replace(dose, id="0ld0ld0ld0ld0ld0", text="Dosing: 1 g/kg")
    older = "20000101T000000.000001-aaaaaa"
    for name, passages in ((older, [old, dose]), (served, engine.index.passages)):
        folder = tmp_path / "index" / "versions" / name
        folder.mkdir(parents=True)
        (folder / "manifest.json").write_text("{}")
        (folder / PASSAGES).write_text(
            "".join(json.dumps(dataclasses.asdict(p)) + "\n" for p in passages)
        )
    settings = current(feedback_db=store_path, index_dir=tmp_path / "index")
    with TestClient(create_app(settings, engine=engine), base_url=BASE) as client:
        form = [(n, v) for n, v in fields(form_of(ask(client, DOSE), rank=1)) if n != "verdict"]
        for version, passage, status in (
            (older, old.id, 200),  # the old dose, on the page of the version before
            (older, dose.id, 200),  # a passage both versions serve
            (served, old.id, 422),  # the served version never showed it
            ("20000101T000000.000000-cccccc", old.id, 422),  # not kept
        ):
            changed = {"version": version, "passage": passage}
            data = [(n, changed.get(n, v)) for n, v in form] + [("verdict", "not")]
            response = post_form(client, data, Accept="application/json")
            assert response.status_code == status, (version, response.text)
    row, still = rows(store_path)
    assert (row.index_version, row.passage) == (older, old.id)
    assert row.shown == ((old.id, "Dosing: 1 g/kg"),)  # the words judged, for the desk
    assert (still.passage, still.shown) == (dose.id, ())  # the desk ranks it among today's

    from web.desk.views import queue_item  # the desk: the words judged, then what answers now

    served = {p.id for p in engine.index.passages}
    item = queue_item(row, served, [(dose.id, dose.text)])
    assert [(p.text, p.judged, p.current) for p in item.shown] == [
        ("Dosing: 1 g/kg", True, False),
        (DOSE_PASSAGE, False, True),
    ]
    assert item.added_now and not item.ranked_now


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("version", "20990101T000000-abcdef"), "version is not a version of this index"),
        (("rank", "2"), "the answer has changed since the page was shown"),
        (("verdict", "missing"), "the answer has changed since the page was shown"),
    ],
)
def test_a_judgement_must_name_what_was_shown(client, store_path, change, message):
    """A made-up version, a passage at a rank the clinician never saw it at, or "the article
    should cover this" of an answer that was not declined would skew the desk's quality
    figures: all are refused."""
    form = form_of(ask(client, DOSE))
    name, value = change
    verdict = value if name == "verdict" else "answers"
    kept = [(n, value if n == name else v) for n, v in fields(form) if n != "verdict"]
    data = kept + [("verdict", verdict)]
    response = post_form(client, data, Accept="application/json")
    assert response.status_code == 422 and message in response.json()["message"]
    assert rows(store_path) == []


def test_a_judgement_refused_without_script_says_so_and_leads_back_to_the_answer(client):
    """Without JavaScript a refusal showed "Unprocessable Entity", a raw clause and no way back
    to the answer it told the clinician to reload."""
    form = form_of(ask(client, DOSE))
    data = [(n, "2" if n == "rank" else v) for n, v in fields(form)] + [("verdict", "answers")]
    response = post_form(client, data)
    assert response.status_code == 422
    page = parse(response.text)
    assert page.one("h1").text == "Your judgement was not saved"
    message = page.one("p", "error-panel__message").text
    assert message == "The answer has changed since the page was shown; ask again."
    (back,) = [a for a in page.find_all("a") if a.text == "Back to the answer"]
    reopened = parse(client.get(back["href"]).text)
    assert DOSE_PASSAGE in reopened.text and reopened.one("h1") is not None
    assert parse_qs(urlsplit(back["href"]).query)["q"] == [DOSE]


def test_the_shipped_proxy_passes_the_host_with_its_port(client, store_path):
    """nginx's `$host` drops the port: behind deploy/nginx.conf on :8000 the browser's Origin
    named the port and the Host did not, so every judgement was refused as from another site."""
    conf = (Path(__file__).parents[1] / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    assert re.findall(r"^\s*proxy_set_header\s+Host\s+(\S+);", conf, re.MULTILINE) == ["$http_host"]
    doc = ask(client, DOSE)  # what the browser sends through it: Origin and Host, port and all
    sent = send(client, form_of(doc), "answers", json=True, Origin="http://127.0.0.1:8000",
                Host="127.0.0.1:8000")  # fmt: skip
    assert sent.status_code == 200 and len(rows(store_path)) == 1
