"""The editors' decisions, each one call the desk and the CLI share, each one audited.

Every decision writes the corpus's example files the way the shell commands do (atomically,
never twice: `assistant.feedback.review`, `assistant.ingest.editing`) and appends to the audit
trail who decided what about which judgement, example or passage. None rebuilds: the next build
trains on them, and the desk lists a decided item as done until that build replaces the report.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.build import Corpus, parse
from assistant.errors import AssistantError
from assistant.feedback import review
from assistant.feedback.accounts import Accounts
from assistant.feedback.store import FeedbackError, FeedbackStore
from assistant.ingest import editing
from assistant.ingest.editing import Done
from assistant.ingest.examples import EXAMPLES_DIR, OUT_OF_SCOPE, Example, Followed, read_examples
from assistant.ingest.lineage import Similar
from assistant.ingest.matching import holds
from assistant.limits import Query
from assistant.records import Passage
from assistant.settings import Settings
from assistant.store.directory import published_manifest

EDITOR = "editor"
"""The `by` of example questions an editor wrote at the desk."""
log = logging.getLogger("mmn_assistant.desk")
_UNRECORDED: ContextVar[list[str] | None] = ContextVar("unrecorded", default=None)


@contextmanager
def recording() -> Iterator[list[str]]:
    """Collect the decisions made in this block whose audit entry could not be written. The
    entry is written after the change: a store locked at that moment turned a decision made
    into one the editor was told had failed, and left no trace of it."""
    collected: list[str] = []
    token = _UNRECORDED.set(collected)
    try:
        yield collected
    finally:
        _UNRECORDED.reset(token)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a decision did, in a sentence for the editor, and the file line it touched."""

    message: str
    where: str = ""


Moves = tuple[tuple[str, str], ...]
"""An example's gold phrases as written, each with the words it now reads as (`Followed`)."""
UNBUILT = (
    "the article has changed since the last build, so the new words are not those listed "
    "here; build, then decide on what that build lists"
)


