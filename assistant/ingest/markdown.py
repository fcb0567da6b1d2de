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

The front matter is read by hand, so each of its errors names its line; the body is read as
CommonMark by markdown-it-py (lists, numbered lists, quotes, code, setext headings), and each
statement's text and span are cut from the source along the lines markdown-it reports.
Footnotes ("[^1]: …") are references (`footnotes.py`). As in the export, the first heading
before any content is the topic (level 1); without one, the title is.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

from assistant.errors import ArticleError
from assistant.ingest.footnotes import linked_references, take_footnotes
from assistant.ingest.frontmatter import (
    EXAMPLE_FRONT_MATTER,
    Byline,
    Value,
    article_title,
    byline_date,
    other_date,
    parse_date,
    read_front_matter,
    same_date,
)
from assistant.ingest.inline import (
    Links,
    alert_label,
    block_end,
    figure_only,
    plain,
    sentences,
    split_markdown,
)
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
from assistant.ingest.tables import markdown_table

REFERENCES_HEADING = re.compile(r"^(?:references|sources|bibliography)$", re.IGNORECASE)
"""The heading of the reference list, named as the export allows it."""
INDENT = re.compile(r"[\s\ufeff]*")
QUOTE_PREFIX = re.compile(r"[\s\ufeff]*(?:>[ \t]?[\s\ufeff]*)*")
COMMENT_START, COMMENT_END = "<!--", "-->"


_MARKDOWN = MarkdownIt("commonmark").enable("table")
"""CommonMark, read by markdown-it-py: fenced and indented code, numbered lists, block quotes,
setext headings, HTML comments and GitHub's pipe tables are read as Markdown tools read them."""


