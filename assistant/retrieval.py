"""Find the passages that answer a question: dense and lexical search, fused.

    question (+ history) --follow-up resolution, last clause--> search texts --vocabulary-->
    expanded texts --embed, weighted--> FAISS (cosine)  \\
    expanded texts --BM25, weighted--> lexical scores    >--fusion, answer types--> ranked hits
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from assistant.answertype import asked_types, asks_definition, last_clause, stated_types
from assistant.embedding import Embedder
from assistant.errors import QueryError
from assistant.followup import resolve, straighten
from assistant.fusion import RRF_K, convex, rrf
from assistant.index import LoadedIndex
from assistant.vectorindex import search_parameters


@dataclass(frozen=True, slots=True)
class RetrievalOptions:
    """Which stages run; the eval command's --compare switches them one by one."""

    dense: bool = True
    lexical: bool = True
    expand: bool = True
    follow_ups: bool = True
    strip_shared: bool = True
    question_weight: float = 0.75
    """For a follow-up, the weight of the question alone against the question with its history."""
    fusion: str = "convex"  # "rrf" or "convex"
    rrf_k: int = RRF_K
    dense_weight: float = 1.0
    lexical_weight: float = 0.5
    candidates: int = 50
    answer_type_bonus: float = 0.2
    definition_bonus: float = 0.6
    """For "what is MMN?": the bonus of the paragraph that opens the article (its definition)."""
    section_prior: float = 0.2
    """For a follow-up: the bonus of passages in the section of the best passage for the
    question it leans on (what the conversation was reading)."""
    last_clause_weight: float = 0.3
    """For a long question of several clauses (a case, then the question), the weight of its
    last clause against the whole."""


_PLAIN = RetrievalOptions(
    expand=False,
    follow_ups=False,
    strip_shared=False,
    answer_type_bonus=0.0,
    definition_bonus=0.0,
    last_clause_weight=0.0,
    section_prior=0.0,
)
_VOCABULARY = replace(_PLAIN, expand=True, strip_shared=True)
_ANSWER_TYPES = replace(_VOCABULARY, answer_type_bonus=0.2, definition_bonus=0.6)
VARIANTS: dict[str, RetrievalOptions] = {
    "dense": replace(_PLAIN, lexical=False),
    "lexical": replace(_PLAIN, dense=False),
    "hybrid": _PLAIN,
    "hybrid+vocabulary": _VOCABULARY,
    "hybrid+vocabulary+answer-types": _ANSWER_TYPES,
    # follow-ups and cases: questions read with what comes before them, or their last clause
    "hybrid+vocabulary+answer-types+follow-ups": RetrievalOptions(),
}
DEFAULT_OPTIONS = VARIANTS["hybrid+vocabulary+answer-types+follow-ups"]


@dataclass(frozen=True, slots=True)
class Hit:
    """One retrieved passage: its position in the index and its scores."""

    index: int
    score: float
    dense: float | None = None
    lexical: float | None = None


@dataclass(frozen=True, slots=True)
class Retrieval:
    """Ranked hits plus what the answerability decision needs to know about the search."""

    hits: list[Hit]
    query: str
    follow_up: bool
    leaned_on: tuple[str, ...] = ()
    dense_scores: dict[int, float] = field(default_factory=dict)
    lexical_scores: dict[int, float] = field(default_factory=dict)


class _Clock:
    """Adds the time since the last lap to a stage, when someone is measuring."""

    def __init__(self, sink: dict[str, float] | None) -> None:
        self._sink = sink
        self._last = time.perf_counter()

    def restart(self) -> None:
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        if self._sink is not None:
            now = time.perf_counter()
            self._sink[stage] = self._sink.get(stage, 0.0) + now - self._last
            self._last = now


