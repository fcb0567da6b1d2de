import pytest

from assistant.ingest.citations import (
    cited_sentences,
    markers_only,
    split_citations,
    split_lead_in,
    split_markdown_citations,
)
from tests.conftest import hang_guard


def load_export_statement(statement: str) -> None:
    """The statement as an export's bullet, read by the export's block reader (its inner
    citations are searched there: `shapes.INNER_CITATIONS`)."""
    from assistant.ingest.parsing import source_lines
    from assistant.ingest.shapes import content_blocks

    text = "  \u2022 " + statement + "\n"
    content_blocks(source_lines(text), text)


@pytest.mark.parametrize(
    ("statement", "text", "citations"),
    [
        (
            "Dosing: 1.6-2.4 g/kg given intravenously over 3-5 days 4",
            "Dosing: 1.6-2.4 g/kg given intravenously over 3-5 days",
            (4,),
        ),
        (
            "present in approximately 50-80% of patients 4, 1, 5",
            "present in approximately 50-80% of patients",
            (4, 1, 5),
        ),
        ("on electrodiagnostic testing. 1, 2", "on electrodiagnostic testing.", (1, 2)),
        (
            "onset (ages 28-58 years in most series), though rare childhood cases have been reported 3, 4",
            "onset (ages 28-58 years in most series), though rare childhood cases have been reported",
            (3, 4),
        ),
        (
            "Lewis-Sumner syndrome (MADSAM neuropathy)\u2014a neuropathy that includes sensory deficits 1",
            "Lewis-Sumner syndrome (MADSAM neuropathy)\u2014a neuropathy that includes sensory deficits",
            (1,),
        ),
        (
            "peaks at 2 weeks, and lasts an average of 2 months 4",
            "peaks at 2 weeks, and lasts an average of 2 months",
            (4,),
        ),
        ("cited twice 2, 2, 3", "cited twice", (2, 3)),
        # a statement that ends in a number of its own, still cited (a heart article's)
        ("Target systolic BP below 130 1", "Target systolic BP below 130", (1,)),
        ("Keep the INR at 2.0-3.0 4", "Keep the INR at 2.0-3.0", (4,)),
        (
            "Anticoagulate at a CHA2DS2-VASc \u22652 1, 3",
            "Anticoagulate at a CHA2DS2-VASc \u22652",
            (1, 3),
        ),
        ("First described in 1967 2", "First described in 1967", (2,)),
        # a unit after "/" is not a counted noun
        ("Aspirin 3\u20135 mg/kg/day 1", "Aspirin 3\u20135 mg/kg/day", (1,)),
        # nor is a noun a number before it already counts (a heart article's ICD criteria)
        ("with expected survival beyond 1 year 1", "with expected survival beyond 1 year", (1,)),
        ("survival beyond 1\u00a0year 1", "survival beyond 1\u00a0year", (1,)),
        # a span of time with an article is a rate, and a named trial is known by its name
        # (a blind gout article: both numbers had stayed in the text, citing nothing)
        (
            "Frequent flares, defined as 2 or more a year 4",
            "Frequent flares, defined as 2 or more a year",
            (4,),
        ),  # fmt: skip
        (
            "did not slow the loss in the CKD-FIX trial 12",
            "did not slow the loss in the CKD-FIX trial",
            (12,),
        ),  # fmt: skip
        # a cited question or lead-in
        ("Is it inherited? 2", "Is it inherited?", (2,)),
        ("NYHA class: 2 1", "NYHA class: 2", (1,)),  # after a colon a number is a value
        ("trailing spaces 7   ", "trailing spaces", (7,)),
    ],
)
def test_trailing_reference_numbers_become_citations(statement, text, citations):
    split = split_citations(statement)
    assert split.text == text
    assert split.citations == citations
    assert statement[: split.end] == text


