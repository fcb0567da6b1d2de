"""Clinicians' judgements of answers, kept in SQLite until an editor reviews them.

One row per click: which answer (question, earlier questions, article, index version), which
passage at which rank, and the verdict: `answers` (this passage answers my question), `not`
(it does not), `missing` (the article should cover this, on a declined answer). Editors accept
or reject each row (`mmn-assistant feedback`); accepted rows become example questions.

SQLite because it is embedded (no server to run beside the app), safe for several processes
in WAL mode, and one file an editor can copy. The schema's version is `PRAGMA user_version`;
`MIGRATIONS[n]` takes a database from version n to n + 1, so a file written by an older
release is brought up to date on open and one from a newer release is refused.

Every failure (a damaged, locked or read-only file) is a `FeedbackError`: the web layer logs
it and says the judgement could not be saved; answering never depends on this store.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from assistant.errors import AssistantError, NotFoundError

Verdict = Literal["answers", "not", "missing"]
Status = Literal["new", "accepted", "rejected"]
VERDICTS: tuple[Verdict, ...] = ("answers", "not", "missing")
STATUSES: tuple[Status, ...] = ("new", "accepted", "rejected")
BUSY_TIMEOUT_S = 2.0
"""How long a write waits for another process's write before it gives up (and says so)."""

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
    CREATE TABLE feedback (
        id            INTEGER PRIMARY KEY,
        created_at    TEXT    NOT NULL,
        article       TEXT    NOT NULL,
        index_version TEXT    NOT NULL,
        question      TEXT    NOT NULL,
        history       TEXT    NOT NULL,
        passage       TEXT,
        rank          INTEGER,
        verdict       TEXT    NOT NULL CHECK (verdict IN ('answers', 'not', 'missing')),
        status        TEXT    NOT NULL DEFAULT 'new'
                              CHECK (status IN ('new', 'accepted', 'rejected')),
        note          TEXT
    )""",
        "CREATE INDEX feedback_status ON feedback (status)",
        "CREATE INDEX feedback_created ON feedback (created_at)",
    ),
    # 2: the article the answer searched ("" for all): a rank means something only within the
    # search that produced it, so statistics keep searches apart.
    ("ALTER TABLE feedback ADD COLUMN searched TEXT NOT NULL DEFAULT ''",),
    # 3: the editors' desk (issue 25): the ranking the clinician saw, editors' accounts and
    # sessions, failed logins (for the lockout), the audit trail and the desk's builds.
    (
        "ALTER TABLE feedback ADD COLUMN shown TEXT NOT NULL DEFAULT '[]'",
        """
    CREATE TABLE editors (
        name        TEXT PRIMARY KEY,
        hash        TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        changed_at  TEXT NOT NULL,
        last_login  TEXT
    )""",
        """
    CREATE TABLE sessions (
        id          TEXT PRIMARY KEY,
        editor      TEXT NOT NULL REFERENCES editors (name) ON DELETE CASCADE,
        created_at  TEXT NOT NULL,
        seen_at     TEXT NOT NULL
    )""",
        "CREATE INDEX sessions_editor ON sessions (editor)",
        "CREATE TABLE failed_logins (name TEXT NOT NULL, at TEXT NOT NULL)",
        "CREATE INDEX failed_logins_name ON failed_logins (name, at)",
        "CREATE TABLE login_attempts (address TEXT NOT NULL, at TEXT NOT NULL)",
        "CREATE INDEX login_attempts_address ON login_attempts (address, at)",
        """
    CREATE TABLE audit (
        id          INTEGER PRIMARY KEY,
        at          TEXT NOT NULL,
        who         TEXT NOT NULL,
        action      TEXT NOT NULL,
        target      TEXT NOT NULL,
        detail      TEXT NOT NULL
    )""",
        """
    CREATE TABLE builds (
        id          INTEGER PRIMARY KEY,
        started_at  TEXT NOT NULL,
        who         TEXT NOT NULL,
        state       TEXT NOT NULL CHECK (state IN ('running', 'published', 'failed')),
        pid         INTEGER,
        log         TEXT NOT NULL,
        finished_at TEXT,
        version     TEXT,
        message     TEXT
    )""",
    ),
    # 4: who judged, as a keyed hash of the browser's form cookie (never the cookie): the same
    # browser sending the same judgement of the same answer again is one judgement, not a vote
    # more in `feedback stats` (a reviewer stored 23 "missing" for one question in a minute).
    (
        "ALTER TABLE feedback ADD COLUMN client TEXT NOT NULL DEFAULT ''",
        "CREATE UNIQUE INDEX feedback_once ON feedback (client, index_version, searched, "
        "article, question, history, ifnull(passage, ''), verdict) WHERE client != ''",
    ),
)


class FeedbackError(AssistantError):
    """The feedback store cannot be read or written; the message says why and what to do."""


class StoreUnavailable(FeedbackError):
    """The store itself failed (locked past the busy wait, unreadable, a disk error): nothing
    the request asked for was wrong, and the desk answers 503 and logs the detail."""


class UnknownItem(FeedbackError, NotFoundError):
    """No judgement or passage has the id a request names."""


@dataclass(frozen=True, slots=True)
class Judgement:
    """One click on an answer, as the page sends it (already checked against the limits)."""

    article: str
    index_version: str
    question: str
    history: tuple[str, ...]
    passage: str | None
    rank: int | None
    verdict: Verdict
    searched: str = ""
    """The article the answer searched, "" for all of them."""
    shown: tuple[tuple[str, str], ...] = ()
    """The ranked passages the clinician saw, (id, text) from rank 1 ("" texts and () for rows
    stored before issue 25, or judged on a version no longer served)."""
    client: str = ""
    """Who judged, pseudonymously (a keyed hash of the browser's form cookie); "" for the CLI
    and rows stored before it was kept. A client's same judgement is stored once."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Feedback(Judgement):
    """A stored judgement and what editors have decided about it."""

    id: int
    created_at: str
    status: Status
    note: str | None

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["history"] = list(self.history)
        return {"id": data.pop("id"), **data}


@dataclass(frozen=True, slots=True)
class VersionStats:
    """Retrieval quality as clinicians judged it, for one index version."""

    index_version: str
    judgements: int
    questions: int
    """Distinct questions (with their history) judged: passage by passage, or declined and
    marked "missing" (the article should cover it), which counts as not answered."""
    answered_at_1: float | None
    """Share of those questions whose rank-1 passage was marked "answers"."""
    answered_in_top_3: float | None
    not_this: int
    missing: int

    def to_json(self) -> dict[str, object]:
        return {
            "index_version": self.index_version,
            "judgements": self.judgements,
            "questions": self.questions,
            "answered_at_1": self.answered_at_1,
            "answered_in_top_3": self.answered_in_top_3,
            "not_this": self.not_this,
            "missing": self.missing,
        }


class FeedbackStore:
    """The SQLite file of judgements. Connections are opened per call: cheap for SQLite, and
    safe from any thread or worker process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._private = False

    def _make_private(self) -> None:
        """Questions (which may name patients), password hashes and session ids: owner only.
        SQLite gives -wal and -shm the file's mode; an earlier release's 0644 is narrowed."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        made = self.path.stat()
        if made.st_mode & 0o077 and made.st_uid == os.getuid():
            self.path.chmod(0o600)
        self._private = True

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """One connection, schema brought up to date; every `sqlite3.Error` or `OSError` comes
        out as a `FeedbackError` that names the file. For the desk's tables beside these."""
        try:
            if not self._private:
                self._make_private()
            connect = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            with closing(connect) as db:  # autocommit: each write is its own transaction
                db.row_factory = sqlite3.Row
                version = db.execute("PRAGMA user_version").fetchone()[0]
                if version > len(MIGRATIONS):
                    raise FeedbackError(
                        f"{self.path} has schema version {version}, newer than this release "
                        f"knows ({len(MIGRATIONS)}); upgrade the assistant or move the file"
                    )
                if version < len(MIGRATIONS):
                    self._migrate(db)
                yield db
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"{self.path}: {exc}; check the file and its folder") from None
        except OSError as exc:
            raise StoreUnavailable(self._unusable(exc)) from None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One connection in one write transaction (BEGIN IMMEDIATE): what it reads cannot
        change before it writes, whichever worker writes at the same time."""
        with self.connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                if db.in_transaction:  # SQLite may have rolled it back itself (disk full)
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _unusable(self, exc: OSError) -> str:
        """What to fix when the store's folder cannot be made: "File exists" alone does not
        say that a file stands where a folder must be, nor which."""
        for place in (self.path.parent, *self.path.parent.parents):
            if place.exists():
                if not place.is_dir():
                    return (
                        f"{self.path}: {place} is a file, not a folder; move it away or keep "
                        "the store elsewhere (--db or MMN_FEEDBACK_DB)"
                    )
                break
        return f"{self.path}: {exc.strerror or exc}; check the file and its folder"

    def _migrate(self, db: sqlite3.Connection) -> None:
        """Bring the schema up to date in one transaction. One process migrates: the others
        wait for its write lock, then find the version already current."""
        db.execute("PRAGMA journal_mode=WAL")  # readers never wait for the one writer
        db.execute("BEGIN IMMEDIATE")
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            for number in range(version, len(MIGRATIONS)):
                for statement in MIGRATIONS[number]:
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def schema_version(self) -> int:
        with self.connect() as db:
            return int(db.execute("PRAGMA user_version").fetchone()[0])

    def add(self, judgement: Judgement, *, now: datetime | None = None) -> int:
        """Store one judgement; returns its id (the stored one's when its client has sent the
        same judgement of the same answer before: a second click is not a second vote)."""
        j = judgement
        created = (now or datetime.now(UTC)).isoformat(timespec="seconds")
        history = json.dumps(list(j.history), ensure_ascii=False)
        shown = json.dumps([list(pair) for pair in j.shown], ensure_ascii=False)
        # the judgement's identity: what `feedback_once` holds unique
        same = (j.client, j.index_version, j.searched, j.article, j.question, history)
        with self.transaction() as db:  # a purge cannot fall between the two
            cursor = db.execute(
                "INSERT INTO feedback (client, index_version, searched, article, question,"
                " history, passage, verdict, created_at, rank, shown)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",  # SQLite 3.24 (2018) or later
                (*same, j.passage, j.verdict, created, j.rank, shown),
            )
            if cursor.rowcount == 1:
                return int(cursor.lastrowid or 0)
            row = db.execute(
                "SELECT id FROM feedback WHERE client = ? AND index_version = ? AND searched = ?"
                " AND article = ? AND question = ? AND history = ?"
                " AND ifnull(passage, '') = ? AND verdict = ?",
                (*same, j.passage or "", j.verdict),
            ).fetchone()
            return int(row[0])

    def rows(self, status: Status | None = None) -> list[Feedback]:
        query, args = "SELECT * FROM feedback", ()
        if status is not None:
            query, args = query + " WHERE status = ?", (status,)  # type: ignore[assignment]
        with self.connect() as db:
            return [_row(r) for r in db.execute(query + " ORDER BY id", args)]

    def get(self, feedback_id: int) -> Feedback:
        with self.connect() as db:
            row = db.execute("SELECT * FROM feedback WHERE id = ?", (feedback_id,)).fetchone()
        if row is None:
            raise UnknownItem(f"no feedback with id {feedback_id}")
        return _row(row)

    def decide(self, feedback_id: int, status: Status, note: str) -> None:
        """Mark a new row accepted or rejected; a row another editor decided meanwhile is not
        changed again."""
        with self.connect() as db:
            cursor = db.execute(
                "UPDATE feedback SET status = ?, note = ? WHERE id = ? AND status = 'new'",
                (status, note, feedback_id),
            )
        if cursor.rowcount != 1:
            raise FeedbackError(f"feedback {feedback_id} was decided by someone else meanwhile")

    def reopen(self, feedback_id: int) -> None:
        """Undo a claim whose example could not be written: the row is new again."""
        with self.connect() as db:
            db.execute(
                "UPDATE feedback SET status = 'new', note = NULL WHERE id = ?", (feedback_id,)
            )

    def annotate(self, feedback_id: int, note: str) -> None:
        with self.connect() as db:
            db.execute("UPDATE feedback SET note = ? WHERE id = ?", (note, feedback_id))

    def purge(self, older_than_days: float, *, now: datetime | None = None) -> int:
        """Delete rows older than the given age, whatever their status; returns how many."""
        cutoff = (now or datetime.now(UTC)) - timedelta(days=older_than_days)
        with self.connect() as db:
            cursor = db.execute(
                "DELETE FROM feedback WHERE created_at <= ?",
                (cutoff.isoformat(timespec="seconds"),),
            )
            deleted = cursor.rowcount
            db.execute("VACUUM")  # deleted questions leave the file, not just the table,
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # nor the write-ahead log
        return deleted

    def stats(self) -> list[VersionStats]:
        """Per index version, oldest first."""
        return version_stats(self.rows())


def version_stats(rows: Sequence[Feedback]) -> list[VersionStats]:
    by_version: dict[str, list[Feedback]] = {}
    for row in rows:
        if row.status == "rejected":  # an editor found the judgement wrong
            continue
        by_version.setdefault(row.index_version, []).append(row)
    result = []
    for version, mine in sorted(by_version.items(), key=lambda item: item[1][0].created_at):
        judged: dict[tuple[str, tuple[str, ...], str], list[Feedback]] = {}
        for row in mine:  # a "missing" verdict is a question judged and not answered
            judged.setdefault((row.question, row.history, row.searched), []).append(row)

        groups = list(judged.values())
        result.append(
            VersionStats(
                index_version=version,
                judgements=len(mine),
                questions=len(judged),
                answered_at_1=_answered_within(groups, 1),
                answered_in_top_3=_answered_within(groups, 3),
                not_this=sum(r.verdict == "not" for r in mine),
                missing=sum(r.verdict == "missing" for r in mine),
            )
        )
    return result


def _answered_within(groups: list[list[Feedback]], top: int) -> float | None:
    """The share of judged questions with a passage at rank `top` or better marked "answers"."""
    if not groups:
        return None
    hits = sum(
        any(r.verdict == "answers" and r.rank is not None and r.rank <= top for r in group)
        for group in groups
    )
    return round(hits / len(groups), 3)


def _row(row: sqlite3.Row) -> Feedback:
    return Feedback(
        id=row["id"],
        created_at=row["created_at"],
        article=row["article"],
        index_version=row["index_version"],
        question=row["question"],
        history=tuple(json.loads(row["history"])),
        passage=row["passage"],
        rank=row["rank"],
        verdict=row["verdict"],
        searched=row["searched"],
        shown=tuple((str(i), str(t)) for i, t in json.loads(row["shown"])),
        client=row["client"],
        status=row["status"],
        note=row["note"],
    )
