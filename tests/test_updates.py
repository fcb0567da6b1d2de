"""Editors' updates with the real model and real builds: five kinds of edit, applied one on top
of the other as an editor would, each followed by `build` (tests/fixtures/updates/).

After each, the questions about the changed text (written from the facts by someone who never
saw the edit's wording) find it first and are not declined, the test part's questions about the
rest of the article keep their figures, and the change report says what happened.
"""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from assistant.build import build_corpus
from assistant.cli import cli
from assistant.engine import Engine
from assistant.errors import IndexStoreError
from assistant.evaluation import evaluate
from assistant.store.directory import published_version
from tests.conftest import ARTICLE, CORPUS, ROOT
from tests.updates import (
    corpus_copy,
    edit_article,
    edits,
    examples_naming,
    rest_of,
)
from tests.updates import test_part as gold_test_part

pytestmark = [pytest.mark.model, pytest.mark.slow]


@pytest.fixture(scope="module")
def chain(tmp_path_factory, index_dir, embedder):
    """The published index of the real corpus, then each edit built over the one before:
    {kind: (loaded version, engine)}."""
    root = tmp_path_factory.mktemp("updates")
    corpus = corpus_copy(root / "corpus")
    live = root / "index"
    shutil.copytree(
        index_dir, live
    )  # the session's build, with its caches: as `make build` left it
    built, touched = {}, set()
    for edit in edits():
        edit_article(corpus, edit)
        loaded = build_corpus(corpus, embedder, live)
        touched |= {c["id"] for c in loaded.manifest.changes["changed"]}
        touched |= {a["id"] for a in loaded.manifest.changes["added"]}
        built[edit.kind] = (edit, loaded, Engine.open(live, embedder), frozenset(touched))
    return corpus, live, built


def _figures(engine, items):
    return evaluate(engine, list(items)).metrics()


def _rest(loaded, kind, touched):
    """The test part's questions about passages no edit so far has touched."""
    kinds = [e.kind for e in edits()]
    applied = edits()[: kinds.index(kind) + 1]
    return rest_of(
        gold_test_part(), [p.text for p in loaded.passages if p.id not in touched], applied
    )


@pytest.mark.parametrize("kind", ["number", "section", "split", "reordered"])
def test_questions_about_the_changed_text_find_it_first_and_are_not_declined(chain, kind):
    edit, loaded, engine, _ = chain[2][kind]
    figures = _figures(engine, edit.questions)
    # blind questions, 8 to 32 of them a kind: one miss is 0.03 to 0.12 of hit@1
    assert figures["hit@1"] >= 0.75, (kind, figures)
    assert figures["hit@3"] >= 0.9, (kind, figures)
    # 3 of 32 for the section: "MR neurography", a word no article writes, declines one
    # (docs/retrieval.md, "Words no article mentions"); the others by the margin
    assert figures["wrongly_declined"] <= 0.1, (kind, figures)
    # and every new or edited passage is first, undeclined, for questions from its own words
    assert loaded.manifest.changes["unreachable"] == []


@pytest.mark.parametrize("kind", ["number", "section", "removed", "split", "reordered"])
def test_the_rest_of_the_article_keeps_its_test_part_figures(chain, kind):
    _, loaded, engine, touched = chain[2][kind]
    figures = _figures(engine, _rest(loaded, kind, touched))
    assert figures["hit@1"] >= 0.92, (kind, figures)  # measured 0.925-0.947 (issue 23)
    assert figures["declined_out_of_scope"] >= 0.85, (kind, figures)
    assert figures["wrongly_declined"] <= 0.03, (kind, figures)


