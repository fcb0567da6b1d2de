"""The editors' decisions at the desk: a clinician's judgement accepted (with the passage and
gold phrase the editor chose, or out of scope) lands in the corpus's examples exactly once,
a rejected one lands nowhere, a question an editor writes for a passage is added once, and
each decision is in the audit trail.

No model, server or browser: the desk's pages have tests of their own."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from assistant.desk.actions import EDITOR, Decisions
from assistant.feedback.accounts import Accounts
from assistant.feedback.review import WRITER, append_question
from assistant.feedback.store import FeedbackError, FeedbackStore, Judgement
from assistant.ingest import load_corpus
from assistant.settings import current
from tests.conftest import ARTICLE

ARTICLE_ID = ARTICLE.stem
QUESTION = "How many grams per kilogram are given in a course of immunoglobulin?"
DOSE = "Dosing: 1.6-2.4 g/kg"
TIMELINE = "Response timeline:"
FAST = "How soon after the infusion do the hands get stronger?"


@pytest.fixture
def store(tmp_path: Path) -> FeedbackStore:
    return FeedbackStore(tmp_path / "data" / "feedback.sqlite3")


@pytest.fixture
def decisions(corpus_copy: Path, tmp_path: Path, store: FeedbackStore) -> Decisions:
    settings = current(corpus_dir=corpus_copy, index_dir=tmp_path / "index")
    return Decisions(settings, store)


@pytest.fixture
def examples(corpus_copy: Path) -> Path:
    return corpus_copy / "examples" / f"{ARTICLE_ID}.jsonl"


@pytest.fixture
def out_of_scope(corpus_copy: Path) -> Path:
    return corpus_copy / "examples" / "out-of-scope.jsonl"


def passage_id(corpus_dir: Path, starting: str) -> str:
    (article,) = [a for a in load_corpus(corpus_dir) if a.id == ARTICLE_ID]
    return next(p.id for p in article.passages if p.text.startswith(starting))


def judged(store: FeedbackStore, corpus_dir: Path, verdict: str = "not", **changes) -> int:
    """A clinician's judgement of the dose passage shown at rank 1; returns its id."""
    dose = passage_id(corpus_dir, DOSE)
    fields = {
        "article": ARTICLE_ID,
        "index_version": "v1",
        "question": QUESTION,
        "history": (),
        "passage": None if verdict == "missing" else dose,
        "rank": None if verdict == "missing" else 1,
        "verdict": verdict,
        "shown": ((dose, DOSE),),
    } | changes
    return store.add(Judgement(**fields))  # type: ignore[arg-type]


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def asked(path: Path, question: str = QUESTION) -> list[dict]:
    return [entry for entry in lines(path) if entry["question"] == question]


def test_the_question_is_not_an_example_yet(examples, out_of_scope):
    """The tests below count its lines: it must not be in the corpus already."""
    assert asked(examples) == asked(out_of_scope) == []
    assert asked(examples, FAST) == asked(out_of_scope, FAST) == []


# --- clinicians' judgements ---------------------------------------------------------------------


def test_accepting_with_a_chosen_passage_writes_one_example_with_its_gold_phrase(
    decisions, store, corpus_copy, examples, out_of_scope
):
    feedback_id = judged(store, corpus_copy)
    before = examples.read_text(encoding="utf-8")
    other_before = out_of_scope.read_bytes()
    chosen = passage_id(corpus_copy, DOSE)

    outcome = decisions.accept("alice", feedback_id, passage=chosen, gold="1.6-2.4 g/kg")

    after = examples.read_text(encoding="utf-8")
    assert after.startswith(before)  # the file grew by one line, the rest untouched
    (line,) = after[len(before) :].splitlines()
    assert json.loads(line) == {
        "question": QUESTION, "gold": ["1.6-2.4 g/kg"], "by": WRITER, "feedback_id": feedback_id,
    }  # fmt: skip
    assert out_of_scope.read_bytes() == other_before
    number = len(before.splitlines()) + 1
    assert outcome.where == f"added as {examples}:{number}"
    assert f"Judgement #{feedback_id} accepted" in outcome.message
    row = store.get(feedback_id)
    assert row.status == "accepted" and row.note == outcome.where
    (entry,) = Accounts(store).trail()
    assert (entry.who, entry.action, entry.target) == (
        "alice", "accepted judgement", f"feedback #{feedback_id}",
    )  # fmt: skip
    assert chosen[:12] in entry.detail and f"{examples}:{number}" in entry.detail


