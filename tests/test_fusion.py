"""Fusion and answer types: pure functions, checked by hand."""

import pytest

from assistant.answertype import asked_types, stated_types
from assistant.fusion import convex, minmax, ranks, rrf


def test_ranks_break_ties_by_key():
    assert ranks({3: 0.5, 1: 0.5, 2: 0.9}) == {2: 1, 1: 2, 3: 3}


def test_rrf_by_hand():
    fused = rrf([{1: 0.9, 2: 0.1}, {2: 5.0}], k=60)
    assert fused[1] == pytest.approx(1 / 61)
    assert fused[2] == pytest.approx(1 / 62 + 1 / 61)
    weighted = rrf([{1: 0.9, 2: 0.1}, {2: 5.0}], weights=[2.0, 1.0], k=60)
    assert weighted[1] == pytest.approx(2 / 61)


def test_convex_normalises_each_list_and_weights_it():
    fused = convex([{1: 0.8, 2: 0.4, 3: 0.2}, {2: 10.0, 3: 5.0}], weights=[1.0, 0.5])
    assert fused == pytest.approx({1: 1.0, 2: 1 / 3 + 0.5, 3: 0.0})
    assert minmax({1: 2.0, 2: 2.0}) == {1: 0.0, 2: 0.0}
    assert minmax({}) == {}


@pytest.mark.parametrize(
    ("question", "types"),
    [
        ("How common are anti-GM1 antibodies?", {"share"}),
        ("what percentage have GM1?", {"share"}),
        ("How long does IVIg take to work?", {"time"}),
        ("At what age does it start?", {"time"}),
        ("IVIg dose?", {"dose"}),
        ("Is rituximab effective?", set()),
    ],
)
def test_the_answer_type_a_question_asks_for(question, types):
    assert asked_types(question) == types


def test_the_answer_types_a_passage_states():
    assert stated_types("Dosing: 1.6-2.4 g/kg given intravenously over 3-5 days") == {
        "dose",
        "time",
    }
    assert stated_types("present in approximately 50-80% of patients") == {"share"}
    assert stated_types("Rituximab efficacy is not established in MMN") == frozenset()
