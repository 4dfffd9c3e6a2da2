"""Labels parse from user input with clear errors; segments check their parts."""

import numpy as np
import pytest

from prefrl.types import Label, Segment


@pytest.mark.parametrize(
    "text, label",
    [("left", Label.LEFT), (" RIGHT ", Label.RIGHT), ("equal", Label.EQUAL), ("cant_tell", Label.CANT_TELL),
     ("first", Label.LEFT), ("second", Label.RIGHT), ("skip", Label.CANT_TELL), (Label.EQUAL, Label.EQUAL)],
)
def test_label_parse(text, label):
    assert Label.parse(text) is label


def test_malformed_label_lists_the_allowed_ones():
    with pytest.raises(ValueError, match="label='maybe' is not a label; use one of 'left'"):
        Label.parse("maybe")


def test_label_distribution_mu():
    assert [label.prefer_left_prob for label in Label] == [1.0, 0.0, 0.5, None]


def test_segment_parts_must_agree_in_length():
    with pytest.raises(ValueError, match="differ in length"):
        Segment(np.zeros((3, 2)), np.zeros(2), np.zeros(3))
