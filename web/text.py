"""What the page does to the article's text: emphasise matched words, lay out sections, dates.

Everything here returns either plain text (escaped later by Jinja) or `Markup` that was built
from escaped pieces, so no user or article string ever reaches the page unescaped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache

from markupsafe import Markup, escape

from assistant.ingest.tokens import WORD, tokenize
from assistant.records import Article, Passage, PassageKind, steps_going_on

SLUG_PART = re.compile(r"\w+")
"""What a section's anchor and a topic's initials are made of: not a reading of a question (a
word, `WORD`, and its stems come from `assistant.ingest.tokens`), so anchors in shared links
never change with it."""

_JOINABLE_GAP = re.compile(r"[\s\-–]*")
"""Text between two matched words that joins them into one highlight ("conduction blocks")."""

REVIEWED_STATUSES = frozenset({"approved", "reviewed"})
"""Review statuses that need no caution notice; any other status (or none stated) gets one."""


@lru_cache(maxsize=20_000)
def stem(word: str) -> str | None:
    """The search stem of one word, the same as retrieval's, or None for a stop word."""
    tokens = tokenize([word])[0]
    return tokens[0] if tokens else None


def short_name(topic: str) -> str:
    """The badge for an article's topic: its short form in parentheses ("Multifocal Motor
    Neuropathy (MMN)" -> "MMN"), else the initials of its words (at most four)."""
    found = re.search(r"\(([^()]{1,8})\)\s*$", topic)
    if found:
        return found.group(1).strip()
    initials = "".join(w[0] for w in SLUG_PART.findall(topic) if w[0].isalpha())[:4].upper()
    return initials or "Ref"


def word_key(word: str) -> str | None:
    """What a whole word matches by: its stem, or a compound's stems joined ("long-term")."""
    if "-" not in word:
        return stem(word)
    return "-".join(stem(part) or part.lower() for part in word.split("-"))


def question_stems(question: str) -> frozenset[str]:
    """The keys of the question's whole content words: what a passage word must match."""
    return frozenset(k for w in WORD.findall(question) if (k := word_key(w)) is not None)


_SCRIPT_TAG = re.compile(r"</?su[bp]>", re.IGNORECASE)


def emphasise(text: str, stems: frozenset[str]) -> Markup:
    """The text, escaped, with each run of words that match the question wrapped in <mark>."""
    spans: list[tuple[int, int]] = []
    tags = {m.start() + 1 + (m[0][1] == "/") for m in _SCRIPT_TAG.finditer(text)}
    for match in WORD.finditer(text):
        if match.start() in tags or word_key(match.group()) not in stems:
            continue  # "sub" in "<sub>" is the tag drawn as such (`scripts`), not a word
        if spans and _JOINABLE_GAP.fullmatch(text, spans[-1][1], match.start()):
            spans[-1] = (spans[-1][0], match.end())
        else:
            spans.append(match.span())
    pieces: list[Markup] = []
    position = 0
    for start, end in spans:
        pieces.append(escape(text[position:start]))
        pieces.append(Markup("<mark>{}</mark>").format(text[start:end]))
        position = end
    pieces.append(escape(text[position:]))
    return Markup("").join(pieces)


_SCRIPT = re.compile(r"&lt;(su[bp])&gt;((?:[^&<>]|</?mark>){1,40}?)&lt;/\1&gt;", re.IGNORECASE)


def scripts(text: str) -> Markup:
    """The text escaped (or Markup as it is), with an article's sub- and superscripts shown as
    such: "cmH<sub>2</sub>O", "10<sup>9</sup>/L". The article keeps them as typed, tags and
    all (read without them, 10<sup>9</sup> would be 109); a page drew the tags as text. Only
    these two tags, around a few characters of plain text (or of words the answer marks), are
    let through."""
    shown = text if isinstance(text, Markup) else escape(text)
    return Markup(_SCRIPT.sub(lambda m: f"<{m[1].lower()}>{m[2]}</{m[1].lower()}>", shown))


def sentence(message: str) -> str:
    """A core error's clause ("the form is not UTF-8 text") as a page says it."""
    text = message[:1].upper() + message[1:]
    return text if text.endswith(".") else text + "."


def step_value(number: str) -> str | None:
    """The `<li value>` of a step's printed number ("2." -> "2"); None for a letter or a roman
    numeral ("a.", "(ii)"), shown as printed instead: a browser ignores a value not a number,
    and "1, a, b, 2" had read 1, 2, 3, 2."""
    digits = number.strip("().")
    return digits if digits.isdigit() else None