def test_accepting_without_a_phrase_takes_the_chosen_passage_whole(decisions, store, corpus_copy):
    feedback_id = judged(store, corpus_copy, verdict="answers")
    timeline = passage_id(corpus_copy, TIMELINE)
    (text,) = [p.text for a in load_corpus(corpus_copy) for p in a.passages if p.id == timeline]
    decisions.accept("alice", feedback_id, passage=timeline)
    (entry,) = asked(corpus_copy / "examples" / f"{ARTICLE_ID}.jsonl")
    assert entry["gold"] == [text]


def test_accepting_twice_is_refused_and_writes_nothing_more(
    decisions, store, corpus_copy, examples
):
    feedback_id = judged(store, corpus_copy)
    chosen = passage_id(corpus_copy, DOSE)
    decisions.accept("alice", feedback_id, passage=chosen, gold="1.6-2.4 g/kg")
    written = examples.read_bytes()

    with pytest.raises(FeedbackError, match=f"feedback {feedback_id} is already accepted"):
        decisions.accept("bob", feedback_id, passage=chosen, gold="1.6-2.4 g/kg")
    with pytest.raises(FeedbackError, match="already accepted"):
        decisions.reject("bob", feedback_id)

    assert examples.read_bytes() == written
    assert len(asked(examples)) == 1
    assert [e.who for e in Accounts(store).trail()] == ["alice"]


def test_the_same_question_judged_twice_becomes_one_example(
    decisions, store, corpus_copy, examples
):
    first, second = judged(store, corpus_copy), judged(store, corpus_copy)
    chosen = passage_id(corpus_copy, DOSE)
    decisions.accept("alice", first, passage=chosen, gold="1.6-2.4 g/kg")
    outcome = decisions.accept("bob", second, passage=chosen, gold="1.6-2.4 g/kg")
    assert len(asked(examples)) == 1
    assert "already an example at" in outcome.message
    assert store.get(second).status == "accepted"


def test_accepting_out_of_scope_writes_to_the_out_of_scope_file(
    decisions, store, corpus_copy, examples, out_of_scope
):
    feedback_id = judged(store, corpus_copy)
    article_before = examples.read_bytes()

    decisions.accept("alice", feedback_id, out_of_scope=True)

    assert asked(out_of_scope) == [
        {"question": QUESTION, "gold": [], "by": WRITER, "feedback_id": feedback_id}
    ]
    assert examples.read_bytes() == article_before
    (entry,) = Accounts(store).trail()
    assert entry.target == f"feedback #{feedback_id}" and entry.detail.startswith("out of scope")


@pytest.mark.parametrize("also", ["passage", "gold"])
def test_out_of_scope_with_a_passage_too_is_refused_in_the_desks_words(
    decisions, store, corpus_copy, out_of_scope, examples, also
):
    """The desk showed "give either --gold … or --out-of-scope": flags it does not have."""
    feedback_id = judged(store, corpus_copy)
    before, inside = out_of_scope.read_bytes(), examples.read_bytes()
    given = {"passage": passage_id(corpus_copy, DOSE)} if also == "passage" else {"gold": "1.6"}
    with pytest.raises(FeedbackError) as refused:
        decisions.accept("alice", feedback_id, out_of_scope=True, **given)
    message = str(refused.value)
    assert "“None: the article does not cover it” takes no passage or gold phrase" in message
    assert "--" not in message
    assert out_of_scope.read_bytes() == before and examples.read_bytes() == inside
    assert store.get(feedback_id).status == "new"


