"""Meta-World scripted-policy rollouts -> one Minari dataset per task.

Each episode runs Meta-World's scripted expert (``metaworld.policies.ENV_POLICY_MAP``) on a
new task variant of :func:`d3rlpy_dtmem.envs.make_metaworld` (seeded with ``seed``, so episode
``i`` is the ``i``-th variant of that environment), with Gaussian action noise for diversity.
The expert always sees the goal (it fails without it); the stored observations have the goal
zeroed when ``hide_goal`` (ML45's protocol, the default) and keep it otherwise.

Stored per episode of T steps (Minari layout): ``observations`` (T+1, 39) float32,
``actions`` (T, 4) float32 in [-1, 1], ``rewards`` (T,), ``terminations`` (T,) (always
False: Meta-World never terminates), ``truncations`` (T,) (True at the step cap) and
``infos["success"]`` (T+1,) bool, where entry 0 belongs to the reset observation.
"""

import dataclasses
import time
import warnings
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import click
import numpy as np

from .._moved import renamed_names
from ..envs.metaworld import (
    MAX_EPISODE_STEPS,
    MetaWorldTaskEnv,
    check_metaworld_task,
    make_metaworld,
    mask_goal,
    mask_goal_space,
    metaworld_tasks,
)
from ..envs.registry import METAWORLD_ENV_ID, env_spec
from ..options import MultiValueCommand, split_values, switch, with_default
from .minari_io import check_dataset_id, minari_root, write_minari_dataset

if TYPE_CHECKING:
    from metaworld.policies.policy import Policy
    from minari.data_collector import EpisodeBuffer

__all__ = [
    "DEFAULT_DATASET_ID",
    "ConvertedTask",
    "convert_metaworld",
    "format_summary",
    "metaworld_command",
    "metaworld_dataset_ids",
    "rollout_scripted_episode",
    "select_tasks",
]

DEFAULT_DATASET_ID = "metaworld/{task}-scripted-v0"
_CHUNK_EPISODES = 50  # episodes held in memory before they are appended to the dataset


@dataclasses.dataclass(frozen=True)
class ConvertedTask:
    """What the conversion of one task wrote."""

    task: str
    split: str
    dataset_id: str
    episodes: int
    steps: int
    success_rate: float
    seconds: float


@dataclasses.dataclass(frozen=True)
class _Settings:
    """How every task is collected (checked by :func:`convert_metaworld`)."""

    episodes: int
    seed: int
    action_noise: float
    hide_goal: bool
    max_episode_steps: int


def select_tasks(
    tasks: Sequence[str], benchmark: str | None = None, split: str | None = None
) -> tuple[str, ...]:
    """The tasks to convert: either ``tasks`` or the ``split`` of ``benchmark`` (ML45).

    Raises:
        ValueError: both or neither given, a benchmark without a split, an unknown name.
    """
    if tasks and benchmark:
        raise ValueError("give either tasks or a benchmark, not both")
    if benchmark is None:
        if split is not None:
            raise ValueError(f"split {split!r} needs a benchmark (ML45)")
        if not tasks:
            raise ValueError("no tasks: give task names or a benchmark and split")
        return tuple(dict.fromkeys(check_metaworld_task(task) for task in tasks))
    if benchmark.upper() != "ML45":
        raise ValueError(f"unknown benchmark {benchmark!r}: only 'ML45' is supported")
    if split is None:
        raise ValueError("benchmark ML45 needs a split: 'train' or 'test'")
    return metaworld_tasks(split)


def metaworld_dataset_ids(template: str, tasks: Sequence[str]) -> dict[str, str]:
    """Maps each task to its dataset id, ``template`` formatted with ``task``.

    Raises:
        ValueError: a malformed template or id, or one id for several tasks.
    """
    try:
        ids = {task: template.format(task=task) for task in tasks}
    except (KeyError, IndexError, ValueError) as error:
        raise ValueError(
            f"invalid dataset id template {template!r}: only the field {{task}} is allowed"
        ) from error
    for dataset_id in ids.values():
        check_dataset_id(dataset_id)
    if len(set(ids.values())) < len(ids):
        raise ValueError(
            f"dataset id {template!r} is the same for all {len(ids)} tasks: add '{{task}}'"
        )
    return ids


