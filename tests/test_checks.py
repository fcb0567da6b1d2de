"""Slips an article parses with, named at build (no model: the parser alone)."""

from __future__ import annotations

import dataclasses

import pytest

from assistant.ingest.checks import slips
from assistant.ingest.corpus import load_article
from tests.conftest import ARTICLE, ROOT

FIXTURES = ROOT / "tests" / "fixtures"
WRITTEN = [
    ARTICLE,
    *sorted((FIXTURES / "outside").glob("*.txt")),
    FIXTURES / "second-article" / "what-is-kawasaki-disease.md",
    *sorted((FIXTURES / "markdown").glob("*.md")),
    *[FIXTURES / "anaphylaxis" / f"v{n}.txt" for n in range(3)],  # v3: the review line, below
    *[FIXTURES / "atrial-fibrillation" / f"v{n}.txt" for n in range(2)],
    *[FIXTURES / "gout" / f"v{n}.txt" for n in range(2)],
]


@pytest.mark.parametrize("path", WRITTEN, ids=lambda p: p.stem)
def test_the_articles_written_so_far_raise_no_warning(path):
    assert slips(load_article(path)) == []


def _slipped(tmp_path, old: str, new: str):
    text = ARTICLE.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / ARTICLE.name
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return slips(load_article(path))


def test_a_heading_typed_with_a_full_stop_is_named_with_its_line(tmp_path):
    (warning,) = _slipped(tmp_path, "\nIVIg Therapy\n", "\nIVIg Therapy.\n")
    assert warning.startswith(f"{tmp_path / ARTICLE.name}:61: 'IVIg Therapy.' is read as a")
    assert "drop its closing '.'" in warning


@pytest.mark.parametrize("pasted", ['<div class="x">', "======="])
def test_a_line_joined_on_after_a_statements_references_is_named(tmp_path, pasted):
    """A stray line right under a cited bullet was read as going on from it, and the bullet
    lost its references without a word."""
    bullet = "  \u2022 Muscle wasting and atrophy develop in affected regions over time 4\n"
    (warning,) = _slipped(tmp_path, bullet, bullet + pasted + "\n")
    line = ARTICLE.read_text(encoding="utf-8").split("\n").index(bullet.rstrip("\n")) + 2
    assert warning.startswith(f"{tmp_path / ARTICLE.name}:{line}: {pasted!r} goes on from the")
    assert "loses them" in warning


def test_an_item_that_lost_its_marker_mid_list_is_named(tmp_path):
    """It was read as a paragraph, silently: the list ended there and the items after it lost
    the lead-in above them ("MMN must be distinguished from … the following:")."""
    item = "  \u2022 Chronic inflammatory demyelinating polyneuropathy"
    (warning,) = _slipped(tmp_path, item, "  Chronic inflammatory demyelinating polyneuropathy")
    lines = ARTICLE.read_text(encoding="utf-8").split("\n")
    line = next(n for n, text in enumerate(lines, start=1) if text.startswith(item))
    assert warning.startswith(f"{tmp_path / ARTICLE.name}:{line}: 'Chronic inflammatory")
    assert "sits between list items without their marker" in warning


def test_a_wrapped_item_going_on_in_capitals_is_not_named(tmp_path):
    """The reader joins it to its item; the warning looked at raw lines and said the list
    ended there."""
    bullet = "  \u2022 Dosing: 1.6-2.4 g/kg given intravenously over 3-5 days 4"
    wrapped = "  \u2022 Dosing: 1.6-2.4 g/kg given intravenously over 3-5 days, or\n  IVIg 2 g/kg 4"
    assert _slipped(tmp_path, bullet, wrapped) == []


def test_a_word_second_level_o_marker_is_read_as_a_list_item(tmp_path):
    """Word's "o" bullet was joined onto the item above: "… onset 2 o Lewis-Sumner …", with a
    citation in mid-text."""
    text = ARTICLE.read_text(encoding="utf-8").replace(
        "  \u2022 Lewis-Sumner syndrome", "  o Lewis-Sumner syndrome", 1
    )
    path = tmp_path / ARTICLE.name
    path.write_text(text, encoding="utf-8")
    before = [(p.kind, p.text, p.context, p.citations) for p in load_article(ARTICLE).passages]
    assert [(p.kind, p.text, p.context, p.citations) for p in load_article(path).passages] == before
    assert slips(load_article(path)) == []


