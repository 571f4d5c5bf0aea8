"""Property tests: random episode layouts round-trip exactly through the DQN-Replay reader and
the Minari writer and loader, or fail with an error that names the place.

Layouts cover padding rows, files that start inside the padding or the steps of an episode,
terminals on a file's first or last row, stale rows past ``add_count``, and episodes without
steps.
"""

import os
import tempfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from atari_fixtures import save_gz
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from minari.data_collector import EpisodeBuffer

from d3rlpy_dtmem.convert import write_minari_dataset
from d3rlpy_dtmem.convert.dqn_replay import (
    PADDING_ROWS,
    CutFragment,
    DQNReplayError,
    ReplayEpisode,
    iter_episodes,
    open_checkpoint,
    replay_file,
)
from d3rlpy_dtmem.convert.minari_io import use_minari_root
from d3rlpy_dtmem.data import load_minari

NUM_ACTIONS = 5
PROPERTY_SETTINGS = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


# --- DQN-Replay ----------------------------------------------------------------------------


def replay_stream(lengths, seed):
    """Rows of consecutive episodes, each 3 padding rows then its steps, and each episode's
    ``(padding start, stop)``. An episode of length 0 is its padding with a terminal."""
    rng = np.random.default_rng(seed)
    frames, actions, rewards, terminals, spans = [], [], [], [], []
    for length in lengths:
        start = len(terminals)
        rows = PADDING_ROWS + length
        block = np.zeros((rows, 84, 84), np.uint8)
        # real frames are never all zero: a row number and random pixels
        block[PADDING_ROWS:, 0, 0] = 1 + (start + np.arange(PADDING_ROWS, rows)) % 250
        block[PADDING_ROWS:, 1:3, 1:3] = rng.integers(0, 256, (length, 2, 2))
        frames.append(block)
        actions += [0] * PADDING_ROWS + rng.integers(0, NUM_ACTIONS, length).tolist()
        rewards += [0.0] * PADDING_ROWS + rng.choice([-1.0, 0.0, 1.0], length).tolist()
        terminals += [0] * (rows - 1) + [1]
        spans.append((start, start + rows))
    columns = {
        "observation": np.concatenate(frames),
        "action": np.asarray(actions, np.int32),
        "reward": np.asarray(rewards, np.float32),
        "terminal": np.asarray(terminals, np.uint8),
    }
    return columns, spans


def write_files(root, columns, head_cut, rows_per_file, stale_rows, seed):
    """Cuts the stream (after ``head_cut`` rows) into files; each file ends with
    ``stale_rows`` junk rows that its ``add_count`` excludes. Returns each file's rows."""
    rng = np.random.default_rng(seed + 1)
    total = len(columns["terminal"])
    files = {}
    for number, low in enumerate(range(head_cut, total, rows_per_file)):
        high = min(low + rows_per_file, total)
        for field, column in columns.items():
            junk = column[rng.integers(0, total, stale_rows)].copy()
            save_gz(replay_file(root, "G", 1, field, number), np.r_[column[low:high], junk])
        if stale_rows:
            size = high - low + stale_rows  # add_count counts every row ever added
            add_count = np.array(number * size * 3 + high - low, np.int64)
            save_gz(replay_file(root, "G", 1, "add_count", number), add_count)
        files[number] = (low, high)
    return files


@PROPERTY_SETTINGS
@given(
    lengths=st.lists(st.integers(1, 9), min_size=1, max_size=7),
    empty_at=st.none() | st.integers(0, 7),
    head_cut=st.integers(0, 12),
    rows_per_file=st.integers(4, 30),
    stale_rows=st.integers(0, 3),
    block_rows=st.integers(1, 9),
    seed=st.integers(0, 2**16),
)
def test_dqn_replay_layouts_round_trip(
    lengths, empty_at, head_cut, rows_per_file, stale_rows, block_rows, seed
):
    if empty_at is not None:  # an episode without steps
        lengths = lengths[:empty_at] + [0] + lengths[empty_at:]
    columns, spans = replay_stream(lengths, seed)
    head_cut = min(head_cut, len(columns["terminal"]) - 1)
    with tempfile.TemporaryDirectory() as root:
        files = write_files(Path(root), columns, head_cut, rows_per_file, stale_rows, seed)
        for number, (low, high) in files.items():
            checkpoint = open_checkpoint(root, "G", 1, number, num_actions=NUM_ACTIONS)
            assert checkpoint.rows == high - low
            inside = [(a, b) for a, b in spans if low <= a and b <= high]
            # an episode without steps that does not start the file is an error
            if any(b - a == PADDING_ROWS and a > low for a, b in inside):
                event("an episode without steps inside the file")
                with pytest.raises(DQNReplayError, match=r"ckpt\.\d+\.gz: the episode at rows"):
                    list(iter_episodes(checkpoint, block_rows=block_rows))
                continue
            items = list(iter_episodes(checkpoint, block_rows=block_rows))
            terminals = columns["terminal"][low:high]
            event(f"terminal on the first row: {bool(terminals[0])}")
            event(f"terminal on the last row: {bool(terminals[-1])}")
            event(f"file starts at a reset: {any(a == low for a, _ in inside)}")
            episodes = [i for i in items if isinstance(i, ReplayEpisode)]
            expected = [(a, b) for a, b in inside if b - a > PADDING_ROWS]
            assert [e.first_row for e in episodes] == [a - low + PADDING_ROWS for a, _ in expected]
            for episode, (a, b) in zip(episodes, expected, strict=True):
                rows = slice(a + PADDING_ROWS, b)
                np.testing.assert_array_equal(episode.frames, columns["observation"][rows])
                np.testing.assert_array_equal(episode.actions, columns["action"][rows])
                np.testing.assert_array_equal(episode.rewards, columns["reward"][rows])
            # every row is in exactly one episode (with its padding) or cut fragment
            fragments = [i for i in items if isinstance(i, CutFragment)]
            assert len(fragments) <= 2
            used = sum(b - a for a, b in expected) + sum(f.rows for f in fragments)
            assert used == high - low


