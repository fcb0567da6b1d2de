"""`mmn-assistant editors`: the accounts that open the desk, managed from a shell. Passwords
are asked twice and never printed; every change is in the audit trail.

No model, server or browser (click's runner, a feedback store in tmp_path; a pseudo-terminal
for what an editor types at one)."""

from __future__ import annotations

import json
import os
import pty
import select
import sqlite3
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from assistant.cli import cli
from assistant.feedback.accounts import Accounts
from assistant.feedback.store import FeedbackStore

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "feedback.sqlite3"


def editors(db: Path, *args: str, password: str | None = None, input: str | None = None) -> Result:
    """Run `mmn-assistant editors ARGS --db DB`, typing `password` twice when asked."""
    if password is not None:
        input = f"{password}\n{password}\n"
    return CliRunner().invoke(cli, ["editors", *args, "--db", str(db)], input=input)


def added(db: Path, name: str = "alice") -> Result:
    result = editors(db, "add", name, password=PASSWORD)
    assert result.exit_code == 0, result.output
    return result


def _once_echo_is_off(terminal: int) -> None:
    """Wait until the prompt has turned the terminal's echo off (it prints itself first)."""
    deadline = time.monotonic() + 10
    while termios.tcgetattr(terminal)[3] & termios.ECHO and time.monotonic() < deadline:
        time.sleep(0.01)


def _at_a_terminal(db: Path, *typed: str) -> tuple[int, str]:
    """`editors add alice` run at a real terminal (a pseudo-terminal), typing each of `typed`
    after the next prompt, then Ctrl-D (end of input) at any further one: what an editor sees, echo and all."""
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "assistant", "editors", "add", "alice", "--db", str(db)],
        stdin=slave, stdout=slave, stderr=slave, close_fds=True,
    )  # fmt: skip
    os.close(slave)
    seen = b""
    answered = 0  # how much had been shown when the last prompt was answered
    deadline = time.monotonic() + 60
    prompts = iter(typed)
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the command ended and closed the terminal
                break
            if not chunk:
                break
            seen += chunk
            shown = seen.rstrip()
            if shown.endswith(b":") and len(shown) > answered:  # a new prompt: answer, or Ctrl-D
                answered = len(shown)
                _once_echo_is_off(master)  # as a person's typing would come
                answer = next(prompts, None)
                os.write(master, b"\x04" if answer is None else f"{answer}\n".encode())
        elif process.poll() is not None:
            break
    os.close(master)
    return process.wait(timeout=30), seen.decode(errors="replace")


def test_add_asks_twice_at_a_terminal_and_never_prints_the_password(db):
    code, shown = _at_a_terminal(db, PASSWORD, PASSWORD)
    assert code == 0, shown
    assert shown.count("Password") == 1 and "Repeat for confirmation" in shown
    assert PASSWORD not in shown and "echoed" not in shown
    assert f"added editor alice; the desk is at /desk on the server using {db}" in shown
    assert Accounts(FeedbackStore(db)).login("alice", PASSWORD).session is not None
    with sqlite3.connect(db) as store:
        (hashed,) = store.execute("SELECT hash FROM editors").fetchone()
    assert hashed.startswith("$argon2id$") and PASSWORD not in hashed


def test_from_a_pipe_the_password_is_two_lines_and_never_printed(db):
    result = added(db)
    assert "Password" not in result.output and PASSWORD not in result.output
    assert Accounts(FeedbackStore(db)).login("alice", PASSWORD).session is not None


def test_add_stores_the_name_in_lower_case(db):
    assert "added editor alice;" in added(db, "Alice").output
    assert [e.name for e in Accounts(FeedbackStore(db)).editors()] == ["alice"]


