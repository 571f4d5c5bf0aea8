"""The jobs behind the ``dtmem`` command, as plain functions (the CLI only parses options)."""

import dataclasses
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "LR_SCHEDULES",
    "JobError",
    "EvaluateResult",
    "FinetuneResult",
    "TrainResult",
    "load_dtmem",
    "check_compatible",
    "decay_steps_for",
    "evaluate_model",
    "finetune",
    "fit_steps",
    "train",
]

TRAIN_EXPERIMENT = "train"
# the learning rate after its warmup: held, or decayed to 0 at the last step (training and
# fine-tuning)
LR_SCHEDULES = ("constant", "cosine")


def decay_steps_for(schedule: str, steps: int) -> int | None:
    """The ``decay_steps`` (of ``configure_finetuning``, ``preset_config``) for a run of
    ``steps`` updates: ``steps`` under ``"cosine"`` (the rate reaches 0 at the last update),
    ``None`` (held) under ``"constant"``; any other name is refused."""
    if schedule not in LR_SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; choose from {LR_SCHEDULES}")
    return steps if schedule == "cosine" else None


def _checked_schedule(schedule: str) -> None:
    """Refuses an unknown schedule before a job writes anything."""
    try:
        decay_steps_for(schedule, 1)
    except ValueError as error:
        raise JobError(str(error)) from None


class JobError(ValueError):
    """A job cannot run: a bad file, dataset or value. The message says which and why."""


@dataclasses.dataclass(frozen=True)
class FinetuneResult:
    mode: str
    output: Path
    trainable_parameters: int
    total_parameters: int
    final_loss: float


def load_dtmem(path: str | os.PathLike, device: str = "cpu:0") -> Any:
    """Loads a saved DT-Mem (``.d3``), with a one-line error for a missing or bad file
    (see :func:`~d3rlpy_dtmem.checkpoint.load_checkpoint`)."""
    from ..checkpoint import CheckpointError, load_checkpoint

    try:
        return load_checkpoint(path, device)
    except CheckpointError as error:
        raise JobError(str(error)) from None


def check_compatible(algo: Any, buffer: Any, dataset_ids: Sequence[str]) -> None:
    """Refuses data whose observations or actions do not fit the model."""
    from ..spaces import check_fits

    info = buffer.dataset_info
    impl = algo.impl
    try:
        check_fits(
            f"datasets {list(dataset_ids)}",
            buffer.sample_transition().observation_signature.shape[0],
            info.action_space.name == "DISCRETE",
            info.action_size,
            model_observation_shape=impl.observation_shape,
            model_discrete=impl.discrete,
            model_action_size=impl.action_size,
        )
    except ValueError as error:
        raise JobError(str(error)) from None


def _load_datasets(
    dataset_ids: Sequence[str], seed: int, mmap_dir: str | os.PathLike | None = None
) -> Any:
    from ..data import load_minari

    try:
        return load_minari(list(dataset_ids), seed=seed, mmap_dir=mmap_dir)
    except (KeyError, ValueError) as error:
        raise JobError(str(error).strip("'\"")) from None


def _refuse_outputs(out: Path, outputs: Sequence[Path], overwrite: bool, what: str) -> list[Path]:
    """This command's outputs already in ``out``; refused unless ``overwrite`` (checked
    before any work). Remove them with :func:`_remove` once the inputs are checked."""
    present = [path for path in outputs if path.exists()]
    if present and not overwrite:
        raise JobError(
            f"{out}: already holds {what} ({present[0].relative_to(out)}); use a new --out, "
            "or --overwrite to replace it"
        )
    return present


def _remove(paths: Sequence[Path]) -> None:
    """Removes what an ``--overwrite`` replaces, so that nothing stale stays beside it."""
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _checked_device(device: str) -> str:
    from ..devices import resolve_device

    try:
        return resolve_device(device)
    except ValueError as error:
        raise JobError(str(error)) from None


