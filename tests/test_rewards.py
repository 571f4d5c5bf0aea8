"""Returns-to-go in the units the model was trained on: the reward transform of the data is
recorded, saved with the model and applied in every evaluation path."""

import d3rlpy
import gymnasium as gym
import numpy as np
import pytest
from evaluation_helpers import write_cartpole_dataset
from helpers import quiet_fit, synthetic_dataset, tiny_config

from d3rlpy_dtmem.data import load_minari
from d3rlpy_dtmem.inference import BatchedTransformerPolicy, RewardTransformWrapper
from d3rlpy_dtmem.rewards import transform_rewards


class FivePointsEnv(gym.Env):
    """Rewards of 5 (and -3 every third step): not +-1, as raw Atari scores are not."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (6,), np.float32)
    action_space = gym.spaces.Discrete(3)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.steps = 0
        return self.np_random.uniform(-1, 1, 6).astype(np.float32), {}

    def step(self, action):
        self.steps += 1
        reward = -3.0 if self.steps % 3 == 0 else 5.0
        observation = self.np_random.uniform(-1, 1, 6).astype(np.float32)
        return observation, reward, False, self.steps >= 9, {}


def built(transform):
    d3rlpy.seed(0)
    algo = tiny_config(reward_transform=transform).create()
    algo.build_with_dataset(synthetic_dataset(discrete=True))
    return algo


def test_transforms():
    np.testing.assert_array_equal(transform_rewards([5.0, -3.0, 0.5], "clip"), [1, -1, 0.5])
    np.testing.assert_array_equal(transform_rewards([5.0, -3.0], "none"), [5, -3])
    with pytest.raises(ValueError, match="unknown reward transform 'sign'"):
        transform_rewards([1.0], "sign")
    with pytest.raises(ValueError, match="reward_transform"):
        tiny_config(reward_transform="sign")


@pytest.mark.parametrize("scope", ["window", "episode"])
def test_batched_policy_spends_the_target_in_clipped_units(scope):
    overrides = {"memory_scope": scope, "memory_balance_weight": 0.0}
    d3rlpy.seed(0)
    algo = tiny_config(reward_transform="clip", **overrides).create()
    algo.build_with_dataset(synthetic_dataset(discrete=True))
    policy = BatchedTransformerPolicy(algo, 1, target_return=20.0)
    env = FivePointsEnv()
    observation, reward = env.reset(seed=0)[0], 0.0
    for _ in range(4):
        action = policy.predict(observation[None], np.array([reward]), [0])[0]
        observation, reward, *_ = env.step(action)
    returns = policy.windows.returns_to_go[0, -4:, 0]
    np.testing.assert_array_equal(returns, [20.0, 19.0, 18.0, 19.0])  # +5 -> 1, -3 -> -1


def test_stock_wrapper_is_handed_clipped_rewards():
    algo = built("clip")
    wrapper = algo.as_stateful_wrapper(target_return=20.0)
    assert isinstance(wrapper, RewardTransformWrapper)
    score = d3rlpy.metrics.evaluate_transformer_with_environment(wrapper, FivePointsEnv(), 1)
    assert score == 5 * 6 - 3 * 3  # the evaluator reports raw returns
    stock = wrapper.wrapped
    stock.reset()
    for reward in (0.0, 5.0, -3.0):
        wrapper.predict(np.zeros(6, np.float32), reward)
    assert stock._return_rest == 20.0 - 1.0 + 1.0  # noqa: SLF001 (d3rlpy keeps no public copy)
    assert not isinstance(built("none").as_stateful_wrapper(20.0), RewardTransformWrapper)


def test_the_data_decides_and_the_model_keeps_it(minari_path, tmp_path):
    assert load_minari(write_cartpole_dataset("test/raw-v0", 2)).reward_transform == "none"
    clip = {"reward_transform": "clip"}
    buffer = load_minari(write_cartpole_dataset("test/clipped-v0", 2, metadata=clip))
    assert buffer.reward_transform == "clip"
    write_cartpole_dataset("test/other-v0", 2, metadata={"reward_transform": "none"})
    with pytest.raises(ValueError, match="disagree on metadata 'reward_transform'"):
        load_minari(["test/clipped-v0", "test/other-v0"])

    algo = tiny_config().create()
    quiet_fit(algo, buffer, 2)
    assert algo.config.reward_transform == "clip"
    algo.save(str(tmp_path / "m.d3"))
    assert d3rlpy.load_learnable(str(tmp_path / "m.d3")).config.reward_transform == "clip"
    with pytest.raises(ValueError, match="reward_transform='none' but the model was trained on"):
        algo.fit(load_minari("test/raw-v0"), n_steps=1, n_steps_per_epoch=1, show_progress=False)
    fresh = tiny_config().create()
    fresh.build_with_dataset(synthetic_dataset(discrete=True))  # a buffer that declares none
    assert fresh.config.reward_transform == "none"
