"""Stateful inference over many episodes at once: one model call per step for all of them.

Shape legend: N episodes held by the policy, n of them acting this step, K context steps,
A action entries (1 action index when discrete).

:class:`BatchedTransformerPolicy` keeps, for each episode, the window that d3rlpy's
``StatefulTransformerWrapper`` keeps (the last K observations, actions, returns-to-go and
timesteps, left-padded with zeros and masked), with the same conventions: timesteps start at
1 and stop at ``max_timestep``, the action of the current step is a zero placeholder, and a
fixed target return is decreased by every reward received (transformed as the training
rewards were: :mod:`d3rlpy_dtmem.rewards`). With a greedy action sampler it
therefore chooses the actions the stock wrapper chooses, but for n episodes per model call.
With ``target_return=None`` or ``"expert"`` it samples each step's return-to-go instead
(:mod:`d3rlpy_dtmem.expert`). :class:`ExpertReturnMixin` gives DT-Mem's ``as_stateful_wrapper``
its expert mode on top of this policy.

With ``memory_scope="episode"`` an episode is cut as in training: step t belongs to the
segment of steps ``K * (t // K) ..``, its window holds that segment's steps up to t, and the
memory is the one the previous segments left, kept per episode. When a segment's last action
is chosen, one more forward pass over the completed segment gives the memory for the next;
so a step costs one window's forward pass, plus one per K steps.
"""

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from d3rlpy.algos.transformer.action_samplers import (
    IdentityTransformerActionSampler,
    SoftmaxTransformerActionSampler,
    TransformerActionSampler,
)
from d3rlpy.algos.transformer.inputs import TorchTransformerInput
from d3rlpy.types import NDArray

from ._moved import renamed_names
from .data.windows import gather, window_steps
from .expert import (
    DEFAULT_KAPPA,
    DEFAULT_RETURN_SAMPLES,
    DEFAULT_RETURN_TEMPERATURE,
    ReturnSampler,
    TopPercentileActionSampler,
    is_expert_target,
)
from .rewards import transform_rewards

if TYPE_CHECKING:
    from .algo import DTMem
    from .nn import DTMemOutput

__all__ = [
    "BatchedTransformerPolicy",
    "ExpertReturnMixin",
    "RewardTransformWrapper",
    "SingleEpisodeWrapper",
    "EpisodeWindows",
    "default_action_sampler",
    "windows_to_torch",
]


@dataclasses.dataclass(frozen=True)
class EpisodeWindows:
    """The context windows of N episodes, newest step last, left-padded with zeros."""

    observations: NDArray  # (N, K, *obs), the env's dtype (uint8 frames stay uint8)
    actions: NDArray  # (N, K, A) float32
    returns_to_go: NDArray  # (N, K, 1) float64, in env units (before reward_scaler)
    timesteps: NDArray  # (N, K) int64
    valid: NDArray  # (N, K) float32, 1 for real steps

    def fields(self) -> tuple[NDArray, ...]:
        return tuple(getattr(self, f.name) for f in dataclasses.fields(self))


@dataclasses.dataclass(frozen=True)
class _StepRing:
    """The last K steps of each of N episodes; step t of an episode at position t % K.

    The windows are read through :func:`~d3rlpy_dtmem.data.windows.window_steps`, the rule
    the training sampler cuts windows by, so inference sees what training saw.
    """

    observations: NDArray  # (N, K, *obs)
    actions: NDArray  # (N, K, A) float32
    returns_to_go: NDArray  # (N, K, 1) float64
    timesteps: NDArray  # (N, K) int64
    steps: NDArray  # (N,) int64, steps of each episode so far

    @classmethod
    def zeros(cls, episodes: int, context: int, observation: NDArray, entries: int) -> "_StepRing":
        return cls(
            observations=np.zeros((episodes, context, *observation.shape), observation.dtype),
            actions=np.zeros((episodes, context, entries), np.float32),
            returns_to_go=np.zeros((episodes, context, 1), np.float64),
            timesteps=np.zeros((episodes, context), np.int64),
            steps=np.zeros(episodes, np.int64),
        )

    def newest(self, index: NDArray) -> tuple[NDArray, NDArray]:
        """(slots, positions) of the newest step of the episodes in ``index``."""
        return index, (self.steps[index] - 1) % self.timesteps.shape[1]

    def windows(self, index: NDArray, segmented: bool = False) -> EpisodeWindows:
        """The windows that end at the newest step of the episodes in ``index``; with
        ``segmented``, they start no earlier than that step's segment (the episode scope)."""
        context = self.timesteps.shape[1]
        newest = self.steps[index] - 1
        first = newest - newest % context if segmented else np.zeros_like(index)
        steps, valid = window_steps(newest, first, context)
        flat = index[:, None] * context + steps % context  # (n, K) into (N * K, ...)

        def read(array: NDArray) -> NDArray:
            return gather(array.reshape(-1, *array.shape[2:]), flat, valid)

        return EpisodeWindows(
            observations=read(self.observations),
            actions=read(self.actions),
            returns_to_go=read(self.returns_to_go),
            timesteps=read(self.timesteps),
            valid=valid.astype(np.float32),
        )


