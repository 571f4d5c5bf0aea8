"""A read-only d3rlpy replay buffer over one or more tasks, with fast trajectory batches.

``DTMem.fit`` (d3rlpy's ``TransformerAlgoBase.fit``) uses a buffer's ``dataset_info``,
``sample_transition()`` (the observation shape), ``episodes`` with ``trajectory_slicer``
(scalers) and ``sample_trajectory_batch``. The first three are d3rlpy's own, over d3rlpy
``Episode`` views of the task arrays and d3rlpy's (frame-stacking) picker and slicer; the
last is the vectorised, task-balanced :class:`~d3rlpy_dtmem.data.sampler.TrajectorySampler`.
"""

import weakref
from collections.abc import Sequence
from typing import Any, NoReturn

import numpy as np
import torch.distributed as dist
from d3rlpy.constants import ActionSpace
from d3rlpy.dataset import (
    BasicTrajectorySlicer,
    BasicTransitionPicker,
    Episode,
    EpisodeBase,
    FrameStackTrajectorySlicer,
    FrameStackTransitionPicker,
    ReplayBuffer,
    TrajectoryMiniBatch,
)

from ..rewards import check_reward_transform
from .pinned import pin_batch
from .prefetch import Prefetcher
from .sampler import TrajectorySampler
from .task import TaskArrays

__all__ = ["MultiTaskReplayBuffer", "default_sampler_seed"]

_READ_ONLY = "MultiTaskReplayBuffer is read-only (offline data loaded with load_minari)"


class _EpisodeIndex:
    """d3rlpy ``BufferProtocol`` over fixed episodes, without one tuple per transition.

    ``index -> (episode, transition index)`` is a binary search over cumulative transition
    counts (d3rlpy's ``Episode.transition_count``), so millions of steps cost no memory here.
    """

    def __init__(self, episodes: Sequence[EpisodeBase]):
        self._episodes = list(episodes)
        self._counts = np.array([ep.transition_count for ep in self._episodes], dtype=np.int64)
        self._ends = np.cumsum(self._counts)

    def append(self, episode: EpisodeBase, index: int) -> NoReturn:
        raise TypeError(_READ_ONLY)

    @property
    def episodes(self) -> Sequence[EpisodeBase]:
        return self._episodes

    @property
    def transition_count(self) -> int:
        return int(self._ends[-1])

    def __len__(self) -> int:
        return self.transition_count

    def __getitem__(self, index: int) -> tuple[EpisodeBase, int]:
        if not 0 <= index < self.transition_count:
            raise IndexError(f"transition {index} out of range [0, {self.transition_count})")
        episode = int(np.searchsorted(self._ends, index, side="right"))
        start = int(self._ends[episode] - self._counts[episode])
        return self._episodes[episode], index - start


