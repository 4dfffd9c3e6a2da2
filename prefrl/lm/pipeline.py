"""The ``prefrl lm`` stages as functions: each trains one thing from π_SFT and writes a run folder.

A run folder holds ``config.json``, ``metrics.csv`` (one row per step), ``summary.json``, a training-curve
``training.png`` and the trained model. :func:`prepare` gathers what every stage starts from — π_SFT (a local
model, or the embedded default built once and cached), the task, and the preference data split by prompt —
so the frontier experiment can train many policies from the very same inputs.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from prefrl.config import OracleConfig
from prefrl.lm.config import (
    DPOConfig,
    EvalConfig,
    ModelConfig,
    PreferenceDataConfig,
    RewardModelConfig,
    RLHFConfig,
    SFTConfig,
    TaskConfig,
)
from prefrl.lm.data import PreferenceDataset, read_jsonl, write_jsonl
from prefrl.lm.dpo_trainer import DPOTrainer
from prefrl.lm.evaluation import evaluate_policy
from prefrl.lm.models import LanguageModel, load_pretrained
from prefrl.lm.oracle import ResponseOracle
from prefrl.lm.preferences import collect_preferences
from prefrl.lm.reward_model import RewardModel, pairwise_accuracy, train_reward_model
from prefrl.lm.rlhf_trainer import RLHFTrainer
from prefrl.lm.run_log import MetricsCSV, plot_metrics
from prefrl.lm.sft import DEFAULT_CACHE, default_sft_model, train_default
from prefrl.lm.task import SentimentTask
from prefrl.runs import RunFolder

logger = logging.getLogger(__name__)

MODEL_DIR = "model"
REWARD_MODEL = "reward_model.pt"
PREFERENCES = "preferences.jsonl"
TRAINING_PLOT = "training.png"


@dataclass
class Setup:
    """The shared starting point of the RM, DPO and RLHF stages.

    :param sft: π_SFT, also the frozen reference π_ref.
    :param task: the programmatic reward and the prompts.
    :param train: preference pairs to train on; ``held_out`` pairs (other prompts) measure accuracy.
    :param data_metrics: how the data came about (pairs, tie share).
    """

    sft: LanguageModel
    task: SentimentTask
    train: PreferenceDataset
    held_out: PreferenceDataset
    data_metrics: dict[str, float]
    _sft_eval: dict[str, float] = field(default_factory=dict, repr=False)

    def sft_evaluation(self, config: EvalConfig) -> dict[str, float]:
        """π_SFT's :func:`~prefrl.lm.evaluation.evaluate_policy` figures, computed once."""
        if not self._sft_eval:
            self._sft_eval.update(evaluate_policy(self.sft, self.sft, self.task, self.task.prompts("eval"), config))
        return self._sft_eval


def prepare(
    *,
    task: TaskConfig = TaskConfig(),
    data: PreferenceDataConfig = PreferenceDataConfig(),
    oracle: OracleConfig = OracleConfig(),
    model: str | Path | None = None,
    cache: str | Path = DEFAULT_CACHE,
    preferences: str | Path | None = None,
    progress: bool = False,
) -> Setup:
    """π_SFT and preference data.

    :param model: a local Hugging Face model folder to use as π_SFT; None = the embedded default.
    :param cache: where the embedded π_SFT is cached.
    :param preferences: a JSONL file of records to use instead of sampling and labelling new ones.
    """
    sft = load_pretrained(model) if model is not None else default_sft_model(cache, task=task, progress=progress)
    sentiment = SentimentTask(task)
    if preferences is not None:
        dataset = PreferenceDataset(read_jsonl(preferences))
        metrics = {"pairs": float(len(dataset))}
    else:
        if data.prompts > task.train_prompts:
            raise ValueError(
                f"prompts={data.prompts} is more than the task's train_prompts={task.train_prompts}; lower it or "
                "raise train_prompts."
            )
        dataset, metrics = collect_preferences(
            sft,
            sentiment.prompts("train")[: data.prompts],
            ResponseOracle(sentiment.word_rewards, oracle, rng=data.seed),
            responses_per_prompt=data.responses_per_prompt,
            max_new_tokens=task.max_new_tokens,
            temperature=data.temperature,
            generator=torch.Generator().manual_seed(data.seed),
        )
    train, held_out = dataset.split(data.eval_fraction, np.random.default_rng(data.seed))
    logger.info("preference data: %d train and %d held-out pairs", len(train), len(held_out))
    return Setup(sft, sentiment, train, held_out, metrics)


