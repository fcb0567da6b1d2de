"""From a corpus directory to a published index version, one stage after another.

    parse     corpus dir         -> Corpus (articles and their passages, synonyms, examples,
                                    and their lineage from the published version)
    embed     passages           -> PassageVectors (unchanged texts from the vector cache)
    lexical   passages           -> LexicalIndex (BM25)
    train     examples, vectors  -> TrainingOutcome (the ranker, into the version's ranker/)
    vectors   served vectors     -> FAISS index (chosen by the library's size)
    probe     the staged version -> the change report, with the passages no probe reaches
    publish   all of it          -> a sealed, checked, published version (LoadedIndex)

The CLI's `build`, `make run` and the tests all go through here, so an index is always built
the same way. The store (`assistant.store`) only writes, seals and publishes the files these
stages make; a build that fails at any stage leaves the published version serving.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from assistant import __version__
from assistant.embed.embedding import Embedder, fine_tuned_embedder
from assistant.embed.vectorcache import Embedded, VectorCache
from assistant.embed.windows import embed_windowed
from assistant.errors import AssistantError, IndexStoreError
from assistant.ingest.asked import asked_in
from assistant.ingest.chunking import INDEX_TEXT_VERSION
from assistant.ingest.corpus import load_corpus
from assistant.ingest.examples import OUT_OF_SCOPE, Examples, load_examples
from assistant.ingest.glossary import Rule, load_synonyms
from assistant.ingest.lineage import Lineage, Similar, former_of, trace
from assistant.ingest.losses import (
    dropped_message,
    lost_examples,
    lost_message,
    out_of_scope_message,
    stale_message,
    too_stale,
)
from assistant.ingest.vocabulary import Vocabulary
from assistant.records import Article, Passage
from assistant.search.lexical import LexicalIndex
from assistant.search.loaded import LoadedIndex, load_version
from assistant.search.retrieval import Retriever
from assistant.search.vectorindex import IndexChoice, build_vectors, choose
from assistant.settings import FineTuneSettings, Settings, TrainingSettings, defaults
from assistant.store import directory as store
from assistant.store import history
from assistant.store.manifest import ArticleEntry, BuildReport, Manifest, VectorIndexEntry
from assistant.train.finetune import fine_tuned_model
from assistant.train.setaside import Earlier
from assistant.train.stage import TrainingInputs, TrainingOutcome, train_ranker, untrained
from assistant.updates import probe, report

log = logging.getLogger("mmn_assistant.build")
Say = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Corpus:
    """The parse stage's output: what a version is built from."""

    articles: list[Article]
    synonyms: list[Rule]
    examples: Examples | None
    """The example questions, or None when the build does not train."""
    lineage: Lineage | None = None

    @property
    def passages(self) -> list[Passage]:
        return [p for a in self.articles for p in a.passages]


@dataclass(frozen=True, slots=True)
class PassageVectors:
    """The embed stage's output: a vector per passage, in passage order, and what was reused
    (`embedded`), with the cache they came from."""

    embedded: Embedded
    cache: VectorCache
    cached: dict[str, np.ndarray]
    """What the cache held, for training to reuse the example questions' vectors."""


