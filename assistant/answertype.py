"""Expected answer types: a question that asks "how long" wants a passage that states a time.

Classic factoid question answering (Moldovan et al., 2000) matches the type of answer a
question asks for with the kinds of facts a passage states. Three types are recognised by
the question's own words and by the passage's shape, never by this article's wording: a
quantity or share ("how common", "what percentage"), a time or duration ("how long",
"how fast", "at what age") and a dose ("how much", "dose"). A passage that states a fact
of the asked type gets a small bonus in the fused ranking; nothing else changes.

Two shapes of question are read here too. "What is MMN?" asks for the definition, which an
article gives in the paragraph that opens it. A clinician's case ("52M, asymmetric hand
weakness ... CBs on motor NCS. Resident says MMN - agree?") puts the question in its last
clause, so that clause is searched on its own as well as with the case around it.
"""

from __future__ import annotations

import re
from functools import lru_cache

QUESTION_TYPES: dict[str, re.Pattern[str]] = {
    "share": re.compile(
        r"\b(how (common|often|frequent(ly)?|many|likely|rare)|what (percentage|proportion|"
        r"fraction|share|percent)|percent(age)?|proportion|prevalence|frequency|% of|"
        r"how much of|in how many)\b",
        re.IGNORECASE,
    ),
    "time": re.compile(
        r"\b(how (long|fast|quickly|soon|rapidly|slowly)|when|what age|at what age|how old|"
        r"time ?(course|line|frame)|timeline|duration|onset|lasts?|last for|kick in|peak)\b",
        re.IGNORECASE,
    ),
    "dose": re.compile(
        r"\b(dose|doses|dosage|dosing|how much|g/kg|mg/kg|mg|regimen)\b", re.IGNORECASE
    ),
}

PASSAGE_TYPES: dict[str, re.Pattern[str]] = {
    "share": re.compile(r"\d\s*%|\b(most|some|all|half|few|majority|minority) (patients|cases)\b"),
    "time": re.compile(
        r"\b\d+(?:[.,]\d+)?(?:\s*[-\u2013]\s*\d+(?:[.,]\d+)?)?\s*(?:hours?|days?|weeks?|months?|"
        r"years?)\b|\bages?\s+\d",
        re.IGNORECASE,
    ),
    "dose": re.compile(r"\d\s*(?:g|mg|mcg|µg|ml|units?|iu)\s*/\s*(?:kg|m2|day|dose)\b", re.I),
}


def asked_types(question: str) -> frozenset[str]:
    """The answer types a question asks for (empty for most questions)."""
    return frozenset(t for t, pattern in QUESTION_TYPES.items() if pattern.search(question))


@lru_cache(maxsize=65536)
def stated_types(text: str) -> frozenset[str]:
    """The answer types a passage states facts of."""
    return frozenset(t for t, pattern in PASSAGE_TYPES.items() if pattern.search(text))


DEFINITION = re.compile(
    r"\b(what is|what's|what are|whats|define|definition|meaning|explain|overview|"
    r"tell me about|describe|summary|summarise|summarize)\b",
    re.IGNORECASE,
)
CLAUSE_END = re.compile(r"(?<=[.?!;])\s+|\s+[-\u2013\u2014]+\s+")
LONG_QUESTION = 12
"""Words from which a question of several clauses is read as a case followed by the ask."""


def asks_definition(question: str, vocabulary) -> bool:
    """ "What is MMN?", "mmn overview": the question names nothing but the article's topic."""
    from assistant.followup import PHRASING_WORDS, content_words

    if not DEFINITION.search(question):
        return False
    rest, named = vocabulary.shared_removed(question)
    words = [w for w in content_words(rest) if w not in PHRASING_WORDS]
    return bool(named) and not [w for w in words if not DEFINITION.fullmatch(w)]


def last_clause(question: str) -> str | None:
    """The clause that asks, when a long question first sets out a case ("52M, asymmetric hand
    weakness ... CBs on motor NCS. Resident says MMN - agree?"); None otherwise."""
    if len(question.split()) < LONG_QUESTION:
        return None
    clauses = [c for c in CLAUSE_END.split(question.strip()) if c.strip()]
    if len(clauses) < 2:
        return None
    return clauses[-1]
