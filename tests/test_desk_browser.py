"""The editors' desk in a real browser (Debian's Chromium through Playwright), with and without
JavaScript, against a real `mmn-assistant serve` that builds and publishes for real.

The server gets its own corpus and index: a copy of the session's, with two of the editors'
updates applied (tests/fixtures/updates: a dose corrected, a section added), so that the
published version's report holds examples that followed an edit and out-of-scope examples set
aside. Each run goes the whole loop a clinician and an editor make: a clinician judges an
answer; the editor signs in, accepts the judgement (the example lands in corpus/examples/ once),
resolves a set-aside example, builds and publishes (without JavaScript, after cancelling a first
build), sees it served, rolls back and signs out.
axe-core checks every desk page on the way. Screenshots go to test-artifacts/browser/.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.build import build_corpus
from assistant.feedback import FeedbackStore
from assistant.feedback.accounts import Accounts
from assistant.store import published_version, versions
from tests.conftest import CORPUS, start_server, stop_server
from tests.test_browser import VIEWPORTS, Visit, open_tab
from tests.updates import edit_article, edits
from web.views import ask_url

pytestmark = [pytest.mark.model, pytest.mark.server, pytest.mark.browser]

EDITOR, PASSWORD = "anna.editor", "a desk password of some length"
ARTICLE = "what-is-multifocal-motor-neuropathy"
BUILD_SECONDS = 240


@pytest.fixture(scope="module")
def desk_server(tmp_path_factory, index_dir, embedder) -> Iterator[dict[str, Any]]:
    """A server over an updated copy of the corpus, with one editor account."""
    root = tmp_path_factory.mktemp("desk")
    corpus = root / "corpus"
    shutil.copytree(CORPUS, corpus)
    live = root / "index"
    shutil.copytree(index_dir, live)  # the session's build and its caches
    for edit in edits():
        if edit.kind in ("number", "section"):
            edit_article(corpus, edit)
    build_corpus(corpus, embedder, live)
    store = FeedbackStore(root / "feedback.sqlite3")
    Accounts(store).add(EDITOR, PASSWORD)
    process, base = start_server(live, root / "server.log", "--corpus-dir", str(corpus))
    yield {"base": base, "corpus": corpus, "index": live, "store": store, "root": root}
    stop_server(process)


def _axe(visit: Visit) -> None:
    """axe-core's rules on the page as it is: no violation of any. axe is a script: in a tab
    without JavaScript it cannot run (Playwright's evaluate waits for ever), and the run with
    JavaScript checks the same server-rendered pages."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(visit.page).response
    found = [
        f"{v['id']}: {v['help']} ({len(v['nodes'])}× e.g. {v['nodes'][0]['html'][:120]})"
        for v in results["violations"]
    ]
    assert found == [], f"{visit.page.url}: " + "; ".join(found)


def _count(corpus: Path, question: str) -> int:
    """Lines of the examples files that hold the question."""
    needle = json.dumps(question, ensure_ascii=False)
    return sum(
        line.count(needle)
        for path in (corpus / "examples").glob("*.jsonl")
        for line in path.read_text(encoding="utf-8").splitlines()
    )


def _go(visit: Visit, path: str, check: bool) -> None:
    visit.open(path)
    if check:  # axe is a script: it runs only where the tab runs scripts
        _axe(visit)


def _click(visit: Visit, locator: Any) -> None:
    with visit.page.expect_navigation():
        locator.click()


@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_an_editor_reviews_resolves_publishes_and_rolls_back(
    browser,
    desk_server,
    javascript: bool,
) -> None:
    base, corpus, index = desk_server["base"], desk_server["corpus"], desk_server["index"]
    name = "desk-js" if javascript else "desk-no-js"
    question = "What IVIg dose is given for MMN?" if javascript else "How much IVIg per kilogram?"
    tab, visit = open_tab(
        browser, base, name, viewport=VIEWPORTS["desktop"], java_script_enabled=javascript
    )
    page = visit.page
    try:
        # A clinician judges an answer: passage 1 answers the question.
        visit.open(ask_url(question))
        first = page.locator("ol.passages > li").first
        button = first.get_by_role("button", name="Answers my question (passage 1)")
        if javascript:
            button.click()
            first.locator(".feedback__status").get_by_text("Thank you").wait_for()
        else:
            _click(visit, button)
        judged_text = first.locator(".passage__quote").inner_text()

        # The editor: the desk asks for a login first, then returns to the page asked for.
        visit.open("/desk/judgements")
        assert "/desk/login" in page.url
        if javascript:
            _axe(visit)
        page.get_by_label("Name").fill(EDITOR)
        page.get_by_label("Password").fill(PASSWORD)
        _click(visit, page.get_by_role("button", name="Sign in"))
        assert page.url.endswith("/desk/judgements"), page.url
        if javascript:
            _axe(visit)
        visit.shot("01-judgements")

        # Accept the judgement: the passage the clinician marked is already chosen.
        item = page.locator("article.judgement", has_text=question)
        assert item.count() == 1
        chosen = item.locator("input[name=choice]:checked")
        assert (
            judged_text[:40]
            in item.locator(f"label[for='{chosen.get_attribute('id')}']").inner_text()
        )
        assert _count(corpus, question) == 0
        _click(visit, item.get_by_role("button", name="Accept"))
        assert "accepted judgement" in page.locator(".desk-notice").inner_text()
        assert page.locator("article.judgement", has_text=question).count() == 0
        assert _count(corpus, question) == 1

        # Resolve the first set-aside example still open.
        _go(visit, "/desk/changes", javascript)
        visit.shot("02-changes")
        open_item = page.locator("article.change:has(form[action*='/set-aside/'])").first
        asked = open_item.locator(".change__question").inner_text()
        button = "The passage answers it" if javascript else "Still out of scope"
        _click(visit, open_item.get_by_role("button", name=button))
        done = page.locator("article.change", has_text=asked).first
        assert "Resolved" in done.inner_text() and EDITOR in done.inner_text()
        outside = (corpus / "examples" / "out-of-scope.jsonl").read_text(encoding="utf-8")
        inside = (corpus / "examples" / f"{ARTICLE}.jsonl").read_text(encoding="utf-8")
        held = json.dumps(asked, ensure_ascii=False)
        if javascript:  # answered: it moved into the article's examples
            assert held in inside and held not in outside
        else:  # still out of scope: kept there, with the passage it was checked against
            line = next(x for x in outside.splitlines() if held in x)
            assert "not_answered_by" in line

        # Build and publish: the build runs in the background; the server swaps to it.
        _go(visit, "/desk/publish", javascript)
        before = published_version(index)
        if not javascript:  # a build started by mistake is cancelled; nothing is published
            _click(visit, page.get_by_role("button", name="Build and publish"))
            _click(visit, page.get_by_role("button", name="Cancel the build"))
            assert page.locator(".desk-build").get_attribute("data-state") == "failed"
            assert f"cancelled by {EDITOR}" in page.locator(".desk-build__message").inner_text()
            assert published_version(index) == before
            _go(visit, "/desk/publish", javascript)
        _click(visit, page.get_by_role("button", name="Build and publish"))
        assert "/desk/builds/" in page.url
        if javascript:
            _axe(visit)
        deadline = time.monotonic() + BUILD_SECONDS
        panel = page.locator(".desk-build")
        while panel.get_attribute("data-state") == "running":
            assert time.monotonic() < deadline, panel.inner_text()
            if javascript:  # page.js follows the build in place
                page.wait_for_timeout(1000)
            else:
                page.wait_for_timeout(2000)
                _click(visit, page.get_by_role("link", name="Check again"))
        assert panel.get_attribute("data-state") == "published", panel.inner_text()
        built = published_version(index)
        assert built != before and built in panel.inner_text()
        for _ in range(20):  # the server swaps to a published version within seconds
            page.reload()
            if page.locator(".desk-build__serving code").inner_text() == built:
                break
            page.wait_for_timeout(500)
        assert page.locator(".desk-build__serving code").inner_text() == built
        visit.shot("03-published")

        # Roll back: the version before is published again.
        _go(visit, "/desk/publish", javascript)
        _click(visit, page.get_by_role("button", name="Roll back to the version before"))
        rolled = published_version(index)
        assert rolled != built and rolled in versions(index)
        assert f"version {rolled}" in page.locator(".desk-notice").inner_text()

        # The other pages, then sign out: the desk asks for a login again.
        for path in ("/desk", "/desk/quality", "/desk/audit"):
            _go(visit, path, javascript)
        trail = page.locator("table").inner_text()
        for action in ("accepted judgement", "build published", "rolled back", "signed in"):
            assert action in trail
        visit.shot("04-audit")
        _click(visit, page.get_by_role("button", name="Sign out"))
        assert "/desk/login" in page.url and "signed out" in page.inner_text("main")
        visit.open("/desk/publish")
        assert "/desk/login" in page.url
        assert visit.script_errors == [] and visit.blocked == [] and visit.dialogs == []
    finally:
        tab.close()
