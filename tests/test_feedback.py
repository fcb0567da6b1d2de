"""The feedback store and the editors' review: SQLite with migrations, judgements that become
example questions exactly once, statistics per index version, purging, damaged files.

No model, server or browser: the web side is in test_web.py and test_browser.py."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from assistant.feedback import FeedbackError, FeedbackStore, Judgement, accept, reject
from assistant.feedback.formkey import secret_for
from assistant.feedback.store import MIGRATIONS
from assistant.ingest.corpus import load_article
from assistant.ingest.examples import read_examples
from tests.conftest import ARTICLE, CORPUS

ARTICLE_ID = ARTICLE.stem
DOSE = "Dosing: 1.6-2.4 g/kg"


@pytest.fixture
def store(tmp_path: Path) -> FeedbackStore:
    return FeedbackStore(tmp_path / "data" / "feedback.sqlite3")


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """The real article with example files of two lines each (kept small to read)."""
    folder = tmp_path / "corpus"
    (folder / "examples").mkdir(parents=True)
    shutil.copy(ARTICLE, folder)
    for name in (f"{ARTICLE_ID}.jsonl", "out-of-scope.jsonl"):
        lines = (CORPUS / "examples" / name).read_text(encoding="utf-8").splitlines()[:2]
        (folder / "examples" / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def passage(starting: str):
    return next(p for p in load_article(ARTICLE).passages if p.text.startswith(starting))


def judged(verdict: str = "answers", *, rank: int | None = 1, text: str = DOSE, **changes):
    base = Judgement(
        article=ARTICLE_ID,
        index_version="v1",
        question="What IVIg dose is used?",
        history=(),
        passage=None if verdict == "missing" else passage(text).id,
        rank=None if verdict == "missing" else rank,
        verdict=verdict,  # type: ignore[arg-type]
    )
    return dataclasses.replace(base, **changes)


def lines_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# --- the store ----------------------------------------------------------------------------------


def test_a_new_store_is_created_in_wal_mode_at_the_latest_schema(store):
    assert store.rows() == []
    assert store.schema_version() == len(MIGRATIONS)
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_judgement_is_kept_with_everything_an_editor_needs(store):
    feedback_id = store.add(judged(history=("What is MMN?",)))
    (row,) = store.rows()
    assert row.id == feedback_id
    assert (row.article, row.index_version, row.question, row.history) == (
        ARTICLE_ID, "v1", "What IVIg dose is used?", ("What is MMN?",)
    )  # fmt: skip
    assert (row.passage, row.rank, row.verdict, row.status) == (
        passage(DOSE).id,
        1,
        "answers",
        "new",
    )
    assert datetime.fromisoformat(row.created_at) <= datetime.now(UTC)
    assert store.rows("new") == [row] and store.rows("accepted") == []


def test_a_store_from_a_newer_release_is_refused_with_what_to_do(store):
    store.add(judged())
    with sqlite3.connect(store.path) as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(
        FeedbackError, match=rf"newer than this release knows \({len(MIGRATIONS)}\); upgrade"
    ):
        store.rows()


def test_a_store_of_an_older_schema_is_migrated_on_open_and_keeps_its_rows(store):
    store.path.parent.mkdir(parents=True)
    with sqlite3.connect(store.path) as db:  # a store as the first release wrote it
        for statement in MIGRATIONS[0]:
            db.execute(statement)
        db.execute("PRAGMA user_version = 1")
        db.execute(
            "INSERT INTO feedback (created_at, article, index_version, question, history, "
            "passage, rank, verdict) VALUES ('2026-12-01T10:00:00+00:00', ?, 'v0', 'Old?', "
            "'[]', NULL, NULL, 'missing')",
            (ARTICLE_ID,),
        )
    (old,) = store.rows()
    assert (old.question, old.searched, old.status) == ("Old?", "", "new")
    assert store.schema_version() == len(MIGRATIONS) == 4
    store.add(judged(searched=ARTICLE_ID))
    assert store.rows()[-1].searched == ARTICLE_ID


def test_a_clients_same_judgement_is_stored_once_and_others_are_not_merged(store):
    """A reviewer's 20 clicks of one button stored 20 rows, 20 votes in `feedback stats`."""
    first = store.add(judged("missing", client="a"))
    assert store.add(judged("missing", client="a")) == first
    assert len(store.rows()) == 1
    others = [
        judged("missing", client="b"),  # another clinician agrees: a vote of their own
        judged("answers", client="a"),  # the same browser, another verdict
        judged("missing", client="a", history=("Is it MMN?",)),  # another conversation
        judged("missing", client="a", index_version="v2"),  # another version's answer
        judged("missing"),  # the CLI names no client: never merged
        judged("missing"),
    ]
    assert len({store.add(j) for j in others} | {first}) == 7
    assert [r.client for r in store.rows()] == ["a", "b", "a", "a", "a", "", ""]


def test_a_damaged_file_is_a_feedback_error_not_a_crash(store):
    store.path.parent.mkdir(parents=True)
    store.path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(FeedbackError, match=str(store.path)):
        store.add(judged())


