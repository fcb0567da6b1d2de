"""`POST /feedback`: a clinician's judgement of an answer, the one request that changes state.

An ordinary form POST (it works without JavaScript: a 303 back to the same answer with a
thank-you notice); with JavaScript the page sends the same form with `fetch` and
`Accept: application/json`, and confirms in place.

Protected as a state change must be:
- a form token (CSRF): the page sets a random cookie (`HttpOnly`, `SameSite=Strict`) and puts
  its HMAC, keyed with a secret kept beside the feedback store, in the form; a POST whose token
  does not match its cookie, or whose `Origin` is another site, gets 403;
- at most `Settings.feedback_per_minute` judgements a minute per client (429 with Retry-After);
- every field checked against the limits questions have (422 saying what to fix).

A store that cannot be written (damaged, locked, read-only) costs only the judgement: the error
is logged, the clinician is told it was not saved, and answering goes on.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse, Response

from assistant.engine import Engine
from assistant.errors import AssistantError, QueryError
from assistant.feedback import VERDICTS, FeedbackError, FeedbackStore, Judgement
from assistant.limits import MAX_ARTICLE_ID_CHARS, MAX_K, MIN_K, Query
from assistant.store import versions
from assistant.store.directory import version_passages
from web import views
from web.forms import COOKIE, NOTICES, FormKeys, same_origin
from web.pages import error_page
from web.text import sentence

log = logging.getLogger("mmn_assistant.web")

_RANK = re.compile(r"[0-9]{1,3}")  # ASCII digits only: "²".isdigit() is True, int("²") fails
_VERSION = re.compile(r"[0-9]{8}T[0-9.]{6,13}-[0-9a-f]{6}")  # an index version's name
FORM_TYPE = "application/x-www-form-urlencoded"
ADDRESS_SHARE = 10
"""Browsers behind one address (a hospital's proxy) that may each send the per-minute limit."""

router = APIRouter(include_in_schema=False)


class RateLimit:
    """A sliding minute per client: at most `per_minute` requests in any 60 seconds."""

    def __init__(self, per_minute: int, *, window: float = 60.0) -> None:
        self._per_minute = per_minute
        self._window = window
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, client: str, now: float | None = None) -> int | None:
        """None when the request may go ahead (and it is counted); else seconds to wait."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if len(self._seen) > 10_000:  # forget idle clients, so the map cannot grow forever
                self._seen = {
                    c: d for c, d in self._seen.items() if d and d[-1] > now - self._window
                }
            seen = self._seen.setdefault(client, deque())
            while seen and seen[0] <= now - self._window:
                seen.popleft()
            if len(seen) >= self._per_minute:
                return max(1, int(seen[0] + self._window - now + 0.999))
            seen.append(now)
            return None


@dataclass(slots=True)
class Feedback:
    """What the app keeps for feedback: the store, the form keys, the rate limit."""

    store: FeedbackStore
    keys: FormKeys
    limit: RateLimit
    """Per browser (its form cookie) at an address."""
    address_limit: RateLimit
    """Per address, `ADDRESS_SHARE` times as many: a form cookie is given to whoever loads a
    page, so a client that fetches a new one before each judgement passes the first limit."""

    @classmethod
    def create(cls, path: Path, per_minute: int) -> Feedback:
        return cls(
            FeedbackStore(path),
            FormKeys(path),
            RateLimit(per_minute),
            RateLimit(per_minute * ADDRESS_SHARE),
        )


def _one(form: dict[str, list[str]], name: str) -> str:
    values = form.get(name) or [""]
    return values[-1]


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


NOT_SAVED = "Your judgement was not saved"


def _refuse(
    request: Request,
    status: int,
    message: str,
    form: dict[str, list[str]] | None = None,
    **headers: str,
) -> Response:
    """A refused judgement: JSON for the page's script; without it, a page that says what to do
    in a sentence and links back to the answer the judgement was about (when the form names
    it), where "reload the answer" can be done."""
    if _wants_json(request):
        return JSONResponse({"saved": False, "message": message}, status, headers=headers)
    back = _answer_of(form) if form and _one(form, "question").strip() else None
    response = error_page(request, status, sentence(message), heading=NOT_SAVED, back=back)
    response.headers.update(headers)
    return response


def read_judgement(form: dict[str, list[str]], engine: Engine, index_dir: Path) -> Judgement:
    """The judgement a form describes, checked; raises `QueryError` saying what to fix."""
    verdict = _one(form, "verdict")
    if verdict not in VERDICTS:
        raise QueryError(f"verdict must be one of {', '.join(VERDICTS)}")
    query = Query.read(_one(form, "question"), form.get("history", []))
    article = _one(form, "article")
    if len(article) > MAX_ARTICLE_ID_CHARS or article not in engine.index.articles:
        raise QueryError("article is not an article of this index; ask the question again")
    # The version the page was ranked with, when the form names a real one (a page can be
    # judged after the server has swapped to a newer version); else the one served now.
    version = _one(form, "version")
    if not _VERSION.fullmatch(version):
        version = engine.index.version
    elif version != engine.index.version and version not in _kept(index_dir, engine):
        raise QueryError("version is not a version of this index; ask the question again")
    passage: str | None = None
    rank: int | None = None
    said: tuple[tuple[str, str], ...] = ()
    if verdict != "missing":
        passage = _one(form, "passage")
        # checked against the version the page showed: an editor's correction published since
        # is what the clinician may be judging
        served = engine.index.articles[article].passages
        then = (
            served
            if version == engine.index.version
            else [p for p in version_passages(index_dir, version) if p.article_id == article]
        )
        judged = next((p for p in then if p.id == passage), None)
        if judged is None:
            raise QueryError("passage is not a passage of that article; ask the question again")
        if all(p.id != passage for p in served):
            # edited away since: its words then, so the desk shows what was judged (one still
            # served is shown among the served version's ranking, as any unranked row)
            said = ((passage, judged.text),)
        raw_rank = _one(form, "rank")
        if not _RANK.fullmatch(raw_rank) or not MIN_K <= int(raw_rank) <= MAX_K:
            raise QueryError(f"rank must be a whole number from {MIN_K} to {MAX_K}")
        rank = int(raw_rank)
    searched = _one(form, "searched")
    if searched and searched not in engine.index.articles:
        raise QueryError("searched is not an article of this index; ask the question again")
    return Judgement(
        shown=said,
        article=article,
        index_version=version,
        searched=searched,
        question=query.question,
        history=query.history,
        passage=passage,
        rank=rank,
        verdict=verdict,  # checked against VERDICTS above
    )


def _kept(index_dir: Path, engine: Engine) -> list[str]:
    """The versions kept beside the one served (the few a rollback can reach): a page shown
    before a swap, a rollback, or a rollback and a build, can still be judged, its passage
    checked against that version's. Its ranking cannot be checked (that version is not
    loaded); a version pruned since is refused."""
    try:
        kept = versions(index_dir)
    except OSError:  # none when it cannot be listed now
        return []
    return kept if engine.index.version in kept else []


async def shown_to(
    engine: Engine, judgement: Judgement
) -> tuple[tuple[tuple[str, str], ...], bool | None]:
    """The ranked passages the clinician saw, for the editors' desk, and whether the answer was
    declined: the answer again (its question vector is cached), when the version served is the
    one the page was ranked with (else nothing, and None)."""
    if judgement.index_version != engine.index.version:
        return (), None
    try:
        answer = await engine.ask_async(
            judgement.question, judgement.history, article=judgement.searched or None
        )
    except AssistantError:  # the judgement is kept without the ranking, as before
        return (), None
    return tuple((r.passage.id, r.passage.text) for r in answer.passages), not answer.answerable


def _answer_of(form: dict[str, list[str]]) -> str:
    """The answer the judgement was about: its question, conversation and article searched."""
    return views.ask_url(_one(form, "question"), form.get("history", []), _one(form, "searched"))


def answer_url(form: dict[str, list[str]], outcome: str) -> str:
    """The answer the judgement was about, with the notice to show on it."""
    return f"{_answer_of(form)}&{urlencode([('feedback', outcome)])}#feedback-notice"


@router.post("/feedback")
async def feedback(request: Request) -> Response:
    """Store one judgement of an answer."""
    kept: Feedback = request.app.state.feedback
    engine: Engine = request.app.state.engine
    if not same_origin(request):
        return _refuse(request, 403, "this form can only be sent from the assistant's own pages")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM_TYPE:
        return _refuse(request, 415, f"send the judgement as a form ({FORM_TYPE})")
    try:
        form = parse_qs((await request.body()).decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return _refuse(request, 400, "the form is not UTF-8 text")
    if not kept.keys.valid(request.cookies.get(COOKIE), _one(form, "csrf")):
        return _refuse(
            request,
            403,
            "the form has expired or was not sent from this page; reload the answer",
            form,
        )
    # A client is a browser (its form cookie) at an address: behind a proxy every clinician
    # comes from the proxy's address, and one busy colleague must not use up the others' minute.
    address = request.client.host if request.client else "unknown"
    cookie = request.cookies.get(COOKIE, "")
    client = f"{address} {cookie}"
    wait = kept.limit.retry_after(client)
    if wait is None:
        wait = kept.address_limit.retry_after(address)
    if wait is not None:
        return _refuse(
            request,
            429,
            f"too many judgements in a minute; wait {wait} seconds and send it again",
            form,
            **{"Retry-After": str(wait)},
        )
    try:
        judgement = read_judgement(form, engine, request.app.state.settings.index_dir)
    except QueryError as exc:
        return _refuse(request, 422, str(exc), form)
    shown, declined = await shown_to(engine, judgement)
    judgement = replace(judgement, shown=shown or judgement.shown, client=kept.keys.client(cookie))
    # "The article should cover this" is offered on a declined answer only, and a passage's
    # verdict names the passage at its rank: anything else judges an answer never shown.
    changed = declined is False and judgement.verdict == "missing"
    if shown and judgement.passage is not None and judgement.rank is not None:
        at = judgement.rank - 1
        changed = at >= len(shown) or shown[at][0] != judgement.passage
    if changed:
        return _refuse(
            request, 422, "the answer has changed since the page was shown; ask again", form
        )
    try:
        await run_in_threadpool(kept.store.add, judgement)
        outcome = "saved"
    except FeedbackError as exc:
        log.error("feedback not saved: %s", exc)
        outcome = "failed"
    if _wants_json(request):
        status = 200 if outcome == "saved" else 503
        return JSONResponse({"saved": outcome == "saved", "message": NOTICES[outcome]}, status)
    return RedirectResponse(answer_url(form, outcome), status_code=303)
