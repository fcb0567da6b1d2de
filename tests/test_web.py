"""The clinician's page on the real app, the real model and a real index: what a person sees.

Every page is parsed (html.parser) and checked for what it shows: the passage, its citation
markers, its section, the disclaimer, the decline message, the errors, and that nothing a user
typed ever becomes markup.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest
from fastapi.testclient import TestClient
from markupsafe import Markup

from assistant.answer import NOT_COVERED
from assistant.limits import (
    MAX_ARTICLE_ID_CHARS,
    MAX_HISTORY_ITEMS,
    MAX_QUESTION_CHARS,
    MAX_URL_BYTES,
)
from web import text, views
from web.app import SECURITY_HEADERS, create_app
from web.pages import STATIC

ARTICLE_ID = "what-is-multifocal-motor-neuropathy"
DOSE = "What IVIg dose is used?"
DOSE_PASSAGE = "Dosing: 1.6-2.4 g/kg given intravenously over 3-5 days"
OUT_OF_SCOPE = "What is the capital of France?"
UNMENTIONED = "Would mycophenolate help in MMN?"
HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>\"' onmouseover=alert(3) &amp;"

# --- a small DOM over html.parser ---------------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


@dataclass(eq=False)
class Node:
    tag: str
    attrs: dict[str, str | None]
    children: list[Node | str] = field(default_factory=list)

    def __getitem__(self, name: str) -> str | None:
        return self.attrs[name]

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.attrs.get(name, default)

    @property
    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())

    def iter(self) -> Iterator[Node]:
        for child in self.children:
            if isinstance(child, Node):
                yield child
                yield from child.iter()

    def find_all(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> list[Node]:
        return [
            n
            for n in self.iter()
            if (tag is None or n.tag == tag)
            and (cls is None or cls in n.classes)
            and all(n.attrs.get(k.rstrip("_")) == v for k, v in attrs.items())
        ]

    def one(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> Node:
        found = self.find_all(tag, cls, **attrs)
        assert len(found) == 1, f"expected one {tag or ''}.{cls or ''} {attrs}, found {len(found)}"
        return found[0]

    def raw_text(self) -> str:
        return "".join(c if isinstance(c, str) else c.raw_text() for c in self.children)

    @property
    def text(self) -> str:
        return " ".join(self.raw_text().split())


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> Node:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root


def document_order(root: Node, *nodes: Node) -> list[int]:
    order = {id(n): i for i, n in enumerate(root.iter())}
    return [order[id(n)] for n in nodes]


def quote_text(passage: Node) -> str:
    """A passage's statement as shown, without its citation markers."""
    quote_node = passage.one("blockquote")
    return "".join(
        c if isinstance(c, str) else c.raw_text()
        for c in quote_node.one("p").children
        if not (isinstance(c, Node) and "cites" in c.classes)
    ).strip()


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(engine):
    with TestClient(create_app(engine=engine)) as client:
        yield client


def page(client: TestClient, url: str, status: int = 200) -> Node:
    response = client.get(url)
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    return parse(response.text)


def ask(client: TestClient, question: str, *history: str, status: int = 200) -> Node:
    return page(client, views.ask_url(question, history), status)


def hidden_history(form: Node) -> list[str | None]:
    return [i.get("value") for i in form.find_all("input", type="hidden", name="history")]


# --- home ---------------------------------------------------------------------------------------


@pytest.mark.model
def test_home_shows_the_article_its_date_its_review_notice_the_box_and_examples(client, engine):
    article = engine.index.articles[ARTICLE_ID]
    doc = page(client, "/")
    assert doc.one("h1").text == article.title == "What is multifocal motor neuropathy?"
    updated = doc.one("main").one("time")
    assert updated["datetime"] == "2026-02-02" and updated.text == "2 February 2026"
    notice = doc.one("div", "notice--caution")
    assert "Review status: pending human review" in notice.text
    assert article.review_note and article.review_note in notice.text
    form = doc.one("form")
    assert (form["action"], form["method"]) == ("/ask", "get")
    field_ = form.one("input", name="q")
    assert form.one("label", for_=field_["id"]).text == "Your question"
    assert field_["maxlength"] == str(MAX_QUESTION_CHARS)
    assert f"Up to {MAX_QUESTION_CHARS} characters" in form.text
    examples = doc.one("ul", "examples__list").find_all("a")
    shown = engine.index.shown_examples()[: views.SHOWN_EXAMPLES]
    assert len(shown) == views.SHOWN_EXAMPLES  # from the article's examples file
    assert [a.text for a in examples] == shown
    assert [a["href"] for a in examples] == [views.ask_url(q) for q in shown]
    assert field_["placeholder"] == f"e.g. {shown[0]}"
    assert any(a.get("href") == f"/article/{ARTICLE_ID}" for a in doc.one("main").find_all("a"))


@pytest.mark.model
def test_pages_with_signed_forms_are_kept_from_shared_caches(client):
    """The home and article pages set the form cookie their forms are signed for; a shared
    cache that kept one would hand the cookie, or forms signed for it, to other browsers."""
    for path in ("/", f"/article/{ARTICLE_ID}"):
        client.cookies.clear()
        response = client.get(path)
        assert response.status_code == 200 and "mmn_form=" in response.headers["set-cookie"]
        assert response.headers["cache-control"] == "private", path
    assert client.get("/ask", params={"q": "IVIg dose?"}).headers["cache-control"] == "no-store"


