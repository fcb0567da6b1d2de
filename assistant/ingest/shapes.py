"""How the export's lines read by their shape, and a group of lines as blocks.

A bullet is a glyph or number at the start of a line; a heading is a short line that cites
nothing; a group of lines between blank lines is cut where one statement ends and the next
begins, then read as paragraphs, bullets, cited sentences or a table's rows. Nothing here knows
an article's words (`ingest.export` reads the page around them).
"""

from __future__ import annotations

import re

from assistant.ingest.citations import (
    ABBREVIATED,
    BARE_REFS,
    MARKED_REFS,
    RANGED_REFS,
    reads_as_statement,
    split_citations,
    split_lead_in,
)
from assistant.ingest.parsing import LINE_END, Block, Line
from assistant.ingest.tables import text_table

LIST_GLYPHS = "\u2022\u25aa\u25e6\u25cf\u25cb\u25a0\u25a1\u2023\u2043\u25ba\u27a2\u2713\u2714"
"""Bullets as pages print them (\u2022 \u25aa \u25e6 \u25cf \u25cb \u25a0 \u25a1 \u2023 \u2043 \u25ba \u27a2 \u2713 \u2714): a space
after one is optional ("\u2022Text"); after "-", "*", "\u2013", "\u00b7" or a number ("1.", "2)") it
is not, so "-5 \u00b0C" or "1.5 mg" stay text. An indented "o " is Word's second-level bullet
(an editor's "  o Severe acidosis" was joined to the item above, its citation mid-text). An em
dash ("\u2014 Aspirin", as an outside writer printed a list) needs a space after it, not a tab:
"\u2014<tab>" is a table's empty cell."""
_ROMAN = r"ii|iii|iv|vi|vii|viii|ix|II|III|IV|VI|VII|VIII|IX"
_ORDINAL = rf"(?:\d{{1,2}}|{_ROMAN})[.)]|[a-z][.)](?=\s+[A-Z])|\((?:\d{{1,2}}|[a-zA-Z]|{_ROMAN})\)"
"""What numbers a list's items: "1.", "2)", and as outside writers print sub-lists, "ii.",
"(1)", "(b)" or "(C)", and "a." before a capital (run into one paragraph, "a. Colchicine … 3
b. Naproxen … 3 c. …" had lost each item's citations but the last). A lone letter before a
lower-case word or a number is text: "c. 40% of patients", "e. coli", "A. baumannii"."""
BULLET = re.compile(
    r"^(?P<indent>\s*)"
    rf"(?:(?P<mark>[{LIST_GLYPHS}\u00b7\u2013*-]|{_ORDINAL}|(?<=\s)o)\s+"
    rf"|(?P<mark2>\u2014)[ \u00a0]+"
    rf"|(?P<glyph>[{LIST_GLYPHS}]))"
    r"(?P<body>\S.*)$"
)
MAX_HEADING_CHARS = 100
MAX_HEADING_WORDS = 12


_NUMBERED_HEADING = re.compile(r"^[0-9]+(?:\.[0-9]+)*\.(?:[0-9]+)?\t")
"""An outline number with its dot ("2.", "2.1") and the tab a word processor prints after it.
Not a bare number ("2<tab>High risk") nor a word and a number ("Grade 1<tab>Mild"): a table's
rows start so, and a row read as a heading was lost from every passage and filed the passages
after it under its words. A row whose first cell is a decimal ("1.5<tab>High"), alone between
blank lines, still reads as a heading: its number has an outline number's shape."""


def looks_like_heading(text: str) -> bool:
    """A heading is short, cites nothing, ends in no punctuation but a question mark ("When
    to refer?"), and starts with a digit or a word holding a capital ("eGFR", "\u03b2-Blockers").
    A tab between its words makes it a row of cells ("Cell A<tab>Cell B" under two cited
    lines had opened a section of that name, and was in no passage), except the tab a word
    processor prints after an outline number ("2.1<tab>Diagnosis")."""
    if not text or len(text) > MAX_HEADING_CHARS or len(text.split()) > MAX_HEADING_WORDS:
        return False
    if "\t" in _NUMBERED_HEADING.sub("", text.strip()):
        return False
    if text[-1] in ".:;,!" or BULLET.match(text) or split_citations(text).citations:
        return False
    if split_lead_in(text):
        return False  # "Assess the following: 1": a lead-in and its reference
    if text[-1].isdigit() and reads_as_statement(text):
        return False  # "Keep the platelet count above 50": a value, not "Children Under 5"
    return text[0].isdigit() or any(c.isupper() for c in text.split()[0])


def heads_paragraph(part: list[Line]) -> bool:
    """A heading typed right above its paragraph, with no blank line between ("Epidemiology"
    then "Kawasaki disease is commoner in boys. 1"): a title-case line of words alone, then a
    sentence that ends as a statement does. A wrapped statement goes on in lower case or ends
    its first line in a small word ("… (IVIg) in"); a label ("Route: IV"), a signature
    ("Dr. Jane Smith, MD"), a list of names or a table aligned with spaces is none of these."""
    if len(part) < 2 or BULLET.match(part[1].content):
        return False
    title, body = part[0].stripped, " ".join(line.stripped for line in part[1:])
    words = title.split()
    return (
        looks_like_heading(title)
        and _titled(title)
        and not re.search(r"[\d:;,.%]| {2}|\t", title)
        and any(len(w) >= 4 for w in words)
        and words[0].lower() not in ("the", "a", "an")  # "The American Heart Association" / "…"
        and words[-1].lower() not in _CONTINUES
        and body[:1].isupper()
        and len(body.split()) >= 4
        and (body.endswith((".", "!", "?")) or bool(split_citations(body).citations))
        and "\t" not in part[1].content
    )


