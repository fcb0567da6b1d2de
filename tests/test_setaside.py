"""Which out-of-scope examples a build sets aside for new content (synthetic scores: the
decision alone, without the model; tests/test_updates.py runs it on real builds)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from assistant.ingest.examples import Example
from assistant.ingest.lineage import Lineage, Link
from assistant.records import Passage
from assistant.settings import TrainingSettings
from assistant.train.setaside import Earlier, Scores, find, subject_stems, unseen_by_examples


def _passage(pid: str, text: str, position: int) -> Passage:
    return Passage(pid, "a", "bullet", text, ("S",), None, (), 0, 1, position, position, text)


PASSAGES = [
    _passage("old-dose", "dose 2 g/kg", 0),
    _passage("old-gm1", "gm1 antibodies", 1),
    _passage("new-scig", "subcutaneous immunoglobulin at home", 2),
]
LINEAGE = Lineage({"old-dose": Link("edited", ("was-dose",)), "old-gm1": Link("unchanged", ("old-gm1",)),
                   "new-scig": Link("added")})  # fmt: skip
IN_SCOPE = [
    Example(f"in {i}", (), ("x",), "a", "a.jsonl", i + 1, answers=(i % 2,)) for i in range(10)
]


def _out(question: str, line: int, **kw) -> Example:
    return Example(question, (), (), None, "out-of-scope.jsonl", line, **kw)


def _scores(rows: list[tuple[list[float], list[float], set[str]]]) -> Scores:
    dense = [[0.6, 0.6, 0.0]] * len(IN_SCOPE) + [r[0] for r in rows]
    lexical = [[2.0, 2.0, 0.0]] * len(IN_SCOPE) + [r[1] for r in rows]
    stems = [frozenset()] * len(IN_SCOPE) + [frozenset(r[2]) for r in rows]
    return Scores(
        np.array(dense), np.array(lexical), stems,
        [frozenset({"dose", "kg"}), frozenset({"gm1", "antibodi"}),
         frozenset({"subcutan", "immunoglobulin", "home"})],
        frozenset({"dose", "kg", "gm1", "antibodi", "immunoglobulin"}),
    )  # fmt: skip


NOTHING_EARLIER = Earlier(None, {})
QUICK = TrainingSettings(steps=20, folds=2)


def _find(outs, rows, earlier=NOTHING_EARLIER, lineage=LINEAGE):
    return find([*IN_SCOPE, *outs], _scores(rows), PASSAGES, lineage, earlier, TrainingSettings())


def test_an_example_near_a_new_passage_that_brings_its_subject_is_set_aside():
    near = _out("subcutaneous at home?", 1)
    aside, used = _find([near], [([0.1, 0.2, 0.7], [0.0, 0.5, 3.0], {"subcutan", "home"})])
    assert [(a.example.question, a.position, a.carried) for a in aside] == [
        (near.question, 2, False)
    ]
    assert used is not None and used["dense"] == 0.6


def test_what_is_not_set_aside():
    rows = [
        ([0.1, 0.2, 0.3], [0.0, 0.0, 3.0], {"subcutan"}),  # not close enough by the vectors
        ([0.9, 0.2, 0.1], [4.0, 0.0, 0.0], {"dose"}),  # nearest is edited, but brings nothing new
        ([0.1, 0.2, 0.7], [0.0, 0.5, 3.0], {"immunoglobulin"}),  # shares no new word
        ([0.1, 0.8, 0.7], [0.0, 3.0, 1.0], {"subcutan"}),  # nearest is unchanged
    ]
    outs = [_out(f"q{i}", i) for i in range(len(rows))]
    assert _find(outs, rows)[0] == []


def test_an_example_written_with_the_new_content_or_checked_against_it_stays_in_training():
    row = ([0.1, 0.2, 0.7], [0.0, 0.5, 3.0], {"subcutan"})
    written_now = _out("subcutaneous?", 1)
    assert _find([written_now], [row], Earlier(frozenset({"another"}), {}))[0] == []
    checked = _out("subcutaneous?", 1, not_answered_by=("new-scig",))
    assert _find([checked], [row])[0] == []


def test_a_set_aside_example_stays_set_aside_following_its_passage_until_resolved():
    example = _out("home infusions?", 1)
    far = ([0.1, 0.1, 0.1], [0.0, 0.0, 0.0], set())
    nothing_new = Lineage({p.id: Link("unchanged", (p.id,)) for p in PASSAGES})
    earlier = Earlier(frozenset({example.key}), {example.key: "new-scig"})
    aside, _ = _find([example], [far], earlier, nothing_new)
    assert [(a.position, a.carried) for a in aside] == [(2, True)]
    resolved = _out("home infusions?", 1, not_answered_by=("new-scig",))
    assert _find([resolved], [far], earlier, nothing_new)[0] == []


def test_a_first_build_sets_nothing_aside():
    first = Lineage({p.id: Link("added") for p in PASSAGES}, first=True)
    row = ([0.1, 0.2, 0.7], [0.0, 0.5, 3.0], {"subcutan"})
    assert _find([_out("subcutaneous?", 1)], [row], lineage=first) == ([], None)


def test_a_new_article_sets_aside_only_what_names_its_subject():
    """A new article brings hundreds of new words: an out-of-scope question that shares one of
    them in passing stays out of scope; one that names the article's subject is set aside."""
    article = [
        Passage("kd-steroid", "what-is-kawasaki-disease", "bullet", "corticosteroids for refractory cases",
                ("Kawasaki Disease (KD)",), None, (), 0, 1, 3, 3, "corticosteroids"),
    ]  # fmt: skip
    passages = [*PASSAGES, article[0]]
    lineage = Lineage(
        {**LINEAGE.links, "kd-steroid": Link("added")},
        new_articles=frozenset({"what-is-kawasaki-disease"}),
    )
    eczema = _out("topical steroid strength for eczema on the face?", 1)
    kawasaki = _out("are steroids used in kawasaki disease?", 2)
    rows = [
        ([0.1, 0.1, 0.1, 0.7], [0.0, 0.0, 0.0, 2.0], {"steroid", "eczema", "face", "topic"}),
        ([0.1, 0.1, 0.1, 0.7], [0.0, 0.0, 0.0, 2.0], {"steroid", "kawasaki", "diseas"}),
    ]
    dense = [[0.6, 0.6, 0.0, 0.0]] * len(IN_SCOPE) + [r[0] for r in rows]
    lexical = [[2.0, 2.0, 0.0, 0.0]] * len(IN_SCOPE) + [r[1] for r in rows]
    scores = Scores(
        np.array(dense), np.array(lexical),
        [frozenset()] * len(IN_SCOPE) + [frozenset(r[2]) for r in rows],
        [*_scores([]).passage_stems, frozenset({"corticosteroid", "steroid", "kawasaki", "refractori"})],
        _scores([]).before,
    )  # fmt: skip
    aside, _ = find(
        [*IN_SCOPE, eczema, kawasaki],
        scores,
        passages,
        lineage,
        NOTHING_EARLIER,
        TrainingSettings(),
    )
    assert [a.example.question for a in aside] == [kawasaki.question]


