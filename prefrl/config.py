"""Typed, frozen configuration for every stage; the CLI is generated from these fields.

Each field carries its help text in ``metadata["help"]`` so that the documentation lives in one place:
here. Values are checked in ``__post_init__`` with errors that name the field, the value and the fix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Mapping


DEVICES = ("auto", "cpu", "cuda")
"""What ``RunConfig.device`` accepts; ``auto`` is SB3's rule: a GPU when torch sees one, else the CPU."""


def option(default: Any, help: str, **kwargs: Any) -> Any:
    """A dataclass field whose help text is read by the CLI and by ``describe``."""
    return field(default=default, metadata={"help": help, **kwargs})


def _require(condition: bool, name: str, value: Any, allowed: str) -> None:
    if not condition:
        raise ValueError(f"{name}={value!r} is not allowed: {allowed}.")


NEXT_OBS_MODES = ("none", "joined", "change", "events")
"""Values of ``RewardConfig.next_obs``: o alone, o and o' joined, o' − o, or an image's o' − o read as local events
(``prefrl.reward.transitions``)."""


@dataclass(frozen=True)
class OracleConfig:
    """The synthetic oracle's noise model (Christiano et al. 2017 §3.1; Lee et al. 2021, B-Pref)."""

    beta: float = option(
        math.inf,
        "Bradley-Terry rationality: P(prefer 1) = sigmoid(beta * (R1 - R2) / scale), where scale is the running "
        "std of segment returns, so beta=1 is noisy on every env. inf = always pick the higher return.",
    )
    mistake_rate: float = option(0.0, "Probability epsilon that an answer is flipped at random.")
    myopic_gamma: float = option(
        1.0, "Weight gamma^(T-1-t) on step t of a clip: < 1 remembers the end of a clip better than its start."
    )
    equal_margin: float = option(
        0.0, "Answer 'equal' when the (discounted) returns differ by at most this much, in return units."
    )
    skip_below: float | None = option(
        None, "Answer 'can't tell' when both clips' returns are below this (neither shows anything good)."
    )

    def __post_init__(self) -> None:
        _require(self.beta > 0, "beta", self.beta, "it must be > 0 (use inf for a deterministic oracle)")
        _require(0.0 <= self.mistake_rate <= 1.0, "mistake_rate", self.mistake_rate, "it is a probability in [0, 1]")
        _require(0.0 < self.myopic_gamma <= 1.0, "myopic_gamma", self.myopic_gamma, "it must lie in (0, 1]")
        _require(self.equal_margin >= 0.0, "equal_margin", self.equal_margin, "it must be >= 0")


