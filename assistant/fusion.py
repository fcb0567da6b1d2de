"""Fuse ranked lists. Pure functions over `{passage index: score}` maps.

Reciprocal rank fusion (Cormack et al., 2009) uses ranks only, so it needs no calibration
between cosine similarities and BM25 scores; its constant k damps the weight of the very first
ranks. The convex combination uses the scores themselves after min-max normalisation, so a
clear winner in one list keeps its lead. Both were measured on the dev gold set (see README).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

RRF_K = 60
"""The constant of the original paper (Cormack et al.); kept for the eval command's comparison,
where k=5 was also measured (README, "Retrieval")."""


def ranks(scores: Mapping[int, float]) -> dict[int, int]:
    """1-based rank of each key by descending score (ties broken by key, for determinism)."""
    ordered = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    return {key: rank for rank, (key, _) in enumerate(ordered, start=1)}


def rrf(
    lists: Sequence[Mapping[int, float]],
    *,
    weights: Sequence[float] | None = None,
    k: int = RRF_K,
) -> dict[int, float]:
    """Weighted reciprocal rank fusion: sum of weight / (k + rank) over the lists a key is in."""
    weights = weights or [1.0] * len(lists)
    fused: dict[int, float] = {}
    for scores, weight in zip(lists, weights, strict=True):
        for key, rank in ranks(scores).items():
            fused[key] = fused.get(key, 0.0) + weight / (k + rank)
    return fused


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
