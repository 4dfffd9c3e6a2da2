"""Per-environment presets: PPO hyperparameters, clip length and label budget, read from ``envs/*.toml``.

The numbers live in commented TOML data files (one per env, named ``<EnvId>.toml``; an id with a namespace,
``MinAtar/Breakout-v1``, lives in a subfolder: ``MinAtar/Breakout-v1.toml``; the ALE games, whose
``<Game>NoFrameskip-v4`` ids have none, are grouped in ``Atari/``) rather than in code, so that each can say
where it came from and a user can copy one and pass it as ``--preset FILE``. ``ALE/<Game>-v5`` shows the same
screen as ``<Game>NoFrameskip-v4`` and uses its preset, with its own ids. Any other env falls back to the
general-purpose values of ``envs/_default.toml`` (:func:`default_preset`), so that every Gymnasium id trains.
"""

from __future__ import annotations

import copy
import inspect
import logging
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, Mapping

import gymnasium as gym

from prefrl.atari import ALE_V5_TWINS, ATARI_VARIANTS, check_score_boxes
from prefrl.config import QueryConfig, RewardConfig
from prefrl.envs import FIXED_HORIZON_VARIANTS

PRESET_DIR: Path = Path(__file__).resolve().parent.parent / "envs"
"""The repository's ``envs/`` folder, which holds one ``<EnvId>.toml`` per supported env."""

DEFAULT_PRESET_FILE: Path = PRESET_DIR / "_default.toml"
"""General-purpose values for an env without a file of its own (no ids: :func:`default_preset` adds them)."""

logger = logging.getLogger(__name__)

_GROUP_FOLDERS = ("Atari",)
"""Subfolders of :data:`PRESET_DIR` that group presets of un-namespaced ids (not a namespace of the id)."""

# The algorithm tables a preset may have, one per entry of prefrl.agent.ALGOS (a test holds the two together).
_ALGO_TABLES = ("ppo", "a2c")