@pytest.mark.model
def test_every_example_question_on_the_home_page_is_answered_by_the_article(client, engine):
    for question in engine.index.shown_examples()[: views.SHOWN_EXAMPLES]:
        doc = ask(client, question)
        assert not doc.find_all(cls="notice--decline"), question
        first = doc.one("ol", "passages").find_all("li")[0]
        assert first.one(cls="label").text == views.LABEL_BEST


# --- the answer ---------------------------------------------------------------------------------


@pytest.mark.model
def test_an_answer_shows_ranked_cited_passages_with_sections_links_and_the_disclaimer(
    client, engine
):
    doc = ask(client, DOSE)
    assert doc.one("h1").text == DOSE
    passages = doc.one("ol", "passages").find_all("li", "passage")
    assert len(passages) == 5
    top = passages[0]
    assert "passage--best" in top.classes
    assert top.one(cls="passage__rank").text == "Rank 1"
    assert top.one(cls="label").text == views.LABEL_BEST
    assert quote_text(top) == DOSE_PASSAGE
    assert [s.text for s in top.find_all("sup", "cite")] == ["[4]"]
    assert top.one(cls="passage__section").text == (
        "Section: Multifocal Motor Neuropathy (MMN) › IVIg Therapy"
    )
    assert [m.text for m in top.find_all("mark")] == ["Dosing"]
    link = top.one("a", "passage__link")
    assert link["href"].startswith(f"/article/{ARTICLE_ID}#p-")
    assert [p.one(cls="passage__rank").text for p in passages] == [f"Rank {i}" for i in range(1, 6)]

    source = doc.one(cls="source")
    assert source.one("a")["href"] == f"/article/{ARTICLE_ID}"
    assert "2 February 2026" in source.text and "pending human review" in source.text

    disclaimer = doc.one("aside", "disclaimer")
    assert disclaimer.one("h2").text == "Professional medical disclaimer"
    assert disclaimer.one("p").text == engine.index.articles[ARTICLE_ID].disclaimer
    assert document_order(doc, passages[-1], disclaimer) == sorted(
        document_order(doc, passages[-1], disclaimer)
    )
    assert not doc.find_all(cls="notice--decline")


@pytest.mark.parametrize("question", [DOSE, "how is mmn treated", "mmn vs als"])
@pytest.mark.model
def test_relevance_labels_follow_the_rank_order(client, question):
    doc = ask(client, question)
    order = [views.LABEL_BEST, views.LABEL_RELEVANT, views.LABEL_LESS_RELEVANT]
    labels = [p.one(cls="label").text for p in doc.one("ol", "passages").find_all("li", "passage")]
    assert labels[0] == views.LABEL_BEST
    assert [order.index(label) for label in labels] == sorted(order.index(x) for x in labels)


@pytest.mark.model
def test_html_and_json_answers_come_from_the_same_core_call(client):
    json_answer = client.post("/api/ask", json={"question": DOSE}).json()
    doc = ask(client, DOSE)
    shown = doc.one("ol", "passages").find_all("li", "passage")
    assert [p.one("a", "passage__link")["href"] for p in shown] == [
        p["url"] for p in json_answer["passages"]
    ]
    assert [quote_text(p) for p in shown] == [p["text"] for p in json_answer["passages"]]
    assert [[s.text for s in p.find_all("sup", "cite")] for p in shown] == [
        [f"[{n}]" for n in p["citations"]] for p in json_answer["passages"]
    ]


@pytest.mark.model
def test_a_declined_question_folds_its_closest_passages_away_unmarked(client, engine):
    assert client.post("/api/ask", json={"question": OUT_OF_SCOPE}).json()["answerable"] is False
    doc = ask(client, OUT_OF_SCOPE)
    notice = doc.one("div", "notice--decline")
    assert notice.one(cls="notice__body").text == NOT_COVERED
    # a heading, where an answer has its passages': moving by headings finds the verdict
    assert notice.one("h2", "notice__title").text == "Not covered by the article"
    folded = doc.one("details", "closest")
    assert "open" not in folded.attrs  # closed until the clinician asks to see them
    assert folded.one("summary").text.startswith("Closest passages (5), none of which answers")
    passages = folded.one("ol", "passages")
    assert "passages--weak" in passages.classes
    labels = {p.one(cls="label").text for p in passages.find_all("li", "passage")}
    assert labels == {views.LABEL_WEAK}
    assert not doc.find_all("mark")  # no word is highlighted as if it answered
    assert not doc.find_all("h2", "passages-heading")
    first, second = document_order(doc, notice, folded)
    assert first < second
    assert doc.one("aside", "disclaimer").one("p").text == (
        engine.index.articles[ARTICLE_ID].disclaimer
    )


@pytest.mark.model
def test_a_question_declined_for_a_word_no_article_uses_names_the_word(client):
    """Near-topic questions the article does not answer embed close to its passages; the word
    the article never uses ("mycophenolate") declines them, and the clinician is told which."""
    body = client.post("/api/ask", json={"question": UNMENTIONED}).json()
    assert body["answerable"] is False and body["unmentioned"] == ["mycophenolate"]
    notice = ask(client, UNMENTIONED).one("div", "notice--decline")
    assert notice.one(cls="notice__body").text == NOT_COVERED
    assert notice.one("p", "notice__unmentioned").text == "No article mentions mycophenolate."
    assert notice.one("p", "notice__unmentioned").one("q").text == "mycophenolate"
    covered = client.post("/api/ask", json={"question": DOSE}).json()
    assert covered["answerable"] is True and covered["unmentioned"] == []


