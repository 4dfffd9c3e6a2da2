"""The reward-vs-KL frontier (Rafailov et al. 2023, §6.1, Fig. 2 left) on the embedded task.

For each β, one DPO policy and one RLHF policy are trained from the same π_SFT, on the same preference data
(RLHF through one reward model fit on it), and each is placed at (KL(π‖π_ref), mean true reward of sampled
responses) on held-out prompts. The reference line is best-of-N sampling from π_SFT, ranked by the *true*
reward: its KL to π_SFT is at most log N − (N−1)/N (Beirami et al. 2024), the value plotted, and it marks what
a given KL budget can buy when the reward is known exactly.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

import torch

from prefrl.lm.config import DPOConfig, EvalConfig, FrontierConfig, RewardModelConfig, RLHFConfig
from prefrl.lm.generation import respond
from prefrl.lm.pipeline import Setup, run_dpo, run_reward_model, run_rlhf
from prefrl.lm.run_log import plt
from prefrl.runs import RunFolder

logger = logging.getLogger(__name__)

FRONTIER_PLOT = "frontier.png"


def best_of_n(setup: Setup, sizes: tuple[int, ...], evaluation: EvalConfig) -> list[dict[str, float]]:
    """Mean true reward of the best of N samples from π_SFT per held-out prompt, for each N, with its KL bound."""
    prompts = setup.task.prompts("eval")
    largest = max(sizes)
    repeated = [prompt for prompt in prompts for _ in range(largest)]
    generator = torch.Generator().manual_seed(evaluation.seed)
    texts = respond(setup.sft, repeated, setup.task.config.max_new_tokens, evaluation.batch_size, generator=generator)
    rewards = setup.task.rewards(repeated, texts).reshape(len(prompts), largest)  # (prompts, N_max)
    return [
        {"n": n, "kl": math.log(n) - (n - 1) / n, "reward_sampled": float(rewards[:, :n].max(axis=1).mean())}
        for n in sizes
    ]


def run_frontier(
    out: str | Path,
    setup: Setup,
    config: FrontierConfig = FrontierConfig(),
    *,
    dpo: DPOConfig = DPOConfig(),
    rlhf: RLHFConfig = RLHFConfig(),
    reward: RewardModelConfig = RewardModelConfig(),
    evaluation: EvalConfig = EvalConfig(),
    configs: Mapping[str, Any] | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Train every (method, β) run under ``out`` and write ``results.json``, ``summary.json`` and the plot.

    :return: ``points`` (one summary per run), ``best_of_n``, ``sft`` and ``summary`` (the best run per method).
    """
    folder = RunFolder(out)
    folder.write_json(RunFolder.CONFIG, dict(configs or {}))
    points: list[dict[str, Any]] = []
    reward_model = None
    if "rlhf" in config.methods:
        reward_model, _ = run_reward_model(folder / "reward_model", setup, reward, progress=progress)
    for beta in config.betas:
        for method in config.methods:
            run_dir = folder / f"{method}-beta{beta:g}"
            if method == "dpo":
                summary = run_dpo(run_dir, setup, replace(dpo, beta=beta), evaluation, progress=progress)
            else:
                summary = run_rlhf(
                    run_dir, setup, replace(rlhf, beta=beta), evaluation, reward_model=reward_model, progress=progress
                )
            points.append({"method": method, "beta": beta, **summary})
            logger.info(
                "%s β=%g: reward %.3f (greedy %.3f), KL %.2f",
                method, beta, summary["reward_sampled_policy"], summary["reward_policy"], summary["kl"],
            )
    sft = setup.sft_evaluation(evaluation)
    results = {
        "points": points,
        "best_of_n": best_of_n(setup, config.best_of, evaluation),
        "sft": {"reward_sampled": sft["reward_sampled"], "reward_greedy": sft["reward_greedy"], "kl": 0.0},
    }
    folder.write_json("results.json", results)
    plot_frontier(results, folder / FRONTIER_PLOT)
    best = {
        method: max((p for p in points if p["method"] == method), key=lambda p: p["reward_sampled_policy"])
        for method in config.methods
    }
    keys = ("beta", "kl", "reward_sampled_policy", "reward_policy")
    summary = {f"best_{method}/{key}": point[key] for method, point in best.items() for key in keys}
    folder.write_json(RunFolder.SUMMARY, summary)
    return {**results, "summary": summary}


def plot_frontier(results: Mapping[str, Any], path: str | Path) -> Path:
    """True reward of samples against KL(π‖π_ref): one marker per run (β annotated), best-of-N as a line."""
    figure, axis = plt.subplots(figsize=(6, 4.5))
    bon = results["best_of_n"]
    axis.plot([p["kl"] for p in bon], [p["reward_sampled"] for p in bon], "k--", marker=".", label="best-of-N (true r)")
    for n_point in bon:
        axis.annotate(f"N={n_point['n']}", (n_point["kl"], n_point["reward_sampled"]), fontsize=7, color="gray")
    for method, marker in (("dpo", "o"), ("rlhf", "s")):
        mine = sorted((p for p in results["points"] if p["method"] == method), key=lambda p: p["kl"])
        if not mine:
            continue
        kls = [p["kl"] for p in mine]
        axis.plot(kls, [p["reward_sampled_policy"] for p in mine], marker=marker, label=method.upper())
        for point in mine:
            axis.annotate(f"β={point['beta']:g}", (point["kl"], point["reward_sampled_policy"]), fontsize=7)
    sft = results["sft"]
    axis.scatter([0.0], [sft["reward_sampled"]], color="black", zorder=3, label="SFT")
    axis.set_xlabel("KL(π ‖ π_ref) per response (nats)")
    axis.set_ylabel("true reward of samples")
    axis.set_title("Reward vs KL frontier (embedded sentiment task)")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return Path(path)
