"""The vocabulary's bridges as shifts of a question's vector, not words the model reads.

The vocabulary follows a question with bridges to the article's words ("Is Motrin safe?" gains
"(ibuprofen; NSAIDs)"). Read as text they cost the model a longer input (the median bridged
question: 21 tokens instead of 15), and the model's call is most of an answer's time. A bridge
comes from the vocabulary, a finite set, so a build can measure once how appending it moves a
question's vector: the mean, over a few generic questions (`TrainingSettings.shift_frames`), of
the vector with the bridge appended minus the vector without. Serving then runs the model on
the question as typed and adds each bridge's shift, scaled by the frames' length over the
question's (mean pooling dilutes what is appended to a longer text).

It is a likeness, not an identity: the attention between question and bridge is lost. On the
examples and dev questions, at weight 1 the shifted vectors come to a mean cosine of 0.95 with
the model's vector of the bridged text, against 0.91 for the question alone; the default
weight, 2, chosen so that the safety proposals still find their statements, gives 0.91 again
(`bench/options.py`, bench/README.md).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from assistant.embed.embedding import Embedder, token_counts
from assistant.embed.vectorcache import embed_with_cache
from assistant.settings import TrainingSettings

SHIFTS_FILE = "shifts.npy"
UNITS_FILE = "shifts.json"


def framed(unit: str, frames: Sequence[str]) -> list[str]:
    """The texts a bridge's shift is measured on: each frame with the bridge appended, as the
    vocabulary appends it to a question."""
    return [f"{frame} ({unit})" for frame in frames]


class Shifts:
    """Each bridge's shift (how appending it moves a generic question's unit vector)."""

    def __init__(
        self, units: Sequence[str], vectors: np.ndarray, frame_tokens: float, weight: float
    ) -> None:
        if len(units) != len(vectors):
            raise ValueError("shifts: one vector per bridge is needed")
        self.units = list(units)
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.frame_tokens = float(frame_tokens)
        """The frames' mean length in the model's tokens: a shift is measured at that length."""
        self.weight = float(weight)
        self._row = {u: i for i, u in enumerate(self.units)}

    @classmethod
    def measured(
        cls,
        units: Sequence[str],
        framed_vectors: np.ndarray,
        frame_vectors: np.ndarray,
        frame_tokens: Sequence[int],
        weight: float,
    ) -> Shifts:
        """From the vectors of `framed(unit, frames)` for every unit in order (`framed_vectors`,
        len(units) × len(frames) rows) and of the frames alone."""
        alone = np.asarray(frame_vectors, dtype=np.float32)
        moved = np.asarray(framed_vectors, dtype=np.float32)
        moved = moved.reshape(len(units), len(alone), alone.shape[1])
        vectors = (moved - alone[None]).mean(axis=1)
        return cls(units, vectors, float(np.mean(frame_tokens)), weight)

    def applied(self, vector: np.ndarray, tokens: int, units: Sequence[str]) -> np.ndarray:
        """The unit vector of a question read in `tokens` tokens, its bridges' shifts added."""
        if not units:
            return vector
        missing = [u for u in units if u not in self._row]
        if missing:
            raise KeyError(f"no shift was measured for the bridge(s) {missing}: rebuild the index")
        rows = [self._row[u] for u in units]
        scale = self.weight * self.frame_tokens / max(tokens, 1)
        moved = self.vectors[rows].sum(axis=0)
        total = np.asarray(vector, dtype=np.float32) + np.float32(scale) * moved
        norm = float(np.sqrt(total.dot(total))) or 1.0  # np.linalg.norm's sum, unchecked
        return (total / norm).astype(np.float32, copy=False)

    def save(self, directory: Path) -> None:
        np.save(directory / SHIFTS_FILE, self.vectors, allow_pickle=False)
        listed = {"units": self.units, "frame_tokens": self.frame_tokens, "weight": self.weight}
        (directory / UNITS_FILE).write_text(json.dumps(listed, indent=0) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> Shifts:
        listed = json.loads((directory / UNITS_FILE).read_text(encoding="utf-8"))
        vectors = np.load(directory / SHIFTS_FILE, allow_pickle=False)
        return cls(listed["units"], vectors, listed["frame_tokens"], listed["weight"])

    def __len__(self) -> int:
        return len(self.units)


def measure(
    units: Sequence[str],
    embedder: Embedder,
    cached: dict[str, np.ndarray],
    settings: TrainingSettings,
    *,
    progress: bool = False,
) -> tuple[Shifts, tuple[str, ...], np.ndarray]:
    """Each bridge's shift on the settings' frames, measured with `embedder` (a build), plus
    the texts' cache keys and vectors so that the next build embeds none of them again."""
    frames = list(settings.shift_frames)
    texts = list(dict.fromkeys(frames + [t for u in units for t in framed(u, frames)]))
    embedded = embed_with_cache(embedder, texts, cached, progress=progress)
    row = {t: i for i, t in enumerate(texts)}
    moved = embedded.vectors[[row[t] for u in units for t in framed(u, frames)]]
    alone = embedded.vectors[[row[f] for f in frames]]
    shifts = Shifts.measured(
        units, moved, alone, token_counts(embedder, frames), settings.shift_weight
    )
    return shifts, embedded.keys, embedded.vectors
