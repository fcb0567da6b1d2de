"""Example questions: the files editors keep beside the articles, and what the build does
with examples an edit left behind."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from assistant.build import build_corpus, parse
from assistant.errors import ArticleError, IndexStoreError
from assistant.ingest.corpus import load_corpus
from assistant.ingest.examples import (
    DROPPED,
    EXAMPLES_DIR,
    OUT_OF_SCOPE,
    load_examples,
    normalise,
)
from assistant.settings import TrainingSettings
from assistant.store.directory import published_version
from tests.conftest import ARTICLE, CORPUS, ROOT

QUICK = TrainingSettings(steps=20, folds=2)
ARTICLE_ID = ARTICLE.stem


def _examples(corpus: Path):
    articles = load_corpus(corpus)
    passages = [p for a in articles for p in a.passages]
    return load_examples(
        corpus, articles, [p.text for p in passages], [p.article_id for p in passages]
    )


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def test_the_article_has_the_examples_the_issue_asks_for_and_none_is_stale():
    examples = _examples(CORPUS)
    mine = [e for e in examples.in_scope if e.article_id == ARTICLE_ID]
    assert len(mine) >= 600
    assert sum(bool(e.history) for e in mine) >= 120
    assert len(examples.out_of_scope) >= 250
    assert examples.stale == ()
    assert all(e.answers for e in mine)


def test_no_example_is_a_question_of_the_blind_test_sets():
    test = {
        normalise(json.loads(line)["question"])
        for name in ("test.jsonl", "voices.jsonl")
        for line in (ROOT / "tests" / "gold" / name).open()
    }
    for path in sorted((CORPUS / EXAMPLES_DIR).glob("*.jsonl")):
        for number, item in enumerate(_lines(path), start=1):
            assert normalise(item["question"]) not in test, f"{path.name}:{number}"


@pytest.mark.parametrize(
    ("name", "line", "message"),
    [
        (ARTICLE_ID, '{"question": "x", "gold": ["a"]}\n{"question": ', "not a JSON object"),
        (ARTICLE_ID, '{"question": "", "gold": ["a"]}', '"question" must be'),
        (ARTICLE_ID, '{"question": "dose?", "gold": []}', 'needs "gold" phrases'),
        (ARTICLE_ID, '{"question": "dose?", "history": "x", "gold": ["a"]}', '"history" must be'),
        (OUT_OF_SCOPE, '{"question": "dose?", "gold": ["IVIg"]}', "out-of-scope example has"),
        (ARTICLE_ID, '{"question": "dose?", "gold": ["Dosing", "."]}', "has no letter or digit"),
        # a blank earlier question was dropped, and the follow-up trained as asked alone
        (
            ARTICLE_ID,
            '{"question": "and for kids?", "history": [" "], "gold": ["Dosing"]}',
            "history\\[0\\] is empty",
        ),
        (ARTICLE_ID, json.dumps({"question": "dose? " * 1000, "gold": ["Dosing"]}), "the limit is"),
        (
            ARTICLE_ID,
            '{"question": "and for kids?", "histroy": ["IVIg dose?"], "gold": ["Dosing"]}',
            'unknown field "histroy": did you mean "history"',
        ),
    ],
)
def test_a_malformed_example_names_its_file_and_line(corpus_copy, name, line, message):
    path = corpus_copy / EXAMPLES_DIR / f"{name}.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(ArticleError, match=message) as caught:
        _examples(corpus_copy)
    expected_line = line.count("\n") + 1
    assert str(caught.value).startswith(f"{path}:{expected_line}:")


def test_an_examples_file_not_in_utf8_names_the_line_of_its_first_bad_byte(corpus_copy):
    path = corpus_copy / EXAMPLES_DIR / f"{ARTICLE_ID}.jsonl"
    lines = [
        '{"question": "IVIg dose?", "gold": ["Dosing"]}',
        '{"question": "caf\u00e9?", "gold": ["x"]}',
    ]
    path.write_bytes("\n".join(lines).encode("latin-1"))
    with pytest.raises(ArticleError, match="not UTF-8") as caught:
        _examples(corpus_copy)
    assert str(caught.value).startswith(f"{path}:2:")


def test_an_editors_own_notes_beside_an_example_are_kept_out_of_the_way(corpus_copy):
    path = corpus_copy / EXAMPLES_DIR / f"{ARTICLE_ID}.jsonl"
    note = {"question": "IVIg dose?", "gold": ["Dosing"], "tags": ["dose"], "id": "x-1"}
    path.write_text(json.dumps(note) + "\n", encoding="utf-8")
    (example,) = [e for e in _examples(corpus_copy).usable if e.article_id == ARTICLE_ID]
    assert example.question == "IVIg dose?"


def test_examples_of_an_article_that_is_not_there_are_refused(corpus_copy):
    (corpus_copy / EXAMPLES_DIR / "what-is-a-heart.jsonl").write_text(
        '{"question": "q", "gold": ["x"]}\n'
    )
    with pytest.raises(ArticleError, match="no article has the id 'what-is-a-heart'"):
        _examples(corpus_copy)


def test_a_question_both_answered_and_out_of_scope_is_refused_naming_both_lines(corpus_copy):
    """Edited by hand, the two files could teach the ranker to answer a question and to decline
    it at once; a repeat with the same answer, or another phrase of it, is no contradiction."""
    article = corpus_copy / EXAMPLES_DIR / f"{ARTICLE_ID}.jsonl"
    outside = corpus_copy / EXAMPLES_DIR / f"{OUT_OF_SCOPE}.jsonl"
    with article.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"question": "IVIg dose at 70 kg?", "gold": ["Dosing"]}) + "\n")
        handle.write(
            json.dumps({"question": "ivig  DOSE at 70 KG?", "gold": ["1.6-2.4 g/kg"]}) + "\n"
        )
    _examples(corpus_copy)
    answered_at = len(article.read_text(encoding="utf-8").splitlines()) - 1
    with outside.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"question": "IVIg dose at 70 kg?", "gold": []}) + "\n")
    declined_at = len(outside.read_text(encoding="utf-8").splitlines())
    with pytest.raises(ArticleError) as refused:
        _examples(corpus_copy)
    message = str(refused.value)
    assert message.startswith(
        f"{outside}:{declined_at}: 'IVIg dose at 70 kg?' is out of scope here"
    )
    assert f"{article}:{answered_at}; keep it in one of the two files" in message


def test_an_edit_that_removes_a_gold_phrase_lists_its_examples_and_leaves_them_out(corpus_copy):
    article = corpus_copy / ARTICLE.name
    old, new = "Rituximab efficacy is not established in MMN", "Rituximab is unproven in MMN"
    article.write_text(article.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
    path = corpus_copy / EXAMPLES_DIR / f"{ARTICLE_ID}.jsonl"

    def dead(gold: str) -> bool:
        return gold.lower() in old.lower() and gold.lower() not in new.lower()

    items = list(enumerate(_lines(path), start=1))
    expected = [number for number, item in items if all(dead(g) for g in item["gold"])]
    partly = [number for number, item in items if not all(dead(g) for g in item["gold"])
              and any(dead(g) for g in item["gold"])]  # fmt: skip
    assert expected and partly
    examples = _examples(corpus_copy)
    assert sorted(e.line for e in examples.stale) == expected
    assert all(e.source == str(path) for e in examples.stale)
    assert not any(e.line in expected for e in examples.usable if e.article_id)
    # an example that also names a passage still there keeps it, and is listed to be fixed
    listed = {f.example.line: f.moves for f in examples.followed}
    assert all(any(to == DROPPED for _, to in listed[number]) for number in partly)


@pytest.mark.slow  # trains the ranker once (with the hash embedder)
def test_too_many_stale_examples_fail_the_build_and_the_published_index_keeps_serving(
    corpus_copy, tmp_path, hash_embedder
):
    index_dir = tmp_path / "index"
    build_corpus(corpus_copy, hash_embedder, index_dir, training=QUICK)
    before = published_version(index_dir)
    path = corpus_copy / EXAMPLES_DIR / f"{ARTICLE_ID}.jsonl"
    items = _lines(path)
    broken = len(items) // 4 + 1  # over 20%
    for item in items[:broken]:
        item["gold"] = ["a phrase the article never had"]
    path.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    with pytest.raises(IndexStoreError) as caught:
        build_corpus(corpus_copy, hash_embedder, index_dir, training=QUICK)
    message = str(caught.value)
    assert f"{broken} example questions of {ARTICLE_ID}" in message
    assert f"{path}:1 [" in message and f"{path}:{broken} [" in message  # with its key
    assert "The published index was not changed" in message
    assert published_version(index_dir) == before


@pytest.mark.slow  # trains the ranker once (with the hash embedder)
def test_examples_the_published_version_was_trained_on_cannot_vanish_from_a_build(
    corpus_copy, tmp_path, hash_embedder
):
    """An emptied or deleted examples file (or a folder the build cannot read) would publish a
    ranker that no longer declines: the build stops with the file, and the index keeps serving."""
    index_dir = tmp_path / "index"
    build_corpus(corpus_copy, hash_embedder, index_dir, training=QUICK)
    before = published_version(index_dir)
    out_of_scope = corpus_copy / EXAMPLES_DIR / "out-of-scope.jsonl"
    count = len(_lines(out_of_scope))
    out_of_scope.write_text("", encoding="utf-8")
    with pytest.raises(IndexStoreError) as caught:
        build_corpus(corpus_copy, hash_embedder, index_dir, training=QUICK)
    assert f"{out_of_scope}: the published version was trained on {count}" in str(caught.value)
    assert "The published index was not changed" in str(caught.value)
    (corpus_copy / EXAMPLES_DIR / f"{ARTICLE_ID}.jsonl").unlink()
    with pytest.raises(IndexStoreError, match=f"{ARTICLE_ID}.jsonl: the published version"):
        build_corpus(corpus_copy, hash_embedder, index_dir, training=QUICK)
    assert published_version(index_dir) == before
    build_corpus(corpus_copy, hash_embedder, index_dir, train=False)  # said on purpose: served
    assert published_version(index_dir) != before


OUT = "out-of-scope"


@pytest.mark.slow  # trains the ranker twice (with the hash embedder)
def test_an_examples_file_dropped_on_purpose_is_named_and_the_rest_still_train(
    corpus_copy, tmp_path, hash_embedder
):
    """An editor who retires an article's examples (the article stays) had only `--no-train`,
    which drops every article's and the out-of-scope ones too. `dropped` names the file; a
    name that is a slip, or a file that still holds examples, stops the build instead."""
    index_dir = tmp_path / "index"
    build_corpus(corpus_copy, hash_embedder, index_dir, training=QUICK)
    before = published_version(index_dir)
    path = corpus_copy / EXAMPLES_DIR / f"{ARTICLE_ID}.jsonl"
    with pytest.raises(IndexStoreError, match=f"still holds {len(_lines(path))} example"):
        build_corpus(corpus_copy, hash_embedder, index_dir, training=QUICK, dropped=[ARTICLE_ID])
    path.unlink()
    with pytest.raises(IndexStoreError, match="teaches the ranker to say an article does not"):
        build_corpus(  # without them nothing is declined: never dropped by a build option
            corpus_copy, hash_embedder, index_dir, training=QUICK, dropped=[ARTICLE_ID, OUT]
        )
    with pytest.raises(IndexStoreError) as caught:
        build_corpus(corpus_copy, hash_embedder, index_dir, training=QUICK, dropped=["mmn"])
    assert "--drop-examples mmn: the published version was trained on no examples" in str(
        caught.value
    )
    assert f"Files whose examples are gone: {ARTICLE_ID}." in str(caught.value)
    assert published_version(index_dir) == before
    loaded = build_corpus(
        corpus_copy, hash_embedder, index_dir, training=QUICK, dropped=[ARTICLE_ID]
    )
    assert published_version(index_dir) != before
    trained = loaded.manifest.training["examples"]
    assert ARTICLE_ID not in trained and trained["out-of-scope"] > 0  # the rest still train


@pytest.mark.parametrize("broken", ["folder is a file", "file is a folder", "dangling link"])
def test_an_examples_folder_or_file_the_build_cannot_read_is_named(corpus_copy, broken):
    folder = corpus_copy / EXAMPLES_DIR
    target = folder / "out-of-scope.jsonl"
    if broken == "folder is a file":
        shutil.rmtree(folder)
        folder.write_text("", encoding="utf-8")
        target = folder
    else:
        target.unlink()
        if broken == "file is a folder":
            target.mkdir()
        else:
            target.symlink_to(corpus_copy / "no-such-file.jsonl")
    with pytest.raises(ArticleError) as caught:
        parse(corpus_copy, examples=True)
    assert caught.value.path == str(target) and "cannot read the examples" in str(caught.value)


def test_a_phrase_an_edit_left_few_words_of_is_proposed_as_the_whole_statement():
    """After a blind editor's heavy rewording, `examples fix` rewrote 28 gold phrases from
    "does not prevent slowly progressive axonal degeneration" to "does not stop", which no
    longer names the claim; a corrected dose still gives the dose as it reads now."""
    from assistant.ingest.examples import Written, proposed

    old = "Long-term IVIg maintenance does not prevent slowly progressive axonal degeneration"
    new = "Even with maintenance infusions, axons are lost slowly; therapy does not stop this"
    assert proposed("does not prevent slowly progressive axonal degeneration", Written(0, new, (old,))) == new  # fmt: skip
    dose = Written(0, "Dosing: 2 g/kg over 2-5 days", ("Dosing: 1.6-2.4 g/kg over 3-5 days",))
    assert proposed("1.6-2.4 g/kg", dose) == "2 g/kg"
    assert proposed("1.6-2.4 g/kg over 3-5 days", dose) == "2 g/kg over 2-5 days"
    share = Written(0, "Anti-GM1 is found in 40-70%", ("Anti-GM1 is found in 50-80%",))
    assert proposed("50-80%", share) == "40-70%"  # a number alone (a second read's)
    turned = Written(0, "Rituximab is recommended", ("Rituximab is not recommended",))
    assert proposed("is not recommended", turned) == "Rituximab is recommended"  # "not" gone
