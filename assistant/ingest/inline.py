"""Markdown's inline markup read as the text a viewer shows: "**Jaw claudication**: …" is
"Jaw claudication: …", "[the pathway](https://…)" is "the pathway".

An article's statements are quoted to clinicians and embedded; asterisks, link targets and
backticks would be shown as printed and read by the model as words. Read by markdown-it-py,
the same CommonMark reader as the blocks, so a statement means what any Markdown tool shows
("snake_case" and "\\*" stay as they are). Where a viewer would show something other than
what the writer meant, the text keeps what was written: an asterisk between digits is a
multiplication ("2*10^9/L", which CommonMark would read as the start of italics), inline HTML
stays as typed ("10<sup>9</sup>/L", where dropping the tags would say "109/L") but for a line
break, which is a space. A reference-style link reads by the article's definitions. The export
has no inline markup and is not read here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

from assistant.ingest.citations import Split, cited_sentences, split_markdown_citations

_INLINE = MarkdownIt("commonmark")
_MARKUP = frozenset("*_`[]<>&\\!")
"""A text holding none of these characters has no inline markup to read."""
_SHOWN = frozenset({"text", "text_special", "code_inline"})
_EMPHASIS = frozenset({"em_open", "em_close", "strong_open", "strong_close"})
_LINE_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_CITATION = re.compile(r"\d{1,3}(?:\s*[,\u2013-]\s*\d{1,3})*")
"""A link whose words are reference numbers: the writer's citation marker, linked to its source."""


Links = Mapping[str, Mapping[str, Any]]
"""An article's link reference definitions ("[nice]: https://…"), as markdown-it-py reads them:
what "[the guideline][nice]" points to."""


def plain(text: str, *, urls: bool = False, links: Links | None = None) -> str:
    """`text` without its inline markup; a link keeps its words, and with `urls` its target
    after them in parentheses (a reference's DOI), unless the words are the target. A
    reference-style link ("[the guideline][nice]") is read where `links` defines its label."""
    if not _MARKUP.intersection(text) or "\x00" in text:
        return text  # a NUL (warned of by the build) would come back as U+FFFD: kept as typed
    env = {"references": dict(links)} if links else None
    tokens = _INLINE.parseInline(text, env)[0].children or []
    out: list[str] = []
    target, start = "", 0
    for at, token in enumerate(tokens):
        if token.type in _SHOWN:
            out.append(token.content)
        elif token.type in ("softbreak", "hardbreak"):
            out.append("\n")
        elif token.type == "html_inline" and token.content.startswith("<!--"):
            following = tokens[at + 1].content[:1] if at + 1 < len(tokens) else " "
            if out and out[-1].endswith(" ") and following in " \n":  # one space stays
                out[-1] = out[-1][:-1]
        elif token.type == "html_inline":
            out.append(" " if _LINE_BREAK.fullmatch(token.content) else token.content)
        elif token.type == "image":
            out.append(token.content)  # its alternative text
        elif token.type in _EMPHASIS and _between_digits(out, tokens[at + 1 :]):
            out.append(token.markup)
        elif token.type == "link_open":
            target, start = str(token.attrGet("href") or ""), len(out)
        elif token.type == "link_close":
            words = "".join(out[start:])
            if _CITATION.fullmatch(words):  # "[1]" with "[1]: https://…": a marker, as printed
                out[start:] = [f"[{words}]"]
            elif urls and target and target not in words:
                out.append(f" ({target})")
            target = ""
    return "".join(out)


_ALERT = re.compile(r"\[!(?:note|tip|important|warning|caution)\][ \t]*(?:\n|$)", re.IGNORECASE)
_FIGURE = frozenset({"image", "link_open", "link_close", "softbreak", "hardbreak"})


def alert_label(content: str) -> int:
    """The length of the label line that opens a GitHub alert ("> [!NOTE]" above its text):
    the callout's kind as a viewer draws it, not words of the statement; 0 for none."""
    label = _ALERT.match(content)
    return label.end() if label else 0


