"""Fuse ranked lists: a pure function over `{passage index: score}` maps.

The convex combination uses the scores themselves after min-max normalisation, so a clear
winner in one list keeps its lead; the weight of the lexical list is learnt per index version
by cross-validation over the example questions (`assistant.search.ranker`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def minmax(scores: Mapping[int, float]) -> dict[int, float]:
    """Scale scores to [0, 1]; a list whose scores are all equal carries no preference (all 0)."""
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    if high - low <= 1e-12:
        return dict.fromkeys(scores, 0.0)
    return {key: (value - low) / (high - low) for key, value in scores.items()}


def convex(
    lists: Sequence[Mapping[int, float]],
    *,
    weights: Sequence[float],
) -> dict[int, float]:
    """Weighted sum of min-max normalised scores; a key missing from a list scores 0 there."""
    fused: dict[int, float] = {}
    for scores, weight in zip(lists, weights, strict=True):
        for key, value in minmax(scores).items():
            fused[key] = fused.get(key, 0.0) + weight * value
    return fused
