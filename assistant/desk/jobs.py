"""Builds started from the editors' desk: run in the background, watched from any worker.

A build is the same `mmn-assistant build` an editor runs in a shell, started as its own process
(its own session, so a server restart does not kill it half-way, and its memory is returned
when it ends). Its output goes to a log file; its row in the store's `builds` table says who
started it and, once it ends, whether it published and which version, or why it failed. The
worker that started it waits for it in a thread and writes the outcome; a worker that finds a
`running` row whose process is gone (the server restarted meanwhile) reads the outcome from
the log instead. A failed build leaves the published version serving, as the build always does.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from assistant.errors import AssistantError
from assistant.feedback.accounts import Accounts
from assistant.feedback.store import FeedbackError, FeedbackStore, UnknownItem
from assistant.settings import Settings
from assistant.store import directory as store
from assistant.store import history

LOGS = "desk-builds"
"""The folder of build logs, inside the index directory."""
BUILT = re.compile(r"^built index version (\S+) in ")
TAIL_LINES = 40
STARTING_SECONDS = 30
"""A row without a pid is a build being started (by another worker) for this long."""


@dataclass(frozen=True, slots=True)
class Build:
    id: int
    started_at: str
    who: str
    state: str
    """running, published or failed."""
    log: str
    finished_at: str | None
    version: str | None
    message: str | None

    def tail(self, lines: int | None = TAIL_LINES) -> list[str]:
        """The last lines the build printed (None: all): its progress while it runs, its
        report after."""
        try:
            text = Path(self.log).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []
        kept = [line for line in text.splitlines() if line.strip()]
        return kept if lines is None else kept[-lines:]

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "started_at": self.started_at,
            "who": self.who,
            "state": self.state,
            "finished_at": self.finished_at,
            "version": self.version,
            "message": self.message,
            "log": self.tail(),
        }


class Builds:
    """Start, watch and list the desk's builds of one index directory."""

    def __init__(self, feedback: FeedbackStore, settings: Settings) -> None:
        self.store = feedback
        self.settings = settings
        self.accounts = Accounts(feedback)

    def command(self, build_id: int) -> list[str]:
        s = self.settings
        command = [sys.executable, "-m", "assistant", "build", "--desk-build", str(build_id)]
        command += ["--corpus-dir", str(s.corpus_dir), "--index-dir", str(s.index_dir)]
        return command + (["--model", str(s.model)] if s.model else [])

    def start(self, who: str) -> Build:
        """Start a build unless one is running; returns its row."""
        if (running := self.running()) is not None:
            raise FeedbackError(
                f"build #{running.id}, started by {running.who} at {running.started_at}, is "
                "still running; wait for it to finish"
            )
        folder = self.settings.index_dir / LOGS
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FeedbackError(f"{folder}: cannot keep the build's log ({exc})") from None
        started = datetime.now(UTC).isoformat(timespec="seconds")
        with self.store.transaction() as db:  # check and claim at once: two workers, one build
            if db.execute("SELECT 1 FROM builds WHERE state = 'running'").fetchone():
                raise FeedbackError("another build has just started; wait for it to finish")
            cursor = db.execute(
                "INSERT INTO builds (started_at, who, state, log) VALUES (?, ?, 'running', '')",
                (started, who),
            )
            build_id = int(cursor.lastrowid or 0)
            log = folder / f"{build_id}.log"
            db.execute("UPDATE builds SET log = ? WHERE id = ?", (str(log), build_id))
        try:
            with log.open("w", encoding="utf-8") as out:
                process = subprocess.Popen(
                    self.command(build_id),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # a server restart does not kill it half-way
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                )
        except OSError as exc:
            self._finish(build_id, "failed", None, f"the build could not start: {exc}")
            raise FeedbackError(f"the build could not start: {exc}") from None
        with self.store.connect() as db:
            db.execute("UPDATE builds SET pid = ? WHERE id = ?", (process.pid, build_id))
        self.accounts.record(who, "build started", f"build #{build_id}")
        threading.Thread(
            target=self._wait, args=(build_id, process), name=f"desk-build-{build_id}", daemon=True
        ).start()
        return self.get(build_id)

    def _wait(self, build_id: int, process: subprocess.Popen[bytes]) -> None:
        code = process.wait()
        try:
            self._conclude(self.get(build_id, conclude=False), code)
        except AssistantError:  # the store went away: the next reader concludes from the log
            pass

    def _conclude(self, build: Build, code: int | None) -> Build:
        """Record how a finished build ended, from its exit status (None: unknown) and log."""
        lines = build.tail(None)  # the whole log: the change report follows the version line
        version = next((m[1] for line in lines if (m := BUILT.match(line))), None)
        live = store.published_version(self.settings.index_dir)
        if code == 0 and version is None:  # it succeeded: what it published is live now
            version = live
        if version is not None and (code in (0, None)):
            message = f"published {version}" + (
                "" if live in (version, None) else f"; {live} is live now"
            )
            return self._finish(build.id, "published", version, message)
        errors = [line for line in lines if line.startswith(("Error:", "error:"))]
        reason = errors[-1] if errors else (lines[-1] if lines else "the build printed nothing")
        if code is None:  # concluded from the log alone: the process is gone
            how = "failed" if errors else "was stopped"
        else:
            how = "was stopped" if code < 0 else f"failed (exit status {code})"
        message = f"the build {how}: {reason}; the published version is still serving"
        return self._finish(build.id, "failed", None, message)

    def _finish(
        self,
        build_id: int,
        state: str,
        version: str | None,
        message: str,
        *,
        action: str = "",
        by: str = "",
    ) -> Build:
        """Record a build's end once (a row already ended is left as it is); the audit entry
        names `by`, else who started it."""
        finished = datetime.now(UTC).isoformat(timespec="seconds")
        with self.store.connect() as db:
            cursor = db.execute(
                "UPDATE builds SET state = ?, version = ?, message = ?, finished_at = ?"
                " WHERE id = ? AND state = 'running'",
                (state, version, message, finished, build_id),
            )
        if cursor.rowcount == 1:
            who = by or self.get(build_id, conclude=False).who
            self.accounts.record(who, action or f"build {state}", f"build #{build_id}", message)
        return self.get(build_id)

    def get(self, build_id: int, *, conclude: bool = True) -> Build:
        """The build's row; a `running` one whose process is gone is concluded from its log
        (unless `conclude` is False: its own waiter knows the exit status)."""
        with self.store.connect() as db:
            row = db.execute("SELECT * FROM builds WHERE id = ?", (build_id,)).fetchone()
        if row is None:
            raise UnknownItem(f"there is no build #{build_id}")  # 404 at the desk, as its page
        build = _build(row)
        if conclude and build.state == "running" and not self._alive(build, row["pid"]):
            return self._conclude(build, None)
        return build

    def recent(self, limit: int = 10) -> list[Build]:
        if not self.store.path.exists():
            return []
        with self.store.connect() as db:
            ids = [
                r[0] for r in db.execute("SELECT id FROM builds ORDER BY id DESC LIMIT ?", (limit,))
            ]
        return [self.get(i) for i in ids]

    @staticmethod
    def _alive(build: Build, pid: int | None) -> bool:
        """A build's process runs; a row not yet given its pid counts as starting for a while."""
        if pid is None:
            started = datetime.fromisoformat(build.started_at)
            return (datetime.now(UTC) - started).total_seconds() < STARTING_SECONDS
        return _alive(pid)

    def running(self) -> Build | None:
        with self.store.connect() as db:
            ids = [r[0] for r in db.execute("SELECT id FROM builds WHERE state = 'running'")]
        return next((b for b in map(self.get, ids) if b.state == "running"), None)

    def cancel(self, who: str, build_id: int) -> Build:
        """Stop a running build (one that hangs, or was started by mistake): its process group
        is ended; the published version keeps serving, and the next build clears what it left."""
        build = self.get(build_id)
        if build.state != "running":
            raise FeedbackError(f"build #{build_id} is not running (it {build.state})")
        with self.store.connect() as db:
            pid = db.execute("SELECT pid FROM builds WHERE id = ?", (build_id,)).fetchone()[0]
        if pid is None:
            raise FeedbackError(f"build #{build_id} is still starting; try again in a moment")
        # Versions are named by build time: a live one built since this build started is this
        # build's, published while it writes its report. Stopping it now was recorded as a
        # failure while the new version served.
        live = store.published_version(self.settings.index_dir) or ""
        if live[:15] >= f"{datetime.fromisoformat(build.started_at):%Y%m%dT%H%M%S}":
            raise FeedbackError(
                f"build #{build_id} has already published {live} and is finishing its report; "
                "to undo it, roll back once it has ended"
            )
        message = f"cancelled by {who}; the published version is still serving"
        # recorded before the process ends, so that its waiter does not call it a failure
        stopped = self._finish(build_id, "failed", None, message, action="build cancelled", by=who)
        if stopped.message != message:  # it ended on its own meanwhile: nothing to stop
            raise FeedbackError(f"build #{build_id} has just ended: {stopped.message}")
        if _alive(pid):  # not a pid reaped and reused since
            try:
                os.killpg(pid, signal.SIGTERM)  # its own session: the build and nothing else
            except ProcessLookupError:
                pass
        return stopped

    def roll_back(self, who: str) -> str:
        """Publish the version before the published one (not while a build runs)."""
        if (running := self.running()) is not None:
            raise FeedbackError(f"build #{running.id} is running; roll back once it has finished")
        before = store.published_version(self.settings.index_dir)
        try:
            with store.build_lock(self.settings.index_dir):
                version = history.rollback(self.settings.index_dir)
        except AssistantError as exc:
            raise FeedbackError(str(exc)) from None
        self.accounts.record(who, "rolled back", f"version {version}", f"was {before}")
        return version


def _alive(pid: int | None) -> bool:
    """Whether the build's process still runs (a reaped or unknown pid is not running)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie, or a pid reused by something else, is not our build
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z" and b"assistant\x00build" in cmdline


def _build(r: sqlite3.Row) -> Build:
    return Build(
        id=r["id"],
        started_at=r["started_at"],
        who=r["who"],
        state=r["state"],
        log=r["log"],
        finished_at=r["finished_at"],
        version=r["version"],
        message=r["message"],
    )
