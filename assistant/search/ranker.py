"""The learned ranker: a query adapter and a "not covered" decision, trained on example questions.

A general embedding model places "IVIg dose for CIDP?" close to the article's MMN dosing
bullet: the words match. The article's example questions say which passage answers what and
which questions no article answers, so the build learns, per index version:

- a residual linear **query adapter**: q' = normalize(m + m·W), m = e(question) + b·e(history),
  W (d×d) starting at 0 and b a learned weight of the conversation before the question;
- an **offset for each passage's vector**, so that a passage moves towards its questions;
- `not_covered_vectors` **"not covered" vectors**, scored like passages; the out-of-scope
  examples target them;
- from k-fold cross-validation over the examples: the weights that fuse BM25 with the adapted
  dense scores, and the decline threshold on the margin (best "not covered" vector·q' - best
  passage·q'), chosen so that at most `max_wrong_declines` of in-scope questions are declined.

Training is softmax cross-entropy of each question against the candidate passages plus the
"not covered" vectors (scale `scale`), full batch with Adam: seconds on 2 cores. Every number
this module fits is stored in the index version (`ranker/`), none in code.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from assistant.search.fusion import convex
from assistant.settings import TrainingSettings

RANKER_FORMAT = 1
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})


def straighten(text: str) -> str:
    """Typographic quotes as typed on a phone ("What\u2019s MMN?") read as plain ones."""
    return text.translate(_QUOTES)


class Expander(Protocol):
    def expand(self, query: str) -> str: ...


def query_texts(
    question: str, history: Sequence[str], turns: int, vocabulary: Expander | None = None
) -> tuple[str, str | None]:
    """The text searched for a question and, for a follow-up, for the conversation before it
    (its last `turns` earlier questions), each followed by the vocabulary's bridges to the
    article's words when a vocabulary is given. Training reads examples through this same
    function, so what is learnt is what is served."""
    earlier = [straighten(h) for h in history[-turns:]] if turns else []
    text, context = straighten(question), (" ".join(earlier) if earlier else None)
    if vocabulary is not None:
        text = vocabulary.expand(text)
        context = vocabulary.expand(context) if context else None
    return text, context


@dataclass(frozen=True, slots=True)
class Ranker:
    """What a build learnt (or the untrained default): applied to every question."""

    adapter: np.ndarray | None
    """W, d×d; None when untrained (the identity)."""
    not_covered: np.ndarray | None
    """The unit "not covered" vectors (k×d); None when no out-of-scope examples were given."""
    blend: float
    lexical_weight: float
    context_lexical_weight: float
    threshold: float | None
    """Decline when not_covered·q' - best·q' is at least this; None: never by the margin."""
    relevant_margin: float
    history_turns: int
    candidates: int
    trained: bool
    expand: bool = True
    passages: np.ndarray | None = None
    """The passages' vectors with their learnt offsets (unit length); None: the model's own."""
    floor: float | None = None
    """Untrained only: decline when the best cosine is below this."""

    def query_vector(self, question: np.ndarray, context: np.ndarray | None) -> np.ndarray:
        """The adapted, unit-length query vector from the question's and history's vectors."""
        m: np.ndarray = question.astype(np.float32, copy=True)
        if context is not None:
            m = m + self.blend * context
        if self.adapter is not None:
            m = m + m @ self.adapter
        norm = float(np.linalg.norm(m)) or 1.0
        return (m / norm).astype(np.float32)

    def margin(self, query: np.ndarray, best: float) -> float | None:
        if self.not_covered is None:
            return None
        return float((self.not_covered @ query).max()) - best

    def declines(self, margin: float | None, best: float) -> bool:
        """Whether no passage answers, from `margin(query, best)`: by the learnt threshold, or
        without one by the floor."""
        if margin is not None and self.threshold is not None:
            return margin >= self.threshold
        return self.floor is not None and best < self.floor

    def fuse(self, dense: dict[int, float], lexical: dict[int, float]) -> dict[int, float]:
        """Adapted dense scores fused with BM25 scores (each min-max normalised)."""
        return fuse(dense, lexical, self.lexical_weight)


def fuse(dense: dict[int, float], lexical: dict[int, float], weight: float) -> dict[int, float]:
    """Dense scores fused with lexical ones at `weight`: serving and cross-validation share it."""
    if not lexical or weight <= 0:
        return dict(dense)
    if not dense:
        return dict(lexical)
    return convex([dense, lexical], weights=[1.0, weight])


def top_scores(scores: np.ndarray, n: int, *, positive: bool = False) -> dict[int, float]:
    """The `n` best of `scores` by position (only those above 0 when `positive`: BM25's
    non-matches)."""
    n = min(n, len(scores))
    if not n:
        return {}
    top = np.argpartition(-scores, n - 1)[:n]
    return {int(i): float(scores[i]) for i in top if not positive or scores[i] > 0}


def untrained(settings: TrainingSettings | None = None) -> Ranker:
    """The ranker of a build without examples: the model's own vectors, BM25 at a fixed weight
    (the one the examples chose before there were adapters: 0.5), no learned decline."""
    settings = settings or TrainingSettings()
    return _ranker(
        settings,
        adapter=None,
        not_covered=None,
        blend=settings.blend_start,
        lexical_weight=0.5,
        context_lexical_weight=0.5,
        threshold=None,
        trained=False,
        floor=settings.untrained_floor,
    )


def _ranker(settings: TrainingSettings, **learnt: Any) -> Ranker:
    """A ranker with what the settings decide (how much history, how many candidates, ...)
    and what was learnt (or not)."""
    return Ranker(
        relevant_margin=settings.relevant_margin,
        history_turns=settings.history_turns,
        candidates=settings.candidates,
        expand=settings.expand,
        **learnt,
    )


# --- training -------------------------------------------------------------------------------


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
    context_lexical: tuple[dict[int, float], ...]

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


def _as_ranker(fitted: Fitted, settings: TrainingSettings, **chosen: float | None) -> Ranker:
    return _ranker(
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


@dataclass(frozen=True, slots=True)
class Scored:
    """One held-out example scored by a ranker trained without it."""

    answers: tuple[int, ...]
    dense: dict[int, float]
    lexical: dict[int, float]
    context_lexical: dict[int, float]
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


def _lexical(item: Scored, context_weight: float, n: int) -> dict[int, float]:
    merged = dict(item.lexical)
    if context_weight:
        for i, s in item.context_lexical.items():
            merged[i] = merged.get(i, 0.0) + context_weight * s
    if len(merged) > n:
        merged = dict(sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))[:n])
    return merged


def rank_of(fused: dict[int, float], answers: tuple[int, ...]) -> int | None:
    ordered = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))
    return next((r for r, (i, _) in enumerate(ordered, start=1) if i in answers), None)


def figures(
    scored: Sequence[Scored],
    lexical_weight: float,
    context_weight: float,
    threshold: float | None,
    candidates: int,
) -> dict[str, float | int | None]:
    """hit@1, hit@3, MRR, declined and wrongly declined over scored examples."""
    ranks, declined_in, declined_out = [], [], []
    for item in scored:
        declined = item.margin is not None and threshold is not None and item.margin >= threshold
        if not item.answers:
            declined_out.append(declined)
            continue
        declined_in.append(declined)
        fused = fuse(item.dense, _lexical(item, context_weight, candidates), lexical_weight)
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
    above = inside[allowed - 1] if allowed else inside[0] + 0.05
    return round((inside[allowed] + above) / 2, 6)


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
) -> Trained:
    """Cross-validate, choose the fusion weights and the decline threshold on the held-out
    scores, then train on every example."""
    settings = settings or TrainingSettings()
    folds = folds_of(keys, settings.folds)
    held_out: list[Scored | None] = [None] * len(data)
    for fold in range(settings.folds):
        test = np.flatnonzero(folds == fold)
        train_rows = np.flatnonzero(folds != fold)
        if not len(test) or not any(data.answers[i] for i in train_rows):
            continue
        if progress:
            progress(f"cross-validation fold {fold + 1}/{settings.folds}")
        fitted = fit(data.subset(train_rows), settings)
        ranker = _as_ranker(fitted, settings)
        for row, item in zip(test, score(ranker, data, test), strict=True):
            held_out[row] = item
    scored = [s for s in held_out if s is not None]
    best: tuple[float, float, float] | None = None
    for lw in settings.lexical_grid:
        for cw in settings.context_lexical_grid if lw else (0.0,):
            mrr = figures(scored, lw, cw, None, settings.candidates)["mrr"] or 0.0
            if best is None or mrr > best[0] + 1e-9:
                best = (mrr, lw, cw)
    _, lexical_weight, context_weight = best or (0.0, 0.0, 0.0)
    threshold = choose_threshold(scored, settings.max_wrong_declines)
    cv = figures(scored, lexical_weight, context_weight, threshold, settings.candidates)
    if progress:
        progress("training on every example")
    fitted = fit(data, settings)
    ranker = _as_ranker(
        fitted,
        settings,
        lexical_weight=lexical_weight,
        context_lexical_weight=context_weight,
        threshold=threshold,
    )
    return Trained(ranker, {"folds": settings.folds, **cv}, scored)


# --- storage --------------------------------------------------------------------------------


def save(ranker: Ranker, directory: Path) -> None:
    """Write the ranker's arrays and choices; byte-for-byte the same for the same ranker."""
    directory.mkdir(parents=True, exist_ok=True)
    if ranker.adapter is not None:
        np.save(directory / "adapter.npy", ranker.adapter, allow_pickle=False)
    if ranker.not_covered is not None:
        np.save(directory / "not_covered.npy", ranker.not_covered, allow_pickle=False)
    choices = {
        "format": RANKER_FORMAT,
        "trained": ranker.trained,
        "blend": ranker.blend,
        "lexical_weight": ranker.lexical_weight,
        "context_lexical_weight": ranker.context_lexical_weight,
        "threshold": ranker.threshold,
        "relevant_margin": ranker.relevant_margin,
        "history_turns": ranker.history_turns,
        "candidates": ranker.candidates,
        "expand": ranker.expand,
    }
    (directory / "ranker.json").write_text(json.dumps(choices, indent=1, sort_keys=True) + "\n")


