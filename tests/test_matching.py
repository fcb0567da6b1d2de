"""Terms found in a question as one alternation finds them; slips measured as edits."""

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.ingest.corpus import load_article
from assistant.ingest.glossary import load_synonyms
from assistant.ingest.matching import (
    Spellings,
    closest_word,
    edit_distance,
    term_pattern,
    unhyphenated,
)
from assistant.ingest.vocabulary import Vocabulary
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


def test_spellings_find_what_a_search_of_every_known_word_finds():
    """Compared by length only where a slip could reach: for every word of the gold questions
    and slips made from the corpus's words (a letter dropped, added, swapped), the same
    correction, or none, as `closest_word` over every known word."""
    import random

    vocabulary = Vocabulary.of_corpus([load_article(ARTICLE)], load_synonyms(CORPUS))
    known = sorted(vocabulary._known)
    spellings = Spellings(known)
    words = {w.lower() for q in questions() for w in re.findall(r"[A-Za-z]{5,}", q)}
    chance = random.Random(7)
    for word in chance.sample(known, 300):
        i = chance.randrange(len(word))
        words |= {word[:i] + word[i + 1 :], word[:i] + "e" + word[i:], word[::-1][:6]}
        if i + 1 < len(word):
            words.add(word[:i] + word[i + 1] + word[i] + word[i + 2 :])
    corrected = 0
    for word in sorted(words):
        expected = closest_word(word, known)
        assert spellings.closest(word) == expected, word
        corrected += expected is not None and expected != word
    assert corrected > 200


def test_a_slip_keeps_the_first_letter_and_fewer_edits_can_be_asked_for():
    known = ["mepolizumab", "omalizumab", "rituximab"]
    assert closest_word("teplizumab", known) is None
    assert closest_word("rituxamab", known) == "rituximab"
    assert closest_word("ritxuamab", known) == "rituximab"  # two edits, allowed from 8 letters
    assert closest_word("ritxuamab", known, edits=1) is None
    assert closest_word("irtuximab", known) == "rituximab"  # its first two letters swapped
    assert closest_word("rituximb", known, accept=lambda w: w.startswith("o")) is None


_WORDS = st.text(alphabet="abcdeilmnorstu", min_size=5, max_size=12)


@settings(max_examples=300, deadline=None)
@given(
    word=_WORDS, known=st.lists(_WORDS, min_size=1, max_size=40), edits=st.sampled_from([None, 1])
)
def test_a_correction_begins_as_a_slip_can_and_spellings_agree(word, known, edits):
    """Whatever the words: a correction is within the allowed edits, begins with the typed
    word's first letter (or its first two swapped), and `Spellings` finds what a search of
    every known word finds."""
    found = closest_word(word, known, edits)
    assert Spellings(known).closest(word, edits) == found
    if found is not None:
        assert edit_distance(word, found) <= (1 if edits == 1 or len(word) < 8 else 2)
        assert found[0] == word[0] or found[:2] == word[1::-1]


def test_a_term_without_its_hyphens_only_where_english_has_no_such_word():
    terms = ["z-pak", "hs-trop", "e-mail", "anti-d immunoglobulin", "re-bound", "ivig"]
    assert unhyphenated(terms, 3.0) == {
        "zpak": "z-pak",
        "hstrop": "hs-trop",
        "antid immunoglobulin": "anti-d immunoglobulin",
    }
    assert unhyphenated(["mis-c", "z-pak"], 1.0) == {"zpak": "z-pak"}  # "misc" is a word


def test_a_gold_phrase_copied_with_its_markdown_names_the_statement():
    """A blind GCA writer's examples copied from the Markdown source ("**Jaw claudication**",
    "[fast-track GCA pathway](https://…)") named no passage once statements read as a viewer
    shows them, and the first build stopped over "text that no passage has any more"."""
    from assistant.ingest.matching import holds

    text = "Jaw claudication: pain on chewing; see the fast-track GCA pathway."
    assert holds(text, "**Jaw claudication**: pain")
    assert holds(text, "[fast-track GCA pathway](https://example.org/p)")
    assert not holds(text, "**jaw pain**")
