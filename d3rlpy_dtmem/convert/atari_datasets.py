"""DQN-Replay (Atari) -> Minari: one dataset per (game, run), streamed checkpoint by checkpoint.

What a converted dataset holds (a loader can rely on it):

- observations: single 84x84 uint8 grayscale frames, lossless (hdf5, no JPEG). Stack 4 at
  sampling time, newest last, zero frames before an episode's first (as ``make_atari``).
- ``T + 1`` observations per episode of ``T`` steps: ``o_0 .. o_{T-1}``, then ``o_{T-1}``
  repeated, because DQN-Replay does not store the observation after a terminal. A loader
  that drops the final observation pairs ``o_t`` with ``a_t`` exactly.
- actions: ids of the full 18-action set (``Discrete(18)``, as ``make_atari``), mapped from
  the game's minimal action set (read from the ROM by ale-py).
- rewards: as stored (already clipped to [-1, 1] by DQN).
- the last step is a termination, or a truncation when the episode reached the DQN cap of
  27,000 steps (DQN-Replay marks both as terminal).
- complete episodes only, each from a reset to its terminal: fragments cut by a checkpoint
  file's boundary are dropped, never joined (see :mod:`.dqn_replay`).
- with ``max_transitions``, at most that many steps, spread over the selected checkpoints
  (DQN's behaviour from near-random to expert, as the paper's data): each checkpoint, in
  order, gets an equal share of the budget still left (what one does not use carries over
  to the next) and contributes its first whole episodes that fit in its share. The steps
  taken from each checkpoint are recorded in the metadata (``steps_per_checkpoint``).

Peak memory is one block of frames plus the episodes of one chunk handed to the writer, a
few hundred MB (two chunks: the next is decompressed while the writer compresses this one),
whatever the number of checkpoints; a failed conversion leaves no dataset. Frames are stored
in lzf-compressed chunks of 64 frames by default (``compression``).
"""

import contextlib
import dataclasses
import importlib.resources
import time
import tomllib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..envs.atari import DQN_MAX_EPISODE_STEPS, FRAME_STACK
from ..envs.registry import ATARI_DQN_ENV_ID, env_spec
from ..rewards import REWARD_TRANSFORM_KEY
from .dqn_replay import (
    CutFragment,
    DQNReplayError,
    ReplayEpisode,
    iter_episodes,
    open_checkpoint,
    run_dir,
    select_checkpoints,
)
from .minari_io import check_dataset_id, minari_root, write_minari_dataset

if TYPE_CHECKING:
    from minari.data_collector import EpisodeBuffer

__all__ = [
    "DEFAULT_DATASET_ID",
    "AtariConversion",
    "ConversionSummary",
    "check_atari_files",
    "convert_atari",
    "convert_atari_run",
    "episode_buffer",
    "game_split",
    "game_splits",
    "plan_atari_conversion",
]

DEFAULT_DATASET_ID = "dqn-replay/{game}-run{run}-v0"
# hdf5 filter of the frames, chosen by benchmarks/convert_atari.py on real ALE frames: lzf
# converts at ~30k rows/s, 25x smaller than uncompressed; gzip is 34x smaller but converts
# at ~28k rows/s (docs/datasets-atari.md)
DEFAULT_COMPRESSION = "lzf"
BUDGET_RULE = (
    "max_transitions spread over the checkpoints: each, in order, gets an equal share of the "
    "budget left and contributes its first whole episodes that fit"
)
SOURCE = "DQN-Replay (Agarwal et al., 2020), gs://atari-replay-datasets/dqn/{game}/{run}"


def game_splits() -> dict[str, tuple[str, ...]]:
    """The Atari game splits of DT-Mem: ``pretrain`` (17), ``held-out`` (4), ``unseen`` (9)."""
    text = importlib.resources.files(__package__).joinpath("atari_splits.toml").read_text()
    return {name: tuple(games) for name, games in tomllib.loads(text).items()}


def game_split(name: str) -> tuple[str, ...]:
    """The games of one split (see :func:`game_splits`); ``ValueError`` for an unknown name."""
    splits = game_splits()
    if name not in splits:
        raise ValueError(f"unknown Atari split {name!r}; known splits: {', '.join(splits)}")
    return splits[name]


@dataclasses.dataclass(frozen=True)
class AtariConversion:
    """One dataset to write: checkpoints of one game's run, and the dataset id."""

    replay_dir: Path
    game: str
    run: int
    checkpoints: tuple[int, ...]
    dataset_id: str


@dataclasses.dataclass(frozen=True)
class ConversionSummary:
    """What :func:`convert_atari_run` wrote."""

    dataset_id: str
    path: Path
    episodes: int
    steps: int
    dropped_fragments: int
    seconds: float

    def line(self) -> str:
        """One line for a terminal."""
        return (
            f"{self.dataset_id}: {self.episodes:,} episodes, {self.steps:,} steps, "
            f"{self.seconds:.1f} s ({self.dropped_fragments} cut fragments dropped) -> {self.path}"
        )