@dataclass(frozen=True)
class RewardConfig:
    """The reward net r̂(o, a) and how it is fit (Christiano et al. 2017 §2.2.1 and §2.2.3)."""

    ensemble_size: int = option(3, "Members of the reward ensemble, each fit on its own bootstrap of the labels.")
    hidden_sizes: tuple[int, ...] = option((64, 64), "Hidden layer widths of each member's MLP.")
    use_actions: bool = option(
        True,
        "Feed the action to r̂ (the paper's r̂(o, a)). Turn off where the reward is a function of the state alone: "
        "an action input lets r̂ pay for actions as such, a bonus the policy chases instead of the task.",
    )
    next_obs: str = option(
        "none",
        "Feed r̂ the observation after the step as well (prefrl.reward.transitions): 'joined' reads o and o' side by "
        "side, 'change' only o' - o through an MLP (for rewards that are events, such as a brick breaking or a game "
        "lost), 'events' an image's o' - o through local convolutions summed over positions (an event pays the same "
        "wherever it happens), 'none' o alone.",
    )
    learning_rate: float = option(1e-3, "Adam learning rate of the reward net.")
    batch_size: int = option(64, "Comparisons per gradient step.")
    random_answer_prob: float = option(
        0.1, "Chance that the oracle answered at random, built into the model: P' = (1-p) * P + p/2."
    )
    validation_fraction: float = option(0.2, "Share of comparisons held out to measure generalization.")
    l2_init: float = option(1e-4, "Starting L2 strength; adapted after every fit.")
    l2_ratio_low: float = option(1.1, "Validation/training loss ratio below which L2 is weakened.")
    l2_ratio_high: float = option(1.5, "Validation/training loss ratio above which L2 is strengthened.")
    max_epochs: int = option(200, "Most passes over the labels in one fit; early stopping usually ends sooner.")
    patience: int = option(
        10,
        "Epochs without a better held-out loss before a fit stops (and keeps its best). From fresh weights they count "
        "only once held-out loss has fallen below chance (ln 2), so the first fit does not stop before it learns.",
    )
    min_improvement: float = option(
        1e-3,
        "Fall in held-out loss (nats a comparison) that counts as better for patience. Near the loss's floor a "
        "small validation set keeps improving by crumbs, and a fit that chases them runs all its epochs.",
    )
    max_train_comparisons: int = option(
        0,
        "Fit on only the newest this many labelled comparisons, a FIFO (the paper's Atari runs: 3000); all stay in "
        "the store. 0 = all.",
    )

    def __post_init__(self) -> None:
        _require(self.ensemble_size >= 1, "ensemble_size", self.ensemble_size, "use 1 or more members")
        _require(
            len(self.hidden_sizes) >= 1 and all(int(h) >= 1 for h in self.hidden_sizes),
            "hidden_sizes",
            self.hidden_sizes,
            "give one or more positive widths, e.g. (64, 64)",
        )
        _require(self.next_obs in NEXT_OBS_MODES, "next_obs", self.next_obs, f"use one of {NEXT_OBS_MODES}")
        _require(self.learning_rate > 0, "learning_rate", self.learning_rate, "it must be > 0")
        _require(self.batch_size >= 1, "batch_size", self.batch_size, "it must be >= 1")
        _require(
            0.0 <= self.random_answer_prob < 1.0, "random_answer_prob", self.random_answer_prob, "it must lie in [0, 1)"
        )
        _require(
            0.0 <= self.validation_fraction < 0.9,
            "validation_fraction",
            self.validation_fraction,
            "it must lie in [0, 0.9)",
        )
        _require(self.l2_init >= 0, "l2_init", self.l2_init, "it must be >= 0")
        _require(
            0 < self.l2_ratio_low < self.l2_ratio_high,
            "l2_ratio_low",
            (self.l2_ratio_low, self.l2_ratio_high),
            "need 0 < l2_ratio_low < l2_ratio_high",
        )
        _require(self.max_epochs >= 1, "max_epochs", self.max_epochs, "it must be >= 1")
        _require(self.patience >= 1, "patience", self.patience, "it must be >= 1")
        _require(self.min_improvement >= 0, "min_improvement", self.min_improvement, "it must be >= 0")
        _require(
            self.max_train_comparisons >= 0,
            "max_train_comparisons",
            self.max_train_comparisons,
            "it must be >= 0 (0 keeps every comparison)",
        )