def test_two_different_passwords_are_not_accepted(db):
    result = editors(db, "add", "alice", input=f"{PASSWORD}\n{NEW_PASSWORD}\n")
    assert result.exit_code == 1
    # piped, it said the values did not match, asked again, then that nothing was sent twice
    assert "Error: the two lines on standard input differ" in result.output
    assert "no password to read" not in result.output
    assert PASSWORD not in result.output and NEW_PASSWORD not in result.output
    assert Accounts(FeedbackStore(db)).editors() == []
    code, shown = _at_a_terminal(db, PASSWORD, NEW_PASSWORD)  # at a terminal: asked again
    assert code != 0 and "do not match" in shown and Accounts(FeedbackStore(db)).editors() == []


def test_a_short_password_is_refused_with_exit_1(db):
    result = editors(db, "add", "alice", password="too short")
    assert result.exit_code == 1
    assert "Error: the password must have at least 12 characters" in result.output
    assert "too short" not in result.output
    assert "Traceback" not in result.output
    assert Accounts(FeedbackStore(db)).editors() == []


def test_a_bad_name_is_refused_before_the_password_is_asked(db):
    result = editors(db, "add", "Two Words", password=PASSWORD)
    assert result.exit_code == 1
    assert "'Two Words' cannot be an editor's name" in result.output
    assert "Password" not in result.output
    assert not db.exists()


def test_adding_an_existing_editor_fails_and_says_what_to_do(db):
    added(db)
    result = editors(db, "add", "alice", password=NEW_PASSWORD)
    assert result.exit_code == 1
    assert "Error: alice is already an editor; `editors reset-password alice`" in result.output
    assert NEW_PASSWORD not in result.output
    assert Accounts(FeedbackStore(db)).login("alice", PASSWORD).session is not None


def test_list_with_no_account_says_the_desk_is_off_without_creating_the_store(db):
    result = editors(db, "list")
    assert result.exit_code == 0
    assert result.output == f"no editor accounts in {db}: the desk is off\n"
    assert editors(db, "list", "--json").output == "[]\n"
    assert not db.exists()


def test_list_shows_each_editor_and_their_last_login(db):
    added(db, "bob")
    added(db, "alice")
    Accounts(FeedbackStore(db)).login("alice", PASSWORD)

    text = editors(db, "list")
    assert text.exit_code == 0
    alice, bob = text.output.splitlines()
    assert alice.startswith("alice ") and "last login 20" in alice
    assert bob.startswith("bob ") and bob.endswith("last login never")

    listed = json.loads(editors(db, "list", "--json").output)
    assert [(e["name"], e["last_login"] is None) for e in listed] == [
        ("alice", False), ("bob", True),
    ]  # fmt: skip
    assert set(listed[0]) == {"name", "created_at", "password_set_at", "last_login"}
    assert PASSWORD not in text.output


def test_remove_with_yes_deletes_the_account_and_ends_its_sessions(db):
    added(db)
    accounts = Accounts(FeedbackStore(db))
    session = accounts.login("alice", PASSWORD).session

    result = editors(db, "remove", "alice", "--yes")

    assert result.exit_code == 0, result.output
    assert result.output == "removed alice; no account is left: the desk is off\n"
    assert accounts.editors() == [] and accounts.session(session) is None


def test_remove_asks_first_and_no_keeps_the_account(db):
    added(db)
    result = editors(db, "remove", "alice", input="n\n")
    assert result.exit_code == 0
    assert "remove the editor alice?" in result.output and "nothing removed" in result.output
    assert [e.name for e in Accounts(FeedbackStore(db)).editors()] == ["alice"]


def test_removing_an_unknown_editor_fails_clearly(db):
    added(db)
    result = editors(db, "remove", "bob", "--yes")
    assert result.exit_code == 1
    assert "Error: no editor is called 'bob'; `editors list` shows them" in result.output


def test_reset_password_replaces_the_password_and_ends_sessions(db):
    added(db)
    accounts = Accounts(FeedbackStore(db))
    session = accounts.login("alice", PASSWORD).session

    result = editors(db, "reset-password", "alice", password=NEW_PASSWORD)

    assert result.exit_code == 0, result.output
    assert "new password set for alice; their open sessions have ended" in result.output
    assert NEW_PASSWORD not in result.output
    assert accounts.session(session) is None
    assert accounts.login("alice", PASSWORD).session is None
    assert accounts.login("alice", NEW_PASSWORD).session is not None