def fit_steps(
    algo: Any,
    buffer: Any,
    steps: int,
    steps_per_epoch: int,
    experiment: str,
    logger: Any,
    show_progress: bool,
    epochs_done: int = 0,
    steps_done: int = 0,
    callback: Callable[[Any, int, int], None] | None = None,
) -> None:
    """``algo.fit`` for exactly ``steps`` updates in epochs of ``steps_per_epoch``.

    d3rlpy's ``fit`` runs whole epochs only; a remainder runs as one shorter last epoch,
    logged and checkpointed after the others (``epochs_done`` / ``steps_done``: what an
    earlier run of the same experiment logged). ``callback`` is ``fit``'s, called after
    every update.
    """
    from .resume import StepOffsetAdapterFactory

    full, rest = divmod(steps, steps_per_epoch)
    parts = [(full * steps_per_epoch, steps_per_epoch), (rest, rest)]
    for part_steps, epoch_steps in parts:
        if not part_steps:
            continue
        offset_logger = logger
        if epochs_done or steps_done:
            offset_logger = StepOffsetAdapterFactory(logger, epochs_done, steps_done)
        algo.fit(
            buffer,
            n_steps=part_steps,
            n_steps_per_epoch=epoch_steps,
            experiment_name=experiment,
            with_timestamp=False,
            logger_adapter=offset_logger,
            show_progress=show_progress,
            callback=callback,
        )
        epochs_done += part_steps // epoch_steps
        steps_done += part_steps


def finetune(
    model: str | os.PathLike,
    dataset_ids: Sequence[str],
    out: str | os.PathLike,
    *,
    mode: str = "lora",
    rank: int = 4,
    alpha: float = 8.0,
    dropout: float = 0.0,
    learning_rate: float | None = None,
    schedule: str = "constant",
    steps: int = 10_000,
    steps_per_epoch: int = 1000,
    device: str = "cpu:0",
    seed: int = 0,
    show_progress: bool = True,
    mmap_dir: str | os.PathLike | None = None,
    resume: bool = False,
    overwrite: bool = False,
    echo: Callable[[str], Any] | None = None,
) -> FinetuneResult:
    """Fine-tunes a saved DT-Mem on datasets; writes ``adapter.pt`` (LoRA) or ``model.d3``.

    ``learning_rate``: peak rate of the fine-tuning optimizer (default: the adapter default
    for LoRA, the model's own rate for the full modes). ``schedule``: the rate after the
    warmup, ``"constant"`` (held) or ``"cosine"`` (decays to 0 at ``steps``).
    Logs (d3rlpy's CSV files and per-epoch checkpoints: ``adapter_<step>.pt`` for LoRA,
    ``model_<step>.d3`` otherwise) go to ``out/logs/finetune-<mode>``. ``mmap_dir``:
    observations memory-mapped from stores there (see :func:`~d3rlpy_dtmem.data.load_minari`).

    With ``resume=True`` (LoRA only), ``out`` is an interrupted run's folder: the adapter
    continues from its newest checkpoint (weights, optimizer state, step count; the adapter
    settings and learning-rate schedule are the checkpoint's) up to ``steps``, logging into
    the same run (a cosine schedule's end is its limit). Batches are drawn with ``seed``
    plus the steps done. Otherwise an ``out`` that holds a fine-tuning
    run is refused unless ``overwrite``, which replaces it. ``echo``: prints a header and
    one line per epoch (the CLI passes ``click.echo``).
    """
    import d3rlpy

    from ..evaluation.loggers import training_logger
    from .console import EpochLines
    from .resume import trim_metrics

    _checked_schedule(schedule)
    out = Path(out)
    run_dir = out / "logs" / f"finetune-{mode}"
    device = _checked_device(device)
    outputs = [out / "adapter.pt", out / "model.d3", run_dir]
    replaced = [] if resume else _refuse_outputs(out, outputs, overwrite, "a fine-tuning run")
    algo = load_dtmem(model, device)
    done = _resume_adapter(algo, out, run_dir, steps) if resume else 0
    d3rlpy.seed(seed + done)
    buffer = _load_datasets(dataset_ids, seed + done, mmap_dir)
    check_compatible(algo, buffer, dataset_ids)
    _remove(replaced)
    logger = training_logger(out / "logs", tensorboard=False)
    epochs = trim_metrics(run_dir, done) if done else 0
    if not done:
        algo.configure_finetuning(
            mode,
            rank=rank,
            alpha=alpha,
            dropout=dropout,
            learning_rate=learning_rate,
            decay_steps=decay_steps_for(schedule, steps),
        )
    counts = algo.parameter_counts()
    if echo is not None:
        echo(
            f"fine-tuning ({mode}) {Path(model).name} on {', '.join(dataset_ids)}: "
            f"{counts['trainable']:,} of {counts['total']:,} parameters train, "
            f"{steps - done} steps on {device}"
        )
        logger = EpochLines(logger, echo)
    fit_steps(
        algo,
        buffer,
        steps - done,
        steps_per_epoch,
        f"finetune-{mode}",
        logger,
        show_progress,
        epochs,
        done,
    )
    if mode == "lora":
        output = out / "adapter.pt"
        algo.save_adapter(output)
    else:
        output = out / "model.d3"
        algo.save(str(output))
    return FinetuneResult(mode, output, counts["trainable"], counts["total"], _final_loss(run_dir))


