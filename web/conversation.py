"""A conversation on the page: the earlier questions an answer follows, carried in its link.

The page keeps no state: a follow-up's address carries the earlier questions, oldest first, so
an answer can be shared and reopened as it was, and this module decides how many fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from assistant.limits import (
    MAX_ARTICLE_ID_CHARS,
    MAX_HISTORY_ITEMS,
    MAX_QUESTION_CHARS,
    MAX_URL_BYTES,
)

NEXT_QUESTION_ROOM = 12 * MAX_QUESTION_CHARS + 3 * MAX_ARTICLE_ID_CHARS + 64
"""Bytes a follow-up link keeps free for what is not known yet: the next question at its
longest in any script (a character outside the Basic Multilingual Plane, an emoji, is 4 bytes
of UTF-8 and 12 percent-encoded), the article the form may be switched to, and the rest of
the address."""

HISTORY_TRIMMED = (
    "Only the last {kept} earlier questions are kept in this conversation; "
    "{dropped} older {noun} left out."
)


@dataclass(frozen=True, slots=True)
class Turn:
    """An earlier question, linked to its own answer."""

    question: str
    url: str


@dataclass(frozen=True, slots=True)
class Conversation:
    """The thread of earlier questions shown above an answer, and how many were dropped."""

    turns: tuple[Turn, ...] = ()
    dropped: int = 0

    @property
    def note(self) -> str | None:
        if not self.dropped:
            return None
        noun = "question was" if self.dropped == 1 else "questions were"
        return HISTORY_TRIMMED.format(kept=len(self.turns), dropped=self.dropped, noun=noun)


def ask_url(question: str, history: Sequence[str] = (), article: str = "") -> str:
    """The link to an answer: a GET a colleague can open, history oldest first, and the
    article the search was kept to, if one was chosen."""
    chosen = [("article", article)] if article else []
    return "/ask?" + urlencode([("q", question), *(("history", h) for h in history), *chosen])


def _sent(name: str, value: str) -> int:
    """Bytes a browser's form puts in an address for one field: `urlencode`'s, but for "~",
    which browsers percent-encode and Python does not."""
    return len(urlencode([(name, value)])) + 2 * value.count("~")


def trim_history(history: Sequence[str], question: str = "") -> tuple[tuple[str, ...], int]:
    """The most recent non-blank earlier questions that a follow-up link can carry beside
    `question` (the one being answered, which the link carries too), and how many older ones
    were dropped (said on the page with HISTORY_TRIMMED).

    The cap is the API's (MAX_HISTORY_ITEMS); a page also stops where the next question's
    address would pass MAX_URL_BYTES, whatever its script, so a conversation is never refused.
    """
    asked = [h for h in history if h.strip()]
    budget = MAX_URL_BYTES - NEXT_QUESTION_ROOM - _sent("history", question) - 1
    kept: list[str] = []
    for earlier in reversed(asked[-MAX_HISTORY_ITEMS:]):
        budget -= _sent("history", earlier) + 1
        if budget < 0:
            break
        kept.append(earlier)
    return tuple(reversed(kept)), len(asked) - len(kept)


def conversation(history: Sequence[str], dropped: int = 0, article: str = "") -> Conversation:
    """The earlier questions, each linked to its own answer, in the same article if one was
    chosen (reopened across all articles, it could be another answer)."""
    turns = tuple(Turn(q, ask_url(q, history[:i], article)) for i, q in enumerate(history))
    return Conversation(turns=turns, dropped=dropped)
