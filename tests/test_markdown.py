"""Markdown articles: metadata, structure, "[1]" citations, references, errors by file and line,
and several articles (the real export beside synthetic Markdown) through the index, the JSON
answer and the page.

The Markdown articles are synthetic test data in tests/fixtures/markdown/ (each file says so);
corpus/ holds real articles only. Every expectation below was checked by hand against them.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from assistant.answer import answer_to_dict, assemble, introduced
from assistant.build import build_index
from assistant.errors import ArticleError
from assistant.ingest.citations import split_markdown_citations
from assistant.ingest.corpus import article_paths, load_article, load_corpus
from assistant.ingest.inline import split_markdown
from assistant.ingest.markdown import parse_markdown
from assistant.search.loaded import load_index
from assistant.search.retrieval import Hit
from tests.conftest import ARTICLE, FIXTURES, hang_guard
from tests.test_web import parse

MARKDOWN = FIXTURES / "markdown"
A = MARKDOWN / "synthetic-condition-a.md"  # topic heading, References, a ### subsection
B = MARKDOWN / "synthetic-condition-b.md"  # no topic heading, no References, a comment
TOPIC_A = "Synthetic Test Condition A (STCA)"
LEAD_IN_A = "STCA presents with findings invented for this test:"
ORDER_A = "Testing follows a fixed order:"
REFERENCES_A = (
    (1, "Example A, Sample B. A made-up study of STCA. J Synth Test. 2020;1:1-10."),
    (2, "Example C. Another invented report. J Synth Test. 2021;2:11-20."),
    (3, "Example D. A third invented report that wraps onto a second line. J Synth Test. 2022;3:21-30."),
    (4, "Example E. An invented dosing note <b>with markup</b>. J Synth Test. 2023;4:31-40."),
)  # fmt: skip


def test_the_fixtures_say_they_are_synthetic_test_data():
    for path in (A, B):
        assert "Synthetic test data, not a real article" in path.read_text(encoding="utf-8")
    assert not list(Path(ARTICLE).parent.glob("*.md"))  # corpus/ holds real articles only


# --- metadata and structure ---------------------------------------------------------------------


def test_metadata_comes_from_the_front_matter():
    a = load_article(A)
    assert a.id == "synthetic-condition-a"
    assert a.title == "What is synthetic test condition A?"
    assert a.topic == TOPIC_A  # the ## heading straight after the title, as in the export
    assert a.last_updated == date(2026, 3, 15)  # ISO date
    assert a.review_status == "pending human review"
    assert a.review_note is None
    assert a.disclaimer == (
        "This synthetic article is test data for healthcare professionals; it is not medical "
        "advice.\n\nIts second paragraph checks that disclaimer paragraphs are kept apart."
    )
    assert a.references == REFERENCES_A

    b = load_article(B)
    assert b.title == "What is synthetic test condition B?"  # quotes removed
    assert b.topic == b.title  # content starts right under the title
    assert b.last_updated == date(2025, 4, 1)  # 'Month D, YYYY'
    assert b.review_status == "not stated"
    assert b.disclaimer == "Synthetic test data for healthcare professionals; not medical advice."
    assert b.references == ()


def test_headings_keep_their_real_levels_and_the_topic_is_level_one():
    headings = [(b.level, b.raw, b.line) for b in parse_markdown(A).blocks if b.kind == "heading"]
    assert headings == [
        (1, TOPIC_A, 11),
        (2, "Clinical Features", 15),
        (2, "Diagnosis", 25),
        (3, "Laboratory Tests", 29),  # ###
        (2, "Treatment", 34),
    ]  # the # title, the disclaimer and References are not sections
    assert [(b.level, b.raw) for b in parse_markdown(B).blocks if b.kind == "heading"] == [
        (2, "Course")
    ]


def test_every_statement_is_one_passage_with_its_section_lead_in_and_citations():
    got = [
        (p.line, p.kind, p.section, p.text, p.citations, p.context)
        for p in load_article(A).passages
    ]
    clinical = (TOPIC_A, "Clinical Features")
    labs = (TOPIC_A, "Diagnosis", "Laboratory Tests")
    assert got == [
        (13, "paragraph", (TOPIC_A,),
         "STCA is a made-up condition that exists only to test the Markdown reader.", (1,), None),
        (17, "lead_in", clinical, LEAD_IN_A, (), None),
        (19, "bullet", clinical, "Onset is over 3-5 days in most synthetic cases", (1, 2), LEAD_IN_A),
        (20, "bullet", clinical, "A rash appears on the left hand only.", (2,), LEAD_IN_A),
        (21, "bullet", clinical,  # a wrapped bullet is one passage
         "Fever is reported by 40-60% of made-up patients, lasting about 2 weeks", (3,), LEAD_IN_A),
        (23, "bullet", clinical, "Symptoms resolve without treatment [see 3-5 days]", (), LEAD_IN_A),
        (27, "lead_in", (TOPIC_A, "Diagnosis"), ORDER_A, (), None),
        # a subsection's passages take the lead-in of the section above it
        (31, "bullet", labs, "The invented Z-marker is raised in type 2 disease", (2, 3), ORDER_A),
        (32, "bullet", labs, "A normal Z-marker does not exclude STCA", (), ORDER_A),
        (36, "paragraph", (TOPIC_A, "Treatment"),
         "Drug Q is given at 1.5-2.0 g/kg over 3-5 days.", (4,), None),
    ]  # fmt: skip
    texts = " ".join(p.text for p in load_article(A).passages)
    for not_content in ("Disclaimer", "not medical advice", "Example A", "References", "---"):
        assert not_content not in texts


def test_an_article_without_a_topic_heading_reads_like_the_export_without_one():
    got = [(p.line, p.kind, p.section, p.text, p.citations) for p in load_article(B).passages]
    assert got == [
        (12, "paragraph", (),
         "Synthetic test condition B (STCB) is an invented condition with no reference list.", (1,)),
        (16, "bullet", ("Course",), "STCB lasts 1-2 weeks in invented cases", (2,)),
    ]  # fmt: skip
    assert "Synthetic test data" not in " ".join(p.text for p in load_article(B).passages)


def test_spans_point_at_the_statement_as_printed():
    """`source[start:end]` is the statement up to its last kept character, as for the export;
    where the marker stands before the full stop ("… only [2].") the span keeps the marker, and
    taking the markers off the span always gives the passage text."""
    source = A.read_text(encoding="utf-8")
    lines = source.splitlines()
    for passage in load_article(A).passages:
        printed = source[passage.start : passage.end]
        assert " ".join(split_markdown(printed).text.split()) == passage.text
        assert lines[passage.line - 1].strip().lstrip("- ").startswith(printed.split()[0])
        if passage.line == 20:
            assert printed == "A rash appears on the left hand only [2]."
        elif passage.line == 21:
            assert (
                printed
                == "Fever is reported by 40-60% of made-up patients, lasting\n  about 2 weeks"
            )
        else:
            assert printed == passage.text


@pytest.mark.parametrize(
    ("statement", "text", "citations"),
    [
        ("over 3-5 days [4]", "over 3-5 days", (4,)),
        ("of patients [4, 1, 5]", "of patients", (4, 1, 5)),
        ("of patients [4, 1, 5].", "of patients.", (4, 1, 5)),
        ("on testing. [1,2]", "on testing.", (1, 2)),
        ("on testing.[3]", "on testing.", (3,)),
        ("two markers [2][3]", "two markers", (2, 3)),
        ("cited twice [2, 2, 3]", "cited twice", (2, 3)),
        ("trailing spaces [7]   ", "trailing spaces", (7,)),
        ("a marker wrapped [4,\n  1, 5]", "a marker wrapped", (4, 1, 5)),  # a soft break is a space
    ],
)
def test_trailing_markdown_markers_become_citations(statement, text, citations):
    split = split_markdown_citations(statement)
    assert (split.text, split.citations) == (text, citations)


@pytest.mark.parametrize(
    "statement",
    [
        "Symptoms resolve [see 3-5 days]",  # words in the brackets
        "given over 3-5 days",  # a bare number is content in Markdown
        "the dose [1.5-2.0 g/kg]",
        "published [2019]",  # four digits are never a reference number
        "with reference [0]",  # references start at 1
        "a number in two scripts [1\u0663]",  # a 1 and an Arabic-Indic 3 is not reference 13
        "IVIg [4] is given first",  # a marker mid-sentence is not at the end of the statement
        "see [the guideline][1]",  # a reference-style link
        "[1]",  # a marker with no statement
        "",
    ],
)
def test_content_numbers_and_brackets_are_never_citations(statement):
    split = split_markdown_citations(statement)
    assert split.citations == ()
    assert split.text == statement.rstrip()


# --- errors name the file and the line ----------------------------------------------------------


def write(tmp_path: Path, text: str, name: str = "article.md") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def edit(old: str, new: str, source: Path = A) -> str:
    text = source.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    return text.replace(old, new)


def drop_line(number: int, source: Path = A) -> str:
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    return "".join(lines[: number - 1] + lines[number:])


EMPTY_DISCLAIMER = edit(
    "This synthetic article is test data for healthcare professionals; it is not medical advice.\n",
    "\n",
).replace("Its second paragraph checks that disclaimer paragraphs are kept apart.\n", "\n")
NO_REFERENCE_ENTRIES = A.read_text(encoding="utf-8").split("1. Example A")[0]


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        pytest.param(drop_line(7), "front matter opened here is never closed", 1, id="unclosed"),
        pytest.param("".join(A.read_text().splitlines(True)[7:]), "no front matter", 1,
                     id="no-front-matter"),
        pytest.param(drop_line(4).replace("# What is synthetic test condition A?\n", ""),
                     "no title", 1, id="no-title"),
        pytest.param(edit("title: What is synthetic test condition A?", "title:")
                     .replace("# What is synthetic test condition A?\n", ""),
                     "no title", 4, id="empty-title"),
        pytest.param(edit("# What is synthetic test condition A?", "# Another title"),
                     "differs from the front matter title", 9, id="title-mismatch"),
        pytest.param(drop_line(5), "no 'last_updated'", 1, id="no-date"),
        pytest.param(edit("2026-03-15", "2026-02-30"), "cannot read the date '2026-02-30'", 5,
                     id="impossible-date"),
        pytest.param(edit("2026-03-15", "Febtober 2, 2026"), "write last_updated as YYYY-MM-DD", 5,
                     id="unreadable-date"),
        pytest.param(edit("title: What", "title: What\ntitle: Again"), "'title' is set twice", 5,
                     id="duplicate-key"),
        pytest.param(edit("review_status: pending", "review status pending"),
                     "cannot read the front matter line", 6, id="not-key-value"),
        pytest.param(edit("## Professional Medical Disclaimer", "## Safety Note"),
                     "no '## Professional Medical Disclaimer' section", 44, id="no-disclaimer"),
        pytest.param(EMPTY_DISCLAIMER, "disclaimer heading has no paragraph", 38,
                     id="empty-disclaimer"),
        pytest.param(edit("over 3-5 days. [4]", "over 3-5 days. [4, 5]"),
                     "cites [5], which the References section (line 44) does not list", 36,
                     id="cited-not-listed"),
        pytest.param(edit("1. Example A", "Example A"), "starts with its number", 46,
                     id="unnumbered-reference"),
        pytest.param(edit("2. Example C", "1. Example C"), "reference 1 is listed twice", 47,
                     id="duplicate-reference"),
        pytest.param(NO_REFERENCE_ENTRIES, "References section has no entries", 44,
                     id="empty-references"),
        pytest.param(edit("## Treatment", "# Treatment"), "is a second title", 34,
                     id="second-title"),
        pytest.param(edit("Synthetic test data, not a real article: it", "it", B).replace("-->", ""),
                     "comment opened here is never closed", 7, id="unclosed-comment"),
    ],
)  # fmt: skip
def test_a_malformed_article_names_its_file_and_line_and_what_to_fix(tmp_path, text, message, line):
    path = write(tmp_path, text)
    with pytest.raises(ArticleError) as caught:
        load_article(path)
    error = caught.value
    assert (error.path, error.line) == (str(path), line)
    assert message in error.reason
    assert str(error).startswith(f"{path}:{line}: ")


def test_an_article_with_no_passages_names_its_title_line(tmp_path):
    text = (
        "---\ntitle: T\nlast_updated: 2026-01-01\n---\n\n# T\n\n## Only A Heading\n\n"
        "## Disclaimer\n\nFor professionals.\n"
    )
    path = write(tmp_path, text)
    with pytest.raises(ArticleError, match="no passages") as caught:
        load_article(path)
    assert caught.value.line == 6


def test_a_line_of_a_byte_order_mark_and_white_space_is_blank_not_an_empty_passage(tmp_path):
    """Files joined with `cat` keep each one's byte order mark at the start of a line."""
    text = (
        "---\ntitle: T\nlast_updated: 2026-01-01\n---\n\nA statement. [1]\n\ufeff\n"
        "Another one.\n\ufeff\u00a0\n## Disclaimer\n\nFor professionals.\n"
    )
    article = load_article(write(tmp_path, text))
    assert [(p.line, p.text, p.citations) for p in article.passages] == [
        (6, "A statement.", (1,)),
        (8, "Another one.", ()),
    ]