def rollout_scripted_episode(
    env: MetaWorldTaskEnv,
    policy: "Policy",
    rng: np.random.Generator,
    action_noise: float,
    hide_goal: bool,
) -> "EpisodeBuffer":
    """One episode of ``policy`` with N(0, action_noise²) noise, actions clipped to [-1, 1].

    Args:
        env: a :class:`~d3rlpy_dtmem.envs.MetaWorldTaskEnv` built with ``hide_goal=False``.
        policy: a ``metaworld.policies`` expert of the env's task.
        rng: generator of the action noise.
        action_noise: standard deviation of the noise.
        hide_goal: zero the goal in the stored observations.

    Returns:
        a ``minari.data_collector.EpisodeBuffer`` with T+1 observations.
    """
    from minari.data_collector import EpisodeBuffer

    observation, _ = env.reset()
    observations, actions, rewards, successes = [observation], [], [], [False]
    truncated = terminated = False
    with warnings.catch_warnings():
        # the experts warn whenever their proportional gain saturates; the env clips anyway
        warnings.filterwarnings("ignore", message="Constant.* may be too high")
        while not (terminated or truncated):
            action = policy.get_action(observation) + rng.normal(0.0, action_noise, 4)
            action = np.clip(action, -1.0, 1.0).astype(np.float32)
            observation, reward, terminated, truncated, info = env.step(action)
            observations.append(observation)
            actions.append(action)
            rewards.append(reward)
            successes.append(info["success"])
    stored = np.asarray(observations, dtype=np.float32)
    steps = len(actions)
    return EpisodeBuffer(
        observations=mask_goal(stored) if hide_goal else stored,
        actions=np.asarray(actions, dtype=np.float32),
        rewards=np.asarray(rewards, dtype=np.float64),
        terminations=np.zeros(steps, dtype=bool),
        truncations=np.r_[np.zeros(steps - 1, dtype=bool), bool(truncated)],
        infos={"success": np.asarray(successes, dtype=bool)},
    )


RANDOM_EPISODES = 5


def _random_return(task: str, settings: "_Settings") -> float:
    """Mean return of a uniform random policy over :data:`RANDOM_EPISODES` episodes (in an
    environment of its own, so the expert's variants do not change): the dataset's
    ``ref_min_score``. (``ref_max_score`` is the mean return of the dataset's own
    scripted-expert episodes; ``minari.get_normalized_score`` is then 0 for random play and
    1 for the data's expert.)"""
    env = make_metaworld(task, seed=settings.seed + 1, max_episode_steps=settings.max_episode_steps)
    env.action_space.seed(settings.seed)
    returns = []
    try:
        for _ in range(RANDOM_EPISODES):
            env.reset()
            total, done = 0.0, False
            while not done:
                _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
                total += float(reward)
                done = terminated or truncated
            returns.append(total)
    finally:
        env.close()
    return float(np.mean(returns))


class _Rollouts:
    """Scripted episodes of one task, streamed in chunks, with their success count."""

    def __init__(
        self,
        env: MetaWorldTaskEnv,
        policy: "Policy",
        rng: np.random.Generator,
        settings: _Settings,
        progress: Any,
    ):
        self.env, self.policy, self.rng = env, policy, rng
        self.settings, self.progress = settings, progress
        self.played = self.successful = 0
        self.returns = 0.0

    @property
    def mean_return(self) -> float:
        """Mean return of the episodes played so far (0 before any)."""
        return self.returns / max(self.played, 1)

    @property
    def success_rate(self) -> float:
        """Successful episodes over the episodes played so far (0 before any)."""
        return self.successful / max(self.played, 1)

    def __iter__(self) -> Iterator[list["EpisodeBuffer"]]:
        settings, chunk = self.settings, []
        for _ in range(settings.episodes):
            episode = rollout_scripted_episode(
                self.env, self.policy, self.rng, settings.action_noise, settings.hide_goal
            )
            self.played += 1
            self.successful += bool(episode.infos["success"].any())
            self.returns += float(np.sum(episode.rewards))
            chunk.append(episode)
            self.progress.update(1)
            self.progress.set_postfix(task=self.env.task, success=f"{self.success_rate:.2f}")
            if len(chunk) == _CHUNK_EPISODES:
                yield chunk
                chunk = []
        yield chunk


