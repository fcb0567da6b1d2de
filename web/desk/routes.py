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
from fastapi.responses import JSONResponse, RedirectResponse, Response

from assistant.desk.actions import Moves, changes, recording
from assistant.errors import AssistantError, NotFoundError, os_problem
from assistant.feedback.review import PassageGone
from assistant.feedback.store import FeedbackError, StoreUnavailable
from assistant.store.directory import published_manifest, versions
from assistant.store.history import way_back
from assistant.updates import DESK_HINTS
from assistant.updates import lines as change_lines
from web.desk import signin, views
from web.desk.auth import (
    Actor,
    Desk,
    Editor,
    Viewer,
    field,
    refuse,
    store_down,
    wants_json,
)
from web.desk.signin import FORM_BODY, site
from web.pages import render

router = APIRouter(prefix="/desk", tags=["desk"])
router.include_router(signin.router)
_NUMBER = re.compile(r"[0-9]{1,9}")
_KEY = re.compile(r"[0-9a-f]{10}")
_PASSAGE = re.compile(r"[0-9a-f]{8,64}")


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
        "site": site(request),
        "title": title,
        "section": section,
        "editor": editor,
        "notice": _notice(request, desk, editor),
    }


Page = Callable[[Request, Desk, Editor], views.DeskPage]


def _decided(request: Request, desk: Desk, editor: Editor, page: Page, back: str, act: Callable[[], str], anchor: str = "") -> Response:  # fmt: skip
    """Run a decision; 303 back to its page at `anchor` (the item decided, so a long list is
    not scrolled back to its top), or JSON: the outcome; or the page with the reason."""
    try:
        before = desk.accounts.trail(1)
        with recording() as unrecorded:
            message = act()
    except StoreUnavailable as exc:  # the store, not the decision: 503, the detail in the log
        raise store_down(request, exc) from None
    except (AssistantError, OSError) as exc:  # OSError: a corpus or index the server cannot write
        status = 404 if isinstance(exc, NotFoundError) else 409
        said = os_problem(exc) if isinstance(exc, OSError) else str(exc)
        if wants_json(request):
            return JSONResponse({"ok": False, "message": said}, status)
        shown = page(request, desk, editor)
        shown.error, shown.notice = said, ""
        return render(request, f"desk/{shown.section}.html", shown, status_code=status)
    if unrecorded:  # made, but with no audit entry to show it by: said on the page itself
        message += " It is not in the audit trail: the desk could not use its store just then."
    if wants_json(request):
        return JSONResponse({"ok": True, "message": message})
    if unrecorded:
        shown = page(request, desk, editor)
        shown.notice = message
        return render(request, f"desk/{shown.section}.html", shown)
    latest = desk.accounts.trail(1)
    wrote = latest and latest[0].who == editor.name and latest != before
    did = f"?did={latest[0].id}" if wrote else ""
    return RedirectResponse(back + did + (f"#{anchor}" if anchor else ""), 303)


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
    served = {p.id: p for a in engine.index.articles.values() for p in a.passages}
    waiting = [r for r in rows if r.status == "new"]
    items = []
    for row in waiting[:QUEUE_SHOWN]:  # each may be answered again: a page, not the whole queue
        now: list[tuple[str, str]] = []
        if not row.shown or (row.passage and row.passage not in served):  # what answers now
            try:
                answer = engine.ask(row.question, row.history, article=row.searched or None)
                now = [(r.passage.id, r.passage.text) for r in answer.passages]
            except AssistantError:
                now = []
            judged = served.get(row.passage or "")
            if judged is not None and judged.id not in {pid for pid, _ in now}:
                now.append((judged.id, judged.text))  # ranked lower today: still a choice
        items.append(views.queue_item(row, served.keys(), now))
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
        unchosen = not choice and not field(form, "gold").strip()
        if unchosen and desk.decisions.feedback.get(number).verdict == "not":
            raise FeedbackError(  # what the terminal's --gold asks, in the desk's words
                "this judgement says the passage does not answer: choose the passage that "
                "does, or “None: the article does not cover it”, then Accept"
            )
        try:
            return desk.decisions.accept(
                editor.name,
                number,
                passage=None if choice in ("", "out-of-scope") else choice,
                gold=field(form, "gold").strip() or None,
                out_of_scope=choice == "out-of-scope",
            ).message
        except PassageGone:  # the terminal's words name its --gold flag
            raise FeedbackError(
                "the judged passage is no longer in the article (an edit since): choose the "
                "passage that answers, or “None: the article does not cover it”, then Accept"
            ) from None

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
    ("stale", "out-of-scope"),
    ("set-aside", "answered"),
    ("set-aside", "out-of-scope"),
    ("unreachable", "question"),
    ("unexampled", "question"),
}
ASKED_OF = ("unreachable", "unexampled")
"""The items that are passages an editor writes a question for."""


def _listed_moves(desk: Desk) -> dict[str, Moves]:
    """The examples that followed an edit, as the last build's report shows them."""
    listed = changes(desk.builds.settings.index_dir).get("examples", {}).get("followed") or []
    return {f["key"]: tuple((m["from"], m["to"]) for m in f["moves"]) for f in listed}


@router.post("/changes/followed/all", summary="Write the new words into every example", openapi_extra=FORM_BODY)  # fmt: skip
def fix_all(request: Request, acting: Actor) -> Response:
    desk, editor, _ = acting

    def act() -> str:
        done = desk.decisions.fix_all_followed(editor.name, _listed_moves(desk))
        return f"{len(done)} examples now hold their passages' new words."

    return _decided(request, desk, editor, changes_page, "/desk/changes", act, "group-followed")


@router.post("/changes/{kind}/{key}/{action}", summary="Resolve one item", openapi_extra=FORM_BODY)  # fmt: skip
def resolve(request: Request, kind: str, key: str, action: str, acting: Actor) -> Response:
    desk, editor, form = acting
    pattern = _PASSAGE if kind in ASKED_OF else _KEY
    if (kind, action) not in ACTIONS or not pattern.fullmatch(key):
        raise refuse(request, 404, "there is no such item to resolve")
    gold = field(form, "gold").strip() or None
    made = desk.decisions

    def act() -> str:
        if kind == "followed":
            return made.fix_followed(editor.name, key, _listed_moves(desk).get(key)).message
        if kind == "stale":
            out = action == "out-of-scope"
            return made.drop_stale(editor.name, key, out_of_scope=out).message
        if kind == "set-aside":
            return made.resolve_set_aside(
                editor.name, key, answered=action == "answered",
                passage_id=field(form, "passage") or None, gold=gold,
            ).message  # fmt: skip
        return made.add_question(editor.name, key, field(form, "question"), gold).message

    anchor = f"{kind.replace('-', '_')}-{key}"  # the item, listed as done
    return _decided(request, desk, editor, changes_page, "/desk/changes", act, anchor)


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
        report=[line.strip() for line in change_lines(manifest.changes, DESK_HINTS)]
        if manifest
        else [],
        kept=kept,
        can_roll_back=bool(way_back(index_dir)),
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
    except StoreUnavailable as exc:
        raise store_down(request, exc) from None
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
