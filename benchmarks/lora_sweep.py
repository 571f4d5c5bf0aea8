"""LoRA sweep on the quickstart's held-out task, over several pre-trained bases.

Starts from the DT-Mem bases pre-trained by ``dtmem quickstart`` (``<dir>/dtmem_pretrained.d3``
and the held-out data in ``<dir>/minari``; one directory per pre-training seed), varies one
setting at a time around a base point (learning rate, rank, alpha, targets, batch size,
balance-loss weight, steps) and evaluates held-out success on every base (the quickstart's
evaluation seeds x episodes). Every point runs once per fine-tuning seed (``--seeds``) on
every base; a run's initialisation and batch order depend on its seed alone. Each point is
reported per base and seed and pooled, with a 95% bootstrap interval stratified over bases,
next to full fine-tuning of the same bases on the same data (the quickstart's reference),
with each run's fit: its mean action loss over its last 100 updates.

    for s in 0 1 2; do dtmem quickstart --seed $s --out runs/qs_seed$s; done
    python benchmarks/lora_sweep.py --from runs/qs_seed0 runs/qs_seed1 runs/qs_seed2
"""

import d3rlpy_dtmem  # noqa: F401  # isort: skip  (first: registers DT-Mem, quiets old gym)
import argparse
import dataclasses
import json
import time
from pathlib import Path

import d3rlpy
import numpy as np
import torch

from d3rlpy_dtmem.app.jobs import LR_SCHEDULES, decay_steps_for
from d3rlpy_dtmem.app.quickstart import (
    QuickstartSettings,
    scripted_datasets,
    success_rate,
    target_returns,
)
from d3rlpy_dtmem.convert import use_minari_root
from d3rlpy_dtmem.data import load_minari
from d3rlpy_dtmem.evaluation.aggregate import stratified_bootstrap_ci

TARGETS = {
    "memory": "memory",
    "memory.out": r"(.*\.)?memory\.out",
    "memory+heads": r"(.*\.)?(memory\.(address_query|address_key|write_query|write_key|value|out)"
    r"|heads\.\w+\.(hidden|output))",
}
FIT_WINDOW = 100  # updates whose action loss gives a run's fit
KEYS = {
    "lr": float,
    "rank": int,
    "alpha": float,
    "targets": str,
    "batch": int,
    "balance": float,
    "steps": int,
    "schedule": str,
}


def parse_point(text: str, base: dict | None = None) -> dict:
    """``"lr=1e-3,rank=8"`` -> a point; keys not given come from ``base``."""
    point = dict(base or {})
    for part in filter(None, text.split(",")):
        key, _, value = part.partition("=")
        if key not in KEYS:
            raise SystemExit(f"unknown sweep key {key!r} in {text!r}; keys: {', '.join(KEYS)}")
        point[key] = KEYS[key](value)
    if point.get("schedule", "constant") not in LR_SCHEDULES:
        raise SystemExit(f"schedule must be one of {', '.join(LR_SCHEDULES)}, got {text!r}")
    return point


def label(point: dict | None, full_schedule: str = "constant") -> str:
    if point is None:
        return "full FT" + ("" if full_schedule == "constant" else f",schedule={full_schedule}")
    return ",".join(f"{k}={v}" for k, v in point.items())


@dataclasses.dataclass
class Base:
    """One pre-trained quickstart run: its model, held-out data and evaluation settings."""

    path: Path
    settings: QuickstartSettings
    test_ids: list[str]
    target: float

    @classmethod
    def load(cls, source: Path) -> "Base":
        model = source / "dtmem_pretrained.d3"
        results = source / "results.json"
        if not model.exists() or not results.exists():
            raise SystemExit(
                f"{source}: no quickstart output; run `dtmem quickstart --out {source}`"
            )
        rows = json.loads(results.read_text())["rows"]
        tasks = tuple(dict.fromkeys(r["task"] for r in rows if r["split"] == "train"))
        test_tasks = tuple(dict.fromkeys(r["task"] for r in rows if r["split"] == "test"))
        settings = QuickstartSettings(
            out=source, tasks=tasks, test_tasks=test_tasks, show_progress=False
        )
        with use_minari_root(source / "minari"):
            test_ids = scripted_datasets(test_tasks, settings.finetune_episodes, settings)
            buffer = load_minari(test_ids, seed=settings.seed)
        target = target_returns(buffer, test_tasks)[test_tasks[0]]  # as the quickstart
        return cls(model, settings, test_ids, target)

    def buffer(self, seed: int):
        """The held-out data, its batch order drawn from ``seed`` alone."""
        with use_minari_root(self.settings.out / "minari"):
            return load_minari(self.test_ids, seed=seed)

    def success(self, algo) -> np.ndarray:
        """Successes (0/1) of ``algo`` over the evaluation episodes of the held-out task."""
        task = self.settings.test_tasks[0]
        return success_rate(algo, task, self.target, self.settings).successes.astype(float).ravel()


