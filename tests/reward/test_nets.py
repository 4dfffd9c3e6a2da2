"""The reward ensemble: shapes, encodings, clear errors for unsupported spaces, normalization."""

import warnings

import numpy as np
import pytest
import torch
from gymnasium import spaces

from prefrl.config import RewardConfig
from prefrl.reward.nets import RewardEnsemble
from prefrl.reward.normalize import renormalize_output, standardization, zero_mean_unit_std


def test_discrete_actions_are_one_hot_and_members_differ():
    model = RewardEnsemble(spaces.Box(-1, 1, (4,)), spaces.Discrete(3), ensemble_size=3, hidden_sizes=(8,))
    features = model.features(torch.zeros(2, 4), torch.tensor([0, 2]))
    assert features.shape == (2, 7)
    assert features[:, 4:].tolist() == [[1, 0, 0], [0, 0, 1]]
    out = model(torch.randn(5, 6, 4), torch.randint(0, 3, (5, 6)))
    assert out.shape == (3, 5, 6)
    assert not torch.allclose(out[0], out[1])


def test_observation_only_net_ignores_the_action_on_both_paths():
    config = RewardConfig(ensemble_size=2, hidden_sizes=(8,), use_actions=False)
    model = RewardEnsemble.from_config(spaces.Box(-1, 1, (4,)), spaces.Discrete(3), config)
    assert model.in_features == 4 and model.weights[0].shape == (2, 4, 8)
    obs = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    left, right = np.zeros(6, dtype=np.int64), np.full(6, 2)
    np.testing.assert_array_equal(model.predict(obs, left), model.predict(obs, right))
    np.testing.assert_allclose(model.predict(obs, left), model.torch_predict(obs, right), atol=1e-6)
    with_actions = RewardEnsemble.from_config(spaces.Box(-1, 1, (4,)), spaces.Discrete(3), RewardConfig())
    assert with_actions.in_features == 7
    assert not np.allclose(with_actions.predict(obs, left), with_actions.predict(obs, right))


def test_load_builds_the_net_the_run_config_describes(tmp_path):
    import json

    from prefrl.config import to_dict
    from prefrl.trainer import train_config

    obs_space, act_space = spaces.Box(-1, 1, (4,)), spaces.Discrete(2)
    config = train_config("CartPole-v1", out=str(tmp_path))  # its preset fits r̂(o)
    with pytest.raises(FileNotFoundError, match="no saved reward net"):
        RewardEnsemble.load(tmp_path, obs_space, act_space)
    saved = RewardEnsemble.from_config(obs_space, act_space, config.reward, generator=torch.Generator().manual_seed(3))
    torch.save(saved.state_dict(), tmp_path / "reward_net.pt")
    (tmp_path / "config.json").write_text(json.dumps({"kind": "train", "config": to_dict(config)}))
    loaded = RewardEnsemble.load(tmp_path, obs_space, act_space)
    assert loaded.use_actions is False and loaded.in_features == 4
    obs = np.random.default_rng(1).normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(obs, np.zeros(5, dtype=np.int64)), saved.predict(obs, np.zeros(5, dtype=np.int64)))


def test_box_actions_are_clipped_to_bounds():
    model = RewardEnsemble(spaces.Box(-1, 1, (2,)), spaces.Box(-2.0, 2.0, (1,)), ensemble_size=2)
    a = model(torch.zeros(1, 2), torch.tensor([[2.0]]))
    b = model(torch.zeros(1, 2), torch.tensor([[50.0]]))
    assert torch.allclose(a, b)


def test_ensemble_is_one_batched_op_equal_to_member_by_member():
    model = RewardEnsemble(spaces.Box(-1, 1, (3,)), spaces.Discrete(2), ensemble_size=2, hidden_sizes=(5, 4))
    x = model.features(torch.randn(7, 3), torch.randint(0, 2, (7,)))
    batched = model.member_rewards(x)
    for m in range(2):
        h = x
        for layer in range(3):
            h = h @ model.weights[layer][m] + model.biases[layer][m]
            if layer < 2:
                h = torch.nn.functional.leaky_relu(h, 0.01)
        assert torch.allclose(batched[m], h.squeeze(-1), atol=1e-6)


