"""Read the publishing site's plain-text export into blocks and article metadata.

The export is a web page flattened to text: the article sits between site chrome
(the review-status widget, the "Personalize" panel, the "Have a follow-up question?"
promotion). Chrome is recognised by the site template's own fixed strings; the
article's structure (headings, paragraphs, bullets) is recognised by shape only,
never by a list of this article's headings, so the next edition parses too.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import date, datetime
from pathlib import Path

from assistant.errors import ArticleError
from assistant.ingest.citations import split_citations
from assistant.ingest.parsing import (
    DISCLAIMER_HEADING,
    REVIEW_STATUS_NOT_STATED,
    Block,
    Document,
    Line,
    document,
    fold,
    read_text,
    source_lines,
)
from assistant.ingest.references import check_cited, read_entries
from assistant.ingest.tables import text_table

LIST_GLYPHS = "\u2022\u25aa\u25e6\u25cf\u25cb\u25a0\u25a1\u2023\u2043\u25ba\u27a2\u2713\u2714"
"""Bullets as pages print them (\u2022 \u25aa \u25e6 \u25cf \u25cb \u25a0 \u25a1 \u2023 \u2043 \u25ba \u27a2 \u2713 \u2714): a space
after one is optional ("\u2022Text"); after "-", "*", "\u2013", "\u00b7" or a number ("1.", "2)") it
is not, so "-5 \u00b0C" or "1.5 mg" stay text. An em dash ("\u2014 Aspirin", as an outside writer
printed a list) needs a space after it, not a tab: "\u2014<tab>" is a table's empty cell."""
BULLET = re.compile(
    r"^(?P<indent>\s*)"
    rf"(?:(?P<mark>[{LIST_GLYPHS}\u00b7\u2013*-]|\d{{1,2}}[.)])\s+|(?P<mark2>\u2014)[ \u00a0]+"
    rf"|(?P<glyph>[{LIST_GLYPHS}]))"
    r"(?P<body>\S.*)$"
)
# The site template's chrome: a blank-line-separated group that starts with one of these
# is not article content. The trailer promotion ends the article: nothing after it is read.
CHROME_GROUP_STARTS = (
    re.compile(r"^Medical Advisory Board"),
    re.compile(r"^Educational purpose only"),
    re.compile(r"^Article Review Status$"),
    re.compile(r"^Last updated\s*:", re.IGNORECASE),
    re.compile(r"^Personalize$"),
    re.compile(r"^Help us tailor your experience$"),
    re.compile(r"^Which best describes you\?"),
)
TRAILER_START = re.compile(
    r"^(?:Have|Got)\s+an?\s+follow[- ]?up\s+questions?\s*\??$", re.IGNORECASE
)
"""The site's promotion, as exported ("Have a follow-up question?") or retyped by hand
("Have a follow up question", "Got a follow-up question?"): its text is the site's, never a
statement of the article."""
LAST_UPDATED = re.compile(
    r"Last updated\s*:\s*(?P<date>[A-Za-z]+\.?\s+\d{1,2},?\s*\d{4}|\d{1,2}\s+[A-Za-z]+\.?\s+\d{4}"
    r"|\d{4}-\d{2}-\d{2}|\S+)",
    re.IGNORECASE,
)
"""The date after "Last updated:" in any of `DATE_FORMATS`, whatever follows it ("View
editorial policy", "· 4 min read"); anything else is caught to be named in the error."""
DATE_FORMATS = ("%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%d %b %Y", "%Y-%m-%d")
REVIEW_NOTE = re.compile(r"content (?:is|has been) (?P<status>[^.\u2022]+?)\.?$", re.IGNORECASE)
REFERENCES_HEADING = re.compile(r"^(?:references\s*:?|sources|bibliography)$", re.IGNORECASE)
EXPORT_DISCLAIMER = re.compile(DISCLAIMER_HEADING.pattern.removesuffix("$") + r"\s*:?$", re.I)
"""The disclaimer's heading, also typed with a colon ("Professional Medical Disclaimer:"), as
the references' may be: without it the article was refused for lacking its disclaimer."""

