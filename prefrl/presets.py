"""Per-environment presets: PPO hyperparameters, clip length and label budget, read from ``envs/*.toml``.

The numbers live in commented TOML data files (one per env, named ``<EnvId>.toml``; an id with a namespace,
``MinAtar/Breakout-v1``, lives in a subfolder: ``MinAtar/Breakout-v1.toml``) rather than in code,
so that each can say where it came from and a user can copy one and pass it as ``--preset FILE``.
"""

from __future__ import annotations

import copy
import inspect
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping

from prefrl.config import RewardConfig

PRESET_DIR: Path = Path(__file__).resolve().parent.parent / "envs"
"""The repository's ``envs/`` folder, which holds one ``<EnvId>.toml`` per supported env."""

# PPO arguments that ``linear_schedule = true`` turns into schedules decaying linearly to 0.
_SCHEDULED = ("learning_rate", "clip_range")


@dataclass(frozen=True)
class LinearSchedule:
    """``initial * progress_remaining``: SB3 calls it with 1.0 at the start of training and 0.0 at the end.

    A class rather than a closure so that it pickles with the model and prints readably.
    """

    initial: float

    def __call__(self, progress_remaining: float) -> float:
        return self.initial * progress_remaining


@dataclass(frozen=True)
class Preset:
    """What one env needs for a preference run (and for the PPO-on-true-reward baseline).

    :param env_id: the original Gymnasium id; the final policy is evaluated there.
    :param train_env_id: the env the policy trains in, a fixed-horizon variant (see ``prefrl.envs``).
    :param n_envs: parallel envs PPO collects from.
    :param segment_length: steps per clip shown to the oracle.
    :param labels: the default label budget.
    :param timesteps: environment steps for the policy.
    :param ppo: keyword arguments of ``stable_baselines3.PPO``, as written in the file.
    :param linear_schedule: ``learning_rate`` and ``clip_range`` decay linearly to 0 over training
        (the rl-zoo's ``lin_`` prefix).
    :param reward: :class:`~prefrl.config.RewardConfig` fields for this env, as written in the file (a CNN reward
        net on pixels needs cheaper fits than an MLP on a handful of numbers).
    """

    env_id: str
    train_env_id: str
    n_envs: int
    segment_length: int
    labels: int
    timesteps: int
    ppo: Mapping[str, Any] = field(default_factory=dict)
    linear_schedule: bool = False
    reward: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Private copies, so that editing the caller's dict afterwards cannot change the preset. (Not a
        # MappingProxyType: that would make presets impossible to pickle or deep-copy.)
        object.__setattr__(self, "ppo", copy.deepcopy(dict(self.ppo)))
        object.__setattr__(self, "reward", copy.deepcopy(dict(self.reward)))

    def ppo_kwargs(self) -> dict[str, Any]:
        """A fresh dict for ``PPO(**kwargs)``; with ``linear_schedule``, lr and clip range become schedules."""
        kwargs = copy.deepcopy(dict(self.ppo))
        if self.linear_schedule:
            for key in _SCHEDULED:
                if key in kwargs:
                    kwargs[key] = LinearSchedule(float(kwargs[key]))
        return kwargs


def available_presets() -> list[str]:
    """Env ids that have a preset file in :data:`PRESET_DIR` (namespaced ids in subfolders), sorted."""
    return sorted(path.relative_to(PRESET_DIR).with_suffix("").as_posix() for path in PRESET_DIR.rglob("*.toml"))


def load_preset(env_id: str, path: str | Path | None = None) -> Preset:
    """Read the preset for ``env_id`` from ``path``, or from ``PRESET_DIR/<env_id>.toml`` when ``path`` is None.

    Every key is checked (unknown keys, missing keys, wrong types, PPO arguments that
    ``stable_baselines3.PPO`` does not take), so a typo fails here with the file and key named,
    not later inside PPO.
    """
    if path is None:
        file = PRESET_DIR / f"{env_id}.toml"
        if not file.is_file():
            available = ", ".join(available_presets()) or "(none)"
            raise ValueError(
                f"env_id={env_id!r} has no preset in {PRESET_DIR}; presets exist for: {available}. "
                "Pick one of those, or pass --preset FILE pointing at your own TOML file "
                "(copy one of the files in that folder as a template)."
            )
    else:
        file = Path(path)
        if not file.is_file():
            raise ValueError(f"preset path={str(path)!r} is not a file; pass the path of a preset TOML file.")
    try:
        with file.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"preset file {file} is not valid TOML: {error}. Fix the syntax there.") from None
    preset = _parse(data, file)
    if preset.env_id != env_id:
        raise ValueError(
            f"preset file {file} is for env_id={preset.env_id!r}, but env_id={env_id!r} was asked for; "
            "pass the matching env, or copy the file and edit its env_id."
        )
    return preset


