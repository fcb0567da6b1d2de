"""Split the reference numbers printed at the end of a statement from the statement.

The publishing site prints citations as bare numbers after the last word:
"... over 3-5 days 4", "... 50-80% of patients 4, 1, 5", "... testing. 1, 2".
Numbers inside the statement ("3-5 days", "50-80%", "ages 28-58 years",
"1.6-2.4 g/kg", "2 weeks") are content and are never taken.

Markdown articles write them as bracketed markers instead: "... over 3-5 days [4]",
"... of patients [4, 1, 5]." (`split_markdown_citations`); an export whose writer cited that
way is read the same. Only a trailing group of bracketed 1-3 digit numbers is taken; "[see
3-5 days]" or a marker mid-sentence is content.
"""

from __future__ import annotations

import re
from typing import NamedTuple

# A run of 1-3 digit numbers separated by commas, at the very end, after white space
# that follows a word, a number, a closing bracket, a quote or closing punctuation:
# "below 130 1", "2.0-3.0 4" and "is it inherited? 2" are cited like "over 3-5 days 4";
# after a colon a number is a value ("Grade: 3"), not a citation.
# Digits are ASCII: "1\u0663" (a 1 and an Arabic-Indic 3) is content, not reference 13.
# A hyphen or comma right before the white space means the number continues a range or
# list that belongs to the content ("ages 28- 58", "doses of 10, 20").
_TRAILING = re.compile(
    r"(?<=[^\W\d_]|[0-9).%\]\"'\u2019\u201d?!\u2026])"
    r"(?P<gap>\s+)"
    r"(?P<refs>[1-9][0-9]{0,2}(?:\s*,\s*[1-9][0-9]{0,2})*)"
    r"\s*$"
)

# Singular nouns that a lone number commonly completes ("type 2", "grade 3"):
# a single trailing number after one of them is content, not a citation...
_COUNTED_NOUNS = frozenset(
    "type grade stage phase class level step day week month year hour cycle dose "
    "figure table version chapter part session visit trial group arm".split()
)
# Labels a heading numbers, when the line is nothing else: "Regimen 1" over its bullets was read
# as a statement "Regimen" citing [1] (where "is an option 4" still cites).
_LABELS = frozenset(
    "option regimen case scenario box appendix criterion protocol algorithm tier example "
    "question cohort".split()
)
# ...unless a word before the noun already says which one: "a single dose 1", "every year 4",
# "at each visit 2", "in the first week 3", "once per cycle 4" end in a citation.
_COUNTING_WORDS = frozenset(
    "every each per single first second third fourth fifth final last next same another".split()
)
# A span of time with an article is a rate or a length, never a label: "2 or more a year 4",
# "twice a day 1" cite (where "a grade 3" or "a stage 2" is the grade or stage itself).
_TIMES = frozenset("day week month year hour".split())
# A trial named before the noun (in capitals) is known by its name, not a number: "the CKD-FIX
# trial 12", "the GiACTA trial 3"; "Cohort B, Trial 2" is the trial's label.
_NAMED = frozenset({"trial"})
# A threshold's comparison leaves its value last: a lone number after one is the statement's
# value, not a citation ("keep the platelet count above 50", "a heart rate under 60", "less
# than 2", "at least 3"). Not after "and over", "as above" or "described below": there the word
# ends the statement ("adults aged 65 and over 2", "dose as above 3") and the number cites.
_VALUE_BEFORE = frozenset("above below over under than least exceeding".split())
_ENDS_BEFORE = frozenset(
    "and or as see described outlined mentioned noted listed shown discussed detailed".split()
)


class Split(NamedTuple):
    """A statement without its citations; `end` is where the statement text stops."""

    text: str
    citations: tuple[int, ...]
    end: int