def _final_loss(run_dir: Path) -> float:
    """The last value d3rlpy logged to ``run_dir/loss.csv`` (rows ``epoch,step,value``)."""
    rows = (run_dir / "loss.csv").read_text().split()
    return float(rows[-1].split(",")[-1])


def _resume_adapter(algo: Any, out: Path, run_dir: Path, steps: int) -> int:
    """Loads the newest adapter checkpoint of the run in ``out``; returns its step."""
    from ..adapters import AdapterError
    from .resume import latest_adapter_checkpoint

    if run_dir.name != "finetune-lora":
        raise JobError("--resume continues LoRA runs only (--mode lora)")
    if not out.is_dir():
        raise JobError(f"{out}: no such run folder to resume")
    path = latest_adapter_checkpoint(run_dir)
    if path is None:
        raise JobError(f"{out}: no adapter checkpoint to resume (no {run_dir.name}/adapter_N.pt)")
    try:
        algo.resume_adapter(path)
    except AdapterError as error:
        raise JobError(str(error)) from None
    done = algo.adapter_steps
    if done >= steps:
        raise JobError(f"{path}: already trained {done} steps; --steps {steps} leaves none to do")
    decay_steps = algo.adapter_decay_steps
    if decay_steps is not None and decay_steps < steps:
        raise JobError(_past_decay(path, decay_steps, steps))
    return done


@dataclasses.dataclass(frozen=True)
class TrainResult:
    model: Path
    run_dir: Path  # d3rlpy's CSV metrics, params.json and per-epoch checkpoints
    tensorboard_dir: Path | None
    curves: Path
    trainable_parameters: int
    final_loss: float


@dataclasses.dataclass(frozen=True)
class EvaluateResult:
    tasks: list[Any]  # d3rlpy_dtmem.evaluation.TaskResult
    files: dict[str, Path]
    report: str  # the markdown report


def _parse_envs(envs: Sequence[str], max_episode_steps: int | None) -> list[Any]:
    from ..evaluation.envspec import parse_env_spec

    try:
        return [parse_env_spec(env, max_episode_steps) for env in envs]
    except ValueError as error:
        raise JobError(str(error)) from None


def _check_envs(
    specs: Sequence[Any],
    shape: Sequence[int],
    discrete: bool,
    size: int,
    target_return: float | str | None = None,
) -> list[float | str | None]:
    """Refuses envs that do not fit the model (or the data) or lack a target return.

    Returns:
        each env's target return (see ``resolve_target_return``).
    """
    from ..evaluation.envspec import check_env_compatible, resolve_target_return

    targets = []
    for spec in specs:
        env = spec.make(0)
        try:
            check_env_compatible(env, shape, discrete, size, spec.label)
            targets.append(resolve_target_return(spec, discrete, target_return))
        except ValueError as error:
            raise JobError(str(error)) from None
        finally:
            env.close()
    return targets