def test_an_empty_or_non_utf8_markdown_file_names_its_line(tmp_path):
    with pytest.raises(ArticleError, match="empty") as caught:
        load_article(write(tmp_path, "\n  \n"))
    assert caught.value.line == 1
    path = tmp_path / "latin1.md"
    path.write_bytes("---\ntitle: caf\xe9\n---\n".encode("latin-1"))
    with pytest.raises(ArticleError, match="not UTF-8") as caught:
        load_article(path)
    assert caught.value.line == 2


# --- ordinary Markdown reads as any Markdown tool reads it -------------------------------------

ORDINARY = """---
title: T
last_updated: 2026-01-01
---

# T

## Dosing Steps

Give the drug in order:

1. Check the kidneys first. [1]
2. Give 2 g/kg over 5 days.
3) Repeat every 4 weeks
   when weakness returns. [2]

## Examples

```
# not a heading: a code line
dose = 2 g/kg
```

> Quoted guidance on the first line
> and on the second line. [1]

Monitoring
----------

Creatinine is checked before each course.

- A loose item.

  Its second paragraph.

## Disclaimer

For professionals.
"""


def _ordinary(tmp_path: Path):
    return load_article(write(tmp_path, ORDINARY))


def test_numbered_lists_code_quotes_and_setext_headings_become_the_right_passages(tmp_path):
    got = [
        (p.line, p.kind, p.section[-1], p.text, p.citations) for p in _ordinary(tmp_path).passages
    ]
    assert got == [
        (10, "lead_in", "Dosing Steps", "Give the drug in order:", ()),
        (12, "bullet", "Dosing Steps", "Check the kidneys first.", (1,)),  # one item, one passage
        (13, "bullet", "Dosing Steps", "Give 2 g/kg over 5 days.", ()),
        (14, "bullet", "Dosing Steps", "Repeat every 4 weeks when weakness returns.", (2,)),
        # a '#' line inside a fenced block is code, not a second title; its lines stay lines
        (20, "paragraph", "Examples", "# not a heading: a code line\ndose = 2 g/kg", ()),
        (24, "paragraph", "Examples",  # the quote's '>' markers are not text
         "Quoted guidance on the first line and on the second line.", (1,)),
        # the underlined heading is a level 2 section, not a passage
        (30, "paragraph", "Monitoring", "Creatinine is checked before each course.", ()),
        (32, "bullet", "Monitoring", "A loose item.", ()),
        (34, "bullet", "Monitoring", "Its second paragraph.", ()),
    ]  # fmt: skip
    headings = [(b.level, b.raw, b.line) for b in parse_markdown(write(tmp_path, ORDINARY)).blocks
                if b.kind == "heading"]  # fmt: skip
    assert headings == [(1, "Dosing Steps", 8), (2, "Examples", 17), (2, "Monitoring", 27)]


