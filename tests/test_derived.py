"""Questions derived from a passage's own words (`assistant.ingest.derived`): deterministic,
distinct, in the passage's words, usable alone on any article."""

from __future__ import annotations

import dataclasses

import numpy as np

from assistant.ingest.corpus import load_article
from assistant.ingest.derived import (
    derived_questions,
    distinctive_words,
    document_frequency,
    first_clause,
    short_name,
)
from assistant.ingest.tokens import WORD
from assistant.settings import TrainingSettings
from assistant.train.fitting import TrainingData, example_weights, offset_l2
from tests.conftest import FIXTURES

ARTICLE = load_article(FIXTURES / "markdown" / "synthetic-condition-a.md")


def test_every_passage_gets_distinct_questions_the_same_each_time():
    frequency = document_frequency(ARTICLE)
    for passage in ARTICLE.passages:
        questions = derived_questions(passage, ARTICLE, frequency=frequency)
        assert questions == derived_questions(passage, ARTICLE)  # frequency computed alike
        assert len(questions) >= 2
        assert len(set(questions)) == len(questions)
        assert all(q.strip() == q and q for q in questions)


def test_the_keyword_question_is_the_topic_name_and_the_passage_s_rarest_words():
    passage = next(p for p in ARTICLE.passages if "Z-marker is raised" in p.text)
    keywords = derived_questions(passage, ARTICLE)[0]
    name, *words = keywords.split()
    assert name == "STCA"
    passage_words = {w.lower() for w in WORD.findall(passage.text)}
    assert words and all(w.lower() in passage_words for w in words)
    assert "Z-marker" in words  # in two passages of ten, against "the" or "is" in many
    assert "is" not in words and "the" not in words


def test_the_opening_passage_is_asked_as_the_article_s_title():
    assert ARTICLE.title in derived_questions(ARTICLE.passages[0], ARTICLE)


def test_a_topic_without_an_abbreviation_is_named_in_full():
    assert short_name(ARTICLE) == "STCA"
    plain = dataclasses.replace(ARTICLE, topic="Synthetic Test Condition A")
    assert short_name(plain) == "Synthetic Test Condition A"


def test_a_first_clause_runs_past_a_short_opening_and_closes_its_bracket():
    assert first_clause("MMN is rare, acquired and slow") == "MMN is rare, acquired and slow"
    assert first_clause("Chronic inflammatory demyelinating polyneuropathy (CIDP) with x") == (
        "Chronic inflammatory demyelinating polyneuropathy (CIDP)"
    )
    assert first_clause("Upper extremities are more commonly affected, with more") == (
        "Upper extremities are more commonly affected"
    )


def test_distinctive_words_prefer_what_is_rare_in_the_article():
    frequency = {"fever": 9, "desquamation": 1}
    passage = dataclasses.replace(ARTICLE.passages[0], text="Fever then desquamation")
    assert distinctive_words(passage, frequency, 10, count=1) == ["desquamation"]


def _data(groups: list[int], answers: list[tuple[int, ...]], derived: list[bool]) -> TrainingData:
    n = len(answers)
    vectors = np.eye(4, dtype=np.float32)[:n]
    empty: tuple[dict, ...] = tuple({} for _ in range(n))
    return TrainingData(
        vectors, np.zeros_like(vectors), np.zeros(n, dtype=bool), tuple(answers),
        np.eye(4, dtype=np.float32), empty, empty,
        groups=np.array(groups), derived=np.array(derived),
    )  # fmt: skip


def test_balanced_articles_weigh_alike_and_derived_questions_weigh_as_set():
    data = _data([0, 0, 0, 1], [(0,), (0,), (1,), (2,)], [False] * 4)
    alike = example_weights(data, TrainingSettings(article_balance=1.0))
    assert np.isclose(alike[:3].sum(), alike[3]) and np.isclose(alike.mean(), 1.0)
    assert np.allclose(example_weights(data, TrainingSettings()), 1.0)
    data = _data([0, 0, 1, 1], [(0,), (1,), (2,), (3,)], [False, False, False, True])
    weights = example_weights(data, TrainingSettings(derived_weight=0.3))
    assert np.allclose(weights, [1, 1, 1, 0.3])


def test_a_passage_with_many_examples_pays_more_for_its_offset():
    data = _data([0, 0, 0, 0], [(0,), (0,), (0,), (1,)], [False] * 4)
    settings = TrainingSettings(passage_l2=0.01, offset_l2_by_examples=1.0)
    l2 = offset_l2(data, np.arange(4), np.ones(4, dtype=np.float32), settings)
    assert l2[0] > l2[1] == l2[2] == l2[3] == np.float32(0.01)