class Decisions:
    """The desk's actions over one corpus, index directory and feedback store."""

    def __init__(
        self,
        settings: Settings,
        feedback: FeedbackStore,
        *,
        audit_if_kept: bool = False,
        similar: Similar | None = None,
    ) -> None:
        """`audit_if_kept`: for a shell's decisions on example files, which need no store: the
        trail is written only where a store exists, and a store that cannot take it is noted
        in `unaudited` instead of failing a change already made. `similar`: the build's model,
        so that examples of a reworded statement are listed as following it, as the build
        will have them, and not as stale (an editor would remove them)."""
        self.settings = settings
        self.similar = similar
        self.feedback = feedback
        self.accounts = Accounts(feedback)
        self.audit_if_kept = audit_if_kept
        self.unaudited: list[str] = []

    def _record(self, who: str, action: str, target: str, detail: str = "") -> None:
        if self.audit_if_kept and not self.feedback.path.exists():
            return
        try:
            self.accounts.record(who, action, target, detail)
        except FeedbackError as exc:
            if self.audit_if_kept:
                self.unaudited.append(f"{action} {target}: {exc}")
            elif (collected := _UNRECORDED.get()) is not None:
                log.error("%s by %s on %s is made but not audited: %s", action, who, target, exc)
                collected.append(f"{action} {target}")
            else:
                raise

    @property
    def corpus_dir(self) -> Path:
        return self.settings.corpus_dir

    def corpus(self) -> Corpus:
        """The corpus as it is now, traced from the published version."""
        try:
            return parse(
                self.corpus_dir,
                examples=True,
                index_dir=self.settings.index_dir,
                refuse_stale=False,
                similar=self.similar,
            )
        except AssistantError as exc:
            raise FeedbackError(f"the corpus cannot be read: {exc}") from None

    # --- clinicians' judgements -------------------------------------------------------------

    def accept(
        self,
        who: str,
        feedback_id: int,
        *,
        passage: str | None = None,
        gold: str | None = None,
        out_of_scope: bool = False,
    ) -> Outcome:
        decision = review.accept(
            self.feedback,
            self.corpus_dir,
            feedback_id,
            gold=gold,
            out_of_scope=out_of_scope,
            passage=passage,
        )
        what = (
            "out of scope"
            if out_of_scope
            else f"passage {passage[:12]}"
            if passage
            else f"gold {gold!r}"
            if gold
            else "the judged passage"
        )
        self._record(who, "accepted judgement", f"feedback #{feedback_id}",
                             f"{what}: {decision.note}")  # fmt: skip
        return Outcome(f"Judgement #{feedback_id} accepted: {decision.note}.", decision.note)

    def reject(self, who: str, feedback_id: int) -> Outcome:
        review.reject(self.feedback, feedback_id)
        self._record(who, "rejected judgement", f"feedback #{feedback_id}")
        return Outcome(f"Judgement #{feedback_id} rejected.")

    # --- what the last build set aside or moved ---------------------------------------------

    def _example(self, corpus: Corpus, key: str, kind: str) -> Example:
        examples = corpus.examples
        assert examples is not None
        pool = {
            "followed": [f.example for f in examples.followed],
            "stale": list(examples.stale),
            "set_aside": list(examples.out_of_scope),
        }[kind]
        found = next((e for e in pool if e.key == key), None)
        if found is None:
            raise FeedbackError(
                f"no {kind.replace('_', '-')} example has the key {key!r} now; it may have been "
                "resolved already (see the audit trail) or the corpus changed: build again"
            )
        return found

    def fix_followed(self, who: str, key: str, moves: Moves | None) -> Outcome:
        """Write the passage's new words into an example that followed an edit, if they are
        `moves`, the words the last build listed for it (None: it listed none)."""
        corpus = self.corpus()
        assert corpus.examples is not None
        followed = [f for f in corpus.examples.followed if f.example.key == key]
        if not followed:
            self._example(corpus, key, "followed")  # raises, saying why
        if followed[0].moves != moves:
            raise FeedbackError(UNBUILT)
        return self.fix(who, followed)[0]

    def fix_all_followed(self, who: str, listed: dict[str, Moves]) -> list[Outcome]:
        """Write the new words into the examples `listed` names, with the words the editor was
        shown (the last build's report: an edit made since, not built, is not the editor's to
        accept unseen): one correction can move dozens, each a click otherwise."""
        corpus = self.corpus()
        assert corpus.examples is not None
        waiting = [f for f in corpus.examples.followed if f.example.key in listed]
        if any(f.moves != listed[f.example.key] for f in waiting):
            raise FeedbackError(UNBUILT)
        if not waiting:
            raise FeedbackError("no example listed here is waiting for its passage's new words")
        done = self.fix(who, waiting)
        self._record(who, "fixed examples", "the examples that followed an edit", str(len(done)))
        return done

    def fix(self, who: str, followed: list[Followed]) -> list[Outcome]:
        """Write the new words into examples that followed an edit, one audit entry each."""
        return [
            self._done(who, "fixed example", item.example.key, done)
            for item, done in zip(followed, editing.fix(followed), strict=True)
        ]

    def drop_stale(self, who: str, key: str, *, out_of_scope: bool = False) -> Outcome:
        """Remove a stale example: the passage it asked about is gone; `out_of_scope` moves
        it into the out-of-scope examples instead, when the article no longer covers it."""
        example = self._example(self.corpus(), key, "stale")
        if out_of_scope:
            done = editing.move_out_of_scope(example, self.corpus_dir)
            return self._done(who, "moved stale example out of scope", key, done)
        return self._done(who, "removed stale example", key, editing.drop(example))

    def resolve_set_aside(
        self,
        who: str,
        key: str,
        *,
        answered: bool,
        passage_id: str | None = None,
        gold: str | None = None,
    ) -> Outcome:
        """A set-aside out-of-scope example: answered by the passage (it moves into the
        article's examples), or still out of scope (the build stops setting it aside)."""
        corpus = self.corpus()
        assert corpus.examples is not None
        example = next((e for e in corpus.examples.out_of_scope if e.key == key), None)
        if example is None:
            moved = next((e for e in corpus.examples.in_scope if e.key == key), None)
            if moved is not None:  # decided by someone else: said, never silently dropped
                raise FeedbackError(
                    f"{key} is already answered, at {moved.where} ({moved.question!r}); see "
                    "the audit trail for who decided it"
                )
            if any(e.key == key for e in corpus.examples.stale):
                raise FeedbackError(
                    f"{key} is a stale example (its passage is gone), not a set-aside one: "
                    f"`mmn-assistant examples remove-stale --out-of-scope {key}` moves it out "
                    "of scope"
                )
            raise FeedbackError(f"no out-of-scope example has the key {key!r}")
        entry = next((s for s in set_aside(self.settings.index_dir) if s["key"] == key), None)
        wanted = passage_id or (entry or {}).get("passage")
        if not wanted:
            raise FeedbackError(f"{key} is not set aside; name the passage that answers it")
        passage = find_passage(corpus.passages, wanted)
        if passage.id in example.not_answered_by:  # another editor's decision, not reversed
            raise FeedbackError(  # unseen from a page loaded before it
                f"{key} is already kept out of scope against passage {passage.id[:12]}; see the "
                "audit trail for who decided it"
            )
        done = (
            editing.answered(example, passage, self.corpus_dir, gold)
            if answered
            else editing.still_out_of_scope(example, passage)
        )
        action = "answered set-aside example" if answered else "kept example out of scope"
        return self._done(who, action, key, done)

    def add_question(
        self, who: str, passage_id: str, question: str, gold: str | None = None
    ) -> Outcome:
        """A question a clinician would ask of a passage (one the probes could not reach),
        added to its article's examples with a phrase of the passage as gold."""
        passage = find_passage(self.corpus().passages, passage_id)
        asked = Query.read(question, []).question  # the limits a question has; raises QueryError
        phrase = (gold or "").strip() or editing.default_phrase(passage)
        if not holds(passage.text, phrase):  # as the build will look for it: whole words
            raise FeedbackError(f"{phrase!r} is not in the passage; copy a phrase from it")
        decision = review.append_question(
            self.corpus_dir, passage.article_id, asked, (), [phrase], by=EDITOR
        )
        if decision.added or decision.extended:  # a repeat changed nothing: no one decided it
            self._record(who, "added example", f"passage {passage.id}", decision.note)
        return Outcome(f"{asked!r}: {decision.note}.", decision.note)

    def _done(self, who: str, action: str, key: str, done: Done) -> Outcome:
        where = f"{done.file}:{done.line}"
        self._record(who, action, f"example {key}", f"{where} {done.what}")
        return Outcome(f"{done.question!r}: {done.what} ({where}).", where)