def split_citations(statement: str) -> Split:
    """Return the statement with its trailing reference numbers removed, and those numbers.

    Order is kept as printed and repeats are dropped: "4, 1, 5" gives (4, 1, 5).
    `end` is the length of the kept text inside `statement` (after trailing white space
    is removed), so callers can compute source spans.
    """
    match = _TRAILING.search(statement)
    if match is not None:
        numbers = [int(n) for n in re.split(r"\s*,\s*", match.group("refs"))]
        before = statement[: match.start("gap")]
        # "mg/kg/day 1": a noun after "/" is a unit, not a count, so the number is cited; so
        # is one after a noun that a small number right before it already counts ("beyond 1
        # year 1"; not "v5 grade 3" or "ESC 2021 class 1")
        last_word = re.findall(r"(?<!/)\b[^\W\d_]+$", before)
        words = before.split()
        noun = words[-1].lower() if words else ""
        already = len(words) >= 2 and (
            (len(words[-2]) <= 2 and words[-2].isascii() and words[-2].isdigit())
            or words[-2].lower() in _COUNTING_WORDS
            or (noun in _TIMES and words[-2].lower() in ("a", "an"))
            or (noun in _NAMED and words[-1] == noun and sum(map(str.isupper, words[-2])) >= 2)
        )
        counted = (
            len(numbers) == 1
            and last_word
            and last_word[0].lower() in _COUNTED_NOUNS
            and not already
        ) or (len(numbers) == 1 and len(words) == 1 and words[0].istitle() and noun in _LABELS)
        value = (
            len(numbers) == 1
            and bool(words)
            and words[-1].lower() in _VALUE_BEFORE
            and (len(words) < 2 or words[-2].lower() not in _ENDS_BEFORE)
        )
        if not counted and not value:
            refs = tuple(dict.fromkeys(numbers))
            kept = before.rstrip()
            return Split(kept, refs, len(kept))
    elif (bracketed := split_markdown_citations(statement)).citations:
        return bracketed  # "... first infusion [3]": a writer who cites as Markdown does
    elif (match := _RANGE_AFTER_STOP.search(statement)) and (
        refs := expand_refs(match.group("refs"))
    ):
        kept = statement[: match.start("gap")].rstrip()
        if not ABBREVIATED.search(kept):  # "approx. 150-400", "e.g. 3-5": the range is content
            return Split(kept, refs, len(kept))
    elif (match := GLUED.search(statement)) and (refs := expand_refs(match.group("refs"))):
        kept = statement[: match.start("refs")]
        if not ABBREVIATED.search(kept):  # "see Fig.2", "No.5": a figure's or an item's number
            return Split(kept, refs, len(kept))
    kept = statement.rstrip()
    return Split(kept, (), len(kept))


ABBREVIATED = re.compile(
    r"\b(?:approx|vs|e\.g|i\.e|ca|cf|fig|figs|no|nos|etc|al|dr|st|resp|p|pp|vol|ref|refs|ed"
    r"|tab|tabs|suppl|sect|sec|eq|eqs|ch|chap|app|appx"
    r"|min|max|p\.o|o\.d|b\.d|b\.i\.d|t\.d\.s|t\.i\.d|q\.d|q\.d\.s|q\.i\.d)\.$",
    re.IGNORECASE,
)
"""A full stop that ends an abbreviation ("approx. 400 IU", "see p. 12-15", "500 mg b.i.d.")
ends no sentence."""


def reads_as_statement(line: str) -> bool:
    """Four words or more in sentence case ("Give antibiotics within the first hour"), where a
    heading capitalises its words ("Left Atrial Appendage Occlusion")."""
    words = line.split()
    long = [w for w in words if len(w) >= 4 and w[0].isalpha()]
    return len(words) >= 4 and sum(w[0].islower() for w in long) * 2 >= len(long) > 0


_REF = r"[1-9][0-9]{0,2}"
_REFS_WITH_RANGES = rf"{_REF}(?:\s*[-\u2013]\s*{_REF})?(?:\s*,\s*{_REF}(?:\s*[-\u2013]\s*{_REF})?)*"
MAX_RANGE = 9
"""How far a range of citations reaches ("1-3" cites 1, 2 and 3; "1-10" ten references); a
wider one ("40-60") is a value."""

