"""The build's training stage: embed the examples, train the ranker (or reuse it), store it
into the new version's `ranker/`, and describe it for the manifest.

Same inputs, same artefact: the training is seeded on a fixed number of threads, and its
files are written byte-for-byte the same. A rebuild whose passages, examples, model and settings are
unchanged reuses the artefact from `index/cache/ranker/<key>/` instead of training again.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from assistant.embed.embedding import Embedder, token_counts
from assistant.embed.vectorcache import CACHE_DIR, embed_with_cache
from assistant.ingest.derived import derived_questions, document_frequency
from assistant.ingest.examples import Example, Examples
from assistant.ingest.lineage import Lineage
from assistant.ingest.tokens import Words, tokenize
from assistant.ingest.unmentioned import declined_by_words, fit_cut
from assistant.ingest.vocabulary import Vocabulary
from assistant.records import Article, ModelInfo, Passage
from assistant.search import artefact
from assistant.search.lexical import LexicalIndex
from assistant.search.ranker import Expander, query_texts, read_question, top_scores, with_context
from assistant.search.shifts import Shifts, measure
from assistant.settings import TrainingSettings
from assistant.train.crossval import train
from assistant.train.fitting import TrainingData
from assistant.train.setaside import (
    Earlier,
    Scores,
    SetAside,
    find,
    subject_stems,
    unseen_by_examples,
)

RANKER_CACHE = "ranker"
"""`index/cache/ranker/<key>/`: the last trained ranker, for an unchanged rebuild."""
TRAINING_FILE = "training.json"
PASSAGES_FILE = "passages.npy"
"""Kept in the reuse cache only: the served passage vectors go into the version's FAISS index."""
TRAINING_VERSION = 3
"""Raised when what training does changes, so older cached artefacts are not reused (2: BM25 of
a follow-up summed over every passage as served; 3: article weights, derived questions)."""


@dataclass(frozen=True, slots=True)
class TrainingInputs:
    """What the build hands training: the model, the vectors it has, the BM25 index it built,
    and where to write what is learnt."""

    embedder: Embedder
    cached: dict[str, np.ndarray]
    lexical: LexicalIndex
    passage_vectors: np.ndarray
    passage_ids: list[str]
    index_dir: Path
    target: Path
    vocabulary: Vocabulary
    progress: bool
    articles: Sequence[Article] = ()
    """The articles whose passages (in this order) are `passage_vectors`: training derives
    questions from their words (`assistant.ingest.derived`)."""
    passages: tuple[Passage, ...] = ()
    lineage: Lineage | None = None
    """The passages against the published version: what set-aside checks examples against."""
    earlier: Earlier | None = None
    before_texts: tuple[str, ...] = ()
    """The published version's passages, whose words set-aside tells new subjects from."""


@dataclass(frozen=True, slots=True)
class TrainingOutcome:
    """What training hands back to the build."""

    entry: dict[str, Any]
    """The manifest's `training` entry."""
    passages: np.ndarray | None = None
    """The passage vectors to search (with their learnt offsets); None: the model's own."""
    cache_keys: tuple[str, ...] = ()
    cache_vectors: np.ndarray | None = None
    """Vectors training embedded (the example questions), for the next build's cache."""
    set_aside: tuple[SetAside, ...] = ()
    """Out-of-scope examples that new content may answer: trained towards it, not as not covered."""


def untrained(reason: str = "built with --no-train") -> TrainingOutcome:
    """The outcome of a version built without training."""
    return TrainingOutcome({"trained": False, "reason": reason})


def example_key(example: Example) -> str:
    return json.dumps([example.question, list(example.history)], ensure_ascii=False)


def derived_examples(articles: Sequence[Article]) -> list[Example]:
    """A question derived from each passage's own words (`derived_questions`), as examples
    answered by that passage (its position among all the articles' passages)."""
    derived: list[Example] = []
    position = 0
    for article in articles:
        frequency = document_frequency(article)
        for passage in article.passages:
            for question in derived_questions(passage, article, frequency=frequency):
                derived.append(
                    Example(question, (), (), article.id, "derived", passage.position, (position,))
                )
            position += 1
    return derived


def search_texts(
    examples: list[Example], settings: TrainingSettings, vocabulary: Expander | None
) -> list[tuple[str, str | None]]:
    """Each example's question and history as searched (`query_texts`)."""
    return [
        query_texts(e.question, e.history, settings.history_turns, vocabulary) for e in examples
    ]


