"""End to end on the embedded task: DPO and RLHF from a quickly trained π_SFT raise the programmatic reward."""

from __future__ import annotations

import pytest

from prefrl.lm.config import DPOConfig, EvalConfig, PreferenceDataConfig, RewardModelConfig, RLHFConfig
from prefrl.lm.dpo_trainer import DPOTrainer
from prefrl.lm.evaluation import evaluate_policy
from prefrl.lm.pipeline import prepare
from prefrl.lm.reward_model import RewardModel, train_reward_model
from prefrl.lm.rlhf_trainer import RLHFTrainer

from tests.lm.conftest import SMALL_TASK

EVAL = EvalConfig(kl_samples=2)


@pytest.fixture(scope="module")
def setup(sft_folder):
    return prepare(task=SMALL_TASK, data=PreferenceDataConfig(prompts=400, responses_per_prompt=4), model=sft_folder)


@pytest.mark.slow
def test_dpo_raises_the_programmatic_reward_over_sft(setup) -> None:
    policy = setup.sft.copy()
    # At β = 0.1 and lr 1e-2 the outcome hung on the batch order (seed) and even on torch's thread count: held-out
    # accuracy 0.45-0.85 over seeds 0-2, the reward raised by 0.0-1.1. At β = 0.3 and lr 5e-3, seeds 0-4 all
    # reached accuracy >= 0.85 and raised the sampled reward by >= 0.5.
    config = DPOConfig(epochs=4, batch_size=16, learning_rate=5e-3, beta=0.3)
    metrics = DPOTrainer(policy, setup.sft, config).fit(setup.train, setup.held_out)
    prompts = setup.task.prompts("eval")
    before = evaluate_policy(setup.sft, setup.sft, setup.task, prompts, EVAL)
    after = evaluate_policy(policy, setup.sft, setup.task, prompts, EVAL)
    assert after["reward_sampled"] > before["reward_sampled"] + 0.2
    assert after["reward_greedy"] > before["reward_greedy"] + 0.2
    assert metrics["eval/pref_accuracy"] >= 0.75
    assert after["kl"] > 0.1


@pytest.mark.slow
def test_rlhf_raises_the_programmatic_reward_over_sft(setup) -> None:
    reward_model = RewardModel(setup.sft)
    # The last-token reward model learns the instruction's sign abruptly; 12 small epochs get there reliably.
    rm_config = RewardModelConfig(epochs=12, batch_size=4, learning_rate=3e-3)
    rm_metrics = train_reward_model(reward_model, setup.train, setup.held_out, rm_config)
    assert rm_metrics["eval/pref_accuracy"] >= 0.9
    policy = setup.sft.copy()
    config = RLHFConfig(iterations=25, learning_rate=2e-3)
    trainer = RLHFTrainer(policy, setup.sft, reward_model, config, max_new_tokens=SMALL_TASK.max_new_tokens,
                          task=setup.task)
    trainer.train(setup.task.prompts("train"))
    prompts = setup.task.prompts("eval")
    before = evaluate_policy(setup.sft, setup.sft, setup.task, prompts, EVAL)
    after = evaluate_policy(policy, setup.sft, setup.task, prompts, EVAL)
    assert after["reward_sampled"] > before["reward_sampled"] + 0.1