def test_a_missing_judgement_can_be_answered_by_a_passage_the_editor_chose(
    decisions, store, corpus_copy, examples, out_of_scope
):
    feedback_id = judged(store, corpus_copy, verdict="missing")
    decisions.accept(
        "alice", feedback_id, passage=passage_id(corpus_copy, DOSE), gold="over 3-5 days"
    )
    assert [e["gold"] for e in asked(examples)] == [["over 3-5 days"]]
    assert asked(out_of_scope) == []


def test_a_gold_phrase_not_in_the_chosen_passage_is_refused_and_nothing_is_written(
    decisions, store, corpus_copy, examples
):
    feedback_id = judged(store, corpus_copy)
    before = examples.read_bytes()
    timeline = passage_id(corpus_copy, TIMELINE)
    with pytest.raises(FeedbackError, match="'1.6-2.4 g/kg' is not in the chosen passage"):
        decisions.accept("alice", feedback_id, passage=timeline, gold="1.6-2.4 g/kg")
    assert examples.read_bytes() == before
    assert store.get(feedback_id).status == "new"
    assert Accounts(store).trail() == []


def test_a_passage_the_article_no_longer_has_is_refused(decisions, store, corpus_copy, examples):
    feedback_id = judged(store, corpus_copy)
    before = examples.read_bytes()
    with pytest.raises(FeedbackError, match="not in the corpus any more"):
        decisions.accept("alice", feedback_id, passage="0" * 64)
    assert examples.read_bytes() == before
    assert store.get(feedback_id).status == "new"


def test_rejecting_marks_the_judgement_and_writes_no_example(
    decisions, store, corpus_copy, examples, out_of_scope
):
    feedback_id = judged(store, corpus_copy)
    before = (examples.read_bytes(), out_of_scope.read_bytes())

    outcome = decisions.reject("bob", feedback_id)

    assert outcome.message == f"Judgement #{feedback_id} rejected."
    assert store.get(feedback_id).status == "rejected"
    assert (examples.read_bytes(), out_of_scope.read_bytes()) == before
    (entry,) = Accounts(store).trail()
    assert (entry.who, entry.action, entry.target) == (
        "bob", "rejected judgement", f"feedback #{feedback_id}",
    )  # fmt: skip
    with pytest.raises(FeedbackError, match="already rejected"):
        decisions.accept("alice", feedback_id, out_of_scope=True)


def test_an_unknown_judgement_is_a_clear_error(decisions):
    with pytest.raises(FeedbackError, match="no feedback with id 404"):
        decisions.reject("alice", 404)


# --- questions an editor writes -----------------------------------------------------------------


def test_an_added_question_gets_the_passages_first_words_as_gold(
    decisions, store, corpus_copy, examples
):
    timeline = passage_id(corpus_copy, TIMELINE)
    question = "When does strength come back after the infusion?"

    outcome = decisions.add_question("alice", timeline[:10], question)

    (entry,) = asked(examples, question)
    assert entry == {
        "question": question,
        "gold": ["Response timeline: Strength improves in 3-10 days, peaks"],
        "by": EDITOR,
    }
    assert outcome.where == f"added as {examples}:{len(lines(examples))}"
    (audit,) = Accounts(store).trail()
    assert (audit.who, audit.action, audit.target) == (
        "alice",
        "added example",
        f"passage {timeline}",
    )


def test_an_added_question_keeps_a_phrase_of_the_passage_and_refuses_one_not_in_it(
    decisions, corpus_copy, examples
):
    timeline = passage_id(corpus_copy, TIMELINE)
    before = examples.read_bytes()
    with pytest.raises(FeedbackError, match="'1.6-2.4 g/kg' is not in the passage"):
        decisions.add_question("alice", timeline, FAST, gold="1.6-2.4 g/kg")
    assert examples.read_bytes() == before

    decisions.add_question("alice", timeline, FAST, gold=" peaks at 2 weeks ")
    assert [e["gold"] for e in asked(examples, FAST)] == [["peaks at 2 weeks"]]


