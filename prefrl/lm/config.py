"""Typed, frozen configuration of the language-model stages; the ``prefrl lm`` options are generated from it.

Same house style as :mod:`prefrl.config`: every field carries its help text in ``metadata["help"]`` (via
:func:`~prefrl.config.option`) and ``__post_init__`` rejects bad values with the field, the value and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass

from prefrl.config import _require, option


@dataclass(frozen=True)
class ModelConfig:
    """The embedded default policy: a tiny GPT-2 built from this config, no download (Radford et al. 2019)."""

    n_layer: int = option(2, "Transformer blocks of the embedded model.")
    n_head: int = option(4, "Attention heads per block.")
    n_embd: int = option(64, "Width of the residual stream; must be divisible by n_head.")
    n_positions: int = option(32, "Context length in tokens: prompt plus response must fit.")

    def __post_init__(self) -> None:
        _require(self.n_layer >= 1, "n_layer", self.n_layer, "use 1 or more blocks")
        _require(self.n_head >= 1, "n_head", self.n_head, "use 1 or more heads")
        _require(
            self.n_embd >= 1 and self.n_embd % self.n_head == 0,
            "n_embd",
            self.n_embd,
            f"it must be a positive multiple of n_head={self.n_head}",
        )
        _require(self.n_positions >= 4, "n_positions", self.n_positions, "use a context of 4 or more tokens")


@dataclass(frozen=True)
class TaskConfig:
    """The embedded synthetic task: praise or complain about a subject (see :mod:`prefrl.lm.task`)."""

    max_response_words: int = option(
        8, "Longest response of the SFT data, in words; generation stops one token later (room for <eos>)."
    )
    train_prompts: int = option(2000, "Distinct prompts drawn for training (SFT data, preference pairs, RLHF).")
    eval_prompts: int = option(200, "Held-out prompts for reward, KL and preference accuracy.")
    seed: int = option(0, "Seed of the prompt and SFT-data generator.")

    def __post_init__(self) -> None:
        _require(self.max_response_words >= 2, "max_response_words", self.max_response_words, "use 2 or more")
        _require(self.train_prompts >= 2, "train_prompts", self.train_prompts, "use 2 or more prompts")
        _require(self.eval_prompts >= 1, "eval_prompts", self.eval_prompts, "use 1 or more prompts")

    @property
    def max_new_tokens(self) -> int:
        """Generation budget: the longest SFT response plus its <eos>."""
        return self.max_response_words + 1


@dataclass(frozen=True)
class SFTConfig:
    """Supervised fine-tuning on demonstrations: π_SFT, which is also π_ref (Ouyang et al. 2022, §3.5)."""

    steps: int = option(600, "Gradient steps of next-token cross-entropy on response tokens.")
    batch_size: int = option(64, "Demonstrations per step.")
    learning_rate: float = option(3e-3, "AdamW learning rate (high: the default model is tiny).")
    seed: int = option(0, "Seed of model initialization and batch order.")

    def __post_init__(self) -> None:
        _require(self.steps >= 1, "steps", self.steps, "it must be >= 1")
        _require(self.batch_size >= 1, "batch_size", self.batch_size, "it must be >= 1")
        _require(self.learning_rate > 0, "learning_rate", self.learning_rate, "it must be > 0")


@dataclass(frozen=True)
class PreferenceDataConfig:
    """Preference data: K responses sampled from π_SFT per prompt, ranked by the oracle."""

    prompts: int = option(1000, "Prompts (from the training prompts) that get K sampled responses each.")
    responses_per_prompt: int = option(
        4, "K responses per prompt; the oracle compares all C(K,2) pairs (Ouyang et al. 2022, §3.5)."
    )
    temperature: float = option(1.0, "Sampling temperature of the responses.")
    eval_fraction: float = option(0.2, "Share of prompts held out to measure preference accuracy.")
    seed: int = option(0, "Seed of sampling and of the oracle's noise.")

    def __post_init__(self) -> None:
        _require(self.prompts >= 2, "prompts", self.prompts, "use 2 or more prompts")
        _require(self.responses_per_prompt >= 2, "responses_per_prompt", self.responses_per_prompt, "K must be >= 2")
        _require(self.temperature > 0, "temperature", self.temperature, "it must be > 0")
        _require(0.0 < self.eval_fraction < 1.0, "eval_fraction", self.eval_fraction, "it must lie in (0, 1)")


@dataclass(frozen=True)
class RewardModelConfig:
    """The reward model r_θ(x, y): the SFT transformer with a scalar head (Ouyang et al. 2022, eq. 1)."""

    epochs: int = option(4, "Passes over the training pairs.")
    batch_size: int = option(16, "Prompts per step; each brings all of its C(K,2) pairs into the same batch.")
    learning_rate: float = option(1e-3, "AdamW learning rate.")
    seed: int = option(0, "Seed of the head's initialization and batch order.")

    def __post_init__(self) -> None:
        _require(self.epochs >= 1, "epochs", self.epochs, "it must be >= 1")
        _require(self.batch_size >= 1, "batch_size", self.batch_size, "it must be >= 1")
        _require(self.learning_rate > 0, "learning_rate", self.learning_rate, "it must be > 0")


@dataclass(frozen=True)
class DPOConfig:
    """Direct preference optimization and its variants (Rafailov et al. 2023; Azar et al. 2023)."""

    loss: str = option("dpo", "Which loss; see prefrl.lm.dpo.DPO_LOSSES.")
    beta: float = option(0.1, "β: strength of the implicit KL constraint (for IPO, τ = β).")
    label_smoothing: float = option(
        0.0, "ε of conservative DPO (loss 'cdpo', where it must be > 0): the share of labels assumed flipped."
    )
    epochs: int = option(4, "Passes over the training pairs.")
    batch_size: int = option(
        16, "Prompts per step, each with all its pairs; chosen and rejected go through one forward pass."
    )
    learning_rate: float = option(3e-3, "AdamW learning rate (high: the default model is tiny).")
    seed: int = option(0, "Seed of batch order.")

    def __post_init__(self) -> None:
        from prefrl.lm.dpo import DPO_LOSSES, SMOOTHED_LOSSES  # pure loss functions: no import cycle

        _require(self.loss in DPO_LOSSES, "loss", self.loss, f"use one of {', '.join(sorted(DPO_LOSSES))}")
        _require(self.beta > 0, "beta", self.beta, "it must be > 0")
        _require(0.0 <= self.label_smoothing < 0.5, "label_smoothing", self.label_smoothing, "it must lie in [0, 0.5)")
        smoothed = self.loss in SMOOTHED_LOSSES
        _require(
            (self.label_smoothing > 0) == smoothed,
            "label_smoothing",
            self.label_smoothing,
            f"loss={self.loss!r} needs " + ("label_smoothing > 0" if smoothed else "label_smoothing = 0 (use 'cdpo')"),
        )
        _require(self.epochs >= 1, "epochs", self.epochs, "it must be >= 1")
        _require(self.batch_size >= 1, "batch_size", self.batch_size, "it must be >= 1")
        _require(self.learning_rate > 0, "learning_rate", self.learning_rate, "it must be > 0")


@dataclass(frozen=True)
class RLHFConfig:
    """PPO over tokens against a learned reward with a per-token KL penalty (Ouyang et al. 2022, eq. 2)."""

    iterations: int = option(60, "Rollout-and-update rounds.")
    rollout_prompts: int = option(64, "Prompts sampled per round (one response each).")
    minibatch_size: int = option(32, "Responses per PPO minibatch.")
    ppo_epochs: int = option(4, "Passes of PPO over each round's rollouts.")
    learning_rate: float = option(1e-3, "AdamW learning rate of policy and value head.")
    beta: float = option(
        0.05, "β of the KL penalty β·log π/π_ref per token (start value when adaptive); rewards have std 1."
    )
    target_kl: float | None = option(
        None, "Adaptive KL controller's target KL per response (Ziegler et al. 2019); None = fixed β."
    )
    kl_horizon: int = option(10_000, "Horizon of the adaptive controller, in responses.")
    clip_range: float = option(0.2, "PPO ratio clip ε.")
    value_clip_range: float = option(0.2, "Clip of the value update around the rollout's values.")
    value_coef: float = option(0.5, "Weight of the value loss.")
    gamma: float = option(1.0, "Discount over response tokens (1: the episode is one response).")
    gae_lambda: float = option(0.95, "λ of generalized advantage estimation (Schulman et al. 2016).")
    temperature: float = option(1.0, "Sampling temperature; log-probs use the same (logits / T in both places).")
    no_eos_penalty: float = option(
        -1.0, "Score given instead of the reward model's to a response that never emits <eos>."
    )
    max_grad_norm: float = option(1.0, "Gradient-norm clip.")
    seed: int = option(0, "Seed of sampling and minibatch order.")

    def __post_init__(self) -> None:
        _require(self.iterations >= 1, "iterations", self.iterations, "it must be >= 1")
        _require(self.rollout_prompts >= 1, "rollout_prompts", self.rollout_prompts, "it must be >= 1")
        _require(
            1 <= self.minibatch_size <= self.rollout_prompts,
            "minibatch_size",
            self.minibatch_size,
            f"it must lie in [1, rollout_prompts={self.rollout_prompts}]",
        )
        _require(self.ppo_epochs >= 1, "ppo_epochs", self.ppo_epochs, "it must be >= 1")
        _require(self.learning_rate > 0, "learning_rate", self.learning_rate, "it must be > 0")
        _require(self.beta >= 0, "beta", self.beta, "it must be >= 0")
        _require(self.target_kl is None or self.target_kl > 0, "target_kl", self.target_kl, "use > 0, or None")
        _require(self.kl_horizon >= 1, "kl_horizon", self.kl_horizon, "it must be >= 1")
        _require(self.clip_range > 0, "clip_range", self.clip_range, "it must be > 0")
        _require(self.value_clip_range > 0, "value_clip_range", self.value_clip_range, "it must be > 0")
        _require(self.value_coef >= 0, "value_coef", self.value_coef, "it must be >= 0")
        _require(0.0 < self.gamma <= 1.0, "gamma", self.gamma, "it must lie in (0, 1]")
        _require(0.0 <= self.gae_lambda <= 1.0, "gae_lambda", self.gae_lambda, "it must lie in [0, 1]")
        _require(self.temperature > 0, "temperature", self.temperature, "it must be > 0")
        _require(self.max_grad_norm > 0, "max_grad_norm", self.max_grad_norm, "it must be > 0")


@dataclass(frozen=True)
class EvalConfig:
    """How a policy is measured: greedy reward, KL to the reference, preference accuracy."""

    kl_samples: int = option(2, "Sampled responses per held-out prompt for the KL(π‖π_ref) estimate.")
    batch_size: int = option(128, "Prompts per generation batch.")
    seed: int = option(1234, "Seed of the sampled responses.")

    def __post_init__(self) -> None:
        _require(self.kl_samples >= 1, "kl_samples", self.kl_samples, "it must be >= 1")
        _require(self.batch_size >= 1, "batch_size", self.batch_size, "it must be >= 1")


@dataclass(frozen=True)
class FrontierConfig:
    """The reward-vs-KL frontier: RLHF and DPO for several β from one π_SFT and one data set (Rafailov et al.
    2023, §6.1 and Fig. 2 left)."""

    betas: tuple[float, ...] = option((0.05, 0.1, 0.3, 1.0), "β values; each trains one RLHF and one DPO policy.")
    methods: tuple[str, ...] = option(("dpo", "rlhf"), "Which methods to run: dpo, rlhf or both.")
    best_of: tuple[int, ...] = option(
        (1, 2, 4, 8, 16, 32), "N of the best-of-N reference line (true reward, KL = log N − (N−1)/N)."
    )

    def __post_init__(self) -> None:
        _require(len(self.betas) >= 1 and all(b > 0 for b in self.betas), "betas", self.betas, "give β values > 0")
        _require(
            len(self.methods) >= 1 and set(self.methods) <= {"dpo", "rlhf"},
            "methods",
            self.methods,
            "use dpo, rlhf or both, e.g. dpo,rlhf",
        )
        _require(len(self.best_of) >= 1 and all(n >= 1 for n in self.best_of), "best_of", self.best_of, "use N >= 1")
