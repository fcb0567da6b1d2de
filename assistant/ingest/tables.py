"""Tables, as each article format prints them, into one statement a row.

A row alone ("Apixaban  5 mg twice daily  2.5 mg twice daily") answers nothing: what each
number is lives in the column headings. So a row is read as its cells after their headings
("Drug: Apixaban; Standard dose: 5 mg twice daily; Reduced dose: 2.5 mg twice daily"), which
is what a clinician is shown and what is searched; its span is the row's line in the source.
A bare number in a cell is the cell's own (a score's points, a dose), so a row cites nothing;
Markdown's "[1]" markers stay in their cells as printed.
"""

from __future__ import annotations

import re

from markdown_it.token import Token

from assistant.ingest.parsing import Block, Line, fold

RULE = re.compile(r"^:?-{3,}:?$")
"""A cell of the '|---|' line under a Markdown table's headings."""


def row_text(header: tuple[str, ...], cells: tuple[str, ...]) -> str:
    """The row as a statement: each cell after its column's heading, empty cells left out."""
    parts = []
    for at, cell in enumerate(cells):
        label = fold(header[at]) if at < len(header) else ""
        if fold(cell):
            parts.append(f"{label}: {fold(cell)}" if label else fold(cell))
    return "; ".join(parts)


def row_block(line: Line, header: tuple[str, ...], cells: tuple[str, ...]) -> Block:
    """A row's block: its line as printed, the span from its first character to its last."""
    start = line.start + len(line.content) - len(line.content.lstrip().lstrip("\ufeff"))
    end = line.start + len(line.content.rstrip())
    return Block("row", line.stripped, start, end, line.number, header=header, cells=cells)


def _cells(line: Line) -> tuple[str, tuple[str, ...]] | None:
    """A line of a table copied from a page: cells between tabs, or between '|' as Markdown
    writes them; with the separator, or None for a line that is not a row."""
    content = line.stripped
    for separator in ("\t", "|"):
        if separator in content:
            inner = content.strip("|") if separator == "|" else content
            cells = tuple(fold(cell) for cell in inner.split(separator))
            return (separator, cells) if len(cells) >= 2 else None
    return None


def text_table(group: list[Line]) -> list[Block] | None:
    """A run of lines that is a table in a text export: a row of column headings and at
    least one row under it, all cut by the same separator; None when the lines are not one."""
    rows = [(line, _cells(line)) for line in group]
    cut = [(line, found) for line, found in rows if found is not None]
    if len(cut) != len(rows) or len({found[0] for _, found in cut}) != 1:
        return None
    body = [(line, found[1]) for line, found in cut if not all(RULE.match(c) for c in found[1])]
    if len(body) < 2:
        return None
    header = body[0][1]
    return [row_block(line, header, cells) for line, cells in body[1:]]


def markdown_table(tokens: list[Token], lines: list[Line]) -> list[Block]:
    """A table markdown-it read (`tokens` from its `table_open`): a block a body row."""
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
                header = tuple(row)
            else:
                blocks.append(row_block(line, header, tuple(row)))
        elif token.type == "table_close":
            break
    return blocks
