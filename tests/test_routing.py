"""Which article a question names, among several (no model: the articles' own headings)."""

from __future__ import annotations

import pytest

from assistant.ingest.corpus import load_article
from assistant.search.routing import names_of
from tests.conftest import ARTICLE, ROOT

OUTSIDE = ROOT / "tests" / "fixtures" / "outside"


@pytest.fixture(scope="module")
def names():
    articles = [load_article(ARTICLE)] + [load_article(p) for p in sorted(OUTSIDE.glob("*.txt"))]
    routed = names_of({a.id: a for a in articles})
    assert routed is not None
    return routed


@pytest.mark.parametrize(
    ("question", "history", "article"),
    [
        ("IVIg dose in MMN?", (), "what-is-multifocal-motor-neuropathy"),
        ("what fluids first in dka", (), "what-is-diabetic-ketoacidosis"),  # any case: rare
        ("Is preeclampsia screening done at booking?", (), "what-is-pre-eclampsia"),
        (
            "community acquired pneumonia: which antibiotic?",
            (),
            "what-is-community-acquired-pneumonia",
        ),  # fmt: skip
        ("Which antibiotic for CAP?", (), "what-is-community-acquired-pneumonia"),
        ("Is there a cap on the dose?", (), None),  # "cap" is a word too: only "CAP" names it
        (
            "How much 3% saline?",
            ("Hyponatremia with seizures, what first?",),
            "what-is-hyponatremia",
        ),  # fmt: skip
        (
            "And in DKA?",
            ("hyponatremia in HFrEF, fluid restriction?",),
            "what-is-diabetic-ketoacidosis",
        ),  # fmt: skip
        ("hyponatremia in HFrEF, fluid restriction?", (), None),  # two named: search all
        ("What is the starting dose?", (), None),  # none named
        ("Does the MMNx trial apply?", (), None),  # whole words only
    ],
)
def test_a_question_naming_one_article_is_routed_to_it(names, question, history, article):
    assert names.route(question, history) == article


def test_a_qualifier_in_parentheses_names_no_article():
    """ "Sepsis (Adult)" made "Adult" a name, and "Adult dose of IVIg?" went to sepsis."""
    from dataclasses import replace

    mmn = load_article(ARTICLE)
    sepsis = replace(mmn, id="sepsis", topic="Sepsis (Adult)", title="What is sepsis?")
    dka = replace(mmn, id="dka", topic="Diabetic Ketoacidosis (DKA) (Adults)", title="DKA")
    names = names_of({a.id: a for a in (mmn, sepsis, dka)})
    assert names is not None
    assert names.route("Adult dose of IVIg?") is None
    assert names.route("Sepsis bundle in adults?") == "sepsis"
    assert names.route("dka fluids?") == "dka"  # the abbreviation before the qualifier


def test_one_article_is_never_routed():
    """With one article, nothing to choose: its answers (and figures) are as they were."""
    article = load_article(ARTICLE)
    assert names_of({article.id: article}) is None
