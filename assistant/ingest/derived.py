"""Questions derived from a passage's own words, for passages that have few or no examples.

An editor who adds a passage rarely writes example questions for it at once, and a new article
arrives with far fewer examples than an old one. Training on the examples alone then favours
the passages that have many: their offsets move towards generic questions, and the "not
covered" vectors never learn that a question worded like an unexampled passage is in scope.
`derived_questions` writes a few pseudo-questions for any passage from its own text, the way a
clinician types them (terse keywords, "X in <topic>?", the statement's opening as a
question), so that every passage has something pulling it towards its questions.

Pure text and deterministic: the same passage in the same article gives the same questions.
Nothing here knows any topic or holds any word list beyond English stop words; what counts as
a passage's distinctive words is measured in its article (inverse document frequency over the
article's passages). Also usable alone, e.g. to check after a build that every passage is
reachable by questions in its own words:

    frequency = document_frequency(article)
    for passage in article.passages:
        questions = derived_questions(passage, article, frequency=frequency)
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Collection, Mapping

from assistant.ingest.abbreviations import find_abbreviations
from assistant.ingest.matching import zipf
from assistant.ingest.tokens import WORD, _stopwords
from assistant.records import Article, Passage

KEYWORDS = 4
"""How many of a passage's most distinctive words its keyword question holds."""
CLAUSE_WORDS = 12
"""A first clause is cut to at most this many words..."""
CLAUSE_MIN_WORDS = 5
"""...and runs on past a comma or colon until it has at least this many."""
RARITY_TOP = 8.0
"""Zipf frequency above the commonest English words: a word's rarity is this minus its own."""
_CLAUSE_END = re.compile(r"[,;:()\u2014\u2013]| - ")


def _key(word: str) -> str:
    return word.lower()


def _content_words(text: str) -> list[str]:
    """Words as written, without stop words, single letters or bare numbers."""
    stop = _stopwords()
    return [
        w
        for w in WORD.findall(text)
        if len(w) > 1 and _key(w) not in stop and not w.replace("-", "").isdigit()
    ]


def document_frequency(article: Article) -> dict[str, int]:
    """In how many of the article's passages each (lower-cased) word occurs."""
    counts: Counter[str] = Counter()
    for passage in article.passages:
        counts.update({_key(w) for w in _content_words(passage.text)})
    return dict(counts)


def short_name(article: Article) -> str:
    """How a clinician names the article's topic: its abbreviation when the topic gives one
    ("Kawasaki Disease (KD)" -> "KD"), else the topic without anything in brackets."""
    found = find_abbreviations(article.topic)
    if found:
        return next(iter(found))
    plain = re.sub(r"\s*\([^)]*\)", "", article.topic).strip()
    return plain or article.title


def distinctive_words(
    passage: Passage,
    frequency: Mapping[str, int],
    passages: int,
    count: int = KEYWORDS,
    exclude: Collection[str] = (),
) -> list[str]:
    """The passage's `count` most distinctive words, in the order the passage uses them: rare
    in its article (inverse document frequency over the article's passages) times rare in
    English (`RARITY_TOP` minus the word's Zipf frequency, so "because" or "does" never
    count), ties by first use; words in `exclude` (as written) never."""
    words = [w for w in _content_words(passage.text) if w not in exclude]
    first: dict[str, tuple[int, str]] = {}
    for position, word in enumerate(words):
        first.setdefault(_key(word), (position, word))

    def weight(key: str) -> float:
        idf = math.log((passages + 1) / (frequency.get(key, 0) + 1))
        return idf * max(RARITY_TOP - zipf(key), 0.5)

    ranked = sorted(first, key=lambda k: (-weight(k), first[k][0]))[:count]
    return [first[k][1] for k in sorted(ranked, key=lambda k: first[k][0])]


def abbreviations(text: str, name: str) -> list[str]:
    """Short forms the passage uses ("IVIg", "CRP", "anti-GM1"): words with two capitals or a
    capital and a digit, other than the topic's own name."""
    seen: dict[str, str] = {}
    for word in WORD.findall(text):
        capitals = sum(c.isupper() for c in word)
        if (capitals >= 2 or (capitals and any(c.isdigit() for c in word))) and word != name:
            seen.setdefault(_key(word), word)
    return list(seen.values())


def first_clause(text: str) -> str:
    """The passage's opening up to the first comma, colon, semicolon, bracket or dash after
    `CLAUSE_MIN_WORDS` words, cut to `CLAUSE_WORDS` words."""
    end = len(text)
    for match in _CLAUSE_END.finditer(text):
        if len(text[: match.start()].split()) >= CLAUSE_MIN_WORDS:
            end = match.start()
            break
    clause = " ".join(text[:end].split()[:CLAUSE_WORDS]).rstrip(" .")
    return clause + ")" if clause.count("(") > clause.count(")") else clause


def derived_questions(
    passage: Passage,
    article: Article,
    *,
    frequency: Mapping[str, int] | None = None,
    keywords: int = KEYWORDS,
) -> list[str]:
    """A few questions in the passage's own words, distinct, in a fixed order:

    1. terse keywords: the topic's short name and the passage's most distinctive words;
    2. its section: "<section heading> <two distinctive words> in <topic>?" (the article's
       title for the article's opening passage, which answers "what is it");
    3. its first clause as a question;
    4. when it uses abbreviations: those with its distinctive words and the topic's name.

    `frequency` is `document_frequency(article)`, computed once per article by a caller that
    derives for many passages (else here).
    """
    frequency = document_frequency(article) if frequency is None else frequency
    name = short_name(article)
    words = distinctive_words(passage, frequency, len(article.passages), keywords, {name})
    questions = [" ".join([name, *words])]
    headings = [h for h in passage.section if h != article.topic]
    if headings:
        questions.append(f"{headings[-1]} {' '.join(words[:2])} in {name}?")
    elif passage.position == 0:
        questions.append(article.title)
    clause = first_clause(passage.text)
    if len(clause.split()) >= 3:
        questions.append(f"{clause}?")
    short = abbreviations(passage.text, name)
    if short:
        rest = [w for w in words if _key(w) not in {_key(s) for s in short}][:2]
        questions.append(f"{' '.join(short[:2] + rest)} {name}?")
    return list(dict.fromkeys(" ".join(q.split()) for q in questions if q.strip()))
