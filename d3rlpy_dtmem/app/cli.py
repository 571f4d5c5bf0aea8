"""Command-line entry points: ``dtmem`` and ``dtmem-convert``.

The commands are thin: each parses options and calls a library function; heavy imports
happen inside the command.
"""

import copy
import sys
from collections.abc import Callable
from typing import Any

import click

from ..convert.atari_cli import atari_command
from ..convert.metaworld_datasets import metaworld_command
from ..options import (
    MultiValueCommand,
    file_option,
    folder_option,
    int_values,
    optional_count,
    split_values,
    switch,
    with_default,
)
from .jobs import LR_SCHEDULES
from .quickstart import QuickstartSettings

__all__ = ["dtmem", "dtmem_convert"]

_QS = QuickstartSettings()  # the quickstart's defaults, shown in its --help


def _count(flag: str, default: int, help: str) -> Callable[[Any], Any]:
    """A positive-integer option with its default shown."""
    return with_default(flag, default, help, click.IntRange(min=1))


def _device(default: str = "cpu:0") -> Callable[[Any], Any]:
    return click.option(
        "--device",
        default=default,
        show_default=True,
        callback=_checked_device,
        help="Torch device: cpu:0, cuda:N, mps, or auto (CUDA when present).",
    )


def _schedule(flag: str, default: str, what: str, end: str) -> Callable[[Any], Any]:
    return with_default(
        flag,
        default,
        f"{what} after the warmup: constant holds it, cosine decays it to 0 at {end}.",
        click.Choice(LR_SCHEDULES),
    )


def _overwrite(what: str) -> Callable[[Any], Any]:
    return click.option(
        "--overwrite", is_flag=True, help=f"Replace {what} already in --out (else refused)."
    )


def _verbose() -> Callable[[Any], Any]:
    return click.option(
        "--verbose",
        is_flag=True,
        help="Print d3rlpy's own log lines here instead of into <out>/d3rlpy.log.",
    )


