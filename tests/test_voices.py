"""The ward's voices (issue 23): blind questions in the voices of ED and ICU doctors,
pharmacists, infusion nurses, GPs and residents' shorthand (tests/gold/voices.jsonl, never
trained on), on the index as `build` makes it by default.

Floors sit a little under what was measured (docs/retrieval.md, "The ward's voices"), so a
regression fails; issue 23's targets (hit@1 0.93, wrongly declined 2%) are above them.
"""

from __future__ import annotations

import pytest

from assistant.evaluation import evaluate, load_gold
from tests.conftest import ROOT

pytestmark = pytest.mark.model

GOLD = ROOT / "tests" / "gold"
VOICES = ("ed-doctor", "icu-doctor", "pharmacist", "infusion-nurse", "gp", "resident-phone")
# Measured 2026-12-05 (bench/voices.py): hit@1 0.864, hit@3 0.985, MRR 0.921, 95.8% declined,
# 4.5% (3 of 66) wrongly declined; drug names 0.923, negations 0.909.
# The floors leave two questions of room (0.03), for floating point on another machine.
VOICE_FLOORS = {"hit@1": 0.81, "hit@3": 0.95, "mrr": 0.88, "declined_out_of_scope": 0.90}
VOICE_MAX_WRONGLY = 0.061


@pytest.fixture(scope="module")
def voices_report(engine):
    return evaluate(engine, load_gold(GOLD / "voices.jsonl"), k=5)


def test_the_blind_set_holds_every_voice_follow_ups_and_out_of_scope_questions(voices_report):
    metrics = voices_report.metrics()
    assert metrics["questions"] >= 60 and metrics["out_of_scope_questions"] >= 20
    assert sum(bool(r.item.history) for r in voices_report.in_scope) >= 20
    by_tag = voices_report.by_tag()
    for voice in VOICES:
        assert by_tag[f"voice:{voice}"]["questions"] >= 10, voice
    for kind in ("drug-name", "negation", "vignette-for", "vignette-against"):
        assert by_tag[kind]["questions"] >= 5, kind


def test_blind_questions_in_the_wards_voices_find_their_statement(voices_report):
    metrics = voices_report.metrics()
    for name, floor in VOICE_FLOORS.items():
        assert metrics[name] >= floor, (name, metrics)
    assert metrics["wrongly_declined"] <= VOICE_MAX_WRONGLY, metrics
    by_tag = voices_report.by_tag()
    assert by_tag["drug-name"]["hit@3"] == 1.0, by_tag["drug-name"]
    assert by_tag["negation"]["hit@3"] == 1.0, by_tag["negation"]


def test_cross_validation_is_reported_for_each_voice_of_the_examples(engine):
    by_writer = engine.index.manifest.training["cross_validation"]["by_writer"]
    for voice in VOICES:
        assert by_writer[voice]["questions"] >= 20, voice
        assert by_writer[voice]["out_of_scope_questions"] >= 10, voice
        assert by_writer[voice]["hit@1"] >= 0.6, (voice, by_writer[voice])