def test_the_same_question_added_twice_is_written_once(decisions, store, corpus_copy, examples):
    timeline = passage_id(corpus_copy, TIMELINE)
    decisions.add_question("alice", timeline, FAST)
    written = examples.read_bytes()

    again = decisions.add_question(
        "bob", timeline, "  how soon after the infusion do the hands get STRONGER?  "
    )

    assert examples.read_bytes() == written
    assert "already an example at" in again.message
    assert len(asked(examples, FAST)) == 1
    # a repeat changed nothing: it is no decision of bob's ("Resolved by bob" on the desk)
    assert [e.who for e in Accounts(store).trail() if e.action == "added example"] == ["alice"]


def test_a_desk_decision_made_while_the_store_fails_is_kept_and_said_unaudited(
    corpus_copy, tmp_path, store, examples
):
    """The example was written, then the audit entry failed: the editor was told the decision
    had failed, and the trail had nothing. Inside `recording` it is made and named."""
    from assistant.desk.actions import recording
    from assistant.feedback.store import StoreUnavailable

    settings = current(corpus_dir=corpus_copy, index_dir=tmp_path / "index")
    timeline = passage_id(corpus_copy, TIMELINE)
    store.path.parent.mkdir(parents=True)
    store.path.write_bytes(b"not a database at all, a damaged file")
    desk = Decisions(settings, store)
    with recording() as unrecorded:
        desk.add_question("alice", timeline, "Does strength return within days?")
    assert asked(examples, "Does strength return within days?")
    assert len(unrecorded) == 1 and unrecorded[0].startswith("added example passage")
    with pytest.raises(StoreUnavailable):  # outside the desk's block: the store's own error
        desk.add_question("alice", timeline, "Is it back in a week?")


def test_a_question_for_an_unknown_passage_is_refused(decisions, examples):
    before = examples.read_bytes()
    with pytest.raises(FeedbackError, match="no single passage"):
        decisions.add_question("alice", "nothere1", FAST)
    with pytest.raises(FeedbackError, match="no single passage"):
        decisions.add_question("alice", "1", FAST)  # too short a prefix
    assert examples.read_bytes() == before


def test_a_question_already_out_of_scope_is_refused_naming_its_line(
    decisions, corpus_copy, examples, out_of_scope
):
    """It was reported as added ("already an example") while the file kept it out of scope."""
    (first,) = lines(out_of_scope)[:1]
    before, outside = examples.read_bytes(), out_of_scope.read_bytes()
    with pytest.raises(
        FeedbackError,
        match=rf"{out_of_scope}:1 already holds this question, "
        r"with it as out of scope; this decision would record the gold phrases",
    ):
        decisions.add_question("alice", passage_id(corpus_copy, DOSE), first["question"])
    assert examples.read_bytes() == before and out_of_scope.read_bytes() == outside


def test_another_passage_that_answers_an_example_adds_its_phrase_to_that_line(
    decisions, store, corpus_copy, examples
):
    """A clinician judged passage 2 of a home-page example question as answering too: accepted,
    the file was left as it was and the desk said done."""
    first, second = judged(store, corpus_copy), judged(store, corpus_copy)
    decisions.accept("alice", first, passage=passage_id(corpus_copy, DOSE), gold="1.6-2.4 g/kg")
    line = len(lines(examples))
    outcome = decisions.accept(
        "bob", second, passage=passage_id(corpus_copy, TIMELINE), gold="peaks at 2 weeks"
    )
    assert outcome.message.endswith(
        f"gold 'peaks at 2 weeks' added to the example at {examples}:{line}."
    )
    assert lines(examples)[line - 1]["gold"] == ["1.6-2.4 g/kg", "peaks at 2 weeks"]
    assert len(lines(examples)) == line and store.get(second).status == "accepted"


def test_append_question_appends_to_a_file_without_a_final_newline(corpus_copy, examples):
    examples.write_text(examples.read_text(encoding="utf-8").rstrip("\n"), encoding="utf-8")
    count = len(lines(examples))
    decision = append_question(
        corpus_copy, ARTICLE_ID, FAST, ("What is MMN?",), ["peaks"], by=EDITOR
    )
    assert decision.added and decision.line == count + 1
    assert lines(examples)[-1] == {
        "question": FAST, "history": ["What is MMN?"], "gold": ["peaks"],
        "by": EDITOR,
    }  # fmt: skip
    assert len(lines(examples)) == count + 1


