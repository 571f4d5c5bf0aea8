"""The Meta-World ML45 recipe: pre-train on the 45 training tasks, adapt to each test task.

1. Scripted-expert data for every task (``dtmem-convert metaworld``'s library function).
2. Multi-task pre-training of DT-Mem on the training tasks (every task in every batch).
3. Zero-shot success rate on each held-out test task.
4. A LoRA adapter on the memory per test task, trained on that task's data; success again.

Defaults are tiny (a CPU run of minutes). ``--paper`` uses the paper-sized model (d = 512,
4 layers, 8 heads, K = 28, 1290 slots, batch 64) with 1000 episodes per task and 250k
pre-training steps; that run has not been timed on a GPU here (see docs/reproducing.md for
the compute estimate).

    python examples/metaworld_ml45.py --train-tasks reach-v3 push-v3 --test-tasks door-unlock-v3
    python examples/metaworld_ml45.py --paper --device cuda:0 --out runs/ml45
"""

import d3rlpy_dtmem  # noqa: F401  # isort: skip  (first: registers DT-Mem, quiets old gym)
import argparse
from pathlib import Path

import d3rlpy

from d3rlpy_dtmem.app.presets import preset_config
from d3rlpy_dtmem.convert.metaworld_datasets import (
    DEFAULT_DATASET_ID,
    convert_metaworld,
    metaworld_dataset_ids,
)
from d3rlpy_dtmem.data import load_minari
from d3rlpy_dtmem.envs import ML45_TEST_TASKS, ML45_TRAIN_TASKS, metaworld_success_rate

TINY = dict(episodes=5, steps=300, finetune_steps=200, eval_episodes=3)
PAPER = dict(episodes=1000, steps=250_000, finetune_steps=20_000, eval_episodes=50)


def convert(tasks: list[str], episodes: int, args: argparse.Namespace) -> list[str]:
    """Dataset ids of ``tasks``; only missing datasets are generated (re-runs reuse them)."""
    convert_metaworld(
        tasks,
        episodes=episodes,
        seed=args.seed,
        max_episode_steps=args.max_episode_steps,
        skip_existing=True,
    )
    ids = metaworld_dataset_ids(DEFAULT_DATASET_ID, tasks)
    return [ids[task] for task in tasks]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-tasks", nargs="+", default=list(ML45_TRAIN_TASKS))
    parser.add_argument("--test-tasks", nargs="+", default=list(ML45_TEST_TASKS))
    parser.add_argument("--paper", action="store_true", help="paper-sized model and budgets")
    parser.add_argument("--episodes", type=int, help="episodes per task")
    parser.add_argument("--steps", type=int, help="pre-training steps")
    parser.add_argument("--finetune-steps", type=int, help="LoRA steps per test task")
    parser.add_argument("--eval-episodes", type=int, help="evaluation episodes per task")
    parser.add_argument("--max-episode-steps", type=int, default=500)
    parser.add_argument("--device", default="cpu:0")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/metaworld-ml45")
    args = parser.parse_args()
    budget = {**(PAPER if args.paper else TINY)}
    budget.update({k: v for k, v in vars(args).items() if k in budget and v is not None})

    train_ids = convert(args.train_tasks, budget["episodes"], args)
    test_ids = convert(args.test_tasks, budget["episodes"], args)

    d3rlpy.seed(args.seed)
    algo = preset_config("paper" if args.paper else "tiny", pixel=False).create(device=args.device)
    logs = d3rlpy.logging.FileAdapterFactory(root_dir=str(Path(args.out) / "logs"))
    algo.fit(
        load_minari(train_ids, seed=args.seed),
        n_steps=budget["steps"],
        n_steps_per_epoch=min(budget["steps"], 1000),
        experiment_name="pretrain",
        with_timestamp=False,
        logger_adapter=logs,
    )
    base_path = Path(args.out) / "pretrained.d3"
    algo.save(str(base_path))

    def success(model, task: str) -> float:
        wrapper = model.as_stateful_wrapper(target_return=args.max_episode_steps * 10.0)
        return metaworld_success_rate(
            wrapper,
            task,
            budget["eval_episodes"],
            seed=args.seed + 1,
            max_episode_steps=args.max_episode_steps,
        )

    print(f"{'test task':<20}{'zero-shot':>10}{'LoRA':>10}")
    for task, dataset_id in zip(args.test_tasks, test_ids, strict=True):
        base = d3rlpy.load_learnable(str(base_path), device=args.device)
        zero_shot = success(base, task)
        base.enable_lora(rank=4, alpha=8, name=task)
        base.fit(
            load_minari(dataset_id, seed=args.seed),
            n_steps=budget["finetune_steps"],
            n_steps_per_epoch=budget["finetune_steps"],
            experiment_name=f"lora-{task}",
            with_timestamp=False,
            logger_adapter=logs,
            show_progress=False,
        )
        base.save_adapter(Path(args.out) / "adapters" / f"{task}.pt")
        print(f"{task:<20}{zero_shot:>10.2f}{success(base, task):>10.2f}")


if __name__ == "__main__":
    main()
