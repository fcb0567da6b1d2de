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


@pytest.mark.parametrize(
    ("question", "fresh"),
    [
        ("New question - what is the IVIg dose?", "what is the IVIg dose?"),
        ("Different patient: what's the key NCS finding?", "what's the key NCS finding?"),
        ("new topic: and the antibodies?", "and the antibodies?"),
        ("Unrelated, is rituximab used?", "is rituximab used?"),
    ],
)
def test_a_question_marked_as_new_is_searched_alone_without_its_mark(question, fresh):
    resolved = resolve(question, ["Is cyclophosphamide used in MMN?"])
    assert resolved.query == fresh
    assert not resolved.follow_up


def test_a_new_question_mark_alone_is_not_a_question():
    assert resolve("New question", ["Is IVIg used?"]).follow_up


def test_a_follow_up_keeps_to_the_section_the_conversation_was_reading(engine):
    """ "did everyone get better?" after the IVIg trials: the passage of the IVIg section that
    answers it, not the prognosis of partial responders, which the words alone would pick."""
    from assistant.retrieval import DEFAULT_OPTIONS, with_options

    question, history = "did everyone get better?", ["What did the trials show for IVIg in MMN?"]
    expected = "All patients in initial trials showed improvement"
    top = engine.ask(question, history).passages[0].passage
    assert top.text.startswith(expected) and top.section[-1] == "IVIg Therapy"
    without = with_options(DEFAULT_OPTIONS, section_prior=0.0)
    assert (
        not engine.ask(question, history, options=without)
        .passages[0]
        .passage.text.startswith(expected)
    )
