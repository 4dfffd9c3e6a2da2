"""How a policy is measured on held-out prompts: true reward of greedy and sampled responses, and KL(π‖π_ref).

The KL is estimated along responses sampled from π (temperature 1) with the exact per-token KL of the two
next-token distributions,

    KL(π‖π_ref) = E_{y∼π} Σₜ KL(π(·|x, y<ₜ) ‖ π_ref(·|x, y<ₜ)),

which is unbiased like the plain estimate Σₜ log π/π_ref but has far lower variance (it averages over the
vocabulary at each step instead of using one sampled token). The frontier plots reward against it.
"""

from __future__ import annotations

from typing import Sequence

import torch

from prefrl.lm.batching import SequenceBatch
from prefrl.lm.config import EvalConfig
from prefrl.lm.generation import generate, respond
from prefrl.lm.logprobs import response_log_distributions
from prefrl.lm.models import LanguageModel
from prefrl.lm.task import SentimentTask


@torch.no_grad()
def sequence_kl(policy: LanguageModel, reference: LanguageModel, batch: SequenceBatch) -> torch.Tensor:
    """Σₜ KL(π(·|x, y<ₜ) ‖ π_ref(·|x, y<ₜ)) over each row's response tokens, ``(B,)``."""
    log_p = response_log_distributions(policy.model, batch)  # (B, R, V)
    log_q = response_log_distributions(reference.model, batch)  # (B, R, V)
    per_token = (log_p.exp() * (log_p - log_q)).sum(-1)  # (B, R)
    return (per_token * batch.response_mask).sum(-1)


def evaluate_policy(
    policy: LanguageModel,
    reference: LanguageModel,
    task: SentimentTask,
    prompts: Sequence[str],
    config: EvalConfig = EvalConfig(),
) -> dict[str, float]:
    """``reward_greedy`` and ``reward_sampled`` (mean true reward), ``kl`` and ``length`` (mean response tokens
    of samples) on ``prompts``."""
    max_new_tokens = task.config.max_new_tokens
    greedy = respond(policy, prompts, max_new_tokens, config.batch_size, greedy=True)
    generator = torch.Generator().manual_seed(config.seed)
    repeated = [prompt for prompt in prompts for _ in range(config.kl_samples)]
    rewards, kls, lengths = [], [], []
    for start in range(0, len(repeated), config.batch_size):
        chunk = repeated[start : start + config.batch_size]
        sample = generate(policy, chunk, max_new_tokens, generator=generator)
        rewards.append(torch.as_tensor(task.rewards(chunk, sample.texts)))
        kls.append(sequence_kl(policy, reference, sample.batch))
        lengths.append(sample.batch.response_lengths.float())
    return {
        "reward_greedy": float(task.rewards(prompts, greedy).mean()),
        "reward_sampled": torch.cat(rewards).mean().item(),
        "kl": torch.cat(kls).mean().item(),
        "length": torch.cat(lengths).mean().item(),
    }
