"""The editors' desk as an attacker meets it, on a real server (`mmn-assistant serve`, the
`live_server` fixture): a 404 while no editor has an account, a login before every page, a
session cookie that is HttpOnly, SameSite=Strict and new at every login, and that a logout, a
password reset or one altered character ends; a form token and our own origin on every POST;
five failed sign-ins a name in 15 minutes, refused alike whether or not the name exists; no
redirect off the desk; `no-store` and the security headers on every answer.

The desk turns on when this module adds its editors to the server's store. Each test is a
visitor from a loopback address of its own (127.0.1.N, a real socket address): the server
counts sign-in attempts per client address (`LOGINS_PER_MINUTE`), and one test's attempts
must not spend another's. Every POST that could change something is made only where it cannot
(a judgement that does not exist): the server's corpus is the repository's own.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from assistant.feedback import FeedbackStore
from assistant.feedback.accounts import ATTEMPTS_PER_MINUTE as LOGINS_PER_MINUTE
from assistant.feedback.accounts import LOCKOUT_FAILURES, Accounts
from assistant.settings import current
from tests.test_web import parse
from web.app import SECURITY_HEADERS, create_app

pytestmark = [pytest.mark.model, pytest.mark.server]

EDITOR, PASSWORD = "sec.editor", "a long password 123"
OTHER, OTHER_PASSWORD = "sec.other", "another long password 456"
LOCKED, LOCKED_PASSWORD = "sec.locked", "the locked one's password"
RESET, RESET_PASSWORD = "sec.reset", "a password to be reset"
UNKNOWN = "sec.nobody"
"""A name with no account: refused exactly as an editor's is."""
ACCOUNTS = {EDITOR: PASSWORD, OTHER: OTHER_PASSWORD, LOCKED: LOCKED_PASSWORD, RESET: RESET_PASSWORD}

SESSION, FORM = "mmn_desk", "mmn_form"
PAGES = (
    "/desk",
    "/desk/judgements",
    "/desk/changes",
    "/desk/quality",
    "/desk/publish",
    "/desk/audit",
    "/desk/builds/1",
)
POSTS = (
    "/desk/logout",
    "/desk/judgements/1/accept",
    "/desk/judgements/1/reject",
    "/desk/changes/stale/0123456789/remove",
    "/desk/changes/stale/0123456789/out-of-scope",
    "/desk/publish/build",
    "/desk/publish/rollback",
)
NO_SUCH_JUDGEMENT = "/desk/judgements/999999999/reject"
"""A state-changing POST that changes nothing once it is let through: its 404 says so."""
EXPIRED = "the form has expired or was not sent from the desk"
ELSEWHERE = "this form can only be sent from the desk's own pages"
NO_MATCH = "That name and password do not match an editor's account."
LEAKS = ("Traceback", 'File "', "Error:")


# --- what every desk answer carries ---------------------------------------------------------


def checked(response: httpx.Response, status: int) -> httpx.Response:
    """The status, `no-store`, the security headers, and no stack trace."""
    assert response.status_code == status, (response.status_code, response.text[:2000])
    assert response.headers.get("cache-control") == "no-store", response.request.url
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (name, response.request.url)
    assert not [leak for leak in LEAKS if leak in response.text], response.text[:2000]
    return response


def set_cookie(response: httpx.Response, name: str) -> tuple[str, dict[str, str]] | None:
    """The value and attributes (names lower-cased) of the cookie the response sets, if any."""
    for header in response.headers.get_list("set-cookie"):
        first, *attributes = (part.strip() for part in header.split(";"))
        key, _, value = first.partition("=")
        if key == name:
            pairs = (a.partition("=") for a in attributes)
            return value.strip('"'), {k.lower(): v for k, _, v in pairs}
    return None


def visible(html: str, cls: str) -> str:
    """The text of the one element of a class, as a person reads it."""
    return parse(html).one(cls=cls).text


