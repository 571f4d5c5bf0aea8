"""Multi-task batches: every task in every batch, balanced or proportional; spaces agree."""

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_data_helpers import (
    FRAME_SPACES,
    VECTOR_SPACES,
    frame_episode,
    vector_episode,
    write,
    write_frame_tasks,
)

from d3rlpy_dtmem.data import allocate_batch, load_minari


def write_tasks(steps_per_task):
    """One vector dataset per task; task i has rewards i + 1 and the given total steps."""
    ids = []
    for task, steps in enumerate(steps_per_task):
        lengths = [10] * (steps // 10) + ([steps % 10] if steps % 10 else [])
        episodes = [vector_episode(n, task, e) for e, n in enumerate(lengths)]
        ids.append(f"test/task{task}-v0")
        write(ids[-1], episodes, VECTOR_SPACES)
    return ids


def tasks_per_row(batch):
    """(B,) task of each row, read from the reward of its last (always real) step."""
    assert (batch.masks[:, -1] == 1).all()
    return batch.rewards[:, -1, 0].astype(int) - 1


@settings(max_examples=50, deadline=None)
@given(
    steps=st.lists(st.integers(1, 10_000), min_size=1, max_size=20),
    extra=st.integers(0, 100),
    sampling=st.sampled_from(["balanced", "proportional"]),
    seed=st.integers(0, 2**16),
)
def test_allocation_gives_every_task_a_share_of_the_batch(steps, extra, sampling, seed):
    batch_size = len(steps) + extra
    counts = allocate_batch(batch_size, np.array(steps), sampling, np.random.default_rng(seed))
    assert counts.shape == (len(steps),) and counts.sum() == batch_size
    assert counts.min() >= 1
    if sampling == "balanced":
        assert counts.max() - counts.min() <= 1


def test_proportional_allocation_follows_the_steps_on_average():
    rng = np.random.default_rng(0)
    counts = np.mean(
        [allocate_batch(42, np.array([100, 300, 600]), "proportional", rng) for _ in range(2000)], 0
    )
    # one window each, then the other 39 in proportion 0.1 / 0.3 / 0.6
    np.testing.assert_allclose(counts, 1 + 39 * np.array([0.1, 0.3, 0.6]), rtol=0.03)


def test_allocation_refuses_a_batch_smaller_than_the_tasks():
    with pytest.raises(
        ValueError, match="batch_size 2 is smaller than the number of tasks \\(3\\)"
    ):
        allocate_batch(2, np.array([5, 5, 5]), "balanced", np.random.default_rng(0))


def test_balanced_batches_contain_every_task_equally():
    buffer = load_minari(write_tasks([30, 200, 70]), seed=0)
    assert buffer.task_steps == [30, 200, 70]
    totals = np.zeros(3)
    for _ in range(50):
        rows = tasks_per_row(buffer.sample_trajectory_batch(8, 4))
        counts = np.bincount(rows, minlength=3)
        assert sorted(counts) == [2, 3, 3]
        assert (np.diff(rows) >= 0).all()  # rows grouped by task, in task order
        totals += counts
    np.testing.assert_allclose(totals / totals.sum(), 1 / 3, atol=0.04)


def test_proportional_batches_contain_every_task_in_proportion_to_steps():
    buffer = load_minari(write_tasks([30, 200, 70]), sampling="proportional", seed=0)
    totals = np.zeros(3)
    for _ in range(100):
        counts = np.bincount(tasks_per_row(buffer.sample_trajectory_batch(23, 4)), minlength=3)
        assert counts.min() >= 1 and counts.sum() == 23
        totals += counts
    expected = 1 + 20 * np.array([0.1, 2 / 3, 7 / 30])
    np.testing.assert_allclose(totals / 100, expected, rtol=0.1)


def test_spaces_must_agree_and_the_error_names_the_dataset():
    ids = write_tasks([10, 10])
    other = dict(VECTOR_SPACES, action_space=gym.spaces.Discrete(18))
    write("test/other-v0", [vector_episode(4)], other)
    with pytest.raises(
        ValueError,
        match=r"dataset 'test/other-v0': its actions \(18 discrete\) differ from those of",
    ):
        load_minari([*ids, "test/other-v0"])
    wide = dict(VECTOR_SPACES, observation_space=gym.spaces.Box(-1, 1, (4,), np.float32))
    episode = dataclasses.replace(vector_episode(4), observations=np.zeros((5, 4), np.float32))
    write("test/wide-v0", [episode], wide)
    with pytest.raises(ValueError, match=r"'test/wide-v0': its observations .* of 'test/task0-v0'"):
        load_minari([*ids, "test/wide-v0"])


def test_observation_bounds_may_differ_between_tasks():
    ids = write_tasks([10])
    narrow = dict(VECTOR_SPACES, observation_space=gym.spaces.Box(-50, 50, (3,), np.float32))
    write("test/narrow-v0", [vector_episode(4, task=1)], narrow)
    buffer = load_minari([*ids, "test/narrow-v0"])
    assert buffer.task_names == [*ids, "test/narrow-v0"]


def test_frame_stack_metadata_must_agree():
    ids = write_frame_tasks([[5]], frame_stack=4)
    write("test/stack2-v0", [frame_episode(3)], FRAME_SPACES, metadata={"frame_stack": 2})
    with pytest.raises(ValueError, match="disagree on metadata 'frame_stack'.*'test/stack2-v0': 2"):
        load_minari([ids[0], "test/stack2-v0"])
    assert load_minari([ids[0], "test/stack2-v0"], frame_stack=3).frame_stack == 3