def test_the_corpus_is_read_without_a_model_or_a_published_index(decisions, corpus_copy):
    corpus = decisions.corpus()
    assert [a.id for a in corpus.articles] == [ARTICLE_ID]
    assert passage_id(corpus_copy, DOSE) in {p.id for p in corpus.passages}
    assert corpus.examples is not None and corpus.examples.in_scope


def test_a_corpus_that_cannot_be_read_is_a_feedback_error(decisions, examples):
    with examples.open("a", encoding="utf-8") as handle:
        handle.write('{"question": "broken\n')
    with pytest.raises(FeedbackError, match="the corpus cannot be read: .*not a JSON object"):
        decisions.corpus()


def test_an_accept_whose_example_cannot_be_written_leaves_the_judgement_new(
    decisions, store, corpus_copy
):
    """The row is claimed before the file is written (so a reject meanwhile fails on the row);
    when the write fails, the claim is undone and the editor can accept it again."""
    feedback_id = judged(store, corpus_copy, verdict="answers")
    dose = passage_id(corpus_copy, DOSE)
    shutil.rmtree(corpus_copy / "examples")
    (corpus_copy / "examples").write_text("a file where the folder should be", encoding="utf-8")
    with pytest.raises(Exception):  # noqa: B017 - the corpus is unreadable: any clear error
        decisions.accept("alice", feedback_id, passage=dose)
    assert store.get(feedback_id).status == "new"
    (corpus_copy / "examples").unlink()
    decisions.accept("alice", feedback_id, passage=dose)
    assert store.get(feedback_id).status == "accepted"
    assert len(asked(corpus_copy / "examples" / f"{ARTICLE_ID}.jsonl")) == 1


def test_a_shells_change_to_the_examples_makes_no_store_and_survives_one_it_cannot_write(
    corpus_copy, tmp_path, store, examples
):
    """`examples fix`/`resolve` in a shell: audited where a store is kept, none made for it;
    a store that cannot take the entry is a warning, not a failure of a change made."""
    settings = current(corpus_dir=corpus_copy, index_dir=tmp_path / "index")
    timeline = passage_id(corpus_copy, TIMELINE)
    shell = Decisions(settings, store, audit_if_kept=True)
    shell.add_question("root (shell)", timeline, "Does strength return within days?")
    assert asked(examples, "Does strength return within days?") and not store.path.exists()

    store.path.parent.mkdir(parents=True)
    store.path.write_bytes(b"not a database at all, a damaged file")
    damaged = Decisions(settings, store, audit_if_kept=True)
    damaged.add_question("root (shell)", timeline, "How soon does strength return?")
    assert asked(examples, "How soon does strength return?")
    assert len(damaged.unaudited) == 1 and "added example" in damaged.unaudited[0]
    with pytest.raises(FeedbackError):  # the desk's own decisions need their trail
        Decisions(settings, store).add_question("alice", timeline, "Is it back in a week?")


