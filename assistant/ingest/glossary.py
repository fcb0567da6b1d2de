"""The glossary files editors keep beside the articles, read into rules.

    corpus/clinical-vocabulary.txt   for every article: drug names to their classes, ward
                                     shorthand to its words, British and American spellings
    corpus/synonyms.txt              the articles' own terms and the lay words for them

The Solr synonyms format, one rule a line, `#` starts a comment:
    MND, motor neuron disease          equivalent terms: each expands to all the others
    NCS => nerve conduction studies    one-way: the left terms expand to the right ones
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from assistant.errors import ArticleError
from assistant.ingest.parsing import LINE_END, read_text

SYNONYMS_FILE = "synonyms.txt"
CLINICAL_FILE = "clinical-vocabulary.txt"
RULE_FILES = (CLINICAL_FILE, SYNONYMS_FILE)


@dataclass(frozen=True, slots=True)
class Rule:
    """`terms` expand to `expansions` (for an equivalence group, every term to all others)."""

    terms: tuple[str, ...]
    expansions: tuple[str, ...]
    line: int


def key_of(term: str) -> str:
    """A term as rules and questions are compared: lower case, white space folded."""
    return " ".join(term.lower().split())


def parse_synonyms(text: str, path: str = SYNONYMS_FILE) -> list[Rule]:
    """Parse the synonyms format; raises `ArticleError` naming the file and line on a bad rule."""
    rules: list[Rule] = []
    for number, raw in enumerate(LINE_END.split(text), start=1):
        # A byte order mark (Notepad starts UTF-8 files with one) is not part of a term.
        line = raw.split("#", 1)[0].strip().lstrip("\ufeff").strip()
        if not line:
            continue
        if line.count("=>") > 1:
            raise ArticleError(path, "a rule has at most one '=>'", line=number)
        if "=>" in line:
            left, right = (_split_terms(side) for side in line.split("=>"))
            if not left or not right:
                raise ArticleError(
                    path,
                    "a one-way rule needs terms on both sides: 'NCS => nerve conduction studies'",
                    line=number,
                )
            rules.append(Rule(left, right, number))
        else:
            group = _split_terms(line)
            if len(group) < 2:
                raise ArticleError(
                    path,
                    "an equivalence rule needs at least two terms separated by commas",
                    line=number,
                )
            rules.append(Rule(group, group, number))
    return rules


def _split_terms(side: str) -> tuple[str, ...]:
    terms = tuple(key_of(t) for t in side.split(","))
    if any(not t for t in terms):
        return ()
    return tuple(dict.fromkeys(terms))


def load_synonyms(corpus_dir: Path, files: Sequence[str] = RULE_FILES) -> list[Rule]:
    """The rules of the corpus's vocabulary files that exist, in `RULE_FILES` order."""
    rules: list[Rule] = []
    for name in files:
        path = corpus_dir / name
        if path.is_file():
            rules.extend(parse_synonyms(read_text(path), str(path)))
    return rules
