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


def _scored(batch: StepBatch, members: np.ndarray, version: tuple[int, ...]) -> StepBatch:
    return StepBatch(batch.obs, batch.actions, batch.true_rewards, batch.dones, 0, None, members, version)


def test_segments_carry_the_member_returns_of_the_weights_that_scored_them():
    # One env, 2 members; member m's reward of step t is t + 100·m, so a segment's returns name its steps.
    def members(steps: range) -> np.ndarray:
        return np.array([[[t, t + 100]] for t in steps], dtype=np.float32)  # (T, 1 env, 2 members)

    cutter = SegmentCutter(n_envs=1, length=4)
    no_dones = np.zeros((6, 1), dtype=bool)
    first = cutter.add(_scored(steps_with_episode_ids(no_dones), members(range(0, 6)), (1,)))
    assert len(first) == 1 and first[0].member_returns is not None
    assert first[0].member_returns.weights_version == (1,)
    assert first[0].member_returns.returns.tolist() == [0 + 1 + 2 + 3, 400 + 6]
    # Steps 4, 5 are carried; the same weights scored steps 6, 7: the spanning segment keeps its returns.
    second = cutter.add(_scored(steps_with_episode_ids(np.zeros((6, 1), dtype=bool), start=6), members(range(6, 12)), (1,)))
    assert [s.member_returns.returns.tolist() for s in second] == [[4 + 5 + 6 + 7, 422], [8 + 9 + 10 + 11, 438]]
    # Steps 12.. are scored by new weights and 2 steps are carried over from the old ones: that segment has none.
    cutter.add(_scored(steps_with_episode_ids(np.zeros((2, 1), dtype=bool), start=12), members(range(12, 14)), (1,)))
    third = cutter.add(_scored(steps_with_episode_ids(np.zeros((6, 1), dtype=bool), start=14), members(range(14, 20)), (2,)))
    assert third[0].obs[:, 1].tolist() == [12, 13, 14, 15] and third[0].member_returns is None
    assert third[1].member_returns.weights_version == (2,)
    assert third[1].member_returns.returns.tolist() == [16 + 17 + 18 + 19, 470]
    # Steps without member rewards (a plain reward function) give segments without them.
    plain = cutter.add(steps_with_episode_ids(np.zeros((8, 1), dtype=bool), start=20))
    assert plain and all(s.member_returns is None for s in plain)