def test_an_ordered_lists_items_keep_their_numbers(tmp_path):
    """Markdown's numbered items keep the number they are written with (the list may start
    at any number), on their first paragraph only; a plain item has none."""
    numbers = [(p.text, p.number) for p in _ordinary(tmp_path).passages if p.kind == "bullet"]
    assert numbers == [
        ("Check the kidneys first.", "1."),
        ("Give 2 g/kg over 5 days.", "2."),
        ("Repeat every 4 weeks when weakness returns.", "3)"),
        ("A loose item.", ""),
        ("Its second paragraph.", ""),
    ]


def test_a_quote_inside_a_step_is_of_that_step_and_a_list_from_zero_counts_from_zero(tmp_path):
    """A block quote in step 2 ended the lead-in's list there (steps 3 and 4 lost it), and
    "0." read as 1: every step was one off what viewers show."""
    body = ORDINARY.replace(
        "1. Check the kidneys first. [1]\n2. Give 2 g/kg over 5 days.\n",
        "0. Check the kidneys first. [1]\n1. Give 2 g/kg over 5 days.\n\n"
        "   > A quoted warning inside the step. [1]\n\n2. Call for help. [1]\n",
    ).replace("3) Repeat every 4 weeks\n   when weakness returns. [2]\n", "")
    got = [(p.text, p.number, p.context) for p in load_article(write(tmp_path, body)).passages]
    lead = "Give the drug in order:"
    assert got[1:5] == [
        ("Check the kidneys first.", "0.", lead),
        ("Give 2 g/kg over 5 days.", "1.", lead),
        ("A quoted warning inside the step.", "1.", lead),
        ("Call for help.", "2.", lead),
    ]


def test_each_cited_sentence_of_a_statement_is_a_passage_with_its_own_references(tmp_path):
    """ "Remove the trigger. [1] Stop the infusion at once. [2]" was one passage showing "[1]"
    in its text and citing 2 alone; the export has always cut such sentences apart."""
    body = ORDINARY.replace(
        "Creatinine is checked before each course.",
        "Creatinine is checked first. [1] Repeat it\nafter each course. [2]",
    )
    path = write(tmp_path, body)
    article = load_article(path)
    got = [(p.text, p.citations, p.line) for p in article.passages if p.section[-1] == "Monitoring"]
    assert got[:2] == [
        ("Creatinine is checked first.", (1,), 30),
        ("Repeat it after each course.", (2,), 30),
    ]
    cut = [p for p in article.passages if p.section[-1] == "Monitoring"][:2]
    for passage in cut:  # each span is its sentence as printed, across lines
        printed = body[passage.start : passage.end]
        assert " ".join(printed.split()) == passage.text


def test_vancouver_markers_before_each_full_stop_cite_their_own_sentence(tmp_path):
    """ "… first drug [1]. Prednisolone … [2]. Azathioprine … [3]." was one passage citing [3]
    alone, with "[1]" and "[2]" shown in its text (a blind writer's myasthenia article)."""
    body = ORDINARY.replace(
        "Creatinine is checked before each course.",
        "Creatinine is checked first [1]. Repeat it\nafter each course [2-3]. See the\n"
        "[renal chart][2]. Then stop.",
    )
    article = load_article(write(tmp_path, body))
    got = [(p.text, p.citations) for p in article.passages if p.section[-1] == "Monitoring"]
    assert got[:3] == [
        ("Creatinine is checked first.", (1,)),
        ("Repeat it after each course.", (2, 3)),
        ("See the [renal chart][2]. Then stop.", ()),  # a link's label: no citation, no cut
    ]
    wrapped = ORDINARY.replace(
        "Creatinine is checked before each course.",
        "*Avoid aminoglycosides [3]. They worsen weakness [4].*",
    )
    got = [
        (p.text, p.citations)
        for p in load_article(write(tmp_path, wrapped)).passages
        if p.section[-1] == "Monitoring"
    ]
    assert got[:2] == [("Avoid aminoglycosides.", (3,)), ("They worsen weakness.", (4,))]


def test_a_tables_reference_column_gives_the_rows_citations(tmp_path):
    body = ORDINARY.replace(
        "Creatinine is checked before each course.",
        "| Drug | Dose | Ref |\n| --- | --- | --- |\n| Azathioprine | 2.5 mg/kg/day | [1] |\n"
        "| Mycophenolate | 1 g twice daily | [1][2] |",
    )
    article = load_article(write(tmp_path, body))
    got = [(p.text, p.citations) for p in article.passages if p.section[-1] == "Monitoring"]
    assert got[:2] == [
        ("Drug: Azathioprine; Dose: 2.5 mg/kg/day", (1,)),
        ("Drug: Mycophenolate; Dose: 1 g twice daily", (1, 2)),
    ]


