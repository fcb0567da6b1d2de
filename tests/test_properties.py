"""Property-based tests of what the readers promise for any input at all.

Any article file either parses into passages that point at the statement they came from, or
fails with `ArticleError` naming the file and a line of it; never another exception. The same
for the Markdown format and the synonyms file. Inputs are arbitrary text (control characters,
NUL, mixed line endings, long lines), arbitrary bytes, and articles generated to look valid with
a few random edits, so the deep paths of each parser are reached as well as the first check.

A "line" is what an editor, `grep -n` and Python's own `open()` count: lines end at "\\r\\n",
"\\r" or "\\n", so the `file:line` in an error and a passage's `line` point where a person looks.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.errors import ArticleError
from assistant.ingest.citations import split_citations, split_markdown_citations
from assistant.ingest.corpus import load_article
from assistant.ingest.glossary import SYNONYMS_FILE, Rule, load_synonyms, parse_synonyms
from assistant.ingest.inline import split_markdown
from assistant.records import Article, Passage

pytestmark = pytest.mark.slow

LINE_BREAK = re.compile(r"\r\n|\r|\n")
BLANK_LINE = re.compile(r"(?>\r\n|\r|\n)[^\S\r\n]*(?>\r\n|\r|\n)")  # "\r\n" is one end
_EXPORT_REF = r"[0-9]{1,3}(?:\s*[-\u2013]\s*[0-9]{1,3})?"  # "4", or "1-3" after a full stop
EXPORT_TAIL = re.compile(
    rf"\s*(?P<refs>{_EXPORT_REF}(?:\s*,\s*{_EXPORT_REF})*)?[^\S\r\n]*(?:\r\n|\r|\n|$)"
)
SPACE = r"[\s\ufeff]"
"""White space as the parser reads it: a byte-order mark inside a line is dropped too."""
MARKER_REF = rf"[1-9][0-9]{{0,2}}(?:{SPACE}*[-\u2013]{SPACE}*[1-9][0-9]{{0,2}})?"
"""One reference in a marker, or a range of them ("[1-3]" cites 1, 2 and 3)."""
MARKER = rf"\[{SPACE}*{MARKER_REF}(?:{SPACE}*,{SPACE}*{MARKER_REF})*{SPACE}*\]"
MARKERS = rf"{MARKER}(?:{SPACE}*,?{SPACE}*{MARKER})*"
MARKDOWN_TAIL = re.compile(rf"{SPACE}*(?P<markers>{MARKERS})?[^\S\r\n]*(?:\r\n|\r|\n|$)")
MARKERS_BEFORE_CLOSE = re.compile(
    rf"(?P<body>.*?)\s*(?P<markers>{MARKERS})(?P<close>[.;:!?])", re.S
)

# The autouse fixture of conftest.py only points the index at a temporary directory; it holds no
# state that one example could leave for the next.
PROPERTY = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
GENERATED = settings(PROPERTY, max_examples=200)  # drawing a whole article takes ~25 ms


# --- oracles -------------------------------------------------------------------------------------


def line_of(text: str, offset: int) -> int:
    return len(LINE_BREAK.findall(text, 0, offset)) + 1


def line_count(text: str) -> int:
    return len(LINE_BREAK.split(text))


def fold(text: str) -> str:
    return " ".join(text.split())


def numbers(printed: str | None) -> tuple[int, ...]:
    """Reference numbers as printed in markers, a range "[1-3]" read as 1, 2 and 3 (a
    hypothesis run found "weakness [1-2]" cited, as the parser reads it, and the oracle not),
    repeats dropped, in order."""
    cited: list[int] = []
    for first, last in re.findall(r"([0-9]+)(?:\s*[-\u2013]\s*([0-9]+))?", printed or ""):
        cited.extend(range(int(first), int(last) + 1) if last else [int(first)])
    return tuple(dict.fromkeys(cited))


def export_refs(printed: str | None) -> tuple[int, ...]:
    """An export's printed references, a range "1-3" read as 1, 2 and 3, repeats dropped."""
    cited: list[int] = []
    for part in re.split(r"\s*,\s*", (printed or "").strip()):
        bounds = [int(n) for n in re.findall(r"[0-9]+", part)]
        cited.extend(range(bounds[0], bounds[-1] + 1) if len(bounds) == 2 else bounds)
    return tuple(dict.fromkeys(cited))


