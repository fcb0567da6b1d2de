"""The page's form tokens: a random cookie per browser and its HMAC in every form.

The cookie is `HttpOnly` and `SameSite=Strict`; the key is kept beside the feedback store
(`assistant.feedback.secret_for`), so tokens survive a restart and every worker shares them.
Every page sets the cookie when a browser has none (`web.pages.render`), and `POST /feedback`
(`web.feedback`) refuses a form whose token does not match its cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import threading
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import Response

from assistant.feedback import FeedbackError, secret_for

log = logging.getLogger("mmn_assistant.web")

COOKIE = "mmn_form"
_COOKIE_VALUE = re.compile(r"^[0-9a-f]{64}$")

NOTICES = {
    "saved": "Thank you: your judgement is kept for the article's editors.",
    "failed": "Your judgement could not be saved (the error is logged); the answer is unaffected.",
}


class FormKeys:
    """Signs and checks form tokens. The key is read (or made) on first use; when the folder
    cannot hold it, a key for this process alone is used, so pages still work."""

    def __init__(self, store_path: Path) -> None:
        self._store_path = store_path
        self._key: bytes | None = None
        self._lock = threading.Lock()

    def _secret(self) -> bytes:
        with self._lock:
            if self._key is None:
                try:
                    self._key = secret_for(self._store_path)
                except FeedbackError as exc:
                    log.error("feedback form key unavailable, using one for this process: %s", exc)
                    self._key = secrets.token_bytes(32)
            return self._key

    def derive(self, purpose: str) -> bytes:
        """A key of its own for another use of the secret (the desk's session cookies)."""
        return hmac.new(self._secret(), purpose.encode(), hashlib.sha256).digest()

    def token(self, cookie: str) -> str:
        return hmac.new(self._secret(), cookie.encode(), hashlib.sha256).hexdigest()

    def client(self, cookie: str) -> str:
        """Who sent a judgement, pseudonymously: the same browser gives the same name, and the
        stored name gives away neither the cookie nor its form token."""
        return hmac.new(self.derive("judging client"), cookie.encode(), hashlib.sha256).hexdigest()

    def valid(self, cookie: str | None, token: str | None) -> bool:
        if not cookie or not token or not _COOKIE_VALUE.match(cookie):
            return False
        # as bytes: compare_digest raises on a str with characters outside ASCII (a 500)
        return hmac.compare_digest(self.token(cookie).encode(), token.encode())


def form_cookie(request: Request) -> tuple[str, bool]:
    """The client's form cookie, or a new one (True: set it on the response)."""
    cookie = request.cookies.get(COOKIE, "")
    if _COOKIE_VALUE.match(cookie):
        return cookie, False
    return secrets.token_hex(32), True


def set_form_cookie(request: Request, response: Response, cookie: str) -> None:
    response.set_cookie(
        COOKIE,
        cookie,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


def same_origin(request: Request) -> bool:
    """The POST came from our own pages: its `Origin` (or, lacking one, `Referer`) is our host,
    and the browser does not call it cross-site. Compared by host, not scheme: behind a proxy
    that ends TLS the app itself sees http. For the desk and for feedback alike."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin") or request.headers.get("referer")
    if origin is None:
        return True
    return urlsplit(origin).netloc.lower() == request.headers.get("host", "").lower()
