"""What a build refuses to lose of the example questions, and what it says when it refuses.

A build that went on without them would publish a ranker that no longer knows an article's
questions or no longer declines; each message names the files and lines and what to do, and
says the published index was not changed.
"""

from __future__ import annotations

from pathlib import Path

from assistant.ingest.examples import (
    EXAMPLES_DIR,
    OUT_OF_SCOPE,
    STALE_LIMIT,
    Example,
    Examples,
)


def too_stale(examples: Examples) -> dict[str, list[Example]]:
    """The articles whose stale share is over `STALE_LIMIT`, with their stale examples."""
    failing: dict[str, list[Example]] = {}
    for article_id, total in examples.counts.items():
        if article_id == OUT_OF_SCOPE or not total:
            continue
        mine = [e for e in examples.stale if e.article_id == article_id]
        if len(mine) / total > STALE_LIMIT:
            failing[article_id] = mine
    return failing


def lost_examples(
    examples: Examples, trained_on: dict[str, int], articles: set[str]
) -> dict[str, int]:
    """The examples files the published version was trained on that now give none (gone,
    emptied, or unreadable to a glob), by name, with the count it was trained on: a build that
    went on would serve a ranker that no longer declines or knows the article's questions.
    A removed article's file is no loss."""
    return {
        name: count
        for name, count in trained_on.items()
        if count and not examples.counts.get(name) and (name == OUT_OF_SCOPE or name in articles)
    }


def lost_message(lost: dict[str, int], corpus_dir: Path) -> str:
    """What the build says when examples the published version was trained on are gone."""
    lines = [
        f"{corpus_dir / EXAMPLES_DIR / name}.jsonl: the published version was trained on "
        f"{count} of its example questions, and this build reads none (the file is gone or "
        "empty)"
        for name, count in lost.items()
    ]
    return "\n".join(
        lines
        + [
            "Restore the file (git checkout) and build again; if it was removed on purpose, "
            "build with `--drop-examples NAME` for each (the ranker then learns without them); "
            "`build --no-train` serves every article untrained.\nThe published index was not "
            "changed."
        ]
    )


def out_of_scope_message(corpus_dir: Path) -> str:
    """Why `--drop-examples out-of-scope` is refused."""
    return (
        f"--drop-examples {OUT_OF_SCOPE}: {corpus_dir / EXAMPLES_DIR / OUT_OF_SCOPE}.jsonl teaches "
        "the ranker to say an article does not cover a question; without it every question "
        "is answered. Restore the file (git checkout); `build --no-train` serves the model "
        "untrained if that is meant.\nThe published index was not changed."
    )


def dropped_message(
    names: list[str], lost: dict[str, int], examples: Examples, corpus_dir: Path
) -> str:
    """What the build says when `--drop-examples` names a file whose examples are not lost: a
    slip in the name must not pass for a decision."""
    lines = []
    for name in names:
        path = corpus_dir / EXAMPLES_DIR / f"{name}.jsonl"
        if count := examples.counts.get(name):
            lines.append(
                f"--drop-examples {name}: {path} still holds {count} example questions; delete "
                "or empty the file first, or drop the option"
            )
        else:
            lines.append(
                f"--drop-examples {name}: the published version was trained on no examples "
                f"from {path}, so there is nothing to drop"
            )
    if lost:
        lines.append(f"Files whose examples are gone: {', '.join(sorted(lost))}.")
    return "\n".join(lines + ["The published index was not changed."])


def stale_message(failing: dict[str, list[Example]]) -> str:
    """What the build says when it refuses to publish: every stale example, file and line."""
    lines = []
    for article_id, stale in failing.items():
        lines.append(
            f"{len(stale)} example questions of {article_id} name text that no passage has any "
            f"more, over the {STALE_LIMIT:.0%} of its examples a build lets go stale. For each: "
            "correct its gold phrase; or, if the article no longer covers it, move it to "
            f"{EXAMPLES_DIR}/{OUT_OF_SCOPE}.jsonl (it will be declined); or remove it "
            "(`examples remove-stale KEY...`). Then build again:"
        )
        lines += [f"  {e.where} [{e.key}]: {e.question}" for e in stale]
    return "\n".join(lines) + "\nThe published index was not changed."
