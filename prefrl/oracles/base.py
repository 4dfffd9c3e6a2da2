"""The oracle swap point: the :class:`~prefrl.types.Oracle` protocol and a name -> factory registry.

The CLI's ``--oracle`` choices, its help text and the error for an unknown name all read
:data:`ORACLES`, so a new oracle is one decorated class and no list of names is typed twice.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from prefrl.types import Oracle

__all__ = ["ORACLES", "Oracle", "make_oracle", "register_oracle"]

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
    try:
        factory = ORACLES[name]
    except KeyError:
        allowed = ", ".join(repr(key) for key in sorted(ORACLES)) or "(none registered)"
        raise ValueError(
            f"oracle={name!r} is not a registered oracle; use one of {allowed}, "
            "or register your own with @prefrl.oracles.register_oracle(name)."
        ) from None
    return factory(**kwargs)
