"""The records that flow between the pipeline's stages.

article file -> `Article` (with its `Passage`s) -> vectors (of a `ModelInfo`'s model) -> index on disk
-> `Hit`s (retrieval) -> `Answer` (passages + disclaimer) -> CLI / JSON / HTML.

They are plain frozen dataclasses so that every stage can be tested on its own
and nothing downstream can quietly change what a stage upstream decided.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date


class PassageKind:
    """What a passage was in the source: it changes how it is shown, not how it ranks."""

    PARAGRAPH = "paragraph"
    BULLET = "bullet"
    LEAD_IN = "lead_in"  # a paragraph ending in ":" that introduces the bullets after it
    ROW = "row"  # a table's row, its cells after their column headings

    ALL = (PARAGRAPH, BULLET, LEAD_IN, ROW)
    LISTED = (BULLET, ROW)  # items a lead-in governs until a paragraph ends their list


@dataclass(frozen=True, slots=True)
class Passage:
    """One atomic statement of an article (a bullet or a paragraph) with its citation metadata.

    `text` is exactly what the article says, with the trailing reference numbers moved
    into `citations`; `start`/`end` are character offsets into the decoded source file
    and `line` is the 1-based line where the statement starts, so every passage can
    be traced back to the place it came from.
    """

    id: str
    article_id: str
    kind: str
    text: str
    section: tuple[str, ...]
    context: str | None
    citations: tuple[int, ...]
    start: int
    end: int
    line: int
    position: int
    index_text: str = ""
    number: str = ""
    """The number of the numbered step the passage is (or is a sentence of), as the article
    numbers it ("2."), or "": shown beside the text so a protocol keeps its order, never
    embedded (a renumbered list reads the same)."""
    depth: int = 0
    """How deep in a list a bullet sits (1 for "Respiratory compromise" under "at least one
    of the following:"): the article view indents it under its lead, as printed."""

    @property
    def anchor(self) -> str:
        """The HTML id of this passage in the article view."""
        return f"p-{self.id}"


def steps_going_on(marks: Iterable[tuple[str, int]]) -> list[bool]:
    """For list items in order, as (number, depth): whether each is a later sentence or
    paragraph of the numbered step printed above it at its depth, to be shown without the
    number again. Deeper items between them (a step's own bullets) do not interrupt a step;
    an item at a shallower depth, or an unnumbered one at the same depth, ends it."""
    open_steps: dict[int, str] = {}  # depth -> the number of the step open there
    going_on = []
    for number, depth in marks:
        for deeper in [d for d in open_steps if d > depth]:
            del open_steps[deeper]
        going_on.append(bool(number) and open_steps.get(depth) == number)
        if number:
            open_steps[depth] = number
        else:
            open_steps.pop(depth, None)
    return going_on


@dataclass(frozen=True, slots=True)
class Article:
    """A parsed article: what a clinician needs to know about the source of a statement.

    `references` are the article's numbered reference entries, (number, text), in the order
    listed, so a passage's citation numbers can show what they cite; the export lists none.
    """

    id: str
    title: str
    topic: str
    last_updated: date
    review_status: str
    review_note: str | None
    disclaimer: str
    source: str
    sha256: str
    passages: tuple[Passage, ...] = field(default=())
    references: tuple[tuple[int, str], ...] = ()
    levels_marked: bool = True
    """Whether the source marks its heading levels (Markdown) or they were guessed from its
    shape (the export): the article view then draws every section heading alike."""
    empty_headings: tuple[tuple[int, str], ...] = ()
    """Headings with no statement of their own, (line, text): a statement the parser took for
    a heading is lost from the passages, so a build names those that read as one
    (`ingest.checks`)."""


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """Which model made a set of vectors; stored in every index manifest, so that a version is
    only ever searched with the model that embedded it."""

    name: str
    path: str
    weights_sha256: str
    dimension: int
    official: bool
