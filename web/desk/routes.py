"""`/desk`: the editors' pages, thin routes over `assistant.desk` (the CLI calls the same).

One page a task, server-rendered and complete without JavaScript: a decision is an ordinary
form POST answered by a 303 back to its page, which names the audit entry it wrote (`did`), so
a reload sends nothing twice. A refused decision renders its page again with the reason. With
`Accept: application/json` a POST answers `{"ok", "message"}` and a build's page its state.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from assistant.desk.actions import changes
from assistant.errors import AssistantError, NotFoundError, os_problem
from assistant.feedback.accounts import NAME
from assistant.store.directory import published_manifest, versions
from assistant.updates import lines as change_lines
from web import views as site_views
from web.desk import views
from web.desk.auth import (
    LOGIN,
    Actor,
    Desk,
    Editor,
    Viewer,
    desk_of,
    field,
    forget,
    form_of,
    login_token_valid,
    refuse,
    safe_next,
    same_origin,
    signed_in,
    start_session,
    store_down,
    wants_json,
)
from web.feedback import FORM_TYPE
from web.forms import form_cookie
from web.pages import render

router = APIRouter(prefix="/desk", tags=["desk"])
_NUMBER = re.compile(r"[0-9]{1,9}")
_KEY = re.compile(r"[0-9a-f]{10}")
_PASSAGE = re.compile(r"[0-9a-f]{8,64}")


def _form_body(*fields: str) -> dict[str, Any]:
    """The OpenAPI request body of a form with these string fields (for /desk/openapi.json)."""
    properties = {name: {"type": "string"} for name in fields}
    form = {"schema": {"type": "object", "properties": properties}}
    return {"requestBody": {"required": True, "content": {FORM_TYPE: form}}}


FORM_BODY = _form_body("csrf", "passage", "gold", "question", "choice")
LOGIN_BODY = _form_body("csrf", "name", "password", "next")


def _site(request: Request) -> site_views.Site:
    return site_views.site_of(request.app.state.engine.index)


def _notice(request: Request, desk: Desk, editor: Editor) -> str:
    """The sentence for the audit entry a decision redirected with, if it is this editor's."""
    did = request.query_params.get("did", "")
    if not _NUMBER.fullmatch(did):
        return ""
    entry = next((e for e in desk.accounts.trail(50) if e.id == int(did)), None)
    if entry is None or entry.who != editor.name:
        return ""
    return f"Done: {entry.action}, {entry.target}" + (f" ({entry.detail})" if entry.detail else "")


def _common(request: Request, desk: Desk, editor: Editor, section: str, title: str) -> dict[str, Any]:  # fmt: skip
    return {
        "site": _site(request),
        "title": title,
        "section": section,
        "editor": editor,
        "notice": _notice(request, desk, editor),
    }


Page = Callable[[Request, Desk, Editor], views.DeskPage]


def _decided(request: Request, desk: Desk, editor: Editor, page: Page, back: str, act: Callable[[], str]) -> Response:  # fmt: skip
    """Run a decision; 303 back to its page (JSON: the outcome), or the page with the reason."""
    try:
        before = desk.accounts.trail(1)
        message = act()
    except (AssistantError, OSError) as exc:  # OSError: a corpus or index the server cannot write
        status = 404 if isinstance(exc, NotFoundError) else 409
        said = os_problem(exc) if isinstance(exc, OSError) else str(exc)
        if wants_json(request):
            return JSONResponse({"ok": False, "message": said}, status)
        shown = page(request, desk, editor)
        shown.error, shown.notice = said, ""
        return render(request, f"desk/{shown.section}.html", shown, status_code=status)
    if wants_json(request):
        return JSONResponse({"ok": True, "message": message})
    latest = desk.accounts.trail(1)
    wrote = latest and latest[0].who == editor.name and latest != before
    did = f"?did={latest[0].id}" if wrote else ""
    return RedirectResponse(back + did, 303)


# --- signing in and out ------------------------------------------------------------------------


@router.get("/login", summary="The editors' login form")
def login_page(request: Request, next: str = "/desk", out: str = "") -> Response:
    desk = desk_of(request)
    if signed_in(request, desk) is not None:
        return RedirectResponse(safe_next(next), 303)
    return _login_form(request, desk, next=safe_next(next), signed_out=out == "1")


