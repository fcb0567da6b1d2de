"""The page in a real browser: Debian's Chromium, headless, driven by Playwright, against a real
`mmn-assistant serve` on 127.0.0.1 (the session's `live_server`).

Each step saves a screenshot under test-artifacts/browser/ (git-ignored). Without Chromium or
Playwright the tests are skipped with the reason; with MMN_REQUIRE_BROWSER=1 (CI) they fail.
Playwright never downloads a browser here: it launches the system's /usr/bin/chromium.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ARTIFACTS
from web.views import ask_url

pytestmark = [pytest.mark.model, pytest.mark.server, pytest.mark.browser]

VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}

DOSE = "What IVIg dose is used?"
DOSE_PASSAGE = "Dosing: 1.6-2.4 g/kg given intravenously over 3-5 days"
FOLLOW_UP = "How fast does it work?"
HOSTILE = '<img src=x onerror=alert(1)><script>alert(2)</script>" onfocus=alert(3) autofocus x="'
TARGET_BACKGROUND = "rgb(255, 248, 214)"  # --target-bg in style.css


@dataclass
class Visit:
    """A browser tab, what it saw go wrong, and where its screenshots go."""

    page: Any
    base: str
    name: str
    dialogs: list[str] = field(default_factory=list)
    script_errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)

    def open(self, path: str) -> None:
        self.page.goto(self.base + path)

    def shot(self, step: str, *, full_page: bool = True) -> Path:
        path = ARTIFACTS / f"{self.name}-{step}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def submit(self, text: str) -> None:
        """Type into the question box and press Enter, as a person at a keyboard would: on the
        home page the box has the focus (autofocus); on an answer the person clicks the
        follow-up box first, since the page leaves the keyboard at its top.
        """
        box = self.page.locator("input[name='q']")
        if self.page.evaluate("document.activeElement && document.activeElement.name") != "q":
            box.click()
        self.page.wait_for_function(
            "document.activeElement && document.activeElement.name === 'q'", timeout=10_000
        )
        self.page.keyboard.type(text)
        with self.page.expect_navigation():
            self.page.keyboard.press("Enter")

    def active_id(self) -> str:
        return self.page.evaluate("document.activeElement && document.activeElement.id")


def open_tab(browser: Any, base: str, name: str, **context: Any) -> tuple[Any, Visit]:
    tab = browser.new_context(**context)
    page = tab.new_page()
    visit = Visit(page=page, base=base, name=name)

    def on_dialog(dialog: Any) -> None:
        visit.dialogs.append(dialog.message)
        dialog.dismiss()

    def on_console(message: Any) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            visit.blocked.append(message.text)

    page.on("dialog", on_dialog)
    page.on("console", on_console)
    page.on("pageerror", lambda error: visit.script_errors.append(str(error)))
    return tab, visit


@pytest.fixture(params=list(VIEWPORTS))
def visit(request, browser, live_server) -> Iterator[Visit]:
    tab, visit = open_tab(browser, live_server, request.param, viewport=VIEWPORTS[request.param])
    yield visit
    tab.close()
    assert visit.script_errors == [] and visit.blocked == [] and visit.dialogs == []


def test_ask_follow_up_and_land_on_the_passage_in_the_article(visit: Visit) -> None:
    page = visit.page
    visit.open("/")
    assert page.locator("h1").inner_text() == "What is multifocal motor neuropathy?"
    assert page.locator(".notice--caution").is_visible()
    assert "pending human review" in page.locator(".notice--caution").inner_text()
    assert visit.active_id() == "q"  # the question box has the keyboard
    visit.shot("1-home")

    visit.submit(DOSE)
    assert page.locator("h1").inner_text() == DOSE
    top = page.locator("ol.passages > li").first
    assert DOSE_PASSAGE in top.locator("blockquote").inner_text()
    assert top.locator(".label").inner_text().lower() == "best match"
    assert top.locator("sup.cite").all_inner_texts() == ["[4]"]
    assert top.locator("mark").first.inner_text() == "Dosing"
    assert page.locator("ol.passages > li").count() == 5
    disclaimer = page.locator("aside.disclaimer")
    assert disclaimer.is_visible()
    assert "Dr.Oracle assumes no liability" in disclaimer.inner_text()
    # the keyboard is not moved out of sight (to the follow-up box at the foot of the page)
    assert visit.active_id() != "follow-up"
    visit.shot("2-answer")

    visit.submit(FOLLOW_UP)
    assert page.locator("h1").inner_text() == FOLLOW_UP
    assert page.locator("nav.thread a").all_inner_texts() == [DOSE]
    top = page.locator("ol.passages > li").first
    assert "peaks at 2 weeks" in top.locator("blockquote").inner_text()
    visit.shot("3-follow-up")

    link = top.locator("a.passage__link")
    anchor = link.get_attribute("href").partition("#")[2]
    with page.expect_navigation():
        link.click()
    assert page.url.endswith(f"#{anchor}")
    target = page.locator(":target")
    assert target.get_attribute("id") == anchor
    assert "peaks at 2 weeks" in target.inner_text()
    assert target.evaluate("e => getComputedStyle(e).backgroundColor") == TARGET_BACKGROUND
    box = target.bounding_box()
    assert box is not None and 0 <= box["y"] < page.viewport_size["height"] - box["height"]
    visit.shot("4-article-passage", full_page=False)


def test_the_focus_is_visible_and_the_skip_link_leads_to_the_content(visit: Visit) -> None:
    page = visit.page
    visit.open("/article/what-is-multifocal-motor-neuropathy")
    page.keyboard.press("Tab")
    skip = page.locator(":focus")
    assert skip.inner_text() == "Skip to main content"
    assert skip.evaluate("e => getComputedStyle(e).outlineStyle") == "solid"
    assert skip.bounding_box()["y"] >= 0  # shown when focused
    page.keyboard.press("Enter")
    assert visit.active_id() == "main"
    page.keyboard.press("Tab")
    focused = page.locator(":focus")
    assert focused.evaluate("e => e.closest('main') !== null")
    assert focused.evaluate("e => getComputedStyle(e).outlineWidth") == "3px"
    visit.shot("5-keyboard-focus", full_page=False)
    # after an answer, the follow-up box sits below every passage: a second skip link reaches it
    visit.open("/ask?q=What%20IVIg%20dose%20is%20used%3F")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.locator(":focus").inner_text() == "Skip to the follow-up question"
    page.keyboard.press("Enter")
    assert visit.active_id() == "follow-up"


def test_errors_show_a_friendly_message_with_the_form(browser, live_server) -> None:
    tab, visit = open_tab(browser, live_server, "desktop", viewport=VIEWPORTS["desktop"])
    try:
        visit.open("/")
        visit.page.get_by_role("button", name="Ask", exact=True).click()  # empty: not sent
        assert visit.page.url == live_server + "/"
        assert visit.page.locator("input[name='q']:invalid").count() == 1
        visit.page.locator("input[name='q']").fill("   ")  # what the browser cannot tell
        with visit.page.expect_navigation():
            visit.page.get_by_role("button", name="Ask", exact=True).click()
        alert = visit.page.get_by_role("alert")
        assert "Your question is empty" in alert.inner_text()
        assert visit.active_id() == "q"
        visit.shot("6-empty-question")
        visit.open("/article/no-such-article")
        assert visit.page.locator("h1").inner_text() == "Article not found"
        visit.shot("7-unknown-article")
    finally:
        tab.close()


def test_a_hostile_question_runs_no_script(browser, live_server) -> None:
    tab, visit = open_tab(browser, live_server, "desktop", viewport=VIEWPORTS["desktop"])
    try:
        page = visit.page
        visit.open("/")
        visit.submit(HOSTILE)
        assert page.locator("h1").inner_text() == HOSTILE
        visit.submit(HOSTILE)  # again as a follow-up: now it is in the history and the thread
        assert page.locator("nav.thread a").all_inner_texts() == [HOSTILE]
        page.locator("h1").hover()
        page.wait_for_timeout(300)
        assert page.evaluate("document.scripts.length") == 1
        assert page.locator("main img").count() == 0
        visit.shot("8-hostile")
        assert visit.dialogs == [] and visit.script_errors == [] and visit.blocked == []
    finally:
        tab.close()


def test_a_pasted_link_as_a_question_wraps_on_a_phone(browser, live_server) -> None:
    """One long unbroken word, asked and then carried as an earlier question, wraps within a
    phone's screen instead of making the page scroll sideways."""
    tab, visit = open_tab(browser, live_server, "phone-long", viewport=VIEWPORTS["phone"])
    try:
        page = visit.page
        pasted = "https://pubmed.ncbi.nlm.nih.gov/12345678/anti-GM1-IgM-titre-interpretation-in-MMN"
        visit.open("/")
        visit.submit(pasted)
        visit.submit(FOLLOW_UP)  # the link is now in the thread of earlier questions
        assert page.locator("nav.thread a").all_inner_texts() == [pasted]
        width = VIEWPORTS["phone"]["width"]
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.go_back()
        assert page.locator("h1").inner_text() == pasted
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        visit.shot("9-long-word")
    finally:
        tab.close()


