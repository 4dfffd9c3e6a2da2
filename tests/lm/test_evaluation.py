"""Policy evaluation: KL(π‖π_ref) is zero for the reference itself and positive for another policy."""

from __future__ import annotations

import torch

from prefrl.lm.batching import encode
from prefrl.lm.config import EvalConfig, TaskConfig
from prefrl.lm.evaluation import evaluate_policy, sequence_kl
from prefrl.lm.task import SentimentTask


def test_kl_to_itself_is_zero_and_to_another_policy_positive(tiny_lm) -> None:
    batch = encode(tiny_lm.tokenizer, ["praise the movie", "praise the day"], ["good", "bad sad"], 24)
    assert torch.equal(sequence_kl(tiny_lm, tiny_lm, batch), torch.zeros(2))
    other = tiny_lm.copy()
    with torch.no_grad():
        other.model.get_output_embeddings().weight.mul_(5.0)
    assert (sequence_kl(other, tiny_lm, batch) > 0).all()


def test_evaluate_policy_reports_reward_kl_and_length(tiny_lm) -> None:
    task = SentimentTask(TaskConfig(eval_prompts=8, max_response_words=4))
    scores = evaluate_policy(tiny_lm, tiny_lm, task, task.prompts("eval"), EvalConfig(kl_samples=1))
    assert scores["kl"] == 0.0
    assert 1 <= scores["length"] <= task.config.max_new_tokens
    assert -1 <= scores["reward_greedy"] <= 1 and -1 <= scores["reward_sampled"] <= 1