def _login_form(request: Request, desk: Desk, *, status: int = 200, **shown: Any) -> HTMLResponse:
    """The sign-in page, its form signed for the browser's form cookie."""
    cookie = form_cookie(request)
    page = views.LoginPage(
        site=_site(request),
        title="Editors' desk: sign in",
        section="login",
        token=desk.keys.token(cookie[0]),
        **shown,
    )
    return render(request, "desk/login.html", page, status_code=status, cookie=cookie)


@router.post("/login", summary="Sign in", openapi_extra=LOGIN_BODY)
async def login(request: Request) -> Response:
    desk = desk_of(request)
    if not same_origin(request):
        raise refuse(request, 403, "this form can only be sent from the desk's own pages")
    address = request.client.host if request.client else "unknown"
    form = await form_of(request)
    if not login_token_valid(request, desk, form):  # before counting: no token, no attempt
        raise refuse(request, 403, "the form has expired or was not sent from this page; reload it")
    try:
        wait = await run_in_threadpool(desk.accounts.attempt, address)
    except AssistantError as exc:
        raise store_down(request, exc) from None
    if wait is not None:
        raise refuse(
            request,
            429,
            f"too many sign-in attempts from this address; wait {wait} seconds",
            **{"Retry-After": str(wait)},
        )
    name, next_page = field(form, "name")[:64], safe_next(field(form, "next"))
    # argon2 takes ~150 ms of CPU on purpose: off the event loop, so answers keep flowing
    try:
        outcome = await run_in_threadpool(desk.accounts.login, name, field(form, "password"))
    except AssistantError as exc:
        raise store_down(request, exc) from None
    if outcome.session is None:
        if outcome.wait_seconds:
            minutes = max(1, round(outcome.wait_seconds / 60))
            error, status = (
                f"Too many failed sign-ins for this name: try again in {minutes} minute"
                + ("s" if minutes > 1 else "")
                + ".",
                429,
            )
        else:
            error, status = "That name and password do not match an editor's account.", 403
        try:  # in the trail, so a guessing attack shows (bounded by the address limit)
            what = "sign-in locked out" if outcome.wait_seconds else "sign-in refused"
            # the name is the visitor's text: as an editor's name when it could be one, else
            # quoted in the detail, so no newline or control character forges an entry
            tried = name.strip().lower()
            who = tried if NAME.fullmatch(tried) else "(not a name)"
            detail = address if who == tried else f"{address} {ascii(tried[:40])}"
            await run_in_threadpool(desk.accounts.record, who, what, "desk", detail)
        except AssistantError as exc:
            raise store_down(request, exc) from None
        refused = _login_form(request, desk, status=status, name=name, next=next_page, error=error)
        if outcome.wait_seconds:
            refused.headers["Retry-After"] = str(outcome.wait_seconds)
        return refused
    try:
        if (old := signed_in(request, desk)) is not None:
            desk.accounts.logout(old.session)  # a new session id at every login
        desk.accounts.record(name.strip().lower(), "signed in", "desk", address)
    except AssistantError as exc:
        raise store_down(request, exc) from None
    response = RedirectResponse(next_page, 303)
    start_session(request, response, desk, outcome.session)
    return response


@router.post("/logout", summary="Sign out", openapi_extra=FORM_BODY)
def logout(request: Request, acting: Actor) -> Response:
    desk, editor, _ = acting
    try:
        desk.accounts.logout(editor.session)
        desk.accounts.record(editor.name, "signed out", "desk")
    except AssistantError as exc:
        raise store_down(request, exc) from None
    response = RedirectResponse(f"{LOGIN}?out=1", 303)
    forget(request, response)
    return response


# --- the pages ---------------------------------------------------------------------------------


def home_page(request: Request, desk: Desk, editor: Editor) -> views.HomePage:
    open_items = sum(
        1
        for _, _, items in views.change_items(changes(desk.builds.settings.index_dir), _done(desk))
        for item in items
        if item.resolved is None
    )
    return views.HomePage(
        **_common(request, desk, editor, "home", "Editors' desk"),
        judgements=len(desk.decisions.feedback.rows("new")),
        to_resolve=open_items,
        published=request.app.state.engine.index.version,
        running=desk.builds.running(),
    )


@router.get("", summary="The desk's overview")
def home(request: Request, viewing: Viewer) -> Response:
    return render(request, "desk/home.html", home_page(request, *viewing))


