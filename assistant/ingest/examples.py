"""Example questions: content kept beside the articles, from which the ranker learns.

    corpus/examples/<article-id>.jsonl   questions that one article answers
    corpus/examples/out-of-scope.jsonl   questions no article answers (shared by all)

One JSON object a line: {"question": str, "history": [str, ...], "gold": [str, ...]}.
`history` (earlier questions, oldest first) may be absent; each `gold` entry is a verbatim
phrase of a passage that answers the question, in whole words (case and spacing aside:
`matching.phrase_pattern`), and `"gold": []` in the out-of-scope file. An editor may add
`"not_answered_by": [passage id, ...]` to an out-of-scope example: the passages it was checked
against and still found not to answer it.

An article edit can leave a gold phrase in no passage. When the phrase is in an earlier wording
of a passage (`assistant.ingest.lineage`), the example *follows* the edit to that passage, with
the phrase as it reads now proposed for `examples fix`; when no phrase of it is in any passage,
old or new (the passage was removed), the example is *stale*, listed by the build with its file
and line and left out of training. An example whose other phrases still name a passage keeps
those answers, and the dead phrase is listed to be dropped.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from assistant.errors import ArticleError, QueryError
from assistant.ingest.jsonlines import json_objects, worded
from assistant.ingest.matching import holds, phrase_pattern
from assistant.ingest.parsing import read_text
from assistant.ingest.tokens import tokenize
from assistant.limits import Query
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
    not_answered_by: tuple[str, ...] = ()
    """Out of scope only: passages an editor checked and found not to answer it."""
    by: str = ""
    """Who wrote it (a writer or a voice, "pharmacist"), for figures per writer."""

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"

    @property
    def key(self) -> str:
        """A short, stable name for the example (its question and history), by which editors'
        commands refer to it whatever line it moves to."""
        text = json.dumps([normalise(self.question), [normalise(h) for h in self.history]])
        return hashlib.sha256(text.encode()).hexdigest()[:10]


@dataclass(frozen=True, slots=True)
class Followed:
    """An example whose gold phrases name an earlier wording of a passage: it answers the passage
    that wording became. `moves` pairs each phrase as written with the phrase as it reads now."""

    example: Example
    moves: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Examples:
    """The usable examples of a corpus, the stale ones, and a hash of what was read."""

    usable: tuple[Example, ...]
    stale: tuple[Example, ...]
    counts: dict[str, int]
    sha256: str
    followed: tuple[Followed, ...] = ()
    """Usable examples that followed an edit (their gold phrases name an earlier wording)."""

    @property
    def in_scope(self) -> tuple[Example, ...]:
        return tuple(e for e in self.usable if e.article_id is not None)

    @property
    def out_of_scope(self) -> tuple[Example, ...]:
        return tuple(e for e in self.usable if e.article_id is None)


def normalise(text: str) -> str:
    """The form in which two questions count as the same (case and spacing aside)."""
    return " ".join(text.lower().split())


FIELDS = frozenset({"question", "history", "gold", "by", "not_answered_by", "feedback_id"})
"""What an example line may say. Other fields ("tags", "id") are an editor's notes and kept
out of the way, but one a letter or two from these ("histroy") is a slip that would silently
train a follow-up as a question asked alone, so it is refused."""


def _files(folder: Path) -> list[Path]:
    """The examples files in `folder` (none when there is no folder). `Path.glob` would pass
    over a folder it cannot read as an empty one, and the build would train on nothing."""
    if not folder.exists() and not folder.is_symlink():
        return []
    try:
        return sorted(p for p in folder.iterdir() if p.name.endswith(".jsonl"))
    except OSError as exc:
        raise ArticleError(
            str(folder),
            f"cannot read the examples folder ({exc.strerror or exc}); give the build's user "
            "read access, or remove it to build without examples",
        ) from None


def read_examples(path: Path, article_id: str | None, text: str | None = None) -> list[Example]:
    """Parse one examples file (or `text`, already read from it); a malformed line is an
    `ArticleError` naming file and line."""
    examples = []
    for number, data in json_objects(path, FIELDS, what="the examples file", text=text):
        question = data.get("question")
        history = data.get("history", [])
        gold = data.get("gold")
        checked = data.get("not_answered_by") or []
        by = data.get("by") or ""
        if not isinstance(by, str):
            raise ArticleError(str(path), '"by" must be a string (who wrote it)', line=number)
        if not isinstance(checked, list) or not all(isinstance(c, str) for c in checked):
            raise ArticleError(
                str(path), '"not_answered_by" must be a list of passage ids', line=number
            )
        if not isinstance(question, str) or not question.strip():
            raise ArticleError(str(path), '"question" must be a non-empty string', line=number)
        if not isinstance(history, list) or not all(isinstance(h, str) for h in history):
            raise ArticleError(str(path), '"history" must be a list of strings', line=number)
        try:  # what a clinician could not ask (a blank earlier question, a page of text)
            Query.read(question, history)  # a gold set refuses too; the text stays as written
        except QueryError as exc:
            raise ArticleError(str(path), str(exc), line=number) from None
        if not isinstance(gold, list) or not all(isinstance(g, str) and g.strip() for g in gold):
            raise ArticleError(str(path), '"gold" must be a list of phrases', line=number)
        worded(gold, path, number)
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
                history=tuple(h.strip() for h in history),
                gold=tuple(gold),
                article_id=article_id,
                source=str(path),
                line=number,
                not_answered_by=tuple(checked),
                by=by.strip(),
            )
        )
    return examples


def load_examples(
    corpus_dir: Path,
    articles: Sequence[Article],
    passage_texts: Sequence[str],
    passage_articles: Sequence[str],
    former: Sequence[tuple[str, ...]] | None = None,
) -> Examples:
    """Read every examples file and find the passages each example's gold phrases name.

    Passages are given by position (their index in the built index), so an example's answers
    can be used directly as training targets; `former` gives each position's earlier wordings
    (`assistant.ingest.lineage`), for a phrase an edit changed. An examples file for an article
    the corpus does not have is an error: its questions would otherwise be silently ignored.
    """
    folder = corpus_dir / EXAMPLES_DIR
    known = {a.id for a in articles}
    files = _files(folder)
    digest = hashlib.sha256()
    usable: list[Example] = []
    stale: list[Example] = []
    followed: list[Followed] = []
    counts: dict[str, int] = {}
    by_article: dict[str, list[Written]] = {}
    for position, (text, owner) in enumerate(zip(passage_texts, passage_articles, strict=True)):
        earlier = tuple(former[position]) if former is not None else ()
        by_article.setdefault(owner, []).append(Written(position, text, earlier))
    for path in files:
        name = path.stem
        article_id = None if name == OUT_OF_SCOPE else name
        if article_id is not None and article_id not in known:
            raise ArticleError(
                str(path),
                f"no article has the id {article_id!r} (the articles are: "
                f"{', '.join(sorted(known))}); rename the file after its article or remove it",
            )
        # read once: the hash must describe the very text trained on, even while an editor saves
        text = read_text(
            path, "the examples file"
        )  # unreadable, too large, not UTF-8: named with the reason
        digest.update(f"{name}\0".encode() + text.encode("utf-8") + b"\0")
        examples = read_examples(path, article_id, text)
        counts[name] = len(examples)
        for example in examples:
            if article_id is None:
                usable.append(example)
                continue
            found, moves = answers_of(example.gold, by_article.get(article_id, []))
            if found is None:
                stale.append(example)
                continue
            example = replace(example, answers=found)
            usable.append(example)
            if moves:
                followed.append(Followed(example, moves))
    _refuse_contradictions([*usable, *stale])
    return Examples(tuple(usable), tuple(stale), counts, digest.hexdigest(), tuple(followed))


def _refuse_contradictions(examples: Sequence[Example]) -> None:
    """The same question (and history) both in an article's examples and out of scope would
    teach the ranker to answer it and to decline it; the build names both lines instead."""
    answered: dict[str, Example] = {}
    declined: dict[str, Example] = {}
    for example in examples:
        (declined if example.article_id is None else answered).setdefault(example.key, example)
    for key in answered.keys() & declined.keys():
        first, second = answered[key], declined[key]
        raise ArticleError(
            second.source,
            f"{second.question!r} is out of scope here but has gold phrases at {first.where}; "
            "keep it in one of the two files",
            line=second.line,
        )


@dataclass(frozen=True, slots=True)
class Written:
    """A passage as gold phrases are looked up in it: its position, text and earlier wordings."""

    position: int
    text: str
    former: tuple[str, ...] = ()


def answers_of(
    gold: Sequence[str], passages: Sequence[Written]
) -> tuple[tuple[int, ...] | None, tuple[tuple[str, str], ...]]:
    """The positions of the passages an example's gold phrases name (None: no phrase is in any
    passage's text, now or before: stale), and for each phrase found only in an earlier wording,
    the phrase as the passage now reads (`DROPPED` for a phrase found nowhere)."""
    found: set[int] = set()
    moves: list[tuple[str, str]] = []
    dropped: list[tuple[str, str]] = []
    for phrase in gold:
        said = [p for p in passages if holds(p.text, phrase)]
        hits = {p.position for p in said}
        successors = [
            p
            for p in passages
            if p.position not in hits and any(holds(f, phrase) for f in p.former)
        ]
        if said and successors:
            # Said now, and once by a passage since reworded. A part of that same passage that
            # still says it (a split) answers alone; another passage that says it too (an
            # opening paragraph) leaves the reworded one an answer while it reads much the same.
            earlier = {f for p in said for f in p.former if holds(f, phrase)}
            others = [p for p in successors if not earlier & set(p.former)]
            successors = _closest(phrase, others, at_least=FOLLOW_SCORE)
        if not hits and not successors:
            dropped.append((phrase, DROPPED))  # no passage says it, now or before
            continue
        if successors:
            chosen = successors if hits else _closest(phrase, successors)
            hits |= {p.position for p in chosen}
            moves.append((phrase, proposed(phrase, chosen[0])))
        found |= hits
    if not found:  # every passage it named was removed
        return None, ()
    return tuple(sorted(found)), (*moves, *dropped)


DROPPED = ""
"""What a gold phrase no passage says now, nor said before, becomes (`Followed.moves`) when the
example's other phrases still name a passage: the example keeps those answers, and `examples
fix` takes the phrase out (its passage was removed, or the phrase was never right)."""


def describe(moves: Sequence[tuple[str, str]], arrow: str = "->") -> str:
    """The moves of a followed example, as the build, `examples fix` and the desk print them."""
    return "; ".join(
        f"{a!r} dropped (no passage says it)" if b == DROPPED else f"{a!r} {arrow} {b!r}"
        for a, b in moves
    )


FOLLOW_SCORE = 50.0
"""rapidfuzz partial_ratio (0-100) of an old phrase with a successor's text above which the
successor still says what the phrase said; below it for every successor of a split, all take
the example."""


def _closest(phrase: str, successors: Sequence[Written], *, at_least: float = 0.0) -> list[Written]:
    """Of the passages an old wording became (several after a split), those still closest to
    the phrase, best first; none when none scores `at_least`."""
    from rapidfuzz import fuzz

    scored = sorted(
        ((fuzz.partial_ratio(phrase.lower(), p.text.lower()), p) for p in successors),
        key=lambda t: (-t[0], t[1].position),
    )
    if not scored or scored[0][0] < at_least:
        return []
    best = scored[0][0]
    if best < FOLLOW_SCORE:
        return [p for _, p in scored]
    return [p for score, p in scored if score >= best - 10]


_WORD_CHAR = re.compile(r"\w")


def proposed(phrase: str, passage: Written) -> str:
    """The phrase as `passage` reads now: its place in the earlier wording that holds it, carried
    through the edit's character diff and widened to whole words (the whole text when the
    edit left nothing of it, so little of its words that what is left no longer names it
    ("does not prevent slowly progressive axonal degeneration" is not "does not stop"), or
    its "not" gone)."""
    found = next(m for f in passage.former if (m := phrase_pattern(phrase).search(f)))
    before, after = found.string, passage.text
    start, end = found.span()
    opcodes = difflib.SequenceMatcher(None, before, after, autojunk=False).get_opcodes()

    def carried(at: int, closing: bool) -> int:
        for tag, i1, i2, j1, j2 in opcodes:
            if i1 <= at < i2 or (closing and i1 < at <= i2):
                if tag == "equal":
                    return j1 + (at - i1)
                return j2 if closing else j1
        return len(after) if closing else 0

    s, e = carried(start, False), carried(end, True)
    while 0 < s < len(after) and _WORD_CHAR.match(after[s - 1]) and _WORD_CHAR.match(after[s]):
        s -= 1
    while 0 < e < len(after) and _WORD_CHAR.match(after[e - 1]) and _WORD_CHAR.match(after[e]):
        e += 1
    text = after[s:e].strip(" ,;:.")
    named = {w for w in tokenize([phrase])[0] if not w[0].isdigit()}  # "50-80%" -> "60-90%"
    kept = named & set(tokenize([text])[0])
    negated = bool(_NEGATION.search(phrase)) != bool(_NEGATION.search(text))  # "not" dropped
    return text if len(text) >= 3 and 2 * len(kept) >= len(named) and not negated else after


_NEGATION = re.compile(r"\b(?:not|no|never|without|cannot|none)\b|n't\b", re.IGNORECASE)
