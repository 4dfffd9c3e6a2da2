"""The reward-vs-KL frontier of RLHF (PPO) and DPO on the embedded task, with best-of-N as a reference line.

Method (Rafailov et al. 2023, §6.1): one π_SFT (the embedded model, trained once and cached); one preference
data set (1000 prompts × 4 responses sampled from π_SFT, all 6 pairs per prompt labelled by the noiseless
synthetic oracle, ties dropped); one reward model fit to it for RLHF. For each β, a DPO policy and an RLHF policy
start from π_SFT; each is scored on 200 held-out prompts by the true reward of sampled responses and by
KL(π‖π_ref). Best-of-N samples from π_SFT ranked by the true reward give the reference line.

    .venv/bin/python experiments/lm_frontier.py [--betas 0.05,0.1,0.3,1] [--out DIR]

Writes ``experiments/results/lm_frontier/<time>/`` (``results.json``, ``frontier.png``, one run folder per point)
and prints one line per point.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import torch

from prefrl.lm.config import FrontierConfig
from prefrl.lm.frontier import run_frontier
from prefrl.lm.pipeline import prepare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--betas", default="0.05,0.1,0.3,1", help="Comma-separated β values.")
    parser.add_argument("--out", default=None, help="Output folder (default: a timestamped one).")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    out = Path(args.out or f"experiments/results/lm_frontier/{time.strftime('%Y%m%d-%H%M%S')}")
    start = time.perf_counter()
    setup = prepare(progress=True)
    config = FrontierConfig(betas=tuple(float(b) for b in args.betas.split(",")))
    results = run_frontier(out, setup, config, progress=True)

    sft = results["sft"]
    print(f"\nSFT: reward of samples {sft['reward_sampled']:.3f}, greedy {sft['reward_greedy']:.3f}")
    for point in results["points"]:
        print(
            f"{point['method']:>4} β={point['beta']:<5g} KL={point['kl']:6.2f}  reward: samples "
            f"{point['reward_sampled_policy']:.3f}, greedy {point['reward_policy']:.3f}  "
            f"pref_accuracy={point['pref_accuracy']:.3f}  {point['wall_time_s']:.0f} s"
        )
    for point in results["best_of_n"]:
        print(f"best-of-{point['n']:<3} KL≤{point['kl']:5.2f}  reward of samples {point['reward_sampled']:.3f}")
    print(f"\n{out / 'frontier.png'}  ({time.perf_counter() - start:.0f} s in all)")


if __name__ == "__main__":
    main()