def check_error(error: ArticleError, path: Path, text: str) -> None:
    """The error names the file and a line that exists in it, in the `file:line: ` form."""
    assert error.path == str(path)
    assert error.line is not None, f"no line in {error}"
    assert 1 <= error.line <= line_count(text), (error.line, line_count(text))
    assert str(error).startswith(f"{path}:{error.line}: ")
    assert error.reason.strip()


def load_or_error(path: Path, text: str) -> Article | None:
    """Write `text` as UTF-8 and load it: an `Article`, or None after checking the error."""
    path.write_bytes(text.encode("utf-8"))
    try:
        return load_article(path)
    except ArticleError as error:
        check_error(error, path, text)
        return None


def check_edited(path: Path, document: tuple[str, object], *, markdown: bool) -> None:
    """A generated article, perhaps edited: unedited (`expected` given), every generated
    statement is one passage; either way it parses to traceable passages or a named error."""
    text, expected = document
    article = load_or_error(path, text)
    if expected is not None:
        assert article is not None
        assert [(p.kind, p.text, p.citations) for p in article.passages] == expected
    if article is not None:
        check_passages(article, text, markdown=markdown)


def check_passages(article: Article, source: str, *, markdown: bool) -> None:
    """Each passage points at its statement: text, line, span order and printed citations."""
    passages = article.passages
    assert passages, "an article that parses has passages"
    assert [p.position for p in passages] == list(range(len(passages)))
    assert len({p.id for p in passages}) == len(passages)
    for before, after in zip(passages, passages[1:], strict=False):
        assert before.end <= after.start, (before, after)
    for passage in passages:
        assert 0 <= passage.start < passage.end <= len(source), passage
        assert passage.text and passage.text == fold(passage.text), passage
        assert passage.line == line_of(source, passage.start), passage
        if passage.kind == "row":
            check_row(passage, source)
        elif markdown:
            check_markdown_statement(passage, source)
        else:
            check_export_statement(passage, source)


def check_row(passage: Passage, source: str) -> None:
    """A table row's span is its one line; each of its cells is in the text (without its
    "[1]" markers, which are the row's citations)."""
    span = source[passage.start : passage.end]
    assert not LINE_BREAK.search(span), (passage.text, span)
    cells = [fold(re.sub(MARKERS, "", cell)) for cell in re.split(r"[\t|]", span)]
    assert all(cell in passage.text for cell in cells if cell), (passage.text, span)
    assert passage.text, span


def rest_of_block(passage: Passage, source: str) -> str:
    """What follows the passage's span up to the next blank line: only its citations may."""
    return BLANK_LINE.split(source[passage.end :], maxsplit=1)[0]


def check_export_statement(passage: Passage, source: str) -> None:
    """The span is the statement as printed; the numbers after it, to the line end, are its
    citations."""
    span = source[passage.start : passage.end]
    check_export_cut(passage.text, passage.citations, span, rest_of_block(passage, source))


def check_export_cut(text: str, citations: tuple[int, ...], span: str, rest: str) -> None:
    tail = EXPORT_TAIL.match(rest)
    if not citations or (tail is not None and tail.group("refs") is not None):
        assert fold(span) == text, (text, span)
        assert tail is not None, (text, rest[:40])
        assert export_refs(tail.group("refs")) == citations, (text, citations, tail.group(0))
        return
    check_markdown_cut(text, citations, span, rest)  # a writer who cited "[3]", as Markdown does


# What starts a Markdown line without being text: indentation, a byte order mark, quote marks.
LINE_PREFIX = re.compile(r"^[\s\ufeff]*(?:>[ \t]?[\s\ufeff]*)*")


def check_markdown_statement(passage: Passage, source: str) -> None:
    """The span is the statement as printed (less what starts its later lines: indentation,
    quote marks), or it ends "[n]." and the text keeps the stop only; the citations are the
    markers there or right after the span."""
    first, *later = LINE_BREAK.split(source[passage.start : passage.end])
    span = "\n".join([first, *(LINE_PREFIX.sub("", line) for line in later)])
    check_markdown_cut(passage.text, passage.citations, span, rest_of_block(passage, source))


