"""Every limit on a request, in one place. The API, the page and the CLI enforce these
before any model work, and the README documents them."""

from assistant.errors import QueryError

MAX_QUESTION_CHARS = 500
"""A question longer than this is refused: clinicians' questions are a sentence or two."""

MAX_HISTORY_ITEMS = 20
"""Earlier questions accepted with a request; the oldest beyond this are refused by the API."""

MIN_K = 1
MAX_K = 20
DEFAULT_K = 5
"""How many ranked passages an answer may hold."""

MAX_BODY_BYTES = 64 * 1024
"""The largest JSON request body the API reads."""


def clean_question(question: str, *, field: str = "question") -> str:
    """Strip a question and check it against the limits; raises `QueryError` saying what to fix."""
    cleaned = " ".join(question.replace("\x00", " ").split())
    if not cleaned:
        raise QueryError(f"{field} is empty; type a question")
    if len(cleaned) > MAX_QUESTION_CHARS:
        raise QueryError(
            f"{field} is {len(cleaned)} characters long; the limit is {MAX_QUESTION_CHARS}. "
            "Shorten it to the question itself"
        )
    return cleaned


def clean_history(history: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Check earlier questions: at most MAX_HISTORY_ITEMS, each a valid question."""
    if len(history) > MAX_HISTORY_ITEMS:
        raise QueryError(
            f"history has {len(history)} questions; at most {MAX_HISTORY_ITEMS} earlier "
            "questions are accepted, so send the most recent ones"
        )
    return tuple(clean_question(h, field=f"history[{i}]") for i, h in enumerate(history))


def check_k(k: int) -> int:
    if not MIN_K <= k <= MAX_K:
        raise QueryError(f"k is {k}; it must be between {MIN_K} and {MAX_K}")
    return k