def training_data(
    examples: list[Example],
    texts: list[tuple[str, str | None]],
    question_vectors: np.ndarray,
    context_vectors: np.ndarray,
    has_context: np.ndarray,
    passage_vectors: np.ndarray,
    lexical: LexicalIndex,
    settings: TrainingSettings,
    scored: list[np.ndarray] | None = None,
    *,
    derived: int = 0,
    articles: Sequence[str] = (),
    passage_articles: Sequence[str] = (),
) -> TrainingData:
    """The arrays `crossval.train` reads, BM25 scores included: each example's top candidates,
    and for a follow-up, its top candidates merged with its conversation's (`with_context`, as
    served) at each context weight cross-validation tries. The last `derived` examples are
    derived questions; `articles` (the article ids in order) and each passage's article id
    give each example and passage its article's number."""
    n = settings.candidates
    weights = [w for w in settings.context_lexical_grid if w]
    alone: list[dict[int, float]] = []
    merged: list[dict[float, dict[int, float]]] = []
    for row, (text, context) in enumerate(texts):  # each text scored once
        question = scored[row] if scored is not None else lexical.scores(text)
        alone.append(top_scores(question, n, positive=True))
        earlier = lexical.scores(context) if context else None
        merged.append(
            {w: top_scores(with_context(question, earlier, w), n, positive=True) for w in weights}
            if earlier is not None
            else {}
        )
    number = {a: i for i, a in enumerate(articles)}
    groups = np.array([number.get(e.article_id or "", -1) for e in examples], dtype=np.int64)
    is_derived = np.zeros(len(examples), dtype=bool)
    if derived:
        is_derived[-derived:] = True
    return TrainingData(
        questions=question_vectors,
        contexts=context_vectors,
        has_context=has_context,
        answers=tuple(e.answers for e in examples),
        passages=np.ascontiguousarray(passage_vectors, dtype=np.float32),
        lexical=tuple(alone),
        context_lexical=tuple(merged),
        groups=groups if articles else None,
        derived=is_derived,
        passage_groups=(
            np.array([number[a] for a in passage_articles], dtype=np.int64)
            if passage_articles
            else None
        ),
    )


def embed_examples(
    texts: list[tuple[str, str | None]],
    embedder: Embedder,
    cached: dict[str, np.ndarray],
    *,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[str, ...], np.ndarray]:
    """Question and context vectors (zero rows where there is no history), plus the texts'
    cache keys and vectors so that the next build embeds none of them again."""
    unique = list(dict.fromkeys([t for q, c in texts for t in (q, c) if t]))
    embedded = embed_with_cache(embedder, unique, cached, progress=progress)
    row = {t: i for i, t in enumerate(unique)}
    d = embedder.info.dimension
    questions = np.zeros((len(texts), d), dtype=np.float32)
    contexts = np.zeros((len(texts), d), dtype=np.float32)
    has = np.zeros(len(texts), dtype=bool)
    for i, (q, c) in enumerate(texts):
        questions[i] = embedded.vectors[row[q]]
        if c:
            contexts[i] = embedded.vectors[row[c]]
            has[i] = True
    return questions, contexts, has, embedded.keys, embedded.vectors


def embed_shifted(
    readings: list[tuple[Words, Words | None]],
    shifts: Shifts,
    embedder: Embedder,
    cached: dict[str, np.ndarray],
    *,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[str, ...], np.ndarray]:
    """`embed_examples` as a question is served with shifts: each text as the model reads it
    (`Words.for_model`), then its bridges' shifts added."""
    texts = [(q.for_model, None if c is None else c.for_model) for q, c in readings]
    questions, contexts, has, keys, vectors = embed_examples(
        texts, embedder, cached, progress=progress
    )
    shifted = list(dict.fromkeys(w.for_model for r in readings for w in r if w and w.shifts))
    tokens = dict(zip(shifted, token_counts(embedder, shifted), strict=True))
    for i, (q, c) in enumerate(readings):
        if q.shifts:
            questions[i] = shifts.applied(questions[i], tokens[q.for_model], q.shifts)
        if c is not None and c.shifts:
            contexts[i] = shifts.applied(contexts[i], tokens[c.for_model], c.shifts)
    return questions, contexts, has, keys, vectors


