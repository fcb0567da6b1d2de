"""What every article reader shares: source lines as editors number them, blocks, documents.

The readers (`ingest.export` for the publishing site's plain-text export, `ingest.markdown`)
turn a file into a `Document`: the article's metadata and its body as blocks, in order.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from assistant.errors import ArticleError, os_problem
from assistant.ingest.citations import Split
from assistant.records import Article

DISCLAIMER_HEADING = re.compile(r"^(?:professional\s+)?(?:medical\s+)?disclaimer$", re.IGNORECASE)

# Where lines end for editors, `grep -n` and `open()`: not at the form feeds, NEL or U+2028
# that `str.splitlines` also breaks at, which would shift every line number after them.
LINE_END = re.compile(r"\r\n|\r|\n")

REVIEW_STATUS_NOT_STATED = "not stated"


@dataclass(frozen=True, slots=True)
class Block:
    """A heading, paragraph, bullet or table row as it stands in the source.

    `raw` is the statement as printed, citations included; `text[start:end]` of the decoded
    file is where it stands. They are the same text for the export; a Markdown statement leaves
    out the list or quote markers and indentation that start its lines (`breaks` maps it back),
    and a heading has its white space folded.
    `level` is set on headings only: 1 for the article's topic heading, deeper numbers
    for headings nested inside it.
    """

    kind: str  # "heading" | "paragraph" | "bullet" | "row"
    raw: str
    start: int
    end: int
    line: int
    level: int | None = None
    breaks: tuple[tuple[int, int], ...] = ()
    """Where each later line of `raw` starts, in `raw` and in the file, when markers that
    start the printed lines are left out of `raw`."""
    indent: int = 0
    """A bullet's depth: deeper bullets under one that ends in ':' are its list."""
    mark: str = ""
    """A bullet's glyph as printed ("\u2022", "\u25e6", "-"; "#" for a number), where the format
    has one: a deeper bullet with another glyph is nested under the one before it."""
    number: str = ""
    """A numbered item's number ("1.", "2)"), on each of its statements: the order a list of
    steps is read in, shown with it."""
    structured: bool = False
    """Its depth is the format's own nesting (Markdown's list items), not a guess from columns
    and glyphs: a deeper bullet right after it is in its list, whatever either is marked with."""
    verbatim: bool = False
    """A code block: its lines are kept as lines (a ward's dosing card read as one run-on line
    invites "q12h CrCl 30-49")."""
    header: tuple[str, ...] = ()
    cells: tuple[str, ...] = ()
    cited: tuple[int, ...] = ()
    """A table row's cells, its table's column headings and its citations (`ingest.tables`)."""

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
    split: Callable[[str], Split] | None = None
    """How this article's statements print citations and markup, where its format's reader
    needs more than the statement (a Markdown article's link definitions)."""


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


_INVISIBLE = r"[\s\ufeff\u200b\u200c\u200d\u2060\u00ad]"
INVISIBLE_EDGES = re.compile(rf"^{_INVISIBLE}+|(?<!{_INVISIBLE}){_INVISIBLE}+$")
"""White space and characters that show nothing (byte order mark, zero-width space and joiners,
word joiner, soft hyphen) at the edges of a line. A run is tried from its first character only:
tried from each, a line with 16,000 spaces inside took 2 s."""


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


CONFLICT = re.compile(r"(?:<{7}|>{7})(?: |$)")
"""A merge's conflict markers, which put two versions of a statement in a file ("=======" alone
may underline a Markdown heading, so only the outer markers count)."""


def refuse_conflicts(path: Path, text: str) -> None:
    """Refuse a text a merge left two versions in (both would be indexed), naming the line."""
    for line in source_lines(text):
        if CONFLICT.match(line.content):
            raise ArticleError(
                str(path),
                "a merge's conflict marker; keep one version of the lines it marks and delete "
                "the markers",
                line=line.number,
            )


MAX_FILE_BYTES = 16 * 1024 * 1024
"""The largest corpus or gold file read. The MMN export is 10 kB and its examples 180 kB; a file
of many megabytes is a wrong file dropped into the folder (a log, a database), which would
otherwise be parsed line by line into passages, embedded for minutes and served."""


def read_text(path: Path, what: str = "the file") -> str:
    """Decode a file as UTF-8 or fail naming the line of the first bad byte; `what` names the
    file in errors ("the examples file")."""
    try:
        size = path.stat().st_size
        data = path.read_bytes() if size <= MAX_FILE_BYTES else b""
    except OSError as exc:  # unreadable, a link to nothing, a folder
        raise ArticleError(
            str(path), f"cannot read {what} ({os_problem(exc, named=False)})"
        ) from None
    if size > MAX_FILE_BYTES:
        raise ArticleError(
            str(path),
            f"{size / 1024 / 1024:.1f} MB is more than the {MAX_FILE_BYTES // 1024 // 1024} MB a "
            "corpus file may hold; is it the right file? Split a longer one",
        )
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


def split_lines(text: str) -> list[str]:
    """A text's lines as `source_lines` numbers them (what `str.splitlines` also breaks at
    inside a line, U+2028 in a JSON string, stays text); no empty line for the final end."""
    return [line.content for line in source_lines(text)]


def source_lines(text: str) -> list[Line]:
    """The lines of a text as an editor numbers them, so `file:line` points where people look."""
    lines, offset = [], 0
    for number, end in enumerate(LINE_END.finditer(text), start=1):
        lines.append(Line(number, offset, text[offset : end.start()]))
        offset = end.end()
    if offset < len(text):
        lines.append(Line(len(lines) + 1, offset, text[offset:]))
    return lines


def fold(text: str) -> str:
    return " ".join(text.split())
