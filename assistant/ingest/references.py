"""An article's reference list kept beside it, for exports that print markers but no list.

    corpus/references/<article-id>.txt

One entry a line, as a Markdown article's `## References` section writes them:
`1. Author A. Title. Journal. 2020;1:1-10.` (or `1)` or `[1]`); an indented or unnumbered line
continues the entry above it; blank lines and `#` comments are skipped. Numbers run from 1 with
none missing, and every number a passage cites must be listed: each error names the file and
line and says what to fix.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from assistant.errors import ArticleError
from assistant.ingest.parsing import fold, read_text, source_lines
from assistant.records import Passage

REFERENCES_DIR = "references"
REFERENCE_ENTRY = re.compile(
    r"^[ \t]*(?:(?P<number>\d{1,3})[.)]|\[(?P<bracketed>\d{1,3})\])[ \t]+(?P<text>\S.*)$"
)


def references_path(article_path: Path, article_id: str) -> Path:
    return article_path.parent / REFERENCES_DIR / f"{article_id}.txt"


def read_references(path: Path, text: str | None = None) -> tuple[tuple[int, str], ...]:
    """The numbered entries of a references file, in order."""
    source = str(path)
    text = read_text(path) if text is None else text
    entries: list[tuple[int, list[str], int]] = []
    for line in source_lines(text):
        stripped = line.stripped
        if not stripped or stripped.startswith("#"):
            continue
        entry = REFERENCE_ENTRY.match(line.content.lstrip("\ufeff"))
        if entry is None:
            if not entries:
                raise ArticleError(
                    source,
                    "an entry starts with its number: '1. Author. Title. Journal. Year.'",
                    line=line.number,
                )
            entries[-1][1].append(stripped)  # a wrapped entry goes on
            continue
        number = int(entry.group("number") or entry.group("bracketed"))
        expected = entries[-1][0] + 1 if entries else 1
        if number != expected:
            listed = {n: at for n, _, at in entries}
            problem = (
                f"reference {number} is listed twice (lines {listed[number]} and {line.number})"
                if number in listed
                else f"reference {expected} is missing (this entry is {number})"
            )
            raise ArticleError(
                source, f"{problem}; number the entries 1, 2, 3, … in order", line=line.number
            )
        entries.append((number, [entry.group("text").strip()], line.number))
    if not entries:
        raise ArticleError(
            source, "no entries; list them as '1. Author. Title. …' or remove the file", line=1
        )
    return tuple((number, fold(" ".join(parts))) for number, parts, _ in entries)


def check_cited(
    passages: Sequence[Passage],
    references: tuple[tuple[int, str], ...],
    *,
    article_source: str,
    references_source: str,
) -> None:
    """Every number a passage cites is listed; the error names the passage's line."""
    listed = {number for number, _ in references}
    for passage in passages:
        missing = [n for n in passage.citations if n not in listed]
        if missing:
            numbers = ", ".join(str(n) for n in missing)
            raise ArticleError(
                article_source,
                f"cites [{numbers}], which {references_source} does not list "
                f"(it has 1-{len(listed)}); add the entry there or correct the marker",
                line=passage.line,
            )
