"""Footnotes as a Markdown article's references: "… over 3-5 days.[^4]" and, anywhere in the
file, "[^4]: Author A. Title. Journal. 2020."

Footnotes are how Markdown editors (GitHub, Pandoc, Obsidian) cite, and CommonMark does not
read them: the marker would stay in the quoted statement and the definitions would run into
whatever paragraph they follow (the disclaimer). Here the definitions are taken out before the
body is read, each a numbered reference as a `## References` entry is, and the markers cite as
"[4]" does (`citations._MARKER`). A definition's later lines are those indented under it, and
the lines that run straight on from it, as footnote readers take them. Labels are reference
numbers: a citation in this assistant is a number the reader can look up, and a named label
("[^smith]") is refused at its line with the fix, rather than numbered by a guess.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from assistant.errors import ArticleError
from assistant.ingest.inline import Links
from assistant.ingest.parsing import Line, fold

DEFINITION = re.compile(r"^[\ufeff]?[ ]{0,3}\[\^(?P<label>[^\]\s]+)\]:[ \t]*(?P<text>.*)$")
_NUMBER = re.compile(r"[1-9][0-9]{0,2}")
_FENCE = re.compile(r"^[ ]{0,3}(?P<fence>`{3,}|~{3,})")
_NEW_BLOCK = re.compile(
    r"^[ ]{0,3}(?:[-*+][ \t]|\d{1,9}[.)][ \t]|[#>|]|`{3}|~{3}|(?:[-*_][ \t]*){3,}$)"
)
"""A line that starts a block of its own (a list item, heading, quote, table row, fence, rule),
which ends a definition's paragraph rather than run on in it."""


class Footnotes(NamedTuple):
    """The definitions found: (number, text, line) each, and the lines they take up (indices
    into the lines read), which the body's reader then sees as blank."""

    entries: list[tuple[int, str, int]]
    taken: frozenset[int]


def take_footnotes(lines: Sequence[Line], source: str) -> Footnotes:
    """Every footnote definition in `lines` outside code, in the order written. A label that is
    not a reference number, or a number defined twice, stops the build at its line."""
    entries: list[tuple[int, list[str], int]] = []
    defined: dict[int, int] = {}  # number -> line
    taken: set[int] = set()
    fence = ""
    at = 0
    while at < len(lines):
        line = lines[at]
        if opened := _FENCE.match(line.content):
            marks = opened.group("fence")
            if not fence:
                fence = marks
            elif marks[0] == fence[0] and len(marks) >= len(fence):
                fence = ""
        found = None if fence else DEFINITION.match(line.content)
        if found is None:
            at += 1
            continue
        label = found.group("label")
        if not _NUMBER.fullmatch(label):
            raise ArticleError(
                source,
                f"the footnote '[^{label}]' is named, not numbered; citations are reference "
                f"numbers a reader looks up: write '[^1]' (the reference's number) here and "
                "where it is cited",
                line=line.number,
            )
        number = int(label)
        if number in defined:
            raise ArticleError(
                source,
                f"footnote [^{number}] is defined twice (lines {defined[number]} and "
                f"{line.number}); define each reference once",
                line=line.number,
            )
        defined[number] = line.number
        parts = [found.group("text").strip()]
        taken.add(at)
        at += 1
        blank = False
        while at < len(lines):  # its later lines: run straight on, or indented under it
            content = lines[at].content
            if not lines[at].stripped:
                blank = True
            elif content.startswith(("    ", "\t")) or (
                not blank and not DEFINITION.match(content) and not _NEW_BLOCK.match(content)
            ):
                parts.append(lines[at].stripped)
                taken.add(at)
                blank = False
            else:
                break
            at += 1
        entries.append((number, parts, line.number))
    return Footnotes([(n, fold(" ".join(p)), at) for n, p, at in entries], frozenset(taken))


def linked_references(links: Links, lines: Sequence[Line]) -> list[tuple[int, str, int]]:
    """References listed as link definitions, "[1]: https://pubmed… "Author 2020"": a number's
    definition is its reference, (number, text, line), its title before its address."""
    found = []
    for label, link in links.items():
        if _NUMBER.fullmatch(label) and link.get("map"):
            text = " ".join(part for part in (link.get("title"), link.get("href")) if part)
            found.append((int(label), text, lines[link["map"][0]].number))
    return sorted(found, key=lambda entry: entry[2])
