"""Playing episodes: the one rollout loop of the package.

:func:`play_together` plays one episode in each of several environments, stepping them
together, with a policy that acts for several episodes per call (an
:class:`EpisodePolicy`). Batched evaluation, the stock-wrapper evaluation, Meta-World success
rates and the CartPole demo's baselines all run through it: a d3rlpy stateful wrapper acts
through :class:`StatefulWrapperPolicy`, random actions through :class:`RandomPolicy`.
:class:`EpisodeStats` records what an episode scored.
"""

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray

__all__ = [
    "EpisodePolicy",
    "EpisodeStats",
    "RandomPolicy",
    "StatefulWrapperPolicy",
    "play_one_at_a_time",
    "play_together",
]


class EpisodePolicy(Protocol):
    """Acts in several episodes at once, each held in a numbered slot."""

    def reset(self, episodes: Sequence[int]) -> None:
        """Starts new episodes in these slots."""

    def predict(self, observations: NDArray, rewards: NDArray, episodes: Sequence[int]) -> list:
        """One action per slot in ``episodes``, given its observation and previous reward."""


class EpisodeStats(gym.Wrapper):
    """Records the return, length and success of the current episode.

    Args:
        env: the environment.
        stop_on_success: end the episode (``truncated``) at the first ``info["success"]``;
            the success rate is unchanged and later steps are not simulated.

    ``seed_next_reset(seed)`` makes the next ``reset()`` without a seed use ``seed``.
    """

    def __init__(self, env: gym.Env, stop_on_success: bool = False):
        super().__init__(env)
        self.stop_on_success = stop_on_success
        self.episode_return = 0.0
        self.episode_length = 0
        self.success = False
        self.truncated = False  # cut by a step cap (not ended by the task, nor at success)
        self._next_seed: int | None = None

    def seed_next_reset(self, seed: int) -> None:
        self._next_seed = seed

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        self.episode_return, self.episode_length, self.success = 0.0, 0, False
        self.truncated = False
        seed, self._next_seed = (self._next_seed if seed is None else seed), None
        return self.env.reset(seed=seed, options=options)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, info = self.env.step(action)
        self.episode_return += float(reward)
        self.episode_length += 1
        self.success = self.success or bool(info.get("success", False))
        stopped = self.stop_on_success and self.success
        self.truncated = bool(truncated) and not terminated and not stopped
        truncated = bool(truncated) or stopped
        return observation, reward, terminated, truncated, info

    @property
    def summary(self) -> tuple[float, int, bool, bool]:
        """``(return, length, success, truncated)`` of the current episode."""
        return self.episode_return, self.episode_length, self.success, self.truncated


def play_together(
    policy: EpisodePolicy,
    envs: Sequence[EpisodeStats],
    seeds: Sequence[int | None],
    on_done: Callable[[int], Any] | None = None,
    on_step: Callable[[int], Any] | None = None,
) -> list[tuple[float, int, bool, bool]]:
    """Plays one episode in each of ``envs`` (reset with ``seeds``), stepping them together.

    Slot i of ``policy`` plays ``envs[i]``; an episode leaves the batch when it terminates or
    is truncated. ``on_done(1)`` is called as each episode ends (a progress bar's
    ``update``), ``on_step(n)`` after each step of the n running episodes.

    Returns:
        ``(return, length, success, truncated)`` of each episode.
    """
    slots = list(range(len(envs)))
    policy.reset(slots)
    observations = [env.reset(seed=seed)[0] for env, seed in zip(envs, seeds, strict=True)]
    rewards = np.zeros(len(envs))
    active = slots
    while active:
        batch = np.stack([np.asarray(observations[i]) for i in active])
        actions = policy.predict(batch, rewards[active], active)
        still = []
        for i, action in zip(active, actions, strict=True):
            observations[i], reward, terminated, truncated, _ = envs[i].step(action)
            rewards[i] = float(reward)
            if terminated or truncated:
                if on_done is not None:
                    on_done(1)
            else:
                still.append(i)
        if on_step is not None:
            on_step(len(active))
        active = still
    return [env.summary for env in envs]


class StatefulWrapperPolicy:
    """One episode at a time through a d3rlpy-style stateful wrapper (``predict(x, reward)``,
    ``reset()``), e.g. ``algo.as_stateful_wrapper(target_return=...)``."""

    def __init__(self, wrapper: Any):
        self.wrapper = wrapper

    def reset(self, episodes: Sequence[int]) -> None:
        assert len(episodes) == 1, "a stateful wrapper holds one episode"
        self.wrapper.reset()

    def predict(self, observations: NDArray, rewards: NDArray, episodes: Sequence[int]) -> list:
        return [self.wrapper.predict(observations[0], float(rewards[0]))]


class RandomPolicy:
    """Uniformly random actions from ``action_space`` (seeded with ``seed``)."""

    def __init__(self, action_space: gym.Space, seed: int | None = None):
        self.action_space = action_space
        self.action_space.seed(seed)

    def reset(self, episodes: Sequence[int]) -> None:
        pass

    def predict(self, observations: NDArray, rewards: NDArray, episodes: Sequence[int]) -> list:
        return [self.action_space.sample() for _ in episodes]


def play_one_at_a_time(
    wrapper: Any,
    env: EpisodeStats,
    seeds: Sequence[int | None],
    on_done: Callable[[int], Any] | None = None,
    on_step: Callable[[int], Any] | None = None,
) -> list[tuple[float, int, bool, bool]]:
    """Plays one episode per seed in ``env``, in turn, through a d3rlpy-style stateful
    wrapper (``predict(x, reward)``, ``reset()``); arguments as :func:`play_together`.

    Returns:
        ``(return, length, success, truncated)`` of each episode.
    """
    policy = StatefulWrapperPolicy(wrapper)
    return [play_together(policy, [env], [seed], on_done, on_step)[0] for seed in seeds]
