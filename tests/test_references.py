"""A reference list kept beside an export (corpus/references/<article-id>.txt): read, checked
against the markers, carried into the index, the JSON answer and the article view.

The entries below are synthetic test data: the real export comes without its reference list,
and corpus/ never gets an invented one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from assistant.errors import ArticleError
from assistant.ingest.corpus import load_article, load_corpus
from assistant.ingest.references import read_references
from tests.conftest import ARTICLE

LISTED = "\n".join(
    [
        "# Synthetic test data: not the article's real references.",
        "1. Example A. A made-up study. J Synth Test. 2020;1:1-10.",
        "2. Example B. Another invented report",
        "   that wraps onto a second line. J Synth Test. 2021;2:11-20.",
        "",
        "3) Example C. J Synth Test. 2022.",
        "[4] Example D. J Synth Test. 2023.",
        "5. Example E. J Synth Test. 2024.",
    ]
)


def corpus_with(tmp_path: Path, references: str | None) -> Path:
    corpus = tmp_path / "corpus"
    (corpus / "references").mkdir(parents=True)
    shutil.copy(ARTICLE, corpus)
    if references is not None:
        (corpus / "references" / f"{ARTICLE.stem}.txt").write_text(references, encoding="utf-8")
    return corpus / ARTICLE.name


def test_an_export_takes_its_reference_list_from_beside_it(tmp_path):
    bare = load_article(corpus_with(tmp_path / "bare", None))
    article = load_article(corpus_with(tmp_path / "listed", LISTED))
    assert bare.references == ()
    assert article.references == (
        (1, "Example A. A made-up study. J Synth Test. 2020;1:1-10."),
        (2, "Example B. Another invented report that wraps onto a second line. J Synth Test. 2021;2:11-20."),
        (3, "Example C. J Synth Test. 2022."),
        (4, "Example D. J Synth Test. 2023."),
        (5, "Example E. J Synth Test. 2024."),
    )  # fmt: skip
    assert [p.id for p in article.passages] == [p.id for p in bare.passages]
    assert article.sha256 != bare.sha256  # an edited list is a change the build sees


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("1. A.\n3. C.\n", "reference 2 is missing (this entry is 3)", 2),
        ("1. A.\n2. B.\n2. B again.\n", "reference 2 is listed twice (lines 2 and 3)", 3),
        ("\nAn entry without its number.\n", "an entry starts with its number", 2),
        ("# only a comment\n", "no entries", 1),
    ],
)
def test_a_malformed_list_names_its_file_and_line(tmp_path, text, message, line):
    path = tmp_path / "refs.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ArticleError) as caught:
        read_references(path)
    assert (caught.value.path, caught.value.line) == (str(path), line)
    assert message in caught.value.reason


def test_a_list_named_for_no_article_is_refused_not_ignored(tmp_path):
    """A misspelt file name used to build without a word, every answer without references."""
    article = corpus_with(tmp_path, None)
    misnamed = article.parent / "references" / "what-is-multifocal-motor-neuropaty.txt"
    misnamed.write_text(LISTED, encoding="utf-8")
    with pytest.raises(ArticleError) as caught:
        load_corpus(article.parent)
    assert caught.value.path == str(misnamed)
    assert "no article has the id 'what-is-multifocal-motor-neuropaty'" in caught.value.reason
    assert ARTICLE.stem in caught.value.reason


def test_a_cited_number_the_list_lacks_names_the_passage_that_cites_it(tmp_path):
    short = "\n".join(LISTED.splitlines()[:-1])  # entries 1-4: [5] is cited on line 39
    with pytest.raises(ArticleError) as caught:
        load_article(corpus_with(tmp_path, short))
    error = caught.value
    assert error.path.endswith(ARTICLE.name) and error.line == 39
    assert "cites [5], which" in error.reason and "references" in error.reason


@pytest.mark.model
def test_markers_link_to_the_article_view_entry_and_json_carries_the_citation(tmp_path, embedder):
    from fastapi.testclient import TestClient

    from assistant.build import build_index
    from assistant.engine import Engine
    from assistant.ingest.corpus import load_corpus
    from tests.test_web import parse
    from web.app import create_app

    path = corpus_with(tmp_path, LISTED)
    loaded = build_index(load_corpus(path.parent), embedder, tmp_path / "index")
    with TestClient(create_app(engine=Engine(loaded, embedder))) as client:
        data = client.post("/api/ask", json={"question": "Is anti-GM1 IgM found in MMN?"}).json()
        cited = next(p for p in data["passages"] if p["citations"])
        assert [r["number"] for r in cited["references"]] == list(cited["citations"])
        assert cited["references"][0]["text"].startswith("Example")
        # a lead-in's list carries its statements' sources too, as the page shows them
        listed = client.post(
            "/api/ask", json={"question": "MMN must be distinguished from?", "k": 1}
        ).json()["passages"][0]
        assert listed["kind"] == "lead_in" and listed["items"]
        for item in listed["items"]:
            assert [r["number"] for r in item["references"]] == item["citations"]
        assert any(
            r["text"].startswith("Example") for i in listed["items"] for r in i["references"]
        )

        doc = parse(client.get(f"/article/{ARTICLE.stem}").text)
        entries = doc.one("section", "references").find_all("li", "reference")
        assert [(li["id"], li.text) for li in entries][0] == (
            "ref-1", "Example A. A made-up study. J Synth Test. 2020;1:1-10."
        )  # fmt: skip
        markers = doc.find_all("a", "cite__link")
        assert markers and all(m["href"].startswith("#ref-") for m in markers)
        first = markers[0]
        number = int(first["href"].removeprefix("#ref-"))
        # read once: named by its number, described by the entry the tip shows (hidden itself)
        assert first["aria-label"] == f"Reference {number}"
        tip = first.one("span", "cite__tip")
        assert tip["aria-hidden"] == "true" and first["aria-describedby"] == tip["id"]
        assert (
            first.one("span", "cite__tip").text
            == dict(loaded.articles[ARTICLE.stem].references)[number]
        )
