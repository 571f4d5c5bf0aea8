"""T-maze: a memory task whose cue is shown once, long before it is needed.

The agent starts at the foot of a corridor of ``corridor_length`` cells. Its first
observation carries a cue, up or down; no later observation does. At the far end is a
junction with an arm up and an arm down, and the episode ends when the agent turns into one:
reward 1 and ``info["success"]`` if the arm is the one the cue named, else reward 0.

Observations are 3 floats: ``(cue, at_junction, 1)``, the cue being +1 (up) or -1 (down) at
the first step and 0 after. Actions: 0 forward, 1 turn up, 2 turn down; turning inside the
corridor and going forward at the junction leave the agent where it is. Episodes are
truncated after ``corridor_length + 1 + slack`` steps. The scripted expert walks forward and
turns the cued way: ``corridor_length + 1`` steps. A policy that sees no more than the last
K < corridor_length + 1 steps cannot know the cue at the junction, and succeeds half the time.

The environment is registered with gymnasium as ``d3rlpy_dtmem/TMaze-v0``;
:func:`tmaze_dataset` records the expert's episodes as a d3rlpy replay buffer.
"""

from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from .episodes import EpisodeStats, play_one_at_a_time
from .registry import TMAZE_ENV_ID

if TYPE_CHECKING:
    from d3rlpy.dataset import ReplayBuffer

    from ..algo import DTMemConfig

__all__ = [
    "FORWARD",
    "TMAZE_ENV_ID",
    "TMazeEnv",
    "tmaze_config",
    "tmaze_dataset",
    "tmaze_expert_action",
    "tmaze_outcomes",
    "tmaze_success_rate",
]

FORWARD, UP, DOWN = 0, 1, 2