# A range of references after a sentence's full stop: "... at higher risk. 1-3". Only there:
# at the end of a statement "aged 1-3" is content, and nothing tells the two apart.
_RANGE_AFTER_STOP = re.compile(rf"(?<=[.?!])(?P<gap>\s+)(?P<refs>{_REFS_WITH_RANGES})\s*$")

GLUED = re.compile(rf"(?<=[^\W\d_]{{2}}[.?!])(?P<refs>{_REFS_WITH_RANGES})\s*$")
"""Superscript references pasted as plain text, right after a word's full stop: "… cause of
death.1,2" (a decimal has digits on both sides of its point)."""

# References after a lead-in's colon: "... should include the following: 1" or
# "... 4 of the 5 principal features: 1\u20133". Taken only when a list follows
# (`split_lead_in`): after a label's colon a number is its value ("Grade: 3").
_AFTER_COLON = re.compile(rf"(?<=:)(?P<gap>\s+)(?P<refs>{_REFS_WITH_RANGES})\s*$")


def expand_refs(printed: str) -> tuple[int, ...]:
    """The reference numbers of "1-3, 5" as (1, 2, 3, 5), in printed order, repeats dropped; a
    range wider than `MAX_RANGE` or running backwards gives nothing (it is not a citation)."""
    numbers: list[int] = []
    for part in re.split(r"\s*,\s*", printed.strip()):
        bounds = [int(n) for n in re.findall(r"\d+", part)]
        if len(bounds) == 1:
            numbers.append(bounds[0])
        elif bounds[0] < bounds[1] <= bounds[0] + MAX_RANGE:
            numbers.extend(range(bounds[0], bounds[1] + 1))
        else:
            return ()
    return tuple(dict.fromkeys(numbers))


def split_lead_in(statement: str) -> Split | None:
    """A lead-in's references printed after its colon, the colon kept ("... the following:"),
    or None when it prints none. For a paragraph right above a list only, and only after a
    sentence that opens a list, or for several numbers: after a label ("Grade: 3", "CHA2DS2-VASc
    score: 2", "Maximum daily dose of aspirin in grams: 4") the number is its value."""
    match = _AFTER_COLON.search(statement)
    if match is None or not (refs := expand_refs(match.group("refs"))):
        return None
    kept = statement[: match.start("gap")].rstrip()
    lead = kept[:-1]
    several = "," in match.group("refs") and not _measures(lead)  # "… a D-dimer: 1, 5"
    opens = several or _opens_list(lead)
    return Split(kept, refs, len(kept)) if reads_as_statement(lead) and opens else None


_LIST_OPENERS = frozenset(
    "following follows include includes including are were these below".split()
)
_BEFORE_A_QUANTITY = frozenset("in of per for by with to at on from".split())


def _measures(lead: str) -> bool:
    """A lead that names what its numbers measure ("… daily doses in mg", "… in mmHg", "…
    tapered in mg per day"): the numbers after its colon are values, however many."""
    words = re.findall(r"[^\W\d_]+", lead.lower())
    return len(words) > 1 and words[-2] in _BEFORE_A_QUANTITY


def _opens_list(lead: str) -> bool:
    """A lead-in ends in what opens a list ("the following", "include", "the 5 principal
    features"); a label ends in what it measures ("Maximum daily dose in grams", "Number of
    criteria for diagnosis"), and the number after its colon is the value."""
    words = re.findall(r"[^\W\d_]+", lead.lower())
    if not words:
        return False
    last, before = words[-1], words[-2] if len(words) > 1 else ""
    plural = last.endswith("s") and not last.endswith(("ss", "is", "us"))
    return last in _LIST_OPENERS or (plural and before not in _BEFORE_A_QUANTITY)


