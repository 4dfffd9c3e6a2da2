"""The epoch loop shared by the reward model and DPO: whole-prompt batches, AdamW, held-out accuracy per epoch.

The two trainers differ only in the loss of a batch of pairs; this loop owns the bookkeeping (batch order,
optimizer, progress bar, metrics rows) so that neither repeats it.
"""

from __future__ import annotations

from typing import Callable, Iterable, Mapping

import numpy as np
import torch
from tqdm.auto import tqdm

from prefrl.lm.data import PreferenceDataset

MetricsLog = Callable[[Mapping[str, float]], None]
"""Receives each step's metrics (the CLI writes them to ``metrics.csv``)."""

PairLoss = Callable[[np.ndarray], tuple[torch.Tensor, dict[str, float]]]
"""Loss and metrics of the pairs with the given record indices."""


def fit_pairs(
    parameters: Iterable[torch.nn.Parameter],
    loss_fn: PairLoss,
    data: PreferenceDataset,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    evaluate: Callable[[], float] | None = None,
    desc: str = "train",
    progress: bool = False,
    log: MetricsLog | None = None,
) -> dict[str, float]:
    """``epochs`` passes over ``data``, ``batch_size`` prompts (with all their pairs) per step.

    :param evaluate: held-out preference accuracy, measured after each epoch as ``eval/pref_accuracy``.
    :return: the last step's metrics, with the last ``eval/pref_accuracy`` when ``evaluate`` is given.
    """
    optimizer = torch.optim.AdamW(parameters, lr=learning_rate)
    rng = np.random.default_rng(seed)
    steps_per_epoch = -(-len(data.groups) // batch_size)
    metrics: dict[str, float] = {}
    step = 0
    with tqdm(total=epochs * steps_per_epoch, desc=desc, disable=not progress) as bar:
        for epoch in range(1, epochs + 1):
            for indices in data.batches(batch_size, rng):
                loss, metrics = loss_fn(indices)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step += 1
                bar.update()
                bar.set_postfix(loss=f"{loss.item():.3f}")
                if log is not None:
                    log({"step": step, "epoch": epoch, **metrics})
            if evaluate is not None:
                metrics["eval/pref_accuracy"] = evaluate()
                if log is not None:
                    log({"step": step, "epoch": epoch, "eval/pref_accuracy": metrics["eval/pref_accuracy"]})
    return metrics