def _dataset_id(template: str, game: str, run: int) -> str:
    try:
        dataset_id = template.format(game=game, run=run)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"dataset id template {template!r}: only {{game}} and {{run}} can be filled in ({exc})"
        ) from None
    return check_dataset_id(dataset_id)


def plan_atari_conversion(
    replay_dir: str | Path,
    games: Sequence[str],
    *,
    runs: Sequence[int] = (1,),
    checkpoints: Sequence[int] | None = None,
    dataset_id: str = DEFAULT_DATASET_ID,
    overwrite: bool = False,
    skip_existing: bool = False,
) -> list[AtariConversion]:
    """Checks everything that can be checked before converting, and lists the datasets.

    Args:
        replay_dir: DQN-Replay root holding ``<Game>/<run>/replay_logs``.
        games: ale-py game names (also the DQN-Replay folder names), e.g. ``["Pong"]``.
        runs: run numbers.
        checkpoints: checkpoint numbers; ``None`` for all found in each run.
        dataset_id: Minari id template with ``{game}`` and ``{run}``.
        overwrite: existing datasets will be replaced.
        skip_existing: existing datasets are left out of the plan.

    Raises:
        ValueError: unknown game, bad id template, clashing ids, or (``DQNReplayError``) a
            missing folder or checkpoint file.
        FileExistsError: a dataset exists and neither ``overwrite`` nor ``skip_existing``.
    """
    from ..envs.atari import check_atari_game

    replay_dir = Path(replay_dir)
    if not replay_dir.is_dir():
        raise DQNReplayError(f"{replay_dir}: replay directory does not exist")
    plan, root = [], minari_root()
    for game in dict.fromkeys(games):  # without repeats, in order
        check_atari_game(game)
        for run in dict.fromkeys(runs):
            numbers = select_checkpoints(replay_dir, game, run, checkpoints)
            plan.append(
                AtariConversion(replay_dir, game, run, numbers, _dataset_id(dataset_id, game, run))
            )
    ids = [job.dataset_id for job in plan]
    if len(set(ids)) != len(ids):
        raise ValueError(
            f"dataset id template {dataset_id!r} gives the same id to several game/run pairs: "
            "include {game} and {run}"
        )
    existing = [job for job in plan if (root / job.dataset_id).exists()]
    if existing and not (overwrite or skip_existing):
        raise FileExistsError(
            f"dataset {existing[0].dataset_id!r} already exists at {root / existing[0].dataset_id}"
            " (use --overwrite to replace it or --skip-existing to keep it)"
        )
    return [job for job in plan if not (skip_existing and job in existing)]


def check_atari_files(jobs: Sequence[AtariConversion], *, show_progress: bool = False) -> None:
    """Opens every checkpoint of ``jobs``, checking all but the frames' data (fast).

    Raises:
        DQNReplayError: as :func:`.dqn_replay.open_checkpoint`.
    """
    from tqdm.auto import tqdm

    from ..envs.atari import minimal_action_set

    todo = [(job, number) for job in jobs for number in job.checkpoints]
    bar = tqdm(todo, desc="checking files", unit="ckpt", leave=False, disable=not show_progress)
    for job, number in bar:
        actions = len(minimal_action_set(job.game))
        open_checkpoint(job.replay_dir, job.game, job.run, number, num_actions=actions)


def episode_buffer(
    episode: ReplayEpisode, action_set: np.ndarray, step_cap: int
) -> "EpisodeBuffer":
    """A Minari ``EpisodeBuffer`` from a DQN-Replay episode (module docstring).

    Args:
        episode: a complete episode, padding dropped.
        action_set: full-set action id of each minimal-set index.
        step_cap: episodes of at least this many steps end with a truncation.
    """
    from minari.data_collector import EpisodeBuffer

    steps = len(episode.actions)
    # (T, 84, 84) -> (T + 1, 84, 84): the observation after the terminal is not stored
    observations = np.concatenate([episode.frames, episode.frames[-1:]])
    last, never = np.zeros(steps, dtype=bool), np.zeros(steps, dtype=bool)
    last[-1] = True
    truncated = steps >= step_cap
    return EpisodeBuffer(
        observations=observations,
        actions=action_set[episode.actions],
        rewards=episode.rewards,
        terminations=never if truncated else last,
        truncations=last if truncated else never,
        infos={},
    )


