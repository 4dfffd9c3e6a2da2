"""The trunk that reads what a step changed on a grid: local events summed over positions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces

from prefrl.config import RewardConfig
from prefrl.images import ImageLayout
from prefrl.reward.events import EventTrunk
from prefrl.reward.nets import RewardEnsemble
from prefrl.reward.trainer import RewardTrainer
from prefrl.types import Label, Segment

GRID = spaces.Box(0, 1, (10, 10, 4), dtype=bool)  # MinAtar Breakout: 4 object channels, last


def unit_trunk() -> EventTrunk:
    """One member, one filter, one channel: a 3×3 kernel of ones, then ×2."""
    trunk = EventTrunk(ImageLayout(False, 1, 10, 10, 1.0), ensemble_size=1, filters=1)
    with torch.no_grad():
        trunk.local_weight.fill_(1.0)
        trunk.mix_weight.fill_(2.0)
    return trunk


def read(trunk: EventTrunk, *pixels: tuple[int, int, float]) -> float:
    change = torch.zeros((1, 10, 10, 1))
    for row, column, value in pixels:
        change[0, row, column, 0] = value
    return float(trunk(change).detach()[0, 0, 0])


def test_hand_computed_events_the_same_at_the_border_and_in_the_middle() -> None:
    trunk = unit_trunk()
    assert read(trunk) == 0.0  # nothing changed: nothing to read
    # +1 lies in 9 windows of the full convolution, each 1 -> leaky 1 -> ×2 = 2: 18, in a corner too.
    assert read(trunk, (5, 5, 1.0)) == pytest.approx(18.0)
    assert read(trunk, (0, 0, 1.0)) == pytest.approx(18.0)
    # -1: each window -1 -> leaky -0.01 -> ×2 -0.02 -> leaky -0.0002; 9 of them.
    assert read(trunk, (9, 0, -1.0)) == pytest.approx(-0.0018)
    # Two events apart add up.
    assert read(trunk, (0, 0, 1.0), (9, 9, 1.0)) == pytest.approx(36.0)
    # Something moved one pixel right: the 6 windows holding both read 0, the 3 holding only the new place 2 each,
    # the 3 holding only the old one -0.0002 each.
    assert read(trunk, (5, 5, -1.0), (5, 6, 1.0)) == pytest.approx(6 * 0.0 + 3 * 2.0 + 3 * -0.0002)


def test_the_ensemble_pays_an_event_the_same_wherever_it_happens() -> None:
    model = RewardEnsemble.from_config(GRID, spaces.Discrete(3), RewardConfig(next_obs="events"),
                                       generator=torch.Generator().manual_seed(0))
    obs = np.zeros((3, 10, 10, 4), dtype=bool)
    obs[0, 0, 0, 3] = obs[1, 4, 7, 3] = obs[2, 9, 9, 3] = True  # a brick in a corner, in the middle, in the other corner
    paid = model.predict(model.transitions.inputs(obs, np.zeros_like(obs)), np.ones(3, dtype=np.int64))
    assert paid == pytest.approx(np.full(3, paid[0]), abs=1e-5)
    unchanged = model.predict(model.transitions.inputs(obs, obs), np.ones(3, dtype=np.int64))
    assert abs(unchanged[0] - paid[0]) > 1e-3  # and the event is read at all


@pytest.mark.parametrize("layout", [ImageLayout(False, 4, 10, 10, 1.0), ImageLayout(True, 2, 12, 9, 1 / 255)])
def test_the_numpy_copy_computes_what_torch_does(layout: ImageLayout) -> None:
    trunk = EventTrunk(layout, ensemble_size=3, generator=torch.Generator().manual_seed(1))
    shape = (layout.channels, layout.height, layout.width) if layout.channels_first else (layout.height, layout.width, layout.channels)
    changes = np.random.default_rng(0).integers(-1, 2, (5, *shape)).astype(np.float32) / layout.scale
    expected = trunk(torch.as_tensor(changes)).detach().numpy()
    assert expected.shape == (3, 5, 16)
    np.testing.assert_allclose(trunk.numpy_copy()(changes), expected, rtol=1e-4, atol=1e-4)


def test_fit_learns_to_pay_for_bricks_that_went_missing_and_not_for_a_moving_ball() -> None:
    """True reward: bricks (channel 3) that disappear; the ball (channel 1) moves every step, wherever it is."""
    rng = np.random.default_rng(0)

    def clip() -> Segment:
        obs = np.zeros((11, 10, 10, 4), dtype=bool)
        obs[:, 0:3, :, 3] = True  # three rows of bricks
        for step in range(1, 11):
            obs[step, ..., 3] = obs[step - 1, ..., 3] & (rng.random((10, 10)) > rng.uniform(0, 0.05))
            obs[step, rng.integers(3, 10), rng.integers(0, 10), 1] = True
        change = np.diff(obs.astype(np.float32), axis=0)  # (10, 10, 10, 4): what r̂ reads of each step
        return Segment(change, rng.integers(0, 3, 10), -change[..., 3].sum((1, 2)))

    class Pair:
        def __init__(self, index: int) -> None:
            self.id, self.left, self.right = index, clip(), clip()
            self.label = Label.LEFT if self.left.true_return > self.right.true_return else Label.RIGHT

    comparisons = [pair for pair in map(Pair, range(1, 150)) if pair.left.true_return != pair.right.true_return]
    model = RewardEnsemble(GRID, spaces.Discrete(3), ensemble_size=2, hidden_sizes=(32,), next_obs="events",
                           generator=torch.Generator().manual_seed(0))
    metrics = RewardTrainer(model, RewardConfig(max_epochs=20, batch_size=16), rng=0).fit(comparisons)
    assert metrics.val_accuracy >= 0.9
