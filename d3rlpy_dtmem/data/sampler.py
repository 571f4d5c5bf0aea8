"""Vectorised trajectory windows with frame stacking: d3rlpy's slicer semantics, batched.

Shape legend: B windows, K steps per window (``length``), F stacked frames (``n_frames``),
``*obs`` one stored observation (``(C, H, W)`` or ``(D,)``), A action size.

A window ending at step ``e`` of an episode starting at ``s`` holds steps
``max(e - K + 1, s) .. e``, right-aligned and left-padded with zeros, as d3rlpy's
``BasicTrajectorySlicer`` / ``FrameStackTrajectorySlicer`` give it:

* ``returns_to_go[t]`` sums rewards from step t to the end of the episode;
* ``timesteps[t]`` is the step's index in its episode plus 1 (0 on padding);
* ``masks`` is 1 for real steps, 0 for padding;
* ``terminals`` is 1 only at the episode's last step, when it terminated (not timed out);
* the observation of step t stacks the frames of steps ``t - F + 1 .. t`` along the first
  observation axis, oldest first, with zero frames before the episode start.

Every index is computed for the whole batch at once and each field is read with one numpy
fancy-indexing gather from the task's contiguous arrays; frames stay in their stored dtype
(uint8) until the batch is assembled.
"""

import dataclasses
from collections.abc import Sequence

import numpy as np
from d3rlpy.dataset import TrajectoryMiniBatch
from d3rlpy.types import NDArray

from .multitask import allocate_batch, check_sampling
from .task import TaskArrays
from .windows import gather, window_steps

__all__ = [
    "TrajectorySampler",
    "UInt8TrajectoryMiniBatch",
    "Windows",
    "run_starts",
    "slice_runs",
    "slice_windows",
    "windows_to_batch",
]


@dataclasses.dataclass(frozen=True)
class Windows:
    """A batch of trajectory windows of one task (see the module docstring)."""

    observations: NDArray  # (B, K, F * C, H, W) or (B, K, F * D), stored dtype
    actions: NDArray  # (B, K, A)
    rewards: NDArray  # (B, K, 1) float32
    returns_to_go: NDArray  # (B, K, 1) float32
    terminals: NDArray  # (B, K, 1) float32
    timesteps: NDArray  # (B, K) int64, 0 on padding
    masks: NDArray  # (B, K) float32, 1 for real steps


def slice_windows(
    task: TaskArrays, end_indices: NDArray, length: int, n_frames: int = 1
) -> Windows:
    """The windows of ``length`` steps that end at the given steps of ``task``.

    Args:
        task: the task's arrays.
        end_indices: (B,) flat step indices into the task (the last step of each window).
        length: K, steps per window.
        n_frames: F, observations stacked per step (1: no stacking).

    Returns:
        the windows, as d3rlpy's trajectory slicers would give them one by one.
    """
    end = np.asarray(end_indices, dtype=np.int64)
    episode = task.step_episode[end]  # (B,)
    steps, valid = window_steps(end, task.episode_offsets[episode], length)  # (B, K)
    return _read_steps(task, episode, steps, valid, n_frames)


def slice_runs(
    task: TaskArrays, episodes: NDArray, first_offsets: NDArray, length: int, n_frames: int = 1
) -> Windows:
    """Runs of ``length`` consecutive steps of single episodes, for the episode scope.

    Unlike a window, a run is left-aligned: position i holds step ``first + i`` of the
    episode. Positions before the episode's start (``first`` may be negative, for burn-in
    segments that do not exist) or after its end are padding.

    Args:
        task: the task's arrays.
        episodes: (B,) episode of each run.
        first_offsets: (B,) the step of each run's first position, counted from its
            episode's start.
        length: L, steps per run.
        n_frames: F, observations stacked per step.
    """
    episode = np.asarray(episodes, dtype=np.int64)
    start = task.episode_offsets[episode]  # (B,)
    stop = task.episode_offsets[episode + 1]  # (B,)
    steps = (start + np.asarray(first_offsets, dtype=np.int64))[:, None] + np.arange(length)
    valid = (steps >= start[:, None]) & (steps < stop[:, None])  # (B, L)
    steps = np.clip(steps, start[:, None], stop[:, None] - 1)
    return _read_steps(task, episode, steps, valid, n_frames)


