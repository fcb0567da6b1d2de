"""Vocabulary bridging: the synonyms files, spelling, and what a question gains."""

import pytest

from assistant.errors import ArticleError
from assistant.ingest.glossary import load_synonyms, parse_synonyms
from assistant.ingest.tokens import read
from assistant.ingest.vocabulary import Vocabulary
from tests.conftest import CORPUS


@pytest.mark.parametrize(
    ("question", "bridge"),
    [
        ("Is the NCS diagnostic?", "nerve conduction studies"),
        ("Do the hands go first?", "upper extremities"),
        ("Any side effects?", "adverse effects"),
        ("Is PLEX useful?", "plasma exchange"),
        ("MND or MMN?", "motor neuron disease"),
        ("cyclophosphomide?", "cyclophosphamide"),  # misspelt
        ("IVIg for an outpt?", "outpatient"),  # ward shorthand, not a slip of "output"
    ],
)
def test_queries_are_expanded_towards_the_articles_words(vocabulary, question, bridge):
    expanded = vocabulary.expand(question)
    assert expanded.startswith(question) and bridge in expanded


def test_terms_the_article_uses_and_inflections_are_not_expanded(vocabulary):
    assert vocabulary.expand("IVIg dose") == "IVIg dose"
    assert vocabulary.expand("Is MMN common?") == "Is MMN common?"  # not 'commonly'
    assert vocabulary.expand("Does it improve?") == "Does it improve?"


def test_the_vocabulary_survives_a_round_trip_through_json(vocabulary):
    again = Vocabulary.from_json(vocabulary.to_json())
    assert again.expand("NCS?") == vocabulary.expand("NCS?")


def test_synonyms_format():
    rules = parse_synonyms(
        "# comment\nMND, motor neuron disease\n\nNCS => nerve conduction studies  # trailing\n"
    )
    assert [(r.terms, r.expansions, r.line) for r in rules] == [
        (("mnd", "motor neuron disease"), ("mnd", "motor neuron disease"), 2),
        (("ncs",), ("nerve conduction studies",), 4),
    ]


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("ok, fine\nlonely\n", 2, "at least two terms"),
        ("a => \n", 1, "both sides"),
        ("a => b => c\n", 1, "at most one '=>'"),
        ("ok, fine\n\na, , b\n", 3, "at least two terms"),
    ],
)
def test_a_bad_synonyms_rule_names_its_file_and_line(text, line, words):
    with pytest.raises(ArticleError) as caught:
        parse_synonyms(text, "corpus/synonyms.txt")
    assert f"corpus/synonyms.txt:{line}:" in str(caught.value) and words in str(caught.value)


def test_synonyms_lines_are_numbered_as_an_editor_shows_them():
    """A form feed is not a line end, and a byte order mark (Notepad's) is not part of a term."""
    rules = parse_synonyms("\ufeffNCS, nerve conduction studies\x0c\nEMG, electromyography\n")
    assert [(r.terms, r.line) for r in rules] == [
        (("ncs", "nerve conduction studies"), 1),
        (("emg", "electromyography"), 2),
    ]
    with pytest.raises(ArticleError) as caught:
        parse_synonyms("a, b\x0c\nlonely\n", "corpus/synonyms.txt")
    assert caught.value.line == 2


def test_a_synonyms_file_that_is_not_utf8_names_its_line(tmp_path):
    (tmp_path / "synonyms.txt").write_bytes("a, b\r\ncaf\xe9, coffee\r\n".encode("latin-1"))
    with pytest.raises(ArticleError, match="not UTF-8") as caught:
        load_synonyms(tmp_path)
    assert (caught.value.path, caught.value.line) == (str(tmp_path / "synonyms.txt"), 2)


def test_the_shipped_synonyms_file_parses():
    assert len(load_synonyms(CORPUS)) > 20


def test_an_ambiguous_abbreviation_is_no_bridge_to_a_treatment(vocabulary):
    """ "pt had a PE last month, ok to give IVIg?" (a pulmonary embolism) was answered with
    "plasmapheresis … should not be used": "PE" was bridged to plasma exchange."""
    read_as = vocabulary.bridge(read("pt had a PE last month, ok to give IVIg?"))
    assert "plasma" not in read_as.text
    assert "plasmapheresis" in vocabulary.bridge(read("is PLEX useful?")).text