@pytest.mark.parametrize(
    "statement",
    [
        "Dosing: 1.6-2.4 g/kg given intravenously over 3-5 days",
        "High-titer antibodies are present in approximately 50-80%",
        "Disease onset is typically in adulthood (ages 28-58",
        "Strength peaks at 2 weeks",
        "Progression occurs over 5-18",
        "The MMN assistant is a reference aid for type 2",  # a counted noun takes its number
        "Reviewed at stage 3",
        "Stop after the maximally tolerated dose 2",  # the shape of "dose 2": content stays
        "Hold for CTCAE v5 grade 3",  # "v5" counts nothing: "grade 3" is content
        "The event was a grade 3",  # an article before a grade: the grade itself
        "As reported in the trial 2",  # a trial known by its number
        "Enrol in Cohort B, Trial 2",  # its label
        "Recommended in ESC 2021 class 1",  # nor does a year
        "eGFR 15-29 stage 4",
        # a statement does not end in a preposition, comparison or "is": its value follows
        "Keep the platelet count above 50",
        "Treat if systolic BP is above 180",
        "Avoid aspirin in children under 16",
        "Reduce the dose when eGFR is less than 30",
        "Reviewed on day 2",  # "on" does not say which day: "day 2" is content
        "Grade: 3",  # a value after a colon, not a citation
        "Published in 2019",  # four digits are never a reference number
        "A statement with reference 0",  # references start at 1
        "A number in two scripts 1\u0663",  # a 1 and an Arabic-Indic 3 is not reference 13
        "The MMN assistant",
        "",
    ],
)
def test_numbers_that_belong_to_the_content_are_never_citations(statement):
    split = split_citations(statement)
    assert split.citations == ()
    assert split.text == statement.rstrip()


def test_a_plural_noun_before_the_number_still_leaves_a_citation():
    assert split_citations("lasts an average of 2 months 4").citations == (4,)
    assert split_citations("over several cycles 3").citations == (3,)


def test_a_counted_noun_that_a_word_before_it_already_counts_leaves_a_citation():
    """ "a single dose 1" cannot be dose number one: the 1 is cited (a paediatric article's)."""
    assert split_citations("Give IVIG 2 g/kg as a single dose 1").citations == (1,)
    assert split_citations("Echocardiography every year 4").citations == (4,)
    assert split_citations("Assess adherence and bleeding at each visit 2").citations == (2,)
    assert split_citations("Burning is common in the first week 3").citations == (3,)
    assert split_citations("Pegfilgrastim 6 mg is given once per cycle 4").text == (
        "Pegfilgrastim 6 mg is given once per cycle"
    )


@pytest.mark.parametrize(
    ("statement", "text", "citations"),
    [
        ("Vaccinate all adults aged 65 and over 2", "Vaccinate all adults aged 65 and over", (2,)),
        ("Offer it to those aged 75 or over 3", "Offer it to those aged 75 or over", (3,)),
        ("Apply the renal dose adjustments described above 4",
         "Apply the renal dose adjustments described above", (4,)),
        ("Monitor potassium as above 2", "Monitor potassium as above", (2,)),
        ("Clinicians should be aware of 3", "Clinicians should be aware of", (3,)),
        ("Check that the organism is susceptible to 3", "Check that the organism is susceptible to",
         (3,)),
        ("Treat whatever the underlying cause is 2", "Treat whatever the underlying cause is", (2,)),
    ],
)  # fmt: skip
def test_a_statement_that_ends_in_such_a_word_keeps_its_citation(statement, text, citations):
    """A second read found 27 real endings whose citation the first value rule took as text."""
    split = split_citations(statement)
    assert (split.text, split.citations) == (text, citations)


def test_an_export_cited_with_markdown_markers_keeps_its_references():
    """An outside writer's export cited "[3]": every statement kept the marker in its text and
    no reference at all."""
    split = split_citations("Give a second dose if fever persists after the first infusion [3]")
    assert (split.text, split.citations) == (
        "Give a second dose if fever persists after the first infusion",
        (3,),
    )
    assert split_citations("Anticoagulate [1, 2].").citations == (1, 2)
    assert split_citations("weak limbs 4]").citations == ()  # a slip, named by the build


@pytest.mark.parametrize(
    ("statement", "text", "citations"),
    [
        ("siblings are at higher risk. 1-3", "siblings are at higher risk.", (1, 2, 3)),
        ("occur in 25%. 1\u20133, 5", "occur in 25%.", (1, 2, 3, 5)),
    ],
)
def test_a_range_of_references_after_a_full_stop_is_cited(statement, text, citations):
    assert split_citations(statement) == (text, citations, len(text))


@pytest.mark.parametrize(
    "statement",
    [
        "Children aged 1-3",
        "IVIG reduces aneurysms 1-3",
        "Seen in 2019. 1-40",
        "Rare. 3-1",
        "The normal platelet count is approx. 150-400",
        "Use a short course, e.g. 3-5",
        "Response rates were 70% vs. 40-60",
        "The criteria are listed in the guideline, see p. 12-15",
        "Give 500 mg b.i.d. 2-3",
    ],
)
def test_a_range_that_is_content_or_too_wide_is_no_citation(statement):
    assert split_citations(statement) == (statement, (), len(statement))


