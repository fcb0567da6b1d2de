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
    groups: np.ndarray | None = None
    """Each example's article (0, 1, ...; -1 out of scope), for balancing the articles; None:
    every example weighs the same."""
    derived: np.ndarray | None = None
    """True for a question derived from a passage's own words (`assistant.ingest.derived`):
    trained on in every fold at `derived_weight`, never scored."""
    passage_groups: np.ndarray | None = None
    """Each passage's article, for the per-article offsets."""

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
            None if self.groups is None else self.groups[rows],
            None if self.derived is None else self.derived[rows],
            self.passage_groups,
        )

    def is_derived(self) -> np.ndarray:
        return np.zeros(len(self), dtype=bool) if self.derived is None else self.derived


def example_weights(data: TrainingData, settings: TrainingSettings) -> np.ndarray:
    """Each example's weight in the loss: an article's (or the out-of-scope file's) examples
    weigh count^-article_balance each, so that at 1 every article counts alike however many
    examples it has; the written examples' weights average 1, and a derived question weighs
    `derived_weight`."""
    derived = data.is_derived()
    weights = np.ones(len(data), dtype=np.float64)
    if data.groups is not None and settings.article_balance > 0:
        written = ~derived
        groups, counts = np.unique(data.groups[written], return_counts=True)
        size = dict(zip(groups.tolist(), counts.tolist(), strict=True))
        weights = np.array(
            [float(size.get(int(g), 1)) ** -settings.article_balance for g in data.groups]
        )
        if written.any():
            weights = weights / weights[written].mean()
    weights[derived] = settings.derived_weight
    return weights.astype(np.float32)


def offset_l2(
    data: TrainingData, candidates: np.ndarray, weights: np.ndarray, settings: TrainingSettings
) -> np.ndarray:
    """The L2 weight of each candidate passage's offset: `passage_l2`, times (its share of the
    in-scope examples' weight x the number of passages) ** `offset_l2_by_examples` where that
    is above 1, so that a passage with many examples cannot move far towards generic
    questions and take them from passages with few."""
    base = np.full(len(candidates), settings.passage_l2, dtype=np.float32)
    if settings.offset_l2_by_examples <= 0:
        return base
    position = {int(p): i for i, p in enumerate(candidates)}
    share = np.zeros(len(candidates), dtype=np.float64)
    derived = data.is_derived()
    for row, answers in enumerate(data.answers):
        if answers and not derived[row]:
            for a in answers:
                share[position[a]] += weights[row] / len(answers)
    if share.sum() <= 0:
        return base
    relative = np.maximum(share / share.sum() * len(candidates), 1.0)
    return (base * relative**settings.offset_l2_by_examples).astype(np.float32)


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
        article_offsets = None
        if settings.article_l2 > 0 and data.passage_groups is not None:
            groups = torch.from_numpy(data.passage_groups[candidates].astype(np.int64))
            article_offsets = torch.zeros(
                (int(data.passage_groups.max()) + 1, d), dtype=torch.float32, requires_grad=True
            )
            params.append(article_offsets)
        row_weights = torch.from_numpy(example_weights(data, settings))
        l2s = torch.from_numpy(offset_l2(data, candidates, row_weights.numpy(), settings))
        optimiser = torch.optim.Adam(params, lr=settings.learning_rate)
        for _ in range(settings.steps):
            optimiser.zero_grad()
            m = x + blend * c
            q = torch.nn.functional.normalize(m + m @ weights, dim=1)
            moved = passages if offsets is None else passages + offsets
            if article_offsets is not None:
                moved = moved + article_offsets[groups]
            shown = moved if moved is passages else torch.nn.functional.normalize(moved, dim=1)
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
            w = row_weights[rows]
            loss = -(w * picked[rows]).sum() / w.sum() + settings.l2 * (weights**2).sum()
            if offsets is not None:
                loss = loss + (l2s[:, None] * offsets**2).sum()
            if article_offsets is not None:
                loss = loss + settings.article_l2 * (article_offsets**2).sum()
            loss.backward()
            optimiser.step()
        nc_out = None
        if outside:
            nc_out = torch.nn.functional.normalize(not_covered.detach(), dim=1).numpy()
        adapted = None
        if offsets is not None or article_offsets is not None:
            full = data.passages.copy()
            if offsets is not None:
                full[candidates] = full[candidates] + offsets.detach().numpy()
            if article_offsets is not None:
                full = full + article_offsets.detach().numpy()[data.passage_groups]
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
