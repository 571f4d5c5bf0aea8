"""``dtmem-convert atari``: DQN-Replay files of real ALE frames -> Minari, and bad input."""

from pathlib import Path

import d3rlpy
import minari
import numpy as np
import pytest
from atari_fixtures import BAD_FILES, GAME, corrupt, truncate, write_replay
from click.testing import CliRunner

from d3rlpy_dtmem.app.cli import dtmem_convert
from d3rlpy_dtmem.convert.atari_cli import parse_int_ranges
from d3rlpy_dtmem.convert.atari_datasets import (
    convert_atari,
    convert_atari_run,
    game_split,
    game_splits,
    plan_atari_conversion,
)
from d3rlpy_dtmem.envs import atari_games, minimal_action_set
from d3rlpy_dtmem.evaluation.scores import atari_reference_table

DATASET = f"dqn-replay/{GAME}-run1-v0"


@pytest.fixture
def replay(tmp_path):
    return write_replay(tmp_path / "replay")


def convert(replay, *args):
    command = ["atari", "--replay-dir", str(replay.replay_dir), "--games", GAME, *args]
    return CliRunner().invoke(dtmem_convert, command)


def assert_dataset_holds(dataset_id, expected):
    dataset = minari.load_dataset(dataset_id)
    action_set = np.asarray(minimal_action_set(GAME))
    assert dataset.total_episodes == len(expected) > 0
    assert dataset.total_steps == sum(len(e.actions) for e in expected)
    for index, want in enumerate(expected):
        got = dataset[index]
        assert got.observations.dtype == np.uint8
        np.testing.assert_array_equal(got.observations[:-1], want.frames)
        np.testing.assert_array_equal(got.observations[-1], want.frames[-1])
        np.testing.assert_array_equal(got.actions, action_set[want.actions])
        np.testing.assert_array_equal(got.rewards, want.rewards)
        assert got.terminations.tolist() == [False] * (len(want.actions) - 1) + [True]
        assert not got.truncations.any()
    return dataset


def assert_nothing_written(root):
    leftovers = [p.name for p in root.rglob("*")] if root.exists() else []
    assert not any(name.startswith(".incomplete") or name.endswith("-v0") for name in leftovers)


def test_round_trip_is_exact(replay):
    result = convert(replay)
    assert result.exit_code == 0, result.output
    expected = replay.expected()
    assert any(e.rewards.any() for e in expected)
    dataset = assert_dataset_holds(DATASET, expected)
    assert f"{DATASET}: {len(expected)} episodes" in result.output
    assert str(dataset.observation_space) == "Box(0, 255, (84, 84), uint8)"
    assert str(dataset.action_space) == "Discrete(18)"
    metadata = dataset.storage.metadata
    assert metadata["game"] == GAME and metadata["run"] == 1
    assert metadata["checkpoints"] == sorted(replay.file_rows)
    assert metadata["minimal_action_set"] == list(minimal_action_set(GAME))
    assert metadata["frame_stack"] == 4 and metadata["jpeg_encoding"] is False
    assert metadata["reward_transform"] == "clip"  # DQN stored clipped rewards
    # Minari's and d3rlpy's own tools: the DQN-protocol env from the recorded spec, and
    # human-normalized scores from the reference scores
    assert metadata["env_id"] == "d3rlpy_dtmem/AtariDQN-v0"
    for env in (dataset.recover_environment(), dataset.recover_environment(eval_env=True)):
        assert env.spec.kwargs == {"game": GAME}
        assert env.observation_space.shape == (4, 84, 84) and env.action_space.n == 18
    table = atari_reference_table()[GAME]
    assert (metadata["ref_min_score"], metadata["ref_max_score"]) == (
        table["random"],
        table["human"],
    )
    normalized = minari.get_normalized_score(dataset, np.array([table["human"]]))
    np.testing.assert_allclose(normalized, [1.0])
    # d3rlpy's loader reads it (it sizes discrete actions by the largest one in the data,
    # and hands back the *unwrapped* env: the raw ALE screen, not the DQN protocol)
    buffer, env = d3rlpy.datasets.get_minari(DATASET)
    assert buffer.dataset_info.action_space == d3rlpy.ActionSpace.DISCRETE
    assert env.observation_space.shape == (210, 160, 3)
    assert "gs://atari-replay-datasets/dqn/Assault/1" in metadata["source"]


def test_converted_actions_replay_the_frames_in_the_env(replay):
    """Full-set actions in make_atari reproduce the recorded frames: mapping and protocol."""
    from d3rlpy_dtmem.envs import make_atari

    assert convert(replay).exit_code == 0
    episode = minari.load_dataset(DATASET)[0]
    env = make_atari(GAME)
    observation, _ = env.reset(seed=replay.expected()[0].seed)
    for step, action in enumerate(episode.actions):
        np.testing.assert_array_equal(observation[-1], episode.observations[step])
        observation, *_ = env.step(action)


