"""The index directory: what a build writes, what loading checks, and that failures publish nothing."""

import json

import numpy as np
import pytest

from assistant.build import build_index
from assistant.errors import IndexStoreError
from assistant.ingest.corpus import load_corpus
from assistant.records import ModelInfo
from assistant.search.loaded import load_index
from assistant.store.directory import has_index, published_version
from assistant.store.manifest import seal
from tests.conftest import CORPUS, HashEmbedder


@pytest.fixture
def built(tmp_path, hash_embedder):
    index_dir = tmp_path / "index"
    loaded = build_index(load_corpus(CORPUS), hash_embedder, index_dir)
    return index_dir, loaded


def test_a_build_writes_a_version_and_publishes_it(built, hash_embedder):
    index_dir, loaded = built
    assert has_index(index_dir)
    assert published_version(index_dir) == loaded.version
    files = sorted(p.name for p in loaded.path.iterdir())
    assert files == [
        "articles.json",
        "lexical",
        "lineage.json",
        "manifest.json",
        "passages.jsonl",
        "vectors.faiss",
        "vocabulary.json",
    ]
    manifest = json.loads((loaded.path / "manifest.json").read_text())
    assert manifest["model"]["name"] == "test-hash-embedder"
    assert manifest["model"]["weights_sha256"] == hash_embedder.info.weights_sha256
    assert manifest["model"]["dimension"] == 64
    assert manifest["passage_count"] == 32
    assert manifest["articles"] == [
        {
            "id": "what-is-multifocal-motor-neuropathy",
            "title": "What is multifocal motor neuropathy?",
            "last_updated": "2026-02-02",
            "review_status": "pending human review",
            "source": str(CORPUS / "what-is-multifocal-motor-neuropathy.txt"),
            "sha256": manifest["articles"][0]["sha256"],
            "passage_count": 32,
        }
    ]
    assert (
        len(manifest["corpus_sha256"]) == 64
        and manifest["built_at"]
        and manifest["package_version"]
    )
    assert not list(index_dir.glob(".staging-*"))


def test_line_i_of_the_passages_file_is_vector_i(built, hash_embedder):
    index_dir, _ = built
    loaded = load_index(index_dir, hash_embedder.info)
    assert loaded.vectors.size == len(loaded.passages) == 32
    stored = loaded.vectors.index.reconstruct_n(0, 32)
    expected = hash_embedder.embed([p.index_text for p in loaded.passages])
    np.testing.assert_allclose(stored, expected, atol=1e-6)
    article = loaded.articles["what-is-multifocal-motor-neuropathy"]
    assert article.disclaimer.startswith(
        "This information is intended for healthcare professionals."
    )
    assert article.passages == loaded.passages


def test_loading_with_another_model_is_refused(built):
    index_dir, _ = built
    other = ModelInfo("other", "-", "0" * 64, 64, False)
    with pytest.raises(IndexStoreError, match="built with model test-hash-embedder.*rebuild"):
        load_index(index_dir, other)
    same_weights_other_width = ModelInfo(
        "x", "-", built[1].manifest.model.weights_sha256, 32, False
    )
    with pytest.raises(IndexStoreError, match="dimension"):
        load_index(index_dir, same_weights_other_width)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda d: (d / "vectors.faiss").write_bytes((d / "vectors.faiss").read_bytes()[:1000]),
            "vectors.faiss does not match",
        ),
        (lambda d: (d / "passages.jsonl").unlink(), "passages.jsonl is missing"),
        (lambda d: (d / "manifest.json").write_text("{not json"), "manifest.json is damaged"),
        (lambda d: (d / "manifest.json").unlink(), "manifest.json is missing"),
        (lambda d: (d / "vocabulary.json").write_text("{}"), "vocabulary.json does not match"),
        (lambda d: next((d / "lexical").iterdir()).unlink(), "is missing"),
    ],
)
def test_a_damaged_version_is_refused_with_a_clear_message(built, hash_embedder, damage, message):
    index_dir, loaded = built
    damage(loaded.path)
    with pytest.raises(IndexStoreError, match=message):
        load_index(index_dir, hash_embedder.info)


def test_an_edited_manifest_is_refused(built, hash_embedder):
    """Any edit breaks the manifest's seal; one that is resealed still fails the checks of what
    the manifest claims against the files."""
    index_dir, loaded = built
    path = loaded.path / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["built_at"] = "2020-01-01T00:00:00+00:00"
    path.write_text(json.dumps(manifest))
    with pytest.raises(IndexStoreError, match="manifest.json was changed after the build"):
        load_index(index_dir, hash_embedder.info)
    manifest["passage_count"] = 31
    manifest["seal"] = seal(manifest)
    path.write_text(json.dumps(manifest))
    with pytest.raises(
        IndexStoreError, match="32 vectors, 32 passages, 32 lexical documents, manifest says 31"
    ):
        load_index(index_dir, hash_embedder.info)


def test_no_index_says_how_to_build_one(tmp_path, hash_embedder):
    with pytest.raises(IndexStoreError, match="mmn-assistant build"):
        load_index(tmp_path / "nothing", hash_embedder.info)


class ExplodingEmbedder(HashEmbedder):
    def embed(self, texts, *, progress=False):
        raise RuntimeError("model crashed half-way")


def test_a_failed_build_leaves_the_published_version_as_it_was(built, hash_embedder):
    index_dir, loaded = built
    before = sorted(p.relative_to(index_dir) for p in index_dir.rglob("*"))
    with pytest.raises(RuntimeError, match="half-way"):
        build_index(load_corpus(CORPUS), ExplodingEmbedder(), index_dir, full=True)
    assert sorted(p.relative_to(index_dir) for p in index_dir.rglob("*")) == before
    assert load_index(index_dir, hash_embedder.info).version == loaded.version


def test_a_build_that_fails_once_its_version_is_half_written_leaves_no_trace(built, hash_embedder):
    """Past embedding, the new version is being written (vocabulary, BM25) when the vector
    index refuses: its staging directory goes, the published version stays, and the lock is
    free for the next build."""
    index_dir, loaded = built
    before = sorted(p.relative_to(index_dir) for p in index_dir.rglob("*"))
    with pytest.raises(IndexStoreError, match="ivfpq needs a dimension divisible by 48"):
        build_index(load_corpus(CORPUS), hash_embedder, index_dir, index_type="ivfpq")
    assert sorted(p.relative_to(index_dir) for p in index_dir.rglob("*")) == before
    assert load_index(index_dir, hash_embedder.info).version == loaded.version
    assert build_index(load_corpus(CORPUS), hash_embedder, index_dir).version != loaded.version


def test_a_second_build_publishes_a_new_version(built, hash_embedder):
    index_dir, first = built
    second = build_index(load_corpus(CORPUS), hash_embedder, index_dir)
    assert second.version != first.version
    assert published_version(index_dir) == second.version
    assert [p.id for p in second.passages] == [p.id for p in first.passages]


def test_a_resealed_manifest_missing_a_field_is_refused_with_what_to_do(built, hash_embedder):
    index_dir, loaded = built
    path = loaded.path / "manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["files"]
    manifest["seal"] = seal(manifest)
    path.write_text(json.dumps(manifest))
    with pytest.raises(IndexStoreError, match="lacks or garbles a field .*'files'.*rebuild"):
        load_index(index_dir, hash_embedder.info)


def test_manifest_summary_names_the_articles(built):
    summary = built[1].manifest.summary()
    assert summary["passage_count"] == 32
    assert summary["articles"][0]["last_updated"] == "2026-02-02"
    assert summary["model"] == "test-hash-embedder"
