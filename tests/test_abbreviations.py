"""Abbreviations an article defines, learnt the Schwartz-Hearst way."""

import pytest

from assistant.ingest.abbreviations import find_abbreviations


def test_abbreviations_are_learnt_from_the_article_the_schwartz_hearst_way(article):
    found: dict[str, str] = {}
    for text in [article.topic, *(p.text for p in article.passages)]:
        found.update(find_abbreviations(text))
    assert found["IVIg"] == "intravenous immunoglobulin"
    assert found["ALS"] == "Amyotrophic lateral sclerosis"
    assert found["CIDP"] == "Chronic inflammatory demyelinating polyneuropathy"
    assert found["MADSAM neuropathy"] == (
        "multifocal acquired demyelinating sensory and motor neuropathy"
    )
    assert found["MMN"] == "Multifocal Motor Neuropathy"


@pytest.mark.parametrize(
    "text",
    [
        "ages (28-58 years in most series)",  # not a short form
        "reduced (at least partially) in most",
        "the patient (John) was seen",  # no long form before it
    ],
)
def test_parentheses_that_are_not_abbreviations_are_ignored(text):
    assert find_abbreviations(text) == {}
