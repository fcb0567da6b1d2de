"""Abbreviations an article defines, found the way Schwartz and Hearst (2003) do: a short form
in parentheses paired with the long form before it ("intravenous immunoglobulin (IVIg)"), or
with the words after it whose initials it takes ("(MADSAM)—a multifocal acquired ...")."""

from __future__ import annotations

import re

from assistant.ingest.tokens import WORD

_STOP_BETWEEN = frozenset({"and", "of", "the", "with", "in", "for", "to", "or"})


def _long_form_before(short: str, before: str) -> str | None:
    """The Schwartz-Hearst match: walk the short form and the text right to left."""
    letters = [c.lower() for c in short if c.isalnum()]
    if not letters or not letters[0].isalpha():
        return None
    words = before.split()[-min(len(letters) + 5, len(letters) * 2) :]
    candidate = " ".join(words)
    s, position = len(letters) - 1, len(candidate) - 1
    while s >= 0:
        char = letters[s]
        while position >= 0 and (
            candidate[position].lower() != char
            or (s == 0 and position > 0 and candidate[position - 1].isalnum())
        ):
            position -= 1
        if position < 0:
            return None
        position -= 1
        s -= 1
    start = candidate.rfind(" ", 0, position + 1) + 1
    long_form = candidate[start:].strip(" ,;:-")
    if len(long_form) <= len(short) or short.lower() in long_form.lower().split():
        return None
    return long_form


def _long_form_after(short: str, after: str) -> str | None:
    """A short form explained after it ("(MADSAM)—a multifocal acquired ..."): its letters
    are the initials of the words that follow, connecting words allowed."""
    letters = [c.lower() for c in short if c.isalpha()]
    words = WORD.findall(after)[: len(letters) * 2 + 2]
    while words and words[0].lower() in {"a", "an", "the"}:
        words = words[1:]
    taken, i = [], 0
    for word in words:
        if i == len(letters):
            break
        if word[0].lower() == letters[i]:
            taken.append(word)
            i += 1
        elif word.lower() in _STOP_BETWEEN and taken:
            taken.append(word)
        else:
            return None
    return " ".join(taken) if i == len(letters) and len(taken) > 1 else None


def find_abbreviations(text: str) -> dict[str, str]:
    """Short form -> long form for every "long form (SF)" or "(SF)—long form" in a text."""
    found: dict[str, str] = {}
    for match in re.finditer(r"\(([^()]{2,40})\)", text):
        inside = match.group(1).split()
        if not inside or len(inside) > 2:
            continue
        short = inside[0].strip(",;")
        if not (2 <= len(short) <= 10 and any(c.isupper() for c in short)):
            continue
        head = f" {inside[1]}" if len(inside) == 2 else ""
        long_form = _long_form_before(short, text[: match.start()])
        if long_form is None:
            after = text[match.end() :].lstrip(" \u2014\u2013-,:;")
            long_form = _long_form_after(short, after)
            if (
                long_form is not None
                and head
                and after.lower().find(long_form.lower() + head.lower()) >= 0
            ):
                long_form += head
        if long_form is not None:
            found.setdefault(short + head, long_form)
    return found