MAX_HEADING_CHARS = 100
MAX_HEADING_WORDS = 12


def _groups(lines: list[Line]) -> list[list[Line]]:
    """Split lines into runs separated by blank lines."""
    groups: list[list[Line]] = []
    current: list[Line] = []
    for line in lines:
        if line.stripped:
            current.append(line)
        elif current:
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    return groups


def looks_like_heading(text: str) -> bool:
    """A heading is short, cites nothing, ends in no punctuation but a question mark ("When
    to refer?"), and starts with a digit or a word holding a capital ("eGFR", "\u03b2-Blockers")."""
    if not text or len(text) > MAX_HEADING_CHARS or len(text.split()) > MAX_HEADING_WORDS:
        return False
    if text[-1] in ".:;,!" or BULLET.match(text) or split_citations(text).citations:
        return False
    if text[-1].isdigit() and reads_as_statement(text):
        return False  # "Keep the platelet count above 50": a value, not "Children Under 5"
    return text[0].isdigit() or any(c.isupper() for c in text.split()[0])


def reads_as_statement(line: str) -> bool:
    """Four words or more in sentence case ("Give antibiotics within the first hour"), where a
    heading capitalises its words ("Left Atrial Appendage Occlusion")."""
    words = line.split()
    long = [w for w in words if len(w) >= 4 and w[0].isalpha()]
    return len(words) >= 4 and sum(w[0].islower() for w in long) * 2 >= len(long) > 0


NUMBERED = re.compile(r"^(?P<number>\d{1,2})[.)]\s+(?P<body>\S.*)$")


def _numbered_heading(
    group: list[Line], before: list[Line] | None, after: list[list[Line]]
) -> bool:
    """A numbered heading ("2. Diagnosis") at the margin, alone or right above an indented
    list. Not an item of a numbered list: the group holds no other item at the margin, the
    group before is no lead-in (ending in ':') and holds no item n-1 or n at the margin, the
    group after does not start with item n or n+1."""
    head = NUMBERED.match(group[0].content)
    if head is None or not looks_like_heading(head.group("body")):
        return False
    if len(group) > 1:
        under = BULLET.match(group[1].content)
        if under is None or not under.group("indent"):
            return False
        if any(NUMBERED.match(line.content) for line in group[1:]):
            return False
    number = int(head.group("number"))
    if before and before[-1].stripped.endswith(":"):
        return False
    earlier = [m for line in before or () if (m := NUMBERED.match(line.content))]
    if earlier and int(earlier[-1].group("number")) in (number - 1, number):
        return False
    later = NUMBERED.match(after[0][0].content) if after and after[0] else None
    return later is None or int(later.group("number")) not in (number, number + 1)


def _ends_statement(line: Line) -> bool:
    """The line ends as a cited statement does (or a wrapped line in a number)."""
    return bool(split_citations(line.stripped).citations)


def _new_sentence(line: Line) -> bool:
    """The line starts a list item or a sentence (a wrapped statement goes on in lower case)."""
    return bool(BULLET.match(line.content)) or line.stripped[:1].isupper()


def _parts(group: list[Line]) -> list[list[Line]]:
    """A group cut where a statement ends and the next block begins without a blank line
    between: after a cited line, a heading (alone, or above a list item) stands apart, and a
    line that starts a sentence starts a new paragraph. A wrapped statement's lines stay
    together ("… aged over 50" then "years, …": the next line goes on in lower case)."""
    parts: list[list[Line]] = []
    for index, line in enumerate(group):
        after_statement = index > 0 and _ends_statement(group[index - 1])
        follows = group[index + 1] if index + 1 < len(group) else None
        if after_statement and looks_like_heading(line.stripped):
            if follows is None or BULLET.match(follows.content):
                parts.append([line])
                parts.append([])
                continue
        if not parts or (
            after_statement and not BULLET.match(line.content) and _new_sentence(line)
        ):
            parts.append([])
        parts[-1].append(line)
    return [part for part in parts if part]


