"""r̂(o, a, o'): how o and o' are joined, and the reward net that reads the joined input."""

import numpy as np
import pytest
import torch
from gymnasium import spaces

from prefrl.config import RewardConfig
from prefrl.reward.events import EventTrunk
from prefrl.reward.nets import RewardEnsemble
from prefrl.reward.transitions import TransitionLayout

MINATAR_SPACE = spaces.Box(0, 1, (10, 10, 6), dtype=bool)  # Space Invaders: 6 object channels, last


def test_flat_observations_are_joined_end_to_end_with_their_bounds():
    space = spaces.Box(np.array([-1.0, -2.0], dtype=np.float32), np.array([1.0, 2.0], dtype=np.float32))
    layout = TransitionLayout.for_space(space, "joined")
    joined = layout.inputs(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[5.0, 6.0], [7.0, 8.0]]))
    assert joined.tolist() == [[1.0, 2.0, 5.0, 6.0], [3.0, 4.0, 7.0, 8.0]]
    assert layout.space.shape == (4,)
    assert layout.space.low.tolist() == [-1.0, -2.0, -1.0, -2.0] and layout.space.high.tolist() == [1.0, 2.0, 1.0, 2.0]


def test_channels_last_grids_are_joined_on_the_channel_axis_and_keep_their_layout():
    layout = TransitionLayout.for_space(MINATAR_SPACE, "joined")
    obs = np.zeros((3, 10, 10, 6), dtype=bool)
    next_obs = np.zeros((3, 10, 10, 6), dtype=bool)
    obs[1, 2, 3, 4] = True
    next_obs[1, 5, 6, 0] = True
    joined = layout.inputs(obs, next_obs)
    assert joined.shape == (3, 10, 10, 12) and joined.dtype == bool
    assert np.argwhere(joined).tolist() == [[1, 2, 3, 4], [1, 5, 6, 6]]  # o' lands on channels 6-11
    # 10×10×12 alone would read as 12×10 images of 10 channels first; the layout keeps the observation's.
    image = layout.image_layout()
    assert (image.channels_first, image.channels, image.height, image.width) == (False, 12, 10, 10)


def test_a_frame_stack_appends_only_the_newest_frame_of_the_next_stack():
    layout = TransitionLayout.for_space(spaces.Box(0, 255, (4, 84, 84), dtype=np.uint8), "joined")
    frames = np.arange(6, dtype=np.uint8)[:, None, None] * np.ones((1, 84, 84), dtype=np.uint8)  # frame i is all i
    obs, next_obs = frames[0:4][None], frames[1:5][None]
    joined = layout.inputs(obs, next_obs)
    assert joined.shape == (1, 5, 84, 84)
    assert joined[0, :, 0, 0].tolist() == [0, 1, 2, 3, 4]  # one stack of five frames, still sliding by one
    assert layout.space.shape == (5, 84, 84)


def test_a_change_is_the_flat_signed_difference_of_the_two_observations():
    layout = TransitionLayout.for_space(MINATAR_SPACE, "change")
    obs = np.zeros((2, 3, 10, 10, 6), dtype=bool)
    next_obs = obs.copy()
    obs[0, 1, 4, 5, 2] = True  # a brick that went missing
    next_obs[0, 1, 9, 3, 0] = True  # the ball where it arrived
    change = layout.inputs(obs, next_obs)
    assert change.shape == (2, 3, 600) and change.dtype == np.int8  # a bool grid changes by -1, 0 or 1
    assert change[0, 1, (4 * 10 + 5) * 6 + 2] == -1.0 and change[0, 1, (9 * 10 + 3) * 6 + 0] == 1.0
    assert np.abs(change).sum() == 2.0
    assert layout.space.shape == (600,) and layout.space.low.min() == -1.0 and layout.space.high.max() == 1.0
    assert layout.image_layout() is None  # an MLP reads it
    # Read as events, the same change keeps the grid's shape and layout.
    events = TransitionLayout.for_space(MINATAR_SPACE, "events")
    on_grid = events.inputs(obs, next_obs)
    assert on_grid.shape == (2, 3, 10, 10, 6) and on_grid.dtype == np.int8
    assert on_grid[0, 1, 4, 5, 2] == -1.0 and on_grid[0, 1, 9, 3, 0] == 1.0 and np.abs(on_grid).sum() == 2.0
    assert events.space.shape == (10, 10, 6) and events.space.low.min() == -1.0 and events.space.high.max() == 1.0
    image = events.image_layout()  # the observation's: channels last, 6 of them
    assert (image.channels_first, image.channels, image.height, image.width) == (False, 6, 10, 10)


