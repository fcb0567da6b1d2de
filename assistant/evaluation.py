"""Measure retrieval quality on a gold set: ranks, hit rates, MRR, nDCG, declines.

Gold format (JSON Lines, one question a line):
    {"id": "dev-001", "question": "IVIg dose?", "history": ["earlier question", ...],
     "gold": ["1.6-2.4 g/kg"], "out_of_scope": false, "tags": ["terse"]}
A returned passage is relevant when its text says a gold phrase in whole words, case and spacing
aside (`matching.phrase_pattern`, as the build reads examples). The figures are defined in
docs/using.md#measuring-retrieval-quality.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.engine import Engine
from assistant.errors import ArticleError, AssistantError, QueryError
from assistant.ingest.examples import normalise
from assistant.ingest.jsonlines import json_objects, strings, worded
from assistant.ingest.matching import holds, inside_words
from assistant.limits import Query
from assistant.search.retrieval import DEFAULT_OPTIONS, RetrievalOptions, ranker_for

RANK_DEPTH = 20
"""How deep a relevant passage is looked for when reporting its rank."""


@dataclass(frozen=True, slots=True)
class GoldItem:
    id: str
    question: str
    history: tuple[str, ...]
    gold: tuple[str, ...]
    out_of_scope: bool
    tags: tuple[str, ...] = ()


@dataclass(slots=True)
class ItemResult:
    item: GoldItem
    rank: int | None  # of the first relevant passage, within RANK_DEPTH; None if not found
    ndcg: float
    declined: bool
    top_text: str
    follow_up: bool
    answered_first: bool = False  # not declined, and the first passage shown (a lead-in with
    # the list it shows) says a gold phrase: what the clinician reads first answers them


@dataclass(slots=True)
class Report:
    name: str
    k: int
    results: list[ItemResult] = field(default_factory=list)
    declines: bool = True  # False: the variant never decides (no learnt threshold), so the
    # decline figures are not measured (None), not 0

    @property
    def in_scope(self) -> list[ItemResult]:
        return [r for r in self.results if not r.item.out_of_scope]

    @property
    def out_of_scope(self) -> list[ItemResult]:
        return [r for r in self.results if r.item.out_of_scope]

    def metrics(self, results: list[ItemResult] | None = None) -> dict[str, Any]:
        scope = [
            r for r in (results if results is not None else self.results) if not r.item.out_of_scope
        ]
        oos = [r for r in (results if results is not None else self.results) if r.item.out_of_scope]
        n = len(scope)

        def share(values: list[bool]) -> float | None:
            return round(sum(values) / len(values), 4) if values else None

        return {
            "questions": n,
            "out_of_scope_questions": len(oos),
            "hit@1": share([r.rank == 1 for r in scope]),
            "hit@3": share([r.rank is not None and r.rank <= 3 for r in scope]),
            f"hit@{self.k}": share([r.rank is not None and r.rank <= self.k for r in scope]),
            "mrr": round(sum(1 / r.rank for r in scope if r.rank) / n, 4) if n else None,
            f"ndcg@{self.k}": round(sum(r.ndcg for r in scope) / n, 4) if n else None,
            "declined_out_of_scope": share([r.declined for r in oos]) if self.declines else None,
            "wrongly_declined": share([r.declined for r in scope]) if self.declines else None,
            "answered@1": share([r.answered_first for r in scope]),
        }

    def misses(self) -> list[ItemResult]:
        """In-scope questions whose relevant passage is not first."""
        return [r for r in self.in_scope if r.rank != 1]

    def by_tag(self) -> dict[str, dict[str, Any]]:
        tags = sorted({t for r in self.results for t in r.item.tags})
        return {t: self.metrics([r for r in self.results if t in r.item.tags]) for t in tags}


GOLD_FIELDS = frozenset({"id", "question", "history", "gold", "out_of_scope", "tags"})
"""What a gold line may say; other fields are notes, but one a letter or two from these
("histroy", "out_of_scop") is refused: it would score a follow-up alone, or a question not
covered as answerable."""


def load_gold(path: Path) -> list[GoldItem]:
    """Read a gold file; a malformed line is an error naming the file and line. Fields are
    checked as the examples files are: a string where a list belongs would be read letter by
    letter and score a question it cannot answer. Two lines with one id are refused."""
    items: list[GoldItem] = []
    lines: dict[str, int] = {}
    asked: dict[tuple[str, tuple[str, ...]], tuple[GoldItem, int]] = {}
    for number, data in json_objects(path, GOLD_FIELDS, what="the gold file"):
        item = _gold_item(data, path, number)
        if item.id in lines:
            raise ArticleError(
                str(path), f"the id {item.id!r} is also on line {lines[item.id]}", line=number
            )
        before, line = asked.setdefault(_asked(item), (item, number))
        if before.out_of_scope != item.out_of_scope:  # one of the two can never be scored right
            raise ArticleError(
                str(path),
                f"{item.id!r} asks what {before.id!r} on line {line} asks, but one is out of "
                "scope and the other has gold phrases; keep one of the two",
                line=number,
            )
        lines[item.id] = number
        items.append(item)
    if not items:
        raise AssistantError(f"{path}: no gold items")
    return items


def _asked(item: GoldItem) -> tuple[str, tuple[str, ...]]:
    """The question and history as two lines count as the same (case and spacing aside)."""
    return normalise(item.question), tuple(normalise(h) for h in item.history)


def repeated(items: list[GoldItem]) -> list[tuple[str, str]]:
    """Pairs of ids that ask the same question after the same history: each counts in every
    figure, so a repeat weighs double (the warning `eval` prints; the test part has one)."""
    first: dict[tuple[str, tuple[str, ...]], str] = {}
    pairs = []
    for item in items:
        key = _asked(item)
        if key in first:
            pairs.append((first[key], item.id))
        first.setdefault(key, item.id)
    return pairs


def _gold_item(data: dict[str, Any], path: Path, line: int) -> GoldItem:
    def refuse(message: str) -> ArticleError:
        return ArticleError(str(path), message, line=line)

    ident, question = data.get("id"), data.get("question")
    if not isinstance(ident, str | int) or isinstance(ident, bool) or not str(ident).strip():
        raise refuse('"id" must be a non-empty string')
    if not isinstance(question, str):
        raise refuse('"question" must be a non-empty string')
    out_of_scope = data.get("out_of_scope", False)
    if not isinstance(out_of_scope, bool):
        raise refuse('"out_of_scope" must be true or false, without quotes')
    try:
        query = Query.read(question, strings(data, "history", "earlier questions", path, line))
    except QueryError as exc:
        raise refuse(str(exc)) from None
    gold = strings(data, "gold", "phrases", path, line)
    worded(gold, path, line)
    item = GoldItem(
        id=str(ident),
        question=query.question,
        history=query.history,
        gold=gold,
        out_of_scope=out_of_scope,
        tags=strings(data, "tags", "tags", path, line),
    )
    if not item.out_of_scope and not item.gold:
        raise refuse("an in-scope item needs gold phrases")
    if item.out_of_scope and item.gold:
        raise refuse('an out-of-scope item has "gold": [] (no passage answers it)')
    return item


def is_relevant(text: str, gold: tuple[str, ...]) -> bool:
    """Whether a passage text says any gold phrase (whole words, case and spacing aside)."""
    return any(holds(text, phrase) for phrase in gold)


def relevant_counts(items: list[GoldItem], texts: list[str]) -> dict[str, int]:
    """How many of the passages' `texts` hold a gold phrase of each item (by id)."""
    return {item.id: sum(is_relevant(t, item.gold) for t in texts) for item in items}


