"""Does the episode-scope memory remember? The T-maze, whose cue is shown once.

The cue (up or down) is in the first observation only; the turn that it names comes
``corridor + 1`` steps later (:mod:`d3rlpy_dtmem.envs.tmaze`). Every model trains on the
same scripted expert episodes with the same width, depth, slots and updates, and is scored
by its success over fresh episodes, acting greedily with target return 1:

* ``episode``: DT-Mem, ``memory_scope="episode"``, context K < corridor + 1;
* ``window``: DT-Mem, ``memory_scope="window"`` (the paper), the same K;
* ``no memory``: ``use_memory=False``, the same K;
* ``full context``: DT-Mem, window scope, K = corridor + 1 (the whole episode in view: the
  task is learnable);
* ``episode, balance 0.1``: the episode scope with the slot-usage balance loss of the
  window-scope default (every other variant trains with weight 0).

Success is reported per seed and as the mean over seeds with a 95% bootstrap interval over
seeds. Each (variant, seed) run is saved to ``<out>/runs/`` as it ends and skipped when the
script runs again. Writes ``<out>/memory_tasks.json`` and, with ``--plot``, a bar chart.

    python benchmarks/memory_tasks.py [--corridor 8] [--context 4] [--seeds 0 1 2]
"""

import d3rlpy_dtmem  # noqa: F401  # isort: skip  (first: registers DT-Mem, quiets old gym)
import argparse
import json
import time
from pathlib import Path

import d3rlpy
import numpy as np
from d3rlpy.algos.transformer.action_samplers import GreedyTransformerActionSampler

from d3rlpy_dtmem import DTMemConfig
from d3rlpy_dtmem.envs import tmaze_dataset
from d3rlpy_dtmem.envs.tmaze import tmaze_config, tmaze_outcomes
from d3rlpy_dtmem.evaluation import stratified_bootstrap_ci

VARIANTS = ("episode", "window", "no memory", "full context", "episode, balance 0.1")


def variant_config(variant: str, corridor: int, context: int, batch: int = 128) -> DTMemConfig:
    """The model of one variant (:func:`~d3rlpy_dtmem.envs.tmaze.tmaze_config`); everything
    not named by the variant is shared, the balance loss off unless named."""
    scope = "episode" if variant.startswith("episode") else "window"
    params: dict = dict(batch_size=batch, memory_balance_weight=0.0)
    if variant == "episode, balance 0.1":
        params.update(memory_balance_weight=0.1)
    if variant == "no memory":
        params.update(use_memory=False)
    if variant == "full context":
        context = corridor + 1
    return tmaze_config(scope, corridor, context, **params)


def run(variant: str, seed: int, args: argparse.Namespace) -> dict:
    d3rlpy.seed(seed)
    data = tmaze_dataset(args.train_episodes, args.corridor, seed)
    algo = variant_config(variant, args.corridor, args.context, args.batch).create()
    start = time.perf_counter()
    algo.fit(
        data,
        n_steps=args.steps,
        n_steps_per_epoch=args.steps,
        show_progress=False,
        save_interval=args.steps + 1,
        logger_adapter=d3rlpy.logging.NoopAdapterFactory(),
    )
    seconds = time.perf_counter() - start
    wrapper = algo.as_stateful_wrapper(1.0, GreedyTransformerActionSampler())  # greedy
    results = tmaze_outcomes(wrapper, args.corridor, args.eval_episodes, 1_000_000 + 1000 * seed)
    return {"variant": variant, "seed": seed, "outcomes": results, "fit_seconds": seconds}


def summarise(runs: list[dict]) -> dict:
    """Per variant: success per seed, and the mean over seeds with a bootstrap interval over
    seeds (a seed either learns the task or does not: episodes of one seed are not
    independent evidence)."""
    summary = {}
    for variant in VARIANTS:
        mine = [r for r in runs if r["variant"] == variant]
        if not mine:
            continue
        per_seed = np.array([np.mean(r["outcomes"]) for r in mine]).reshape(-1, 1)
        interval = stratified_bootstrap_ci(per_seed, "mean")
        summary[variant] = {
            "success": interval.point,
            "ci": [interval.low, interval.high],
            "per_seed": {r["seed"]: float(np.mean(r["outcomes"])) for r in mine},
            "fit_seconds": float(np.mean([r["fit_seconds"] for r in mine])),
        }
    return summary


def plot(summary: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summary)
    points = np.array([summary[n]["success"] for n in names])
    lows = points - np.array([summary[n]["ci"][0] for n in names])
    highs = np.array([summary[n]["ci"][1] for n in names]) - points
    figure, axes = plt.subplots(figsize=(7, 3.2))
    axes.bar(names, points, yerr=[lows, highs], capsize=4, color="tab:blue")
    axes.axhline(0.5, color="grey", linestyle="--", linewidth=1, label="chance (0.5)")
    axes.set_ylim(0, 1.05)
    axes.set_ylabel("success")
    axes.set_title(title, fontsize=10, wrap=True)
    axes.legend(loc="upper right", fontsize=8)
    axes.tick_params(axis="x", labelsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corridor", type=int, default=8, help="corridor length")
    parser.add_argument("--context", type=int, default=4, help="K of the short-context models")
    parser.add_argument("--steps", type=int, default=2000, help="updates per model")
    parser.add_argument("--batch", type=int, default=128, help="episodes (runs) per update")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--train-episodes", type=int, default=200)
    parser.add_argument("--eval-episodes", type=int, default=100)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--out", type=Path, default=Path("runs/memory_tasks"))
    parser.add_argument("--plot", type=Path, help="write a bar chart here")
    args = parser.parse_args()
    (args.out / "runs").mkdir(parents=True, exist_ok=True)
    runs = []
    for variant in args.variants:
        for seed in args.seeds:
            path = args.out / "runs" / f"{variant.replace(' ', '_').replace(',', '')}_{seed}.json"
            if not path.exists():
                path.write_text(json.dumps(run(variant, seed, args)))
            result = json.loads(path.read_text())
            runs.append(result)
            print(
                f"{variant:>22} seed {seed}: success {np.mean(result['outcomes']):.2f} "
                f"({result['fit_seconds']:.0f} s)",
                flush=True,
            )
    summary = summarise(runs)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    (args.out / "memory_tasks.json").write_text(
        json.dumps({"settings": settings, "summary": summary}, indent=2)
    )
    print(
        f"\nT-maze, corridor {args.corridor} (cue {args.corridor + 1} steps before the turn), "
        f"K = {args.context}, {len(args.seeds)} seeds x {args.eval_episodes} episodes"
    )
    print(f"{'variant':>22}  success  95% CI        per seed")
    for variant, row in summary.items():
        seeds = " ".join(f"{v:.2f}" for v in row["per_seed"].values())
        print(
            f"{variant:>22}  {row['success']:.2f}     [{row['ci'][0]:.2f}, {row['ci'][1]:.2f}]"
            f"  {seeds}"
        )
    if args.plot:
        plot(
            summary,
            args.plot,
            f"T-maze: cue {args.corridor + 1} steps before the turn, K = "
            f"{args.context} (full context: K = {args.corridor + 1})",
        )


if __name__ == "__main__":
    main()