def test_the_change_report_says_what_each_edit_did(chain):
    built = chain[2]
    report = {kind: built[kind][1].manifest.changes for kind in built}
    assert report["number"]["passages"]["edited"] == 1
    followed = report["number"]["examples"]["followed"]
    assert len(followed) == examples_naming(CORPUS, "1.6-2.4 g/kg") > 20
    assert report["number"]["examples"]["stale"] == []
    assert report["section"]["passages"]["added"] == 4
    aside = report["section"]["examples"]["set_aside"]
    assert len(aside) >= 10
    subjects = ("subcut", "scig", "ultrasound", "mri", "eculizumab", "efgartigimod", "home")
    on_subject = [a for a in aside if any(s in a["question"].lower() for s in subjects)]
    assert len(on_subject) >= 0.9 * len(aside), aside
    assert report["removed"]["passages"]["removed"] == 1
    stale = report["removed"]["examples"]["stale"]
    removed = "Anti-GM2 antibodies may also be present in some cases".lower()
    lines = (ROOT / "corpus" / "examples" / f"{ARTICLE.stem}.jsonl").read_text().splitlines()
    about_it = [json.loads(x) for x in lines if x.strip()]
    gone = [x for x in about_it if all(g.lower() in removed for g in x["gold"])]
    assert sorted(s["question"] for s in stale) == sorted(x["question"] for x in gone)
    # an example that also names a passage still there keeps it; its dead phrase is dropped
    partly = [x for x in about_it if x not in gone and any(g.lower() in removed for g in x["gold"])]
    dropped = {
        f["question"]
        for f in report["removed"]["examples"]["followed"]
        if any(m["to"] == "" for m in f["moves"])
    }
    assert partly and {x["question"] for x in partly} <= dropped
    assert report["split"]["passages"]["split"] == 2
    assert (
        report["reordered"]["passages"]["unchanged"] == report["reordered"]["passages"]["unchanged"]
    )
    assert (
        sum(report["reordered"]["passages"].values())
        == report["reordered"]["passages"]["unchanged"]
    )
    for kind, changes in report.items():
        assert changes["unreachable"] == [], kind
    assert report["section"]["probed"] == 4
    # the examples keep following the dose edit build after build, with no one rewriting them
    assert len(report["reordered"]["examples"]["followed"]) >= 29


def test_status_shows_the_change_report_and_json_gives_it_to_scripts(chain):
    _, live, built = chain
    shown = CliRunner().invoke(cli, ["status", "--index-dir", str(live)])
    assert shown.exit_code == 0, shown.output
    assert "changes         against" in shown.output and "reachability" in shown.output
    data = json.loads(
        CliRunner().invoke(cli, ["status", "--index-dir", str(live), "--json"]).output
    )
    assert data["changes"] == built["reordered"][1].manifest.changes
    # what `build --rollback` could go back to, as the text lists it: every other version
    assert data["version"] not in data["kept"] and len(data["kept"]) >= 1
    assert f"also kept       {', '.join(data['kept'])}" in shown.output


def test_examples_fix_writes_the_followed_phrases_and_the_next_build_needs_no_lineage(chain):
    corpus, live, _ = chain
    runner = CliRunner()
    result = runner.invoke(
        cli, ["examples", "fix", "--yes", "--corpus-dir", str(corpus), "--index-dir", str(live)]
    )
    assert result.exit_code == 0, result.output
    assert "rewrote" in result.output
    examples = (corpus / "examples" / f"{ARTICLE.stem}.jsonl").read_text(encoding="utf-8")
    assert "1.6-2.4 g/kg" not in examples and "2 g/kg given intravenously over 2-5 days" in examples
    again = runner.invoke(
        cli, ["examples", "fix", "--yes", "--corpus-dir", str(corpus), "--index-dir", str(live)]
    )
    assert "nothing to fix" in again.output


def test_strict_refuses_to_publish_a_passage_no_question_reaches(tmp_path, corpus_copy, embedder):
    index_dir = tmp_path / "index"
    build_corpus(corpus_copy, embedder, index_dir, train=False)
    before = published_version(index_dir)
    article = corpus_copy / ARTICLE.name
    text = article.read_text(encoding="utf-8")
    anchor = "  • Reflexes are reduced asymmetrically in weak limbs 4\n"
    echo = "  • Reflexes are reduced asymmetrically in weak limbs, as in other neuropathies 4\n"
    article.write_text(text.replace(anchor, anchor + echo), encoding="utf-8")
    with pytest.raises(IndexStoreError, match="cannot be reached") as caught:
        build_corpus(corpus_copy, embedder, index_dir, train=False, strict=True)
    assert "as in other neuropathies" in str(caught.value)
    assert "The published index was not changed" in str(caught.value)
    assert published_version(index_dir) == before
    loaded = build_corpus(
        corpus_copy, embedder, index_dir, train=False
    )  # without: published, listed
    assert [u["text"] for u in loaded.manifest.changes["unreachable"]] == [echo.strip()[2:-2]]


