"""Rollouts over many seeds: d3rlpy's stock evaluator, or all episodes stepped together.

Episode ``e`` of evaluation seed ``s`` starts with ``env.reset(seed=episode_seed(s, e))``, so
it starts from the same state whichever path runs it and whichever environment instance
(built by ``env_factory()``) plays it. Both paths play through the package's one rollout loop
(:func:`~d3rlpy_dtmem.envs.episodes.play_together`) and record each episode's return, length
and success (``info["success"]``, as Meta-World reports it) with :class:`EpisodeStats`.

- ``batched=False``: ``algo.as_stateful_wrapper(...)`` (for a fixed target, d3rlpy's own
  ``StatefulTransformerWrapper``), one episode at a time, on one environment: what d3rlpy's
  ``evaluate_transformer_with_environment`` does.
- ``batched=True``: :class:`~d3rlpy_dtmem.evaluation.BatchedTransformerPolicy` steps up to
  ``num_envs`` environments together, one model call per step for all of them.
"""

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
from d3rlpy.algos.transformer.action_samplers import TransformerActionSampler
from d3rlpy.types import NDArray

from ..envs.episodes import EpisodeStats, play_one_at_a_time, play_together
from ..expert import (
    DEFAULT_KAPPA,
    DEFAULT_RETURN_SAMPLES,
    DEFAULT_RETURN_TEMPERATURE,
    ReturnSampler,
)
from ..inference import BatchedTransformerPolicy

if TYPE_CHECKING:
    from ..algo import DTMem

__all__ = [
    "EnvFactory",
    "EpisodeStats",
    "EvaluationResult",
    "episode_seed",
    "evaluate",
    "pool_results",
]

EnvFactory = Callable[[], gym.Env]
"""Builds an environment; episodes are started by ``reset(seed=...)``."""


def episode_seed(seed: int, episode: int) -> int:
    """The environment seed of episode ``episode`` of evaluation seed ``seed`` (a uint32)."""
    return int(np.random.SeedSequence([seed, episode]).generate_state(1)[0])


@dataclasses.dataclass(frozen=True)
class EvaluationResult:
    """Per-episode results, one row per seed: arrays of shape (seeds, episodes)."""

    seeds: tuple[int, ...]
    returns: NDArray  # float64
    lengths: NDArray  # int64
    successes: NDArray  # bool
    seconds: float
    batched: bool
    truncated: NDArray | None = None  # bool, cut by a step cap; None: not recorded

    @property
    def truncated_episodes(self) -> int:
        """Episodes cut by a step cap (not ended by the task)."""
        return 0 if self.truncated is None else int(np.sum(self.truncated))

    @property
    def mean_return(self) -> float:
        return float(self.returns.mean())

    @property
    def success_rate(self) -> float:
        return float(self.successes.mean())


def pool_results(results: Sequence[EvaluationResult]) -> EvaluationResult:
    """Several evaluations of the same protocol (e.g. one per fine-tuning run) as one: their
    seed rows stacked, their times added."""

    def stack(name: str) -> NDArray:
        return np.concatenate([getattr(result, name) for result in results])

    truncated = None if any(r.truncated is None for r in results) else stack("truncated")
    return dataclasses.replace(
        results[0],
        seeds=tuple(seed for result in results for seed in result.seeds),
        returns=stack("returns"),
        lengths=stack("lengths"),
        successes=stack("successes"),
        seconds=sum(result.seconds for result in results),
        truncated=truncated,
    )