QUEUE_SHOWN = 100
"""Judgements listed on the queue's page, oldest first: deciding them brings the next."""


def queue_page(request: Request, desk: Desk, editor: Editor) -> views.QueuePage:
    engine = request.app.state.engine
    rows = desk.decisions.feedback.rows()
    served = {p.id for a in engine.index.articles.values() for p in a.passages}
    waiting = [r for r in rows if r.status == "new"]
    items = []
    for row in waiting[:QUEUE_SHOWN]:  # each may be answered again: a page, not the whole queue
        now: list[tuple[str, str]] = []
        if not row.shown:
            try:
                answer = engine.ask(row.question, row.history, article=row.searched or None)
                now = [(r.passage.id, r.passage.text) for r in answer.passages]
            except AssistantError:
                now = []
        items.append(views.queue_item(row, served, now))
    return views.QueuePage(
        **_common(request, desk, editor, "judgements", "Clinicians' judgements"),
        items=items,
        decided=len(rows) - len(waiting),
        waiting=len(waiting),
    )


@router.get("/judgements", summary="The queue of clinicians' judgements")
def judgements(request: Request, viewing: Viewer) -> Response:
    return render(request, "desk/judgements.html", queue_page(request, *viewing))


def _feedback_id(request: Request, value: str) -> int:
    if not _NUMBER.fullmatch(value):
        raise refuse(request, 404, f"there is no judgement {value!r}")
    return int(value)


@router.post("/judgements/{feedback_id}/accept", summary="Accept a judgement", openapi_extra=FORM_BODY)  # fmt: skip
def accept(request: Request, feedback_id: str, acting: Actor) -> Response:
    desk, editor, form = acting
    number = _feedback_id(request, feedback_id)
    choice = field(form, "choice")  # a passage id, or "out-of-scope"

    def act() -> str:
        return desk.decisions.accept(
            editor.name,
            number,
            passage=None if choice in ("", "out-of-scope") else choice,
            gold=field(form, "gold").strip() or None,
            out_of_scope=choice == "out-of-scope",
        ).message

    return _decided(request, desk, editor, queue_page, "/desk/judgements", act)


@router.post("/judgements/{feedback_id}/reject", summary="Reject a judgement", openapi_extra=FORM_BODY)  # fmt: skip
def reject(request: Request, feedback_id: str, acting: Actor) -> Response:
    desk, editor, _ = acting
    number = _feedback_id(request, feedback_id)
    return _decided(request, desk, editor, queue_page, "/desk/judgements",
                    lambda: desk.decisions.reject(editor.name, number).message)  # fmt: skip


def _done(desk: Desk) -> dict[str, Any]:
    """Audit entries since the published version was built, by what they touched."""
    manifest = published_manifest(desk.builds.settings.index_dir)
    since = manifest.built_at[:19] if manifest else None
    return {e.target: e for e in reversed(desk.accounts.trail(2000, since=since))}


def changes_page(request: Request, desk: Desk, editor: Editor) -> views.ChangesPage:
    return views.ChangesPage(
        **_common(request, desk, editor, "changes", "After the last build"),
        version=request.app.state.engine.index.version,
        groups=views.change_items(changes(desk.builds.settings.index_dir), _done(desk)),
    )


@router.get("/changes", summary="What the last build set aside or moved")
def changed(request: Request, viewing: Viewer) -> Response:
    return render(request, "desk/changes.html", changes_page(request, *viewing))


ACTIONS = {
    ("followed", "fix"),
    ("stale", "remove"),
    ("set-aside", "answered"),
    ("set-aside", "out-of-scope"),
    ("unreachable", "question"),
}


@router.post("/changes/{kind}/{key}/{action}", summary="Resolve one item", openapi_extra=FORM_BODY)  # fmt: skip
def resolve(request: Request, kind: str, key: str, action: str, acting: Actor) -> Response:
    desk, editor, form = acting
    pattern = _PASSAGE if kind == "unreachable" else _KEY
    if (kind, action) not in ACTIONS or not pattern.fullmatch(key):
        raise refuse(request, 404, "there is no such item to resolve")
    gold = field(form, "gold").strip() or None
    made = desk.decisions

    def act() -> str:
        if kind == "followed":
            return made.fix_followed(editor.name, key).message
        if kind == "stale":
            return made.drop_stale(editor.name, key).message
        if kind == "set-aside":
            return made.resolve_set_aside(
                editor.name, key, answered=action == "answered",
                passage_id=field(form, "passage") or None, gold=gold,
            ).message  # fmt: skip
        return made.add_question(editor.name, key, field(form, "question"), gold).message

    return _decided(request, desk, editor, changes_page, "/desk/changes", act)


