"""Memory activity: how strongly each step of an episode writes to each memory slot.

Shape legend: T steps of the episode, K context steps, N memory slots.

The activity of slot n at step t is the write weight ``w_t[n] * beta_t[n]`` of
:class:`~d3rlpy_dtmem.nn.MemoryRead` (address times write strength; the share of
the step's value added to the slot), computed on the window the agent acted on at step t
(the last K steps up to t) with the action it then took. Plotted as a slot x step heatmap
it is the paper's Figure 8. With ``memory_scope="episode"`` the window of step t is its
segment up to t and the memory is the one earlier segments left, as when the agent acted:
the heatmap shows one memory over the whole episode.
"""

import dataclasses
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
import torch
from d3rlpy.algos.transformer.action_samplers import TransformerActionSampler
from d3rlpy.types import NDArray

from ..data.windows import gather, window_steps
from ..expert import ReturnSampler
from ..inference import BatchedTransformerPolicy, windows_to_torch

if TYPE_CHECKING:
    from ..algo import DTMem

__all__ = ["Trajectory", "memory_activity", "record_trajectory"]


@dataclasses.dataclass(frozen=True)
class Trajectory:
    """The steps of one episode as the agent saw and conditioned them."""

    observations: NDArray  # (T, *obs)
    actions: NDArray  # (T, A) float32 (action indices when discrete)
    returns_to_go: NDArray  # (T, 1) float64, the returns conditioned on (env units)
    timesteps: NDArray  # (T,) int64
    rewards: NDArray  # (T,) float64, received after each step's action

    def __len__(self) -> int:
        return len(self.timesteps)


def record_trajectory(
    algo: "DTMem",
    env: gym.Env,
    target_return: float | str | None = None,
    max_steps: int = 500,
    action_sampler: TransformerActionSampler | None = None,
    return_sampler: ReturnSampler | None = None,
    seed: int | None = None,
) -> Trajectory:
    """Plays one episode (at most ``max_steps`` steps) from ``env.reset(seed=seed)``.

    Args:
        algo: a built DT-Mem.
        env: the environment.
        target_return: fixed target, or ``None`` / ``"expert"`` (discrete models).
        max_steps: steps recorded at most.
        action_sampler: d3rlpy action sampler (default: softmax for discrete actions).
        return_sampler: expert mode: the return sampler.
        seed: seed of the episode's reset (``episode_seed(s, e)`` replays episode e of
            evaluation seed s).
    """
    policy = BatchedTransformerPolicy(algo, 1, target_return, action_sampler, return_sampler)
    observation, reward = env.reset(seed=seed)[0], 0.0
    steps: list[tuple[Any, ...]] = []
    for _ in range(max_steps):
        action = policy.predict(np.asarray(observation)[None], np.array([reward]), [0])[0]
        windows = policy.windows
        assert windows is not None
        observation, reward, terminated, truncated, _ = env.step(action)
        steps.append(
            (
                windows.observations[0, -1].copy(),
                windows.actions[0, -1].copy(),
                windows.returns_to_go[0, -1].copy(),
                windows.timesteps[0, -1],
                float(reward),
            )
        )
        if terminated or truncated:
            break
    observations, actions, returns, timesteps, rewards = zip(*steps, strict=True)
    return Trajectory(
        np.stack(observations),
        np.stack(actions),
        np.stack(returns),
        np.array(timesteps, dtype=np.int64),
        np.array(rewards, dtype=np.float64),
    )


def _windows_ending_at(trajectory: Trajectory, steps: NDArray, context: int) -> list[NDArray]:
    """The K-step windows that end at each of ``steps`` (n), as the model saw them."""
    index, valid = window_steps(steps, np.zeros_like(steps), context)  # (n, K)
    return _gathered(trajectory, index, valid)


def _gathered(trajectory: Trajectory, index: NDArray, valid: NDArray) -> list[NDArray]:
    """The model's inputs (observations, actions, returns-to-go, timesteps, valid) at the
    (n, L) steps ``index`` of ``trajectory``, zero where not ``valid``."""
    arrays = (
        trajectory.observations,
        trajectory.actions,
        trajectory.returns_to_go,
        trajectory.timesteps,
    )
    return [*(gather(array, index, valid) for array in arrays), valid.astype(np.float32)]


def memory_activity(algo: "DTMem", trajectory: Trajectory, batch_size: int = 64) -> NDArray:
    """Write weights ``w * beta`` of every step of ``trajectory`` to every slot: (T, N).

    Raises:
        ValueError: the model has no working memory (``use_memory=False``).
    """
    impl = algo.impl
    model = impl.model
    if model.memory is None:
        raise ValueError("the model has no working memory (it was built with use_memory=False)")
    captured: list[torch.Tensor] = []
    # the write weights w * beta of every step, as the memory computes them in the forward
    hook = model.memory.register_forward_hook(lambda _m, _a, read: captured.append(read.write))
    rows = []
    try:
        impl.modules.set_eval()
        if impl.segment_length is not None:  # the episode scope: one run of segments
            return _episode_activity(algo, trajectory, captured)
        for start in range(0, len(trajectory), batch_size):
            steps = np.arange(start, min(len(trajectory), start + batch_size))
            windows = _windows_ending_at(trajectory, steps, algo.config.context_size)
            captured.clear()
            with torch.no_grad():
                impl.forward(windows_to_torch(algo, *windows))
            rows.append(captured[0][:, -1].cpu().numpy())  # (n, N): the newest step
    finally:
        hook.remove()
    return np.concatenate(rows)


def _episode_activity(algo: "DTMem", trajectory: Trajectory, captured: list) -> NDArray:
    """Episode scope: the whole trajectory as one run of segments, padded to whole ones."""
    context = algo.impl.segment_length
    steps = len(trajectory)
    padded = -(-steps // context) * context
    index = np.minimum(np.arange(padded), steps - 1)[None]  # (1, L)
    valid = (np.arange(padded) < steps)[None]
    inputs = _gathered(trajectory, index, valid)
    with torch.no_grad():
        algo.impl.forward(windows_to_torch(algo, *inputs))
    # one capture per segment (content addressing runs them in turn), or one for the run
    return torch.cat(captured, dim=1)[0, :steps].cpu().numpy()