# key -> (required type, required?, check, what is allowed). ``bool`` is not accepted where int is asked.
_FIELDS: dict[str, tuple[type, bool, Callable[[Any], bool], str]] = {
    "env_id": (str, True, bool, "a Gymnasium id string"),
    "train_env_id": (str, True, bool, "a Gymnasium id string"),
    "n_envs": (int, True, lambda v: v >= 1, "an integer >= 1"),
    "segment_length": (int, True, lambda v: v >= 2, "an integer >= 2"),
    "labels": (int, True, lambda v: v >= 1, "an integer >= 1"),
    "timesteps": (int, True, lambda v: v >= 1, "an integer >= 1"),
    "ppo": (dict, False, lambda v: True, "a [ppo] table of stable_baselines3.PPO keyword arguments"),
    "linear_schedule": (bool, False, lambda v: True, "true or false"),
    "reward": (dict, False, lambda v: True, "a [reward] table of prefrl.config.RewardConfig fields"),
}


def _parse(data: Mapping[str, Any], file: Path) -> Preset:
    """Check each key of a parsed preset file against :data:`_FIELDS`, then against PPO's signature."""
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise ValueError(
            f"preset file {file} has unknown key(s) {', '.join(map(repr, unknown))}; allowed keys are "
            f"{', '.join(_FIELDS)} (PPO arguments go in the [ppo] table). Remove or rename them."
        )
    for key, (kind, required, check, allowed) in _FIELDS.items():
        if key not in data:
            if required:
                raise ValueError(f"preset file {file} is missing key {key!r}; add it as {allowed}.")
            continue
        value = data[key]
        wrong_type = not isinstance(value, kind) or (kind is int and isinstance(value, bool))
        if wrong_type or not check(value):
            raise ValueError(f"preset file {file}: {key}={value!r} is not allowed; it must be {allowed}.")
    ppo = dict(data.get("ppo", {}))
    _check_ppo_kwargs(ppo, file)
    linear = bool(data.get("linear_schedule", False))
    if linear and not any(key in ppo for key in _SCHEDULED):
        raise ValueError(
            f"preset file {file} sets linear_schedule = true but its [ppo] table has none of "
            f"{', '.join(_SCHEDULED)}; give the starting values there, or drop linear_schedule."
        )
    if linear:
        for key in _SCHEDULED:
            if key in ppo and (isinstance(ppo[key], bool) or not isinstance(ppo[key], (int, float))):
                raise ValueError(
                    f"preset file {file}: ppo.{key}={ppo[key]!r} must be a number when linear_schedule = true."
                )
    values = {key: data[key] for key in _FIELDS if key in data}
    if "reward" in values:
        values["reward"] = _check_reward(values["reward"], file)
    return Preset(**values)


def _check_reward(reward: Mapping[str, Any], file: Path) -> dict[str, Any]:
    """Reject keys that are not RewardConfig fields, and check the values by building one; TOML arrays become tuples."""
    accepted = {f.name for f in fields(RewardConfig)}
    unknown = sorted(set(reward) - accepted)
    if unknown:
        raise ValueError(
            f"preset file {file} has unknown key(s) {', '.join(repr(f'reward.{k}') for k in unknown)} in its "
            f"[reward] table; prefrl.config.RewardConfig takes: {', '.join(sorted(accepted))}."
        )
    values = {key: tuple(value) if isinstance(value, list) else value for key, value in reward.items()}
    try:
        RewardConfig(**values)
    except ValueError as error:
        raise ValueError(f"preset file {file}: [reward] {error}") from None
    return values


def _check_ppo_kwargs(ppo: Mapping[str, Any], file: Path) -> None:
    """Reject keys that ``stable_baselines3.PPO`` does not take (and the ones a run sets itself)."""
    from stable_baselines3 import PPO  # Imported here: reading a preset should not need SB3 loaded up front.

    # The run supplies these itself; setting them in a preset would be silently overridden or clash.
    owned_by_run = {"policy", "env", "seed", "device", "verbose", "tensorboard_log", "_init_setup_model"}
    accepted = set(inspect.signature(PPO.__init__).parameters) - {"self"} - owned_by_run
    unknown = sorted(set(ppo) - accepted)
    if unknown:
        raise ValueError(
            f"preset file {file} has unknown key(s) {', '.join(repr(f'ppo.{k}') for k in unknown)} in its [ppo] "
            f"table; stable_baselines3.PPO takes: {', '.join(sorted(accepted))}."
        )
    policy_kwargs = ppo.get("policy_kwargs", {})
    if not isinstance(policy_kwargs, dict):
        raise ValueError(
            f"preset file {file}: ppo.policy_kwargs={policy_kwargs!r} must be a [ppo.policy_kwargs] table."
        )
