"""Retrieval quality on the gold set: the eval command's figures, with floors so a regression
fails CI. Floors sit a little under what was measured on the test part (README, "Quality");
the test part is only scored, never tuned on."""

import json
import re

import pytest
from click.testing import CliRunner

from assistant.cli import cli
from assistant.cli import common as cli_module
from assistant.errors import AssistantError
from assistant.evaluation import (
    GoldItem,
    ItemResult,
    Report,
    evaluate,
    format_report,
    is_relevant,
    load_gold,
    repeated,
    report_json,
)
from assistant.search.retrieval import VARIANTS
from tests.conftest import ROOT

GOLD = ROOT / "tests" / "gold"
# Measured 2026-12-05 on the 137 + 39 questions of the test part, which no build trains on:
# hit@1 0.927, hit@3 0.993, MRR 0.958, 94.9% declined, 1.5% wrongly declined (issue 22 left
# 0.942). The floors are issue 13's targets; hit@1 sits one question under issue 22's 0.93,
# which issue 23's retraining missed by that one question (docs/retrieval.md).
FLOORS = {"hit@1": 0.92, "hit@3": 0.98, "mrr": 0.93, "declined_out_of_scope": 0.90}
MAX_WRONGLY_DECLINED = 0.02


@pytest.fixture(scope="module")
def test_report(engine):
    return evaluate(engine, load_gold(GOLD / "test.jsonl"), k=5)


@pytest.mark.model
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


@pytest.mark.model
def test_retrieval_quality_on_the_test_part_stays_above_its_floors(test_report):
    metrics = test_report.metrics()
    for name, floor in FLOORS.items():
        assert metrics[name] >= floor, f"{name} fell to {metrics[name]} (floor {floor})"
    assert metrics["wrongly_declined"] <= MAX_WRONGLY_DECLINED


@pytest.mark.model
def test_each_stage_adds_to_the_ranking(engine):
    from assistant.search.retrieval import VARIANTS

    items = load_gold(GOLD / "test.jsonl")
    mrr = {n: evaluate(engine, items, options=o).metrics()["mrr"] for n, o in VARIANTS.items()}
    assert mrr["adapter"] > mrr["dense (untrained)"] + 0.15  # what the examples teach
    assert mrr["adapter+bm25"] > mrr["bm25"] + 0.1


@pytest.mark.model
def test_eval_command_prints_the_figures_and_the_misses(embedder, index_dir, monkeypatch):
    monkeypatch.setattr(cli_module, "embedder", lambda model_path, index_dir: embedder)
    gold = str(GOLD / "test.jsonl")
    result = CliRunner().invoke(cli, ["eval", gold, "--index-dir", str(index_dir)])
    assert result.exit_code == 0, result.output
    for label in ("hit@1", "hit@3", "MRR", "nDCG@5", "out-of-scope declined", "wrongly declined"):
        assert label in result.output
    assert "relevant passage not first" in result.output
    result = CliRunner().invoke(cli, ["eval", gold, "--json", "--index-dir", str(index_dir)])
    data = json.loads(result.stdout)  # the repeated question's warning is on stderr
    items = load_gold(GOLD / "test.jsonl")
    assert data["reports"][0]["metrics"]["questions"] == sum(not i.out_of_scope for i in items)
    assert {"not_first", "wrongly_declined", "out_of_scope_answered"} <= set(data["reports"][0])


