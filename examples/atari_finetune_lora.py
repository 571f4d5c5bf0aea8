"""Adapt a pre-trained DT-Mem to a held-out Atari game with a LoRA adapter on its memory.

Converts the game's DQN-Replay files, trains a rank-4 LoRA adapter on the memory module only
(everything else frozen), saves the adapter as a small file, and evaluates before and after
with expert-return inference (no per-game target return needed).

    python examples/atari_pretrain.py --replay-dir dqn-replay --games Pong --out runs/atari
    python examples/atari_finetune_lora.py --model runs/atari/pretrained.d3 \\
        --replay-dir dqn-replay --game Alien --steps 2000 --out runs/alien
"""

import d3rlpy_dtmem  # noqa: F401  # isort: skip  (first: registers DT-Mem, quiets old gym)
import argparse
from pathlib import Path

import d3rlpy

from d3rlpy_dtmem.convert.atari_datasets import convert_atari
from d3rlpy_dtmem.data import load_minari
from d3rlpy_dtmem.envs import make_atari
from d3rlpy_dtmem.evaluation import evaluate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="pre-trained DT-Mem (.d3)")
    parser.add_argument("--replay-dir", required=True, help="DQN-Replay root (<dir>/<Game>/<run>)")
    parser.add_argument("--game", default="Alien", help="held-out game")
    parser.add_argument("--run", type=int, default=1)
    parser.add_argument("--max-transitions", type=int, default=20_000)
    parser.add_argument("--steps", type=int, default=300, help="LoRA gradient steps")
    parser.add_argument("--rank", type=int, default=4)
    parser.add_argument("--alpha", type=float, default=8.0)
    parser.add_argument("--episodes", type=int, default=2, help="evaluation episodes")
    parser.add_argument("--max-episode-steps", type=int, default=2000)
    parser.add_argument("--device", default="cpu:0")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/atari-lora")
    args = parser.parse_args()

    convert_atari(
        args.replay_dir,
        [args.game],
        runs=[args.run],
        max_transitions=args.max_transitions,
        skip_existing=True,
    )
    d3rlpy.seed(args.seed)
    algo = d3rlpy.load_learnable(args.model, device=args.device)

    def score() -> float:
        result = evaluate(
            algo,
            lambda: make_atari(args.game, max_episode_steps=args.max_episode_steps),
            seeds=[args.seed],
            episodes=args.episodes,
            target_return="expert",  # sample high returns from the model's own prediction
            show_progress=False,
        )
        return result.mean_return

    before = score()
    algo.enable_lora(rank=args.rank, alpha=args.alpha, name=args.game)
    counts = algo.parameter_counts()
    algo.fit(
        load_minari(f"dqn-replay/{args.game}-run{args.run}-v0", seed=args.seed),
        n_steps=args.steps,
        n_steps_per_epoch=args.steps,
        experiment_name=f"lora-{args.game}",
        with_timestamp=False,
        logger_adapter=d3rlpy.logging.FileAdapterFactory(root_dir=str(Path(args.out) / "logs")),
    )
    adapter = Path(args.out) / f"{args.game}.pt"
    algo.save_adapter(adapter)
    print(f"LoRA trained {counts['trainable']:,} of {counts['total']:,} parameters -> {adapter}")
    print(f"{args.game}: mean return {before:.1f} before, {score():.1f} after (expert returns)")


if __name__ == "__main__":
    main()
