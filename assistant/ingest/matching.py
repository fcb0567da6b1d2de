"""How a question's words meet the vocabulary's: terms as written, and slips of the keyboard.

A question is read against some thousands of glossary terms. One alternation of them all made
Python's `re` try every term at every word (0.5 ms a question, issue 24's profile); the same
terms folded into a trie make one pattern that tries only the terms sharing the letters read so
far, and matches exactly what the alternation matched (`tests/test_matching.py`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from os.path import commonprefix

from rapidfuzz import process
from rapidfuzz.distance import OSA

from assistant.ingest.inline import plain

_END = ""
"""The trie's mark that a term ends at a node (no character is empty)."""


def term_pattern(terms: Iterable[str]) -> re.Pattern[str] | None:
    """A case-insensitive pattern finding any of `terms` (lower case) as a whole word, or None
    for no terms. Where terms overlap ("ct", "ct scan") the longest that stands as a whole
    word wins, as in an alternation sorted longest first."""
    trie: dict = {}
    for term in terms:
        node = trie
        for char in term:
            node = node.setdefault(char, {})
        node[_END] = {}
    if not trie:
        return None
    return re.compile(r"(?<![\w-])(" + _render(trie) + r")(?![\w-])", re.IGNORECASE)


def _render(node: dict) -> str:
    """The node's branches as a group, longer continuations tried first (greedy `?`)."""
    branches = [re.escape(char) + _render(child) for char, child in node.items() if char]
    if not branches:
        return ""
    group = (
        branches[0]
        if len(branches) == 1 and len(branches[0]) == 1
        else ("(?:" + "|".join(branches) + ")")
    )
    return group + "?" if _END in node else group


def unhyphenated(terms: Iterable[str], rarer_than: float) -> dict[str, str]:
    """Each hyphenated term written without its hyphens, to the term: a phone or a hurried
    hand drops them ("zpak" for "Z-Pak", "hstrop"). Only where each word so joined is one
    English writes less often than `rarer_than` (Zipf): "rebound" is no "re-bound"."""
    found: dict[str, str] = {}
    for term in terms:
        joined = term.replace("-", "")
        changed = [w for w in joined.split() if w not in term.split()]
        if changed and all(w.isalnum() and zipf(w) < rarer_than for w in changed):
            found.setdefault(joined, term)
    return found


@lru_cache(maxsize=8192)
def zipf(word: str) -> float:
    """How common a word is in general English (wordfreq's Zipf scale: 3 is once per million
    words, 0 is never seen), from the data wordfreq ships: nothing is downloaded."""
    from wordfreq import zipf_frequency

    return zipf_frequency(word, "en")


def edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions and swaps of
    two neighbouring letters each count 1 ("onest" -> "onset" is one edit)."""
    return int(OSA.distance(a, b))


def closest_word(
    word: str,
    known: Sequence[str],
    edits: int | None = None,
    accept: Callable[[str], bool] | None = None,
) -> str | None:
    """The known word a misspelt word most likely stands for, or None.

    Typing slips are one or two edits (Damerau 1964): one edit is allowed up to 7 letters, two
    from 8 (`edits` may allow fewer); of the words that close and `accept`ed, the nearest wins,
    then the longest, then the first in alphabetical order. A slip rarely hits a word's first
    letter (Yannakoudakis & Fawthrop 1983) and a drug's name does ("teplizumab" is no
    "mepolizumab"), so only words that begin as it does, or with its first two letters
    swapped ("irtuximab"), are candidates.
    """
    allowed = allowed_edits(word) if edits is None else min(edits, allowed_edits(word))
    candidates = [w for w in known if _may_begin(w, word) and (accept is None or accept(w))]
    found = process.extract(word, candidates, scorer=OSA.distance, score_cutoff=allowed,
                            limit=None)  # fmt: skip
    if not found:
        return None
    best = min(found, key=lambda match: (match[1], -len(match[0]), match[0]))
    return str(best[0])


def _may_begin(known: str, word: str) -> bool:
    """Whether `known` begins as a slip of `word` can: with its first letter, or its first two
    letters swapped."""
    return known[:1] == word[:1] or (len(word) > 1 and known[:2] == word[1::-1])


def same_stem(a: str, b: str) -> bool:
    """Whether two words differ only in their last three letters ("cirrhotic", "cirrhosis")."""
    return len(commonprefix([a, b])) >= max(len(a), len(b)) - 3


def allowed_edits(word: str) -> int:
    """How many edits a slip of `word` may be (`closest_word`)."""
    return 1 if len(word) < 8 else 2


class Spellings:
    """Known words, for `closest_word`: only those of a length a slip could reach (n edits
    change a length by at most n) and beginning as a slip's may (`closest_word`) are compared.
    The same answer, from a fraction of the comparisons (a new word cost 175 us against 3,324
    known words when every word was compared)."""

    def __init__(self, words: Iterable[str], *, by_sound: bool = False) -> None:
        self._words = tuple(words)
        self._near: dict[int, dict[str, tuple[str, ...]]] = {}
        """The words a word of each length may be a slip of, by first letter, gathered once per
        length (user input cannot grow it past the lengths a question can hold)."""
        self._sounds: dict[str, list[str]] | None = {} if by_sound else None
        """With `by_sound`, the words by how they sound (`sound`), gathered on first use: a word
        spelt as it is said ("plasmafaresis", "kortikosteroids") is no slip of the keys."""

    def closest(
        self, word: str, edits: int | None = None, accept: Callable[[str], bool] | None = None
    ) -> str | None:
        by_start = self._near.get(len(word))
        if by_start is None:
            allowed = allowed_edits(word)
            grouped: dict[str, list[str]] = {}
            for w in self._words:
                if abs(len(w) - len(word)) <= allowed:
                    grouped.setdefault(w[:1], []).append(w)
            by_start = {start: tuple(ws) for start, ws in grouped.items()}
            self._near[len(word)] = by_start
        near = by_start.get(word[:1], ())
        if len(word) > 1 and word[1] != word[0]:
            near += by_start.get(word[1], ())
        found = closest_word(word, near, edits, accept)
        if found is not None or self._sounds is None or edits == 1 or len(word) < SOUND_LETTERS:
            return found
        if not self._sounds:  # built whole, then published: another thread never reads half
            sounds: dict[str, list[str]] = {}
            for w in self._words:
                sounds.setdefault(sound(w), []).append(w)
            self._sounds = sounds
        by_sound = self._sounds
        spoken = sound(word)  # one slip more than the spelling's, at most, once it sounds alike
        alike = closest_word(spoken, [s for s in by_sound if s[:1] == spoken[:1]], 1)
        matches = [w for w in by_sound.get(alike or "", ()) if accept is None or accept(w)]
        return min(matches, key=lambda w: (edit_distance(w, word), w)) if matches else None


SOUND_LETTERS = 8
"""The shortest word matched by how it sounds: a short one sounds like too many others."""
_SOUNDS = [("ph", "f"), ("ck", "c"), ("k", "c"), ("q", "c"), ("z", "s"), ("y", "i")]


def sound(word: str) -> str:
    """How a word is said, roughly, as a speller may write it: "ph" as "f", "k" as "c", "z" as
    "s", "y" as "i", a doubled letter as one ("plasmafaresis" and "plasmapheresis" alike)."""
    for written, said in _SOUNDS:
        word = word.replace(written, said)
    return re.sub(r"(.)\1+", r"\1", word)


@lru_cache(maxsize=8192)
def phrase_pattern(phrase: str) -> re.Pattern[str]:
    """A gold phrase as it is looked up in a passage: case aside, any run of spaces for a space,
    and whole words at its ends, so "ALS" is not found in "also", "AF" in "after", "5 mg" in
    "2.5 mg", nor "take 2" in "take 2.5 mg" (a gold phrase copied from a passage is whole words; the build and `eval` say
    where a phrase is found only inside longer words)."""
    words = phrase.split()
    first, last = (words[0], words[-1]) if words else ("", "")
    start = r"(?<!\w)" if re.match(r"\w", first) else ""
    if re.match(r"\d", first):
        start += r"(?<!\d[.,])"  # "5 mg" is not in "2.5 mg"
    end = r"(?!\w)" if re.search(r"\w$", last) else ""
    if re.search(r"\d$", last):
        end += r"(?![.,]\d)"  # nor "Dosing: 1" in "Dosing: 1.6-2.4 g/kg"
    return re.compile(start + _spaced(words) + end, re.IGNORECASE)


def _spaced(words: Sequence[str]) -> str:
    """The words as a pattern, any run of spaces between them."""
    return r"\s+".join(map(re.escape, words))


def holds(text: str, phrase: str) -> bool:
    """Whether `text` says `phrase` (`phrase_pattern`), or the phrase as a Markdown viewer
    shows it: a gold phrase copied from a Markdown article's source ("**Jaw claudication**")
    names the statement its passage reads ("Jaw claudication", `ingest.inline`)."""
    if phrase_pattern(phrase).search(text) is not None:
        return True
    shown = " ".join(plain(phrase).split())
    return bool(shown) and shown != phrase and phrase_pattern(shown).search(text) is not None


def inside_words(texts: Iterable[str], phrase: str) -> list[str]:
    """The longer words `phrase` is found inside, where it is not found as whole words: what a
    phrase with a cut word ("exchange" for "exchanges") or a short one ("ALS") matched before."""
    word = r"(?:\w|[.,](?=\d))*"  # a number's point or comma is inside it: "2.4" for "4"
    loose = re.compile(rf"{word}{_spaced(phrase.split())}{word}", re.IGNORECASE)
    found = {m.group().lower(): m.group() for t in texts for m in loose.finditer(t)}
    return sorted(found.values())[:3]