def unreachable(items: list[GoldItem], texts: list[str]) -> list[str]:
    """Ids of in-scope items whose gold phrases no passage contains: a typo, or a statement an
    edit reworded. They can only count as misses, so `eval` says so before its figures."""
    counts = relevant_counts(items, texts)
    return [item.id for item in items if not item.out_of_scope and not counts[item.id]]


def unsaid(items: list[GoldItem], texts: list[str]) -> dict[str, list[str]]:
    """Each in-scope item's gold phrases that no passage says, by id, with the longer words a
    phrase is found inside ("'exchange' is inside 'exchanges'"): a phrase that can never match
    scores nothing, even beside a sibling that does."""
    found: dict[str, list[str]] = {}
    for item in items:
        if item.out_of_scope:
            continue
        for phrase in item.gold:
            if not any(holds(t, phrase) for t in texts):
                inside = inside_words(texts, phrase)
                hint = f" (inside {', '.join(map(repr, inside))})" if inside else ""
                found.setdefault(item.id, []).append(f"{phrase!r}{hint}")
    return found


def evaluate(
    engine: Engine,
    items: list[GoldItem],
    *,
    k: int = 5,
    options: RetrievalOptions = DEFAULT_OPTIONS,
    name: str = "default",
) -> Report:
    """Run every gold question through the engine and score the ranking and the decline."""
    ranker = ranker_for(engine.ranker, options)
    report = Report(name=name, k=k, declines=options.dense and ranker.decides)
    counts = relevant_counts(items, [p.text for p in engine.index.passages])
    for item in items:
        depth = max(k, RANK_DEPTH)
        retrieval = engine.retrieve(item.question, item.history, depth, options=options)
        answer = engine.answer_from(item.question, item.history, retrieval, k)
        texts = [engine.index.passages[h.index].text for h in retrieval.hits]
        # BM25 alone that matched no word of the question falls back to the articles' order:
        # nothing was found, and that order is no ranking to credit
        found = options.dense or any(h.lexical is not None for h in retrieval.hits)
        flags = [found and is_relevant(t, item.gold) for t in texts]
        rank = next((i for i, f in enumerate(flags, start=1) if f), None)
        dcg = sum(1 / math.log2(i + 1) for i, f in enumerate(flags[:k], start=1) if f)
        first = answer.passages[0] if answer.passages else None
        shown = [first.passage.text, *(p.text for p in first.items)] if first else []
        ideal = sum(1 / math.log2(i + 1) for i in range(1, min(k, counts[item.id]) + 1))
        report.results.append(
            ItemResult(
                item=item,
                rank=rank,
                ndcg=dcg / ideal if ideal else 0.0,
                declined=not answer.answerable,
                top_text=texts[0] if texts else "",
                follow_up=retrieval.follow_up,
                answered_first=answer.answerable and any(is_relevant(t, item.gold) for t in shown),
            )
        )
    return report


