"""Helpers of the evaluation tests: a small CartPole DT-Mem and CartPole Minari data."""

import d3rlpy
import gymnasium as gym
import numpy as np
from d3rlpy.preprocessing import MultiplyRewardScaler

from d3rlpy_dtmem.app.cartpole import collect_cartpole
from d3rlpy_dtmem.app.presets import preset_config


def cartpole() -> gym.Env:
    """An ``EnvFactory``: CartPole."""
    return gym.make("CartPole-v1")


def train_cartpole_dtmem(steps: int = 60, **overrides):
    """A tiny DT-Mem trained briefly on scripted CartPole data (returns scaled by 0.2)."""
    d3rlpy.seed(0)
    dataset, _ = collect_cartpole(episodes=8, seed=0)
    params = dict(reward_scaler=MultiplyRewardScaler(0.2))
    params.update(overrides)
    algo = preset_config("tiny", pixel=False, **params).create()
    algo.fit(
        dataset,
        n_steps=steps,
        n_steps_per_epoch=steps,
        show_progress=False,
        logger_adapter=d3rlpy.logging.NoopAdapterFactory(),
    )
    return algo


def write_cartpole_dataset(
    dataset_id: str, episodes: int = 4, seed: int = 0, metadata: dict | None = None
) -> str:
    """Scripted CartPole episodes as a Minari dataset (4 float observations, 2 actions),
    with optional extra ``metadata``."""
    from minari.data_collector import EpisodeBuffer

    from d3rlpy_dtmem.convert import write_minari_dataset

    env = cartpole()
    buffers = []
    for episode in range(episodes):
        observation, _ = env.reset(seed=seed + episode)
        observations, actions, rewards = [observation], [], []
        done = False
        while not done:
            action = int(observation[2] + 0.5 * observation[3] > 0)
            observation, reward, terminated, truncated, _ = env.step(action)
            observations.append(observation)
            actions.append(action)
            rewards.append(reward)
            done = terminated or truncated
        steps = len(actions)
        buffers.append(
            EpisodeBuffer(
                observations=np.asarray(observations, dtype=np.float32),
                actions=np.asarray(actions, dtype=np.int64),
                rewards=np.asarray(rewards, dtype=np.float64),
                terminations=np.r_[np.zeros(steps - 1, bool), bool(terminated)],
                truncations=np.r_[np.zeros(steps - 1, bool), bool(truncated)],
                infos={},
            )
        )
    write_minari_dataset(
        dataset_id,
        [buffers],
        observation_space=env.observation_space,
        action_space=env.action_space,
        metadata=metadata,
    )
    return dataset_id
