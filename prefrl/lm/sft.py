"""Supervised fine-tuning: π_SFT, the starting point of RLHF and DPO and their frozen reference π_ref.

Next-token cross-entropy on response tokens only (Ouyang et al. 2022, §3.5): the prompt is context, not a
target. :func:`default_sft_model` builds the embedded model on the embedded task's demonstrations once and
caches it in a folder keyed by its configs, so every later ``prefrl lm`` command starts from the same π_SFT.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from prefrl.config import to_dict
from prefrl.lm.batching import SequenceBatch, encode
from prefrl.lm.config import ModelConfig, SFTConfig, TaskConfig
from prefrl.lm.logprobs import token_logprobs
from prefrl.lm.loop import MetricsLog
from prefrl.lm.models import LanguageModel, build_default, load_pretrained
from prefrl.lm.task import SentimentTask

logger = logging.getLogger(__name__)

DEFAULT_CACHE = Path("runs/.cache/lm-sft")
# Part of the cache key: raised whenever the embedded model or its training changes in a way configs do not show.
_CACHE_VERSION = 2
# Each demonstration is seen about this many times over an SFT run: fewer demonstrations to generate, and
# still many more than the tiny model can memorize.
_DEMOS_PER_ROW = 4


def sft_loss(model: torch.nn.Module, batch: SequenceBatch) -> tuple[torch.Tensor, dict[str, float]]:
    """Mean negative log-likelihood per response token, and its metrics."""
    log_probs = token_logprobs(model, batch)  # (B, R), 0 on padding
    tokens = batch.response_mask.sum()
    loss = -log_probs.sum() / tokens
    return loss, {"sft/loss": loss.item(), "sft/tokens": float(tokens)}


def train_sft(
    lm: LanguageModel,
    prompts: Sequence[str],
    responses: Sequence[str],
    config: SFTConfig = SFTConfig(),
    *,
    progress: bool = False,
    log: MetricsLog | None = None,
) -> dict[str, float]:
    """Fit ``lm`` in place to (prompt, response) demonstrations; returns the last step's metrics."""
    data = encode(lm.tokenizer, prompts, responses, lm.context_length)
    rng = np.random.default_rng(config.seed)
    optimizer = torch.optim.AdamW(lm.model.parameters(), lr=config.learning_rate)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 - step / config.steps)
    metrics: dict[str, float] = {}
    for step in tqdm(range(config.steps), desc="sft", disable=not progress):
        rows = rng.choice(len(data), size=min(config.batch_size, len(data)), replace=False)
        loss, metrics = sft_loss(lm.model, data.select(rows))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if log is not None:
            log({"step": step + 1, **metrics})
    return metrics


def train_default(
    model: ModelConfig = ModelConfig(),
    task: TaskConfig = TaskConfig(),
    sft: SFTConfig = SFTConfig(),
    *,
    progress: bool = False,
    log: MetricsLog | None = None,
) -> LanguageModel:
    """A fresh embedded model fit to the embedded task's demonstrations."""
    lm = build_default(model, seed=sft.seed)
    demonstrations = sft.steps * sft.batch_size // _DEMOS_PER_ROW
    prompts, responses = SentimentTask(task).demonstrations(demonstrations, np.random.default_rng(sft.seed))
    train_sft(lm, prompts, responses, sft, progress=progress, log=log)
    return lm


def default_sft_model(
    cache: str | Path = DEFAULT_CACHE,
    model: ModelConfig = ModelConfig(),
    task: TaskConfig = TaskConfig(),
    sft: SFTConfig = SFTConfig(),
    *,
    progress: bool = False,
) -> LanguageModel:
    """π_SFT of the embedded task: loaded from ``cache/<key>`` when there, else trained (minutes) and saved."""
    settings = {"version": _CACHE_VERSION, "model": to_dict(model), "task": to_dict(task), "sft": to_dict(sft)}
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    folder = Path(cache) / key
    if (folder / "config.json").is_file():
        logger.info("using the cached SFT model in %s", folder)
        return load_pretrained(folder)
    logger.info("training the default SFT model (cached in %s)", folder)
    lm = train_default(model, task, sft, progress=progress)
    lm.save(folder)
    (folder / "prefrl_sft.json").write_text(json.dumps(settings, indent=2) + "\n")
    return lm