def test_a_lead_ins_references_after_its_colon_keep_the_colon():
    assert split_lead_in("Initial assessment should include the following: 1") == (
        "Initial assessment should include the following:",
        (1,),
        len("Initial assessment should include the following:"),
    )
    assert split_lead_in("at least 4 of the 5 principal features: 1\u20133").citations == (1, 2, 3)
    assert split_lead_in("Grade: 3 or more") is None
    assert split_lead_in("The CHA2DS2-VASc score: 2") is None  # a label's value
    assert split_lead_in("Maximum daily dose of aspirin in grams: 4") is None
    assert split_lead_in("Number of criteria required for diagnosis: 4") is None
    assert split_lead_in("Risk factors for severe disease include: 2").citations == (2,)
    assert split_lead_in("Give the following:") is None


@pytest.mark.parametrize(
    "statement",
    [
        "word " + "[1]     " * 12 + "x",
        "word" + " " * 50000 + "x",
        "risk. " + "[2] , " * 40 + "x",
        "word " + "[1]" * 20000 + "x",
        # raised markers (a second read's): 22 pasted superscripts mid-sentence took 4 s, each
        # more 1.8 times as long; a run of 28 digits 24 s; spaces inside <sup> grew cubically
        "weak limbs" + ",".join("\u00b9\u00b2\u00b3"[i % 3] for i in range(60)) + " in most x",
        "weak limbs" + "\u00b9" * 60 + " x",
        "weak limbs.<sup>" + " " * 5000 + "1" + " " * 5000 + "x",
        "weak limbs" + "^1^" * 5000 + " x",
    ],
)
def test_a_line_of_markers_or_spaces_is_read_at_once_not_for_minutes(statement):
    """Twelve spaced markers took 26 s (the white space between them read in every way), and
    each more marker six times as long."""
    with hang_guard():
        assert split_citations(statement).text.endswith("x")
        assert markers_only(statement) == ()  # a table's cell
        cited_sentences(statement)
        load_export_statement(statement)


# --- what outside writers printed (blind pulmonary embolism and myasthenia articles) ------------


@pytest.mark.parametrize(
    ("statement", "text", "citations"),
    [
        # superscripts pasted as plain text, glued to the full stop
        ("PE is a common cause of cardiovascular death.1,2", "PE is a common cause of cardiovascular death.", (1, 2)),
        ("Anticoagulate for at least three months.1-3", "Anticoagulate for at least three months.", (1, 2, 3)),
        ("Ask the team.12", "Ask the team.", (12,)),
        # a bracketed range, as Vancouver style prints it
        ("Antibody testing guides treatment [1–3]", "Antibody testing guides treatment", (1, 2, 3)),
        ("Antibody testing guides treatment [1-3, 5].", "Antibody testing guides treatment.", (1, 2, 3, 5)),
    ],
)  # fmt: skip
def test_pasted_superscripts_and_bracketed_ranges_cite(statement, text, citations):
    split = split_citations(statement)
    assert (split.text, split.citations) == (text, citations)


@pytest.mark.parametrize(
    "statement",
    [
        "See Fig.2",
        "Give 2.5",
        "the dose is approx.5",
        "e.g.1",
        "dose range [40-60]",
        "a [3-1]",
        "reduced to 2.5 mg in Suppl.1",
        "listed in Tab.3",
        "as in eq.2",
    ],
)
def test_a_number_after_an_abbreviation_or_a_wide_bracketed_range_is_content(statement):
    assert split_citations(statement).citations == ()


def test_several_numbers_after_a_lead_ins_colon_cite_whatever_its_last_word():
    """ "3. … measure a high-sensitivity D-dimer: 1, 5" with its list under it kept "1, 5" as text:
    "D-dimer" opens no list by its words, but a label's value is one number, not two."""
    step = "If PE is unlikely or probability is not high, measure a high-sensitivity D-dimer: 1, 5"
    split = split_lead_in(step)
    assert split is not None and split.citations == (1, 5) and split.text.endswith("D-dimer:")
    assert split_lead_in("Maximum daily dose of aspirin in grams: 4") is None
    # a lead naming what its numbers measure lists values, however many (a second read's)
    for values in (
        "Titrate lisinopril every two weeks through these daily doses in mg: 5, 10, 20",
        "Target blood pressure in treated patients, systolic and diastolic in mmHg: 130, 80",
        "Prednisolone is tapered weekly in mg per day: 40, 30, 20",
    ):
        assert split_lead_in(values) is None, values