def test_an_articles_sub_and_superscripts_are_drawn_as_such_and_nothing_else():
    """A blind writer's "−30 cmH<sub>2</sub>O" was drawn with its tags as text on the article
    view and in answers. Only <sub> and <sup> around a few plain characters pass."""
    assert text.scripts("cmH<sub>2</sub>O and 10<SUP>9</SUP>/L") == (
        "cmH<sub>2</sub>O and 10<sup>9</sup>/L"
    )
    assert text.scripts("<sup><b>1</b></sup> <sub onclick=x>2</sub> <script>3</script>") == (
        "&lt;sup&gt;&lt;b&gt;1&lt;/b&gt;&lt;/sup&gt; &lt;sub onclick=x&gt;2&lt;/sub&gt; "
        "&lt;script&gt;3&lt;/script&gt;"
    )
    marked = text.emphasise("cmH<sub>2</sub>O pressure", text.question_stems("pressure"))
    assert text.scripts(marked) == "cmH<sub>2</sub>O <mark>pressure</mark>"
    # a word the question matched inside the tag (a second read's find)
    count = text.emphasise("below 10<sup>12</sup>/L", text.question_stems("10^12"))
    assert text.scripts(count) == "below <mark>10</mark><sup><mark>12</mark></sup>/L"
    # a question saying "sub" or "sup" marks its words, never the tags (a blind writer's)
    asked = text.emphasise("SpO<sub>2</sub> in sub acute", text.question_stems("sub acute sup"))
    assert text.scripts(asked) == "SpO<sub>2</sub> in <mark>sub acute</mark>"


def test_matched_words_are_emphasised_and_everything_else_is_escaped():
    stems = text.question_stems("Which conduction block tests, and the <b>dose</b>?")
    shown = text.emphasise("Conduction blocks <i>are</i> dosed & the dose-finding", stems)
    assert isinstance(shown, Markup)
    assert shown == (
        "<mark>Conduction blocks</mark> &lt;i&gt;are&lt;/i&gt; <mark>dosed</mark> &amp; the "
        "dose-finding"
    )  # whole words only: "dose" is not marked inside "dose-finding"
    long = text.question_stems("How long does IVIg last long-term?")
    assert text.emphasise("Long-term IVIg: how long it lasts", long) == (
        "<mark>Long-term IVIg</mark>: <mark>how long</mark> it <mark>lasts</mark>"
    )
    assert text.emphasise("It is a long-term treatment", text.question_stems("how long")) == (
        "It is a long-term treatment"
    )
    assert text.emphasise("nothing matches here", frozenset()) == "nothing matches here"
    assert "the" not in text.question_stems("the and of")  # stop words are never marked
    # a word as search reads it (assistant.ingest.tokens.WORD): a possessive is one word
    assert text.emphasise("The patient's dose was held", text.question_stems("patient dose")) == (
        "The <mark>patient&#39;s dose</mark> was held"
    )


# --- follow-ups ---------------------------------------------------------------------------------


@pytest.mark.model
def test_a_follow_up_carries_the_conversation_and_is_read_in_it(client):
    doc = ask(client, "How fast does it work?", DOSE)
    assert doc.one("h1").text == "How fast does it work?"
    thread = doc.one("nav", "thread")
    (turn,) = thread.find_all("a")
    assert (turn.text, turn["href"]) == (DOSE, views.ask_url(DOSE))
    top = doc.one("ol", "passages").find_all("li", "passage")[0]
    assert "peaks at 2 weeks" in quote_text(top)

    follow_up = doc.one("section", "follow-up").one("form")
    assert (follow_up["action"], follow_up["method"]) == ("/ask", "get")
    assert hidden_history(follow_up) == [DOSE, "How fast does it work?"]
    field_ = follow_up.one("input", name="q")
    assert field_.get("value") == ""
    assert follow_up.one("label", for_=field_["id"]).text == "Follow-up question"
    new = [a for a in doc.one("section", "follow-up").find_all("a") if a.text == "New question"]
    assert [a["href"] for a in new] == ["/"]


@pytest.mark.model
def test_the_thread_links_each_earlier_question_to_its_own_answer(client):
    history = ["What IVIg dose is used?", "How fast does it work?", "How long does it last?"]
    doc = ask(client, "And the side effects?", *history)
    links = doc.one("nav", "thread").find_all("a")
    assert [a.text for a in links] == history
    for i, link in enumerate(links):
        query = parse_qs(urlsplit(link["href"]).query)
        assert query["q"] == [history[i]]
        assert query.get("history", []) == history[:i]
        assert "article" not in query
    # searched in one article, each earlier answer is reopened in that article too
    doc = page(client, views.ask_url("And the side effects?", history, ARTICLE_ID))
    for link in doc.one("nav", "thread").find_all("a"):
        assert parse_qs(urlsplit(link["href"]).query)["article"] == [ARTICLE_ID]