def _key(
    examples: Examples,
    passage_vectors: np.ndarray,
    ids: list[str],
    model: ModelInfo,
    settings: TrainingSettings,
    vocabulary: Vocabulary,
    rows: list[Example],
    readings: list[tuple[Words, Words | None]],
) -> str:
    """What the artefact is trained from, down to each question as read (`readings`)."""
    digest = hashlib.sha256()
    digest.update(
        json.dumps(
            {
                "version": TRAINING_VERSION,
                "examples": examples.sha256,
                "passages": ids,
                "model": model.weights_sha256,
                "settings": artefact.settings_json(settings),
                "vocabulary": vocabulary.to_json(),
                "rows": [[e.question, list(e.history), list(e.answers)] for e in rows],
                "read": [
                    [[w.text, w.for_model, list(w.shifts), list(w.unmentioned)] for w in r if w]
                    for r in readings
                ],
            },
            sort_keys=True,
        ).encode()
    )
    digest.update(np.ascontiguousarray(passage_vectors, dtype=np.float32).tobytes())
    return digest.hexdigest()


def train_ranker(
    examples: Examples,
    inputs: TrainingInputs,
    settings: TrainingSettings,
    say: Callable[[str], None],
) -> TrainingOutcome:
    """Train the ranker into `inputs.target` (or reuse the artefact of the same inputs)."""
    embedder, index_dir, target = inputs.embedder, inputs.index_dir, inputs.target
    entry: dict[str, Any] = {
        "trained": False,
        "reason": "no article has example questions (corpus/examples/<article-id>.jsonl)",
        "examples": dict(examples.counts),
        "shown": shown_examples(examples),
        "stale": [
            {"file": e.source, "line": e.line, "question": e.question} for e in examples.stale
        ],
    }
    if not examples.in_scope:
        return TrainingOutcome(entry)
    started = time.perf_counter()
    every = list(examples.usable)
    derived = derived_examples(inputs.articles) if settings.derived_weight > 0 else []
    vocabulary = inputs.vocabulary if settings.expand else None
    readings = [
        read_question(e.question, e.history, settings.history_turns, vocabulary)
        for e in every + derived
    ]
    texts = [(q.text, None if c is None else c.text) for q, c in readings]
    asked = [(e.question, readings[i][0].unmentioned) for i, e in enumerate(every) if e.answers]
    shifts: Shifts | None = None
    if vocabulary is not None and settings.bridges == "shifts":
        say("measuring the vocabulary's bridges as shifts")
        shifts, keys, vectors = measure(
            vocabulary.bridge_units(), embedder, inputs.cached, settings, progress=inputs.progress
        )
        questions, contexts, has, more, extra = embed_shifted(
            readings, shifts, embedder, inputs.cached, progress=inputs.progress
        )
        keys, vectors = keys + more, np.vstack([vectors, extra])
    else:
        questions, contexts, has, keys, vectors = embed_examples(
            texts, embedder, inputs.cached, progress=inputs.progress
        )
    stems = tokenize([text for text, _ in texts])  # each question read once, for both uses
    scored = [inputs.lexical.scores_of(s) for s in stems]
    n = len(every)  # the editors' examples; the derived questions follow them
    aside, fitted = set_aside(
        every, stems[:n], questions[:n], contexts[:n], scored[:n], inputs, settings
    )
    entry["out_of_scope_keys"] = sorted({e.key for e in examples.out_of_scope})
    entry["set_aside_thresholds"] = fitted
    if aside:
        say(f"set aside {len(aside)} out-of-scope examples that new content may answer")
    if aside and settings.set_aside_trains:
        # until an editor resolves it, the new content wins: it trains towards that passage
        towards = {a.example.key: a.position for a in aside}
        every = [
            replace(e, answers=(towards[e.key],))
            if e.article_id is None and e.key in towards
            else e
            for e in every
        ]
    elif aside:
        away = {a.example.key for a in aside}
        kept = [
            i
            for i, e in enumerate(every + derived)
            if i >= n or e.article_id is not None or e.key not in away
        ]
        texts = [texts[i] for i in kept]
        questions, contexts, has = questions[kept], contexts[kept], has[kept]
        scored = [scored[i] for i in kept]
        every = [e for e in every if e.article_id is not None or e.key not in away]
    usable = every + derived
    key = _key(
        examples, inputs.passage_vectors, inputs.passage_ids, embedder.info, settings,
        inputs.vocabulary, usable, readings,
    )  # fmt: skip
    reuse = index_dir / CACHE_DIR / RANKER_CACHE / key
    passages: np.ndarray | None = None
    if (reuse / "ranker.json").is_file() and (reuse / TRAINING_FILE).is_file():
        shutil.copytree(reuse, target, ignore=shutil.ignore_patterns(TRAINING_FILE, PASSAGES_FILE))
        described = json.loads((reuse / TRAINING_FILE).read_text(encoding="utf-8"))
        if (reuse / PASSAGES_FILE).is_file():
            passages = np.load(reuse / PASSAGES_FILE, allow_pickle=False)
        entry.update(described, reused=True, seconds=round(time.perf_counter() - started, 3))
        return TrainingOutcome(entry, passages, keys, vectors, tuple(aside))
    inside = sum(1 for e in every if e.answers)
    say(
        f"training the ranker on {inside} in-scope and {len(every) - inside} out-of-scope "
        f"examples, and {len(derived)} questions derived from the passages"
    )
    data = training_data(
        usable, texts, questions, contexts, has, inputs.passage_vectors, inputs.lexical, settings,
        scored,
        derived=len(derived),
        articles=[a.id for a in inputs.articles],
        passage_articles=[p.article_id for a in inputs.articles for p in a.passages],
    )  # fmt: skip
    trained = train(
        data, [example_key(e) for e in usable], settings, progress=say,
        writers=[e.by for e in usable],
    )  # fmt: skip
    cut = fit_cut([w for _, w in asked], settings.unmentioned_budget) if vocabulary else None
    described = {
        "trained": True,
        "reason": None,
        "in_scope": inside,
        "out_of_scope": len(every) - inside,
        "derived": len(derived),
        "examples_sha256": examples.sha256,
        "settings": artefact.settings_json(settings),
        "seed": settings.seed,
        "cross_validation": trained.cross_validation,
        "learnt": {
            "blend": round(trained.ranker.blend, 6),
            "lexical_weight": trained.ranker.lexical_weight,
            "context_lexical_weight": trained.ranker.context_lexical_weight,
            "threshold": trained.ranker.threshold,
            "unmentioned_below": cut,
            "declined_by_words": declined_by_words(asked, cut),
        },
    }
    passages = trained.ranker.passages
    artefact.save(replace(trained.ranker, shifts=shifts, unmentioned_below=cut), target)
    described["artefact_sha256"] = artefact.artefact_sha256(target, passages)
    described["train_seconds"] = round(time.perf_counter() - started, 3)
    if reuse.parent.exists():
        shutil.rmtree(reuse.parent)  # one artefact kept: the latest
    reuse.mkdir(parents=True)
    for path in target.iterdir():
        shutil.copy2(path, reuse / path.name)
    if passages is not None:
        np.save(reuse / PASSAGES_FILE, passages, allow_pickle=False)
    (reuse / TRAINING_FILE).write_text(json.dumps(described, indent=1))
    entry.update(described, reused=False, seconds=described["train_seconds"])
    return TrainingOutcome(entry, passages, keys, vectors, tuple(aside))


