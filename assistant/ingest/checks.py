"""Likely slips in an article that parses without error: warned at build, never refused.

The parser reads an export by shape (`assistant.ingest.export`), so a one-character slip can
change what a passage is without making the file malformed. A walk-through by an editor found
three that built and published silently: a heading typed with a closing "." (it became a
statement, and its bullets moved under the heading above), a citation with a stray bracket
("... weak limbs 4]": the number stayed in the text and the passage lost its reference), and
a reference entry cut off mid-line ("8. Stamp", shown to clinicians as reference 8). An
outside writer's short statements whose last number was not read as a citation ("Pegfilgrastim
6 mg is given once per cycle 4", before the citation rules learnt it) became headings with
nothing under them, lost from every answer; the reverse, a statement's own last number read as
its citation ("the heart rate stays 60"), loses the number from the text. None of the articles
written so far sets any of these off (`tests/test_checks.py`).
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

from assistant.ingest.citations import reads_as_statement, split_citations
from assistant.ingest.corpus import READERS
from assistant.ingest.parsing import LINE_END, Line, read_text, source_lines
from assistant.ingest.shapes import BULLET
from assistant.records import Article, PassageKind

HEADING_WORDS = 6
"""A statement this short, citing nothing, right above a list, reads as a heading."""
REFERENCE_WORDS = 3
"""A reference entry of fewer words (authors, title, source) is cut short."""
STRAY_FACTOR = 2
"""A lone citation more than this many times the article's next highest (and over 10) reads as
the statement's own number taken for a citation ("... the heart rate stays 60")."""
DAMAGE = re.compile(r"[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\ufffd]")
"""What no article holds on purpose: control characters (a NUL, a terminal's escape codes;
what Python reads as white space, from tabs and page breaks to the separators and NEL, is
text) and U+FFFD, the mark a re-encoding leaves where it lost a character. Warned of, not
refused: an export may carry them where no passage is read (the site's trailer), and a build
must not fail on what it never shows."""


def slips(article: Article) -> list[str]:
    """What to look at in `article`, each as `file:line: what and what to do`."""
    found = []
    passages = article.passages
    for here, after in zip(passages, passages[1:] + (None,), strict=True):
        where = f"{article.source}:{here.line}"
        if (
            here.kind == PassageKind.PARAGRAPH
            and here.text.endswith(".")
            and not here.citations
            and len(here.text.split()) <= HEADING_WORDS
            and after is not None
            and after.kind in PassageKind.LISTED
        ):
            found.append(
                f"{where}: {here.text!r} is read as a statement above a list, so the list "
                "stays under the heading before it; if it is a heading, drop its closing '.'"
            )
        if here.text.count("[") != here.text.count("]"):
            found.append(
                f"{where}: a square bracket without its pair ({here.text[-30:]!r}); a "
                "citation is the numbers alone after the statement ('... weak limbs 4')"
            )
    if article.last_updated > date.today() + timedelta(days=1):  # a day for time zones
        found.append(
            f"{article.source}: 'Last updated' reads {article.last_updated:%B %-d, %Y}, which "
            "is still to come, and every answer shows it; a slip in the year?"
        )
    found.extend(_stray_numbers(article))
    found.extend(_uncited_references(article))
    text = _source(article)
    lines = source_lines(text or "")  # split once for the checks that read lines
    written = [line for line in lines if line.stripped]
    found.extend(_damaged(article, lines))
    found.extend(_continued_after_references(article, text))
    found.extend(_unmarked_items(article, written))
    found.extend(_damaged_citations(article))
    found.extend(_unread_review_status(article, written))
    found.extend(_sections_named_twice(article, lines))
    found.extend(_said_twice(article))
    below = {w.number: n.stripped for w, n in zip(written, written[1:], strict=False)}
    for line, heading in article.empty_headings:
        if below.get(line) == heading:  # the same heading on the next line: a slip
            found.append(
                f"{article.source}:{line}: the heading {heading!r} is written twice; this one "
                "has nothing under it, so delete it (or the other)"
            )
            continue
        if not reads_as_statement(heading):
            continue  # "Management" above its subsection
        found.append(
            f"{article.source}:{line}: {heading!r} is read as a heading with nothing under it, "
            "so no answer can show it; if it is a statement, end it with its references or a "
            "full stop"
        )
    for number, text in article.references:
        if len(text.split()) < REFERENCE_WORDS:
            found.append(
                f"{article.source}: reference {number} reads {text!r}: cut short? Clinicians "
                "see it as written"
            )
    return found


def _bare_citations(article: Article) -> bool:
    """The article's reader takes citations as bare numbers after a statement (an export's
    "… weak limbs 4"), which its shape alone can mistake; Markdown's "[4]" says what it is."""
    reader = READERS.get(Path(article.source).suffix.lower())
    return reader is not None and reader.split is split_citations