def check_markdown_cut(text: str, citations: tuple[int, ...], span: str, rest: str) -> None:
    tail = MARKDOWN_TAIL.match(rest)
    assert tail is not None, (text, rest[:40])
    if fold(span) == text:
        assert numbers(tail.group("markers")) == citations, (text, citations, tail.group(0))
        return
    read = split_markdown(span)  # inline markup read as a viewer shows it (test_markdown.py)
    if fold(read.text) == text and read.text != span:
        shown = read.citations or numbers(tail.group("markers"))
        assert shown == citations, (text, citations, span, tail.group(0))
        return
    inside = MARKERS_BEFORE_CLOSE.fullmatch(span)
    assert inside is not None, (text, span)
    body, close = inside.group("body").rstrip(), inside.group("close")
    assert text == fold(body if body.endswith(close) else body + close), (text, span)
    assert numbers(inside.group("markers")) == citations, (text, citations, span)
    assert tail.group("markers") is None, (text, tail.group(0))


def check_bad_utf8(error: ArticleError, path: Path, data: bytes) -> None:
    """Bad bytes are reported at the line of the first one."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        expected = line_of(data[: exc.start].decode("utf-8"), exc.start)
    else:
        raise AssertionError("the bytes were valid UTF-8")
    assert "UTF-8" in error.reason
    check_error(error, path, data.decode("utf-8", errors="replace"))
    assert error.line == expected


# --- generators ----------------------------------------------------------------------------------

TRICKY = (
    "\n", "\r", "\r\n", "\t", " ", "\x00", "\x0b", "\x0c", "\x1c", "\x1e", "\x85", "\u2028",
    "\u2029", "\ufeff", "\u00a0", "\u200b", "\u2022", "-", "*", "#", "##", "[", "]", "[1]", ",",
    ".", ":", "?", "0", "1", "12", "999", "\u0663", "\u00b2", "---", "<!--", "-->", "=>", "\u00e9",
    "\U0001f600", "Last updated: ", "Disclaimer", "References",
)  # fmt: skip
tricky_text = st.lists(st.one_of(st.sampled_from(TRICKY), st.text(max_size=8)), max_size=40).map(
    "".join
)


@st.composite
def arbitrary_text(draw: st.DrawFn) -> str:
    """Any text: random characters, tricky pieces, and now and then a very long line."""
    text = draw(st.one_of(st.text(max_size=300), tricky_text))
    if draw(st.booleans()):
        at = draw(st.integers(0, len(text)))
        long_line = draw(st.sampled_from(["word ", "x", "\u00e9 1, ", "[1] "])) * 20_000
        text = text[:at] + long_line + text[at:]
    return text


@st.composite
def mutated(draw: st.DrawFn, documents: st.SearchStrategy) -> tuple[str, object]:
    """A generated document in one line-ending style with up to three random edits; the
    expectation is kept only when nothing was edited."""
    text, expected = draw(documents)
    text = draw(whitened(text))
    text = text.replace("\n", draw(st.sampled_from(["\n", "\r\n", "\r"])))
    text = draw(st.sampled_from(["", "\ufeff"])) + text  # Notepad writes UTF-8 with a BOM
    edits = draw(st.integers(0, 3))
    for _ in range(edits):
        text = draw(edit(text))
    return text, (expected if edits == 0 else None)


# White space that ends no line: a line of it is blank, as is one that a byte order mark starts
# (files joined with `cat` keep each one's BOM).
SPACES = " \t\x0b\x0c\x1c\x1f\x85\u00a0\u2028\u2029\u3000"


@st.composite
def whitened(draw: st.DrawFn, text: str) -> str:
    """Some blank lines given invisible content, which changes nothing that is parsed."""
    blank_lines = [m.end() for m in re.finditer(r"\n(?=\n)", text)]
    if not blank_lines:
        return text
    for at in sorted(draw(st.lists(st.sampled_from(blank_lines), unique=True, max_size=4)))[::-1]:
        bom = draw(st.sampled_from(["", "\ufeff"]))
        invisible = bom + draw(st.text(alphabet=SPACES, min_size=0 if bom else 1, max_size=3))
        text = text[:at] + invisible + text[at:]
    return text


@st.composite
def edit(draw: st.DrawFn, text: str) -> str:
    """One slip of an editor or a tool: a stray character, a cut, a line added, lost or moved."""
    lines = text.splitlines(keepends=True) or [""]
    kinds = ["insert", "delete", "insert-line", "drop-line", "repeat-line", "swap-lines"]
    kind = draw(st.sampled_from(kinds))
    at = draw(st.integers(0, len(text)))
    piece = draw(st.one_of(st.sampled_from(TRICKY), st.text(max_size=5)))
    if kind == "insert":
        return text[:at] + piece + text[at:]
    if kind == "delete":
        return text[:at] + text[at + draw(st.integers(1, 30)) :]
    i = draw(st.integers(0, len(lines) - 1))
    if kind == "insert-line":
        lines.insert(i, piece + "\n")
    elif kind == "drop-line":
        del lines[i]
    elif kind == "repeat-line":
        lines.insert(i, lines[i])
    elif i + 1 < len(lines):
        lines[i], lines[i + 1] = lines[i + 1], lines[i]
    return "".join(lines)


WORDS = (
    "weakness", "onset", "patients", "conduction", "block", "antibodies", "treatment", "is",
    "slow", "in", "the", "with", "of", "r\u00e9sum\u00e9", "na\u00efve", "Sj\u00f6gren", "IVIg",
    "anti-GM1", "(MMN)", "over 3-5 days", "in 50-80% of", "type 2 disease", "1.6-2.4 g/kg",
)  # fmt: skip
HEADING_WORDS = ("Clinical", "Presentation", "Diagnosis", "Treatment", "Serology", "Outlook")


@st.composite
def sentence(draw: st.DrawFn, *, stop: str) -> str:
    words = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=8))
    first = draw(st.sampled_from(("Weakness", "Onset", "Treatment", "IVIg", "Rituximab")))
    return " ".join([first, *words, draw(st.sampled_from(("patients", "limbs", "cases")))]) + stop


heading_text = st.lists(st.sampled_from(HEADING_WORDS), min_size=1, max_size=4).map(" ".join)

EXPORT_HEADER = """{title}

