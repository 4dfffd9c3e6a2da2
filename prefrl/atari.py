"""Atari-like envs from optional packages: MinAtar (``minatar``) and the ALE (``ale-py``), and their
fixed-horizon variants (``pip install 'prefrl[atari]'``).

ALE games are played through the usual observation pipeline (:class:`AtariObservation`: gymnasium's
``AtariPreprocessing`` with up to 30 no-op starts, frame skip 4, 84×84 grayscale, then ``FrameStackObservation``
of 4 frames), in training, in evaluation and in the baseline alike, so that only termination and reward differ
between the env a policy learns in and the one it is scored in. The pipeline also blacks out the game's score
(a per-game list of boxes, kept in the preset; appendix A.2): the reward net must judge play, not read the answer
off the screen. It is done in the env, so the reward net, the policy and the stored clips read one and the same
frame (each held once, ``prefrl.frames``); a policy needs the score no more than a player does to choose a move.

Christiano et al. (2017, appendix A.2) did not let termination leak the reward on Atari either: "we do not
send life loss or episode end signals to the agent (we do continue to actually reset the environment)". An
agent told that its episode ended learns from the episode's *length* alone that dying is bad, with no
comparison at all. :class:`ResetOnTermination` does exactly the paper's thing: when the game is over it
resets the game underneath and carries on, with ``terminated`` always false; a ``TimeLimit`` (the variant's
horizon) is the only end an episode ever has. Where a preset asks, the lost game stays on screen for a while
first, so that losing costs time as a game-over screen does. The policy is still evaluated on the original env.

Neither package is imported until an id of its namespace is asked for (``check_env_id`` calls
:func:`register_optional_envs`): MinAtar pulls in matplotlib and seaborn, and most runs need neither.
"""

from __future__ import annotations

import importlib
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Sequence, SupportsFloat

import gymnasium as gym
import numpy as np

ATARI_EXTRA = "atari"
"""The ``prefrl`` extra that installs every package here."""

MINATAR_GAMES = ("Asterix", "Breakout", "Freeway", "Seaquest", "SpaceInvaders")

MINATAR_HORIZON = 1000
"""Steps per fixed-horizon MinAtar episode: 40 clips of 25 steps, several games of a weak policy (a random
one loses Breakout in ~10 steps), and a bound on how long PPO goes without a truncation to bootstrap from."""

ALE_GAMES = ("BeamRider", "Breakout", "Enduro", "Pong", "Qbert", "Seaquest", "SpaceInvaders")
"""The Atari games of Christiano et al. (2017, §3.1.2)."""

ALE_HORIZON = 2000
"""Agent steps (8000 frames, ~2 minutes of play) per fixed-horizon ALE episode: 80 clips of 25 steps, several games
of a weak policy (random play loses a game of Breakout in 130-260 steps, measured), and a bound on how long PPO goes
without a truncation to bootstrap from."""

ALE_V5_TWINS: dict[str, str] = {f"ALE/{game}-v5": f"{game}NoFrameskip-v4" for game in ALE_GAMES}
"""``ALE/<Game>-v5`` -> ``<Game>NoFrameskip-v4``: the same game and screen, so the same preset (``prefrl.presets``)
serves both; v5 adds sticky actions (probability 0.25), which the env itself applies."""

ATARI_VARIANTS: dict[str, str] = {
    **{f"MinAtar/{game}-v1": f"prefrl/FixedMinAtar{game}-v1" for game in MINATAR_GAMES},
    **{f"{game}NoFrameskip-v4": f"prefrl/Fixed{game}NoFrameskip-v4" for game in ALE_GAMES},
    **{f"ALE/{game}-v5": f"prefrl/Fixed{game}-v5" for game in ALE_GAMES},
}
"""Original id -> the fixed-horizon id a preference run trains in (``-v1``: MinAtar's minimal action sets)."""

ScoreBox = tuple[int, int, int, int]
"""``(top, bottom, left, right)`` of a box of the 84×84 frame, half-open like a slice: ``frame[top:bottom, left:right]``."""

FRAME_SIZE = 84  # the side of a preprocessed frame (Mnih et al. 2015), as AtariPreprocessing's screen_size
FRAME_STACK = 4  # frames per observation (Mnih et al. 2015; the paper's reward net reads the same 84x84x4 stack)
FRAME_SKIP = 4
NOOP_MAX = 30


def is_ale_id(env_id: str) -> bool:
    """Whether ``env_id`` is an original ALE game (not one of our variants)."""
    return env_id.startswith("ALE/") or (env_id.endswith("NoFrameskip-v4") and "/" not in env_id)


_ALE_VARIANTS = frozenset(variant for original, variant in ATARI_VARIANTS.items() if is_ale_id(original))