def test_a_list_numbered_one_one_one_reads_one_two_three(tmp_path):
    """Markdown viewers number "1. 1. 1." as 1, 2, 3 (from the list's first number); read as
    written, every step was step 1. A step's second paragraph is of that step."""
    body = ORDINARY.replace(
        "1. Check the kidneys first. [1]\n2. Give 2 g/kg over 5 days.\n",
        "4. Check the kidneys first. [1]\n\n   Then the liver.\n\n1. Give 2 g/kg over 5 days.\n",
    )
    numbers = [(p.text, p.number) for p in load_article(write(tmp_path, body)).passages[1:4]]
    assert numbers == [
        ("Check the kidneys first.", "4."),
        ("Then the liver.", "4."),
        ("Give 2 g/kg over 5 days.", "5."),
    ]


def test_ordinary_markdown_spans_cover_each_statement_in_the_source(tmp_path):
    for passage in _ordinary(tmp_path).passages:
        printed = ORDINARY[passage.start : passage.end]
        first_word = passage.text.split()[0]
        assert printed.startswith(first_word), (printed, passage.text)
        last_word = passage.text.split()[-1]
        assert printed.rstrip(" .").endswith(last_word.rstrip(".")), (printed, passage.text)
        assert ORDINARY.splitlines()[passage.line - 1].lstrip(" >-123.)").startswith(first_word)


def test_a_setext_title_and_a_numbered_reference_list_are_read(tmp_path):
    text = (
        "---\nlast_updated: 2026-01-01\n---\n\nThe Title\n=========\n\nA statement. [2]\n\n"
        "## Disclaimer\n\n> For professionals\n> only.\n\n## References\n\n"
        "1) First source.\n2) Second source,\n   wrapped.\n"
    )
    article = load_article(write(tmp_path, text))
    assert article.title == "The Title"
    assert article.disclaimer == "For professionals only."
    assert article.references == ((1, "First source."), (2, "Second source, wrapped."))
    assert [(p.line, p.text, p.citations) for p in article.passages] == [(8, "A statement.", (2,))]


# --- several articles: the corpus, the index, the answer, the page ------------------------------


