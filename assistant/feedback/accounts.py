"""Editors' accounts, their sessions, the login lockout and the audit trail, in the feedback
store's SQLite file (one file an operator backs up; every worker process shares it).

- Passwords are hashed with argon2id (argon2-cffi's defaults); only the hash is stored.
- A session is a random id stored with the time it was last used: it ends after `IDLE`
  without use, at logout, and for every session of an editor whose password is reset or
  whose account is removed. The web layer signs the id into its cookie (`web.desk.auth`).
- After `LOCKOUT_FAILURES` failed logins for a name within `LOCKOUT_WINDOW`, that name waits,
  whether or not it is an editor's: the refusal must not say which names exist. A client
  address has `ATTEMPTS_PER_MINUTE` attempts a minute, whatever names it tries.
- `record` appends to the audit trail: who, when, what, and what it touched.
"""

from __future__ import annotations

import functools
import re
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from assistant.feedback.store import FeedbackError, FeedbackStore

IDLE = timedelta(hours=8)
LOCKOUT_FAILURES = 5
LOCKOUT_WINDOW = timedelta(minutes=15)
ATTEMPTS_PER_MINUTE = 20
"""Sign-in attempts one client address may make a minute, whatever names it tries."""
ATTEMPTS_WINDOW = timedelta(minutes=1)
MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 256
SEEN_EVERY = timedelta(seconds=60)
"""A session's last use is written at most this often: a page view need not be a write."""
NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,39}")

_hasher = PasswordHasher()