def _checked_device(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Checks ``--device`` before any work (a usage error says what is available)."""
    from ..devices import resolve_device

    try:
        return resolve_device(value)
    except ValueError as error:
        raise click.BadParameter(str(error), ctx=ctx, param=param) from None


def _seed(default: int = 0) -> Callable[[Any], Any]:
    return with_default("--seed", default, "Random seed.", int)


def _mmap_dir() -> Callable[[Any], Any]:
    return click.option(
        "--mmap-dir",
        default=None,
        type=click.Path(file_okay=False),
        help="Keep observations in memory-mapped stores in this folder (written on first "
        "use) instead of in RAM: processes on one machine share one copy.",
    )


def _log_into(folder: str | None, verbose: bool) -> None:
    """d3rlpy's log lines go to ``<folder>/d3rlpy.log`` (or the console) for this command."""
    from .console import route_d3rlpy_log

    click.get_current_context().with_resource(route_d3rlpy_log(folder, verbose))


def _start_run(options: dict[str, Any]) -> tuple[str, bool]:
    """Takes ``out``, ``resume`` and ``verbose`` out of a command's options; returns the
    run's folder and whether it resumes, with d3rlpy's log lines going into it."""
    out, resume = options.pop("out"), options.pop("resume")
    folder = _run_folder(out, resume)
    _log_into(folder, options.pop("verbose"))
    return folder, resume is not None


def _run_folder(out: str | None, resume: str | None) -> str:
    """The run's folder: ``--out``, or the folder ``--resume`` continues."""
    if out is not None and resume is not None and out != resume:
        raise click.UsageError("--resume continues in its own folder; leave out --out")
    if resume is not None:
        return resume
    if out is None:
        raise click.UsageError("Missing option '--out' (or '--resume DIR').")
    return out


INTERRUPTED_EXIT_CODE = 130  # 128 + SIGINT, as shells report a Ctrl-C


class _Commands(click.Group):
    """A command group that exits with 130 on Ctrl-C (click's default is 1, "Aborted!")."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            result = super().main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.Abort:  # click turns KeyboardInterrupt into Abort
            click.echo("\ninterrupted", err=True)
            sys.exit(INTERRUPTED_EXIT_CODE)
        except click.ClickException as error:
            error.show()
            sys.exit(error.exit_code)
        if isinstance(result, int) and result:  # a command's ctx.exit(code)
            sys.exit(result)
        return result


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="d3rlpy-dtmem")
def dtmem() -> None:
    """DT-Mem: Decision Transformers with working memory, on d3rlpy."""


@dtmem.command(cls=MultiValueCommand)
@_count("--steps", 1500, "Gradient steps of DT-Mem training.")
@with_default("--episodes", 40, "Scripted CartPole episodes to generate.", click.IntRange(min=2))
@_count("--trials", 5, "Evaluation episodes.")
@_seed()
@folder_option(
    "--out",
    "Output folder (logs and the trained model).",
    default="runs/cartpole",
)
@_device()
@_verbose()
def cartpole(
    steps: int, episodes: int, trials: int, seed: int, out: str, device: str, verbose: bool
) -> None:
    """A one-minute sanity run: DT-Mem on scripted CartPole data, d3rlpy's evaluator.

    (The main demo, what `make demo` runs, is `dtmem quickstart`.)
    """
    from .cartpole import run_demo

    _log_into(out, verbose)

    result = run_demo(
        steps=steps, episodes=episodes, trials=trials, seed=seed, out=out, device=device
    )
    click.echo("")
    click.echo(f"{'policy':<28}{'CartPole-v1 return':>20}")
    click.echo(f"{'random actions':<28}{result.random_return:>20.1f}")
    click.echo(f"{'scripted data (mean)':<28}{result.dataset_return:>20.1f}")
    click.echo(f"{'DT-Mem (target 500)':<28}{result.model_return:>20.1f}")
    click.echo(f"\n{result.steps} updates, {result.seconds:.0f} s; model and logs in {out}")


def _renamed(command: click.Command, old: str) -> click.Command:
    """``command`` under its old name, hidden from --help, with a note on stderr."""
    alias = copy.copy(command)
    alias.hidden = True
    callback = command.callback
    assert callback is not None

    def warn_then_run(**kwargs: Any) -> Any:
        click.echo(f"note: 'dtmem {old}' is now 'dtmem {command.name}'", err=True)
        return callback(**kwargs)

    alias.callback = warn_then_run
    return alias


dtmem.add_command(_renamed(cartpole, "demo"), "demo")


@dtmem.command(cls=MultiValueCommand)
@file_option(
    "--model",
    "Pre-trained DT-Mem (.d3).",
    required=True,
)
@click.option(
    "--datasets",
    "datasets",
    required=True,
    multiple=True,
    help="Minari dataset id of the new task (several: space- or comma-separated, or repeat).",
)
@click.option(
    "--mode",
    type=click.Choice(["lora", "full-memory", "full"]),
    default="lora",
    show_default=True,
    help="What to train: LoRA on the memory, the memory, everything.",
)
@_count("--rank", 4, "LoRA rank.")
@click.option("--alpha", default=8.0, show_default=True, type=float, help="LoRA alpha.")
@with_default("--dropout", 0.0, "LoRA dropout.", click.FloatRange(0, 1, max_open=True))
@click.option(
    "--lr",
    "learning_rate",
    default=None,
    type=click.FloatRange(0, min_open=True),
    help="Peak learning rate of fine-tuning [default: 1e-3 for lora, the model's own "
    "rate for full-memory and full].",
)
@_schedule("--schedule", "constant", "Learning rate", "--steps")
@_count("--steps", 10_000, "Gradient steps.")
@folder_option(
    "--out",
    "Output folder: adapter.pt (lora) or model.d3, and logs/ (required unless --resume).",
)
@folder_option(
    "--resume",
    "Continue the LoRA run in this earlier --out from its newest adapter checkpoint, "
    "up to --steps (same --model and --datasets; adapter settings and schedule are the run's).",
)
@_mmap_dir()
@_device()
@_seed()
@_overwrite("a fine-tuning run")
@_verbose()
def finetune(model: str, datasets: tuple[str, ...], **options: Any) -> None:
    """Adapt a pre-trained DT-Mem to new task(s): LoRA adapter or full fine-tuning."""
    from .jobs import JobError
    from .jobs import finetune as run_finetune

    folder, resumed = _start_run(options)
    dataset_ids = split_values(datasets)
    try:
        result = run_finetune(
            model, dataset_ids, folder, resume=resumed, echo=click.echo, **options
        )
    except JobError as error:
        raise click.ClickException(str(error)) from None
    click.echo(
        f"{result.mode}: trained {result.trainable_parameters:,} of "
        f"{result.total_parameters:,} parameters, final loss {result.final_loss:.4f}"
    )
    click.echo(f"wrote {result.output}")


class TargetReturn(click.ParamType):
    """A number, or ``expert`` for expert-return inference."""

    name = "NUMBER|expert"

    def convert(self, value: Any, param: Any, ctx: Any) -> float | str:
        if isinstance(value, float) or value == "expert":
            return value
        try:
            return float(value)
        except ValueError:
            self.fail(f"{value!r} is neither a number nor 'expert'", param, ctx)


@dtmem.command(cls=MultiValueCommand)
@click.option(
    "--datasets",
    "datasets",
    required=True,
    multiple=True,
    help="Minari dataset ids, one per task (space- or comma-separated, or repeat).",
)
@click.option(
    "--preset",
    type=click.Choice(["tiny", "paper"]),
    default="tiny",
    show_default=True,
    help="Model size: tiny (CPU) or paper (d=512, 4 layers, 1290 slots).",
)
@_count("--steps", 10_000, "Gradient steps.")
@_schedule("--schedule", "constant", "Learning rate", "--steps (a resumed run keeps its own)")
@_count(
    "--steps-per-epoch",
    1000,
    "Steps between logs, checkpoints and evaluations (a shorter last epoch takes the rest).",
)
@switch(
    "--use-memory/--no-memory",
    True,
    "With working memory, or the same model without it (ablation).",
)
@click.option(
    "--memory-scope",
    type=click.Choice(["window", "episode"]),
    default="window",
    show_default=True,
    help="window: the memory restarts every context window (the paper); episode: it is "
    "carried across the windows of an episode (and trained without the balance loss; see "
    "docs/memory.md).",
)
@_count("--memory-segments", 4, "Episode scope: windows per training run (backpropagation span).")
@click.option(
    "--eval-env",
    "eval_envs",
    multiple=True,
    help="Envs evaluated every epoch, e.g. atari:Pong metaworld:reach-v3 (space- or "
    "comma-separated, or repeat).",
)
@_count("--eval-episodes", 4, "Episodes per --eval-env per epoch.")
@optional_count(
    "--eval-max-steps",
    "Cap on steps per evaluation episode (default: the env's own).",
)
@switch(
    "--tensorboard/--no-tensorboard",
    True,
    "Also write TensorBoard event files (out/logs/runs).",
)
@folder_option(
    "--out",
    "Output folder: model.d3, training_curves.png, logs/ (required unless --resume).",
)
@folder_option(
    "--resume",
    "Continue the run in this earlier --out from its newest checkpoint, up to --steps "
    "(its model is kept: --preset, --use-memory and the --memory options are ignored).",
)
@_mmap_dir()
@_device()
@_seed()
@_overwrite("a training run")
@_verbose()
def train(datasets: tuple[str, ...], eval_envs: tuple[str, ...], **options: Any) -> None:
    """Train a DT-Mem of a preset size on Minari datasets (one per task)."""
    from .jobs import JobError
    from .jobs import train as run_train

    folder, resumed = _start_run(options)
    try:
        result = run_train(
            split_values(datasets),
            folder,
            eval_envs=split_values(eval_envs),
            resume=resumed,
            echo=click.echo,
            **options,
        )
    except JobError as error:
        raise click.ClickException(str(error)) from None
    click.echo(
        f"trained {result.trainable_parameters:,} parameters, final loss {result.final_loss:.4f}"
    )
    click.echo(f"wrote {result.model} and {result.curves}; logs in {result.run_dir}")
    if result.tensorboard_dir is not None:
        click.echo(f"tensorboard --logdir {result.tensorboard_dir.parent}")


@dtmem.command(cls=MultiValueCommand)
@file_option(
    "--model",
    "Saved DT-Mem (.d3).",
    required=True,
)
@file_option(
    "--adapter",
    "LoRA adapter file to apply (from dtmem finetune).",
)
@click.option(
    "--env",
    "envs",
    required=True,
    multiple=True,
    help="atari:GAME, metaworld:TASK or gym:ID (several: space- or comma-separated, or repeat).",
)
@_count("--episodes", 16, "Episodes per env and seed.")
@click.option(
    "--seed",
    "seeds",
    multiple=True,
    default=("0",),
    show_default=True,
    callback=int_values,
    help="Evaluation seeds: 0 1 2 or 0,1,2 (or repeat the option).",
)
@click.option(
    "--target-return",
    type=TargetReturn(),
    default=None,
    help="Fixed target return, or 'expert'. Default: expert returns (discrete models), "
    "10 per step (Meta-World).",
)
@optional_count(
    "--max-episode-steps",
    "Cap on steps per episode (default: 27,000 Atari, 500 Meta-World).",
)
@switch(
    "--batched/--sequential",
    True,
    "Step all episodes together, or play them one at a time through the stateful wrapper.",
)
@click.option(
    "--allow-truncated",
    is_flag=True,
    help="Aggregate normalized scores also over episodes cut by --max-episode-steps.",
)
@switch(
    "--memory-plot/--no-memory-plot",
    True,
    "Plot the memory activity of one episode.",
)
@folder_option(
    "--out",
    "Output folder: report.md, summary.json, episodes.csv, PNG plots.",
    required=True,
)
@_device()
@_overwrite("an evaluation report")
@_verbose()
def evaluate(model: str, envs: tuple[str, ...], out: str, verbose: bool, **options: Any) -> None:
    """Evaluate a saved DT-Mem on Atari, Meta-World or gymnasium envs; write a report."""
    from .jobs import JobError, evaluate_model

    _log_into(out, verbose)

    try:
        result = evaluate_model(model, split_values(envs), out, **options)
    except JobError as error:
        raise click.ClickException(str(error)) from None
    click.echo(result.report)
    click.echo(f"wrote {', '.join(str(path) for path in result.files.values())}")


@dtmem.command(cls=MultiValueCommand)
@with_default(
    "--out", str(_QS.out), "Output folder (data, logs, report).", click.Path(file_okay=False)
)
@click.option(
    "--tasks",
    multiple=True,
    help="ML45 training tasks (space- or comma-separated, or repeat); default: five of them.",
)
@click.option(
    "--test-tasks", multiple=True, help="Held-out ML45 test tasks; default: door-unlock-v3."
)
@_count("--episodes", _QS.episodes, "Scripted episodes per training task.")
@_count("--steps", _QS.steps, "Pre-training steps of each model.")
@_count("--finetune-steps", _QS.finetune_steps, "LoRA steps on the held-out data.")
@_count("--full-finetune-steps", _QS.full_finetune_steps, "Full fine-tuning steps (the reference).")
@_count(
    "--finetune-runs",
    _QS.finetune_runs,
    "Fine-tuning runs of each kind (seeds SEED, SEED+1, ...), success pooled over them.",
)
@_schedule("--pretrain-schedule", _QS.pretrain_schedule, "Pre-training learning rate", "--steps")
@_count(
    "--average-checkpoints",
    _QS.average_checkpoints,
    "Pre-training ends with the mean of the weights after its last N epochs (of ten).",
)
@_schedule(
    "--finetune-schedule", _QS.finetune_schedule, "Fine-tuning learning rate", "the last step"
)
@_count("--batch-size", _QS.batch_size, "Trajectories per update (pre-training, fine-tuning).")
@_count("--eval-episodes", _QS.eval_episodes, "Evaluation episodes per seed (3 seeds) and task.")
@_device(_QS.device)
@_seed(_QS.seed)
@_verbose()
def quickstart(
    tasks: tuple[str, ...], test_tasks: tuple[str, ...], out: str, verbose: bool, **options: Any
) -> None:
    """Pre-train, compare with no memory, adapt with LoRA: the paper's story in minutes."""
    from pathlib import Path

    from .quickstart import format_rows, run_quickstart

    _log_into(out, verbose)

    chosen = {"tasks": split_values(tasks), "test_tasks": split_values(test_tasks)}
    settings = QuickstartSettings(
        out=Path(out), **{k: v for k, v in chosen.items() if v}, **options
    )
    try:
        result = run_quickstart(settings, echo=lambda line: click.secho(line, bold=True))
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    click.echo("")
    for line in format_rows(result["rows"]):
        click.echo(line)
    click.echo("\nthe demo's targets in this run (margin, 95% CI over episodes):")
    for check in result["targets"]:
        click.echo(f"  {check.describe()}")
    click.echo(f"\nreport: {result['files']['report']}")
    click.echo(f"TensorBoard: tensorboard --logdir {Path(out) / 'logs'}")


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="d3rlpy-dtmem")
def dtmem_convert() -> None:
    """Convert raw offline-RL data (DQN-Replay Atari, scripted Meta-World) to Minari."""


dtmem_convert.add_command(atari_command)
dtmem_convert.add_command(metaworld_command)
