"""Memory-mapped observation stores: one ``.npy`` file per dataset, shared between processes.

The paper's 17 games x 500k steps are about 60 GB of 84x84 frames. Read into every process,
8 DDP ranks on one machine would hold 8 copies; memory-mapped read-only from one file, they
share one copy through the page cache (and the OS pages frames in and out as batches need
them). ``load_minari(..., mmap_dir=DIR)`` keeps observations in such stores.

A store is two files: ``<name>.npy``, the observations, and ``<name>.steps.npz``, the
small per-step arrays (actions, rewards, episode offsets, terminated flags), so that a
process that finds the store reads neither the dataset's frames nor its episodes again.
Each is written once, whole or not at all (a temporary file, then a rename), under a file
lock: processes that load the same dataset at the same time wait for the first writer and
then map its files instead of writing their own. The name carries a fingerprint of the
dataset's files (names, sizes, modification times) and of the stored layout, so a dataset
that is written again gets a new store rather than stale frames.
"""

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from d3rlpy.types import NDArray

from ..files import atomic_path

try:  # POSIX; elsewhere concurrent first loads may each write the (identical) store
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["MappedTask", "STEP_FIELDS", "mapped_task", "store_path"]

_FORMAT_VERSION = 1
STEP_FIELDS = ("actions", "rewards", "episode_offsets", "terminated")
Steps = tuple[NDArray, NDArray, NDArray, NDArray]  # in the order of STEP_FIELDS


class MappedTask(NamedTuple):
    """A dataset's store: observations mapped read-only, the steps' arrays in RAM."""

    observations: NDArray  # (N, *obs) read-only np.memmap
    steps: Steps
    written: bool  # whether this call wrote the store


def _fingerprint(data_path: Path, shape: Sequence[int], dtype: np.dtype) -> str:
    """Hash of the dataset's files (relative name, size, mtime) and of the stored layout."""
    digest = hashlib.sha256(f"v{_FORMAT_VERSION} {tuple(shape)} {np.dtype(dtype).str}".encode())
    for file in sorted(p for p in data_path.rglob("*") if p.is_file()):
        stat = file.stat()
        digest.update(f"{file.relative_to(data_path)} {stat.st_size} {stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def store_path(
    directory: str | os.PathLike,
    dataset_id: str,
    data_path: str | os.PathLike,
    shape: Sequence[int],
    dtype: np.dtype,
) -> Path:
    """``directory/<dataset id, slashes as __>-<fingerprint>.npy``: the store of a dataset."""
    name = dataset_id.replace("/", "__")
    return Path(directory) / f"{name}-{_fingerprint(Path(data_path), shape, dtype)}.npy"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Holds an exclusive lock on ``path.lock`` (a no-op without ``fcntl``)."""
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _steps_path(path: Path) -> Path:
    return path.with_suffix(".steps.npz")


def _open(path: Path, shape: Sequence[int], dtype: np.dtype) -> tuple[NDArray, Steps] | None:
    """The store mapped read-only, or None if it is missing, incomplete or of another layout."""
    try:
        observations = np.load(path, mmap_mode="r")
        with np.load(_steps_path(path)) as arrays:
            steps = tuple(arrays[name] for name in STEP_FIELDS)
    except (OSError, ValueError, KeyError):  # missing, or not readable .npy/.npz files
        return None
    if observations.shape != tuple(shape) or observations.dtype != dtype:
        return None
    return observations, steps  # type: ignore[return-value]


def mapped_task(
    directory: str | os.PathLike,
    dataset_id: str,
    data_path: str | os.PathLike,
    shape: Sequence[int],
    dtype: np.dtype,
    read: Callable[[NDArray], Steps],
) -> MappedTask:
    """A dataset's observations mapped read-only from its store, and its steps' arrays;
    the store is written first if needed.

    Args:
        directory: folder of the stores (created if missing).
        dataset_id: the dataset's id (names the files).
        data_path: the dataset's folder (its files fingerprint the store).
        shape, dtype: layout of the stored observations, ``(N, *obs)``.
        read: reads the dataset: fills a writable ``(N, *obs)`` array with its observations
            and returns ``(actions, rewards, episode_offsets, terminated)``; called only
            when the store is written, by one process at a time.

    Raises:
        ValueError: ``directory`` exists and is not a folder, or the store cannot be
            written there (no permission, disk full); nothing is left half-written.
    """
    folder = Path(directory)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"mmap_dir {str(folder)!r} is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = store_path(folder, dataset_id, data_path, shape, dtype)
        with _locked(path):
            found = _open(path, shape, dtype)
            if found is not None:
                return MappedTask(*found, written=False)
            with atomic_path(path) as temporary:
                out = np.lib.format.open_memmap(temporary, mode="w+", dtype=dtype, shape=shape)
                steps = read(out)
                out.flush()
                del out
            with atomic_path(_steps_path(path)) as temporary, open(temporary, "wb") as f:
                np.savez(f, **dict(zip(STEP_FIELDS, steps, strict=True)))
    except OSError as error:  # no permission, disk full...
        raise ValueError(
            f"mmap_dir {str(folder)!r}: could not write the store of {dataset_id!r} ({error})"
        ) from None
    found = _open(path, shape, dtype)
    assert found is not None, f"{path} was just written"
    return MappedTask(*found, written=True)
