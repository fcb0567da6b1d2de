"""Tables, as each article format prints them, into one statement a row.

A row alone ("Apixaban  5 mg twice daily  2.5 mg twice daily") answers nothing: what each
number is lives in the column headings. So a row is read as its cells after their headings
("Drug: Apixaban; Standard dose: 5 mg twice daily; Reduced dose: 2.5 mg twice daily"), which
is what a clinician is shown and what is searched; its span is the row's line in the source.
In the export a bare number in a cell is the cell's own (a score's points, a dose), so a row
there cites nothing; Markdown's "[1]" markers in a row's cells are its citations.
"""

from __future__ import annotations

import re

from markdown_it.token import Token

from assistant.ingest.citations import Split, markers_only, split_citations
from assistant.ingest.inline import Links, plain, split_markdown
from assistant.ingest.parsing import Block, Line, fold

RULE = re.compile(r"^:?-+:?$")
"""A cell of the '|---|' line under a Markdown table's headings."""
VALUE = re.compile(r"^[<>\u2264\u2265~\u00b1+-]?\s?\d")
"""A cell that is a value ("135-145 mmol/L", "<7.00"): a row holding one is not headings."""
EDGE = re.compile(r"^[ \ufeff\u00a0]*|[\s\ufeff]*$")
"""What a text row's line may start or end with besides its cells: spaces, not tabs (a tab
first is an empty first cell)."""
TRAILING_BLANKS = " \ufeff\u00a0\r\n\v\f"
"""What a row's line may end with besides its cells: not tabs, which end its empty last cells
("Neonate<tab><tab>": stripped, the row had no tab left and the whole table read as text)."""


def row_text(header: tuple[str, ...], cells: tuple[str, ...]) -> str:
    """The row as a statement: each cell after its column's heading, empty cells left out."""
    parts = []
    for at, cell in enumerate(cells):
        label = fold(header[at]) if at < len(header) else ""
        if fold(cell):
            parts.append(f"{label}: {fold(cell)}" if label else fold(cell))
    return "; ".join(parts)


def row_block(
    line: Line,
    header: tuple[str, ...],
    cells: tuple[str, ...],
    cited: tuple[int, ...] = (),
    prefix: re.Pattern[str] = EDGE,
) -> Block:
    """A row's block: its line as printed, after what `prefix` skips (indentation, a block
    quote's '>'), to its last character."""
    start = line.start + prefix.match(line.content).end()  # type: ignore[union-attr]
    end = line.start + len(line.content.rstrip())
    raw = line.content[start - line.start : end - line.start]
    indent = len(line.content) - len(line.content.lstrip(" \t"))  # under a list item: nested
    return Block(
        "row", raw, start, end, line.number, indent=indent, header=header, cells=cells, cited=cited
    )


def _cells(line: Line) -> tuple[str, tuple[str, ...]] | None:
    """A line of a table copied from a page: cells between tabs, or between '|' as Markdown
    writes them; with the separator, or None for a line that is not a row."""
    content = line.content.lstrip(" \ufeff\u00a0").rstrip(TRAILING_BLANKS)
    written = content.rstrip()  # a stray tab after a '|' row, or after prose, is no cell
    if "\t" not in written and (written.endswith(".") or split_citations(written).citations):
        return None  # a statement that ends in a tab is a statement, not a row of one cell
    if "\t" in written or ("\t" in content and "|" not in written):
        cells = tuple(fold(cell) for cell in content.split("\t"))
        return ("\t", cells) if len(cells) >= 2 else None
    if "|" in written:
        cells = tuple(
            fold(c) for c in written.strip().removeprefix("|").removesuffix("|").split("|")
        )
        return ("|", cells) if len(cells) >= 2 else None
    return None


def text_table(group: list[Line]) -> list[Block] | None:
    """A run of lines that is a table in a text export, or None: at least two rows of two
    cells or more, cut by the same separator ('|---|' rules and empty rows left out). The
    first row is the column headings unless it holds a value; then no row is labelled."""
    rows = [(line, _cells(line)) for line in group]
    cut = [(line, found) for line, found in rows if found is not None]
    if len(cut) != len(rows) or len({separator for _, (separator, _) in cut}) != 1:
        return None
    width = max(len(cells) for _, (_, cells) in cut)  # a row may leave its last cells out
    cut = [(line, (s, cells + ("",) * (width - len(cells)))) for line, (s, cells) in cut]
    body = [(line, cells) for line, (_, cells) in cut if not all(RULE.match(c) for c in cells)]
    body = [(line, cells) for line, cells in body if any(cells)]
    if len(body) < 2 or sum(map(bool, body[0][1])) < 2:
        return None  # a first line of one cell ends in a tab: text, not a table's headings
    header = body[0][1]
    if any(VALUE.match(cell) for cell in header):
        return [row_block(line, (), cells) for line, cells in body]
    return [row_block(line, header, cells) for line, cells in body[1:]]


def markdown_table(
    tokens: list[Token], lines: list[Line], prefix: re.Pattern[str], links: Links | None = None
) -> list[Block]:
    """A table markdown-it read (`tokens` from its `table_open`): a block a body row that
    holds anything, its cells' "[1]" markers taken off as the row's citations, a link by its
    words (a reference-style one by the article's `links`)."""
    header: tuple[str, ...] = ()
    blocks: list[Block] = []
    row: list[str] = []
    line: Line | None = None
    for token in tokens:
        if token.type == "tr_open" and token.map:
            row, line = [], lines[token.map[0]]
        elif token.type == "inline":
            row.append(token.content)
        elif token.type == "tr_close" and line is not None:
            if not header:
                header = tuple(fold(plain(cell, links=links)) for cell in row)
                continue
            split = [
                Split("", cited, 0)
                if (cited := markers_only(cell))
                else split_markdown(cell, links)
                for cell in row
            ]  # a "Ref" column's "[1]" cites
            cells = tuple(fold(s.text) for s in split)
            cited = tuple(dict.fromkeys(n for s in split for n in s.citations))
            if any(cells):
                blocks.append(row_block(line, header, cells, cited, prefix))
        elif token.type == "table_close":
            break
    return blocks
