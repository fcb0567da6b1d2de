"""Load the articles of a corpus directory into `Article`s with their passages."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from assistant.errors import ArticleError
from assistant.ingest.chunking import chunk
from assistant.ingest.citations import Split, split_citations
from assistant.ingest.export import parse_export
from assistant.ingest.glossary import RULE_FILES
from assistant.ingest.inline import split_markdown
from assistant.ingest.markdown import parse_markdown
from assistant.ingest.parsing import Block, Document, read_text, refuse_conflicts
from assistant.ingest.references import (
    REFERENCES_DIR,
    check_cited,
    read_references,
    references_path,
)
from assistant.records import Article


class Reader(NamedTuple):
    """How one article format is read: its parser, and how its statements print citations."""

    parse: Callable[[Path, str], Document]
    split: Callable[[str], Split]


# File endings read as articles, with their format; every other file in corpus/ is not one,
# nor are these data files.
READERS = {
    ".txt": Reader(parse_export, split_citations),  # the publishing site's plain-text export
    ".md": Reader(parse_markdown, split_markdown),
    ".markdown": Reader(parse_markdown, split_markdown),
}
ARTICLE_SUFFIXES = tuple(READERS)
DATA_FILES = frozenset(RULE_FILES)


def load_article(path: Path) -> Article:
    """Parse one article file; raises `ArticleError` naming the file and line on bad input."""
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise ArticleError(
            str(path), f"not an article file; articles end in {', '.join(ARTICLE_SUFFIXES)}"
        )
    text = read_text(path)
    refuse_conflicts(path, text)
    parsed = reader.parse(path, text)
    article = parsed.article
    passages = chunk(article.id, article.topic, parsed.blocks, split=parsed.split or reader.split)
    references, digest = article.references, hashlib.sha256(text.encode("utf-8"))
    beside = references_path(path, article.id)
    if beside.is_file():
        if references:
            raise ArticleError(
                str(beside),
                f"{path.name} lists its own references; keep one list (remove this file or "
                "the article's References section)",
            )
        listed = read_text(beside)
        refuse_conflicts(beside, listed)
        references = read_references(beside, listed)
        check_cited(
            ((p.line, p.citations) for p in passages),
            references,
            source=str(path),
            listed_in=str(beside),
        )
        digest.update(b"\0references\0" + listed.encode("utf-8"))  # an edit there rebuilds
    return dataclasses.replace(
        article,
        passages=tuple(passages),
        references=references,
        sha256=digest.hexdigest(),
        empty_headings=empty_headings(parsed.blocks),
    )


def empty_headings(blocks: list[Block]) -> tuple[tuple[int, str], ...]:
    """The headings (line, text) with no statement of their own: another heading, or the
    article's end, comes right after them. Most head subsections; a build names those that
    read as a statement or repeat the heading below (`ingest.checks`)."""
    empty = []
    for at, block in enumerate(blocks):
        if block.kind != "heading":
            continue
        after = blocks[at + 1] if at + 1 < len(blocks) else None
        if after is None or after.kind == "heading":
            empty.append((block.line, block.raw))
    return tuple(empty)


def article_paths(corpus_dir: Path) -> list[Path]:
    """The article files of a corpus directory, in name order (so builds are reproducible)."""
    if not corpus_dir.is_dir():
        raise ArticleError(str(corpus_dir), "the corpus directory does not exist")
    named = [
        p
        for p in corpus_dir.iterdir()
        if p.suffix.lower() in ARTICLE_SUFFIXES and p.name not in DATA_FILES
    ]
    for path in named:  # an article on a share that is not mounted must not vanish silently
        if path.is_symlink() and not path.exists():
            raise ArticleError(
                str(path), f"a link to {os.readlink(path)}, which does not exist; mend or remove it"
            )
    return sorted(p for p in named if p.is_file())


def load_corpus(corpus_dir: Path) -> list[Article]:
    """Parse every article of a corpus directory; fails on the first bad one, naming it."""
    paths = article_paths(corpus_dir)
    if not paths:
        raise ArticleError(
            str(corpus_dir),
            f"no article files ({', '.join(ARTICLE_SUFFIXES)}) in the corpus directory",
        )
    articles = [load_article(p) for p in paths]
    ids: dict[str, str] = {}
    for article in articles:
        if article.id in ids:
            raise ArticleError(
                article.source,
                f"article id {article.id!r} is also the id of {ids[article.id]}; rename one file",
            )
        ids[article.id] = article.source
    lists = corpus_dir / REFERENCES_DIR
    for orphan in sorted(lists.glob("*.txt")) if lists.is_dir() else []:
        if orphan.stem not in ids:  # a misspelt name left every answer without references
            raise ArticleError(
                str(orphan),
                f"no article has the id {orphan.stem!r} (the articles are: "
                f"{', '.join(sorted(ids))}); rename the list after its article or remove it",
            )
    return articles
