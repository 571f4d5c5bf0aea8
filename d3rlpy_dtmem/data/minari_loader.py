"""Minari datasets -> a d3rlpy replay buffer that ``DTMem.fit`` trains on.

Minari stores T + 1 observations for the T actions of an episode (the last one follows the
last action). Step t pairs o_t with a_t, so the final observation is dropped. (d3rlpy's
``get_minari`` concatenates all T + 1 observations of every episode against the T actions,
which shifts each later episode by one more step.)

Images (uint8 Box spaces of rank 2 or 3) are stored channel-first, one frame per step:
``(H, W)`` becomes ``(1, H, W)`` and channel-last ``(H, W, C)`` (C <= 4 < H) becomes
``(C, H, W)``. Frames are stacked when batches are sampled. Float observations are stored
as float32.
"""

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from d3rlpy.constants import ActionSpace
from d3rlpy.types import NDArray
from gymnasium import spaces

from ..convert.minari_io import minari_root
from ..rewards import REWARD_TRANSFORM_KEY, check_reward_transform
from .ale_minari import DQNProtocolDataset, as_dqn_protocol
from .buffer import MultiTaskReplayBuffer
from .mmap_store import mapped_task
from .multitask import check_sampling
from .task import TaskArrays

__all__ = ["DatasetNotFoundError", "load_minari"]

FRAME_STACK_KEY = "frame_stack"
# where the DQN-protocol frames of Minari's Atari datasets are kept without an mmap_dir
CACHE_FOLDER = ".d3rlpy_dtmem-cache"


