"""The vocabulary's bridges as shifts of the question's vector (`TrainingSettings(bridges=
"shifts")`): the model reads the question as typed, the bridges still reach BM25 and the vector.
"""

import dataclasses

import numpy as np
import pytest

from assistant.engine import Engine
from assistant.ingest.tokens import read
from assistant.search import artefact
from assistant.search.ranker import read_question
from assistant.search.shifts import Shifts, framed
from assistant.settings import TrainingSettings
from assistant.train.stage import embed_shifted

FRAMES = ("first frame", "second frame")


def unit(*values: float) -> np.ndarray:
    v = np.array(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def shifts_of(weight: float = 1.0) -> Shifts:
    """One bridge that moves both frames from x towards y."""
    frames = np.stack([unit(1, 0, 0), unit(1, 0, 0)])
    moved = np.stack([unit(1, 1, 0), unit(1, 1, 0)])
    return Shifts.measured(["towards y"], moved, frames, [4, 4], weight)


def test_a_shift_moves_the_question_towards_its_bridge_less_the_longer_the_question():
    shifts = shifts_of()
    question = unit(1, 0, 1)
    short = shifts.applied(question, 4, ["towards y"])
    long = shifts.applied(question, 40, ["towards y"])
    assert np.isclose(np.linalg.norm(short), 1.0) and np.isclose(np.linalg.norm(long), 1.0)
    assert short[1] > long[1] > 0.0  # diluted as mean pooling dilutes an appended phrase
    assert np.array_equal(shifts.applied(question, 4, []), question)
    heavier = shifts_of(weight=2.0).applied(question, 4, ["towards y"])
    assert heavier[1] > short[1]


def test_a_bridge_without_a_measured_shift_says_to_rebuild():
    with pytest.raises(KeyError, match="rebuild the index"):
        shifts_of().applied(unit(1, 0, 0), 4, ["never measured"])


def test_shifts_are_saved_and_read_back_unchanged(tmp_path):
    shifts = shifts_of(weight=1.5)
    shifts.save(tmp_path)
    again = Shifts.load(tmp_path)
    assert again.units == shifts.units and again.weight == 1.5
    assert again.frame_tokens == shifts.frame_tokens
    assert np.array_equal(again.vectors, shifts.vectors)
    assert framed("a; b", FRAMES) == ["first frame (a; b)", "second frame (a; b)"]


def test_only_text_or_shifts_is_a_way_to_read_the_bridges():
    with pytest.raises(ValueError, match="'text' or 'shifts'"):
        TrainingSettings(bridges="vectors")
    with pytest.raises(ValueError, match="shift_weight"):
        TrainingSettings(bridges="shifts", shift_weight=float("nan"))


def test_a_ranker_with_shifts_cannot_be_read_as_one_without(tmp_path):
    """Code that predates shifts refuses their artefact (another format) instead of serving
    its adapter with the bridges read as text; files that disagree with it name the fix."""
    import json

    from assistant.search.ranker import untrained

    ranker = dataclasses.replace(untrained(), shifts=shifts_of())
    artefact.save(ranker, tmp_path)
    choices = json.loads((tmp_path / "ranker.json").read_text())
    assert choices["format"] == artefact.SHIFTS_FORMAT != artefact.RANKER_FORMAT
    assert artefact.load(tmp_path).shifts.units == ["towards y"]
    (tmp_path / "shifts.json").unlink()
    with pytest.raises(ValueError, match="rebuild"):
        artefact.load(tmp_path)


@pytest.mark.parametrize(
    ("question", "typed", "bridge"),
    [
        ("Is the NCS diagnostic?", "Is the NCS diagnostic?", "nerve conduction studies"),
        ("steroids for weakness in the hands", None, "upper extremities"),
        # a misspelling's correction stays in the text the model reads
        ("cyclophosphomide?", "cyclophosphomide? (cyclophosphamide)", None),
    ],
)
def test_a_bridged_question_names_its_shifts_and_keeps_its_text(
    vocabulary, question, typed, bridge
):
    words = vocabulary.bridge(read(question))
    assert words.text == vocabulary.expand(question)  # what BM25 and text bridges read
    if typed is not None:
        assert words.for_model == typed
    units = set(vocabulary.bridge_units())
    assert all(u in units for u in words.shifts)  # every one measured by a build
    if bridge is not None:
        assert any(bridge in u for u in words.shifts) and bridge not in words.for_model
    unbridged = vocabulary.bridge(read("IVIg dose"))  # a word the article uses
    assert unbridged.for_model == "IVIg dose" and not unbridged.shifts


class Recording:
    """The packaged model, recording each text it is asked to embed."""

    def __init__(self, inner) -> None:
        self.inner, self.texts = inner, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def embed(self, texts, *, progress=False):
        self.texts.extend(texts)
        return self.inner.embed(texts, progress=progress)


@pytest.mark.slow
@pytest.mark.model
def test_with_shifts_the_model_reads_the_question_as_typed(shifted_two_articles_dir, embedder):
    recording = Recording(embedder)
    engine = Engine.open(shifted_two_articles_dir, recording)
    shifts = artefact.load(engine.index.ranker_dir).shifts
    assert shifts is not None and set(shifts.units) == set(engine.index.vocabulary.bridge_units())

    question = "What do NCS show in MMN?"
    answer = engine.ask(question)
    assert recording.texts == [question]  # not "... (nerve conduction studies)"
    assert answer.answerable
    assert "conduction" in answer.passages[0].passage.text.lower()

    # what is served is what training read: the shifted vectors of the question and of the
    # conversation before it, not the typed ones
    history = ["is it genetic or inherited?"]
    ranker = artefact.load(engine.index.ranker_dir)
    read_as = read_question(question, history, ranker.history_turns, engine.index.vocabulary)
    assert read_as[0].shifts and read_as[1] is not None and read_as[1].shifts
    trained, context, *_ = embed_shifted([read_as], shifts, embedder, {})
    unshifted = Shifts(shifts.units, shifts.vectors, shifts.frame_tokens, weight=0.0)
    typed, typed_context, *_ = embed_shifted([read_as], unshifted, embedder, {})
    served = engine.retrieve(question, history, 5).dense_scores
    for q, c in ((trained, context), (typed, typed_context)):
        scores, ids = engine.index.vectors.search(ranker.query_vector(q[0], c[0])[None, :], 5)
        expected = dict(zip(ids[0].tolist(), scores[0].tolist(), strict=True))
        matches = all(abs(served.get(i, -9.0) - s) < 1e-4 for i, s in expected.items())
        assert matches == (q is trained)
