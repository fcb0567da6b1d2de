"""`editors`: the accounts that open the editors' desk (`/desk`), and its audit trail.

The desk is off (404) until the first account is added. Passwords are asked twice and never
echoed, and only their argon2 hash is stored, in the feedback store (--db).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from assistant.cli import common


@click.group(cls=common.CommandGroup)
def editors() -> None:
    """Editors' accounts for the desk at /desk (off until the first is added), and the audit
    trail of what they did there.

    \b
    add NAME             a new account (the password is asked twice, never echoed)
    list                 the accounts, with their last login
    remove NAME          delete an account; its sessions end at once
    reset-password NAME  a new password; every session opened with the old one ends
    audit                who did what at the desk, newest first
    """


def _password() -> str:
    """Asked twice, never echoed; without a terminal, the first two lines of standard input
    (a pipe's input is not shown, so there is nothing to hide, and nothing to warn of)."""
    if not sys.stdin.isatty():
        first, second = sys.stdin.readline(), sys.stdin.readline()
        if not second:
            raise click.ClickException(
                "no password to read: type it twice at a terminal, or send it twice, a line "
                "each, on standard input"
            )
        if first.rstrip("\r\n") != second.rstrip("\r\n"):
            raise click.ClickException(
                "the two lines on standard input differ; send the same password twice"
            )
        return first.rstrip("\r\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@editors.command(name="add")
@common.feedback_option
@click.argument("name")
def editors_add(db_path: Path, name: str) -> None:
    """Add the editor NAME (lower case: letters, digits, '.', '_', '-')."""
    from assistant.feedback.accounts import Accounts, check_name
    from assistant.feedback.store import FeedbackStore

    name = check_name(name)  # before the password is asked for
    accounts = Accounts(FeedbackStore(db_path))
    if any(e.name == name for e in accounts.editors()):  # and so is the name's being taken
        raise click.ClickException(
            f"{name} is already an editor; `editors reset-password {name}` sets a new password"
        )
    name = accounts.add(name, _password())
    accounts.record(common.shell_user(), "added editor", f"editor {name}")
    click.echo(f"added editor {name}; the desk is at /desk on the server using {db_path}")


@editors.command(name="list")
@common.feedback_option
@click.option("--json", "as_json", is_flag=True, help="One JSON array.")
def editors_list(db_path: Path, as_json: bool) -> None:
    """List the editors' accounts."""
    from assistant.feedback.accounts import Accounts
    from assistant.feedback.store import FeedbackStore

    found = Accounts(FeedbackStore(db_path)).editors()
    if as_json:
        rows = [
            {"name": e.name, "created_at": e.created_at, "password_set_at": e.changed_at,
             "last_login": e.last_login}
            for e in found
        ]  # fmt: skip
        click.echo(json.dumps(rows, indent=2))
        return
    if not found:
        click.echo(f"no editor accounts in {db_path}: the desk is off")
        return
    for e in found:
        click.echo(
            f"{e.name:<20} added {e.created_at[:19]}, password set {e.changed_at[:19]}, "
            f"last login {e.last_login[:19] if e.last_login else 'never'}"
        )


@editors.command(name="remove")
@common.feedback_option
@click.argument("name")
@click.option("--yes", is_flag=True, help="Remove without asking.")
def editors_remove(db_path: Path, name: str, yes: bool) -> None:
    """Remove the editor NAME; their sessions end at once (the audit trail keeps their name)."""
    from assistant.feedback.accounts import Accounts
    from assistant.feedback.store import FeedbackStore

    accounts = Accounts(FeedbackStore(db_path))
    accounts.existing(name)  # before asking anything
    if not yes and not click.confirm(f"remove the editor {name}?", default=False):
        click.echo("nothing removed")
        return
    accounts.remove(name)
    accounts.record(common.shell_user(), "removed editor", f"editor {name.strip().lower()}")
    left = len(accounts.editors())
    click.echo(f"removed {name}" + ("" if left else "; no account is left: the desk is off"))


@editors.command(name="reset-password")
@common.feedback_option
@click.argument("name")
def editors_reset_password(db_path: Path, name: str) -> None:
    """Set a new password for NAME; every session opened with the old one ends."""
    from assistant.feedback.accounts import Accounts
    from assistant.feedback.store import FeedbackStore

    accounts = Accounts(FeedbackStore(db_path))
    accounts.existing(name)  # before the password is asked for
    accounts.reset_password(name, _password())
    accounts.record(common.shell_user(), "reset password", f"editor {name.strip().lower()}")
    click.echo(f"new password set for {name}; their open sessions have ended")


@editors.command(name="audit")
@common.feedback_option
@click.option(
    "--limit",
    type=click.IntRange(1, 100_000),
    default=100,
    show_default=True,
    help="The newest entries to print.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON array, newest first.")
def editors_audit(db_path: Path, limit: int, as_json: bool) -> None:
    """Print the audit trail: who did what at the desk (and with these commands), newest first."""
    from assistant.feedback.accounts import Accounts
    from assistant.feedback.store import FeedbackStore

    entries = Accounts(FeedbackStore(db_path)).trail(limit)
    if as_json:
        click.echo(common.as_json([e.to_json() for e in entries]))
        return
    if not entries:
        click.echo(f"the audit trail in {db_path} is empty")
        return
    for e in entries:
        click.echo(
            f"{e.at} {e.who:<20} {e.action:<28} {e.target}"
            + (f"\n    {e.detail}" if e.detail else "")
        )