@pytest.mark.model
def test_a_long_history_is_trimmed_to_the_last_turns_with_a_note(client):
    """The page keeps as many earlier questions as the API accepts (MAX_HISTORY_ITEMS)."""
    history = [f"Question number {i} about IVIg?" for i in range(1, MAX_HISTORY_ITEMS + 3)]
    doc = ask(client, "And the dose?", *history)
    thread = doc.one("nav", "thread")
    kept = history[-MAX_HISTORY_ITEMS:]
    assert [a.text for a in thread.find_all("a")] == kept
    assert thread.one("p", "thread__note").text == (
        f"Only the last {MAX_HISTORY_ITEMS} earlier questions are kept in this "
        "conversation; 2 older questions were left out."
    )
    form = doc.one("section", "follow-up").one("form")
    assert hidden_history(form) == [*kept, "And the dose?"]


@pytest.mark.model
def test_a_conversation_of_long_questions_keeps_what_a_follow_up_link_can_carry(client):
    """Four questions of 500 accented characters (3 kB each, encoded) do not all fit beside a
    next question as long as any script allows and the longest article id: the page keeps the
    recent ones its follow-up can carry, and says how many it left out."""
    long = [f"{i} " + "é" * (MAX_QUESTION_CHARS - 2) for i in range(4)]
    doc = ask(client, "And the dose?", *long)
    carried = hidden_history(doc.one("section", "follow-up").one("form"))
    assert carried == [long[-1], "And the dose?"]
    follow_up = views.ask_url("\U0001f600" * MAX_QUESTION_CHARS, carried)  # 6 kB encoded
    follow_up += "&" + urlencode({"article": "~" * MAX_ARTICLE_ID_CHARS}).replace("~", "%7E")
    assert len(follow_up.encode()) <= MAX_URL_BYTES
    assert "3 older questions were left out" in doc.one("nav", "thread").text


@pytest.mark.model
@pytest.mark.parametrize("letter", ["中", "\U0001f600"], ids=["chinese", "emoji"])
def test_a_conversation_continued_from_the_page_is_never_refused(client, letter):
    """Each follow-up sent through the page's own form, in a script whose characters take 9 or
    12 bytes in an address, is answered; the page drops the oldest questions instead."""
    history: list[str] = []
    for turn in range(4):
        question = f"{turn} " + letter * (MAX_QUESTION_CHARS - 2)
        doc = ask(client, question, *history)  # a 414 fails `page`'s status check
        history = [h for h in hidden_history(doc.one("section", "follow-up").one("form")) if h]
        assert history[-1] == question


@pytest.mark.model
def test_a_short_history_has_no_note(client):
    doc = ask(client, "And the dose?", DOSE)
    assert not doc.find_all(cls="thread__note")


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("question", ["", "   \t "])
@pytest.mark.model
def test_an_empty_question_gets_a_friendly_message_on_the_same_page(client, question):
    doc = ask(client, question, status=422)
    form = doc.one("form")
    error = form.one("p", "ask__error")
    assert error["role"] == "alert"
    assert "Your question is empty; type a question." in error.text
    field_ = form.one("input", name="q")
    assert field_["aria-invalid"] == "true"
    assert error["id"] in (field_["aria-describedby"] or "").split()
    assert doc.one("h1").text == "What is multifocal motor neuropathy?"
    assert doc.one("ul", "examples__list")


@pytest.mark.model
def test_a_question_over_the_limit_is_refused_with_the_form_still_filled_in(client):
    long_question = "Is IVIg effective " + "x" * MAX_QUESTION_CHARS
    doc = ask(client, long_question, status=422)
    form = doc.one("form")
    assert form.one("input", name="q")["value"] == long_question
    error = form.one("p", "ask__error").text
    assert f"{len(long_question)} characters long; the limit is {MAX_QUESTION_CHARS}" in error


@pytest.mark.model
def test_an_error_in_a_follow_up_keeps_the_conversation(client):
    doc = ask(client, "  ", DOSE, status=422)
    form = doc.one("form")
    assert hidden_history(form) == [DOSE]
    assert form.one("label").text == "Follow-up question"
    assert [a.text for a in doc.one("nav", "thread").find_all("a")] == [DOSE]


@pytest.mark.model
def test_an_over_long_earlier_question_is_named_as_such(client):
    doc = ask(client, "And the dose?", DOSE, "y" * (MAX_QUESTION_CHARS + 1), status=422)
    assert "Earlier question 2 is 501 characters long" in doc.one("p", "ask__error").text
    assert doc.one("form").one("input", name="q")["value"] == "And the dose?"


@pytest.mark.model
def test_pages_answer_head_requests(client):
    for url in ("/", views.ask_url(DOSE), f"/article/{ARTICLE_ID}"):
        assert client.head(url).status_code == 200


@pytest.mark.model
def test_an_unknown_article_gets_a_friendly_404_with_the_articles_and_the_form(client):
    doc = page(client, "/article/no-such-article", status=404)
    assert doc.one("h1").text == "Article not found"
    assert "“no-such-article”" in doc.one("p", "error-panel__message").text
    links = doc.one("section", "error-panel").find_all("a")
    assert [a["href"] for a in links] == [f"/article/{ARTICLE_ID}"]
    assert doc.one("form").one("input", name="q")
    assert doc.one("link", href="/static/style.css")["rel"] == "stylesheet"
    # a link pasted with a trailing slash reaches the article (a 404 before)
    slashed = client.get(f"/article/{ARTICLE_ID}/", follow_redirects=False)
    assert slashed.status_code == 308 and slashed.headers["location"] == f"/article/{ARTICLE_ID}"
    assert (
        page(client, f"/article/{ARTICLE_ID}/").one("h1").text
        == views.site_of(client.app.state.engine.index).articles[0].title
    )