@router.get("/quality", summary="Quality as clinicians judge it, per index version")
def quality(request: Request, viewing: Viewer) -> Response:
    desk, editor = viewing
    stats = desk.decisions.feedback.stats() if desk.decisions.feedback.path.exists() else []
    page = views.QualityPage(
        **_common(request, desk, editor, "quality", "Quality as clinicians judge it"),
        stats=stats,
        bars=views.bars(stats),
        chart_width=16 + 64 * max(1, len(stats)),
    )
    return render(request, "desk/quality.html", page)


def publish_page(request: Request, desk: Desk, editor: Editor) -> views.PublishPage:
    index_dir = desk.builds.settings.index_dir
    manifest = published_manifest(index_dir)
    published = manifest.version if manifest else None
    kept = versions(index_dir)
    return views.PublishPage(
        **_common(request, desk, editor, "publish", "Build and publish"),
        published=published,
        built_at=manifest.built_at if manifest else "",
        report=[line.strip() for line in change_lines(manifest.changes)] if manifest else [],
        kept=kept,
        can_roll_back=any(published is None or v < published for v in kept),
        builds=desk.builds.recent(),
        running=desk.builds.running(),
    )


@router.get("/publish", summary="The published version, its change report, build and roll back")
def publishing(request: Request, viewing: Viewer) -> Response:
    return render(request, "desk/publish.html", publish_page(request, *viewing))


@router.post("/publish/build", summary="Build and publish in the background", openapi_extra=FORM_BODY)  # fmt: skip
def build(request: Request, acting: Actor) -> Response:
    desk, editor, _ = acting
    started: list[int] = []

    def act() -> str:
        started.append(desk.builds.start(editor.name).id)
        return f"build #{started[0]} started"

    response = _decided(request, desk, editor, publish_page, "/desk/publish", act)
    if not started or wants_json(request):
        return response
    return RedirectResponse(f"/desk/builds/{started[0]}", 303)


@router.post("/publish/rollback", summary="Publish the version before", openapi_extra=FORM_BODY)
def rollback(request: Request, acting: Actor) -> Response:
    desk, editor, _ = acting
    return _decided(request, desk, editor, publish_page, "/desk/publish",
                    lambda: f"published {desk.builds.roll_back(editor.name)}")  # fmt: skip


@router.get("/builds/{build_id}", summary="A build's progress and outcome")
def build_status(request: Request, build_id: str, viewing: Viewer) -> Response:
    desk, editor = viewing
    if not _NUMBER.fullmatch(build_id):
        raise refuse(request, 404, f"there is no build {build_id!r}")
    try:
        found = desk.builds.get(int(build_id))
    except AssistantError as exc:
        raise refuse(request, 404, str(exc)) from None
    serving = request.app.state.engine.index.version
    if wants_json(request):
        return JSONResponse({**found.to_json(), "serving": serving})
    page = views.BuildPage(
        **_common(request, desk, editor, "publish", f"Build #{found.id}"),
        build=found,
        lines=found.tail(),
        serving=serving,
    )
    return render(request, "desk/build.html", page)


@router.post("/builds/{build_id}/cancel", summary="Cancel a running build", openapi_extra=FORM_BODY)  # fmt: skip
def cancel(request: Request, build_id: str, acting: Actor) -> Response:
    desk, editor, _ = acting
    if not _NUMBER.fullmatch(build_id):
        raise refuse(request, 404, f"there is no build {build_id!r}")
    number = int(build_id)
    return _decided(request, desk, editor, publish_page, f"/desk/builds/{number}",
                    lambda: desk.builds.cancel(editor.name, number).message or "")  # fmt: skip


@router.get("/audit", summary="The audit trail")
def audit(request: Request, viewing: Viewer) -> Response:
    desk, editor = viewing
    page = views.AuditPage(
        **_common(request, desk, editor, "audit", "Audit trail"), entries=desk.accounts.trail(500)
    )
    return render(request, "desk/audit.html", page)