_CONTINUES = frozenset("a an the of in on at to by for from with and or as than".split())
"""Small words a line of a wrapped sentence ends in; a heading does not."""


def _titled(text: str) -> bool:
    """Every word of four letters or more starts with a capital ("Left Atrial Appendage")."""
    return all(not w[0].islower() for w in text.split() if len(w) >= 4 and w[0].isalpha())


def _ends_statement(line: Line) -> bool:
    """The line ends as a cited statement does (or a wrapped line in a number)."""
    return bool(split_citations(line.stripped).citations)


def _new_sentence(line: Line) -> bool:
    """The line starts a list item or a sentence (a wrapped statement goes on in lower case)."""
    return bool(BULLET.match(line.content)) or line.stripped[:1].isupper()


def split_group(group: list[Line]) -> list[list[Line]]:
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


def statement_span(line: Line, body_start: int) -> tuple[int, int]:
    """Character span of the statement on a line, from `body_start` (column) to the last non-space."""
    start = line.start + body_start
    end = line.start + len(line.content.rstrip())
    return start, end


_NEXT_SENTENCE = r"(?=\s+[A-Z\u00c0-\u00de])"
INNER_CITATIONS = re.compile(
    rf"(?<=[.?!])\s+(?:(?:{BARE_REFS}|{MARKED_REFS}){_NEXT_SENTENCE}"
    rf"|{RANGED_REFS}(?=\s+[A-Z\u00c0-\u00de][a-z\u00df-\u00ff]))"
    rf"|(?<=[^\W\d_]{{2}}[.?!])(?P<glued>{RANGED_REFS}){_NEXT_SENTENCE}"
    rf"|(?<=[^\s\]])\s*{MARKED_REFS}[.?!]{_NEXT_SENTENCE}"  # from a word: one try a run
)
"""Citations that close a sentence inside a block, before the next sentence starts: "…
normal. 2 Anti-GM1 antibodies are … 4" cites 2 for its first sentence and 4 for the second;
so do "… two years. [3] The cause …", "… siblings. 1-3 Without treatment …", a superscript
pasted as text ("… death.1,2 The cause …") and Vancouver's "… two years [3]. The cause …". A
range needs a word after it, not a unit: in "… four hours. 2-3 L may be needed" it is the dose."""
ABBREVIATION_CHARS = 12
"""The longest abbreviation `ABBREVIATED` knows, with its stops, is shorter than this."""


def _sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The spans of a block's cited sentences: each sentence that closes with its own
    citations inside the block is a statement of its own, with exactly its references."""
    spans, at = [], start
    for inner in INNER_CITATIONS.finditer(text, start, end):
        # only the few characters before the stop, and the references after it, are read again:
        # from `at`, a long paragraph of rejected ones was read again for each (quadratic)
        if ABBREVIATED.search(text, max(at, inner.start() - ABBREVIATION_CHARS), inner.start()):
            continue
        before = 3 if inner.group("glued") else 1  # "th.1,2": the word's end is read too
        if not split_citations(text[inner.start() - before : inner.end()]).citations:
            continue  # "in 2019. 1-40 Patients": no range of references is that wide
        spans.append((at, inner.end()))
        at = inner.end() + len(text[inner.end() : end]) - len(text[inner.end() : end].lstrip())
    spans.append((at, end))
    return spans


def content_blocks(group: list[Line], text: str) -> list[Block]:
    """Turn one group of lines into paragraph and bullet blocks, or a table's rows.

    A bullet's continuation lines (no bullet mark, before the next bullet) join the bullet;
    lines before the first bullet form one paragraph.
    """
    if table := table_blocks(group, text):
        return table
    blocks: list[Block] = []
    # kind, start, end, line, indent, mark, the item's number as printed
    pending: tuple[str, int, int, int, int, str, str] | None = None

    def flush() -> None:
        if pending is not None:
            kind, start, end, number, indent, mark, printed = pending
            for a, b in _sentences(text, start, end):  # a step's every sentence is of that step
                line = number + len(LINE_END.findall(text, start, a))  # "\r" ends lines too
                blocks.append(
                    Block(kind, text[a:b], a, b, line, indent=indent, mark=mark, number=printed)
                )

    for line in group:
        bullet = BULLET.match(line.content)
        if bullet:
            flush()
            start, end = statement_span(line, bullet.start("body"))
            depth = len(bullet.group("indent").expandtabs(4))
            mark = bullet.group("mark") or bullet.group("mark2") or bullet.group("glyph")
            numbered = mark[-1] in ".)"  # "1.", "2)", "a.", "(ii)": not a glyph, nor Word's "o"
            pending = (
                "bullet",
                start,
                end,
                line.number,
                depth,
                "#" if numbered else mark,
                mark if numbered else "",
            )
        else:
            start, end = statement_span(line, _leading(line))
            if pending is None:
                pending = ("paragraph", start, end, line.number, 0, "", "")
            else:
                pending = (*pending[:2], end, *pending[3:])
    flush()
    return blocks


def table_blocks(group: list[Line], text: str) -> list[Block] | None:
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
    return None if rows is None else content_blocks(group[:first], text) + rows


def _leading(line: Line) -> int:
    """The column where a line's text starts, after indentation and a byte order mark."""
    return len(line.content) - len(line.content.lstrip().lstrip("\ufeff"))