@pytest.mark.model
def test_unknown_routes_get_a_styled_404_and_the_api_keeps_json(client):
    doc = page(client, "/no/such/page", status=404)
    assert doc.one("h1").text == "Page not found"
    assert doc.one("p", "error-panel__message").text == views.PAGE_NOT_FOUND
    assert doc.one("link", href="/static/style.css")
    api = client.get("/api/no-such-thing")
    assert api.status_code == 404 and api.json()["detail"] == "Not Found"
    assert "/openapi.json" in api.json()["message"]
    wrong_method = client.post("/ask")
    assert wrong_method.status_code == 405 and "GET" in wrong_method.headers["allow"]
    assert parse(wrong_method.text).one("h1").text == "Method Not Allowed"


# --- the article view ---------------------------------------------------------------------------


@pytest.mark.model
def test_the_article_view_shows_every_passage_at_its_anchor_with_its_citations(client, engine):
    article = engine.index.articles[ARTICLE_ID]
    doc = page(client, f"/article/{ARTICLE_ID}")
    assert doc.one("h1").text == article.title
    header = doc.one("header", "article__header")
    assert header.one("time")["datetime"] == "2026-02-02"
    assert "pending human review" in header.one(cls="notice--caution").text
    for passage in article.passages:
        node = doc.one(id=passage.anchor)
        assert node.tag == ("li" if passage.kind == "bullet" else "p")
        assert passage.text in node.text
        assert [s.text for s in node.find_all("sup", "cite")] == [
            f"[{n}]" for n in passage.citations
        ]
    assert doc.one("aside", "disclaimer").one("p").text == article.disclaimer


@pytest.mark.model
def test_the_article_view_draws_the_exports_sibling_headings_alike(client):
    """The export does not mark heading levels: "Electrodiagnostic Hallmarks" is guessed to sit
    under its section's lead-in, but it is drawn like its sibling "Serological Markers"."""
    doc = page(client, f"/article/{ARTICLE_ID}")
    body = doc.one(cls="article__body")
    headings = [(n.tag, n.text) for n in body.iter() if re.fullmatch(r"h[2-6]", n.tag)]
    assert headings[:5] == [
        ("h2", "Multifocal Motor Neuropathy (MMN)"),
        ("h3", "Clinical Presentation"),
        ("h3", "Diagnostic Features"),
        ("h3", "Electrodiagnostic Hallmarks"),
        ("h3", "Serological Markers"),
    ]
    assert ("h3", "Prognosis") == headings[-1]
    lead_ins = body.find_all("p", "in-article--lead_in")
    assert len(lead_ins) == 3 and all(p.text.endswith(":") for p in lead_ins)
    hallmarks = next(
        s
        for s in body.find_all("section")
        if s.find_all("h3")[0].text == "Electrodiagnostic Hallmarks"
    )
    assert "article-section--depth-2" in hallmarks["class"]
    assert len(hallmarks.one("ul").find_all("li")) == 3
    toc = doc.one("nav", "toc")
    assert {li["class"] for li in toc.find_all("li")[1:]} == {"toc__item toc__item--depth-2"}
    assert [a["href"] for a in toc.find_all("a")] == [
        f"#{h['id']}" for h in body.iter() if re.fullmatch(r"h[2-6]", h.tag)
    ]


@pytest.mark.model
def test_every_link_from_an_answer_lands_on_its_passage_in_the_article(client):
    article_doc = page(client, f"/article/{ARTICLE_ID}")
    for question in (DOSE, OUT_OF_SCOPE, "What are the serological markers?"):
        for link in ask(client, question).find_all("a", "passage__link"):
            path, _, anchor = link["href"].partition("#")
            assert path == f"/article/{ARTICLE_ID}"
            assert article_doc.one(id=anchor).text


@pytest.mark.model
def test_outline_groups_bullets_and_opens_a_heading_where_the_path_changes(engine):
    sections = text.outline(engine.index.articles[ARTICLE_ID])
    (topic,) = sections
    assert topic.title == "Multifocal Motor Neuropathy (MMN)" and topic.depth == 1
    first, clinical = topic.children[:2]
    assert isinstance(first, text.Block) and first.kind == "paragraph"
    assert isinstance(clinical, text.Section) and clinical.title == "Clinical Presentation"
    assert [b.kind for b in clinical.children] == ["lead_in", "bullet"]
    assert len(clinical.children[1].passages) == 6
    anchors = [s.anchor for s in topic.walk()]
    assert len(anchors) == len(set(anchors)) and "s-ivig-therapy" in anchors


# --- security -----------------------------------------------------------------------------------


@pytest.mark.model
def test_hostile_input_is_shown_as_text_and_never_becomes_markup(client):
    response = client.get(views.ask_url(HOSTILE, [HOSTILE]))
    assert response.status_code == 200
    assert "<script>alert" not in response.text and "<img" not in response.text
    doc = parse(response.text)
    assert doc.one("h1").text == " ".join(HOSTILE.split())
    assert doc.one("nav", "thread").one("a").text == HOSTILE
    assert hidden_history(doc.one("section", "follow-up").one("form")) == [HOSTILE, HOSTILE]
    assert [s.get("src") for s in doc.find_all("script")] == ["/static/page.js"]
    assert not doc.find_all("img")
    assert not [n for n in doc.iter() if any(a.startswith("on") for a in n.attrs)]


