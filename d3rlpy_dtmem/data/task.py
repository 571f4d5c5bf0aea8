"""One task's steps as flat, contiguous arrays: the store that the fast sampler reads.

Shape legend: N steps of the task (all its episodes back to back), E episodes, A action size,
``*obs`` one observation (``(C, H, W)`` single frames for images, ``(D,)`` for vectors).

Each step t of an episode pairs observation o_t with action a_t and reward r_t; the final
observation that Minari stores after the last action is not kept (see
:mod:`d3rlpy_dtmem.data.minari_loader`).
"""

import dataclasses
from collections.abc import Sequence

import numpy as np
from d3rlpy.dataset import Episode, EpisodeBase
from d3rlpy.types import NDArray

__all__ = ["TaskArrays", "returns_to_go"]


def returns_to_go(rewards: NDArray, episode_offsets: NDArray) -> NDArray:
    """Per-step return-to-go ``R_t = sum_{s=t}^{end of episode} r_s``.

    Args:
        rewards: (N,) rewards of all episodes back to back.
        episode_offsets: (E + 1,) episode e spans steps ``[offsets[e], offsets[e + 1])``.

    Returns:
        (N,) float32 returns-to-go (summed in float64).
    """
    # prefix[t] = r_0 + ... + r_{t-1}; R_t = prefix[stop of t's episode] - prefix[t]
    prefix = np.concatenate([[0.0], np.cumsum(rewards, dtype=np.float64)])
    lengths = np.diff(episode_offsets)
    stops = np.repeat(episode_offsets[1:], lengths)  # (N,)
    return (prefix[stops] - prefix[:-1]).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class TaskArrays:
    """The steps of one task, flat: one contiguous array per field.

    ``observations`` may be any array that supports numpy fancy indexing on its first axis
    (an ``ndarray``, or an ``np.memmap`` so that processes on one machine share the frames).

    Args:
        name: the task's name (its dataset id).
        observations: (N, *obs) single observations; uint8 ``(N, C, H, W)`` for images.
        actions: (N, A) float32 actions, or (N, 1) int64 action indices.
        rewards: (N, 1) float32 rewards.
        episode_offsets: (E + 1,) int64, ``0 = offsets[0] < offsets[1] < ... = N``.
        terminated: (E,) bool, True where the episode ended by termination (not timeout).
    """

    name: str
    observations: NDArray
    actions: NDArray
    rewards: NDArray
    episode_offsets: NDArray
    terminated: NDArray
    # derived in __post_init__
    step_episode: NDArray = dataclasses.field(init=False, repr=False)  # (N,) episode of step
    returns_to_go: NDArray = dataclasses.field(init=False, repr=False)  # (N, 1) float32

    def __post_init__(self) -> None:
        offsets = np.asarray(self.episode_offsets, dtype=np.int64)
        steps = len(self.rewards)
        lengths = np.diff(offsets)
        if len(offsets) < 2 or offsets[0] != 0 or offsets[-1] != steps or (lengths <= 0).any():
            raise ValueError(
                f"task {self.name!r}: episode_offsets must rise strictly from 0 to {steps}"
            )
        for attr in ("observations", "actions"):
            if len(getattr(self, attr)) != steps:
                raise ValueError(
                    f"task {self.name!r}: {len(getattr(self, attr))} {attr} for {steps} rewards"
                )
        if self.rewards.shape != (steps, 1) or self.actions.ndim != 2:
            raise ValueError(f"task {self.name!r}: rewards must be (N, 1) and actions (N, A)")
        if len(self.terminated) != len(lengths):
            raise ValueError(f"task {self.name!r}: one terminated flag per episode is needed")
        episodes = np.arange(len(lengths), dtype=np.int64)
        object.__setattr__(self, "episode_offsets", offsets)
        object.__setattr__(self, "terminated", np.asarray(self.terminated, dtype=bool))
        object.__setattr__(self, "step_episode", np.repeat(episodes, lengths))
        rtg = returns_to_go(self.rewards[:, 0], offsets)
        object.__setattr__(self, "returns_to_go", rtg[:, None])

    @classmethod
    def from_episodes(cls, name: str, episodes: Sequence[EpisodeBase]) -> "TaskArrays":
        """The steps of d3rlpy episodes (e.g. a plain ``ReplayBuffer``'s), copied into one
        store. Observations must be single arrays (not tuples)."""
        if not episodes:
            raise ValueError(f"task {name!r}: no episodes")
        if isinstance(episodes[0].observations, (list, tuple)):
            raise ValueError(f"task {name!r}: tuple observations are not supported")
        lengths = [episode.size() for episode in episodes]
        return cls(
            name=name,
            observations=np.concatenate([episode.observations for episode in episodes]),
            actions=np.concatenate([np.reshape(e.actions, (len(e.actions), -1)) for e in episodes]),
            rewards=np.concatenate([e.rewards for e in episodes]).astype(np.float32).reshape(-1, 1),
            episode_offsets=np.concatenate([[0], np.cumsum(lengths)]),
            terminated=np.array([bool(episode.terminated) for episode in episodes]),
        )

    @property
    def num_steps(self) -> int:
        """N, the number of steps of the task."""
        return len(self.rewards)

    @property
    def num_episodes(self) -> int:
        """E, the number of episodes of the task."""
        return len(self.terminated)

    def episodes(self) -> list[Episode]:
        """The episodes as d3rlpy ``Episode`` objects whose arrays are views of the store."""
        bounds = zip(self.episode_offsets[:-1], self.episode_offsets[1:], strict=True)
        return [
            Episode(
                observations=self.observations[start:stop],
                actions=self.actions[start:stop],
                rewards=self.rewards[start:stop],
                terminated=bool(terminated),
            )
            for (start, stop), terminated in zip(bounds, self.terminated, strict=True)
        ]