def test_too_many_stale_examples_stop_a_build_but_not_the_desk_that_mends_them(
    decisions, corpus_copy
):
    """Removing most of the Treatment bullets leaves hundreds of examples stale: a build
    refuses to publish, and the desk must still read the corpus so an editor can drop them
    one by one (it used to say the corpus could not be read)."""
    from assistant.build import parse
    from assistant.errors import IndexStoreError

    article = corpus_copy / f"{ARTICLE_ID}.txt"
    text = article.read_text(encoding="utf-8")
    at = text.index("\nTreatment\n")  # every bullet from Treatment on goes
    tail = [line for line in text[at:].splitlines(keepends=True) if "\u2022" not in line]
    article.write_text(text[:at] + "".join(tail), encoding="utf-8")
    with pytest.raises(IndexStoreError, match="name text that no passage has any more") as said:
        parse(corpus_copy, examples=True)
    stale = decisions.corpus().examples.stale
    assert stale
    # what to do, and the keys `examples remove-stale` takes (a blind editor had to compute them)
    assert "over the 20% of its examples" in str(said.value)
    assert "move it to examples/out-of-scope.jsonl" in str(said.value)
    assert f"[{stale[0].key}]" in str(said.value)
    outcome = decisions.drop_stale("anna", stale[0].key)
    assert "removed" in outcome.message or stale[0].question in outcome.message
    assert len(decisions.corpus().examples.stale) == len(stale) - 1
    # one the article no longer covers moves out of scope, to be declined (a blind editor
    # had to move 25 by hand between two files)
    moved = decisions.drop_stale("anna", stale[1].key, out_of_scope=True)
    assert "moved out of scope" in moved.message
    outside = (corpus_copy / "examples" / "out-of-scope.jsonl").read_text(encoding="utf-8")
    line = next(x for x in outside.splitlines() if json.dumps(stale[1].question)[1:-1] in x)
    assert json.loads(line)["gold"] == []
    assert len(decisions.corpus().examples.stale) == len(stale) - 2
    again = decisions.drop_stale  # a second try finds nothing stale under that key
    with pytest.raises(FeedbackError):
        again("anna", stale[1].key, out_of_scope=True)


@pytest.mark.slow  # builds once (hash embedder, untrained) so examples can follow an edit
def test_every_example_that_followed_an_edit_is_fixed_at_once(
    decisions, corpus_copy, examples, tmp_path, hash_embedder
):
    """Correcting one dose moved dozens of examples, each a click of its own at the desk."""
    from assistant.build import build_corpus

    build_corpus(corpus_copy, hash_embedder, tmp_path / "index", train=False)
    article = corpus_copy / f"{ARTICLE_ID}.txt"
    old = "Dosing: 1.6-2.4 g/kg given intravenously over 3-5 days"
    new = "Dosing: 2 g/kg given intravenously over 2-5 days"
    article.write_text(article.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
    waiting = decisions.corpus().examples.followed
    assert len(waiting) > 2
    listed = {f.example.key: f.moves for f in waiting[1:]}  # one left out of the report
    edited = article.read_text(encoding="utf-8")
    article.write_text(edited.replace(new, new.replace("2 g/kg", "3 g/kg")), encoding="utf-8")
    with pytest.raises(FeedbackError, match="changed since the last build"):  # not as listed
        decisions.fix_all_followed("anna", listed)
    article.write_text(edited, encoding="utf-8")
    with pytest.raises(FeedbackError, match="changed since the last build"):  # never listed
        decisions.fix_followed("anna", waiting[0].example.key, None)
    done = decisions.fix_all_followed("anna", listed)
    assert len(done) == len(listed)
    assert [f.example.key for f in decisions.corpus().examples.followed] == [waiting[0].example.key]
    trail = decisions.accounts.trail(1000)
    fixed = [e for e in trail if e.action == "fixed example"]
    assert len(fixed) == len(listed) and {e.who for e in fixed} == {"anna"}
    assert (trail[0].action, trail[0].detail) == ("fixed examples", str(len(listed)))
    with pytest.raises(FeedbackError, match="no example listed here is waiting"):
        decisions.fix_all_followed("anna", listed)


def test_the_desk_lists_passages_no_example_asks_about_once():
    """An editor without a shell had no way to write the examples a new passage needs: only
    passages no probe reached had a question box. Those already listed are not listed twice."""
    from web.desk.views import change_items

    named = {"section": "MMN > IVIg Therapy", "line": 64, "text": "SCIg is an alternative"}
    report = {
        "unreachable": [{"id": "a" * 16, "text": "Hard to reach", "probes": []}],
        "unexampled": {"count": 2, "passages": [{"id": "a" * 16, **named}, {"id": "b" * 16, **named}]},
    }  # fmt: skip
    groups = {kind: items for kind, _, items in change_items(report, {})}
    assert [i.key for i in groups["unexampled"]] == ["b" * 16]
    assert groups["unexampled"][0].detail == "MMN > IVIg Therapy, line 64"
