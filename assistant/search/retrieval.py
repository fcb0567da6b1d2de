"""Find the passages that answer a question, and whether any does.

    question, history --embed--> e(q), e(history) --ranker: adapter--> q'
        q' --FAISS (cosine)--> dense scores   \\
        question (+ history) --BM25--> lexical  >--fusion (learnt weights)--> ranked hits
        q' · "not covered" - best cosine --learnt threshold--> declined or answered
        a rare word no article mentions --learnt cut--> declined

Every weight here was learnt from the articles' example questions when the index was built
(`assistant.train`); an index built without examples uses the model's own vectors.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from assistant.embed.embedding import Embedder, token_counts
from assistant.embed.windows import embed_windowed
from assistant.errors import QueryError
from assistant.ingest.tokens import Words
from assistant.search import artefact
from assistant.search.loaded import LoadedIndex
from assistant.search.ranker import Ranker, read_question, top_scores, untrained, with_context
from assistant.search.routing import CONVERSATION_WITHIN, names_of
from assistant.search.vectorindex import FaissStore, VectorStore


@dataclass(frozen=True, slots=True)
class RetrievalOptions:
    """Which parts of the learnt ranker run; `eval --compare` switches them one by one."""

    adapter: bool = True
    dense: bool = True
    lexical: bool = True
    history: bool = True


VARIANTS: dict[str, RetrievalOptions] = {
    "dense (untrained)": RetrievalOptions(adapter=False, lexical=False),
    "bm25": RetrievalOptions(dense=False),
    "adapter": RetrievalOptions(lexical=False),
    "adapter+bm25": RetrievalOptions(),
}
DEFAULT_OPTIONS = VARIANTS["adapter+bm25"]


@dataclass(frozen=True, slots=True)
class Hit:
    """One retrieved passage: its position in the index and its scores."""

    index: int
    score: float
    dense: float | None = None
    lexical: float | None = None


@dataclass(frozen=True, slots=True)
class Retrieval:
    """Ranked hits, the decline decision and the signals behind it."""

    hits: list[Hit]
    query: str
    follow_up: bool
    declined: bool
    margin: float | None
    best_dense: float
    dense_scores: dict[int, float] = field(default_factory=dict)
    lexical_scores: dict[int, float] = field(default_factory=dict)
    unmentioned: tuple[str, ...] = ()
    """The question's words that declined it: no article mentions them (`Ranker.unmentioned`)."""


@dataclass(frozen=True, slots=True)
class Reading:
    """A question as `Retriever.read` left it for the model: `embed` is what to embed (the
    question, then the conversation before it; empty when dense search is off)."""

    text: Words
    context: Words | None
    ranker: Ranker
    options: RetrievalOptions
    allowed: np.ndarray | None
    k: int
    embed: tuple[str, ...]
    routed: str | None = None
    """The one article the question names (`assistant.search.routing`): the corpus is ranked
    as a whole, then only its passages are kept, so their order is the one they had
    among all (searched alone, an article's scores were scaled among themselves, and a
    statement against NSAIDs in Kawasaki disease lost first place)."""
    conversation: bool = False
    """A follow-up among several articles that names none itself: `rank` keeps the article
    the conversation named (`held`), or else the one it ranks first, while that article holds
    one of the follow-up's own best passages (`assistant.search.routing`)."""
    held: str | None = None
    """The article an earlier question of the conversation named. Routed on as the question's
    own name, it held a new topic ("the magnesium dose for eclampsia?" after "IVIg dose in
    MMN?") to the old article, with another drug's dose marked as the answer."""


class _Clock:
    """Adds the time since the last lap to a stage, when someone is measuring."""

    def __init__(self, sink: dict[str, float] | None) -> None:
        self._sink = sink
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        if self._sink is not None:
            now = time.perf_counter()
            self._sink[stage] = self._sink.get(stage, 0.0) + now - self._last
            self._last = now


def ranker_for(ranker: Ranker, options: RetrievalOptions) -> Ranker:
    """The ranker with the parts `options` switch off taken out."""
    if not options.adapter:
        ranker = replace(
            ranker, adapter=None, not_covered=None, threshold=None, unmentioned_below=None
        )
    if not options.history:
        ranker = replace(ranker, history_turns=0)
    return ranker


