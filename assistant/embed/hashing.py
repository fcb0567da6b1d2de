"""The SHA-256 of a file, read in blocks: weights and exports are checked by it. Its own module
so that the model seam and the ONNX runner both use it without importing each other."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
