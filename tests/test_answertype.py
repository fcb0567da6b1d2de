"""Question shapes: a definition asked for, and a case whose question comes last."""

import pytest

from assistant.answertype import asks_definition, last_clause


@pytest.mark.parametrize(
    ("question", "definition"),
    [
        ("what is mmn", True),
        ("MMN definition?", True),
        ("What is multifocal motor neuropathy?", True),
        ("tell me about MMN", True),
        ("What is the IVIg dose for MMN?", False),  # an aspect, not the definition
        ("What is CIDP?", False),  # not the article's topic
        ("MMN IVIg?", False),  # no definition asked
    ],
)
def test_a_definition_is_asked_only_of_the_articles_topic(engine, question, definition):
    assert asks_definition(question, engine.index.vocabulary) is definition


@pytest.mark.parametrize(
    ("question", "ask"),
    [
        (
            "52M, asymmetric hand weakness, CBs on motor NCS, normal SNAPs. Resident says "
            "MMN - agree?",
            "agree?",
        ),
        (
            "38F with wrist drop and strongly positive GM1 IgM. Starting immunoglobulin - how "
            "many g/kg and over how many days?",
            "how many g/kg and over how many days?",
        ),
        ("What is the IVIg dose for MMN?", None),  # short: one clause
        (
            "Is it true that the anti-GM1 antibodies in multifocal motor neuropathy are IgM",
            None,
        ),  # long, but one clause
    ],
)
def test_a_long_case_is_read_for_its_last_clause(question, ask):
    assert last_clause(question) == ask


def test_what_is_the_topic_finds_the_paragraph_that_defines_it(engine):
    for question in ("what is mmn", "MMN definition?", "What\u2019s MMN?"):  # a phone's quote
        top = engine.ask(question).passages[0].passage
        assert top.text.startswith("Multifocal motor neuropathy is a rare, acquired")


def test_a_case_ending_in_a_dose_question_finds_the_dose_first(engine):
    question = (
        "38F, wrist drop + weak finger extensors, strongly +ve GM1 IgM, CBs confirmed in "
        "radial nerve. Starting imunoglobulin - how many g/kg and over how many days?"
    )
    answer = engine.ask(question)
    assert answer.answerable
    assert answer.passages[0].passage.text.startswith("Dosing: 1.6-2.4 g/kg")