def test_a_first_build_reads_articles_no_example_answers_as_new_to_the_examples():
    """A clean clone builds everything at once: an article added without examples used to be
    trained against every out-of-scope example that asks about its subject."""
    heart = Passage(
        "hf-dose", "heart", "bullet", "start bisoprolol low", ("HF",), None, (), 0, 1, 3, 3, "HF"
    )
    passages = [*PASSAGES, heart]
    first = Lineage({p.id: Link("added") for p in passages}, first=True)
    lineage, before = unseen_by_examples(first, passages, IN_SCOPE)
    assert lineage.new_articles == {"heart"} and not lineage.first
    assert [lineage.changed(p.id) for p in passages] == [False, False, False, True]
    assert before == tuple(p.index_text for p in PASSAGES)
    # every article answered by some example, or a build after the first: as before
    assert unseen_by_examples(first, PASSAGES, IN_SCOPE) is None
    assert unseen_by_examples(LINEAGE, passages, IN_SCOPE) is None
    assert unseen_by_examples(first, passages, []) is None


@pytest.mark.model
def test_a_clean_clone_sets_aside_what_an_article_without_examples_now_answers(
    corpus_copy, embedder, index_dir, tmp_path
):
    """A first build (a fresh clone: index/ is not kept) with a new article and no examples of
    its own trained "How is Kawasaki disease treated?" as not covered; it is now set aside
    for an editor, and an out-of-scope question that does not name the article stays in."""
    from assistant.build import build_corpus
    from tests.updates import SECOND, SECOND_ID, seed_vectors

    shutil.copy(SECOND / f"{SECOND_ID}.md", corpus_copy / f"{SECOND_ID}.md")
    with (corpus_copy / "examples" / "out-of-scope.jsonl").open("a", encoding="utf-8") as out:
        out.write('{"question": "How is Kawasaki disease treated?", "gold": [], "by": "t"}\n')
    seed_vectors(index_dir, tmp_path / "index")  # vectors only: no version came before
    loaded = build_corpus(corpus_copy, embedder, tmp_path / "index", training=QUICK)
    aside = loaded.manifest.changes["examples"]["set_aside"]
    questions = {a["question"]: a for a in aside}
    assert "How is Kawasaki disease treated?" in questions
    passage = questions["How is Kawasaki disease treated?"]["passage"]
    assert next(p for p in loaded.passages if p.id == passage).article_id == SECOND_ID
    assert all("kawasaki" in q.lower() or "kd" in q.lower().split() for q in questions), aside


