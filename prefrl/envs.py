"""Fixed-horizon variants of the classic-control and MuJoCo tasks, and their registration with Gymnasium.

Christiano et al. (2017, §3 and appendix A) removed variable-length episodes: when an episode ends as
soon as the agent fails, the episode's *length* tells the policy how well it did, and a constant
per-step reward ("+1 for being alive") becomes enough to learn from without any comparison at all. So
each variant here never terminates, only a ``TimeLimit`` truncates it, and its reward is a dense signal
that a person watching a 25–50-step clip could judge: the pole staying up, the tip swinging higher, the
car climbing higher. That reward is what the synthetic oracle reads; the policy never sees it.

One mechanism serves every task: :class:`FixedHorizon` wraps the *unwrapped* original env, swaps in
the task's reward function from :data:`FIXED_HORIZON_TASKS`, and keeps the original's spaces,
``render_mode`` and reward (in ``info["original_reward"]``). Importing this module registers the
variants (``gymnasium.make("prefrl/FixedCartPole-v1")``); :func:`register_envs` does it again, harmlessly.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Callable, Mapping, SupportsFloat

import gymnasium as gym
from gymnasium.envs.registration import load_env_creator

from prefrl.atari import ATARI_VARIANTS, ScoreBox, make_env, register_optional_envs, takes_score_boxes

if TYPE_CHECKING:
    from stable_baselines3.common.vec_env import VecEnv

ScoreBoxes = tuple[ScoreBox, ...]

RewardFn = Callable[[gym.Env], float]
"""Reads the (unwrapped) env's state *after* a step and returns that step's reward."""


def _cartpole_reward(env: gym.Env) -> float:
    """0 once the pole is down or the cart off the track (the original's termination bounds), else
    ``1 - ((x / x_max)² + (θ / θ_max)²) / 4``: between 0.5 (at both bounds) and 1 (centred, upright).

    Why graded: with 1-or-0, two clips in which the pole stayed up tie, and late in training nearly every pair
    does, so the last labels teach nothing; and nothing tells the reward net that a cart drifting toward the
    edge is worse than a centred one, though the original ends the episode there. Policies that balanced for the
    variant's 200 steps drifted off the track later in the 500-step evaluation. A person watching two clips
    prefers the one where the pole stands straighter and the cart stays nearer the middle; this reward says so.
    A fall still costs the most: at least 0.5 a step for the 10 steps the pole lies down.
    """
    x, _, theta, _ = env.state  # type: ignore[attr-defined]
    x_max, theta_max = env.x_threshold, env.theta_threshold_radians  # type: ignore[attr-defined]
    if abs(theta) > theta_max or abs(x) > x_max:
        return 0.0
    return 1.0 - ((x / x_max) ** 2 + (theta / theta_max) ** 2) / 4.0


def _acrobot_reward(env: gym.Env) -> float:
    """Height of the tip above the pivot, -cos(θ1) - cos(θ1 + θ2), in [-2, 2].

    The original rewards -1 per step until the tip passes height 1 — all clips before that look alike.
    Height is what a person watching sees: the clip whose tip swings higher is the better one.
    """
    th1, th2 = env.state[0], env.state[1]  # type: ignore[attr-defined]
    return float(-math.cos(th1) - math.cos(th1 + th2))


def _mountain_car_reward(env: gym.Env) -> float:
    """Car height sin(3x) (the track's own height profile, unscaled: [-1, 1]) + 1.0 at or past the goal.

    The continuous original pays +100 once, on reaching the flag, and a small action cost otherwise; the
    discrete one -1 per step until then: a clip that rocks higher up the hills is better, but would earn
    nothing more. The +1 keeps the goal strictly the best place to be (sin(3x) alone peaks at x≈0.52, past
    the flag at 0.45, continuous, or 0.5, discrete).
    """
    position = float(env.state[0])  # type: ignore[attr-defined]
    at_goal = position >= env.goal_position  # type: ignore[attr-defined]
    return math.sin(3.0 * position) + (1.0 if at_goal else 0.0)


def _unhealthy(env: gym.Env) -> bool:
    """The original's own "unhealthy" test (Hopper, Walker2d: torso too low or tilted; Ant: torso out of its
    height range; any of them: a state that is not finite)."""
    return not env.is_healthy  # type: ignore[attr-defined]


def _double_pendulum_fallen(env: gym.Env) -> bool:
    """The original's termination test: the tip of the upper pole at height 1 or below."""
    return bool(env.data.site_xpos[0][2] <= 1)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class FixedHorizonTask:
    """One fixed-horizon variant: which original it wraps, how long it runs, and what it rewards.

    :param original_id: the Gymnasium id of the original task; its entry point supplies the unwrapped env.
    :param variant_id: the id this variant is registered under.
    :param horizon: every episode lasts exactly this many steps (``max_episode_steps``).
    :param reward: the per-step reward, read from the unwrapped env's state after the step; None = the
        original's own reward for the step (MuJoCo's rewards are already dense: forward velocity, control
        cost, and a bonus only while upright, so a fall is penalized by the bonus it loses).
    :param respawn_after: if set, after this many consecutive failed steps the physical state is
        reset (the episode, and its fixed length, go on). For tasks whose failure is absorbing.
    :param failed: what counts as a failed step for ``respawn_after``; None = a step whose reward is 0.
    """

    original_id: str
    variant_id: str
    horizon: int
    reward: RewardFn | None
    respawn_after: int | None = None
    failed: Callable[[gym.Env], bool] | None = None


# The registry: original id -> variant. Everything else (FIXED_HORIZON_VARIANTS, registration, errors)
# reads it, so adding a task is one entry here.
FIXED_HORIZON_TASKS: dict[str, FixedHorizonTask] = {
    task.original_id: task
    for task in (
        # A fallen pole stays down for 10 steps (0.2 s: a person sees the fall), then the cart and pole
        # respawn upright and the episode goes on. Without the respawn a random policy's pole is down ~90%
        # of a 200-step episode, so nearly every pair of clips is an all-zero tie that teaches nothing
        # (measured: 49 of 60 labels "equal"); with it, each clip's return says how well the policy
        # balances, as the original's episode length does. An upright step pays 0.5-1 (the
        # reward's docstring says why it is graded), so a step with reward 0 is exactly a fallen one.
        FixedHorizonTask("CartPole-v1", "prefrl/FixedCartPole-v1", 200, _cartpole_reward, respawn_after=10),
        FixedHorizonTask("Acrobot-v1", "prefrl/FixedAcrobot-v1", 500, _acrobot_reward),
        FixedHorizonTask(
            "MountainCarContinuous-v0", "prefrl/FixedMountainCarContinuous-v0", 500, _mountain_car_reward
        ),
        # The discrete MountainCar has the same track and goal, and the original's 200-step limit.
        FixedHorizonTask("MountainCar-v0", "prefrl/FixedMountainCar-v0", 200, _mountain_car_reward),
        # MuJoCo (extra `mujoco`). The original Hopper ends an episode at a fall, which leaks the reward
        # through the episode's length; Christiano et al. (2017, appendix A) replaced such terminations
        # with a penalty. Here a fallen hopper keeps its original reward (no upright bonus: that is the
        # penalty) for 25 steps (0.2 s, as CartPole's 10 steps: long enough to be seen), then respawns.
        FixedHorizonTask("Hopper-v5", "prefrl/FixedHopper-v5", 1000, None, respawn_after=25, failed=_unhealthy),
        # Walker2d and Ant pay an upright bonus as Hopper does, and are treated alike (Walker2d at 125 Hz, Ant
        # at 20 Hz: 25 steps are 0.2 s and 1.25 s).
        FixedHorizonTask("Walker2d-v5", "prefrl/FixedWalker2d-v5", 1000, None, respawn_after=25, failed=_unhealthy),
        FixedHorizonTask("Ant-v5", "prefrl/FixedAnt-v5", 1000, None, respawn_after=25, failed=_unhealthy),
        # InvertedPendulum pays 1 while the pole is within 0.2 rad of upright, as CartPole does: 0 while it is
        # down, and a respawn after 10 steps (0.4 s).
        FixedHorizonTask("InvertedPendulum-v5", "prefrl/FixedInvertedPendulum-v5", 1000, None, respawn_after=10),
        # A fallen double pendulum loses its +10 bonus per step; it respawns after 10 steps (0.5 s).
        FixedHorizonTask(
            "InvertedDoublePendulum-v5",
            "prefrl/FixedInvertedDoublePendulum-v5",
            1000,
            None,
            respawn_after=10,
            failed=_double_pendulum_fallen,
        ),
    )
}

FIXED_HORIZON_VARIANTS: dict[str, str] = {
    **{original: task.variant_id for original, task in FIXED_HORIZON_TASKS.items()},
    # These already have a fixed horizon (they never terminate; only the time limit ends an episode)
    # and a dense reward: Pendulum (200 steps), HalfCheetah and Swimmer (1000), Reacher (50).
    **{env_id: env_id for env_id in ("Pendulum-v1", "HalfCheetah-v5", "Swimmer-v5", "Reacher-v5")},
    # MinAtar (extra `atari`): the game resets underneath, nothing terminates (prefrl.atari).
    **ATARI_VARIANTS,
}
"""Original Gymnasium id -> the id a preference run trains in."""


class FixedHorizon(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Never terminates; rewards each step with the task's dense reward; keeps the original's in ``info``.

    ``info["original_reward"]`` is what the original env would have paid for the step, and 0 once the
    original would already have ended the episode — so its sum over a fixed-horizon episode is the
    original episode's return (up to the two time limits). ``info["original_terminated"]`` says whether
    the original would have ended by now.

    :param env: the *unwrapped* original env (no ``TimeLimit``: the variant's own limit is applied by
        :func:`gymnasium.make`).
    :param original_id: the key of the task in :data:`FIXED_HORIZON_TASKS`.
    """

    def __init__(self, env: gym.Env, original_id: str) -> None:
        if original_id not in FIXED_HORIZON_TASKS:
            allowed = ", ".join(repr(name) for name in FIXED_HORIZON_TASKS)
            raise ValueError(
                f"original_id={original_id!r} has no fixed-horizon variant; use one of {allowed}, "
                "or add a FixedHorizonTask to prefrl.envs.FIXED_HORIZON_TASKS."
            )
        gym.utils.RecordConstructorArgs.__init__(self, original_id=original_id)
        gym.Wrapper.__init__(self, env)
        self._task = FIXED_HORIZON_TASKS[original_id]
        self._original_done = False
        self._failed_steps = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        self._original_done = False
        self._failed_steps = 0
        return self.env.reset(seed=seed, options=options)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, original_reward, terminated, truncated, info = self.env.step(action)
        unwrapped = self.env.unwrapped
        # CartPole counts steps taken after it said "terminated" and warns on the next one; its physics
        # is still valid, so forget that it ended.
        if hasattr(unwrapped, "steps_beyond_terminated"):
            unwrapped.steps_beyond_terminated = None
        info = dict(info)
        info["original_reward"] = 0.0 if self._original_done else float(original_reward)
        self._original_done = self._original_done or bool(terminated)
        info["original_terminated"] = self._original_done
        reward = float(original_reward) if self._task.reward is None else self._task.reward(unwrapped)
        if self._task.respawn_after is not None:
            failed = reward == 0.0 if self._task.failed is None else self._task.failed(unwrapped)
            self._failed_steps = self._failed_steps + 1 if failed else 0
            if self._failed_steps >= self._task.respawn_after:
                # The reset draws from the env's own seeded generator; the step's obs is the new start state.
                obs, _ = self.env.reset()
                self._failed_steps = 0
                info["respawned"] = True
        return obs, reward, False, truncated, info


def make_fixed_horizon(original_id: str, render_mode: str | None = None, **kwargs: Any) -> FixedHorizon:
    """Entry point of every variant: the original's unwrapped env inside :class:`FixedHorizon`.

    The original's class and default kwargs are read from Gymnasium's registry, so they are not
    repeated here. ``kwargs`` pass through to the original's constructor.
    """
    spec = gym.spec(original_id)
    creator = spec.entry_point if callable(spec.entry_point) else load_env_creator(spec.entry_point)
    env = creator(**{**spec.kwargs, **kwargs, "render_mode": render_mode})
    return FixedHorizon(env, original_id)


def register_envs() -> None:
    """Register every variant in :data:`FIXED_HORIZON_TASKS` with Gymnasium; ids already there are kept.

    Idempotent, so calling it again (or re-importing this module) neither duplicates nor warns.
    """
    for task in FIXED_HORIZON_TASKS.values():
        if task.variant_id in gym.envs.registry:
            continue
        original = gym.spec(task.original_id)
        gym.register(
            id=task.variant_id,
            # A string entry point keeps the spec JSON-able and picklable (for subprocess vector envs).
            entry_point=f"{__name__}:make_fixed_horizon",
            kwargs={"original_id": task.original_id},
            max_episode_steps=task.horizon,
            nondeterministic=original.nondeterministic,
        )


def check_env_id(env_id: str) -> None:
    """Raise a ``ValueError`` that suggests the closest registered id when ``env_id`` is unknown.

    Without this, a typo surfaces as Gymnasium's ``NameNotFound`` from deep inside ``make``, after
    the run folder and the reward net already exist. Ids of optional packages (MinAtar, the ALE) are
    registered here on first use, or named with the package to install.
    """
    if not isinstance(env_id, str):
        raise TypeError(
            f"env_id={env_id!r} is a {type(env_id).__name__}; pass a Gymnasium id string such as 'CartPole-v1'."
        )
    if env_id not in gym.envs.registry:
        register_optional_envs(env_id)
    if env_id in gym.envs.registry:
        _check_dependencies(env_id)
        return
    close = difflib.get_close_matches(env_id, list(gym.envs.registry.keys()), n=3, cutoff=0.6)
    suggestion = f" did you mean {close[0]!r}?" if close else ""
    raise ValueError(
        f"env_id={env_id!r} is not a registered Gymnasium environment;{suggestion} Use an id from "
        "gymnasium.pprint_registry() (fixed-horizon variants: "
        + ", ".join(repr(v) for v in sorted(set(FIXED_HORIZON_VARIANTS.values())))
        + "), or import the module that registers your own env first."
    )


def _check_dependencies(env_id: str) -> None:
    """Import the module that makes ``env_id`` (and its original's, for a variant), so that a registered env whose
    package is missing (Box2D for LunarLander, MuJoCo) fails here, with Gymnasium's install hint, not in make."""
    originals = [task.original_id for task in FIXED_HORIZON_TASKS.values() if task.variant_id == env_id]
    for name in (env_id, *originals):
        entry_point = gym.spec(name).entry_point
        if not isinstance(entry_point, str):
            continue
        try:
            load_env_creator(entry_point)
        except (gym.error.DependencyNotInstalled, ImportError) as error:
            raise ValueError(f"env_id={env_id!r} is registered, but cannot be made here: {error}") from None


def make_vec(
    env_id: str,
    n_envs: int,
    seed: int,
    score_boxes: ScoreBoxes = (),
    wrapper_class: Callable[[gym.Env], gym.Env] | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
) -> VecEnv:
    """The one way a run builds envs (training, evaluation, baseline): ``n_envs`` Monitor-wrapped copies of ``env_id``.

    ALE games come through their observation pipeline (``prefrl.atari.AtariObservation``), with ``score_boxes``
    blacked out, so a policy is scored on exactly the frames it learned from.

    :param env_kwargs: further keyword arguments of ``env_id``'s constructor (a preset's ``[train_env]`` table).
    :raises ValueError: ``score_boxes`` for an env that has no Atari frames to mask; ``env_kwargs`` it does not take.
    """
    from stable_baselines3.common.env_util import make_vec_env  # SB3 loads only when envs are built

    check_env_id(env_id)
    if score_boxes and not takes_score_boxes(env_id):
        raise ValueError(
            f"score_boxes={[list(box) for box in score_boxes]!r} is set, but env_id={env_id!r} is not an ALE game; "
            "score boxes black out the score of Atari frames. Remove score_boxes from the preset."
        )
    kwargs = dict(env_kwargs or {})
    if score_boxes:
        kwargs["score_boxes"] = score_boxes
    try:
        return make_vec_env(
            partial(make_env, env_id), n_envs=n_envs, seed=seed, env_kwargs=kwargs, wrapper_class=wrapper_class
        )
    except TypeError as error:
        if not env_kwargs or not any(key in str(error) for key in env_kwargs):
            raise
        raise ValueError(
            f"env_id={env_id!r} does not take the keyword argument(s) {dict(env_kwargs)!r} ({error}); "
            "check the preset's [train_env] table."
        ) from None


register_envs()
