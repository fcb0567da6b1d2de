"""Assemble an answer: ranked passages quoted from the article, their citations, the disclaimer.

The assistant never writes text of its own: everything in an answer is either the article's
own words or one of the fixed strings below.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from assistant.records import Article, Passage, PassageKind
from assistant.search.loaded import LoadedIndex
from assistant.search.retrieval import Hit

NOT_COVERED = (
    "The article does not cover this question. The closest passages are listed below "
    "for reference; none of them answers it."
)


@dataclass(frozen=True, slots=True)
class RankedPassage:
    rank: int
    passage: Passage
    article: Article
    score: float
    relevant: bool
    items: tuple[Passage, ...] = ()
    """The list a lead-in introduces ("… all three of the following:"), shown with it."""
    lead: Passage | None = None
    """The lead-in its `context` is: its references are the list's ("Strong provoking factors
    include the following: 1" cites [1] for every factor under it)."""

    @property
    def url(self) -> str:
        return passage_url(self.passage)


@dataclass(frozen=True, slots=True)
class Answer:
    question: str
    history: tuple[str, ...]
    answerable: bool
    passages: tuple[RankedPassage, ...]
    disclaimer: str
    index: dict[str, Any]
    unmentioned: tuple[str, ...] = ()
    """The question's words that declined it: no article mentions them."""


def passage_url(passage: Passage) -> str:
    """Where a passage stands in the article view."""
    return f"/article/{passage.article_id}#{passage.anchor}"


def assemble(
    question: str,
    history: tuple[str, ...],
    hits: list[Hit],
    index: LoadedIndex,
    *,
    answerable: bool = True,
    relevant: list[bool] | None = None,
    unmentioned: tuple[str, ...] = (),
) -> Answer:
    """Turn retrieval hits into an answer that carries each passage's article and the disclaimer."""
    ranked = []
    for rank, hit in enumerate(hits, start=1):
        passage = index.passages[hit.index]
        ranked.append(
            RankedPassage(
                rank=rank,
                passage=passage,
                article=index.articles[passage.article_id],
                score=round(hit.score, 4),
                relevant=answerable if relevant is None else relevant[rank - 1],
                items=introduced(index.passages, hit.index),
                lead=lead_of(index.passages, hit.index),
            )
        )
    return Answer(
        question=question,
        history=history,
        answerable=answerable,
        passages=tuple(ranked),
        disclaimer=disclaimer_for(ranked, index),
        index=index.manifest.summary(),
        unmentioned=unmentioned,
    )


def shown_hits(hits: Sequence[Hit], passages: Sequence[Passage], k: int) -> list[Hit]:
    """The first `k` hits that no lead-in shown above already lists. Shown once in "... the
    following:" and again as cards of their own, a list's items took the places of other
    statements (44 of the 513 gold answers showed one twice). Nor a lead-in ("… requires all
    three of the following:", or a bare "Rivaroxaban") whose items are all shown above it as
    cards, each under its lead-in's words: it would show them again and add nothing (72 of
    603 gold answers at k=5 did)."""
    shown: list[Hit] = []
    listed: set[str] = set()  # the statements a lead-in above shows in its list
    ids: set[str] = set()  # and the statements shown as cards
    for hit in hits:
        if len(shown) == k:
            break
        passage = passages[hit.index]
        items = introduced(passages, hit.index)
        if passage.id in listed or (items and ids.issuperset(i.id for i in items)):
            continue  # nothing new: its list is above, or its items are
        shown.append(hit)
        ids.add(passage.id)
        listed.update(item.id for item in items)
    return shown


def longest_list(passages: Sequence[Passage]) -> int:
    """The most statements one lead-in introduces: how many hits past k an answer may skip."""
    return max((len(introduced(passages, at)) for at in range(len(passages))), default=0)


def introduced(passages: Sequence[Passage], at: int) -> tuple[Passage, ...]:
    """The statements the passage at `at` introduces, when it is a lead-in: the bullets and
    table rows right after it whose context it is (also in the subsections that open under
    it), with the lists nested under them ("IVIg:" above its doses), or an item above the
    list nested in it ("Apixaban" above "10 mg twice daily for 7 days, …"). Alone,
    "Diagnosis requires all three of the following:" answers nothing, nor "Apixaban"; with
    its list each is the answer."""
    lead = passages[at]
    leading = {lead.text}  # the lead-in, and the items that lead lists of their own
    if lead.context:  # as an item hands itself down
        leading.add(f"{lead.context} {lead.text}")
    items = []
    for following in range(at + 1, len(passages)):  # no copy of a large library's tail
        passage = passages[following]
        if passage.article_id != lead.article_id or passage.context not in leading:
            break
        if passage.kind in PassageKind.LISTED:
            items.append(passage)
            # what it hands down to a list nested under it (`ingest.chunking.chunk`)
            leading.add(passage.text)
            if passage.context:
                leading.add(f"{passage.context} {passage.text}")
    return tuple(items)