def parse(
    corpus_dir: Path,
    *,
    examples: bool,
    articles: list[Article] | None = None,
    index_dir: Path | None = None,
    refuse_stale: bool = True,
    dropped: Collection[str] = (),
    similar: Similar | None = None,
) -> Corpus:
    """Parse the articles, trace them from the version published in `index_dir`, read the
    synonyms and (when `examples`) the example questions, which follow edited passages. Too
    many stale examples stop a build here, before any work (`refuse_stale`); the tools that
    mend them (`examples fix`, the desk) read them whatever their number. An examples file
    the published version was trained on and that now gives none stops it too, unless its
    name is in `dropped` (removed on purpose). `similar` (the build's model) also traces a
    statement reworded in other words, helped by the examples' questions when `examples`."""
    articles = articles if articles is not None else load_corpus(corpus_dir)
    passages = [p for a in articles for p in a.passages]
    lineage = lineage_of(passages, index_dir, similar, corpus_dir if examples else None) if index_dir is not None else None  # fmt: skip
    read = None
    if examples:
        read = load_examples(
            corpus_dir,
            articles,
            [p.text for p in passages],
            [p.article_id for p in passages],
            [lineage.former.get(p.id, ()) for p in passages] if lineage else None,
        )
        if refuse_stale and (failing := too_stale(read)):
            raise IndexStoreError(stale_message(failing))  # before any work: the live index stays
        published = store.published_manifest(index_dir) if index_dir is not None else None
        if refuse_stale and published is not None:
            trained_on = published.training.get("examples") or {}
            lost = lost_examples(read, trained_on, {a.id for a in articles})
            if OUT_OF_SCOPE in dropped:  # without them nothing is declined: a release decision
                raise IndexStoreError(out_of_scope_message(corpus_dir))
            if unknown := sorted(set(dropped) - set(lost)):
                raise IndexStoreError(dropped_message(unknown, lost, read, corpus_dir))
            if lost := {name: n for name, n in lost.items() if name not in dropped}:
                raise IndexStoreError(lost_message(lost, corpus_dir))
        elif dropped:
            raise IndexStoreError(dropped_message(sorted(dropped), {}, read, corpus_dir))
    return Corpus(articles, load_synonyms(corpus_dir), read, lineage)


def lineage_of(passages: Sequence[Passage], index_dir: Path, similar: Similar | None = None, corpus_dir: Path | None = None) -> Lineage:  # fmt: skip
    """The passages traced from the published version's, whose earlier wordings they carry on;
    with `corpus_dir`, also by where the published passages' example questions point."""
    former = former_of(store.published_json(index_dir, store.LINEAGE))
    asked = asked_in(corpus_dir, former) if corpus_dir is not None else None
    return trace(store.published_passages(index_dir), passages, former, similar, asked)


def embed_passages(
    passages: Sequence[Passage],
    embedder: Embedder,
    index_dir: Path,
    *,
    full: bool = False,
    progress: bool = False,
) -> PassageVectors:
    """Vectors of the passages' indexed texts; unchanged texts come from the vector cache
    unless `full`."""
    info = embedder.info
    cache = VectorCache(index_dir, info.weights_sha256, info.dimension)
    cached = {} if full else cache.load()
    embedded = embed_windowed(embedder, [p.index_text for p in passages], cached, progress=progress)
    return PassageVectors(embedded, cache, cached)


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
    say: Say | None = None,
    articles: list[Article] | None = None,
    fine_tune: FineTuneSettings | None = None,
    settings: Settings | None = None,
    strict: bool = False,
    dropped: Collection[str] = (),
) -> LoadedIndex:
    """Build and publish a version from `corpus_dir`; `train=False` ignores the examples, and
    `dropped` names examples files removed on purpose (`parse`).

    With `fine_tune`, the model itself is first fine-tuned on the examples
    (`assistant.train.finetune`) and the version embeds, trains and serves with the fine-tuned
    model, which it carries (run as `settings` run the base model).
    """
    say = say or (lambda _: None)
    corpus = parse(
        corpus_dir,
        examples=train or fine_tune is not None,
        articles=articles,
        index_dir=index_dir,
        dropped=dropped,
        similar=embedder.embed,
    )
    model_dir, provenance = None, None
    if fine_tune is not None and corpus.examples is not None and not corpus.examples.in_scope:
        say("no example questions to fine-tune on: the model serves as it is, not fine-tuned")
        fine_tune = None
    if fine_tune is not None:
        if corpus.examples is None or not train:
            raise AssistantError("--fine-tune trains on the examples: drop --no-train")
        vocabulary = Vocabulary.of_corpus(corpus.articles, corpus.synonyms)
        model_dir, provenance = fine_tuned_model(
            corpus.examples, corpus.passages, embedder.info, index_dir, vocabulary, fine_tune, say
        )  # fmt: skip
        embedder = fine_tuned_embedder(model_dir, settings or defaults(), index_dir / "models")
    return build_index(
        corpus.articles,
        embedder,
        index_dir,
        synonyms=corpus.synonyms,
        examples=corpus.examples if train else None,
        training=training,
        say=say,
        progress=progress,
        full=full,
        index_type=index_type,
        model_dir=model_dir,
        fine_tuned=provenance,
        lineage=corpus.lineage,
        strict=strict,
    )


