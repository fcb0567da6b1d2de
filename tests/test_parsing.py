"""The export parser: metadata, structure, chrome, and bad files named by file and line."""

from datetime import date
from pathlib import Path

import pytest

from assistant.errors import ArticleError
from assistant.ingest.corpus import load_article, load_corpus
from assistant.ingest.parsing import article_id, looks_like_heading, parse_export
from tests.conftest import ARTICLE

GOOD_HEADER = """What is a test condition?

Medical Advisory BoardAll articles are reviewed for accuracy by our Medical Advisory Board
Educational purpose only \u2022 Exercise caution as content is pending human review
Article Review Status
Submitted
Under Review
Approved

Last updated: March 4, 2025View editorial policy

Personalize

Help us tailor your experience

Which best describes you? Your choice helps us use language that's most understandable for you.

"""
GOOD_DISCLAIMER = """
Professional Medical Disclaimer

For professionals only. Verify everything.

Have a follow-up question?

Our Medical A.I. is used by practicing medical doctors.
"""


def write(
    tmp_path: Path,
    body: str,
    *,
    header: str = GOOD_HEADER,
    tail: str = GOOD_DISCLAIMER,
    name: str = "test-article.txt",
) -> Path:
    path = tmp_path / name
    path.write_text(header + body + tail, encoding="utf-8")
    return path


def test_the_real_article_metadata():
    article = load_article(ARTICLE)
    assert article.id == "what-is-multifocal-motor-neuropathy"
    assert article.title == "What is multifocal motor neuropathy?"
    assert article.topic == "Multifocal Motor Neuropathy (MMN)"
    assert article.last_updated == date(2026, 2, 2)
    assert article.review_status == "pending human review"
    assert (
        article.review_note
        == "Educational purpose only \u2022 Exercise caution as content is pending human review"
    )
    assert article.source.endswith("corpus/what-is-multifocal-motor-neuropathy.txt")
    assert article.disclaimer.startswith(
        "This information is intended for healthcare professionals."
    )
    assert article.disclaimer.endswith(
        "Dr.Oracle assumes no liability for clinical decisions based on this content."
    )
    assert article.disclaimer in ARTICLE.read_text(encoding="utf-8")  # verbatim


def test_headings_are_found_by_shape_and_nested_only_where_the_structure_shows_it():
    document = parse_export(ARTICLE)
    headings = [(b.level, b.raw) for b in document.blocks if b.kind == "heading"]
    assert headings == [
        (1, "Multifocal Motor Neuropathy (MMN)"),
        (2, "Clinical Presentation"),
        (2, "Diagnostic Features"),
        (3, "Electrodiagnostic Hallmarks"),  # directly continues the lead-in "...findings:"
        (2, "Serological Markers"),
        (2, "Differential Diagnosis"),
        (2, "Treatment"),
        (2, "IVIg Therapy"),
        (2, "Treatment Limitations and Alternatives"),
        (2, "Prognosis"),
    ]


def test_site_chrome_and_disclaimer_are_not_passages():
    article = load_article(ARTICLE)
    texts = " ".join(p.text for p in article.passages)
    for chrome in (
        "Medical Advisory Board",
        "Personalize",
        "Help us tailor",
        "Which best describes you",
        "Last updated",
        "Have a follow-up question",
        "Our Medical A.I.",
        "Under Review",
        "healthcare professionals",
        "Professional Medical Disclaimer",
    ):
        assert chrome not in texts


@pytest.mark.parametrize(
    ("line", "heading"),
    [
        ("Clinical Presentation", True),
        ("Multifocal Motor Neuropathy (MMN)", True),
        ("IVIg Therapy", True),
        (
            "MMN presents with distinctive motor-only features that differentiate it from other neuropathies:",
            False,
        ),
        ("Rituximab efficacy is not established in MMN 2", False),
        ("Have a follow-up question?", False),
        ("lowercase start", False),
        (
            "A very long line that goes on and on with many words, more than any heading would ever use here",
            False,
        ),
        ("  \u2022 A bullet", False),
    ],
)
def test_heading_shape(line, heading):
    assert looks_like_heading(line.strip() if heading else line) is heading


