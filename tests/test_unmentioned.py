"""Words no article mentions: which of a question's words count, and the cut a build fits."""

import pytest

from assistant.ingest.glossary import Rule
from assistant.ingest.tokens import read
from assistant.ingest.unmentioned import REPORTED_BELOW, fit_cut
from assistant.ingest.vocabulary import Vocabulary
from assistant.search.ranker import straighten


def unmentioned(vocabulary: Vocabulary, question: str) -> list[str]:
    return [word for word, _ in vocabulary.bridge(read(question)).unmentioned]


@pytest.mark.parametrize(
    ("question", "words"),
    [
        ("Is mycophenolate a steroid-sparing agent in MMN?", ["mycophenolate"]),
        ("tafamidis dose for ATTR cardiac amyloid", ["tafamidis"]),
        ("Does rituximab cause cardiotoxicity?", ["cardiotoxicity"]),
    ],
)
def test_a_rare_word_no_article_uses_is_unmentioned(vocabulary, question, words):
    assert unmentioned(vocabulary, question) == words


@pytest.mark.parametrize(
    "question",
    [
        "Is IVIg effective in multifocal motor neuropathy?",  # the article's own words
        "Are the conduction blocks persistent?",  # an inflection of a corpus word
        "Which nerve is usually affected first in MMN?",  # English writes these often
        "Is cyclophosphomide an option?",  # a slip the vocabulary corrects
        "what happens to the reflexes, are they lost everywere",  # a slip of English
        "how long do the immunoglob infusions take",  # a corpus word cut short
        "one liner pathophys of mmn for teaching",  # an English word cut short
        "is the pna resolving",  # shorthand: too short to tell from the article's words
        "Is PLEX useful?",  # a glossary term that bridges to the corpus
        "Is plasmafaresis useful in MMN?",  # spelt as said: "f" for "ph", "k" for "c"
        "kortikosteroids in MMN?",
        "How do you distinguish MMN from motorneurone disease?",  # two corpus words as one
        "Is conductionblock the key finding?",
    ],
)
def test_a_clinicians_own_words_for_what_the_article_says_are_not(vocabulary, question):
    assert unmentioned(vocabulary, question) == []


@pytest.mark.parametrize(
    ("question", "words"),
    [
        ("Mycophenolate\u2019s role in MMN?", ["mycophenolate"]),  # a phone's possessive
        ("IVIg-mycophenolate combination?", ["ivig-mycophenolate"]),  # a bridged part lets none off
        ("ATTR-CM workup?", []),  # shorthand, hyphen or not
    ],
)
def test_a_word_is_found_however_it_is_joined(vocabulary, question, words):
    assert [w for w, _ in vocabulary.bridge(read(straighten(question))).unmentioned] == words


def test_a_term_typed_against_another_script_is_the_articles(vocabulary):
    """ "IVIg用量は？" was declined as naming "ivig用量は", which no article mentions: the
    article's own term, joined to the Japanese beside it. English's word counts judge only the
    Latin letters; a rare Latin word is still found beside other scripts."""
    assert unmentioned(vocabulary, "IVIg用量は？") == []
    assert unmentioned(vocabulary, "MMNの治療は？") == []
    assert unmentioned(vocabulary, "多灶性运动神经病的治疗是什么") == []  # not judged, not named
    assert unmentioned(vocabulary, "mycophenolateの用量") == ["mycophenolate"]


def test_a_word_typed_without_its_accent_is_the_articles():
    vocabulary = Vocabulary.build(["Sjögren syndrome and Guillain-Barré syndrome overlap. 1"], [])
    assert unmentioned(vocabulary, "sjogren or guillain-barre?") == []
    assert unmentioned(vocabulary, "Sjögren's and Ménière's?") == ["ménière"]  # as typed


def test_a_glossary_term_lets_off_its_word_however_it_is_accented_or_joined():
    rules = [Rule(("motrin",), ("nsaids",), 1), Rule(("ménière",), ("vertigo",), 2)]
    vocabulary = Vocabulary.build(["NSAIDs are used for pain; vertigo is common. 1"], rules)
    assert unmentioned(vocabulary, "Ménière disease?") == []
    assert unmentioned(vocabulary, "motrin-associated ulcer?") == []
    assert unmentioned(vocabulary, "motrin-tafamidis?") == ["motrin-tafamidis"]


def test_a_brand_counts_only_when_its_bridge_reaches_the_corpus():
    rules = [Rule(("motrin",), ("nsaids",), 1), Rule(("vyndaqel",), ("tafamidis",), 2)]
    vocabulary = Vocabulary.build(["NSAIDs are not recommended in Kawasaki disease. 1"], rules)
    assert unmentioned(vocabulary, "Can I give Motrin for the fever?") == []
    assert unmentioned(vocabulary, "Is Vyndaqel safe here?") == ["vyndaqel"]


def test_each_word_carries_how_often_english_writes_it(vocabulary):
    found = vocabulary.bridge(read("Is mycophenolate an option?")).unmentioned
    assert len(found) == 1 and 0 <= found[0][1] < REPORTED_BELOW


def test_the_cut_declines_at_most_the_budget_of_in_scope_examples():
    found = [(("tafamidis", 0.0),), (("supinator", 1.07),), (("stopgap", 2.4),)] + [()] * 97
    assert fit_cut(found, 0.02) == 2.4  # two of 100 below it
    assert fit_cut(found, 0.01) == 1.07
    assert fit_cut(found, 0.05) == REPORTED_BELOW  # the budget allows every one
    assert fit_cut(found, 0.0) is None  # a word English never writes would still decline
    assert fit_cut([], 0.01) is None  # nothing to fit on: never by its words


def test_a_ranker_that_declines_only_by_words_still_says_it_declines():
    """`eval` reports declines only for a ranker that `decides`: one trained without
    out-of-scope examples has no threshold, but declines by its words."""
    from dataclasses import replace

    from assistant.search.ranker import untrained

    ranker = replace(untrained(), floor=None)
    assert not ranker.decides
    assert replace(ranker, unmentioned_below=2.0).decides
    assert replace(ranker, unmentioned_below=2.0).unmentioned(
        replace(read("x"), unmentioned=(("tafamidis", 0.0), ("stopgap", 2.4)))
    ) == ("tafamidis",)


def test_a_treatment_spelt_as_it_is_said_finds_the_statement_against_it(vocabulary):
    """ "plasmafaresis" was two slips from "plasmapheresis" plus one: declined as a word no
    article mentions, it folded away the statement that plasmapheresis should not be used."""
    for spelt in ("plasmafaresis", "plasmaferisis"):
        read_as = vocabulary.bridge(read(f"Is {spelt} useful in MMN?"))
        assert read_as.text.endswith("(plasmapheresis)") and not read_as.unmentioned
    assert unmentioned(vocabulary, "Is edaravone used in MMN?") == ["edaravone"]  # no sound-alike