def lead_of(passages: Sequence[Passage], at: int) -> Passage | None:
    """The passage above `at` whose text its context is (or ends with, as a nested item hands
    down "Contraindications include: Relative"), in its article, within `LEAD_REACH`; when it
    prints no references, the first lead above it that does: an item under "Uncontrolled
    infection:" under "Surgery is indicated for: [2]" stands on [2]."""
    direct = found = nearest_lead(passages, at)
    while found is not None and not passages[found].citations and passages[found].context:
        found = nearest_lead(passages, found)
    cites = found is not None and passages[found].citations
    chosen = found if cites else direct
    return None if chosen is None else passages[chosen]


def nearest_lead(passages: Sequence[Passage], at: int) -> int | None:
    """The position of the passage right above `at` that its context ends with: the lead it
    stands under itself ("Uncontrolled infection:"), not the chain above that lead."""
    context = passages[at].context
    if not context:
        return None
    for before in range(at - 1, max(at - LEAD_REACH, 0) - 1, -1):
        passage = passages[before]
        if passage.article_id != passages[at].article_id:
            return None
        if context == passage.text or context.endswith(f" {passage.text}"):
            return before
    return None


LEAD_REACH = 200
"""How far above a passage its lead-in is looked for: longer than any list of an article."""


def cited_references(passage: Passage, article: Article) -> tuple[tuple[int, str], ...]:
    """The reference entries a passage cites, (number, text) in its citation order.

    Numbers the article lists no text for (the export has no reference list) are left out:
    the marker alone is still shown, from `citations`.
    """
    listed = dict(article.references)
    return tuple((n, listed[n]) for n in passage.citations if n in listed)


def disclaimer_for(ranked: list[RankedPassage], index: LoadedIndex) -> str:
    """The disclaimer of the article the answer quotes; an answer with no passage still
    carries one (each distinct disclaimer once, in article order, when several apply)."""
    articles = [r.article for r in ranked] or list(index.articles.values())
    texts = list(dict.fromkeys(a.disclaimer for a in articles))
    return "\n\n".join(texts)


def answer_to_dict(answer: Answer) -> dict[str, Any]:
    """The JSON shape shared by the API and `ask --json`."""
    return {
        "question": answer.question,
        "history": list(answer.history),
        "answerable": answer.answerable,
        "message": None if answer.answerable else NOT_COVERED,
        "unmentioned": list(answer.unmentioned),
        "passages": [
            {
                "rank": r.rank,
                "id": r.passage.id,
                "text": r.passage.text,
                "score": r.score,
                "relevant": r.relevant,
                "kind": r.passage.kind,
                "section": list(r.passage.section),
                "citations": list(r.passage.citations),
                "references": [
                    {"number": number, "text": text}
                    for number, text in cited_references(r.passage, r.article)
                ],
                "context": r.passage.context,
                "context_citations": list(r.lead.citations) if r.lead else [],
                "context_references": [
                    {"number": number, "text": text}
                    for number, text in (cited_references(r.lead, r.article) if r.lead else ())
                ],
                "items": [
                    {
                        "id": item.id,
                        "text": item.text,
                        "citations": list(item.citations),
                        "references": [
                            {"number": number, "text": text}
                            for number, text in cited_references(item, r.article)
                        ],
                        "url": passage_url(item),
                        "number": item.number,
                        "depth": item.depth,
                    }
                    for item in r.items
                ],
                "article_id": r.article.id,
                "article_title": r.article.title,
                "last_updated": r.article.last_updated.isoformat(),
                "review_status": r.article.review_status,
                "source_line": r.passage.line,
                "url": r.url,
                "number": r.passage.number,
                "depth": r.passage.depth,
            }
            for r in answer.passages
        ],
        "disclaimer": answer.disclaimer,
        "index": answer.index,
    }