def _epoch_evaluation(specs: Sequence[Any], episodes: int, seed: int) -> Any:
    """``algo -> metrics``: mean return and scores of each env, for every epoch.

    Metrics: ``eval_<kind>_<name>_return``, ``..._score`` (the main score of scored kinds) and
    ``..._dqn_score`` (Atari games with a DQN reference).
    """
    from ..evaluation.envspec import DQN_NORMALIZED, evaluate_envs

    def run(algo: Any) -> dict[str, float]:
        metrics = {}
        tasks = evaluate_envs(algo, specs, (seed,), episodes, show_progress=False)
        for task in tasks:
            name = task.label.replace(":", "_")
            metrics[f"eval_{name}_return"] = task.result.mean_return
            if task.score_name != "return":
                metrics[f"eval_{name}_score"] = float(task.scores.mean())
            if DQN_NORMALIZED in task.other_scores:
                metrics[f"eval_{name}_dqn_score"] = float(task.other_scores[DQN_NORMALIZED].mean())
        return metrics

    return run


def _resumed_algo(out: Path, run_dir: Path, steps: int, device: str) -> tuple[Any, int]:
    """The newest checkpoint of the run in ``out``, loaded to train on, and its step."""
    from ..checkpoint import CheckpointError, load_checkpoint
    from ..lr_schedules import WarmupCosineSchedulerFactory
    from .resume import latest_checkpoint

    if not out.is_dir():
        raise JobError(f"{out}: no such run folder to resume")
    path = latest_checkpoint(out, run_dir)
    if path is None:
        raise JobError(f"{out}: no checkpoint to resume (no {run_dir.name}/model_N.d3 or model.d3)")
    try:
        algo = load_checkpoint(path, device)
    except CheckpointError as error:
        raise JobError(str(error)) from None
    done = algo.grad_step
    if done >= steps:
        raise JobError(f"{path}: already trained {done} steps; --steps {steps} leaves none to do")
    schedule = algo.config.optim_factory.lr_scheduler_factory
    if isinstance(schedule, WarmupCosineSchedulerFactory) and schedule.decay_steps < steps:
        raise JobError(_past_decay(path, schedule.decay_steps, steps))
    return algo, done


def _past_decay(path: Path, decay_steps: int, steps: int) -> str:
    return (
        f"{path}: the run's learning rate decays to 0 at step {decay_steps} (cosine); "
        f"--steps {steps} would train past it (start a new run to train longer)"
    )


