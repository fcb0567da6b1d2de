"""Rebuilding: the vector cache, what a build reports, rollback, pruning, and a killed build."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from assistant.build import build_index
from assistant.embed.vectorcache import CACHE_DIR
from assistant.errors import IndexStoreError
from assistant.ingest.corpus import load_corpus
from assistant.search.loaded import load_index
from assistant.store.directory import KEEP_VERSIONS, published_version, versions
from assistant.store.history import rollback
from assistant.store.manifest import BuildReport
from tests.conftest import EXPORT_DIR, ROOT

pytestmark = pytest.mark.slow

ARTICLE_NAME = "what-is-multifocal-motor-neuropathy.txt"
DOSING = "Dosing: 1.6-2.4 g/kg given intravenously over 3-5 days"


def _build(corpus, embedder, index_dir, **options):
    loaded = build_index(load_corpus(corpus), embedder, index_dir, **options)
    return loaded, loaded.manifest.build


def test_a_build_over_an_unreadable_version_says_so_not_first_build(
    corpus_copy, hash_embedder, tmp_path
):
    """Its passages unreadable, the published version was reported as "first build": an
    editor was not told why no edit showed as one and no example followed one."""
    from assistant.updates import lines

    index_dir = tmp_path / "index"
    first, _ = _build(corpus_copy, hash_embedder, index_dir)
    (first.path / "passages.jsonl").write_text("{not json", encoding="utf-8")
    second, _ = _build(corpus_copy, hash_embedder, index_dir)
    said = lines(second.manifest.changes)[0]
    assert f"published version {first.version} unreadable" in said and "first build" not in said
    fresh, _ = _build(corpus_copy, hash_embedder, tmp_path / "fresh")
    assert "first build: every passage is new" in lines(fresh.manifest.changes)[0]


def test_an_unchanged_rebuild_embeds_nothing(corpus_copy, hash_embedder, tmp_path):
    index_dir = tmp_path / "index"
    _, first = _build(corpus_copy, hash_embedder, index_dir)
    assert first == BuildReport(added=32, embedded=32)
    hash_embedder.calls.clear()
    second, report = _build(corpus_copy, hash_embedder, index_dir)
    assert hash_embedder.calls == []  # the model was not asked for a single vector
    assert report.unchanged == 32 and report.reused == 32 and report.embedded == 0
    reference = load_index(index_dir, hash_embedder.info)
    fresh = hash_embedder.embed([p.index_text for p in reference.passages])
    stored = reference.vectors.index.reconstruct_n(0, reference.vectors.size)
    assert np.allclose(stored, fresh)  # reused vectors are the vectors of these very texts


def test_an_edit_embeds_only_the_edited_passage(corpus_copy, hash_embedder, tmp_path):
    index_dir = tmp_path / "index"
    _build(corpus_copy, hash_embedder, index_dir)
    article = corpus_copy / ARTICLE_NAME
    article.write_text(article.read_text().replace("1.6-2.4 g/kg", "2 g/kg"))
    hash_embedder.calls.clear()
    loaded, report = _build(corpus_copy, hash_embedder, index_dir)
    # one passage embedded; then the edited passage's reachability probes, one question each
    assert hash_embedder.calls[0] == 1 and set(hash_embedder.calls[1:]) == {1}
    assert len(hash_embedder.calls) - 1 <= 3
    assert report.changed == 1 and report.embedded == 1 and report.reused == 31
    assert report.added == report.removed == 0
    texts = [p.text for p in loaded.passages]
    assert "Dosing: 2 g/kg given intravenously over 3-5 days" in texts and DOSING not in texts


def test_full_rebuilds_everything_and_another_model_reuses_nothing(
    corpus_copy, hash_embedder, tmp_path
):
    from tests.conftest import HashEmbedder

    index_dir = tmp_path / "index"
    _build(corpus_copy, hash_embedder, index_dir)
    _, report = _build(corpus_copy, hash_embedder, index_dir, full=True)
    assert report.embedded == 32 and report.reused == 0 and report.full is True
    other = HashEmbedder()
    other._info = dataclasses.replace(other.info, weights_sha256="f" * 64)  # another model
    _, report = _build(corpus_copy, other, index_dir)
    assert report.reused == 0 and report.embedded == 32


def test_a_damaged_cache_is_ignored(corpus_copy, hash_embedder, tmp_path):
    index_dir = tmp_path / "index"
    _build(corpus_copy, hash_embedder, index_dir)
    for cache in (index_dir / CACHE_DIR).iterdir():
        cache.write_bytes(b"not a cache")
    _, report = _build(corpus_copy, hash_embedder, index_dir)
    assert report.embedded == 32
    _, report = _build(corpus_copy, hash_embedder, index_dir)  # and it was rewritten
    assert report.reused == 32


def test_rollback_republishes_the_previous_version(corpus_copy, hash_embedder, tmp_path):
    index_dir = tmp_path / "index"
    with pytest.raises(IndexStoreError, match="no version published before"):
        rollback(index_dir)
    first, _ = _build(corpus_copy, hash_embedder, index_dir)
    article = corpus_copy / ARTICLE_NAME
    article.write_text(article.read_text().replace("1.6-2.4 g/kg", "2 g/kg"))
    second, _ = _build(corpus_copy, hash_embedder, index_dir)
    assert rollback(index_dir) == first.version
    back = load_index(index_dir, hash_embedder.info)
    assert back.version == first.version and DOSING in [p.text for p in back.passages]
    with pytest.raises(IndexStoreError, match="no version published before"):
        rollback(index_dir)


def test_a_rollback_never_brings_back_a_version_withdrawn(corpus_copy, hash_embedder, tmp_path):
    """Rollback went by build time: after a typo'd dose was rolled back and a new version
    built, the next rollback published the typo again."""
    index_dir = tmp_path / "index"
    article = corpus_copy / ARTICLE_NAME
    right = article.read_text()
    first, _ = _build(corpus_copy, hash_embedder, index_dir)
    article.write_text(right.replace("1.6-2.4 g/kg", "16-24 g/kg"))
    typo, _ = _build(corpus_copy, hash_embedder, index_dir)
    assert rollback(index_dir) == first.version  # the typo withdrawn
    article.write_text(right.replace("over 3-5 days", "over 2-5 days"))
    third, _ = _build(corpus_copy, hash_embedder, index_dir)
    assert typo.version in versions(index_dir) and typo.version < third.version
    assert rollback(index_dir) == first.version
    served = load_index(index_dir, hash_embedder.info)
    assert DOSING in [p.text for p in served.passages]
    with pytest.raises(IndexStoreError, match="no version published before"):
        rollback(index_dir)


def test_pruning_keeps_what_a_rollback_goes_back_to(corpus_copy, hash_embedder, tmp_path):
    """Three versions, two rollbacks to the first, then a build: pruning by build time deleted
    the first, and the next rollback published a version the editor had withdrawn."""
    index_dir = tmp_path / "index"
    built = [_build(corpus_copy, hash_embedder, index_dir)[0].version for _ in range(3)]
    rollback(index_dir)
    rollback(index_dir)
    assert published_version(index_dir) == built[0]
    _build(corpus_copy, hash_embedder, index_dir)
    assert built[0] in versions(index_dir)
    assert rollback(index_dir) == built[0]


def test_a_version_whose_pointer_cannot_be_written_is_not_left_to_roll_back_to(
    corpus_copy, hash_embedder, tmp_path, monkeypatch
):
    """A disk full at the pointer's write failed the build, but left its complete version in
    `versions/`, where a rollback took it for the version before."""
    from assistant.store import directory

    index_dir = tmp_path / "index"
    first, _ = _build(corpus_copy, hash_embedder, index_dir)
    article = corpus_copy / ARTICLE_NAME
    article.write_text(article.read_text().replace("1.6-2.4 g/kg", "2 g/kg"))

    def full(index_dir, version):
        raise IndexStoreError(f"{index_dir}: No space left on device")

    monkeypatch.setattr(directory, "publish", full)
    with pytest.raises(IndexStoreError, match="No space left"):
        _build(corpus_copy, hash_embedder, index_dir)
    monkeypatch.undo()
    assert versions(index_dir) == [first.version]
    assert published_version(index_dir) == first.version


@pytest.mark.parametrize("harm", ["truncated", "deleted"])
def test_a_damaged_version_is_never_rolled_back_to(corpus_copy, hash_embedder, tmp_path, harm):
    """Published, it would be refused by every server that restarts: an outage made by the
    recovery tool. The rollback names the file and the published version keeps serving."""
    index_dir = tmp_path / "index"
    first, _ = _build(corpus_copy, hash_embedder, index_dir)
    article = corpus_copy / ARTICLE_NAME
    article.write_text(article.read_text().replace("1.6-2.4 g/kg", "2 g/kg"))
    second, _ = _build(corpus_copy, hash_embedder, index_dir)
    vectors = next(first.path.glob("*.faiss"))
    if harm == "truncated":
        vectors.write_bytes(vectors.read_bytes()[:10])
    else:
        vectors.unlink()
    with pytest.raises(IndexStoreError) as caught:
        rollback(index_dir)
    assert str(vectors) in str(caught.value) and f"{second.version} stays published" in str(
        caught.value
    )
    assert published_version(index_dir) == second.version
    assert load_index(index_dir, hash_embedder.info).version == second.version


def test_only_the_last_versions_are_kept(corpus_copy, hash_embedder, tmp_path):
    index_dir = tmp_path / "index"
    built = [_build(corpus_copy, hash_embedder, index_dir)[0].version for _ in range(5)]
    assert versions(index_dir) == built[-KEEP_VERSIONS:]
    assert published_version(index_dir) == built[-1]


def test_a_version_pruning_left_half_deleted_is_removed_by_the_next_build(
    corpus_copy, hash_embedder, tmp_path
):
    """Pruning ignored its errors: a version that lost its manifest was listed by nothing and
    kept its vectors on disk for ever."""
    index_dir = tmp_path / "index"
    _build(corpus_copy, hash_embedder, index_dir)
    half = index_dir / "versions" / "20200101T000000.000000-dead00"
    half.mkdir()
    (half / "vectors.faiss").write_bytes(b"the vectors of a version half deleted")
    _build(corpus_copy, hash_embedder, index_dir)
    assert not half.exists() and len(versions(index_dir)) == 2


def test_leftovers_of_a_dead_build_never_trip_the_next(corpus_copy, hash_embedder, tmp_path):
    index_dir = tmp_path / "index"
    _build(corpus_copy, hash_embedder, index_dir)
    (index_dir / ".staging-20260101T000000-dead00").mkdir()
    (index_dir / ".staging-20260101T000000-dead00" / "vectors.faiss").write_bytes(b"half")
    (index_dir / "CURRENT.deadbeef.tmp").write_text("nothing")
    half = index_dir / CACHE_DIR / ".vectors.deadbeef.tmp.npz"  # a cache cut off by a full disk
    half.write_bytes(b"half")
    _build(corpus_copy, hash_embedder, index_dir)
    assert not list(index_dir.glob(".staging-*")) and not list(index_dir.glob("CURRENT.*.tmp"))
    assert not half.exists()


def test_a_full_disk_names_the_file_it_could_not_write():
    """The build said only "No space left on device": no file, no disk to free."""
    from assistant.errors import os_problem
    from assistant.store.directory import write_synced

    with pytest.raises(OSError) as caught:
        write_synced(Path("/dev/full"), b"a version's vectors")  # the kernel's always-full device
    assert os_problem(caught.value).startswith("/dev/full: No space left on device")


def test_a_vector_cache_that_cannot_be_written_leaves_no_part_behind(tmp_path, monkeypatch):
    from assistant.embed import vectorcache

    cache = vectorcache.VectorCache(tmp_path, "weights", 4)

    def full_disk(handle, **arrays):
        handle.write(b"part of the vectors")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(vectorcache.np, "savez", full_disk)
    with pytest.raises(OSError):
        cache.save(["a"], np.zeros((1, 4), dtype=np.float32))
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


SLOW_BUILD = """
import sys, time
from pathlib import Path
from assistant.ingest.corpus import load_corpus
from assistant.build import build_index
from tests.conftest import HashEmbedder