def test_a_malformed_gold_line_names_its_file_and_line(tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"id": "a", "question": "q", "gold": ["x"]}\n{"id": "b"\n')
    with pytest.raises(AssistantError, match=r"gold.jsonl:2: not a JSON object"):
        load_gold(gold)
    gold.write_text('{"id": "a", "question": "q"}\n')
    with pytest.raises(AssistantError, match=r"gold.jsonl:1: an in-scope item needs gold"):
        load_gold(gold)


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"gold": "1.6-2.4 g/kg"}, '"gold" must be a list of phrases'),  # read letter by letter
        ({"gold": ["x"], "out_of_scope": "false"}, '"out_of_scope" must be true or false'),
        ({"gold": ["x"], "history": "first-line treatment?"}, '"history" must be a list'),
        ({"gold": ["x"], "question": ""}, "question is empty"),
        ({"gold": ["x"], "question": None}, '"question" must be a non-empty string'),
        ({"gold": ["x"], "question": "why " * 130}, "the limit is 500"),
        ({"gold": ["x"], "tags": "terse"}, '"tags" must be a list'),
    ],
)
def test_a_gold_line_of_the_wrong_shape_is_refused_not_scored(tmp_path, fields, says):
    gold = tmp_path / "gold.jsonl"
    good = {"id": "a", "question": "IVIg dose?", "gold": ["1.6-2.4 g/kg"]}
    lines = [json.dumps(good), json.dumps({"id": "b", "question": "IVIg dose?", **fields})]
    gold.write_text("\n".join(lines) + "\n")
    with pytest.raises(AssistantError, match=rf"gold.jsonl:2: .*{re.escape(says)}"):
        load_gold(gold)


@pytest.mark.parametrize(
    ("text", "phrase", "says"),
    [
        ("It also spares sensation", "ALS", False),  # "ALS" inside "also" scored a hit
        ("Amyotrophic lateral sclerosis (ALS) and other", "als", True),
        ("Persistent conduction blocks", "conduction block", False),  # a cut word
        ("Dosing: 1.6-2.4\u00a0g/kg given", "1.6-2.4  g/kg", True),  # spacing aside
        ("IVIg-refractory disease", "IVIg", True),
        ("Dose (mg/kg)", "(mg/kg)", True),  # ends that are not letters need no boundary
        ("Give 2.5 mg at night", "5 mg", False),  # a decimal's tail is no dose of its own
        ("Give 5 mg at night", "5 mg", True),
        ("Dosing: 1.6-2.4 g/kg given", "Dosing: 1", False),  # a number cut short at its end
        ("Give 2.5 mg at night", "Give 2", False),
        ("Give 2, then 3 at night", "Give 2", True),  # a comma that ends the number
    ],
)
def test_a_gold_phrase_is_found_in_whole_words_case_and_spacing_aside(text, phrase, says):
    assert is_relevant(text, (phrase,)) is says


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ('{"id": "b", "question": "And then?", "histroy": ["IVIg dose?"], "gold": ["x"]}',
         'unknown field "histroy": did you mean "history"?'),  # scored as asked alone
        ('{"id": "b", "question": "Statins?", "out_of_scop": true, "gold": []}',
         'unknown field "out_of_scop": did you mean "out_of_scope"?'),
        ('{"id": "a", "question": "Other?", "gold": ["x"]}', "the id 'a' is also on line 1"),
        ('{"id": "b", "question": "Statins?", "out_of_scope": true, "gold": ["x"]}',
         'an out-of-scope item has "gold": []'),
        ('{"id": "b", "question": "Dose?", "history": null, "gold": ["x"]}',
         '"history" must be a list'),
        ('{"id": "b", "question": "Dose?", "gold": ["."]}', "has no letter or digit"),
        ('{"id": "b", "question": "ivig  DOSE?", "out_of_scope": true, "gold": []}',
         "'b' asks what 'a' on line 1 asks, but one is out of scope"),  # one must fail
    ],
)  # fmt: skip
def test_a_gold_line_that_would_be_scored_as_something_else_is_refused(tmp_path, line, says):
    gold = tmp_path / "gold.jsonl"
    good = {"id": "a", "question": "IVIg dose?", "gold": ["1.6-2.4 g/kg"], "note": "kept"}
    gold.write_text(json.dumps(good) + "\n" + line + "\n")
    with pytest.raises(AssistantError, match=rf"gold.jsonl:2: .*{re.escape(says)}"):
        load_gold(gold)


def test_a_line_separator_inside_a_question_does_not_shift_the_lines_named(tmp_path):
    """JSON allows a raw U+2028 in a string; `splitlines` broke the line there, so the line was
    refused as cut off, and every line number after it was one too high."""
    gold = tmp_path / "gold.jsonl"
    first = '{"id": "a", "question": "IVIg dose?\u2028 in MMN", "gold": ["1.6-2.4 g/kg"]}'
    gold.write_text(first + '\n{"id": "b", "question": "q", "gold": "x"}\n', encoding="utf-8")
    with pytest.raises(AssistantError, match=r"gold.jsonl:2: \"gold\" must be a list"):
        load_gold(gold)


