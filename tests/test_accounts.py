"""Editors' accounts for the desk: names and passwords, argon2 hashes, sessions that end,
the login lockout that does not say which names exist, and the audit trail.

No model, server or browser: the desk's pages have tests of their own."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from assistant.feedback.accounts import IDLE, LOCKOUT_FAILURES, LOCKOUT_WINDOW, Accounts, Login
from assistant.feedback.store import FeedbackError, FeedbackStore

PASSWORD = "correct horse battery"
OTHER = "another long passphrase"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> FeedbackStore:
    return FeedbackStore(tmp_path / "data" / "feedback.sqlite3")


@pytest.fixture
def accounts(store: FeedbackStore) -> Accounts:
    return Accounts(store)


@pytest.fixture(scope="module")
def two_editors(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with alice (PASSWORD) and bob (OTHER), added at T0: hashed once per module,
    as argon2 is slow on purpose."""
    made = FeedbackStore(tmp_path_factory.mktemp("accounts") / "feedback.sqlite3")
    Accounts(made).add("alice", PASSWORD, now=T0)
    Accounts(made).add("bob", OTHER, now=T0)
    return made.path


@pytest.fixture
def alice(store: FeedbackStore, two_editors: Path) -> str:
    """The test's store starts as a copy of `two_editors`."""
    store.path.parent.mkdir(parents=True)
    with (
        closing(sqlite3.connect(two_editors)) as source,
        closing(sqlite3.connect(store.path)) as copy,
    ):
        source.backup(copy)
    return "alice"


def fail(accounts: Accounts, name: str, times: int, start: datetime = T0) -> list[Login]:
    """`times` wrong passwords for `name`, one a second from `start`."""
    return [
        accounts.login(name, "not the password", now=start + timedelta(seconds=i))
        for i in range(times)
    ]


# --- accounts -----------------------------------------------------------------------------------


def test_the_desk_is_off_without_a_store_and_asking_does_not_create_one(accounts, store):
    assert accounts.any() is False
    assert accounts.editors() == []
    assert accounts.trail() == []
    assert not store.path.exists()


def test_added_editors_are_listed_by_name_and_turn_the_desk_on(accounts):
    assert accounts.add("Bob", OTHER, now=T0) == "bob"  # stored in lower case
    accounts.add("alice", PASSWORD, now=T0 + timedelta(minutes=1))
    assert accounts.any() is True
    listed = accounts.editors()
    assert [e.name for e in listed] == ["alice", "bob"]
    assert listed[1].created_at.startswith("2026-03-01T09:00:00")
    assert listed[1].changed_at == listed[1].created_at
    assert listed[1].last_login is None


def test_a_name_is_added_once(accounts, alice):
    with pytest.raises(FeedbackError, match="alice is already an editor"):
        accounts.add("ALICE", OTHER)
    assert [e.name for e in accounts.editors()] == ["alice", "bob"]
    assert accounts.login("alice", PASSWORD).session is not None


@pytest.mark.parametrize("name", ["", "   ", "two words", "-alice", "al/ice", "a" * 41, "élodie"])
def test_a_name_outside_the_rules_is_refused_saying_what_is_allowed(accounts, name):
    with pytest.raises(FeedbackError, match="cannot be an editor's name: use 1-40 letters"):
        accounts.add(name, PASSWORD)
    assert accounts.editors() == []


@pytest.mark.parametrize(
    ("password", "says"),
    [
        ("short pass", "at least 12 characters"),
        ("x" * 257, "at most 256 characters"),
        ("my name is Alice!!", "must not contain the editor's name"),
    ],
)
def test_a_weak_password_is_refused_saying_why(accounts, password, says):
    with pytest.raises(FeedbackError, match=says):
        accounts.add("alice", password)
    assert accounts.editors() == []


def test_only_an_argon2id_hash_of_the_password_is_stored(accounts, store):
    accounts.add("alice", PASSWORD)
    with sqlite3.connect(store.path) as db:
        (hashed,) = db.execute("SELECT hash FROM editors WHERE name = 'alice'").fetchone()
    assert hashed.startswith("$argon2id$")
    files = list(store.path.parent.glob(store.path.name + "*"))  # with -wal and -shm if any
    assert store.path in files
    assert all(PASSWORD.encode() not in f.read_bytes() for f in files)
    accounts.add("bob", PASSWORD)
    with sqlite3.connect(store.path) as db:
        hashes = {h for (h,) in db.execute("SELECT hash FROM editors")}
    assert len(hashes) == 2  # salted: the same password does not give the same hash


def test_removing_an_editor_turns_the_desk_off_when_none_is_left(accounts, alice):
    accounts.remove(" Alice ")
    assert [e.name for e in accounts.editors()] == ["bob"]
    assert accounts.any() is True
    assert accounts.login("alice", PASSWORD) == Login(None)
    accounts.remove("bob")
    assert accounts.editors() == [] and accounts.any() is False


def test_removing_or_resetting_an_unknown_editor_says_so(accounts, alice):
    with pytest.raises(FeedbackError, match="no editor is called 'carol'"):
        accounts.remove("carol")
    with pytest.raises(FeedbackError, match="no editor is called 'carol'"):
        accounts.reset_password("carol", OTHER)