def test_an_editor_resolves_set_aside_examples_from_the_command_line(chain):
    corpus, live, _ = chain
    where = ["--corpus-dir", str(corpus), "--index-dir", str(live)]
    runner = CliRunner()
    listed = runner.invoke(cli, ["examples", "set-aside", "--index-dir", str(live), "--json"])
    aside = json.loads(listed.output)
    assert len(aside) >= 10
    first, second = aside[0], aside[1]
    moved = runner.invoke(cli, ["examples", "resolve", first["key"], "--answered", *where])
    assert moved.exit_code == 0, moved.output
    again = runner.invoke(cli, ["examples", "resolve", first["key"], "--answered", *where])
    assert again.exit_code == 1 and "already answered" in again.output  # said, not dropped
    kept = runner.invoke(cli, ["examples", "resolve", second["key"], "--out-of-scope", *where])
    assert kept.exit_code == 0, kept.output
    # another editor, from a list read before: the decision is not silently reversed
    reversed_ = runner.invoke(cli, ["examples", "resolve", second["key"], "--answered", *where])
    assert reversed_.exit_code == 1 and "already kept out of scope" in reversed_.output
    article = (corpus / "examples" / f"{first['article']}.jsonl").read_text(encoding="utf-8")
    assert article.count(json.dumps(first["question"], ensure_ascii=False)) == 1
    outside = (corpus / "examples" / "out-of-scope.jsonl").read_text(encoding="utf-8")
    assert first["question"] not in outside
    assert f'"not_answered_by": ["{second["passage"]}"]' in outside
    neither = runner.invoke(cli, ["examples", "resolve", second["key"], *where])
    assert neither.exit_code == 2 and "--answered" in neither.output
    # several at once (13 set aside by one new section meant 13 commands); a wrong key is
    # named and the others are still decided
    keys = [a["key"] for a in aside[2:4]]
    several = runner.invoke(cli, ["examples", "resolve", *keys, "nosuchkey0", "--out-of-scope", *where])  # fmt: skip
    assert several.exit_code == 1 and "1 of 3 not done: nosuchkey0" in several.output
    # the list says what is left to decide, not what the last build set aside
    left = json.loads(runner.invoke(cli, ["examples", "set-aside", *where, "--json"]).output)
    assert [a["key"] for a in left] == [a["key"] for a in aside[4:]]
    # stale examples (their passage removed) could only be deleted by hand
    stale = built_report(live)["examples"]["stale"]
    assert len(stale) >= 2
    # a blind editor tried `resolve --out-of-scope` for them: it says which command does that
    hint = runner.invoke(cli, ["examples", "resolve", stale[0]["key"], "--out-of-scope", *where])
    assert hint.exit_code == 1 and "remove-stale --out-of-scope" in hint.output
    # the article no longer covers what the first asks: moved out of scope, to be declined
    out = runner.invoke(cli, ["examples", "remove-stale", "--out-of-scope", stale[0]["key"], *where])  # fmt: skip
    assert out.exit_code == 0 and "moved out of scope" in out.output, out.output
    outside = (corpus / "examples" / "out-of-scope.jsonl").read_text(encoding="utf-8")
    moved = json.loads(next(line for line in outside.splitlines() if stale[0]["question"] in line))
    assert moved["gold"] == [] and moved["question"] == stale[0]["question"]
    removed = runner.invoke(cli, ["examples", "remove-stale", *(s["key"] for s in stale[1:]), *where])  # fmt: skip
    assert removed.exit_code == 0, removed.output
    text = (corpus / "examples" / f"{ARTICLE.stem}.jsonl").read_text(encoding="utf-8")
    assert not any(json.dumps(s["question"], ensure_ascii=False) in text for s in stale)


def built_report(live):
    from assistant.store.directory import published_manifest

    return published_manifest(live).changes