@pytest.mark.parametrize(
    ("cell", "citations"),
    [("[1]", (1,)), (" [1][2] ", (1, 2)), ("[1-3]", (1, 2, 3)), ("[^4]", (4,)), ("1", ()),
     ("[40-60]", ()), ("see [1]", ())],
)  # fmt: skip
def test_a_cell_of_markers_alone_is_its_rows_citations(cell, citations):
    assert markers_only(cell) == citations


# --- raised and linked markers (a blind infective endocarditis article in Markdown) -------------


@pytest.mark.parametrize(
    ("statement", "text", "citations"),
    [
        ("Mortality is about 15–30%.<sup>1,2</sup>", "Mortality is about 15–30%.", (1, 2)),
        ("or 3 minor criteria.<SUP>5</SUP>", "or 3 minor criteria.", (5,)),
        ("as in the POET trial).<sup>[7]</sup>", "as in the POET trial).", (7,)),
        ("streptococci and enterococci.^1^", "streptococci and enterococci.", (1,)),
        ("common in subacute disease.²", "common in subacute disease.", (2,)),
        ("an alternative for MRSA<sup>6</sup>.", "an alternative for MRSA.", (6,)),
        ("a cause of death.¹⁻³", "a cause of death.", (1, 2, 3)),
        ("an alternative for MRSA.[[6]](#ref-6)", "an alternative for MRSA.", (6,)),
        # after closing emphasis, an abbreviation in capitals, or several numbers after a number
        ("The commonest cause is *S. aureus*<sup>2</sup>.", "The commonest cause is *S. aureus*.", (2,)),
        ("Surgery lowers mortality in IE<sup>4</sup>.", "Surgery lowers mortality in IE.", (4,)),
        ("It is common in MS²", "It is common in MS", (2,)),
        ("Incidence is 5 per 100 000<sup>1,2</sup>", "Incidence is 5 per 100 000", (1, 2)),
        ("Incidence rose to 12<sup>1-3</sup>", "Incidence rose to 12", (1, 2, 3)),
        # linked to its source, or inside a <sup> (a second read's)
        ("for MRSA.[[6]](https://doi.org/10.1/x-2)", "for MRSA.", (6,)),
        ("for MRSA.<sup>[[7]](#ref-7)</sup>", "for MRSA.", (7,)),
    ],
)  # fmt: skip
def test_raised_and_linked_markers_cite_as_brackets_do(statement, text, citations):
    """A writer's `<sup>1,2</sup>`, Pandoc's `^1^`, a pasted "²" and a marker linked to its
    entry left every statement with "References: none" and the number shown as text."""
    split = split_markdown_citations(statement)
    assert (split.text, split.citations) == (text, citations)
    assert split_citations(statement).citations == citations  # an export cited so, too


@pytest.mark.parametrize(
    "statement",
    [
        "Rituximab 375 mg/m<sup>2</sup>",  # a unit's power
        "Carboplatin dosed to 1.5 mg/m²",
        "Neutrophils below 1.5 × 10<sup>9</sup>",  # a number's power
        "Measure the volume in mm³",
        "Check the HbA<sub>1c</sub>",
        "Give it on the 2<sup>nd</sup>",
        "Serum Ca²",
        "A clearance below 1 mL/s per 1.73 m<sup>2</sup>",
        "Keep it below 10<sup>-3</sup>",
    ],
)
def test_a_raised_number_after_a_unit_or_a_number_is_content(statement):
    assert split_markdown_citations(statement).citations == ()
    assert split_citations(statement).citations == ()


def test_raised_markers_close_each_cited_sentence():
    statement = "Mortality is 20%.<sup>1</sup> Early surgery helps.<sup>2,3</sup>"
    assert [statement[a:b] for a, b in cited_sentences(statement)] == [
        "Mortality is 20%.<sup>1</sup>",
        "Early surgery helps.<sup>2,3</sup>",
    ]


def test_a_label_alone_keeps_its_number_and_a_statement_ending_in_the_noun_cites():
    """ "Regimen 1" over bullets was read as a statement "Regimen" citing [1]."""
    for label in ("Regimen 1", "Option 2", "Case 3", "Scenario 1", "Box 1", "Algorithm 2"):
        assert split_citations(label) == (label, (), len(label))
    assert split_citations("Rituximab is an option 4").citations == (4,)
    assert split_citations("Surgery may be needed in this case 3").citations == (3,)
    assert split_citations("Alcohol 2").citations == (2,)  # a cited item of one word