@dataclass(frozen=True)
class QueryConfig:
    """Which pairs are asked about, and when (Christiano et al. 2017 §2.2.4 and appendix A)."""

    labels: int = option(100, "Total label budget for the run.")
    selector: str = option("disagreement", "How pairs are chosen; see prefrl.selection.SELECTORS.")
    oversample: int = option(10, "Candidate pairs drawn per asked pair; the ensemble ranks them.")
    initial_fraction: float = option(0.25, "Share of the budget asked before PPO's first update.")
    initial_labels: int = option(
        0, "Labels asked before PPO's first update, as a count (the paper's Atari runs: 500); 0 = initial_fraction."
    )
    decay_fraction: float = option(
        0.25,
        "T0 of the label rate T0/(T+T0), as a fraction of the timesteps labels are asked over (label_deadline of "
        "the run); smaller = front-loaded.",
    )
    decay_timesteps: int = option(
        0, "T0 of the label rate T0/(T+T0) in timesteps (the paper's Atari runs: 5e6); 0 = decay_fraction."
    )
    label_deadline: float = option(
        1.0,
        "Share of the run's timesteps by which the whole budget has been asked; PPO spends the rest on the last "
        "fits of the reward net. 1 = labels until the end, as in the paper.",
    )

    def __post_init__(self) -> None:
        _require(
            self.labels >= 1,
            "labels",
            self.labels,
            "a preference run needs at least one label (use `prefrl baseline` for PPO on the true reward)",
        )
        _require(self.oversample >= 1, "oversample", self.oversample, "it must be >= 1")
        _require(0.0 <= self.initial_fraction <= 1.0, "initial_fraction", self.initial_fraction, "it must lie in [0, 1]")
        _require(self.decay_fraction > 0, "decay_fraction", self.decay_fraction, "it must be > 0")
        _require(self.initial_labels >= 0, "initial_labels", self.initial_labels, "it must be >= 0 (0 = initial_fraction)")
        _require(
            self.decay_timesteps >= 0, "decay_timesteps", self.decay_timesteps, "it must be >= 0 (0 = decay_fraction)"
        )
        _require(0.0 < self.label_deadline <= 1.0, "label_deadline", self.label_deadline, "it must lie in (0, 1]")