def test_a_change_of_a_flat_observation_is_flat_with_the_width_of_its_bounds():
    space = spaces.Box(np.array([[-1.0, 0.0]], dtype=np.float32), np.array([[1.0, 3.0]], dtype=np.float32))  # (1, 2)
    layout = TransitionLayout.for_space(space, "change")
    change = layout.inputs(np.array([[[0.5, 1.0]]]), np.array([[[0.25, 3.0]]]))
    assert change.tolist() == [[-0.25, 2.0]] and change.dtype == np.float32
    assert layout.space.low.tolist() == [-2.0, -3.0] and layout.space.high.tolist() == [2.0, 3.0]
    assert layout.image_layout() is None


@pytest.mark.parametrize("mode", ["change", "events"])
def test_a_net_reading_changes_pays_the_same_where_nothing_changed(mode):
    model = RewardEnsemble.from_config(MINATAR_SPACE, spaces.Discrete(4), RewardConfig(next_obs=mode))
    if mode == "change":
        assert model.trunk is None and model.in_features == 600 + 4  # an MLP over the change and the one-hot action
    else:
        assert isinstance(model.trunk, EventTrunk) and model.in_features == 4  # the trunk reads the change
    rng = np.random.default_rng(0)
    obs = rng.random((5, 10, 10, 6)) < 0.2
    # Nothing changed: the same input whatever the state, so the same reward.
    paid = model.predict(model.transitions.inputs(obs, obs), np.zeros(5, dtype=np.int64))
    assert paid == pytest.approx(np.full(5, paid[0]), abs=1e-6)


def test_events_are_read_of_images_only():
    with pytest.raises(ValueError, match="next_obs='events' reads an image's o' − o"):
        TransitionLayout.for_space(spaces.Box(-1, 1, (3,)), "events")


@pytest.mark.parametrize("space", [spaces.Discrete(4), spaces.Box(0, 1, (2, 3)), spaces.Dict({"a": spaces.Discrete(2)})])
def test_spaces_without_an_axis_to_join_on_are_refused_by_name(space):
    with pytest.raises(ValueError, match="next_obs='joined' joins o and o'"):
        TransitionLayout.for_space(space, "joined")


def test_joining_observations_of_different_shapes_is_an_error():
    layout = TransitionLayout.for_space(spaces.Box(-1, 1, (3,)), "joined")
    with pytest.raises(ValueError, match="shape"):
        layout.inputs(np.zeros((2, 3)), np.zeros((1, 3)))


@pytest.mark.parametrize("space", [MINATAR_SPACE, spaces.Box(-1, 1, (3,), dtype=np.float32)])
def test_the_net_reads_joined_inputs_and_its_fast_path_matches_torch(space):
    model = RewardEnsemble.from_config(
        space, spaces.Discrete(4), RewardConfig(next_obs="joined"), generator=torch.Generator().manual_seed(0)
    )
    assert model.transitions is not None and model.input_space.shape == model.transitions.space.shape
    rng = np.random.default_rng(0)
    obs = rng.random((2, 5, *space.shape)) < 0.3 if space.dtype == bool else rng.normal(size=(2, 5, 3)).astype(np.float32)
    next_obs = np.roll(obs, 1, axis=1)
    inputs = model.transitions.inputs(obs, next_obs)
    actions = rng.integers(0, 4, size=(2, 5))
    paid = model.predict(inputs, actions)
    assert paid.shape == (2, 5)
    assert paid == pytest.approx(model.torch_predict(inputs, actions), abs=1e-5)
    # o' matters: the same o with another o' is paid differently.
    assert not np.allclose(paid, model.predict(model.transitions.inputs(obs, obs), actions))


def test_a_copy_built_from_the_nets_own_spaces_has_its_shapes():
    """The background fitter and ``RewardEnsemble.load`` rebuild the net from the env's spaces and the config:
    the net must keep the env's observation space, not its joined input's, or the copy would join twice."""
    config = RewardConfig(next_obs="joined")
    model = RewardEnsemble.from_config(MINATAR_SPACE, spaces.Discrete(4), config)
    copy = RewardEnsemble.from_config(model.observation_space, model.action_space, config)
    copy.load_state_dict(model.state_dict())  # raises on any shape mismatch
    assert copy.input_space.shape == (10, 10, 12)
