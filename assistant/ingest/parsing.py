"""Read the publishing site's plain-text export into blocks and article metadata.

The export is a web page flattened to text: the article sits between site chrome
(the review-status widget, the "Personalize" panel, the "Have a follow-up question?"
promotion). Chrome is recognised by the site template's own fixed strings; the
article's structure (headings, paragraphs, bullets) is recognised by shape only,
never by a list of this article's headings, so the next edition parses too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from assistant.errors import ArticleError
from assistant.records import Article

BULLET = re.compile(
    r"^(?P<indent>[ \t]*)(?P<mark>[\u2022\u00b7\u25aa\u25e6\u2013*-])[ \t]+(?P<body>\S.*)$"
)
DISCLAIMER_HEADING = re.compile(r"^(?:professional\s+)?(?:medical\s+)?disclaimer$", re.IGNORECASE)

# The site template's chrome: a blank-line-separated group that starts with one of these
# is not article content. The trailer promotion ends the article: nothing after it is read.
CHROME_GROUP_STARTS = (
    re.compile(r"^Medical Advisory Board"),
    re.compile(r"^Last updated:"),
    re.compile(r"^Personalize$"),
    re.compile(r"^Help us tailor your experience$"),
    re.compile(r"^Which best describes you\?"),
)
TRAILER_START = re.compile(r"^Have a follow-up question\?$")
LAST_UPDATED = re.compile(r"Last updated:\s*(?P<date>[A-Za-z]+\s+\d{1,2},\s*\d{4})")
REVIEW_NOTE = re.compile(r"content is (?P<status>[^.\u2022]+?)\.?$")

# Where lines end for editors, `grep -n` and `open()`: not at the form feeds, NEL or U+2028
# that `str.splitlines` also breaks at, which would shift every line number after them.
LINE_END = re.compile(r"\r\n|\r|\n")

MAX_HEADING_CHARS = 100
MAX_HEADING_WORDS = 12
REVIEW_STATUS_NOT_STATED = "not stated"


@dataclass(frozen=True, slots=True)
class Block:
    """A heading, paragraph or bullet as it stands in the source.

    `raw` is the statement as printed, citations included; `text[start:end]` of the decoded
    file is where it stands. They are the same text for the export; a Markdown statement leaves
    out the list or quote markers and indentation that start its lines (`breaks` maps it back),
    and a heading has its white space folded.
    `level` is set on headings only: 1 for the article's topic heading, deeper numbers
    for headings nested inside it.
    """

    kind: str  # "heading" | "paragraph" | "bullet"
    raw: str
    start: int
    end: int
    line: int
    level: int | None = None
    breaks: tuple[tuple[int, int], ...] = ()
    """Where each later line of `raw` starts, in `raw` and in the file, when markers that
    start the printed lines are left out of `raw`."""

    def offset(self, at: int) -> int:
        """Where `raw[at]` stands in the file."""
        raw_at, file_at = 0, self.start
        for line_at, line_file_at in self.breaks:
            if line_at > at:
                break
            raw_at, file_at = line_at, line_file_at
        return file_at + at - raw_at


@dataclass(frozen=True, slots=True)
class Document:
    """What a parser read: the `Article` as its file states it (metadata, references where the
    file lists them; no passages yet) and the body as blocks, in order, for chunking."""

    article: Article
    blocks: list[Block]


def article_id(path: Path) -> str:
    """A stable id from the file name: lower case, words joined by hyphens."""
    slug = re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-")
    if not slug:
        raise ArticleError(str(path), "the file name gives no article id; use letters or digits")
    return slug


def document(
    path: Path,
    text: str,
    blocks: list[Block],
    *,
    title: str,
    topic: str,
    last_updated: date,
    review_status: str,
    review_note: str | None,
    disclaimer: str,
    references: tuple[tuple[int, str], ...] = (),
    levels_marked: bool = True,
) -> Document:
    """A parser's result: the article's id from the file name, its hash from the text."""
    article = Article(
        id=article_id(path),
        title=title,
        topic=topic,
        last_updated=last_updated,
        review_status=review_status,
        review_note=review_note,
        disclaimer=disclaimer,
        source=str(path),
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        references=references,
        levels_marked=levels_marked,
    )
    return Document(article, blocks)


INVISIBLE_EDGES = re.compile(
    r"^[\s\ufeff\u200b\u200c\u200d\u2060\u00ad]+|[\s\ufeff\u200b\u200c\u200d\u2060\u00ad]+$"
)
"""White space and characters that show nothing (byte order mark, zero-width space and joiners,
word joiner, soft hyphen) at the edges of a line."""


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a source file: its 1-based number, its offset, its text without the ending."""

    number: int
    start: int
    content: str  # without the line ending

    @property
    def stripped(self) -> str:
        """The text without surrounding white space or invisible characters: a line holding
        only a zero-width space or a byte order mark is blank to the eye, so it is blank here."""
        return INVISIBLE_EDGES.sub("", self.content)


