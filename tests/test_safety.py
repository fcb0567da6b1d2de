"""What not to give: a question proposing a treatment an article calls ineffective, or says
should not be used, finds that statement first and is answered, whatever name the treatment
goes by (generic, brand, ward shorthand or class).

The statements and names are in tests/fixtures/safety.json; a passage that reads like such a
statement but is not listed there fails the test, so a new one cannot slip by unchecked.
"""

import json
import re

import pytest

from assistant.engine import Engine
from assistant.search import artefact
from tests.conftest import FIXTURES
from tests.updates import SECOND_ID

pytestmark = pytest.mark.model

SAFETY = json.loads((FIXTURES / "safety.json").read_text(encoding="utf-8"))
FIRST_ID = "what-is-multifocal-motor-neuropathy"
REJECTING = re.compile(
    r"\b(ineffective|should not be (used|given)|should be avoided|not recommended|"
    r"contraindicated|no benefit|harmful|avoid)\b",
    re.IGNORECASE,
)
# Measured and not yet answered: the model reads "non-steroidal" as a steroid, and with
# "continue" the passage on a longer tapering course of corticosteroids comes first. A miss
# not listed here fails; one listed that is answered again may be removed.
KNOWN_MISSES = {
    "pt with Kawasaki disease already on non-steroidal anti-inflammatories, continue?",
    # the statement comes first, but the question is declined: the model does not know the
    # brand, and the decline looks at the adapted cosine alone (docs/retrieval.md)
    "Is Deltasone reasonable in multifocal motor neuropathy?",
}
# How clinicians propose a treatment: on a phone, in a referral, at the bedside.
PROPOSALS = (
    "Should I give {name} for {condition}?",
    "suspected {condition}, can we start {name} while we wait?",
    "Is {name} reasonable in {condition}?",
    "pt with {condition} already on {name}, continue?",
    "would a course of {name} help in {condition}",
)


def proposals(article_id: str) -> list[tuple[str, set[str]]]:
    """Each proposal question, with the phrases of the statements that answer it."""
    article = SAFETY["articles"][article_id]
    out = []
    for treatment in sorted({t for s in article["statements"] for t in s["rejects"]}):
        phrases = {s["phrase"] for s in article["statements"] if treatment in s["rejects"]}
        for name in SAFETY["names"][treatment]:
            for proposal in PROPOSALS:
                out.append((proposal.format(name=name, condition=article["condition"]), phrases))
    return out


def proposal_failures(engine: Engine, article_id: str, *, skip_known: bool = True) -> list[str]:
    """The proposals that do not find a statement against the treatment first (`skip_known`:
    leaving out the KNOWN_MISSES)."""
    failures = []
    for question, phrases in proposals(article_id):
        if skip_known and question in KNOWN_MISSES:
            continue
        answer = engine.ask(question)
        top = answer.passages[0].passage.text
        if not answer.answerable:
            failures.append(f"declined: {question}")
        elif not any(p.lower() in top.lower() for p in phrases):
            failures.append(f"{question}  ->  {top[:80]}")
    return failures


def _listed(engine: Engine, article_id: str) -> None:
    """Every passage of the article that rejects a treatment is in the fixture, and every
    phrase of the fixture is in one passage."""
    statements = SAFETY["articles"][article_id]["statements"]
    passages = [p for p in engine.index.passages if p.article_id == article_id]
    for statement in statements:
        assert any(statement["phrase"].lower() in p.text.lower() for p in passages), statement
    rejecting = [p.text for p in passages if REJECTING.search(p.text)]
    unlisted = [
        text
        for text in rejecting
        if not any(s["phrase"].lower() in text.lower() for s in statements)
    ]
    assert not unlisted, f"add these statements to tests/fixtures/safety.json: {unlisted}"


@pytest.fixture(scope="module")
def two_articles(two_articles_dir, embedder) -> Engine:
    """The corpus with the second article and its editors' examples, built for real."""
    return Engine.open(two_articles_dir, embedder)


def test_every_rejecting_statement_of_the_first_article_is_checked(engine):
    _listed(engine, FIRST_ID)


def test_a_proposed_ineffective_treatment_finds_the_statement_against_it(engine):
    failures = proposal_failures(engine, FIRST_ID)
    assert not failures, f"{len(failures)} of {len(proposals(FIRST_ID))}:\n" + "\n".join(failures)


@pytest.mark.slow
@pytest.mark.parametrize("article_id", [FIRST_ID, SECOND_ID])
def test_with_a_second_article_each_finds_its_own_statement_against(two_articles, article_id):
    _listed(two_articles, article_id)
    failures = proposal_failures(two_articles, article_id)
    assert not failures, f"{len(failures)} of {len(proposals(article_id))}:\n" + "\n".join(failures)


@pytest.fixture(scope="module")
def two_articles_shifted(shifted_two_articles_dir, embedder) -> Engine:
    """The same corpus built with the bridges as shifts of the question's vector."""
    engine = Engine.open(shifted_two_articles_dir, embedder)
    assert artefact.load(engine.index.ranker_dir).shifts is not None  # not the text's bridges
    return engine


@pytest.mark.slow
@pytest.mark.parametrize("article_id", [FIRST_ID, SECOND_ID])
def test_with_the_bridges_as_shifts_each_still_finds_its_statement(
    two_articles_shifted, article_id
):
    """The model reads "already on Nurofen" without "(NSAIDs)": the shift must do its work."""
    failures = proposal_failures(two_articles_shifted, article_id)
    assert not failures, f"{len(failures)} of {len(proposals(article_id))}:\n" + "\n".join(failures)


def test_the_clinical_vocabulary_knows_every_name_the_fixture_gives(engine):
    """A name the articles do not use reaches them only through the vocabulary."""
    vocabulary = engine.index.vocabulary
    unknown = [
        name
        for names in SAFETY["names"].values()
        for name in names
        if not vocabulary.in_corpus(name) and not vocabulary.matched_terms(name)
    ]
    assert not unknown, f"no vocabulary line bridges: {unknown}"
