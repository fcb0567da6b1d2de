"""`build --fine-tune` with the real model and sentence-transformers' trainer, on the small
synthetic corpus so that it takes seconds: the version carries the fine-tuned model and serves
with it, with its provenance, and an unchanged rebuild reuses it."""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path

import pytest

from assistant.build import build_corpus
from assistant.engine import Engine
from assistant.settings import FineTuneSettings, TrainingSettings
from assistant.store.directory import MODEL_DIR, published_version
from tests.conftest import FIXTURES, start_server, stop_server

pytestmark = [pytest.mark.slow, pytest.mark.model]

QUICK = TrainingSettings(steps=30, folds=2)
SETTINGS = FineTuneSettings(epochs=1, batch_size=8)


@pytest.fixture(scope="module")
def fine_tuned(embedder, tmp_path_factory):
    """The synthetic corpus and an index whose published version was built with --fine-tune."""
    corpus = tmp_path_factory.mktemp("fine-tune") / "corpus"
    corpus.mkdir()
    source = FIXTURES / "markdown"
    for name in ("synthetic-condition-a.md", "synthetic-condition-b.md"):
        shutil.copy(source / name, corpus / name)
    shutil.copytree(source / "examples", corpus / "examples")
    index_dir = corpus.parent / "index"
    return (
        corpus,
        index_dir,
        build_corpus(corpus, embedder, index_dir, training=QUICK, fine_tune=SETTINGS),
    )


def test_a_fine_tuned_version_carries_its_model_and_serves_with_it(embedder, fine_tuned):
    corpus, index_dir, loaded = fine_tuned
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

    again = build_corpus(corpus, embedder, index_dir, training=QUICK, fine_tune=SETTINGS)
    assert again.manifest.fine_tuned["reused"] is True
    assert again.manifest.model.weights_sha256 == loaded.manifest.model.weights_sha256


def test_two_workers_serve_a_fine_tuned_version_from_the_master_s_copy(fine_tuned, tmp_path: Path):
    """The master checks a fine-tuned version against its model's weights without running it,
    and both forked workers serve that copy, each with the fine-tuned model loaded."""
    corpus, index_dir, _ = fine_tuned
    version = published_version(index_dir)  # fine-tuned, whichever build published it
    log = tmp_path / "server.log"
    process, base = start_server(index_dir, log, "--workers", "2", "--corpus-dir", str(corpus))
    try:
        for _ in range(4):  # a new connection each time, whichever worker takes it
            request = urllib.request.Request(
                base + "/api/ask",
                data=json.dumps({"question": "How long does STCB last?", "k": 1}).encode(),
                headers={"content-type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                body = json.loads(response.read())
            assert body["index"]["version"] == version
            assert body["passages"][0]["article_id"] == "synthetic-condition-b"
    finally:
        stop_server(process)
    text = log.read_text()
    assert text.count("as the master loaded it (shared)") == 2 and "Traceback" not in text


def test_the_fine_tuned_model_is_keyed_on_its_training_pairs_as_read(article):
    """A release that reads the examples differently trains afresh rather than reuse a model
    fine-tuned on the old readings (the files, settings and vocabulary all unchanged)."""
    from assistant.ingest.examples import Examples
    from assistant.records import ModelInfo
    from assistant.train.finetune import _key

    examples = Examples(usable=(), stale=(), counts={}, sha256="0" * 64)
    base = ModelInfo("all-MiniLM-L6-v2", "/model", "1" * 64, 384, True)
    passages = article.passages

    def key(anchor: str) -> str:
        pairs = {"anchor": [anchor], "positive": [passages[0].index_text]}
        return _key(examples, passages, base, SETTINGS, None, pairs)

    assert key("ivig dose") == key("ivig dose")
    assert key("ivig dose") != key("ivig dose (immunoglobulin)")
