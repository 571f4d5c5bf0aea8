"""Atomic Minari writes."""

import gymnasium as gym
import minari
import numpy as np
import pytest
from minari.data_collector import EpisodeBuffer

from d3rlpy_dtmem.convert import minari_root, write_minari_dataset

SPACES = dict(
    observation_space=gym.spaces.Box(-10, 10, (3,), np.float32),
    action_space=gym.spaces.Discrete(4),
)


def episode(length: int, seed: int) -> EpisodeBuffer:
    rng = np.random.default_rng(seed)
    return EpisodeBuffer(
        observations=rng.normal(size=(length + 1, 3)).astype(np.float32),
        actions=rng.integers(0, 4, size=length),
        rewards=rng.normal(size=length),
        terminations=np.r_[np.zeros(length - 1, bool), True],
        truncations=np.zeros(length, bool),
        infos={},
    )


def test_chunks_are_written_with_metadata_and_nothing_else_is_left():
    chunks = [[episode(5, 0), episode(7, 1)], [], [episode(4, 2)]]
    path = write_minari_dataset("test/tiny-v0", chunks, metadata={"game": "Pong"}, **SPACES)
    dataset = minari.load_dataset("test/tiny-v0")
    assert dataset.total_episodes == 3 and dataset.total_steps == 16
    assert dataset.storage.metadata["game"] == "Pong"
    loaded = dataset[2]
    np.testing.assert_array_equal(loaded.observations, chunks[2][0].observations)
    assert path == minari_root() / "test/tiny-v0"
    assert [p.name for p in minari_root().iterdir()] == ["test"]


def test_existing_dataset_is_refused_then_replaced_with_overwrite():
    write_minari_dataset("test/tiny-v0", [[episode(5, 0)]], **SPACES)
    with pytest.raises(FileExistsError, match="already exists"):
        write_minari_dataset("test/tiny-v0", [[episode(6, 1)]], **SPACES)
    write_minari_dataset("test/tiny-v0", [[episode(6, 1)]], overwrite=True, **SPACES)
    assert minari.load_dataset("test/tiny-v0").total_steps == 6


def test_a_failure_leaves_no_dataset_and_a_rerun_works():
    def broken_chunks():
        yield [episode(5, 0)]
        raise OSError("disk on fire")

    with pytest.raises(OSError, match="disk on fire"):
        write_minari_dataset("test/tiny-v0", broken_chunks(), **SPACES)
    assert not (minari_root() / "test/tiny-v0").exists()
    assert not [p for p in minari_root().iterdir() if p.name.startswith(".incomplete")]
    write_minari_dataset("test/tiny-v0", [[episode(5, 0)]], **SPACES)
    assert minari.load_dataset("test/tiny-v0").total_episodes == 1


@pytest.mark.parametrize("bad_id", ["tiny-v0", "x/tiny-v0", "test/tiny", "test/ti ny-v0"])
def test_bad_ids_are_refused(bad_id):
    with pytest.raises(ValueError, match="invalid dataset id"):
        write_minari_dataset(bad_id, [[episode(5, 0)]], **SPACES)


def test_no_episodes_is_an_error():
    with pytest.raises(ValueError, match="no episodes"):
        write_minari_dataset("test/tiny-v0", [[], []], **SPACES)
    assert not (minari_root() / "test/tiny-v0").exists()


def test_a_relative_minari_root_works(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MINARI_DATASETS_PATH", "relative/minari")
    path = write_minari_dataset("test/tiny-v0", [[episode(5, 0)]], **SPACES)
    assert path == tmp_path / "relative" / "minari" / "test" / "tiny-v0"
    assert minari.load_dataset("test/tiny-v0").total_steps == 5


def test_metadata_can_report_what_the_chunks_measured():
    seen = []

    def chunks():
        for seed in range(3):
            seen.append(seed)
            yield [episode(4 + seed, seed)]

    path = write_minari_dataset(
        "test/tiny-v0", chunks(), metadata=lambda: {"episodes_seen": len(seen)}, **SPACES
    )
    assert minari.load_dataset("test/tiny-v0").storage.metadata["episodes_seen"] == 3
    assert path.is_dir()
