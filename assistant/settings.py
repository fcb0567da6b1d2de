"""Settings in one place: the CLI's and the web app's (`MMN_*` environment variables), and
the ranker's training. The training settings are the project's tuned numbers; what training
fits from them (weights, thresholds) is stored in each index version, never here."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

ENV_PREFIX = "MMN_"


def _env_path(name: str, default: str) -> Path:
    return Path(os.environ.get(ENV_PREFIX + name, default))


def _env_flag(name: str) -> bool:
    return os.environ.get(ENV_PREFIX + name, "").strip().lower() in ("1", "true", "yes")


@dataclass(frozen=True, slots=True)
class Settings:
    corpus_dir: Path = field(default_factory=lambda: _env_path("CORPUS_DIR", "corpus"))
    """Where the article files (and synonyms) live."""
    index_dir: Path = field(default_factory=lambda: _env_path("INDEX_DIR", "index"))
    """Where built index versions are written and read."""
    model_path: Path | None = field(
        default_factory=lambda: Path(p) if (p := os.environ.get(ENV_PREFIX + "MODEL")) else None
    )
    """A local sentence-transformers model directory; None means the packaged all-MiniLM-L6-v2."""
    log_questions: bool = field(default_factory=lambda: _env_flag("LOG_QUESTIONS"))
    """Put each question's text in the server's request log (`MMN_LOG_QUESTIONS=1`), for
    debugging only: questions may carry patient details, so the log leaves them out by default."""


@dataclass(frozen=True, slots=True)
class TrainingSettings:
    """How the ranker is trained; recorded in the manifest with the figures it gave."""

    seed: int = 13
    steps: int = 200
    learning_rate: float = 1.5e-3
    scale: float = 20.0
    l2: float = 0.01
    not_covered_vectors: int = 16
    """How many "not covered" vectors: out-of-scope questions are of many kinds."""
    threads: int = 2
    """Training threads: fixed, so the same inputs give the same sums and the same artefact."""
    passage_l2: float = 0.01
    """Above 0, each passage also learns an offset to its vector (L2 weight on the offsets)."""
    blend_start: float = 0.3
    """Initial weight of the history's vector in a follow-up's query (then learned)."""
    folds: int = 5
    max_wrong_declines: float = 0.015
    """The share of in-scope examples the decline threshold may decline in cross-validation:
    under the 2% a clinician tolerates, because a threshold fitted on about 800 questions
    moves by about a point on new ones."""
    history_turns: int = 2
    """How many earlier questions make a follow-up's context."""
    expand: bool = True
    """Read questions with the vocabulary's bridges (abbreviations, the corpus's synonyms file,
    spelling): +0.04 hit@1 in cross-validation on examples written blind (docs/retrieval.md)."""
    candidates: int = 50
    """Passages taken from each of dense and lexical search before fusion."""
    max_softmax_passages: int = 4096
    """Up to this many passages, every passage is a negative in training; beyond it, each
    question's gold passages and its nearest passages are."""
    lexical_grid: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0)
    context_lexical_grid: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0)
    relevant_margin: float = 0.12
    """A passage is labelled relevant when its adapted cosine is within this of the best."""
    untrained_floor: float = 0.3
    """Without examples nothing is learnt about declining: a question whose best cosine with
    any passage is below this is declined (all-MiniLM-L6-v2 gives unrelated English about 0.1)."""


@dataclass(frozen=True, slots=True)
class FineTuneSettings:
    epochs: int = 2
    batch_size: int = 16
    learning_rate: float = 3e-5
    warmup_ratio: float = 0.1
    seed: int = 13
    history_turns: int = 2
