"""Fit the ranker to example questions: the adapter, the passage offsets, the history's
blend and the "not covered" vectors (what each is: `assistant.search.ranker`).

Training is softmax cross-entropy of each question against the candidate passages plus the
"not covered" vectors (scale `scale`), full batch with Adam: seconds on 2 cores, and
deterministic (seeded, on a fixed number of threads).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from assistant.search.ranker import Ranker, configured
from assistant.settings import TrainingSettings


@dataclass(frozen=True, slots=True)
class TrainingData:
    """Everything training needs, as arrays: question and context vectors (zero rows where
    there is no history), each example's answering passages (empty: out of scope), the
    passage vectors, and each example's sparse BM25 scores for the question and context."""

    questions: np.ndarray
    contexts: np.ndarray
    has_context: np.ndarray
    answers: tuple[tuple[int, ...], ...]
    passages: np.ndarray
    lexical: tuple[dict[int, float], ...]
    context_lexical: tuple[dict[float, dict[int, float]], ...]
    """For a follow-up: its BM25 candidates merged with its conversation's, by context weight."""

    def __len__(self) -> int:
        return len(self.answers)

    def subset(self, rows: np.ndarray) -> TrainingData:
        return TrainingData(
            self.questions[rows],
            self.contexts[rows],
            self.has_context[rows],
            tuple(self.answers[i] for i in rows),
            self.passages,
            tuple(self.lexical[i] for i in rows),
            tuple(self.context_lexical[i] for i in rows),
        )


@dataclass(frozen=True, slots=True)
class Fitted:
    passages: np.ndarray | None
    adapter: np.ndarray
    not_covered: np.ndarray | None
    blend: float


def _candidates(data: TrainingData, settings: TrainingSettings) -> np.ndarray:
    """The passages each training step scores: all of them in a small library; in a large one
    the gold passages and every question's nearest passages by the untrained model."""
    count = len(data.passages)
    if count <= settings.max_softmax_passages:
        return np.arange(count)
    chosen = {i for answers in data.answers for i in answers}
    for start in range(0, len(data), 256):
        scores = data.questions[start : start + 256] @ data.passages.T
        top = np.argpartition(-scores, settings.candidates, axis=1)[:, : settings.candidates]
        chosen.update(int(i) for i in top.ravel())
    return np.array(sorted(chosen))


def fit(data: TrainingData, settings: TrainingSettings) -> Fitted:
    """Train the adapter, the history blend and the "not covered" vector; deterministic."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(settings.threads)  # the same sums in the same order, the same artefact
    # Gradients of a nearly trained adapter reach subnormal floats, which the CPU computes
    # tens of times slower (measured: 4.4 s against 0.6 s for 60 steps of a small set).
    torch.set_flush_denormal(True)
    try:
        torch.manual_seed(settings.seed)
        candidates = _candidates(data, settings)
        position = {int(p): i for i, p in enumerate(candidates)}
        passages = torch.from_numpy(np.ascontiguousarray(data.passages[candidates]))
        x = torch.from_numpy(np.ascontiguousarray(data.questions))
        c = torch.from_numpy(np.ascontiguousarray(data.contexts))
        n, d = x.shape
        outside = [i for i, a in enumerate(data.answers) if not a]
        kinds = settings.not_covered_vectors
        target = torch.zeros((n, len(candidates) + kinds), dtype=torch.bool)
        for row, answers in enumerate(data.answers):
            if answers:
                target[row, [position[a] for a in answers]] = True
            else:
                target[row, len(candidates) :] = True
        weights = torch.zeros((d, d), dtype=torch.float32, requires_grad=True)
        blend = torch.tensor(settings.blend_start, dtype=torch.float32, requires_grad=True)
        start = x[outside].mean(dim=0) if outside else torch.zeros(d)
        # k vectors spread (by the seed) around the mean out-of-scope question: training pulls
        # each towards a kind of question the articles do not cover
        spread = 0.05 * torch.randn((kinds, d)) if kinds > 1 else torch.zeros((1, d))
        start = start[None, :] + spread
        not_covered = (start / (start.norm(dim=1, keepdim=True) + 1e-12)).requires_grad_(True)
        params = [weights, blend] + ([not_covered] if outside else [])
        offsets = None
        if settings.passage_l2 > 0:
            offsets = torch.zeros(passages.shape, dtype=torch.float32, requires_grad=True)
            params.append(offsets)
        optimiser = torch.optim.Adam(params, lr=settings.learning_rate)
        for _ in range(settings.steps):
            optimiser.zero_grad()
            m = x + blend * c
            q = torch.nn.functional.normalize(m + m @ weights, dim=1)
            shown = (
                passages
                if offsets is None
                else torch.nn.functional.normalize(passages + offsets, dim=1)
            )
            logits = q @ shown.T
            if outside:
                nc = torch.nn.functional.normalize(not_covered, dim=1)
                logits = torch.cat([logits, q @ nc.T], dim=1)
                mask = target
            else:
                mask = target[:, : len(candidates)]
            log_p = torch.log_softmax(settings.scale * logits, dim=1)
            picked = torch.logsumexp(log_p.masked_fill(~mask, float("-inf")), dim=1)
            rows = mask.any(dim=1)
            loss = -picked[rows].mean() + settings.l2 * (weights**2).sum()
            if offsets is not None:
                loss = loss + settings.passage_l2 * (offsets**2).sum()
            loss.backward()
            optimiser.step()
        nc_out = None
        if outside:
            nc_out = torch.nn.functional.normalize(not_covered.detach(), dim=1).numpy()
        adapted = None
        if offsets is not None:
            full = data.passages.copy()
            full[candidates] = full[candidates] + offsets.detach().numpy()
            adapted = (full / np.linalg.norm(full, axis=1, keepdims=True)).astype(np.float32)
        return Fitted(
            passages=adapted,
            adapter=weights.detach().numpy().astype(np.float32),
            not_covered=None if nc_out is None else nc_out.astype(np.float32),
            blend=float(blend.detach()),
        )
    finally:
        torch.set_num_threads(threads)
        torch.set_flush_denormal(False)


def as_ranker(fitted: Fitted, settings: TrainingSettings, **chosen: Any) -> Ranker:
    """The ranker of what was fitted, with the fusion weights and threshold `chosen`."""
    return configured(
        settings,
        adapter=fitted.adapter,
        not_covered=fitted.not_covered,
        blend=fitted.blend,
        lexical_weight=float(chosen.get("lexical_weight") or 0.0),
        context_lexical_weight=float(chosen.get("context_lexical_weight") or 0.0),
        threshold=chosen.get("threshold"),
        trained=True,
        passages=fitted.passages,
    )