@dataclass(slots=True)
class _Body:
    """The article after its front matter, read block by block into blocks and back matter.

    markdown-it-py finds the blocks and their lines; the text of each statement and its span
    are taken from the source, so every passage still points at the characters it came from
    and every error names its line.
    """

    source: str
    lines: list[Line]
    blocks: list[Block] = field(default_factory=list)
    title: Value | None = None
    mode: str = "content"  # content | disclaimer | references
    numbers: list[str] = field(default_factory=list)  # each open container's item number
    counters: list[int | None] = field(default_factory=list)  # open lists' next number, or None
    disclaimer_line: int | None = None
    disclaimer: list[str] = field(default_factory=list)  # paragraphs
    references_line: int | None = None
    reference_lines: list[Line] = field(default_factory=list)
    bylines: list[Byline] = field(default_factory=list)  # "Last updated: …" in the body
    footnotes: list[tuple[int, str, int]] = field(default_factory=list)  # "[^1]: …", read first
    links: Links = field(default_factory=dict)

    def read(self) -> None:
        # Same line count as the source, so markdown-it's line maps index `self.lines`; a line
        # that shows nothing (a byte order mark left by `cat`, a zero-width space) is blank, and
        # so is a footnote's, which is a reference, not a statement.
        self.footnotes, taken = take_footnotes(self.lines, self.source)
        body = "\n".join(
            line.content if line.stripped and at not in taken else ""
            for at, line in enumerate(self.lines)
        )
        env: dict[str, Any] = {}
        tokens = _MARKDOWN.parse(body, env)
        self.links = env.get("references", {})  # "[nice]: https://…", for "[the guideline][nice]"
        containers: list[str] = []  # open list items and block quotes
        for at, token in enumerate(tokens):
            if token.type == "ordered_list_open":  # "1. 1. 1." reads 1, 2, 3, as viewers show it
                start = token.attrGet("start")  # none for a list from 1; "0" counts from 0
                self.counters.append(1 if start is None else int(start))
            elif token.type == "bullet_list_open":
                self.counters.append(None)
            elif token.type in ("ordered_list_close", "bullet_list_close"):
                self.counters.pop()
            if token.type in ("list_item_open", "blockquote_open"):
                containers.append(token.type)
                counter = self.counters[-1] if token.type == "list_item_open" else None
                if counter is not None:
                    self.numbers.append(f"{counter}{token.markup}")
                    self.counters[-1] = counter + 1
                elif token.type == "blockquote_open":  # a quote in a step is of that step
                    self.numbers.append(self.numbers[-1] if self.numbers else "")
                else:
                    self.numbers.append("")
            elif token.type in ("list_item_close", "blockquote_close"):
                containers.pop()
                self.numbers.pop()
            if token.type == "heading_open":
                self._heading(token, tokens[at + 1])
            elif token.type == "html_block":
                self._html(token, containers)
            elif self.mode != "content":
                if token.level == 0 and token.map and token.nesting >= 0:
                    self._back_matter(token, tokens[at + 1 :])
            elif token.type == "table_open":
                rows = markdown_table(tokens[at:], self.lines, QUOTE_PREFIX, self.links)
                if depth := containers.count("list_item_open"):  # inside a list item: nested
                    rows = [dataclasses.replace(row, indent=2 * depth + 2) for row in rows]
                self.blocks.extend(rows)
            elif token.type == "paragraph_open":
                kind = "bullet" if "list_item_open" in containers else "paragraph"
                self._statement(kind, token, tokens[at + 1].content, containers)
            elif token.type in ("fence", "code_block"):
                self._statement("paragraph", token, token.content.rstrip("\n"), containers)

    def _statement(self, kind: str, token: Token, content: str, containers: list[str]) -> None:
        """A paragraph, list item or code block, as the source prints it without the list or
        quote markers and indentation that start its lines.

        markdown-it says which lines hold the statement and what its first line reads; the text
        is cut from the source itself, each line's place kept, so a span measured anywhere in
        the statement (where its citations start) is exact in the file.
        """
        assert token.map is not None
        first, last = token.map[0], token.map[1] - 1
        if token.type in ("fence", "code_block"):  # the fences and trailing blanks are not text
            first += token.type == "fence"
            last = first + content.count("\n")
        if "blockquote_open" in containers and (label := alert_label(content)):
            content, first = content[label:], first + 1  # "> [!NOTE]": the callout's kind
        if not content.strip() or figure_only(content):
            return
        shown = plain(content) if kind == "paragraph" and not containers else ""
        if other_date(shown):  # "Last reviewed: 1 December 2026": a byline, not a statement
            return
        if said := byline_date(shown):
            # a byline ("*Last updated: 20 November 2026 · Review status: …*", "Reviewed by
            # the board · Last updated: …"), as sites print it: the front matter's date again
            if "\n" in content.strip():
                raise ArticleError(
                    self.source,
                    "a 'Last updated' byline with lines right under it, which would be read as "
                    "part of it; put a blank line after the byline",
                    line=self.lines[first].number,
                )
            self.bylines.append(Byline(*said, self.lines[first].number))
            return
        head = self.lines[first]
        printed = head.content.rstrip()
        opening = content.split("\n", 1)[0].strip()
        column = len(printed) - len(opening) if printed.endswith(opening) else 0
        prefix = QUOTE_PREFIX if "blockquote_open" in containers else INDENT
        raw, breaks = printed[column:], []
        for line in self.lines[first + 1 : last + 1]:
            skip = prefix.match(line.content).end()  # type: ignore[union-attr]
            breaks.append((len(raw) + 1, line.start + skip))
            raw += "\n" + line.content[skip:].rstrip()
        start = head.start + column
        end = (breaks[-1][1] - breaks[-1][0] if breaks else start) + len(raw)
        depth = containers.count("list_item_open")
        number = self.numbers[-1] if kind == "bullet" and self.numbers else ""
        numbered = bool(number)
        whole = Block(
            kind,
            raw,
            start,
            end,
            head.number,
            breaks=tuple(breaks),
            indent=2 * depth,  # two columns a level: the export's nesting, in its terms
            mark="#" if numbered else "",
            number=number,
            structured=True,
            verbatim=token.type in ("fence", "code_block"),
        )
        if token.type in ("fence", "code_block"):
            self.blocks.append(whole)
            return
        for a, b in sentences(raw):  # "… trigger. [1] Stop …": a statement a sentence
            self.blocks.append(
                dataclasses.replace(
                    whole,
                    raw=raw[a:b],
                    start=whole.offset(a),
                    end=whole.offset(b),
                    line=head.number + raw.count("\n", 0, a),
                    breaks=tuple((r - a, f) for r, f in breaks if a < r < b),
                )
            )

    def _html(self, token: Token, containers: list[str]) -> None:
        """An HTML comment holds notes for editors (a statement after it on its line is read);
        any other HTML block is read as text."""
        assert token.map is not None
        content = token.content.strip()
        if content.startswith(COMMENT_START):
            if COMMENT_END not in content[len(COMMENT_START) :]:
                raise ArticleError(
                    self.source,
                    f"the comment opened here is never closed; end it with '{COMMENT_END}'",
                    line=self.lines[token.map[0]].number,
                )
            rest = content[content.rindex(COMMENT_END) + len(COMMENT_END) :].strip()
            if rest and "\n" not in content and self.mode == "content":  # "<!-- draft --> Give …"
                self._statement("paragraph", token, rest, containers)
        elif self.mode == "content":
            self._statement("paragraph", token, content, containers)
        elif token.level == 0:
            self._back_matter(token, [])

    def _heading(self, token: Token, inline: Token) -> None:
        assert token.map is not None
        line = self.lines[token.map[0]]
        level = int(token.tag[1])
        raw = inline.content
        title = fold(plain(raw, links=self.links)).rstrip(":").rstrip()  # "Antibiotics:" too
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
            self.title = Value(title, line.number)
            return
        if DISCLAIMER_HEADING.match(title):
            if self.disclaimer_line is not None:
                raise ArticleError(
                    self.source,
                    f"a second disclaimer section (the first is on line {self.disclaimer_line}); "
                    "keep one",
                    line=line.number,
                )
            self.mode, self.disclaimer_line = "disclaimer", line.number
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
        first_line = raw.split("\n", 1)[0].strip()
        start = line.start + max(line.content.find(first_line), 0)
        end = start + len(first_line)
        self.blocks.append(Block("heading", title, start, end, line.number, level=level))

    def _back_matter(self, token: Token, following: list[Token]) -> None:
        """A block of the disclaimer or the References section, read from its source lines."""
        assert token.map is not None
        lines = [line for line in self.lines[token.map[0] : token.map[1]] if line.stripped]
        if self.mode == "disclaimer":
            if token.type == "hr":
                return
            texts = [
                t.content for t in following[: block_end(following)] if t.type == "inline"
            ] or [token.content]
            shown = (" ".join(plain(text, links=self.links).split()) for text in texts)
            self.disclaimer.extend(text for text in shown if text)
        else:
            self.reference_lines.extend(lines)


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
    meta, body_start = read_front_matter(lines, source)
    body = _Body(source, lines[body_start:])
    body.read()

    title = article_title(meta.get("title"), body.title, source)
    last_updated = meta.get("last_updated")
    if last_updated is None or not last_updated.text:
        raise ArticleError(
            source,
            "no 'last_updated' in the front matter; add 'last_updated: YYYY-MM-DD', it is shown "
            "with every answer",
            line=last_updated.line if last_updated else 1,
        )
    dated = parse_date(last_updated.text, source, last_updated.line)
    for byline in body.bylines:
        same_date(byline, dated, source)
    status = meta.get("review_status")
    disclaimer = _disclaimer(body, source, last_line=lines[-1].number)
    references, listed_in = _references(body, source)

    blocks = body.blocks
    if not any(b.kind != "heading" for b in blocks):
        raise ArticleError(
            source,
            "no passages: there is no paragraph or bullet between the title and the disclaimer",
            line=body.title.line if body.title else body_start + 1,
        )
    if listed_in:  # where an article lists references, all are there
        check_cited(
            (
                (b.line, b.cited if b.kind == "row" else split_markdown(b.raw).citations)
                for b in blocks
                if b.kind != "heading"
            ),
            references,
            source=source,
            listed_in=listed_in,
        )
    # The export's convention: the first heading, before any content, is the topic (level 1).
    if blocks[0].kind == "heading" and blocks[0].level == 2:
        blocks[0] = dataclasses.replace(blocks[0], level=1)
        topic = blocks[0].raw
    else:
        topic = title
    parsed = document(
        path,
        text,
        blocks,
        title=title,
        topic=topic,
        last_updated=dated,
        review_status=(status.text if status and status.text else REVIEW_STATUS_NOT_STATED),
        review_note=None,
        disclaimer=disclaimer,
        references=references,
    )
    return dataclasses.replace(parsed, split=functools.partial(split_markdown, links=body.links))


