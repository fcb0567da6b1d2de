"""Who may use the desk: signed session cookies, form tokens, the login and the logout.

- The desk is off until an editor account exists (`mmn-assistant editors add`): every `/desk`
  address then answers 404, as an address that does not exist.
- The session cookie holds a random session id and its HMAC (a key derived from the feedback
  store's secret): a cookie that was altered is refused before the store is asked. The id
  itself lives in the store (`assistant.feedback.accounts`), so logging out, resetting a
  password or 8 hours idle ends it for good. `HttpOnly`, `SameSite=Strict`, path `/desk`, and
  `Secure` when the request came over https.
- Every POST needs the page's origin and a form token: the session's HMAC once signed in; on
  the login form, the token of the clinicians' feedback buttons (`web.forms`).
- Without a session a page redirects to the login (303, `next` kept); JSON gets 401.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qs, quote

from fastapi import Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from assistant.desk.actions import Decisions
from assistant.desk.jobs import Builds
from assistant.feedback.accounts import Accounts
from assistant.feedback.store import FeedbackError
from assistant.ingest.lineage import Similar
from assistant.settings import Settings
from web.feedback import FORM_TYPE, Feedback
from web.forms import COOKIE, FormKeys, same_origin

log = logging.getLogger("mmn_assistant.web")

SESSION_COOKIE = "mmn_desk"
COOKIE_PATH = "/desk"
LOGIN = "/desk/login"
_SIGNED = re.compile(r"([A-Za-z0-9_-]{43})\.([0-9a-f]{64})")
_NEXT = re.compile(r"/desk(?:/[A-Za-z0-9/_.-]*)?")


@dataclass(slots=True)
class Desk:
    """What the app keeps for the desk (`app.state.desk`)."""

    accounts: Accounts
    decisions: Decisions
    builds: Builds
    keys: FormKeys

    @classmethod
    def create(cls, settings: Settings, feedback: Feedback, similar: Similar | None = None) -> Desk:
        return cls(
            accounts=Accounts(feedback.store),
            decisions=Decisions(settings, feedback.store, similar=similar),
            builds=Builds(feedback.store, settings),
            keys=feedback.keys,
        )

    def sign(self, session: str) -> str:
        return f"{session}.{self._mac('session', session)}"

    def unsign(self, value: str | None) -> str | None:
        match = _SIGNED.fullmatch(value or "")
        if match is None:
            return None
        session, mac = match.groups()
        return session if hmac.compare_digest(self._mac("session", session), mac) else None

    def csrf(self, session: str) -> str:
        return self._mac("form", session)

    def _mac(self, purpose: str, value: str) -> str:
        key = self.keys.derive(f"desk-{purpose}")
        return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Editor:
    """The signed-in editor of a request, with the token its forms carry."""

    name: str
    session: str
    csrf: str


class Refused(Exception):
    """A desk request that goes no further; the app turns it into `response`."""

    def __init__(self, response: Response) -> None:
        self.response = response


def desk_of(request: Request) -> Desk:
    """The desk, or 404 while no editor account exists (the desk is off)."""
    desk: Desk = request.app.state.desk
    try:
        on = desk.accounts.any()
    except Exception:  # an unreadable store: the desk is off rather than a 500
        on = False
    if not on:
        from web.pages import error_page

        raise Refused(error_page(request, 404))
    return desk


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def refuse(request: Request, status: int, message: str, **headers: str) -> Refused:
    """A refusal: JSON `{message, detail}`, or the site's error page with the sentence."""
    from web.pages import error_page
    from web.text import sentence

    if wants_json(request):
        return Refused(JSONResponse({"message": message, "detail": None}, status, headers=headers))
    page = error_page(request, status, sentence(message))
    page.headers.update(headers)
    return Refused(page)


def store_down(request: Request, exc: Exception) -> Refused:
    """503 for a store the desk cannot use now: the detail (a file path, SQLite's words) goes
    to the log for whoever runs the server, not to whoever asked."""
    log.error("the desk's store failed on %s: %s", request.url.path, exc)
    return refuse(request, 503, "the desk cannot use its store now; try again in a moment")


def safe_next(value: str) -> str:
    """Where to go after the login: a desk address of ours, never another site, and no dot
    segment (`/desk/../x` is `/x` to a browser)."""
    if not _NEXT.fullmatch(value) or {".", ".."} & set(value.split("/")):
        return "/desk"
    return value


def signed_in(request: Request, desk: Desk) -> Editor | None:
    session = desk.unsign(request.cookies.get(SESSION_COOKIE))
    if session is None:
        return None
    try:
        name = desk.accounts.session(session)
    except FeedbackError as exc:  # locked for longer than the busy timeout, or unreadable
        raise store_down(request, exc) from None
    return None if name is None else Editor(name, session, desk.csrf(session))


def need_login(request: Request) -> Refused:
    if wants_json(request):
        return Refused(
            JSONResponse(
                {"message": "sign in at /desk/login first", "detail": None},
                401,
                headers={"WWW-Authenticate": 'Cookie realm="desk"'},
            )
        )
    path = request.url.path if request.method == "GET" else "/desk"
    response = RedirectResponse(f"{LOGIN}?next={quote(safe_next(path), safe='/')}", 303)
    if SESSION_COOKIE in request.cookies:  # an ended or altered session: forget it
        forget(request, response)
    return Refused(response)


async def form_of(request: Request) -> dict[str, list[str]]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM_TYPE:
        raise refuse(request, 415, f"send the form as {FORM_TYPE}")
    try:
        return parse_qs((await request.body()).decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        raise refuse(request, 400, "the form is not UTF-8 text") from None


def field(form: dict[str, list[str]], name: str) -> str:
    return (form.get(name) or [""])[-1]


def viewer(request: Request) -> tuple[Desk, Editor]:
    """A page's dependency: the desk and its signed-in editor (else 404, 303 or 401)."""
    desk = desk_of(request)
    editor = signed_in(request, desk)
    if editor is None:
        raise need_login(request)
    return desk, editor


async def actor(request: Request) -> tuple[Desk, Editor, dict[str, list[str]]]:
    """A POST's dependency: same origin, a session and its form token (else 403, 303, 401)."""
    desk = desk_of(request)
    if not same_origin(request):
        raise refuse(request, 403, "this form can only be sent from the desk's own pages")
    editor = signed_in(request, desk)
    if editor is None:
        raise need_login(request)
    form = await form_of(request)
    sent = field(form, "csrf").encode()  # bytes: compare_digest raises on a non-ASCII str
    if not hmac.compare_digest(sent, editor.csrf.encode()):
        raise refuse(request, 403, "the form has expired or was not sent from the desk; reload it")
    return desk, editor, form


Viewer = Annotated[tuple[Desk, Editor], Depends(viewer)]
Actor = Annotated[tuple[Desk, Editor, dict[str, list[str]]], Depends(actor)]


def login_token_valid(request: Request, desk: Desk, form: dict[str, list[str]]) -> bool:
    token = field(form, "csrf")  # not ASCII: never a token, and compare_digest would raise
    return token.isascii() and desk.keys.valid(request.cookies.get(COOKIE), token)


def start_session(request: Request, response: Response, desk: Desk, session: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        desk.sign(session),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path=COOKIE_PATH,
    )


def forget(request: Request, response: Response) -> None:
    response.delete_cookie(
        SESSION_COOKIE,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
