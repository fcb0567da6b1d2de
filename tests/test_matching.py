"""Terms found in a question as one alternation finds them; slips measured as edits."""

import json
import re

import pytest

from assistant.ingest.corpus import load_article
from assistant.ingest.matching import edit_distance, term_pattern
from assistant.ingest.vocabulary import Vocabulary, load_synonyms
from tests.conftest import ARTICLE, CORPUS, ROOT


def alternation(terms):
    """The pattern the trie replaced: every term, longest first."""
    ordered = sorted(terms, key=len, reverse=True)
    return re.compile(
        r"(?<![\w-])(" + "|".join(re.escape(t) for t in ordered) + r")(?![\w-])", re.IGNORECASE
    )


def found(pattern, text):
    return [(m.start(), m.group(1)) for m in pattern.finditer(text)]


@pytest.fixture(scope="module")
def terms():
    vocabulary = Vocabulary.of_corpus([load_article(ARTICLE)], load_synonyms(CORPUS))
    return list(vocabulary._expansions)


def questions():
    for name in ("dev.jsonl", "test.jsonl", "voices.jsonl"):
        for line in (ROOT / "tests" / "gold" / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                yield json.loads(line)["question"]


def test_the_trie_finds_what_the_alternation_finds_in_every_gold_question(terms):
    trie, plain = term_pattern(terms), alternation(terms)
    asked = list(questions())
    assert len(asked) > 500
    hits = 0
    for question in asked:
        for text in (question, question.upper()):
            assert found(trie, text) == found(plain, text), text
            hits += bool(found(trie, text))
    assert hits > 200  # the questions do use the glossary


def test_the_trie_finds_each_term_alone_and_in_a_sentence_as_the_alternation_does(terms):
    trie, plain = term_pattern(terms), alternation(terms)
    for term in terms:
        for text in (term, f"Is {term} used?", f"{term}-like", f"pre{term}", f"({term}s)"):
            assert found(trie, text) == found(plain, text), text


@pytest.mark.parametrize(
    ("terms", "text", "expected"),
    [
        (["ivig", "ivig dose"], "the IVIg dose given", ["IVIg dose"]),
        (["ivig", "ivig dose"], "the IVIg dosed", ["IVIg"]),
        (["car-t", "car"], "CAR-T cells, a car", ["CAR-T", "car"]),
        (["a.b", "ab"], "aXb a.b", ["a.b"]),
    ],
)
def test_the_longest_whole_word_term_wins(terms, text, expected):
    assert [m for _, m in found(term_pattern(terms), text)] == expected


def test_no_terms_no_pattern():
    assert term_pattern([]) is None


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [("onest", "onset", 1), ("sumnar", "sumner", 1), ("kitten", "sitting", 3), ("ab", "ab", 0)],
)
def test_edit_distance_counts_a_swap_of_neighbours_as_one_edit(a, b, distance):
    assert edit_distance(a, b) == distance