@pytest.fixture
def mixed_corpus(tmp_path: Path) -> Path:
    """The real export beside the two synthetic Markdown articles, and the synonyms file."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(ARTICLE, corpus)
    shutil.copy(ARTICLE.parent / "synonyms.txt", corpus)
    for path in (A, B):
        shutil.copy(path, corpus)
    return corpus


def test_a_corpus_reads_markdown_and_export_articles_but_not_the_synonyms_file(mixed_corpus):
    assert [p.name for p in article_paths(mixed_corpus)] == [
        "synthetic-condition-a.md",
        "synthetic-condition-b.md",
        "what-is-multifocal-motor-neuropathy.txt",
    ]
    export = next(a for a in load_corpus(mixed_corpus) if a.id == ARTICLE.stem)
    assert export.references == ()  # the export lists none
    assert len(export.passages) == 32


def test_every_article_keeps_its_own_metadata_and_passages_through_the_index(
    mixed_corpus, tmp_path, hash_embedder
):
    articles = load_corpus(mixed_corpus)
    build_index(articles, hash_embedder, tmp_path / "index")
    loaded = load_index(tmp_path / "index", hash_embedder.info)

    assert set(loaded.articles) == {"synthetic-condition-a", "synthetic-condition-b", ARTICLE.stem}
    for article in articles:
        back = loaded.articles[article.id]
        assert (back.title, back.topic, back.last_updated, back.review_status) == (
            article.title,
            article.topic,
            article.last_updated,
            article.review_status,
        )
        assert back.disclaimer == article.disclaimer
        assert back.references == article.references  # (int, str) pairs again, not lists
        assert all(type(n) is int and type(t) is str for n, t in back.references)
        assert back.passages == article.passages
        assert all(p.article_id == article.id for p in back.passages)
    assert loaded.articles["synthetic-condition-a"].references == REFERENCES_A
    assert loaded.articles[ARTICLE.stem].title == "What is multifocal motor neuropathy?"
    assert loaded.articles[ARTICLE.stem].references == ()
    assert len(loaded.passages) == 32 + 10 + 2
    assert {p.article_id for p in loaded.passages} == set(loaded.articles)


def _answer_from(loaded, *lines: tuple[str, int]):
    """An answer quoting the passages at (article id, source line), in that order."""
    positions = {(p.article_id, p.line): i for i, p in enumerate(loaded.passages)}
    hits = [Hit(index=positions[key], score=1.0 - rank / 10) for rank, key in enumerate(lines)]
    return assemble("Which markers?", (), hits, loaded)


def test_answers_carry_each_cited_reference_and_name_their_article(
    mixed_corpus, tmp_path, hash_embedder
):
    build_index(load_corpus(mixed_corpus), hash_embedder, tmp_path / "index")
    loaded = load_index(tmp_path / "index", hash_embedder.info)
    answer = _answer_from(
        loaded,
        ("synthetic-condition-a", 31),
        ("synthetic-condition-b", 16),
        (ARTICLE.stem, 63),
    )
    data = answer_to_dict(answer)
    a, b, export = data["passages"]
    assert a["citations"] == [2, 3]
    assert a["references"] == [
        {"number": 2, "text": REFERENCES_A[1][1]},
        {"number": 3, "text": REFERENCES_A[2][1]},
    ]
    assert (b["citations"], b["references"]) == ([2], [])  # B lists no references
    assert (export["citations"], export["references"]) == ([4], [])
    assert [(p["article_id"], p["article_title"], p["last_updated"]) for p in data["passages"]] == [
        ("synthetic-condition-a", "What is synthetic test condition A?", "2026-03-15"),
        ("synthetic-condition-b", "What is synthetic test condition B?", "2025-04-01"),
        (ARTICLE.stem, "What is multifocal motor neuropathy?", "2026-02-02"),
    ]
    # each distinct disclaimer of the quoted articles, in order
    assert data["disclaimer"].split("\n\n") == [
        *loaded.articles["synthetic-condition-a"].disclaimer.split("\n\n"),
        loaded.articles["synthetic-condition-b"].disclaimer,
        loaded.articles[ARTICLE.stem].disclaimer,
    ]


def test_the_page_shows_each_reference_as_a_tooltip_and_a_list_under_its_passage(
    mixed_corpus, tmp_path, hash_embedder
):
    from web import views
    from web.pages import templates

    build_index(load_corpus(mixed_corpus), hash_embedder, tmp_path / "index")
    loaded = load_index(tmp_path / "index", hash_embedder.info)
    answer = _answer_from(
        loaded, ("synthetic-condition-a", 36), ("synthetic-condition-a", 31), (ARTICLE.stem, 63)
    )
    page = views.answer_page(answer, views.site_of(loaded))
    html = templates.env.get_template("answer.html").render(page=page)
    doc = parse(html)
    dosing, labs, export = doc.one("ol", "passages").find_all("li", "passage")

    marker = dosing.one("sup", "cite")
    link = marker.one("a", "cite__link")
    assert link["href"] == "/article/synthetic-condition-a#ref-4"  # its entry in the article
    assert link.one("span", "cite__tip").text == REFERENCES_A[3][1]  # shown on hover and focus
    assert marker.text == f"[4]{REFERENCES_A[3][1]}"  # what a screen reader reads as the link
    entry = dosing.one("ul", "passage__references").one("li", "reference")
    assert entry.text == f"[4] {REFERENCES_A[3][1]}"
    assert "&lt;b&gt;with markup&lt;/b&gt;" in html and "<b>with markup</b>" not in html

    assert [
        (s.one("a")["href"], s.one("span", "cite__tip").text) for s in labs.find_all("sup", "cite")
    ] == [
        ("/article/synthetic-condition-a#ref-2", REFERENCES_A[1][1]),
        ("/article/synthetic-condition-a#ref-3", REFERENCES_A[2][1]),
    ]
    assert [li.text for li in labs.one("ul", "passage__references").find_all("li")] == [
        f"[2] {REFERENCES_A[1][1]}",
        f"[3] {REFERENCES_A[2][1]}",
    ]
    assert len({li["id"] for li in doc.find_all("li", "reference")}) == 3  # ids unique on a page

    # the export lists no references: its marker says so, and the page says it once in words
    unlisted = "Reference 4: this export does not include the source's reference list"
    assert [(s.text, s.get("title")) for s in export.find_all("sup", "cite")] == [("[4]", unlisted)]
    assert not export.find_all("ul", "passage__references")
    note = doc.one("p", "references-note").text
    # named: the Markdown article's passages beside it list theirs
    assert "the reference list of “What is multifocal motor neuropathy?” is not included" in note
    assert [s.one("a").text for s in doc.find_all(cls="source")] == [
        "What is synthetic test condition A?",
        "What is multifocal motor neuropathy?",
    ]


def test_the_answer_and_the_article_view_draw_sub_and_superscripts(tmp_path, hash_embedder):
    from web import views
    from web.pages import templates

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    statement = "Intubate when the negative inspiratory force is above −30 cmH<sub>2</sub>O. [1]"
    body = ORDINARY.replace("Creatinine is checked before each course.", statement)
    write(corpus, body.replace("## Examples", "## PaCO<sub>2</sub> targets"))
    build_index(load_corpus(corpus), hash_embedder, tmp_path / "index")
    loaded = load_index(tmp_path / "index", hash_embedder.info)
    line = ORDINARY.replace("Creatinine is checked before each course.", statement)
    answer = _answer_from(loaded, ("article", line.splitlines().index(statement) + 1))
    site = views.site_of(loaded)
    html = templates.env.get_template("answer.html").render(page=views.answer_page(answer, site))
    assert "cmH<sub>2</sub>O" in html and "&lt;sub&gt;" not in html
    view = views.article_page(loaded.articles["article"], site)
    shown = templates.env.get_template("article.html").render(page=view)
    assert "cmH<sub>2</sub>O" in shown and "PaCO<sub>2</sub> targets</h" in shown
    assert "&lt;sub&gt;" not in shown  # the heading and the contents too
    from assistant.cli.answers import format_answer

    printed = format_answer(answer_to_dict(answer), width=200)
    assert "above −30 cmH₂O." in printed and "<sub>" not in printed  # `ask` in a terminal


def test_a_terminal_shows_scripts_it_has_no_characters_for_with_a_mark():
    from assistant.cli.answers import plain

    assert plain("10<sup>9</sup>/L, x<SUP>-1</SUP>") == "10⁹/L, x⁻¹"
    assert plain("C<sub>max</sub> and e<sup>ab</sup>") == "C_(max) and e^(ab)"
    assert plain("a < b and <sub>unclosed") == "a < b and <sub>unclosed"


def test_an_item_shows_the_references_its_lead_in_prints_for_the_list(tmp_path, hash_embedder):
    """A blind editor turned a cited paragraph into "Moderate risk factors include the
    following: 1, 3" and its bullets: every factor was then shown with "References: none"."""
    from assistant.cli.answers import format_answer
    from web import views
    from web.pages import templates

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    lead = "Risk factors include the following [1, 2]:\n\n- Recent surgery\n- Active cancer\n"
    body = ORDINARY.replace("Creatinine is checked before each course.", lead)
    body += "\n## References\n\n1. Source one.\n2. Source two.\n"
    write(corpus, body)
    build_index(load_corpus(corpus), hash_embedder, tmp_path / "index")
    loaded = load_index(tmp_path / "index", hash_embedder.info)
    line = body.splitlines().index("- Active cancer") + 1
    answer = _answer_from(loaded, ("article", line))
    (shown,) = answer_to_dict(answer)["passages"]
    assert shown["citations"] == [] and shown["context"] == "Risk factors include the following:"
    assert shown["context_citations"] == [1, 2]
    assert [r["text"] for r in shown["context_references"]] == ["Source one.", "Source two."]
    assert "Under: Risk factors include the following: [1, 2]" in format_answer(
        answer_to_dict(answer)
    )
    page = views.answer_page(answer, views.site_of(loaded))
    html = parse(templates.env.get_template("answer.html").render(page=page))
    context = html.one("p", "passage__context")
    assert [a.text for a in context.find_all("span", "cite__tip")] == ["Source one.", "Source two."]
    # without a reference list the page says so, though only the lead-in prints markers
    write(corpus, body.split("\n## References")[0])
    build_index(load_corpus(corpus), hash_embedder, tmp_path / "unlisted")
    unlisted = load_index(tmp_path / "unlisted", hash_embedder.info)
    answer = _answer_from(unlisted, ("article", line))
    page = views.answer_page(answer, views.site_of(unlisted))
    html = parse(templates.env.get_template("answer.html").render(page=page))
    assert len(html.one("p", "passage__context").find_all("sup", "cite--unlisted")) == 2
    assert "its reference list is not included" in html.one("p", "references-note").text


def test_the_title_heading_stands_in_for_a_front_matter_title_and_other_keys_are_ignored(tmp_path):
    text = (
        "---\n"
        "last_updated: '2026-01-05'  # quoted\n"
        "tags:\n"
        "  - synthetic\n"
        "authors: [Synthetic Author]\n"
        "---\n"
        "# Synthetic title from the heading\n"
        "A synthetic statement. [1]\n"
        "## Disclaimer\n"
        "Synthetic test data, not a real article.\n"
    )
    article = load_article(write(tmp_path, text))
    assert article.title == article.topic == "Synthetic title from the heading"
    assert article.last_updated == date(2026, 1, 5)
    assert [(p.line, p.text, p.citations) for p in article.passages] == [
        (8, "A synthetic statement.", (1,))
    ]


