"""Which article a question names, among several: the answer keeps that article's passages.

An article's names are its topic heading ("Acute Kidney Injury") and the abbreviation the heading
defines ("(AKI)"), as the article itself prints them, never a list kept for one article. A
question that names exactly one article, or a follow-up that names none after a conversation
whose latest named question did, is ranked over the whole corpus and then keeps that article's
passages only (`Retriever.rank`): beside MMN, "What is the dose of CRRT in AKI?" was answered
with MMN's IVIg dose, which its examples pulled every dose question towards. A question naming
two articles ("hyponatremia in HFrEF") keeps all, and with one article there is nothing to
route (its figures cannot move).

A follow-up in a conversation that names no article stays in the conversation's article (the
one whose passage the conversation, ranked as a question, finds first) when that article holds
one of the follow-up's own `CONVERSATION_WITHIN` best passages (`Retriever.rank`): "ok in a
cirrhotic?" after a question on urea for hyponatremia was answered from MMN; "what is eclampsia
exactly", typed after a pancreatitis question, must still find pre-eclampsia.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from assistant.records import Article

_PARENTHESES = re.compile(r"\s*\(([^()]*)\)")
_ABBREVIATION = re.compile(r"[A-Za-z][A-Za-z0-9-]{1,9}")
"""What a heading's parenthesis defines when it holds two capitals or more ("(AKI)", "(HFrEF)"),
not a qualifier ("(Adult)", "(in Pregnancy)"), which names no article on its own."""
_QUESTION_TITLE = re.compile(r"^(?:what|who)\s+(?:is|are)\s+(?P<name>.+?)\s*\??$", re.IGNORECASE)
_DASHES = r"[\s\-\u2010-\u2015]"
CONVERSATION_WITHIN = 3
"""A conversation keeps its article for a follow-up that ranks one of that article's passages
among its own best this many. Measured on the six outside articles beside MMN, built without
and with their examples (docs/retrieval.md): of 96 follow-ups of their gold sets and of 68
first questions asked after another article's, right first with 1 (no conversation kept) 50
and 53 follow-ups, 29 and 36 new topics; always kept, 59 and 61 but 1 and 1; with 2, 56 and 60,
26 and 31; with 3, 58 and 60, 22 and 27. Same-topic follow-ups are what clinicians ask most,
and beside MMN's 990 examples a vague one ("and if it does not respond?" after a Kawasaki
case) ranks MMN's passages first and second: 3 keeps it in its conversation."""
COMMON_WORD_ZIPF = 3.0
"""An abbreviation English also writes as a word ("cap", at about 20 a million words) is
matched only as the article prints it ("CAP"); a rarer one ("aki", "dka") in any case."""


@dataclass(frozen=True, slots=True)
class Names:
    """Each article's names as patterns; `route` picks the one article a question names."""

    patterns: Mapping[str, tuple[re.Pattern[str], ...]]

    def named(self, text: str) -> set[str]:
        return {a for a, found in self.patterns.items() if any(p.search(text) for p in found)}

    def route(self, question: str, history: Sequence[str] = ()) -> str | None:
        """The article to search alone, or None for all of them."""
        return self.choose(question, history)[0]

    def choose(self, question: str, history: Sequence[str] = ()) -> tuple[str | None, bool]:
        """`route`'s article, and whether any text named an article at all (a question naming
        two names some: it keeps every article, and no conversation overrides that)."""
        for text in (question, *reversed(history)):
            named = self.named(text)
            if named:
                return (next(iter(named)) if len(named) == 1 else None), True
        return None, False


def names_of(articles: Mapping[str, Article]) -> Names | None:
    """The articles' names, or None when there are fewer than two articles to choose from."""
    if len(articles) < 2:
        return None
    return Names({a: _patterns(article) for a, article in articles.items()})


def _patterns(article: Article) -> tuple[re.Pattern[str], ...]:
    found = []
    topic = article.topic.strip()
    longs = {_PARENTHESES.sub("", topic).strip()}
    if titled := _QUESTION_TITLE.match(article.title.strip()):
        longs.add(_PARENTHESES.sub("", titled["name"]).strip())
    for long in longs:
        words = [w for w in re.split(f"{_DASHES}+", long) if w]
        if words and any(len(w) >= 4 for w in words):  # not "KD" alone, nor "the"
            body = f"{_DASHES}?".join(map(re.escape, words))
            found.append(re.compile(rf"(?<!\w){body}(?!\w)", re.IGNORECASE))
    for short in _PARENTHESES.findall(topic):
        if _ABBREVIATION.fullmatch(short) and sum(c.isupper() for c in short) >= 2:
            flags = 0 if _common(short.lower()) else re.IGNORECASE
            found.append(re.compile(rf"(?<![\w-]){re.escape(short)}(?![\w-])", flags))
    return tuple(found)


def _common(word: str) -> bool:
    from wordfreq import zipf_frequency

    return zipf_frequency(word, "en") >= COMMON_WORD_ZIPF