def test_a_compound_brings_its_rare_parts_as_subjects_not_its_common_ones():
    """ "IVIg-treated" is rare as a whole; "treated" is not, and "How is ALS treated?" shares
    only that with a new bullet on thromboembolism after IVIg."""
    stems = subject_stems("Thromboembolic events in IVIg-treated patients", 4.5)
    assert {"ivig", "thromboembol"} <= stems
    assert "treat" not in stems and "patient" not in stems
    assert "anti-gm1" not in stems and "gm1" in subject_stems("anti-GM1 antibodies", 4.5)


def _cardiology(new_article: bool) -> tuple[list[Passage], Lineage]:
    """The corpus above and an atrial fibrillation article with a score and a bridging note:
    the article new to this build, or only those two passages."""
    af = [
        Passage("af-score", "what-is-atrial-fibrillation", "bullet",
                "The CHA2DS2-VASc score estimates annual stroke risk", ("AF",), None, (), 0, 1,
                3, 3, "What is atrial fibrillation?\nThe CHA2DS2-VASc score estimates stroke risk"),
        Passage("af-bridge", "what-is-atrial-fibrillation", "bullet",
                "Bridging with heparin is not needed when a DOAC is interrupted", ("AF",), None,
                (), 0, 1, 4, 4, "What is atrial fibrillation?\nBridging with heparin"),
    ]  # fmt: skip
    links = {**LINEAGE.links, "af-score": Link("added"), "af-bridge": Link("added")}
    new = frozenset({"what-is-atrial-fibrillation"}) if new_article else frozenset()
    return [*PASSAGES, *af], Lineage(links, new_articles=new)


def _cardiology_scores(rows: list[tuple[list[float], list[float], set[str]]]) -> Scores:
    dense = [[0.6, 0.6, 0.0, 0.0, 0.0]] * len(IN_SCOPE) + [r[0] for r in rows]
    lexical = [[2.0, 2.0, 0.0, 0.0, 0.0]] * len(IN_SCOPE) + [r[1] for r in rows]
    return Scores(
        np.array(dense), np.array(lexical),
        [frozenset()] * len(IN_SCOPE) + [frozenset(r[2]) for r in rows],
        [*_scores([]).passage_stems, frozenset({"cha2ds2", "vasc", "stroke", "atrial", "fibril"}),
         frozenset({"bridg", "heparin", "doac", "interrupt", "atrial", "fibril"})],
        _scores([]).before,
    )  # fmt: skip


