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
from collections.abc import Iterable, Sequence
from pathlib import Path

from assistant.errors import ArticleError
from assistant.ingest.parsing import Line, fold, read_text, source_lines

REFERENCES_DIR = "references"
REFERENCE_ENTRY = re.compile(
    r"^[ \t]*(?:(?P<number>\d{1,3})[.)]|\[(?P<bracketed>\d{1,3})\])[ \t]+(?P<text>\S.*)$"
)


def references_path(article_path: Path, article_id: str) -> Path:
    return article_path.parent / REFERENCES_DIR / f"{article_id}.txt"


def read_entries(
    lines: Iterable[Line], source: str, *, in_order: bool, entry: str = "an entry"
) -> list[tuple[int, str, int]]:
    """Numbered entries, (number, text, line), from lines that are not blank: an unnumbered line
    continues the entry above it. Numbers are unique; with `in_order` they also run 1, 2, 3.

    Both reference lists use it: a Markdown `## References` section and a references file.
    """
    entries: list[tuple[int, list[str], int]] = []
    for line in lines:
        found = REFERENCE_ENTRY.match(line.content.lstrip("\ufeff"))
        if found is None:
            if not entries:
                raise ArticleError(
                    source,
                    f"{entry} starts with its number: '1. Author. Title. Journal. Year.'",
                    line=line.number,
                )
            entries[-1][1].append(line.stripped)  # a wrapped entry goes on
            continue
        number = int(found.group("number") or found.group("bracketed"))
        listed = {n: at for n, _, at in entries}
        expected = entries[-1][0] + 1 if entries else 1
        if number in listed or (in_order and number != expected):
            problem = (
                f"reference {number} is listed twice (lines {listed[number]} and {line.number})"
                if number in listed
                else f"reference {expected} is missing (this entry is {number})"
            )
            advice = (
                "number the entries 1, 2, 3, … in order" if in_order else "number each entry once"
            )
            raise ArticleError(source, f"{problem}; {advice}", line=line.number)
        entries.append((number, [found.group("text").strip()], line.number))
    return [(number, fold(" ".join(parts)), at) for number, parts, at in entries]


def read_references(path: Path, text: str | None = None) -> tuple[tuple[int, str], ...]:
    """The numbered entries of a references file, in order."""
    source = str(path)
    text = read_text(path) if text is None else text
    kept = [
        line
        for line in source_lines(text)
        if line.stripped and not line.stripped.startswith("#")  # blank lines and comments
    ]
    entries = read_entries(kept, source, in_order=True)
    if not entries:
        raise ArticleError(
            source, "no entries; list them as '1. Author. Title. …' or remove the file", line=1
        )
    return tuple((number, text) for number, text, _ in entries)


def check_cited(
    cited: Iterable[tuple[int, Sequence[int]]],
    references: tuple[tuple[int, str], ...],
    *,
    source: str,
    listed_in: str,
) -> None:
    """Every number a statement cites, (line, numbers), is in the reference list; the error
    names the statement's line in `source`, and `listed_in` says where the list is."""
    listed = {number for number, _ in references}
    for line, citations in cited:
        missing = [n for n in citations if n not in listed]
        if missing:
            numbers = ", ".join(str(n) for n in missing)
            raise ArticleError(
                source,
                f"cites [{numbers}], which {listed_in} does not list; add the entry or correct "
                "the marker",
                line=line,
            )
