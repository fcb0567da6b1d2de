"""The ranker's files in a version's `ranker/` directory: written by training, read to serve.

`ranker.json` holds the choices (weights, threshold, how much history), `adapter.npy` and
`not_covered.npy` the learnt arrays, `shifts.npy` and `shifts.json` the bridges' shifts when
the build measured them (`assistant.search.shifts`). The learnt passage vectors live in the
version's FAISS index, and are hashed with these files into the artefact's SHA-256.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from assistant.search.ranker import Ranker
from assistant.search.shifts import UNITS_FILE, Shifts
from assistant.settings import TrainingSettings

RANKER_FORMAT = 1
SHIFTS_FORMAT = 2
"""A ranker trained with the bridges as shifts: code that predates them must refuse it, not
serve its adapter and threshold with the bridges read as text."""


def save(ranker: Ranker, directory: Path) -> None:
    """Write the ranker's arrays and choices; byte-for-byte the same for the same ranker."""
    directory.mkdir(parents=True, exist_ok=True)
    if ranker.adapter is not None:
        np.save(directory / "adapter.npy", ranker.adapter, allow_pickle=False)
    if ranker.not_covered is not None:
        np.save(directory / "not_covered.npy", ranker.not_covered, allow_pickle=False)
    if ranker.shifts is not None:
        ranker.shifts.save(directory)
    choices = {
        "format": RANKER_FORMAT if ranker.shifts is None else SHIFTS_FORMAT,
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
    if ranker.unmentioned_below is not None:  # an index built before it reads as before
        choices["unmentioned_below"] = ranker.unmentioned_below
    (directory / "ranker.json").write_text(json.dumps(choices, indent=1, sort_keys=True) + "\n")


def load(directory: Path) -> Ranker:
    choices = json.loads((directory / "ranker.json").read_text(encoding="utf-8"))
    if choices.get("format") not in (RANKER_FORMAT, SHIFTS_FORMAT):
        raise ValueError(f"ranker format {choices.get('format')} is not {RANKER_FORMAT}")
    shifted = choices.get("format") == SHIFTS_FORMAT
    if shifted != (directory / UNITS_FILE).is_file():
        raise ValueError(f"ranker format {choices['format']} and its files disagree: rebuild")
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
        shifts=Shifts.load(directory) if shifted else None,
        unmentioned_below=choices.get("unmentioned_below"),
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
    """The training settings as the manifest records them (and the reuse key hashes them)."""
    return asdict(settings)