@pytest.mark.parametrize(
    "obs_space, act_space, role",
    [
        (spaces.Dict({"a": spaces.Box(-1, 1, (2,))}), spaces.Discrete(2), "observation"),
        (spaces.Box(-1, 1, (2,)), spaces.MultiBinary(3), "action"),
    ],
)
def test_unsupported_space_names_the_space(obs_space, act_space, role):
    with pytest.raises(TypeError, match=f"{role} space .*not supported"):
        RewardEnsemble(obs_space, act_space)


def test_standardization_and_output_normalization():
    values = torch.tensor([[1.0, 5.0], [3.0, 5.0]])
    mean, std = standardization(values)
    assert mean.tolist() == [2.0, 5.0]
    assert std.tolist() == [1.0, 1.0]  # second column is constant: kept at 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no columns (frames to a trunk, no action): nothing to divide, no warning
        mean, std = standardization(torch.zeros((4, 0)))
    assert mean.shape == std.shape == (0,)
    shift, scale = zero_mean_unit_std(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    assert shift.item() == 2.5 and scale.item() == pytest.approx(1.1180339887)

    model = RewardEnsemble(spaces.Box(-1, 1, (3,)), spaces.Discrete(2))
    rng = np.random.default_rng(0)
    obs, actions = rng.normal(size=(10, 20, 3)).astype(np.float32), rng.integers(0, 2, size=(10, 20))
    renormalize_output(model, obs, actions)
    rewards = model.predict(obs, actions)
    assert rewards.shape == (10, 20)
    assert rewards.mean() == pytest.approx(0.0, abs=1e-5)
    assert rewards.std() == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize(
    "obs_space, act_space",
    [
        (spaces.Box(-1, 1, (4,)), spaces.Discrete(3)),
        (spaces.Box(-1, 1, (2, 3)), spaces.Box(-0.5, 0.5, (2,))),
        (spaces.Discrete(5), spaces.Discrete(2, start=1)),
    ],
)
def test_numpy_predict_matches_torch_and_follows_weight_updates(obs_space, act_space):
    model = RewardEnsemble(obs_space, act_space, ensemble_size=3, hidden_sizes=(16, 8))
    obs_space.seed(0)
    act_space.seed(0)
    obs = np.stack([obs_space.sample() for _ in range(12)]).reshape(3, 4, *obs_space.shape)
    actions = np.stack([act_space.sample() for _ in range(12)]).reshape(3, 4, *act_space.shape)
    if isinstance(act_space, spaces.Box):
        actions = actions * 3.0  # out of bounds: both paths clip
    assert np.allclose(model.predict(obs, actions), model.torch_predict(obs, actions), atol=1e-5)
    with torch.no_grad():  # an in-place update (as an optimizer step or load_state_dict does)
        model.weights[0].add_(0.5)
        model.input_mean.add_(0.1)
        model.reward_scale.fill_(2.0)
    assert np.allclose(model.predict(obs, actions), model.torch_predict(obs, actions), atol=1e-5)
    assert model.predict(obs, actions).shape == (3, 4)
    # The members' raw rewards come with the mean, from the same pass, and match torch's.
    paid, members = model.predict_members(obs, actions)
    np.testing.assert_array_equal(paid, model.predict(obs, actions))
    assert members.shape == (3, 3, 4)
    np.testing.assert_allclose(members, model.member_predict(obs, actions), atol=1e-5)
    np.testing.assert_allclose((members.mean(0) - 0.0) / 2.0, paid, atol=1e-5)  # reward_shift 0, reward_scale 2


def test_weights_version_changes_with_any_in_place_update():
    model = RewardEnsemble(spaces.Box(-1, 1, (2,)), spaces.Discrete(2), ensemble_size=2, hidden_sizes=(4,))
    before = model.weights_version()
    assert model.weights_version() == before
    with torch.no_grad():
        model.biases[1].add_(1.0)
    assert model.weights_version() != before
