"""Median update time: DT-Mem (both addressing forms) vs no memory vs d3rlpy's discrete DT.

All share width (vector encoder, 256 hidden), depth, heads, context and batch, and are
timed interleaved in one process on the same batches, so machine noise hits them alike.
Targets (CPU): ``slot_keys`` <= 1.3x and ``content`` <= 2.0x a d3rlpy DT update.

The episode scope (``memory_scope="episode"``) trains on runs of ``--segments`` windows
(plus ``--burn-in`` windows without gradient); its update time is also given per window,
next to the window scope's. Then inference: the time per environment step of a batched
policy over ``--episodes`` episodes, window scope vs episode scope (which adds one forward
pass per K steps to carry the memory into the next window).

    python benchmarks/train_step.py [--repeats 30] [--device cpu:0] [--slots 1290]
"""

import d3rlpy_dtmem  # noqa: F401  # isort: skip  (first: registers DT-Mem, quiets old gym)
import argparse
import statistics
import time

import d3rlpy
import numpy as np
import torch
from d3rlpy.models import VectorEncoderFactory

from d3rlpy_dtmem import DTMemConfig
from d3rlpy_dtmem.algo import default_optim_factory
from d3rlpy_dtmem.data import EpisodeRuns
from d3rlpy_dtmem.inference import BatchedTransformerPolicy


def make_dataset(observation_size: int, action_size: int, steps: int = 4000):
    rng = np.random.default_rng(0)
    terminals = np.zeros(steps, dtype=np.float32)
    terminals[199::200] = 1.0
    return d3rlpy.dataset.MDPDataset(
        observations=rng.normal(size=(steps, observation_size)).astype(np.float32),
        actions=rng.integers(0, action_size, size=steps),
        rewards=rng.normal(size=steps).astype(np.float32),
        terminals=terminals,
        action_space=d3rlpy.ActionSpace.DISCRETE,
        action_size=action_size,
    )


def build(args, dataset):
    common = dict(
        batch_size=args.batch,
        context_size=args.context,
        num_heads=args.heads,
        num_layers=args.layers,
        encoder_factory=VectorEncoderFactory(hidden_units=[args.width]),
        optim_factory=default_optim_factory(warmup_steps=0),
    )
    episode = dict(
        memory_scope="episode", memory_segments=args.segments, memory_burn_in=args.burn_in
    )
    algos = {
        "slot_keys": DTMemConfig(memory_slots=args.slots, memory_addressing="slot_keys", **common),
        "content": DTMemConfig(memory_slots=args.slots, memory_addressing="content", **common),
        "no-memory": DTMemConfig(use_memory=False, **common),
        "d3rlpy-dt": d3rlpy.algos.DiscreteDecisionTransformerConfig(**common),
        "episode/slot_keys": DTMemConfig(
            memory_slots=args.slots, memory_addressing="slot_keys", **episode, **common
        ),
        "episode/content": DTMemConfig(
            memory_slots=args.slots, memory_addressing="content", **episode, **common
        ),
    }
    built = {}
    for name, config in algos.items():
        algo = config.create(device=args.device)
        algo.build_with_dataset(dataset)
        built[name] = algo
    return built


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--device", default="cpu:0")
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--context", type=int, default=28)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--slots", type=int, default=1290)
    parser.add_argument("--segments", type=int, default=4, help="episode scope: trained windows")
    parser.add_argument("--burn-in", type=int, default=0, help="episode scope: burn-in windows")
    parser.add_argument("--episodes", type=int, default=16, help="inference: episodes at once")
    parser.add_argument("--env-steps", type=int, default=112, help="inference: steps timed")
    args = parser.parse_args()

    torch.manual_seed(0)
    dataset = make_dataset(observation_size=39, action_size=18)
    runs = EpisodeRuns(dataset, args.segments, args.burn_in, seed=0)
    algos = build(args, dataset)
    times: dict[str, list[float]] = {name: [] for name in algos}
    for repeat in range(args.warmup + args.repeats):
        batch = dataset.sample_trajectory_batch(args.batch, args.context)
        run_batch = runs.sample_trajectory_batch(args.batch, args.context)
        for name, algo in algos.items():
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            start = time.perf_counter()
            algo.update(run_batch if name.startswith("episode") else batch)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            if repeat >= args.warmup:
                times[name].append(time.perf_counter() - start)

    medians = {name: statistics.median(values) for name, values in times.items()}
    print(
        f"update time, median of {args.repeats} (d={args.width}, {args.layers} layers, "
        f"{args.heads} heads, K={args.context}, batch {args.batch}, {args.slots} slots, "
        f"{args.device}, torch threads {torch.get_num_threads()})"
    )
    for name, median in medians.items():
        print(f"  {name:<10} {1000 * median:8.1f} ms")
    for name, target in (("slot_keys", 1.3), ("content", 2.0)):
        ratios = (medians[name] / medians["d3rlpy-dt"], medians[name] / medians["no-memory"])
        print(
            f"DT-Mem {name:<9}: {ratios[0]:.2f}x d3rlpy-DT (target <= {target}), "
            f"{ratios[1]:.2f}x no-memory"
        )
    for form in ("slot_keys", "content"):
        per_window = medians[f"episode/{form}"] / args.segments
        print(
            f"episode scope, {form:<9}: {1000 * medians[f'episode/{form}']:.1f} ms per update "
            f"of {args.segments} trained + {args.burn_in} burn-in windows = "
            f"{1000 * per_window:.1f} ms per trained window "
            f"({per_window / medians[form]:.2f}x the window scope's update)"
        )
    inference(args, dataset, algos)


def inference(args, dataset, algos) -> None:
    """Time per environment step of a batched policy, window scope vs episode scope."""
    rng = np.random.default_rng(0)
    observations = rng.normal(size=(args.env_steps, args.episodes, 39)).astype(np.float32)
    slots = list(range(args.episodes))
    print(
        f"inference, {args.episodes} episodes at once, {args.env_steps} steps "
        f"(K={args.context}; the episode scope closes a window every K steps)"
    )
    results = {}
    for name in ("slot_keys", "episode/slot_keys", "content", "episode/content"):
        policy = BatchedTransformerPolicy(algos[name], args.episodes, target_return=10.0)
        policy.predict(observations[0], np.zeros(args.episodes), slots)  # allocation
        policy.reset()
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        for step in range(args.env_steps):
            policy.predict(observations[step], np.zeros(args.episodes), slots)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        results[name] = (time.perf_counter() - start) / args.env_steps
        print(f"  {name:<18} {1000 * results[name]:8.2f} ms per env step")
    for form in ("slot_keys", "content"):
        ratio = results[f"episode/{form}"] / results[form]
        print(f"episode scope, {form:<9}: {ratio:.2f}x the window scope per env step")


if __name__ == "__main__":
    main()