Medical Advisory BoardAll articles are reviewed for accuracy by our Medical Advisory Board
Educational purpose only \u2022 Exercise caution as content is pending human review
Article Review Status

Last updated: {date}View editorial policy

Personalize

Help us tailor your experience

Which best describes you? Your choice helps us use language that's most understandable for you.

"""
EXPORT_TRAILER = """Professional Medical Disclaimer

For professionals only. Verify everything.

Have a follow-up question?

Our Medical A.I. is used by practicing medical doctors.
"""


@st.composite
def export_statement(draw: st.DrawFn, *, bullet: bool) -> tuple[str, tuple[str, str, tuple]]:
    """One statement as the export prints it, and its passage: (kind, text, citations)."""
    lead_in = not bullet and draw(st.integers(0, 4)) == 0
    text = draw(sentence(stop=":" if lead_in else draw(st.sampled_from(("", ".", ")")))))
    if not bullet and not lead_in and not text.endswith("."):
        text += "."  # a short paragraph with no stop and no numbers would be a heading
    cited = () if lead_in else tuple(draw(st.lists(st.integers(1, 40), max_size=3)))
    printed = text + (" " + ", ".join(map(str, cited)) if cited else "")
    if bullet:
        mark = draw(st.sampled_from(["\u2022", "\u00b7", "\u25aa", "\u25e6", "\u2013", "*", "-"]))
        words = printed.split(" ")
        cut = draw(st.integers(1, len(words)))
        printed = f"  {mark} " + " ".join(words[:cut])
        if cut < len(words):  # a wrapped bullet goes on on the next line
            printed += "\n    " + " ".join(words[cut:])
    kind = "bullet" if bullet else ("lead_in" if lead_in else "paragraph")
    return printed, (kind, fold(text), tuple(dict.fromkeys(cited)))


@st.composite
def export_article(draw: st.DrawFn) -> tuple[str, list[tuple[str, str, tuple]]]:
    """A plain-text export shaped like the site's, and the passages it holds."""
    parts: list[str] = []
    expected: list[tuple[str, str, tuple]] = []

    def statements(*, bullet: bool, count: int) -> str:
        drawn = [draw(export_statement(bullet=bullet)) for _ in range(count)]
        expected.extend(e for _, e in drawn)
        return "\n".join(p for p, _ in drawn)

    parts.append(draw(heading_text) + " (TC)")
    parts.append(statements(bullet=False, count=1))
    for _ in range(draw(st.integers(0, 4))):
        heading = draw(heading_text)
        shape = draw(st.sampled_from(["paragraphs", "list", "heading-over-list"]))
        if shape == "heading-over-list":
            parts.append(heading + "\n" + statements(bullet=True, count=draw(st.integers(1, 3))))
            continue
        parts.append(heading)
        if shape == "paragraphs":
            parts.extend(statements(bullet=False, count=1) for _ in range(draw(st.integers(1, 2))))
        else:
            parts.append(statements(bullet=True, count=draw(st.integers(1, 3))))
    header = EXPORT_HEADER.format(
        title=draw(st.sampled_from(["What is a test condition?", "Test Condition"])),
        date=draw(st.sampled_from(["March 4, 2025", "February 29, 2024", "May 1,2026"])),
    )
    return header + "\n\n".join(parts) + "\n\n" + EXPORT_TRAILER, expected


