"""Settings shared by the CLI and the web app, read from `MMN_*` environment variables."""

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
