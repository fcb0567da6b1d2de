"""`examples`: what the last build did to the example questions, and the editor's answer to it.

examples fix        rewrite the gold phrases of examples that followed an edit
examples set-aside  list the out-of-scope examples new content may answer
examples resolve    decide one: answered by the new passage, or still out of scope
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from assistant.cli import common
from assistant.errors import AssistantError
from assistant.ingest.examples import describe
from assistant.settings import current


@click.group(cls=common.CommandGroup)
def examples() -> None:
    """What the last build did to the example questions, and the editor's decisions.

    \b
    fix           examples whose passage was edited follow it; write the new words into the file
    set-aside     out-of-scope examples that new content may answer (trained towards it meanwhile)
    resolve       answered by the new passage (moves into the article's examples), or still out
                  of scope (the build stops setting it aside)
    remove-stale  delete examples whose passage was removed (the build lists them as stale)
    """


def _corpus(corpus_dir: Path, index_dir: Path) -> Any:
    from assistant.build import parse

    similar = _model(index_dir)
    return parse(
        corpus_dir, examples=True, index_dir=index_dir, refuse_stale=False, similar=similar
    )


def _model(index_dir: Path) -> Any:  # a Similar
    """The build's model, loaded only if an edit needs it, so examples are traced as the next
    build traces them (a reworded statement's examples follow it there, not go stale)."""
    from assistant.ingest.lineage import lazily

    return lazily(lambda: common.embedder(None, index_dir).embed)


@examples.command(name="fix")
@common.corpus_option
@common.index_option
@common.feedback_option
@click.option("--yes", is_flag=True, help="Rewrite without asking.")
def examples_fix(corpus_dir: Path, index_dir: Path, db_path: Path, yes: bool) -> None:
    """Rewrite the gold phrases of examples that followed an edited passage to the words the
    passage has now (traced from the published version), once the editor confirms."""
    _published(index_dir)
    followed = _corpus(corpus_dir, index_dir).examples.followed
    if not followed:
        click.echo("no example names an earlier wording of a passage: nothing to fix")
        return
    for item in followed:
        moves = describe(item.moves)
        click.echo(f"{item.example.where} {item.example.question}\n    {moves}")
    try:
        confirmed = yes or click.confirm(f"rewrite these {len(followed)} examples?", default=True)
    except click.Abort:  # no terminal to answer on (a script, CI): it printed "Aborted!"
        raise click.ClickException("nothing rewritten: no answer; run again with --yes") from None
    if not confirmed:
        click.echo("nothing rewritten")
        return
    decisions = _decisions(corpus_dir, index_dir, db_path)
    done = decisions.fix(common.shell_user(), followed)
    click.echo(f"rewrote {len(done)} examples; the next build finds their phrases as written")
    _unaudited(decisions)


def _decisions(corpus_dir: Path, index_dir: Path, db_path: Path) -> Any:  # a Decisions
    """The desk's decisions, audited where a feedback store is kept (none is made for it)."""
    from assistant.desk.actions import Decisions
    from assistant.feedback import FeedbackStore

    settings = current(corpus_dir=corpus_dir, index_dir=index_dir)
    return Decisions(
        settings, FeedbackStore(db_path), audit_if_kept=True, similar=_model(index_dir)
    )


def _unaudited(decisions: Any) -> None:
    for problem in decisions.unaudited:
        click.echo(f"warning: not in the audit trail: {problem}", err=True)


def _published(index_dir: Path) -> None:
    """Both commands compare the corpus with the published version: without one, saying that
    nothing needs doing would hide a mistyped --index-dir."""
    from assistant.store.directory import published_version

    if published_version(index_dir) is None:
        raise click.ClickException(f"{index_dir}: no index is published; run `mmn-assistant build`")


def _set_aside(index_dir: Path, corpus_dir: Path) -> list[dict[str, Any]]:
    from assistant.desk.actions import set_aside

    _published(index_dir)
    return set_aside(index_dir, corpus_dir)


@examples.command(name="set-aside")
@common.corpus_option
@common.index_option
@click.option("--json", "as_json", is_flag=True, help="One JSON array.")
def examples_set_aside(corpus_dir: Path, index_dir: Path, as_json: bool) -> None:
    """List the out-of-scope examples the published version set aside, with the passage that
    may answer each, and that no one has resolved since."""
    aside = _set_aside(index_dir, corpus_dir)
    if as_json:
        click.echo(common.as_json(aside))
        return
    if not aside:
        click.echo("no out-of-scope example is set aside")
        return
    for item in aside:
        click.echo(
            f"[{item['key']}] {item['question']}\n"
            f"    may be answered by {item['passage'][:12]} ({item['article']}): {item['text']}"
        )
    click.echo(
        "decide each with `mmn-assistant examples resolve KEY --answered [--gold PHRASE]` "
        "or `... resolve KEY --out-of-scope`"
    )


@examples.command(name="remove-stale")
@common.corpus_option
@common.index_option
@common.feedback_option
@click.argument("keys", metavar="KEY...", nargs=-1, required=True)
@click.option(
    "--out-of-scope",
    "out_of_scope",
    is_flag=True,
    help="Move them into out-of-scope.jsonl instead: the article no longer covers what they "
    "ask, so such questions are declined.",
)
def examples_remove_stale(corpus_dir: Path, index_dir: Path, db_path: Path, keys: tuple[str, ...], out_of_scope: bool) -> None:  # fmt: skip
    """Delete stale examples (KEY as the build lists them: no passage says their gold phrases,
    now or before) from their file, or move them out of scope; each goes into the audit trail
    where a store is kept."""
    _published(index_dir)
    decisions = _decisions(corpus_dir, index_dir, db_path)
    user = common.shell_user()
    failed = _each(
        keys, lambda key: decisions.drop_stale(user, key, out_of_scope=out_of_scope).message
    )
    _unaudited(decisions)
    _failed(failed, keys)


def _each(keys: tuple[str, ...], act: Any) -> list[str]:
    """Run `act` on every key, saying what each came to; the keys that failed."""
    failed = []
    for key in keys:
        try:
            click.echo(act(key))
        except AssistantError as exc:
            click.echo(f"{key}: {exc}", err=True)
            failed.append(key)
    return failed


def _failed(failed: list[str], keys: tuple[str, ...]) -> None:
    """Exit status 1 naming the keys not done, when any."""
    if failed:
        raise click.ClickException(f"{len(failed)} of {len(keys)} not done: {', '.join(failed)}")


@examples.command(name="resolve")
@common.corpus_option
@common.index_option
@common.feedback_option
@click.argument("keys", metavar="KEY...", nargs=-1, required=True)
@click.option(
    "--answered", is_flag=True, help="The passage answers it: move it into the article's examples."
)
@click.option(
    "--out-of-scope",
    "out_of_scope",
    is_flag=True,
    help="Still out of scope: stop setting it aside.",
)
@click.option("--passage", "passage_id", help="The answering passage's id (or its first 8+ characters); default: the one it was set aside for.")  # fmt: skip
@click.option("--gold", help="A phrase copied from the passage (default: its first words).")
def examples_resolve(
    corpus_dir: Path,
    index_dir: Path,
    db_path: Path,
    keys: tuple[str, ...],
    answered: bool,
    out_of_scope: bool,
    passage_id: str | None,
    gold: str | None,
) -> None:
    """Resolve set-aside out-of-scope examples (KEY as `examples set-aside` lists them; several
    at once take the same decision); each decision goes into the audit trail of the feedback
    store (--db), where one is kept."""
    if answered == out_of_scope:
        raise click.UsageError("give one of --answered and --out-of-scope")
    if len(keys) > 1 and (passage_id or gold):
        raise click.UsageError("--passage and --gold name one example's answer: give one KEY")
    decisions = _decisions(corpus_dir, index_dir, db_path)
    failed = _each(
        keys,
        lambda key: (
            decisions.resolve_set_aside(
                common.shell_user(), key, answered=answered, passage_id=passage_id, gold=gold
            ).message
        ),
    )
    if len(failed) < len(keys):
        click.echo("the next `mmn-assistant build` trains on the decisions")
    _unaudited(decisions)
    _failed(failed, keys)
