"""Training batches of the episode scope: runs of consecutive segments of one episode.

``DTMem.fit`` with ``memory_scope="episode"`` trains on runs instead of windows (see
:func:`~d3rlpy_dtmem.data.sampler.run_starts`). d3rlpy's training loop asks a replay buffer
for ``sample_trajectory_batch(batch_size, length=context_size)``; :class:`EpisodeRuns` is the
buffer it is given instead: every other attribute is the wrapped buffer's, and its
trajectory batches are runs of ``burn_in + segments`` segments of ``context_size`` steps.
"""

from typing import Any

import numpy as np
from d3rlpy.dataset import FrameStackTrajectorySlicer, ReplayBufferBase, TrajectoryMiniBatch

from .buffer import default_sampler_seed
from .sampler import TrajectorySampler
from .task import TaskArrays

__all__ = ["EpisodeRuns"]


class EpisodeRuns:
    """A replay buffer whose trajectory batches are runs of segments (the episode scope).

    Args:
        dataset: any d3rlpy replay buffer: :func:`~d3rlpy_dtmem.data.load_minari`'s
            (its own task-balanced, prefetching sampler draws the runs) or a plain
            ``ReplayBuffer`` of episodes (copied once into one task's arrays).
        segments: segments of each run that are trained.
        burn_in: segments before them that only carry the memory in.
        seed: seed of the run sampler of a plain buffer; ``None`` draws it from numpy's
            global generator (so ``d3rlpy.seed`` makes it reproducible; under DDP the rank
            is added).
    """

    def __init__(
        self, dataset: ReplayBufferBase, segments: int, burn_in: int, seed: int | None = None
    ):
        self._dataset = dataset
        self._segments = segments
        self._burn_in = burn_in
        self._sampler: TrajectorySampler | None = None
        if not hasattr(dataset, "sample_runs"):
            if isinstance(dataset.trajectory_slicer, FrameStackTrajectorySlicer):
                raise ValueError(
                    "memory_scope='episode' with a frame-stacking d3rlpy buffer: load the data "
                    "with d3rlpy_dtmem.data.load_minari(..., frame_stack=n) instead"
                )
            task = TaskArrays.from_episodes("dataset", dataset.episodes)
            rng = np.random.default_rng(default_sampler_seed() if seed is None else seed)
            self._sampler = TrajectorySampler([task], 1, "balanced", rng)

    @property
    def dataset(self) -> ReplayBufferBase:
        """The wrapped replay buffer."""
        return self._dataset

    def sample_trajectory_batch(self, batch_size: int, length: int) -> TrajectoryMiniBatch:
        """``batch_size`` runs of ``burn_in + segments`` segments of ``length`` steps."""
        if self._sampler is None:
            return self._dataset.sample_runs(batch_size, length, self._segments, self._burn_in)  # type: ignore[attr-defined]
        return self._sampler.sample_runs(batch_size, length, self._segments, self._burn_in)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._dataset, name)