def train(
    dataset_ids: Sequence[str],
    out: str | os.PathLike,
    *,
    preset: str = "tiny",
    steps: int = 10_000,
    steps_per_epoch: int = 1000,
    use_memory: bool = True,
    schedule: str = "constant",
    memory_scope: str = "window",
    memory_segments: int = 4,
    eval_envs: Sequence[str] = (),
    eval_episodes: int = 4,
    eval_max_steps: int | None = None,
    tensorboard: bool = True,
    device: str = "cpu:0",
    seed: int = 0,
    show_progress: bool = True,
    resume: bool = False,
    mmap_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
    echo: Callable[[str], Any] | None = None,
) -> TrainResult:
    """Trains a DT-Mem of a preset on Minari datasets; the data decides vector vs pixel.

    Writes ``out/model.d3`` (atomically), ``out/training_curves.png`` and, under
    ``out/logs``, d3rlpy's CSV metrics and checkpoints (``train/``) and TensorBoard event
    files (``runs/train/``). With ``eval_envs`` (specs such as ``atari:Pong``), every epoch
    also logs each env's mean return and task score over ``eval_episodes`` episodes.

    With ``resume=True``, ``out`` is an earlier run's folder: training continues from its
    newest checkpoint (``logs/train/model_N.d3``, else ``model.d3``) with the saved weights,
    optimizer, learning-rate schedule and step count, for the ``steps`` still missing, and
    logs into the same run (see :mod:`d3rlpy_dtmem.app.resume`). The checkpoint's model is used:
    ``preset``, ``use_memory`` and the memory options are ignored. CSV rows logged after the
    checkpoint are dropped. Batches are drawn with ``seed`` plus the steps done (the sampler's
    state is not saved), so they differ from those an uninterrupted run would have drawn.

    ``schedule``: the learning rate after the preset's warmup, ``"constant"`` (held) or
    ``"cosine"`` (decays to 0 at ``steps``; a resumed run keeps its own schedule and may not
    train past its end).

    ``memory_scope="episode"`` carries the memory across the windows of an episode, trained
    on runs of ``memory_segments`` windows (and, by the config's default for that scope,
    without the balance loss, which works against carrying; ``docs/memory.md``).

    ``mmap_dir``: observations memory-mapped from stores there instead of read into RAM (see
    :func:`~d3rlpy_dtmem.data.load_minari`).
    """
    import d3rlpy

    from ..evaluation.loggers import EvaluationAdapterFactory, training_logger
    from ..evaluation.plots import plot_training_curves
    from .console import EpochLines
    from .presets import preset_config
    from .resume import latest_checkpoint, trim_metrics

    _checked_schedule(schedule)
    out = Path(out)
    run_dir, model_path = out / "logs" / TRAIN_EXPERIMENT, out / "model.d3"
    device = _checked_device(device)
    outputs = [model_path, out / "training_curves.png", run_dir]
    outputs.append(out / "logs" / "runs" / TRAIN_EXPERIMENT)
    replaced: list[Path] = []
    if resume:
        algo, done = _resumed_algo(out, run_dir, steps, device)
    elif latest_checkpoint(out, run_dir) is not None and not overwrite:
        raise JobError(
            f"{out}: already holds a training run (model.d3 or a checkpoint in logs/); use a "
            "new --out, --resume to continue it, or --overwrite to replace it"
        )
    else:
        # replaced with --overwrite, or logs of a run stopped before its first checkpoint
        replaced = [path for path in outputs if path.exists()]
        algo, done = None, 0
    specs = _parse_envs(eval_envs, eval_max_steps)
    d3rlpy.seed(seed + done)
    buffer = _load_datasets(dataset_ids, seed + done, mmap_dir)
    shape = tuple(buffer.sample_transition().observation_signature.shape[0])
    info = buffer.dataset_info
    _check_envs(specs, shape, info.action_space.name == "DISCRETE", info.action_size)
    if algo is None:
        try:
            scope: dict[str, Any] = dict(memory_scope=memory_scope)
            if memory_scope == "episode":
                scope.update(memory_segments=memory_segments)
            config = preset_config(
                preset,
                pixel=len(shape) == 3,
                use_memory=use_memory,
                decay_steps=decay_steps_for(schedule, steps),
                **scope,
            )
        except ValueError as error:
            raise JobError(str(error)) from None
        algo = config.create(device=device)
    else:
        try:
            check_compatible(algo, buffer, dataset_ids)
        except JobError as error:
            raise JobError(f"cannot resume {out}: {error}") from None
    logger = training_logger(out / "logs", tensorboard)
    if specs:
        logger = EvaluationAdapterFactory(logger, _epoch_evaluation(specs, eval_episodes, seed))
    if echo is not None:
        if algo.impl is None:
            algo.build_with_dataset(buffer)
        counts = algo.parameter_counts()
        echo(
            f"training DT-Mem ({algo.config.memory_slots} slots, "
            f"{_memory_words(algo.config)}) on "
            f"{', '.join(dataset_ids)}: {counts['trainable']:,} parameters, "
            f"{steps - done} steps on {device}"
        )
        logger = EpochLines(logger, echo)
    _remove(replaced)
    epochs = trim_metrics(run_dir, done) if done else 0
    fit_steps(
        algo,
        buffer,
        steps - done,
        steps_per_epoch,
        TRAIN_EXPERIMENT,
        logger,
        show_progress,
        epochs,
        done,
    )
    algo.save(str(model_path))  # atomic
    return TrainResult(
        model=model_path,
        run_dir=run_dir,
        tensorboard_dir=out / "logs" / "runs" / TRAIN_EXPERIMENT if tensorboard else None,
        curves=plot_training_curves(run_dir, out / "training_curves.png"),
        trainable_parameters=algo.parameter_counts()["trainable"],
        final_loss=_final_loss(run_dir),
    )


def _plot_memory(
    algo: Any, spec: Any, target: float | str | None, seed: int, steps: int, out: Any
) -> Path:
    """Plots the memory activity of episode 0 of evaluation seed ``seed`` on ``spec``."""
    from ..evaluation import ReturnSampler, episode_seed
    from ..evaluation.activity import memory_activity, record_trajectory
    from ..evaluation.plots import plot_memory_activity

    env = spec.make()
    try:
        sampler = ReturnSampler(rng=np.random.default_rng(seed))
        trajectory = record_trajectory(
            algo, env, target, steps, None, sampler, seed=episode_seed(seed, 0)
        )
    finally:
        env.close()
    return plot_memory_activity(
        memory_activity(algo, trajectory),
        Path(out) / "memory_activity.png",
        title=f"memory activity, {spec.label}, seed {seed}, episode 0",
    )