class _EpisodeStream:
    """The run's checkpoints streamed as lists of ``EpisodeBuffer`` of ~``chunk_steps``
    steps, with the tally of what it produced: ``episodes``, ``steps``, ``dropped`` (cut
    fragments), ``full`` (a checkpoint's share of ``max_transitions`` reached),
    ``per_checkpoint`` (steps taken from each) and ``finished`` (streamed to the end).
    """

    def __init__(
        self,
        job: AtariConversion,
        *,
        max_transitions: int | None,
        step_cap: int,
        block_rows: int,
        chunk_steps: int,
        show_progress: bool,
    ):
        self.job = job
        self.max_transitions = max_transitions
        self.step_cap = step_cap
        self.block_rows = block_rows
        self.chunk_steps = chunk_steps
        self.show_progress = show_progress
        self.episodes = self.steps = self.dropped = 0
        self.full = self.finished = False
        self.per_checkpoint: dict[int, int] = {}

    def __iter__(self) -> Iterator[list["EpisodeBuffer"]]:
        from ..envs.atari import minimal_action_set

        job = self.job
        action_set = np.asarray(minimal_action_set(job.game), dtype=np.int64)
        chunk: list[EpisodeBuffer] = []
        pending = 0  # steps in chunk
        for index, number in enumerate(job.checkpoints):
            share = self._share(len(job.checkpoints) - index)
            taken = 0
            items = self._checkpoint_items(number, len(action_set))
            with contextlib.closing(items):  # a share filled stops reading the checkpoint
                for item in items:
                    if isinstance(item, CutFragment):
                        self.dropped += 1
                        continue
                    steps = len(item.actions)
                    if share is not None and taken + steps > share:
                        self.full = True
                        break
                    chunk.append(episode_buffer(item, action_set, self.step_cap))
                    self.episodes, self.steps = self.episodes + 1, self.steps + steps
                    taken += steps
                    pending += steps
                    if pending >= self.chunk_steps:
                        yield chunk
                        chunk, pending = [], 0
            self.per_checkpoint[number] = taken
        if not self.episodes:  # raised here, inside the writer, which then cleans up
            limit = f" within --max-transitions {self.max_transitions}" if self.full else ""
            raise ValueError(
                f"{run_dir(job.replay_dir, job.game, job.run)}: no complete episode{limit} in "
                f"checkpoints {list(job.checkpoints)} ({self.dropped} cut fragments dropped)"
            )
        self.finished = True
        yield chunk

    def _share(self, checkpoints_left: int) -> int | None:
        """The steps the next checkpoint may add: an equal share of the budget left."""
        if self.max_transitions is None:
            return None
        return (self.max_transitions - self.steps) // checkpoints_left

    def _checkpoint_items(self, number: int, num_actions: int) -> Iterator[Any]:
        """The episodes and cut fragments of checkpoint ``number``, with a progress bar."""
        from tqdm.auto import tqdm

        job = self.job
        replay = open_checkpoint(job.replay_dir, job.game, job.run, number, num_actions=num_actions)
        bar = tqdm(
            total=replay.rows,
            desc=f"{job.game} run {job.run} ckpt {number}",
            unit="row",
            unit_scale=True,
            leave=False,
            disable=not self.show_progress,
        )
        items = iter_episodes(replay, block_rows=self.block_rows, on_rows=bar.update)
        with bar, contextlib.closing(items):
            yield from items


def _metadata(
    job: AtariConversion,
    max_transitions: int | None,
    step_cap: int,
    stream: "_EpisodeStream",
    compression: str,
) -> dict:
    from ..envs.atari import minimal_action_set

    return {
        "budget": BUDGET_RULE if max_transitions is not None else "every complete episode",
        # steps taken from each of "checkpoints", in the same order
        "steps_per_checkpoint": [stream.per_checkpoint.get(k, 0) for k in job.checkpoints],
        "game": job.game,
        "run": job.run,
        "checkpoints": list(job.checkpoints),
        "max_transitions": max_transitions,
        "source": SOURCE.format(game=job.game, run=job.run),
        # gymnasium.make(dataset's env_spec) rebuilds it: make_atari(game) (envs.registry)
        "env_id": ATARI_DQN_ENV_ID,
        **_reference_scores(job.game),
        "minimal_action_set": list(minimal_action_set(job.game)),
        "frame_stack": FRAME_STACK,
        "frame_compression": compression,
        REWARD_TRANSFORM_KEY: "clip",  # DQN stored rewards clipped to [-1, 1]
        "final_observation": "last frame repeated (the one after a terminal is not stored)",
        "truncation_at_steps": step_cap,
    }


def _reference_scores(game: str) -> dict[str, float]:
    """Minari's ``ref_min_score`` / ``ref_max_score``: the game's random and human scores
    (the package's Atari score table), so that ``minari.get_normalized_score`` gives the
    human-normalized score; none for a game missing from the table."""
    from ..evaluation.scores import atari_reference_table

    scores = atari_reference_table().get(game)
    if scores is None or "human" not in scores:
        return {}
    return {"ref_min_score": scores["random"], "ref_max_score": scores["human"]}