@pytest.mark.model
def test_hostile_input_on_the_error_page_and_the_404_is_escaped(client):
    hostile_long = HOSTILE + "x" * MAX_QUESTION_CHARS
    error = ask(client, hostile_long, status=422)
    assert error.one("form").one("input", name="q")["value"] == hostile_long
    hostile_id = "<img src=x onerror=alert(1)>"  # no "/": it must reach the article route
    missing = page(client, "/article/" + quote(hostile_id, safe=""), status=404)
    assert f"“{hostile_id}”" in missing.one("p", "error-panel__message").text
    for doc in (error, missing):
        assert [s.get("src") for s in doc.find_all("script")] == ["/static/page.js"]
        assert not doc.find_all("img")


@pytest.mark.parametrize(
    "url", ["/", f"/ask?q={quote(DOSE)}", f"/article/{ARTICLE_ID}", "/ask?q=", "/nowhere"]
)
@pytest.mark.model
def test_security_headers_and_no_inline_script_or_style(client, url):
    response = client.get(url)
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    doc = parse(response.text)
    for script in doc.find_all("script"):
        assert script.get("src", "").startswith("/static/") and not script.raw_text().strip()
    assert not doc.find_all("style")
    assert not [n for n in doc.iter() if "style" in n.attrs]


@pytest.mark.model
def test_css_and_script_are_local_static_files(client):
    doc = page(client, "/")
    assets = [n.get("href") for n in doc.find_all("link", rel="stylesheet")] + [
        n.get("src") for n in doc.find_all("script")
    ]
    assert assets and all(a and a.startswith("/static/") for a in assets)
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "http:" not in response.text and "https:" not in response.text
        assert "@import" not in response.text and "@font-face" not in response.text
    assert doc.one("link", media="print")["href"] == "/static/print.css"
    icon = client.get(doc.one("link", rel="icon")["href"])
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert "href" not in icon.text  # the icon loads nothing else


# --- accessibility ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["/", f"/ask?q={quote(DOSE)}", f"/article/{ARTICLE_ID}", "/ask?q=", "/article/x", "/nowhere"],
)
@pytest.mark.model
def test_every_field_has_a_label_and_the_page_has_one_main_and_one_h1(client, url):
    response = client.get(url)
    doc = parse(response.text)
    assert doc.one("html")["lang"] == "en"
    assert len(doc.find_all("main")) == 1 and len(doc.find_all("h1")) == 1
    labels = {label.get("for") for label in doc.find_all("label")}
    for field_ in doc.find_all("input"):
        if field_.get("type") != "hidden":
            assert field_.get("id") in labels, field_.attrs
    skips = [a["href"] for a in doc.find_all("a", "skip-link")]
    assert skips[0] == "#main"
    if url == f"/ask?q={quote(DOSE)}":  # an answer: the follow-up box is one Tab away
        assert skips == ["#main", "#follow-up"] and doc.one("input", id="follow-up")


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


TEXT_PAIRS = [
    ("ink", "paper"),
    ("ink", "canvas"),
    ("ink-soft", "paper"),
    ("ink-soft", "canvas"),
    ("ink-soft", "less-bg"),
    ("accent", "paper"),
    ("accent", "canvas"),
    ("accent", "accent-soft"),
    ("accent-strong", "accent-soft"),
    ("on-accent", "accent"),
    ("on-accent", "accent-strong"),
    ("header-ink", "header-bg"),
    ("header-soft", "header-bg"),
    ("ink", "mark"),
    ("caution-ink", "caution-bg"),
    ("caution-bg", "caution-ink"),
    ("decline-ink", "decline-bg"),
    ("best-ink", "best-bg"),
    ("ink", "target-bg"),
    ("caution-ink", "target-bg"),
]
"""Every (text, background) pair the stylesheet uses for text."""


def test_text_colours_meet_wcag_aa_contrast():
    css = (STATIC / "style.css").read_text()
    colours = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})\s*;", css))
    for fg, bg in TEXT_PAIRS:
        ratio = contrast(colours[fg], colours[bg])
        assert ratio >= 4.5, f"{fg} on {bg}: {ratio:.2f}:1"
    for line in ("line-strong", "focus", "caution-line"):  # borders and focus rings: 3:1
        assert contrast(colours[line], colours["paper"]) >= 3
    assert contrast(colours["focus-on-dark"], colours["header-bg"]) >= 3


def test_the_print_stylesheet_drops_forms_and_navigation_and_keeps_the_disclaimer():
    css = (STATIC / "print.css").read_text()
    hidden = css.split("display: none")[0]
    for selector in (".site-header", ".panel", ".print-button"):
        assert selector in hidden
    assert ".disclaimer" not in hidden and ".passage " not in hidden


@pytest.mark.model
def test_the_footer_says_when_the_index_was_built_and_from_which_article(client, engine):
    footer = page(client, "/ask?q=IVIg+dose").one("footer")
    built = engine.index.manifest.built_at  # "2026-11-25T13:16:58+00:00"
    assert f"Index built {int(built[8:10])} " in footer.text
    assert "from the article updated 2 February 2026" in " ".join(footer.text.split())
    assert engine.index.version in footer.text