def test_the_report_names_a_new_date_a_renamed_heading_and_the_words_an_edit_changed(
    corpus_copy,
):
    """An editor's renamed heading, moved bullets and new date read "32 unchanged"; an edit
    past the first 70 characters was cut off before it showed."""
    from assistant.ingest.corpus import load_corpus
    from assistant.updates import lines

    before = load_corpus(corpus_copy)
    path = corpus_copy / ARTICLE.name
    text = path.read_text(encoding="utf-8")
    for old, new in (
        (
            "Dosing: 1.6-2.4 g/kg given intravenously over 3-5 days 4",
            "Dosing: 2 g/kg over 2-5 days 6",
        ),
        ("\nPrognosis\n", "\nOutlook\n"),
        ("February 2, 2026", "March 3, 2026"),
        ("in most patients 4\n", "in most patients 2, 4\n"),  # a reference corrected alone
    ):
        assert old in text
        text = text.replace(old, new, 1)
    path.write_text(text, encoding="utf-8")
    after = load_corpus(corpus_copy)
    changes = changes_between(
        before,
        after,
        dated={a.id: (a.last_updated.isoformat(), a.review_status, a.title) for a in before},
    )
    shown = "\n".join(lines(changes))
    assert f"restated  {ARTICLE.stem}: last updated 2026-02-02 -> 2026-03-03" in shown
    assert (
        f"recited   {ARTICLE.stem}:31 Progression is slow, occurring over 5-18 years in…: "
        "references [4] -> [2, 4]"
    ) in shown
    assert (
        f"moved     {ARTICLE.stem}:78 3 passage(s) from "
        "'Multifocal Motor Neuropathy (MMN) > Prognosis' to "
        "'Multifocal Motor Neuropathy (MMN) > Outlook'"
    ) in shown
    assert "was 'Dosing: 1.6-2.4 g/kg given intravenously over 3-5 days', now 'Dosing: 2" in shown
    # a reference changed with the words is shown too, not only one changed alone
    assert "\n              and its references [4] -> [6]\n" in shown


def test_the_report_names_renumbered_steps_and_what_a_split_came_from(corpus_copy):
    """A blind editor swapped two numbered steps (a protocol's order changed): the report said
    nothing. A split named its parts but not the statement they came from."""
    from assistant.ingest.corpus import load_corpus
    from assistant.ingest.lineage import trace
    from assistant.updates import lines, report
    from tests.test_lineage import SPLIT_AFTER, SPLIT_BEFORE

    path = corpus_copy / ARTICLE.name
    text = path.read_text(encoding="utf-8")
    steps = (
        "  1. Confirm the diagnosis 4\n  2. Start IVIg within a week 4\n  3. Review at 6 weeks 4\n"
    )
    text = text.replace("\nPrognosis\n", "\nSteps\n\n" + steps + "\nPrognosis\n", 1)
    path.write_text(text, encoding="utf-8")
    before = load_corpus(corpus_copy)
    swapped = steps.replace("2. Start IVIg within a week", "3. Start IVIg within a week")
    swapped = swapped.replace("3. Review at 6 weeks", "2. Review at 6 weeks")
    lines_swapped = swapped.splitlines(keepends=True)
    swapped = lines_swapped[0] + lines_swapped[2] + lines_swapped[1]
    path.write_text(
        text.replace(steps, swapped).replace(SPLIT_BEFORE, SPLIT_AFTER), encoding="utf-8"
    )
    after = load_corpus(corpus_copy)
    old = [p for a in before for p in a.passages]
    changes = report(
        after,
        trace(old, [p for a in after for p in a.passages], {}),
        against="v1",
        old=old,
        examples=None,
        set_aside=(),
    )
    shown = "\n".join(lines(changes))
    assert "renumbered" in shown and "Start IVIg within a week: 2. -> 3." in shown
    assert "Review at 6 weeks: 3. -> 2." in shown
    assert "split     " in shown
    assert "from 'Response timeline: Strength improves in 3-10 days, peaks at…'" in shown


