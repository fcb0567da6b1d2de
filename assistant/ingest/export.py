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
from assistant.ingest.chunking import cut_citations
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
from assistant.ingest.shapes import (
    BULLET,
    content_blocks,
    heads_paragraph,
    looks_like_heading,
    split_group,
    statement_span,
    table_blocks,
)
from assistant.ingest.tables import text_table

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


NUMBERED = re.compile(r"^(?P<number>\d{1,2})(?P<style>[.)])\s+(?P<body>\S.*)$")


def _numbered_heading(
    group: list[Line],
    before: list[Line] | None,
    after: list[list[Line]],
    last: tuple[int, str] | None,
) -> bool:
    """A numbered heading ("2. Diagnosis") at the margin, alone or right above an indented
    list. Not an item of a numbered list: the group holds no other item at the margin, the
    group before is no lead-in (ending in ':') and holds no item n-1 or n at the margin (but an
    item numbered in another style when `last`, the last numbered heading, was n-1 in this
    one), the group after does not start with item n or n+1."""
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
        # "4. Follow-Up" after items "1)" to "3)" goes on from the heading "3. Before Starting"
        if earlier[-1].group("style") == head.group("style") or last != (
            number - 1,
            head.group("style"),
        ):
            return False
    later = NUMBERED.match(after[0][0].content) if after and after[0] else None
    return later is None or int(later.group("number")) not in (number, number + 1)


def _last_numbered(blocks: list[Block]) -> tuple[int, str] | None:
    """The number and style of the last numbered heading so far ("3." gives (3, "."))."""
    for block in reversed(blocks):
        if block.kind == "heading" and (m := NUMBERED.match(block.raw)):
            return int(m.group("number")), m.group("style")
    return None


def _review_note(line: str) -> re.Match[str] | None:
    """`REVIEW_NOTE` in a line, searched from after its last '.' or bullet (which the status
    cannot hold): searched from each "content is" of a long line, it took seconds."""
    body = line.removesuffix(".")
    return REVIEW_NOTE.search(line, max(body.rfind("."), body.rfind("\u2022")) + 1)


def _stands_as_heading(group: list[Line]) -> bool:
    """A heading line alone, or right above a list."""
    return (
        bool(group)
        and looks_like_heading(group[0].stripped)
        and (len(group) == 1 or bool(BULLET.match(group[1].content)))
    )


def _named_heading(line: str) -> bool:
    """The disclaimer's or the references' heading, whatever its shape (a colon after it)."""
    return bool(EXPORT_DISCLAIMER.match(line) or REFERENCES_HEADING.match(line))


def parse_printed_date(raw: str, path: str, line: int) -> date:
    """A date as a page prints it after "Last updated:" (`DATE_FORMATS`), or an error at `line`."""
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


def _misplaced_date(first: int | None) -> str:
    """Why a 'Last updated:' line cannot be read: every answer shows the article's one date,
    and a chrome line swallows the lines of its group (a list right under it would vanish)."""
    if first is not None:
        return (
            f"a second 'Last updated:' line with another date (the first is at line {first}); "
            "an article has one date, in its header: change that one and remove this"
        )
    return (
        "a 'Last updated:' line among the article's statements, with lines right under it; "
        "the date belongs in the header, on a line of its own"
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
    dated_at: int | None = None
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
            group, rest[at - 1] if at else None, rest[at + 1 : at + 2], _last_numbered(blocks)
        )
        first = group[0].stripped
        if TRAILER_START.match(first):
            end_line = group[0].number
            break
        if any(p.match(first) for p in CHROME_GROUP_STARTS):
            in_body = any(b.kind != "heading" for b in blocks)
            for at_line, line in enumerate(group):
                if m := LAST_UPDATED.search(line.stripped):
                    dated = parse_printed_date(m.group("date"), source, line.number)
                    swallows = in_body and at_line < len(group) - 1  # the lines under it
                    if swallows or (dated_at is not None and dated != last_updated):
                        why = _misplaced_date(None if swallows else dated_at)
                        raise ArticleError(source, why, line=line.number)
                    if dated_at is None:  # the same date again (a page's footer) says nothing new
                        last_updated, dated_at = dated, line.number
                if m := _review_note(line.stripped):
                    review_status, review_note = m.group("status").strip(), line.stripped
            continue
        heads = numbered or _named_heading(first) or _stands_as_heading(group)
        if mode != "content" and not heads:
            collected[mode].extend(group)
            continue
        for part in [group] if numbered or table_blocks(group, text) else split_group(group):
            first = part[0].stripped
            # A heading stands alone, or directly above a list or table with no blank line
            # between, or (in the article, not its references) right above its paragraph.
            heading = (
                numbered
                or _named_heading(first)
                or _stands_as_heading(part)
                or (
                    looks_like_heading(first)
                    and "\t" not in part[0].content
                    and text_table(part[1:]) is not None
                    and text_table(part) is None  # "Drug | Use | Caution" is its header row
                )
                or (mode == "content" and heads_paragraph(part))
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
                start, end = statement_span(part[0], indent)
                blocks.append(Block("heading", fold(first), start, end, part[0].number))
                part = part[1:]
            if part:
                blocks.extend(content_blocks(part, text))

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
        headings = [b for b in blocks if b.kind == "heading"][1:]  # after the topic's
        read = (
            f"; {len(headings)} lines were read as headings, the first {headings[0].raw!r} at "
            f"line {headings[0].line}: a statement needs its reference numbers or a full stop"
            if headings
            else ""
        )
        raise ArticleError(
            source,
            "no passages: there is no paragraph or bullet between the title and the disclaimer"
            + read,
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
        (
            b.line,
            cut_citations(
                b, blocks[at + 1] if at + 1 < len(blocks) else None, split_citations
            ).citations,
        )
        for at, b in enumerate(blocks)
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
    lead-in, so it is a subsection (one level deeper), as is a heading right under a heading
    with nothing of its own (the same heading twice is a slip, not a subsection). Every other
    heading is taken as a
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
            # a heading right under another, with nothing between, opens a subsection of it
            # ("Management" above "Treatment of Severe Hypertension"): alone, it would vanish
            opens_heading = previous.kind == "heading" and previous.raw != block.raw
            level = section_level + 1 if opens_lead_in or opens_heading else 2
        section_level = level
        result.append(dataclasses.replace(block, level=level))
    return result