class TMazeEnv(gym.Env):
    """The T-maze (see the module docstring).

    Args:
        corridor_length: cells between the start and the junction (>= 1).
        slack: steps allowed beyond the shortest episode before truncation.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, corridor_length: int = 16, slack: int = 8):
        if corridor_length < 1 or slack < 0:
            raise ValueError(
                f"TMazeEnv: corridor_length must be >= 1 and slack >= 0, got "
                f"{corridor_length} and {slack}"
            )
        self.corridor_length = corridor_length
        self.max_steps = corridor_length + 1 + slack
        self.observation_space = spaces.Box(-1.0, 1.0, shape=(3,), dtype=np.float32)
        self.action_space = spaces.Discrete(3)
        self._cue = UP
        self._position = 0
        self._steps = 0

    @property
    def cue(self) -> int:
        """The arm of this episode: ``UP`` (1) or ``DOWN`` (2)."""
        return self._cue

    @property
    def position(self) -> int:
        """Cells walked so far (``corridor_length`` at the junction)."""
        return self._position

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[NDArray, dict[str, Any]]:
        super().reset(seed=seed)
        self._cue = UP if self.np_random.random() < 0.5 else DOWN
        self._position = 0
        self._steps = 0
        return self._observation(show_cue=True), {}

    def step(self, action: Any) -> tuple[NDArray, float, bool, bool, dict[str, Any]]:
        action = int(action)
        if action not in (FORWARD, UP, DOWN):
            raise ValueError(f"TMazeEnv: action {action} is not 0, 1 or 2")
        self._steps += 1
        at_junction = self._position == self.corridor_length
        if at_junction and action != FORWARD:
            success = action == self._cue
            return self._observation(), float(success), True, False, {"success": success}
        if not at_junction and action == FORWARD:
            self._position += 1
        truncated = self._steps >= self.max_steps
        return self._observation(), 0.0, False, truncated, {"success": False}

    def _observation(self, show_cue: bool = False) -> NDArray:
        cue = (1.0 if self._cue == UP else -1.0) if show_cue else 0.0
        at_junction = float(self._position == self.corridor_length)
        return np.array([cue, at_junction, 1.0], dtype=np.float32)


def tmaze_expert_action(env: TMazeEnv) -> int:
    """The scripted expert: forward to the junction, then into the cued arm."""
    return FORWARD if env.position < env.corridor_length else env.cue


def tmaze_dataset(episodes: int, corridor_length: int = 16, seed: int = 0) -> "ReplayBuffer":
    """``episodes`` expert episodes (cues drawn with ``seed``) as a d3rlpy replay buffer."""
    import d3rlpy  # loads torch: only when data is made

    if episodes < 1:
        raise ValueError(f"tmaze_dataset: episodes must be >= 1, got {episodes}")
    env = TMazeEnv(corridor_length)
    observations, actions, rewards, terminals = [], [], [], []
    for episode in range(episodes):
        observation, _ = env.reset(seed=seed * 1_000_003 + episode)
        done = False
        while not done:
            action = tmaze_expert_action(env)
            observations.append(observation)
            actions.append(action)
            observation, reward, done, _, _ = env.step(action)
            rewards.append(reward)
            terminals.append(float(done))
    return d3rlpy.dataset.MDPDataset(
        observations=np.array(observations, dtype=np.float32),
        actions=np.array(actions, dtype=np.int64),
        rewards=np.array(rewards, dtype=np.float32),
        terminals=np.array(terminals, dtype=np.float32),
        action_space=d3rlpy.ActionSpace.DISCRETE,
        action_size=3,
    )


def tmaze_config(
    memory_scope: str, corridor_length: int, context_size: int, **overrides: Any
) -> "DTMemConfig":
    """The small DT-Mem of the T-maze evidence (``benchmarks/memory_tasks.py``, the example,
    the test): width 64, 2 layers, 2 heads, 16 slots, batches of 128, no dropout, and in the
    episode scope training runs that span a whole expert episode.

    Args:
        memory_scope: ``"window"`` or ``"episode"``.
        corridor_length: the maze's corridor (the episode has ``corridor_length + 1`` steps).
        context_size: K.
        overrides: any other ``DTMemConfig`` field, applied last.
    """
    from d3rlpy.models import VectorEncoderFactory

    from ..algo import DTMemConfig, default_optim_factory

    params: dict[str, Any] = dict(
        batch_size=128,
        context_size=context_size,
        max_timestep=64,
        num_heads=2,
        num_layers=2,
        memory_slots=16,
        memory_scope=memory_scope,
        # a training run covers the whole episode, so the cue and the turn meet in it
        memory_segments=-(-(corridor_length + 1) // context_size),
        encoder_factory=VectorEncoderFactory(hidden_units=[64]),
        optim_factory=default_optim_factory(100),
        learning_rate=1e-3,
        return_range=(0, 1),
        attn_dropout=0.0,
        resid_dropout=0.0,
        embed_dropout=0.0,
    )
    params.update(overrides)
    return DTMemConfig(**params)


def tmaze_outcomes(wrapper: Any, corridor_length: int, episodes: int, seed: int) -> list[bool]:
    """Whether a stateful policy turns into the cued arm, in each of ``episodes`` episodes.

    Args:
        wrapper: anything with ``predict(observation, reward)`` and ``reset()``, e.g.
            ``algo.as_stateful_wrapper(target_return=1.0)``.
        corridor_length: the maze's corridor length (as in the training data).
        episodes: number of episodes.
        seed: seed of the first episode's cue (episode i uses ``seed + i``).
    """
    if episodes < 1:
        raise ValueError(f"tmaze_outcomes: episodes must be >= 1, got {episodes}")
    env = EpisodeStats(TMazeEnv(corridor_length))
    seeds = [seed + episode for episode in range(episodes)]
    return [bool(stats[2]) for stats in play_one_at_a_time(wrapper, env, seeds)]


def tmaze_success_rate(wrapper: Any, corridor_length: int, episodes: int, seed: int) -> float:
    """The fraction of :func:`tmaze_outcomes` that succeed."""
    return float(np.mean(tmaze_outcomes(wrapper, corridor_length, episodes, seed)))
