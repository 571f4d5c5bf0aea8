"""Does the working memory help? A local mini-ML benchmark on scripted Meta-World.

Six ML45 training tasks and two held-out ML45 test tasks, scripted data (the quickstart's
converter and model size), several seeds, the same width and depth for every model:
DT-Mem with each addressing form and the same network without memory. Reports

  (a) the pre-training action loss on held-out episodes of the training tasks, over steps;
  (b) success on the training tasks after pre-training;
  (c) zero-shot success on the held-out tasks;
  (d) held-out success after fine-tuning on the held-out tasks' data (one adapter or model
      for both): for the default DT-Mem, LoRA on the memory only, the full memory (FFT) and
      everything (paper Table 7); LoRA for the content form (to keep the run under an hour
      on 2 cores); full fine-tuning for the model without memory,

with 95% bootstrap intervals (stratified over tasks; runs = seeds x episodes) and the
trainable-parameter counts. Each (model, seed) run is saved to ``<out>/runs/`` as it ends
and skipped when the script runs again, so runs can be split over processes
(``--models``) and an interrupted benchmark resumes. Writes ``evidence.json`` and plots
into ``--out``; the tables and plots go into docs/results.md.

    python benchmarks/memory_evidence.py [--out runs/evidence] [--seeds 0 1 2]
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
from d3rlpy.torch_utility import TorchTrajectoryMiniBatch

from d3rlpy_dtmem.app.quickstart import (
    QuickstartSettings,
    quickstart_model,
    scripted_datasets,
    success_rate,
    target_return,
)
from d3rlpy_dtmem.convert import use_minari_root
from d3rlpy_dtmem.data import load_minari
from d3rlpy_dtmem.evaluation.aggregate import stratified_bootstrap_ci

TRAIN_TASKS = (
    "reach-v3",
    "push-v3",
    "door-open-v3",
    "drawer-open-v3",
    "button-press-v3",
    "window-open-v3",
)
TEST_TASKS = ("door-unlock-v3", "door-lock-v3")
MODELS = {  # name -> (use_memory, config overrides, fine-tuning modes)
    "DT-Mem slot_keys": (True, {"memory_addressing": "slot_keys"}, ("lora", "full-memory", "full")),
    "DT-Mem content": (True, {"memory_addressing": "content"}, ("lora",)),
    "no memory": (False, {}, ("full",)),
}
STAGES = {"lora": "LoRA (memory)", "full-memory": "FFT (memory)", "full": "full FT"}


def held_out_loss(algo, batch: TorchTrajectoryMiniBatch) -> float:
    """Action loss on a fixed batch of held-out windows, in eval mode."""
    algo.impl.modules.set_eval()
    with torch.no_grad():
        loss = float(algo.impl.compute_loss(batch)["action_loss"])
    algo.impl.modules.set_train()
    return loss


def pretrain(algo, buffer, held_out, steps: int, every: int) -> list[float]:
    """``steps`` updates; the held-out action loss every ``every`` updates."""
    curve = []
    for step in range(1, steps + 1):
        algo.update(
            buffer.sample_trajectory_batch(algo.config.batch_size, algo.config.context_size)
        )
        if step % every == 0:
            curve.append(held_out_loss(algo, held_out))
    return curve


def successes(algo, tasks, target: float, settings: QuickstartSettings) -> dict[str, list[float]]:
    """Per task, the success (0/1) of every evaluation episode (seeds x episodes)."""
    return {
        task: success_rate(algo, task, target, settings).successes.astype(float).ravel().tolist()
        for task in tasks
    }


def interval(per_seed: list[dict[str, list[float]]]) -> dict[str, float]:
    """Mean success over tasks with a 95% stratified bootstrap interval.

    Runs: every (training seed, evaluation episode) pair of a task.
    """
    tasks = sorted(per_seed[0])
    matrix = np.stack(
        [np.concatenate([run[task] for run in per_seed]) for task in tasks], axis=1
    )  # (runs, tasks)
    return dataclasses.asdict(stratified_bootstrap_ci(matrix, "mean"))


def run_seed(name: str, seed: int, args, data: dict, settings: QuickstartSettings) -> dict:
    use_memory, overrides, modes = MODELS[name]
    d3rlpy.seed(seed)
    algo = quickstart_model(use_memory, settings, **overrides)
    algo.build_with_dataset(data["train"])
    start = time.perf_counter()
    curve = pretrain(algo, data["train"], data["held_out"], args.steps, args.every)
    result = {
        "curve": curve,
        "pretrain_seconds": time.perf_counter() - start,
        "parameters": algo.parameter_counts(),
        "train": successes(algo, TRAIN_TASKS, data["target"], settings),
        "zero-shot": successes(algo, TEST_TASKS, data["target"], settings),
    }
    base = Path(args.out) / "models" / f"{name.replace(' ', '-')}-seed{seed}.d3"
    base.parent.mkdir(parents=True, exist_ok=True)
    algo.save(str(base))
    for mode in modes:
        d3rlpy.seed(seed)
        tuned = d3rlpy.load_learnable(str(base), device=settings.device)
        lora = {"rank": args.lora_rank, "alpha": args.lora_alpha, "learning_rate": args.lora_lr}
        tuned.configure_finetuning(mode, **(lora if mode == "lora" else {}))
        pretrain(
            tuned, data["finetune"], data["held_out"], args.finetune_steps, args.finetune_steps
        )
        result[STAGES[mode]] = successes(tuned, TEST_TASKS, data["target"], settings)
        result[f"{STAGES[mode]} parameters"] = tuned.parameter_counts()
    return result


def load_data(settings: QuickstartSettings, args) -> dict:
    train_ids = scripted_datasets(TRAIN_TASKS, args.episodes, settings)
    held_out_ids = scripted_datasets(TRAIN_TASKS, 3, settings, seed=settings.seed + 100)
    test_ids = scripted_datasets(TEST_TASKS, args.finetune_episodes, settings)
    train = load_minari(train_ids, seed=settings.seed)
    held_out = load_minari(held_out_ids, seed=settings.seed)
    context = 10  # the quickstart model's context
    batch = held_out.sample_trajectory_batch(256, context)
    return {
        "train": train,
        "held_out": TorchTrajectoryMiniBatch.from_batch(batch, device=settings.device),
        "finetune": load_minari(test_ids, seed=settings.seed),
        "target": target_return(train),
    }


def summarize(results: dict) -> dict:
    summary = {}
    for name, runs in results.items():
        row = {"parameters": runs[0]["parameters"]}
        curves = np.array([run["curve"] for run in runs])
        row["curve_mean"] = curves.mean(0).tolist()
        row["curve_std"] = curves.std(0).tolist()
        for stage in ("train", "zero-shot", *STAGES.values()):
            if stage in runs[0]:
                row[stage] = interval([run[stage] for run in runs])
                if f"{stage} parameters" in runs[0]:
                    row[f"{stage} parameters"] = runs[0][f"{stage} parameters"]
        row["pretrain_seconds"] = float(np.mean([run["pretrain_seconds"] for run in runs]))
        summary[name] = row
    return summary


def print_tables(summary: dict, args) -> None:
    steps = [args.every * (i + 1) for i in range(len(next(iter(summary.values()))["curve_mean"]))]
    print(f"\n(a) held-out action loss of the training tasks (mean over {len(args.seeds)} seeds)")
    print(f"{'model':<18}" + "".join(f"{s:>8}" for s in steps))
    for name, row in summary.items():
        print(f"{name:<18}" + "".join(f"{x:>8.4f}" for x in row["curve_mean"]))
    print("\n(b-d) success rate, mean over tasks [95% CI]; trainable / total parameters")
    for name, row in summary.items():
        total = row["parameters"]["total"]
        for stage in ("train", "zero-shot", *STAGES.values()):
            if stage not in row:
                continue
            ci = row[stage]
            counts = row.get(f"{stage} parameters", row["parameters"])
            print(
                f"{name:<18}{stage:<15}{ci['point']:>6.2f} [{ci['low']:.2f}, {ci['high']:.2f}]"
                f"  {counts['trainable']:>8,} / {total:,}"
            )
    print(
        "\npre-training seconds per run: "
        + ", ".join(f"{name} {row['pretrain_seconds']:.0f}" for name, row in summary.items())
    )


def markdown(summary: dict, args) -> str:
    """The tables of :func:`print_tables` in Markdown (for docs/results.md)."""
    first = next(iter(summary.values()))
    steps = [args.every * (i + 1) for i in range(len(first["curve_mean"]))]
    lines = [
        "| model | " + " | ".join(str(s) for s in steps) + " |",
        "|---|" + "---:|" * len(steps),
    ]
    for name, row in summary.items():
        cells = " | ".join(
            f"{m:.4f} ± {s:.4f}" for m, s in zip(row["curve_mean"], row["curve_std"], strict=True)
        )
        lines.append(f"| {name} | {cells} |")
    lines += [
        "",
        "| model | stage | success | 95% CI | trainable | total |",
        "|---|---|---:|---|---:|---:|",
    ]
    for name, row in summary.items():
        for stage in ("train", "zero-shot", *STAGES.values()):
            if stage in row:
                ci = row[stage]
                counts = row.get(f"{stage} parameters", row["parameters"])
                lines.append(
                    f"| {name} | {stage} | {ci['point']:.2f} | [{ci['low']:.2f}, "
                    f"{ci['high']:.2f}] | {counts['trainable']:,} | {counts['total']:,} |"
                )
    return "\n".join(lines) + "\n"


def plot(summary: dict, args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(args.out)
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, row in summary.items():
        steps = [args.every * (i + 1) for i in range(len(row["curve_mean"]))]
        mean, std = np.array(row["curve_mean"]), np.array(row["curve_std"])
        ax.plot(steps, mean, label=name)
        ax.fill_between(steps, mean - std, mean + std, alpha=0.2)
    ax.set(xlabel="pre-training updates", ylabel="held-out action loss (MSE)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "evidence_loss.png", dpi=120)
    plt.close(fig)

    stages = ["train", "zero-shot", *STAGES.values()]
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(summary)
    for offset, (name, row) in enumerate(summary.items()):
        xs, ys, errors = [], [], []
        for index, stage in enumerate(stages):
            if stage in row:
                ci = row[stage]
                xs.append(index + offset * width)
                ys.append(ci["point"])
                errors.append([ci["point"] - ci["low"], ci["high"] - ci["point"]])
        ax.bar(xs, ys, width, yerr=np.array(errors).T, label=name, capsize=3)
    ax.set_xticks([i + width * (len(summary) - 1) / 2 for i in range(len(stages))], stages)
    ax.set(ylabel="success rate", ylim=(0, 1.05))
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "evidence_success.png", dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/evidence")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--episodes", type=int, default=20, help="per training task")
    parser.add_argument("--finetune-episodes", type=int, default=10, help="per held-out task")
    parser.add_argument("--steps", type=int, default=2500, help="pre-training updates")
    parser.add_argument("--every", type=int, default=250, help="updates between loss points")
    parser.add_argument("--finetune-steps", type=int, default=1000)
    parser.add_argument("--lora-rank", type=int, default=8)
    parser.add_argument("--lora-alpha", type=float, default=64.0)
    parser.add_argument("--lora-lr", type=float, default=None)
    parser.add_argument("--eval-seeds", type=int, default=2)
    parser.add_argument("--eval-episodes", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=16, help="trajectories per update")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = QuickstartSettings(
        out=Path(args.out),
        seeds=tuple(range(args.eval_seeds)),
        eval_episodes=args.eval_episodes,
        batch_size=args.batch_size,
        show_progress=False,
    )
    Path(args.out).mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with use_minari_root(Path(args.out) / "minari"):
        data = load_data(settings, args)
        results = {}
        for name in args.models:
            results[name] = []
            for seed in args.seeds:
                saved = Path(args.out) / "runs" / f"{name.replace(' ', '-')}-seed{seed}.json"
                if not saved.exists():  # runs saved by an earlier or parallel invocation
                    result = run_seed(name, seed, args, data, settings)
                    saved.parent.mkdir(parents=True, exist_ok=True)
                    saved.write_text(json.dumps(result) + "\n")
                results[name].append(json.loads(saved.read_text()))
                elapsed = time.perf_counter() - started
                print(f"done: {name} seed {seed} ({elapsed:.0f} s)", flush=True)
    summary = summarize(results)
    payload = {"args": vars(args), "summary": summary, "runs": results}
    (Path(args.out) / "evidence.json").write_text(json.dumps(payload, indent=2) + "\n")
    print_tables(summary, args)
    (Path(args.out) / "evidence.md").write_text(markdown(summary, args))
    plot(summary, args)
    elapsed = time.perf_counter() - started
    print(f"\nwrote {Path(args.out) / 'evidence.json'} and plots; {elapsed:.0f} s")


if __name__ == "__main__":
    main()
