"""The whole d3rlpy contract, for discrete pixels and continuous vectors."""

import d3rlpy
import gymnasium as gym
import numpy as np
import pytest
from helpers import check_algo_contract, synthetic_dataset, tiny_config

import d3rlpy_dtmem


def make_pong(max_steps: int = 30) -> gym.Env:
    import ale_py

    gym.register_envs(ale_py)
    env = gym.make(
        "ALE/Pong-v5", frameskip=1, repeat_action_probability=0.25, full_action_space=True
    )
    env = gym.wrappers.AtariPreprocessing(
        env,
        noop_max=0,
        frame_skip=4,
        screen_size=84,
        terminal_on_life_loss=False,
        grayscale_obs=True,
        scale_obs=False,
    )
    env = gym.wrappers.FrameStackObservation(env, 4, padding_type="zero")
    return gym.wrappers.TimeLimit(env, max_episode_steps=max_steps)


def test_contract_discrete_pixels(tmp_path):
    dataset = synthetic_dataset(discrete=True, pixel=True, action_size=18, episodes=3)
    algo = tiny_config(pixel=True).create()
    env = make_pong()
    assert env.observation_space.shape == (4, 84, 84)
    check_algo_contract(algo, dataset, env, target_return=5.0, tmp_path=tmp_path)
    assert algo.get_action_type() == d3rlpy.ActionSpace.DISCRETE


@pytest.mark.parametrize("addressing", ["slot_keys", "content"])
def test_contract_continuous_vectors(tmp_path, addressing):
    dataset = synthetic_dataset(discrete=False, observation_size=3, action_size=1)
    algo = tiny_config(memory_addressing=addressing).create()
    env = gym.wrappers.TimeLimit(gym.make("Pendulum-v1"), max_episode_steps=50)
    check_algo_contract(algo, dataset, env, target_return=-100.0, tmp_path=tmp_path)
    assert algo.get_action_type() == d3rlpy.ActionSpace.CONTINUOUS


def test_action_type_is_decided_by_data_and_saved():
    config = tiny_config()
    algo = config.create()
    assert algo.get_action_type() == d3rlpy.ActionSpace.BOTH
    with pytest.raises(ValueError, match="action_type is 'auto'"):
        algo.create_impl((6,), 3)
    algo.build_with_dataset(synthetic_dataset(discrete=True))
    assert algo.config.action_type == "discrete"
    assert config.action_type == "auto", "the user's config must not be mutated"
    with pytest.raises(ValueError, match="continuous actions but the model was built for"):
        algo.build_with_dataset(synthetic_dataset(discrete=False))


def test_build_with_env_decides_action_type():
    algo = tiny_config().create()
    algo.build_with_env(gym.make("CartPole-v1"))
    assert algo.config.action_type == "discrete"
    assert algo.impl.action_size == 2


def test_stateful_wrapper_pads_and_resets():
    dataset = synthetic_dataset(discrete=False, observation_size=3, action_size=1)
    algo = tiny_config(action_type="continuous").create()
    algo.build_with_dataset(dataset)
    wrapper = algo.as_stateful_wrapper(target_return=10.0)
    observations = dataset.episodes[0].observations
    first = [wrapper.predict(obs, 0.0) for obs in observations[:8]]  # longer than the context
    wrapper.reset()
    second = [wrapper.predict(obs, 0.0) for obs in observations[:8]]
    np.testing.assert_allclose(np.array(first), np.array(second), atol=1e-6)


def test_save_policy_rejects_onnx(tmp_path):
    algo = tiny_config(action_type="continuous").create()
    algo.create_impl((3,), 1)
    with pytest.raises(ValueError, match="only TorchScript"):
        algo.save_policy(str(tmp_path / "policy.onnx"))


def test_registered_with_d3rlpy():
    from d3rlpy.base import LearnableConfig
    from d3rlpy.serializable_config import CONFIG_STORAGE

    registry = CONFIG_STORAGE[LearnableConfig].config_list
    assert registry["dt_mem"] is d3rlpy_dtmem.DTMemConfig