def _convert_task(
    task: str, dataset_id: str, settings: _Settings, progress: Any, overwrite: bool
) -> ConvertedTask:
    from metaworld.policies import ENV_POLICY_MAP

    start = time.perf_counter()
    split = "train" if task in metaworld_tasks("train") else "test"
    env = make_metaworld(
        task,
        seed=settings.seed,
        hide_goal=False,
        max_episode_steps=settings.max_episode_steps,
    )
    policy = ENV_POLICY_MAP[task]()
    # noise differs across tasks, and does not depend on which other tasks are converted
    rng = np.random.default_rng([settings.seed, metaworld_tasks().index(task)])
    metadata: dict[str, Any] = {
        "task": task,
        "benchmark": "ML45",
        "split": split,
        # gymnasium.make(dataset's env_spec) rebuilds it: make_metaworld(task, ...)
        "env_id": METAWORLD_ENV_ID,
        "goal_visible": not settings.hide_goal,
        "seed": settings.seed,
        "action_noise": settings.action_noise,
        "max_episode_steps": settings.max_episode_steps,
        "policy": f"metaworld.policies.{type(policy).__name__}",
    }
    space = env.observation_space
    spec = env_spec(
        METAWORLD_ENV_ID,
        task=task,
        hide_goal=settings.hide_goal,
        max_episode_steps=settings.max_episode_steps,
    )
    random_return = _random_return(task, settings)
    rollouts = _Rollouts(env, policy, rng, settings, progress)
    try:
        write_minari_dataset(
            dataset_id,
            rollouts,
            observation_space=mask_goal_space(space) if settings.hide_goal else space,
            action_space=env.action_space,
            # called after the last chunk: the success rate of every episode written, and
            # Minari's reference scores (see _random_return)
            metadata=lambda: {
                **metadata,
                "success_rate": rollouts.success_rate,
                "ref_min_score": random_return,
                "ref_max_score": rollouts.mean_return,
            },
            env_spec=spec,
            eval_env_spec=spec,
            description=f"Meta-World {task}: scripted expert with Gaussian action noise.",
            algorithm_name=f"{metadata['policy']} + N(0, {settings.action_noise}^2) noise",
            overwrite=overwrite,
        )
    finally:
        env.close()
    return ConvertedTask(
        task=task,
        split=split,
        dataset_id=dataset_id,
        episodes=settings.episodes,
        steps=settings.episodes * settings.max_episode_steps,  # episodes never end early
        success_rate=rollouts.success_rate,
        seconds=time.perf_counter() - start,
    )


