"""A ranking of K items as the C(K,2) pairwise preferences it implies (InstructGPT, Ouyang et al. 2022, §3.5).

One ranking is worth more than K/2 separate comparisons: a person who orders K clips (or K responses to one
prompt) has answered every pair among them. The labelling page's ranking mode and the language-model data
both turn rankings into pairs here, so the two cannot disagree about which pair means what.
"""

from __future__ import annotations

import itertools
from typing import Hashable, Sequence, TypeVar

__all__ = ["ranking_pairs"]

T = TypeVar("T", bound=Hashable)


def ranking_pairs(ranked: Sequence[T]) -> list[tuple[T, T]]:
    """Every ``(better, worse)`` pair of a ranking given best first: ``ranked[i]`` beats ``ranked[j]`` for i < j.

    :raises ValueError: fewer than two items, or an item listed twice (a ranking orders distinct items).
    """
    if isinstance(ranked, (str, bytes)) or len(ranked) < 2:
        raise ValueError(f"ranked={ranked!r} is not a ranking; pass a sequence of 2 or more items, best first.")
    seen: set[T] = set()
    for item in ranked:
        if item in seen:
            raise ValueError(
                f"ranked lists {item!r} more than once; a ranking orders distinct items (merge ties first)."
            )
        seen.add(item)
    return list(itertools.combinations(ranked, 2))
