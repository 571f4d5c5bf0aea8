"""Where a demo run stops: the pre-trained models' last checkpoint against the average of
their last few checkpoints, on the training tasks.

``dtmem quickstart`` saves both pre-trained models after every epoch (300 updates) under
``<run>/logs/pretrain-{dtmem,no-memory}/model_<step>.d3``. This loads the checkpoints of
``--steps`` of every run of ``--from``, averages their weights (a uniform average of the
network's parameters; nothing is trained) and evaluates the average on the run's training
tasks with the quickstart's own evaluation (same seeds, episodes and per-task target
returns). With ``--each``, every single checkpoint is evaluated as well. The last checkpoint's
success is read from the run's ``results.json`` (the model the demo evaluated).
``dtmem quickstart --average-checkpoints N`` does the same averaging during the run
(:class:`d3rlpy_dtmem.averaging.LastCheckpointsAverage`). Reports per
run and the mean over runs with a 95% bootstrap interval, for both models, and on how many
runs the demo's two pre-training targets hold.

    python benchmarks/checkpoint_average.py --from runs/demo_seeds10/default/seed{0..9}
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


def averaged(paths: list[Path]) -> object:
    """The learnable of ``paths[-1]`` with the uniform average of all their weights."""
    algos = [d3rlpy.load_learnable(str(path)) for path in paths]
    states = [algo.impl.modules.model.state_dict() for algo in algos]
    algos[-1].impl.modules.model.load_state_dict(mean_state(states))
    return algos[-1]


def evaluate_run(run: Path, steps: list[int], each: bool) -> dict:
    """Mean training-task success of both models: last checkpoint, average, each."""
    seed = int(run.name.removeprefix("seed"))
    settings = QuickstartSettings(out=run, seed=seed, show_progress=False)
    with use_minari_root(run / "minari"):
        buffer = load_minari(scripted_datasets(settings.tasks, settings.episodes, settings))
    targets = target_returns(buffer, settings.tasks)
    last = demo_measures(json.loads((run / "results.json").read_text())["rows"])
    found: dict = {}
    for model, slug in MODELS.items():
        found[f"{model} last"] = last[f"{model} train"]
        paths = [run / "logs" / f"pretrain-{slug}" / f"model_{step}.d3" for step in steps]
        candidates = {"average": lambda paths=paths: averaged(paths)}
        if each:
            for step, path in zip(steps, paths, strict=True):
                candidates[str(step)] = lambda path=path: d3rlpy.load_learnable(str(path))
        for name, load in candidates.items():
            algo = load()
            rates = [
                success_rate(algo, task, targets[task], settings).success_rate
                for task in settings.tasks
            ]
            found[f"{model} {name}"] = float(np.mean(rates))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--from", dest="runs", nargs="+", required=True, type=Path)
    parser.add_argument("--steps", type=int, nargs="+", default=[2400, 2700, 3000])
    parser.add_argument("--each", action="store_true", help="evaluate every checkpoint too")
    parser.add_argument("--out", type=Path, default=Path("runs/checkpoint_average.json"))
    args = parser.parse_args()
    results = {}
    for run in args.runs:
        results[str(run)] = evaluate_run(run, args.steps, args.each)
        print(run, " ".join(f"{k}={v:.2f}" for k, v in results[str(run)].items()), flush=True)
    summary = {}
    for key in next(iter(results.values())):
        values = np.array([found[key] for found in results.values()])
        interval = stratified_bootstrap_ci(values, "mean")
        summary[key] = {"mean": interval.point, "ci": [interval.low, interval.high]}
        print(f"{key:22s} {interval.point:.2f} [{interval.low:.2f}, {interval.high:.2f}]")
    for kind in ("last", "average"):
        met = np.zeros(2, dtype=int)
        for found in results.values():
            measures = {
                "DT-Mem train": found[f"DT-Mem {kind}"],
                "no memory train": found[f"no memory {kind}"],
                "LoRA": 0.0,  # fine-tuning is not part of this experiment
                "full FT": 0.0,
            }
            met += [check.met for check in check_targets(measures)[:2]]
        summary[f"targets {kind}"] = met.tolist()
        print(
            f"{kind:7s}: DT-Mem >= 0.5 on {met[0]}/{len(results)}, "
            f">= no memory - 0.05 on {met[1]}/{len(results)}"
        )
    args.out.write_text(json.dumps({"runs": results, "summary": summary}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
