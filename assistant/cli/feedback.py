"""`feedback`: review clinicians' judgements; accepted ones become example questions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from assistant.cli import common
from assistant.settings import current


@click.group(cls=common.CommandGroup)
def feedback() -> None:
    """Review clinicians' judgements of answers; accepted ones become example questions.

    \b
    answers  -> corpus/examples/<article-id>.jsonl (gold: the judged passage, or --gold)
    not      -> with --gold naming the passage that does answer, or --out-of-scope
    missing  -> corpus/examples/out-of-scope.jsonl
    The next `build` trains on what was accepted.
    """


@feedback.command(name="list")
@common.feedback_option
@click.option(
    "--status",
    type=click.Choice(["new", "accepted", "rejected"]),
    help="Only rows with this status.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON array of rows.")
def feedback_list(db_path: Path, status: str | None, as_json: bool) -> None:
    """List judgements, oldest first."""
    from assistant.feedback import FeedbackStore

    if not db_path.exists():  # a mistyped --db must not create an empty store
        click.echo(f"no feedback store at {db_path}", err=as_json)
        if as_json:  # a script reading the JSON gets JSON
            click.echo("[]")
        return
    rows = FeedbackStore(db_path).rows(status)  # type: ignore[arg-type]
    if as_json:
        click.echo(common.as_json([r.to_json() for r in rows]))
        return
    if not rows:
        click.echo(f"no {status + ' ' if status else ''}feedback in {db_path}")
        return
    for row in rows:
        where = f"passage {row.rank} ({row.passage})" if row.passage else "the whole answer"
        earlier = f"  (after: {' / '.join(row.history)})" if row.history else ""
        click.echo(
            f"#{row.id} {row.created_at} {row.status:<8} {row.verdict:<7} {row.article}, "
            f"{where}, index {row.index_version}\n    {row.question}{earlier}"
            + (f"\n    {row.note}" if row.note else "")
        )


@feedback.command(name="accept")
@common.feedback_option
@common.corpus_option
@click.argument("feedback_id", type=int)
@click.option("--gold", help="A phrase copied from the passage that answers the question.")
@click.option(
    "--out-of-scope", is_flag=True, help="No passage answers it: add it to out-of-scope.jsonl."
)
def feedback_accept(
    db_path: Path, corpus_dir: Path, feedback_id: int, gold: str | None, out_of_scope: bool
) -> None:
    """Accept judgement FEEDBACK_ID: append it to the right examples file (audited)."""
    if gold and out_of_scope:
        raise click.ClickException("give either --gold (the article answers it) or --out-of-scope")
    outcome = _decisions(db_path, corpus_dir).accept(
        common.shell_user(), feedback_id, gold=gold, out_of_scope=out_of_scope
    )
    click.echo(
        f"accepted #{feedback_id}: {outcome.where}; run `mmn-assistant build` to train on it"
    )


def _decisions(db_path: Path, corpus_dir: Path | None = None) -> Any:  # a Decisions
    from assistant.desk.actions import Decisions
    from assistant.feedback import FeedbackStore

    if not db_path.exists():  # a mistyped --db must not create an empty store
        raise click.ClickException(
            f"no feedback store at {db_path}, so no judgement to decide on; check --db "
            "(or MMN_FEEDBACK_DB)"
        )
    settings = current() if corpus_dir is None else current(corpus_dir=corpus_dir)
    return Decisions(settings, FeedbackStore(db_path))


@feedback.command(name="reject")
@common.feedback_option
@click.argument("feedback_id", type=int)
def feedback_reject(db_path: Path, feedback_id: int) -> None:
    """Reject judgement FEEDBACK_ID: it stays in the store, marked rejected (audited)."""
    _decisions(db_path).reject(common.shell_user(), feedback_id)
    click.echo(f"rejected #{feedback_id}")


@feedback.command(name="stats")
@common.feedback_option
@click.option("--json", "as_json", is_flag=True, help="One JSON array, one entry per version.")
def feedback_stats(db_path: Path, as_json: bool) -> None:
    """Retrieval quality as clinicians judged it, per index version."""
    from assistant.feedback import FeedbackStore

    if not db_path.exists():
        click.echo(f"no feedback store at {db_path}", err=as_json)
        if as_json:
            click.echo("[]")
        return
    stats = FeedbackStore(db_path).stats()
    if as_json:
        click.echo(json.dumps([s.to_json() for s in stats], indent=2))
        return
    if not stats:
        click.echo(f"no feedback in {db_path}")
        return

    def share(value: float | None) -> str:
        return "—" if value is None else f"{value * 100:.0f}%"

    click.echo(
        f"{'index version':<34} {'judged':>6} {'questions':>9} {'answered@1':>10} "
        f"{'in top 3':>8} {'not this':>8} {'missing':>7}"
    )
    for s in stats:
        click.echo(
            f"{s.index_version:<34} {s.judgements:>6} {s.questions:>9} "
            f"{share(s.answered_at_1):>10} {share(s.answered_in_top_3):>8} {s.not_this:>8} "
            f"{s.missing:>7}"
        )


@feedback.command(name="purge")
@common.feedback_option
@click.option(
    "--older-than",
    "days",
    type=click.FloatRange(min=0, max=36500),
    required=True,
    metavar="DAYS",
    help="Delete judgements older than this many days, whatever their status.",
)
def feedback_purge(db_path: Path, days: float) -> None:
    """Delete old judgements (their questions leave the file too)."""
    from assistant.feedback import FeedbackStore

    if not db_path.exists():
        click.echo(f"no feedback store at {db_path}: nothing to delete")
        return
    from assistant.feedback.accounts import Accounts

    store = FeedbackStore(db_path)
    deleted = store.purge(days)
    # deleting judgements changes what editors see: the trail says who did it and how many
    Accounts(store).record(
        common.shell_user(), "purged judgements", f"older than {days:g} days", f"{deleted} deleted"
    )
    click.echo(f"deleted {deleted} judgement(s) older than {days:g} days from {db_path}")