@dataclass(frozen=True)
class RunConfig:
    """One run: the env, its budget, and how the stages are driven."""

    env_id: str = option("CartPole-v1", "Gymnasium id of the task; the final policy is evaluated on it.")
    train_env_id: str | None = option(
        None, "Env the policy trains in (a fixed-horizon variant); None = the preset's choice, else env_id."
    )
    timesteps: int = option(100_000, "Environment steps for the policy (the same meaning for train and baseline).")
    seed: int = option(0, "Seed for envs, PPO, the oracle, selection and the reward net.")
    n_envs: int = option(8, "Parallel envs PPO collects from.")
    segment_length: int = option(25, "Steps per clip shown to the oracle.")
    segment_capacity: int = option(1000, "Recent segments kept as candidates for queries.")
    oracle: str = option("synthetic", "Who answers the queries; see prefrl.oracles.ORACLES.")
    sync: bool = option(False, "Fit the reward net in the training loop: slower, but deterministic under a seed.")
    eval_every: int = option(0, "Timesteps between evaluations on the original env; 0 = 20 points per run.")
    eval_episodes: int = option(5, "Deterministic episodes per learning-curve point.")
    final_eval_episodes: int = option(20, "Deterministic episodes for summary.json's final_true_return.")
    checkpoint_every: int = option(0, "Timesteps between checkpoints; 0 = 5 per run.")
    out: str | None = option(None, "Run folder; None = runs/<env>-<kind>-<seed>-<time>.")
    algo: str = option("ppo", "The RL algorithm: ppo or a2c (the paper's Atari runs used A2C); see prefrl.agent.ALGOS.")
    device: str = option(
        "auto",
        "Where the policy runs and the background fitter trains a conv reward net: auto (a GPU when there is one; "
        "MLP reward nets fit on the CPU), cpu or cuda.",
    )
    algo_kwargs: Mapping[str, Any] = option(
        None, "Keyword arguments of the algorithm (the preset's [ppo] or [a2c] table).", cli=False
    )
    score_boxes: tuple[tuple[int, int, int, int], ...] = option(
        (), "Boxes (top, bottom, left, right) of the 84x84 Atari frame blacked out: the score (from the preset).",
        cli=False,
    )
    normalize_observations: bool = option(
        False,
        "Standardize the policy's observations by running statistics (SB3's VecNormalize, observations only; rl-zoo's "
        "MuJoCo settings do). Saved beside the policy and applied in every evaluation; r̂ and the clips see raw ones.",
    )
    train_env_kwargs: Mapping[str, Any] = option(
        None, "Keyword arguments of the training env alone (the preset's [train_env] table).", cli=False
    )

    def __post_init__(self) -> None:
        _require(self.timesteps >= 1, "timesteps", self.timesteps, "it must be >= 1")
        _require(self.n_envs >= 1, "n_envs", self.n_envs, "it must be >= 1")
        _require(self.segment_length >= 2, "segment_length", self.segment_length, "use 2 or more steps per clip")
        _require(self.segment_capacity >= 2, "segment_capacity", self.segment_capacity, "keep at least 2 segments")
        _require(self.eval_every >= 0, "eval_every", self.eval_every, "it must be >= 0")
        _require(self.eval_episodes >= 1, "eval_episodes", self.eval_episodes, "it must be >= 1")
        _require(self.final_eval_episodes >= 1, "final_eval_episodes", self.final_eval_episodes, "it must be >= 1")
        _require(self.checkpoint_every >= 0, "checkpoint_every", self.checkpoint_every, "it must be >= 0")
        _require(self.device in DEVICES, "device", self.device, f"use one of {', '.join(DEVICES)}")
        for table in ("algo_kwargs", "train_env_kwargs"):
            if getattr(self, table) is None:
                object.__setattr__(self, table, {})
        # Read back from JSON or TOML as lists of lists: the same boxes as tuples, so configs compare equal.
        object.__setattr__(self, "score_boxes", tuple(tuple(int(v) for v in box) for box in self.score_boxes))

    @property
    def training_env_id(self) -> str:
        """The env the policy trains in: ``train_env_id``, else ``env_id`` itself."""
        return self.train_env_id or self.env_id

    @property
    def eval_interval(self) -> int:
        return self.eval_every or max(1, self.timesteps // 20)

    @property
    def checkpoint_interval(self) -> int:
        return self.checkpoint_every or max(1, self.timesteps // 5)


@dataclass(frozen=True)
class HumanConfig:
    """The labelling page a person answers on, when ``oracle`` is ``human`` (issue 3)."""

    host: str = option(
        "127.0.0.1", "Address the labelling page binds; anything but loopback needs a token (--label-token)."
    )
    port: int = option(8765, "TCP port of the labelling page; 0 picks a free one.")
    token: str | None = option(
        None, "Access token the page's URL must carry; 'auto' makes a random one. Required off loopback."
    )
    lease_seconds: float = option(60.0, "How long a pair shown to one person is kept from the others.")
    wait_for_initial: bool = option(
        True, "Before PPO starts, wait until the initial share of queries is answered (the paper pre-trains r̂)."
    )

    def __post_init__(self) -> None:
        _require(bool(self.host), "host", self.host, "give an address such as 127.0.0.1")
        _require(0 <= self.port <= 65535, "port", self.port, "it must lie in 0..65535 (0 picks a free port)")
        _require(self.lease_seconds > 0, "lease_seconds", self.lease_seconds, "it must be > 0")


@dataclass(frozen=True)
class TrainConfig:
    """Everything `prefrl train` needs: the run plus each stage's options."""

    run: RunConfig = field(default_factory=RunConfig)
    oracle: OracleConfig = field(default_factory=OracleConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    query: QueryConfig = field(default_factory=QueryConfig)
    human: HumanConfig = field(default_factory=HumanConfig)


def to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a (nested) config; ``inf`` becomes the string ``"inf"``."""
    out: dict[str, Any] = {}
    for f in fields(config):
        value = getattr(config, f.name)
        if hasattr(value, "__dataclass_fields__"):
            value = to_dict(value)
        elif isinstance(value, float) and math.isinf(value):
            value = "inf"
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, Mapping):
            value = {key: v if isinstance(v, (int, float, str, bool, type(None))) else repr(v) for key, v in value.items()}
        out[f.name] = value
    return out


def from_dict(cls: type, data: Mapping[str, Any]) -> Any:
    """Inverse of :func:`to_dict`, for ``config.json`` and ``--resume``."""
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        nested = {
            "run": RunConfig, "oracle": OracleConfig, "reward": RewardConfig, "query": QueryConfig, "human": HumanConfig
        }
        if cls is TrainConfig and f.name in nested:
            value = from_dict(nested[f.name], value)
        elif value == "inf":
            value = math.inf
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[f.name] = value
    return cls(**kwargs)
