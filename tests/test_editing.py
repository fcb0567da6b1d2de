"""Editors' commands on the example files: fix followed phrases, resolve set-aside examples."""

from __future__ import annotations

import json

import pytest

from assistant.errors import ArticleError
from assistant.ingest.corpus import load_corpus
from assistant.ingest.editing import answered, fix, still_out_of_scope
from assistant.ingest.examples import EXAMPLES_DIR, OUT_OF_SCOPE, load_examples
from assistant.ingest.lineage import trace
from tests.conftest import ARTICLE
from tests.updates import edit_article, edits, examples_naming


def _load(corpus, lineage=None):
    articles = load_corpus(corpus)
    passages = [p for a in articles for p in a.passages]
    former = [lineage.former.get(p.id, ()) for p in passages] if lineage else None
    examples = load_examples(
        corpus, articles, [p.text for p in passages], [p.article_id for p in passages], former
    )
    return examples, passages


def test_fix_rewrites_only_the_followed_phrases_and_the_next_read_finds_them(corpus_copy):
    path = corpus_copy / EXAMPLES_DIR / f"{ARTICLE.stem}.jsonl"
    before = path.read_text(encoding="utf-8").splitlines()
    _, old = _load(corpus_copy)
    edit_article(corpus_copy, edits()[0])  # the dose is corrected
    _, new = _load(corpus_copy)
    lineage = trace(old, new)
    examples, _ = _load(corpus_copy, lineage)
    about_dose = examples_naming(corpus_copy, "1.6-2.4 g/kg")
    done = fix(examples.followed)
    assert len(done) == about_dose > 20
    after = path.read_text(encoding="utf-8").splitlines()
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert len(changed) == about_dose
    for i in changed:
        old_item, new_item = json.loads(before[i]), json.loads(after[i])
        assert {k: v for k, v in old_item.items() if k != "gold"} == {
            k: v for k, v in new_item.items() if k != "gold"
        }
        assert any("2 g/kg" in g and "1.6" not in g for g in new_item["gold"])
    again, _ = _load(corpus_copy)  # no lineage needed any more: the phrases are as written
    assert not again.stale and not again.followed


def _out_of_scope(examples, question):
    return next(e for e in examples.out_of_scope if e.question == question)


def test_an_answered_example_moves_into_the_article_once(corpus_copy):
    edit_article(corpus_copy, edits()[0])
    edit_article(corpus_copy, edits()[1])
    examples, passages = _load(corpus_copy)
    scig = next(p for p in passages if p.text.startswith("Subcutaneous immunoglobulin"))
    question = "Can subcutaneous immunoglobulin be given at home instead of the drip?"
    example = _out_of_scope(examples, question)
    with pytest.raises(ArticleError, match="is not in the passage"):
        answered(example, scig, corpus_copy, "a phrase the passage lacks")
    with pytest.raises(ArticleError, match="is not in the passage"):  # a cut word: the build
        answered(example, scig, corpus_copy, "Subcutaneous immunoglob")  # would not find it
    answered(example, scig, corpus_copy, "self-administered weekly at home")
    answered(example, scig, corpus_copy, "self-administered weekly at home")  # twice: once
    examples, _ = _load(corpus_copy)
    assert not any(e.question == question for e in examples.out_of_scope)
    moved = [e for e in examples.in_scope if e.question == question]
    assert len(moved) == 1 and moved[0].answers == (passages.index(scig),)


def test_still_out_of_scope_records_the_passage_it_was_checked_against(corpus_copy):
    edit_article(corpus_copy, edits()[1])
    examples, passages = _load(corpus_copy)
    newer = next(p for p in passages if "eculizumab" in p.text)
    example = _out_of_scope(examples, "eculizumab in MMN?")
    still_out_of_scope(example, newer)
    still_out_of_scope(example, newer)
    examples, _ = _load(corpus_copy)
    again = _out_of_scope(examples, "eculizumab in MMN?")
    assert again.not_answered_by == (newer.id,)
    lines = (corpus_copy / EXAMPLES_DIR / f"{OUT_OF_SCOPE}.jsonl").read_text().splitlines()
    assert sum('"not_answered_by"' in line for line in lines) == 1


@pytest.mark.parametrize("raw", [False, True], ids=["escaped", "raw"])
def test_a_line_separator_inside_a_question_stays_inside_its_line(corpus_copy, raw):
    """Raw, JSON allows it too: the reader kept it as text, but the rewrite split the line there
    and the next build refused the file."""
    path = corpus_copy / EXAMPLES_DIR / f"{OUT_OF_SCOPE}.jsonl"
    odd = json.dumps({"question": "dose\u2028for GBS?", "gold": []}, ensure_ascii=not raw)
    path.write_text(path.read_text(encoding="utf-8") + odd + "\n" + odd + "\n", encoding="utf-8")
    examples, passages = _load(corpus_copy)
    example = next(e for e in examples.out_of_scope if "\u2028" in e.question)
    still_out_of_scope(example, passages[0])
    again, _ = _load(corpus_copy)  # reads back: no line was split
    copies = [e for e in again.out_of_scope if "\u2028" in e.question]
    assert len(copies) == 2  # both copies (one key) are marked, so neither is set aside again
    assert all(e.not_answered_by == (passages[0].id,) for e in copies)


def test_a_rewrite_keeps_the_files_permissions_byte_order_mark_and_line_endings(corpus_copy):
    """A group-writable file shared by an editor and the desk's server stayed 0644 after a
    rewrite, and a file saved on Windows showed every line changed in a diff."""
    path = corpus_copy / EXAMPLES_DIR / f"{OUT_OF_SCOPE}.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_bytes(b"\xef\xbb\xbf" + "".join(f"{line}\r\n" for line in lines).encode())
    path.chmod(0o664)
    examples, passages = _load(corpus_copy)
    still_out_of_scope(examples.out_of_scope[0], passages[0])
    raw = path.read_bytes()
    assert path.stat().st_mode & 0o777 == 0o664
    assert raw.startswith(b"\xef\xbb\xbf") and raw.count(b"\r\n") == len(lines)
    assert raw.count(b"\n") == len(lines)  # no bare line end crept in
    after = raw.decode("utf-8-sig").split("\r\n")[:-1]
    assert [i for i, (a, b) in enumerate(zip(lines, after, strict=True)) if a != b] == [0]
