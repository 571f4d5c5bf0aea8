"""Where a demo run stops: the pre-trained models' last checkpoint against the average of
their last few checkpoints, on the training tasks.

``dtmem quickstart`` saves both pre-trained models after every epoch (300 updates) under
``<run>/logs/pretrain-{dtmem,no-memory}/model_<step>.d3``. This loads the checkpoints of
``--steps`` of every run of ``--from``, averages their weights (a uniform average of the
network's parameters; nothing is trained) and evaluates the average on the run's training
tasks with the quickstart's own evaluation (same seeds, episodes and per-task target
returns). With ``--each``, every single checkpoint is evaluated as well. The last checkpoint's
success is read from the run's ``results.json`` (the model the demo evaluated: give runs
made with ``--average-checkpoints 1``, whose evaluated model is the last checkpoint).
``dtmem quickstart --average-checkpoints N`` does the same averaging during the run
(:class:`d3rlpy_dtmem.averaging.LastCheckpointsAverage`). Reports per
run and the mean over runs with a 95% bootstrap interval, for both models, and on how many
runs the demo's two pre-training targets hold.

With ``--finetuned``, the same for the run's fine-tuning on its held-out task instead: the
memory-only LoRA adapter's checkpoints (``logs/finetune-lora/adapter_<step>.pt``, at
``--lora-steps``), each merged into the run's saved base, their average the mean of the
merged weights (so the mean of the adapters' weight updates), and full fine-tuning's
(``logs/finetune-full/model_<step>.d3``, at ``--full-steps``); the last checkpoints'
success again from ``results.json``. Reports on how many runs the fine-tuning targets hold.

    python benchmarks/checkpoint_average.py \
        --from runs/demo_seeds10/average_checkpoints-1/seed{0..9}
    python benchmarks/checkpoint_average.py --finetuned --each \
        --from runs/demo_seeds_avg/average_checkpoints-3/seed{0..9}
"""

import d3rlpy_dtmem  # noqa: F401  # isort: skip  (first: registers DT-Mem, quiets old gym)
import argparse
import json
from pathlib import Path

import d3rlpy
import numpy as np

from d3rlpy_dtmem.app.demo_targets import check_targets, demo_measures
from d3rlpy_dtmem.app.quickstart import (
    QuickstartSettings,
    scripted_datasets,
    success_rate,
    target_returns,
)
from d3rlpy_dtmem.averaging import mean_state
from d3rlpy_dtmem.convert import use_minari_root
from d3rlpy_dtmem.data import load_minari
from d3rlpy_dtmem.evaluation.aggregate import stratified_bootstrap_ci

MODELS = {"DT-Mem": "dtmem", "no memory": "no-memory"}  # model -> its pre-training log run
STAGES = ("LoRA", "full FT")  # the fine-tuning stages, with --finetuned


def load_learnable(path: Path) -> object:
    return d3rlpy.load_learnable(str(path))


def merged_adapter(base: Path, adapter: Path) -> object:
    """The base model of ``base`` with the LoRA adapter file ``adapter`` folded in."""
    algo = d3rlpy.load_learnable(str(base))
    algo.load_adapter(adapter)
    algo.merge_adapter()
    return algo


def run_settings(run: Path) -> QuickstartSettings:
    """The quickstart settings of the demo run in folder ``run`` (named ``seed<S>``)."""
    seed = int(run.name.removeprefix("seed"))
    return QuickstartSettings(out=run, seed=seed, show_progress=False)


def candidates(paths: list[Path], load, steps: list[int], each: bool) -> dict:
    """``{"average": ..., "<step>": ...}``: loaders of the averaged and single checkpoints."""
    found = {"average": lambda: averaged_from([load(path) for path in paths])}
    if each:
        for step, path in zip(steps, paths, strict=True):
            found[str(step)] = lambda path=path: load(path)
    return found


def averaged_from(algos: list) -> object:
    """The last of ``algos`` with the uniform average of all their weights."""
    states = [algo.impl.modules.model.state_dict() for algo in algos]
    algos[-1].impl.modules.model.load_state_dict(mean_state(states))
    return algos[-1]


def checkpoint_success(
    label: str, paths: list[Path], load, steps: list[int], each: bool, tasks, targets, settings
) -> dict:
    """``{"<label> average": ..., "<label> <step>": ...}``: mean success over ``tasks`` of
    the averaged checkpoints ``paths`` (and, with ``each``, of every one)."""
    found = {}
    for name, make in candidates(paths, load, steps, each).items():
        algo = make()
        rates = [success_rate(algo, task, targets[task], settings).success_rate for task in tasks]
        found[f"{label} {name}"] = float(np.mean(rates))
    return found


