"""Markdown's inline markup read as the text a viewer shows: "**Jaw claudication**: …" is
"Jaw claudication: …", "[the pathway](https://…)" is "the pathway".

An article's statements are quoted to clinicians and embedded; asterisks, link targets and
backticks would be shown as printed and read by the model as words. Read by markdown-it-py,
the same CommonMark reader as the blocks, so a statement means what any Markdown tool shows
("snake_case" and "\\*" stay as they are). The export has no inline markup and is not read here.
"""

from __future__ import annotations

from markdown_it import MarkdownIt

from assistant.ingest.citations import Split, split_markdown_citations

_INLINE = MarkdownIt("commonmark")
_MARKUP = frozenset("*_`[]<>&\\!")
"""A text holding none of these characters has no inline markup to read."""
_SHOWN = frozenset({"text", "text_special", "code_inline"})


def plain(text: str, *, urls: bool = False) -> str:
    """`text` without its inline markup; a link keeps its words, and with `urls` its target
    after them in parentheses (a reference's DOI), unless the words are the target."""
    if not _MARKUP.intersection(text):
        return text
    out: list[str] = []
    target = ""
    for token in _INLINE.parseInline(text)[0].children or []:
        if token.type in _SHOWN:
            out.append(token.content)
        elif token.type in ("softbreak", "hardbreak"):
            out.append("\n")
        elif token.type == "image":
            out.append(token.content)  # its alternative text
        elif token.type == "link_open":
            target, start = str(token.attrGet("href") or ""), len(out)
        elif token.type == "link_close":
            words = "".join(out[start:])
            if urls and target and target not in words:
                out.append(f" ({target})")
            target = ""
    return "".join(out)


def split_markdown(statement: str) -> Split:
    """A Markdown statement's citations taken off (`split_markdown_citations`), then its
    inline markup; `end` still measures the statement as printed. A statement of markup alone
    ("<br>") keeps its text as written, for the editor to see, rather than vanish."""
    cut = split_markdown_citations(statement)
    shown = plain(cut.text)
    return cut._replace(text=shown) if shown.strip() else cut
