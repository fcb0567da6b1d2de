"""Cut an article's blocks into atomic passages that carry their citation metadata.

Citations live on the passage from the moment it is cut: its section path, the lead-in
sentence of its section, its reference numbers, its span in the source and a stable id
derived from its content.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Callable, Sequence

from assistant.ingest.citations import Split, split_citations, split_lead_in
from assistant.ingest.parsing import Block
from assistant.ingest.tables import row_text
from assistant.records import Passage, PassageKind

# Bump when what `index_text` produces changes, so a stale index is never reused.
INDEX_TEXT_VERSION = 1


def normalise(text: str) -> str:
    """The form of a statement that its id is computed from: NFC, white space folded."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def passage_id(article_id: str, text: str) -> str:
    """A stable id: the same statement in the same article keeps its id across rebuilds."""
    digest = hashlib.sha256(f"{article_id}\n{normalise(text)}".encode()).hexdigest()
    return digest[:16]


def index_text(topic: str, section: Sequence[str], context: str | None, text: str) -> str:
    """What is embedded and searched for a passage: the passage in its place in the article.

    A bullet such as "Dosing: 1.6-2.4 g/kg given intravenously over 3-5 days" does not say
    what is dosed; its section path ("Treatment > IVIg Therapy") and its section's lead-in
    do. The passage shown to the user stays `text` alone.
    """
    path = [part for part in section if part != topic]
    parts = [topic]
    if path:
        parts.append(" > ".join(path))
    if context:
        parts.append(context)
    parts.append(text)
    return "\n".join(parts)


def chunk(
    article_id: str,
    topic: str,
    blocks: Sequence[Block],
    *,
    split: Callable[[str], Split] = split_citations,
) -> list[Passage]:
    """Turn parsed blocks into passages, in source order.

    Section paths follow heading levels; a lead-in (a paragraph ending in ':') becomes the
    context of the passages after it in its own section, until its list ends (a paragraph
    after the list's items) or another lead-in or heading comes, and of the subsections that
    open right under it. A lead-in above a list never reaches the sections after it, and a
    heading written twice does not inherit what the first one's lead-in said. A bullet with
    deeper bullets under it ("Rate control:" above the drugs, "Apixaban" above its doses) is
    their context, after its own: "Surgery is indicated for: Uncontrolled infection:" (alone,
    the nested "Cultures positive after 7 days" said nothing of surgery).
    A table row reads as its cells after their column headings.
    `split` takes a statement's citations off it; each article format prints them its own way
    (bare numbers in the export, "[1]" markers in Markdown), everything else is shared.
    """
    passages: list[Passage] = []
    stack: list[tuple[int, str]] = []  # (level, heading) of the open sections
    lead_ins: dict[tuple[str, ...], str] = {}  # a section's lead-in, while it governs
    heads_subsections: set[tuple[str, ...]] = set()  # lead-ins a heading followed directly
    seen: dict[str, int] = {}
    last_kind: str | None = None  # the kind of the block before, in the open section
    parents: list[tuple[int, str, str]] = []  # (depth, context shown, embedded) they hand down
    listed: dict[tuple[str, ...], tuple[int, bool]] = {}  # a lead-in's list: indent, numbered
    levels: list[int] = []  # the indents of the open list levels, as printed

    for at, block in enumerate(blocks):
        inside = block.kind == PassageKind.ROW and parents and block.indent > parents[0][0]
        if block.kind != "bullet" and not inside:  # a table inside an item keeps its leads
            parents.clear()
        while parents and parents[-1][0] >= block.indent:
            parents.pop()
        if block.kind == "heading":
            level = block.level or 2
            open_before = len(stack)
            while stack and stack[-1][0] >= level:
                stack.pop()
            if last_kind == PassageKind.LEAD_IN and stack and len(stack) == open_before:
                # a subsection right under the lead-in (not a sibling section after it)
                heads_subsections.add(tuple(title for _, title in stack))
            stack.append((level, block.raw))
            opened = tuple(title for _, title in stack)
            for path in [p for p in lead_ins if p[: len(opened)] == opened]:
                del lead_ins[path]  # a section opened again starts afresh
                heads_subsections.discard(path)
            last_kind = None
            continue

        section = tuple(title for _, title in stack)
        nesting = _level(levels, block)  # how deep it is printed, for the article view
        after = blocks[at + 1] if at + 1 < len(blocks) else None
        if block.kind == PassageKind.ROW:  # its reader took its citations off its cells
            cut = Split(row_text(block.header, block.cells), block.cited, len(block.raw))
        else:
            cut = cut_citations(block, after, split)
        text = " ".join(cut.text.split())
        kind = block.kind
        if block.verbatim:  # a code block keeps its lines; right under a lead-in, it is its list
            text = "\n".join(
                " ".join(line.split()) for line in cut.text.splitlines() if line.strip()
            )
            kind = PassageKind.BULLET if last_kind == PassageKind.LEAD_IN else kind
        elif kind == "paragraph" and text.endswith(":"):
            kind = PassageKind.LEAD_IN
        context = embedded = None
        if kind == PassageKind.LEAD_IN:
            lead_ins[section] = text
            listed.pop(section, None)
            heads_subsections.discard(section)
        else:
            if kind == PassageKind.PARAGRAPH and last_kind in PassageKind.LISTED:
                lead_ins.pop(section, None)  # the list its lead-in opened has ended
            if kind == PassageKind.BULLET and section in lead_ins:
                indent, numbered = listed.setdefault(section, (block.indent, block.mark == "#"))
                if block.indent <= indent and (block.mark == "#") != numbered:
                    # numbered steps, then bullets (or the other way round): another list
                    lead_ins.pop(section)
            context = lead_ins.get(section) or next(
                (
                    lead_ins[section[:n]]
                    for n in range(len(section) - 1, 0, -1)
                    if section[:n] in heads_subsections and section[:n] in lead_ins
                ),
                None,
            )
            embedded = context
            if parents:
                context, embedded = parents[-1][1:]
            joined = f"{context} {text}" if context else text
            if text.endswith(":") and _leads(block, after):
                # shown under both, embedded under its own words: the longer context cost the
                # blind articles two first answers of 90 (docs/pipeline.md)
                parents.append((block.indent, joined, text))
            elif _nests(block, after):
                # "Relative" under "Contraindications to thrombolysis include:" hands both down:
                # alone it would read as a relative indication
                parents.append((block.indent, joined, f"{embedded} {text}" if embedded else text))
        last_kind = kind

        pid = passage_id(article_id, text)
        seen[pid] = seen.get(pid, 0) + 1
        if seen[pid] > 1:  # the same sentence twice in one article: keep both, distinct ids
            pid = f"{pid}-{seen[pid]}"
        passages.append(
            Passage(
                id=pid,
                article_id=article_id,
                kind=kind,
                text=text,
                section=section,
                context=context,
                citations=cut.citations,
                start=block.start,
                end=block.offset(cut.end),
                line=block.line,
                position=len(passages),
                index_text=index_text(topic, section, embedded, text),
                number=block.number,
                depth=nesting,
            )
        )
    return passages


