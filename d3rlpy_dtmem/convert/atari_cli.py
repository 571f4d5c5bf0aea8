"""``dtmem-convert atari``: the click command over :func:`.atari_datasets.convert_atari`."""

from collections.abc import Iterable
from pathlib import Path

import click

from ..options import MultiValueCommand, split_values, with_default
from .atari_datasets import (
    DEFAULT_COMPRESSION,
    DEFAULT_DATASET_ID,
    convert_atari,
    plan_atari_conversion,
)
from .minari_io import FRAME_COMPRESSIONS, minari_root

__all__ = ["atari_command", "parse_int_ranges"]


def parse_int_ranges(values: Iterable[str]) -> tuple[int, ...]:
    """``["0-2", "5"]`` or ``["0-2,5"]`` -> ``(0, 1, 2, 5)``: sorted, without repeats;
    ``ValueError`` if bad."""
    numbers: set[int] = set()
    for value in split_values(values):
        first, sep, last = value.partition("-")
        if not first.isdigit() or (sep and not last.isdigit()):
            raise ValueError(f"{value!r} is not a number or a range like 0-49")
        low, high = int(first), int(last) if sep else int(first)
        if high < low:
            raise ValueError(f"{value!r} is an empty range")
        numbers.update(range(low, high + 1))
    return tuple(sorted(numbers))


def _int_ranges(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple:
    try:
        return parse_int_ranges(values)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


@click.command("atari", cls=MultiValueCommand)
@click.option(
    "--replay-dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="DQN-Replay root holding <Game>/<run>/replay_logs/.",
)
@click.option(
    "--games",
    required=True,
    multiple=True,
    metavar="GAME...",
    help="Games, ale-py names as the DQN-Replay folders: Pong MsPacman ...",
)
@click.option(
    "--runs",
    multiple=True,
    default=("1",),
    show_default=True,
    callback=_int_ranges,
    metavar="RUN...",
    help="Runs: '1 2' or '1-5'.",
)
@click.option(
    "--checkpoints",
    multiple=True,
    callback=_int_ranges,
    metavar="N...",
    help="Checkpoints: '0-49' or '0 5 10'.  [default: all found]",
)
@click.option(
    "--max-transitions",
    type=click.IntRange(min=1),
    metavar="N",
    help="Per dataset: at most N steps, spread over the checkpoints (each gets an equal "
    "share of what is left, in whole episodes).",
)
@with_default(
    "--dataset-id", DEFAULT_DATASET_ID, "Minari dataset id; {game} and {run} are filled in."
)
@with_default(
    "--compression",
    DEFAULT_COMPRESSION,
    "hdf5 filter of the frames: lzf (fast), gzip (smaller, readable by any HDF5 tool) or none.",
    click.Choice(list(FRAME_COMPRESSIONS)),
)
@click.option("--overwrite", is_flag=True, help="Replace datasets that exist.")
@click.option(
    "--skip-existing", is_flag=True, help="Keep datasets that exist (resume a conversion)."
)
def atari_command(
    replay_dir: Path,
    games: tuple[str, ...],
    runs: tuple[int, ...],
    checkpoints: tuple[int, ...],
    max_transitions: int | None,
    dataset_id: str,
    compression: str,
    overwrite: bool,
    skip_existing: bool,
) -> None:
    """Convert DQN-Replay Atari logs to Minari datasets, one per game and run.

    Datasets go to Minari's root ($MINARI_DATASETS_PATH or ~/.minari/datasets).
    """
    if overwrite and skip_existing:
        raise click.UsageError("--overwrite and --skip-existing exclude each other")
    try:
        if skip_existing:
            _echo_kept(replay_dir, split_values(games), runs, checkpoints, dataset_id)
        convert_atari(
            replay_dir,
            split_values(games),
            runs=runs,
            checkpoints=checkpoints or None,
            max_transitions=max_transitions,
            dataset_id=dataset_id,
            overwrite=overwrite,
            skip_existing=skip_existing,
            on_dataset=lambda summary: click.echo(summary.line()),
            compression=compression,
        )
    except (ValueError, OSError) as exc:
        raise click.ClickException("; ".join([str(exc), *getattr(exc, "__notes__", [])])) from None


def _echo_kept(
    replay_dir: Path, games: list[str], runs: tuple, checkpoints: tuple, dataset_id: str
) -> None:
    """One line per dataset that ``--skip-existing`` keeps."""
    plan = plan_atari_conversion(
        replay_dir, games, runs=runs, checkpoints=checkpoints or None, dataset_id=dataset_id,
        overwrite=True,
    )  # fmt: skip
    for job in plan:
        if (minari_root() / job.dataset_id).exists():
            click.echo(f"skipped {job.dataset_id}: it exists (--skip-existing)")
