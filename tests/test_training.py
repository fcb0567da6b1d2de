"""Training inside the build, with the real model: reproducible, reused when nothing changed,
recorded in the manifest, and learning each article of a multi-article corpus."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.build import build_corpus
from assistant.cli import cli
from assistant.cli import common as cli_module
from assistant.engine import Engine
from assistant.settings import TrainingSettings
from assistant.store.directory import VERSIONS, published_version
from assistant.store.manifest import Manifest, read_manifest
from tests.conftest import CORPUS, FIXTURES
from tests.updates import seed_vectors

pytestmark = [pytest.mark.slow, pytest.mark.model]

QUICK = TrainingSettings(steps=20, folds=2)


def _manifest(index_dir: Path) -> Manifest:
    return read_manifest(index_dir / VERSIONS / published_version(index_dir))


def test_the_same_inputs_give_the_same_artefact_and_an_unchanged_rebuild_reuses_it(
    embedder, index_dir, tmp_path
):
    first = build_corpus(CORPUS, embedder, tmp_path / "a", training=QUICK)  # embeds everything
    seed_vectors(index_dir, tmp_path / "b")  # the session's vectors: the same bytes come out
    second = build_corpus(CORPUS, embedder, tmp_path / "b", training=QUICK)
    a, b = first.manifest.training, second.manifest.training
    assert a["trained"] and not a["reused"]
    assert a["artefact_sha256"] == b["artefact_sha256"]
    assert first.manifest.files["vectors.faiss"] == second.manifest.files["vectors.faiss"]
    assert first.manifest.files["ranker/adapter.npy"] == second.manifest.files["ranker/adapter.npy"]

    again = build_corpus(CORPUS, embedder, tmp_path / "a", training=QUICK)
    assert again.manifest.training["reused"] is True
    assert again.manifest.training["artefact_sha256"] == a["artefact_sha256"]
    assert again.manifest.build.embedded == 0  # passages and examples: all cached


def test_a_new_way_of_reading_the_questions_retrains_though_no_file_changed(
    embedder, index_dir, tmp_path, monkeypatch
):
    """An upgrade that reads questions differently (a spelling rule, a bridge) must not serve
    the artefact trained on the old readings: the cache is keyed on the texts as read."""
    from assistant.train import stage

    seed_vectors(index_dir, tmp_path / "a")
    first = build_corpus(CORPUS, embedder, tmp_path / "a", training=QUICK)
    assert first.manifest.training["trained"] and not first.manifest.training["reused"]
    read = stage.read_question

    def read_typed(question, history, turns, vocabulary=None):  # as a newer release might
        return read(question.replace("MMN", "multifocal motor neuropathy"), history, turns,
                    vocabulary)  # fmt: skip

    monkeypatch.setattr(stage, "read_question", read_typed)
    second = build_corpus(CORPUS, embedder, tmp_path / "a", training=QUICK)
    assert second.manifest.training["reused"] is False
    assert second.manifest.training["artefact_sha256"] != first.manifest.training["artefact_sha256"]


def test_the_manifest_records_what_was_trained(index_dir):
    training = _manifest(index_dir).training
    assert training["trained"] is True
    assert training["examples"]["out-of-scope"] >= 250
    assert training["in_scope"] >= 600 and training["stale"] == []
    assert training["seed"] == training["settings"]["seed"]
    assert len(training["artefact_sha256"]) == 64
    cv = training["cross_validation"]
    for figure in ("hit@1", "hit@3", "mrr", "declined_out_of_scope", "wrongly_declined"):
        assert 0.0 <= cv[figure] <= 1.0
    assert cv["wrongly_declined"] <= 0.02
    learnt = training["learnt"]
    assert learnt["threshold"] is not None and learnt["lexical_weight"] >= 0
    # the words rule declines at most 1% of the in-scope examples, each listed with its words
    declined = learnt["declined_by_words"]
    assert 0 < learnt["unmentioned_below"] <= 3.0
    assert len(declined) <= 0.01 * training["in_scope"]
    assert all(d["question"] and d["words"] for d in declined)


def test_status_shows_the_training_and_its_cross_validated_figures(index_dir):
    result = CliRunner().invoke(cli, ["status", "--index-dir", str(index_dir)])
    assert result.exit_code == 0, result.output
    assert "ranker          trained on" in result.output
    assert "5-fold CV       hit@1 0." in result.output
    assert "wrongly declined 0." in result.output
    assert "unmentioned     a word no article uses, rarer than Zipf " in result.output
    by_writer = [line for line in result.output.splitlines() if line.startswith("    by ")]
    in_scope = [line for line in by_writer if "hit@1" in line]
    assert in_scope and all(
        re.search(r"MRR 0\.\d+ .*, \d+\.\d% wrongly declined", x) for x in in_scope
    )


def test_build_no_train_serves_the_model_untrained_and_says_so(embedder, tmp_path, monkeypatch):
    monkeypatch.setattr(cli_module, "embedder", lambda model_path, index_dir: embedder)
    index_dir = tmp_path / "index"
    args = ["build", "--corpus-dir", str(CORPUS), "--index-dir", str(index_dir)]
    result = CliRunner().invoke(cli, [*args, "--no-train"])
    assert result.exit_code == 0, result.output
    assert "untrained (built with --no-train)" in result.output
    engine = Engine.open(index_dir, embedder)
    assert not engine.ranker.trained
    assert engine.ask("What is the capital of France?").answerable is False  # the floor
    status = CliRunner().invoke(cli, ["status", "--index-dir", str(index_dir)])
    assert "untrained (built with --no-train)" in status.output


def test_an_article_without_examples_is_served_untrained_and_the_build_says_so(
    embedder, tmp_path, monkeypatch
):
    monkeypatch.setattr(cli_module, "embedder", lambda model_path, index_dir: embedder)
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus, ignore=shutil.ignore_patterns("examples"))
    result = CliRunner().invoke(
        cli, ["build", "--corpus-dir", str(corpus), "--index-dir", str(tmp_path / "index")]
    )
    assert result.exit_code == 0, result.output
    assert "untrained (no article has example questions" in result.output


@pytest.fixture(scope="module")
def two_articles(embedder, tmp_path_factory) -> Engine:
    """The two synthetic Markdown fixtures with their example files, trained together."""
    corpus = tmp_path_factory.mktemp("two") / "corpus"
    corpus.mkdir()
    source = FIXTURES / "markdown"
    for name in ("synthetic-condition-a.md", "synthetic-condition-b.md"):
        shutil.copy(source / name, corpus / name)
    shutil.copytree(source / "examples", corpus / "examples")
    index_dir = corpus.parent / "index"
    build_corpus(corpus, embedder, index_dir)
    return Engine.open(index_dir, embedder)


@pytest.mark.parametrize(
    ("question", "article", "words"),
    [
        ("Which hand gets the rash in STCA?", "synthetic-condition-a", "left hand"),
        ("what dose of drug Q is given", "synthetic-condition-a", "1.5-2.0 g/kg"),
        ("How many weeks does condition B last?", "synthetic-condition-b", "1-2 weeks"),
        ("tell me what STCB is", "synthetic-condition-b", "invented condition"),
    ],
)
def test_each_article_ranks_its_own_passages_first_and_is_not_declined_for_the_other(
    two_articles, question, article, words
):
    answer = two_articles.ask(question)
    assert answer.answerable, question
    first = answer.passages[0].passage
    assert first.article_id == article and words in first.text


def test_example_files_travel_with_the_index_and_the_home_page_offers_them(index_dir):
    manifest = _manifest(index_dir)
    examples = manifest.training["shown"]
    path = CORPUS / "examples" / "what-is-multifocal-motor-neuropathy.jsonl"
    first = [json.loads(line) for line in path.read_text().splitlines()[:10]]
    alone = [e["question"] for e in first if not e.get("history")][:5]
    assert examples["what-is-multifocal-motor-neuropathy"] == alone
