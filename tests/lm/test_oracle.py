"""The response oracle reuses the control oracle's noise model on the programmatic reward."""

from __future__ import annotations

import numpy as np

from prefrl.config import OracleConfig
from prefrl.lm.oracle import ResponseOracle
from prefrl.lm.task import SentimentTask
from prefrl.oracles.synthetic import SyntheticOracle
from prefrl.types import Label

TASK = SentimentTask()
PROMPTS = ["praise the movie", "complain about the food", "praise the day"]
LEFT = ["good great", "good", "nice was"]
RIGHT = ["bad", "sad awful", "was nice"]


def test_noiseless_oracle_prefers_the_higher_reward_and_ties_are_equal() -> None:
    oracle = ResponseOracle(TASK.word_rewards, rng=0)
    assert oracle.label(PROMPTS, LEFT, RIGHT) == [Label.LEFT, Label.RIGHT, Label.EQUAL]


def test_labels_equal_the_control_oracles_on_the_same_returns() -> None:
    config = OracleConfig(beta=1.0, mistake_rate=0.2)
    rng = np.random.default_rng(0)
    prompts = [PROMPTS[i % 3] for i in range(200)]
    left = [" ".join(rng.choice(["good", "bad", "was"], size=3)) for _ in prompts]
    right = [" ".join(rng.choice(["nice", "sad", "the"], size=2)) for _ in prompts]
    returns = np.stack([TASK.rewards(prompts, left), TASK.rewards(prompts, right)], axis=1)
    expected = SyntheticOracle(config, rng=5).label_returns(returns)
    assert ResponseOracle(TASK.word_rewards, config, rng=5).label(prompts, left, right) == expected


def test_myopic_rater_weighs_the_end_of_a_response_more() -> None:
    oracle = ResponseOracle(TASK.word_rewards, OracleConfig(myopic_gamma=0.5), rng=0)
    np.testing.assert_allclose(oracle.returns(["praise the day"], ["good was was"]), [0.25 / 8])
    # Same words, different order: the plain sum ties, the myopic rater prefers the good word last.
    assert oracle.label(["praise the day"], ["was good"], ["good was"]) == [Label.LEFT]


def test_mistakes_flip_every_answer_at_rate_one() -> None:
    oracle = ResponseOracle(TASK.word_rewards, OracleConfig(mistake_rate=1.0), rng=0)
    assert oracle.label(PROMPTS[:2], LEFT[:2], RIGHT[:2]) == [Label.RIGHT, Label.LEFT]


def test_mismatched_comparison_lists_are_rejected() -> None:
    import pytest

    with pytest.raises(ValueError, match="one of each per comparison"):
        ResponseOracle(TASK.word_rewards).label(PROMPTS, LEFT, RIGHT[:2])