def default_action_sampler(
    algo: "DTMem", expert: bool = False, rng: np.random.Generator | None = None
) -> TransformerActionSampler:
    """d3rlpy's default: softmax sampling for discrete actions, the action itself otherwise;
    with expert returns, Multi-Game DT's sampling among the upper half of the action logits
    (:class:`~d3rlpy_dtmem.expert.TopPercentileActionSampler`, drawing from ``rng``)."""
    if not algo.impl.discrete:
        return IdentityTransformerActionSampler()
    if expert:
        return TopPercentileActionSampler(rng=rng or np.random.default_rng())
    return SoftmaxTransformerActionSampler()


def windows_to_torch(
    algo: "DTMem",
    observations: NDArray,
    actions: NDArray,
    returns_to_go: NDArray,
    timesteps: NDArray,
    valid: NDArray,
) -> TorchTransformerInput:
    """(n, K, ...) numpy windows -> the model's input, scaled as d3rlpy scales its own.

    Observations, actions and returns-to-go go through the config's observation, action
    and reward scalers (as ``TorchTransformerInput.from_numpy`` does for one window).
    """
    config, device = algo.config, algo.impl.device
    torch_observations = torch.from_numpy(
        observations if observations.dtype == np.uint8 else observations.astype(np.float32)
    ).to(device)
    torch_actions = torch.from_numpy(actions.astype(np.float32)).to(device)
    torch_returns = torch.from_numpy(returns_to_go.astype(np.float32)).to(device)
    if config.observation_scaler:
        torch_observations = config.observation_scaler.transform(torch_observations)
    if config.action_scaler:
        torch_actions = config.action_scaler.transform(torch_actions)
    if config.reward_scaler:
        torch_returns = config.reward_scaler.transform(torch_returns)
    return TorchTransformerInput(
        observations=torch_observations,
        actions=torch_actions,
        rewards=torch.zeros_like(torch_returns),
        returns_to_go=torch_returns,
        timesteps=torch.from_numpy(timesteps).to(device),
        masks=torch.from_numpy(valid).to(device),
        length=valid.shape[1],
    )