@st.composite
def markdown_statement(draw: st.DrawFn, *, bullet: bool) -> tuple[str, tuple[str, str, tuple]]:
    """One statement in each way Markdown may print its markers, and what it must parse into."""
    lead_in = not bullet and draw(st.integers(0, 4)) == 0
    text = draw(sentence(stop=":" if lead_in else draw(st.sampled_from(("", ".")))))
    cited = () if lead_in else tuple(draw(st.lists(st.integers(1, 9), max_size=3)))
    style = draw(st.sampled_from(["one", "each", "each-comma", "before-stop"]))
    if not cited:
        printed = text
    elif style == "before-stop" and not text.endswith("."):  # "… patients [2]."
        printed, text = f"{text} [{', '.join(map(str, cited))}].", text + "."
    elif style == "each":
        printed = text + " " + "".join(f"[{n}]" for n in cited)
    elif style == "each-comma":
        printed = text + " " + ", ".join(f"[{n}]" for n in cited)
    else:
        printed = f"{text} [{', '.join(map(str, cited))}]"
    if bullet:
        words = printed.split(" ")
        cut = draw(st.integers(1, len(words)))
        printed = draw(st.sampled_from("-*+")) + " " + " ".join(words[:cut])
        if cut < len(words):
            printed += "\n  " + " ".join(words[cut:])
    kind = "bullet" if bullet else ("lead_in" if lead_in else "paragraph")
    return printed, (kind, fold(text), tuple(dict.fromkeys(cited)))


@st.composite
def markdown_article(draw: st.DrawFn) -> tuple[str, list[tuple[str, str, tuple]]]:
    """A Markdown article in the documented format, and the passages it holds."""
    expected: list[tuple[str, str, tuple]] = []

    def statements(*, bullet: bool, count: int) -> str:
        drawn = [draw(markdown_statement(bullet=bullet)) for _ in range(count)]
        expected.extend(e for _, e in drawn)
        return "\n".join(p for p, _ in drawn)

    title = "What is test condition X?"
    front = [
        "---",
        draw(st.sampled_from([f"title: {title}", f'title: "{title}"', f"title: '{title}'"])),
        "last_updated: " + draw(st.sampled_from(["2026-02-02", "February 2, 2026"])),
    ]
    if draw(st.booleans()):
        front.append("review_status: pending human review  # until a doctor signs")
    if draw(st.booleans()):
        front += ["authors:", "  - A. Author", "# a comment"]
    parts = ["\n".join([*front, "---"])]
    if draw(st.booleans()):
        parts.append(f"# {title}")
    if draw(st.booleans()):
        parts.append("## " + draw(heading_text) + " (TCX)")
    parts.append(statements(bullet=False, count=1))
    for _ in range(draw(st.integers(0, 4))):
        parts.append(draw(st.sampled_from(["##", "###"])) + " " + draw(heading_text))
        if draw(st.booleans()):
            parts.append("<!-- a note for editors\nover two lines -->")
        if draw(st.booleans()):
            parts.append(statements(bullet=False, count=1))
        else:
            parts.append(statements(bullet=True, count=draw(st.integers(1, 3))))
    parts += ["## Professional Medical Disclaimer", "For professionals only.", "Verify it."]
    if draw(st.booleans()):
        parts.append(
            "## References\n" + "\n".join(f"{n}. Author {n}. Title." for n in range(1, 10))
        )
    return "\n\n".join(parts) + "\n", expected