# SB3's default discount, for PPO and A2C alike (a table without ``gamma`` gets it).
_SB3_GAMMA = 0.99

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
    :param a2c: keyword arguments of ``stable_baselines3.A2C``, for ``--algo a2c``.
    :param query: :class:`~prefrl.config.QueryConfig` fields (the paper's Atari label schedule).
    :param score_boxes: ``(top, bottom, left, right)`` boxes of the 84×84 Atari frame to black out: the score.
    :param train_env: keyword arguments of the training env alone, as written in the file (e.g. a MinAtar variant's
        ``lost_game_charge``); the original env, which scores the policy, is made without them.
    :param normalize_observations: the policy reads standardized observations (``prefrl.normalization``).
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
    a2c: Mapping[str, Any] = field(default_factory=dict)
    query: Mapping[str, Any] = field(default_factory=dict)
    score_boxes: tuple[tuple[int, int, int, int], ...] = ()
    train_env: Mapping[str, Any] = field(default_factory=dict)
    normalize_observations: bool = False

    def __post_init__(self) -> None:
        # Private copies, so that editing the caller's dict afterwards cannot change the preset. (Not a
        # MappingProxyType: that would make presets impossible to pickle or deep-copy.)
        for table in ("ppo", "reward", "a2c", "query", "train_env"):
            object.__setattr__(self, table, copy.deepcopy(dict(getattr(self, table))))
        object.__setattr__(self, "score_boxes", check_score_boxes(self.score_boxes))
        self._check_charge_discount()

    def _check_charge_discount(self) -> None:
        """A lost game's discounted charge (``prefrl.atari.LostGameCharge``) is exact only at the agent's own γ."""
        discount = self.train_env.get("charge_discount")
        if discount is None:
            return
        for algo in _ALGO_TABLES:
            gamma = getattr(self, algo).get("gamma", _SB3_GAMMA)
            if gamma != discount:
                raise ValueError(
                    f"[train_env] charge_discount={discount!r} but [{algo}] gamma={gamma!r}: the charge pays back the "
                    "new game's value at the agent's discount; give both the same value."
                )

    def ppo_kwargs(self) -> dict[str, Any]:
        """A fresh dict for ``PPO(**kwargs)``; with ``linear_schedule``, lr and clip range become schedules."""
        return self.algo_kwargs("ppo")

    def algo_kwargs(self, algo: str) -> dict[str, Any]:
        """A fresh dict of the ``[algo]`` table (empty: SB3's defaults); with ``linear_schedule``, lr and clip
        range become schedules."""
        if algo not in _ALGO_TABLES:
            raise ValueError(f"algo={algo!r} has no preset table; presets have tables for {', '.join(_ALGO_TABLES)}.")
        kwargs = copy.deepcopy(dict(getattr(self, algo)))
        if self.linear_schedule:
            for key in _SCHEDULED:
                if key in kwargs:
                    kwargs[key] = LinearSchedule(float(kwargs[key]))
        return kwargs


def available_presets() -> list[str]:
    """Env ids that have a preset in :data:`PRESET_DIR` (namespaced ids in subfolders; ALE v5 twins included), sorted."""
    ids = {_env_id_of(path) for path in PRESET_DIR.rglob("*.toml") if path != DEFAULT_PRESET_FILE}
    return sorted(ids | {twin for twin, original in ALE_V5_TWINS.items() if original in ids})


def _env_id_of(path: Path) -> str:
    relative = path.relative_to(PRESET_DIR).with_suffix("")
    return relative.name if relative.parent.as_posix() in _GROUP_FOLDERS else relative.as_posix()


def _preset_file(env_id: str) -> Path | None:
    """The file of ``env_id``'s own preset: ``envs/<env_id>.toml``, or ``envs/<group>/<env_id>.toml``."""
    for folder in (PRESET_DIR, *(PRESET_DIR / group for group in _GROUP_FOLDERS)):
        if (folder / f"{env_id}.toml").is_file():
            return folder / f"{env_id}.toml"
    return None


def load_preset(env_id: str, path: str | Path | None = None) -> Preset:
    """Read the preset for ``env_id`` from ``path``, or from ``PRESET_DIR/<env_id>.toml`` when ``path`` is None.

    Every key is checked (unknown keys, missing keys, wrong types, PPO arguments that
    ``stable_baselines3.PPO`` does not take), so a typo fails here with the file and key named,
    not later inside PPO. ``ALE/<Game>-v5`` without a file of its own gets ``<Game>NoFrameskip-v4``'s preset
    with its own ids (same screen, so the same score boxes and hyperparameters). Any other env without a file
    gets :func:`default_preset`.
    """
    if path is None and _preset_file(env_id) is None and _preset_file(ALE_V5_TWINS.get(env_id, "")) is not None:
        twin = load_preset(ALE_V5_TWINS[env_id])
        return replace(twin, env_id=env_id, train_env_id=ATARI_VARIANTS[env_id])
    if path is None:
        file = _preset_file(env_id)
        if file is None:
            return default_preset(env_id)
    else:
        file = Path(path)
        if not file.is_file():
            raise ValueError(f"preset path={str(path)!r} is not a file; pass the path of a preset TOML file.")
    preset = _parse(_read_toml(file), file)
    if preset.env_id != env_id:
        raise ValueError(
            f"preset file {file} is for env_id={preset.env_id!r}, but env_id={env_id!r} was asked for; "
            "pass the matching env, or copy the file and edit its env_id."
        )
    return preset


def default_preset(env_id: str) -> Preset:
    """The preset of an env with no file of its own: :data:`DEFAULT_PRESET_FILE`'s values, for this env.

    It trains in the env's fixed-horizon variant where :mod:`prefrl.envs` has one, else in the env itself. Clips
    are shortened to half the training env's time limit where two would not fit in one episode (segments never
    cross an episode's end). The fallback is logged, with what it cannot know: whether the env ends episodes
    early, which would leak the reward through their length.
    """
    train_env_id = FIXED_HORIZON_VARIANTS.get(env_id, env_id)
    data = {"env_id": env_id, "train_env_id": train_env_id, **_read_toml(DEFAULT_PRESET_FILE)}
    horizon = gym.spec(train_env_id).max_episode_steps if train_env_id in gym.envs.registry else None
    if horizon is not None and horizon < 2 * data["segment_length"]:
        data["segment_length"] = max(2, horizon // 2)
    preset = _parse(data, DEFAULT_PRESET_FILE)
    leak = (
        ""
        if train_env_id != env_id
        else f" It trains in {env_id} itself: if that env ends episodes early on success or failure, their length "
        "tells the agent what the labels would (Christiano et al. 2017 removed such endings); register a "
        "fixed-horizon variant (prefrl.envs.FIXED_HORIZON_TASKS) for it."
    )
    logger.warning(
        "%s has no preset in %s; using the general-purpose values of %s (%d envs, %d timesteps, %d-step clips, "
        "%d labels, SB3's PPO defaults). Copy a preset file and pass --preset FILE to tune them.%s",
        env_id, PRESET_DIR, DEFAULT_PRESET_FILE.name, preset.n_envs, preset.timesteps, preset.segment_length,
        preset.labels, leak,
    )
    return preset


def _read_toml(file: Path) -> dict[str, Any]:
    try:
        with file.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"preset file {file} is not valid TOML: {error}. Fix the syntax there.") from None


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
    "a2c": (dict, False, lambda v: True, "an [a2c] table of stable_baselines3.A2C keyword arguments"),
    "query": (dict, False, lambda v: True, "a [query] table of prefrl.config.QueryConfig fields"),
    "score_boxes": (list, False, lambda v: True, "a list of [top, bottom, left, right] boxes of the 84x84 frame"),
    "train_env": (dict, False, lambda v: True, "a [train_env] table of keyword arguments of the training env"),
    "normalize_observations": (bool, False, lambda v: True, "true or false"),
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
    _check_algo_kwargs(ppo, file, "ppo")
    _check_algo_kwargs(dict(data.get("a2c", {})), file, "a2c")
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
    for table, cls in (("reward", RewardConfig), ("query", QueryConfig)):
        if table in values:
            values[table] = _check_config_table(values[table], file, table, cls)
    if "score_boxes" in values:
        try:
            values["score_boxes"] = check_score_boxes(values["score_boxes"])
        except (ValueError, TypeError) as error:
            raise ValueError(f"preset file {file}: score_boxes: {error}") from None
    return Preset(**values)


def _check_config_table(table: Mapping[str, Any], file: Path, name: str, cls: type) -> dict[str, Any]:
    """Reject keys that are not fields of ``cls``, and check the values by building one; TOML arrays become tuples."""
    accepted = {f.name for f in fields(cls)}
    unknown = sorted(set(table) - accepted)
    if unknown:
        raise ValueError(
            f"preset file {file} has unknown key(s) {', '.join(repr(f'{name}.{k}') for k in unknown)} in its "
            f"[{name}] table; prefrl.config.{cls.__name__} takes: {', '.join(sorted(accepted))}."
        )
    values = {key: tuple(value) if isinstance(value, list) else value for key, value in table.items()}
    try:
        cls(**values)
    except (ValueError, TypeError) as error:
        raise ValueError(f"preset file {file}: [{name}] {error}") from None
    return values


def _check_algo_kwargs(kwargs: Mapping[str, Any], file: Path, algo: str) -> None:
    """Reject keys that the SB3 class of ``algo`` does not take (and the ones a run sets itself)."""
    from prefrl.agent import ALGOS  # Imported here: reading a preset should not need SB3 loaded up front.

    cls = ALGOS[algo]
    # The run supplies these itself; setting them in a preset would be silently overridden or clash.
    owned_by_run = {"policy", "env", "seed", "device", "verbose", "tensorboard_log", "_init_setup_model"}
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"} - owned_by_run
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise ValueError(
            f"preset file {file} has unknown key(s) {', '.join(repr(f'{algo}.{k}') for k in unknown)} in its "
            f"[{algo}] table; stable_baselines3.{cls.__name__} takes: {', '.join(sorted(accepted))}."
        )
    policy_kwargs = kwargs.get("policy_kwargs", {})
    if not isinstance(policy_kwargs, dict):
        raise ValueError(
            f"preset file {file}: {algo}.policy_kwargs={policy_kwargs!r} must be a [{algo}.policy_kwargs] table."
        )
