"""Every passage of the real article: its citations, section, lead-in, span and id."""

from assistant.ingest.chunking import index_text, passage_id
from assistant.ingest.corpus import load_article
from tests.conftest import ARTICLE

# Source line -> the reference numbers printed after that statement, checked by hand
# against the export. Lines with () are the lead-in sentences, which cite nothing.
PRINTED_CITATIONS = {
    20: (1, 2),
    24: (),
    26: (3, 1, 2), 27: (1, 2), 28: (4,), 29: (4,), 30: (3, 4), 31: (4,),
    35: (),
    39: (1, 5, 2), 40: (2,), 41: (2,),
    45: (4, 1, 5), 46: (3,), 47: (2,),
    51: (),
    53: (2,), 54: (1, 2), 55: (1,),
    59: (1, 5, 2),
    63: (4,), 64: (4,), 65: (4,), 66: (4,), 67: (4,),
    71: (2,), 72: (2,), 73: (4, 1, 5), 74: (2,),
    78: (3,), 79: (3,), 80: (2,),
}  # fmt: skip


def test_every_statement_of_the_article_is_one_passage_with_exactly_its_printed_citations():
    passages = load_article(ARTICLE).passages
    assert {p.line: p.citations for p in passages} == PRINTED_CITATIONS
    assert [p.position for p in passages] == list(range(len(passages)))


def test_citation_numbers_are_removed_from_the_text_and_content_numbers_kept():
    by_line = {p.line: p for p in load_article(ARTICLE).passages}
    assert by_line[63].text == "Dosing: 1.6-2.4 g/kg given intravenously over 3-5 days"
    assert (
        by_line[45].text
        == "High-titer anti-GM1 IgM antibodies are present in approximately 50-80% of patients"
    )
    assert by_line[30].text.endswith(
        "(ages 28-58 years in most series), though rare childhood cases have been reported"
    )
    assert by_line[64].text.endswith("peaks at 2 weeks, and lasts an average of 2 months")
    assert by_line[20].text.endswith("on electrodiagnostic testing.")


def test_spans_point_at_the_statement_in_the_source():
    source = ARTICLE.read_text(encoding="utf-8")
    lines = source.splitlines()
    for passage in load_article(ARTICLE).passages:
        assert source[passage.start : passage.end] == passage.text
        assert passage.text in lines[passage.line - 1]


def test_section_paths_kinds_and_lead_ins():
    by_line = {p.line: p for p in load_article(ARTICLE).passages}
    topic = "Multifocal Motor Neuropathy (MMN)"
    assert by_line[20].section == (topic,)
    assert by_line[20].kind == "paragraph"
    assert by_line[24].kind == "lead_in"
    assert by_line[26].section == (topic, "Clinical Presentation")
    assert by_line[26].context == by_line[24].text
    diagnosis = (
        "The diagnosis of MMN requires specific electrophysiological and serological findings:"
    )
    assert by_line[35].text == diagnosis and by_line[35].kind == "lead_in"
    assert by_line[39].section == (topic, "Diagnostic Features", "Electrodiagnostic Hallmarks")
    assert by_line[39].context == diagnosis
    assert by_line[45].section == (topic, "Serological Markers")
    assert by_line[53].context.startswith("MMN must be distinguished from several conditions")
    assert by_line[59].section == (topic, "Treatment") and by_line[59].kind == "paragraph"
    assert by_line[63].section == (topic, "IVIg Therapy")
    assert by_line[63].kind == "bullet" and by_line[63].context is None
    assert by_line[24].context is None  # a lead-in is not its own context


def test_what_is_indexed_carries_the_passage_in_its_place_but_the_text_stays_the_statement():
    dosing = next(p for p in load_article(ARTICLE).passages if p.line == 63)
    assert (
        dosing.index_text
        == "Multifocal Motor Neuropathy (MMN)\nIVIg Therapy\nDosing: 1.6-2.4 g/kg given intravenously over 3-5 days"
    )
    assert dosing.text == "Dosing: 1.6-2.4 g/kg given intravenously over 3-5 days"
    assert index_text("T", ("T", "A", "B"), "Lead:", "x") == "T\nA > B\nLead:\nx"


def test_ids_are_stable_unique_and_follow_the_content():
    first = load_article(ARTICLE).passages
    again = load_article(ARTICLE).passages
    assert [p.id for p in first] == [p.id for p in again]
    assert len({p.id for p in first}) == len(first)
    assert passage_id("a", "Same  text") == passage_id("a", "Same text")  # white space folded
    assert passage_id("a", "Same text") != passage_id("b", "Same text")  # ids are per article
    assert passage_id("a", "Same text") != passage_id("a", "Other text")
    assert all(p.anchor == f"p-{p.id}" for p in first)


def test_a_dangling_lead_in_does_not_hand_an_earlier_one_to_the_next_section():
    """A lead-in with nothing under it before a sibling section used to mark the topic's own
    lead-in as heading its subsections, so the sibling's passages took it as context."""
    from assistant.ingest.chunking import chunk
    from assistant.ingest.parsing import Block

    shapes = [("heading", "Topic", 1), ("paragraph", "Key features include:", None),
              ("bullet", "Weakness 1", None), ("heading", "Diagnosis", 2),
              ("paragraph", "Tests are:", None), ("heading", "Treatment", 2),
              ("bullet", "IVIg is first-line 2", None)]  # fmt: skip
    blocks = [Block(kind, raw, 0, len(raw), n + 1, level) for n, (kind, raw, level) in enumerate(shapes)]  # fmt: skip
    contexts = {p.text: p.context for p in chunk("a", "Topic", blocks)}
    assert contexts["Weakness"] == "Key features include:"
    assert contexts["IVIg is first-line"] is None