@pytest.mark.parametrize(
    ("question", "fixed"),
    [
        ("age of onest?", "onset"),  # a swap
        ("lewis sumnar syndrome", "sumner"),
        ("how fast does it progres", "progress"),  # the stem of "progression"
        ("how comon are GM1 antibodies", "common"),  # a typo that is itself a rare word
    ],
)
def test_typing_slips_are_corrected_to_the_corpus_word(vocabulary, question, fixed):
    assert fixed in vocabulary.corrections(question)


def test_a_word_typed_with_or_without_its_hyphen_is_the_corpus_word():
    """ "preeclampsia" is a word of English (Zipf 2.3), so the slip rule left it as typed, and a
    question that spelt it so shared no stem with an article that writes "pre-eclampsia"."""
    texts = ["Pre-eclampsia is new-onset hypertension after 20 weeks. 1", "Use antiemetics."]
    vocabulary = Vocabulary.build(texts, [])
    assert vocabulary.corrections("preeclampsia BP criteria") == ["pre-eclampsia"]
    assert vocabulary.corrections("which anti-emetics") == ["antiemetics"]
    assert vocabulary.corrections("pre-eclampsia and post-partum") == []


def test_a_glossary_term_typed_without_its_hyphens_bridges_as_the_term_does():
    """A phone drops hyphens: "zpak" is the glossary's "Z-Pak", but "email" stays a word of
    its own however a rule spells "e-mail"."""
    rules = parse_synonyms("Z-Pak => macrolides\ne-mail => electronic mail\n")
    vocabulary = Vocabulary.build(["Macrolides cover atypical organisms. 1"], rules)
    assert vocabulary.expand("can i give a zpak") == "can i give a zpak (macrolides)"
    assert vocabulary.expand("can i give a Z-Pak") == "can i give a Z-Pak (macrolides)"
    assert vocabulary.expand("send an email") == "send an email"
    assert vocabulary.expand("send an e-mail") == "send an e-mail (electronic mail)"


def test_a_term_typed_joined_bridges_to_the_term_itself_and_misc_stays_a_word():
    """The article writes "IVIg-refractory": typed joined, the question gains that word too,
    not only what the term leads to; "misc" (Zipf 2.9) is English's, not "MIS-C"."""
    rules = parse_synonyms("IVIg-refractory => alternatives\nMIS-C => multisystem syndrome\n")
    vocabulary = Vocabulary.build(["Alternatives for IVIg-refractory disease. 1"], rules)
    assert vocabulary.expand("ivigrefractory mmn") == (
        "ivigrefractory mmn (ivig-refractory; alternatives)"
    )
    assert vocabulary.expand("misc labs") == "misc labs"


def test_a_common_word_is_no_hyphen_variant_of_another():
    joined = Vocabulary.build(["Representation and recovery are common. 1"], [])
    assert joined.corrections("re-presentation after discharge") == []
    hyphenated = Vocabulary.build(["The re-presentation rate is high. 1"], [])
    assert hyphenated.corrections("representation of the data") == []


def test_real_words_are_not_taken_for_slips(vocabulary):
    assert vocabulary.corrections("best statin for cholesterol") == []
    assert vocabulary.corrections("weaker shoulders") == []


@pytest.mark.parametrize(
    ("question", "corpus_word"),
    [
        ("hypernatremia free water deficit", "hyponatremia"),  # the opposite disorder
        ("teplizumab who qualifies", "mepolizumab"),  # another drug: the first letter differs
        ("nephrotoxic drugs to avoid", "nephrotic"),
        ("decongestion with diuretics", "congestion"),
        ("rechallenge after a reaction", "challenge"),
    ],
)
def test_a_word_is_not_corrected_to_another_two_edits_away(question, corpus_word):
    """Two slips in a word English writes, or a slip of its first letter, are less likely than
    the word itself: a clinician asking about hypernatremia must not be read as asking about
    hyponatremia, nor one asking about a drug as asking about another."""
    vocabulary = Vocabulary.build([f"About {corpus_word} and more. 1"], [])
    assert vocabulary.corrections(question) == []


