"""Follow-up questions without a language model.

"And the antibodies?", "Any side effects?", "Is that the same in older patients?" only make
sense with the conversation before them. Such a question is recognised by its shape (an
opening "and"/"what about", a word that points back, or too few content words to stand
alone) and searched together with the earlier question it leans on. A question that names
its own subject ("Are sensory nerve studies normal in MMN?") is searched alone, so a new
topic is never dragged back to the old one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})


def straighten(text: str) -> str:
    """Typographic quotes as typed on a phone ("What\u2019s MMN?") read as plain ones."""
    return text.translate(_QUOTES)


WORD = re.compile(r"[^\W_]+(?:['-][^\W_]+)*")
"""A word: letters or digits, joined by inner hyphens or apostrophes ("anti-GM1", "it's")."""
OPENERS = re.compile(
    r"^\s*(and|also|plus|but|or|so|then|what about|how about|what of|same for|same with|"
    r"is that|are those|does that|do they|does it|is it|are they|was it|how so|why|any)\b",
    re.IGNORECASE,
)
BACK_REFERENCES = frozenset(
    "it its it's they them their theirs that those these this such there he she him her "
    "former latter same".split()
)
# Words that carry no subject of their own in a clinician's question.
EMPTY_WORDS = frozenset(
    """a an the is are was were be been being do does did done can could should would will
    shall may might must i we you what which who whom whose when where why how any some
    much many more most less other else also and or but of in on at to for from with by as
    about into than then there here again still ever often usually typically generally
    really just only very too so if whether not no yes please tell me us know mean
    common usual normal typical help work works used use using given give get gets
    happen happens like kind type sort one ones thing things part till until unless upon
    whilst while though although anyway anyhow anymore""".split()
)
# Words that phrase a question rather than name its subject: common verbs, adjectives and
# adverbs of any clinical question ("is it worth trying", "how fast", "key difference").
PHRASING_WORDS = frozenset(
    """keep kept same different difference key main matter matters begin begins start starts
    started fast slow quick quickly easy hard both either neither side sides partly fully
    mostly worth try trying tried actually exactly basically possible possibly likely
    probably definitely true false good bad better best worse worst big small high low
    another others someone somebody anyone people person patient patients team doctor
    doctors say says said think thought need needs needed want wants look looks looking
    find found show shows see seen explain important anything something everything way
    ways go goes going come comes coming back still yet already even ever never always
    first last next new old first-line vs versus ok okay right wrong
    dad mum mom father mother husband wife son daughter brother sister partner friend
    relevant relevance useful helpful significant significance definition define defined
    meaning overview summary summarise summarize explain explained describe description basics
    colleague gp gps resident registrar consultant attending nurse neurologist expect
    expected expecting""".split()
)


NEW_TOPIC = re.compile(
    r"^\s*(?:(?:a |one )?(?:new|different|another|separate|unrelated|next|other)\s+"
    r"(?:question|topic|patient|case|subject|query|thing)|(?:switching|changing)\s+"
    r"(?:topics?|subjects?)|on another note|unrelated|separately)\b\s*[:,.;!?\-\u2013\u2014]*\s*",
    re.IGNORECASE,
)
"""A clinician's own mark that a question starts afresh ("New question - ...")."""


@dataclass(frozen=True, slots=True)
class Resolved:
    """The text to search for a question, and whether history was used to make it."""

    query: str
    follow_up: bool
    leaned_on: tuple[str, ...] = ()


def content_words(question: str) -> list[str]:
    """The question's words less the empty ones, possessives as their noun ("mom's" -> "mom")."""
    words = (w.removesuffix("'s") for w in WORD.findall(question.lower()))
    return [w for w in words if w not in EMPTY_WORDS]


def _names_a_subject(question: str) -> bool:
    """An abbreviation-like token (IVIg, GM2, CIDP) or a long enough content phrase."""
    tokens = WORD.findall(question)
    if any(
        sum(c.isupper() for c in t) >= 2
        or (any(c.isdigit() for c in t) and any(c.isalpha() for c in t))
        for t in tokens
    ):
        return True
    return len(content_words(question)) >= 3


def leans_on_history(question: str) -> bool:
    """True when the question cannot be understood without the conversation before it."""
    if OPENERS.match(question):
        return True
    words = set(WORD.findall(question.lower()))
    if words & BACK_REFERENCES:
        return True
    return not _names_a_subject(question)


def resolve(question: str, history: Sequence[str]) -> Resolved:
    """The search text for a question given the earlier questions, oldest first.

    A follow-up is searched with the earlier questions it leans on: walking back from the
    latest, every follow-up in a chain and the self-contained question that started it
    ("What antibodies?" -> "And GM2?" -> "How common?"), at most three turns.
    """
    fresh = NEW_TOPIC.sub("", question, count=1)
    if fresh != question and content_words(fresh):
        return Resolved(fresh, follow_up=False)
    if not history or not leans_on_history(question):
        return Resolved(question, follow_up=False)
    leaned: list[str] = []
    for earlier in reversed(history[-3:]):
        leaned.insert(0, earlier)
        if not leans_on_history(earlier):
            break
    return Resolved(f"{question} ({' '.join(leaned)})", follow_up=True, leaned_on=tuple(leaned))