class DatasetNotFoundError(KeyError):
    """A dataset id that is not in the Minari root."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def load_minari(
    dataset_ids: str | Sequence[str],
    *,
    frame_stack: int | None = None,
    sampling: str = "balanced",
    prefetch: int = 0,
    uint8_batches: bool = True,
    seed: int | None = None,
    pin_memory: bool = False,
    mmap_dir: str | os.PathLike | None = None,
) -> MultiTaskReplayBuffer:
    """Loads one or more local Minari datasets (one task each) as one replay buffer.

    Args:
        dataset_ids: a dataset id, or several (one per task: game, Meta-World task...).
        frame_stack: observations stacked per step; ``None`` takes the datasets' metadata
            ``frame_stack`` (which must then agree), or 1 where it is absent.

    The datasets' metadata ``reward_transform`` (``"clip"`` for DQN-Replay conversions,
    ``"none"`` where absent) must agree; the buffer's :attr:`reward_transform` tells
    ``DTMem.fit`` in which units the returns-to-go are (see :mod:`d3rlpy_dtmem.rewards`).
        sampling: ``"balanced"`` (every task the same share of every batch) or
            ``"proportional"`` (to steps); every batch holds every task either way.
        prefetch: batches prepared ahead in a background thread (0: none).
        uint8_batches: keep uint8 frames uint8 in trajectory batches (the default: 4x less
            memory and host-to-device traffic). d3rlpy's ``PixelObservationScaler`` turns
            them into the same floats on the device, and ``DTMem`` without an observation
            scaler converts them itself; ``False`` gives d3rlpy's float32 batches, for
            other d3rlpy algorithms without a ``PixelObservationScaler``.
        seed: seed of the batch sampler (``None``: from numpy's global generator, plus the
            rank under DDP).
        pin_memory: prefetched batches in pinned memory, copied to a CUDA device without
            blocking (needs ``prefetch >= 1``; nothing to do without CUDA).
        mmap_dir: keep observations in memory-mapped ``.npy`` stores in this folder (one per
            dataset, written on first use) instead of in RAM: processes on one machine (DDP
            ranks) then share one copy of the frames. ``None``: read them into RAM (Minari's
            own Atari datasets: converted once into ``<Minari root>/.d3rlpy_dtmem-cache``).

    Minari's own Atari datasets (``atari/<game>/expert-v0``: raw RGB frames of
    ``ALE/<Game>-v5``, minimal action sets) are read in the DQN protocol of the project's
    Atari data: 84x84 grayscale frames stacked 4, full-set actions, clipped rewards
    (:mod:`d3rlpy_dtmem.data.ale_minari`).

    Returns:
        the buffer; ``DTMem.fit(buffer, n_steps=...)`` trains on it.

    Raises:
        DatasetNotFoundError: a dataset id not found in the Minari root.
        ValueError: no or repeated ids, spaces that differ between datasets, an empty
            dataset, NaN/inf values, out-of-range actions, unsupported spaces, an
            ``mmap_dir`` that is not a writable folder.
    """
    ids = [dataset_ids] if isinstance(dataset_ids, str) else list(dataset_ids)
    if not ids:
        raise ValueError("load_minari: no dataset ids given")
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise ValueError(f"load_minari: dataset ids listed more than once: {repeated}")
    check_sampling(sampling)
    # Minari's own Atari datasets (raw RGB frames, minimal actions) in the DQN protocol
    datasets = [as_dqn_protocol(_open(dataset_id)) for dataset_id in ids]
    for dataset_id, dataset in zip(ids, datasets, strict=True):
        _check_spaces(dataset_id, dataset, ids[0], datasets[0])
    n_frames = _resolve_frame_stack(frame_stack, ids, datasets)
    reward_transform = _agreed_metadata(REWARD_TRANSFORM_KEY, "none", ids, datasets)
    check_reward_transform(reward_transform)
    tasks = [_read_task(i, d, mmap_dir) for i, d in zip(ids, datasets, strict=True)]
    action_space = datasets[0].action_space
    discrete = isinstance(action_space, spaces.Discrete)
    return MultiTaskReplayBuffer(
        tasks,
        action_space=ActionSpace.DISCRETE if discrete else ActionSpace.CONTINUOUS,
        action_size=int(action_space.n) if discrete else int(action_space.shape[0]),
        frame_stack=n_frames,
        sampling=sampling,
        prefetch=prefetch,
        uint8_batches=uint8_batches,
        seed=seed,
        pin_memory=pin_memory,
        reward_transform=reward_transform,
    )


def _open(dataset_id: str) -> Any:
    from minari import load_dataset

    try:
        return load_dataset(dataset_id)
    except FileNotFoundError:
        close = _close_local_ids(dataset_id)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise DatasetNotFoundError(
            f"unknown Minari dataset {dataset_id!r}: not found in {minari_root()} "
            f"(MINARI_DATASETS_PATH selects the root){hint}"
        ) from None


def _close_local_ids(dataset_id: str, most: int = 3) -> list[str]:
    """The local dataset ids that look most like ``dataset_id``."""
    import difflib

    root = minari_root()
    local = [
        str(path.parent.relative_to(root))
        for path in root.glob("**/data")
        if path.is_dir() and not path.parent.name.startswith(".")
    ]
    return difflib.get_close_matches(dataset_id, local, n=most, cutoff=0.6)


def _space_key(space: Any) -> tuple[Any, ...]:
    """What must agree between datasets: kind, shape, dtype (bounds may differ by task)."""
    if isinstance(space, spaces.Discrete):
        return ("Discrete", int(space.n), int(space.start))
    if isinstance(space, spaces.Box):
        return ("Box", tuple(space.shape), np.dtype(space.dtype).name)
    return (type(space).__name__,)


def _check_spaces(dataset_id: str, dataset: Any, first_id: str, first: Any) -> None:
    obs, act = dataset.observation_space, dataset.action_space
    if not isinstance(obs, spaces.Box) or not isinstance(act, spaces.Box | spaces.Discrete):
        raise ValueError(
            f"dataset {dataset_id!r}: unsupported spaces (observations {obs}, actions {act}); "
            "Box observations and Box or Discrete actions are supported"
        )
    if isinstance(act, spaces.Discrete) and act.start != 0:
        raise ValueError(f"dataset {dataset_id!r}: Discrete actions must start at 0, got {act}")
    if isinstance(act, spaces.Box) and len(act.shape) != 1:
        raise ValueError(f"dataset {dataset_id!r}: Box actions must be 1-d, got {act}")
    for kind, space, reference in (
        ("observation", obs, first.observation_space),
        ("action", act, first.action_space),
    ):
        if _space_key(space) != _space_key(reference):
            raise ValueError(
                f"dataset {dataset_id!r}: its {kind}s ({_describe(space)}) differ from those "
                f"of {first_id!r} ({_describe(reference)}); shape, dtype and kind must agree"
            )


def _describe(space: Any) -> str:
    """A one-line description of a space (its repr prints whole bound arrays)."""
    key = _space_key(space)
    if key[0] == "Box":
        kind = "images" if len(key[1]) >= 2 and key[2] == "uint8" else "vectors"
        return f"{kind} {key[1]} {key[2]}"
    if key[0] == "Discrete":
        return f"{key[1]} discrete"
    return key[0]


def _agreed_metadata(key: str, default: Any, ids: list[str], datasets: list[Any]) -> Any:
    """The datasets' common metadata value of ``key`` (``default`` where absent)."""
    found = {
        i: _plain(d.storage.metadata.get(key, default)) for i, d in zip(ids, datasets, strict=True)
    }
    if len(set(found.values())) > 1:
        raise ValueError(f"datasets disagree on metadata {key!r}: {found}")
    return found[ids[0]]


def _resolve_frame_stack(frame_stack: int | None, ids: list[str], datasets: list[Any]) -> int:
    if frame_stack is None:
        frame_stack = _agreed_metadata(FRAME_STACK_KEY, 1, ids, datasets)
    if isinstance(frame_stack, bool) or int(frame_stack) != frame_stack or frame_stack < 1:
        raise ValueError(f"frame_stack must be an integer >= 1, got {frame_stack!r}")
    return int(frame_stack)


def _plain(value: Any) -> Any:
    """A numpy scalar read from metadata as the Python value (for messages and checks)."""
    return value.item() if isinstance(value, np.generic) else value


