"""Words as the assistant reads them: the one tokeniser of questions, passages and terms.

Two patterns, each for one job:
- `WORD`, a word as written: letters or digits joined by inner hyphens or apostrophes
  ("anti-GM1", "it's"). Spelling correction reads it, and the page emphasises whole words by it
  (so "how long" marks "long" but never the "long" inside "long-term").
- `TOKEN`, a word as search counts it: bm25s's pattern, runs of two or more word characters,
  lower-cased, stop words removed, Snowball-stemmed (`tokenize`).

A question is read once (`read`) into its words and search stems; the vocabulary's bridges
and BM25 both work from that reading instead of tokenising the question again. Hand-written
rather than `bm25s.tokenize`, because a measurement says why (`tokenize` below).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


TOKEN = re.compile(r"(?u)\b\w\w+\b")
"""bm25s's own token pattern: words of two characters or more."""
WORD = re.compile(r"[^\W_]+(?:['-][^\W_]+)*")
"""A word as written: letters or digits, joined by inner hyphens or apostrophes."""


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.tokenization import _infer_stopwords

    return frozenset(_infer_stopwords("en"))


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Lower-cased, stop words removed, Snowball-stemmed words: the same for passages and queries.

    The same tokens as `bm25s.tokenize(texts, stopwords="en", stemmer=...)` (a test holds them
    together) at a fraction of its cost: bm25s rebuilds its stop-word set and vocabulary on each
    call, about 1 ms for one question, which is a tenth of the ONNX query embedding.
    """
    stem = _stemmer().stemWords
    stop = _stopwords()
    return [stem([w for w in TOKEN.findall(text.lower()) if w not in stop]) for text in texts]


@dataclass(frozen=True, slots=True)
class Words:
    """A text read once: the text, its words as written (lower-cased) and its search stems.

    `then` adds text read separately: because `TOKEN` never spans the punctuation that joins
    them, the stems of "a (b; c)" are the stems of "a" followed by those of "b" and "c", so an
    expanded question is never tokenised again."""

    text: str
    words: tuple[str, ...]
    stems: tuple[str, ...]
    model_text: str | None = None
    """For a question the vocabulary bridged: the text the model reads when the bridges are
    shifts of its vector (`assistant.search.shifts`): the question and its spelling corrections,
    without the glossary's bridges. None: `text`."""
    shifts: tuple[str, ...] = ()
    """For a question the vocabulary bridged: the glossary bridges in it, each a term's whole
    bridge ("a; b"), whose shifts are added to its vector instead."""
    unmentioned: tuple[tuple[str, float], ...] = ()
    """For a question the vocabulary read: its rare words no article mentions, each with how
    often English writes it (Zipf; `assistant.ingest.unmentioned`)."""

    @property
    def for_model(self) -> str:
        """What the model reads when the bridges are shifts."""
        return self.text if self.model_text is None else self.model_text

    def then(self, joiner: str, more: Words, closer: str = "") -> Words:
        """This text, `joiner`, `more`, `closer`: the joiners must hold no word characters."""
        return Words(
            f"{self.text}{joiner}{more.text}{closer}",
            self.words + more.words,
            self.stems + more.stems,
        )


def read(text: str) -> Words:
    """The words and search stems of a text."""
    return Words(text, tuple(WORD.findall(text.lower())), tuple(tokenize([text])[0]))