def evaluate_finetuned(run: Path, lora_steps: list[int], full_steps: list[int], each: bool):
    """Held-out success of the run's LoRA and full fine-tuning: last, average, each."""
    settings = run_settings(run)
    with use_minari_root(run / "minari"):
        ids = scripted_datasets(settings.test_tasks, settings.finetune_episodes, settings)
        targets = target_returns(load_minari(ids), settings.test_tasks)
    last = demo_measures(json.loads((run / "results.json").read_text())["rows"])
    base = run / "dtmem_pretrained.d3"
    logs = run / "logs"
    loaders = {
        "LoRA": (
            [logs / "finetune-lora" / f"adapter_{step}.pt" for step in lora_steps],
            lambda path: merged_adapter(base, path),
            lora_steps,
        ),
        "full FT": (
            [logs / "finetune-full" / f"model_{step}.d3" for step in full_steps],
            load_learnable,
            full_steps,
        ),
    }
    found: dict = {}
    for stage, (paths, load, steps) in loaders.items():
        found[f"{stage} last"] = last[stage]
        found.update(
            checkpoint_success(
                stage, paths, load, steps, each, settings.test_tasks, targets, settings
            )
        )
    return found


def evaluate_run(run: Path, steps: list[int], each: bool) -> dict:
    """Mean training-task success of both models: last checkpoint, average, each."""
    settings = run_settings(run)
    with use_minari_root(run / "minari"):
        buffer = load_minari(scripted_datasets(settings.tasks, settings.episodes, settings))
    targets = target_returns(buffer, settings.tasks)
    last = demo_measures(json.loads((run / "results.json").read_text())["rows"])
    found: dict = {}
    for model, slug in MODELS.items():
        found[f"{model} last"] = last[f"{model} train"]
        paths = [run / "logs" / f"pretrain-{slug}" / f"model_{step}.d3" for step in steps]
        found.update(
            checkpoint_success(
                model, paths, load_learnable, steps, each, settings.tasks, targets, settings
            )
        )
    return found


def count_targets(results: dict, kind: str, finetuned: bool) -> list[int]:
    """On how many runs each target of this experiment holds for checkpoint ``kind``."""
    met = np.zeros(2, dtype=int)
    for found in results.values():
        names = STAGES if finetuned else tuple(f"{model} train" for model in MODELS)
        measures = dict.fromkeys(("DT-Mem train", "no memory train", *STAGES), 0.0)
        for name in names:  # the other stage's measures are not part of this experiment
            measures[name] = found[f"{name.removesuffix(' train')} {kind}"]
        checks = check_targets(measures)
        met += [check.met for check in (checks[2:] if finetuned else checks[:2])]
    return met.tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--from", dest="runs", nargs="+", required=True, type=Path)
    parser.add_argument("--steps", type=int, nargs="+", default=[2400, 2700, 3000])
    parser.add_argument("--each", action="store_true", help="evaluate every checkpoint too")
    parser.add_argument(
        "--finetuned", action="store_true", help="the fine-tuning stages, not pre-training"
    )
    parser.add_argument("--lora-steps", type=int, nargs="+", default=[2400, 2700, 3000])
    parser.add_argument("--full-steps", type=int, nargs="+", default=[480, 540, 600])
    parser.add_argument("--out", type=Path, default=Path("runs/checkpoint_average.json"))
    args = parser.parse_args()
    results = {}
    for run in args.runs:
        if args.finetuned:
            found = evaluate_finetuned(run, args.lora_steps, args.full_steps, args.each)
        else:
            found = evaluate_run(run, args.steps, args.each)
        results[str(run)] = found
        print(run, " ".join(f"{k}={v:.2f}" for k, v in found.items()), flush=True)
    summary = {}
    for key in next(iter(results.values())):
        values = np.array([found[key] for found in results.values()])
        interval = stratified_bootstrap_ci(values, "mean")
        summary[key] = {"mean": interval.point, "ci": [interval.low, interval.high]}
        print(f"{key:22s} {interval.point:.2f} [{interval.low:.2f}, {interval.high:.2f}]")
    n = len(results)
    for kind in ("last", "average"):
        met = count_targets(results, kind, args.finetuned)
        summary[f"targets {kind}"] = met
        if args.finetuned:
            print(f"{kind:7s}: LoRA > 0 on {met[0]}/{n}, >= full FT / 2 on {met[1]}/{n}")
        else:
            print(f"{kind:7s}: DT-Mem >= 0.5 on {met[0]}/{n}, >= no memory - 0.05 on {met[1]}/{n}")
    args.out.write_text(json.dumps({"runs": results, "summary": summary}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