def convert_metaworld(
    tasks: Sequence[str],
    *,
    episodes: int = 1000,
    seed: int = 0,
    action_noise: float = 0.1,
    hide_goal: bool = True,
    max_episode_steps: int = MAX_EPISODE_STEPS,
    dataset_id: str = DEFAULT_DATASET_ID,
    overwrite: bool = False,
    skip_existing: bool = False,
    show_progress: bool = True,
) -> list[ConvertedTask]:
    """Rolls out the scripted experts of ``tasks`` and writes one Minari dataset per task.

    Every input is checked, and every dataset id too, before the first rollout; each
    dataset is written atomically (complete, or not at all).

    Args:
        tasks: Meta-World v3 task names.
        episodes: episodes per task.
        seed: seed of the task variants and of the action noise.
        action_noise: standard deviation of the Gaussian noise added to expert actions.
        hide_goal: zero the goal position in the stored observations (ML45 protocol).
        max_episode_steps: episode length (Meta-World's horizon is 500).
        dataset_id: id template with a ``{task}`` field.
        overwrite: replace existing datasets.
        skip_existing: leave out the tasks whose dataset exists (re-runs reuse the data).
        show_progress: show a progress bar over episodes.

    Returns:
        one :class:`ConvertedTask` per task converted.

    Raises:
        ValueError: an unknown task, a non-positive count, a bad id or template.
        FileExistsError: a dataset exists and neither ``overwrite`` nor ``skip_existing``.
    """
    from tqdm.auto import tqdm

    tasks = select_tasks(tasks)
    if episodes <= 0:
        raise ValueError(f"episodes must be positive, got {episodes}")
    if not 1 <= max_episode_steps <= MAX_EPISODE_STEPS:
        raise ValueError(
            f"max_episode_steps must be in [1, {MAX_EPISODE_STEPS}], got {max_episode_steps}"
        )
    if not (np.isfinite(action_noise) and action_noise >= 0):
        raise ValueError(f"action_noise must be a finite number >= 0, got {action_noise}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    ids = metaworld_dataset_ids(dataset_id, tasks)
    root = minari_root()
    existing = [task for task in tasks if (root / ids[task]).exists()]
    if existing and not (overwrite or skip_existing):
        raise FileExistsError(
            f"dataset {ids[existing[0]]!r} already exists in {root} (overwrite to replace it)"
        )
    if skip_existing and not overwrite:
        tasks = [task for task in tasks if task not in existing]
    settings = _Settings(
        episodes=episodes,
        seed=seed,
        action_noise=float(action_noise),
        hide_goal=hide_goal,
        max_episode_steps=max_episode_steps,
    )
    with tqdm(total=len(tasks) * episodes, unit="episode", disable=not show_progress) as progress:
        return [_convert_task(task, ids[task], settings, progress, overwrite) for task in tasks]


def format_summary(results: Sequence[ConvertedTask]) -> str:
    """A plain-text table of the per-task success rates, with the mean at the bottom."""
    lines = [f"{'task':<30}{'split':<7}{'episodes':>9}{'steps':>10}{'success':>9}  dataset id"]
    for r in results:
        lines.append(
            f"{r.task:<30}{r.split:<7}{r.episodes:>9}{r.steps:>10}{r.success_rate:>9.2f}"
            f"  {r.dataset_id}"
        )
    if results:
        mean = float(np.mean([r.success_rate for r in results]))
        lines.append(f"{'mean':<30}{'':<7}{'':>9}{'':>10}{mean:>9.2f}")
    return "\n".join(lines)


@click.command("metaworld", cls=MultiValueCommand)
@click.argument("more_tasks", nargs=-1, metavar="[TASK]...")
@click.option(
    "--tasks",
    multiple=True,
    help="Task names, e.g. reach-v3 door-lock-v3 (space- or comma-separated).",
)
@click.option(
    "--benchmark",
    type=click.Choice(["ML45"]),
    help="Convert the tasks of a benchmark split instead of --tasks.",
)
@click.option("--split", type=click.Choice(["train", "test"]), help="Benchmark split.")
@with_default("--episodes", 1000, "Episodes per task.", click.IntRange(min=1))
@with_default("--seed", 0, "Seed of the task variants and the action noise.", click.IntRange(min=0))
@with_default(
    "--action-noise",
    0.1,
    "Std of the Gaussian noise added to the expert's actions.",
    click.FloatRange(min=0),
)
@switch(
    "--hide-goal/--keep-goal",
    True,
    "Zero the goal position in stored observations (ML45) or keep it.",
)
@with_default(
    "--max-episode-steps",
    MAX_EPISODE_STEPS,
    "Episode length (truncation).",
    click.IntRange(1, MAX_EPISODE_STEPS),
)
@with_default(
    "--dataset-id", DEFAULT_DATASET_ID, "Minari dataset id; {task} is replaced by the task name."
)
@click.option("--overwrite", is_flag=True, help="Replace existing datasets.")
@click.option(
    "--skip-existing", is_flag=True, help="Keep datasets that exist (resume a conversion)."
)
def metaworld_command(more_tasks: tuple[str, ...], tasks: tuple[str, ...], **options: Any) -> None:
    """Roll out Meta-World's scripted experts and write one Minari dataset per task.

    Tasks (e.g. reach-v3) follow --tasks or stand alone; --benchmark ML45 --split
    train|test selects a whole split. Datasets go to $MINARI_DATASETS_PATH (default
    ~/.minari/datasets).
    """
    names = split_values((*tasks, *more_tasks))
    benchmark, split = options.pop("benchmark"), options.pop("split")
    try:
        selected = select_tasks(names, benchmark, split)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    if options["overwrite"] and options["skip_existing"]:
        raise click.UsageError("--overwrite and --skip-existing exclude each other")
    try:
        if options["skip_existing"]:
            ids = metaworld_dataset_ids(options["dataset_id"], selected)
            for task in selected:
                if (minari_root() / ids[task]).exists():
                    click.echo(f"skipped {ids[task]}: it exists (--skip-existing)")
        results = convert_metaworld(selected, **options)
    except (ValueError, FileExistsError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(format_summary(results))


__getattr__ = renamed_names(__name__, {"TaskResult": "ConvertedTask"})