def _statement(line: Line, body_start: int) -> tuple[int, int]:
    """Character span of the statement on a line, from `body_start` (column) to the last non-space."""
    start = line.start + body_start
    end = line.start + len(line.content.rstrip())
    return start, end


INNER_CITATIONS = re.compile(
    r"(?<=[.?!])\s+[1-9][0-9]{0,2}(?:\s*,\s*[1-9][0-9]{0,2})*(?=\s+[A-Z\u00c0-\u00de])"
)
"""Citations that close a sentence inside a block, before the next sentence starts: "…
normal. 2 Anti-GM1 antibodies are … 4" cites 2 for its first sentence and 4 for the second."""


ABBREVIATED = re.compile(r"\b(?:approx|vs|e\.g|i\.e|ca|cf|fig|no|nos|etc|al|dr|st|resp)\.$", re.I)
"""A full stop that ends an abbreviation ("approx. 400 IU") ends no sentence."""


def _sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The spans of a block's cited sentences: each sentence that closes with its own
    citations inside the block is a statement of its own, with exactly its references."""
    spans, at = [], start
    for inner in INNER_CITATIONS.finditer(text, start, end):
        if ABBREVIATED.search(text, at, inner.start()):
            continue
        spans.append((at, inner.end()))
        at = inner.end() + len(text[inner.end() : end]) - len(text[inner.end() : end].lstrip())
    spans.append((at, end))
    return spans


def _content_blocks(group: list[Line], text: str) -> list[Block]:
    """Turn one group of lines into paragraph and bullet blocks, or a table's rows.

    A bullet's continuation lines (no bullet mark, before the next bullet) join the bullet;
    lines before the first bullet form one paragraph.
    """
    if table := _table(group, text):
        return table
    blocks: list[Block] = []
    # kind, start, end, line, indent, mark
    pending: tuple[str, int, int, int, int, str] | None = None

    def flush() -> None:
        if pending is not None:
            kind, start, end, number, indent, mark = pending
            for a, b in _sentences(text, start, end):
                line = number + text.count("\n", start, a)
                blocks.append(Block(kind, text[a:b], a, b, line, indent=indent, mark=mark))

    for line in group:
        bullet = BULLET.match(line.content)
        if bullet:
            flush()
            start, end = _statement(line, bullet.start("body"))
            depth = len(bullet.group("indent").expandtabs(4))
            mark = bullet.group("mark") or bullet.group("mark2") or bullet.group("glyph")
            pending = ("bullet", start, end, line.number, depth, "#" if mark[0].isdigit() else mark)
        else:
            start, end = _statement(line, _leading(line))
            if pending is None:
                pending = ("paragraph", start, end, line.number, 0, "")
            else:
                pending = (*pending[:2], end, *pending[3:])
    flush()
    return blocks


def _table(group: list[Line], text: str) -> list[Block] | None:
    """The group's rows when it is a table (`ingest.tables`); a list whose items hold tabs
    ("•<tab>Age 80 years or older 4") is a list. Lines without a tab printed right above a
    table, with no blank line between ("The score estimates the risk of stroke:"), are read as
    they would be on their own, then the table: run into one paragraph, its points had been
    taken for citations."""
    if any(BULLET.match(line.content) for line in group):
        return None
    if (rows := text_table(group)) is not None:
        return rows
    first = next((at for at, line in enumerate(group) if "\t" in line.content), None)
    if not first or any("\t" not in line.content for line in group[first:]):
        return None
    rows = text_table(group[first:])
    return None if rows is None else _content_blocks(group[:first], text) + rows


def _leading(line: Line) -> int:
    """The column where a line's text starts, after indentation and a byte order mark."""
    return len(line.content) - len(line.content.lstrip().lstrip("\ufeff"))