class MultiTaskReplayBuffer(ReplayBuffer):
    """d3rlpy replay buffer over tasks stored as flat arrays; use :func:`load_minari`.

    ``sample_trajectory_batch`` puts every task in every batch (``sampling``), stacks
    ``frame_stack`` frames per step and is vectorised. ``sample_transition`` and
    ``sample_trajectory`` are d3rlpy's (uniform over d3rlpy transitions, one at a time).

    Args:
        tasks: the tasks' arrays; their observations and actions must agree in shape.
        action_space: d3rlpy's action-space type.
        action_size: number of discrete actions, or the action dimension.
        frame_stack: observations stacked per step (1: none).
        sampling: ``"balanced"`` or ``"proportional"`` (see :mod:`.multitask`).
        prefetch: batches prepared ahead in a background thread (0: none).
        pin_memory: the prefetch thread copies each batch into pinned host memory, so that
            ``DTMem`` on a CUDA device copies it with ``non_blocking=True`` (see
            :mod:`.pinned`). Needs ``prefetch >= 1``; without CUDA it does nothing.
        uint8_batches: keep uint8 frames uint8 in trajectory batches (the default: 4x less
            memory and host-to-device traffic; d3rlpy converts them to float on the device).
            ``False``: d3rlpy's float32 batches.
        reward_transform: how the rewards were made from the environment's (``"none"``,
            ``"clip"``); recorded so that evaluation spends target returns in these units.
        seed: seed of the batch sampler; ``None`` draws it from numpy's global generator, so
            ``d3rlpy.seed(n)`` before building the buffer makes batches reproducible (under
            DDP the rank is added, so that ranks seeded alike sample different batches).
    """

    def __init__(
        self,
        tasks: Sequence[TaskArrays],
        *,
        action_space: ActionSpace,
        action_size: int,
        frame_stack: int = 1,
        sampling: str = "balanced",
        prefetch: int = 0,
        uint8_batches: bool = True,
        seed: int | None = None,
        pin_memory: bool = False,
        reward_transform: str = "none",
    ):
        if prefetch < 0:
            raise ValueError(f"prefetch must be >= 0, got {prefetch}")
        if pin_memory and prefetch == 0:
            raise ValueError("pin_memory needs prefetch >= 1 (batches are pinned ahead of use)")
        rng = np.random.default_rng(default_sampler_seed() if seed is None else seed)
        self._sampler = TrajectorySampler(tasks, frame_stack, sampling, rng, uint8_batches)
        self._tasks = list(tasks)
        self._frame_stack = frame_stack
        self._sampling = sampling
        self._prefetch = prefetch
        self._pin_memory = pin_memory
        self._reward_transform = check_reward_transform(reward_transform)
        self._prefetcher: Prefetcher[TrajectoryMiniBatch] | None = None
        self._prefetch_key: tuple[int, ...] | None = None
        episodes: list[Episode] = [ep for task in self._tasks for ep in task.episodes()]
        stacked = frame_stack > 1
        super().__init__(
            _EpisodeIndex(episodes),
            transition_picker=(
                FrameStackTransitionPicker(frame_stack) if stacked else BasicTransitionPicker()
            ),
            trajectory_slicer=(
                FrameStackTrajectorySlicer(frame_stack) if stacked else BasicTrajectorySlicer()
            ),
            observation_signature=episodes[0].observation_signature,
            action_signature=episodes[0].action_signature,
            reward_signature=episodes[0].reward_signature,
            action_space=action_space,
            action_size=action_size,
            cache_size=1,
        )

    @property
    def task_names(self) -> list[str]:
        """The tasks' names (dataset ids), in batch order."""
        return [task.name for task in self._tasks]

    @property
    def task_steps(self) -> list[int]:
        """Steps per task."""
        return [task.num_steps for task in self._tasks]

    @property
    def tasks(self) -> list[TaskArrays]:
        """The tasks' arrays."""
        return list(self._tasks)

    @property
    def reward_transform(self) -> str:
        """How the tasks' rewards were made from the environment's (``"none"``, ``"clip"``;
        :mod:`d3rlpy_dtmem.rewards`)."""
        return self._reward_transform

    @property
    def frame_stack(self) -> int:
        """Observations stacked per step."""
        return self._frame_stack

    @property
    def sampling(self) -> str:
        """How batches are shared between tasks."""
        return self._sampling

    def sample_trajectory_batch(self, batch_size: int, length: int) -> TrajectoryMiniBatch:
        """``batch_size`` windows of ``length`` steps, every task in the batch.

        Rows are grouped by task in :attr:`task_names` order; fields follow d3rlpy's
        trajectory slicers (left padding, returns-to-go to the episode end, timesteps from 1).
        """
        return self._next_batch(batch_size, length)

    def sample_runs(
        self, batch_size: int, segment_length: int, segments: int, burn_in: int = 0
    ) -> TrajectoryMiniBatch:
        """``batch_size`` runs of ``burn_in + segments`` consecutive segments of
        ``segment_length`` steps, for the episode scope of the memory (see
        :func:`~d3rlpy_dtmem.data.sampler.run_starts`); every task in the batch."""
        return self._next_batch(batch_size, segment_length, segments, burn_in)

    def _next_batch(self, *key: int) -> TrajectoryMiniBatch:
        """A batch of windows ``(batch_size, length)`` or runs (four numbers), prefetched
        by a background thread when asked for."""
        sampler = self._sampler
        sample = sampler.sample if len(key) == 2 else sampler.sample_runs
        if self._prefetch == 0:
            return sample(*key)
        if self._prefetcher is None or self._prefetch_key != key:
            self.close()
            pin = self._pin_memory
            self._prefetcher = Prefetcher(
                lambda: pin_batch(sample(*key)) if pin else sample(*key), self._prefetch
            )
            self._prefetch_key = key
            # the thread holds the sampler, not the buffer; stop it with the buffer
            weakref.finalize(self, self._prefetcher.close)
        return self._prefetcher.get()

    def close(self) -> None:
        """Stops the prefetch thread, if any (it restarts on the next batch)."""
        if self._prefetcher is not None:
            self._prefetcher.close()
            self._prefetcher = None

    def append(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(_READ_ONLY)

    def append_episode(self, episode: EpisodeBase) -> NoReturn:
        raise TypeError(_READ_ONLY)

    def clip_episode(self, terminated: bool) -> NoReturn:
        raise TypeError(_READ_ONLY)

    @classmethod
    def from_episode_generator(cls, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(f"{_READ_ONLY}; build it with d3rlpy_dtmem.data.load_minari")

    @classmethod
    def load(cls, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(f"{_READ_ONLY}; build it with d3rlpy_dtmem.data.load_minari")


def default_sampler_seed() -> int:
    """A batch sampler's seed drawn from numpy's global generator (so ``d3rlpy.seed``
    fixes it), plus the process's rank under DDP (ranks seeded alike draw different
    batches)."""
    return int(np.random.randint(2**31 - 1)) + _rank()


def _rank() -> int:
    """This process's global rank; 0 without a process group."""
    return dist.get_rank() if dist.is_initialized() else 0
