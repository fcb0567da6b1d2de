"""Words of a question that no article mentions: the sign it asks about something else.

Near-topic questions an article does not answer ("tafamidis dose for ATTR amyloid" beside a
heart-failure article, "octreotide role in acute pancreatitis") embed close to the article's own
passages, and for an article without example questions the learnt margin cannot tell them from
its in-scope questions (docs/retrieval.md). What they share is a rare, specific word that no
article uses. A clinician's own words for what an article says are told apart here:
shorthand (words under `MIN_LETTERS`, "pna", "rvr"), a cut word ("fascics", "hydrocort"), a
slip of a common English word ("everywere"), and what the vocabulary corrects or bridges. What
is left, with how often English writes it, is for the ranker: it declines a question with a word
rarer than the cut the build fitted on the in-scope examples (`fit_cut`).
"""

from __future__ import annotations

import bisect
import unicodedata
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from assistant.ingest.matching import Spellings, zipf

MIN_LETTERS = 6
"""Shorter words are mostly shorthand for what an article writes out ("pna", "kcl", "lbbb":
as many of the blind gold sets' in-scope questions held one as out-of-scope ones)."""
REPORTED_BELOW = 3.0
"""Only words English writes less often than this (Zipf: once in a million words) are
reported: commoner ones ("gallbladder" 2.8 is near) are a clinician's plain words."""
COMMON_ZIPF = 3.0
"""A word one or two edits from an English word at least this common is a slip of it."""
ENGLISH_WORDS = 100_000
"""How many of wordfreq's English words are known (its list, most common first)."""


@lru_cache(maxsize=1)
def _english() -> tuple[tuple[str, ...], Spellings]:
    """English words in order (for cut words), and the common ones (for slips): read once
    from the data wordfreq ships, about 0.3 s."""
    from wordfreq import top_n_list

    listed = [w for w in top_n_list("en", ENGLISH_WORDS) if w.isalpha()]
    # most common first: the common words are a prefix, found by bisection on their Zipf
    low, high = 0, len(listed)
    while low < high:
        middle = (low + high) // 2
        if zipf(listed[middle]) >= COMMON_ZIPF:
            low = middle + 1
        else:
            high = middle
    common = [w for w in listed[:low] if len(w) >= 4]
    return tuple(sorted(listed)), Spellings(common)


def begins(words: Sequence[str], prefix: str) -> bool:
    """Whether a word of the sorted `words` begins with `prefix` and is longer."""
    at = bisect.bisect_right(words, prefix)
    return at < len(words) and words[at].startswith(prefix)


def cut_from(word: str, corpus_words: Sequence[str]) -> bool:
    """Whether `word` is a corpus word cut short ("hydrocort"), or one with its last letters
    changed ("fascics" for "fasciculations"), or an English word cut short ("neurophys")."""
    english, _ = _english()
    return begins(corpus_words, word[:-2]) or begins(english, word)


JOINED_PART = 4
"""The shortest part of two corpus words typed as one ("motorneurone", "conductionblock")."""


def joined_from(word: str, known: Callable[[str], bool]) -> bool:
    """Whether `word` is two corpus words typed as one, each `known` in some inflection: the
    clinician's spelling of what an article says, not a word it lacks. Not a corpus word
    after any prefix: "chemoradiotherapy" ends in "radiotherapy" and is no word of an
    article that names radiotherapy."""
    return any(
        known(word[:at]) and known(word[at:])
        for at in range(JOINED_PART, len(word) - JOINED_PART + 1)
    )


def slip_of_english(word: str) -> bool:
    """Whether `word` is a slip of a common English word ("everywere", "evrybody")."""
    _, common = _english()
    return common.closest(word) is not None


def fit_cut(found: Sequence[tuple[tuple[str, float], ...]], budget: float) -> float | None:
    """The Zipf below which a question's unmentioned word declines it: as high as it can be
    (up to `REPORTED_BELOW`) while declining at most `budget` of the in-scope examples, whose
    unmentioned words are `found`. None when there are no examples or the budget allows none."""
    if not found:
        return None
    allowed = int(budget * len(found))
    rarest = sorted(min(rarity for _, rarity in words) for words in found if words)
    if allowed >= len(rarest):
        return REPORTED_BELOW
    cut = min(rarest[allowed], REPORTED_BELOW)  # strictly below: at most `allowed` declined
    return cut if cut > 0 else None


def declined_by_words(
    asked: Sequence[tuple[str, tuple[tuple[str, float], ...]]], cut: float | None
) -> list[dict[str, Any]]:
    """The in-scope examples (question, its unmentioned words) that `cut` declines, with the
    words: for an editor, whose synonyms rule for the word would answer them."""
    if cut is None:
        return []
    return [
        {"question": question, "words": [w for w, rarity in words if rarity < cut]}
        for question, words in asked
        if any(rarity < cut for _, rarity in words)
    ]


def unaccented(word: str) -> str:
    """A word without its accents: "sjogren" is how a keyboard types "Sjögren"."""
    if word.isascii():
        return word
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


def warm() -> None:
    """Read the English word lists now, not on a clinician's question."""
    _english()