def test_a_gold_file_that_is_not_utf8_names_the_line(tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_bytes(b'{"id": "a", "question": "q", "gold": ["x"]}\n{"id": "b\xff"}\n')
    with pytest.raises(
        AssistantError, match=r"gold.jsonl:2: not UTF-8 text \(byte 0xff at offset \d+\)"
    ):
        load_gold(gold)


@pytest.mark.model
def test_eval_reports_a_gold_set_without_in_scope_questions_and_unreachable_phrases(
    embedder, index_dir, monkeypatch, tmp_path
):
    """A decline-only gold set is valid (its in-scope figures are "n/a", not a traceback), and a
    gold phrase no passage holds is named before the figures, not left to read as a miss."""
    monkeypatch.setattr(cli_module, "embedder", lambda model_path, index_dir: embedder)
    items = [json.loads(line) for line in (GOLD / "test.jsonl").read_text().splitlines()]
    declines = tmp_path / "declines.jsonl"
    declines.write_text("".join(json.dumps(i) + "\n" for i in items if i.get("out_of_scope")))
    for flags in ([], ["--compare"]):
        result = CliRunner().invoke(
            cli, ["eval", str(declines), "--index-dir", str(index_dir), *flags]
        )
        assert result.exit_code == 0, result.output
        assert "hit@1 n/a" in result.output or " n/a " in result.output
        assert "out-of-scope declined" in result.output or "OOS declined" in result.output
    typo = tmp_path / "typo.jsonl"
    first = next(i for i in items if not i.get("out_of_scope"))
    typo.write_text(
        json.dumps(first)
        + "\n"
        + json.dumps(
            {**first, "id": "typo-1", "question": "Which?", "gold": ["a phrase no statement holds"]}
        )
        + "\n"
    )
    result = CliRunner().invoke(cli, ["eval", str(typo), "--index-dir", str(index_dir)])
    assert result.exit_code == 0, result.output
    assert "gold phrase of 1 in-scope question(s)" in result.stderr
    assert "typo-1" in result.stderr and first["id"] not in result.stderr


@pytest.mark.model
def test_answered_at_1_is_what_the_clinician_reads_first(test_report):
    """hit@1 ranks; answered@1 counts an answer declined as a miss, and a lead-in first whose
    shown list holds the gold phrase ("the following:" above the criteria) as a hit."""
    results = test_report.in_scope
    declined_first = [r for r in results if r.rank == 1 and r.declined]
    listed_first = [r for r in results if r.rank != 1 and r.answered_first]
    assert declined_first and listed_first  # both happen on the test part
    assert not any(r.answered_first for r in declined_first)
    metrics = test_report.metrics()
    expected = sum(r.rank == 1 for r in results) - len(declined_first) + len(listed_first)
    assert metrics["answered@1"] == round(expected / len(results), 4)


@pytest.mark.model
def test_eval_json_lists_each_question_and_leaves_unmeasured_declines_empty(
    embedder, index_dir, monkeypatch, tmp_path
):
    monkeypatch.setattr(cli_module, "embedder", lambda model_path, index_dir: embedder)
    gold = tmp_path / "gold.jsonl"
    lines = [
        {"id": "a", "question": "What IVIg dose is used?", "gold": ["1.6-2.4 g/kg"]},
        {"id": "b", "question": "Does MMN show conduction block?", "gold": ["conduction block"]},
        {"id": "c", "question": "Is coffee allowed?", "gold": [], "out_of_scope": True},
    ]
    gold.write_text("".join(json.dumps(line) + "\n" for line in lines))
    args = ["eval", str(gold), "--index-dir", str(index_dir), "--compare", "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "'conduction block' (inside 'conduction blocks')" in result.stderr.lower()
    data = json.loads(result.stdout)
    assert [p.lower() for p in data["unsaid"]["b"]] == [
        "'conduction block' (inside 'conduction blocks')"
    ]
    by_name = {r["name"]: r for r in data["reports"]}
    untrained = by_name["dense (untrained)"]
    assert untrained["metrics"]["declined_out_of_scope"] is None  # it never decides: not 0 %
    assert untrained["wrongly_declined"] is None
    served = by_name["adapter+bm25"]
    assert [r["id"] for r in served["results"]] == ["a", "b", "c"]
    assert served["results"][0]["rank"] == 1 and served["results"][0]["answered@1"]
    assert served["results"][1]["rank"] is None
    assert served["metrics"]["declined_out_of_scope"] is not None
    strict = CliRunner().invoke(cli, [*args[:-2], "--strict"])
    assert strict.exit_code == 1 and "--strict" in strict.output


@pytest.mark.model
def test_the_onnx_runtime_ranks_every_gold_question_as_pytorch_does(engine):
    """The served runtime (ONNX) must not change any answer: for every gold question, dev and
    test, with its history, the ranked passages and the decline decision are PyTorch's, but
    where two passages tie, or the margin sits on the threshold, within the 1e-6 by which the
    two runtimes' vectors differ (amplified at most a hundredfold by the adapter)."""
    from assistant.embed.embedding import SentenceTransformerEmbedder
    from assistant.engine import Engine

    assert engine.embedder.runtime == "onnx"
    torch_engine = Engine(engine.index, SentenceTransformerEmbedder(runtime="torch"))
    threshold = engine.ranker.threshold
    items = load_gold(GOLD / "dev.jsonl") + load_gold(GOLD / "test.jsonl")
    changed, ties = [], 0
    for item in items:
        onnx = engine.retrieve(item.question, item.history, 5)
        torch = torch_engine.retrieve(item.question, item.history, 5)
        scores = [round(h.score, 4) for h in onnx.hits], [round(h.score, 4) for h in torch.hits]
        if [h.index for h in onnx.hits] != [h.index for h in torch.hits]:
            ties += 1
            if scores[0] != scores[1]:  # not the same scores in another order: not a tie
                changed.append(item.id)
        if onnx.declined != torch.declined:
            ties += 1
            if abs(onnx.margin - threshold) > 1e-4:
                changed.append(item.id)
    assert changed == []
    assert ties <= 3


def test_a_repeat_after_the_same_history_in_another_case_is_named(tmp_path):
    """The history was compared as typed: a repeat whose history differed in case counted
    twice unannounced."""
    gold = tmp_path / "gold.jsonl"
    lines = [
        {"id": "a", "question": "And the dose?", "history": ["IVIg in MMN?"], "gold": ["g/kg"]},
        {"id": "b", "question": "and the dose?", "history": ["ivig in  MMN?"], "gold": ["g/kg"]},
        {"id": "c", "question": "And the dose?", "history": ["Steroids?"], "gold": ["g/kg"]},
    ]
    gold.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert repeated(load_gold(gold)) == [("a", "b")]


def test_a_variant_that_never_declines_lists_no_declines_in_text_or_json():
    """The text said "declines nothing" and then listed "out-of-scope answered"; the JSON
    said null."""
    item = GoldItem("c", "Is coffee allowed?", history=(), gold=(), out_of_scope=True)
    report = Report(name="bm25", k=5, declines=False)
    report.results.append(
        ItemResult(item, None, 0.0, declined=False, top_text="x", follow_up=False)
    )
    text = format_report(report)
    assert "declines nothing" in text and "out-of-scope answered" not in text
    assert report_json(report)["out_of_scope_answered"] is None


@pytest.mark.model
def test_bm25_that_matches_no_word_is_credited_with_nothing(engine):
    """BM25 alone that matches no word of the question falls back to the articles' order;
    `eval --compare` credited that order with the first passage's gold."""
    first = engine.index.passages[0].text
    item = GoldItem("x", "qwxz blorf?", history=(), gold=(" ".join(first.split()[:3]),),
                    out_of_scope=False)  # fmt: skip
    bm25 = evaluate(engine, [item], options=VARIANTS["bm25"])
    assert bm25.results[0].rank is None and bm25.metrics()["hit@3"] == 0.0