def format_report(report: Report, *, show_misses: bool = True) -> str:
    m = report.metrics()
    k = report.k
    hits = "   ".join(f"hit@{n} {shown(m[f'hit@{n}'])}" for n in sorted({1, 3, k}))
    lines = [
        f"{report.name}: {m['questions']} in-scope, {m['out_of_scope_questions']} out-of-scope questions",
        f"  {hits}   MRR {shown(m['mrr'])}   nDCG@{k} {shown(m[f'ndcg@{k}'])}",
        f"  out-of-scope declined {percent(m['declined_out_of_scope'])}   "
        f"in-scope wrongly declined {percent(m['wrongly_declined'])}   "
        f"answered@1 {shown(m['answered@1'])}"
        if report.declines
        else f"  declines nothing (no learnt threshold)   answered@1 {shown(m['answered@1'])}",
    ]
    misses = report.misses()
    if show_misses and misses:
        lines.append(f"  relevant passage not first ({len(misses)}):")
        lines.append(f"    {'id':<10} {'rank':>4}  question  ->  top passage")
        for r in misses:
            rank = str(r.rank) if r.rank else f">{RANK_DEPTH}"
            history = f" [after: {' / '.join(r.item.history)}]" if r.item.history else ""
            lines.append(
                f"    {r.item.id:<10} {rank:>4}  {r.item.question}{history}  ->  {r.top_text[:70]}"
            )
    wrong = [r for r in report.in_scope if r.declined]
    if show_misses and wrong and report.declines:
        lines.append(f"  wrongly declined ({len(wrong)}): " + ", ".join(r.item.id for r in wrong))
    missed = [r for r in report.out_of_scope if not r.declined]
    if show_misses and missed and report.declines:
        lines.append(
            f"  out-of-scope answered ({len(missed)}): "
            + "; ".join(f"{r.item.id} {r.item.question}" for r in missed)
        )
    return "\n".join(lines)


def format_by_tag(report: Report) -> str:
    """One line a tag ("voice:pharmacist", "negation"), so a voice served badly shows."""
    head = f"  {'tag':<26} {'in':>4} {'hit@1':>6} {'hit@3':>6} {'MRR':>6} {'out':>4} {'declined':>9} {'wrongly':>8}"
    rows = [head]
    for tag, m in report.by_tag().items():
        rows.append(
            f"  {tag:<26} {m['questions']:>4} {shown(m['hit@1'], 6)} {shown(m['hit@3'], 6)} "
            f"{shown(m['mrr'], 6)} {m['out_of_scope_questions']:>4} "
            f"{percent(m['declined_out_of_scope']):>9} {percent(m['wrongly_declined']):>8}"
        )
    return "\n".join(rows)


def shown(value: float | None, width: int = 0) -> str:
    """A figure, or "n/a" where the gold set has no question it could be measured on."""
    return f"{'n/a' if value is None else f'{value:.3f}':>{width}}"


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def report_json(report: Report) -> dict[str, Any]:
    return {
        "name": report.name,
        "k": report.k,
        "metrics": report.metrics(),
        "by_tag": report.by_tag(),
        "not_first": [
            {
                "id": r.item.id,
                "question": r.item.question,
                "history": list(r.item.history),
                "rank": r.rank,
                "top": r.top_text,
            }
            for r in report.misses()
        ],
        "wrongly_declined": [r.item.id for r in report.in_scope if r.declined]
        if report.declines
        else None,
        "out_of_scope_answered": [r.item.id for r in report.out_of_scope if not r.declined]
        if report.declines
        else None,
        "results": [
            {
                "id": r.item.id,
                "out_of_scope": r.item.out_of_scope,
                "rank": r.rank,
                "ndcg": round(r.ndcg, 4),
                "declined": r.declined,
                "answered@1": r.answered_first,
                "follow_up": r.follow_up,
            }
            for r in report.results
        ],
    }
