"""Evaluation speed: 16 episodes stepped together vs 16 calls of d3rlpy's stock evaluator.

Both runs use the same model, the same environments (episode e starts from the same seed in
both) and a greedy policy with a fixed target return, so they play the same episodes; the
batched run calls the model once per step for all running episodes, the stock run once per
step per episode. Target: batched >= 3x faster. The ratio is measured in one run, both paths
interleaved (machines are noisy).

    python benchmarks/evaluation.py [--env gym:CartPole-v1] [--max-episode-steps 100]
        [--episodes 16] [--preset tiny] [--repeats 3] [--threads 1] [--device cpu:0]

The model is untrained (built for the env's spaces): evaluation speed does not depend on the
weights, and every Meta-World episode then runs the full step cap.
"""

import d3rlpy_dtmem  # noqa: F401  # isort: skip  (first: registers DT-Mem, quiets old gym)
import argparse
import statistics

import numpy as np
import torch
from d3rlpy.algos import GreedyTransformerActionSampler

from d3rlpy_dtmem.app.presets import preset_config
from d3rlpy_dtmem.evaluation import evaluate
from d3rlpy_dtmem.evaluation.envspec import parse_env_spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="gym:CartPole-v1")
    parser.add_argument("--max-episode-steps", type=int, default=100)
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--preset", default="tiny", choices=["tiny", "paper"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--device", default="cpu:0")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    spec = parse_env_spec(args.env, args.max_episode_steps)
    env = spec.make(0)
    pixel = len(env.observation_space.shape) == 3
    algo = preset_config(args.preset, pixel=pixel).create(device=args.device)
    algo.build_with_env(env)
    target = spec.default_target_return() or 100.0
    # greedy discrete actions; continuous actions are deterministic already
    sampler = GreedyTransformerActionSampler() if algo.impl.discrete else None
    times: dict[bool, list[float]] = {True: [], False: []}
    returns = {}
    for _ in range(args.repeats):
        for batched in (True, False):
            result = evaluate(
                algo,
                spec.make,
                seeds=(0,),
                episodes=args.episodes,
                target_return=target,
                action_sampler=sampler,
                batched=batched,
                show_progress=False,
            )
            times[batched].append(result.seconds)
            returns[batched] = result.returns
    steps = int(result.lengths.sum())
    same = np.array_equal(returns[True], returns[False])
    batched_s, stock_s = (statistics.median(times[b]) for b in (True, False))
    print(
        f"{args.env}, {args.episodes} episodes ({steps} steps), preset {args.preset}, "
        f"{torch.get_num_threads()} threads, {args.device}"
    )
    print(f"{'stock evaluator, one call per episode':<40}{stock_s:>8.2f} s")
    print(f"{'batched, one model call per step':<40}{batched_s:>8.2f} s")
    print(f"speed-up {stock_s / batched_s:.1f}x (target >= 3x); same returns: {same}")


if __name__ == "__main__":
    main()