def test_the_page_offers_each_article_and_searches_the_one_chosen(mixed_corpus, hash_embedder):
    from fastapi.testclient import TestClient

    from assistant.engine import Engine
    from tests.test_web import parse
    from web.app import create_app

    index_dir = mixed_corpus.parent / "index"
    build_index(load_corpus(mixed_corpus), hash_embedder, index_dir)
    engine = Engine.open(index_dir, hash_embedder)
    with TestClient(create_app(engine=engine)) as client:
        home = parse(client.get("/").text)
        titles = [a.text for a in home.one("ul", cls="article-list").find_all("a")]
        assert "What is synthetic test condition A?" in titles and len(titles) == 3
        choice = home.one("select", name="article")
        values = [o.get("value") for o in choice.find_all("option")]
        assert values[0] == "" and "synthetic-condition-a" in values and len(values) == 4

        url = "/ask?q=onset+days&article=synthetic-condition-a"
        answer = parse(client.get(url).text)
        sections = [li.one("span", cls="passage__section").text for li in
                    answer.find_all("li", cls="passage")]  # fmt: skip
        assert sections and all("Synthetic Test Condition A" in s for s in sections)
        follow_up = answer.find_all("select", name="article")[-1]
        selected = [o.get("value") for o in follow_up.find_all("option") if "selected" in o.attrs]
        assert selected == ["synthetic-condition-a"]  # the follow-up keeps the choice

        refused = client.get("/ask?q=onset&article=nope")  # the address is wrong, not the question
        assert refused.status_code == 404
        doc = parse(refused.text)
        assert "no article called “nope”" in doc.one("p", cls="error-panel__message").text
        assert doc.one("input", name="q")["value"] == "onset"  # kept, to ask again


def test_a_markdown_file_may_end_in_markdown(tmp_path):
    """Editors' tools save Markdown as .md or .markdown; a .markdown article used to be left
    out of the corpus without a word."""
    source = MARKDOWN / "synthetic-condition-a.md"
    renamed = tmp_path / "synthetic-condition-a.markdown"
    shutil.copy(source, renamed)
    assert article_paths(tmp_path) == [renamed]
    assert load_article(renamed).passages == load_article(source).passages


def test_a_pipe_table_and_a_nested_list_read_as_the_export_reads_them(tmp_path):
    """GitHub's pipe tables were read as one paragraph of every cell; a list nested under an
    item ending in ':' took the section's lead-in, not that item, as its context. A row cites
    the "[1]" markers of its cells."""
    text = """---
title: What is a test condition?
last_updated: 2026-03-03
---

## Dosing

Typical doses:

| Drug | Standard dose | Reduced dose |
|---|---|---|
| Drug A | 5 mg twice daily | 2.5 mg twice daily [1] |
| Drug B | 20 mg once daily | |

- Rate control agents:
  - Drug C 25-100 mg twice daily [1]
- Drug D may be added [1]

## Disclaimer

For professionals.
"""
    path = write(tmp_path, text)
    passages = load_article(path).passages
    assert [p.citations for p in passages if p.kind == "row"] == [(1,), ()]  # a cell's "[1]"
    got = [(p.line, p.kind, p.text, p.context) for p in passages]
    assert got == [
        (8, "lead_in", "Typical doses:", None),
        (12, "row", "Drug: Drug A; Standard dose: 5 mg twice daily; Reduced dose: 2.5 mg twice "
         "daily", "Typical doses:"),
        (13, "row", "Drug: Drug B; Standard dose: 20 mg once daily", "Typical doses:"),
        (15, "bullet", "Rate control agents:", "Typical doses:"),
        (16, "bullet", "Drug C 25-100 mg twice daily", "Typical doses: Rate control agents:"),
        (17, "bullet", "Drug D may be added", "Typical doses:"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("review_status: pending human review", "review_status: pending" + " " * 50000 + "x"),
        ("last_updated: 2026-03-15", "last_updated: 2026-03-15" + " " * 50000 + "# set by hand"),
        ("STCA is a made-up condition", "STCA is a made-up" + " " * 50000 + "condition"),
        ("the Markdown reader. [1]", "the Markdown reader. " + "[1]" * 20000 + " x [1]"),
    ],
)
def test_a_long_run_of_spaces_or_markers_is_read_at_once(tmp_path, old, new):
    """Front matter, a comment and a paragraph that each took 15-30 s or more to read."""
    with hang_guard():
        article = load_article(write(tmp_path, edit(old, new), name=A.name))
    assert article.passages


NESTED_TABLES = """---
title: What is a test condition?
last_updated: 2026-03-15
---

## Treatment

Steps to follow:

1. Give adrenaline IM. [1]
   - Use the thigh. [1]

   | Age | Dose |
   | --- | --- |
   | Adult | 0.5 mg [1] |

   Keep the patient lying flat. [1]

2. Call for help. [1]

Anticoagulants used:

- Apixaban:
  - 5 mg twice daily for most patients. [1]

    | Criterion | Threshold |
    | --- | --- |
    | Age | 80 years or older [1] |

  - 2.5 mg twice daily with two criteria. [1]

## Disclaimer

For professionals.
"""


def test_a_table_inside_a_list_item_neither_ends_its_step_nor_loses_its_lead(tmp_path):
    """A table after a step's own bullets had ended the step ("1." shown twice), and a table
    under "Apixaban:" had taken that lead from the dose after it: "2.5 mg twice daily" read
    as said of every anticoagulant."""
    from assistant.records import steps_going_on

    passages = load_article(write(tmp_path, NESTED_TABLES)).passages
    by_text = {p.text: p for p in passages}
    row = by_text["Age: Adult; Dose: 0.5 mg"]
    assert row.depth == 1  # one level under step 1, as its sub-bullet
    step = [p for p in passages if p.context == "Steps to follow:"]
    going_on = steps_going_on((p.number, p.depth) for p in step)
    assert dict(zip((p.text for p in step), going_on, strict=True))["Keep the patient lying flat."]
    under = "Anticoagulants used: Apixaban:"  # the item's lead, after the lead-in above it
    assert by_text["Criterion: Age; Threshold: 80 years or older"].context == under
    assert by_text["2.5 mg twice daily with two criteria."].context == under