def _parse_date(raw: str, path: str, line: int) -> date:
    cleaned = re.sub(r"\s+", " ", raw.replace(",", ", ")).replace(" ,", ",").strip()
    for form in DATE_FORMATS:
        try:
            return datetime.strptime(cleaned, form).date()
        except ValueError:
            continue
    shown = re.sub(r"View(?: editorial policy)?$", "", raw)  # the site's link, run on
    raise ArticleError(
        path,
        f"cannot read the date {shown!r}; write it as 'Month D, YYYY' (March 4, 2025), "
        "'D Month YYYY' or YYYY-MM-DD (a date in numbers alone, 04/03/2025, reads two ways)",
        line=line,
    )


def parse_export(path: Path, text: str | None = None) -> Document:
    """Parse a plain-text export of an article page.

    Raises `ArticleError` naming the file and line when the file has no title, no
    'Last updated:' line, no disclaimer, or no passages; a missing part is reported at the
    line where it belongs (the title for the date, the end of the article for the disclaimer).
    """
    source = str(path)
    if text is None:
        text = read_text(path)
    lines = source_lines(text)
    groups = _groups(lines)
    if not groups:
        raise ArticleError(
            source, "the file is empty; an article starts with its title line", line=1
        )

    title_line = groups[0][0]
    title = fold(title_line.stripped)
    if looks_like_heading(title) is False and not title.endswith("?"):
        raise ArticleError(
            source,
            f"the first line {title[:60]!r} is not a title (a short line of its own)",
            line=title_line.number,
        )
    rest = [groups[0][1:]] + groups[1:] if len(groups[0]) > 1 else groups[1:]

    last_updated: date | None = None
    review_status, review_note = REVIEW_STATUS_NOT_STATED, None
    blocks: list[Block] = []
    # After its heading, the disclaimer (or the reference list) runs to the next heading.
    mode, disclaimer_line, references_line = "content", None, None
    collected: dict[str, list[Line]] = {"disclaimer": [], "references": []}
    disclaimer_lines, reference_lines = collected["disclaimer"], collected["references"]
    end_line = lines[-1].number  # where the article ends: the trailer, or the last line

    for at, group in enumerate(rest):
        if not group:
            continue
        numbered = mode == "content" and _numbered_heading(
            group, rest[at - 1] if at else None, rest[at + 1 : at + 2]
        )
        first = group[0].stripped
        if TRAILER_START.match(first):
            end_line = group[0].number
            break
        if any(p.match(first) for p in CHROME_GROUP_STARTS):
            for line in group:
                if m := LAST_UPDATED.search(line.stripped):
                    last_updated = _parse_date(m.group("date"), source, line.number)
                if m := REVIEW_NOTE.search(line.stripped):
                    review_status, review_note = m.group("status").strip(), line.stripped
            continue
        heads = (
            numbered
            or bool(EXPORT_DISCLAIMER.match(first) or REFERENCES_HEADING.match(first))
            or (
                looks_like_heading(first)
                and (len(group) == 1 or bool(BULLET.match(group[1].content)))
            )
        )
        if mode != "content" and not heads:
            collected[mode].extend(group)
            continue
        for part in [group] if numbered or _table(group, text) else _parts(group):
            first = part[0].stripped
            # A heading stands alone, or directly above a list or table with no blank line
            # between.
            heading = (
                numbered
                or bool(EXPORT_DISCLAIMER.match(first) or REFERENCES_HEADING.match(first))
                or (
                    looks_like_heading(first)
                    and (
                        len(part) == 1
                        or bool(BULLET.match(part[1].content))
                        or ("\t" not in part[0].content and text_table(part[1:]) is not None)
                    )
                )
            )
            if mode != "content" and not heading:
                collected[mode].extend(part)
                continue
            if heading:
                mode = "content"
                if EXPORT_DISCLAIMER.match(first) and disclaimer_line is None:
                    mode, disclaimer_line = "disclaimer", part[0].number
                    disclaimer_lines.extend(part[1:])  # written as a list right under it
                    continue
                if REFERENCES_HEADING.match(first) and references_line is None:
                    mode, references_line = "references", part[0].number
                    reference_lines.extend(part[1:])
                    continue
                indent = len(part[0].content) - len(part[0].content.lstrip())
                start, end = _statement(part[0], indent)
                blocks.append(Block("heading", fold(first), start, end, part[0].number))
                part = part[1:]
            if part:
                blocks.extend(_content_blocks(part, text))

    if disclaimer_line is not None and not disclaimer_lines:
        raise ArticleError(
            source, "the disclaimer heading has no paragraph under it", line=disclaimer_line
        )
    if not disclaimer_lines:
        raise ArticleError(
            source,
            "no 'Professional Medical Disclaimer' section; every article must carry its "
            "disclaimer, which is shown with every answer",
            line=end_line,
        )
    disclaimer = "\n".join(line.stripped for line in disclaimer_lines)
    references: tuple[tuple[int, str], ...] = ()
    if references_line is not None:
        references = _references(reference_lines, blocks, source, references_line)
    if last_updated is None:
        raise ArticleError(
            source,
            "no 'Last updated: Month D, YYYY' line after the title; it is shown with every answer",
            line=title_line.number,
        )
    if not any(b.kind != "heading" for b in blocks):
        raise ArticleError(
            source,
            "no passages: there is no paragraph or bullet between the title and the disclaimer",
            line=title_line.number,
        )

    blocks = assign_levels(blocks)
    topic = blocks[0].raw if blocks[0].kind == "heading" and blocks[0].level == 1 else title
    return document(
        path,
        text,
        blocks,
        title=title,
        topic=topic,
        last_updated=last_updated,
        review_status=review_status,
        review_note=review_note,
        disclaimer=disclaimer,
        references=references,
        levels_marked=False,
    )


