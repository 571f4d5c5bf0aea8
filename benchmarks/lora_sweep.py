"""LoRA sweep on the quickstart's held-out task: learning rate, rank, alpha, targets, steps.

Starts from the DT-Mem pre-trained by ``dtmem quickstart`` (``<from>/dtmem_pretrained.d3``
and the held-out data in ``<from>/minari``), varies one setting at a time around a base
point, and evaluates held-out success (the quickstart's seeds x episodes, 95% bootstrap
interval over episodes). Steps are swept inside the base run, by evaluating it after
each of ``--step-points`` updates. Full fine-tuning of the same base is the reference.

    dtmem quickstart --out runs/quickstart
    python benchmarks/lora_sweep.py --from runs/quickstart
"""

import d3rlpy_dtmem  # noqa: F401  # isort: skip  (first: registers DT-Mem, quiets old gym)
import argparse
import dataclasses
import json
import time
from pathlib import Path

import d3rlpy
import torch

from d3rlpy_dtmem.app.quickstart import (
    QuickstartSettings,
    scripted_datasets,
    success_rate,
    target_return,
)
from d3rlpy_dtmem.convert import use_minari_root
from d3rlpy_dtmem.data import load_minari
from d3rlpy_dtmem.evaluation.aggregate import task_intervals

TARGETS = {
    "memory": "memory",
    "memory.out": r"(.*\.)?memory\.out",
    "memory+heads": r"(.*\.)?(memory\.(address_query|address_key|write_query|write_key|value|out)"
    r"|heads\.\w+\.(hidden|output))",
}


def evaluate(algo, settings: QuickstartSettings, target: float) -> dict[str, float]:
    task = settings.test_tasks[0]
    scores = success_rate(algo, task, target, settings).successes.astype(float).reshape(-1, 1)
    (interval,) = task_intervals(scores)
    return dataclasses.asdict(interval)


def finetune(base: Path, buffer, mode: str, point: dict, checkpoints, settings, target):
    """Trains from ``base``; the success after each of ``checkpoints`` updates."""
    d3rlpy.seed(settings.seed)
    algo = d3rlpy.load_learnable(str(base), device=settings.device)
    if mode == "lora":
        algo.enable_lora(
            rank=point["rank"],
            alpha=point["alpha"],
            targets=TARGETS[point["targets"]],
            learning_rate=point["lr"],
        )
    else:
        algo.configure_finetuning(mode)
    config = algo.config
    results, done = {}, 0
    for steps in checkpoints:
        for _ in range(steps - done):
            algo.update(buffer.sample_trajectory_batch(config.batch_size, config.context_size))
        done = steps
        results[steps] = evaluate(algo, settings, target)
    return results, algo.parameter_counts()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", default="runs/quickstart")
    parser.add_argument("--lrs", type=float, nargs="+", default=[3e-4, 1e-3, 3e-3, 1e-2])
    parser.add_argument("--ranks", type=int, nargs="+", default=[2, 4, 8, 16])
    parser.add_argument("--alphas", type=float, nargs="+", default=[8.0, 16.0, 64.0])
    parser.add_argument("--targets", nargs="+", default=list(TARGETS), choices=list(TARGETS))
    parser.add_argument("--step-points", type=int, nargs="+", default=[500, 1500, 3000])
    parser.add_argument("--base", default="lr=3e-3,rank=8,alpha=64,targets=memory")
    args = parser.parse_args()
    torch.set_num_threads(2)
    source = Path(args.source)
    defaults = QuickstartSettings()
    settings = QuickstartSettings(out=source, show_progress=False)
    base_model = source / "dtmem_pretrained.d3"
    if not base_model.exists():
        raise SystemExit(f"{base_model} not found: run `dtmem quickstart --out {source}` first")
    raw = dict(part.split("=") for part in args.base.split(","))
    base = {"lr": float(raw["lr"]), "rank": int(raw["rank"]), "alpha": float(raw["alpha"])}
    base["targets"] = raw["targets"]
    points = [base]
    for key, values in (
        ("lr", args.lrs),
        ("rank", args.ranks),
        ("alpha", args.alphas),
        ("targets", args.targets),
    ):
        points += [{**base, key: value} for value in values if value != base[key]]
    with use_minari_root(source / "minari"):
        train_ids = scripted_datasets(settings.tasks, settings.episodes, settings)
        target = target_return(load_minari(train_ids, seed=settings.seed))
        test_ids = scripted_datasets(settings.test_tasks, defaults.finetune_episodes, settings)
        buffer = load_minari(test_ids, seed=settings.seed)
    rows = []
    started = time.perf_counter()
    for point in [None, *points]:  # None: full fine-tuning, the reference
        mode = "full" if point is None else "lora"
        checkpoints = (
            sorted(args.step_points) if point in (None, base) else [defaults.finetune_steps]
        )
        results, counts = finetune(
            base_model, buffer, mode, point or {}, checkpoints, settings, target
        )
        for steps, success in results.items():
            rows.append({"mode": mode, **(point or {}), "steps": steps, **success, **counts})
            label = "full FT" if point is None else ", ".join(f"{k}={v}" for k, v in point.items())
            print(
                f"{label:<45} steps {steps:>5}  success {success['point']:.2f} "
                f"[{success['low']:.2f}, {success['high']:.2f}]  trainable {counts['trainable']:,}"
                f"  ({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
    (source / "lora_sweep.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(f"wrote {source / 'lora_sweep.json'}")


if __name__ == "__main__":
    main()
