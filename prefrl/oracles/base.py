"""The oracle swap point: the :class:`~prefrl.types.Oracle` protocol and a name -> factory registry.

The CLI's ``--oracle`` choices, its help text and the error for an unknown name all read
:data:`ORACLES`, so a new oracle is one decorated class and no list of names is typed twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, TypeVar

from prefrl.types import Oracle

if TYPE_CHECKING:  # pragma: no cover
    from prefrl.config import TrainConfig
    from prefrl.store import ComparisonStore

__all__ = ["ORACLES", "Oracle", "OracleSession", "make_oracle", "oracle_from_config", "register_oracle"]


@dataclass(frozen=True)
class OracleSession:
    """What an oracle that answers later (a person) gets from the run it serves, through its ``open(session)``.

    An oracle may define ``open(session)`` and ``close()``; :class:`~prefrl.trainer.PreferenceRL` calls them
    around the run. One that sets ``records_render_states = True`` also gets what each step of a segment looked
    like (a pixel game's frames or a physics env's simulator states), so that its clips can be made (see
    :mod:`prefrl.oracles.human.clips`).

    :param store: the run's comparison store: pending queries are read from it, answers written into it.
    :param run_dir: the run folder (clips are kept in its ``clips/``).
    :param env_id: the env that rendered clips show (the training env).
    :param status: the run's progress for a page: ``label_budget``, ``timesteps``, ``true_return``, ...
    """

    store: ComparisonStore
    run_dir: Path
    env_id: str
    status: Callable[[], Mapping[str, Any]]

OracleFactory = Callable[..., Oracle]
F = TypeVar("F", bound=OracleFactory)

ORACLES: dict[str, OracleFactory] = {}
"""Registered oracles: name -> a callable (usually the class) that builds one from keyword arguments."""


def register_oracle(name: str) -> Callable[[F], F]:
    """Class decorator that adds an oracle to :data:`ORACLES` under ``name``.

    Registering a second, different factory under a taken name is an error rather than a silent
    replacement, so two plugins cannot shadow each other unnoticed.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"oracle name={name!r} is not allowed: use a non-empty string such as 'synthetic'.")

    def decorator(factory: F) -> F:
        existing = ORACLES.get(name)
        if existing is not None and existing is not factory:
            raise ValueError(
                f"oracle name={name!r} is already registered to {existing!r}; choose another name."
            )
        ORACLES[name] = factory
        return factory

    return decorator


def make_oracle(name: str, **kwargs: Any) -> Oracle:
    """Build the oracle registered as ``name``; ``kwargs`` go to its factory."""
    return _factory(name)(**kwargs)


def oracle_from_config(name: str, config: TrainConfig) -> Oracle:
    """Build the oracle registered as ``name`` for a run: its factory's ``from_train_config(config)``.

    Each oracle picks the options it needs (the synthetic one its noise model and the run's seed, the human
    one its page's address), so the trainer does not need to know any of them.
    """
    factory = _factory(name)
    builder = getattr(factory, "from_train_config", None)
    if builder is None:
        raise TypeError(
            f"oracle {name!r} ({factory!r}) has no from_train_config(config) classmethod, so a run cannot build it "
            "from its config; add one, or pass an instance: PreferenceRL(config, oracle=...)."
        )
    return builder(config)


def _factory(name: str) -> OracleFactory:
    try:
        return ORACLES[name]
    except KeyError:
        allowed = ", ".join(repr(key) for key in sorted(ORACLES)) or "(none registered)"
        raise ValueError(
            f"oracle={name!r} is not a registered oracle; use one of {allowed}, "
            "or register your own with @prefrl.oracles.register_oracle(name)."
        ) from None