def _source(article: Article) -> str | None:
    try:
        return read_text(Path(article.source))
    except (OSError, ValueError):
        return None


def _damaged(article: Article, lines: list[Line], most: int = 5) -> list[str]:
    """Lines holding a control character or U+FFFD (`DAMAGE`), the first `most` of them."""
    found = []
    for line in lines:
        if mark := DAMAGE.search(line.content):
            what = f"the control character U+{ord(mark.group()):04X}"
            if mark.group() == "\ufffd":
                what = "U+FFFD, a character a re-encoding lost"
            found.append(
                f"{article.source}:{line.number}: holds {what}, which is no text an editor "
                "meant; delete it, or export the article again as UTF-8"
            )
    if len(found) > most:
        found[most:] = [f"{article.source}: {len(found) - most} more lines hold such characters"]
    return found


def _continued_after_references(article: Article, text: str | None) -> list[str]:
    """A statement whose line ends with its references, joined by the reader to a next line
    that starts with markup or a symbol (a pasted "<div>", a merge's "======="), or to one at
    the margin under an indented bullet after which the whole cites nothing (an editor's note,
    "check age range with Dr K"): read as one statement, the references are in its middle and
    it loses them. A next line that starts with a word or a number, the whole still cited or
    the line not outdented, is a wrapped statement ("… given at 2" then "g/kg every month 4",
    "… every 4" then "weeks in responders") and is read right."""
    if text is None or not _bare_citations(article):
        return []
    found = []
    for here in article.passages:
        lines = LINE_END.split(text[here.start : here.end])
        pairs = zip(lines, lines[1:], strict=False)  # each line with the one after it
        column = here.start - (
            max(text.rfind("\n", 0, here.start), text.rfind("\r", 0, here.start)) + 1
        )
        for number, (line, after) in enumerate(pairs, start=here.line):
            start = after.strip()[:1]
            outdented = len(after) - len(after.lstrip()) < column  # a note at the margin
            if (start.isalnum() or start in "([\"'\u201c\u2018") and (
                here.citations or not outdented
            ):
                continue
            if split_citations(line.strip()).citations:
                found.append(
                    f"{article.source}:{number + 1}: {after.strip()[:40]!r} goes on from the "
                    "statement above after its references, so the statement loses them; give "
                    "it a line of its own after a blank line, or delete it"
                )
                break
    return found


def _unmarked_items(article: Article, lines: list[Line]) -> list[str]:
    """A line between two list items (`lines`: the non-blank ones), at their indent or right
    between them at the margin, without their marker: read as a paragraph, it ends the list,
    and the items after it lose the lead-in above ("Urgent dialysis for any of the
    following:"). A wrapped item goes on deeper or in lower case; a paragraph at the margin
    has blank lines around it."""
    if not _bare_citations(article):
        return []
    found = []
    # only where the reader did start a paragraph: a wrapped item's next line is joined to it
    paragraphs = {p.line for p in article.passages if p.kind == PassageKind.PARAGRAPH}
    for before, here, after in zip(lines, lines[1:], lines[2:], strict=False):
        if here.number not in paragraphs:
            continue
        marks = [BULLET.match(line.content) for line in (before, after)]
        indent = here.content[: len(here.content) - len(here.content.lstrip())]
        adjacent = before.number + 1 == here.number == after.number - 1
        if (
            all(marks)
            and not BULLET.match(here.content)
            and (indent or adjacent)
            and all(m is not None and m["indent"] == indent for m in marks if indent)
            and here.stripped[:1].isupper()
        ):
            found.append(
                f"{article.source}:{here.number}: {here.stripped[:40]!r} sits between list "
                "items without their marker, so it ends the list and the items after it lose "
                "their lead-in; if it is an item, start it with the list's marker"
            )
    return found


def _stray_numbers(article: Article) -> list[str]:
    """Citations far beyond every other number the article cites, when it lists no references
    to check them against: "the heart rate stays 60" in an article citing 1-6 lost its 60. Not
    after a full stop ("... the benefit. 25" is cited as written), nor where citations are
    printed as markers (Markdown's "[25]" says it is one)."""
    if article.references or not _bare_citations(article):
        return []
    found = []
    cited = Counter(n for p in article.passages for n in p.citations)
    for here in article.passages:
        if len(here.citations) != 1 or here.text.endswith((".", "?", "!")):
            continue
        number = here.citations[0]
        highest = max((n for n, times in cited.items() if n != number or times > 1), default=0)
        if highest and number > 10 and number > STRAY_FACTOR * highest:
            found.append(
                f"{article.source}:{here.line}: {here.text[-40:]!r} cites {number}, far beyond "
                f"the article's other references (at most {highest}); if {number} belongs to "
                f"the statement, end it with a full stop ('... {number}.') or its references"
            )
    return found


