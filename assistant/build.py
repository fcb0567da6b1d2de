"""From a corpus directory to a published index version: parse, read the examples, build.

The CLI's `build`, `make run` and the tests all go through `build_corpus`, so an index is
always built the same way: articles, synonyms and example questions from one directory.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from assistant.corpus import load_corpus
from assistant.embedding import Embedder
from assistant.examples import load_examples
from assistant.index import LoadedIndex, build_index
from assistant.ranker import TrainingSettings
from assistant.records import Article
from assistant.vocabulary import load_synonyms


def build_corpus(
    corpus_dir: Path,
    embedder: Embedder,
    index_dir: Path,
    *,
    train: bool = True,
    full: bool = False,
    index_type: str = "auto",
    progress: bool = False,
    training: TrainingSettings | None = None,
    say: Callable[[str], None] | None = None,
    articles: list[Article] | None = None,
) -> LoadedIndex:
    """Build and publish a version from `corpus_dir`; `train=False` ignores the examples."""
    articles = articles if articles is not None else load_corpus(corpus_dir)
    passages = [p for a in articles for p in a.passages]
    examples = (
        load_examples(
            corpus_dir, articles, [p.text for p in passages], [p.article_id for p in passages]
        )
        if train
        else None
    )
    return build_index(
        articles,
        embedder,
        index_dir,
        synonyms=load_synonyms(corpus_dir),
        progress=progress,
        full=full,
        index_type=index_type,
        examples=examples,
        training=training,
        say=say,
    )
