"""Minari's own Atari datasets (raw RGB frames of ALE/<Game>-v5, minimal action sets) load
in the DQN protocol, converted once and cached; recorded here from real ALE frames."""

import ale_py
import d3rlpy
import gymnasium as gym
import numpy as np
import pytest
from helpers import quiet_fit, tiny_config
from minari.data_collector import EpisodeBuffer

from d3rlpy_dtmem.convert import write_minari_dataset
from d3rlpy_dtmem.data import ale_minari, load_minari
from d3rlpy_dtmem.envs import make_atari, minimal_action_set

GAME = "Assault"  # 21 points a hit, from step 10 of random play: the clipping shows
DATASET = "atari/assault/expert-v0"


def record(episodes=2, steps=60, seed=0):
    """Episodes of ``ALE/<GAME>-v5`` as Minari's hub stores them, with ALE's own 84x84
    grayscale screens for comparison."""
    gym.register_envs(ale_py)
    env = gym.make(f"ALE/{GAME}-v5")
    env.action_space.seed(seed)
    buffers, screens = [], []
    for episode in range(episodes):
        observation, _ = env.reset(seed=seed + episode)
        frames, actions, rewards, grays = [observation], [], [], []
        for _ in range(steps):
            grays.append(env.unwrapped.ale.getScreenGrayscale())
            action = env.action_space.sample()
            observation, reward, terminated, truncated, _ = env.step(action)
            frames.append(observation)
            actions.append(action)
            rewards.append(reward)
            if terminated:
                break
        count = len(actions)
        buffers.append(
            EpisodeBuffer(
                observations=np.asarray(frames, dtype=np.uint8),
                actions=np.asarray(actions, dtype=np.int64),
                rewards=np.asarray(rewards, dtype=np.float64),
                terminations=np.r_[np.zeros(count - 1, bool), terminated],
                truncations=np.r_[np.zeros(count - 1, bool), not terminated],
                infos={},
            )
        )
        screens.append(np.asarray(grays))
    spec = gym.spec(f"ALE/{GAME}-v5")
    write_minari_dataset(
        DATASET,
        [buffers],
        observation_space=env.observation_space,
        action_space=env.action_space,
        env_spec=spec,
        eval_env_spec=spec,
    )
    return buffers, screens


@pytest.fixture
def recorded(minari_path):
    return record()


def test_frames_actions_and_rewards_follow_the_dqn_protocol(recorded, minari_path):
    buffers, screens = recorded
    rewards = np.concatenate([b.rewards for b in buffers])
    assert rewards.max() > 1, "the recording should hold rewards above 1"
    buffer = load_minari(DATASET)
    (task,) = buffer.tasks
    assert task.observations.shape == (sum(len(s) for s in screens), 1, 84, 84)
    assert task.observations.dtype == np.uint8
    cv2 = pytest.importorskip("cv2")
    expected = np.concatenate(
        [[cv2.resize(g, (84, 84), interpolation=cv2.INTER_AREA) for g in s] for s in screens]
    )
    np.testing.assert_array_equal(task.observations[:, 0], expected)  # AtariPreprocessing's
    minimal = np.asarray(minimal_action_set(GAME))
    recorded_actions = np.concatenate([b.actions for b in buffers])
    np.testing.assert_array_equal(task.actions[:, 0], minimal[recorded_actions])
    np.testing.assert_array_equal(task.rewards[:, 0], np.clip(rewards, -1, 1))
    assert buffer.frame_stack == 4 and buffer.reward_transform == "clip"
    assert buffer.dataset_info.action_size == 18
    batch = buffer.sample_trajectory_batch(4, 5)
    assert batch.observations.shape[2:] == (4, 84, 84)


def test_the_conversion_runs_once(recorded, minari_path, monkeypatch):
    first = load_minari(DATASET).tasks[0].observations
    assert list((minari_path / ".d3rlpy_dtmem-cache").glob("*.npy"))

    def fail(_frames):
        raise AssertionError("converted twice")

    monkeypatch.setattr(ale_minari, "dqn_frames", fail)
    again = load_minari(DATASET).tasks[0].observations
    np.testing.assert_array_equal(again, first)


def test_a_dqn_protocol_model_trains_and_plays_on_it(recorded):
    d3rlpy.seed(0)
    algo = tiny_config(pixel=True).create()
    quiet_fit(algo, load_minari(DATASET), 2)
    assert algo.impl.observation_shape == (4, 84, 84) and algo.impl.action_size == 18
    env = make_atari(GAME, seed=0, max_episode_steps=20)
    score = d3rlpy.metrics.evaluate_transformer_with_environment(
        algo.as_stateful_wrapper(target_return=5.0), env, n_trials=1
    )
    assert np.isfinite(score)