def convert_atari_run(
    job: AtariConversion,
    *,
    max_transitions: int | None = None,
    overwrite: bool = False,
    step_cap: int = DQN_MAX_EPISODE_STEPS,
    block_rows: int = 4096,
    chunk_steps: int = 10_000,
    show_progress: bool = True,
    compression: str = DEFAULT_COMPRESSION,
) -> ConversionSummary:
    """Writes one Minari dataset from one game's run (layout in the module docstring).

    Args:
        job: from :func:`plan_atari_conversion`.
        max_transitions: at most this many steps, spread over the checkpoints (an equal
            share of what is left for each, whole episodes; module docstring).
        overwrite: replace an existing dataset.
        step_cap: episodes of at least this many steps end with a truncation.
        block_rows: frames decompressed at a time.
        chunk_steps: steps handed to the Minari writer at once (10,000: ~70 MB of frames).
        show_progress: a tqdm bar per checkpoint.
        compression: hdf5 filter of the frames (``"lzf"``, ``"gzip"``, ``"none"``; see
            ``benchmarks/convert_atari.py`` for what each costs and saves).

    Raises:
        DQNReplayError: a bad file (named in the message); nothing is written.
        ValueError: no complete episode to write.
        FileExistsError: the dataset exists and ``overwrite`` is False.
    """
    start = time.perf_counter()
    stream = _EpisodeStream(
        job,
        max_transitions=max_transitions,
        step_cap=step_cap,
        block_rows=block_rows,
        chunk_steps=chunk_steps,
        show_progress=show_progress,
    )
    from ..data.prefetch import iterate_ahead

    path = write_minari_dataset(
        job.dataset_id,
        # the next chunk is decompressed while the writer compresses this one
        iterate_ahead(stream),
        observation_space=_observation_space(),
        action_space=_action_space(),
        metadata=lambda: _metadata(job, max_transitions, step_cap, stream, compression),
        env_spec=env_spec(ATARI_DQN_ENV_ID, game=job.game),
        eval_env_spec=env_spec(ATARI_DQN_ENV_ID, game=job.game),
        description=f"{job.game}, DQN-Replay run {job.run}, checkpoints {job.checkpoints}",
        algorithm_name="DQN (Dopamine), logged replay",
        overwrite=overwrite,
        compression=compression,
    )
    assert stream.finished, "the writer stopped before the end of the episodes"
    seconds = time.perf_counter() - start
    return ConversionSummary(
        job.dataset_id, path, stream.episodes, stream.steps, stream.dropped, seconds
    )


def _observation_space() -> Any:
    from gymnasium import spaces

    return spaces.Box(0, 255, (84, 84), np.uint8)


def _action_space() -> Any:
    from gymnasium import spaces

    return spaces.Discrete(18)


def convert_atari(
    replay_dir: str | Path,
    games: Sequence[str],
    *,
    runs: Sequence[int] = (1,),
    checkpoints: Sequence[int] | None = None,
    max_transitions: int | None = None,
    dataset_id: str = DEFAULT_DATASET_ID,
    overwrite: bool = False,
    skip_existing: bool = False,
    show_progress: bool = True,
    on_dataset: Callable[[ConversionSummary], Any] | None = None,
    compression: str = DEFAULT_COMPRESSION,
) -> list[ConversionSummary]:
    """Converts DQN-Replay runs to Minari datasets, one per (game, run).

    Everything checkable up front (games, folders, ids, and every checkpoint's file headers
    and small columns) is checked before the first dataset is written. Arguments are those
    of :func:`plan_atari_conversion` and :func:`convert_atari_run`; ``on_dataset`` is called
    with each summary as it completes.

    Raises:
        ValueError, FileExistsError: as the two functions above. When a dataset fails after
        others were completed, a note (``exc.__notes__``) lists the completed ones.
    """
    plan = plan_atari_conversion(
        replay_dir,
        games,
        runs=runs,
        checkpoints=checkpoints,
        dataset_id=dataset_id,
        overwrite=overwrite,
        skip_existing=skip_existing,
    )
    check_atari_files(plan, show_progress=show_progress)
    summaries: list[ConversionSummary] = []
    for job in plan:
        try:
            summary = convert_atari_run(
                job,
                max_transitions=max_transitions,
                overwrite=overwrite,
                show_progress=show_progress,
                compression=compression,
            )
        except Exception as exc:
            if summaries:
                done = ", ".join(s.dataset_id for s in summaries)
                exc.add_note(f"completed and kept: {done} (resume with --skip-existing)")
            raise
        summaries.append(summary)
        if on_dataset is not None:
            on_dataset(summary)
    return summaries