def test_a_reset_password_replaces_the_old_one(accounts, alice):
    accounts.reset_password("alice", OTHER, now=T0 + timedelta(days=1))
    assert accounts.login("alice", PASSWORD).session is None
    assert accounts.login("alice", OTHER).session is not None
    editor = accounts.editors()[0]
    assert editor.changed_at.startswith("2026-03-02T09:00:00")


def test_a_reset_password_is_checked_like_a_new_one(accounts, alice):
    with pytest.raises(FeedbackError, match="at least 12 characters"):
        accounts.reset_password("alice", "short")
    assert accounts.login("alice", PASSWORD).session is not None


# --- logins and sessions ------------------------------------------------------------------------


def test_a_login_gives_a_new_session_each_time_and_records_the_login(accounts, alice):
    first = accounts.login("alice", PASSWORD, now=T0)
    second = accounts.login(" ALICE ", PASSWORD, now=T0 + timedelta(minutes=1))
    assert first.session and second.session and first.session != second.session
    assert first.wait_seconds == second.wait_seconds == 0
    assert len(first.session) >= 32
    assert accounts.session(first.session, now=T0) == "alice"
    assert accounts.session(second.session, now=T0) == "alice"
    assert accounts.editors()[0].last_login.startswith("2026-03-01T09:01:00")


def test_a_wrong_password_or_an_unknown_session_opens_nothing(accounts, alice):
    assert accounts.login("alice", PASSWORD + "!") == Login(None)
    assert accounts.login("alice", "") == Login(None)
    assert accounts.session("made-up-session-id") is None


def test_a_session_ends_after_eight_hours_idle_not_after_eight_hours_of_use(accounts, alice):
    session = accounts.login("alice", PASSWORD, now=T0).session
    assert session is not None
    almost = T0 + IDLE - timedelta(minutes=1)
    assert accounts.session(session, now=almost) == "alice"  # in use: its idle time restarts
    assert accounts.session(session, now=almost + IDLE - timedelta(minutes=1)) == "alice"
    late = almost + IDLE - timedelta(minutes=1) + IDLE + timedelta(minutes=1)
    assert accounts.session(session, now=late) is None
    assert accounts.session(session, now=almost) is None  # ended for good, not just late


def test_logout_ends_that_session_only(accounts, alice):
    mine = accounts.login("alice", PASSWORD, now=T0).session
    other = accounts.login("alice", PASSWORD, now=T0).session
    accounts.logout(mine)
    assert accounts.session(mine, now=T0) is None
    assert accounts.session(other, now=T0) == "alice"


@pytest.mark.parametrize("how", ["reset_password", "remove"])
def test_a_password_reset_or_removal_ends_every_session_of_that_editor(accounts, alice, how):
    sessions = [accounts.login("alice", PASSWORD, now=T0).session for _ in range(2)]
    bobs = accounts.login("bob", OTHER, now=T0).session
    if how == "reset_password":
        accounts.reset_password("alice", "a brand new passphrase")
    else:
        accounts.remove("alice")
    assert [accounts.session(s, now=T0) for s in sessions] == [None, None]
    assert accounts.session(bobs, now=T0) == "bob"


# --- the lockout --------------------------------------------------------------------------------


def test_the_sixth_login_within_fifteen_minutes_is_refused_even_with_the_right_password(
    accounts, alice
):
    spellings = ["alice", "Alice", "ALICE", " alice", "aLiCe"]  # one name, however typed
    failures = [
        accounts.login(name, "not the password", now=T0 + timedelta(seconds=i))
        for i, name in enumerate(spellings)
    ]
    assert failures == [Login(None)] * LOCKOUT_FAILURES
    sixth = accounts.login("alice", PASSWORD, now=T0 + timedelta(minutes=5))
    assert sixth.session is None
    assert sixth.wait_seconds == pytest.approx(10 * 60, abs=2)  # the first failure + 15 min
    # another name is not locked with it
    assert accounts.login("bob", OTHER, now=T0 + timedelta(minutes=5)).session is not None


def test_a_locked_name_logs_in_again_once_the_window_has_passed(accounts, alice):
    fail(accounts, "alice", LOCKOUT_FAILURES)
    assert accounts.login("alice", PASSWORD, now=T0 + LOCKOUT_WINDOW - timedelta(seconds=1)) == (
        Login(None, 1)
    )
    after = accounts.login("alice", PASSWORD, now=T0 + LOCKOUT_WINDOW + timedelta(seconds=5))
    assert after.session is not None and after.wait_seconds == 0


def test_fewer_failures_than_the_limit_do_not_lock(accounts, alice):
    fail(accounts, "alice", LOCKOUT_FAILURES - 1)
    assert accounts.login("alice", PASSWORD, now=T0 + timedelta(minutes=1)).session is not None


