"""The records shared by every stage: which list items go on the numbered step above them."""

from __future__ import annotations

import pytest

from assistant.records import steps_going_on


@pytest.mark.parametrize(
    ("marks", "expected"),
    [
        # a step's second sentence, printed as an item of its own
        ([("1.", 0), ("1.", 0), ("2.", 0)], [False, True, False]),
        # the step's own bullets between its sentences do not end it
        ([("1.", 0), ("", 1), ("", 1), ("1.", 0)], [False, False, False, True]),
        # a sub-step "1." under step 1 is a step of its own, and so is the next "1." under it
        ([("1.", 0), ("1.", 1), ("1.", 0)], [False, False, True]),
        ([("1.", 0), ("1.", 1), ("2.", 1)], [False, False, False]),
        # a plain bullet at the step's depth ends the step: a "1." after it starts a new list
        ([("1.", 0), ("", 0), ("1.", 0)], [False, False, False]),
        # a shallower step closes the deeper ones
        ([("1.", 1), ("2.", 0), ("1.", 1)], [False, False, False]),
        ([], []),
    ],
)
def test_which_items_go_on_a_step_above(marks, expected):
    assert steps_going_on(marks) == expected
