"""The learned ranker as served: a query adapter and a "not covered" decision, applied to a question.

A general embedding model places "IVIg dose for CIDP?" close to the article's MMN dosing
bullet: the words match. The article's example questions say which passage answers what and
which questions no article answers, so the build learns, per index version:

- a residual linear **query adapter**: q' = normalize(m + m·W), m = e(question) + b·e(history),
  W (d×d) starting at 0 and b a learned weight of the conversation before the question;
- an **offset for each passage's vector**, so that a passage moves towards its questions;
- `not_covered_vectors` **"not covered" vectors**, scored like passages; the out-of-scope
  examples target them;
- from k-fold cross-validation over the examples: the weights that fuse BM25 with the adapted
  dense scores, and the decline threshold on the margin (best "not covered" vector·q' - best
  passage·q'), chosen so that at most `max_wrong_declines` of in-scope questions are declined.

Training (`assistant.train`) fits these numbers when a version is built and stores them in the
version's `ranker/` (`assistant.search.artefact`), none in code; this module applies them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from assistant.ingest.tokens import Words, read
from assistant.search.fusion import convex
from assistant.search.shifts import Shifts
from assistant.settings import TrainingSettings

_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})


_DOTTED = re.compile(r"\b[A-Z](?:\.[A-Z])+\.?")
"""An initialism written with dots ("N.C.S.", "I.V.I.G."), capitals only ("e.g." is no term)."""


def straighten(text: str) -> str:
    """Typographic quotes as typed on a phone ("What\u2019s MMN?") read as plain ones, and an
    initialism written with dots as it is written without ("M.M.N." as "MMN": read letter by
    letter, it matched no term and gave BM25 no word)."""
    return _DOTTED.sub(lambda m: m.group().replace(".", ""), text.translate(_QUOTES))


class Expander(Protocol):
    def bridge(self, query: Words) -> Words: ...


def read_question(
    question: str, history: Sequence[str], turns: int, vocabulary: Expander | None = None
) -> tuple[Words, Words | None]:
    """The question as searched and, for a follow-up, the conversation before it (its last
    `turns` earlier questions), each read once (`assistant.ingest.tokens.read`) and followed by
    the vocabulary's bridges to the article's words when a vocabulary is given."""
    earlier = [straighten(h) for h in history[-turns:]] if turns else []
    joined = " ".join(earlier) if earlier else None
    text = read(straighten(question))
    context = None if joined is None else read(joined)
    if vocabulary is not None:
        text = vocabulary.bridge(text)
        context = vocabulary.bridge(context) if context is not None and joined else None
    return text, context


def query_texts(
    question: str, history: Sequence[str], turns: int, vocabulary: Expander | None = None
) -> tuple[str, str | None]:
    """`read_question`'s texts: training reads examples through it, so what is learnt is what
    is served."""
    text, context = read_question(question, history, turns, vocabulary)
    return text.text, None if context is None else context.text


@dataclass(frozen=True, slots=True)
class Ranker:
    """What a build learnt (or the untrained default): applied to every question."""

    adapter: np.ndarray | None
    """W, d×d; None when untrained (the identity)."""
    not_covered: np.ndarray | None
    """The unit "not covered" vectors (k×d); None when no out-of-scope examples were given."""
    blend: float
    lexical_weight: float
    context_lexical_weight: float
    threshold: float | None
    """Decline when not_covered·q' - best·q' is at least this; None: never by the margin."""
    relevant_margin: float
    history_turns: int
    candidates: int
    trained: bool
    expand: bool = True
    passages: np.ndarray | None = None
    """The passages' vectors with their learnt offsets (unit length); None: the model's own."""
    floor: float | None = None
    """Untrained only: decline when the best cosine is below this."""
    shifts: Shifts | None = None
    """The glossary bridges' shifts: the model reads a question without them and they are
    added to its vector (`assistant.search.shifts`). None: it reads them in the text."""
    unmentioned_below: float | None = None
    """Decline a question with a word no article mentions that English writes less often
    than this (Zipf; fitted on the in-scope examples, `ingest.unmentioned.fit_cut`). None:
    never by its words."""

    def query_vector(self, question: np.ndarray, context: np.ndarray | None) -> np.ndarray:
        """The adapted, unit-length query vector from the question's and history's vectors."""
        m: np.ndarray = np.asarray(question, dtype=np.float32)  # each step below makes a new one
        if context is not None:
            m = m + self.blend * context
        if self.adapter is not None:
            m = m + m @ self.adapter
        norm = float(np.sqrt(m.dot(m))) or 1.0  # np.linalg.norm's own sum, without its checks
        return (m / norm).astype(np.float32, copy=False)

    def margin(self, query: np.ndarray, best: float) -> float | None:
        if self.not_covered is None:
            return None
        return float((self.not_covered @ query).max()) - best

    @property
    def decides(self) -> bool:
        """Whether this ranker ever declines: with no threshold and no floor it answers all."""
        return (
            (self.threshold is not None and self.not_covered is not None)
            or self.floor is not None
            or self.unmentioned_below is not None
        )

    def declines(self, margin: float | None, best: float) -> bool:
        """Whether no passage answers, from `margin(query, best)`: by the learnt threshold, or
        without one by the floor."""
        if margin is not None and self.threshold is not None:
            return margin >= self.threshold
        return self.floor is not None and best < self.floor

    def unmentioned(self, text: Words) -> tuple[str, ...]:
        """The words of a question read by the vocabulary that decline it: none of the articles
        mentions them, and English writes them rarely (`unmentioned_below`)."""
        cut = self.unmentioned_below
        if cut is None or not text.unmentioned:
            return ()
        return tuple(word for word, rarity in text.unmentioned if rarity < cut)

    def fuse(self, dense: dict[int, float], lexical: dict[int, float]) -> dict[int, float]:
        """Adapted dense scores fused with BM25 scores (each min-max normalised)."""
        return fuse(dense, lexical, self.lexical_weight)


def fuse(dense: dict[int, float], lexical: dict[int, float], weight: float) -> dict[int, float]:
    """Dense scores fused with lexical ones at `weight`: serving and cross-validation share it."""
    if not lexical or weight <= 0:
        return dict(dense)
    if not dense:
        return dict(lexical)
    return convex([dense, lexical], weights=[1.0, weight])


def with_context(question: np.ndarray, context: np.ndarray | None, weight: float) -> np.ndarray:
    """A follow-up's BM25 score of every passage: the question's plus `weight` times that of
    the conversation before it, summed over every passage before the best are taken (a passage
    middling on both may be best on the sum). Serving and training both merge through here."""
    if context is None or not weight:
        return question
    return question + weight * context


def top_scores(scores: np.ndarray, n: int, *, positive: bool = False) -> dict[int, float]:
    """The `n` best of `scores` by position (only those above 0 when `positive`: BM25's
    non-matches)."""
    n = min(n, len(scores))
    if not n:
        return {}
    if positive:  # usually fewer than n match at all: then they are the n best, as they are
        found = np.flatnonzero(scores > 0)
        if len(found) <= n:
            return dict(zip(found.tolist(), scores[found].tolist(), strict=True))
    top = np.argpartition(-scores, n - 1)[:n]
    values = scores[top]
    if positive:
        top, values = top[values > 0], values[values > 0]
    return dict(zip(top.tolist(), values.tolist(), strict=True))


def untrained(settings: TrainingSettings | None = None) -> Ranker:
    """The ranker of a build without examples: the model's own vectors, BM25 at a fixed weight
    (the one the examples chose before there were adapters: 0.5), no learned decline."""
    settings = settings or TrainingSettings()
    return configured(
        settings,
        adapter=None,
        not_covered=None,
        blend=settings.blend_start,
        lexical_weight=0.5,
        context_lexical_weight=0.5,
        threshold=None,
        trained=False,
        floor=settings.untrained_floor,
    )


def configured(settings: TrainingSettings, **learnt: Any) -> Ranker:
    """A ranker with what the settings decide (how much history, how many candidates, ...)
    and what was learnt (or not)."""
    return Ranker(
        relevant_margin=settings.relevant_margin,
        history_turns=settings.history_turns,
        candidates=settings.candidates,
        expand=settings.expand,
        **learnt,
    )
