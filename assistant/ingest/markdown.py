"""Read a Markdown article into the same blocks and metadata as the export parser.

A Markdown article is written for this assistant rather than flattened from a web page, so its
structure is explicit and nothing is guessed from shape: front matter holds the metadata,
headings carry their real levels, bullets are marked, citations are "[1]" markers and the
reference list is numbered. The result is a `Document` of `Block`s, so chunking, citations on
passages and everything downstream are shared with the export.

    ---
    title: What is condition X?
    last_updated: 2026-02-02          # or: February 2, 2026
    review_status: pending human review
    ---
    # What is condition X?
    ## Condition X (CX)               # the topic: a ## heading straight after the title
    A statement. [1]
    ### A Subsection
    - A bullet [1, 2]
    ## Professional Medical Disclaimer
    For healthcare professionals only.
    ## References
    1. Author A. A title. A journal. 2020.

The topic follows the export's convention: the first heading, before any content, is the
article's topic (level 1) and every section sits under it; an article whose content starts
right under the title has the title as its topic. `##` headings are level 2, `###` level 3.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from assistant.errors import ArticleError
from assistant.ingest.citations import split_markdown_citations
from assistant.ingest.parsing import (
    DISCLAIMER_HEADING,
    REVIEW_STATUS_NOT_STATED,
    Block,
    Document,
    Line,
    fold,
    read_text,
    source_lines,
)

FENCE = "---"
FENCE_ENDS = ("---", "...")
FRONT_MATTER_LINE = re.compile(r"^(?P<key>[A-Za-z_][\w-]*)[ \t]*:(?:[ \t]+(?P<value>.*?))?[ \t]*$")
FRONT_MATTER_KEYS = ("title", "last_updated", "review_status")
"""The keys read; any other key (authors, tags, ...) is allowed and ignored."""

HEADING = re.compile(r"^ {0,3}(?P<marks>#{1,6})(?:[ \t]+(?P<title>.*?))?(?:[ \t]+#+)?[ \t]*$")
BULLET = re.compile(r"^(?P<indent>[ \t]*)[-*+][ \t]+(?P<body>\S.*)$")
THEMATIC_BREAK = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
REFERENCES_HEADING = re.compile(r"^references$", re.IGNORECASE)
REFERENCE_ENTRY = re.compile(
    r"^[ \t]*(?:(?P<number>\d{1,3})[.)]|\[(?P<bracketed>\d{1,3})\])[ \t]+(?P<text>\S.*)$"
)
QUOTED = re.compile(r"""^(?P<quote>["'])(?P<inner>.*)(?P=quote)(?:[ \t]+#.*)?$""")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
COMMENT_START, COMMENT_END = "<!--", "-->"

EXAMPLE_FRONT_MATTER = "'---', 'title: …', 'last_updated: YYYY-MM-DD', 'review_status: …', '---'"


@dataclass(frozen=True, slots=True)
class _Value:
    text: str
    line: int


def _unquote(raw: str) -> str:
    """A YAML scalar as written on one line: quotes removed, a trailing comment dropped."""
    if quoted := QUOTED.match(raw):
        inner = quoted.group("inner")
        return (
            inner.replace("''", "'") if quoted.group("quote") == "'" else inner.replace('\\"', '"')
        )
    return re.sub(r"[ \t]+#.*$", "", raw).strip()


def _front_matter(lines: list[Line], source: str) -> tuple[dict[str, _Value], int]:
    """The front matter's `key: value` lines, and the index of the first body line.

    Only the flat subset of YAML that the metadata needs is read (by hand, so every error can
    name its line): `key: value`, optionally quoted, `#` comments. Other keys may hold lists
    or nested values; the three keys read must be single values.
    """
    if not lines or lines[0].content.lstrip("\ufeff").rstrip() != FENCE:
        raise ArticleError(
            source,
            f"no front matter; start the file with the metadata block {EXAMPLE_FRONT_MATTER}",
            line=1,
        )
    end = next((i for i, line in enumerate(lines[1:], 1) if line.content.rstrip() in FENCE_ENDS), 0)
    if not end:
        raise ArticleError(
            source,
            "the front matter opened here is never closed; end it with a line '---' before the "
            "article's '# Title'",
            line=lines[0].number,
        )
    values: dict[str, _Value] = {}
    key: str | None = None
    for line in lines[1:end]:
        stripped = line.content.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if line.content[0] in " \t" or stripped.startswith("- "):
            if key in FRONT_MATTER_KEYS:
                raise ArticleError(
                    source,
                    f"'{key}' must be a single value on its own line ('{key}: …')",
                    line=line.number,
                )
            continue  # part of a key that is not read
        match = FRONT_MATTER_LINE.match(line.content)
        if match is None:
            raise ArticleError(
                source,
                f"cannot read the front matter line {stripped[:60]!r}; write 'key: value' "
                f"(the front matter ends at the '---' on line {lines[end].number})",
                line=line.number,
            )
        key = match.group("key").lower()
        if key in values:
            raise ArticleError(
                source,
                f"'{key}' is set twice (lines {values[key].line} and {line.number}); keep one",
                line=line.number,
            )
        values[key] = _Value(_unquote(match.group("value") or ""), line.number)
    return values, end + 1


def parse_date(raw: str, source: str, line: int) -> date:
    """`last_updated` as an ISO date (2026-02-02) or as the export prints it (February 2, 2026)."""
    try:
        if ISO_DATE.match(raw):
            return date.fromisoformat(raw)
        cleaned = re.sub(r"\s+", " ", raw.replace(",", ", ")).replace(" ,", ",")
        return datetime.strptime(cleaned, "%B %d, %Y").date()
    except ValueError:
        raise ArticleError(
            source,
            f"cannot read the date {raw!r}; write last_updated as YYYY-MM-DD (2026-02-02) or "
            "'Month D, YYYY' (February 2, 2026)",
            line=line,
        ) from None


@dataclass(slots=True)
class _Body:
    """The article after its front matter, read line by line into blocks and back matter."""

    source: str
    text: str
    blocks: list[Block] = field(default_factory=list)
    title: _Value | None = None
    mode: str = "content"  # content | disclaimer | references
    pending: tuple[str, int, int, int] | None = None  # kind, start, end, line
    disclaimer_line: int | None = None
    disclaimer: list[list[str]] = field(default_factory=list)  # paragraphs of stripped lines
    references_line: int | None = None
    references: list[tuple[int, list[str], int]] = field(default_factory=list)
    comment_line: int | None = None

    def read(self, lines: list[Line]) -> None:
        for line in lines:
            stripped = line.stripped  # as in the export, a leading byte order mark is no text
            if self.comment_line is not None:
                if COMMENT_END in line.content:
                    self.comment_line = None
                continue
            if stripped.startswith(COMMENT_START):  # an HTML comment: notes for editors
                self._break()
                if COMMENT_END not in stripped[len(COMMENT_START) :]:
                    self.comment_line = line.number
                continue
            if not stripped or THEMATIC_BREAK.match(line.content):
                self._break()
            elif heading := HEADING.match(line.content):
                self._break()
                self._heading(line, heading)
            elif self.mode == "disclaimer":
                self.disclaimer[-1].append(stripped)
            elif self.mode == "references":
                self._reference(line)
            else:
                self._content(line)
        self._break()
        if self.comment_line is not None:
            raise ArticleError(
                self.source,
                f"the comment opened here is never closed; end it with '{COMMENT_END}'",
                line=self.comment_line,
            )

    def _break(self) -> None:
        """A blank line (or a heading, comment or rule) ends the paragraph or bullet being read."""
        if self.pending is not None:
            kind, start, end, number = self.pending
            self.blocks.append(Block(kind, self.text[start:end], start, end, number))
            self.pending = None
        if self.mode == "disclaimer" and self.disclaimer[-1]:
            self.disclaimer.append([])

    def _heading(self, line: Line, match: re.Match[str]) -> None:
        level = len(match.group("marks"))
        raw = match.group("title") or ""
        title = fold(raw)
        if not title:
            raise ArticleError(
                self.source, "a heading with no text; write '## Heading'", line=line.number
            )
        if level == 1:
            if self.title is not None or self.blocks or self.mode != "content":
                where = "a second title" if self.title else "a title after the article's content"
                raise ArticleError(
                    self.source,
                    f"'# {title}' is {where}; the article's title is its one '#' heading, "
                    "before anything else: use '##' or '###' for sections",
                    line=line.number,
                )
            self.title = _Value(title, line.number)
            return
        if DISCLAIMER_HEADING.match(title):
            if self.disclaimer_line is not None:
                raise ArticleError(
                    self.source,
                    f"a second disclaimer section (the first is on line {self.disclaimer_line}); "
                    "keep one",
                    line=line.number,
                )
            self.mode, self.disclaimer_line, self.disclaimer = "disclaimer", line.number, [[]]
            return
        if REFERENCES_HEADING.match(title):
            if self.references_line is not None:
                raise ArticleError(
                    self.source,
                    f"a second References section (the first is on line {self.references_line}); "
                    "keep one",
                    line=line.number,
                )
            self.mode, self.references_line = "references", line.number
            return
        self.mode = "content"
        start = line.start + match.start("title")
        end = start + len(raw)
        self.blocks.append(Block("heading", title, start, end, line.number, level=level))

    def _content(self, line: Line) -> None:
        """A bullet starts a block; any other line starts a paragraph or continues a block."""
        bullet = BULLET.match(line.content)
        if bullet:
            self._break()
            body = bullet.start("body")
        else:
            body = len(line.content) - len(line.content.lstrip().lstrip("\ufeff"))
        start = line.start + body
        end = line.start + len(line.content.rstrip())
        if self.pending is None or bullet:
            self.pending = ("bullet" if bullet else "paragraph", start, end, line.number)
        else:
            kind, first, _, number = self.pending
            self.pending = (kind, first, end, number)

    def _reference(self, line: Line) -> None:
        entry = REFERENCE_ENTRY.match(line.content)
        if entry is None:
            if not self.references:
                raise ArticleError(
                    self.source,
                    "a References entry starts with its number: '1. Author. Title. Journal. Year.'",
                    line=line.number,
                )
            self.references[-1][1].append(line.content.strip())  # a wrapped entry goes on
            return
        number = int(entry.group("number") or entry.group("bracketed"))
        for listed, _, listed_line in self.references:
            if listed == number:
                raise ArticleError(
                    self.source,
                    f"reference {number} is listed twice (lines {listed_line} and {line.number}); "
                    "number each entry once",
                    line=line.number,
                )
        self.references.append((number, [entry.group("text").strip()], line.number))


def parse_markdown(path: Path, text: str | None = None) -> Document:
    """Parse a Markdown article.

    Raises `ArticleError` naming the file and line, with what to fix, when the front matter is
    missing or unclosed, the title or `last_updated` date is missing, the date is unreadable,
    the disclaimer is missing or empty, there are no passages, or (when the article has a
    References section) a passage cites a number the section does not list.
    """
    source = str(path)
    if text is None:
        text = read_text(path)
    lines = source_lines(text)
    if not any(line.content.strip() for line in lines):
        raise ArticleError(
            source, f"the file is empty; an article starts with {EXAMPLE_FRONT_MATTER}", line=1
        )
    meta, body_start = _front_matter(lines, source)
    body = _Body(source, text)
    body.read(lines[body_start:])

    title = _title(meta.get("title"), body.title, source)
    last_updated = meta.get("last_updated")
    if last_updated is None or not last_updated.text:
        raise ArticleError(
            source,
            "no 'last_updated' in the front matter; add 'last_updated: YYYY-MM-DD', it is shown "
            "with every answer",
            line=last_updated.line if last_updated else 1,
        )
    status = meta.get("review_status")
    disclaimer = _disclaimer(body, source, last_line=lines[-1].number)
    references = _references(body, source)

    blocks = body.blocks
    if not any(b.kind != "heading" for b in blocks):
        raise ArticleError(
            source,
            "no passages: there is no paragraph or bullet between the title and the disclaimer",
            line=body.title.line if body.title else body_start + 1,
        )
    _check_citations(blocks, references, body.references_line, source)
    # The export's convention: the first heading, before any content, is the topic (level 1).
    if blocks[0].kind == "heading" and blocks[0].level == 2:
        blocks[0] = dataclasses.replace(blocks[0], level=1)
        topic = blocks[0].raw
    else:
        topic = title
    return Document(
        path=source,
        text=text,
        title=title,
        topic=topic,
        last_updated=parse_date(last_updated.text, source, last_updated.line),
        review_status=(status.text if status and status.text else REVIEW_STATUS_NOT_STATED),
        review_note=None,
        disclaimer=disclaimer,
        blocks=blocks,
        references=references,
    )


def _title(front: _Value | None, heading: _Value | None, source: str) -> str:
    """The front matter's title or the '# Title' heading; when both are given they must agree."""
    named = front.text if front and front.text else None
    if named and heading and fold(named) != heading.text:
        raise ArticleError(
            source,
            f"the '# {heading.text}' heading differs from the front matter title {named!r}; "
            "make them the same",
            line=heading.line,
        )
    if named:
        return fold(named)
    if heading:
        return heading.text
    raise ArticleError(
        source,
        "no title; add 'title: …' to the front matter (and/or a '# Title' line after it)",
        line=front.line if front else 1,
    )


def _disclaimer(body: _Body, source: str, *, last_line: int) -> str:
    if body.disclaimer_line is None:
        raise ArticleError(
            source,
            "no '## Professional Medical Disclaimer' section; add it after the article's "
            "content: every article carries its disclaimer, which is shown with every answer",
            line=body.references_line or last_line,
        )
    paragraphs = [" ".join(p) for p in body.disclaimer if p]
    if not paragraphs:
        raise ArticleError(
            source, "the disclaimer heading has no paragraph under it", line=body.disclaimer_line
        )
    return "\n\n".join(paragraphs)


def _references(body: _Body, source: str) -> tuple[tuple[int, str], ...]:
    if body.references_line is not None and not body.references:
        raise ArticleError(
            source,
            "the References section has no entries; list them as '1. Author. Title. …' or "
            "remove the heading",
            line=body.references_line,
        )
    return tuple((number, fold(" ".join(parts))) for number, parts, _ in body.references)


def _check_citations(
    blocks: list[Block],
    references: tuple[tuple[int, str], ...],
    references_line: int | None,
    source: str,
) -> None:
    """Where an article lists references, every number a passage cites must be among them."""
    if references_line is None:
        return
    listed = {number for number, _ in references}
    for block in blocks:
        if block.kind == "heading":
            continue
        missing = [n for n in split_markdown_citations(block.raw).citations if n not in listed]
        if missing:
            numbers = ", ".join(str(n) for n in missing)
            raise ArticleError(
                source,
                f"cites [{numbers}], which the References section (line {references_line}) "
                "does not list; add the entry or correct the marker",
                line=block.line,
            )