TERMS = (
    "ncs", "nerve conduction studies", "EMG", "Lou Gehrig's disease", "IVIg", "r\u00e9sum\u00e9",
    "anti-GM1", "upper  limbs", "\u00c9TAT", "pins and needles",
)  # fmt: skip


@st.composite
def synonyms_file(draw: st.DrawFn) -> tuple[str, list[tuple[tuple, tuple, int]]]:
    """A synonyms file of rules, comments and blank lines, and the rules it holds."""
    lines: list[str] = []
    expected: list[tuple[tuple, tuple, int]] = []
    for _ in range(draw(st.integers(0, 8))):
        shape = draw(st.sampled_from(["equivalent", "one-way", "comment", "blank"]))
        if shape == "comment":
            lines.append("# " + draw(st.sampled_from(TERMS)))
            continue
        if shape == "blank":
            lines.append(draw(st.sampled_from(["", "   ", "\t"])))
            continue
        terms = draw(st.lists(st.sampled_from(TERMS), min_size=2, max_size=5, unique=True))
        keys = tuple(fold(t.lower()) for t in terms)
        if shape == "equivalent":
            line, rule = ", ".join(terms), (keys, keys)
        else:
            cut = draw(st.integers(1, len(terms) - 1))
            line = ", ".join(terms[:cut]) + " => " + ", ".join(terms[cut:])
            rule = (keys[:cut], keys[cut:])
        if draw(st.booleans()):
            line += "   # why"
        lines.append(line)
        expected.append((*rule, len(lines)))
    return "\n".join(lines) + "\n", expected


# --- citations -----------------------------------------------------------------------------------

RAISED = "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079\u207b"
# What may follow a statement: separators, brackets, ASCII digits and digits of other scripts
# (a subscript "\u2082" among them: a raised "\u00b2" cites after a word, test_citations.py).
statements = st.builds(
    lambda head, tail: head + tail,
    st.one_of(
        st.sampled_from(WORDS), st.text(st.characters(exclude_characters=RAISED), max_size=20)
    ),
    st.text(alphabet="0123456789 ,.\n\u00a0[]-%)\u0663\u2082\uff11", max_size=10),
)


@settings(max_examples=1000, deadline=None)
@given(statement=statements)
def test_citations_are_exactly_the_numbers_printed_after_a_statement(statement):
    """Whatever a statement ends with, the text is its start and the citations what follows."""
    cut = split_citations(statement)
    span, rest = statement[: cut.end], statement[cut.end :]
    assert cut.text == span or MARKERS_BEFORE_CLOSE.fullmatch(span)  # "[4]." keeps its stop
    check_export_cut(fold(cut.text), cut.citations, span, rest)
    tail = EXPORT_TAIL.match(rest)
    if tail is None or (cut.citations and tail.group("refs") is None):
        tail = MARKDOWN_TAIL.match(rest)  # cited as Markdown markers
    assert tail is not None and not rest[tail.end() :].strip()  # nothing after the citations

    cut = split_markdown_citations(statement)
    rest = statement[cut.end :]
    check_markdown_cut(fold(cut.text), cut.citations, statement[: cut.end], rest)
    assert not rest[MARKDOWN_TAIL.match(rest).end() :].strip()


# --- the export ----------------------------------------------------------------------------------


@pytest.fixture
def export_path(tmp_path: Path) -> Path:
    return tmp_path / "test-article.txt"


@pytest.fixture
def markdown_path(tmp_path: Path) -> Path:
    return tmp_path / "test-article.md"


@PROPERTY
@given(text=arbitrary_text())
def test_any_text_is_an_export_article_or_an_error_naming_file_and_line(export_path, text):
    article = load_or_error(export_path, text)
    if article is not None:
        check_passages(article, text, markdown=False)


@GENERATED
@given(document=mutated(export_article()))
def test_an_edited_export_parses_to_traceable_passages_or_names_file_and_line(
    export_path, document
):
    check_edited(export_path, document, markdown=False)


# --- Markdown ------------------------------------------------------------------------------------


@PROPERTY
@given(text=arbitrary_text())
def test_any_text_is_a_markdown_article_or_an_error_naming_file_and_line(markdown_path, text):
    article = load_or_error(markdown_path, text)
    if article is not None:
        check_passages(article, text, markdown=True)