def test_dopamine_layout_and_selected_checkpoints(tmp_path):
    replay = write_replay(tmp_path / "replay", layout="dopamine")
    result = convert(replay, "--checkpoints", "0", "2")
    assert result.exit_code == 0, result.output
    assert_dataset_holds(DATASET, replay.expected((0, 2)))


def test_small_blocks_and_chunks_write_the_same_dataset(replay):
    (job,) = plan_atari_conversion(replay.replay_dir, [GAME])
    summary = convert_atari_run(job, block_rows=5, chunk_steps=1, show_progress=False)
    assert summary.episodes == len(replay.expected())
    assert_dataset_holds(DATASET, replay.expected())


def test_episodes_at_the_step_cap_end_with_a_truncation(replay):
    (job,) = plan_atari_conversion(replay.replay_dir, [GAME])
    summary = convert_atari_run(job, step_cap=40, show_progress=False)
    dataset = minari.load_dataset(DATASET)
    lengths = [len(e.actions) for e in replay.expected()]
    assert summary.episodes == len(lengths) and min(lengths) < 40 <= max(lengths)
    for index, length in enumerate(lengths):
        episode = dataset[index]
        assert bool(episode.truncations[-1]) == (length >= 40)
        assert bool(episode.terminations[-1]) == (length < 40)


def test_max_transitions_is_spread_over_the_checkpoints(replay):
    """Each checkpoint gets an equal share of the budget left (unused shares carry over) and
    gives its first whole episodes that fit: early and late behaviour both stay in the data."""
    by_checkpoint = {k: replay.expected((k,)) for k in sorted(replay.file_rows)}
    assert len(by_checkpoint) >= 3 and all(by_checkpoint.values())
    budget = 3 * max(len(e.actions) for episodes in by_checkpoint.values() for e in episodes)
    result = convert(replay, "--max-transitions", str(budget))
    assert result.exit_code == 0, result.output
    kept, left = [], budget
    for index, episodes in enumerate(by_checkpoint.values()):
        share, taken = left // (len(by_checkpoint) - index), 0
        for episode in episodes:
            if taken + len(episode.actions) > share:
                break
            kept.append(episode)
            taken += len(episode.actions)
        left -= taken
    dataset = assert_dataset_holds(DATASET, kept)
    metadata = dataset.storage.metadata
    steps = list(metadata["steps_per_checkpoint"])
    assert sum(steps) == dataset.total_steps <= budget
    assert sum(1 for s in steps if s > 0) >= 2, "more than the first checkpoint contributes"
    assert "spread over the checkpoints" in metadata["budget"]
    too_small = convert(replay, "--max-transitions", "3", "--overwrite")
    assert too_small.exit_code != 0
    assert "no complete episode within --max-transitions 3" in too_small.output


def test_existing_dataset_needs_overwrite(replay, minari_path):
    assert convert(replay, "--checkpoints", "0").exit_code == 0
    refused = convert(replay)
    assert refused.exit_code != 0 and "already exists" in refused.output
    assert minari.load_dataset(DATASET).total_episodes == len(replay.expected((0,)))
    assert convert(replay, "--skip-existing").exit_code == 0
    assert minari.load_dataset(DATASET).total_episodes == len(replay.expected((0,)))
    assert convert(replay, "--overwrite").exit_code == 0
    assert_dataset_holds(DATASET, replay.expected())
    assert [p.name for p in minari_path.iterdir()] == ["dqn-replay"]


@pytest.mark.parametrize(("field", "damage", "message"), BAD_FILES)
def test_bad_files_fail_cleanly(replay, minari_path, field, damage, message):
    path = replay.path(field, 1)
    damage(path)
    result = convert(replay)
    assert result.exit_code == 1
    assert f"Error: {path}: " in result.output and message in result.output
    assert "Traceback" not in result.output
    assert_nothing_written(minari_path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--replay-dir", "/no/such/dir", "--games", GAME], "does not exist"),
        (["--games", "Assualt"], "unknown Atari game 'Assualt' (did you mean 'Assault'?)"),
        (["--games", GAME, "--checkpoints", "7"], "observation_ckpt.7.gz: missing"),
        (["--games", GAME, "--runs", "2"], "/Assault/2/replay_logs: no such directory"),
        (["--games", GAME, "--checkpoints", "2-1"], "'2-1' is an empty range"),
        (["--games", GAME, "--dataset-id", "dqn/{game}-{seed}-v0"], "only {game} and {run}"),
        (["--games", GAME, "--dataset-id", "dqn/{game}"], "invalid dataset id 'dqn/Assault'"),
    ],
)
def test_bad_arguments_fail_cleanly(replay, minari_path, args, message):
    if "--replay-dir" not in args:
        args = ["--replay-dir", str(replay.replay_dir), *args]
    result = CliRunner().invoke(dtmem_convert, ["atari", *args])
    assert result.exit_code != 0 and message in result.output, result.output
    assert "Traceback" not in result.output
    assert_nothing_written(minari_path)