def login_redirect(response: httpx.Response, next_page: str) -> None:
    checked(response, 303)
    assert response.headers["location"] == f"/desk/login?next={quote(next_page, safe='/')}"


def refused_session(response: httpx.Response, path: str = "/desk") -> None:
    """What a page answers a cookie that is no (longer a) session: the login, and the cookie
    forgotten."""
    login_redirect(response, path)
    forgotten = set_cookie(response, SESSION)
    assert forgotten is not None and forgotten[1].get("max-age") == "0", response.headers


# --- visitors -------------------------------------------------------------------------------


class Visitor:
    """A client on a loopback address of its own. It keeps no cookies: each request sends
    those the test names, as an attacker replaying or altering them would."""

    def __init__(self, base: str, address: str) -> None:
        self.base = base
        self.address = address
        self.http = httpx.Client(
            base_url=base,
            timeout=30,
            transport=httpx.HTTPTransport(local_address=address),
            event_hooks={"response": [lambda _: self.http.cookies.clear()]},
        )

    @property
    def origin(self) -> str:
        return self.base

    def _headers(self, cookies: dict[str, str], json: bool, headers: dict[str, str]) -> dict:
        sent = dict(headers)
        if cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        if json:
            sent["Accept"] = "application/json"
        return sent

    def get(
        self, path: str, *, session: str | None = None, json: bool = False, **headers: str
    ) -> httpx.Response:
        cookies = {SESSION: session} if session is not None else {}
        return self.http.get(path, headers=self._headers(cookies, json, headers))

    def post(
        self,
        path: str,
        data: dict[str, str] | None = None,
        *,
        session: str | None = None,
        form: str | None = None,
        json: bool = False,
        **headers: str,
    ) -> httpx.Response:
        """A form POST, as the desk's own page sends it unless `headers` say otherwise."""
        cookies = {k: v for k, v in ((SESSION, session), (FORM, form)) if v is not None}
        headers = {"Origin": self.origin, "Sec-Fetch-Site": "same-origin", **headers}
        headers = {k: v for k, v in headers.items() if v}  # "" leaves a header out
        headers["Content-Type"] = "application/x-www-form-urlencoded"  # even with no fields
        body = urlencode(data or {})
        return self.http.post(path, content=body, headers=self._headers(cookies, json, headers))

    def login_form(self) -> tuple[str, str]:
        """The login page's form cookie and the token of its form."""
        page = checked(self.get("/desk/login"), 200)
        form = parse(page.text).one("form", action="/desk/login")
        token = form.one("input", name="csrf")["value"]
        cookie = set_cookie(page, FORM)
        assert cookie is not None and token and re.fullmatch(r"[0-9a-f]{64}", token)
        return cookie[0], token

    def sign_in(
        self,
        name: str,
        password: str,
        *,
        next_page: str = "/desk",
        form: tuple[str, str] | None = None,
        session: str | None = None,
        **headers: str,
    ) -> httpx.Response:
        cookie, token = form or self.login_form()
        data = {"csrf": token, "name": name, "password": password, "next": next_page}
        return self.post("/desk/login", data, form=cookie, session=session, **headers)

    def session(self, name: str = EDITOR, password: str | None = None, **kw: str) -> str:
        """A new signed-in session's cookie value."""
        response = checked(self.sign_in(name, password or ACCOUNTS[name], **kw), 303)
        made = set_cookie(response, SESSION)
        assert made is not None, response.headers
        return made[0]

    def csrf(self, session: str) -> str:
        """The form token of a session, as its pages carry it (the sign-out form)."""
        page = checked(self.get("/desk", session=session), 200)
        return parse(page.text).one("form", action="/desk/logout").one("input", name="csrf")["value"]  # fmt: skip

    def close(self) -> None:
        self.http.close()


def ensure_editor(server_dir: Path, name: str, password: str) -> None:
    """An account in the live server's store, with this password (turns the desk on)."""
    accounts = Accounts(FeedbackStore(server_dir / "feedback.sqlite3"))
    if any(e.name == name for e in accounts.editors()):
        accounts.reset_password(name, password)
    else:
        accounts.add(name, password)