def test_a_list_item_is_probed_with_its_leads_subject():
    """A blind gout update corrected "… up to a maximum of 900 mg daily", a step under
    "Starting and titrating allopurinol:"; its probes asked "above needed slowly monitoring up",
    were declined, and the build called the corrected dose unreachable (`--strict` would have
    refused it) although "maximum allopurinol dose?" found it first. One probe now asks with
    the lead's rarest words."""
    from assistant.records import Passage
    from assistant.updates import frequencies, probe_questions

    def passage(text: str, context: str | None = None) -> Passage:
        return Passage(text[:8], "a", "bullet", text, ("Urate-Lowering Therapy",), context, (),
                       0, 1, 1, 0, text)  # fmt: skip

    lead = "Starting and titrating allopurinol:"
    step = passage(
        "Doses above 300 mg daily are often needed and can be used in CKD if titrated slowly "
        "with monitoring, up to a maximum of 900 mg daily",
        lead,
    )
    library = [step, passage(lead), *(passage(f"Statement {n} on monitoring daily doses") for n in range(20))]  # fmt: skip
    probes = probe_questions(step, frequencies(library), len(library))
    assert any("allopurinol" in p for p in probes)
    assert not any("allopurinol" in p for p in probe_questions(
        passage(step.text), frequencies(library), len(library)))  # fmt: skip


def test_a_nested_item_is_probed_with_the_lead_it_stands_under_itself():
    """Shown under the whole chain of leads, a nested item was probed with the outer lead-in's
    rarest words ("cranial following") instead of its own lead's ("Visual symptoms")."""
    from assistant.answer import nearest_lead
    from assistant.ingest.corpus import load_article
    from assistant.updates import frequencies, probe_questions

    passages = list(load_article(ROOT / "tests/fixtures/giant-cell-arteritis/v0.md").passages)
    at = next(i for i, p in enumerate(passages) if p.text.startswith("Transient monocular"))
    lead = passages[nearest_lead(passages, at)].text
    assert lead == "Visual symptoms:" and passages[at].context.endswith(f" {lead}")
    probes = probe_questions(passages[at], frequencies(passages), len(passages), lead)
    assert any(p.startswith("Visual symptoms") for p in probes), probes


REFERENCED = """---
title: What is condition R?
last_updated: 2026-01-01
---

# What is condition R?

## Treatment

- Drug A is given first. [1]
- Drug B follows when A fails. [2]
- Drug C is reserved for relapse. [3]

## Professional Medical Disclaimer

For professionals.

## References

1. Smith J. Drug A trial. Lancet. 2020.
2. Jones K. Drug B cohort. BMJ. 2021.
3. Brown L. Drug C in relapse. NEJM. 2022.
"""


def test_the_report_tells_a_renumbered_list_from_a_statement_that_cites_another_work(tmp_path):
    """A blind editor inserted reference 2 and renumbered the rest: the report gave a line per
    passage ("[2] -> [3]"), showed the one statement now citing the new work as if it kept its
    old reference, and said nothing of the list or of an entry's corrected authors."""
    from assistant.ingest.corpus import load_corpus
    from assistant.updates import lines

    (tmp_path / "what-is-condition-r.md").write_text(REFERENCED, encoding="utf-8")
    before = load_corpus(tmp_path)
    after_text = (
        REFERENCED.replace("fails. [2]", "fails. [3, 2]")
        .replace("relapse. [3]", "relapse. [4]")
        .replace("2. Jones K.", "2. Cats E. Drug B trial. JNNP. 2023.\n3. Jones K.")
        .replace("3. Brown L.", "4. Browne L.")
    )
    (tmp_path / "what-is-condition-r.md").write_text(after_text, encoding="utf-8")
    after = load_corpus(tmp_path)
    changes = changes_between(before, after, listed={a.id: list(a.references) for a in before})
    shown = "\n".join(lines(changes))
    assert "references what-is-condition-r: [2] added: Cats E. Drug B trial. JNNP. 2023." in shown
    assert "[3] -> [4] corrected: 'Brown L. Drug C in relapse. NEJM. 2022.'" in shown
    assert "the same works renumbered, now [3]" in shown
    assert "references [2] -> [3, 2]" in shown and "now cites 'Cats E. Drug B trial" in shown
    assert "Drug C is reserved" not in shown  # [3] -> [4]: its work was only corrected
    # a corrected entry is the same work: the statement citing it is not listed as recited


def changes_between(before, after, **published):
    """The change report of `after` built over `before` (articles), traced by words alone."""
    from assistant.ingest.lineage import trace
    from assistant.updates import report

    old = [p for a in before for p in a.passages]
    new = [p for a in after for p in a.passages]
    return report(
        after, trace(old, new, {}), against="v1", old=old, examples=None, set_aside=(), **published
    )