def set_aside(
    examples: list[Example],
    stems: list[list[str]],
    questions: np.ndarray,
    contexts: np.ndarray,
    scored: list[np.ndarray],
    inputs: TrainingInputs,
    settings: TrainingSettings,
) -> tuple[list[SetAside], dict[str, float] | None]:
    """The out-of-scope examples new content may answer (`assistant.train.setaside`), from each
    example's question stems, vectors and BM25 scores as training reads them."""
    if inputs.lineage is None or not inputs.passages or not scored:
        return [], None
    lineage, before = inputs.lineage, inputs.before_texts
    if unseen := unseen_by_examples(lineage, inputs.passages, examples):
        lineage, before = unseen
    joined = questions + contexts  # a follow-up read with its conversation (zero: none)
    joined /= np.linalg.norm(joined, axis=1, keepdims=True) + 1e-12
    scores = Scores(
        np.maximum(questions @ inputs.passage_vectors.T, joined @ inputs.passage_vectors.T),
        np.vstack(scored),
        [frozenset(t) for t in stems],
        [subject_stems(p.index_text, settings.set_aside_rarity) for p in inputs.passages],
        frozenset(s for t in tokenize(list(before)) for s in t),
    )
    return find(
        examples, scores, inputs.passages, lineage,
        inputs.earlier or Earlier(None, {}), settings, inputs.articles,
    )  # fmt: skip


SHOWN_PER_ARTICLE = 5


def shown_examples(examples: Examples) -> dict[str, list[str]]:
    """Each article's first example questions that stand alone (no history): the home page
    offers them, so editors put the ones they want shown first in the file."""
    shown: dict[str, list[str]] = {}
    for example in examples.in_scope:
        mine = shown.setdefault(example.article_id or "", [])
        if not example.history and len(mine) < SHOWN_PER_ARTICLE:
            mine.append(example.question)
    return shown