class Retriever:
    """Hybrid search over one loaded index version."""

    def __init__(self, index: LoadedIndex, embedder: Embedder) -> None:
        self._index = index
        self._embedder = embedder
        positions: dict[str, list[int]] = {}
        for i, passage in enumerate(index.passages):
            positions.setdefault(passage.article_id, []).append(i)
        self._by_article = {a: np.array(p, dtype=np.int64) for a, p in positions.items()}

    def _allowed(self, article: str | None) -> np.ndarray | None:
        """The passage positions of one article, or None for the whole corpus."""
        if article is None:
            return None
        if article not in self._index.articles:
            known = ", ".join(sorted(self._index.articles))
            raise QueryError(f"there is no article {article!r}; the articles are: {known}")
        return self._by_article.get(article, np.zeros(0, dtype=np.int64))

    def _dense_search(
        self, vector: np.ndarray, n: int, allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """FAISS search, restricted by an id selector to one article's passages when asked."""
        query = np.ascontiguousarray(vector, dtype=np.float32)
        if allowed is None:
            return self._index.vectors.search(query, n)
        import faiss

        selector = faiss.IDSelectorBatch(allowed)
        params = search_parameters(self._index.vectors, selector)
        return self._index.vectors.search(query, n, params=params)

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
        """Rank the passages for a question, of one article only when `article` is given.
        `timings`, when given, receives the seconds each stage took (the benchmark's shares)."""
        allowed = self._allowed(article)
        clock = _Clock(timings)
        question, history = straighten(question), [straighten(h) for h in history]
        resolved = resolve(question, history) if options.follow_ups else None
        text = resolved.query if resolved else question
        queries = [(text, 1.0)]
        if resolved and resolved.follow_up and options.question_weight > 0:
            queries = [(text, 1.0 - options.question_weight), (question, options.question_weight)]
        if options.last_clause_weight:
            ask = last_clause(question)
            if ask:
                queries = [(t, w * (1.0 - options.last_clause_weight)) for t, w in queries]
                queries.append((ask, options.last_clause_weight))
        clock.lap("follow-up")
        vocabulary = self._index.vocabulary
        if options.expand:
            queries = [(vocabulary.expand(t), w) for t, w in queries]
        text = queries[0][0]
        dense_texts = [
            vocabulary.without_shared(t) if options.strip_shared else t for t, _ in queries
        ]
        clock.lap("vocabulary")
        n = min(options.candidates, len(self._index.passages) if allowed is None else len(allowed))

        dense: dict[int, float] = {}
        if options.dense:
            vectors = self._embedder.embed(dense_texts)
            weights = np.array([w for _, w in queries], dtype=np.float32)
            vector = (weights[:, None] * vectors).sum(axis=0, keepdims=True)
            vector /= np.linalg.norm(vector) or 1.0
            clock.lap("embedding")
            scores, ids = self._dense_search(vector, n, allowed)
            dense = {int(i): float(s) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0}
            clock.lap("dense search")
        lexical: dict[int, float] = {}
        if options.lexical:
            all_scores = sum(w * self._index.lexical.scores(t) for t, w in queries)
            if allowed is not None:
                mask = np.full(len(all_scores), -np.inf, dtype=np.float32)
                mask[allowed] = 0.0
                all_scores = all_scores + mask
            top = np.argsort(-all_scores, kind="stable")[:n]
            lexical = {int(i): float(all_scores[i]) for i in top if all_scores[i] > 0}
            clock.lap("lexical")

        if options.dense and options.lexical:
            lists, weights = [dense, lexical], [options.dense_weight, options.lexical_weight]
            if options.fusion == "convex":
                fused = convex(lists, weights=weights)
            else:
                fused = rrf(lists, weights=weights, k=options.rrf_k)
        else:
            fused = dense or lexical
        asked = asked_types(question) if options.answer_type_bonus else frozenset()
        if asked:
            for i in fused:
                if asked & stated_types(self._index.passages[i].text):
                    fused[i] += options.answer_type_bonus
        if options.definition_bonus and asks_definition(question, vocabulary):
            for i in fused:
                if self._index.passages[i].position == 0:
                    fused[i] += options.definition_bonus
        if options.section_prior and resolved and resolved.follow_up and resolved.leaned_on:
            earlier = resolved.leaned_on
            # Found by its words (BM25) alone: no second embedding, however the history came
            # (an API client may send one this server never saw).
            before = replace(options, section_prior=0.0, dense=False)
            clock.lap("fusion")
            previous = self.search(
                earlier[-1], earlier[:-1], k=1, options=before, article=article, timings=timings
            )
            clock.restart()  # the earlier question's search counted its own stages
            if previous.hits and previous.lexical_scores:  # its words matched something
                section = self._index.passages[previous.hits[0].index].section
                for i in fused:
                    if self._index.passages[i].section == section:
                        fused[i] += options.section_prior
        if not fused:  # nothing matched lexically and dense is off: keep document order
            order = range(len(self._index.passages)) if allowed is None else allowed.tolist()
            fused = dict.fromkeys(list(order)[:n], 0.0)
        ordered = sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:k]
        hits = [Hit(i, s, dense.get(i), lexical.get(i)) for i, s in ordered]
        clock.lap("fusion")
        return Retrieval(
            hits=hits,
            query=text,
            follow_up=bool(resolved and resolved.follow_up),
            leaned_on=resolved.leaned_on if resolved else (),
            dense_scores=dense,
            lexical_scores=lexical,
        )


def with_options(base: RetrievalOptions, **changes: object) -> RetrievalOptions:
    return replace(base, **changes)