_addresses = itertools.count(1)


@pytest.fixture(scope="module")
def desk(live_server: str, server_dir: Path) -> str:
    """The live server with this module's editors: the desk is on."""
    for name, password in ACCOUNTS.items():
        ensure_editor(server_dir, name, password)
    return live_server


@pytest.fixture
def new_visitor(desk: str) -> Iterator[Callable[[], Visitor]]:
    made: list[Visitor] = []

    def make() -> Visitor:
        made.append(Visitor(desk, f"127.0.1.{next(_addresses)}"))
        return made[-1]

    yield make
    for visitor in made:
        visitor.close()


@pytest.fixture
def visitor(new_visitor: Callable[[], Visitor]) -> Visitor:
    return new_visitor()


# --- off ------------------------------------------------------------------------------------


def test_without_an_account_the_desk_is_not_there_and_clinicians_pages_do_not_change(
    engine, tmp_path: Path
):
    """Off by default: every desk address is the 404 of an address that does not exist. An
    account turns it on at the next request, and the clinicians' pages stay byte for byte."""
    store = tmp_path / "off" / "feedback.sqlite3"
    app = create_app(current(feedback_db=store), engine=engine)
    with TestClient(app, base_url="http://testserver") as client:
        nowhere = client.get("/no-such-page")
        assert nowhere.status_code == 404
        for path in (*PAGES, "/desk/login", "/desk/openapi.json", "/desk/nowhere", "/desk/"):
            for json in (False, True):
                accept = {"Accept": "application/json"} if json else {}
                response = checked(client.get(path, headers=accept), 404)
                assert response.text == nowhere.text, path
        for path in ("/desk/login", *POSTS):
            response = client.post(path, data={"csrf": "x"}, follow_redirects=False)
            assert checked(response, 404).text == nowhere.text, path
        for method, path in (("GET", "/desk/logout"), ("POST", "/desk"), ("PUT", "/desk/login"),
                             ("DELETE", "/desk/audit"), ("OPTIONS", "/desk/login")):  # fmt: skip
            response = client.request(method, path)  # a wrong method names no route either
            assert checked(response, 404).text == nowhere.text, (method, path)
            assert "allow" not in response.headers
        assert not store.exists()  # asking whether the desk is on does not make the store

        clinicians = ("/", "/ask?q=What+IVIg+dose+is+used%3F", "/article/what-is-multifocal-motor-neuropathy", "/openapi.json")  # fmt: skip
        before = {path: client.get(path) for path in clinicians}
        assert all(r.status_code == 200 for r in before.values())
        assert not [p for p in before["/openapi.json"].json()["paths"] if p.startswith("/desk")]

        Accounts(FeedbackStore(store)).add("off.editor", PASSWORD)
        after = {path: client.get(path) for path in clinicians}
        for path in clinicians:
            assert after[path].text == before[path].text, path
            assert "/desk" not in after[path].text, path
        assert checked(client.get("/desk/login"), 200).text != nowhere.text
        login_redirect(client.get("/desk/judgements", follow_redirects=False), "/desk/judgements")


# --- no session -----------------------------------------------------------------------------


def test_a_desk_page_without_a_session_asks_for_the_login_and_json_gets_a_401(visitor):
    for path in PAGES:
        login_redirect(visitor.get(path), path)
        refusal = checked(visitor.get(path, json=True), 401)
        assert refusal.json() == {"message": "sign in at /desk/login first", "detail": None}
        assert refusal.headers["www-authenticate"] == 'Cookie realm="desk"'
    for path in POSTS:  # nothing done, whatever was asked
        login_redirect(visitor.post(path, {"csrf": "0" * 64}), "/desk")
        assert checked(visitor.post(path, {"csrf": "0" * 64}, json=True), 401).json()["detail"] is None  # fmt: skip
    login = checked(visitor.get("/desk/login?next=/desk/builds/1"), 200)
    form = parse(login.text).one("form", action="/desk/login")
    assert form.one("input", name="next")["value"] == "/desk/builds/1"
    assert form.one("input", name="password")["type"] == "password"
    assert "Signed in as" not in login.text


