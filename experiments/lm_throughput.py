"""Training throughput of DPO and the reward model on the embedded task, and where the time goes.

Method: the default π_SFT (trained once, cached) and the default preference data (1000 prompts × 4 sampled
responses, all pairs labelled by the noiseless oracle). One epoch of DPO and one of reward-model training at the
default batch size (16 prompts, i.e. ~75 pairs or ~150 responses per step) are timed; throughput is reported
as steps/s and response tokens/s (chosen + rejected tokens, <eos> included). DPO's one-off reference pass is
timed apart. Then one DPO epoch runs under cProfile, and the functions with the most own time are printed.

    .venv/bin/python experiments/lm_throughput.py [--threads 1]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time

import torch

from prefrl.lm.config import DPOConfig, RewardModelConfig
from prefrl.lm.dpo_trainer import DPOTrainer, PairedResponses
from prefrl.lm.loop import fit_pairs
from prefrl.lm.pipeline import Setup, prepare
from prefrl.lm.reward_model import RewardModel, pair_loss, preference_batch


def dpo_epoch(setup: Setup, paired: PairedResponses, config: DPOConfig) -> None:
    trainer = DPOTrainer(setup.sft.copy(), setup.sft, config)
    fit_pairs(
        trainer.policy.model.parameters(),
        lambda indices: trainer.step_loss(paired, indices),
        setup.train,
        epochs=1,
        batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        seed=config.seed,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (2 cores are shared).")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    setup = prepare(progress=True)
    dpo, rm = DPOConfig(), RewardModelConfig()
    steps = -(-len(setup.train.groups) // dpo.batch_size)

    start = time.perf_counter()
    paired = PairedResponses(setup.sft, setup.train, setup.sft)
    reference_s = time.perf_counter() - start
    tokens = int(paired.batch.response_lengths.sum())  # chosen + rejected response tokens of one epoch
    print(f"data: {len(setup.train)} training pairs in {len(setup.train.groups)} prompts, {tokens} response tokens")
    print(f"DPO reference log-probs (once): {reference_s:.2f} s")

    start = time.perf_counter()
    dpo_epoch(setup, paired, dpo)
    elapsed = time.perf_counter() - start
    print(f"DPO: {steps} steps in {elapsed:.2f} s = {steps / elapsed:.1f} steps/s, {tokens / elapsed:,.0f} tokens/s")

    rm_model = RewardModel(setup.sft)
    batch = preference_batch(rm_model, setup.train)
    start = time.perf_counter()
    fit_pairs(
        rm_model.parameters(),
        lambda indices: pair_loss(rm_model, batch, indices),
        setup.train,
        epochs=1,
        batch_size=rm.batch_size,
        learning_rate=rm.learning_rate,
        seed=rm.seed,
    )
    elapsed = time.perf_counter() - start
    rm_steps = -(-len(setup.train.groups) // rm.batch_size)
    print(f"RM:  {rm_steps} steps in {elapsed:.2f} s = {rm_steps / elapsed:.1f} steps/s, "
          f"{tokens / elapsed:,.0f} tokens/s")

    profiler = cProfile.Profile()
    profiler.runcall(dpo_epoch, setup, paired, dpo)
    report = io.StringIO()
    pstats.Stats(profiler, stream=report).sort_stats("tottime").print_stats(15)
    print("\nDPO epoch under cProfile, top 15 by own time:")
    print(report.getvalue())


if __name__ == "__main__":
    main()
