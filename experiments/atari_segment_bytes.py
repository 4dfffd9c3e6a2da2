"""Bytes a 25-step Pong segment takes in the segment buffer and in the comparison store, random play.

Method: a random policy plays the fixed-horizon Pong a preference run trains in (score masked) for 1000 steps; the
steps are cut into 40 segments as a run cuts them. In memory, each segment's observations are counted by the bytes
of the array they live in (frame stacks share their frames: ``prefrl.frames``). On disk, the store's mean bytes
per segment is compared with what schema 3 wrote for the same segments: the zlib-compressed .npy of every stack.

    python experiments/atari_segment_bytes.py
"""

from __future__ import annotations

import io
import tempfile
import zlib
from pathlib import Path

import numpy as np

from prefrl.envs import make_vec
from prefrl.presets import load_preset
from prefrl.segments import SegmentCutter, StepBatch
from prefrl.store import ComparisonStore
from prefrl.types import Segment

STEPS, LENGTH = 1000, 25


def held_bytes(array: np.ndarray) -> int:
    """Bytes of the memory an array (or the array it is a view of) owns."""
    while array.base is not None:
        array = array.base
    return array.nbytes


def schema3_bytes(segment: Segment) -> int:
    """What schema 3 stored: frames as a marker plus zlib of their .npy, actions and rewards as plain .npy."""
    def npy(array: np.ndarray) -> bytes:
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        return buffer.getvalue()

    return len(b"prefrl-zlib:") + len(zlib.compress(npy(segment.obs))) + len(npy(segment.actions)) + len(
        npy(segment.true_rewards)
    )


def main() -> None:
    preset = load_preset("PongNoFrameskip-v4")
    venv = make_vec(preset.train_env_id, 1, 0, preset.score_boxes)
    rng = np.random.default_rng(0)
    obs = venv.reset()
    rows = []
    for _ in range(STEPS):
        actions = rng.integers(0, venv.action_space.n, 1)
        next_obs, rewards, dones, _ = venv.step(actions)
        rows.append((obs, actions, rewards, dones))
        obs = next_obs
    segments = SegmentCutter(1, LENGTH).add(StepBatch(*(np.stack(column) for column in zip(*rows))))
    raw = segments[0].obs.nbytes
    in_buffer = np.mean([held_bytes(segment.obs) for segment in segments])
    schema3 = np.mean([schema3_bytes(segment) for segment in segments])
    with tempfile.TemporaryDirectory() as folder, ComparisonStore(Path(folder) / "store.sqlite") as store:
        store.add_queries(list(zip(segments[::2], segments[1::2])), oracle="synthetic", timestep=0)
        stored = store.bytes_per_segment()
    print(f"segments={len(segments)} raw_obs_bytes={raw} buffer_obs_bytes={in_buffer:.0f} "
          f"(x{in_buffer / raw:.3f}) store_schema3_bytes={schema3:.0f} store_bytes={stored:.0f} (x{stored / schema3:.3f})")


if __name__ == "__main__":
    main()
