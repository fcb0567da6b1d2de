"""Every limit on a request, in one place. The API, the page and the CLI enforce these
before any model work, and the README documents them."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.errors import QueryError

MAX_QUESTION_CHARS = 500
"""A question longer than this, as sent, is refused: clinicians' questions are a sentence or two.
Counted before trimming, so the check costs nothing and the API schema can state it exactly."""

MAX_HISTORY_ITEMS = 20
"""The one cap on a conversation: earlier questions a request may carry. The API and the CLI
refuse more; the page keeps the most recent ones that fit (its links must also stay under
MAX_URL_BYTES). How many of them the ranker reads is what it learnt, not a limit
(`TrainingSettings.history_turns`)."""

MIN_K = 1
MAX_K = 20
DEFAULT_K = 5
"""How many ranked passages an answer may hold."""

MAX_ARTICLE_ID_CHARS = 200
"""The longest article id a request may name (ids are slugs of an article's file name)."""

MAX_BODY_BYTES = 64 * 1024
"""The largest request body read, counted as it arrives (a chunked body has no length to trust)."""

MAX_JSON_DEPTH = 8
"""How deeply a JSON body may nest; a request is two levels deep, so more is never a request."""

MAX_URL_BYTES = 12 * 1024
"""The longest path plus query string. uvicorn refuses a request head over 16 KiB that arrives
in pieces with a bare 400, so the limit sits below that, where the app can say what to do.
Beside room for a next question of 500 characters in any script (6 kB), a follow-up link
carries about ten earlier questions of 500 English characters, fewer in scripts that take
more bytes (none beside a question of 500 Chinese characters)."""


def _plain_text_table() -> dict[int, str | None]:
    """Control characters to spaces; invisible format characters (zero-width spaces and
    joiners, direction overrides, soft hyphens: Unicode's Cf, in every plane that has them)
    and U+FFFD (a character lost on the way, never typed) removed; full-width letters, digits
    and signs ("ＩＶＩｇ", as a Chinese or Japanese keyboard types them) to their ASCII forms,
    as NFKC would read them."""
    table: dict[int, str | None] = dict.fromkeys([*range(0x20), *range(0x7F, 0xA0)], " ")
    planes = [*range(0x20000), *range(0xE0000, 0xE1000)]  # no other plane has a Cf character
    table.update((c, None) for c in planes if unicodedata.category(chr(c)) == "Cf")
    table[0xFFFD] = None
    table.update((c, chr(c - 0xFEE0)) for c in range(0xFF01, 0xFF5F))
    table[0x3000] = " "  # the ideographic space
    return table


_PLAIN_TEXT = _plain_text_table()


def _question_pattern() -> str:
    """A class of every character `clean_question` keeps: white space and what it removes or
    turns into a space are outside it (Basic Multilingual Plane only: JSON Schema's regexes
    read other planes as pairs of surrogates)."""
    gone = sorted(c for c, to in _PLAIN_TEXT.items() if c < 0x10000 and to in (None, " "))
    runs: list[list[int]] = []
    for c in gone:
        if runs and c == runs[-1][1] + 1:
            runs[-1][1] = c
        else:
            runs.append([c, c])
    spans = "".join(f"\\u{a:04x}" + (f"-\\u{b:04x}" if b > a else "") for a, b in runs)
    return f"[^\\s{spans}]"


QUESTION_PATTERN = _question_pattern()
"""What a question must contain (JSON Schema `pattern`, unanchored): one character that is
neither white space nor one that `clean_question` trims or removes, so the schema and the
check refuse the same questions."""
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_question(
    question: str, *, field: str = "question", loc: tuple[str | int, ...] = ("question",)
) -> str:
    """Check a question against the limits and trim it; raises `QueryError` saying what to fix.

    Control characters (NUL, escape sequences, bells) become spaces, invisible format
    characters are removed, full-width forms read as ASCII and white space collapses to single
    spaces, so nothing invisible reaches the model, a log, a terminal or an editor's queue.
    """
    if len(question) > MAX_QUESTION_CHARS:
        raise QueryError(
            f"{field} is {len(question)} characters long; the limit is {MAX_QUESTION_CHARS}. "
            "Shorten it to the question itself",
            loc=loc,
        )
    if found := _SURROGATE.search(question):
        raise QueryError(
            f"{field} contains U+{ord(found.group()):04X}, half of a UTF-16 pair, which is not "
            "text; send the question as valid Unicode",
            loc=loc,
        )
    cleaned = " ".join(question.translate(_PLAIN_TEXT).split())
    if not cleaned:
        raise QueryError(f"{field} is empty; type a question", loc=loc)
    return cleaned


def check_history_count(count: int) -> None:
    """The count alone, so a history of thousands is refused before one entry is read."""
    if count > MAX_HISTORY_ITEMS:
        raise QueryError(
            f"history has {count} questions; at most {MAX_HISTORY_ITEMS} earlier "
            "questions are accepted, so send the most recent ones",
            loc=("history",),
        )


def clean_history(history: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Check earlier questions: the count first, then each one as a question."""
    check_history_count(len(history))
    return tuple(
        clean_question(h, field=f"history[{i}]", loc=("history", i)) for i, h in enumerate(history)
    )


@dataclass(frozen=True, slots=True)
class Query:
    """A question and the earlier questions of its conversation, checked and cleaned once where
    a request comes in (API, page, CLI, `Engine.ask`); everything after trusts it."""

    question: str
    history: tuple[str, ...] = ()

    @classmethod
    def read(cls, question: str, history: Sequence[str] = ()) -> Query:
        """Raises `QueryError` saying what to fix."""
        return cls(clean_question(question), clean_history(tuple(history)))


def check_k(k: int) -> int:
    if isinstance(k, bool) or not MIN_K <= k <= MAX_K:
        raise QueryError(f"k is {k}; it must be between {MIN_K} and {MAX_K}", loc=("k",))
    return k
