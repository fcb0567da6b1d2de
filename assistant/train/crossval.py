"""Cross-validation over the examples: each is scored by a ranker trained without it, and on
those held-out scores the build chooses the BM25 fusion weights and the decline threshold,
then trains on every example.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from assistant.search.ranker import Ranker, fuse, top_scores
from assistant.settings import TrainingSettings
from assistant.train.fitting import TrainingData, as_ranker, fit


@dataclass(frozen=True, slots=True)
class Scored:
    """One held-out example scored by a ranker trained without it."""

    answers: tuple[int, ...]
    dense: dict[int, float]
    lexical: dict[int, float]
    context_lexical: dict[float, dict[int, float]]
    margin: float | None


def score(ranker: Ranker, data: TrainingData, rows: Sequence[int] | np.ndarray) -> list[Scored]:
    """Score examples with a ranker, as a question is scored when served."""
    out = []
    for row in rows:
        context = data.contexts[row] if data.has_context[row] else None
        q = ranker.query_vector(data.questions[row], context)
        sims = (data.passages if ranker.passages is None else ranker.passages) @ q
        dense = top_scores(sims, ranker.candidates)
        out.append(
            Scored(
                answers=data.answers[row],
                dense=dense,
                lexical=data.lexical[row],
                context_lexical=data.context_lexical[row],
                margin=ranker.margin(q, float(sims.max())),
            )
        )
    return out


def rank_of(fused: dict[int, float], answers: tuple[int, ...]) -> int | None:
    ordered = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))
    return next((r for r, (i, _) in enumerate(ordered, start=1) if i in answers), None)


def figures(
    scored: Sequence[Scored],
    lexical_weight: float,
    context_weight: float,
    threshold: float | None,
) -> dict[str, float | int | None]:
    """hit@1, hit@3, MRR, declined and wrongly declined over scored examples."""
    ranks, declined_in, declined_out = [], [], []
    for item in scored:
        declined = item.margin is not None and threshold is not None and item.margin >= threshold
        if not item.answers:
            declined_out.append(declined)
            continue
        declined_in.append(declined)
        fused = fuse(
            item.dense,
            item.context_lexical[context_weight]
            if context_weight and item.context_lexical
            else item.lexical,
            lexical_weight,
        )
        ranks.append(rank_of(fused, item.answers))

    def share(values: list[bool]) -> float | None:
        return round(sum(values) / len(values), 4) if values else None

    return {
        "questions": len(ranks),
        "out_of_scope_questions": len(declined_out),
        "hit@1": share([r == 1 for r in ranks]),
        "hit@3": share([r is not None and r <= 3 for r in ranks]),
        "mrr": round(sum(1 / r for r in ranks if r) / len(ranks), 4) if ranks else None,
        "declined_out_of_scope": share(declined_out),
        "wrongly_declined": share(declined_in),
    }


def choose_threshold(scored: Sequence[Scored], max_wrong: float) -> float | None:
    """The lowest margin threshold that declines at most `max_wrong` of in-scope examples."""
    inside = sorted((s.margin for s in scored if s.answers and s.margin is not None), reverse=True)
    if not inside or not any(not s.answers for s in scored):
        return None
    allowed = int(max_wrong * len(inside))
    if allowed >= len(inside):
        return float("-inf")
    # declined from the threshold up, so it lies strictly above the first margin kept: margins
    # tied with it are kept too (fewer declined, never more than allowed)
    kept = inside[allowed]
    above = next((m for m in reversed(inside[:allowed]) if m > kept), kept + 0.05)
    return max(round((kept + above) / 2, 6), math.nextafter(kept, math.inf))


def folds_of(examples_keys: Sequence[str], k: int) -> np.ndarray:
    """A fold for each example from the hash of its text: stable when others are added."""
    return np.array(
        [int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % k for key in examples_keys]
    )


@dataclass(frozen=True, slots=True)
class Trained:
    ranker: Ranker
    cross_validation: dict
    out_of_fold: list[Scored]


def train(
    data: TrainingData,
    keys: Sequence[str],
    settings: TrainingSettings | None = None,
    *,
    progress: Callable[[str], None] | None = None,
    writers: Sequence[str] = (),
) -> Trained:
    """Cross-validate, choose the fusion weights and the decline threshold on the held-out
    scores, then train on every example. `writers` (who wrote each example) splits the
    cross-validated figures by writer, so a voice the examples serve badly shows."""
    settings = settings or TrainingSettings()
    folds = folds_of(keys, settings.folds)
    folds[data.is_derived()] = -1  # derived questions: trained on in every fold, never scored
    held_out: list[Scored | None] = [None] * len(data)
    for fold in range(settings.folds):
        test = np.flatnonzero(folds == fold)
        train_rows = np.flatnonzero(folds != fold)
        if not len(test) or not any(data.answers[i] for i in train_rows if folds[i] >= 0):
            continue
        if progress:
            progress(f"cross-validation fold {fold + 1}/{settings.folds}")
        fitted = fit(data.subset(train_rows), settings)
        ranker = as_ranker(fitted, settings)
        for row, item in zip(test, score(ranker, data, test), strict=True):
            held_out[row] = item
    scored = [s for s in held_out if s is not None]
    best: tuple[float, float, float] | None = None
    for lw in settings.lexical_grid:
        for cw in settings.context_lexical_grid if lw else (0.0,):
            mrr = figures(scored, lw, cw, None)["mrr"] or 0.0
            if best is None or mrr > best[0] + 1e-9:
                best = (mrr, lw, cw)
    _, lexical_weight, context_weight = best or (0.0, 0.0, 0.0)
    threshold = choose_threshold(scored, settings.max_wrong_declines)
    cv: dict[str, Any] = dict(figures(scored, lexical_weight, context_weight, threshold))
    if writers:
        by: dict[str, list[Scored]] = {}
        for at, held in enumerate(held_out):
            if held is not None:
                by.setdefault(writers[at] or "unnamed", []).append(held)
        cv["by_writer"] = {
            w: figures(items, lexical_weight, context_weight, threshold)
            for w, items in sorted(by.items())
        }
    if progress:
        progress("training on every example")
    fitted = fit(data, settings)
    ranker = as_ranker(
        fitted,
        settings,
        lexical_weight=lexical_weight,
        context_lexical_weight=context_weight,
        threshold=threshold,
    )
    return Trained(ranker, {"folds": settings.folds, **cv}, scored)