def test_reset_password_of_an_unknown_editor_fails_clearly(db):
    added(db)
    result = editors(db, "reset-password", "bob", password=NEW_PASSWORD)
    assert result.exit_code == 1
    assert "no editor is called 'bob'" in result.output
    assert NEW_PASSWORD not in result.output


def test_audit_lists_the_shell_actions_newest_first(db):
    assert editors(db, "audit").output == f"the audit trail in {db} is empty\n"
    added(db)
    added(db, "bob")
    editors(db, "reset-password", "alice", password=NEW_PASSWORD)
    editors(db, "remove", "bob", "--yes")
    editors(db, "remove", "carol", "--yes")  # refused: not in the trail

    result = editors(db, "audit", "--json")

    assert result.exit_code == 0, result.output
    trail = json.loads(result.output)
    assert [(e["action"], e["target"]) for e in trail] == [
        ("removed editor", "editor bob"),
        ("reset password", "editor alice"),
        ("added editor", "editor bob"),
        ("added editor", "editor alice"),
    ]
    assert all(e["who"] == "shell" or e["who"].endswith(" (shell)") for e in trail)
    assert [
        e["action"] for e in json.loads(editors(db, "audit", "--json", "--limit", "1").output)
    ] == ["removed editor"]
    text = editors(db, "audit").output
    assert text.index("removed editor") < text.index("added editor")
    assert PASSWORD not in text and NEW_PASSWORD not in text


def test_decisions_made_in_a_shell_are_in_the_audit_trail_too(db, corpus_copy):
    """`feedback accept` and `reject` go through the desk's decisions: the trail names the
    shell's user, whichever way an editor worked."""
    from assistant.feedback.store import Judgement
    from assistant.ingest import load_corpus

    (article,) = load_corpus(corpus_copy)
    dose = next(p for p in article.passages if p.text.startswith("Dosing:"))
    store = FeedbackStore(db)
    shown = ((dose.id, dose.text),)
    kept = [
        store.add(Judgement(article.id, "v1", question, (), dose.id, 1, "answers", shown=shown))
        for question in ("Which IVIg dose per kilogram?", "Is the dose weight-based?")
    ]
    runner = CliRunner()
    where = ["--db", str(db), "--corpus-dir", str(corpus_copy)]
    accepted = runner.invoke(cli, ["feedback", "accept", str(kept[0]), *where])
    assert accepted.exit_code == 0, accepted.output
    rejected = runner.invoke(cli, ["feedback", "reject", str(kept[1]), "--db", str(db)])
    assert rejected.exit_code == 0, rejected.output
    trail = json.loads(editors(db, "audit", "--json").output)
    assert [(e["action"], e["target"]) for e in trail[:2]] == [
        ("rejected judgement", f"feedback #{kept[1]}"),
        ("accepted judgement", f"feedback #{kept[0]}"),
    ]
    assert all(e["who"].endswith("(shell)") for e in trail[:2])


def test_adding_an_editor_twice_is_refused_before_the_password_is_asked(db):
    added(db)
    result = editors(db, "add", "alice", password=NEW_PASSWORD)
    assert result.exit_code == 1
    assert "alice is already an editor; `editors reset-password alice`" in result.output
    assert "Password" not in result.output
    assert Accounts(FeedbackStore(db)).login("alice", PASSWORD).session is not None


def test_adding_an_editor_with_nothing_on_standard_input_says_what_to_send(db):
    """`editors add alice < /dev/null` in a script used to end in a bare "Aborted!"."""
    result = editors(db, "add", "alice", input="")
    assert result.exit_code == 1
    assert "no password to read: type it twice at a terminal, or send it twice" in result.output
    assert "Aborted" not in result.output