def test_a_store_locked_by_another_writer_is_a_feedback_error_after_a_bounded_wait(store):
    store.add(judged())
    with sqlite3.connect(store.path, isolation_level=None) as other:
        other.execute("BEGIN EXCLUSIVE")
        with pytest.raises(FeedbackError, match="locked"):
            store.add(judged())
        other.execute("ROLLBACK")
    assert len(store.rows()) == 1


@pytest.mark.parametrize(
    ("in_the_way", "a_folder", "says"),
    [
        ("data", False, "{tmp}/data is a file, not a folder; move it away"),
        ("data/feedback", False, "{tmp}/data/feedback is a file, not a folder; move it away"),
        (
            "data/feedback/feedback.sqlite3",
            True,
            "feedback.sqlite3: Is a directory; check the file",
        ),
    ],
    ids=["file-above-its-folder", "file-for-its-folder", "folder-for-its-file"],
)
def test_a_read_only_folder_is_a_feedback_error(tmp_path, in_the_way, a_folder, says):
    """A folder the store cannot write its file into is a FeedbackError naming the store and
    what to fix. Not made with chmod: root, as CI runs the tests, writes through permissions;
    a file where a folder must be (or a folder where the file must be) stops root too."""
    path = tmp_path / "data" / "feedback" / "feedback.sqlite3"
    blocker = tmp_path / in_the_way
    blocker.parent.mkdir(parents=True, exist_ok=True)
    if a_folder:
        blocker.mkdir()
    else:
        blocker.write_text("not a folder\n")
    store = FeedbackStore(path)
    for attempt in (lambda: store.add(judged()), store.rows):  # writing and reading alike
        with pytest.raises(FeedbackError) as caught:
            attempt()
        assert str(caught.value).startswith(f"{path}: ")
        assert says.format(tmp=tmp_path) in str(caught.value)


def test_purge_deletes_old_rows_only(store):
    now = datetime.now(UTC)
    store.add(judged(), now=now - timedelta(days=40))
    kept = store.add(judged("not"), now=now - timedelta(days=5))
    assert store.purge(30, now=now) == 1
    assert [r.id for r in store.rows()] == [kept]


def test_stats_are_per_index_version_as_clinicians_judged(store):
    store.add(judged(rank=1))  # q1: answered at rank 1
    store.add(judged(rank=2, question="How is MMN treated?"))  # q2: answered at rank 2
    store.add(judged("not", rank=1, question="How is MMN treated?"))
    store.add(judged("not", rank=1, question="Is it genetic?"))  # q3: not answered
    store.add(judged("missing", question="Is IVIg safe in pregnancy?"))  # q4: declined, and
    # the clinician says the article should answer it: judged, and not answered
    store.add(judged(index_version="v2"))
    store.add(judged("not", rank=1, index_version="v2", searched=ARTICLE_ID))  # another search
    v1, v2 = store.stats()
    assert (v1.index_version, v1.judgements, v1.questions) == ("v1", 5, 4)
    assert (v1.answered_at_1, v1.answered_in_top_3) == (0.25, 0.5)
    assert (v1.not_this, v1.missing) == (2, 1)
    assert (v2.index_version, v2.judgements, v2.questions, v2.answered_at_1) == ("v2", 2, 2, 0.5)


def test_the_store_and_its_journal_are_readable_by_their_owner_only(tmp_path, store):
    """Questions may name patients, and the desk keeps password hashes and sessions here: the
    file was 0644, readable by every account on the machine."""
    old = tmp_path / "old.sqlite3"
    old.touch(mode=0o644)
    old.chmod(0o644)  # as an earlier release left it
    for each in (store, FeedbackStore(old)):
        each.add(judged())
        with each.connect() as db:  # an open connection keeps the WAL files in place
            db.execute("SELECT count(*) FROM feedback").fetchone()
            files = [each.path, *each.path.parent.glob(each.path.name + "-*")]
            assert len(files) == 3  # the database, -wal and -shm
            assert {f.stat().st_mode & 0o777 for f in files} == {0o600}, files


def test_the_form_key_is_made_once_private_and_shared(tmp_path):
    path = tmp_path / "data" / "feedback.sqlite3"
    key = secret_for(path)
    assert len(key) == 32 and secret_for(path) == key
    stored = path.with_name(path.name + ".secret")
    assert stored.stat().st_mode & 0o777 == 0o600


# --- editors' review ----------------------------------------------------------------------------


def test_accepting_answers_adds_the_question_with_a_phrase_of_that_passage(store, corpus):
    feedback_id = store.add(judged(history=("What is MMN?",)))
    decision = accept(store, corpus, feedback_id)
    path = corpus / "examples" / f"{ARTICLE_ID}.jsonl"
    assert decision.path == path and decision.added and decision.line == 3
    last = lines_of(path)[-1]
    assert last["question"] == "What IVIg dose is used?"
    assert last["history"] == ["What is MMN?"]
    assert last["gold"] == [passage(DOSE).text] and last["feedback_id"] == feedback_id
    example = read_examples(path, ARTICLE_ID)[-1]  # the build reads it like any other
    assert example.gold == (passage(DOSE).text,)
    assert store.get(feedback_id).status == "accepted"
    assert "added as" in (store.get(feedback_id).note or "")