def run_starts(
    task: TaskArrays,
    count: int,
    segment_length: int,
    segments: int,
    burn_in: int,
    rng: np.random.Generator,
) -> tuple[NDArray, NDArray]:
    """Where ``count`` training runs of the episode scope start: (episodes, first offsets).

    A run is ``burn_in + segments`` segments of ``segment_length`` steps, aligned on the
    episode's segment boundaries (``0, K, 2K, ...``, as inference cuts an episode). A step is
    drawn uniformly from the task; its segment is the first trained one, moved back so that
    the ``segments`` trained segments stay inside the episode when it is long enough. The
    ``burn_in`` segments before it (padding where the episode has none) only carry the
    memory in.
    """
    drawn = rng.integers(0, task.num_steps, size=count)
    episode = task.step_episode[drawn]  # (B,)
    start = task.episode_offsets[episode]
    episode_segments = -(-(task.episode_offsets[episode + 1] - start) // segment_length)
    segment = (drawn - start) // segment_length
    first_trained = np.minimum(segment, np.maximum(episode_segments - segments, 0))
    return episode, (first_trained - burn_in) * segment_length


def _read_steps(
    task: TaskArrays, episode: NDArray, steps: NDArray, valid: NDArray, n_frames: int
) -> Windows:
    """Reads the (B, L) ``steps`` (of episodes ``episode``) where ``valid``, zero elsewhere."""
    start = task.episode_offsets[episode]  # (B,)
    length = steps.shape[1]
    # each step's frame stack is the window of n_frames steps that ends at it
    frames, frame_valid = window_steps(
        steps.reshape(-1), np.repeat(start, length), n_frames
    )  # (B * K, F)
    frames = frames.reshape(*steps.shape, n_frames)
    frame_valid = frame_valid.reshape(*steps.shape, n_frames) & valid[..., None]

    observations = gather(task.observations, frames, frame_valid)  # (B, K, F, *obs)
    # (B, K, F, C, ...) -> (B, K, F * C, ...)
    observations = observations.reshape(*steps.shape, -1, *observations.shape[4:])
    last = task.episode_offsets[episode + 1] - 1  # (B,)
    # 1 at the episode's last step, if it terminated (in a window: the last position)
    terminals = (steps == last[:, None]) & valid & task.terminated[episode][:, None]
    terminals = terminals[..., None].astype(np.float32)  # (B, L, 1)
    return Windows(
        observations=observations,
        actions=gather(task.actions, steps, valid),
        rewards=gather(task.rewards, steps, valid),
        returns_to_go=gather(task.returns_to_go, steps, valid),
        terminals=terminals,
        timesteps=np.where(valid, steps - start[:, None] + 1, 0),
        masks=valid.astype(np.float32),
    )


@dataclasses.dataclass(frozen=True)
class UInt8TrajectoryMiniBatch(TrajectoryMiniBatch):
    """A d3rlpy ``TrajectoryMiniBatch`` whose observations stay uint8 frames.

    d3rlpy's ``TorchTrajectoryMiniBatch.from_batch`` moves uint8 arrays to the device as
    uint8 and converts them to float there, so the model sees the same values as from a
    float32 batch, with 4x less host memory and host-to-device traffic. Other fields are
    float32, as in d3rlpy.
    """

    def __post_init__(self) -> None:
        assert isinstance(self.observations, np.ndarray)
        assert self.observations.dtype == np.uint8, "observations must be uint8"
        for name in ("actions", "rewards", "returns_to_go", "terminals", "timesteps", "masks"):
            assert getattr(self, name).dtype == np.float32, f"{name} must be float32"


def windows_to_batch(windows: Sequence[Windows], uint8: bool = False) -> TrajectoryMiniBatch:
    """Concatenates windows (of one or more tasks) into a d3rlpy ``TrajectoryMiniBatch``.

    Every field becomes float32, as d3rlpy's mini-batch requires; observations are cast while
    they are copied into place, so a uint8 batch is converted in a single pass. With ``uint8``
    and uint8 observations, they stay uint8 (a :class:`UInt8TrajectoryMiniBatch`).
    """
    sizes = [len(w.masks) for w in windows]
    first = windows[0].observations
    keep = uint8 and first.dtype == np.uint8
    observations = np.empty((sum(sizes), *first.shape[1:]), dtype=np.uint8 if keep else np.float32)
    row = 0
    for size, w in zip(sizes, windows, strict=True):
        observations[row : row + size] = w.observations
        row += size

    def cat(field: str) -> NDArray:
        return np.concatenate([getattr(w, field) for w in windows]).astype(np.float32)

    return (UInt8TrajectoryMiniBatch if keep else TrajectoryMiniBatch)(
        observations=observations,
        actions=cat("actions"),
        rewards=cat("rewards"),
        returns_to_go=cat("returns_to_go"),
        terminals=cat("terminals"),
        timesteps=cat("timesteps"),
        masks=cat("masks"),
        length=first.shape[1],
    )


class TrajectorySampler:
    """Samples mini-batches of windows from one or more tasks, every task in every batch.

    Window end steps are drawn uniformly from all steps of a task (every stored step is a
    real (o_t, a_t, r_t) step, including the last one of a timed-out episode). Rows of a
    batch are grouped by task, in task order; the batch carries no task id.

    Args:
        tasks: the tasks' arrays.
        n_frames: observations stacked per step.
        sampling: ``"balanced"`` (equal share per task) or ``"proportional"`` (to steps).
        rng: the random generator (only this sampler should draw from it).
        uint8_batches: keep uint8 observations uint8 in batches (see
            :class:`UInt8TrajectoryMiniBatch`); float32 otherwise, as d3rlpy's slicers give.
    """

    def __init__(
        self,
        tasks: Sequence[TaskArrays],
        n_frames: int,
        sampling: str,
        rng: np.random.Generator,
        uint8_batches: bool = False,
    ):
        if not tasks:
            raise ValueError("TrajectorySampler: no tasks")
        if n_frames < 1:
            raise ValueError(f"TrajectorySampler: n_frames must be >= 1, got {n_frames}")
        self._tasks = list(tasks)
        self._steps = np.array([task.num_steps for task in self._tasks], dtype=np.int64)
        self._n_frames = n_frames
        self._sampling = check_sampling(sampling)
        self._rng = rng
        self._uint8_batches = uint8_batches

    def sample(self, batch_size: int, length: int) -> TrajectoryMiniBatch:
        """A mini-batch of ``batch_size`` windows of ``length`` steps."""
        if length < 1:
            raise ValueError(f"TrajectorySampler: length must be >= 1, got {length}")
        counts = allocate_batch(batch_size, self._steps, self._sampling, self._rng)
        windows = []
        for task, count in zip(self._tasks, counts, strict=True):
            end_indices = self._rng.integers(0, task.num_steps, size=count)
            windows.append(slice_windows(task, end_indices, length, self._n_frames))
        return windows_to_batch(windows, uint8=self._uint8_batches)

    def sample_runs(
        self, batch_size: int, segment_length: int, segments: int, burn_in: int
    ) -> TrajectoryMiniBatch:
        """A mini-batch of ``batch_size`` runs of ``burn_in + segments`` segments of
        ``segment_length`` steps (see :func:`run_starts`), every task in the batch."""
        if min(segment_length, segments) < 1 or burn_in < 0:
            raise ValueError(
                f"TrajectorySampler: bad run of {burn_in} + {segments} segments of "
                f"{segment_length} steps"
            )
        counts = allocate_batch(batch_size, self._steps, self._sampling, self._rng)
        length = (burn_in + segments) * segment_length
        runs = []
        for task, count in zip(self._tasks, counts, strict=True):
            episodes, first = run_starts(task, count, segment_length, segments, burn_in, self._rng)
            runs.append(slice_runs(task, episodes, first, length, self._n_frames))
        return windows_to_batch(runs, uint8=self._uint8_batches)