def test_an_unknown_name_is_refused_and_locked_exactly_like_a_known_one(accounts, alice):
    """So that a refusal does not tell whether a name is an editor's."""
    known = fail(accounts, "alice", LOCKOUT_FAILURES)
    unknown = fail(accounts, "mallory", LOCKOUT_FAILURES)
    assert known == unknown == [Login(None)] * LOCKOUT_FAILURES
    later = T0 + timedelta(minutes=5)
    assert accounts.login("mallory", PASSWORD, now=later) == accounts.login(
        "alice", PASSWORD, now=later
    )
    assert accounts.login("mallory", PASSWORD, now=later).wait_seconds > 0
    assert [e.name for e in accounts.editors()] == ["alice", "bob"]


def test_a_password_reset_lifts_the_lockout(accounts, alice):
    fail(accounts, "alice", LOCKOUT_FAILURES)
    accounts.reset_password("alice", OTHER)
    assert accounts.login("alice", OTHER, now=T0 + timedelta(minutes=1)).session is not None


# --- the audit trail ----------------------------------------------------------------------------


def test_the_audit_trail_lists_the_newest_entry_first(accounts):
    accounts.record("alice", "accepted judgement", "feedback #1", "added as x:3", now=T0)
    accounts.record("bob", "rejected judgement", "feedback #2", now=T0 + timedelta(hours=1))
    accounts.record("alice", "build started", "build #1", now=T0 + timedelta(hours=2))
    trail = accounts.trail()
    assert [(e.who, e.action, e.target) for e in trail] == [
        ("alice", "build started", "build #1"),
        ("bob", "rejected judgement", "feedback #2"),
        ("alice", "accepted judgement", "feedback #1"),
    ]
    assert trail[-1].detail == "added as x:3" and trail[1].detail == ""
    assert trail[-1].at == "2026-03-01T09:00:00+00:00"
    assert trail[0].to_json() == {
        "id": trail[0].id, "at": "2026-03-01T11:00:00+00:00", "who": "alice",
        "action": "build started", "target": "build #1", "detail": "",
    }  # fmt: skip
    assert [e.action for e in accounts.trail(limit=1)] == ["build started"]


def test_the_audit_trail_since_a_time_leaves_out_older_entries(accounts):
    for hour in range(4):
        accounts.record("alice", f"action {hour}", "x", now=T0 + timedelta(hours=hour))
    since = (T0 + timedelta(hours=2)).isoformat()
    assert [e.action for e in accounts.trail(since=since)] == ["action 3", "action 2"]
    assert [e.action for e in accounts.trail(since="2026-03-01")] == [
        "action 3", "action 2", "action 1", "action 0",
    ]  # fmt: skip
    assert accounts.trail(since="2026-03-02") == []


def test_the_audit_trail_keeps_a_removed_editors_entries(accounts, alice):
    accounts.record("alice", "rejected judgement", "feedback #7")
    accounts.remove("alice")
    assert [(e.who, e.target) for e in accounts.trail()] == [("alice", "feedback #7")]


def test_wrong_passwords_sent_at_once_are_checked_no_more_than_the_limit(accounts, alice):
    """Workers and threads check passwords side by side: a burst of guesses must not all get
    past the count before the first of them is recorded as failed."""
    with ThreadPoolExecutor(12) as pool:
        outcomes = list(pool.map(lambda i: accounts.login("alice", f"guess {i}"), range(12)))
    assert sum(o.wait_seconds == 0 for o in outcomes) == LOCKOUT_FAILURES
    assert all(o.session is None for o in outcomes)
    assert accounts.login("alice", PASSWORD).wait_seconds > 0


def test_a_login_checked_against_a_password_since_replaced_opens_no_session(accounts, alice):
    """A sign-in that checked the old password while a reset ran: its session, written after
    the reset, is still refused (the reset ended every session opened with the old one)."""
    accounts.reset_password(alice, "a brand new passphrase", now=T0 + timedelta(minutes=5))
    raced = accounts.login(alice, "a brand new passphrase", now=T0 + timedelta(minutes=1))
    assert raced.session is not None
    assert accounts.session(raced.session, now=T0 + timedelta(minutes=6)) is None
    fresh = accounts.login(alice, "a brand new passphrase", now=T0 + timedelta(minutes=6))
    assert accounts.session(fresh.session or "", now=T0 + timedelta(minutes=7)) == alice


def test_an_address_has_twenty_attempts_a_minute_counted_in_the_store(store):
    """Kept in the store, not in a worker's memory: two workers (two Accounts over the same
    file) count the same minute."""
    from assistant.feedback.accounts import ATTEMPTS_PER_MINUTE

    first, second = Accounts(store), Accounts(FeedbackStore(store.path))
    for i in range(ATTEMPTS_PER_MINUTE):
        worker = first if i % 2 else second
        assert worker.attempt("10.0.0.7", now=T0 + timedelta(seconds=i)) is None
    wait = first.attempt("10.0.0.7", now=T0 + timedelta(seconds=30))
    assert wait == 30  # until the first attempt is a minute old
    assert second.attempt("10.0.0.8", now=T0 + timedelta(seconds=30)) is None  # another address
    assert second.attempt("10.0.0.7", now=T0 + timedelta(seconds=61)) is None