@pytest.mark.model
def test_a_lead_in_shows_its_list_under_it(client):
    doc = ask(client, "MMN ddx?")
    lead = next(
        p for p in doc.one("ol", "passages").find_all("li", "passage")
        if quote_text(p).startswith("MMN must be distinguished")
    )  # fmt: skip
    items = lead.one("ul", "passage__items").find_all("li", "passage__item")
    assert [i.text.split("—")[0] for i in items] == [
        "Amyotrophic lateral sclerosis (ALS) and other motor neuron diseases",
        "Chronic inflammatory demyelinating polyneuropathy (CIDP) with asymmetric onset",
        "Lewis-Sumner syndrome (MADSAM neuropathy)",
    ]
    assert [s.text for s in items[1].find_all("sup", "cite")] == ["[1]", "[2]"]
    # its markers say, as the passage's own do, that the export came without the list
    assert all("cite--unlisted" in s.classes for s in items[1].find_all("sup", "cite"))


@pytest.mark.model
def test_with_two_articles_each_passage_names_its_article_and_the_article_page_searches_itself(
    shifted_two_articles_dir, embedder
):
    """An answer over every article may quote two diseases: each passage says whose it is, and
    the question box of an article's page searches that article unless the clinician says so."""
    from assistant.engine import Engine

    engine = Engine.open(shifted_two_articles_dir, embedder)
    second = next(a for a in engine.index.articles if a != ARTICLE_ID)
    with TestClient(create_app(engine=engine)) as client:
        box = page(client, f"/article/{second}").one("select", name="article")
        assert [o["value"] for o in box.find_all("option") if "selected" in o.attrs] == [second]

        doc = ask(client, DOSE)
        passages = doc.one("ol", "passages").find_all("li", "passage")
        sources = {p.one("a", "passage__link")["href"].split("#")[0] for p in passages}
        assert sources == {f"/article/{ARTICLE_ID}", f"/article/{second}"}  # a mixed answer
        for passage in passages:
            shown = passage.one("span", "passage__article").text.removeprefix("Article: ")
            linked = passage.one("a", "passage__link")["href"].split("#")[0].split("/")[-1]
            assert shown == engine.index.articles[linked].title
        assert doc.one("h2", "passages-heading").text == "Passages from the articles, best first"

        alone = page(client, views.ask_url(DOSE) + "&article=" + ARTICLE_ID)  # no names needed
        assert not alone.find_all("span", "passage__article")


@pytest.mark.model
def test_the_conversation_follows_the_question_and_empty_sections_are_not_shown(client):
    doc = ask(client, "And for how long?", DOSE)
    headings = [(n.tag, n.text) for n in doc.iter() if n.tag in ("h1", "h2")]
    assert headings[0] == ("h1", "And for how long?")  # the question first, then the thread
    assert ("h2", "Conversation so far") in headings
    assert doc.one("h1")["dir"] == "auto"  # a question in Arabic keeps its marks in place
    follow_up = doc.one("input", id="follow-up")
    assert "required" in follow_up.attrs  # Enter in an empty box does not lose the answer
    assert "autofocus" not in follow_up.attrs


STEP_WITH_BULLETS = """---
title: What is a test condition?
last_updated: 2026-03-03
---

## Treatment

Steps to follow:

1. Give adrenaline IM. [1]

   - 0.5 mg in adults [1]
   - 0.3 mg in children [1]

   Repeat after 5 minutes if no response. [2]

2. Call for help. [1]

   | Age | Dose |
   | --- | --- |
   | Adult | 0.5 mg [1] |

   Keep the patient lying flat. [1]

3. Start fluids. [1]

## Disclaimer

For professionals.
"""


def _engine_of(tmp_path: Path, hash_embedder, name: str, text: str):
    """One article, built with the hashing embedder into `tmp_path` and opened as served."""
    from assistant.build import build_index
    from assistant.engine import Engine
    from assistant.ingest.corpus import load_corpus

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / name).write_text(text, encoding="utf-8")
    build_index(load_corpus(corpus), hash_embedder, tmp_path / "index")
    return Engine.open(tmp_path / "index", hash_embedder)


def test_a_steps_paragraph_after_its_own_bullets_keeps_no_number(tmp_path, hash_embedder):
    """A Markdown step's paragraph after the step's own bullets (or table) is still that step:
    the article view, an answer's list and the terminal had numbered it a second time."""
    from assistant.cli.answers import format_answer

    engine = _engine_of(tmp_path, hash_embedder, "what-is-a-test-condition.md", STEP_WITH_BULLETS)
    with TestClient(create_app(engine=engine)) as client:
        view = page(client, "/article/what-is-a-test-condition")
        steps = [
            (li.get("value"), li.text.split("[")[0], "in-article--goes-on" in li.classes)
            for ol in view.find_all("ol", "article-bullets--numbered")
            for li in ol.find_all("li")
        ]
        assert steps == [
            ("1", "Give adrenaline IM.", False),
            (None, "Repeat after 5 minutes if no response.", True),  # its marker hidden
            ("2", "Call for help.", False),
            (None, "Keep the patient lying flat.", True),  # after the step's own table
            ("3", "Start fluids.", False),
        ]
        row = view.one("p", "in-article--row")  # drawn under step 2, not at the margin
        assert row.text.startswith("Age: Adult") and "in-article--nested-1" in row.classes
        question = "Steps to follow:"
        doc = page(client, views.ask_url(question) + "&k=1")
        items = doc.one("ol", "passage__items").find_all("li", "passage__item")
        assert [(i.get("value"), "passage__item--unnumbered" in i.classes) for i in items] == [
            ("1", False),
            (None, True),  # a bullet of step 1
            (None, True),
            (None, True),  # the step's later paragraph
            ("2", False),
            (None, True),  # a row of step 2's table
            (None, True),  # step 2's later paragraph
            ("3", False),
        ]
        data = client.post("/api/ask", json={"question": question, "k": 1}).json()
        printed = format_answer(data, width=200)
        assert printed.count("1. ") == 2  # the answer's rank, and step 1 once
        assert printed.count("2. ") == 1 and printed.count("3. ") == 1
        assert "     Repeat after 5 minutes" in printed and "     Keep the patient" in printed