def test_a_declined_answer_keeps_its_closest_passages_folded_until_asked(
    browser, live_server
) -> None:
    tab, visit = open_tab(browser, live_server, "desktop", viewport=VIEWPORTS["desktop"])
    try:
        page = visit.page
        visit.open("/")
        visit.submit("What IVIg dose is used for CIDP?")  # the article's words, not its subject
        notice = page.get_by_role("status").filter(has_text="Not covered by the article")
        assert notice.count() == 1
        passages = page.locator("details.closest ol.passages > li")
        assert passages.count() == 5 and not passages.first.is_visible()
        assert page.locator("mark").count() == 0
        visit.shot("10-declined-folded")
        summary = page.locator("details.closest > summary")
        summary.focus()
        page.keyboard.press("Enter")  # a keyboard opens it as a click does
        assert passages.first.is_visible()
        assert "WEAK MATCH" in passages.first.inner_text().upper()
        visit.shot("11-declined-opened")
    finally:
        tab.close()


def test_the_page_works_without_javascript(browser, live_server) -> None:
    tab, visit = open_tab(
        browser, live_server, "no-js", viewport=VIEWPORTS["phone"], java_script_enabled=False
    )
    try:
        page = visit.page
        visit.open("/")
        page.get_by_label("Your question").fill(DOSE)
        with page.expect_navigation():
            page.get_by_label("Your question").press("Enter")
        assert DOSE_PASSAGE in page.locator("ol.passages > li").first.inner_text()
        assert page.locator(".print-button").count() == 0  # an enhancement only
        page.get_by_label("Follow-up question").fill(FOLLOW_UP)
        with page.expect_navigation():
            page.get_by_role("button", name="Ask follow-up").click()
        assert page.locator("nav.thread a").all_inner_texts() == [DOSE]
        assert "peaks at 2 weeks" in page.locator("ol.passages > li").first.inner_text()
        visit.shot("9-follow-up-without-javascript")
    finally:
        tab.close()


