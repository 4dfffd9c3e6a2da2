"""The reward ensemble on pixels: shapes for stacked and unstacked frames, members independent in one op,
batch norm and dropout only while fitting, and a fit that learns a pixel reward."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces

from prefrl.config import RewardConfig
from prefrl.reward.cnn import PAPER_LAYERS, SMALL_LAYERS, ByteDropout, conv_layers_for
from prefrl.reward.nets import RewardEnsemble
from prefrl.reward.trainer import RewardTrainer
from prefrl.types import Label, Segment

SPACES = {
    "minatar": spaces.Box(0, 1, (10, 10, 4), bool),  # one frame, object channels last
    "atari stacked, channels last": spaces.Box(0, 255, (84, 84, 4), np.uint8),  # VecFrameStack
    "atari stacked, channels first": spaces.Box(0, 255, (4, 84, 84), np.uint8),  # VecTransposeImage
    "atari one frame": spaces.Box(0, 255, (84, 84, 1), np.uint8),
}


def frames(space: spaces.Box, lead: tuple[int, ...], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    high = 2 if space.dtype == np.bool_ else 256
    return rng.integers(0, high, size=(*lead, *space.shape)).astype(space.dtype)


@pytest.mark.parametrize("name", list(SPACES))
def test_shapes_for_stacked_and_unstacked_frames(name: str) -> None:
    space = SPACES[name]
    model = RewardEnsemble(space, spaces.Discrete(3), ensemble_size=3, hidden_sizes=(64,))
    assert model.trunk is not None and not model.training
    side = 8 if name == "minatar" else 7  # MinAtar: 10 -> 8 (one 3×3 layer); Atari: 84 -> 26 -> 11 -> 9 -> 7
    assert model.trunk.out_features == 16 * side * side
    obs, actions = frames(space, (2, 5)), np.random.default_rng(1).integers(0, 3, (2, 5))
    assert model(torch.as_tensor(obs), torch.as_tensor(actions)).shape == (3, 2, 5)  # (N, *lead)
    assert model.predict(obs, actions).shape == (2, 5)
    assert model.features(torch.as_tensor(obs[0]), torch.as_tensor(actions[0])).shape == (5, 3)  # the action only


def test_the_paper_stack_where_it_fits_else_the_small_one() -> None:
    assert conv_layers_for(84, 84) == PAPER_LAYERS
    assert conv_layers_for(43, 50) == PAPER_LAYERS  # the smallest input the paper's stack leaves 1×1 of
    assert conv_layers_for(42, 84) == SMALL_LAYERS == conv_layers_for(10, 10)
    with pytest.raises(ValueError, match="2×2 pixels is too small.*FlattenObservation"):
        conv_layers_for(2, 2)


def test_members_are_independent_in_one_batched_op() -> None:
    space = SPACES["minatar"]
    model = RewardEnsemble(space, spaces.Discrete(3), ensemble_size=3, hidden_sizes=(8,))
    obs, actions = torch.as_tensor(frames(space, (6,))), torch.zeros(6, dtype=torch.long)
    before = model(obs, actions)
    with torch.no_grad():
        model.trunk.layers[0].weight[16:32] += 1.0  # member 1's filters of the shared first convolution
        model.trunk.layers[1].running_mean[16:32] += 1.0  # and its batch-norm statistics
    after = model(obs, actions)
    assert torch.equal(before[0], after[0]) and torch.equal(before[2], after[2])
    assert not torch.allclose(before[1], after[1])


def test_byte_dropout_drops_a_share_p_and_keeps_the_expected_value() -> None:
    torch.manual_seed(0)
    maps = torch.full((200, 48, 8, 8), 3.0)
    dropout = ByteDropout(0.5)
    out = dropout(maps)
    dropped = (out == 0).float().mean().item()
    assert dropped == pytest.approx(0.5, abs=0.005)  # 614,400 units: the share is within 0.005 of p
    assert set(out.unique().tolist()) == {0.0, 6.0}  # kept units scaled by 1 / (1 - p)
    assert out.mean().item() == pytest.approx(3.0, rel=0.01)
    quarter = ByteDropout(0.25)(maps)
    assert (quarter == 0).float().mean().item() == pytest.approx(0.25, abs=0.005)
    assert quarter.max().item() == pytest.approx(4.0)
    assert torch.equal(dropout.eval()(maps), maps)  # eval mode: the identity
    with pytest.raises(ValueError, match=r"dropout probability 1.0 must be in \[0, 1\)"):
        ByteDropout(1.0)


def test_predict_uses_running_statistics_and_no_dropout() -> None:
    space = SPACES["minatar"]
    model = RewardEnsemble(space, spaces.Discrete(3), ensemble_size=2, hidden_sizes=(8,))
    obs, actions = frames(space, (4,)), np.zeros(4, dtype=np.int64)
    first = model.predict(obs, actions)
    np.testing.assert_array_equal(first, model.predict(obs, actions))  # eval mode: deterministic
    # and independent of the batch (up to float rounding: BLAS sums in another order for another batch size)
    np.testing.assert_allclose(first[:1], model.predict(obs[:1], actions[:1]), rtol=1e-5, atol=1e-6)
    model.train()
    assert not torch.equal(model(torch.as_tensor(obs), torch.as_tensor(actions)),
                           model(torch.as_tensor(obs), torch.as_tensor(actions)))  # dropout while training


def test_fit_learns_a_pixel_reward_and_leaves_eval_mode() -> None:
    """True reward: how many pixels of the first channel are lit (bricks left, say); the second is a distractor."""
    space = SPACES["minatar"]
    rng = np.random.default_rng(0)

    def clip() -> Segment:
        obs = rng.random((10, *space.shape)) < 0.1
        obs[..., 0] = rng.random((10, 10, 10)) < rng.uniform(0.0, 0.3)  # clips differ in how much channel 0 is lit
        return Segment(obs, rng.integers(0, 3, 10), obs[..., 0].sum((1, 2)).astype(float))

    class Pair:
        def __init__(self, index: int) -> None:
            self.id, self.left, self.right = index, clip(), clip()
            self.label = Label.LEFT if self.left.true_return > self.right.true_return else Label.RIGHT

    comparisons = [pair for pair in map(Pair, range(1, 200)) if pair.left.true_return != pair.right.true_return]
    model = RewardEnsemble(space, spaces.Discrete(3), ensemble_size=2, hidden_sizes=(64,),
                           generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)  # dropout
    metrics = RewardTrainer(model, RewardConfig(max_epochs=10, batch_size=32), rng=0).fit(comparisons)
    assert not model.training
    assert metrics.val_accuracy >= 0.8


@pytest.mark.parametrize("name", list(SPACES))
def test_numpy_predict_matches_torch_and_follows_fits(name: str) -> None:
    """The NumPy trunk (batch norm folded into the convolutions) pays PPO what the torch graph computes."""
    space = SPACES[name]
    model = RewardEnsemble(space, spaces.Discrete(3), ensemble_size=3, hidden_sizes=(16,),
                           generator=torch.Generator().manual_seed(0))
    obs, actions = frames(space, (2, 4)), np.random.default_rng(1).integers(0, 3, (2, 4))
    np.testing.assert_allclose(model.predict(obs, actions), model.torch_predict(obs, actions), rtol=1e-4, atol=1e-4)
    flat = obs.reshape(-1, *space.shape)  # the NumPy trunk, for every size (predict uses it for small ones only)
    np.testing.assert_allclose(model.trunk.numpy_copy()(flat), model.trunk(torch.as_tensor(flat)).detach().numpy(),
                               rtol=1e-4, atol=1e-4)
    model.train()  # as a fit does: batch statistics move the running ones; then some weights move
    model(torch.as_tensor(frames(space, (16,), seed=2)), torch.zeros(16, dtype=torch.long))
    model.eval()
    with torch.no_grad():
        model.trunk.layers[0].weight.mul_(1.5)
        model.trunk.layers[1].bias.add_(0.3)
    np.testing.assert_allclose(model.predict(obs, actions), model.torch_predict(obs, actions), rtol=1e-4, atol=1e-4)


def test_per_step_inference_runs_in_numpy_for_small_trunks_and_in_torch_for_large_ones() -> None:
    small = RewardEnsemble(SPACES["minatar"], spaces.Discrete(3))
    large = RewardEnsemble(SPACES["atari stacked, channels first"], spaces.Discrete(3))
    # members × filters × output pixels × (input channels × kernel area), summed over the layers
    assert small.trunk.multiply_adds == 3 * 16 * 8 * 8 * 4 * 9 == 110_592
    assert large.trunk.multiply_adds == 3 * 16 * (26 * 26 * 4 * 49 + 11 * 11 * 16 * 25 + 9 * 9 * 16 * 9 + 7 * 7 * 16 * 9)
    assert small._numpy_inference and not large._numpy_inference


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_inference_on_a_gpu_follows_the_weights_on_the_cpu() -> None:
    from prefrl.reward.slices import member_rewards

    space = SPACES["atari stacked, channels first"]
    model = RewardEnsemble(space, spaces.Discrete(3), generator=torch.Generator().manual_seed(0))
    obs, actions = frames(space, (2, 4)), np.random.default_rng(1).integers(0, 3, (2, 4))
    on_cpu = model.predict(obs, actions)
    model.place_inference("cuda")
    np.testing.assert_allclose(model.predict(obs, actions), on_cpu, rtol=1e-2, atol=1e-2)  # TF32 convolutions
    with torch.no_grad():
        model.trunk.layers[0].weight.mul_(1.5)  # a fit lands on the CPU model
        model.biases[-1].add_(1.0)  # every member's output moves up by 1
    moved = model.predict(obs, actions)
    scored = member_rewards(model, obs, actions)
    assert scored.device.type == "cpu" and not model.trunk.layers[0].weight.is_cuda
    model.place_inference("cpu")
    np.testing.assert_allclose(moved, model.predict(obs, actions), rtol=1e-2, atol=1e-2)
    np.testing.assert_allclose(scored.numpy(), model.member_predict(obs, actions), rtol=1e-2, atol=1e-2)
    assert np.all(moved > on_cpu + 0.9)
