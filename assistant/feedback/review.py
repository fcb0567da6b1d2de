"""Editors turn clinicians' judgements into example questions, which the next build trains on.

    answers  -> corpus/examples/<article-id>.jsonl, gold: a verbatim phrase of that passage
    not      -> with --gold naming the passage that does answer: the article's examples file;
                with --out-of-scope: corpus/examples/out-of-scope.jsonl
    missing  -> corpus/examples/out-of-scope.jsonl (or, with --gold, the article's file: the
                editor found that the article does cover it)

Appends are atomic (a whole new file replaces the old one) and never duplicate an example:
the same question with the same history already in the target file is not written again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from assistant.feedback.store import Feedback, FeedbackError, FeedbackStore
from assistant.ingest.corpus import load_corpus
from assistant.ingest.editing import dump_line, locked, read_lines, write_lines
from assistant.ingest.examples import EXAMPLES_DIR, OUT_OF_SCOPE, normalise
from assistant.ingest.matching import holds, inside_words
from assistant.records import Article

WRITER = "clinician-feedback"
"""The `by` of examples that came from feedback, so editors can tell them apart."""


class PassageGone(FeedbackError):
    """The judged passage is no longer in its article: the editor must name the one that
    answers (the terminal's `--gold`, the desk's choice of passage)."""


@dataclass(frozen=True, slots=True)
class Decision:
    """What accepting a judgement did."""

    path: Path
    line: int
    added: bool
    """False when the example was already in the file (its line kept, or given `extended`)."""
    extended: tuple[str, ...] = ()
    """Gold phrases added to the example that was already there: another passage answers."""

    @property
    def note(self) -> str:
        where = f"{self.path}:{self.line}"
        if self.extended:
            return f"gold {', '.join(map(repr, self.extended))} added to the example at {where}"
        return f"added as {where}" if self.added else f"already an example at {where}"


def accept(
    store: FeedbackStore,
    corpus_dir: Path,
    feedback_id: int,
    *,
    gold: str | None = None,
    out_of_scope: bool = False,
    passage: str | None = None,
) -> Decision:
    """Append the judged question to the right examples file and mark the row accepted.
    `passage` (the desk's choice): the id of the passage that answers, `gold` then a phrase
    of it (default: its whole text)."""
    row = _new(store, feedback_id)
    if out_of_scope and (gold or passage):
        raise FeedbackError(  # the desk's words; `feedback accept` checks its flags first
            "“None: the article does not cover it” takes no passage or gold phrase: clear "
            "the phrase, or choose the passage it comes from"
        )
    target, golds = None, []
    if not (out_of_scope or (row.verdict == "missing" and not gold and not passage)):
        if passage is None:
            article = _article(corpus_dir, row.article)
            target, golds = article.id, [_gold(row, article, gold)]
        else:  # the desk's choice: any article's passage (a search of all articles)
            target, phrase = _of(load_corpus(corpus_dir), passage, gold)
            golds = [phrase]
    # Claimed before the file is written: a reject (or another accept) meanwhile fails on the
    # row instead of leaving an example for a rejected judgement.
    store.decide(feedback_id, "accepted", "its example is being written")
    try:
        decision = append_example(corpus_dir, target, row, golds)
    except BaseException:
        try:
            store.reopen(feedback_id)
        except FeedbackError:  # the write's own error is the one to report
            pass
        raise
    try:
        store.annotate(feedback_id, decision.note)
    except FeedbackError:  # the example is written and the row accepted; only the note is late
        pass
    return decision


def reject(store: FeedbackStore, feedback_id: int) -> None:
    _new(store, feedback_id)
    store.decide(feedback_id, "rejected", "rejected by an editor")


def _new(store: FeedbackStore, feedback_id: int) -> Feedback:
    row = store.get(feedback_id)
    if row.status != "new":
        raise FeedbackError(
            f"feedback {feedback_id} is already {row.status}"
            + (f" ({row.note})" if row.note else "")
        )
    return row


def _article(corpus_dir: Path, article_id: str) -> Article:
    articles = {a.id: a for a in load_corpus(corpus_dir)}
    if article_id not in articles:
        raise FeedbackError(
            f"the judged article {article_id!r} is not in {corpus_dir} any more "
            f"(articles: {', '.join(sorted(articles))}); reject it or restore the article"
        )
    return articles[article_id]


def _gold(row: Feedback, article: Article, gold: str | None) -> str:
    """A verbatim phrase of the passage that answers, checked against the article as it is."""
    judged = next((p for p in article.passages if p.id == row.passage), None)
    if gold is None:
        if row.verdict == "not":
            raise FeedbackError(
                f"feedback {row.id} says passage {row.rank} does not answer; give --gold PHRASE "
                "naming the passage that does, or --out-of-scope when none does"
            )
        if judged is None:
            raise PassageGone(
                f"the judged passage {row.passage} is no longer in {article.id} (the article was "
                "edited); give --gold PHRASE from the passage that answers"
            )
        return judged.text
    phrase = gold.strip()
    if not phrase:
        raise FeedbackError("--gold is empty; give a phrase copied from the passage")
    # whole words, as the build matches examples: "g/k" inside "g/kg" would be written, then
    # left out of training as stale
    holders = [p for p in article.passages if holds(p.text, phrase)]
    if not holders:
        inside = inside_words([p.text for p in article.passages], phrase)
        hint = f" (it is inside {', '.join(map(repr, inside))})" if inside else ""
        raise FeedbackError(
            f"no passage of {article.id} says {gold!r} in whole words{hint}; copy the phrase "
            "from the passage exactly as printed"
        )
    if row.verdict == "answers" and judged is not None and judged not in holders:
        raise FeedbackError(
            f"{gold!r} is not in the judged passage ({judged.text[:60]!r}…); copy the phrase "
            "from that passage"
        )
    return phrase


def _of(articles: list[Article], passage_id: str, gold: str | None) -> tuple[str, str]:
    """The chosen passage's article and a gold phrase of it, checked against the corpus now."""
    chosen = next((p for a in articles for p in a.passages if p.id == passage_id), None)
    if chosen is None:
        raise FeedbackError(
            f"passage {passage_id[:12]} is not in the corpus any more (the article was "
            "edited); choose a passage the articles have now"
        )
    phrase = (gold or "").strip() or chosen.text
    if not holds(chosen.text, phrase):  # as the build will look for it: whole words
        raise FeedbackError(
            f"{phrase!r} is not in the chosen passage ({chosen.text[:60]!r}…); copy the phrase "
            "from that passage"
        )
    return chosen.article_id, phrase


def append_example(
    corpus_dir: Path, article_id: str | None, row: Feedback, gold: list[str]
) -> Decision:
    """Add a judged question as an example (see `append_question`)."""
    return append_question(
        corpus_dir, article_id, row.question, row.history, gold,
        by=WRITER, extra={"feedback_id": row.id},
    )  # fmt: skip


def append_question(
    corpus_dir: Path,
    article_id: str | None,
    question: str,
    history: Sequence[str],
    gold: list[str],
    *,
    by: str,
    extra: dict[str, object] | None = None,
) -> Decision:
    """Add one example line unless the same question and history are already an example (in
    any examples file: the same question in an article's file and in out-of-scope.jsonl would
    teach the ranker two answers). An example of the same article gains the new gold phrases
    (another passage answers it too); one that says otherwise (out of scope, or another
    article) is refused, naming its line, so no decision is reported done and not written."""
    folder = corpus_dir / EXAMPLES_DIR
    path = folder / f"{article_id or OUT_OF_SCOPE}.jsonl"
    key = (normalise(question), tuple(normalise(h) for h in history))
    entry: dict[str, object] = {"question": question}
    if history:
        entry["history"] = list(history)
    entry |= {"gold": gold, "by": by, **(extra or {})}
    with locked(folder):
        read = {other: read_lines(other) for other in sorted(folder.glob("*.jsonl"))}
        for other, lines in read.items():
            if (found := _line_of(lines, key)) is not None:
                return _already(other, lines, found, path, gold)
        lines = read.get(path, [])
        write_lines(path, [*lines, dump_line(entry)])  # the file's own BOM and line ending
        return Decision(path, len(lines) + 1, added=True)


def _already(other: Path, lines: list[str], line: int, path: Path, gold: list[str]) -> Decision:
    """The same question is an example at `other`:`line` already (`lines`, its file's); `path`
    and `gold` are where and with what the decision would have written it."""
    data = json.loads(lines[line - 1])
    written = [str(g) for g in data.get("gold") or []]
    if other != path:
        holds_now = f"gold phrases {written}" if written else "it as out of scope"
        wanted = f"the gold phrases {gold}" if gold else "it as out of scope"
        raise FeedbackError(
            f"{other}:{line} already holds this question, with {holds_now}; this decision would "
            f"record {wanted} in {path.name}. Change or remove that line first, or reject this "
            "judgement"
        )
    new = [g for g in gold if normalise(g) not in {normalise(w) for w in written}]
    if new:  # another passage of the same article answers it too
        lines[line - 1] = dump_line({**data, "gold": [*written, *new]})
        write_lines(other, lines)
    return Decision(other, line, added=False, extended=tuple(new))


def _line_of(lines: list[str], key: tuple[str, tuple[str, ...]]) -> int | None:
    """The line of an examples file's `lines` that holds the same question and history, if any."""
    for number, line in enumerate(lines, start=1):
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            continue  # the build names malformed lines; they are no duplicate of this one
        if not isinstance(data, dict):
            continue
        same = (
            normalise(str(data.get("question", ""))),
            tuple(normalise(str(h)) for h in data.get("history") or []),
        )
        if same == key:
            return number
    return None