def test_printing_an_answer_keeps_passages_references_and_disclaimer(browser, live_server) -> None:
    tab, visit = open_tab(browser, live_server, "print", viewport=VIEWPORTS["desktop"])
    try:
        page = visit.page
        visit.open(ask_url(DOSE))
        page.emulate_media(media="print")
        assert page.locator("aside.disclaimer").is_visible()
        assert page.locator("sup.cite").first.is_visible()
        assert page.locator("ol.passages > li").first.is_visible()
        assert page.locator(".review-ok, .notice--caution").first.is_visible()
        for hidden in ("header.site-header", "section.follow-up", ".print-button", "form.feedback"):
            assert page.locator(hidden).first.is_hidden(), hidden
        printed = page.evaluate(
            "getComputedStyle(document.querySelector('.passage__link'), '::before').content"
        )
        assert printed.startswith(f'"In the article: {live_server}/article/')  # a full address
        visit.shot("10-print")

        visit.open(ask_url("What is the capital of France?"))  # declined: its closest folded
        closest = page.locator("details.closest")
        assert closest.get_attribute("open") is None
        page.evaluate("window.dispatchEvent(new Event('beforeprint'))")
        assert closest.get_attribute("open") is not None  # printed with what it says is listed
        assert page.locator("details.closest ol.passages > li").first.is_visible()
        page.evaluate("window.dispatchEvent(new Event('afterprint'))")
        assert closest.get_attribute("open") is None  # and folded again on screen
    finally:
        tab.close()


