"""Fusion: pure functions, checked by hand."""

import pytest

from assistant.search.fusion import convex, minmax


def test_convex_normalises_each_list_and_weights_it():
    fused = convex([{1: 0.8, 2: 0.4, 3: 0.2}, {2: 10.0, 3: 5.0}], weights=[1.0, 0.5])
    assert fused == pytest.approx({1: 1.0, 2: 1 / 3 + 0.5, 3: 0.0})
    assert minmax({1: 2.0, 2: 2.0}) == {1: 0.0, 2: 0.0}
    assert minmax({}) == {}
