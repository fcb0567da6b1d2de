"""`/desk/login` and `/desk/logout`: signing in (rate-limited by address and by name, every
attempt in the audit trail) and out; and the forms' shapes every desk route shares."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from assistant.errors import AssistantError
from assistant.feedback.accounts import NAME
from web import views as site_views
from web.desk import views
from web.desk.auth import (
    LOGIN,
    Actor,
    Desk,
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
)
from web.feedback import FORM_TYPE
from web.forms import form_cookie
from web.pages import render

router = APIRouter(tags=["desk"])  # included by `web.desk.routes`, under /desk


def _form_body(*fields: str) -> dict[str, Any]:
    """The OpenAPI request body of a form with these string fields (for /desk/openapi.json)."""
    properties = {name: {"type": "string"} for name in fields}
    form = {"schema": {"type": "object", "properties": properties}}
    return {"requestBody": {"required": True, "content": {FORM_TYPE: form}}}


FORM_BODY = _form_body("csrf", "passage", "gold", "question", "choice")
LOGIN_BODY = _form_body("csrf", "name", "password", "next")


def site(request: Request) -> site_views.Site:
    return site_views.site_of(request.app.state.engine.index)


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
        site=site(request),
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
