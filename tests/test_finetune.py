"""`build --fine-tune` with the real model and sentence-transformers' trainer, on the small
synthetic corpus so that it takes seconds: the version carries the fine-tuned model and serves
with it, with its provenance, and an unchanged rebuild reuses it."""

from __future__ import annotations

import shutil

import pytest

from assistant.build import build_corpus
from assistant.engine import Engine
from assistant.settings import FineTuneSettings, TrainingSettings
from assistant.store.directory import MODEL_DIR
from tests.conftest import FIXTURES

pytestmark = [pytest.mark.slow, pytest.mark.model]

QUICK = TrainingSettings(steps=30, folds=2)


def test_a_fine_tuned_version_carries_its_model_and_serves_with_it(embedder, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    source = FIXTURES / "markdown"
    for name in ("synthetic-condition-a.md", "synthetic-condition-b.md"):
        shutil.copy(source / name, corpus / name)
    shutil.copytree(source / "examples", corpus / "examples")
    index_dir = tmp_path / "index"
    settings = FineTuneSettings(epochs=1, batch_size=8)

    loaded = build_corpus(corpus, embedder, index_dir, training=QUICK, fine_tune=settings)
    provenance = loaded.manifest.fine_tuned
    assert provenance["base_weights_sha256"] == embedder.info.weights_sha256
    assert provenance["examples"] == 19 and provenance["reused"] is False
    assert (loaded.path / MODEL_DIR / "model.safetensors").is_file()
    assert loaded.manifest.model.weights_sha256 != embedder.info.weights_sha256
    assert loaded.manifest.files[f"{MODEL_DIR}/model.safetensors"]  # sealed with the rest

    engine = Engine.open(index_dir, embedder)
    assert engine.embedder.info.weights_sha256 == loaded.manifest.model.weights_sha256
    answer = engine.ask("How long does STCB last?")
    assert answer.passages[0].passage.article_id == "synthetic-condition-b"

    again = build_corpus(corpus, embedder, index_dir, training=QUICK, fine_tune=settings)
    assert again.manifest.fine_tuned["reused"] is True
    assert again.manifest.model.weights_sha256 == loaded.manifest.model.weights_sha256
