"""The embedded task: the programmatic reward checked by hand, prompts fixed by the seed."""

from __future__ import annotations

import numpy as np
import pytest

from prefrl.lm.config import TaskConfig
from prefrl.lm.task import SentimentTask, vocabulary


def test_reward_counts_sentiment_words_with_the_instructions_sign() -> None:
    task = SentimentTask(TaskConfig(max_response_words=8))
    prompts = ["praise the movie", "complain about the food", "praise the old day"]
    responses = ["good great bad", "good great bad", "was very nice and fun fun"]
    # (2 - 1)/8, -(2 - 1)/8, (3 - 0)/8; words outside the language count as neutral
    np.testing.assert_allclose(task.rewards(prompts, responses), [0.125, -0.125, 0.375])
    np.testing.assert_allclose(task.word_rewards("complain about the food", "bad zebra"), [0.125, 0.0])


def test_prompts_are_reproducible_and_splits_differ() -> None:
    task = SentimentTask(TaskConfig(train_prompts=50, eval_prompts=50))
    assert task.prompts("train") == SentimentTask(TaskConfig(train_prompts=50, eval_prompts=50)).prompts("train")
    assert task.prompts("train") != task.prompts("eval")
    words = set(vocabulary())
    assert all(word in words for prompt in task.prompts("train") for word in prompt.split())


def test_demonstrations_ignore_the_instruction() -> None:
    task = SentimentTask()
    prompts, responses = task.demonstrations(4000, np.random.default_rng(0))
    assert abs(task.rewards(prompts, responses).mean()) < 0.02  # π_SFT has everything to learn
    assert all(2 <= len(response.split()) <= task.config.max_response_words for response in responses)


def test_bad_input_names_the_problem() -> None:
    task = SentimentTask()
    with pytest.raises(ValueError, match="instruction"):
        task.rewards(["describe the movie"], ["good"])
    with pytest.raises(ValueError, match="one response per prompt"):
        task.rewards(["praise the movie"], [])
    with pytest.raises(ValueError, match="split"):
        task.prompts("test")
    with pytest.raises(ValueError, match="max_response_words"):
        TaskConfig(max_response_words=1)
