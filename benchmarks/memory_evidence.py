"""Does the working memory help? A local mini-ML benchmark on scripted Meta-World.

Six ML45 training tasks (the demo's five, whose goal follows from the scene, and
faucet-close) and two held-out ML45 test tasks, scripted data and the demo's protocol (its
converter, model size, batch, fine-tuning settings, and each task evaluated at its own target
return), several seeds, the same width and depth for every model: DT-Mem with each addressing
form and the same network without memory. Reports

  (a) the pre-training action loss on held-out episodes of the training tasks, over steps;
  (b) success on the training tasks after pre-training;
  (c) zero-shot success on the held-out tasks;
  (d) held-out success after fine-tuning on the held-out tasks' data (one adapter or model
      for both): for the default DT-Mem, LoRA on the memory only, the full memory (FFT) and
      everything (paper Table 7); LoRA for the content form (to keep the run under an hour
      on 2 cores); full fine-tuning for the model without memory,

with 95% bootstrap intervals (stratified over tasks; runs = seeds x episodes) and the
trainable-parameter counts, and the per-seed paired differences the demo's targets speak of
(DT-Mem minus no memory on the training tasks, LoRA over full fine-tuning). Each run's data
order follows its seed alone. Each (model, seed) run is saved to ``<out>/runs/`` as it ends
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

from d3rlpy_dtmem.app import quickstart
from d3rlpy_dtmem.app.jobs import LR_SCHEDULES, decay_steps_for
from d3rlpy_dtmem.app.quickstart import (
    QuickstartSettings,
    quickstart_model,
    scripted_datasets,
    success_rate,
    target_returns,
)
from d3rlpy_dtmem.convert import use_minari_root
from d3rlpy_dtmem.data import load_minari
from d3rlpy_dtmem.evaluation.aggregate import stratified_bootstrap_ci

# The demo's training tasks and a sixth whose goal is fixed relative to the scene (faucet-close:
# goal offset from the object constant over resets; window-open's varies by 0.08 m).
TRAIN_TASKS = (*quickstart.TRAIN_TASKS, "faucet-close-v3")
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


def successes(
    algo, tasks, targets: dict[str, float], settings: QuickstartSettings
) -> dict[str, list[float]]:
    """Per task, the success (0/1) of every evaluation episode (seeds x episodes), each task
    at its own target return."""
    per_task = {task: success_rate(algo, task, targets[task], settings) for task in tasks}
    return {
        task: result.successes.astype(float).ravel().tolist() for task, result in per_task.items()
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
    """Pre-trains model ``name`` with ``seed``, evaluates it, fine-tunes it in each of its modes.

    The buffers are loaded with ``seed``, so a run's batch order depends on its seed alone
    (not on the runs before it in this process).
    """
    use_memory, overrides, modes = MODELS[name]
    d3rlpy.seed(seed)
    train_buffer = load_minari(data["train"], seed=seed)
    algo = quickstart_model(use_memory, settings, **overrides)
    algo.build_with_dataset(train_buffer)
    start = time.perf_counter()
    curve = pretrain(algo, train_buffer, data["held_out"], args.steps, args.every)
    result = {
        "curve": curve,
        "pretrain_seconds": time.perf_counter() - start,
        "parameters": algo.parameter_counts(),
        "train": successes(algo, TRAIN_TASKS, data["targets"], settings),
        "zero-shot": successes(algo, TEST_TASKS, data["targets"], settings),
    }
    base = Path(args.out) / "models" / f"{name.replace(' ', '-')}-seed{seed}.d3"
    base.parent.mkdir(parents=True, exist_ok=True)
    algo.save(str(base))
    for mode in modes:
        d3rlpy.seed(seed)
        finetune_buffer = load_minari(data["finetune"], seed=seed)
        tuned = d3rlpy.load_learnable(str(base), device=settings.device)
        lora = {"rank": args.lora_rank, "alpha": args.lora_alpha, "learning_rate": args.lora_lr}
        steps = args.full_steps if mode == "full" else args.memory_steps
        tuned.configure_finetuning(
            mode,
            memory_balance_weight=settings.finetune_balance_weight,
            decay_steps=decay_steps_for(settings.finetune_schedule, steps),
            **(lora if mode == "lora" else {}),
        )
        start = time.perf_counter()
        pretrain(tuned, finetune_buffer, data["held_out"], steps, steps)
        result[f"{STAGES[mode]} seconds"] = time.perf_counter() - start
        result[STAGES[mode]] = successes(tuned, TEST_TASKS, data["targets"], settings)
        result[f"{STAGES[mode]} parameters"] = tuned.parameter_counts()
    return result


def load_data(settings: QuickstartSettings, args) -> dict:
    """Dataset ids (converted if missing), a fixed batch of held-out windows of the training
    tasks, and every task's target return (its best episode return in its data)."""
    train_ids = scripted_datasets(TRAIN_TASKS, args.episodes, settings)
    held_out_ids = scripted_datasets(TRAIN_TASKS, 3, settings, seed=settings.seed + 100)
    test_ids = scripted_datasets(TEST_TASKS, args.finetune_episodes, settings)
    held_out = load_minari(held_out_ids, seed=settings.seed)
    context = 10  # the quickstart model's context
    batch = held_out.sample_trajectory_batch(256, context)
    targets = target_returns(load_minari(train_ids), TRAIN_TASKS)
    targets.update(target_returns(load_minari(test_ids), TEST_TASKS))
    return {
        "train": train_ids,
        "finetune": test_ids,
        "held_out": TorchTrajectoryMiniBatch.from_batch(batch, device=settings.device),
        "targets": targets,
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


def mean_success(run: dict, stage: str) -> float:
    """One run's success at ``stage``, averaged over episodes and then over tasks."""
    return float(np.mean([np.mean(episodes) for episodes in run[stage].values()]))


def paired(results: dict, seeds: list[int]) -> list[dict]:
    """Per seed, the comparisons of the demo's targets on the same seed's models: DT-Mem
    (slot keys, the default) minus no memory on the training tasks, and LoRA on the memory
    against full fine-tuning on the held-out tasks."""
    dtmem, plain = results.get("DT-Mem slot_keys"), results.get("no memory")
    rows = []
    for index, seed in enumerate(seeds):
        row: dict = {"seed": seed}
        if dtmem:
            row["DT-Mem train"] = mean_success(dtmem[index], "train")
            row["LoRA"] = mean_success(dtmem[index], STAGES["lora"])
            row["full FT"] = mean_success(dtmem[index], STAGES["full"])
        if plain:
            row["no memory train"] = mean_success(plain[index], "train")
        rows.append(row)
    return rows


def print_tables(summary: dict, args) -> None:
    steps = [args.every * (i + 1) for i in range(len(next(iter(summary.values()))["curve_mean"]))]
    print(f"\n(a) held-out action loss of the training tasks (mean over {len(args.seeds)} seeds)")
    print(f"{'model':<18}" + "".join(f"{s:>8}" for s in steps))
    for name, row in summary.items():
        print(f"{name:<18}" + "".join(f"{x:>8.4f}" for x in row["curve_mean"]))
    print("\n(b-d) success rate, mean over tasks [95% CI]; trainable / total parameters")
    for name, row in summary.items():
        for stage in ("train", "zero-shot", *STAGES.values()):
            if stage not in row:
                continue
            ci = row[stage]
            counts = row.get(f"{stage} parameters", row["parameters"])
            print(
                f"{name:<18}{stage:<15}{ci['point']:>6.2f} [{ci['low']:.2f}, {ci['high']:.2f}]"
                f"  {counts['trainable']:>8,} / {counts['total']:,}"
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


def paired_markdown(pairs: list[dict]) -> str:
    """The per-seed comparisons of :func:`paired` as a Markdown table."""
    columns = [key for key in pairs[0] if key != "seed"]
    lines = [
        "",
        "| seed | " + " | ".join(columns) + " |",
        "|---:|" + "---:|" * len(columns),
    ]
    lines += [
        f"| {row['seed']} | " + " | ".join(f"{row[key]:.2f}" for key in columns) + " |"
        for row in pairs
    ]
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
    defaults = QuickstartSettings()
    parser.add_argument("--steps", type=int, default=defaults.steps, help="pre-training updates")
    parser.add_argument("--every", type=int, default=300, help="updates between loss points")
    parser.add_argument(
        "--memory-steps",
        type=int,
        default=defaults.finetune_steps,
        help="fine-tuning updates of LoRA and FFT on the memory (the demo's LoRA)",
    )
    parser.add_argument(
        "--full-steps",
        type=int,
        default=defaults.full_finetune_steps,
        help="full fine-tuning updates (the demo's)",
    )
    parser.add_argument("--lora-rank", type=int, default=defaults.lora_rank)
    parser.add_argument("--lora-alpha", type=float, default=defaults.lora_alpha)
    parser.add_argument("--lora-lr", type=float, default=None)
    parser.add_argument("--eval-seeds", type=int, default=len(defaults.seeds))
    parser.add_argument("--eval-episodes", type=int, default=defaults.eval_episodes)
    parser.add_argument(
        "--batch-size", type=int, default=defaults.batch_size, help="trajectories per update"
    )
    parser.add_argument(
        "--balance-weight",
        type=float,
        default=defaults.balance_weight,
        help="DT-Mem's balance-loss weight in pre-training (the demo's)",
    )
    parser.add_argument(
        "--schedule",
        choices=LR_SCHEDULES,
        default=defaults.finetune_schedule,
        help="fine-tuning learning rate after the warmup (the demo's)",
    )
    parser.add_argument(
        "--pretrain-schedule",
        choices=LR_SCHEDULES,
        default=defaults.pretrain_schedule,
        help="pre-training learning rate after the warmup (the demo's)",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = QuickstartSettings(
        out=Path(args.out),
        seeds=tuple(range(args.eval_seeds)),
        eval_episodes=args.eval_episodes,
        batch_size=args.batch_size,
        balance_weight=args.balance_weight,
        steps=args.steps,
        pretrain_schedule=args.pretrain_schedule,
        finetune_schedule=args.schedule,
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
    pairs = paired(results, args.seeds)
    payload = {"args": vars(args), "summary": summary, "paired": pairs, "runs": results}
    (Path(args.out) / "evidence.json").write_text(json.dumps(payload, indent=2) + "\n")
    print_tables(summary, args)
    print("\nper seed (mean success over tasks): " + json.dumps(pairs, indent=1))
    (Path(args.out) / "evidence.md").write_text(markdown(summary, args) + paired_markdown(pairs))
    plot(summary, args)
    elapsed = time.perf_counter() - started
    print(f"\nwrote {Path(args.out) / 'evidence.json'} and plots; {elapsed:.0f} s")


if __name__ == "__main__":
    main()