@PROPERTY
@given(
    text=st.builds(
        lambda front, body: front + body,
        st.sampled_from(["---\ntitle: T\nlast_updated: 2026-01-01\n---\n", "---\n", ""]),
        arbitrary_text(),
    )
)
def test_any_body_after_front_matter_is_markdown_or_names_file_and_line(markdown_path, text):
    article = load_or_error(markdown_path, text)
    if article is not None:
        check_passages(article, text, markdown=True)


@GENERATED
@given(document=mutated(markdown_article()))
def test_an_edited_markdown_article_parses_to_traceable_passages_or_names_file_and_line(
    markdown_path, document
):
    check_edited(markdown_path, document, markdown=True)


# --- bytes that are not UTF-8 --------------------------------------------------------------------

BAD_BYTES = (b"\xff", b"\xfe", b"\xc3", b"\xe9", b"\x80", b"\xe2\x80", b"\xed\xa0\x80", b"\xc0\xaf")


@st.composite
def corrupted(draw: st.DrawFn, documents: st.SearchStrategy) -> bytes:
    """A document's UTF-8 bytes with a byte sequence that is never valid UTF-8 put in."""
    text, _ = draw(documents)
    data = text.encode("utf-8")
    at = draw(st.integers(0, len(data)))
    return data[:at] + draw(st.sampled_from(BAD_BYTES)) + data[at:]


@GENERATED
@given(
    data=st.one_of(
        corrupted(mutated(export_article())),
        corrupted(mutated(markdown_article())),
        corrupted(st.tuples(arbitrary_text(), st.none())),
    ),
    suffix=st.sampled_from([".txt", ".md"]),
)
def test_bytes_that_are_not_utf8_name_the_file_and_the_line_of_the_first_bad_byte(
    tmp_path, data, suffix
):
    path = tmp_path / f"article{suffix}"
    path.write_bytes(data)
    with pytest.raises(ArticleError) as caught:
        load_article(path)
    check_bad_utf8(caught.value, path, data)


@GENERATED
@given(data=st.one_of(st.binary(max_size=200), corrupted(mutated(synonyms_file()))))
def test_a_synonyms_file_of_any_bytes_loads_or_names_file_and_line(tmp_path, data):
    path = tmp_path / SYNONYMS_FILE
    path.write_bytes(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        with pytest.raises(ArticleError) as caught:
            load_synonyms(tmp_path)
        check_bad_utf8(caught.value, path, data)
        return
    try:
        rules = load_synonyms(tmp_path)
    except ArticleError as error:
        check_error(error, path, text)
    else:
        check_rules(rules, text)


# --- the synonyms file ---------------------------------------------------------------------------


def clean(line: str) -> str:
    """A synonyms line without its comment and its blank or byte-order-mark edges."""
    return line.split("#", 1)[0].strip().lstrip("\ufeff").strip()


def check_rules(rules: list[Rule], text: str) -> None:
    """One rule per line that holds one, in order, each read from the line it names."""
    lines = LINE_BREAK.split(text)
    holding = [n for n, line in enumerate(lines, start=1) if clean(line)]
    assert [rule.line for rule in rules] == holding
    for rule in rules:
        line = fold(clean(lines[rule.line - 1]).lower())
        assert rule.terms and rule.expansions
        for term in (*rule.terms, *rule.expansions):
            assert term and term == fold(term) and term in line, (rule, line)


@PROPERTY
@given(text=st.one_of(arbitrary_text(), mutated(synonyms_file()).map(lambda d: d[0])))
def test_any_synonyms_text_parses_or_names_file_and_line(text):
    path = Path("corpus") / SYNONYMS_FILE
    try:
        rules = parse_synonyms(text, str(path))
    except ArticleError as error:
        check_error(error, path, text)
    else:
        check_rules(rules, text)


@PROPERTY
@given(document=mutated(synonyms_file()))
def test_generated_synonyms_rules_are_read_as_written(tmp_path, document):
    text, expected = document
    (tmp_path / SYNONYMS_FILE).write_bytes(text.encode("utf-8"))
    try:
        rules = load_synonyms(tmp_path)
    except ArticleError as error:
        assert expected is None, error  # only an edited file may be malformed
        check_error(error, tmp_path / SYNONYMS_FILE, text)
        return
    if expected is not None:
        assert [(r.terms, r.expansions, r.line) for r in rules] == expected
    check_rules(rules, text)