def evaluate_model(
    model: str | os.PathLike,
    envs: Sequence[str],
    out: str | os.PathLike,
    *,
    adapter: str | os.PathLike | None = None,
    episodes: int = 16,
    seeds: Sequence[int] = (0,),
    target_return: float | str | None = None,
    max_episode_steps: int | None = None,
    batched: bool = True,
    memory_plot: bool = True,
    memory_steps: int = 200,
    device: str = "cpu:0",
    show_progress: bool = True,
    allow_truncated: bool = False,
    overwrite: bool = False,
) -> EvaluateResult:
    """Evaluates a saved DT-Mem (optionally with a LoRA adapter) on envs; writes a report.

    ``out`` receives ``report.md``, ``summary.json``, ``episodes.csv``, one bar plot per score
    kind and, for models with memory, ``memory_activity.png`` (the write weights of the first
    ``memory_steps`` steps of episode 0 of the first seed of the first env).
    ``target_return=None`` means expert returns (discrete models) or the env's default.
    An ``out`` that holds a report is refused unless ``overwrite``, which replaces it (stale
    plots included). Normalized scores of episodes cut by ``max_episode_steps`` below the
    env's protocol are reported but not aggregated unless ``allow_truncated``.
    """
    import d3rlpy

    from ..adapters import AdapterError
    from ..evaluation.envspec import evaluate_envs
    from ..evaluation.report import write_report

    specs = _parse_envs(envs, max_episode_steps)
    device = _checked_device(device)
    out = Path(out)
    reports = ["report.md", "summary.json", "episodes.csv", "memory_activity.png"]
    outputs = [out / name for name in reports]
    outputs += sorted(out.glob("*-score.png")) + [out / "return.png", out / "success-rate.png"]
    replaced = _refuse_outputs(out, outputs, overwrite, "an evaluation report")
    algo = load_dtmem(model, device)
    if adapter is not None:
        try:
            algo.load_adapter(adapter)
        except AdapterError as error:
            raise JobError(str(error)) from None
    impl = algo.impl
    targets = _check_envs(
        specs, impl.observation_shape, impl.discrete, impl.action_size, target_return
    )
    d3rlpy.seed(seeds[0])
    _remove(replaced)
    try:
        tasks = evaluate_envs(
            algo,
            specs,
            seeds,
            episodes,
            target_return=target_return,
            batched=batched,
            show_progress=show_progress,
        )
    except ValueError as error:
        raise JobError(str(error)) from None
    provenance = {
        "model": str(Path(model).resolve()),
        "adapter": str(Path(adapter).resolve()) if adapter is not None else None,
        "envs": [spec.label for spec in specs],
        "target_return": {spec.label: target for spec, target in zip(specs, targets, strict=True)},
        "max_episode_steps": max_episode_steps,
        "episodes_per_seed": episodes,
        "seeds": list(seeds),
        "batched": batched,
        "device": device,
        "versions": _versions(),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    files = write_report(
        tasks,
        out,
        title=f"Evaluation of {Path(model).name}",
        provenance=provenance,
        allow_truncated=allow_truncated,
    )
    if memory_plot and impl.model.memory is not None:
        files["memory"] = _plot_memory(algo, specs[0], targets[0], seeds[0], memory_steps, out)
    return EvaluateResult(tasks, files, files["report"].read_text())


def _versions() -> dict[str, str]:
    """Versions of the packages that decide the results."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for package in (
        "d3rlpy-dtmem",
        "d3rlpy",
        "torch",
        "gymnasium",
        "minari",
        "ale-py",
        "metaworld",
    ):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def _memory_words(config: Any) -> str:
    """``memory``, ``episode memory`` or ``no memory``, for the training header."""
    if not config.use_memory:
        return "no memory"
    return "episode memory" if config.memory_scope == "episode" else "memory"
