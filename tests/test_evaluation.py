"""Retrieval quality on the gold set: the eval command's figures, with floors so a regression
fails CI. Floors sit a little under what was measured on the test part (README, "Quality");
the test part is only scored, never tuned on."""

import json

import pytest
from click.testing import CliRunner

from assistant import cli as cli_module
from assistant.cli import cli
from assistant.errors import AssistantError
from assistant.evaluation import evaluate, is_relevant, load_gold
from tests.conftest import ROOT

GOLD = ROOT / "tests" / "gold"
# Measured 2026-11-25 on the 137 + 39 questions of the test part: hit@1 0.774, hit@3 0.942,
# MRR 0.855, 79.5% declined, 2.9% wrongly declined. The targets (0.85, 0.97, 0.90, 85%,
# under 2%) are not all met; these floors catch a regression, they are not the targets.
FLOORS = {"hit@1": 0.75, "hit@3": 0.92, "mrr": 0.83, "declined_out_of_scope": 0.76}
MAX_WRONGLY_DECLINED = 0.035


@pytest.fixture(scope="module")
def test_report(engine):
    return evaluate(engine, load_gold(GOLD / "test.jsonl"), k=5)


def test_the_gold_set_is_large_enough_and_every_phrase_finds_its_passage(engine):
    items = load_gold(GOLD / "dev.jsonl") + load_gold(GOLD / "test.jsonl")
    in_scope = [i for i in items if not i.out_of_scope]
    assert len(in_scope) >= 80
    assert sum(bool(i.history) for i in in_scope) >= 15
    outside = [i for i in items if i.out_of_scope]
    assert len(outside) >= 20
    assert sum("oos-near" in i.tags for i in outside) >= 10
    assert sum("oos-far" in i.tags for i in outside) >= 10
    texts = [p.text for p in engine.index.passages]
    for item in in_scope:
        for phrase in item.gold:
            assert any(is_relevant(t, (phrase,)) for t in texts), (item.id, phrase)
    assert len({i.id for i in items}) == len(items)


def test_retrieval_quality_on_the_test_part_stays_above_its_floors(test_report):
    metrics = test_report.metrics()
    for name, floor in FLOORS.items():
        assert metrics[name] >= floor, f"{name} fell to {metrics[name]} (floor {floor})"
    assert metrics["wrongly_declined"] <= MAX_WRONGLY_DECLINED


def test_each_stage_adds_to_the_ranking(engine):
    from assistant.retrieval import VARIANTS

    items = load_gold(GOLD / "test.jsonl")
    mrr = {n: evaluate(engine, items, options=o).metrics()["mrr"] for n, o in VARIANTS.items()}
    assert mrr["hybrid"] > mrr["lexical"]
    assert mrr["hybrid+vocabulary"] > mrr["hybrid"] + 0.05
    assert mrr["hybrid+vocabulary+answer-types+follow-ups"] >= mrr["hybrid+vocabulary"]


def test_eval_command_prints_the_figures_and_the_misses(embedder, index_dir, monkeypatch):
    monkeypatch.setattr(cli_module, "_embedder", lambda model_path, index_dir: embedder)
    gold = str(GOLD / "test.jsonl")
    result = CliRunner().invoke(cli, ["eval", gold, "--index-dir", str(index_dir)])
    assert result.exit_code == 0, result.output
    for label in ("hit@1", "hit@3", "MRR", "nDCG@5", "out-of-scope declined", "wrongly declined"):
        assert label in result.output
    assert "relevant passage not first" in result.output
    result = CliRunner().invoke(cli, ["eval", gold, "--json", "--index-dir", str(index_dir)])
    data = json.loads(result.output)
    items = load_gold(GOLD / "test.jsonl")
    assert data["reports"][0]["metrics"]["questions"] == sum(not i.out_of_scope for i in items)
    assert {"not_first", "wrongly_declined", "out_of_scope_answered"} <= set(data["reports"][0])


def test_a_malformed_gold_line_names_its_file_and_line(tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"id": "a", "question": "q", "gold": ["x"]}\n{"id": "b"\n')
    with pytest.raises(AssistantError, match=r"gold.jsonl:2: not a gold item"):
        load_gold(gold)
    gold.write_text('{"id": "a", "question": "q"}\n')
    with pytest.raises(AssistantError, match=r"gold.jsonl:1: an in-scope item needs gold"):
        load_gold(gold)


def test_the_onnx_runtime_ranks_every_gold_question_as_pytorch_does(engine):
    """The served runtime (ONNX) must not change any answer: for every gold question, dev and
    test, with its history, the ranked passages and the decline decision are PyTorch's."""
    from assistant.embedding import SentenceTransformerEmbedder
    from assistant.engine import Engine

    assert engine.embedder.inner.runtime == "onnx"
    torch_engine = Engine(engine.index, SentenceTransformerEmbedder(runtime="torch"))
    items = load_gold(GOLD / "dev.jsonl") + load_gold(GOLD / "test.jsonl")
    changed = []
    for item in items:
        onnx = engine.ask(item.question, item.history)
        torch = torch_engine.ask(item.question, item.history)
        if [p.passage.id for p in onnx.passages] != [p.passage.id for p in torch.passages] or (
            onnx.answerable != torch.answerable
        ):
            changed.append(item.id)
    assert changed == []