def long_date(day: date) -> str:
    """2 February 2026: unambiguous to a reader anywhere (the ISO date goes in <time>)."""
    return f"{day.day} {day:%B %Y}"


def built_time(iso: str | None) -> str:
    """A manifest's build time for a person ("25 November 2026, 13:16 UTC"); "" if unreadable."""
    try:
        moment = datetime.fromisoformat(iso or "")
    except ValueError:
        return ""
    return f"{long_date(moment.date())}, {moment:%H:%M} UTC"


def needs_caution(review_status: str) -> bool:
    """True unless the article says it has been reviewed and approved."""
    return review_status.strip().lower() not in REVIEWED_STATUSES


def section_path(section: Iterable[str]) -> str:
    return " › ".join(section)


def slug(title: str) -> str:
    return "-".join(SLUG_PART.findall(title.lower())) or "section"


@dataclass(slots=True)
class Block:
    """Consecutive passages shown together: one paragraph or lead-in, or a run of bullets
    (numbered steps and plain bullets in runs of their own)."""

    kind: str
    passages: list[Passage] = field(default_factory=list)
    numbered: bool = False
    """A run of numbered steps (shown as `<ol>`, each with its printed number)."""
    going_on: set[str] = field(default_factory=set)
    """The ids of its passages that are a later sentence or paragraph of the step above them
    (`steps_going_on`, read across the section's runs): shown without the number again."""

    @property
    def is_section(self) -> bool:
        return False


@dataclass(slots=True)
class Section:
    """A heading of the article and what stands under it (blocks and subsections, in order)."""

    title: str
    depth: int
    anchor: str
    children: list[Section | Block] = field(default_factory=list)
    shown_depth: int = 0
    """The depth its heading is drawn at: `depth`, except in an article whose levels were
    guessed, where every section under the topic is drawn alike (a guess must not make one
    sibling look like a child of another)."""

    @property
    def is_section(self) -> bool:
        return True

    def walk(self) -> Iterable[Section]:
        yield self
        for child in self.children:
            if isinstance(child, Section):
                yield from child.walk()


def outline(article: Article) -> list[Section]:
    """The article's passages as nested sections.

    Headings are not stored with the passages, only each passage's section path, so a heading
    opens wherever the path changes, nested by the path's depth, in the article's own order.
    """
    roots: list[Section] = []
    open_sections: list[Section] = []
    used: set[str] = set()
    for passage in sorted(article.passages, key=lambda p: p.position):
        path = passage.section
        shared = 0
        while (
            shared < min(len(path), len(open_sections))
            and open_sections[shared].title == path[shared]
        ):
            shared += 1
        del open_sections[shared:]
        for depth in range(shared, len(path)):
            anchor = _unique(f"s-{slug(path[depth])}", used)
            shown = depth + 1 if article.levels_marked else min(depth + 1, 2)
            section = Section(path[depth], depth + 1, anchor, shown_depth=shown)
            (open_sections[-1].children if open_sections else roots).append(section)
            open_sections.append(section)
        children = open_sections[-1].children if open_sections else None
        if children is None:  # a passage before any heading: give it the article's topic
            section = Section(article.topic, 1, _unique("s-topic", used), shown_depth=1)
            roots.append(section)
            open_sections.append(section)
            children = section.children
        last = children[-1] if children else None
        numbered = bool(passage.number)
        if (
            passage.kind == PassageKind.BULLET
            and isinstance(last, Block)
            and last.kind == PassageKind.BULLET
            and last.numbered == numbered
        ):
            last.passages.append(passage)
        else:
            children.append(Block(kind=passage.kind, passages=[passage], numbered=numbered))
    for root in roots:
        for section in root.walk():
            _mark_steps(section)
    return roots


def _mark_steps(section: Section) -> None:
    """Each run's passages that go on a step printed above, maybe in the run before: a step's
    own bullets or table stand between its sentences in a run of their own."""
    listed: list[tuple[Block, Passage]] = []  # the list's bullets and rows, across runs
    for child in [*section.children, None]:
        if isinstance(child, Block) and child.kind in (PassageKind.BULLET, PassageKind.ROW):
            listed.extend((child, passage) for passage in child.passages)
            continue
        marks = ((passage.number, passage.depth) for _, passage in listed)
        for (block, passage), goes_on in zip(listed, steps_going_on(marks), strict=True):
            if goes_on:
                block.going_on.add(passage.id)
        listed = []  # a paragraph or a subsection ends the list


def _unique(anchor: str, used: set[str]) -> str:
    candidate, n = anchor, 2
    while candidate in used:
        candidate, n = f"{anchor}-{n}", n + 1
    used.add(candidate)
    return candidate
