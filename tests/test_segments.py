"""Segments: fixed length, from every env, never across an episode end, carried across rollouts."""

import numpy as np
import pytest

from prefrl.segments import SegmentBuffer, SegmentCutter, StepBatch


def steps_with_episode_ids(dones: np.ndarray, start: int = 0) -> StepBatch:
    """Steps whose observation is (episode id, step index) so a test can see where a segment came from."""
    T, E = dones.shape
    obs = np.zeros((T, E, 2), dtype=np.float32)
    episode = np.zeros(E, dtype=int)
    for t in range(T):
        obs[t, :, 0] = episode
        obs[t, :, 1] = start + t
        episode = episode + dones[t]
    return StepBatch(obs, np.zeros((T, E), dtype=np.int64), np.ones((T, E)), dones, 0)


def test_segments_never_cross_episode_ends():
    rng = np.random.default_rng(0)
    dones = rng.random((200, 4)) < 0.08
    cutter = SegmentCutter(n_envs=4, length=5)
    segments = cutter.add(steps_with_episode_ids(dones))
    assert segments
    for seg in segments:
        assert seg.length == 5
        assert len(set(seg.obs[:, 0].tolist())) == 1, "a segment mixes two episodes"
        assert np.all(np.diff(seg.obs[:, 1]) == 1), "a segment skips steps"
    assert {s.env_index for s in segments} == {0, 1, 2, 3}


def test_short_episodes_give_no_segment_and_tail_is_carried_to_next_rollout():
    cutter = SegmentCutter(n_envs=1, length=4)
    dones = np.zeros((6, 1), dtype=bool)
    dones[2, 0] = True  # episode of 3 steps: too short for a segment
    first = cutter.add(steps_with_episode_ids(dones))
    assert first == []  # steps 3..5 (3 steps) are carried
    second = cutter.add(steps_with_episode_ids(np.zeros((3, 1), dtype=bool), start=6))
    assert len(second) == 1
    assert second[0].obs[:, 1].tolist() == [3, 4, 5, 6]  # spans the two rollouts, same episode


def test_cutter_checks_env_count():
    with pytest.raises(ValueError, match="envs"):
        SegmentCutter(n_envs=2, length=3).add(steps_with_episode_ids(np.zeros((5, 3), dtype=bool)))


def test_buffer_is_bounded_and_keeps_the_newest():
    from tests.conftest import make_segment

    buffer = SegmentBuffer(capacity=3)
    buffer.extend(make_segment([float(i)] * 2) for i in range(5))
    assert len(buffer) == 3
    assert [s.true_rewards[0] for s in buffer.snapshot()] == [2.0, 3.0, 4.0]
