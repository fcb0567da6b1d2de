"""What an answer carries beside its passage: the list a lead-in introduces."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.answer import introduced, shown_hits
from assistant.ingest.corpus import load_article
from assistant.search.retrieval import Hit

ARTICLE = """---
title: What is a test condition?
last_updated: 2026-03-03
---

## Treatment

Treatments include:

- IVIg:
  - 2 g/kg over 2-5 days [1]
  - Repeated every 4 weeks [1]
- Rituximab [1]
- Cyclophosphamide [1]
  - 15 mg/kg every 4 weeks [1]

A closing paragraph. [1]

## Diagnosis

Diagnosis requires the following findings:

### Electrodiagnostic

- Conduction block [1]

Some paragraph under the subsection. [1]

### Serological

- Anti-GM1 antibodies [1]

## Disclaimer

For professionals.
"""


def _items(tmp_path: Path, lead_in: str) -> list[str]:
    path = tmp_path / "article.md"
    path.write_text(ARTICLE, encoding="utf-8")
    passages = load_article(path).passages
    at = next(i for i, p in enumerate(passages) if p.text == lead_in)
    return [p.text for p in introduced(passages, at)]


def test_a_lead_in_brings_its_whole_list_with_the_lists_nested_in_it(tmp_path):
    """A nested list used to cut the lead-in's list short at its first nested item."""
    assert _items(tmp_path, "Treatments include:") == [
        "IVIg:", "2 g/kg over 2-5 days", "Repeated every 4 weeks", "Rituximab", "Cyclophosphamide",
        "15 mg/kg every 4 weeks",
    ]  # fmt: skip
    assert _items(tmp_path, "IVIg:") == ["2 g/kg over 2-5 days", "Repeated every 4 weeks"]


def test_the_lists_of_subsections_under_a_lead_in_but_not_their_paragraphs(tmp_path):
    assert _items(tmp_path, "Diagnosis requires the following findings:") == [
        "Conduction block", "Anti-GM1 antibodies",
    ]  # fmt: skip


def test_a_passage_that_leads_nothing_brings_nothing(tmp_path):
    assert _items(tmp_path, "Rituximab") == []
    assert _items(tmp_path, "A closing paragraph.") == []


def test_an_item_brings_the_list_nested_in_it_without_a_colon(tmp_path):
    """A blind writer's "Rivaroxaban" above its "15 mg twice daily …" ranked first, shown
    alone: a drug's name, with its dose only at rank 4."""
    assert _items(tmp_path, "Cyclophosphamide") == ["15 mg/kg every 4 weeks"]


def test_a_bare_item_whose_items_are_shown_above_is_not_shown_again(tmp_path):
    """ "Rivaroxaban" at rank 3 showed only its dose, already the first card (a second read)."""
    path = tmp_path / "article.md"
    path.write_text(ARTICLE, encoding="utf-8")
    passages = load_article(path).passages
    at = {p.text: i for i, p in enumerate(passages)}
    order = ["15 mg/kg every 4 weeks", "Rituximab", "Cyclophosphamide", "IVIg:"]
    hits = [Hit(at[text], 1.0 - n / 10) for n, text in enumerate(order)]
    shown = [passages[h.index].text for h in shown_hits(hits, passages, 3)]
    assert shown == ["15 mg/kg every 4 weeks", "Rituximab", "IVIg:"]
    first = [passages[h.index].text for h in shown_hits(hits[2:], passages, 3)]
    assert first == ["Cyclophosphamide", "IVIg:"]  # shown first, it brings its dose


def test_a_lead_in_whose_items_are_all_shown_above_is_not_shown_again(tmp_path):
    """ "Is conduction block easy to pick up?" showed the three hallmarks as cards 1-3, and
    their lead-in at 5 listing the same three again (72 of 603 gold answers at k=5 showed a
    statement twice). A lead-in with an item not yet shown still shows its whole list."""
    path = tmp_path / "article.md"
    path.write_text(ARTICLE, encoding="utf-8")
    passages = load_article(path).passages
    at = {p.text: i for i, p in enumerate(passages)}
    lead = "Diagnosis requires the following findings:"
    order = ["Conduction block", "Anti-GM1 antibodies", "Rituximab", lead, "A closing paragraph."]
    hits = [Hit(at[text], 1.0 - n / 10) for n, text in enumerate(order)]
    shown = [passages[h.index].text for h in shown_hits(hits, passages, 4)]
    assert shown == ["Conduction block", "Anti-GM1 antibodies", "Rituximab", "A closing paragraph."]
    partly = [passages[h.index].text for h in shown_hits(hits[1:], passages, 3)]
    assert partly == ["Anti-GM1 antibodies", "Rituximab", lead]  # "Conduction block" is new


def _shown_twice(answer) -> list[str]:
    """Statements an answer shows twice: in a lead-in's list, and again as a card below it."""
    listed: set[str] = set()
    twice = []
    for ranked in answer.passages:
        if ranked.passage.id in listed:
            twice.append(ranked.passage.text)
        listed.update(item.id for item in ranked.items)
    return twice


@pytest.mark.model
@pytest.mark.parametrize("k", [3, 5])
def test_a_statement_a_lead_in_lists_is_not_shown_again_below_it(engine, k):
    """ "MMN definition?" put "The following are typical features:" second and then its own
    items: two of five places held statements the list above had already shown."""
    answer = engine.ask("MMN definition?", k=k)
    assert any(ranked.items for ranked in answer.passages)  # a lead-in with its list is shown
    assert not _shown_twice(answer)
    assert len(answer.passages) == k  # the places went to other statements
    assert [r.rank for r in answer.passages] == list(range(1, k + 1))


@pytest.mark.model
def test_an_answer_holds_k_passages_when_several_lead_ins_list_its_hits(engine):
    """Three lead-ins' lists (6 + 3 + 3 items) took more places than the longest list has:
    "What MRI findings are seen in MMN?" at k=20 was given 15 passages of the article's 32."""
    answer = engine.ask("What MRI findings are seen in MMN?", k=20)
    assert sum(bool(r.items) for r in answer.passages) >= 2
    assert not _shown_twice(answer)
    assert len(answer.passages) == 20


@pytest.mark.model
def test_relevance_is_read_from_the_passages_shown(engine):
    """A skipped item below the relevance margin made the next shown passage "less relevant"
    although it was within the margin of the best."""
    from dataclasses import replace

    retrieval = engine.retrieve("MMN definition?", (), 20)
    lead = next(h for h in retrieval.hits if engine.index.passages[h.index].text.endswith(":"))
    listed = {p.id for p in introduced(engine.index.passages, lead.index)}
    best, margin = retrieval.best_dense, engine.ranker.relevant_margin
    hits = []
    for hit in retrieval.hits:  # every item of the lead-in far below the best, the rest close
        item = engine.index.passages[hit.index].id in listed
        hits.append(replace(hit, dense=best - 2 * margin if item else best - margin / 2))
    answer = engine.answer_from("MMN definition?", (), replace(retrieval, hits=hits), 5)
    assert not _shown_twice(answer)
    assert [r.relevant for r in answer.passages] == [True] * 5