@pytest.mark.parametrize(
    ("question", "corpus_word"),
    [
        ("dysphasia after a stroke", "dysphagia"),  # speech is not swallowing
        ("hip adduction weakness", "abduction"),
        ("nephritic syndrome", "nephrotic"),
        ("peroneal nerve palsy", "perineal"),
        ("terminal ileum", "ilium"),
    ],
)
def test_a_word_english_writes_is_no_slip_of_a_word_about_as_common(question, corpus_word):
    """One edit apart, both words of medicine: the typed one is not taken for a slip unless the
    corpus word is a hundred times as common."""
    vocabulary = Vocabulary.build([f"About {corpus_word} and more. 1"], [])
    assert vocabulary.corrections(question) == []


@pytest.mark.parametrize(
    ("question", "fixed"),
    [
        ("siadh criteria", "siad"),  # a letter added to a corpus word, in a rare word
        ("ok in a cirrhotic?", "cirrhosis"),  # the same stem with another ending
        ("immunoglobin dose", "immunoglobulin"),  # two slips in a word English never writes
        ("eculizumib trial", "eculizumab"),
    ],
)
def test_two_edits_still_correct_an_unknown_word_or_another_ending(question, fixed):
    vocabulary = Vocabulary.build([f"About {fixed} and more. 1"], [])
    assert vocabulary.corrections(question) == [fixed]


def test_another_ending_is_found_even_when_a_longer_word_is_as_near():
    """ "nephrotoxic" is as near to "nephrotic" as "nephrosis" and longer, but only the second
    shares its stem: the choice is made among the words the rule accepts."""
    vocabulary = Vocabulary.build(["About nephrosis and nephrotoxic drugs. 1"], [])
    assert vocabulary.corrections("nephrotic syndrome") == ["nephrosis"]


@pytest.mark.parametrize(
    ("question", "term"),
    [
        ("what's the downside?", "downsides"),  # singular of a listed plural
        ("is it a mimicker of ALS?", "mimicker"),
        ("are they mimicking CIDP?", "mimicker"),  # same stem
    ],
)
def test_glossary_terms_match_their_inflections(vocabulary, question, term):
    assert term in vocabulary.matched_terms(question)


def test_short_and_phrase_terms_match_only_as_written(vocabulary):
    # "how long" must not match "long-term"; "IV" must not match inside other words
    assert "how long" not in vocabulary.matched_terms("long-term IVIg outcome")
    assert "iv" not in vocabulary.matched_terms("how many IVs?")  # "IVs" stems to "iv"
    # a stem much shorter than its word matches other words: "thin" is not "thinning"
    assert "thinning" not in vocabulary.matched_terms("does IVIg thin the blood?")


# --- one reading of the question ---------------------------------------------------------


def test_a_bridged_question_is_read_once_and_searched_as_its_text_would_be(vocabulary):
    """The question is tokenised once; its bridges are read on their own and appended. Search
    must count the same words as if the expanded text were tokenised whole."""
    from assistant.ingest.tokens import read, tokenize

    for question in (
        "ncs findings in mmn?",  # an abbreviation the article does not use
        "is it genetic or inherited",
        "steroids for weakness in the hands",  # synonyms
        "what about cyclophosphamid side efects",  # misspellings
        "IVIg dose",  # words the article uses: nothing added
        "Σ final-sigma ΣΑΣ (odd) text; anti-GM1's titre",
    ):
        bridged = vocabulary.bridge(read(question))
        assert bridged.text == vocabulary.expand(question)
        assert list(bridged.stems) == tokenize([bridged.text])[0]
        assert bridged.words == read(bridged.text).words
        if question.islower() and "ivig" not in question:  # the four that gain bridges
            assert bridged.text.startswith(question + " (") and bridged.text.endswith(")")


@pytest.mark.slow
def test_any_text_read_in_parts_gives_the_stems_of_the_whole(vocabulary):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from assistant.ingest.tokens import read, tokenize

    @settings(max_examples=300, deadline=None)
    @given(st.text(max_size=60))
    def check(question: str) -> None:
        bridged = vocabulary.bridge(read(question))
        assert list(bridged.stems) == tokenize([bridged.text])[0]

    check()