def build_index(
    articles: list[Article],
    embedder: Embedder,
    index_dir: Path,
    *,
    synonyms: list[Rule] | None = None,
    examples: Examples | None = None,
    training: TrainingSettings | None = None,
    say: Say | None = None,
    progress: bool = False,
    full: bool = False,
    index_type: str = "auto",
    model_dir: Path | None = None,
    fine_tuned: dict[str, Any] | None = None,
    lineage: Lineage | None = None,
    strict: bool = False,
) -> LoadedIndex:
    """Embed, index, train (with `examples`; without, the version serves the model untrained),
    probe and publish a new version of `articles`; returns it loaded. `lineage`: the articles
    traced from the published version (traced here when not given). With `strict`, a new or
    edited passage that no probe reaches stops the build before it publishes.

    The manifest's `build` entry says what changed against the published version and what was
    reused, and its `vector_index` entry which FAISS index was built and why (`index_type`:
    see `assistant.search.vectorindex`).
    """
    with store.build_lock(index_dir):
        started = time.perf_counter()
        passages = [p for article in articles for p in article.passages]
        if not passages:
            raise IndexStoreError("nothing to index: the corpus has no passages")
        choice = choose(len(passages), index_type)  # an unknown type fails before any work
        stage = embed_passages(passages, embedder, index_dir, full=full, progress=progress)
        embedded = stage.embedded
        old = store.published_passages(index_dir)
        lineage = lineage or lineage_of(passages, index_dir, embedder.embed)
        published = store.published_manifest(index_dir)
        earlier = Earlier.of(
            published.training if published else None, published.changes if published else None
        )
        built_at = datetime.now(UTC)
        with store.staging(index_dir, store.version_name(built_at)) as staged:
            vocabulary = Vocabulary.of_corpus(articles, list(synonyms or []))
            staged.write(store.VOCABULARY, json.dumps(vocabulary.to_json(), indent=1).encode())
            lexical = LexicalIndex.build([p.index_text for p in passages])
            lexical.save(staged.path / store.LEXICAL_DIR)
            trained = (
                untrained()
                if examples is None
                else train_ranker(
                    examples,
                    TrainingInputs(
                        embedder=embedder,
                        cached=stage.cached,
                        lexical=lexical,
                        passage_vectors=embedded.vectors,
                        passage_ids=[p.id for p in passages],
                        index_dir=index_dir,
                        target=staged.path / store.RANKER_DIR,
                        vocabulary=vocabulary,
                        progress=progress,
                        articles=articles,
                        passages=tuple(passages),
                        lineage=lineage,
                        earlier=earlier,
                        before_texts=tuple(p.index_text for p in old),
                    ),
                    training or TrainingSettings(),
                    say or (lambda _: None),
                )
            )
            # what is searched is what was learnt: the passages with their learnt offsets
            served = embedded.vectors if trained.passages is None else trained.passages
            choice = write_vectors(staged, served, choice)
            staged.write_records(articles)
            staged.write(store.LINEAGE, json.dumps(lineage.to_json(), ensure_ascii=False).encode())
            if model_dir is not None:  # the fine-tuned model travels with the version it serves
                staged.copy_tree(model_dir, store.MODEL_DIR)
            manifest = Manifest(
                version=staged.version,
                built_at=built_at.isoformat(timespec="seconds"),
                build_seconds=round(time.perf_counter() - started, 3),
                package_version=__version__,
                model=embedder.info,
                index_type=choice.kind,
                vector_index=VectorIndexEntry(choice.kind, choice.reason, choice.params),
                index_text_version=INDEX_TEXT_VERSION,
                passage_count=len(passages),
                corpus_sha256=corpus_sha256(articles),
                articles=tuple(_entry(a) for a in articles),
                files=staged.files(),
                build=_build_report(lineage, embedded.reused, embedded.embedded, full),
                training=trained.entry,
                fine_tuned=fine_tuned,
            )
            staged.seal(manifest)
            # checked as a server would load it, then probed, before it is published
            loaded = load_version(staged.path, embedder.info, version=staged.version)
            changes = report(
                articles,
                lineage,
                # the pointer's name when its version cannot be read: said in the report
                against=published.version if published else store.published_version(index_dir),
                old=old,
                examples=examples,
                set_aside=trained.set_aside,
                dated={
                    a.id: (a.last_updated, a.review_status, a.title)
                    for a in (published.articles if published else ())
                },
                listed=_listed_before(index_dir) if published else None,
            )
            unreachable, probed, left = probe(Retriever(loaded, embedder), passages, lineage)
            changes.update(unreachable=unreachable, probed=probed, not_probed=left)
            if unreachable and strict:
                raise IndexStoreError(unreachable_message(unreachable))
            manifest = dataclasses.replace(manifest, changes=changes)
            staged.seal(manifest)
            loaded = dataclasses.replace(loaded, manifest=manifest)
            final = staged.publish()
        # The version is live from here: housekeeping that fails must not report the build as
        # failed (the desk would say the old version still serves), only say what it skipped.
        for step, what in ((partial(remember_vectors, stage, trained), "remember the vectors"),
                           (partial(history.prune, index_dir), "remove old versions")):  # fmt: skip
            try:
                step()
            except (OSError, ValueError, AssistantError) as exc:
                log.warning("version %s is published; could not %s: %s", final.name, what, exc)
    return dataclasses.replace(loaded, path=final)