# --- Minari ---------------------------------------------------------------------------------

SPACES = {
    "vector": gym.spaces.Box(-5, 5, (3,), np.float32),
    "frames": gym.spaces.Box(0, 255, (6, 7), np.uint8),
    "rgb": gym.spaces.Box(0, 255, (6, 7, 3), np.uint8),
}
ACTIONS = {"discrete": gym.spaces.Discrete(NUM_ACTIONS), "continuous": gym.spaces.Box(-1, 1, (2,))}


def minari_episode(space, actions, length, terminated, rng):
    if space.dtype == np.uint8:
        observations = rng.integers(0, 256, (length + 1, *space.shape), dtype=np.uint8)
    else:
        observations = rng.normal(size=(length + 1, *space.shape)).astype(np.float32)
    if isinstance(actions, gym.spaces.Discrete):
        chosen = rng.integers(0, actions.n, length)
    else:
        chosen = rng.uniform(-1, 1, (length, 2)).astype(np.float32)
    last = np.arange(length) == length - 1
    return EpisodeBuffer(
        observations=observations,
        actions=chosen,
        rewards=rng.normal(size=length),
        terminations=last & terminated,
        truncations=last & (not terminated),
        infos={},
    )


def stored_observations(observations):
    """What the loader stores: channel-first frames, (T, H, W) -> (T, 1, H, W)."""
    if observations.ndim == 3 and observations.dtype == np.uint8:
        return observations[:, None]
    if observations.ndim == 4:
        return observations.transpose(0, 3, 1, 2)
    return observations


@PROPERTY_SETTINGS
@given(
    tasks=st.lists(
        st.lists(st.tuples(st.integers(0, 8), st.booleans()), min_size=1, max_size=5),
        min_size=1,
        max_size=3,
    ),
    observation=st.sampled_from(sorted(SPACES)),
    action=st.sampled_from(sorted(ACTIONS)),
    seed=st.integers(0, 2**16),
)
def test_minari_layouts_round_trip(tasks, observation, action, seed):
    rng = np.random.default_rng(seed)
    space, actions = SPACES[observation], ACTIONS[action]
    with tempfile.TemporaryDirectory() as root, use_minari_root(root):
        written, ids = [], []
        for number, layout in enumerate(tasks):
            episodes = [minari_episode(space, actions, n, t, rng) for n, t in layout]
            dataset_id = f"prop/task{number}-v0"
            if any(length == 0 for length, _ in layout):
                empty = next(i for i, (length, _) in enumerate(layout) if length == 0)
                with pytest.raises(ValueError, match=f"episode {empty} has no steps"):
                    write_minari_dataset(
                        dataset_id, [episodes], observation_space=space, action_space=actions
                    )
                assert sorted(os.listdir(root)) in ([], ["prop"])  # nothing half-written
                assert not (Path(root) / dataset_id).exists()
                continue
            write_minari_dataset(
                dataset_id, [episodes], observation_space=space, action_space=actions
            )
            written.append(episodes)
            ids.append(dataset_id)
        if not ids:
            return
        buffer = load_minari(ids, seed=seed)
        for task, episodes in zip(buffer.tasks, written, strict=True):
            lengths = [len(e) for e in episodes]
            assert task.episode_offsets.tolist() == np.r_[0, np.cumsum(lengths)].tolist()
            assert task.terminated.tolist() == [bool(e.terminations[-1]) for e in episodes]
            observations = np.concatenate([e.observations[:-1] for e in episodes])
            np.testing.assert_array_equal(task.observations, stored_observations(observations))
            chosen = np.concatenate([np.reshape(e.actions, (len(e), -1)) for e in episodes])
            np.testing.assert_array_equal(task.actions, chosen.astype(task.actions.dtype))
            rewards = np.concatenate([e.rewards for e in episodes]).astype(np.float32)
            np.testing.assert_array_equal(task.rewards[:, 0], rewards)
            returns = [np.cumsum(e.rewards[::-1])[::-1] for e in episodes]
            # float32 rewards: absolute error too, for returns that cancel to near zero
            np.testing.assert_allclose(
                task.returns_to_go[:, 0], np.concatenate(returns), rtol=1e-5, atol=1e-5
            )
        batch = buffer.sample_trajectory_batch(max(4, len(ids)), 3)
        assert batch.observations.shape[2:] == stored_observations(observations).shape[1:]