def _references(
    lines: list[Line], blocks: list[Block], source: str, heading_line: int
) -> tuple[tuple[int, str], ...]:
    """The entries of the article's own References section, each number a statement cites
    among them: a list printed in the export is checked as a references file would be."""
    entries = read_entries(lines, source, in_order=True, entry="a reference")
    if not entries:
        raise ArticleError(
            source,
            "the References heading has no entries under it; list them as '1. Author. Title. …'",
            line=heading_line,
        )
    cited = (
        (b.line, split_citations(b.raw).citations)
        for b in blocks
        if b.kind not in ("heading", "row")
    )
    listed_in = f"the References section (line {heading_line})"
    check_cited(cited, tuple((n, t) for n, t, _ in entries), source=source, listed_in=listed_in)
    return tuple((number, text) for number, text, _ in entries)


def assign_levels(blocks: list[Block]) -> list[Block]:
    """Give headings the levels the export's structure shows without doubt.

    The export does not mark levels. What it does show: the first heading, before any
    content, is the article's topic (level 1); a heading that directly follows a section's
    lead-in sentence (a paragraph ending in ':' with no bullets after it) continues that
    lead-in, so it is a subsection (one level deeper). Every other heading is taken as a
    section of the topic (level 2): guessing deeper nesting would put passages under the
    wrong section when the guess is wrong.
    """
    result: list[Block] = []
    section_level = 1
    for index, block in enumerate(blocks):
        if block.kind != "heading":
            result.append(block)
            continue
        if index == 0:  # a numbered heading first ("1. Overview") is a section, not the topic
            level = 2 if NUMBERED.match(block.raw) else 1
        else:
            previous = blocks[index - 1]
            before = blocks[index - 2] if index >= 2 else None
            opens_lead_in = (
                previous.kind == "paragraph"
                and previous.raw.endswith(":")
                and before is not None
                and before.kind == "heading"
            )
            level = section_level + 1 if opens_lead_in else 2
        section_level = level
        result.append(dataclasses.replace(block, level=level))
    return result
