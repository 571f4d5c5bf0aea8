"""Meta-World tasks as gymnasium environments, for data collection and evaluation.

A Meta-World *task* (``reach-v3``, ``door-lock-v3``, ...) has many *variants*: object and
goal positions drawn from the task's random-reset space. :func:`make_metaworld` builds one
task whose every ``reset`` draws a fresh variant from the environment's own random generator,
seeded by ``seed`` (or by ``reset(seed=...)``, which re-seeds it as in gymnasium). A seeded
environment therefore replays the same sequence of variants; variants are continuous, so a
different seed gives variants that do not occur under another seed.

The ML45 benchmark hides the goal position (the last 3 of the 39 observation entries are
zero). The environment here is always simulated with the goal observable, and the goal is
zeroed in what the agent sees when ``hide_goal=True`` (the default, as in ML45): the scripted
experts need the goal, the agent of the benchmark must not see it.

``metaworld`` and ``mujoco`` are imported only when an environment is built.
"""

import difflib
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from .episodes import EpisodeStats, play_one_at_a_time

if TYPE_CHECKING:  # d3rlpy loads torch: not needed to list tasks or parse options
    from d3rlpy.interface import StatefulTransformerAlgoProtocol

__all__ = [
    "ML45_TRAIN_TASKS",
    "ML45_TEST_TASKS",
    "MAX_EPISODE_STEPS",
    "OBSERVATION_SIZE",
    "ACTION_SIZE",
    "MetaWorldTaskEnv",
    "check_metaworld_task",
    "make_metaworld",
    "mask_goal",
    "mask_goal_space",
    "metaworld_success_rate",
    "metaworld_tasks",
]

# The ML45 split (datasets/metaworld/ml45_tasks.txt, metaworld 3.x names).
ML45_TRAIN_TASKS: tuple[str, ...] = (
    "assembly-v3",
    "basketball-v3",
    "button-press-topdown-v3",
    "button-press-topdown-wall-v3",
    "button-press-v3",
    "button-press-wall-v3",
    "coffee-button-v3",
    "coffee-pull-v3",
    "coffee-push-v3",
    "dial-turn-v3",
    "disassemble-v3",
    "door-close-v3",
    "door-open-v3",
    "drawer-close-v3",
    "drawer-open-v3",
    "faucet-open-v3",
    "faucet-close-v3",
    "hammer-v3",
    "handle-press-side-v3",
    "handle-press-v3",
    "handle-pull-side-v3",
    "handle-pull-v3",
    "lever-pull-v3",
    "pick-place-wall-v3",
    "pick-out-of-hole-v3",
    "push-back-v3",
    "pick-place-v3",
    "plate-slide-v3",
    "plate-slide-side-v3",
    "plate-slide-back-v3",
    "plate-slide-back-side-v3",
    "peg-insert-side-v3",
    "peg-unplug-side-v3",
    "soccer-v3",
    "stick-push-v3",
    "stick-pull-v3",
    "push-wall-v3",
    "push-v3",
    "reach-wall-v3",
    "reach-v3",
    "shelf-place-v3",
    "sweep-into-v3",
    "sweep-v3",
    "window-open-v3",
    "window-close-v3",
)
ML45_TEST_TASKS: tuple[str, ...] = (
    "bin-picking-v3",
    "box-close-v3",
    "hand-insert-v3",
    "door-lock-v3",
    "door-unlock-v3",
)

# Meta-World's task horizon: its environments refuse to step past it.
MAX_EPISODE_STEPS = 500
OBSERVATION_SIZE = 39
ACTION_SIZE = 4
# obs = [hand xyz, gripper, 14 object entries] (now) + the same 18 (previous step) + goal xyz
_GOAL = slice(36, 39)
_SPLITS = {"train": ML45_TRAIN_TASKS, "test": ML45_TEST_TASKS}


def metaworld_tasks(split: str | None = None) -> tuple[str, ...]:
    """The ML45 tasks of ``split`` (``"train"`` or ``"test"``), or all 50 with ``None``."""
    if split is None:
        return ML45_TRAIN_TASKS + ML45_TEST_TASKS
    if split not in _SPLITS:
        raise ValueError(f"unknown ML45 split {split!r}: expected 'train' or 'test'")
    return _SPLITS[split]


def check_metaworld_task(task: str, split: str | None = None) -> str:
    """Returns ``task`` if it is a Meta-World v3 task (of the ML45 ``split``, if given).

    Raises:
        ValueError: an unknown task (with the closest names), or one of the other split.
    """
    known = metaworld_tasks()
    if task not in known:
        close = difflib.get_close_matches(task, known, n=3)
        hint = f"did you mean {', '.join(map(repr, close))}?" if close else "see ML45_TRAIN_TASKS"
        raise ValueError(f"unknown Meta-World task {task!r} ({hint})")
    if split is not None and task not in metaworld_tasks(split):
        other = "test" if split == "train" else "train"
        raise ValueError(f"task {task!r} is in the ML45 {other} split, not {split!r}")
    return task


def mask_goal(observation: np.ndarray) -> np.ndarray:
    """A copy of a (..., 39) observation with the goal position (last 3 entries) zeroed."""
    masked = np.array(observation, copy=True)
    masked[..., _GOAL] = 0
    return masked


def mask_goal_space(space: gym.spaces.Box) -> gym.spaces.Box:
    """The observation space of goal-masked observations (goal bounds set to zero)."""
    return gym.spaces.Box(mask_goal(space.low), mask_goal(space.high), dtype=space.dtype)


