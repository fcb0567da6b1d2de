"""Bridge the clinician's words and the article's: abbreviations, synonyms, misspellings.

Three sources, all applied to the query (the article is never rewritten):
- abbreviations learnt from the corpus itself, by pairing a short form in parentheses with
  its long form the way Schwartz and Hearst (2003) do ("intravenous immunoglobulin (IVIg)");
- two editable files of rules (format below): the clinical vocabulary
  (`corpus/clinical-vocabulary.txt`), which serves every article: drug names to their classes,
  ward shorthand to its words, British and American spellings; and the synonyms file
  (`corpus/synonyms.txt`) for the articles' own terms and the lay words for them;
- spelling correction of query words the corpus does not contain, to the closest corpus word.

The files' format and reading: `assistant.ingest.glossary`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from itertools import pairwise

from assistant.ingest import unmentioned as rare
from assistant.ingest.abbreviations import find_abbreviations
from assistant.ingest.glossary import Rule, key_of
from assistant.ingest.matching import (
    Spellings,
    allowed_edits,
    same_stem,
    term_pattern,
    unhyphenated,
    zipf,
)
from assistant.ingest.tokens import WORD, Words, read, tokenize
from assistant.records import Article

"""Read in this order: the articles' own synonyms add to what the clinical vocabulary says."""
MORE_COMMON_BY = 2.0
"""A word English writes is a slip of a corpus word one edit away only if that one is this much
more common (100 times: about as rare as a slip of a given letter); one it never writes is."""
ENDING_ZIPF = 2.0
"""A word rarer than this is a corpus word with another ending two edits away ("cirrhotic" 1.7,
"cirrhosis") or a letter added ("titres"); a commoner one is its own ("diabetic", "thought")."""
HYPHEN_VARIANT_ZIPF = 3.0
"""A word English writes less often than this (Zipf) is the corpus's word with or without a
hyphen ("preeclampsia" 2.3, "postpartum" 3.0): "representation" (4.3) or "reformation" (3.5)
are words of their own, not "re-presentation" or "re-formation"."""
JOINED_ZIPF = 1.0
"""A glossary term is also found typed without its hyphens only where English never writes the
word so joined (Zipf under 1: "zpak", "hstrop"; "misc" is 2.9, not "MIS-C")."""
MAX_REMEMBERED_WORDS = 10_000
"""Spelling and word-knowledge answers kept per vocabulary; questions are user input, so the
memory is bounded."""
_NEGATED = re.compile(r"\bnon[-\u2010\u2011]?\w+", re.IGNORECASE)
"""A word its prefix negates: none of its stems may match a rule ("non-steroidal")."""
_PARTS = re.compile(r"[^\W_]+")


_LATIN = re.compile(r"[^\W\d_](?:[^\W\d_]|-(?=[^\W\d_]))*")


def _latin_runs(word: str) -> list[str]:
    """The runs of Latin letters of a word typed against another script ("IVIg用量は" is
    "IVIg" and a Japanese run): English's word counts judge only those, so a corpus term is
    not named unmentioned for the script beside it, nor a sentence in another script whole."""
    if word.isascii():
        return [word]
    latin = "".join(c if _is_latin(c) or not c.isalpha() else " " for c in word)
    return _LATIN.findall(latin)


def _is_latin(char: str) -> bool:
    return char.isascii() or unicodedata.name(char, "").startswith("LATIN")


def _remember(memory: dict, key: str, answer):
    """Keep a word's answer for the next question; questions are user input, so the memory is
    bounded (MAX_REMEMBERED_WORDS), emptied when full."""
    if len(memory) >= MAX_REMEMBERED_WORDS:
        memory.clear()
    memory[key] = answer
    return answer


def _stem_keys(terms: Iterable[str]) -> dict[tuple[str, ...], str]:
    """Glossary terms by their stems, for matching inflected forms. Only terms of words of 4
    letters or more, each with a stem not much shorter than itself: "IV", "how long" or
    "thinning" must match only as written."""
    keys: dict[tuple[str, ...], str] = {}
    for term in terms:
        # each part of a hyphenated term, so that one the tokeniser drops shows: "CAR-T" is
        # not "car", nor "C-section" "section"
        words = _PARTS.findall(term)
        stems = tuple(tokenize([term])[0])
        # a stem much shorter than its word ("thinning" -> "thin") would match other words
        if (
            words
            and len(stems) == len(words)
            and all(len(w) >= 4 for w in words)
            and all(len(s) >= len(w) - 3 for s, w in zip(stems, words, strict=True))
        ):
            keys.setdefault(stems, term)
    return keys