def test_a_new_edition_with_other_headings_parses_by_structure(tmp_path):
    body = """Test Condition (TC)

TC is a made-up condition for tests. 1

Symptoms In Adults

  \u2022 Adults have a cough 2
  \u2022 Fever is common in
    the first week 3, 4

Management
  - Rest is advised 5
"""
    article = load_article(write(tmp_path, body))
    assert article.topic == "Test Condition (TC)"
    assert article.last_updated == date(2025, 3, 4)
    assert article.disclaimer == "For professionals only. Verify everything."
    got = [(p.section[-1], p.kind, p.text, p.citations) for p in article.passages]
    assert got == [
        ("Test Condition (TC)", "paragraph", "TC is a made-up condition for tests.", (1,)),
        ("Symptoms In Adults", "bullet", "Adults have a cough", (2,)),
        (
            "Symptoms In Adults",
            "bullet",
            "Fever is common in the first week",
            (3, 4),
        ),  # continuation joined
        ("Management", "bullet", "Rest is advised", (5,)),  # heading directly above its list
    ]


def test_windows_line_endings_keep_spans_exact(tmp_path):
    body = "Topic Heading\r\n\r\nA paragraph about the topic. 1\r\n\r\nSection\r\n\r\n  \u2022 A bullet 2\r\n"
    path = write(
        tmp_path,
        body,
        header=GOOD_HEADER.replace("\n", "\r\n"),
        tail=GOOD_DISCLAIMER.replace("\n", "\r\n"),
    )
    article = load_article(path)
    source = path.read_bytes().decode("utf-8")
    assert [p.text for p in article.passages] == ["A paragraph about the topic.", "A bullet"]
    for passage in article.passages:
        assert source[passage.start : passage.end] == passage.text


def test_form_feeds_and_line_separators_do_not_shift_line_numbers(tmp_path):
    """Editors and `grep -n` end lines at \\n, \\r\\n and \\r only; a page break (form feed)
    or a U+2028 pasted from a web page is not a line of its own."""
    body = "Topic\n\nFirst statement\u2028goes on. 1\n\x0c\nSecond statement. 2\n"
    path = write(tmp_path, body)
    article = load_article(path)
    got = [(p.line, p.text, p.citations) for p in article.passages]
    assert got == [(20, "First statement goes on.", (1,)), (22, "Second statement.", (2,))]
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[21] == "Second statement. 2"
    tail = "\nProfessional Medical Disclaimer\n"
    expect_error(write(tmp_path, body, tail=tail), "no paragraph under it", 24)


def test_review_status_not_stated_when_the_export_has_no_review_line(tmp_path):
    header = GOOD_HEADER.replace(
        "Educational purpose only \u2022 Exercise caution as content is pending human review\n", ""
    )
    article = load_article(write(tmp_path, "Topic\n\nA statement. 1\n", header=header))
    assert article.review_status == "not stated"


def expect_error(path: Path, message: str, line: int | None) -> ArticleError:
    with pytest.raises(ArticleError) as caught:
        load_article(path)
    error = caught.value
    assert error.path == str(path)
    assert error.line == line
    assert message in str(error)
    assert str(error).startswith(f"{path}:{line}:" if line else f"{path}:")
    return error


def test_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("Title\n\nLast updated: March 4, 2025\n\ncaf\xe9 au lait\n".encode("latin-1"))
    expect_error(path, "not UTF-8", 5)


def test_not_utf8_names_the_line_with_old_mac_line_endings(tmp_path):
    path = tmp_path / "latin1-cr.txt"
    path.write_bytes("Title\r\rLast updated: March 4, 2025\r\rcaf\xe9 au lait\r".encode("latin-1"))
    expect_error(path, "not UTF-8", 5)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("\n\n   \n", encoding="utf-8")
    expect_error(path, "empty", 1)