def _build_report(lineage: Lineage, reused: int, embedded: int, full: bool) -> BuildReport:
    counts = lineage.counts()
    return BuildReport(
        added=counts["added"],
        changed=counts["edited"] + counts["split"] + counts["merged"],
        removed=counts["removed"],
        unchanged=counts["unchanged"],
        reused=reused,
        embedded=embedded,
        full=full,
    )


def unreachable_message(unreachable: list[dict[str, Any]]) -> str:
    """Why `--strict` refused to publish: each passage no probe reaches, with its probes."""
    lines = [f"{len(unreachable)} new or edited passages cannot be reached by questions made "
             "from their own words (--strict):"]  # fmt: skip
    for item in unreachable:
        lines.append(f"  {item['article']}:{item['line']}: {item['text']}")
        for p in item["probes"]:
            outcome = "declined" if p["declined"] else f"ranked {p['rank'] or 'below 5'}"
            lines.append(f"    {p['question']!r}: {outcome}")
    lines.append(
        "Add example questions for them (corpus/examples/), or build without --strict. "
        "The published index was not changed."
    )
    return "\n".join(lines)


def write_vectors(staged: store.Staging, vectors: np.ndarray, choice: IndexChoice) -> IndexChoice:
    """The vector index stage: the FAISS index of `vectors`, into the version."""
    import faiss

    searchable, choice = build_vectors(vectors, choice)
    staged.write(store.VECTORS, bytes(faiss.serialize_index(searchable)))
    return choice


def remember_vectors(stage: PassageVectors, trained: TrainingOutcome) -> None:
    """Keep the vectors of this build (passages, and the example questions training embedded)
    for the next one."""
    embedded = stage.embedded
    if trained.cache_vectors is not None:
        stage.cache.save(
            [*embedded.keys, *trained.cache_keys],
            np.concatenate([embedded.cache_vectors, trained.cache_vectors]),
        )
    else:
        stage.cache.save(embedded.keys, embedded.cache_vectors)


def _listed_before(index_dir: Path) -> dict[str, list[tuple[int, str]]]:
    """Each published article's reference list, for the report; none from older versions."""
    rows = store.published_json(index_dir, store.ARTICLES) or []
    return {a["id"]: [(int(n), str(t)) for n, t in a.get("references") or ()] for a in rows}


def corpus_sha256(articles: Sequence[Article]) -> str:
    digest = hashlib.sha256()
    for article in sorted(articles, key=lambda a: a.id):
        digest.update(f"{article.id}\0{article.sha256}\n".encode())
    return digest.hexdigest()


def _entry(article: Article) -> ArticleEntry:
    return ArticleEntry(
        id=article.id,
        title=article.title,
        last_updated=article.last_updated.isoformat(),
        review_status=article.review_status,
        source=article.source,
        sha256=article.sha256,
        passage_count=len(article.passages),
    )