def evaluate(
    algo: "DTMem",
    env_factory: EnvFactory,
    seeds: Sequence[int] = (0,),
    episodes: int = 10,
    *,
    target_return: float | str | None = None,
    action_sampler: TransformerActionSampler | None = None,
    batched: bool = True,
    num_envs: int | None = None,
    stop_on_success: bool = False,
    kappa: float = DEFAULT_KAPPA,
    temperature: float = DEFAULT_RETURN_TEMPERATURE,
    return_samples: int = DEFAULT_RETURN_SAMPLES,
    show_progress: bool = True,
    desc: str = "evaluate",
) -> EvaluationResult:
    """Runs ``episodes`` episodes for each seed and records their results.

    Args:
        algo: a built DT-Mem.
        env_factory: builds an environment (see :data:`EnvFactory`).
        seeds: evaluation seeds; episode e of seed s starts with
            ``reset(seed=episode_seed(s, e))``.
        episodes: episodes per seed.
        target_return: fixed target return (env units), or ``None`` / ``"expert"`` for
            expert-return inference (discrete models).
        action_sampler: d3rlpy action sampler (default: softmax for discrete actions);
            pass ``GreedyTransformerActionSampler()`` for deterministic policies.
        batched: step the episodes together (one model call per step) instead of one
            episode at a time through the stateful wrapper.
        num_envs: most environments stepped together (default: all episodes at once).
        stop_on_success: end episodes at their first success (Meta-World).
        kappa, temperature, return_samples: expert mode: the return sampler's settings
            (defaults: Multi-Game DT's, see :mod:`d3rlpy_dtmem.expert`). The default action
            sampler of expert mode samples among the upper half of the action logits.
        show_progress: show a progress bar over episodes.
        desc: label of the progress bar.

    Returns:
        the :class:`EvaluationResult`.
    """
    from tqdm.auto import tqdm

    seeds = tuple(int(seed) for seed in seeds)
    if not seeds or episodes < 1:
        raise ValueError(f"need at least one seed and one episode, got {seeds} and {episodes}")
    if num_envs is not None and num_envs < 1:
        raise ValueError(f"num_envs must be positive, got {num_envs}")
    starts = [episode_seed(seed, episode) for seed in seeds for episode in range(episodes)]
    # one generator for the sampled returns of expert mode, seeded by the evaluation seeds
    sampler = ReturnSampler(kappa, temperature, np.random.default_rng(list(seeds)), return_samples)
    count = min(num_envs or len(starts), len(starts)) if batched else 1
    start = time.perf_counter()  # building the environments counts
    envs = [EpisodeStats(env_factory(), stop_on_success) for _ in range(count)]
    try:
        with tqdm(total=len(starts), desc=desc, unit="episode", disable=not show_progress) as bar:
            steps = _StepCounter(bar)
            if batched:
                policy = BatchedTransformerPolicy(
                    algo, count, target_return, action_sampler, sampler
                )
                stats = []
                for first in range(0, len(starts), count):
                    chunk = starts[first : first + count]
                    stats += play_together(policy, envs[: len(chunk)], chunk, bar.update, steps)
            else:
                wrapper = algo.as_stateful_wrapper(
                    target_return,
                    action_sampler,
                    kappa=kappa,
                    temperature=temperature,
                    rng=sampler.rng,
                    return_samples=return_samples,
                )
                stats = play_one_at_a_time(wrapper, envs[0], starts, bar.update, steps)
    finally:
        for env in envs:
            env.close()
    shape = (len(seeds), episodes)
    return EvaluationResult(
        seeds=seeds,
        returns=np.array([s[0] for s in stats], dtype=np.float64).reshape(shape),
        lengths=np.array([s[1] for s in stats], dtype=np.int64).reshape(shape),
        successes=np.array([s[2] for s in stats], dtype=bool).reshape(shape),
        seconds=time.perf_counter() - start,
        batched=batched,
        truncated=np.array([s[3] for s in stats], dtype=bool).reshape(shape),
    )


class _StepCounter:
    """Shows the agent steps taken so far in a progress bar over episodes (long episodes
    would otherwise leave it still for minutes)."""

    def __init__(self, bar: Any, every: int = 200):
        self.bar, self.every, self.steps, self._shown = bar, every, 0, 0

    def __call__(self, running: int) -> None:
        self.steps += running
        if self.steps - self._shown >= self.every:
            self._shown = self.steps
            self.bar.set_postfix(steps=self.steps)
