"""Editors' changes to the example files, made by a command instead of by hand.

- `fix`: rewrite the gold phrases of examples that followed an edit, to the words the passage
  now has (`Followed.moves`), so the file says what the build already does;
- `answered`: move an out-of-scope example that new content answers into the article's
  examples, with a gold phrase of the passage;
- `still_out_of_scope`: record on the out-of-scope example the passage it was checked against
  (`not_answered_by`), so that the build stops setting it aside.

Each finds its example by content (the question, or `Example.key`), never by a line number
alone, because lines move as files are edited; every other line and field is kept as it was,
and each file is replaced whole and atomically, so a failed write loses nothing.
"""

from __future__ import annotations

import codecs
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.errors import ArticleError
from assistant.ingest.examples import (
    DROPPED,
    EXAMPLES_DIR,
    OUT_OF_SCOPE,
    Example,
    Followed,
    describe,
    normalise,
)
from assistant.ingest.matching import holds
from assistant.ingest.parsing import split_lines
from assistant.records import Passage


@dataclass(frozen=True, slots=True)
class Done:
    """One change to an examples file, as the command reports it."""

    file: str
    line: int
    question: str
    what: str


LOCK = ".lock"


@contextmanager
def locked(folder: Path) -> Iterator[None]:
    """One writer of the examples folder at a time, across processes: two editors' changes
    at once (two desk workers, a desk and a shell) must not both rewrite a file they each read
    before the other's write. Not re-entrant: take it once per change."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / LOCK).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_lines(path: Path) -> list[str]:
    """An examples file's lines as editors number them; none for a file not there yet."""
    try:
        # lines as editors and the readers number them: a U+2028 inside a JSON string is text
        return split_lines(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise ArticleError(str(path), f"cannot read the examples file ({exc})") from None


def write_lines(path: Path, lines: Sequence[str]) -> None:
    """Replace an examples file with `lines`, written the way the file was: its byte-order
    mark and line ending kept, so that a changed line is the only one a diff shows."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raw = b""
    newline = "\r\n" if b"\r\n" in raw else "\n"
    bom = "\ufeff" if raw.startswith(codecs.BOM_UTF8) else ""
    replace_file(path, bom + "".join(f"{line}{newline}" for line in lines))


def replace_file(path: Path, text: str) -> None:
    """Write a whole new file beside the old one, then swap it in: a crash leaves either. The
    file keeps its permissions (a group-writable file an editor and the desk's server share
    stays so), and the text is written as given, line endings untranslated."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        os.replace(temporary, path)
        directory = os.open(path.parent, os.O_RDONLY)  # the rename itself survives a crash
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


_LINE_BREAKS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"}


def dump_line(data: dict[str, Any]) -> str:
    """One JSON line, readable as written, with the characters `str.splitlines` breaks on
    escaped (JSON leaves them raw), so that the file still reads one example a line."""
    text = json.dumps(data, ensure_ascii=False)
    for raw, escaped in _LINE_BREAKS.items():
        text = text.replace(raw, escaped)
    return text


def _same(data: dict[str, Any], example: Example) -> bool:
    history = tuple(normalise(h) for h in data.get("history") or [] if h.strip())
    return normalise(str(data.get("question", ""))) == normalise(example.question) and (
        history == tuple(normalise(h) for h in example.history)
    )


def _holds(line: str, example: Example) -> bool:
    """Whether a line of an examples file is the example (its question and history)."""
    try:
        data = json.loads(line) if line.strip() else None
    except json.JSONDecodeError:
        return False
    return isinstance(data, dict) and _same(data, example)


def _where(lines: list[str], example: Example) -> int | None:
    """The index of the example's line: its recorded line if it still holds it, else the line
    that holds the same question and history (None: no line does)."""
    recorded = example.line - 1
    if 0 <= recorded < len(lines) and _holds(lines[recorded], example):
        return recorded
    return next((i for i, line in enumerate(lines) if _holds(line, example)), None)


def _find(lines: list[str], example: Example, path: Path) -> int:
    i = _where(lines, example)
    if i is None:
        raise ArticleError(
            str(path), f"no line holds the example {example.question!r} any more; build again"
        )
    return i


def fix(followed: Sequence[Followed]) -> list[Done]:
    """Rewrite each followed example's old gold phrases to the passage's words now."""
    if not followed:
        return []
    with locked(Path(followed[0].example.source).parent):
        return _fix(followed)


def _fix(followed: Sequence[Followed]) -> list[Done]:
    done: list[Done] = []
    by_file: dict[str, list[Followed]] = {}
    for item in followed:
        by_file.setdefault(item.example.source, []).append(item)
    for source, items in by_file.items():
        path = Path(source)
        lines = read_lines(path)
        for item in items:
            i = _find(lines, item.example, path)
            data = json.loads(lines[i])
            moves = dict(item.moves)
            gold = [moves.get(g, g) for g in data.get("gold") or []]
            data["gold"] = [g for g in gold if g != DROPPED]
            lines[i] = dump_line(data)
            what = describe(item.moves)
            done.append(Done(source, i + 1, item.example.question, what))
        write_lines(path, lines)
    return done


def default_phrase(passage: Passage, words: int = 8) -> str:
    """A gold phrase for a passage when the editor gives none: its first words, verbatim."""
    parts = passage.text.split()
    return " ".join(parts[:words])


def answered(
    example: Example, passage: Passage, corpus_dir: Path, phrase: str | None = None
) -> Done:
    """Move an out-of-scope example into the examples of the passage's article, with `phrase`
    (a verbatim part of the passage) as its gold; once, whatever is run twice."""
    if example.article_id is not None:
        raise ArticleError(
            example.source, "the example is not an out-of-scope one", line=example.line
        )
    phrase = (phrase or default_phrase(passage)).strip()
    if not holds(passage.text, phrase):  # as the build will look for it: whole words
        raise ArticleError(
            example.source,
            f"the gold phrase {phrase!r} is not in the passage {passage.id[:12]} "
            f"({passage.text[:80]!r}); give a phrase copied from it",
        )
    with locked(corpus_dir / EXAMPLES_DIR):
        return _answered(example, passage, corpus_dir, phrase)


def _answered(example: Example, passage: Passage, corpus_dir: Path, phrase: str) -> Done:
    target = corpus_dir / EXAMPLES_DIR / f"{passage.article_id}.jsonl"
    line, moved = _move(example, target, {"gold": [phrase]}, dropped=("gold", "not_answered_by"))
    if not moved:
        return Done(str(target), line, example.question, "already answered there")
    return Done(str(target), line, example.question,
                f"answered by {passage.id[:12]}: gold {phrase!r}")  # fmt: skip


def _move(
    example: Example, target: Path, given: dict[str, Any], dropped: Sequence[str]
) -> tuple[int, bool]:
    """Move the example's line from its file to the end of `target`, without the `dropped`
    fields and with the `given` ones: its line number there, and False when it was moved
    already (its line in `target`, none in its file). The caller holds the folder's lock."""
    source = Path(example.source)
    lines = read_lines(source)
    kept = read_lines(target)
    there = _where(kept, example)
    i = _where(lines, example)
    if i is None:
        if there is None:
            raise ArticleError(str(source), f"no line holds the example {example.question!r}")
        return there + 1, False
    if there is None:
        data = json.loads(lines[i])
        kept.append(dump_line({**{k: v for k, v in data.items() if k not in dropped}, **given}))
        write_lines(target, kept)
    write_lines(source, lines[:i] + lines[i + 1 :])
    return (len(kept) if there is None else there + 1), True


def still_out_of_scope(example: Example, passage: Passage) -> Done:
    """Record that `passage` was checked and does not answer the out-of-scope example."""
    source = Path(example.source)
    if source.stem != OUT_OF_SCOPE:
        raise ArticleError(
            example.source, "the example is not an out-of-scope one", line=example.line
        )
    with locked(source.parent):
        return _still_out_of_scope(example, passage, source)


def _still_out_of_scope(example: Example, passage: Passage, source: Path) -> Done:
    lines = read_lines(source)
    first = _find(lines, example, source)
    copies = [i for i, line in enumerate(lines) if _holds(line, example)]  # they share its key
    for i in copies:
        data = json.loads(lines[i])
        checked = list(data.get("not_answered_by") or [])
        if passage.id not in checked:
            checked.append(passage.id)
        data["not_answered_by"] = checked
        lines[i] = dump_line(data)
    write_lines(source, lines)
    return Done(example.source, first + 1, example.question,
                f"still out of scope after {passage.id[:12]}")  # fmt: skip


def drop(example: Example) -> Done:
    """Remove a stale example (its passage was removed) from its file; once, whatever is run
    twice (a second run finds no line and says so)."""
    source = Path(example.source)
    with locked(source.parent):
        lines = read_lines(source)
        i = _where(lines, example)
        if i is None:
            return Done(example.source, example.line, example.question, "already removed")
        write_lines(source, lines[:i] + lines[i + 1 :])
    return Done(example.source, i + 1, example.question, "removed (its passage is gone)")


def move_out_of_scope(example: Example, corpus_dir: Path) -> Done:
    """Move a stale example into the out-of-scope examples (no gold): the article no longer
    says what it asked about, so such a question is to be declined, not answered from the
    nearest statement left. Once, whatever is run twice."""
    target = corpus_dir / EXAMPLES_DIR / f"{OUT_OF_SCOPE}.jsonl"
    with locked(corpus_dir / EXAMPLES_DIR):
        line, moved = _move(example, target, {"gold": []}, dropped=("gold",))
        if not moved:
            return Done(str(target), line, example.question, "already out of scope")
    return Done(str(target), line, example.question, "moved out of scope (its passage is gone)")