def _is_image(space: spaces.Box) -> bool:
    return space.dtype == np.uint8 and len(space.shape) in (2, 3)


def _stored_layout(observations: NDArray, image: bool) -> NDArray:
    """(T, *obs) observations in the stored layout: channel-first images, float32 floats."""
    if image and observations.ndim == 3:
        # (T, H, W) -> (T, 1, H, W)
        return observations[:, None]
    if image and observations.shape[-1] <= 4 < observations.shape[1]:
        # (T, H, W, C) -> (T, C, H, W)
        return observations.transpose(0, 3, 1, 2)
    if np.issubdtype(observations.dtype, np.floating):
        return observations.astype(np.float32, copy=False)
    return observations


def _read_task(dataset_id: str, dataset: Any, mmap_dir: str | os.PathLike | None) -> TaskArrays:
    """Reads every episode of a dataset into one contiguous array per field.

    With ``mmap_dir``, observations are mapped read-only from the dataset's store there
    (written on first use, see :mod:`d3rlpy_dtmem.data.mmap_store`) instead of read into
    RAM; once the store exists, the dataset's episodes are not read again.
    """
    total = int(dataset.total_steps)
    if total == 0 or dataset.total_episodes == 0:
        raise ValueError(f"dataset {dataset_id!r} is empty (no steps)")
    obs_space = dataset.observation_space
    image = _is_image(obs_space)
    empty = _stored_layout(np.zeros((0, *obs_space.shape), obs_space.dtype), image)
    shape = (total, *empty.shape[1:])
    if mmap_dir is None and isinstance(dataset, DQNProtocolDataset):
        mmap_dir = minari_root() / CACHE_FOLDER  # its frames are converted once, then mapped
    if mmap_dir is None:
        observations = np.empty(shape, dtype=empty.dtype)
        steps = _read_steps(dataset_id, dataset, image, observations)
        return TaskArrays(dataset_id, observations, *steps)
    store = mapped_task(
        mmap_dir,
        dataset_id,
        dataset.storage.data_path,
        shape,
        empty.dtype,
        lambda out: _read_steps(dataset_id, dataset, image, out),
    )
    return TaskArrays(dataset_id, store.observations, *store.steps)


def _read_steps(
    dataset_id: str, dataset: Any, image: bool, observations: NDArray
) -> tuple[NDArray, NDArray, NDArray, NDArray]:
    """Checks every episode, copies its observations into ``observations`` (N, *obs) and
    returns (actions, rewards, episode offsets, terminated)."""
    total = int(dataset.total_steps)
    act_space = dataset.action_space
    discrete = isinstance(act_space, spaces.Discrete)
    actions = np.empty(
        (total, 1 if discrete else act_space.shape[0]), np.int64 if discrete else np.float32
    )
    rewards = np.empty((total, 1), dtype=np.float32)
    offsets, terminated = [0], []
    for episode in dataset.iterate_episodes():
        start = offsets[-1]
        stop = start + _check_episode(dataset_id, episode, act_space, total - start)
        observations[start:stop] = _stored_layout(episode.observations[:-1], image)
        actions[start:stop] = np.reshape(episode.actions, (stop - start, -1))
        rewards[start:stop, 0] = episode.rewards
        offsets.append(stop)
        terminated.append(bool(episode.terminations[-1]))
    if offsets[-1] != total:
        raise ValueError(
            f"dataset {dataset_id!r}: episodes hold {offsets[-1]} steps, metadata says {total}"
        )
    return actions, rewards, np.array(offsets), np.array(terminated)


def _check_episode(dataset_id: str, episode: Any, act_space: Any, room: int) -> int:
    """Checks one Minari episode and returns its number of steps T."""
    where = f"dataset {dataset_id!r}, episode {episode.id}"
    steps = len(episode.rewards)
    if steps == 0 or steps > room:
        raise ValueError(f"{where}: {steps} steps (expected 1..{room})")
    if len(episode.observations) != steps + 1 or len(episode.actions) != steps:
        raise ValueError(
            f"{where}: {len(episode.observations)} observations and {len(episode.actions)} "
            f"actions for {steps} rewards (Minari stores T + 1 observations for T actions)"
        )
    fields = {"observations": episode.observations[:-1], "rewards": episode.rewards}
    if not isinstance(act_space, spaces.Discrete):
        fields["actions"] = episode.actions
    for name, values in fields.items():
        if np.issubdtype(values.dtype, np.floating) and not np.isfinite(values).all():
            step = int(np.argwhere(~np.isfinite(values))[0, 0])
            raise ValueError(f"{where}: {name} contain NaN or inf (first at step {step})")
    if isinstance(act_space, spaces.Discrete):
        low, high = int(np.min(episode.actions)), int(np.max(episode.actions))
        if low < 0 or high >= act_space.n:
            raise ValueError(f"{where}: actions {low}..{high} outside Discrete({act_space.n})")
    return steps