INLINE = """---
title: What is a test condition?
last_updated: 2026-03-15
---

## Treatment

**Visual symptoms:**

- **Jaw claudication**: the most *specific* symptom, see the [fast-track pathway](https://example.org/p). [1]
- Use `IV` methylprednisolone, CO<sub>2</sub> aside, snake_case kept \\*as typed\\*. [1]
- **Do not delay steroids for the biopsy. [1]**
- Neutrophils 2-7.5*10^9/L and lymphocytes 1-4*10^9/L, 15 mg weekly<br>then 10 mg. [2]

| **Drug** | Dose |
| --- | --- |
| *Tocilizumab* | 162 mg every **two** weeks [2] |

## Drugs

- **Tocilizumab** (RoActemra):
  - Dose: 162 mg subcutaneously every two weeks [2]
- Prednisolone
  - Dose: 40-60 mg daily [1]

## References

1. Example A. A guideline. [doi:10.1000/x1](https://doi.org/10.1000/x1)
2. Example B. A trial. <https://example.org/trial>

## Disclaimer

For **professionals** only.
"""


def test_inline_markup_reads_as_a_viewer_shows_it(tmp_path):
    """Bold, italics, links, code and inline HTML were kept as typed: clinicians read stray
    asterisks and raw addresses, the model read them as words, and "**Visual symptoms:**"
    (its colon inside the bold) led no list."""
    article = load_article(write(tmp_path, INLINE))
    by_line = {p.line: p for p in article.passages}
    lead = by_line[8]
    assert (lead.kind, lead.text) == ("lead_in", "Visual symptoms:")
    assert by_line[10].text == (
        "Jaw claudication: the most specific symptom, see the fast-track pathway."
    )
    assert by_line[10].context == "Visual symptoms:" and by_line[10].citations == (1,)
    # inline HTML stays as typed ("10<sup>9</sup>" is not "109"), but for a line break
    assert by_line[11].text == (
        "Use IV methylprednisolone, CO<sub>2</sub> aside, snake_case kept *as typed*."
    )
    assert (by_line[12].text, by_line[12].citations) == (
        "Do not delay steroids for the biopsy.",
        (1,),
    )
    assert by_line[13].text == (  # an asterisk between digits multiplies
        "Neutrophils 2-7.5*10^9/L and lymphocytes 1-4*10^9/L, 15 mg weekly then 10 mg."
    )
    assert by_line[17].text == "Drug: Tocilizumab; Dose: 162 mg every two weeks"
    assert by_line[17].citations == (2,)
    assert dict(article.references) == {
        1: "Example A. A guideline. doi:10.1000/x1 (https://doi.org/10.1000/x1)",
        2: "Example B. A trial. https://example.org/trial",  # the address is its own words
    }
    assert article.disclaimer == "For professionals only."


def test_a_nested_list_is_its_items_own_whatever_its_marker(tmp_path):
    """A Markdown sub-list marked "-" like its item had no context: "Dose: 40-60 mg daily"
    under "Prednisolone" was shown and embedded without the drug it doses, and answered a
    question about another drug's dose. Markdown's own structure says it is nested."""
    by_text = {p.text: p for p in load_article(write(tmp_path, INLINE)).passages}
    assert by_text["Dose: 40-60 mg daily"].context == "Prednisolone"
    assert by_text["Dose: 162 mg subcutaneously every two weeks"].context == (
        "Tocilizumab (RoActemra):"
    )


def test_a_byline_under_the_title_is_the_date_again_not_a_statement(tmp_path):
    """A site's byline under the title ("*Last updated: … · Review status: …*") was indexed
    as a statement of the article, drawn as a section of its own; a byline whose date
    differed from the front matter's passed silently."""
    byline = "*Last updated: 15 March 2026 · Review status: pending human review*\n\n## Treatment"
    body = INLINE.replace("## Treatment", byline, 1)
    article = load_article(write(tmp_path, body))
    assert article.last_updated == date(2026, 3, 15)
    assert not [p for p in article.passages if "Last updated" in p.text]
    assert article.passages[0].section == ("Treatment",)
    with pytest.raises(ArticleError, match="says '3 March 2025' but the front matter") as caught:
        load_article(write(tmp_path, body.replace("15 March 2026", "3 March 2025")))
    assert caught.value.line == 6
    # a byline that does not start with the words is one all the same, and its date checked
    other = body.replace("*Last updated: 15 March 2026", "*Reviewed by the board · Last updated: 3 March 2025")  # fmt: skip
    with pytest.raises(ArticleError, match="says '3 March 2025'"):
        load_article(write(tmp_path, other))
    # a statement right under it, with no blank line, would be swallowed: refused at its line
    swallowing = body.replace("review*\n", "review*\nCondition X is rare. [1]\n")
    with pytest.raises(ArticleError, match="put a blank line after the byline") as caught:
        load_article(write(tmp_path, swallowing))
    assert caught.value.line == 6
    # a statement that starts with the words, and no date, is a statement
    said = "Last updated: the 2024 guidance says to treat early. [1]\n\n## Treatment"
    statement = load_article(write(tmp_path, INLINE.replace("## Treatment", said, 1)))
    assert statement.passages[0].text == "Last updated: the 2024 guidance says to treat early."


@pytest.mark.parametrize(
    ("byline", "refused"),
    [
        ("*Updated 15 March 2026*", False),
        ("*Updated 3 March 2025*", True),  # the update's date, which must agree
        ("*Last reviewed: 1 December 2025*", False),  # another date: skipped, not checked
        ("Published on 2024-03-01.", False),
        ("*Medically reviewed by Dr A. Synthetic on 2 March 2026*", False),  # a blind writer's
        ("*Reviewed by Dr Jane Smith on 2 March 2026*", False),  # a second read's
    ],
)
def test_a_byline_that_dates_the_article_otherwise_is_no_statement(tmp_path, byline, refused):
    """A blind writer's "*Updated 1 December 2026*" and "*Last reviewed: …*" were indexed as
    statements with no section, and only flagged as unreachable."""
    body = INLINE.replace("## Treatment", f"{byline}\n\n## Treatment", 1)
    if refused:
        with pytest.raises(ArticleError, match="says '3 March 2025' but the front matter"):
            load_article(write(tmp_path, body))
        return
    article = load_article(write(tmp_path, body))
    assert all(byline.strip("*")[:9] not in p.text for p in article.passages)
    assert article.passages[0].section == ("Treatment",)


