"""The limits on a question: what `clean_question` keeps, and the API schema's pattern that
states it (no model: pure functions)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant.errors import QueryError
from assistant.limits import QUESTION_PATTERN, clean_question

PATTERN = re.compile(QUESTION_PATTERN)
INVISIBLE = "\u00ad\u200b\u200c\u200d\u200e\u200f\u202a\u202e\u2060\u2066\u2069\ufeff\ufffd"


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("What IV\u200bIg dose\u00ad is\u202e used?\ufeff", "What IVIg dose is used?"),
        ("\uff29\uff36\uff29\uff47\u3000dose\uff1f", "IVIg dose?"),
        ("caf\ufffd patients", "caf patients"),  # a character lost on the way, never typed
        ("\x1b[1mdose\x07", "[1mdose"),
    ],
    ids=["invisible", "full-width", "replacement character", "controls"],
)
def test_a_question_keeps_what_was_typed_and_loses_what_no_one_can_see(sent, kept):
    assert clean_question(sent) == kept


@given(st.text(alphabet=INVISIBLE + " \t\n\x00\x1f\x85\u3000" + "aé中", max_size=12))
def test_the_schema_refuses_exactly_the_questions_the_check_finds_empty(question):
    """A question the schema allows is never refused as empty (the schema fuzzer sends what the
    schema allows and expects it answered), and the reverse."""
    try:
        clean_question(question)
        empty = False
    except QueryError as error:
        assert "empty" in str(error)
        empty = True
    assert (PATTERN.search(question) is None) == empty