# One Markdown marker: "[4]", "[4, 1, 5]", also wrapped over two lines as a soft line break is a
# space; adjacent markers ("[1][2]", "[1], [2]") form one group. Between two markers white space
# is read one way only ("\s*,?\s*" read it in as many ways as it has spaces, for every marker:
# "[1]     " ten times took 26 s), and the gap before them is tried from its first space only.
# The chain that ends the statement is the last one found: searched for as chain-then-end, it
# was read again from every marker of a long line.
_SUPER = "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079"  # superscript 0-9
_SUPER_REF = f"(?<![{_SUPER}])[{_SUPER[1:]}][{_SUPER}]{{0,2}}(?![{_SUPER}])"
_SUPER_REFS = rf"{_SUPER_REF}(?:[\u207b\u2013-]{_SUPER_REF})?"
"""A pasted "\u00b2" or "\u00b9\u207b\u00b3"; "\u00b9,\u00b2" is two markers in a chain. A marker never
starts inside a run of raised digits: read several ways, a run of 30 took minutes."""
_FROM_SUPER = str.maketrans(_SUPER + "\u207b", "0123456789-")
_SEVERAL = (
    rf"{_REF}\s*(?:[-\u2013]\s*{_REF}(?:\s*,\s*{_REFS_WITH_RANGES})?|,\s*{_REFS_WITH_RANGES})"
)
_LINKED = rf"\[\[\s*{_REFS_WITH_RANGES}\s*\]\]\([^()\s]*\)"
"""A marker linked to its entry or its source: "[[6]](#ref-6)", "[[6]](https://doi.org/…)"."""


def _tagged(refs: str) -> str:
    """References in a <sup> tag: "<sup>1,2</sup>", "<sup>[7]</sup>", "<sup>[[7]](#ref-7)</sup>"."""
    return rf"(?i:<sup>)\s*(?:{_LINKED}|(?:\[\s*)?{refs}(?:\s*\])?)\s*(?i:</sup>)"


_RAISED = rf"{_tagged(_REFS_WITH_RANGES)}|\^{_REFS_WITH_RANGES}\^|{_SUPER_REFS}"
"""References raised as publishers print them: "<sup>1,2</sup>", "<sup>[7]</sup>", Pandoc's
"^8^", pasted "\u00b2"."""
_RAISED_CITES = (
    rf"(?:(?<=[\s.,;:!?)\]%\"'\u2019\u201d>*_`])|(?<=[^\W\d_{_SUPER}]{{3}})"
    r"|(?<=[A-Z]{2}))"
)
"""Where a raised number cites: after a stop, a bracket, a quote, closing emphasis, a word of
three letters or more, or an abbreviation in capitals ("IE", "TB"). After a digit or a unit
it is a power ("10<sup>9</sup>/L", "mg/m\u00b2", "mm\u00b3"), unless several numbers are raised:
"100 000<sup>1,2</sup>", "12<sup>1-3</sup>" (`_AFTER_A_NUMBER`)."""
_AFTER_A_NUMBER = rf"(?<=\d){_tagged(_SEVERAL)}"
_MARKER = (
    rf"(?:\[(?:\s*{_REFS_WITH_RANGES}\s*|\^{_REF})\]|{_LINKED}"
    rf"|{_RAISED_CITES}(?:{_RAISED})|{_AFTER_A_NUMBER})"
)
"""A marker: "[4]", "[4, 1, 5]", "[1-3]" (a range of at most `MAX_RANGE`: "[40-60]" is a
value), a Markdown footnote's "[^4]" (`footnotes.py`), one linked to its entry, or raised."""
_ANY_MARKER = rf"(?:\[(?:\s*{_REFS_WITH_RANGES}\s*|\^{_REF})\]|{_LINKED}|{_RAISED})"
_ONE_MARKER = re.compile(_ANY_MARKER)
_MARKERS_ONLY = re.compile(rf"{_ANY_MARKER}(?:\s*(?:,\s*)?{_ANY_MARKER})*")
"""Markers read on their own (a chain already found, a table's "Ref" cell): where they stand
is no longer in view, so a raised one is not asked to follow a stop."""
_NOT_NUMBERS = re.compile(r"\([^()]*\)|<[^<>]*>|[\[\]^]")
_MARKER_CHAIN = re.compile(rf"(?<!\s)(?P<gap>\s*)(?P<markers>{_MARKER}(?:\s*(?:,\s*)?{_MARKER})*)")
_CLOSE_AT_END = re.compile(r"(?P<close>[.;:!?]?)\s*$")
_GOES_ON = re.compile(r"\s+\S")