def test_a_figure_an_alert_label_and_an_inline_comment_are_not_text(tmp_path):
    """A blind writer's figure was answered by its alternative text, "> [!NOTE]" opened a
    statement, and "patients <!-- ref? --> and" showed an editor's note to clinicians."""
    body = INLINE.replace(
        "## Drugs",
        '![Echo of a mobile vegetation](tee.png "Figure 1")\n\n'
        "![Chest CT with a septic embolus](ct.png)\n*Figure 2. A vegetation seen on CT.*\n\n"
        "> [!WARNING]\n> Culture-negative disease needs serology. [1]\n\n"
        "> [!NOTE]\n>\n> Serology takes a week. [1]\n\n"
        "Advise dental review for patients <!-- ref? --> who had it. [1]\n\n## Drugs",
        1,
    )
    source = write(tmp_path, body)
    article = load_article(source)
    texts = [p.text for p in article.passages]
    assert not any("vegetation" in t or "[!" in t or "<!--" in t for t in texts), texts
    assert not any("septic embolus" in t or "Figure 2" in t for t in texts)  # and its caption
    quoted = next(p for p in article.passages if p.text.startswith("Culture-negative"))
    assert quoted.citations == (1,) and quoted.line == body.splitlines().index("> [!WARNING]") + 2
    said = next(p for p in article.passages if p.text.startswith("Advise dental"))
    assert said.text == "Advise dental review for patients who had it."
    # glued to a word it leaves the space before it; after the references it is no statement
    noted = INLINE.replace(
        "## Drugs",
        "Give oxygen to <!-- check -->every patient. [1]\n\n"
        "Give fluids to every patient. [1] <!-- check with Dr K -->\n\n"
        "<!-- draft --> Give heparin to every patient. [1]\n\n## Drugs",
        1,
    )
    passages = load_article(source := write(tmp_path, noted)).passages
    texts = [p.text for p in passages]
    assert "Give oxygen to every patient." in texts and "Give fluids to every patient." in texts
    assert not any("<!--" in t for t in texts), texts
    (heparin,) = [p for p in passages if p.text.startswith("Give heparin")]  # after a comment
    printed = source.read_text(encoding="utf-8")[heparin.start : heparin.end]
    assert printed == "Give heparin to every patient." and heparin.citations == (1,)
    # an image inside a sentence is still its words
    inline = INLINE.replace("## Drugs", "Look for a ![vegetation](v.png) on echo. [1]\n\n## Drugs")
    article = load_article(write(tmp_path, inline))
    assert "Look for a vegetation on echo." in [p.text for p in article.passages]


def test_a_statement_of_markup_alone_is_kept_as_written(tmp_path):
    """Read as a viewer shows it, "<x>" is nothing: the passage had an empty text (found by
    the property test). It stays as written, for the editor to see and mend."""
    article = load_article(write(tmp_path, INLINE.replace("## Drugs", "<x>\n\n## Drugs")))
    assert [p.text for p in article.passages if p.text.startswith("<")] == ["<x>"]
    assert all(p.text for p in article.passages)


def test_a_statement_holding_a_nul_is_kept_as_typed_markup_and_all():
    """The property test's find: markdown-it would turn the NUL into U+FFFD, so the statement
    is not read, but a stray emphasis mark was still taken off its start."""
    statement = "*\x00 Weakness\nweakness patients"
    assert split_markdown(statement).text == statement


def test_a_headings_trailing_colon_is_not_part_of_the_section(tmp_path):
    """A blind writer's "### Empirical antibiotics:" gave answers the section "Treatment >
    Empirical antibiotics: > Drug level monitoring"."""
    body = INLINE.replace("## Treatment", "## Treatment:", 1)
    article = load_article(write(tmp_path, body))
    assert {p.section[0] for p in article.passages} >= {"Treatment"}
    assert not any(name.endswith(":") for p in article.passages for name in p.section)


def test_a_nested_item_stands_under_its_item_and_the_lead_in_with_its_references(
    tmp_path, hash_embedder
):
    """A blind writer's cultures bullet was shown "Under: Uncontrolled infection:" alone, with
    nothing of surgery and no reference, though the lead-in above cites [2]."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    lead = (
        "Surgery during the first admission is indicated for [2]:\n\n"
        "1. **Uncontrolled infection**:\n"
        "   - Blood cultures still positive after 7 days\n"
        "2. Heart failure from valve dysfunction\n"
    )
    body = ORDINARY.replace("Creatinine is checked before each course.", lead)
    body += "\n## References\n\n1. Source one.\n2. Source two.\n"
    write(corpus, body)
    build_index(load_corpus(corpus), hash_embedder, tmp_path / "index")
    loaded = load_index(tmp_path / "index", hash_embedder.info)
    item = next(p for p in loaded.passages if p.text.startswith("Blood cultures"))
    outer = "Surgery during the first admission is indicated for:"
    assert item.context == f"{outer} Uncontrolled infection:"
    assert outer not in item.index_text  # embedded under its own lead, as before
    line = body.splitlines().index("   - Blood cultures still positive after 7 days") + 1
    (shown,) = answer_to_dict(_answer_from(loaded, ("article", line)))["passages"]
    assert shown["context_citations"] == [2]
    assert [r["text"] for r in shown["context_references"]] == ["Source two."]
    # the lead-in still lists its items, the nested one under its own
    at = next(i for i, p in enumerate(loaded.passages) if p.text == outer)
    listed = [p.text for p in introduced(loaded.passages, at)]
    assert "Blood cultures still positive after 7 days" in listed


def test_a_code_block_keeps_its_lines_and_is_the_list_of_the_lead_in_above(tmp_path):
    """A blind writer's ward card ("CrCl >= 50 mL/min : … q12h" / "CrCl 30-49 …") ran together
    into one line ("q12h CrCl 30-49"), and its lead-in, ranked first, showed nothing under it."""
    from assistant.cli.answers import format_answer

    card = (
        "Gentamicin in renal impairment, as printed on the ward card:\n\n```text\n"
        "CrCl >= 50 mL/min : gentamicin 1 mg/kg q12h\nCrCl < 30 mL/min  : avoid\n```\n"
    )
    body = INLINE.replace("## Drugs", card + "\n## Drugs", 1)
    passages = load_article(write(tmp_path, body)).passages
    at = next(i for i, p in enumerate(passages) if p.text.startswith("Gentamicin in renal"))
    (item,) = introduced(passages, at)
    assert item.text == "CrCl >= 50 mL/min : gentamicin 1 mg/kg q12h\nCrCl < 30 mL/min : avoid"
    data = {
        "question": "gent renal?", "history": [], "message": "", "answerable": True,
        "disclaimer": "For professionals.",
        "passages": [{
            "rank": 1, "text": item.text, "citations": [], "relevant": True, "section": ["T"],
            "score": 1.0, "article_title": "T", "last_updated": "2026-01-01",
            "review_status": "x", "url": "/a", "items": [],
        }],
    }  # fmt: skip
    printed = format_answer(data, width=100).splitlines()
    assert "1. CrCl >= 50 mL/min : gentamicin 1 mg/kg q12h" in printed
    assert "   CrCl < 30 mL/min : avoid" in printed


@pytest.mark.parametrize("heading", ["References", "Sources", "Bibliography"])
def test_the_reference_list_may_be_headed_as_the_export_allows(tmp_path, heading):
    """Under "## Bibliography" the entries were indexed as numbered statements, and the article
    had no reference list for its citations to name."""
    body = ORDINARY.replace(
        "Creatinine is checked before each course.", "Creatinine is checked [2]."
    )
    body += f"\n## {heading}\n\n1. Source one.\n2. Source two.\n"
    article = load_article(write(tmp_path, body, "what-is-t.md"))
    assert article.references == ((1, "Source one."), (2, "Source two."))
    assert not any("Source" in p.text for p in article.passages)