def finetune(
    base: Base,
    point: dict | None,
    checkpoints: list[int],
    seed: int,
    full_schedule: str = "constant",
) -> dict:
    """Fine-tunes ``base`` (LoRA at ``point``; full fine-tuning for ``None``, its rate
    ``full_schedule``) with training seed ``seed``; the held-out successes after each of
    ``checkpoints`` updates, and (under ``"fit"``, by updates) the mean action loss of the
    last ``FIT_WINDOW`` updates before each: how well the adapter fits the held-out data. A
    cosine schedule decays to 0 at the last checkpoint."""
    defaults = base.settings
    d3rlpy.seed(seed)
    buffer = base.buffer(seed)
    algo = d3rlpy.load_learnable(str(base.path), device=defaults.device)
    schedule = full_schedule if point is None else point.get("schedule", "constant")
    decay_steps = decay_steps_for(schedule, max(checkpoints))
    if point is None:
        algo.configure_finetuning("full", decay_steps=decay_steps)
    else:
        algo.configure_finetuning(
            "lora",
            rank=point["rank"],
            alpha=point["alpha"],
            learning_rate=point["lr"],
            batch_size=point["batch"],
            memory_balance_weight=point["balance"],
            targets=TARGETS[point["targets"]],
            decay_steps=decay_steps,
        )
    config = algo.config
    results: dict = {"fit": {}}
    losses: list[float] = []
    for steps in checkpoints:
        while len(losses) < steps:
            batch = buffer.sample_trajectory_batch(config.batch_size, config.context_size)
            losses.append(algo.update(batch)["action_loss"])
        results[steps] = base.success(algo)
        results["fit"][steps] = float(np.mean(losses[-FIT_WINDOW:]))
    results["trainable"] = algo.parameter_counts()["trainable"]
    return results


def summarize(per_base: list[np.ndarray]) -> dict:
    """Mean success with a 95% bootstrap interval stratified over bases, and each base's."""
    interval = stratified_bootstrap_ci(np.stack(per_base, axis=1), "mean")  # (runs, bases)
    return {**dataclasses.asdict(interval), "per_base": [float(s.mean()) for s in per_base]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="sources", nargs="+", required=True, type=Path)
    parser.add_argument(
        "--base",
        default="lr=1e-3,rank=8,alpha=64,targets=memory,batch=64,balance=0,steps=3000,"
        "schedule=constant",
        help="the point the others vary (default: the quickstart's LoRA)",
    )
    parser.add_argument(
        "--vary",
        nargs="*",
        default=["balance=0.1", "lr=3e-3", "lr=3e-4", "rank=16"],
        help="points that change the base point (key=value,...)",
    )
    parser.add_argument(
        "--step-points",
        type=int,
        nargs="*",
        default=[1500],
        help="earlier updates at which the base point is also evaluated",
    )
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0], help="fine-tuning seeds run on every base"
    )
    parser.add_argument(
        "--full-schedules",
        nargs="*",
        choices=LR_SCHEDULES,
        default=["constant"],
        help="learning-rate schedules of the full fine-tuning runs (none: leave them out)",
    )
    parser.add_argument("--out", type=Path, default=Path("runs/lora_sweep.json"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    base_point = parse_point(args.base)
    missing = set(KEYS) - set(base_point)
    if missing:
        raise SystemExit(f"--base lacks {', '.join(sorted(missing))}")
    points = [base_point, *(parse_point(text, base_point) for text in args.vary)]
    bases = [Base.load(source) for source in args.sources]
    rows, started = [], time.perf_counter()
    arms = [(None, schedule) for schedule in args.full_schedules]
    for point, full_schedule in [*arms, *((point, "constant") for point in points)]:
        if point is None:
            checkpoints = [bases[0].settings.full_finetune_steps]
        elif point is base_point:
            checkpoints = sorted({point["steps"], *args.step_points})
        else:
            checkpoints = [point["steps"]]
        runs = [
            [finetune(base, point, checkpoints, seed, full_schedule) for seed in args.seeds]
            for base in bases
        ]
        for steps in checkpoints:
            summary = summarize([np.concatenate([r[steps] for r in base]) for base in runs])
            summary["per_run"] = [[float(r[steps].mean()) for r in base] for base in runs]
            summary["fit_loss"] = [[r["fit"][steps] for r in base] for base in runs]
            row = {"setting": label(point, full_schedule), "steps": steps, **summary}
            row["trainable"] = runs[0][0]["trainable"]
            rows.append(row)
            per_base = " ".join(
                "/".join(f"{value:.2f}" for value in base) for base in summary["per_run"]
            )
            print(
                f"{row['setting']:<62} steps {steps:>5}  success {summary['point']:.2f} "
                f"[{summary['low']:.2f}, {summary['high']:.2f}]  per base (seeds) {per_base}  "
                f"fit loss {np.mean(summary['fit_loss']):.4f}  "
                f"trainable {row['trainable']:,}  ({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
