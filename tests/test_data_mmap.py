"""load_minari(mmap_dir=...): frames memory-mapped from one store per dataset, shared by
processes, written once and atomically, renewed when the dataset changes."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from test_data_helpers import FRAME_SPACES, frame_episode, write, write_frame_tasks

from d3rlpy_dtmem.data import load_minari
from d3rlpy_dtmem.data.mmap_store import mapped_task


def _stores(folder):
    return sorted(p.name for p in folder.glob("*.npy"))


def test_mapped_frames_give_the_same_buffer_and_batches_as_frames_in_ram(tmp_path):
    ids = write_frame_tasks([[6, 3], [5, 4, 2]])
    in_ram = load_minari(ids, seed=3)
    mapped = load_minari(ids, seed=3, mmap_dir=tmp_path / "frames")
    stores = _stores(tmp_path / "frames")  # one store per dataset, named by its id
    assert [name.split("-")[0] for name in stores] == ["test__frames0", "test__frames1"]
    for ram_task, map_task in zip(in_ram.tasks, mapped.tasks, strict=True):
        assert isinstance(map_task.observations, np.memmap)
        assert not map_task.observations.flags.writeable
        assert not isinstance(ram_task.observations, np.memmap)
        np.testing.assert_array_equal(map_task.observations, ram_task.observations)
        np.testing.assert_array_equal(map_task.actions, ram_task.actions)
        np.testing.assert_array_equal(map_task.episode_offsets, ram_task.episode_offsets)
    for _ in range(3):
        expected, found = in_ram.sample_trajectory_batch(8, 5), mapped.sample_trajectory_batch(8, 5)
        np.testing.assert_array_equal(found.observations, expected.observations)
        np.testing.assert_array_equal(found.actions, expected.actions)


def test_a_store_is_written_once_and_renewed_when_the_dataset_changes(tmp_path):
    (dataset_id,) = write_frame_tasks([[6, 3]])
    folder = tmp_path / "frames"
    load_minari(dataset_id, mmap_dir=folder)
    (store,) = folder.glob("*.npy")
    written = store.stat().st_mtime_ns
    buffer = load_minari(dataset_id, mmap_dir=folder)
    assert store.stat().st_mtime_ns == written  # mapped again, not rewritten
    assert buffer.tasks[0].num_steps == 9
    # the same id written again with other episodes: a new store with the new frames
    write(dataset_id, [frame_episode(4), frame_episode(7)], FRAME_SPACES, overwrite=True)
    assert load_minari(dataset_id).tasks[0].num_steps == 11
    buffer = load_minari(dataset_id, mmap_dir=folder)
    assert len(_stores(folder)) == 2
    np.testing.assert_array_equal(
        buffer.tasks[0].observations[:, 0, 0, 0], np.r_[1:5, 1:8].astype(np.uint8)
    )


def test_concurrent_first_loads_write_one_store_and_read_the_same_frames(tmp_path):
    ids = write_frame_tasks([[40, 30, 20]])
    folder = tmp_path / "frames"
    code = textwrap.dedent(
        f"""
        import numpy as np
        from d3rlpy_dtmem.data import load_minari
        buffer = load_minari({ids!r}, mmap_dir={str(folder)!r})
        frames = buffer.tasks[0].observations
        print(type(frames).__name__, int(frames.astype(np.int64).sum()))
        """
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code], env=dict(os.environ), stdout=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    outputs = [process.communicate(timeout=120)[0].strip() for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0]
    expected = sum(n * (n + 1) // 2 for n in (40, 30, 20)) * 84 * 84
    assert outputs == [f"memmap {expected}"] * 3
    assert len(_stores(folder)) == 1
    assert not [p for p in folder.iterdir() if p.suffix == ".tmp"]


def _fake_dataset(tmp_path):
    data = tmp_path / "dataset"
    data.mkdir()
    (data / "main_data.hdf5").write_bytes(b"x")
    return data


def _steps(size=4):
    return np.arange(size), np.ones((size, 1), np.float32), np.array([0, size]), np.array([True])


def test_a_failed_write_leaves_no_store_and_the_next_load_writes_it(tmp_path):
    folder, data = tmp_path / "frames", _fake_dataset(tmp_path)
    layout = ((4, 2), np.dtype(np.uint8))

    def broken(out):
        out[:2] = 7
        raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError, match="disk gone"):
        mapped_task(folder, "a/b-v0", data, *layout, broken)
    assert [p.name for p in folder.iterdir() if not p.name.endswith(".lock")] == []

    def disk_full(out):
        raise OSError(28, "No space left on device")

    message = "could not write the store of 'a/b-v0' .*No space left on device"
    with pytest.raises(ValueError, match=f"mmap_dir '{folder}': {message}"):
        mapped_task(folder, "a/b-v0", data, *layout, disk_full)
    assert [p.name for p in folder.iterdir() if not p.name.endswith(".lock")] == []

    def fill(out):
        out[:] = np.arange(8).reshape(4, 2)
        return _steps()

    store = mapped_task(folder, "a/b-v0", data, *layout, fill)
    assert store.written
    np.testing.assert_array_equal(store.observations, np.arange(8).reshape(4, 2))
    again = mapped_task(folder, "a/b-v0", data, *layout, broken)
    assert not again.written
    np.testing.assert_array_equal(again.observations, store.observations)
    for found, expected in zip(again.steps, _steps(), strict=True):
        np.testing.assert_array_equal(found, expected)
        assert found.dtype == expected.dtype
    # a store whose steps file is missing (a writer killed between the two) is written again
    next(folder.glob("*.steps.npz")).unlink()
    assert mapped_task(folder, "a/b-v0", data, *layout, fill).written


def test_a_found_store_is_used_without_reading_the_dataset_again(tmp_path, monkeypatch):
    import minari

    ids = write_frame_tasks([[6, 3]])
    first = load_minari(ids, mmap_dir=tmp_path / "frames")

    def no_reading(self, *args, **kwargs):
        raise AssertionError("the episodes were read again")

    monkeypatch.setattr(minari.MinariDataset, "iterate_episodes", no_reading)
    with pytest.raises(AssertionError, match="read again"):
        load_minari(ids)  # in RAM: the episodes are read
    second = load_minari(ids, mmap_dir=tmp_path / "frames")
    for name in ("observations", "actions", "rewards", "episode_offsets", "terminated"):
        np.testing.assert_array_equal(getattr(second.tasks[0], name), getattr(first.tasks[0], name))


def test_an_mmap_dir_that_is_a_file_is_refused(tmp_path):
    (dataset_id,) = write_frame_tasks([[3]])
    not_a_folder = tmp_path / "frames"
    not_a_folder.write_text("")
    with pytest.raises(ValueError, match=f"mmap_dir '{not_a_folder}' is not a folder"):
        load_minari(dataset_id, mmap_dir=not_a_folder)


def test_processes_that_find_the_store_being_written_wait_and_do_not_write_it_again(tmp_path):
    data = _fake_dataset(tmp_path)
    code = textwrap.dedent(
        f"""
        import time
        import numpy as np
        from d3rlpy_dtmem.data.mmap_store import mapped_task

        def slow_read(out):
            time.sleep(1.0)
            out[:] = 5
            return np.arange(3), np.ones((3, 1)), np.array([0, 3]), np.array([True])

        store = mapped_task(
            {str(tmp_path / "frames")!r}, "a/b-v0", {str(data)!r}, (3, 2), np.dtype(np.uint8),
            slow_read,
        )
        print(store.written, int(store.observations.sum()))
        """
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outputs = sorted(process.communicate(timeout=120)[0].strip() for process in processes)
    assert outputs == ["False 30", "False 30", "True 30"]