def figure_only(content: str) -> bool:
    """Whether a paragraph holds images alone ("![Echo of a vegetation](tee.png)"), or with
    their caption ("*Figure 1. …*"): a figure, whose alternative text describes a picture and
    states nothing a clinician could cite."""
    if "![" not in content:
        return False
    tokens = _INLINE.parseInline(content)[0].children or []
    words = "".join(t.content for t in tokens if t.type == "text").strip()
    return (
        any(t.type == "image" for t in tokens)
        and (not words or bool(_CAPTION.match(words)))
        and all(t.type in _FIGURE or t.type in _EMPHASIS or t.type == "text" for t in tokens)
    )


_CAPTION = re.compile(r"(?:figure|fig\.?)\s*\d+\b", re.IGNORECASE)


def block_end(tokens: list[Token]) -> int:
    """How many of `tokens` belong to the top-level block that precedes them."""
    return next((i for i, t in enumerate(tokens) if t.level == 0), len(tokens))


def _between_digits(out: list[str], after: list[Token]) -> bool:
    """Whether an emphasis mark stands between two digits ("2*10^9"): a multiplication."""
    before = "".join(out)[-1:]
    following = next((t.content for t in after if t.content), "")[:1]
    return before.isdigit() and following.isdigit()


def split_markdown(statement: str, links: Links | None = None) -> Split:
    """A Markdown statement's citations taken off (`split_markdown_citations`), then its
    inline markup; `end` still measures the statement as printed. Markers inside the emphasis
    that wraps the statement ("**Do not delay steroids. [3]**") cite as well, and the emphasis
    goes with them. A statement of markup alone ("<x>") keeps its text as written, for the
    editor to see, rather than vanish."""
    cut = split_markdown_citations(statement)
    text = cut.text
    written = statement.rstrip()
    if not cut.citations and (closed := written.rstrip("*_")) != written:
        inner = split_markdown_citations(closed)
        closer = written[len(closed) :]
        if inner.citations and inner.text.startswith(closer):
            cut, text = inner, inner.text[len(closer) :]
    shown = plain(text, links=links)
    return cut._replace(text=shown) if shown.strip() else cut


def sentences(statement: str) -> list[tuple[int, int]]:
    """`cited_sentences` of a Markdown statement, with emphasis that wraps the whole ("*Avoid
    aminoglycosides [3]. They worsen weakness [4].*") left out of every piece, which would
    otherwise keep one mark each, shown as typed; an editor's comment after the references
    ("… patient. [1] <!-- check with Dr K -->") is no piece of its own."""
    return [(a, b) for a, b in _sentences(statement) if not _COMMENTS.fullmatch(statement, a, b)]


_COMMENTS = re.compile(r"(?:\s*<!--.*?-->)+\s*", re.DOTALL)


def _sentences(statement: str) -> list[tuple[int, int]]:
    read = (
        _INLINE.parseInline(statement)[0].children or [] if _WRAPS.intersection(statement) else []
    )
    tokens = [t for t in read if t.type != "text" or t.content]  # markdown-it's empty edges
    if len(tokens) > 2 and tokens[0].type in _OPENS and _closes_last(tokens):
        inner = statement.index(tokens[0].markup) + len(tokens[0].markup)
        end = statement.rindex(tokens[0].markup)
        pieces = cited_sentences(statement[inner:end])
        if len(pieces) > 1:
            return [(inner + a, inner + b) for a, b in pieces]
        return [(0, len(statement))]
    return cited_sentences(statement)


_OPENS = frozenset({"em_open", "strong_open"})
_WRAPS = frozenset("*_")


def _closes_last(tokens: list[Token]) -> bool:
    """Whether the emphasis the first token opens closes at the last token."""
    depth = 0
    for at, token in enumerate(tokens):
        depth += token.nesting if token.type in _EMPHASIS else 0
        if depth == 0:
            return at == len(tokens) - 1
    return False
