"""prefrl.lm: reward models, RLHF with PPO, and DPO for language models (the ``lm`` extra).

Language models as contextual bandits: observation = prompt x, action = response y (DESIGN.md, second half).
The Bradley–Terry loss and the synthetic oracle's noise model are the control side's own.

Names load on first use (PEP 562), so ``import prefrl.lm.config`` and the ``prefrl`` command stay fast and work
without ``transformers``; anything that needs a model imports it then.
"""

from __future__ import annotations

import importlib
from typing import Any

# Public name -> the module that defines it.
_EXPORTS = {
    "DPOConfig": "config",
    "EvalConfig": "config",
    "FrontierConfig": "config",
    "ModelConfig": "config",
    "PreferenceDataConfig": "config",
    "RewardModelConfig": "config",
    "RLHFConfig": "config",
    "SFTConfig": "config",
    "TaskConfig": "config",
    "SentimentTask": "task",
    "LanguageModel": "models",
    "build_default": "models",
    "load_pretrained": "models",
    "SequenceBatch": "batching",
    "encode": "batching",
    "sequence_logprobs": "logprobs",
    "generate": "generation",
    "PreferenceRecord": "data",
    "PreferenceDataset": "data",
    "expand_ranking": "data",
    "read_jsonl": "data",
    "write_jsonl": "data",
    "ResponseOracle": "oracle",
    "collect_preferences": "preferences",
    "train_sft": "sft",
    "default_sft_model": "sft",
    "RewardModel": "reward_model",
    "train_reward_model": "reward_model",
    "DPO_LOSSES": "dpo",
    "DPOTrainer": "dpo_trainer",
    "RLHFTrainer": "rlhf_trainer",
    "evaluate_policy": "evaluation",
    "prepare": "pipeline",
    "run_frontier": "frontier",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'prefrl.lm' has no attribute {name!r}")
    return getattr(importlib.import_module(f"prefrl.lm.{_EXPORTS[name]}"), name)