def _uncited_references(article: Article) -> list[str]:
    """References no statement cites: a number the reader took for part of a statement
    ("… in the CKD-FIX trial 12", before the citation rules learnt named trials) leaves its
    reference uncited and the number in the text; otherwise the entry is unused, or cited in
    a way the reader does not take ("[3–4]" in Markdown)."""
    cited = {n for p in article.passages for n in p.citations}
    bare = _bare_citations(article)
    found = []
    for number, _ in article.references:
        if number in cited:
            continue
        ends = [
            p
            for p in article.passages
            if not p.citations and re.search(rf"(?<![\d.,]){number}$", p.text)
        ]
        if ends:
            how = "after a full stop or in brackets" if bare else "in brackets"
            found.append(
                f"{article.source}:{ends[0].line}: reference {number} is cited by no statement, "
                f"and {ends[0].text[-40:]!r} ends with {number}; if that is its citation, put "
                f"it {how} ('[{number}]')"
            )
        else:
            found.append(
                f"{article.source}: reference {number} is cited by no statement; cite it as "
                f"'[{number}]' after the statement that draws on it (ranges as '[3, 4]'), or take "
                "it out of the list if none does"
            )
    return found


_CITATION_TAIL = re.compile(r"(?<=\s)[\d\s,]*,[\d\s,]*$")
"""Numbers and commas that end a statement; a comma without a number on one side of it
("... hypotension 1,,3", "... 4, 5,") is a citation list damaged by an edit."""


def _damaged_citations(article: Article) -> list[str]:
    """A citation list with a number missing ("1,,3") is not read as citations: the numbers
    stay in the text and the passage cites nothing, without a word."""
    if not _bare_citations(article):
        return []
    found = []
    for here in article.passages:
        tail = _CITATION_TAIL.search(here.text)
        if tail is None or not any(c.isdigit() for c in tail.group()):
            continue
        parts = [part.strip() for part in tail.group().strip().split(",")]
        if "" in parts:
            meant = ", ".join(part for part in parts if part)
            found.append(
                f"{article.source}:{here.line}: {tail.group().strip()!r} ends the statement "
                "as a list of references with a number missing, so it is read as text and "
                f"cites nothing; write them as '{meant}'"
            )
    return found


_REVIEW_LINE = re.compile(r"^Educational purpose only\b", re.IGNORECASE)
"""The site's line that carries an export's review status ("... as content is pending human
review"): `ingest.export` reads the status after "content is" or "content has been"."""


def _unread_review_status(article: Article, lines: list[Line]) -> list[str]:
    """A review line the reader cannot read leaves every answer saying "not stated"."""
    if article.review_note is not None or not _bare_citations(article):
        return []
    return [
        f"{article.source}:{line.number}: {line.stripped!r} states no review status this "
        "reader can read, so every answer says 'not stated'; write it as the site prints it, "
        "'... as content is pending human review' or '... content has been approved'"
        for line in lines
        if _REVIEW_LINE.match(line.stripped)
    ][:1]


def _sections_named_twice(article: Article, lines: list[Line]) -> list[str]:
    """Two sections of the same path apart from each other ("Observation" twice, after a
    rename; the first may only head subsections): answers and the change report cannot tell
    their statements apart."""
    found: list[str] = []
    opened: dict[tuple[str, ...], int] = {}  # each section path's heading line, when last opened
    last: tuple[str, ...] = ()
    names = {name for p in article.passages for name in p.section}
    written: dict[str, list[int]] = {}  # each name's lines, in order
    for line in lines:
        name = line.stripped.strip("#").strip() if line.stripped.startswith("#") else line.stripped
        if name in names:  # "## Management" in Markdown
            written.setdefault(name, []).append(line.number)
    for here in article.passages:
        path = here.section
        for depth in range(1, len(path) + 1):
            section = path[:depth]
            if section == last[:depth]:
                continue  # still open
            above = written.get(section[-1], [])
            at = bisect.bisect_left(above, here.line)
            heading = above[at - 1] if at else here.line
            if section in opened and opened[section] != heading:
                found.append(
                    f"{article.source}:{heading}: a second section called {section[-1]!r} (the "
                    f"first is on line {opened[section]}); answers cite both by the same name, "
                    "so rename one or join them"
                )
            opened[section] = heading
        last = path
    return found


def _said_twice(article: Article) -> list[str]:
    """The same statement twice in one section, under the same lead-in (a paste repeated): an
    answer may show both. Under two lead-ins ("on allopurinol:", "on febuxostat:") it is two."""
    found: list[str] = []
    first: dict[tuple[tuple[str, ...], str | None, str], int] = {}
    for passage in article.passages:
        key = (passage.section, passage.context, " ".join(passage.text.lower().split()))
        if (line := first.setdefault(key, passage.line)) != passage.line:
            found.append(
                f"{article.source}:{passage.line}: the statement of line {line} again, in the "
                f"same section ({passage.text[:50]!r}); delete one, or say how they differ"
            )
    return found