# --- signing in -----------------------------------------------------------------------------


def test_signing_in_gives_a_strict_http_only_desk_cookie_and_the_page_asked_for(visitor):
    response = checked(visitor.sign_in(EDITOR, PASSWORD, next_page="/desk/judgements"), 303)
    assert response.headers["location"] == "/desk/judgements"
    made = set_cookie(response, SESSION)
    assert made is not None
    value, attributes = made
    assert "httponly" in attributes and "secure" not in attributes  # plain http: not Secure
    assert attributes["samesite"].lower() == "strict" and attributes["path"] == "/desk"
    assert "max-age" not in attributes and "expires" not in attributes  # ends with the browser
    assert EDITOR not in value and PASSWORD not in value
    page = checked(visitor.get("/desk/judgements", session=value), 200)
    assert "Signed in as sec.editor" in parse(page.text).one("form", action="/desk/logout").text
    assert checked(visitor.get("/desk/login", session=value), 303).headers["location"] == "/desk"


def test_each_sign_in_is_a_new_session_and_ends_the_one_the_browser_had(visitor):
    first = visitor.session()
    again = checked(visitor.sign_in(EDITOR, PASSWORD, session=first), 303)
    second = set_cookie(again, SESSION)[0]  # type: ignore[index]
    assert second.split(".")[0] != first.split(".")[0]
    refused_session(visitor.get("/desk", session=first))
    checked(visitor.get("/desk", session=second), 200)
    third = visitor.session()  # another browser: a session of its own, the first one kept
    assert len({first, second, third}) == 3
    checked(visitor.get("/desk", session=second), 200)
    checked(visitor.get("/desk", session=third), 200)


def test_the_sign_in_form_needs_its_token_and_its_cookie(visitor):
    cookie, token = visitor.login_form()
    other_cookie, other_token = visitor.login_form()
    assert (cookie, token) != (other_cookie, other_token)
    data = {"name": EDITOR, "password": PASSWORD, "next": "/desk"}
    for sent, form in (
        ({}, cookie),  # no token
        ({"csrf": ""}, cookie),
        ({"csrf": other_token}, cookie),  # the token of another browser's form
        ({"csrf": "é" + token[1:]}, cookie),
        ({"csrf": token}, None),  # the token without its cookie
    ):
        response = checked(visitor.post("/desk/login", {**data, **sent}, form=form), 403)
        assert "The form has expired or was not sent from this page" in visible(
            response.text, "error-panel__message"
        )
        assert set_cookie(response, SESSION) is None
    checked(visitor.post("/desk/login", {**data, "csrf": token}, form=cookie), 303)


def test_a_post_without_the_sessions_token_or_with_a_wrong_one_is_refused_with_403(visitor):
    session, other = visitor.session(), visitor.session(OTHER)
    token, other_token = visitor.csrf(session), visitor.csrf(other)
    assert token != other_token
    wrongs = (None, "", "0" * 64, other_token, token + "0", token[:-1], token.upper(), "é" * 64)
    for wrong in wrongs:
        data = {} if wrong is None else {"csrf": wrong}
        page = checked(visitor.post(NO_SUCH_JUDGEMENT, data, session=session), 403)
        assert EXPIRED in visible(page.text, "error-panel__message").lower()
        body = checked(visitor.post(NO_SUCH_JUDGEMENT, data, session=session, json=True), 403)
        assert body.json() == {"message": EXPIRED + "; reload it", "detail": None}
        checked(visitor.post("/desk/logout", data, session=session), 403)
    checked(visitor.get("/desk", session=session), 200)  # the refused sign-outs did nothing
    # The refusals were the token's: with it, the same request goes through to the decision.
    answer = checked(visitor.post(NO_SUCH_JUDGEMENT, {"csrf": token}, session=session), 404)
    assert "999999999" in visible(answer.text, "desk-error")


