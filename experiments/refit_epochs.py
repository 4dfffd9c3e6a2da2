"""Refit a run's reward net from scratch on its stored labels, one epoch at a time, printing held-out loss.

Early stopping ends a fit after `patience` epochs without a better held-out loss. A conv net trained from scratch
on sparse events (a point lost in Pong) can sit at chance, ln 2 = 0.693 nats a comparison, for several epochs
before it finds them; this shows how many, so a preset's patience can be set from a measurement. The run is only
read: the net is built from its config.json, the labels come from its comparison store, nothing is written.

    python experiments/refit_epochs.py runs/PongNoFrameskip-v4-train-s0-... --epochs 15 --labels 500

With ``--whole`` it runs one fit from fresh weights with the run's own early stopping instead (as a run's first fit
runs: patience counts once held-out loss has left chance) and prints how many epochs that took and where it ended.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from prefrl.config import TrainConfig, from_dict
from prefrl.reward.nets import RewardEnsemble
from prefrl.reward.trainer import RewardTrainer
from prefrl.reward_samples import training_env
from prefrl.runs import read_train_config
from prefrl.store import ComparisonStore
from prefrl.threads import use_one_thread


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run folder of `prefrl train`")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--labels", type=int, default=None, help="the first N answered labels (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--whole", action="store_true", help="one fit with the run's early stopping, not epoch by epoch")
    args = parser.parse_args()
    use_one_thread()
    config = from_dict(TrainConfig, read_train_config(args.run))
    with ComparisonStore(args.run / "comparisons.sqlite", create=False) as store:
        comparisons = store.comparisons(answered=True)[: args.labels]
    if not comparisons:
        raise SystemExit(f"{args.run} holds no answered comparisons")
    env = training_env(config)  # for its spaces: a Pong net sees masked, stacked frames
    # One epoch a call: each fit continues from the last one's weights, as the run's own fits do.
    reward_config = config.reward if args.whole else replace(config.reward, max_epochs=1, patience=1)
    model = RewardEnsemble.from_config(env.observation_space, env.action_space, reward_config)
    trainer = RewardTrainer(model, reward_config, args.seed)
    print(f"{len(comparisons)} labels from {args.run}; chance is ln 2 = 0.693 nats a comparison")
    start = time.perf_counter()
    for epoch in range(1, 2 if args.whole else args.epochs + 1):
        metrics = trainer.fit(comparisons)
        assert metrics is not None  # answered comparisons were found above
        where = f"{metrics.epochs} epochs" if args.whole else f"epoch {epoch:3d}"
        print(
            f"{where}  {time.perf_counter() - start:7.1f} s  train loss {metrics.train_loss:.4f}  "
            f"held-out loss {metrics.val_loss:.4f}  held-out accuracy {metrics.val_accuracy:.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