def set_aside(index_dir: Path, corpus_dir: Path | None = None) -> list[dict[str, Any]]:
    """The set-aside examples the published version reports; with `corpus_dir`, only those its
    out-of-scope examples still hold undecided (one resolved since the build is left out)."""
    aside = list(changes(index_dir).get("examples", {}).get("set_aside") or [])
    if corpus_dir is None:
        return aside
    path = corpus_dir / EXAMPLES_DIR / f"{OUT_OF_SCOPE}.jsonl"
    written = read_examples(path, None) if path.is_file() else []
    undecided = {e.key: e.not_answered_by for e in written}
    return [s for s in aside if s["key"] in undecided and s["passage"] not in undecided[s["key"]]]


def changes(index_dir: Path) -> dict[str, Any]:
    """The published version's change report ({} when nothing is published)."""
    manifest = published_manifest(index_dir)
    return dict((manifest.changes if manifest else None) or {})


def find_passage(passages: list[Passage], wanted: str) -> Passage:
    """A passage by its id or the first 8 or more characters of it."""
    matches = [p for p in passages if p.id == wanted]
    if not matches and len(wanted) >= 8:
        matches = [p for p in passages if p.id.startswith(wanted)]
    if len(matches) != 1:
        raise FeedbackError(f"no single passage of the corpus has an id starting {wanted!r}")
    return matches[0]
