"""Frame stacks are held with each frame once, in the segment buffer and in the store, and come back bit-exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from prefrl.frames import join_stacks, share_frames, split_stacks
from prefrl.segments import SegmentCutter, StepBatch
from prefrl.store import ComparisonStore
from prefrl.types import Label, Segment

STEPS, DEPTH, SIDE = 25, 4, 84


def stacked(frames: np.ndarray, depth: int = DEPTH) -> np.ndarray:
    """What gymnasium's FrameStackObservation shows over ``frames``: (len - depth + 1, depth, H, W), oldest first."""
    return np.stack([frames[t : t + depth] for t in range(len(frames) - depth + 1)])


def random_frames(rng: np.random.Generator, count: int) -> np.ndarray:
    return rng.integers(0, 256, (count, SIDE, SIDE), dtype=np.uint8)


def stacks_with_a_reset(rng: np.random.Generator) -> np.ndarray:
    """25 stacks in which a game restarts at step 10: its first stack repeats its first frame, as after a reset."""
    before = stacked(random_frames(rng, 10 + DEPTH - 1))  # (10, 4, 84, 84)
    after_frames = random_frames(rng, STEPS - 10)
    padded = np.concatenate([np.repeat(after_frames[:1], DEPTH - 1, axis=0), after_frames])
    return np.concatenate([before, stacked(padded)])  # (25, 4, 84, 84)


def test_split_and_join_are_exact_and_keep_each_frame_once() -> None:
    rng = np.random.default_rng(0)
    obs = stacked(random_frames(rng, STEPS + DEPTH - 1))
    frames, index = split_stacks(obs)
    assert frames.shape == (STEPS + DEPTH - 1, SIDE, SIDE)  # 28 distinct frames, not 100
    joined = join_stacks(frames, index)
    assert joined.dtype == obs.dtype and np.array_equal(joined, obs)
    assert np.shares_memory(joined, frames)  # the rebuilt stacks are a view, not four copies
    reset = stacks_with_a_reset(rng)
    frames, index = split_stacks(reset)
    assert len(frames) == (10 + DEPTH - 1) + (STEPS - 10)  # the repeated first frame of the new game is kept once
    assert np.array_equal(join_stacks(frames, index), reset)


def held_bytes(array: np.ndarray) -> int:
    """Bytes of the memory an array (or the array it is a view of) owns."""
    while array.base is not None:
        array = array.base
    return array.nbytes


def test_buffered_segments_share_their_frames() -> None:
    rng = np.random.default_rng(1)
    obs = stacked(random_frames(rng, STEPS + DEPTH - 1))
    shared = share_frames(obs)
    assert np.array_equal(shared, obs) and not shared.flags.writeable
    assert held_bytes(shared) == (STEPS + DEPTH - 1) * SIDE * SIDE  # 28 frames held, not 100
    assert not np.shares_memory(shared, obs)  # its own frames: the rollout they came from can be freed
    reset = stacks_with_a_reset(rng)
    copy = share_frames(reset)  # not one sliding window: an ordinary copy, equal all the same
    assert np.array_equal(copy, reset) and held_bytes(copy) == reset.nbytes
    # The cutter keeps segments of frame stacks this way.
    steps = StepBatch(obs[:, None], np.zeros((STEPS, 1), np.int64), np.zeros((STEPS, 1)), np.zeros((STEPS, 1), bool))
    (segment,) = SegmentCutter(1, STEPS).add(steps)
    assert np.array_equal(segment.obs, obs) and held_bytes(segment.obs) == held_bytes(shared)


@pytest.mark.parametrize("make_obs", [lambda rng: stacked(random_frames(rng, STEPS + DEPTH - 1)), stacks_with_a_reset])
def test_store_round_trips_frame_stacks_bit_exactly(tmp_path: Path, make_obs) -> None:
    rng = np.random.default_rng(2)
    pair = tuple(
        Segment(make_obs(rng), rng.integers(0, 6, STEPS), rng.normal(size=STEPS).astype(np.float32)) for _ in range(2)
    )
    with ComparisonStore(tmp_path / "store.sqlite") as store:
        (query,) = store.add_queries([pair], oracle="synthetic", timestep=0)
        store.answer(query, Label.LEFT)
        loaded = store.get(query)
        for original, back in ((pair[0], loaded.left), (pair[1], loaded.right)):
            assert back.obs.dtype == np.uint8 and np.array_equal(back.obs, original.obs)
            assert np.array_equal(back.actions, original.actions)
            assert np.array_equal(back.true_rewards, original.true_rewards)
        # Random frames do not compress: what is left of the size is the distinct frames, a bit over 28 of 100.
        assert store.bytes_per_segment() < 0.3 * pair[0].obs.nbytes
