"""The example questions a published passage answered, for lineage (`lineage.ASKED_GAIN`).

Read straight from the article's examples file, before the examples are loaded (they follow
the lineage this helps to trace): a question belongs to a passage when one of its gold phrases
is said by the passage's text or by an earlier wording it carries. Lines the examples reader
would refuse are skipped here; the build names them when it loads the examples.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from assistant.ingest.examples import EXAMPLES_DIR
from assistant.ingest.lineage import Asked
from assistant.ingest.matching import holds
from assistant.records import Passage


def asked_in(corpus_dir: Path, former: Mapping[str, Sequence[str]]) -> Asked:
    """A published passage's example questions, each article's file read once, when asked."""
    read: dict[str, list[tuple[str, tuple[str, ...]]]] = {}

    def asked(passage: Passage) -> list[str]:
        if passage.article_id not in read:
            read[passage.article_id] = _questions(
                corpus_dir / EXAMPLES_DIR / f"{passage.article_id}.jsonl"
            )
        texts = (passage.text, *former.get(passage.id, ()))
        return [
            question
            for question, gold in read[passage.article_id]
            if any(holds(text, phrase) for phrase in gold for text in texts)
        ]

    return asked


def _questions(path: Path) -> list[tuple[str, tuple[str, ...]]]:
    """(question, gold phrases) of every readable line; none for a missing file."""
    try:
        lines = path.read_text(encoding="utf-8-sig").split("\n")  # a U+2028 stays in its line
    except (OSError, UnicodeDecodeError):
        return []
    found = []
    for line in lines:
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if not isinstance(data, dict) or data.get("history"):
            continue  # a follow-up is read with its conversation: not the statement's words
        question, gold = data.get("question"), data.get("gold")
        if isinstance(question, str) and isinstance(gold, list):
            phrases = tuple(g for g in gold if isinstance(g, str) and g.strip())
            if phrases:
                found.append((question, phrases))
    return found