def test_accepting_the_same_question_twice_never_duplicates_it(store, corpus):
    first = store.add(judged())
    second = store.add(judged(question="  what ivig DOSE is used? "))  # same, spaced and cased
    accept(store, corpus, first)
    decision = accept(store, corpus, second)
    assert not decision.added
    path = corpus / "examples" / f"{ARTICLE_ID}.jsonl"
    assert (
        sum(
            line["question"].lower().strip() == "what ivig dose is used?" for line in lines_of(path)
        )
        == 1
    )
    assert "already an example" in (store.get(second).note or "")


def test_a_question_already_out_of_scope_is_not_added_to_the_article_too(store, corpus):
    """Refused, the judgement left to decide: reported as done, the decision was not written."""
    first = store.add(judged("missing", question="Does IVIg thin the blood?"))
    second = store.add(judged("not", question="Does IVIg thin the blood?"))
    accept(store, corpus, first)
    with pytest.raises(FeedbackError, match="out-of-scope.jsonl:.* already holds this question"):
        accept(store, corpus, second, gold="1.6-2.4 g/kg")
    assert store.get(second).status == "new"
    assert (
        "Does IVIg thin the blood?" not in (corpus / "examples" / f"{ARTICLE_ID}.jsonl").read_text()
    )


def test_a_gold_phrase_must_come_from_the_judged_passage(store, corpus):
    feedback_id = store.add(judged())
    with pytest.raises(FeedbackError, match="not in the judged passage"):
        accept(store, corpus, feedback_id, gold="Sensory nerve conduction studies")
    with pytest.raises(FeedbackError, match="no passage of"):
        accept(store, corpus, feedback_id, gold="a phrase nobody wrote")
    accept(store, corpus, feedback_id, gold="1.6-2.4 G/KG")  # case aside, verbatim
    assert lines_of(corpus / "examples" / f"{ARTICLE_ID}.jsonl")[-1]["gold"] == ["1.6-2.4 G/KG"]


def test_a_gold_phrase_is_checked_in_whole_words_as_the_build_reads_it(store, corpus):
    """A cut word would be written and then left out of training as stale; spacing the build
    ignores must not be refused."""
    feedback_id = store.add(judged())
    with pytest.raises(FeedbackError, match=r"whole words \(it is inside '1.6-2.4 g/kg'\)"):
        accept(store, corpus, feedback_id, gold="1.6-2.4 g/k")
    assert store.get(feedback_id).status == "new"
    accept(store, corpus, feedback_id, gold="1.6-2.4  g/kg")
    assert lines_of(corpus / "examples" / f"{ARTICLE_ID}.jsonl")[-1]["gold"] == ["1.6-2.4  g/kg"]


def test_not_this_needs_the_passage_that_does_answer_or_out_of_scope(store, corpus):
    wrong = store.add(judged("not", text="Sensory nerve conduction"))
    with pytest.raises(FeedbackError, match="give --gold PHRASE naming the passage that does"):
        accept(store, corpus, wrong)
    accept(store, corpus, wrong, gold="1.6-2.4 g/kg")
    assert lines_of(corpus / "examples" / f"{ARTICLE_ID}.jsonl")[-1]["gold"] == ["1.6-2.4 g/kg"]

    other = store.add(judged("not", question="Does IVIg thin the blood?"))
    accept(store, corpus, other, out_of_scope=True)
    last = lines_of(corpus / "examples" / "out-of-scope.jsonl")[-1]
    assert (last["question"], last["gold"]) == ("Does IVIg thin the blood?", [])


def test_missing_goes_to_the_out_of_scope_file(store, corpus):
    feedback_id = store.add(judged("missing", question="Is IVIg safe in pregnancy?"))
    decision = accept(store, corpus, feedback_id)
    assert decision.path == corpus / "examples" / "out-of-scope.jsonl"
    assert read_examples(decision.path, None)[-1].question == "Is IVIg safe in pregnancy?"


def test_a_decided_row_cannot_be_decided_again(store, corpus):
    feedback_id = store.add(judged())
    reject(store, feedback_id)
    assert store.get(feedback_id).status == "rejected"
    with pytest.raises(FeedbackError, match="already rejected"):
        accept(store, corpus, feedback_id)
    with pytest.raises(FeedbackError, match="no feedback with id 99"):
        reject(store, 99)


def test_an_append_leaves_the_rest_of_the_file_byte_for_byte(store, corpus):
    path = corpus / "examples" / f"{ARTICLE_ID}.jsonl"
    path.write_bytes(path.read_bytes().rstrip(b"\n"))  # an editor's file without a final newline
    before = path.read_bytes()
    accept(store, corpus, store.add(judged()))
    after = path.read_bytes()
    assert after.startswith(before + b"\n") and after.endswith(b"\n")
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".") and p.name != ".lock"]