class BatchedTransformerPolicy:
    """Acts in N episodes at once with one DT-Mem forward per step (two with expert returns).

    Args:
        algo: a built :class:`~d3rlpy_dtmem.DTMem`.
        episodes: N, the number of episodes held.
        target_return: a fixed target return (env units), or ``None`` / ``"expert"`` for
            expert-return inference (discrete models only).
        action_sampler: d3rlpy action sampler applied to each episode's model output
            (default: :func:`default_action_sampler`; in expert mode Multi-Game DT's
            top-50%-of-logits sampling).
        return_sampler: samples return classes in expert mode (default:
            :class:`~d3rlpy_dtmem.expert.ReturnSampler` with its defaults).
    """

    def __init__(
        self,
        algo: "DTMem",
        episodes: int,
        target_return: float | str | None = None,
        action_sampler: TransformerActionSampler | None = None,
        return_sampler: ReturnSampler | None = None,
    ):
        if algo.impl is None:
            raise ValueError("the algorithm is not built: fit or load it first")
        if episodes < 1:
            raise ValueError(f"episodes must be positive, got {episodes}")
        self._algo = algo
        self._expert = is_expert_target(target_return)
        if self._expert and not algo.impl.discrete:
            raise ValueError(
                "expert-return inference needs a discrete-action model; give a target return"
            )
        self._target = 0.0 if self._expert else float(target_return)  # type: ignore[arg-type]
        self._return_sampler = return_sampler or ReturnSampler()
        self._action_sampler = action_sampler or default_action_sampler(
            algo, self._expert, self._return_sampler.rng
        )
        self._episodes = episodes
        self._ring: _StepRing | None = None  # allocated at the first observation
        self._segmented = algo.impl.segment_length is not None  # the episode scope
        # the memory each episode's next segment starts from, (N, slots, d); episode scope
        self._memory: torch.Tensor | None = None
        self._timestep = np.ones(episodes, dtype=np.int64)
        self._return_rest = np.full(episodes, self._target, dtype=np.float64)

    @property
    def algo(self) -> "DTMem":
        return self._algo

    @property
    def windows(self) -> EpisodeWindows | None:
        """The current window of every episode slot (a copy), ``None`` before the first step."""
        if self._ring is None:
            return None
        return self._ring.windows(np.arange(self._episodes), self._segmented)

    @property
    def memory(self) -> torch.Tensor | None:
        """Episode scope: the memory each episode slot's current segment started from,
        (N, slots, d); ``None`` in the window scope or before the first step."""
        return self._memory

    def reset(self, episodes: Sequence[int] | None = None) -> None:
        """Starts new episodes in the given slots (all slots with ``None``)."""
        index = np.arange(self._episodes) if episodes is None else np.asarray(episodes)
        if self._ring is not None:
            self._ring.steps[index] = 0
        if self._memory is not None:
            self._memory[torch.from_numpy(index)] = self._initial_memory(len(index))
        self._timestep[index] = 1
        self._return_rest[index] = self._target

    def predict(
        self, observations: NDArray, rewards: NDArray, episodes: Sequence[int]
    ) -> list[Any]:
        """Actions for the episodes in slots ``episodes`` (n of them).

        Args:
            observations: (n, *obs) current observations.
            rewards: (n,) rewards received by the previous step (0 at an episode's start).
            episodes: the n slots, distinct.

        Returns:
            n actions, as the action sampler returns them (ints for discrete models).
        """
        index = np.asarray(episodes, dtype=np.int64)
        observations = np.asarray(observations)
        assert len(observations) == len(index) == len(rewards), "one row per episode"
        ring = self._push(index, observations, np.asarray(rewards, dtype=np.float64))
        newest = ring.newest(index)
        windows = ring.windows(index, self._segmented)  # read once, patched in expert mode
        if self._expert:
            returns = self._sample_returns(windows, index)
            ring.returns_to_go[newest + (0,)] = returns
            windows.returns_to_go[:, -1, 0] = returns
        output = self._forward(windows, index).action[:, -1]  # (n, A)
        if self._algo.config.action_scaler:
            output = self._algo.config.action_scaler.reverse_transform(output)
        actions = [self._action_sampler(row) for row in output.cpu().numpy()]
        ring.actions[newest] = np.reshape(actions, (len(index), -1))
        self._timestep[index] = np.minimum(
            self._timestep[index] + 1, self._algo.config.max_timestep
        )
        if self._segmented:
            self._close_segments(index[newest[1] == ring.timesteps.shape[1] - 1])
        return actions

    def _close_segments(self, index: NDArray) -> None:
        """Episode scope: the memory after the segments just completed in ``index``, with
        their last actions chosen, becomes the memory their next segments start from."""
        if len(index) == 0:
            return
        windows = self._ring.windows(index, segmented=True)  # type: ignore[union-attr]
        rows = torch.from_numpy(index)
        self._memory[rows] = self._forward(windows, index, carry=True).memory  # type: ignore[index]

    def _initial_memory(self, episodes: int) -> torch.Tensor:
        return self._algo.impl.model.memory.initial_memory(episodes).detach()

    def _push(self, index: NDArray, observations: NDArray, rewards: NDArray) -> _StepRing:
        """Appends the new step of each episode in ``index`` (its oldest step drops out)."""
        if self._ring is None:
            impl = self._algo.impl
            entries = 1 if impl.discrete else impl.action_size
            context = self._algo.config.context_size
            self._ring = _StepRing.zeros(self._episodes, context, observations[0], entries)
            if self._segmented:
                self._memory = self._initial_memory(self._episodes).clone()
        ring = self._ring
        ring.steps[index] += 1
        newest = ring.newest(index)
        # in the units of the training returns-to-go (e.g. clipped, for DQN-Replay data)
        transform = self._algo.config.evaluation_reward_transform
        self._return_rest[index] -= transform_rewards(rewards, transform)
        ring.observations[newest] = observations
        ring.actions[newest] = 0.0  # placeholder: a_t is being chosen
        ring.returns_to_go[newest + (0,)] = self._return_rest[index]
        ring.timesteps[newest] = self._timestep[index]
        return ring

    def _forward(
        self, windows: EpisodeWindows, index: NDArray, carry: bool = False
    ) -> "DTMemOutput":
        """The model on the windows of the episodes in ``index`` (from their memories in
        the episode scope)."""
        impl = self._algo.impl
        inpt = windows_to_torch(self._algo, *windows.fields())
        memory = None if self._memory is None else self._memory[torch.from_numpy(index)]
        impl.modules.set_eval()
        with torch.no_grad():
            return impl.forward(inpt, ddp=False, memory=memory, carry=carry)

    def _sample_returns(self, windows: EpisodeWindows, index: NDArray) -> NDArray:
        """Samples R̂_t for the newest step of ``windows``; returns it in env units."""
        logits = self._forward(windows, index).return_to_go[:, -1]  # (n, classes)
        low = self._algo.config.return_range[0]
        returns = (low + self._return_sampler(logits.cpu().numpy())).astype(np.float64)
        scaler = self._algo.config.reward_scaler
        # the model reads scaled returns: store the value that scales back to the class
        return scaler.reverse_transform_numpy(returns) if scaler else returns


