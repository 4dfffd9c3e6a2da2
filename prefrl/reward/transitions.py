"""What the reward net reads of a step when it also sees the step's outcome: r̂(o, a, o').

A game's reward is an event at a transition: a brick breaks, an alien is hit, the ball is lost and the game
starts over. The observation before the action shows only that the event may come; the one after shows that it
came. Read together, the reward becomes a difference between two frames (MinAtar Breakout's is the bricks that
went missing) instead of a forecast from where the ball is heading, and a game reset underneath the agent is on
screen in o' rather than nowhere (README, "Rewards at transitions").

Three ways to read a step (``RewardConfig.next_obs``):

- ``"joined"``: o and o' side by side, along an image's channel axis or end to end for a flat vector. A frame
  stack takes only the newest frame of o' (its other frames are o's own), so a clip's joined stacks still slide by
  one frame a step and are stored once each (``prefrl.frames``). The net keeps its kind (a CNN for images).
- ``"change"``: only o' − o, flattened, for an MLP. What did not change is not there to read, so the net cannot
  pay for where the agent is rather than for what happened: from 1000 noise-free MinAtar Breakout labels its
  per-step correlation with the true reward was 0.71, against 0.59 joined and 0.27 for o alone. Meant for
  vectors and small grids (an 84×84 stack flattens into 28k inputs), and for rewards that are events: a reward
  for a state held (a pole kept upright) does not show in what changed.
- ``"events"``: an image's o' − o, kept in its shape and read by local convolutions summed over positions
  (``prefrl.reward.events``): an event pays the same wherever on the screen it happens, where the MLP of
  ``"change"`` learns a weight per position and pays for the positions the labelled clips visited.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
from gymnasium import spaces

from prefrl.config import NEXT_OBS_MODES
from prefrl.images import ImageLayout, image_layout


@dataclass(frozen=True)
class TransitionLayout:
    """How ``(o, o')`` of one observation space becomes the reward net's input.

    :param observation_space: the env's observation space (a ``Box``).
    :param change: read o' − o instead of o and o' joined.
    :param on_grid: keep the change in the image's shape (``"events"``) rather than flatten it.
    :param axis: the axis of the joined arrays (counted from the end) along which o' is appended.
    :param newest_frame_only: append only o''s last frame on that axis (a frame stack), not all of o'.
    """

    observation_space: spaces.Box
    change: bool
    on_grid: bool = False
    axis: int = -1
    newest_frame_only: bool = False

    @classmethod
    def for_space(cls, space: spaces.Space, mode: str) -> TransitionLayout:
        """The input of ``mode`` (``"joined"``, ``"change"`` or ``"events"``) for ``space``; a clear error where it
        has none."""
        if mode not in NEXT_OBS_MODES[1:]:
            raise ValueError(
                f"next_obs={mode!r}: a transition is read 'joined', as a 'change' or as 'events' ('none' reads o alone)."
            )
        if mode in ("change", "events"):
            if not isinstance(space, spaces.Box):
                raise ValueError(f"next_obs={mode!r} reads o' − o of a Box; the observation space {space} is none.")
            if mode == "events" and image_layout(space) is None:
                raise ValueError(
                    f"next_obs='events' reads an image's o' − o as local events; the observation space {space} is no "
                    "image (prefrl.images). Use 'change' for a vector."
                )
            return cls(space, change=True, on_grid=mode == "events")
        if not isinstance(space, spaces.Box) or len(space.shape) not in (1, 3):
            raise ValueError(
                f"next_obs='joined' joins o and o' along a flat vector's or an image's channel axis; the observation "
                f"space {space} has neither. Flatten it (gymnasium.wrappers.FlattenObservation) or use 'change'."
            )
        layout = image_layout(space)
        if layout is None:
            return cls(space, change=False)
        # uint8 channels first is a frame stack, as prefrl.frames reads it (gymnasium's stack puts frames first).
        frame_stack = layout.channels_first and space.dtype == np.uint8
        return cls(space, change=False, axis=-3 if layout.channels_first else -1, newest_frame_only=frame_stack)

    @property
    def space(self) -> spaces.Box:
        """The input's space, one step's."""
        low, high = self.observation_space.low, self.observation_space.high
        if self.change:
            width = high.astype(self.change_dtype) - low.astype(self.change_dtype)
            width = width if self.on_grid else width.reshape(-1)
            return spaces.Box(-width, width, dtype=self.change_dtype)
        return spaces.Box(self.inputs(low, low), self.inputs(high, high), dtype=self.observation_space.dtype)

    @cached_property
    def change_dtype(self) -> np.dtype:
        """What a change is stored as: the smallest signed type that holds it for pixels (MinAtar's bool grids
        change by -1, 0 or 1; uint8 frames by up to ±255), so clips stay as small in memory and in the store as
        their frames; float32 for anything else. Cached: the wrapper reads it at every env step."""
        dtype = np.dtype(self.observation_space.dtype)
        return np.dtype({np.dtype(bool): np.int8, np.dtype(np.uint8): np.int16}.get(dtype, np.float32))

    def image_layout(self) -> ImageLayout | None:
        """The input's image layout, from the observation's: a change on the grid keeps it, a flat one has none;
        joined images have more channels where they were (guessing the channel axis from the joined shape could
        flip it: MinAtar's 10×10×6 joins into 10×10×12)."""
        layout = image_layout(self.observation_space)
        if layout is None or self.on_grid:
            return layout
        return None if self.change else replace(layout, channels=self.space.shape[self.axis])

    def inputs(self, obs: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
        """What the net reads of steps whose ``obs`` and ``next_obs`` are ``(*lead, *obs_shape)``: ``(*lead, *input_shape)``."""
        obs, next_obs = np.asarray(obs), np.asarray(next_obs)
        if obs.shape != next_obs.shape:
            raise ValueError(f"o has shape {obs.shape} and o' {next_obs.shape}; a transition reads two of one shape.")
        if self.change:
            change = next_obs.astype(self.change_dtype) - obs.astype(self.change_dtype)
            lead = obs.shape[: obs.ndim - len(self.observation_space.shape)]
            return change if self.on_grid else change.reshape(*lead, -1)
        appended = np.take(next_obs, [next_obs.shape[self.axis] - 1], axis=self.axis) if self.newest_frame_only else next_obs
        return np.concatenate([obs, appended], axis=self.axis)
