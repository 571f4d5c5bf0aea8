"""Atari path end to end: DQN-Replay files (real ALE frames) -> Minari -> loader -> DT-Mem."""

import d3rlpy
import numpy as np
import pytest
from atari_fixtures import write_replay
from helpers import tiny_config

from d3rlpy_dtmem.convert.atari_datasets import convert_atari
from d3rlpy_dtmem.data import load_minari
from d3rlpy_dtmem.envs import make_atari, minimal_action_set

GAMES = ("Assault", "Pong")


@pytest.fixture
def converted(tmp_path):
    replays = {game: write_replay(tmp_path / "replay", game) for game in GAMES}
    summaries = convert_atari(tmp_path / "replay", GAMES, show_progress=False)
    return replays, [summary.dataset_id for summary in summaries]


def test_loader_pairs_every_frame_with_its_action_and_reward(converted):
    replays, dataset_ids = converted
    buffer = load_minari(dataset_ids)
    assert buffer.frame_stack == 4
    assert buffer.dataset_info.action_size == 18
    assert buffer.sample_transition().observation_signature.shape[0] == (4, 84, 84)
    for game, task in zip(GAMES, buffer.tasks, strict=True):
        expected = replays[game].expected()
        action_set = np.asarray(minimal_action_set(game))
        assert len(task.episode_offsets) - 1 == len(expected)
        for index, episode in enumerate(expected):
            start, stop = task.episode_offsets[index], task.episode_offsets[index + 1]
            np.testing.assert_array_equal(task.observations[start:stop, 0], episode.frames)
            np.testing.assert_array_equal(task.actions[start:stop, 0], action_set[episode.actions])
            np.testing.assert_array_equal(task.rewards[start:stop, 0], episode.rewards)


def test_batches_hold_both_games_and_stack_frames(converted):
    replays, dataset_ids = converted
    buffer = load_minari(dataset_ids, seed=0)
    batch = buffer.sample_trajectory_batch(8, 6)
    frames_of = {
        game: {frame.tobytes() for e in replays[game].expected() for frame in e.frames}
        for game in GAMES
    }
    games = [
        next(game for game in GAMES if row[-1, -1].astype(np.uint8).tobytes() in frames_of[game])
        for row in batch.observations
    ]
    assert sorted(games) == sorted(GAMES * 4), "balanced: 4 windows of each game"
    assert batch.observations.shape == (8, 6, 4, 84, 84)
    # the newest frame of each stacked step is the step's own frame; older ones shift by one
    steps = batch.masks.astype(bool)
    stacked = batch.observations[:, 1:][steps[:, 1:] & steps[:, :-1]]
    previous = batch.observations[:, :-1][steps[:, 1:] & steps[:, :-1]]
    np.testing.assert_array_equal(stacked[:, :3], previous[:, 1:])


def test_dtmem_trains_on_two_converted_games_and_plays(converted, tmp_path):
    _, dataset_ids = converted
    buffer = load_minari(dataset_ids, seed=0)
    algo = tiny_config(pixel=True, batch_size=4, context_size=4).create()
    algo.fit(
        buffer,
        n_steps=4,
        n_steps_per_epoch=4,
        show_progress=False,
        logger_adapter=d3rlpy.logging.FileAdapterFactory(root_dir=str(tmp_path / "logs")),
    )
    assert algo.impl.observation_shape == (4, 84, 84) and algo.impl.action_size == 18
    env = make_atari("Pong", seed=0, max_episode_steps=30)
    score = d3rlpy.metrics.evaluate_transformer_with_environment(
        algo.as_stateful_wrapper(target_return=20.0), env, n_trials=1
    )
    assert np.isfinite(score)