def test_a_heading_written_twice_is_named_at_the_empty_one(tmp_path):
    (warning,) = _slipped(tmp_path, "\nPrognosis\n", "\nPrognosis\n\nPrognosis\n")
    assert "the heading 'Prognosis' is written twice; this one has nothing under it" in warning


def test_a_date_still_to_come_is_named(tmp_path):
    (warning,) = _slipped(tmp_path, "February 2, 2026", "February 2, 2036")
    assert warning == (
        f"{tmp_path / ARTICLE.name}: 'Last updated' reads February 2, 2036, which is still to "
        "come, and every answer shows it; a slip in the year?"
    )


def test_a_statement_wrapped_after_a_number_is_not_named(tmp_path):
    """ "… given at 2" then "g/kg every month 4" is one statement, read right."""
    old = "  \u2022 Progression is slow, occurring over 5-18 years in most patients 4\n"
    new = "  \u2022 Progression is slow, with IVIg given at 2\ng/kg every month 4\n"
    assert _slipped(tmp_path, old, new) == []


@pytest.mark.parametrize(
    ("damage", "named"),
    [("wa\x00sting", "the control character U+0000"), ("wa\ufffdsting", "U+FFFD")],
    ids=["NUL", "replacement character"],
)
def test_a_control_character_or_a_lost_one_is_named_with_its_line(tmp_path, damage, named):
    """A NUL reached a passage and the terminal, and U+FFFD was indexed, without a word."""
    old = "Muscle wasting and atrophy"
    (warning,) = _slipped(tmp_path, old, old.replace("wasting", damage))
    line = next(
        n
        for n, text in enumerate(ARTICLE.read_text(encoding="utf-8").split("\n"), 1)
        if old in text
    )
    assert warning.startswith(f"{tmp_path / ARTICLE.name}:{line}: holds {named}")


def test_a_citation_with_a_stray_bracket_is_named(tmp_path):
    (warning,) = _slipped(tmp_path, "weak limbs 4\n", "weak limbs 4]\n")
    assert ":29: a square bracket without its pair" in warning and "weak limbs 4]" in warning


def test_a_reference_cut_short_is_named():
    article = load_article(ARTICLE)
    *kept, last = sorted({n for p in article.passages for n in p.citations})
    listed = [(n, "Smith J, et al. Neurology 2020") for n in kept]
    cut = dataclasses.replace(article, references=(*listed, (last, "Stamp")))
    assert slips(cut) == [
        f"{article.source}: reference {last} reads 'Stamp': cut short? Clinicians see it as written"
    ]


def test_a_statement_read_as_a_heading_with_nothing_under_it_is_named(tmp_path):
    """A short uncited line between two headings opens an empty section: its words are in no
    passage, so no answer can show them."""
    (warning,) = _slipped(
        tmp_path,
        "\nIVIg Therapy\n",
        "\nStart IVIg without waiting for antibody results\n\nIVIg Therapy\n",
    )
    assert warning.startswith(f"{tmp_path / ARTICLE.name}:61: 'Start IVIg without waiting")
    assert "heading with nothing under it" in warning


def test_a_heading_above_the_subsection_it_opens_is_not_named(tmp_path):
    assert _slipped(tmp_path, "\nIVIg Therapy\n", "\nLong-Term Care\n\nIVIg Therapy\n") == []


def test_a_statements_own_last_number_taken_for_a_citation_is_named(tmp_path):
    """MMN cites 1-5: "... weak limbs 60" lost its number to a citation no list can check."""
    (warning,) = _slipped(tmp_path, "weak limbs 4\n", "weak limbs, to 60\n")
    assert ":29: " in warning and "weak limbs, to' cites 60, far beyond" in warning
    assert "(at most 5)" in warning and "end it with a full stop ('... 60.')" in warning
    assert _slipped(tmp_path, "weak limbs 4\n", "weak limbs, to 60.\n") == []


def test_a_number_after_a_full_stop_or_in_markdown_is_cited_as_written(tmp_path):
    assert _slipped(tmp_path, "weak limbs 4\n", "weak limbs. 60\n") == []
    markdown = FIXTURES / "markdown" / "synthetic-condition-b.md"  # no references list
    text = markdown.read_text(encoding="utf-8")
    assert "in invented cases [2]" in text
    path = tmp_path / markdown.name
    path.write_text(text.replace("in invented cases [2]", "in invented cases [60]"), "utf-8")
    article = load_article(path)
    assert 60 in {n for p in article.passages for n in p.citations}
    assert slips(article) == []


