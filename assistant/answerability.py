"""Decide whether the article answers a question at all, and which passages are relevant.

Wrongly declining a real question is worse than showing a weak passage, so the thresholds
are fitted on the dev gold set (`mmn-assistant eval tests/gold/dev.jsonl --fit`) under the
constraint of under 2% wrong declines, and only then to decline as many out-of-scope
questions as possible. The signals:
- `dense`: the best cosine similarity between the search text and a passage;
- `coverage`: the share of the question's subject words that the corpus or its glossary
  knows (after spelling correction, inflections included), each word weighed by how specific
  it is in general English, so "my" or "time" weigh nothing and "pregnancy" much. Words that only
  phrase a question ("worth trying", "key difference", "my husband") and the topic every
  passage shares ("MMN") are not subject words; one plain unknown word is not yet evidence (a
  prior of one known ordinary word); a question of no words at all is not covered;
- `foreign`: content words the corpus does not know that name something specific: a rare
  word in general English ("eculizumab", "otitis"), unless it is a common word with an everyday
  suffix ("predominance"), or a capitalised name or acronym ("Kawasaki", "MRI") that does not
  start a sentence. A question about IVIg in Kawasaki disease shares most words with the
  article, but its subject is not in it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from assistant.followup import NEW_TOPIC, PHRASING_WORDS, WORD, content_words, straighten
from assistant.index import LoadedIndex
from assistant.lexical import tokenize
from assistant.retrieval import Retrieval
from assistant.vocabulary import zipf

# Fitted on tests/gold/dev.jsonl with `mmn-assistant eval tests/gold/dev.jsonl --fit` (README).
DENSE_FLOOR = 0.05
"""Below this best cosine similarity, a question is declined whatever its words."""
COVERAGE_FLOOR = 0.45
"""Below this share of known content words, a question is declined unless dense is strong."""
DENSE_STRONG = 0.5
"""At or above this best cosine similarity, a question is answered whatever its words."""
RELEVANT_MARGIN = 0.12
"""A passage is relevant when its cosine is within this of the best one (and the question is answerable)."""
COVERAGE_PRIOR = 1.5
"""The weight of the known word assumed in every question (a prior on coverage)."""
SPECIFIC_ZIPF = 6.0
"""Words at least this common in general English (Zipf 6: once per thousand words) say nothing
of a question's subject."""
DESCRIBING_SUFFIXES: dict[str, tuple[str, ...]] = {
    "ance": ("ant",), "ence": ("ent",), "ancy": ("ant",), "ency": ("ent",), "ity": ("", "e"),
    "ness": ("",), "ment": ("",), "ly": ("",), "able": ("", "e"), "ible": ("", "e"),
    "ator": ("ate",), "ization": ("ize",), "isation": ("ise",),
}  # fmt: skip
"""Everyday English suffixes, and what the word they are built on ends with."""
RARE_ZIPF = 3.0
"""A word rarer than this in general English (Zipf scale: 3 is once per million words) is a name."""


@dataclass(frozen=True, slots=True)
class Thresholds:
    dense_floor: float = DENSE_FLOOR
    coverage_floor: float = COVERAGE_FLOOR
    dense_strong: float = DENSE_STRONG
    relevant_margin: float = RELEVANT_MARGIN


@dataclass(frozen=True, slots=True)
class Signals:
    dense: float
    coverage: float
    unknown: tuple[str, ...]
    foreign: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Judgement:
    answerable: bool
    relevant: tuple[bool, ...]
    signals: Signals


def _names(question: str) -> set[str]:
    """Capitalised words and acronyms, except where a sentence starts ("Starting IVIg ...")."""
    names = set()
    for match in WORD.finditer(question):
        word = match.group()
        before = question[: match.start()].rstrip()
        starts_sentence = not before or before[-1] in ".!?:;"
        if sum(c.isupper() for c in word) >= 2 or (word[0].isupper() and not starts_sentence):
            names.add(word.lower())
    return names


def _rare(word: str) -> bool:
    """A rare word that names a thing ("eculizumab", "otitis"). Short lower-case tokens that
    are rare ("hx", "neg") are a clinician's shorthand for ordinary words, not names; so are
    rare words built on a common one with an everyday suffix ("predominance" on "predominant",
    "classically" on "classical"): they describe. "Nephrotoxicity" is built on a rare word, so
    it still names something."""
    return len(word) >= 4 and zipf(word) < RARE_ZIPF and not _describes(word)


def _describes(word: str) -> bool:
    for suffix, replacements in DESCRIBING_SUFFIXES.items():
        if word.endswith(suffix) and len(word) > len(suffix) + 3:
            base = word[: -len(suffix)]
            if any(zipf(base + r) >= RARE_ZIPF for r in replacements):
                return True
    return False