def cited_sentences(statement: str) -> list[tuple[int, int]]:
    """The spans of a Markdown statement's cited sentences ("Remove the trigger. [1] Stop the
    infusion. [2]", or as Vancouver style prints them, "… first drug [1]. Prednisolone …"):
    each sentence that closes with its own markers is a statement of its own, with exactly its
    references, as the export's are; one span when none is inside."""
    spans, at = [], 0
    for chain in _MARKER_CHAIN.finditer(statement):
        before, end = chain.start("gap"), chain.end()
        if not (before and statement[before - 1] in ".?!"):
            end += statement[end : end + 1] in (".", "?", "!")  # the marker before the stop
            link = not chain.group("gap") and statement[before - 1 : before] == "]"
            if end == chain.end() or not before or link:  # "[words][1]" is a link
                continue
        after = _GOES_ON.match(statement, end)
        if after is not None:
            spans.append((at, end))
            at = after.end() - 1
    spans.append((at, len(statement)))
    return spans


BARE_REFS = rf"{_REF}(?:\s*,\s*{_REF})*"
MARKED_REFS = rf"{_MARKER}(?:\s*(?:,\s*)?{_MARKER})*"
RANGED_REFS = _REFS_WITH_RANGES
"""References as a writer may print them between two sentences: "2, 3", "[3]" or "1-3"."""


def markers_only(text: str) -> tuple[int, ...]:
    """The references of a text that is nothing but markers ("[1]", "[2][4]", "[1-3]"): a
    table's "Ref" cell. Empty for anything else."""
    if _MARKERS_ONLY.fullmatch(text.strip()) is None:
        return ()
    groups = [marker_refs(m[0]) for m in _ONE_MARKER.finditer(text)]
    return tuple(dict.fromkeys(n for g in groups for n in g)) if all(groups) else ()


def marker_refs(marker: str) -> tuple[int, ...]:
    """The references one marker prints: "[1-3]", "[^4]", "<sup>1,2</sup>", "\u00b9\u207b\u00b3"."""
    return expand_refs(_NOT_NUMBERS.sub(" ", marker.translate(_FROM_SUPER)))


def split_markdown_citations(statement: str) -> Split:
    """Return a Markdown statement without its trailing citation markers, and their numbers.

    "over 3-5 days [4]" gives ("over 3-5 days", (4,)); "of patients [4, 1, 5]." keeps the
    full stop that follows the marker: ("of patients.", (4, 1, 5)). `end` is where the kept
    text stops in `statement`, except in that second form, where the marker stands between
    the words and the stop: there `end` covers the marker too, so a source span always holds
    the whole statement as printed and this function applied to it gives `text` again.
    """
    chains = list(_MARKER_CHAIN.finditer(statement))
    match = chains[-1] if chains else None
    ends = _CLOSE_AT_END.match(statement, match.end()) if match else None
    before = statement[: match.start()] if match and ends else ""
    # "[text][1]" is a reference-style link, and a marker with no statement cites nothing.
    if (
        not (match and ends)
        or not before.strip()
        or (not match.group("gap") and before.endswith("]"))
    ):
        kept = statement.rstrip()
        return Split(kept, (), len(kept))
    refs = markers_only(match.group("markers"))
    if not refs:  # "[40-60]": a range too wide to be references
        kept = statement.rstrip()
        return Split(kept, (), len(kept))
    kept = before.rstrip()
    close = ends.group("close")
    if not close:
        return Split(kept, refs, len(kept))
    if not kept.endswith(close):
        kept += close
    return Split(kept, refs, len(statement.rstrip()))