class Slow(HashEmbedder):
    def embed(self, texts, *, progress=False):
        Path(sys.argv[2]).write_text("embedding")
        time.sleep(60)
        return super().embed(texts)

build_index(load_corpus(Path(sys.argv[1])), Slow(), Path(sys.argv[3]), full=True)
"""


def test_a_build_killed_while_embedding_leaves_the_published_version_serving(
    corpus_copy, hash_embedder, tmp_path
):
    index_dir = tmp_path / "index"
    first, _ = _build(corpus_copy, hash_embedder, index_dir)
    marker = tmp_path / "embedding-started"
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_BUILD, str(corpus_copy), str(marker), str(index_dir)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert process.poll() is None and time.monotonic() < deadline, "the build never started"
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert load_index(index_dir, hash_embedder.info).version == first.version
    second, report = _build(corpus_copy, hash_embedder, index_dir)  # the lock died with it
    assert published_version(index_dir) == second.version and report.reused == 32
    manifest = json.loads((second.path / "manifest.json").read_text())
    assert manifest["passage_count"] == 32


@pytest.mark.model
def test_an_unchanged_rebuild_never_loads_the_model(corpus_copy, embedder, tmp_path):
    from assistant.embed.embedding import SentenceTransformerEmbedder

    index_dir = tmp_path / "index"
    _build(corpus_copy, embedder, index_dir)  # the session's loaded model fills the cache
    fresh = SentenceTransformerEmbedder(
        export_dir=EXPORT_DIR
    )  # checks the weights, loads nothing yet
    assert fresh.info == embedder.info
    _, report = _build(corpus_copy, fresh, index_dir)
    assert report.reused == 32 and report.embedded == 0
    assert fresh.runtime is None  # the model never ran: the rebuild took no model load
    vector = fresh.embed(["IVIg dose"])  # and it loads when it is needed
    assert vector.shape == (1, 384) and fresh.runtime == "onnx"


def test_housekeeping_that_fails_after_publishing_does_not_fail_the_build(
    corpus_copy, hash_embedder, tmp_path, caplog
):
    """The vector cache and pruning run once the version is live: a failure there used to
    report the build as failed (the desk said the old version still served) while the new
    version served. The build now succeeds and says what it could not do."""
    index_dir = tmp_path / "index"
    _build(corpus_copy, hash_embedder, index_dir)
    for cache in (index_dir / CACHE_DIR).glob("*.npz"):
        cache.unlink()
        cache.mkdir()  # a directory where the cache file goes: it cannot be rewritten
    article = corpus_copy / ARTICLE_NAME
    article.write_text(article.read_text().replace("1.6-2.4 g/kg", "2 g/kg"))
    with caplog.at_level("WARNING", logger="mmn_assistant.build"):
        second, _ = _build(corpus_copy, hash_embedder, index_dir)
    assert published_version(index_dir) == second.version
    assert "is published; could not remember the vectors" in caplog.text


def test_a_rollback_waits_for_no_build(corpus_copy, hash_embedder, tmp_path):
    """`build --rollback` takes the build lock as the desk's rollback does: a build running
    now would publish over it a moment later."""
    from click.testing import CliRunner

    from assistant.cli import cli
    from assistant.store.directory import build_lock

    index_dir = tmp_path / "index"
    first, _ = _build(corpus_copy, hash_embedder, index_dir)
    _build(corpus_copy, hash_embedder, index_dir, full=True)
    with build_lock(index_dir):
        result = CliRunner().invoke(cli, ["build", "--rollback", "--index-dir", str(index_dir)])
    assert result.exit_code != 0 and "build" in result.output.lower()
    assert published_version(index_dir) != first.version
    result = CliRunner().invoke(cli, ["build", "--rollback", "--index-dir", str(index_dir)])
    assert result.exit_code == 0 and published_version(index_dir) == first.version


@pytest.mark.parametrize(
    "options",
    [["--strict"], ["--no-train"], ["--index-type", "flat"], ["--corpus-dir", "elsewhere"]],
)
def test_a_rollback_refuses_options_that_would_change_nothing(
    corpus_copy, hash_embedder, tmp_path, options
):
    """An editor who adds `--strict` to a rollback must not believe a check ran."""
    from click.testing import CliRunner

    from assistant.cli import cli

    index_dir = tmp_path / "index"
    _build(corpus_copy, hash_embedder, index_dir)
    second, _ = _build(corpus_copy, hash_embedder, index_dir, full=True)
    args = ["build", "--rollback", "--index-dir", str(index_dir), *options]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert f"{options[0]} would change nothing" in result.output
    assert published_version(index_dir) == second.version


def test_a_rollback_in_a_mistyped_directory_creates_nothing(tmp_path):
    from click.testing import CliRunner

    from assistant.cli import cli

    typo = tmp_path / "indx"
    result = CliRunner().invoke(cli, ["build", "--rollback", "--index-dir", str(typo)])
    assert result.exit_code == 1
    assert "no index has been built here" in result.output
    assert not typo.exists()


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (b"\xff\xfe\n", "not text"),
        (b"versions/../../etc\n", "is no version's name"),
        (None, "Is a directory"),
    ],
)
def test_a_damaged_pointer_is_named_with_what_to_do(
    corpus_copy, hash_embedder, tmp_path, damage, says
):
    """CURRENT damaged (not text, a path, a directory): every command that reads it says so in
    one line, naming the file and the way back, and a rollback then works."""
    from click.testing import CliRunner

    from assistant.cli import cli

    index_dir = tmp_path / "index"
    first, _ = _build(corpus_copy, hash_embedder, index_dir)
    pointer = index_dir / "CURRENT"
    pointer.unlink()
    if damage is None:
        pointer.mkdir()
    else:
        pointer.write_bytes(damage)
    with pytest.raises(IndexStoreError, match=rf"CURRENT: damaged \(.*{says}.*\).*Delete it"):
        published_version(index_dir)
    result = CliRunner().invoke(cli, ["status", "--index-dir", str(index_dir)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "CURRENT: damaged" in result.output and "build --rollback" in result.output
    pointer.rmdir() if damage is None else pointer.unlink()
    result = CliRunner().invoke(cli, ["build", "--rollback", "--index-dir", str(index_dir)])
    assert result.exit_code == 0 and published_version(index_dir) == first.version


def test_a_build_names_the_cross_validated_figures_that_fell():
    """An update that costs the declines (a new article's set-aside examples, say) is named
    after the build; noise within two points, a gain, or an untrained side is not."""
    from assistant.updates import fallen

    def trained(hit1, declined, wrongly):
        cv = {"hit@1": hit1, "declined_out_of_scope": declined, "wrongly_declined": wrongly}
        return {"trained": True, "cross_validation": cv}

    before = trained(0.863, 0.792, 0.014)
    assert fallen(before, trained(0.855, 0.744, 0.014)) == [
        "out-of-scope examples declined 79.2% -> 74.4%"
    ]
    assert fallen(before, trained(0.83, 0.80, 0.05)) == [
        "hit@1 86.3% -> 83.0%",
        "in-scope examples wrongly declined 1.4% -> 5.0%",
    ]
    assert fallen(before, trained(0.85, 0.78, 0.02)) == []  # within noise
    assert fallen(None, before) == fallen(before, {"trained": False}) == []