def test_a_new_article_sets_aside_a_question_naming_a_term_only_it_brings():
    """ "How do I calculate the CHA2DS2-VASc score?", written out of scope beside a neurology
    article, is the atrial fibrillation article's question once it is added: it declined the
    article's own score questions (a blind cardiology editor's finding)."""
    passages, lineage = _cardiology(new_article=True)
    score = _out("How do I calculate the CHA2DS2-VASc score?", 1)
    row = ([0.1, 0.1, 0.1, 0.7, 0.2], [0.0, 0.0, 0.0, 3.0, 0.0], {"calcul", "cha2ds2", "vasc"})
    aside, _ = find([*IN_SCOPE, score], _cardiology_scores([row]), passages, lineage,
                    NOTHING_EARLIER, TrainingSettings())  # fmt: skip
    assert [(a.example.question, a.position) for a in aside] == [(score.question, 3)]


def test_a_question_naming_what_only_another_article_speaks_of_is_not_set_aside():
    """A bridging note added to the AF article shares "heparin" with a question naming a term
    only the other article has (GM1): still that article's question, and still not covered."""
    passages, lineage = _cardiology(new_article=False)
    infusions = _out("With GM1 antibodies, is heparin prophylaxis needed?", 1)
    bridging = _out("Is heparin bridging needed for a DOAC?", 2)
    rows = [
        ([0.1, 0.1, 0.2, 0.1, 0.7], [0.0, 0.0, 1.0, 0.0, 3.0], {"gm1", "antibodi", "heparin"}),
        ([0.1, 0.1, 0.1, 0.1, 0.7], [0.0, 0.0, 0.0, 0.0, 3.0], {"heparin", "bridg", "doac"}),
    ]  # fmt: skip
    aside, _ = find([*IN_SCOPE, infusions, bridging], _cardiology_scores(rows), passages,
                    lineage, NOTHING_EARLIER, TrainingSettings())  # fmt: skip
    assert [a.example.question for a in aside] == [bridging.question]


def test_a_question_naming_another_article_by_its_name_is_not_set_aside():
    """A blind gout article's trauma bullet set aside "Can physical trauma or stress set off a
    flare of MMN?": a question that names an article by its name, or follows a conversation
    that did, is that article's question whatever it shares with another's new passage."""
    from dataclasses import replace

    from assistant.ingest.corpus import load_article
    from tests.conftest import ARTICLE

    passages, lineage = _cardiology(new_article=True)
    mmn = replace(load_article(ARTICLE), id="a")
    af = replace(mmn, id="what-is-atrial-fibrillation", topic="Atrial Fibrillation (AF)",
                 title="What is atrial fibrillation?")  # fmt: skip
    named = _out("How do I calculate the CHA2DS2-VASc score in MMN?", 1)
    follows = Example("and the CHA2DS2-VASc score?", ("Which antibodies occur in MMN?",), (),
                      None, "out-of-scope.jsonl", 2)  # fmt: skip
    plain = _out("How do I calculate the CHA2DS2-VASc score?", 3)
    row = ([0.1, 0.1, 0.1, 0.7, 0.2], [0.0, 0.0, 0.0, 3.0, 0.0], {"calcul", "cha2ds2", "vasc"})
    outs = [named, follows, plain]
    scores = _cardiology_scores([row] * 3)
    aside, _ = find([*IN_SCOPE, *outs], scores, passages, lineage, NOTHING_EARLIER,
                    TrainingSettings(), [mmn, af])  # fmt: skip
    assert [a.example.question for a in aside] == [plain.question]
    unnamed, _ = find([*IN_SCOPE, *outs], scores, passages, lineage, NOTHING_EARLIER,
                      TrainingSettings())  # fmt: skip
    assert len(unnamed) == 3  # without the articles' names, each is set aside