def test_a_post_from_another_site_is_refused_with_403_even_with_a_valid_token(visitor):
    session = visitor.session()
    token = visitor.csrf(session)
    port = urlsplit(visitor.base).port
    cross_site = [
        {"Origin": "https://evil.example"},
        {"Origin": f"http://127.0.0.1:{port}.evil.example"},
        {"Origin": f"http://evil.example@127.0.0.2:{port}"},
        {"Origin": "null"},
        {"Origin": "", "Referer": "https://evil.example/desk"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    ]
    for headers in cross_site:
        page = checked(visitor.post(NO_SUCH_JUDGEMENT, {"csrf": token}, session=session, **headers), 403)  # fmt: skip
        assert ELSEWHERE in visible(page.text, "error-panel__message").lower(), headers
        body = visitor.post(NO_SUCH_JUDGEMENT, {"csrf": token}, session=session, json=True, **headers)  # fmt: skip
        assert checked(body, 403).json()["message"] == ELSEWHERE
        checked(visitor.post("/desk/logout", {"csrf": token}, session=session, **headers), 403)
        signed = checked(visitor.sign_in(EDITOR, PASSWORD, **headers), 403)
        assert ELSEWHERE in visible(signed.text, "error-panel__message").lower()
        assert set_cookie(signed, SESSION) is None
    checked(visitor.get("/desk", session=session), 200)
    # From our own page (and from a browser that names no origin) the same requests go through.
    for headers in ({}, {"Origin": "", "Sec-Fetch-Site": ""}, {"Sec-Fetch-Site": "none"}):
        checked(visitor.post(NO_SUCH_JUDGEMENT, {"csrf": token}, session=session, **headers), 404)
    checked(visitor.sign_in(EDITOR, PASSWORD, Referer=visitor.base + "/desk/login", Origin=""), 303)  # fmt: skip


# --- the lockout and the limit per address ----------------------------------------------------


def test_the_sixth_sign_in_for_a_name_is_refused_even_when_right_and_names_look_alike(
    new_visitor, server_dir
):
    """Five failures in 15 minutes lock a name, whether or not it is an editor's, and each
    refusal reads the same for both, page and status, after the same number of attempts."""
    first, second = new_visitor(), new_visitor()
    form = first.login_form()  # one form for both names: their pages differ by the name alone

    def refusal(visitor: Visitor, name: str, password: str) -> tuple[int, str, str]:
        response = visitor.sign_in(name, password, form=form)
        assert set_cookie(response, SESSION) is None
        checked(response, response.status_code)
        error = visible(response.text, "desk-error")
        return response.status_code, error, response.text.replace(name, "NAME")

    for attempt in range(LOCKOUT_FAILURES):
        known = refusal(first, LOCKED, f"wrong password number {attempt}")
        unknown = refusal(first, UNKNOWN, f"wrong password number {attempt}")
        assert known[:2] == (403, NO_MATCH)
        assert known == unknown, attempt
    # The sixth, from another address and with the right password: refused all the same.
    known = refusal(second, LOCKED, LOCKED_PASSWORD)
    unknown = refusal(second, UNKNOWN, LOCKED_PASSWORD)
    assert known[:2] == (429, "Too many failed sign-ins for this name: try again in 15 minutes.")
    assert known == unknown
    assert refusal(second, " SEC.Locked ", LOCKED_PASSWORD)[0] == 429  # the name as stored
    # Another name is not held up by it.
    checked(second.sign_in(EDITOR, PASSWORD, form=form), 303)
    # The guessing shows in the audit trail (it left no entry): who was tried, from where.
    trail = Accounts(FeedbackStore(server_dir / "feedback.sqlite3")).trail(200)
    for name in (LOCKED.strip().lower(), UNKNOWN.strip().lower()):
        tried = [(e.action, e.detail) for e in trail if e.who == name]
        assert tried.count(("sign-in refused", first.address)) >= LOCKOUT_FAILURES, name
        assert ("sign-in locked out", second.address) in tried, name
    # a name no editor could have is quoted, so it cannot forge a line of `editors audit`
    forged = "x\n2026-12-07T09:00:00+00:00 alice rolled back"
    checked(second.sign_in(forged, "guess one two three", form=form), 403)
    entry = Accounts(FeedbackStore(server_dir / "feedback.sqlite3")).trail(1)[0]
    assert (entry.who, entry.action) == ("(not a name)", "sign-in refused")
    assert entry.detail == f"{second.address} {ascii(forged.lower()[:40])}"
    assert "\n" not in entry.detail


def test_a_local_client_cannot_name_another_address_to_escape_the_limit(desk):
    """uvicorn believes X-Forwarded-For from 127.0.0.1 unless told otherwise: a local process
    naming a new address each time had unlimited sign-in attempts (argon2's CPU each). No
    proxy is configured here, so the header is not believed."""
    local = Visitor(desk, "127.0.0.1")  # the one address uvicorn trusted by default
    try:
        form = local.login_form()
        statuses = [
            local.sign_in(f"forged-{n}", "guess one two three", form=form,
                          **{"X-Forwarded-For": f"10.0.{n}.1"}).status_code
            for n in range(LOGINS_PER_MINUTE + 2)
        ]  # fmt: skip
    finally:
        local.close()
    assert statuses[:LOGINS_PER_MINUTE] == [403] * LOGINS_PER_MINUTE
    assert statuses[LOGINS_PER_MINUTE:] == [429, 429]


def test_one_address_gets_20_sign_in_attempts_a_minute_whatever_names_it_tries(new_visitor):
    sprayer = new_visitor()
    form = sprayer.login_form()
    for attempt in range(LOGINS_PER_MINUTE):
        response = checked(sprayer.sign_in(f"spray-{attempt}", "guess one two three", form=form), 403)  # fmt: skip
        assert visible(response.text, "desk-error") == NO_MATCH
    refused = checked(sprayer.sign_in(EDITOR, PASSWORD, form=form), 429)
    message = visible(refused.text, "error-panel__message")
    pattern = r"Too many sign-in attempts from this address; wait (\d+) seconds\."
    assert (waited := re.fullmatch(pattern, message)), message
    assert refused.headers["retry-after"] == waited[1]
    assert set_cookie(refused, SESSION) is None
    checked(new_visitor().sign_in(EDITOR, PASSWORD), 303)  # another address is not held up


# --- ending a session -----------------------------------------------------------------------


def test_after_signing_out_the_old_cookie_is_refused(visitor, server_dir: Path):
    session = visitor.session()
    token = visitor.csrf(session)
    out = checked(visitor.post("/desk/logout", {"csrf": token}, session=session), 303)
    assert out.headers["location"] == "/desk/login?out=1"
    forgotten = set_cookie(out, SESSION)
    assert forgotten is not None and forgotten[0] == "" and forgotten[1]["max-age"] == "0"
    assert forgotten[1]["path"] == "/desk"
    page = checked(visitor.get(out.headers["location"]), 200)
    assert "You are signed out." in page.text
    # The cookie kept from before (a copy, another tab, a stolen one) opens nothing now.
    for path in PAGES:
        refused_session(visitor.get(path, session=session), path)
        checked(visitor.get(path, session=session, json=True), 401)
    login_redirect(visitor.post(NO_SUCH_JUDGEMENT, {"csrf": token}, session=session), "/desk")
    trail = Accounts(FeedbackStore(server_dir / "feedback.sqlite3")).trail(50)
    assert any(e.who == EDITOR and e.action == "signed out" for e in trail)


def test_a_password_reset_ends_every_session_of_that_editor(visitor, server_dir: Path):
    accounts = Accounts(FeedbackStore(server_dir / "feedback.sqlite3"))
    sessions = [visitor.session(RESET), visitor.session(RESET)]
    bystander = visitor.session(EDITOR)
    for session in sessions:
        checked(visitor.get("/desk", session=session), 200)
    new_password = "a brand new password 789"
    accounts.reset_password(RESET, new_password)
    try:
        for session in sessions:
            refused_session(visitor.get("/desk/audit", session=session), "/desk/audit")
        checked(visitor.get("/desk", session=bystander), 200)  # another editor's is not ended
        old = checked(visitor.sign_in(RESET, RESET_PASSWORD), 403)
        assert visible(old.text, "desk-error") == NO_MATCH
        checked(visitor.get("/desk", session=visitor.session(RESET, new_password)), 200)
    finally:
        accounts.reset_password(RESET, RESET_PASSWORD)


def flipped(text: str, at: int) -> str:
    """The text with the character at `at` changed to another of the same alphabet."""
    alphabet = "0123456789abcdef" if re.fullmatch(r"[0-9a-f]+", text) else "ABCDEFabcdef012345_-"
    replacement = next(c for c in alphabet if c != text[at])
    return text[:at] + replacement + text[at + 1 :]


def test_a_tampered_session_cookie_is_refused(visitor):
    session, other = visitor.session(), visitor.session(OTHER)
    checked(visitor.get("/desk", session=session), 200)
    ident, mac = session.split(".")
    other_ident, other_mac = other.split(".")
    token = visitor.csrf(session)
    tampered = [
        *(f"{flipped(ident, at)}.{mac}" for at in (0, 21, len(ident) - 1)),
        *(f"{ident}.{flipped(mac, at)}" for at in (0, 31, len(mac) - 1)),
        f"{ident}.{mac.upper()}",
        f"{ident}.{other_mac}",  # a real session id and a real signature, not of each other
        f"{other_ident}.{mac}",
        f"{ident}.{token}",  # the form token is a MAC of the id too, under another key
        ident,  # the id alone
        f"{ident}.",
        f"{ident}.{mac}.{mac}",
        f"{ident}.{mac}0",
        "",
        "x" * 4000,
    ]
    for value in tampered:
        refused_session(visitor.get("/desk", session=value))
        checked(visitor.get("/desk", session=value, json=True), 401)
        login_redirect(visitor.post(NO_SUCH_JUDGEMENT, {"csrf": token}, session=value), "/desk")
    checked(visitor.get("/desk", session=session), 200)  # the real one still works


# --- where the login sends the browser ----------------------------------------------------------

OFF_SITE = (
    "//evil.example",
    "https://evil.example",
    "/desk/../x",
    "/desk/..",
    "/desk/./../../x",
    "/\\evil.example",
    "/desk@evil.example",
    "/desk.evil.example",
    "http:/desk",
    "javascript:alert(1)",
    "/desk\r\nLocation: https://evil.example",
    "",
)


def login_for(next_page: str) -> str:
    return "/desk/login?" + urlencode({"next": next_page})


def test_the_login_never_sends_the_browser_off_the_desk(visitor):
    for hostile in ("//evil.example", "https://evil.example", "/desk/../x"):
        response = checked(visitor.sign_in(EDITOR, PASSWORD, next_page=hostile), 303)
        assert response.headers["location"] == "/desk", hostile
    session = visitor.session(next_page="/desk/audit")
    for hostile in OFF_SITE:
        page = checked(visitor.get(login_for(hostile)), 200)
        form = parse(page.text).one("form", action="/desk/login")
        assert form.one("input", name="next")["value"] == "/desk", hostile
        signed = checked(visitor.get(login_for(hostile), session=session), 303)  # fmt: skip
        assert signed.headers["location"] == "/desk", hostile
    for kept in ("/desk/judgements", "/desk/builds/12", "/desk"):
        signed = checked(visitor.get(login_for(kept), session=session), 303)
        assert signed.headers["location"] == kept


# --- no-store and the security headers on every kind of answer --------------------------------


def test_every_desk_answer_is_no_store_with_the_security_headers(visitor):
    session = visitor.session()
    token = visitor.csrf(session)
    answers = [
        (visitor.get("/desk/login"), 200),
        (visitor.get("/desk/openapi.json"), 200),
        *((visitor.get(path, session=session), 200) for path in PAGES[:-1]),
        (visitor.get("/desk"), 303),
        (visitor.get("/desk", json=True), 401),
        (visitor.post(NO_SUCH_JUDGEMENT, {}, session=session), 403),
        (
            visitor.post(
                NO_SUCH_JUDGEMENT, {"csrf": token}, session=session, Origin="https://evil.example"
            ),
            403,
        ),  # fmt: skip
        (visitor.post(NO_SUCH_JUDGEMENT, {"csrf": token}, session=session), 404),
        (visitor.post(NO_SUCH_JUDGEMENT, {"csrf": token}, session=session, json=True), 404),
        (visitor.get("/desk/nowhere", session=session), 404),
        (visitor.get("/desk/builds/999999999", session=session), 404),
        (visitor.get("/desk/builds/999999999", session=session, json=True), 404),
        (visitor.get("/desk/logout", session=session), 405),
        (
            visitor.http.post(
                NO_SUCH_JUDGEMENT, json={"csrf": token}, headers={"Cookie": f"{SESSION}={session}"}
            ),
            415,
        ),  # fmt: skip
        (
            visitor.http.post(
                NO_SUCH_JUDGEMENT,
                content=b"csrf=\xff",
                headers={
                    "Cookie": f"{SESSION}={session}",
                    "Content-Type": "application/x-www-form-urlencoded",
                },
            ),
            400,
        ),  # fmt: skip
        (visitor.get("/desk/audit?x=" + "y" * 13_000, session=session), 414),
    ]
    for response, status in answers:
        checked(response, status)
    assert visitor.get("/desk/openapi.json").json()["info"]["title"] == "Editors' desk"


def test_a_store_the_desk_cannot_use_says_so_without_its_path(visitor, server_dir: Path):
    """A busy or broken store answers 503 in words an editor can act on; the file's path and
    SQLite's message go to the server's log, not to whoever asked (the sign-in is public)."""
    import sqlite3

    form = visitor.login_form()
    holder = sqlite3.connect(server_dir / "feedback.sqlite3", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        response = checked(visitor.sign_in(EDITOR, PASSWORD, form=form), 503)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    message = visible(response.text, "error-panel__message")
    assert "cannot use its store now" in message
    assert "sqlite" not in response.text.lower() and str(server_dir) not in response.text


def test_a_flooded_queue_lists_its_oldest_judgements_only(visitor, server_dir: Path):
    """Each judgement stored without its ranking is answered again when the queue is shown:
    2,000 of them took 10 s and 6.6 MB a view. The page lists the oldest 100 and counts all."""
    from assistant.feedback.store import Judgement

    store = FeedbackStore(server_dir / "feedback.sqlite3")
    waiting = len(store.rows("new")) + 130
    for n in range(130):
        store.add(Judgement("what-is-multifocal-motor-neuropathy", "20260101T000000-abcdef",
                            f"flood {n}?", (), None, None, "missing"))  # fmt: skip
    made = set_cookie(checked(visitor.sign_in(EDITOR, PASSWORD), 303), SESSION)
    assert made is not None
    page = checked(visitor.get("/desk/judgements", session=made[0]), 200)
    assert f"{waiting} waiting (the oldest 100 listed)" in page.text
    assert page.text.count('class="panel judgement"') == 100
    for row in store.rows("new"):  # the queue is left as the other tests found it
        store.decide(row.id, "rejected", "test flood")