def test_a_citation_list_with_a_number_missing_is_named(tmp_path):
    """ "... weak limbs 4,,1" was published with the numbers in its text, citing nothing."""
    (warning,) = _slipped(tmp_path, "weak limbs 4\n", "weak limbs 4,,1\n")
    assert warning.startswith(f"{tmp_path / ARTICLE.name}:29: '4,,1' ends the statement")
    assert "write them as '4, 1'" in warning
    assert _slipped(tmp_path, "weak limbs 4\n", "weak limbs 4, 1\n") == []  # read as cited


def test_the_blind_updates_review_line_is_the_one_warning_of_its_last_version():
    (warning,) = slips(load_article(FIXTURES / "anaphylaxis" / "v3.txt"))
    assert ":4: 'Educational purpose only" in warning and "no review status" in warning


def test_a_review_line_the_reader_cannot_read_is_named(tmp_path):
    """An editor's own wording of the review line set every answer's status to "not stated"
    with no word at build."""
    old = "Exercise caution as content is pending human review"
    (warning,) = _slipped(tmp_path, old, "Content reviewed and approved by our board")
    assert warning.startswith(f"{tmp_path / ARTICLE.name}:4: 'Educational purpose only")
    assert "states no review status this reader can read" in warning


def test_a_section_named_again_further_down_is_named_at_its_heading(tmp_path):
    """A subsection renamed to the name of another left two "Prognosis" sections apart: both
    cited by one name, and the change report's "moved" said nothing of why."""
    (warning,) = _slipped(
        tmp_path, "\nTreatment Limitations and Alternatives\n", "\nClinical Presentation\n"
    )
    assert warning.startswith(f"{tmp_path / ARTICLE.name}:69: a second section called")
    assert "'Clinical Presentation' (the first is on line 22)" in warning


def test_a_section_named_again_is_named_when_the_first_only_heads_subsections(tmp_path):
    """The first "Treatment" holds no statement of its own, only "IVIg Therapy" under it."""
    text = ARTICLE.read_text(encoding="utf-8")
    lead = text[text.index("High-dose intravenous") : text.index("\nIVIg Therapy")]
    path = tmp_path / ARTICLE.name
    path.write_text(text.replace(lead, "").replace("\nPrognosis\n", "\nTreatment\n"))
    (warning,) = slips(load_article(path))
    assert warning.startswith(f"{path}:75: a second section called 'Treatment'")
    assert "(the first is on line 57)" in warning


def test_a_markdown_section_named_again_is_named_at_its_heading(tmp_path):
    path = tmp_path / "steps.md"
    path.write_text(
        "---\ntitle: T\nlast_updated: 2026-01-01\n---\n\n# T\n\n## Sepsis\n\n### Management\n\nRest. [1]\n\n"
        "### Drugs\n\nAspirin. [1]\n\n### Management\n\nFluids. [1]\n\n## Disclaimer\n\nFor "
        "professionals.\n",
        encoding="utf-8",
    )
    (warning,) = slips(load_article(path))
    assert warning.startswith(f"{path}:18: a second section called 'Management'")
    assert "(the first is on line 10)" in warning


def test_a_reference_no_statement_cites_is_named(tmp_path):
    """A blind gout article listed 12 references and cited 11: "… in the CKD-FIX trial 12" kept
    its number as text, and nothing said so. An entry no statement cites is named, with the
    statement whose last number it may be."""
    article = load_article(ARTICLE)
    cited = sorted({n for p in article.passages for n in p.citations})
    last = article.passages[-1]
    unused = max(cited) + 1
    loose = dataclasses.replace(
        last, text=f"{last.text} in trial {unused}", citations=(), line=last.line
    )
    extended = dataclasses.replace(
        article,
        passages=(*article.passages[:-1], loose),
        references=(*article.references, (unused, "Smith J, et al. A trial. Neurology 2020")),
    )
    named = [s for s in slips(extended) if "cited by no statement" in s]
    assert named == [
        f"{article.source}:{last.line}: reference {unused} is cited by no statement, and "
        f"{loose.text[-40:]!r} ends with {unused}; if that is its citation, put it after a full "
        f"stop or in brackets ('[{unused}]')"
    ]
    alone = dataclasses.replace(extended, passages=article.passages)
    assert [s for s in slips(alone) if "cited by no statement" in s] == [
        f"{article.source}: reference {unused} is cited by no statement; cite it as "
        f"'[{unused}]' after the statement that draws on it (ranges as '[3, 4]'), or take it "
        "out of the list if none does"
    ]


