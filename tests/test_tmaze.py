"""The T-maze memory task: the environment, its expert data, and what the episode scope
learns on it that a window cannot."""

import gymnasium as gym
import numpy as np
import pytest

from d3rlpy_dtmem.envs import TMAZE_ENV_ID, TMazeEnv, tmaze_dataset
from d3rlpy_dtmem.envs.tmaze import DOWN, FORWARD, UP, tmaze_config, tmaze_expert_action


def play(env, actions, seed=0):
    observations = [env.reset(seed=seed)[0]]
    for action in actions:
        observation, reward, terminated, truncated, info = env.step(action)
        observations.append(observation)
        if terminated or truncated:
            return observations, reward, terminated, truncated, info
    return observations, 0.0, False, False, {}


def test_the_cue_is_shown_once_and_names_the_rewarded_arm():
    env = TMazeEnv(corridor_length=3)
    cues = set()
    for seed in range(20):
        first, _ = env.reset(seed=seed)
        cues.add(env.cue)
        assert first[0] == (1.0 if env.cue == UP else -1.0) and first[1] == 0.0
        wrong = DOWN if env.cue == UP else UP
        observations, reward, terminated, _, info = play(env, [FORWARD] * 3 + [env.cue], seed)
        assert [o[0] for o in observations[1:]] == [0.0] * 4, "no later observation has the cue"
        assert observations[3][1] == 1.0, "the junction is flagged"
        assert (reward, terminated, info["success"]) == (1.0, True, True)
        _, reward, terminated, _, info = play(env, [FORWARD] * 3 + [wrong], seed)
        assert (reward, terminated, info["success"]) == (0.0, True, False)
    assert cues == {UP, DOWN}


def test_turning_early_wastes_a_step_and_dawdling_is_truncated():
    env = TMazeEnv(corridor_length=2, slack=2)
    env.reset(seed=0)
    env.step(UP)
    assert env.position == 0
    _, terminated, truncated, _ = play(env, [FORWARD] * 5)[1:5]
    assert not terminated and truncated  # 5 steps = 2 + 1 + slack
    with pytest.raises(ValueError, match="corridor_length"):
        TMazeEnv(corridor_length=0)
    with pytest.raises(ValueError, match="action 3"):
        env.step(3)


def test_registered_with_gymnasium():
    env = gym.make(TMAZE_ENV_ID, corridor_length=4)
    assert env.unwrapped.corridor_length == 4
    assert env.observation_space.shape == (3,) and env.action_space.n == 3


def test_expert_data_always_succeeds():
    dataset = tmaze_dataset(episodes=12, corridor_length=5, seed=3)
    assert len(dataset.episodes) == 12
    for episode in dataset.episodes:
        assert episode.size() == 6 and episode.terminated
        assert episode.rewards.sum() == 1.0
        cue = UP if episode.observations[0, 0] > 0 else DOWN
        np.testing.assert_array_equal(episode.actions[:, 0], [FORWARD] * 5 + [cue])
    env = TMazeEnv(5)
    env.reset(seed=1)
    assert tmaze_expert_action(env) == FORWARD


def test_the_episode_scope_remembers_the_cue_a_window_cannot_see():
    """The cue is 4 steps before the turn, a window holds 2: the window scope can only
    guess; the episode scope carries the cue in its memory. (With these settings the
    episode scope succeeded in every episode and the window scope in half, for each of
    seeds 0-5; 600 updates, about 15 s per model on 2 cores.)"""
    import d3rlpy
    from d3rlpy.algos.transformer.action_samplers import GreedyTransformerActionSampler

    from d3rlpy_dtmem.envs.tmaze import tmaze_success_rate

    corridor, context = 3, 2
    success = {}
    for scope in ("episode", "window"):
        d3rlpy.seed(0)
        algo = tmaze_config(scope, corridor, context, memory_balance_weight=0.0).create()
        algo.fit(
            tmaze_dataset(64, corridor, seed=0),
            n_steps=600,
            n_steps_per_epoch=600,
            show_progress=False,
            save_interval=601,
            logger_adapter=d3rlpy.logging.NoopAdapterFactory(),
        )
        wrapper = algo.as_stateful_wrapper(1.0, GreedyTransformerActionSampler())
        success[scope] = tmaze_success_rate(wrapper, corridor, 40, seed=1_000_000)
    assert success["episode"] >= 0.9, success
    assert success["window"] <= 0.75, success