# --- judging an answer ---------------------------------------------------------------------------


def _new_rows(store: Any, before: int) -> list[Any]:
    return store.rows()[before:]


@pytest.fixture
def feedback_store(server_dir: Path) -> Any:
    from assistant.feedback import FeedbackStore

    return FeedbackStore(server_dir / "feedback.sqlite3")


def test_judging_passages_with_the_keyboard_confirms_in_place(
    browser, live_server, feedback_store
) -> None:
    tab, visit = open_tab(browser, live_server, "feedback-js", viewport=VIEWPORTS["desktop"])
    try:
        page = visit.page
        before = len(feedback_store.rows())
        visit.open(ask_url("What dose of IVIg?"))
        first = page.locator("ol.passages > li").first
        answers = first.get_by_role("button", name="Answers my question (passage 1)")
        answers.focus()
        page.keyboard.press("Enter")  # a keyboard sends it as a click does
        status = first.locator(".feedback__status")
        status.get_by_text("Thank you").wait_for()
        assert page.url.endswith(ask_url("What dose of IVIg?"))  # no navigation
        assert page.evaluate("document.activeElement.className") == "feedback__status"
        second = page.locator("ol.passages > li").nth(1)
        second.get_by_role("button", name="Not this (passage 2)").click()
        second.locator(".feedback__status").get_by_text("Thank you").wait_for()
        visit.shot("12-judged-in-place")
        rows = _new_rows(feedback_store, before)
        assert [(r.question, r.verdict, r.rank) for r in rows] == [
            ("What dose of IVIg?", "answers", 1),
            ("What dose of IVIg?", "not", 2),
        ]
        assert rows[0].passage and rows[0].index_version
        assert visit.script_errors == [] and visit.blocked == []
        log = (feedback_store.path.parent / "server.log").read_text(encoding="utf-8")
        assert '"path": "/feedback"' in log and "dose of IVIg" not in log  # no question text
    finally:
        tab.close()


def test_judging_without_javascript_posts_and_returns_to_the_answer(
    browser, live_server, feedback_store
) -> None:
    tab, visit = open_tab(
        browser,
        live_server,
        "feedback-no-js",
        viewport=VIEWPORTS["phone"],
        java_script_enabled=False,
    )
    try:
        page = visit.page
        before = len(feedback_store.rows())
        for name in ("Answers my question", "Not this"):
            visit.open(ask_url(DOSE, ["How is MMN treated?"]))
            with page.expect_navigation():
                page.get_by_role("button", name=f"{name} (passage 1)").click()
            assert "/ask?" in page.url and "feedback=saved" in page.url, page.inner_text("main")
            assert "Thank you" in page.locator("#feedback-notice").inner_text()
            assert DOSE_PASSAGE in page.locator("ol.passages > li").first.inner_text()
        visit.open(ask_url("What is the capital of France?"))
        with page.expect_navigation():
            page.get_by_role("button", name="The article should cover this").click()
        assert "Thank you" in page.locator("#feedback-notice").inner_text()
        visit.shot("13-judged-without-javascript")
        rows = _new_rows(feedback_store, before)
        assert [(r.verdict, r.rank, r.history) for r in rows] == [
            ("answers", 1, ("How is MMN treated?",)),
            ("not", 1, ("How is MMN treated?",)),
            ("missing", None, ()),
        ]
    finally:
        tab.close()


def test_the_declined_answer_button_works_with_javascript(
    browser, live_server, feedback_store
) -> None:
    tab, visit = open_tab(browser, live_server, "feedback-missing", viewport=VIEWPORTS["phone"])
    try:
        page = visit.page
        before = len(feedback_store.rows())
        visit.open(ask_url("Is IVIg safe in pregnancy?"))
        page.get_by_role("button", name="The article should cover this").click()
        page.locator(".feedback--missing .feedback__status").get_by_text("Thank you").wait_for()
        rows = _new_rows(feedback_store, before)
        assert [(r.question, r.verdict) for r in rows] == [
            ("Is IVIg safe in pregnancy?", "missing")
        ]
    finally:
        tab.close()