@pytest.mark.parametrize("version", ["v0", "v1"])
def test_the_blind_markdown_articles_one_warning_is_its_uncited_reference(tmp_path, version):
    """Its writer listed the TABUL trial as reference 7 and cited it nowhere."""
    path = tmp_path / "what-is-giant-cell-arteritis.md"
    path.write_text(
        (FIXTURES / "giant-cell-arteritis" / f"{version}.md").read_text("utf-8"), "utf-8"
    )
    assert slips(load_article(path)) == [
        f"{path}: reference 7 is cited by no statement; cite it as '[7]' after the statement "
        "that draws on it (ranges as '[3, 4]'), or take it out of the list if none does"
    ]


def test_an_editors_note_under_a_cited_bullet_is_named(tmp_path):
    """A blind editor's "check age range with Dr K before publishing" under a cited bullet was
    served as part of it, its "5" shown as text and the statement citing nothing."""
    bullet = "  \u2022 Muscle wasting and atrophy develop in affected regions over time 4\n"
    note = "check age range with Dr K before publishing"
    (warning,) = _slipped(tmp_path, bullet, bullet + note + "\n")
    line = ARTICLE.read_text(encoding="utf-8").split("\n").index(bullet.rstrip("\n")) + 2
    assert warning.startswith(f"{tmp_path / ARTICLE.name}:{line}: {note[:40]!r} goes on from")


def test_an_unmarked_line_at_the_margin_between_items_is_named(tmp_path):
    """A blind editor's "Cranial nerve involvement is rare 4", typed at the margin between two
    bullets, ended the list: its lead-in showed 4 of its 6 items, and no one was told."""
    bullet = "  \u2022 Reflexes are reduced asymmetrically in weak limbs 4\n"
    stray = "Cranial nerve involvement is rare 4"
    (warning,) = _slipped(tmp_path, bullet, bullet + stray + "\n")
    assert f"{stray[:40]!r} sits between list items without their marker" in warning


@pytest.mark.parametrize(
    "wrapped",
    [
        "\nTreatment is usually continued for 12\nmonths before any reassessment.\n",
        "  \u2022 Infusions are usually repeated every 4\n    weeks in responders\n",
    ],
)
def test_an_uncited_statement_wrapped_after_a_number_is_not_named(tmp_path, wrapped):
    """The note warning fired on these (a second read's): following its advice would have cut
    the statement, and the number would then have become a citation."""
    assert _slipped(tmp_path, "\nPrognosis\n", "\n" + wrapped + "\nPrognosis\n") == []


def test_a_statement_pasted_twice_in_its_section_is_named_at_the_second(tmp_path):
    """Kept twice without a word, it could be shown twice in one answer."""
    line = "  \u2022 Progression is slow, occurring over 5-18 years in most patients 4\n"
    (warning,) = _slipped(tmp_path, line, line + line)
    number = ARTICLE.read_text(encoding="utf-8").splitlines().index(line.rstrip("\n")) + 1
    assert warning.startswith(
        f"{tmp_path / ARTICLE.name}:{number + 1}: the statement of line {number} again, in the "
        "same section ('Progression is slow, occurring over 5-18 years in"
    )


def test_the_same_statement_under_two_lead_ins_is_not_named(tmp_path):
    path = tmp_path / "what-is-gout.txt"
    source = ARTICLE.read_text(encoding="utf-8")
    old = "  \u2022 Progression is slow, occurring over 5-18 years in most patients 4\n"
    twice = (
        "For patients on allopurinol:\n\n  \u2022 Check renal function every 3 months 4\n\n"
        "For patients on febuxostat:\n\n  \u2022 Check renal function every 3 months 4\n"
    )
    path.write_text(source.replace(old, old + "\n" + twice, 1), encoding="utf-8")
    article = load_article(path)
    assert [p.context for p in article.passages if p.text.startswith("Check renal")] == [
        "For patients on allopurinol:",
        "For patients on febuxostat:",
    ]
    assert slips(article) == []
