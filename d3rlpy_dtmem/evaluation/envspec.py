"""Evaluation environments named by a short spec: ``atari:Pong``, ``metaworld:door-lock-v3``,
``gym:CartPole-v1``; each kind knows how it is built and scored.

==========  =========================================  ==================================
kind        environment                                task score
==========  =========================================  ==================================
atari       :func:`~d3rlpy_dtmem.envs.make_atari`      human-normalized, and DQN-normalized
            (DQN protocol)                             beside it (raw returns if the game is
                                                       not in the reference table)
metaworld   :func:`~d3rlpy_dtmem.envs.make_metaworld`  success (episodes end at the first)
gym         ``gymnasium.make(id)``                     return
==========  =========================================  ==================================
"""

import dataclasses
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from d3rlpy.types import NDArray

from ..envs.atari import DQN_MAX_EPISODE_STEPS as ATARI_STEPS
from ..envs.metaworld import MAX_EPISODE_STEPS as METAWORLD_STEPS
from ..expert import DEFAULT_KAPPA, DEFAULT_RETURN_SAMPLES, DEFAULT_RETURN_TEMPERATURE
from ..spaces import check_fits
from .report import TaskResult
from .rollouts import EvaluationResult, evaluate
from .scores import has_reference, normalized_score, weak_reference

__all__ = [
    "DQN_NORMALIZED",
    "ENV_KINDS",
    "HUMAN_NORMALIZED",
    "EnvSpec",
    "check_env_compatible",
    "evaluate_envs",
    "parse_env_spec",
    "resolve_target_return",
]

ENV_KINDS = ("atari", "metaworld", "gym")
HUMAN_NORMALIZED = "human-normalized score"
DQN_NORMALIZED = "DQN-normalized score"
_REFERENCE_COLUMNS = {HUMAN_NORMALIZED: "human", DQN_NORMALIZED: "dqn"}
# Meta-World pays at most 10 per step: the default target return of continuous models
_METAWORLD_MAX_REWARD = 10.0


@dataclasses.dataclass(frozen=True)
class EnvSpec:
    """An evaluation environment: ``kind`` (one of :data:`ENV_KINDS`) and ``name``.

    Args:
        kind: ``"atari"``, ``"metaworld"`` or ``"gym"``.
        name: game (``"Pong"``), Meta-World task (``"door-lock-v3"``) or gymnasium id.
        max_episode_steps: cap on agent steps per episode (``None``: the kind's default,
            27,000 for Atari and 500 for Meta-World).
    """

    kind: str
    name: str
    max_episode_steps: int | None = None

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.name}"

    @property
    def score_names(self) -> tuple[str, ...]:
        """The kinds of score :meth:`scores` gives, the main one first."""
        if self.kind == "atari":
            names = tuple(
                name
                for name, column in _REFERENCE_COLUMNS.items()
                if has_reference(self.name, column)
            )
            return names or ("return",)  # a game without reference scores: raw returns
        return ("success rate",) if self.kind == "metaworld" else ("return",)

    @property
    def score_name(self) -> str:
        """The main score of the task."""
        return self.score_names[0]

    @property
    def stop_on_success(self) -> bool:
        return self.kind == "metaworld"

    def default_target_return(self) -> float | None:
        """Target return for continuous models: Meta-World's ceiling (10 per step), else None."""
        if self.kind != "metaworld":
            return None
        return _METAWORLD_MAX_REWARD * (self.max_episode_steps or METAWORLD_STEPS)

    def make(self, seed: int | None = None) -> gym.Env:
        """Builds the environment, seeded with ``seed`` if given (an ``EnvFactory``)."""
        if self.kind == "atari":
            from ..envs import make_atari

            if self.max_episode_steps is None:
                return make_atari(self.name, seed=seed)
            return make_atari(self.name, seed=seed, max_episode_steps=self.max_episode_steps)
        if self.kind == "metaworld":
            from ..envs import make_metaworld

            return make_metaworld(
                self.name, seed=seed, max_episode_steps=self.max_episode_steps or METAWORLD_STEPS
            )
        env = gym.make(self.name, max_episode_steps=self.max_episode_steps)
        if seed is not None:
            env.reset(seed=seed)
            env.action_space.seed(seed)
        return env

    def scores(self, result: EvaluationResult, score_name: str | None = None) -> NDArray:
        """(seeds, episodes) scores of an evaluation, of kind ``score_name`` (one of
        :attr:`score_names`; default the main score)."""
        score_name = score_name or self.score_name
        if score_name not in self.score_names:
            known = ", ".join(self.score_names)
            raise ValueError(f"env {self.label} has no {score_name!r} (it has: {known})")
        if score_name in _REFERENCE_COLUMNS:
            return normalized_score(result.returns, self.name, _REFERENCE_COLUMNS[score_name])
        if self.kind == "metaworld":
            return result.successes.astype(np.float64)
        return result.returns

    def task_result(self, result: EvaluationResult) -> TaskResult:
        """The evaluation with all its scores (main and further kinds)."""
        main, *others = self.score_names
        weak = weak_reference(self.name, "dqn") if DQN_NORMALIZED in self.score_names else ""
        notes = (weak,) if weak else ()
        return TaskResult(
            self.label,
            main,
            result,
            self.scores(result, main),
            {name: self.scores(result, name) for name in others},
            capped=self.capped,
            notes=notes,
        )

    @property
    def capped(self) -> bool:
        """Episodes are cut by a step cap below the kind's protocol (27,000 Atari steps,
        500 Meta-World steps); any cap on a gymnasium env counts."""
        protocol = {"atari": ATARI_STEPS, "metaworld": METAWORLD_STEPS}.get(self.kind)
        cap = self.max_episode_steps
        return cap is not None and (protocol is None or cap < protocol)


