"""load_minari: alignment, images and frame stacking, d3rlpy's buffer contract, errors."""

import os
import subprocess
import sys

import gymnasium as gym
import minari
import numpy as np
import pytest
from d3rlpy.constants import ActionSpace
from d3rlpy.dataset import FrameStackTrajectorySlicer, FrameStackTransitionPicker
from minari.data_collector import EpisodeBuffer
from test_data_helpers import (
    FRAME_SPACES,
    VECTOR_SPACES,
    frame_episode,
    vector_episode,
    write,
    write_frame_tasks,
    write_vector_tasks,
)

from d3rlpy_dtmem.data import DatasetNotFoundError, MultiTaskReplayBuffer, load_minari


def test_observation_t_is_paired_with_action_t_in_every_episode():
    (dataset_id,) = write_vector_tasks([[5, 1, 8, 3]])
    buffer = load_minari(dataset_id)
    assert [ep.size() for ep in buffer.episodes] == [5, 1, 8, 3]
    for e, episode in enumerate(buffer.episodes):
        t = np.arange(episode.size())
        np.testing.assert_array_equal(episode.observations[:, 1], e)  # no step of another
        np.testing.assert_array_equal(episode.observations[:, 2], t)
        np.testing.assert_array_equal(episode.actions[:, 0], t)
        assert episode.terminated == (e % 2 == 0)
    batch = buffer.sample_trajectory_batch(32, 6)
    real = batch.masks == 1
    assert real.sum() > 32
    np.testing.assert_array_equal(batch.observations[..., 2][real], batch.actions[..., 0][real])
    np.testing.assert_array_equal(batch.timesteps[real] - 1, batch.actions[..., 0][real])


def test_vector_buffer_fulfils_the_d3rlpy_contract():
    (dataset_id,) = write_vector_tasks([[4, 6]])
    buffer = load_minari(dataset_id)
    assert isinstance(buffer, MultiTaskReplayBuffer)
    info = buffer.dataset_info
    assert info.action_space == ActionSpace.DISCRETE and info.action_size == 64
    assert info.observation_signature.shape[0] == (3,)
    transition = buffer.sample_transition()
    assert transition.observation.shape == (3,) and transition.observation.dtype == np.float32
    assert buffer.transition_count == 4 + 5  # d3rlpy's count: no timed-out last step
    assert buffer.frame_stack == 1 and buffer.task_names == [dataset_id]
    with pytest.raises(TypeError, match="read-only"):
        buffer.append(np.zeros(3), 0, 0.0)


def test_frames_are_single_channel_first_and_stacked_at_sampling_time():
    (dataset_id,) = write_frame_tasks([[6, 3]], frame_stack=4)
    buffer = load_minari(dataset_id)
    assert buffer.frame_stack == 4
    assert isinstance(buffer.transition_picker, FrameStackTransitionPicker)
    assert isinstance(buffer.trajectory_slicer, FrameStackTrajectorySlicer)
    episode = buffer.episodes[0]
    assert episode.observations.shape == (6, 1, 84, 84) and episode.observations.dtype == np.uint8
    # the repeated final frame of the converter is dropped: frame t holds t + 1
    np.testing.assert_array_equal(episode.observations[:, 0, 0, 0], np.arange(1, 7))
    assert buffer.sample_transition().observation.shape == (4, 84, 84)
    assert buffer.dataset_info.action_size == 18
    batch = buffer.sample_trajectory_batch(16, 5)
    assert batch.observations.shape == (16, 5, 4, 84, 84)
    t = batch.timesteps[..., None] - 1  # (B, K, 1) step in episode, -1 on padding
    expected = np.where(t - np.arange(3, -1, -1) >= 0, t - np.arange(3, -1, -1) + 1, 0)
    expected = np.where(batch.masks[..., None] == 1, expected, 0)
    np.testing.assert_array_equal(batch.observations[..., 0, 0], expected)


def test_frame_stack_argument_overrides_the_metadata():
    (dataset_id,) = write_frame_tasks([[5]], frame_stack=4)
    buffer = load_minari(dataset_id, frame_stack=2)
    assert buffer.sample_trajectory_batch(2, 3).observations.shape[2] == 2
    assert buffer.sample_transition().observation.shape == (2, 84, 84)


def test_no_frame_stack_metadata_means_no_stacking():
    write("test/plain-v0", [frame_episode(5)], FRAME_SPACES)
    buffer = load_minari("test/plain-v0")
    assert buffer.frame_stack == 1
    assert buffer.sample_transition().observation.shape == (1, 84, 84)


