"""Declining: "the article does not cover this" said plainly, never for a real question."""

import pytest

from assistant.answer import NOT_COVERED, answer_to_dict
from assistant.answerability import Signals, Thresholds, decide, fit


def _s(dense, coverage=1.0, foreign=()):
    return Signals(dense=dense, coverage=coverage, unknown=foreign, foreign=foreign)


def test_a_foreign_subject_declines_unless_the_match_is_strong():
    thresholds = Thresholds(dense_floor=0.1, coverage_floor=0.3, dense_strong=0.5)
    assert decide(_s(0.4), thresholds)
    assert not decide(_s(0.4, foreign=("eculizumab",)), thresholds)
    assert decide(_s(0.6, foreign=("igg",)), thresholds)
    assert not decide(_s(0.05), thresholds)
    assert not decide(_s(0.4, coverage=0.2), thresholds)


def test_fit_declines_the_most_out_of_scope_questions_within_the_wrong_decline_budget():
    observations = [(_s(0.6), False), (_s(0.35), False), (_s(0.3), True), (_s(0.2), True)]
    fitted = fit(observations, max_wrong=0.0, grid=[(f, 0.0, 0.9) for f in (0.1, 0.25, 0.33, 0.4)])
    assert fitted.thresholds.dense_floor == 0.33  # declines both, keeps both real questions
    assert fitted.declined_out_of_scope == 1.0 and fitted.wrongly_declined == 0.0


@pytest.mark.parametrize(
    "question",
    [
        "What is the capital of France?",
        "eculizumab in MMN?",
        "What is the IVIg dose for Kawasaki disease?",
        "Best statin for high cholesterol?",
    ],
)
def test_questions_the_article_does_not_cover_are_declined_with_the_disclaimer(engine, question):
    data = answer_to_dict(engine.ask(question))
    assert data["answerable"] is False
    assert data["message"] == NOT_COVERED
    assert data["passages"] and not any(p["relevant"] for p in data["passages"])
    assert data["disclaimer"].startswith("This information is intended for healthcare")


@pytest.mark.parametrize(
    ("question", "history", "expected"),
    [
        ("Is the NCS diagnostic?", [], "Electrodiagnostic Hallmarks"),  # either NCS finding
        ("Do the hands go first?", [], "Upper extremities are more commonly affected"),
        (
            "Any side effects?",
            ["Is cyclophosphamide used in MMN?"],
            "Cyclophosphamide is effective",
        ),
        ("Are DTRs lost?", [], "Reflexes are reduced asymmetrically"),
        ("% pts w/ GM1 Abs?", [], "High-titer anti-GM1 IgM antibodies"),  # shorthand
        ("age of onest for MMN?", [], "Disease onset is typically in adulthood"),  # a slip
    ],
)
def test_clinicians_words_find_the_articles_statement_first(engine, question, history, expected):
    answer = engine.ask(question, history)
    assert answer.answerable
    top = answer.passages[0].passage
    assert top.text.startswith(expected) or top.section[-1] == expected
    assert answer.passages[0].relevant


@pytest.mark.parametrize(
    ("question", "history"),
    [
        # ordinary words ("my", "has", "between") and family words say nothing of the subject
        (
            "my husband has MMN and the muscles between his thumb and finger look hollowed "
            "out, is that part of the disease?",
            [],
        ),
        ("My dad's grip has been getting weaker very gradually for years with MMN", []),
        # a capital after a full stop starts a sentence; it is not a name
        ("38F, weak finger extensors, anti-GM1 positive. Starting IVIg - what dose?", []),
        ("Is anti-GM2 relevant in MMN?", []),
        # rare words that describe rather than name
        ("MMN vs CIDP - key discriminator?", []),
        ("prox vs distal predominance in mmn", []),
        ("What else can it be mistaken for?", ["What is the IVIg dosing for MMN?"]),
        # too little of its own: judged with the question it leans on
        ("is it easy to pick up?", ["key NCS finding in MMN"]),
        ("what's the downside of it?", ["is cyclophosphamide used in MMN?"]),
        # "New topic:" says nothing of the subject
        (
            "New topic: what kind of results are needed to diagnose MMN?",
            ["amoxicillin dose for otitis media?"],
        ),
    ],
)
def test_real_questions_in_everyday_words_are_answered(engine, question, history):
    assert engine.ask(question, history).answerable


@pytest.mark.parametrize(
    ("question", "history"),
    [
        # the topic every passage shares does not make the aspect asked about covered
        ("What MRI findings are seen in MMN?", []),
        ("Is efgartigimod effective in MMN?", []),
        # a drug toxicity is a name, though it ends like "severity"
        ("Is IVIg nephrotoxicity common?", []),
        ("Should IgA levels be checked before giving IVIg?", []),
        # no words at all, or only the mark of a new question
        ("'s", []),
        ("New question", []),
        ("Is CSF protein raised in MMN?", []),
        # a follow-up with a subject of its own is judged by it
        ("Is it safe during pregnancy?", ["What is the first-line treatment for MMN?"]),
    ],
)
def test_aspects_the_article_does_not_cover_are_declined(engine, question, history):
    assert not engine.ask(question, history).answerable


def test_specificity_weighs_rare_words_and_ignores_the_commonest():
    from assistant.answerability import specificity

    assert specificity("my") == 0.0 and specificity("has") == 0.0
    assert specificity("pregnancy") > specificity("safe") > 0.0
    assert specificity("anti-GM2") == specificity("GM2")  # as specific as its rarest part
