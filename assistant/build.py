"""From a corpus directory to a published index version: parse, read the examples, build.

The CLI's `build`, `make run` and the tests all go through `build_corpus`, so an index is
always built the same way: articles, synonyms and example questions from one directory.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from assistant.embed.embedding import Embedder
from assistant.errors import AssistantError, IndexStoreError
from assistant.ingest.corpus import load_corpus
from assistant.ingest.examples import load_examples, stale_message, too_stale
from assistant.ingest.vocabulary import Vocabulary, load_synonyms
from assistant.records import Article
from assistant.search.finetune import FineTuneSettings, embedder_for, fine_tuned_model
from assistant.search.training import trainer
from assistant.settings import TrainingSettings
from assistant.store.index import LoadedIndex, build_index


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
    fine_tune: FineTuneSettings | None = None,
) -> LoadedIndex:
    """Build and publish a version from `corpus_dir`; `train=False` ignores the examples.

    With `fine_tune`, the model itself is first fine-tuned on the examples
    (`assistant.search.finetune`) and the version embeds, trains and serves with the fine-tuned
    model, which it carries. Too many stale examples stop the build before any work.
    """
    say = say or (lambda _: None)
    articles = articles if articles is not None else load_corpus(corpus_dir)
    passages = [p for a in articles for p in a.passages]
    examples = (
        load_examples(
            corpus_dir, articles, [p.text for p in passages], [p.article_id for p in passages]
        )
        if train or fine_tune
        else None
    )
    if examples is not None and (failing := too_stale(examples)):
        raise IndexStoreError(stale_message(failing))  # before any work: the live index stays
    synonyms = load_synonyms(corpus_dir)
    model_dir, provenance = None, None
    if fine_tune is not None:
        if examples is None or not train:
            raise AssistantError("--fine-tune trains on the examples: drop --no-train")
        vocabulary = Vocabulary.of_corpus(articles, synonyms)
        model_dir, provenance = fine_tuned_model(
            examples, passages, embedder.info, index_dir, vocabulary, fine_tune, say
        )  # fmt: skip
        embedder = embedder_for(model_dir, index_dir / "models")
    return build_index(
        articles,
        embedder,
        index_dir,
        synonyms=synonyms,
        progress=progress,
        full=full,
        index_type=index_type,
        trainer=None
        if examples is None
        else trainer(examples, training or TrainingSettings(), say),
        model_dir=model_dir,
        fine_tuned=provenance,
    )