@functools.cache
def _dummy() -> str:
    """Checked against when a name has no account, so an unknown name costs the same time."""
    return _hasher.hash(secrets.token_hex(16))


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def check_name(name: str) -> str:
    """The account name as stored: lower case, 1-40 of letters, digits, `.`, `_`, `-`."""
    folded = name.strip().lower()
    if not NAME.fullmatch(folded):
        raise FeedbackError(
            f"{name!r} cannot be an editor's name: use 1-40 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return folded


def check_password(password: str, name: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise FeedbackError(f"the password must have at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise FeedbackError(f"the password must have at most {MAX_PASSWORD_CHARS} characters")
    if name in password.lower():
        raise FeedbackError("the password must not contain the editor's name")


@dataclass(frozen=True, slots=True)
class Editor:
    name: str
    created_at: str
    changed_at: str
    """When the password was last set."""
    last_login: str | None


@dataclass(frozen=True, slots=True)
class Login:
    """What a login attempt came to: a new session id, or a refusal and how long to wait."""

    session: str | None
    wait_seconds: int = 0
    """Above 0: the name is locked out for this long (the password was not even checked)."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: str
    who: str
    action: str
    target: str
    detail: str

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "at": self.at,
            "who": self.who,
            "action": self.action,
            "target": self.target,
            "detail": self.detail,
        }


class Accounts:
    """Editors, sessions, lockout and the audit trail over one feedback store."""

    def __init__(self, store: FeedbackStore) -> None:
        self.store = store

    # --- accounts ---------------------------------------------------------------------------

    def any(self) -> bool:
        """Whether the desk is on: it is while at least one editor has an account."""
        if not self.store.path.exists():  # asking must not create the store
            return False
        with self.store.connect() as db:
            return db.execute("SELECT 1 FROM editors LIMIT 1").fetchone() is not None

    def add(self, name: str, password: str, *, now: datetime | None = None) -> str:
        name = check_name(name)
        check_password(password, name)
        stamp = _stamp(_now(now))
        with self.store.connect() as db:
            if db.execute("SELECT 1 FROM editors WHERE name = ?", (name,)).fetchone():
                raise FeedbackError(f"{name} is already an editor; `editors reset-password {name}`")
            db.execute(
                "INSERT INTO editors (name, hash, created_at, changed_at) VALUES (?, ?, ?, ?)",
                (name, _hasher.hash(password), stamp, stamp),
            )
        return name

    def editors(self) -> list[Editor]:
        if not self.store.path.exists():
            return []
        with self.store.connect() as db:
            rows = db.execute("SELECT * FROM editors ORDER BY name").fetchall()
        return [Editor(r["name"], r["created_at"], r["changed_at"], r["last_login"]) for r in rows]

    def remove(self, name: str) -> None:
        """Delete the account and end its sessions (its audit entries stay)."""
        name = self.existing(name)
        with self.store.connect() as db:
            db.execute("DELETE FROM sessions WHERE editor = ?", (name,))
            db.execute("DELETE FROM editors WHERE name = ?", (name,))

    def reset_password(self, name: str, password: str, *, now: datetime | None = None) -> None:
        """A new password; every session opened with the old one ends."""
        name = self.existing(name)
        check_password(password, name)
        with self.store.connect() as db:
            db.execute(
                "UPDATE editors SET hash = ?, changed_at = ? WHERE name = ?",
                (_hasher.hash(password), _stamp(_now(now)), name),
            )
            db.execute("DELETE FROM sessions WHERE editor = ?", (name,))
            db.execute("DELETE FROM failed_logins WHERE name = ?", (name,))

    def existing(self, name: str) -> str:
        """The stored name of an editor; a clear error when there is none."""
        folded = name.strip().lower()
        if not any(e.name == folded for e in self.editors()):
            raise FeedbackError(f"no editor is called {name!r}; `editors list` shows them")
        return folded

    # --- logins and sessions ----------------------------------------------------------------

    def login(self, name: str, password: str, *, now: datetime | None = None) -> Login:
        """Check a name and password; on success a new session id (never one sent before)."""
        moment = _now(now)
        folded = name.strip().lower()[:64]
        # Counting the failures and recording this attempt (a failure until the password is
        # found right) are one step, so that attempts made at once (threads, workers) cannot
        # all pass the check before any is recorded.
        with self.store.transaction() as db:
            wait = _counted(db, "failed_logins", "name", folded, LOCKOUT_FAILURES, LOCKOUT_WINDOW, moment)  # fmt: skip
            if wait is not None:
                return Login(None, wait)
            row = db.execute("SELECT hash FROM editors WHERE name = ?", (folded,)).fetchone()
        if not _verify(row["hash"] if row else _dummy(), password) or row is None:
            return Login(None)
        session = secrets.token_urlsafe(32)
        with self.store.connect() as db:
            db.execute(
                "INSERT INTO sessions (id, editor, created_at, seen_at) VALUES (?, ?, ?, ?)",
                (session, folded, _stamp(moment), _stamp(moment)),
            )
            db.execute("UPDATE editors SET last_login = ? WHERE name = ?", (_stamp(moment), folded))
            db.execute("DELETE FROM failed_logins WHERE name = ?", (folded,))
        return Login(session)

    def attempt(self, address: str, *, now: datetime | None = None) -> int | None:
        """Count a sign-in attempt from a client address: None when it may go ahead, else the
        seconds to wait. Kept in the store, so every worker process counts the same minute."""
        with self.store.transaction() as db:
            return _counted(
                db, "login_attempts", "address", address[:64], ATTEMPTS_PER_MINUTE,
                ATTEMPTS_WINDOW, _now(now),
            )  # fmt: skip

    def session(self, session_id: str, *, now: datetime | None = None) -> str | None:
        """The editor a live session belongs to (its last use moved to now), or None."""
        moment = _now(now)
        with self.store.connect() as db:
            # Joined with the account: a session opened with a password since replaced (a
            # login racing a reset) or of a removed editor is no session.
            row = db.execute(
                "SELECT s.editor, s.seen_at FROM sessions s JOIN editors e ON e.name = s.editor"
                " WHERE s.id = ? AND s.created_at >= e.changed_at",
                (session_id,),
            ).fetchone()
            if row is None:
                return None
            seen = datetime.fromisoformat(row["seen_at"])
            if moment - seen > IDLE:
                db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
                return None
            if moment - seen > SEEN_EVERY:
                db.execute(
                    "UPDATE sessions SET seen_at = ? WHERE id = ?", (_stamp(moment), session_id)
                )
            return str(row["editor"])

    def logout(self, session_id: str) -> None:
        with self.store.connect() as db:
            db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))

    # --- the audit trail --------------------------------------------------------------------

    def record(
        self, who: str, action: str, target: str, detail: str = "", *, now: datetime | None = None
    ) -> None:
        with self.store.connect() as db:
            db.execute(
                "INSERT INTO audit (at, who, action, target, detail) VALUES (?, ?, ?, ?, ?)",
                (_now(now).isoformat(timespec="seconds"), who, action, target, detail),
            )

    def trail(self, limit: int = 200, *, since: str | None = None) -> list[AuditEntry]:
        """The newest entries first (`since`: only those at or after that ISO time)."""
        if not self.store.path.exists():
            return []
        query, args = "SELECT * FROM audit", ()
        if since is not None:
            query, args = query + " WHERE at >= ?", (since,)  # type: ignore[assignment]
        with self.store.connect() as db:
            rows = db.execute(query + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        return [
            AuditEntry(r["id"], r["at"], r["who"], r["action"], r["target"], r["detail"])
            for r in rows
        ]


def _counted(
    db: sqlite3.Connection,
    table: str,
    column: str,
    key: str,
    limit: int,
    window: timedelta,
    moment: datetime,
) -> int | None:
    """A sliding window, inside a write transaction: None when fewer than `limit` entries for
    `key` are younger than `window` (this one is then recorded), else the seconds until the
    oldest of the last `limit` leaves it. `table` and `column` are this module's own names."""
    db.execute(f"DELETE FROM {table} WHERE at <= ?", (_stamp(moment - window),))
    recent = [
        r["at"]
        for r in db.execute(f"SELECT at FROM {table} WHERE {column} = ? ORDER BY at", (key,))
    ]
    if len(recent) >= limit:
        wait = datetime.fromisoformat(recent[-limit]) + window - moment
        return max(1, int(wait.total_seconds() + 0.999))
    db.execute(f"INSERT INTO {table} ({column}, at) VALUES (?, ?)", (key, _stamp(moment)))
    return None


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password[:MAX_PASSWORD_CHARS])
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