def test_no_title(tmp_path):
    path = tmp_path / "no-title.txt"
    path.write_text(
        "this first line is a sentence, not a title.\n" + GOOD_DISCLAIMER, encoding="utf-8"
    )
    expect_error(path, "not a title", 1)


def test_no_disclaimer_names_the_end_of_the_article(tmp_path):
    expect_error(
        write(tmp_path, "Topic\n\nA statement. 1\n", tail="\n"),
        "no 'Professional Medical Disclaimer'",
        21,  # the last line
    )
    trailer = "\nHave a follow-up question?\n\nOur Medical A.I. is used by doctors.\n"
    expect_error(
        write(tmp_path, "Topic\n\nA statement. 1\n", tail=trailer),
        "no 'Professional Medical Disclaimer'",
        22,  # the trailer, where the article ends
    )


def test_disclaimer_heading_without_paragraph_names_its_line(tmp_path):
    path = write(tmp_path, "Topic\n\nA statement. 1\n", tail="\nProfessional Medical Disclaimer\n")
    expect_error(path, "no paragraph under it", 22)  # the heading's own line


def test_no_passages(tmp_path):
    expect_error(write(tmp_path, "Only A Heading\n"), "no passages", 1)


def test_no_last_updated(tmp_path):
    header = GOOD_HEADER.replace("Last updated: March 4, 2025View editorial policy\n", "")
    expect_error(write(tmp_path, "Topic\n\nA statement. 1\n", header=header), "Last updated", 1)


def test_unreadable_date_names_its_line(tmp_path):
    header = GOOD_HEADER.replace("March 4, 2025", "Marsh 4, 2025")
    expect_error(
        write(tmp_path, "Topic\n\nA statement. 1\n", header=header), "cannot read the date", 10
    )


def test_a_bad_article_in_a_corpus_stops_the_load_naming_it(tmp_path, corpus_copy):
    (corpus_copy / "broken.txt").write_text("Title only\n", encoding="utf-8")
    with pytest.raises(ArticleError, match="broken.txt"):
        load_corpus(corpus_copy)


def test_article_id_comes_from_the_file_name():
    assert article_id(Path("corpus/What is MMN (2026).txt")) == "what-is-mmn-2026"
    with pytest.raises(ArticleError):
        article_id(Path("corpus/___.txt"))


@pytest.mark.parametrize("invisible", ["\u200b", " \u200b ", "\ufeff", "\u2060\u200d"])
def test_a_line_of_invisible_characters_is_blank_not_a_passage(tmp_path, invisible):
    """An editor cannot see a zero-width space: a line holding only such characters separates
    statements like an empty line and never becomes an empty-looking passage."""
    text = ARTICLE.read_text(encoding="utf-8")
    marker = "Muscle wasting and atrophy develop in affected regions over time 4\n"
    assert marker in text
    path = tmp_path / ARTICLE.name
    path.write_text(text.replace(marker, marker + invisible + "\n"), encoding="utf-8")
    passages = load_article(path).passages
    assert [p.text for p in passages] == [p.text for p in load_article(ARTICLE).passages]


def test_a_disclaimer_written_as_a_list_under_its_heading_is_kept_whole(tmp_path):
    text = ARTICLE.read_text(encoding="utf-8")
    start = text.index("Professional Medical Disclaimer")
    end = text.index("Have a follow-up question?")
    listed = (
        "Professional Medical Disclaimer\n"
        "  \u2022 This information is intended for healthcare professionals.\n"
        "  \u2022 It does not replace clinical judgment.\n\n"
    )
    path = tmp_path / ARTICLE.name
    path.write_text(text[:start] + listed + text[end:], encoding="utf-8")
    article = load_article(path)
    assert "intended for healthcare professionals" in article.disclaimer
    assert "does not replace clinical judgment" in article.disclaimer
    assert len(article.passages) == len(load_article(ARTICLE).passages)
