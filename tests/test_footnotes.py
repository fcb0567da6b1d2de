"""Footnotes ("… days.[^1]" and "[^1]: Author. …") as a Markdown article's citations and
references (assistant/ingest/footnotes.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.errors import ArticleError
from assistant.ingest.corpus import load_article

HEAD = "---\ntitle: What is condition X?\nlast_updated: 2026-02-02\n---\n# What is condition X?\n\n"
DISCLAIMER = "## Professional Medical Disclaimer\n\nFor healthcare professionals only.\n"
FOOTNOTED = (
    HEAD
    + "## Treatment\n\n"
    + "- Drug Y is given over 3-5 days.[^1]\n"
    + "- Drug Z is second line after Y fails [^2][^3].\n\n"
    + "Relapse is common after stopping treatment.[^2]\n\n"
    + "```\n[^9]: not a footnote, code\n```\n\n"
    + DISCLAIMER
    + "\n[^1]: Author A. A [trial](https://doi.org/10.1/a). Journal. 2020;1:1-10.\n"
    + "[^2]: Author B. A title that is long enough\n    to wrap onto a second line. 2021.\n"
    + "[^3]: Author C. Title. Journal. 2022.\n"
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "what-is-x.md"
    path.write_text(text, encoding="utf-8")
    return path


def test_footnote_markers_cite_and_their_definitions_are_the_references(tmp_path):
    article = load_article(write(tmp_path, FOOTNOTED))
    assert [(p.text, p.citations) for p in article.passages] == [
        ("Drug Y is given over 3-5 days.", (1,)),
        ("Drug Z is second line after Y fails.", (2, 3)),
        ("Relapse is common after stopping treatment.", (2,)),
        ("[^9]: not a footnote, code", ()),  # inside a code block, text as written
    ]
    assert article.references == (
        (1, "Author A. A trial (https://doi.org/10.1/a). Journal. 2020;1:1-10."),
        (2, "Author B. A title that is long enough to wrap onto a second line. 2021."),
        (3, "Author C. Title. Journal. 2022."),
    )
    # the definitions after the disclaimer are not read into it
    assert article.disclaimer == "For healthcare professionals only."
    first = article.passages[0]
    assert FOOTNOTED[first.start : first.end] == "Drug Y is given over 3-5 days."


def test_footnotes_may_stand_under_a_references_heading(tmp_path):
    text = FOOTNOTED.replace("\n[^1]: Author A.", "\n## References\n\n[^1]: Author A.")
    article = load_article(write(tmp_path, text))
    assert [number for number, _ in article.references] == [1, 2, 3]
    assert article.disclaimer == "For healthcare professionals only."


def test_footnotes_stand_beside_a_references_section(tmp_path):
    text = FOOTNOTED.replace("[^3]: Author C. Title. Journal. 2022.\n", "") + (
        "\n## References\n\n3. Author C. Title. Journal. 2022.\n"
    )
    article = load_article(write(tmp_path, text))
    assert dict(article.references)[3] == "Author C. Title. Journal. 2022."
    assert dict(article.references)[1].startswith("Author A.")


@pytest.mark.parametrize(
    ("old", "new", "message", "line"),
    [
        pytest.param("[^1]: Author A.", "[^smith]: Author A.", "'[^smith]' is named, not numbered",
                     22, id="named-label"),
        pytest.param("[^3]: Author C.", "[^2]: Author C.", "footnote [^2] is defined twice "
                     "(lines 23 and 25)", 25, id="defined-twice"),
        pytest.param("[^3]: Author C. Title. Journal. 2022.\n", "",
                     "cites [3], which the set of footnotes ('[^1]: …') does not list", 10,
                     id="cited-not-defined"),
    ],
)  # fmt: skip
def test_a_footnote_error_names_its_line_and_the_fix(tmp_path, old, new, message, line):
    assert FOOTNOTED.count(old) == 1
    with pytest.raises(ArticleError) as caught:
        load_article(write(tmp_path, FOOTNOTED.replace(old, new)))
    assert message in str(caught.value)
    assert caught.value.line == line


def test_a_number_both_a_footnote_and_a_references_entry_is_refused(tmp_path):
    text = FOOTNOTED + "\n## References\n\n1. Author A. Again.\n"
    with pytest.raises(ArticleError) as caught:
        load_article(write(tmp_path, text))
    assert "reference 1 is both a footnote here and an entry of the References section" in str(
        caught.value
    )
    assert caught.value.line == 22


def test_a_reference_style_link_keeps_its_words(tmp_path):
    text = FOOTNOTED.replace(
        "Relapse is common after stopping treatment.[^2]\n",
        "Relapse is common after stopping [the drug][y].[^2]\n\n[y]: https://example.org/y\n\n"
        "| Drug | Note |\n| --- | --- |\n| Z | see [the drug][y] |\n",
    )
    article = load_article(write(tmp_path, text))
    assert ("Relapse is common after stopping the drug.", (2,)) in [
        (p.text, p.citations) for p in article.passages
    ]
    assert not any("example.org" in p.text for p in article.passages)
    assert "Drug: Z; Note: see the drug" in [p.text for p in article.passages]


def test_a_list_right_under_a_footnote_is_the_articles_not_the_footnotes(tmp_path):
    """A definition ran on over any line that was not another: the two bullets under it
    vanished into reference 1 (a second read's find)."""
    text = FOOTNOTED.replace(
        "Relapse is common after stopping treatment.[^2]\n",
        "Relapse is common after stopping treatment.[^2]\n\n[^4]: Author D. 2023.\n"
        "- Cyclophosphamide is reserved for refractory disease.[^4]\n",
    )
    article = load_article(write(tmp_path, text))
    assert ("Cyclophosphamide is reserved for refractory disease.", (4,)) in [
        (p.text, p.citations) for p in article.passages
    ]
    assert dict(article.references)[4] == "Author D. 2023."


def test_references_listed_as_numbered_link_definitions(tmp_path):
    """ "[1]: https://pubmed…" under References made "[1]" a link: "Give 2 g/kg [1] over 5
    days" read "Give 2 g/kg 1 over 5 days", and the section had no entries."""
    text = (
        HEAD + "## Treatment\n\nIVIg [1] and plasma exchange [2] were compared [3].\n\n"
        "Give 2 g/kg [1] over 5 days.\n\n" + DISCLAIMER + "\n## References\n\n"
        '[1]: https://pubmed.example/111/\n[2]: https://pubmed.example/222/ "Author B 2020"\n'
        "[3]: https://pubmed.example/333/\n"
    )
    article = load_article(write(tmp_path, text))
    assert [(p.text, p.citations) for p in article.passages] == [
        ("IVIg [1] and plasma exchange [2] were compared.", (3,)),
        ("Give 2 g/kg [1] over 5 days.", ()),
    ]
    assert article.references == (
        (1, "https://pubmed.example/111/"),
        (2, "Author B 2020 https://pubmed.example/222/"),
        (3, "https://pubmed.example/333/"),
    )


def test_a_numbered_link_definition_is_the_address_of_its_references_entry(tmp_path):
    """ "1. Smith …" listed and "[1]: https://doi…" to make the marker a link: one reference."""
    text = (
        HEAD + "## Treatment\n\nIVIg is first line [1].\n\n" + DISCLAIMER
        + "\n## References\n\n1. Smith J. IVIg in MMN. 2020.\n\n[1]: https://doi.example/1\n"
    )  # fmt: skip
    article = load_article(write(tmp_path, text))
    assert article.references == ((1, "Smith J. IVIg in MMN. 2020. (https://doi.example/1)"),)
    assert [(p.text, p.citations) for p in article.passages] == [("IVIg is first line.", (1,))]