class Retriever:
    """Learnt hybrid search over one loaded index version."""

    def __init__(self, index: LoadedIndex, embedder: Embedder) -> None:
        self._index = index
        self._embedder = embedder
        positions: dict[str, list[int]] = {}
        for i, passage in enumerate(index.passages):
            positions.setdefault(passage.article_id, []).append(i)
        self._by_article = {a: np.array(p, dtype=np.int64) for a, p in positions.items()}
        self._untrained_vectors: Any = None
        self._names = names_of(index.articles)  # None for one article: nothing to route
        self._members = {a: frozenset(p) for a, p in positions.items()} if self._names else {}
        self.ranker = artefact.load(index.ranker_dir) if index.ranker_dir else untrained()
        """What the version learnt from its examples (or the untrained default)."""

    def _vectors(self, options: RetrievalOptions) -> VectorStore:
        """The vectors to search: the version's (passages as trained), or for a comparison
        without the adapter, the model's own passage vectors in an exact index made here."""
        if options.adapter or not self.ranker.trained:
            return self._index.vectors
        if self._untrained_vectors is None:
            import faiss

            raw = embed_windowed(
                self._embedder, [p.index_text for p in self._index.passages]
            ).vectors
            flat = faiss.IndexFlatIP(raw.shape[1])
            flat.add(np.ascontiguousarray(raw, dtype=np.float32))
            self._untrained_vectors = FaissStore(flat)
        return self._untrained_vectors

    def _allowed(self, article: str | None) -> np.ndarray | None:
        """The passage positions of one article, or None for the whole corpus."""
        if article is None:
            return None
        if article not in self._index.articles:
            known = ", ".join(sorted(self._index.articles))
            raise QueryError(
                f"there is no article {article!r}; the articles are: {known}", loc=("article",)
            )
        return self._by_article.get(article, np.zeros(0, dtype=np.int64))

    def read(
        self,
        question: str,
        history: Sequence[str] = (),
        *,
        k: int,
        options: RetrievalOptions = DEFAULT_OPTIONS,
        article: str | None = None,
    ) -> Reading:
        """The question read for searching, before any model work: what to embed, and how.
        Among several articles, one the question (or the conversation) names is searched
        alone (`assistant.search.routing`)."""
        routed, named, held = None, True, None  # one article, or one asked for: no routing
        if article is None and self._names is not None:
            routed, named = self._names.choose(question)
            if not named and history:  # an earlier name holds the follow-up (`rank` checks it)
                held, named = self._names.choose("", history)
                named = named and held is None  # two names earlier: every article, as before
        allowed = self._allowed(article)
        ranker = ranker_for(self.ranker, options)
        vocabulary = self._index.vocabulary if ranker.expand else None
        text, context = read_question(question, history, ranker.history_turns, vocabulary)
        embed: tuple[str, ...] = ()
        if options.dense:
            read = [text, context] if context is not None else [text]
            shifted = ranker.shifts is not None
            embed = tuple(w.for_model if shifted else w.text for w in read)
        conversation = not named and context is not None
        return Reading(
            text, context, ranker, options, allowed, k, embed, routed, conversation, held
        )

    def search(
        self,
        question: str,
        history: Sequence[str] = (),
        *,
        k: int,
        options: RetrievalOptions = DEFAULT_OPTIONS,
        article: str | None = None,
        timings: dict[str, float] | None = None,
    ) -> Retrieval:
        """Rank the passages for a question, of one article only when `article` is given:
        `read`, the model, `rank`. `timings`, when given, receives the seconds each stage took
        (the benchmark's shares)."""
        clock = _Clock(timings)
        reading = self.read(question, history, k=k, options=options, article=article)
        clock.lap("vocabulary")
        vectors = None
        if reading.embed:
            vectors = self._embedder.embed(reading.embed)
            clock.lap("embedding")
        return self.rank(reading, vectors, clock)

    def rank(
        self, reading: Reading, vectors: np.ndarray | None, clock: _Clock | None = None
    ) -> Retrieval:
        """The passages ranked for a question read, with the model's vectors of
        `reading.embed` (None when dense search is off)."""
        clock = clock or _Clock(None)
        raw = vectors
        ranker, options, allowed = reading.ranker, reading.options, reading.allowed
        text, context = reading.text, reading.context
        total = len(self._index.passages) if allowed is None else len(allowed)
        n = min(max(ranker.candidates, reading.k), total)

        dense: dict[int, float] = {}
        best = 0.0
        vector: np.ndarray | None = None
        if vectors is not None:
            vectors = self._shifted(reading, vectors)
            vector = ranker.query_vector(vectors[0], None if context is None else vectors[1])
            clock.lap("adapter")
            dense = self._dense(vector, n, allowed, options)
            best = max(dense.values(), default=0.0)
            clock.lap("dense search")
        lexical: dict[int, float] = {}
        earlier = None
        if options.lexical and n:
            bm25 = self._index.lexical
            scores = bm25.scores_of(text.stems)
            if context is not None and (ranker.context_lexical_weight or reading.conversation):
                earlier = bm25.scores_of(context.stems)
            if earlier is not None and ranker.context_lexical_weight:
                scores = with_context(scores, earlier, ranker.context_lexical_weight)
            if allowed is not None:
                mask = np.full(len(scores), -np.inf, dtype=np.float32)
                mask[allowed] = 0.0
                scores = scores + mask
            lexical = top_scores(scores, n, positive=True)
            clock.lap("lexical")

        if options.dense and options.lexical:
            fused = ranker.fuse(dense, lexical)
        else:
            fused = dense or lexical
        if not fused:  # nothing matched lexically and dense is off: keep document order
            order = range(total) if allowed is None else allowed.tolist()
            fused = dict.fromkeys(list(order)[:n], 0.0)
        by_name = reading.routed is not None
        ordered = sorted(fused.items(), key=lambda item: (-item[1], item[0]))
        if reading.conversation:  # the decline stays the corpus's: calibrated on its best
            routed = reading.held or self._conversation_article(reading, vectors, earlier, n)
            own = self._members.get(routed, frozenset()) if routed else frozenset()
            if not any(i in own for i, _ in ordered[:CONVERSATION_WITHIN]):
                routed = None  # the question itself points elsewhere: a new topic
            reading = replace(reading, routed=routed, conversation=False)
        if reading.routed is not None:
            named = self._members.get(reading.routed, frozenset())
            ordered = [(i, score) for i, score in ordered if i in named]
            if not ordered:  # none of its passages among the corpus's best: that article alone
                alone = replace(reading, allowed=self._allowed(reading.routed), routed=None)
                return self.rank(alone, raw, clock)
            if by_name:
                best = max((dense[i] for i, _ in ordered if i in dense), default=0.0)
            if len(ordered) < min(reading.k, len(named)):
                ordered += self._more_of(reading, raw, ordered)
        ordered = ordered[: reading.k]
        hits = [Hit(i, s, dense.get(i), lexical.get(i)) for i, s in ordered]
        margin = None if vector is None else ranker.margin(vector, best)
        unmentioned = () if vector is None else ranker.unmentioned(text)
        declined = vector is not None and (ranker.declines(margin, best) or bool(unmentioned))
        clock.lap("fusion")
        return Retrieval(
            hits=hits,
            query=text.text,
            follow_up=context is not None,
            declined=declined,
            margin=margin,
            best_dense=best,
            dense_scores=dense,
            lexical_scores=lexical,
            unmentioned=unmentioned,
        )

    def _dense(
        self, vector: np.ndarray, n: int, allowed: np.ndarray | None, options: RetrievalOptions
    ) -> dict[int, float]:
        """The `n` passages nearest `vector` (of `allowed` only, when given), by position."""
        scores, ids = self._vectors(options).search(vector[None, :], n, allowed)
        positions, values = ids[0], scores[0]
        if len(positions) and positions[-1] < 0:  # -1 pads: fewer passages than asked for
            kept = positions >= 0
            positions, values = positions[kept], values[kept]
        return dict(zip(positions.tolist(), values.tolist(), strict=True))

    def _more_of(
        self, reading: Reading, vectors: np.ndarray | None, kept: list[tuple[int, float]]
    ) -> list[tuple[int, float]]:
        """The routed article's next passages, ranked in it alone, after the few of them the
        corpus's best held: below those, whatever their scores among themselves (a follow-up
        asking for 10 passages was given 5 of an article of 52)."""
        alone = replace(reading, allowed=self._allowed(reading.routed), routed=None)
        below = min(score for _, score in kept)
        have = {i for i, _ in kept}
        more = [h.index for h in self.rank(alone, vectors).hits if h.index not in have]
        # in their order below those kept; fused scores are min-max scaled, so never below 0
        return [(i, max(below - 1e-6 * n, 0.0)) for n, i in enumerate(more, start=1)]

    def _conversation_article(
        self, reading: Reading, vectors: np.ndarray | None, earlier: np.ndarray | None, n: int
    ) -> str | None:
        """The article whose passage the conversation before a follow-up, ranked as a question
        of its own (its vector adapted alone, its BM25 scores), finds first."""
        ranker, options = reading.ranker, reading.options
        dense: dict[int, float] = {}
        if vectors is not None and len(vectors) > 1:
            dense = self._dense(ranker.query_vector(vectors[1], None), n, None, options)
        lexical = top_scores(earlier, n, positive=True) if earlier is not None else {}
        fused = ranker.fuse(dense, lexical)
        if not fused:
            return None
        best = min(fused, key=lambda i: (-fused[i], i))
        return self._index.passages[best].article_id

    def _shifted(self, reading: Reading, vectors: np.ndarray) -> np.ndarray:
        """The question's (and conversation's) vectors with their bridges' shifts added, when
        the ranker has shifts and the question bridges."""
        shifts = reading.ranker.shifts
        read = [w for w in (reading.text, reading.context) if w is not None]
        if shifts is None or not any(w.shifts for w in read):
            return vectors
        tokens = token_counts(self._embedder, reading.embed)
        paired = zip(vectors, tokens, read, strict=True)
        rows = [shifts.applied(v, n, w.shifts) for v, n, w in paired]
        return np.array(rows)


def relevant_flags(retrieval: Retrieval, margin: float) -> tuple[bool, ...]:
    """Which hits to label relevant: those whose adapted cosine is within `margin` of the best,
    as a prefix of the ranking, so a less relevant passage never sits above a relevant one."""
    if retrieval.declined:
        return tuple(False for _ in retrieval.hits)
    flags: list[bool] = []
    for position, hit in enumerate(retrieval.hits):
        close = hit.dense is not None and hit.dense >= retrieval.best_dense - margin
        flags.append(position == 0 or (close and flags[-1]))
    return tuple(flags)
