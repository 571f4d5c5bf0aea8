"""The vectorised window sampler against d3rlpy's own trajectory slicers (the reference)."""

import dataclasses
import threading

import numpy as np
import pytest
import torch
from d3rlpy.constants import ActionSpace
from d3rlpy.dataset import (
    BasicTrajectorySlicer,
    FrameStackTrajectorySlicer,
    TrajectoryMiniBatch,
)
from d3rlpy.preprocessing import PixelObservationScaler
from d3rlpy.torch_utility import TorchTrajectoryMiniBatch
from hypothesis import given, settings
from hypothesis import strategies as st

from d3rlpy_dtmem.data import (
    MultiTaskReplayBuffer,
    Prefetcher,
    TaskArrays,
    TrajectorySampler,
    UInt8TrajectoryMiniBatch,
    returns_to_go,
    slice_windows,
    windows_to_batch,
)

FIELDS = ("observations", "actions", "rewards", "returns_to_go", "terminals", "timesteps", "masks")


def make_task(lengths, observation_shape, seed=0, discrete=True, name="task"):
    rng = np.random.default_rng(seed)
    steps = sum(lengths)
    if len(observation_shape) > 1:
        observations = rng.integers(0, 256, (steps, *observation_shape), dtype=np.uint8)
    else:
        observations = rng.normal(size=(steps, *observation_shape)).astype(np.float32)
    if discrete:
        actions = rng.integers(0, 18, (steps, 1))
    else:
        actions = rng.uniform(-1, 1, (steps, 4)).astype(np.float32)
    return TaskArrays(
        name=name,
        observations=observations,
        actions=actions,
        rewards=rng.normal(size=(steps, 1)).astype(np.float32),
        episode_offsets=np.r_[0, np.cumsum(lengths)],
        terminated=rng.random(len(lengths)) < 0.5,
    )


def assert_matches_d3rlpy(task, length, n_frames, slicer):
    """Every end step of every episode, one window each, against d3rlpy's slicer."""
    for e, episode in enumerate(task.episodes()):
        ends = task.episode_offsets[e] + np.arange(episode.size())
        windows = slice_windows(task, ends, length, n_frames)
        for row, end_index in enumerate(range(episode.size())):
            expected = slicer(episode, end_index, length)
            for field in FIELDS:
                got, want = getattr(windows, field)[row], getattr(expected, field)
                assert got.shape == want.shape, field
                if field == "returns_to_go":  # d3rlpy sums in float32, here in float64
                    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
                else:
                    np.testing.assert_array_equal(got, want, err_msg=f"{field} end={end_index}")


def test_returns_to_go_matches_a_loop():
    rewards = np.random.default_rng(0).normal(size=12).astype(np.float32)
    offsets = np.array([0, 1, 5, 12])
    expected = np.zeros(12, dtype=np.float64)
    for start, stop in zip(offsets[:-1], offsets[1:], strict=True):
        for t in range(start, stop):
            expected[t] = sum(float(r) for r in rewards[t:stop])
    np.testing.assert_allclose(returns_to_go(rewards, offsets), expected, rtol=1e-6)


@pytest.mark.parametrize("discrete", [True, False])
def test_vector_windows_match_basic_slicer(discrete):
    task = make_task([1, 4, 9, 2], (5,), discrete=discrete)
    assert_matches_d3rlpy(task, length=6, n_frames=1, slicer=BasicTrajectorySlicer())


@pytest.mark.parametrize("n_frames", [1, 4])
def test_frame_windows_match_frame_stack_slicer(n_frames):
    task = make_task([2, 7, 1, 5], (1, 6, 5))
    slicer = FrameStackTrajectorySlicer(n_frames)
    assert_matches_d3rlpy(task, length=4, n_frames=n_frames, slicer=slicer)


def test_frame_stacked_vectors_match_frame_stack_slicer():
    task = make_task([3, 6], (2,), discrete=False)
    assert_matches_d3rlpy(task, length=5, n_frames=3, slicer=FrameStackTrajectorySlicer(3))


@settings(max_examples=25, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 12), min_size=1, max_size=5),
    length=st.integers(1, 10),
    n_frames=st.integers(1, 4),
    seed=st.integers(0, 1000),
)
def test_random_episodes_match_frame_stack_slicer(lengths, length, n_frames, seed):
    task = make_task(lengths, (1, 3, 2), seed=seed)
    assert_matches_d3rlpy(task, length, n_frames, FrameStackTrajectorySlicer(n_frames))