class SingleEpisodeWrapper:
    """d3rlpy's stateful-wrapper protocol (``predict(x, reward)``, ``reset()``) over a
    :class:`BatchedTransformerPolicy` of one episode; ``evaluate_transformer_with_environment``
    accepts it."""

    def __init__(self, policy: BatchedTransformerPolicy):
        self._policy = policy

    @property
    def algo(self) -> "DTMem":
        return self._policy.algo

    @property
    def policy(self) -> BatchedTransformerPolicy:
        return self._policy

    def predict(self, x: NDArray, reward: float) -> Any:
        return self._policy.predict(np.asarray(x)[None], np.array([reward]), [0])[0]

    def reset(self) -> None:
        self._policy.reset()


class RewardTransformWrapper:
    """A stateful wrapper that hands ``wrapped`` the rewards transformed into the training
    data's units (:mod:`d3rlpy_dtmem.rewards`), so that d3rlpy's own wrapper decreases its
    target return as the returns-to-go were trained."""

    def __init__(self, wrapped: Any, transform: str):
        self._wrapped = wrapped
        self._transform = transform

    @property
    def wrapped(self) -> Any:
        return self._wrapped

    def predict(self, x: NDArray, reward: float) -> Any:
        return self._wrapped.predict(x, float(transform_rewards(reward, self._transform)))

    def reset(self) -> None:
        self._wrapped.reset()


class ExpertReturnMixin:
    """Adds expert-return inference to d3rlpy's ``as_stateful_wrapper``; mixed into
    :class:`~d3rlpy_dtmem.DTMem`."""

    def as_stateful_wrapper(  # type: ignore[override]
        self,
        target_return: float | str | None = None,
        action_sampler: TransformerActionSampler | None = None,
        *,
        kappa: float = DEFAULT_KAPPA,
        temperature: float = DEFAULT_RETURN_TEMPERATURE,
        rng: np.random.Generator | int | None = None,
        return_samples: int = DEFAULT_RETURN_SAMPLES,
    ) -> Any:
        """A stateful wrapper for ``evaluate_transformer_with_environment``.

        Args:
            target_return: a fixed target return (env units; d3rlpy's own wrapper), or
                ``None`` / ``"expert"``: sample each step's return from the model's tilted
                return distribution (discrete models; see
                :mod:`d3rlpy_dtmem.expert`).
            action_sampler: d3rlpy action sampler (default: softmax sampling for discrete
                actions, identity for continuous ones; in expert mode, sampling among the
                upper half of the action logits, as Multi-Game DT).
            kappa: expert mode: weight of the optimality prior (Multi-Game DT: 10).
            temperature: expert mode: temperature of the return distribution (Multi-Game
                DT: 0.75).
            rng: expert mode: generator (or seed) of the return and action sampling.
            return_samples: expert mode: returns drawn per step, the highest kept
                (Multi-Game DT: 128).

        Returns:
            d3rlpy's ``StatefulTransformerWrapper`` for a fixed target in the window scope
            (inside a :class:`RewardTransformWrapper` when the training rewards were
            transformed), else a :class:`~d3rlpy_dtmem.inference.SingleEpisodeWrapper`
            (expert returns, or ``memory_scope="episode"``, whose memory d3rlpy's wrapper
            would not carry).
        """
        algo: Any = self
        if is_expert_target(target_return):
            sampler = ReturnSampler(kappa, temperature, np.random.default_rng(rng), return_samples)
            policy = BatchedTransformerPolicy(algo, 1, target_return, action_sampler, sampler)
            return SingleEpisodeWrapper(policy)
        target = float(target_return)  # type: ignore[arg-type]
        if algo.config.memory_scope == "episode":  # d3rlpy's wrapper would not carry the memory
            return SingleEpisodeWrapper(BatchedTransformerPolicy(algo, 1, target, action_sampler))
        wrapper = super().as_stateful_wrapper(target, action_sampler)  # type: ignore[misc]
        transform = algo.config.evaluation_reward_transform
        return wrapper if transform == "none" else RewardTransformWrapper(wrapper, transform)


__getattr__ = renamed_names(__name__, {"Windows": "EpisodeWindows"})