def parse_env_spec(text: str, max_episode_steps: int | None = None) -> EnvSpec:
    """``"kind:name"`` -> :class:`EnvSpec`, checking that the game, task or id exists.

    Raises:
        ValueError: malformed spec, unknown kind, game, task or gymnasium id.
    """
    kind, sep, name = text.partition(":")
    if not sep or not name:
        raise ValueError(
            f"env {text!r}: expected KIND:NAME, e.g. atari:Pong, metaworld:door-lock-v3, "
            "gym:CartPole-v1"
        )
    if kind not in ENV_KINDS:
        raise ValueError(f"env {text!r}: unknown kind {kind!r}; choose from {', '.join(ENV_KINDS)}")
    if max_episode_steps is not None and max_episode_steps < 1:
        raise ValueError(f"max_episode_steps must be positive, got {max_episode_steps}")
    if kind == "atari":
        from ..envs.atari import check_atari_game

        check_atari_game(name)
    elif kind == "metaworld":
        from ..envs.metaworld import check_metaworld_task

        check_metaworld_task(name)
    else:
        try:
            gym.spec(name)
        except gym.error.Error as error:
            raise ValueError(f"env {text!r}: unknown gymnasium id ({error})") from None
    return EnvSpec(kind, name, max_episode_steps)


def check_env_compatible(
    env: gym.Env, observation_shape: Sequence[int], discrete: bool, action_size: int, label: str
) -> None:
    """Refuses an environment whose observations or actions do not fit a model (or dataset).

    Raises:
        ValueError: the message names the env and both shapes or action spaces.
    """
    space = env.action_space
    env_discrete = isinstance(space, gym.spaces.Discrete)
    check_fits(
        f"env {label}",
        env.observation_space.shape or (),
        env_discrete,
        int(space.n) if env_discrete else int(np.prod(space.shape or (0,))),
        model_observation_shape=observation_shape,
        model_discrete=discrete,
        model_action_size=action_size,
    )


def resolve_target_return(
    spec: EnvSpec, discrete: bool, target_return: float | str | None
) -> float | str | None:
    """The target return to evaluate with: ``target_return`` if given, else expert returns
    (discrete models) or the env's default target (continuous models).

    Raises:
        ValueError: a continuous model, no target return and no default for the env; or
            ``"expert"`` for a continuous model (expert returns are return classes).
    """
    if target_return == "expert" and not discrete:
        default = spec.default_target_return()
        suggestion = f" (e.g. --target-return {default:g})" if default is not None else ""
        raise ValueError(
            f"env {spec.label}: expert-return inference needs a discrete-action model; this "
            f"model has continuous actions: give a number{suggestion}"
        )
    if target_return is not None or discrete:
        return target_return
    target = spec.default_target_return()
    if target is None:
        raise ValueError(f"env {spec.label}: a continuous model needs a target return")
    return target


def evaluate_envs(
    algo: Any,
    specs: Sequence[EnvSpec],
    seeds: Sequence[int] = (0,),
    episodes: int = 16,
    *,
    target_return: float | str | None = None,
    batched: bool = True,
    num_envs: int | None = None,
    kappa: float = DEFAULT_KAPPA,
    temperature: float = DEFAULT_RETURN_TEMPERATURE,
    return_samples: int = DEFAULT_RETURN_SAMPLES,
    show_progress: bool = True,
) -> list[TaskResult]:
    """Evaluates ``algo`` on each env and scores it as the env's kind scores (module table).

    Args:
        algo: a built DT-Mem.
        specs: the environments.
        seeds, episodes: evaluation seeds and episodes per seed.
        target_return: fixed target return, ``None`` / ``"expert"``. ``None`` means expert
            returns for discrete models and the env's default target for continuous ones.
        batched, num_envs, kappa, temperature, return_samples, show_progress: see
            :func:`~d3rlpy_dtmem.evaluation.evaluate`.

    Raises:
        ValueError: a continuous model, no target return and no default for the env.
    """
    tasks = []
    for spec in specs:
        result = evaluate(
            algo,
            spec.make,
            seeds,
            episodes,
            target_return=resolve_target_return(spec, algo.impl.discrete, target_return),
            batched=batched,
            num_envs=num_envs,
            stop_on_success=spec.stop_on_success,
            kappa=kappa,
            temperature=temperature,
            return_samples=return_samples,
            show_progress=show_progress,
            desc=spec.label,
        )
        tasks.append(spec.task_result(result))
    return tasks
