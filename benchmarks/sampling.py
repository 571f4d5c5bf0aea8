"""Trajectory-batch sampling: load_minari's vectorised sampler vs d3rlpy's slicer path.

Both sample B windows of K steps with F-frame stacks of (84, 84) uint8 frames from the same
buffer (Atari-like synthetic Minari datasets, written to a temporary Minari root):

* d3rlpy: ``ReplayBuffer.sample_trajectory_batch`` — one ``FrameStackTrajectorySlicer`` call
  per window, then ``TrajectoryMiniBatch.from_partial_trajectories``;
* dtmem: ``MultiTaskReplayBuffer.sample_trajectory_batch`` — one gather per field and task,
  with uint8 observations (the default; ``PixelObservationScaler`` makes them floats on the
  device) or float32 ones (d3rlpy's dtype, ``uint8_batches=False``).

They are timed interleaved in one run and reported as medians and ratios (the machine is
shared and noisy). Target: dtmem with its default settings >= 10x faster at B=64, K=28, F=4.

    python benchmarks/sampling.py [--repeats 7] [--batch 64] [--length 28] [--frames 4]
"""

import argparse
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable

import gymnasium as gym
import numpy as np
from minari.data_collector import EpisodeBuffer

from d3rlpy_dtmem.convert import write_minari_dataset
from d3rlpy_dtmem.data import MultiTaskReplayBuffer, load_minari

FRAME = (84, 84)


def write_tasks(tasks: int, episodes: int, length: int) -> list[str]:
    """Writes ``tasks`` Atari-like datasets of random frames; returns their ids."""
    rng = np.random.default_rng(0)
    spaces = dict(
        observation_space=gym.spaces.Box(0, 255, FRAME, np.uint8),
        action_space=gym.spaces.Discrete(18),
    )
    ids = []
    for task in range(tasks):
        buffers = [
            EpisodeBuffer(
                observations=rng.integers(0, 256, (length + 1, *FRAME), dtype=np.uint8),
                actions=rng.integers(0, 18, length),
                rewards=rng.integers(-1, 2, length).astype(np.float64),
                terminations=np.arange(length) == length - 1,
                truncations=np.zeros(length, dtype=bool),
                infos={},
            )
            for _ in range(episodes)
        ]
        ids.append(f"bench/game{task}-v0")
        write_minari_dataset(ids[-1], [buffers], metadata={"frame_stack": 4}, **spaces)
    return ids


def median_seconds(functions: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median wall time of each function, calls interleaved (one warm-up each)."""
    times: dict[str, list[float]] = {name: [] for name in functions}
    for function in functions.values():
        function()
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--length", type=int, default=28)
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--tasks", type=int, default=2)
    parser.add_argument("--episodes", type=int, default=8, help="episodes per task")
    parser.add_argument("--episode-length", type=int, default=500)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as root, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Minari's notes on missing metadata
        os.environ["MINARI_DATASETS_PATH"] = root
        ids = write_tasks(args.tasks, args.episodes, args.episode_length)
        frames = load_minari(ids, frame_stack=args.frames, seed=0)  # the defaults
        buffer = load_minari(ids, frame_stack=args.frames, uint8_batches=False, seed=0)
    B, K = args.batch, args.length
    d3rlpy_path = super(MultiTaskReplayBuffer, buffer).sample_trajectory_batch
    seconds = median_seconds(
        {
            "d3rlpy FrameStackTrajectorySlicer": lambda: d3rlpy_path(B, K),
            "dtmem (uint8 batches, default)": lambda: frames.sample_trajectory_batch(B, K),
            "dtmem (uint8_batches=False)": lambda: buffer.sample_trajectory_batch(B, K),
        },
        args.repeats,
    )
    steps = sum(buffer.task_steps)
    print(f"B={B} K={K} F={args.frames}, {args.tasks} tasks, {steps} frames of {FRAME} uint8")
    for name, value in seconds.items():
        print(f"{name:36s} {value * 1e3:9.1f} ms/batch")
    reference = seconds["d3rlpy FrameStackTrajectorySlicer"]
    for name in list(seconds)[1:]:
        target = " (target >= 10x)" if "default" in name else ""
        print(f"speed-up of {name}: {reference / seconds[name]:.1f}x{target}")


if __name__ == "__main__":
    main()
