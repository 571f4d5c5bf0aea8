"""Multi-game pre-training on Atari: DQN-Replay -> Minari -> DT-Mem.

Converts the given games' DQN-Replay files (see datasets/atari/README.md for the download),
loads them as one multi-task buffer (every game in every batch) and pre-trains DT-Mem.
Defaults are tiny so that the script runs on a CPU in minutes; ``--paper`` uses the paper's
model (d = 512, 4 layers, 8 heads, K = 28, 1290 slots, batch 64) and is meant for a GPU.

    python examples/atari_pretrain.py --replay-dir dqn-replay --games Pong Breakout \\
        --checkpoints 49 --max-transitions 50000 --steps 2000 --out runs/atari
    python examples/atari_pretrain.py --replay-dir dqn-replay --games pretrain --paper \\
        --max-transitions 500000 --steps 250000 --device cuda:0 --out runs/atari-paper
"""

import d3rlpy_dtmem  # noqa: F401  # isort: skip  (first: registers DT-Mem, quiets old gym)
import argparse
from pathlib import Path

import d3rlpy

from d3rlpy_dtmem.app.presets import preset_config
from d3rlpy_dtmem.convert.atari_datasets import convert_atari, game_split
from d3rlpy_dtmem.data import load_minari


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replay-dir", required=True, help="DQN-Replay root (<dir>/<Game>/<run>)")
    parser.add_argument(
        "--games",
        nargs="+",
        default=["pretrain"],
        help="games, or a split name: pretrain, held-out, unseen",
    )
    parser.add_argument("--run", type=int, default=1)
    parser.add_argument("--checkpoints", type=int, nargs="*", help="default: all present")
    parser.add_argument("--max-transitions", type=int, default=20_000, help="per game")
    parser.add_argument("--steps", type=int, default=500, help="gradient steps")
    parser.add_argument("--paper", action="store_true", help="the paper's model size")
    parser.add_argument("--device", default="cpu:0")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/atari-pretrain")
    parser.add_argument(
        "--mmap-dir", help="memory-map the frames from stores here instead of holding them in RAM"
    )
    args = parser.parse_args()

    games = [g for name in args.games for g in (game_split(name) if name.islower() else [name])]
    summaries = convert_atari(
        args.replay_dir,
        games,
        runs=[args.run],
        checkpoints=args.checkpoints,
        max_transitions=args.max_transitions,
        skip_existing=True,
    )
    for summary in summaries:
        print(summary.line())
    dataset_ids = [f"dqn-replay/{game}-run{args.run}-v0" for game in games]

    d3rlpy.seed(args.seed)
    buffer = load_minari(dataset_ids, seed=args.seed, mmap_dir=args.mmap_dir)
    algo = preset_config("paper" if args.paper else "tiny", pixel=True).create(device=args.device)
    algo.fit(
        buffer,
        n_steps=args.steps,
        n_steps_per_epoch=min(args.steps, 1000),
        experiment_name="atari-pretrain",
        with_timestamp=False,
        logger_adapter=d3rlpy.logging.FileAdapterFactory(root_dir=str(Path(args.out) / "logs")),
    )
    model_path = Path(args.out) / "pretrained.d3"
    algo.save(str(model_path))
    print(f"pre-trained on {len(games)} games: {model_path}")


if __name__ == "__main__":
    main()