def test_numbered_steps_are_shown_in_order_with_their_numbers(tmp_path, hash_embedder):
    """A protocol's steps keep the numbers the article prints, in the article view (an ordered
    list), in an answer's quote, under a lead-in, in the JSON and in the terminal."""

    from assistant.cli.answers import format_answer
    from tests.conftest import ARTICLE

    steps = (
        ARTICLE.read_text(encoding="utf-8")
        .replace(
            "  \u2022 Dosing: 1.6-2.4 g/kg given intravenously over 3-5 days 4\n",
            "Give it in this order:\n\n"
            "  1. Check renal function before the first course. 4 Then the IgA level. 4\n"
            "      1. Creatinine 4\n"
            "  2. Dosing: 1.6-2.4 g/kg given intravenously over 3-5 days 4\n\n",
        )
        .replace(
            "  \u2022 Rituximab efficacy",
            "  \u2022 Not established:\n      \u25e6 Rituximab efficacy",
        )
    )
    engine = _engine_of(tmp_path, hash_embedder, ARTICLE.name, steps)
    with TestClient(create_app(engine=engine)) as client:
        view = page(client, f"/article/{ARTICLE_ID}")
        numbered = view.one("ol", "article-bullets--numbered")
        assert [(li.get("value"), li.text.split(" 1.6")[0]) for li in numbered.find_all("li")] == [
            ("1", "Check renal function before the first course.[4]"),
            (None, "Then the IgA level.[4]"),  # a sentence of step 1, not a step of its own
            ("1", "Creatinine[4]"),  # a sub-step: its own number, drawn under step 1
            ("2", "Dosing:"),
        ]
        assert not any("article-bullets--numbered" in u.classes for u in view.find_all("ul"))
        nested = [li for li in view.find_all("li") if any("nested" in c for c in li.classes)]
        assert [li.text.split(" is")[0] for li in nested] == ["Creatinine[4]", "Rituximab efficacy"]

        answer = engine.ask("Give it in this order: dosing g/kg", k=20)
        ranked = {r.passage.text: r.rank for r in answer.passages}
        doc = page(client, views.ask_url("Give it in this order: dosing g/kg") + "&k=20")
        shown = doc.one("ol", "passages").find_all("li", "passage")
        dose = shown[ranked[DOSE_PASSAGE] - 1]
        assert dose.one("span", "passage__number").text == "2."
        lead = shown[ranked["Give it in this order:"] - 1]
        items = lead.one("ol", "passage__items").find_all("li", "passage__item")
        assert [i.get("value") for i in items] == ["1", None, "1", "2"]

        data = client.post(
            "/api/ask", json={"question": "Give it in this order: dosing g/kg", "k": 20}
        ).json()
        by_text = {p["text"]: p for p in data["passages"]}
        assert by_text[DOSE_PASSAGE]["number"] == "2."
        listed = by_text["Give it in this order:"]["items"]
        assert [(i["number"], i["depth"]) for i in listed] == [
            ("1.", 0),
            ("1.", 0),
            ("1.", 1),
            ("2.", 0),
        ]
        assert all(p["number"] == "" for p in data["passages"] if p["kind"] == "paragraph")
        printed = format_answer(data, width=200)
        assert "   1. Check renal function" in printed and "      Then the IgA" in printed
        assert "     1. Creatinine" in printed  # a sub-step under its step
        assert "Under: Give it in this order: (step 2)" in printed


def test_lettered_items_show_their_printed_letter_not_a_browsers_number(tmp_path, hash_embedder):
    """`<li value="a">` is ignored by browsers: "1, a, b, 2" had read 1, 2, 3, 2."""
    from tests.conftest import ARTICLE

    lettered = ARTICLE.read_text(encoding="utf-8").replace(
        "  \u2022 Dosing: 1.6-2.4 g/kg given intravenously over 3-5 days 4\n",
        "Give it in this order:\n\n"
        "  1. Check renal function before the first course 4\n"
        "      a. Creatinine 4\n"
        "      (b) Urine protein 4\n"
        "  2. Dosing: 1.6-2.4 g/kg given intravenously over 3-5 days 4\n\n",
    )
    engine = _engine_of(tmp_path, hash_embedder, ARTICLE.name, lettered)
    with TestClient(create_app(engine=engine)) as client:
        view = page(client, f"/article/{ARTICLE_ID}")
        items = view.one("ol", "article-bullets--numbered").find_all("li")
        assert [(li.get("value"), li.text.split(" 1.6")[0]) for li in items] == [
            ("1", "Check renal function before the first course[4]"),
            (None, "a. Creatinine[4]"),
            (None, "(b) Urine protein[4]"),
            ("2", "Dosing:"),
        ]
        assert all("in-article--goes-on" in li.classes for li in items[1:3])