def specificity(word: str) -> float:
    """How much a word says about a question's subject: nothing for the commonest words of
    English ("my", "has", "time"), more the rarer it is (an inverse document frequency read
    off general English). A compound is as specific as its rarest part ("anti-GM2")."""
    return max(0.0, SPECIFIC_ZIPF - min(zipf(p) for p in word.split("-") if p))


def _subject_words(question: str) -> list[str]:
    """Content words that could name a subject: not phrasing, not stop words."""
    return [w for w in content_words(question) if w not in PHRASING_WORDS and tokenize([w])[0]]


def signals(
    question: str,
    retrieval: Retrieval,
    index: LoadedIndex,
) -> Signals:
    vocabulary = index.vocabulary
    question = NEW_TOPIC.sub("", straighten(question), count=1)  # "New question:" asks nothing
    # Words of a glossary phrase the question uses ("pick up", "blood test") are known there.
    in_phrases = {w for term in vocabulary.matched_terms(question) for w in WORD.findall(term)}

    def known(word: str) -> bool:  # vocabulary.knows covers words whose stems the corpus has
        return word in in_phrases or vocabulary.knows(word) or bool(vocabulary.corrections(word))

    # The topic every passage shares ("MMN") says nothing of whether the article covers the
    # aspect asked about ("MRI findings in MMN").
    words = _subject_words(vocabulary.without_shared(question))
    weights = {w: specificity(w) for w in words}
    unknown = [w for w in words if not known(w)]
    counted = sum(weights.values())
    missing = sum(weights[w] for w in unknown)
    if counted:
        # One plain unknown word ("did everyone get better?") is not yet evidence of a subject
        # the article lacks: the share is taken as if a known word of weight COVERAGE_PRIOR
        # were there too.
        coverage = 1.0 - missing / (counted + COVERAGE_PRIOR)
    else:
        # Nothing of its own to judge: "what is MMN?" and "and the dose?"-like follow-ups lean
        # on the topic or the conversation; a question of no words at all asks nothing.
        coverage = 1.0 if retrieval.follow_up or content_words(question) else 0.0
    names = _names(question)
    foreign = tuple(w for w in unknown if w in names or any(_rare(p) for p in w.split("-")))
    dense = max(retrieval.dense_scores.values(), default=0.0)
    return Signals(dense=dense, coverage=coverage, unknown=tuple(unknown), foreign=foreign)


def decide(found: Signals, thresholds: Thresholds) -> bool:
    """Whether the article answers the question, from its signals."""
    if found.dense >= thresholds.dense_strong:
        return True
    return (
        found.dense >= thresholds.dense_floor
        and found.coverage >= thresholds.coverage_floor
        and not found.foreign
    )


def judge(
    question: str,
    retrieval: Retrieval,
    index: LoadedIndex,
    thresholds: Thresholds = Thresholds(),
) -> Judgement:
    found = signals(question, retrieval, index)
    answerable = decide(found, thresholds)
    relevant = tuple(
        answerable
        and (hit.dense if hit.dense is not None else 0.0)
        >= found.dense - thresholds.relevant_margin
        for hit in retrieval.hits
    )
    if answerable and relevant and not relevant[0]:
        relevant = (
            True,
            *relevant[1:],
        )  # the first passage of an answered question is shown as relevant
    return Judgement(answerable, relevant, found)


@dataclass(frozen=True, slots=True)
class Fit:
    thresholds: Thresholds
    wrongly_declined: float
    declined_out_of_scope: float


def fit(
    observations: Sequence[tuple[Signals, bool]],
    *,
    max_wrong: float = 0.02,
    grid: Iterable[tuple[float, float, float]] | None = None,
) -> Fit:
    """The thresholds that decline the most out-of-scope questions while wrongly declining
    at most `max_wrong` of the in-scope ones; ties go to the most lenient thresholds.

    `observations` pairs each gold question's signals with whether it is out of scope.
    """
    if grid is None:
        floors = [round(0.05 * i, 2) for i in range(0, 9)]
        coverages = [round(0.05 * i, 2) for i in range(0, 19)]
        strongs = [round(0.4 + 0.05 * i, 2) for i in range(0, 8)]
        grid = itertools.product(floors, coverages, strongs)
    in_scope = [s for s, oos in observations if not oos]
    outside = [s for s, oos in observations if oos]
    best: tuple[tuple[float, ...], Fit] | None = None
    for floor, coverage, strong in grid:
        if strong < floor:
            continue
        thresholds = Thresholds(floor, coverage, strong)
        wrong = sum(not decide(s, thresholds) for s in in_scope) / max(len(in_scope), 1)
        if wrong > max_wrong:
            continue
        declined = sum(not decide(s, thresholds) for s in outside) / max(len(outside), 1)
        key = (declined, -wrong, -floor, -coverage, -strong)
        if best is None or key > best[0]:
            best = (key, Fit(thresholds, wrong, declined))
    if best is None:
        return Fit(Thresholds(0.0, 0.0, 0.0), 0.0, 0.0)
    return best[1]