def run_sft(
    out: str | Path,
    model: ModelConfig = ModelConfig(),
    task: TaskConfig = TaskConfig(),
    sft: SFTConfig = SFTConfig(),
    evaluation: EvalConfig = EvalConfig(),
    *,
    configs: Mapping[str, Any] | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Train the embedded model on demonstrations; ``summary.json`` holds ``reward_sft`` and the final loss."""
    folder, log, start = _begin(out, configs)
    lm = train_default(model, task, sft, progress=progress, log=log)
    lm.save(folder / MODEL_DIR)
    sentiment = SentimentTask(task)
    plot_metrics(log, ["sft/loss"], folder / TRAINING_PLOT, "SFT")
    scores = evaluate_policy(lm, lm, sentiment, sentiment.prompts("eval"), evaluation)
    summary = {
        "reward_sft": scores["reward_greedy"],
        "reward_sampled_sft": scores["reward_sampled"],
        "loss": log.rows[-1]["sft/loss"],
        "wall_time_s": time.perf_counter() - start,
    }
    folder.write_json(RunFolder.SUMMARY, summary)
    return summary


def run_reward_model(
    out: str | Path,
    setup: Setup,
    config: RewardModelConfig = RewardModelConfig(),
    *,
    configs: Mapping[str, Any] | None = None,
    progress: bool = False,
) -> tuple[RewardModel, dict[str, Any]]:
    """Fit r_θ on the setup's pairs; ``summary.json`` holds ``pref_accuracy`` (held-out)."""
    folder, log, start = _begin(out, configs)
    write_jsonl(setup.train.records + setup.held_out.records, folder / PREFERENCES)
    rm = RewardModel(setup.sft, seed=config.seed)
    metrics = train_reward_model(rm, setup.train, setup.held_out, config, progress=progress, log=log)
    torch.save(rm.state_dict(), folder / REWARD_MODEL)
    plot_metrics(log, ["rm/loss", "rm/accuracy", "eval/pref_accuracy"], folder / TRAINING_PLOT, "reward model")
    summary = {
        "pref_accuracy": metrics["eval/pref_accuracy"],
        "train_accuracy": metrics["rm/accuracy"],
        "pairs_train": len(setup.train),
        "pairs_held_out": len(setup.held_out),
        **{f"data/{key}": value for key, value in setup.data_metrics.items()},
        "wall_time_s": time.perf_counter() - start,
    }
    folder.write_json(RunFolder.SUMMARY, summary)
    return rm, summary


def run_dpo(
    out: str | Path,
    setup: Setup,
    config: DPOConfig = DPOConfig(),
    evaluation: EvalConfig = EvalConfig(),
    *,
    configs: Mapping[str, Any] | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """DPO (or a variant) from π_SFT; ``summary.json`` compares the policy with π_SFT."""
    folder, log, start = _begin(out, configs)
    policy = setup.sft.copy()
    metrics = DPOTrainer(policy, setup.sft, config).fit(setup.train, setup.held_out, progress=progress, log=log)
    keys = ["loss", "rewards/accuracies", "rewards/margins", "logps/chosen", "logps/rejected", "eval/pref_accuracy"]
    plot_metrics(log, keys, folder / TRAINING_PLOT, f"{config.loss}, β={config.beta:g}")
    return _finish(folder, setup, policy, evaluation, metrics["eval/pref_accuracy"], start)


def run_rlhf(
    out: str | Path,
    setup: Setup,
    config: RLHFConfig = RLHFConfig(),
    evaluation: EvalConfig = EvalConfig(),
    *,
    reward_model: RewardModel | None = None,
    reward_config: RewardModelConfig = RewardModelConfig(),
    configs: Mapping[str, Any] | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """PPO from π_SFT against r_θ (fit here on the setup's pairs unless ``reward_model`` is given);
    ``summary.json``'s ``pref_accuracy`` is the reward model's held-out accuracy."""
    folder, log, start = _begin(out, configs)
    if reward_model is None:
        reward_model, _ = run_reward_model(folder / "reward_model", setup, reward_config, progress=progress)
    policy = setup.sft.copy()
    trainer = RLHFTrainer(
        policy, setup.sft, reward_model, config, max_new_tokens=setup.task.config.max_new_tokens, task=setup.task
    )
    trainer.train(setup.task.prompts("train"), progress=progress, log=log)
    keys = ["objective/scores", "env/true_reward", "objective/kl", "ppo/clipfrac", "response/length"]
    plot_metrics(log, keys, folder / TRAINING_PLOT, f"RLHF, β={config.beta:g}")
    return _finish(folder, setup, policy, evaluation, pairwise_accuracy(reward_model, setup.held_out), start)


def _begin(out: str | Path, configs: Mapping[str, Any] | None) -> tuple[RunFolder, MetricsCSV, float]:
    """The run folder with its ``config.json`` written, its metrics log, and the start time."""
    start = time.perf_counter()
    folder = RunFolder(out)
    folder.write_json(RunFolder.CONFIG, dict(configs or {}))
    return folder, MetricsCSV(folder / RunFolder.METRICS), start


def _finish(
    folder: RunFolder,
    setup: Setup,
    policy: LanguageModel,
    evaluation: EvalConfig,
    pref_accuracy: float,
    start: float,
) -> dict[str, Any]:
    """Save the policy and write ``summary.json``: π vs π_SFT on held-out prompts."""
    policy.save(folder / MODEL_DIR)
    sft = setup.sft_evaluation(evaluation)
    scores = evaluate_policy(policy, setup.sft, setup.task, setup.task.prompts("eval"), evaluation)
    summary = {
        "reward_sft": sft["reward_greedy"],
        "reward_policy": scores["reward_greedy"],
        "reward_sampled_sft": sft["reward_sampled"],
        "reward_sampled_policy": scores["reward_sampled"],
        "kl": scores["kl"],
        "length_sft": sft["length"],
        "length_policy": scores["length"],
        "pref_accuracy": pref_accuracy,
        "wall_time_s": time.perf_counter() - start,
    }
    folder.write_json(RunFolder.SUMMARY, summary)
    return summary