def cut_citations(block: Block, after: Block | None, split: Callable[[str], Split]) -> Split:
    """A statement without its citations, by its format's `split`; a paragraph right above a
    list, or an item above its nested list, may print them after its colon ("… the following:
    1", "3. … measure a D-dimer: 1, 5"). A reader that checks the numbers against a references
    list reads them here too."""
    cut = split(block.raw)
    if cut.citations or after is None or after.kind != "bullet":
        return cut
    if block.kind == "paragraph" or (block.kind == "bullet" and _leads(block, after)):
        return split_lead_in(block.raw) or cut
    return cut


def _level(levels: list[int], block: Block) -> int:
    """How deep a bullet is printed: a level opens two columns or more in from the one above
    (one column is a slip of the same list, as in `_nests`); `levels` holds the open ones."""
    if block.kind == PassageKind.ROW and levels and block.indent > levels[0] + 1:
        # a table printed inside a list item: one deeper than its item, the list goes on (its
        # item's own sub-list, printed as deep as the table, has ended)
        while levels and levels[-1] >= block.indent - 1:
            levels.pop()
        return len(levels)
    if block.kind != "bullet":
        levels.clear()
        return 0
    while levels and block.indent < levels[-1] - 1:
        levels.pop()
    if not levels or block.indent > levels[-1] + 1:
        levels.append(block.indent)
    return len(levels) - 1


def _leads(block: Block, after: Block | None) -> bool:
    """A bullet leads the list right after it when that list is nested deeper."""
    return (
        block.kind == "bullet"
        and after is not None
        and after.kind == "bullet"
        and after.indent > block.indent
    )


def _nests(block: Block, after: Block | None) -> bool:
    """A bullet that does not end in ':' ("Apixaban" above its doses) leads the list right after
    it when that list is nested in it: in Markdown, by the list's own structure ("Tocilizumab"
    above "- Dose: 162 mg …", both marked "-"); in the export, printed clearly deeper (two
    columns or more) with another glyph ("\u25e6" under "\u2022"), since bullets of one list
    indented a column apart, or lines that keep no glyphs, stay siblings."""
    if not _leads(block, after) or after is None:
        return False
    if block.structured and after.structured:
        return True
    return (
        after.indent >= block.indent + 2
        and bool(block.mark and after.mark)
        and after.mark != block.mark
    )