def takes_score_boxes(env_id: str) -> bool:
    """Whether ``env_id`` is an ALE game or its fixed-horizon variant: Atari frames, whose score can be masked."""
    return is_ale_id(env_id) or env_id in _ALE_VARIANTS


class ScoreMask(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Sets the pixels inside each box of an (H, W) frame to 0 (black); the rest of the frame is untouched.

    :param env: an env of 2-D ``uint8`` frames (AtariPreprocessing's grayscale output).
    :param boxes: ``(top, bottom, left, right)`` per box, inside the frame.
    """

    def __init__(self, env: gym.Env, boxes: Sequence[ScoreBox]) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, boxes=boxes)
        gym.ObservationWrapper.__init__(self, env)
        shape = env.observation_space.shape
        if shape is None or len(shape) != 2:
            raise ValueError(f"ScoreMask needs 2-D frames, got an observation space of shape {shape}.")
        self.boxes = check_score_boxes(boxes, shape)
        self._keep = np.ones(shape, dtype=np.uint8)  # (H, W): 0 inside a box
        for top, bottom, left, right in self.boxes:
            self._keep[top:bottom, left:right] = 0

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return observation * self._keep


def check_score_boxes(boxes: Sequence[Sequence[int]], shape: tuple[int, ...] = (FRAME_SIZE, FRAME_SIZE)) -> tuple[ScoreBox, ...]:
    """``boxes`` as a tuple of int 4-tuples, each a non-empty box inside a frame of ``shape``; else a ValueError."""
    checked = []
    for box in boxes:
        values = tuple(int(v) for v in box)
        if len(values) != 4:
            raise ValueError(f"score box {list(box)!r} must have 4 numbers: [top, bottom, left, right].")
        top, bottom, left, right = values
        if not (0 <= top < bottom <= shape[0] and 0 <= left < right <= shape[1]):
            raise ValueError(
                f"score box {list(values)!r} is not a non-empty box inside the {shape[0]}x{shape[1]} frame; "
                f"need 0 <= top < bottom <= {shape[0]} and 0 <= left < right <= {shape[1]}."
            )
        checked.append(values)
    return tuple(checked)


@dataclass(frozen=True)
class AtariObservation:
    """The observation pipeline of every ALE env a run builds: ``AtariObservation(boxes)(env)``.

    gymnasium's ``AtariPreprocessing`` (no-op starts, frame skip with max-pooling of the last two frames,
    84×84 grayscale; life loss is *not* terminal: the paper sends no such signal), the score boxes blacked out,
    then ``FrameStackObservation``: observations are ``(4, 84, 84)`` ``uint8``, oldest frame first.

    :param score_boxes: boxes of the 84×84 frame to black out (see :data:`ScoreBox`).
    """

    score_boxes: tuple[ScoreBox, ...] = ()

    def __call__(self, env: gym.Env) -> gym.Env:
        from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation

        env = AtariPreprocessing(
            env, noop_max=NOOP_MAX, frame_skip=FRAME_SKIP, screen_size=FRAME_SIZE, terminal_on_life_loss=False
        )
        if self.score_boxes:
            env = ScoreMask(env, self.score_boxes)
        return FrameStackObservation(env, FRAME_STACK)


def make_atari(
    env_id: str, render_mode: str | None = None, score_boxes: Sequence[Sequence[int]] = (), **kwargs: Any
) -> gym.Env:
    """An original ALE game through :class:`AtariObservation`; it ends when the game is over, as the original.

    The ALE's own frame skip is turned off (``ALE/...-v5`` skips 4 frames itself): ``AtariPreprocessing`` skips.
    """
    register_optional_envs(env_id)
    env = gym.make(env_id, render_mode=render_mode, frameskip=1, **kwargs)
    return AtariObservation(check_score_boxes(score_boxes))(env)


class ResetOnTermination(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Never terminates: a finished game is reset underneath and play goes on (Christiano et al. 2017, A.2).

    The step that ends a game returns its own reward with ``info["game_lost"] = True``, and the step that returns
    the *new* game's first observation has ``info["reset_underneath"] = True`` (for clips, the charge below and
    diagnostics; the agent reads only obs and reward). Without a hold both are the same step.

    Why a hold: the original game is scored per game, the variant per step. If a lost game costs only the moment
    a new one takes to start, dying early to replay the easy start of a game can pay more points a step than
    surviving, and PPO learns it even from the true reward: on MinAtar SpaceInvaders (seed 0, 1M steps) PPO on
    the variant's true reward scored 8.6 a game in the original, 50.4 with the lost game held for 200 steps
    (README). Held, the lost game's last frame stays on screen for ``hold`` steps that score nothing whatever
    the agent does, as a game-over screen would; the agent is told nothing, and the frozen frame is
    what the reward net sees on those steps.

    Truncation by a time limit passes through: that is the fixed horizon, not a signal about play.

    :param hold: steps the lost game's last frame is shown before the new game starts; 0 resets at once.
    """

    def __init__(self, env: gym.Env, hold: int = 0) -> None:
        if hold < 0:
            raise ValueError(f"hold_lost_game={hold!r}: give the steps a lost game stays on screen (>= 0).")
        gym.utils.RecordConstructorArgs.__init__(self, hold=hold)
        gym.Wrapper.__init__(self, env)
        self.hold = hold
        self._held_obs: Any = None
        self._held_steps_left = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        self._held_steps_left = 0
        return self.env.reset(seed=seed, options=options)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        if self._held_steps_left:
            self._held_steps_left -= 1
            if self._held_steps_left:
                return self._held_obs, 0.0, False, False, {}
            return self._reset_underneath(0.0, False, {})
        obs, reward, terminated, truncated, info = self.env.step(action)
        if not terminated:
            return obs, reward, False, truncated, info
        info = {**info, "game_lost": True}
        if not self.hold:
            return self._reset_underneath(reward, truncated, info)
        self._held_obs, self._held_steps_left = obs, self.hold
        return obs, reward, False, truncated, info

    def _reset_underneath(
        self, reward: SupportsFloat, truncated: bool, info: dict[str, Any]
    ) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        # No seed: the reset draws from the env's own generator, seeded once by the vector env.
        obs, _ = self.env.reset()
        return obs, reward, False, truncated, {**info, "reset_underneath": True}


class LostGameCharge(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Charges each game lost underneath the mean score of this env's last ``window`` games, in the true reward.

    Why: points per game (what the original game scores) are maximized by points per step minus λ per game
    started, with λ the best points per game (Dinkelbach's method for a ratio); λ is estimated by the recent mean.
    A hold (:class:`ResetOnTermination`) makes a lost game cost time; the charge makes it cost points as well,
    spread evenly over the held steps, where the reward net sees the lost game's frozen frame: paid in one lump
    on the step of the loss instead, the net put it on the *new* game's first frames, which are easier to
    recognize (README, MinAtar SpaceInvaders). Without a hold it is paid in one lump, on the step that lost. The
    charge is in the reward the oracle reads, never in what the agent sees.

    With ``discount`` (the γ the agent's returns are discounted by) the charge is the one that makes a lost game
    end the discounted return as the original's episode end does: the new game's value, estimated by the recent
    games' discounted scores, paid back where the loss is. In expectation the variant's discounted return from any
    state is then the original's, so the same policies are best in both. Undiscounted, the charge (a whole game's
    points) is larger than what a discounted learner loses by dying, and it asks for more caution than the
    original game does.

    :param window: games averaged into the charge; the first game lost is charged nothing.
    :param discount: if set, charge the discounted value of a new game (above) instead of its mean score.
    """

    def __init__(self, env: gym.Env, window: int, discount: float | None = None) -> None:
        if window < 1:
            raise ValueError(f"lost_game_charge={window!r}: give the number of recent games to average (>= 1), or 0 for none.")
        if discount is not None and not 0.0 < discount < 1.0:
            raise ValueError(f"charge_discount={discount!r}: give the agent's discount, in (0, 1), or leave it out.")
        gym.utils.RecordConstructorArgs.__init__(self, window=window, discount=discount)
        gym.Wrapper.__init__(self, env)
        self.recent_scores: deque[float] = deque(maxlen=window)
        self._hold: int = env.get_wrapper_attr("hold")
        self._discount = discount
        self._score_discount = 1.0 if discount is None else discount  # a game's score: its points, discounted or not
        self._weight_of_next_point = 1.0
        self._score = 0.0
        self._charge_per_held_step = 0.0
        self._held_steps_left = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        self._start_game()  # a game cut short by the horizon is no lost game, and its points are not the next one's
        self._held_steps_left = 0
        return self.env.reset(seed=seed, options=options)

    def _start_game(self) -> None:
        self._score, self._weight_of_next_point = 0.0, 1.0

    def _charge_per_step(self, new_game_value: float) -> float:
        """The charge on each of the ``max(hold, 1)`` steps that pay for a lost game followed by one worth
        ``new_game_value``: the held steps, or the losing step itself when the game resets at once."""
        steps = max(self._hold, 1)
        if self._discount is None:
            return new_game_value / steps
        # c (1 + γ + ... + γ^(H-1)) = γ^H V: the new game's value, seen from the lost game's last frame H steps
        # before it starts (reset at once, H = 1: γ V on the losing step, whose frame is already the new game's).
        gamma = self._discount
        return gamma**steps * new_game_value * (1 - gamma) / (1 - gamma**steps)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        if self._held_steps_left:
            self._held_steps_left -= 1
            return obs, float(reward) - self._charge_per_held_step, terminated, truncated, info
        self._score += self._weight_of_next_point * float(reward)
        self._weight_of_next_point *= self._score_discount
        if info.get("game_lost"):
            charge = self._charge_per_step(float(np.mean(self.recent_scores)) if self.recent_scores else 0.0)
            self.recent_scores.append(self._score)
            self._start_game()
            if self._hold:
                self._charge_per_held_step, self._held_steps_left = charge, self._hold
            else:
                reward = float(reward) - charge
        return obs, reward, terminated, truncated, info


def make_continuing(
    original_id: str,
    render_mode: str | None = None,
    hold_lost_game: int = 0,
    lost_game_charge: int = 0,
    charge_discount: float | None = None,
    **kwargs: Any,
) -> gym.Env:
    """Entry point of every variant: the original env (as :func:`make_env` builds it) in :class:`ResetOnTermination`.

    The variant's own ``TimeLimit`` is added by ``gymnasium.make`` from its spec. An ALE game is reset inside
    its observation pipeline, so a game reset underneath starts with its no-ops and a fresh frame stack.

    :param hold_lost_game: steps a lost game stays on screen (:class:`ResetOnTermination`; a preset's ``[train_env]``).
    :param lost_game_charge: if set, :class:`LostGameCharge` over this many recent games (a preset's ``[train_env]``).
    :param charge_discount: the discount of that charge (:class:`LostGameCharge`); the agent's γ.
    """
    if charge_discount is not None and not lost_game_charge:
        raise ValueError("charge_discount is the discount of lost_game_charge: set lost_game_charge as well.")
    # The outer make checks the env; checking the inner one too would only repeat its warnings.
    inner = make_env(original_id, render_mode=render_mode, disable_env_checker=True, **kwargs)
    env = ResetOnTermination(inner, hold=hold_lost_game)
    return LostGameCharge(env, lost_game_charge, discount=charge_discount) if lost_game_charge else env


def make_env(env_id: str, render_mode: str | None = None, **kwargs: Any) -> gym.Env:
    """The env a run plays for ``env_id``: an ALE game through :func:`make_atari`, any other id from ``gym.make``."""
    register_optional_envs(env_id)  # a fresh process (a subprocess vector env) has not registered it yet
    if is_ale_id(env_id):
        return make_atari(env_id, render_mode=render_mode, **kwargs)
    return gym.make(env_id, render_mode=render_mode, **kwargs)


def _register_variants(is_ours: Callable[[str], bool], horizon: int) -> None:
    for original, variant in ATARI_VARIANTS.items():
        if is_ours(original) and variant not in gym.envs.registry:
            gym.register(
                id=variant,
                # A string entry point keeps the spec picklable (for subprocess vector envs).
                entry_point=f"{__name__}:make_continuing",
                kwargs={"original_id": original},
                max_episode_steps=horizon,
            )


def _register_minatar() -> None:
    # `import minatar.gym` defines MinAtar's register_envs but (minatar 1.0.15) does not call it.
    minatar_gym = importlib.import_module("minatar.gym")
    if "MinAtar/Breakout-v1" not in gym.envs.registry:
        minatar_gym.register_envs()
    _register_variants(lambda env_id: env_id.startswith("MinAtar/"), MINATAR_HORIZON)


def _register_ale() -> None:
    importlib.import_module("ale_py")  # ale-py >= 0.9 registers ALE/... and ...NoFrameskip-v4 on import
    _register_variants(is_ale_id, ALE_HORIZON)


@dataclass(frozen=True)
class EnvPackage:
    """An optional package that provides envs: which ids are its, and how to register them.

    :param pip_name: what ``pip install`` takes.
    :param provides: whether an env id belongs to this package (or to a variant built on it).
    :param register: imports the package and registers its envs (and our variants); idempotent.
    """

    pip_name: str
    provides: Callable[[str], bool]
    register: Callable[[], None]


ENV_PACKAGES: tuple[EnvPackage, ...] = (
    EnvPackage("minatar", lambda env_id: env_id.startswith(("MinAtar/", "prefrl/FixedMinAtar")), _register_minatar),
    EnvPackage("ale-py", takes_score_boxes, _register_ale),
)


def register_optional_envs(env_id: str) -> None:
    """Register the envs of the optional package ``env_id`` belongs to, if any; nothing for other ids.

    :raises ValueError: the id needs a package that is not installed; the message names it and the extra.
    """
    package = next((package for package in ENV_PACKAGES if package.provides(env_id)), None)
    if package is None:
        return
    try:
        package.register()
    except ImportError as error:
        raise ValueError(
            f"env_id={env_id!r} needs the package {package.pip_name!r}, which is not installed ({error}). "
            f"Install it with: pip install 'prefrl[{ATARI_EXTRA}]' (or pip install {package.pip_name})."
        ) from None
