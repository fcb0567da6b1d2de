"""Editors' JSON Lines files (example questions, gold sets): one object a line, read the same way.

Lines are numbered as an editor's editor numbers them (a U+2028 inside a JSON string is text,
not a line break), and a field a letter or two from a known one ("histroy") is refused: it
would otherwise be skipped, and a follow-up scored or trained as a question asked alone.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

from assistant.errors import ArticleError
from assistant.ingest.parsing import LINE_END, read_text


def json_objects(path: Path, fields: Collection[str], *, what: str, text: str | None = None) -> Iterator[tuple[int, dict[str, Any]]]:  # fmt: skip
    """Each non-blank line of `path` (or of `text`, already read from it) as (line number,
    object). `what` names the file in errors ("the examples file"); a bad byte, a line that is
    not a JSON object and a near-miss field name are `ArticleError`s naming the file and line."""
    if text is None:
        text = read_text(path, what)  # a bad byte is named by its line; unreadable, by its reason
    text = text.removeprefix("\ufeff")
    for number, line in enumerate(LINE_END.split(text), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ArticleError(
                str(path), f"not a JSON object ({exc.msg} at column {exc.colno})", line=number
            ) from None
        if not isinstance(data, dict):
            raise ArticleError(str(path), "not a JSON object", line=number)
        for key in sorted(data.keys() - set(fields)):
            if near := difflib.get_close_matches(key, fields, n=1, cutoff=0.75):
                raise ArticleError(
                    str(path),
                    f'unknown field "{key}": did you mean "{near[0]}"? (the fields are '
                    f"{', '.join(sorted(fields))})",
                    line=number,
                )
        yield number, data


def strings(data: dict[str, Any], key: str, what: str, path: Path, line: int) -> tuple[str, ...]:
    """A field that holds a list of non-blank strings, or none at all; anything else (a string,
    which would be read letter by letter, or null) is an error saying what it must be."""
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ArticleError(str(path), f'"{key}" must be a list of {what}', line=line)
    return tuple(value)


def worded(phrases: Sequence[str], path: Path, line: int) -> None:
    """Refuse a gold phrase of punctuation alone ("."): it is found in every passage. The gold
    files and the examples files check their phrases here."""
    if bare := next((p for p in phrases if not re.search(r"\w", p)), None):
        raise ArticleError(
            str(path),
            f"the gold phrase {bare!r} has no letter or digit: it is in every passage",
            line=line,
        )
