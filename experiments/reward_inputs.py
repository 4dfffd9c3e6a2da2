"""Fit r̂ on one set of labels with each way of reading a step (``next_obs``: none, joined, change, events) and score it.

Where a reward is an event at a transition, r̂(o, a) has to forecast it and r̂(o, a, o') can see it
(``prefrl.reward.transitions``). This measures how much that is worth with everything else fixed: the same clips,
the same pairs, the same labels, the same fit settings. Clips are 25-step pieces of a finished run's policy playing
in the env it trained in, ε-random per episode (ε drawn from 0, 0.1, 0.3, 1) so that they also cover states the
policy avoids. Half the clips make the training pairs, labelled by the run's synthetic oracle; the other half make
test pairs. Per mode it prints the fit's held-out accuracy, the accuracy on test pairs of unequal true return, the
per-step correlation of r̂ with the true reward (over all steps and without the steps that pay a lost game's
charge), how many scoring steps r̂ pays more than 90% of the pointless ones, and the fit's seconds.

    python experiments/reward_inputs.py runs/MinAtar-Breakout-v1-train-s0-... [--steps 60000] [--labels 1000]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from prefrl.agent import algo_class
from prefrl.config import NEXT_OBS_MODES, TrainConfig, from_dict
from prefrl.normalization import observation_transform
from prefrl.oracles.synthetic import SyntheticOracle
from prefrl.reward.nets import RewardEnsemble
from prefrl.reward.trainer import RewardTrainer
from prefrl.reward_samples import training_env
from prefrl.runs import RunFolder, read_train_config
from prefrl.threads import use_one_thread
from prefrl.types import Label, Segment
from prefrl.wrappers import reward_inputs

EPSILONS = (0.0, 0.1, 0.3, 1.0)


@dataclass(frozen=True)
class Clip:
    obs: np.ndarray  # (T, *obs)
    next_obs: np.ndarray  # (T, *obs)
    actions: np.ndarray
    rewards: np.ndarray


@dataclass(frozen=True)
class Comparison:
    id: int
    left: Segment
    right: Segment
    label: Label | None


def play(run: Path, config: TrainConfig, steps: int, rng: np.random.Generator) -> list[Clip]:
    """Consecutive clips of ``segment_length`` steps, never across an episode's end."""
    env = training_env(config)
    policy = algo_class(config.run.algo).load(run / RunFolder.POLICY, device="cpu")
    policy_input = observation_transform(run / RunFolder.POLICY)
    env.action_space.seed(int(rng.integers(1 << 31)))
    length, clips, steps_of_clip = config.run.segment_length, [], []
    obs, _ = env.reset(seed=int(rng.integers(1 << 31)))
    epsilon = rng.choice(EPSILONS)
    while len(clips) * length < steps:
        random_action = rng.random() < epsilon
        action = env.action_space.sample() if random_action else policy.predict(policy_input(obs), deterministic=False)[0]
        next_obs, reward, terminated, truncated, _ = env.step(action)
        steps_of_clip.append((obs, next_obs, action, float(reward)))
        obs = next_obs
        if len(steps_of_clip) == length:
            parts = [np.asarray(part) for part in zip(*steps_of_clip)]
            clips.append(Clip(parts[0], parts[1], parts[2], parts[3].astype(np.float32)))
            steps_of_clip = []
        if terminated or truncated:
            obs, _ = env.reset()
            epsilon, steps_of_clip = rng.choice(EPSILONS), []
    env.close()
    return clips


def random_pairs(pool: np.ndarray, count: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    return [tuple(int(i) for i in rng.choice(pool, 2, replace=False)) for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a finished run folder of `prefrl train` (its policy plays the clips)")
    parser.add_argument("--steps", type=int, default=60_000, help="steps of play cut into clips")
    parser.add_argument("--labels", type=int, default=1000, help="training pairs")
    parser.add_argument("--test-pairs", type=int, default=3000)
    parser.add_argument("--patience", type=int, default=10, help="the fit's early stopping (the run's preset may be cheaper)")
    parser.add_argument("--max-epochs", type=int, default=100)
    parser.add_argument("--modes", nargs="+", default=list(NEXT_OBS_MODES), choices=NEXT_OBS_MODES)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    use_one_thread()
    config = from_dict(TrainConfig, read_train_config(args.run))
    rng = np.random.default_rng(args.seed)
    clips = play(args.run, config, args.steps, rng)
    order = rng.permutation(len(clips))
    train_pool, test_pool = order[: len(order) // 2], order[len(order) // 2 :]
    train_pairs = random_pairs(train_pool, args.labels, rng)
    test_pairs = random_pairs(test_pool, args.test_pairs, rng)
    returns = np.array([clip.rewards.sum() for clip in clips])
    plain = [Segment(clip.obs, clip.actions, clip.rewards) for clip in clips]
    labels = SyntheticOracle(config.oracle, rng=args.seed).label([(plain[i], plain[j]) for i, j in train_pairs])
    print(f"{len(clips)} clips of {config.run.segment_length} steps from {args.run}; {args.labels} labels, "
          f"{np.mean([label is Label.EQUAL for label in labels]):.0%} ties")
    env = training_env(config)
    for mode in args.modes:
        reward_config = replace(config.reward, next_obs=mode, patience=args.patience, max_epochs=args.max_epochs)
        model = RewardEnsemble.from_config(env.observation_space, env.action_space, reward_config)

        def segment(index: int) -> Segment:
            clip = clips[index]
            return Segment(reward_inputs(model, clip.obs, clip.next_obs), clip.actions, clip.rewards)

        comparisons = [Comparison(k, segment(i), segment(j), label) for k, ((i, j), label) in enumerate(zip(train_pairs, labels))]
        started = time.perf_counter()
        metrics = RewardTrainer(model, reward_config, rng=args.seed).fit(comparisons)
        fit_s = time.perf_counter() - started
        assert metrics is not None
        paid = {int(i): model.predict(segment(int(i)).obs, clips[int(i)].actions) for i in test_pool}
        unequal = [(i, j) for i, j in test_pairs if returns[i] != returns[j]]
        right = np.mean([(paid[i].sum() > paid[j].sum()) == (returns[i] > returns[j]) for i, j in unequal])
        true = np.concatenate([clips[int(i)].rewards for i in test_pool])
        learned = np.concatenate([paid[int(i)] for i in test_pool])
        played = true >= 0  # without the steps that pay a lost game's charge
        caught = np.mean(learned[true > 0] > np.percentile(learned[true == 0], 90))
        print(
            f"{mode:7s} held-out accuracy {metrics.val_accuracy:.3f} ({metrics.epochs} epochs, {fit_s:.0f} s); "
            f"test pairs {right:.3f} of {len(unequal)}; per-step correlation {np.corrcoef(true, learned)[0, 1]:.3f}, "
            f"without charged steps {np.corrcoef(true[played], learned[played])[0, 1]:.3f}; scoring steps caught {caught:.2f}",
            flush=True,
        )
    env.close()


if __name__ == "__main__":
    main()
