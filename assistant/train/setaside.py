"""Out-of-scope examples that new content may answer are set aside from training.

An out-of-scope example teaches the "not covered" vectors that its kind of question is not
answered. When an editor adds or rewrites a passage on that very topic, the example would keep
declining the questions the new passage answers. So before training, each out-of-scope example
that was there before the change is checked against the passages with new wording:

- its nearest passage, by the model's own (untrained) vectors or by BM25, is new or edited;
- by the vectors (a follow-up read alone or with its conversation, whichever is nearer), it is
  as close to that passage as most in-scope examples asked alone are to their own answers (the
  `set_aside_quantile` of those cosines, fitted on every build's examples);
- it shares with that passage a subject word (rarer in English than `set_aside_rarity`) that
  no passage of the version before had: the example was out of scope because the article
  lacked its subject, and the new wording brings it. A passage corrected in its own words (a
  dose, a date) brings no new subject, so it sets nothing aside; nor does a common word
  ("before", "home") that an edit happens to add. A new article brings hundreds of new words,
  so for its passages the word shared must be the article's own subject (a word of its topic
  or file name that the version before did not have: "kawasaki"): "which topical steroid for
  eczema?" stays out of scope beside a Kawasaki article's corticosteroids, "how is Kawasaki
  disease treated?" is set aside.

A first build has no version before, but its examples were written for the articles they
answer: an article that none of them answers (one added without examples, or from outside the
team) is new to them, as if added after they were written (`unseen_by_examples`), so "How do I
manage DKA?" written beside a neurology article is set aside for a DKA article built with it.

Such an example is no longer trained as not covered: by default it trains as a question the new
passage answers (`TrainingSettings.set_aside_trains`), and it is listed for an editor, with the
passage, until the editor resolves it (`mmn-assistant examples resolve`): answered by the passage (it moves into
the article's examples) or still out of scope (it records the passage in `not_answered_by`).
Until then the new content wins. A set-aside example stays set aside from build to build,
following its passage through later edits, until it is resolved.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from assistant.ingest.examples import Example
from assistant.ingest.lineage import ADDED, UNCHANGED, Lineage, Link
from assistant.ingest.matching import zipf
from assistant.ingest.tokens import WORD, tokenize
from assistant.records import Article, Passage
from assistant.search.routing import names_of
from assistant.settings import TrainingSettings


@dataclass(frozen=True, slots=True)
class Earlier:
    """What the published version recorded: the out-of-scope examples it trained on or set
    aside (their keys; None when it did not record them) and what it set aside, by passage."""

    out_of_scope: frozenset[str] | None
    set_aside: dict[str, str]
    """Example key -> the id of the passage it was set aside for."""

    @classmethod
    def of(cls, training: dict[str, Any] | None, changes: dict[str, Any] | None) -> Earlier:
        keys = (training or {}).get("out_of_scope_keys")
        aside = ((changes or {}).get("examples") or {}).get("set_aside") or []
        return cls(
            frozenset(keys) if isinstance(keys, list) else None,
            {str(s["key"]): str(s["passage"]) for s in aside if "key" in s and "passage" in s},
        )


@dataclass(frozen=True, slots=True)
class SetAside:
    """An out-of-scope example no longer trained as not covered, because passage `position` may
    answer it (it trains towards that passage instead, unless `set_aside_trains` is off)."""

    example: Example
    position: int
    dense: float
    lexical: float
    carried: bool
    """Set aside by an earlier build and not resolved since."""


def subject_stems(text: str, rarity: float) -> frozenset[str]:
    """The search stems of the text's words that are rarer in English than Zipf `rarity`. A
    compound is judged by its parts, as search reads it: "IVIg-treated" brings "ivig", not
    "treat" (its rarity as a whole set "How is ALS treated?" aside for a new IVIg bullet)."""
    parts = (p for w in WORD.findall(text.lower()) for p in _PARTS.split(w))
    words = [w for w in dict.fromkeys(parts) if zipf(w) < rarity]
    return frozenset(s for stems in tokenize(words) for s in stems)


_PARTS = re.compile(r"['-]")


@dataclass(frozen=True, slots=True)
class Scores:
    """Untrained scores of the examples: cosine and BM25 against every passage (rows: examples
    in the order given); the search stems of each example's question, each passage's subject
    stems (`subject_stems`), and every stem of the version before."""

    dense: np.ndarray
    lexical: np.ndarray
    question_stems: list[frozenset[str]]
    passage_stems: list[frozenset[str]]
    before: frozenset[str]


def thresholds(
    examples: Sequence[Example], scores: Scores, quantile: float
) -> tuple[float, float] | None:
    """The cosine and the BM25 score that in-scope examples asked alone reach against their own
    answers at `quantile` (None without such examples); the BM25 one is only reported."""
    dense, lexical = [], []
    for row, example in enumerate(examples):
        if example.answers and not example.history:
            dense.append(float(scores.dense[row, list(example.answers)].max()))
            lexical.append(float(scores.lexical[row, list(example.answers)].max()))
    if not dense:
        return None
    return float(np.quantile(dense, quantile)), float(np.quantile(lexical, quantile))


def find(
    examples: Sequence[Example],
    scores: Scores,
    passages: Sequence[Passage],
    lineage: Lineage,
    earlier: Earlier,
    settings: TrainingSettings,
    articles: Sequence[Article] = (),
) -> tuple[list[SetAside], dict[str, float] | None]:
    """The out-of-scope examples to set aside, and the thresholds used (for the manifest).
    An example that names one of `articles` by its name ("MMN", in its question or its
    conversation) is never set aside for another article's passage: "Can physical trauma or
    stress set off a flare of MMN?" was set aside for a gout article's bullet on trauma."""
    if lineage.first:
        return [], None
    names = names_of({a.id: a for a in articles})
    fitted = thresholds(examples, scores, settings.set_aside_quantile)
    changed = np.array([lineage.changed(p.id) for p in passages], dtype=bool)
    carried_to = _carried(earlier, lineage, passages)
    elsewhere = _elsewhere(passages) if fitted is not None and changed.any() else {}
    found: list[SetAside] = []
    for row, example in enumerate(examples):
        if example.answers:
            continue
        dense, lexical = scores.dense[row], scores.lexical[row]
        if example.key in carried_to:
            position = carried_to[example.key]
            if passages[position].id not in example.not_answered_by:
                found.append(
                    SetAside(
                        example, position, float(dense[position]), float(lexical[position]), True
                    )
                )
            continue
        if fitted is None or not changed.any():
            continue
        if earlier.out_of_scope is not None and example.key not in earlier.out_of_scope:
            continue  # written with the content it sits beside: the editor knew it
        named = (
            set().union(*(names.named(t) for t in (example.question, *example.history)))
            if names is not None
            else set()
        )
        for position in dict.fromkeys((int(dense.argmax()), int(lexical.argmax()))):
            article = passages[position].article_id
            if named and article not in named:
                continue
            asked = scores.question_stems[row]
            # what names a term only another article has ("IVIg" beside AF, "MMN") is that
            # article's question, whatever word it shares with this one's new passage
            other = bool(asked & elsewhere.get(article, frozenset()))
            novel = scores.passage_stems[position] - scores.before
            if article in lineage.new_articles:  # its subject, or a term only it brings
                novel = _article_subject(passages[position]) - scores.before
                if not other and not asked & novel:
                    novel = subject_stems(passages[position].text, TERM_RARITY) - scores.before
            elif other:
                continue
            if (
                changed[position]
                and dense[position] >= fitted[0]
                and lexical[position] > 0
                and scores.question_stems[row] & novel
                and passages[position].id not in example.not_answered_by
            ):
                found.append(
                    SetAside(
                        example, position, float(dense[position]), float(lexical[position]), False
                    )
                )
                break
    used = (
        None if fitted is None else {"dense": round(fitted[0], 4), "lexical": round(fitted[1], 4)}
    )
    return found, used


