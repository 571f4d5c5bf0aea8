"""One window rule: what inference feeds the model, the training sampler's windows of the same
episode and the memory-activity plot's windows are the same arrays."""

import numpy as np
import pytest
from d3rlpy.algos import GreedyTransformerActionSampler
from evaluation_helpers import cartpole, train_cartpole_dtmem

from d3rlpy_dtmem.data.sampler import slice_windows
from d3rlpy_dtmem.data.task import TaskArrays
from d3rlpy_dtmem.data.windows import gather, window_steps
from d3rlpy_dtmem.evaluation.activity import Trajectory, _windows_ending_at
from d3rlpy_dtmem.inference import BatchedTransformerPolicy


def test_window_steps_pad_before_the_episode_start():
    steps, valid = window_steps(np.array([1, 6]), np.array([0, 3]), 4)
    np.testing.assert_array_equal(steps, [[0, 0, 0, 1], [3, 4, 5, 6]])
    np.testing.assert_array_equal(valid, [[False, False, True, True], [True, True, True, True]])
    values = np.arange(10.0)[:, None] * np.ones((1, 2))
    out = gather(values, steps, valid)
    assert out.shape == (2, 4, 2)
    np.testing.assert_array_equal(out[0, :, 0], [0, 0, 0, 1])  # padding is zero
    np.testing.assert_array_equal(out[1, :, 0], [3, 4, 5, 6])


@pytest.fixture(scope="module")
def played():
    """Plays one CartPole episode, keeping the window the policy fed the model at each step."""
    algo = train_cartpole_dtmem(steps=10)
    policy = BatchedTransformerPolicy(algo, 2, 500.0, GreedyTransformerActionSampler())
    env = cartpole()
    observation, reward = env.reset(seed=1)[0], 0.0
    seen = []
    for _ in range(algo.config.context_size + 6):
        # slot 1 acts too, so that the slots' rings interleave
        actions = policy.predict(
            np.stack([observation, observation]), np.array([reward, 0]), [0, 1]
        )
        seen.append(policy.windows)
        observation, reward, terminated, truncated, _ = env.step(actions[0])
        if terminated or truncated:
            break
    return algo, seen


def test_inference_windows_are_the_training_and_activity_windows(played):
    algo, seen = played
    context = algo.config.context_size
    steps = len(seen)
    assert steps > context  # the ring wrapped around
    last = [
        np.stack([w.fields()[i][0, -1] for w in seen])
        for i in range(4)  # observations, actions, returns-to-go, timesteps of each step
    ]
    trajectory = Trajectory(*last, rewards=np.ones(steps))
    task = TaskArrays(
        name="played",
        observations=trajectory.observations,
        actions=trajectory.actions,
        rewards=np.ones((steps, 1), np.float32),
        episode_offsets=np.array([0, steps]),
        terminated=np.array([False]),
    )
    training = slice_windows(task, np.arange(steps), context)
    activity = _windows_ending_at(trajectory, np.arange(steps), context)
    for t, windows in enumerate(seen):
        np.testing.assert_array_equal(windows.observations[0], training.observations[t])
        np.testing.assert_array_equal(windows.actions[0], training.actions[t])
        np.testing.assert_array_equal(windows.timesteps[0], training.timesteps[t])
        np.testing.assert_array_equal(windows.valid[0], training.masks[t])
        for mine, theirs in zip(windows.fields()[:4], activity[:4], strict=True):
            np.testing.assert_array_equal(mine[0], theirs[t])
        np.testing.assert_array_equal(windows.valid[0], activity[4][t])