def read_text(path: Path) -> str:
    """Decode a file as UTF-8 or fail naming the line of the first bad byte."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = len(LINE_END.findall(data[: exc.start].decode("utf-8"))) + 1
        raise ArticleError(
            str(path),
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save the file as UTF-8",
            line=line,
        ) from None


def source_lines(text: str) -> list[Line]:
    """The lines of a text as an editor numbers them, so `file:line` points where people look."""
    lines, offset = [], 0
    for number, end in enumerate(LINE_END.finditer(text), start=1):
        lines.append(Line(number, offset, text[offset : end.start()]))
        offset = end.end()
    if offset < len(text):
        lines.append(Line(len(lines) + 1, offset, text[offset:]))
    return lines


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
    """A heading is short, starts with a capital or digit and has no closing punctuation."""
    if not text or len(text) > MAX_HEADING_CHARS or len(text.split()) > MAX_HEADING_WORDS:
        return False
    if text[-1] in ".:;,!?" or BULLET.match(text):
        return False
    if re.search(r"\s\d{1,3}(?:\s*,\s*\d{1,3})*$", text):  # ends like a cited statement
        return False
    return text[0].isupper() or text[0].isdigit()


def _statement(line: Line, body_start: int) -> tuple[int, int]:
    """Character span of the statement on a line, from `body_start` (column) to the last non-space."""
    start = line.start + body_start
    end = line.start + len(line.content.rstrip())
    return start, end


def fold(text: str) -> str:
    return " ".join(text.split())


def _content_blocks(group: list[Line], text: str) -> list[Block]:
    """Turn one group of lines into paragraph and bullet blocks.

    A bullet's continuation lines (no bullet mark, before the next bullet) join the bullet;
    lines before the first bullet form one paragraph.
    """
    blocks: list[Block] = []
    pending: tuple[str, int, int, int] | None = None  # kind, start, end, line

    def flush() -> None:
        if pending is not None:
            kind, start, end, number = pending
            blocks.append(Block(kind, text[start:end], start, end, number))

    for line in group:
        bullet = BULLET.match(line.content)
        if bullet:
            flush()
            start, end = _statement(line, bullet.start("body"))
            pending = ("bullet", start, end, line.number)
        else:
            leading = len(line.content) - len(line.content.lstrip().lstrip("\ufeff"))
            start, end = _statement(line, leading)
            if pending is None:
                pending = ("paragraph", start, end, line.number)
            else:
                pending = (pending[0], pending[1], end, pending[3])
    flush()
    return blocks


def _parse_date(raw: str, path: str, line: int) -> date:
    cleaned = re.sub(r"\s+", " ", raw.replace(",", ", ")).replace(" ,", ",")
    try:
        return datetime.strptime(cleaned, "%B %d, %Y").date()
    except ValueError:
        raise ArticleError(
            path, f"cannot read the date {raw!r}; expected 'Month D, YYYY'", line=line
        ) from None


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
    disclaimer: str | None = None
    disclaimer_line: int | None = None
    blocks: list[Block] = []
    expecting_disclaimer = False
    end_line = lines[-1].number  # where the article ends: the trailer, or the last line

    for group in rest:
        if not group:
            continue
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
        if expecting_disclaimer:
            expecting_disclaimer = False
            if len(group) == 1 and looks_like_heading(first):
                raise ArticleError(
                    source, "the disclaimer heading has no paragraph under it", line=disclaimer_line
                )
            disclaimer = "\n".join(line.stripped for line in group)
            continue
        # A heading stands alone, or directly above a list with no blank line between.
        if looks_like_heading(first) and (len(group) == 1 or BULLET.match(group[1].content)):
            if DISCLAIMER_HEADING.match(first):
                disclaimer_line = group[0].number
                if len(group) > 1:  # written as a list right under its heading
                    disclaimer = "\n".join(line.stripped for line in group[1:])
                else:
                    expecting_disclaimer = True
                continue
            indent = len(group[0].content) - len(group[0].content.lstrip())
            start, end = _statement(group[0], indent)
            blocks.append(Block("heading", fold(first), start, end, group[0].number))
            group = group[1:]
        if group:
            blocks.extend(_content_blocks(group, text))

    if expecting_disclaimer:
        raise ArticleError(
            source, "the disclaimer heading has no paragraph under it", line=disclaimer_line
        )
    if disclaimer is None:
        raise ArticleError(
            source,
            "no 'Professional Medical Disclaimer' section; every article must carry its "
            "disclaimer, which is shown with every answer",
            line=end_line,
        )
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
    topic = blocks[0].raw if blocks[0].kind == "heading" else title
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
        levels_marked=False,
    )


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
        if index == 0:
            level = 1
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