def load(directory: Path) -> Ranker:
    choices = json.loads((directory / "ranker.json").read_text(encoding="utf-8"))
    if choices.get("format") != RANKER_FORMAT:
        raise ValueError(f"ranker format {choices.get('format')} is not {RANKER_FORMAT}")
    adapter = directory / "adapter.npy"
    not_covered = directory / "not_covered.npy"
    return Ranker(
        adapter=np.load(adapter, allow_pickle=False) if adapter.is_file() else None,
        not_covered=np.load(not_covered, allow_pickle=False) if not_covered.is_file() else None,
        blend=float(choices["blend"]),
        lexical_weight=float(choices["lexical_weight"]),
        context_lexical_weight=float(choices["context_lexical_weight"]),
        threshold=None if choices["threshold"] is None else float(choices["threshold"]),
        relevant_margin=float(choices["relevant_margin"]),
        history_turns=int(choices["history_turns"]),
        candidates=int(choices["candidates"]),
        trained=bool(choices["trained"]),
        expand=bool(choices.get("expand", True)),
    )


def artefact_sha256(directory: Path, passages: np.ndarray | None) -> str:
    """One hash for what training produced: the ranker's files and the passage vectors it
    learnt (which the version's FAISS index holds)."""
    digest = hashlib.sha256()
    for path in sorted(directory.iterdir()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    if passages is not None:
        digest.update(b"passages\0" + np.ascontiguousarray(passages, dtype=np.float32).tobytes())
    return digest.hexdigest()


def settings_json(settings: TrainingSettings) -> dict:
    return asdict(settings)
