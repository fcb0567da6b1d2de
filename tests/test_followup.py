"""Follow-up questions are read with their history; self-contained ones are not."""

import pytest

from assistant.followup import leans_on_history, resolve


@pytest.mark.parametrize(
    "question",
    ["And the antibodies?", "What about its side effects?", "Is that the same in older patients?",
     "Any side effects?", "how often?", "downsides?"],
)  # fmt: skip
def test_questions_that_lean_on_history(question):
    assert leans_on_history(question)


@pytest.mark.parametrize(
    "question",
    ["Are sensory nerve studies normal in MMN?", "What IVIg dose is used?",
     "Is rituximab effective in MMN?", "GM2 antibodies in MMN?"],
)  # fmt: skip
def test_self_contained_questions_stand_alone(question):
    assert not leans_on_history(question)
    assert resolve(question, ["What IVIg dose is used?"]).query == question


def test_a_follow_up_is_searched_with_the_chain_it_leans_on():
    resolved = resolve(
        "How common?", ["Is IVIg used?", "Which antibodies occur in MMN?", "And GM2?"]
    )
    assert resolved.follow_up
    assert resolved.leaned_on == ("Which antibodies occur in MMN?", "And GM2?")
    assert resolved.query == "How common? (Which antibodies occur in MMN? And GM2?)"
    assert not resolve("How common?", []).follow_up