@pytest.mark.parametrize("damage", [truncate, corrupt])
def test_a_failure_mid_stream_leaves_nothing_and_a_rerun_works(replay, minari_path, damage):
    path = replay.path("observation", 2)
    good = path.read_bytes()
    damage(path)
    result = convert(replay)
    assert result.exit_code == 1 and f"Error: {path}: " in result.output
    assert_nothing_written(minari_path)
    path.write_bytes(good)
    assert convert(replay).exit_code == 0
    assert_dataset_holds(DATASET, replay.expected())


def test_several_runs_and_resuming_after_a_failure(tmp_path, minari_path):
    replays = [write_replay(tmp_path / "replay", run=run) for run in (1, 2)]
    path = replays[1].path("observation", 1)
    good = path.read_bytes()
    truncate(path)
    result = convert(replays[0], "--runs", "1", "2")
    assert result.exit_code == 1
    assert f"completed and kept: {DATASET} (resume with --skip-existing)" in result.output
    path.write_bytes(good)
    result = convert(replays[0], "--runs", "1-2", "--skip-existing")
    assert result.exit_code == 0, result.output
    assert f"skipped {DATASET}: it exists (--skip-existing)" in result.output
    assert result.output.count(DATASET) == 1 and "run2-v0" in result.output  # not converted
    for run, replay in zip((1, 2), replays, strict=True):
        assert_dataset_holds(f"dqn-replay/{GAME}-run{run}-v0", replay.expected())


def test_clashing_dataset_ids_are_refused(tmp_path, minari_path):
    for run in (1, 2):
        write_replay(tmp_path / "replay", run=run)
    with pytest.raises(ValueError, match="same id to several game/run pairs"):
        convert_atari(tmp_path / "replay", [GAME], runs=(1, 2), dataset_id="dqn/{game}-v0")
    assert_nothing_written(minari_path)


def test_int_ranges_match_a_loop():
    assert parse_int_ranges(["0-3", "2", "10"]) == (0, 1, 2, 3, 10)
    assert parse_int_ranges([]) == ()
    for bad in ["x", "-1", "1-", "3-1", "1-2-3"]:
        with pytest.raises(ValueError, match=repr(bad)):
            parse_int_ranges([bad])


def test_game_splits_are_the_papers_and_valid_ale_names():
    splits = game_splits()
    assert list(splits) == ["pretrain", "held-out", "unseen"]
    # the first 17, alphabetically, of Multi-Game DT's 41 training games
    multi_game_dt = [
        "Amidar",
        "Assault",
        "Asterix",
        "Atlantis",
        "BankHeist",
        "BattleZone",
        "BeamRider",
        "Boxing",
        "Breakout",
        "Carnival",
        "Centipede",
        "ChopperCommand",
        "CrazyClimber",
        "DemonAttack",
        "DoubleDunk",
        "Enduro",
        "FishingDerby",
        "Freeway",
        "Frostbite",
        "Gopher",
        "Gravitar",
        "Hero",
        "IceHockey",
        "Jamesbond",
        "Kangaroo",
        "Krull",
        "KungFuMaster",
        "NameThisGame",
        "Phoenix",
        "Pooyan",
        "Qbert",
        "Riverraid",
        "RoadRunner",
        "Robotank",
        "Seaquest",
        "TimePilot",
        "UpNDown",
        "VideoPinball",
        "WizardOfWor",
        "YarsRevenge",
        "Zaxxon",
    ]
    assert len(multi_game_dt) == 41 and multi_game_dt == sorted(multi_game_dt)
    assert game_split("pretrain") == tuple(multi_game_dt[:17])
    assert game_split("held-out") == ("Alien", "MsPacman", "SpaceInvaders", "StarGunner")
    assert len(game_split("unseen")) == 9
    assert {"Seaquest", "KungFuMaster", "Robotank", "Phoenix"} <= set(game_split("unseen"))
    games = [game for split in splits.values() for game in split]
    assert len(set(games)) == len(games) and set(games) <= set(atari_games())
    assert set(games) <= set(atari_reference_table()), "every game has a score-table row"
    with pytest.raises(ValueError, match="known splits: pretrain, held-out, unseen"):
        game_split("test")


@pytest.mark.parametrize("compression", ["lzf", "gzip", "none"])
def test_frames_are_compressed_losslessly(replay, compression):
    import h5py

    args = [] if compression == "lzf" else ["--compression", compression]  # lzf: the default
    result = convert(replay, *args)
    assert result.exit_code == 0, result.output
    dataset = assert_dataset_holds(DATASET, replay.expected())  # frames still exact
    assert dataset.storage.metadata["frame_compression"] == compression
    (path,) = Path(dataset.storage.data_path).glob("*.hdf5")
    with h5py.File(path, "r") as f:
        observations = f["episode_0/observations"]
        assert observations.compression == (None if compression == "none" else compression)
        if compression != "none":
            assert observations.chunks[1:] == (84, 84)  # whole frames per chunk
        assert f["episode_0/actions"].compression is None  # only frames are filtered
    bad = convert(replay, "--compression", "zstd", "--overwrite")
    assert bad.exit_code != 0 and "zstd" in bad.output
