"""Example questions: content kept beside the articles, from which the ranker learns.

    corpus/examples/<article-id>.jsonl   questions that one article answers
    corpus/examples/out-of-scope.jsonl   questions no article answers (shared by all)

One JSON object a line: {"question": str, "history": [str, ...], "gold": [str, ...]}.
`history` (earlier questions, oldest first) may be absent; each `gold` entry is a verbatim
phrase of a passage that answers the question (case-insensitive), and `"gold": []` in the
out-of-scope file. An article edit can leave a gold phrase in no passage: such an example is
*stale*, listed by the build with its file and line and left out of training.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from assistant.errors import ArticleError
from assistant.records import Article

EXAMPLES_DIR = "examples"
OUT_OF_SCOPE = "out-of-scope"
STALE_LIMIT = 0.2
"""A build fails when more than this share of an article's examples are stale: the article
changed so much that what the ranker would learn no longer describes it."""


@dataclass(frozen=True, slots=True)
class Example:
    """One example question and the passages (positions in the index) that answer it.

    `article_id` is None and `answers` empty for an out-of-scope question."""

    question: str
    history: tuple[str, ...]
    gold: tuple[str, ...]
    article_id: str | None
    source: str
    line: int
    answers: tuple[int, ...] = ()

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"


@dataclass(frozen=True, slots=True)
class Examples:
    """The usable examples of a corpus, the stale ones, and a hash of what was read."""

    usable: tuple[Example, ...]
    stale: tuple[Example, ...]
    counts: dict[str, int]
    sha256: str

    @property
    def in_scope(self) -> tuple[Example, ...]:
        return tuple(e for e in self.usable if e.article_id is not None)

    @property
    def out_of_scope(self) -> tuple[Example, ...]:
        return tuple(e for e in self.usable if e.article_id is None)


def normalise(text: str) -> str:
    """The form in which two questions count as the same (case and spacing aside)."""
    return " ".join(text.lower().split())


def read_examples(path: Path, article_id: str | None) -> list[Example]:
    """Parse one examples file; a malformed line is an `ArticleError` naming file and line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ArticleError(str(path), f"cannot read the examples file ({exc})") from None
    examples = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ArticleError(str(path), f"not a JSON object ({exc.msg})", line=number) from None
        if not isinstance(data, dict):
            raise ArticleError(str(path), "not a JSON object", line=number)
        question = data.get("question")
        history = data.get("history") or []
        gold = data.get("gold")
        if not isinstance(question, str) or not question.strip():
            raise ArticleError(str(path), '"question" must be a non-empty string', line=number)
        if not isinstance(history, list) or not all(isinstance(h, str) for h in history):
            raise ArticleError(str(path), '"history" must be a list of strings', line=number)
        if not isinstance(gold, list) or not all(isinstance(g, str) and g.strip() for g in gold):
            raise ArticleError(str(path), '"gold" must be a list of phrases', line=number)
        if article_id is None and gold:
            raise ArticleError(
                str(path),
                'an out-of-scope example has "gold": [] (no article answers it)',
                line=number,
            )
        if article_id is not None and not gold:
            raise ArticleError(
                str(path),
                f'an example of {article_id} needs "gold" phrases; a question no article '
                f"answers belongs in {OUT_OF_SCOPE}.jsonl",
                line=number,
            )
        examples.append(
            Example(
                question=question.strip(),
                history=tuple(h.strip() for h in history if h.strip()),
                gold=tuple(gold),
                article_id=article_id,
                source=str(path),
                line=number,
            )
        )
    return examples


def load_examples(
    corpus_dir: Path,
    articles: Sequence[Article],
    passage_texts: Sequence[str],
    passage_articles: Sequence[str],
) -> Examples:
    """Read every examples file and find the passages each example's gold phrases name.

    Passages are given by position (their index in the built index), so an example's answers
    can be used directly as training targets. An examples file for an article the corpus does
    not have is an error: its questions would otherwise be silently ignored.
    """
    folder = corpus_dir / EXAMPLES_DIR
    known = {a.id for a in articles}
    files = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
    digest = hashlib.sha256()
    usable: list[Example] = []
    stale: list[Example] = []
    counts: dict[str, int] = {}
    by_article: dict[str, list[tuple[int, str]]] = {}
    for position, (text, owner) in enumerate(zip(passage_texts, passage_articles, strict=True)):
        by_article.setdefault(owner, []).append((position, text.lower()))
    for path in files:
        name = path.stem
        article_id = None if name == OUT_OF_SCOPE else name
        if article_id is not None and article_id not in known:
            raise ArticleError(
                str(path),
                f"no article has the id {article_id!r} (the articles are: "
                f"{', '.join(sorted(known))}); rename the file after its article or remove it",
            )
        digest.update(f"{name}\0".encode() + path.read_bytes() + b"\0")
        examples = read_examples(path, article_id)
        counts[name] = len(examples)
        for example in examples:
            if article_id is None:
                usable.append(example)
                continue
            mine = by_article.get(article_id, [])
            found: set[int] = set()
            complete = True
            for phrase in example.gold:
                needle = phrase.lower()
                hits = {position for position, text in mine if needle in text}
                complete &= bool(hits)
                found |= hits
            if complete:
                usable.append(replace(example, answers=tuple(sorted(found))))
            else:
                stale.append(example)
    return Examples(tuple(usable), tuple(stale), counts, digest.hexdigest())


def too_stale(examples: Examples) -> dict[str, list[Example]]:
    """The articles whose stale share is over `STALE_LIMIT`, with their stale examples."""
    failing: dict[str, list[Example]] = {}
    for article_id, total in examples.counts.items():
        if article_id == OUT_OF_SCOPE or not total:
            continue
        mine = [e for e in examples.stale if e.article_id == article_id]
        if len(mine) / total > STALE_LIMIT:
            failing[article_id] = mine
    return failing


def stale_message(failing: dict[str, list[Example]]) -> str:
    """What the build says when it refuses to publish: every stale example, file and line."""
    lines = []
    for article_id, stale in failing.items():
        lines.append(
            f"{len(stale)} example questions of {article_id} name text that no passage has "
            "any more; fix their gold phrases (or remove them) and build again:"
        )
        lines += [f"  {e.where}: {e.question}" for e in stale]
    return "\n".join(lines) + "\nThe published index was not changed."