def test_channel_last_images_become_channel_first():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (5, 10, 12, 3), dtype=np.uint8)
    episode = EpisodeBuffer(
        observations=frames,
        actions=np.zeros(4, dtype=np.int64),
        rewards=np.zeros(4),
        terminations=np.r_[False, False, False, True],
        truncations=np.zeros(4, bool),
        infos={},
    )
    spaces = dict(
        observation_space=gym.spaces.Box(0, 255, (10, 12, 3), np.uint8),
        action_space=gym.spaces.Discrete(2),
    )
    write("test/rgb-v0", [episode], spaces)
    (loaded,) = load_minari("test/rgb-v0").episodes
    np.testing.assert_array_equal(loaded.observations, frames[:4].transpose(0, 3, 1, 2))


def test_float64_observations_and_box_actions_are_stored_as_float32():
    rng = np.random.default_rng(0)
    episode = EpisodeBuffer(
        observations=rng.normal(size=(7, 39)),
        actions=rng.uniform(-1, 1, (6, 4)),
        rewards=rng.normal(size=6),
        terminations=np.zeros(6, bool),
        truncations=np.r_[np.zeros(5, bool), True],
        infos={},
    )
    spaces = dict(
        observation_space=gym.spaces.Box(-np.inf, np.inf, (39,), np.float64),
        action_space=gym.spaces.Box(-1, 1, (4,), np.float32),
    )
    write("test/mw-v0", [episode], spaces)
    buffer = load_minari("test/mw-v0")
    (loaded,) = buffer.episodes
    assert loaded.observations.dtype == np.float32 and loaded.actions.dtype == np.float32
    np.testing.assert_allclose(loaded.observations, episode.observations[:6], rtol=1e-6)
    assert buffer.dataset_info.action_space == ActionSpace.CONTINUOUS
    assert buffer.dataset_info.action_size == 4 and not loaded.terminated


def test_unknown_dataset_names_the_id_and_the_root(minari_path):
    write_vector_tasks([[3]])
    with pytest.raises(DatasetNotFoundError) as error:
        load_minari(["test/vec0-v0", "test/missing-v3"])
    message = str(error.value)
    assert "'test/missing-v3'" in message and str(minari_path) in message
    assert isinstance(error.value, KeyError) and "\n" not in message


@pytest.mark.filterwarnings("ignore::UserWarning")  # Minari's notes on missing metadata
def test_empty_dataset_is_refused():
    minari.create_dataset_from_buffers("test/empty-v0", [], **VECTOR_SPACES, data_format="hdf5")
    with pytest.raises(ValueError, match=r"dataset 'test/empty-v0' is empty"):
        load_minari("test/empty-v0")


@pytest.mark.parametrize("field", ["observations", "rewards"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_values_are_refused(field, bad):
    episode = vector_episode(5)
    getattr(episode, field)[2] = bad
    write("test/bad-v0", [vector_episode(3), episode], VECTOR_SPACES)
    with pytest.raises(ValueError, match=rf"'test/bad-v0', episode 1: {field} contain NaN or inf"):
        load_minari("test/bad-v0")


def test_out_of_range_discrete_actions_are_refused():
    episode = vector_episode(5)
    episode.actions[3] = 70
    write("test/bad-v0", [episode], VECTOR_SPACES)
    with pytest.raises(ValueError, match=r"episode 0: actions 0..70 outside Discrete\(64\)"):
        load_minari("test/bad-v0")


def test_bad_arguments_are_refused():
    ids = write_vector_tasks([[3], [4]])
    with pytest.raises(ValueError, match="no dataset ids"):
        load_minari([])
    with pytest.raises(ValueError, match="more than once"):
        load_minari([ids[0], ids[1], ids[0]])
    with pytest.raises(ValueError, match="sampling must be one of"):
        load_minari(ids, sampling="uniform")
    with pytest.raises(ValueError, match="frame_stack must be an integer >= 1"):
        load_minari(ids, frame_stack=0)


def test_importing_the_data_package_does_not_import_minari():
    code = "import sys, d3rlpy_dtmem.data; assert 'minari' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, env=dict(os.environ))


def test_an_unknown_id_lists_the_local_ids_that_come_close(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    for dataset_id in ("test/cartpole-v0", "test/pong-v0"):
        (tmp_path / dataset_id / "data").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match="did you mean 'test/cartpole-v0'"):
        load_minari("test/cartpol-v0")
    with pytest.raises(DatasetNotFoundError) as error:
        load_minari("other/zzz-v9")
    assert "did you mean" not in str(error.value)


def test_mixing_image_and_vector_datasets_is_one_line():
    (vectors,) = write_vector_tasks([[5]])
    (frames,) = write_frame_tasks([[5]])
    with pytest.raises(ValueError) as error:
        load_minari([vectors, frames])
    message = str(error.value)
    assert "\n" not in message and len(message) < 200
    assert "its observations (images (84, 84) uint8) differ from those of" in message
    assert f"{vectors!r} (vectors" in message