@dataclass(slots=True)
class Vocabulary:
    """What the corpus says and how a clinician may say it."""

    abbreviations: dict[str, str] = field(default_factory=dict)
    rules: list[Rule] = field(default_factory=list)
    words: frozenset[str] = frozenset()
    stems: frozenset[str] = frozenset()
    pairs: frozenset[str] | None = None
    """Neighbouring stems of the corpus ("anti gm1"), so that a term of several words is the
    corpus's only when it stands there as written (None: an index built before they were kept)."""
    _expansions: dict[str, list[str]] = field(default_factory=dict)
    _bridges: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _known: frozenset[str] = frozenset()
    _spellings: Spellings = field(default_factory=lambda: Spellings(()))
    _corrected: dict[str, str | None] = field(default_factory=dict)
    _rarity: dict[str, float | None] = field(default_factory=dict)
    _sorted_words: tuple[str, ...] = ()
    _plain: frozenset[str] = frozenset()
    """The corpus's words and stems, also without their accents ("sjogren" for "Sjögren")."""
    _pattern: re.Pattern[str] | None = None
    _by_stems: dict[tuple[str, ...], str] = field(default_factory=dict)
    _longest_stems: int = 0
    _first_stems: frozenset[str] = frozenset()
    """The stems glossary terms start with: a question's other stems start none."""

    @classmethod
    def of_corpus(cls, articles: Sequence[Article], rules: list[Rule]) -> Vocabulary:
        """The vocabulary of a corpus: abbreviations and known words from every article's
        title, topic and indexed passages, plus the synonyms file's rules."""
        texts = [
            t for a in articles for t in (a.title, a.topic, *(p.index_text for p in a.passages))
        ]
        return cls.build(texts, rules)

    @classmethod
    def build(cls, texts: Iterable[str], rules: list[Rule]) -> Vocabulary:
        """Learn abbreviations and known words from `texts`."""
        texts = list(texts)
        abbreviations: dict[str, str] = {}
        for text in texts:
            for short, long_form in find_abbreviations(text).items():
                abbreviations.setdefault(short, long_form)
        words = frozenset(w.lower() for text in texts for w in WORD.findall(text))
        tokenised = tokenize(texts)
        stems = frozenset(s for tokens in tokenised for s in tokens)
        pairs = frozenset(f"{a} {b}" for tokens in tokenised for a, b in pairwise(tokens))
        vocabulary = cls(
            abbreviations=abbreviations,
            rules=rules,
            words=words,
            stems=stems,
            pairs=pairs,
        )
        vocabulary._compile()
        return vocabulary

    def _compile(self) -> None:
        expansions: dict[str, list[str]] = {}

        def add(term: str, others: Iterable[str]) -> None:
            bucket = expansions.setdefault(key_of(term), [])
            for other in others:
                if key_of(other) != key_of(term) and key_of(other) not in bucket:
                    bucket.append(key_of(other))

        for short, long_form in self.abbreviations.items():
            add(short, [long_form])
            add(long_form, [short])
            if " " in short:  # "MADSAM neuropathy": the bare short form too
                add(short.split()[0], [long_form])
        for rule in self.rules:
            for term in rule.terms:
                add(term, rule.expansions)
        # the glossary's words before the joined forms: "ivigrefractory" stays a word the
        # spelling rule may read as the corpus's "ivig-refractory"
        glossary = {w for term in expansions for w in WORD.findall(term)}
        for joined, term in unhyphenated(list(expansions), JOINED_ZIPF).items():
            if joined not in expansions[term]:  # "sglt2 inhibitors": what "SGLT-2 ..." maps to
                expansions.setdefault(joined, [term, *expansions[term]])
        self._expansions = expansions
        self._bridges = {}
        self._known = self.words | glossary
        # A slip may be of a word the corpus only has inflected ("progres" -> the stem of
        # "progression"), so stems are candidates too.
        stems = {s for s in self.stems if s.isalpha() and len(s) >= 4}
        self._spellings = Spellings(self._known | stems, by_sound=True)
        self._corrected = {}
        self._rarity = {}
        self._sorted_words = tuple(sorted(w for w in self.words if w.isalpha()))
        self._plain = (
            self.words | self.stems | {rare.unaccented(w) for w in self.words | self.stems}
        )
        self._pattern = term_pattern(expansions)
        self._by_stems = _stem_keys(expansions)
        self._longest_stems = max(map(len, self._by_stems), default=0)
        self._first_stems = frozenset(key[0] for key in self._by_stems if key)

    def to_json(self) -> dict:
        return {
            "abbreviations": self.abbreviations,
            "rules": [
                {"terms": r.terms, "expansions": r.expansions, "line": r.line} for r in self.rules
            ],
            "words": sorted(self.words),
            "stems": sorted(self.stems),
            "pairs": None if self.pairs is None else sorted(self.pairs),
        }

    @classmethod
    def from_json(cls, data: dict) -> Vocabulary:
        rules = [
            Rule(tuple(r["terms"]), tuple(r["expansions"]), int(r["line"])) for r in data["rules"]
        ]
        vocabulary = cls(
            abbreviations=dict(data["abbreviations"]),
            rules=rules,
            words=frozenset(data["words"]),
            stems=frozenset(data["stems"]),
            pairs=None if data.get("pairs") is None else frozenset(data["pairs"]),
        )
        vocabulary._compile()
        return vocabulary

    def matched_terms(self, query: str | Words) -> list[str]:
        """Glossary terms (abbreviations, synonyms) that occur in the query, as written or
        inflected ("downside" finds "downsides", "mimicking" finds "mimicker")."""
        if self._pattern is None:
            return []
        query = query if isinstance(query, Words) else read(query)
        found = [key_of(m.group(1)) for m in self._pattern.finditer(query.text)]
        if self._by_stems:
            stems = query.stems
            if _NEGATED.search(query.text):  # "non-steroidal" is not a steroid
                stems = tuple(tokenize([_NEGATED.sub(" ", query.text)])[0])
            starts = [i for i, stem in enumerate(stems) if stem in self._first_stems]
            for n in range(min(self._longest_stems, len(stems)), 0, -1):
                for i in starts:
                    if i + n <= len(stems):
                        term = self._by_stems.get(tuple(stems[i : i + n]))
                        if term is not None:
                            found.append(term)
        return list(dict.fromkeys(found))

    def corrections(self, query: str | Words) -> list[str]:
        """Corpus words that unknown query words are probably misspellings of."""
        words = query.words if isinstance(query, Words) else read(query).words
        fixed = (self._correction(word) for word in words)
        return [f for f in fixed if f is not None]

    def _correction(self, word: str) -> str | None:
        """The corpus word `word` is a misspelling of, or the same word with or without a
        hyphen, if any. The search runs over every known word, so each word's answer is kept
        for the next question (bounded)."""
        if (remembered := self._corrected.get(word, "")) != "":  # "": not asked before
            return remembered  # one read: another thread may empty the memory between two
        found = None
        if "-" in word and word not in self._known and (joined := word.replace("-", "")).isalpha():
            # "anti-emetics" for "antiemetics"; not "re-presentation" for "representation"
            found = joined if joined in self._known and zipf(joined) < HYPHEN_VARIANT_ZIPF else None
        elif (
            len(word) >= 5
            and word.isalpha()
            and word not in self._known
            and not set(tokenize([word])[0]) <= self.stems  # not an inflection of a corpus word
        ):
            # The noisy channel (Kernighan, Church & Gale 1990): a word English never writes is
            # a slip; one it writes, of a word 100 times as common ("comon", not "dysphasia"), a
            # rare one also of its stem's other ending or a letter shorter (`ENDING_ZIPF`).
            known, rare = zipf(word) > 0, 0 < zipf(word) < ENDING_ZIPF
            found = self._spellings.closest(word, 1 if known else None)
            ending = found is None and rare and allowed_edits(word) > 1
            if ending:
                found = self._spellings.closest(word, accept=lambda w: same_stem(w, word))
            # The corpus's word hyphenated ("preeclampsia" for "pre-eclampsia") is the same word,
            # when English rarely writes it joined ("representation" is no "re-presentation").
            hyphenated = found is not None and found.replace("-", "") == word
            hyphenated = hyphenated and zipf(word) < HYPHEN_VARIANT_ZIPF
            added = rare and word[:-1] == found  # "titres" for "titre", "siadh" for "siad"
            if found is not None and known and not (hyphenated or ending or added):
                found = found if zipf(found) >= zipf(word) + MORE_COMMON_BY else None
        return _remember(self._corrected, word, found)

    def in_corpus(self, term: str) -> bool:
        """Whether a term occurs in the corpus: each of its stems, side by side as in the term."""
        stems = tokenize([term])[0]
        if not stems or not all(s in self.stems for s in stems):
            return False
        # "anti-inflammatories" is not the corpus's because "anti-GM1" and "inflammatory" are
        return self.pairs is None or all(f"{a} {b}" in self.pairs for a, b in pairwise(stems))

    def expand(self, query: str) -> str:
        """The query followed by bridges to the article's words (`bridge`, as text)."""
        return self.bridge(read(query)).text

    def _bridge_of(self, term: str) -> tuple[str, ...]:
        """What a glossary term adds to a question: nothing when the corpus uses the term; else
        the article's own words when it has some ("Motrin" -> "NSAIDs", not also "non-steroidal
        anti-inflammatory drugs", whose "steroidal" leads astray), or all its expansions. Each
        term's answer is kept: it depends on the vocabulary alone, and the terms are its own."""
        if term not in self._bridges:
            expansions = self._expansions.get(term, [])
            found: tuple[str, ...] = ()
            if not self.in_corpus(term):
                found = tuple(e for e in expansions if self.in_corpus(e)) or tuple(expansions)
            self._bridges[term] = found
        return self._bridges[term]

    def bridge(self, query: Words) -> Words:
        """The query followed by bridges to the article's words: "query (bridge; bridge)".

        Only terms the corpus does not use itself are expanded ("NCS", "hands", "steroids"):
        expanding "IVIg", which the article uses, would only dilute the question (`_bridge_of`).
        The query is read once; only the corrections and bridges added to it are tokenised here.
        """
        corrected = self.corrections(query)
        searched = query.then(" ", read(" ".join(corrected))) if corrected else query
        terms = self.matched_terms(searched)
        units = [self._bridge_of(term) for term in terms]
        text = query.text.lower()
        gained = dict.fromkeys([*(e for unit in units for e in unit), *corrected])
        extra = [e for e in gained if e.lower() not in text]
        unmentioned = self._unmentioned(query, terms)
        if not extra:
            return replace(query, unmentioned=unmentioned) if unmentioned else query
        bridged = query.then(" (", read("; ".join(extra)), ")")
        kept, shifts = set(extra), []
        # a term's whole bridge is one shift, measured whole: it is added when the term brings
        # a phrase the text gains, even if others of its phrases are in the question already
        # or came with an earlier term (training reads questions the same way)
        for unit in units:
            if any(e in kept for e in unit):
                shifts.append("; ".join(unit))
                kept.difference_update(unit)
        fixes = [c for c in dict.fromkeys(corrected) if c in kept]
        model_text = f"{query.text} ({'; '.join(fixes)})" if fixes else query.text
        return Words(
            bridged.text, bridged.words, bridged.stems, model_text, tuple(shifts), unmentioned
        )

    def _unmentioned(self, query: Words, terms: list[str]) -> tuple[tuple[str, float], ...]:
        """The question's words no article mentions, with their Zipf (`ingest.unmentioned`), but
        not those whose rare parts glossary terms bridge to the corpus ("Motrin-associated")."""
        found = []
        reached: set[str] | None = None
        typed_words = dict.fromkeys(w.removesuffix("'s") for w in query.words)
        for typed in (run for w in typed_words for run in _latin_runs(w)):
            word = rare.unaccented(typed)  # looked up as a keyboard types it, shown as typed
            if word in self._plain or max(map(len, word.split("-"))) < rare.MIN_LETTERS:
                continue  # shorthand: "pna", "ATTR-CM"
            if (rarity := self._rarity_of(word)) is None:
                continue
            if reached is None:  # the stems of the glossary terms that reach the corpus
                reached = {
                    plain
                    for term in terms
                    if self.in_corpus(term) or any(map(self.in_corpus, self._bridge_of(term)))
                    for stem in tokenize([term])[0]
                    for plain in (stem, rare.unaccented(stem))
                }
            rare_parts = " ".join(self._rare_parts(word))
            if not set(tokenize([rare_parts])[0]) - self._plain <= reached:
                found.append((typed, rarity))
        return tuple(found)

    def _rarity_of(self, word: str) -> float | None:
        """A word's Zipf if it is rare and may be unmentioned; None for a corpus word in
        another inflection, a cut or slipped word, or one English writes often (kept)."""
        if (remembered := self._rarity.get(word, -1.0)) != -1.0:
            return remembered
        rarity: float | None = (found := zipf(word))
        parts = word.split("-")
        if (
            found >= rare.REPORTED_BELOW
            or not all(p.isalpha() for p in parts)
            or set(tokenize([word])[0]) <= self._plain
            or self._correction(word) is not None
            or (len(parts) > 1 and not self._rare_parts(word))
            or rare.cut_from(word, self._sorted_words)
            or rare.joined_from(word, self._inflected)
            or rare.slip_of_english(word)
        ):
            rarity = None
        return _remember(self._rarity, word, rarity)

    def _inflected(self, part: str) -> bool:
        """Whether a part of a word is a corpus word in some inflection ("neurone", "infusions")."""
        return (
            part in self._plain or bool(stems := tokenize([part])[0]) and set(stems) <= self._plain
        )

    def _rare_parts(self, word: str) -> list[str]:
        """The parts of a hyphenated word neither the corpus nor English often writes."""
        return [
            p for p in word.split("-") if p not in self._plain and zipf(p) < rare.REPORTED_BELOW
        ]

    def bridge_units(self) -> list[str]:
        """Every glossary bridge a question can gain, as `Words.shifts` names it: what a
        build measures the shift of (`assistant.search.shifts`)."""
        units = {"; ".join(self._bridge_of(term)) for term in self._expansions}
        return sorted(u for u in units if u)