def unseen_by_examples(
    lineage: Lineage, passages: Sequence[Passage], examples: Sequence[Example]
) -> tuple[Lineage, tuple[str, ...]] | None:
    """For a first build: the lineage as if the articles no in-scope example answers were
    added after the examples were written, with the other articles' texts as the version
    before; None when there is no such article (or no example answers any)."""
    if not lineage.first:
        return None
    known = {e.article_id for e in examples if e.answers}
    unseen = {p.article_id for p in passages} - known
    if not known or not unseen:
        return None
    links = {
        p.id: Link(ADDED) if p.article_id in unseen else Link(UNCHANGED, (p.id,)) for p in passages
    }
    before = tuple(p.index_text for p in passages if p.article_id not in unseen)
    return Lineage(links, new_articles=frozenset(unseen)), before


ARTICLE_SUBJECT_RARITY = 6.0
"""A new article's subject is any word of its topic or file name but the commonest ("what"):
"heart" (Zipf 5.3) names a heart failure article's subject though it is too common to name a
passage's."""


TERM_RARITY = 2.0
"""A term a new article brings (a score, a drug: "CHA2DS2-VASc", "dabigatran", "ERCP") is rarer
in English than this Zipf: an out-of-scope example written before the article that names it
("How do I calculate the CHA2DS2-VASc score?") is the article's question now, as one naming
its subject is. Commoner words a new article brings by the hundred ("eczema") set nothing aside."""


def _elsewhere(passages: Sequence[Passage]) -> dict[str, frozenset[str]]:
    """For each article, the terms (`TERM_RARITY`) that only other articles' passages have: a
    question naming one ("Does IVIg raise the risk of DVT, should I give LMWH during
    infusions?") is about another article, whatever word it shares with this one's new passage
    ("heparin"). Terms only: a commoner word ("management") is everyone's. A question that
    names a new article's subject is set aside for it all the same: refusing those too kept
    seven examples near new articles' topics in training as not covered, and six articles
    without examples of their own lost 2 first answers and declined 8 more in-scope questions
    (6 more out-of-scope) over three gold sets (docs/retrieval.md)."""
    if len({p.article_id for p in passages}) < 2:
        return {}
    by_article: dict[str, set[str]] = {}
    for passage in passages:
        terms = subject_stems(passage.index_text, TERM_RARITY)
        by_article.setdefault(passage.article_id, set()).update(terms)
    every = set().union(*by_article.values())
    return {article: frozenset(every - own) for article, own in by_article.items()}


def _article_subject(passage: Passage) -> frozenset[str]:
    """The search stems of the words of a passage's article's topic and file name."""
    topic = passage.index_text.split("\n", 1)[0]  # what is embedded starts with the topic
    return subject_stems(f"{topic} {passage.article_id.replace('-', ' ')}", ARTICLE_SUBJECT_RARITY)


def _carried(earlier: Earlier, lineage: Lineage, passages: Sequence[Passage]) -> dict[str, int]:
    """Examples set aside before, each with the position of its passage now (followed through
    an edit to its successor); those whose passage was removed are dropped."""
    position_of = {p.id: i for i, p in enumerate(passages)}
    successor: dict[str, int] = {}
    for passage in passages:
        for before in lineage.links[passage.id].predecessors if passage.id in lineage.links else ():
            successor.setdefault(before, position_of[passage.id])
    out = {}
    for key, passage_id in earlier.set_aside.items():
        if passage_id in successor:
            out[key] = successor[passage_id]
        elif passage_id in position_of:
            out[key] = position_of[passage_id]
    return out