def _disclaimer(body: _Body, source: str, *, last_line: int) -> str:
    if body.disclaimer_line is None:
        raise ArticleError(
            source,
            "no '## Professional Medical Disclaimer' section; add it after the article's "
            "content: every article carries its disclaimer, which is shown with every answer",
            line=body.references_line or last_line,
        )
    paragraphs = body.disclaimer
    if not paragraphs:
        raise ArticleError(
            source, "the disclaimer heading has no paragraph under it", line=body.disclaimer_line
        )
    return "\n\n".join(paragraphs)


def _references(body: _Body, source: str) -> tuple[tuple[tuple[int, str], ...], str | None]:
    """The References section's entries, then the footnotes' ("[^1]: …") and numbered link
    definitions' ("[1]: https://…", an entry's address when the section lists its number); a
    number given as an entry and a footnote is refused at the footnote's line. With them,
    where the article lists its references, in the words of the error naming a missing one."""
    entries = read_entries(body.reference_lines, source, in_order=False, entry="a References entry")
    listed = {number: at for at, (number, _, _) in enumerate(entries)}
    notes = list(body.footnotes)
    for number, text, line in linked_references(body.links, body.lines):
        if number not in listed:
            notes.append((number, text, line))
        elif text not in entries[listed[number]][1]:  # "1. Smith …" with "[1]: https://doi…"
            entry = entries[listed[number]]
            entries[listed[number]] = (number, f"{entry[1]} ({text})", entry[2])
    if body.references_line is not None and not entries and not notes:
        raise ArticleError(
            source,
            "the References section has no entries; list them as '1. Author. Title. …' or "
            "remove the heading",
            line=body.references_line,
        )
    for number, _, line in notes:
        if number in listed:
            raise ArticleError(
                source,
                f"reference {number} is both a footnote here and an entry of the References "
                f"section (line {entries[listed[number]][2]}); keep one",
                line=line,
            )
    section = body.references_line and f"the References section (line {body.references_line})"
    noted = notes and "the set of footnotes ('[^1]: …')"
    listed_in = " with ".join(place for place in (section, noted) if place) or None
    both = entries + notes
    shown = tuple((number, plain(text, urls=True, links=body.links)) for number, text, _ in both)
    return shown, listed_in