class MetaWorldTaskEnv(gym.Wrapper):
    """One Meta-World task with a fresh variant per reset, float32 observations.

    Observations: ``Box((39,), float32)``, the goal zeroed if ``hide_goal``. Actions:
    ``Box(-1, 1, (4,), float32)``; actions outside are clipped. Episodes never terminate;
    they are truncated after ``max_episode_steps``. ``info["success"]`` is a ``bool``.
    Build it with :func:`make_metaworld`.
    """

    def __init__(self, env: gym.Env, task: str, hide_goal: bool, max_episode_steps: int):
        super().__init__(env)
        self.task = task
        self.hide_goal = hide_goal
        self.max_episode_steps = max_episode_steps
        space = env.unwrapped.sawyer_observation_space
        low, high = (bound.astype(np.float32) for bound in (space.low, space.high))
        space = gym.spaces.Box(low, high, dtype=np.float32)
        self.observation_space = mask_goal_space(space) if hide_goal else space
        self.action_space = gym.spaces.Box(-1.0, 1.0, (ACTION_SIZE,), dtype=np.float32)
        self._elapsed = 0

    def _observe(self, observation: np.ndarray) -> np.ndarray:
        observation = np.asarray(observation, dtype=np.float32)
        return mask_goal(observation) if self.hide_goal else observation

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Starts an episode on a new variant; ``seed`` re-seeds the variant generator."""
        if seed is not None:
            self.env.unwrapped.seed(seed)
        observation, info = self.env.reset()
        self._elapsed = 0
        return self._observe(observation), dict(info)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """One control step; ``truncated`` once ``max_episode_steps`` steps are done."""
        action = np.clip(np.asarray(action, dtype=np.float32).reshape(ACTION_SIZE), -1.0, 1.0)
        observation, reward, terminated, truncated, info = self.env.step(action)
        self._elapsed += 1
        truncated = bool(truncated) or self._elapsed >= self.max_episode_steps
        info = {**info, "success": bool(info["success"])}
        return self._observe(observation), float(reward), bool(terminated), truncated, info


def make_metaworld(
    task: str,
    *,
    seed: int | None = None,
    split: str | None = None,
    hide_goal: bool = True,
    max_episode_steps: int = MAX_EPISODE_STEPS,
) -> MetaWorldTaskEnv:
    """A Meta-World task as a gymnasium environment, usable by d3rlpy's evaluators.

    Every ``reset`` draws a new task variant (object and goal positions); ``seed`` seeds the
    sequence of variants (``None``: unseeded). The observation is always computed with the
    goal visible and masked afterwards when ``hide_goal``, so that the data written by
    ``dtmem-convert metaworld`` and this environment agree.

    Args:
        task: a v3 task name, e.g. ``"reach-v3"`` (see :func:`metaworld_tasks`).
        seed: seed of the variant generator.
        split: ``"train"`` or ``"test"`` to require the task to be in that ML45 split.
        hide_goal: zero the goal position in observations, as ML45 does.
        max_episode_steps: truncate episodes after this many steps (1 to 500).

    Returns:
        the environment.

    Raises:
        ValueError: unknown task or split, task of the other split, bad step cap.
    """
    check_metaworld_task(task, split)
    if not 1 <= max_episode_steps <= MAX_EPISODE_STEPS:
        raise ValueError(
            f"max_episode_steps must be in [1, {MAX_EPISODE_STEPS}], got {max_episode_steps}"
        )
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS_GOAL_OBSERVABLE

    env = ALL_V3_ENVIRONMENTS_GOAL_OBSERVABLE[f"{task}-goal-observable"](seed=seed)
    # That class freezes one variant; draw a new one at every reset from env.np_random.
    env._freeze_rand_vec = False
    env.seeded_rand_vec = True
    return MetaWorldTaskEnv(env, task, hide_goal, max_episode_steps)


def metaworld_success_rate(
    wrapper: "StatefulTransformerAlgoProtocol",
    task: str,
    episodes: int,
    seed: int,
    *,
    hide_goal: bool = True,
    max_episode_steps: int = MAX_EPISODE_STEPS,
    show_progress: bool = False,
) -> float:
    """The fraction of episodes in which a stateful policy succeeds at least once.

    An episode stops at its first success (later steps cannot change the result).

    Args:
        wrapper: anything with ``predict(observation, reward)`` and ``reset()``, e.g.
            ``algo.as_stateful_wrapper(target_return=...)``.
        task: the Meta-World task.
        episodes: number of episodes (each on a new variant).
        seed: seed of the variants (use one that differs from the data's seed).
        hide_goal: zero the goal position in observations (must match the training data).
        max_episode_steps: step cap per episode.
        show_progress: show a progress bar over episodes.

    Returns:
        the success rate in [0, 1].
    """
    from tqdm.auto import tqdm

    if episodes <= 0:
        raise ValueError(f"episodes must be positive, got {episodes}")
    env = EpisodeStats(
        make_metaworld(task, seed=seed, hide_goal=hide_goal, max_episode_steps=max_episode_steps),
        stop_on_success=True,
    )
    try:
        with tqdm(total=episodes, desc=task, disable=not show_progress, unit="episode") as bar:
            stats = play_one_at_a_time(wrapper, env, [None] * episodes, bar.update)
    finally:
        env.close()
    return sum(success for _, _, success, _ in stats) / episodes
