"""Atari-like envs from optional packages: MinAtar (``minatar``) and the ALE (``ale-py``), and their
fixed-horizon variants (``pip install 'prefrl[atari]'``).

Christiano et al. (2017, appendix A.2) did not let termination leak the reward on Atari either: "we do not
send life loss or episode end signals to the agent (we do continue to actually reset the environment)". An
agent told that its episode ended learns from the episode's *length* alone that dying is bad, with no
comparison at all. :class:`ResetOnTermination` does exactly the paper's thing: when the game is over it
resets the game underneath and carries on, with ``terminated`` always false; a ``TimeLimit`` (the variant's
horizon) is the only end an episode ever has. The policy is still evaluated on the original env.

Neither package is imported until an id of its namespace is asked for (``check_env_id`` calls
:func:`register_optional_envs`): MinAtar pulls in matplotlib and seaborn, and most runs need neither.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, SupportsFloat

import gymnasium as gym

ATARI_EXTRA = "atari"
"""The ``prefrl`` extra that installs every package here."""

MINATAR_GAMES = ("Asterix", "Breakout", "Freeway", "Seaquest", "SpaceInvaders")

MINATAR_HORIZON = 1000
"""Steps per fixed-horizon MinAtar episode: 40 clips of 25 steps, several games of a weak policy (a random
one loses Breakout in ~10 steps), and a bound on how long PPO goes without a truncation to bootstrap from."""

ATARI_VARIANTS: dict[str, str] = {f"MinAtar/{game}-v1": f"prefrl/FixedMinAtar{game}-v1" for game in MINATAR_GAMES}
"""Original id -> the fixed-horizon id a preference run trains in (``-v1``: MinAtar's minimal action sets)."""


class ResetOnTermination(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Never terminates: a finished game is reset underneath and play goes on (Christiano et al. 2017, A.2).

    The step that ends a game returns its own reward and the *new* game's first observation, with
    ``info["reset_underneath"] = True`` (for clips and diagnostics; the agent reads only obs and reward).
    Truncation by a time limit passes through: that is the fixed horizon, not a signal about play.
    """

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        if terminated:
            # No seed: the reset draws from the env's own generator, seeded once by the vector env.
            obs, _ = self.env.reset()
            info = {**info, "reset_underneath": True}
        return obs, reward, False, truncated, info


def make_continuing(original_id: str, render_mode: str | None = None, **kwargs: Any) -> ResetOnTermination:
    """Entry point of every variant: the original env (as ``gymnasium.make`` builds it) in :class:`ResetOnTermination`.

    The variant's own ``TimeLimit`` is added by ``gymnasium.make`` from its spec.
    """
    register_optional_envs(original_id)  # a fresh process (a subprocess vector env) has not registered it yet
    # The outer make checks the env; checking the inner one too would only repeat its warnings.
    return ResetOnTermination(gym.make(original_id, render_mode=render_mode, disable_env_checker=True, **kwargs))


def _register_minatar() -> None:
    # `import minatar.gym` defines MinAtar's register_envs but (minatar 1.0.15) does not call it.
    minatar_gym = importlib.import_module("minatar.gym")
    if "MinAtar/Breakout-v1" not in gym.envs.registry:
        minatar_gym.register_envs()
    for original, variant in ATARI_VARIANTS.items():
        if variant not in gym.envs.registry:
            gym.register(
                id=variant,
                # A string entry point keeps the spec picklable (for subprocess vector envs).
                entry_point=f"{__name__}:make_continuing",
                kwargs={"original_id": original},
                max_episode_steps=MINATAR_HORIZON,
            )


def _register_ale() -> None:
    importlib.import_module("ale_py")  # ale-py >= 0.9 registers ALE/... and ...NoFrameskip-v4 on import


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
    EnvPackage("ale-py", lambda env_id: env_id.startswith("ALE/") or env_id.endswith("NoFrameskip-v4"), _register_ale),
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