def windows_and_d3rlpy_batch():
    """Six windows of a frame task as one batch, and d3rlpy's batch of the same windows."""
    task = make_task([5, 9, 3], (1, 6, 5))
    ends = np.array([0, 4, 5, 13, 16, 15])
    batch = windows_to_batch(
        [slice_windows(task, ends[:2], 7, 4), slice_windows(task, ends[2:], 7, 4)]
    )
    episodes = task.episodes()
    slicer = FrameStackTrajectorySlicer(4)
    reference = []
    for end in ends:
        e = int(task.step_episode[end])
        reference.append(slicer(episodes[e], int(end - task.episode_offsets[e]), 7))
    return task, ends, batch, TrajectoryMiniBatch.from_partial_trajectories(reference)


def test_batch_equals_d3rlpy_batch_of_the_same_windows():
    _, _, batch, expected = windows_and_d3rlpy_batch()
    assert batch.length == expected.length == 7
    for field in FIELDS:
        got, want = getattr(batch, field), getattr(expected, field)
        assert got.dtype == want.dtype == np.float32, field
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=field)


def test_uint8_batches_give_the_same_tensors_on_the_device():
    task, ends, batch, _ = windows_and_d3rlpy_batch()
    frames = windows_to_batch([slice_windows(task, ends, 7, 4)], uint8=True)
    assert isinstance(frames, UInt8TrajectoryMiniBatch) and frames.observations.dtype == np.uint8
    scaler = PixelObservationScaler()
    got = TorchTrajectoryMiniBatch.from_batch(frames, "cpu:0", observation_scaler=scaler)
    want = TorchTrajectoryMiniBatch.from_batch(batch, "cpu:0", observation_scaler=scaler)
    for field in FIELDS:
        assert torch.equal(getattr(got, field), getattr(want, field)), field
    vectors = make_task([4], (3,))
    floats = windows_to_batch([slice_windows(vectors, np.array([2]), 3)], uint8=True)
    assert type(floats) is TrajectoryMiniBatch  # float observations are never uint8


def test_task_arrays_check_their_lengths():
    good = make_task([2, 3], (3,))
    kwargs = dict(
        name="bad",
        observations=good.observations,
        actions=good.actions,
        rewards=good.rewards,
        terminated=good.terminated,
    )
    with pytest.raises(ValueError, match="'bad': episode_offsets must rise strictly"):
        TaskArrays(episode_offsets=np.array([0, 3, 3, 5]), **kwargs)
    with pytest.raises(ValueError, match="'bad': 4 observations for 5 rewards"):
        TaskArrays(
            episode_offsets=np.array([0, 2, 5]), **{**kwargs, "observations": good.observations[:4]}
        )


def test_sampler_draws_every_step_including_the_last_of_timed_out_episodes():
    task = dataclasses.replace(make_task([3, 4], (2,)), terminated=np.array([False, False]))
    sampler = TrajectorySampler([task], 1, "balanced", np.random.default_rng(0))
    seen = set()
    for _ in range(20):
        seen.update(map(tuple, sampler.sample(16, 1).observations[:, 0].tolist()))
    assert seen == set(map(tuple, task.observations.tolist()))


def two_task_buffer(prefetch: int, pin_memory: bool = False) -> MultiTaskReplayBuffer:
    """Two small frame tasks, frame-stacked, with the sampler seeded: the same batches every
    time."""
    tasks = [make_task([4, 6], (1, 4, 4), seed=1, name="a"), make_task([5], (1, 4, 4), name="b")]
    return MultiTaskReplayBuffer(
        tasks,
        action_space=ActionSpace.DISCRETE,
        action_size=18,
        frame_stack=4,
        prefetch=prefetch,
        seed=7,
        pin_memory=pin_memory,
    )


def test_prefetch_gives_the_same_batches_in_the_same_order():
    buffer = two_task_buffer

    plain, prefetched = buffer(0), buffer(3)
    for _ in range(5):
        a, b = plain.sample_trajectory_batch(6, 3), prefetched.sample_trajectory_batch(6, 3)
        for field in FIELDS:
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    prefetched.close()
    assert not [t for t in threading.enumerate() if t.name == "dtmem-prefetch"]


def test_prefetcher_raises_the_producer_error_in_the_consumer():
    calls = iter([1, 2])
    prefetcher = Prefetcher(lambda: next(calls), depth=2)
    assert [prefetcher.get(), prefetcher.get()] == [1, 2]
    for _ in range(2):
        with pytest.raises(StopIteration):
            prefetcher.get()
    prefetcher.close()
