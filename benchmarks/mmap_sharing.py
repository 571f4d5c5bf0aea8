"""Memory of frames shared between processes: ``load_minari`` in RAM vs ``mmap_dir``.

Writes one synthetic Atari-like frame dataset (84x84 uint8), then runs ``--processes``
children at once, as DDP ranks on one machine would: each loads the dataset, samples
batches (B=64, K=28, 4-frame stacks) and reads every frame once (all pages resident). With
all children alive, each reports its PSS (proportional set size: pages shared by k processes
count 1/k to each), so their sum is the physical memory they use together. The same children
on a 100-frame dataset (same imports, same batches) are the baseline, subtracted to leave
the frames' cost:

    frames' memory = sum of PSS (mode) - sum of PSS (baseline)

In RAM every process holds a copy (about processes x the frames); memory-mapped they share
one (about 1 x), so the ratio RAM / mmap should be close to the number of processes. It
also reports how long ``load_minari`` takes each process (a found store is not read again).

    python benchmarks/mmap_sharing.py [--steps 60000] [--processes 2]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DATASET = "bench/frames-v0"
BASELINE = "bench/tiny-v0"  # 100 frames: the same imports and batches, next to no data


def pss_mb() -> float:
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def write_dataset(dataset_id: str, steps: int, seed: int = 0) -> None:
    """Episodes of up to 2000 steps of noisy frames (incompressible: a worst case)."""
    import gymnasium as gym
    from minari.data_collector import EpisodeBuffer

    from d3rlpy_dtmem.convert import write_minari_dataset

    rng = np.random.default_rng(seed)
    lengths, total = [], 0
    while total < steps:
        lengths.append(min(int(rng.integers(50, 2000)), steps - total))
        total += lengths[-1]

    def chunks():
        for length in lengths:
            frames = rng.integers(0, 256, (length + 1, 84, 84), dtype=np.uint8)
            last = np.zeros(length, bool)
            last[-1] = True
            yield [
                EpisodeBuffer(
                    observations=frames,
                    actions=rng.integers(0, 18, length),
                    rewards=rng.choice(np.array([-1.0, 0.0, 1.0]), length),
                    terminations=last,
                    truncations=np.zeros(length, bool),
                    infos={},
                )
            ]

    write_minari_dataset(
        dataset_id,
        chunks(),
        observation_space=gym.spaces.Box(0, 255, (84, 84), np.uint8),
        action_space=gym.spaces.Discrete(18),
        metadata={"frame_stack": 4},
    )


def child(mode: str, mmap_dir: str) -> None:
    """Loads, samples, touches every frame, says ready, waits, prints its PSS."""
    from d3rlpy_dtmem.data import load_minari

    dataset_id = BASELINE if mode == "baseline" else DATASET
    start = time.perf_counter()
    buffer = load_minari(dataset_id, seed=0, mmap_dir=mmap_dir if mode == "mmap" else None)
    seconds = time.perf_counter() - start
    for _ in range(20):
        buffer.sample_trajectory_batch(64, 28)
    frames = buffer.tasks[0].observations
    total = sum(int(frames[i : i + 4096].sum(dtype=np.int64)) for i in range(0, len(frames), 4096))
    assert total > 0
    print("ready", flush=True)
    sys.stdin.readline()  # every child is loaded: PSS now splits shared pages between them
    print(json.dumps({"pss": pss_mb(), "seconds": seconds}), flush=True)
    sys.stdin.readline()  # stay alive (mapped) until every child has measured


def run_children(
    mode: str, processes: int, env: dict[str, str], mmap_dir: Path
) -> tuple[float, float]:
    """Sum of the children's PSS (MB), measured while all of them are alive, and their
    mean load_minari time (s)."""
    command = [sys.executable, __file__, "--child", mode, "--mmap-dir", str(mmap_dir)]
    children = [
        subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    for process in children:
        assert process.stdout.readline().strip() == "ready", f"{mode} child failed"
    for process in children:
        process.stdin.write("measure\n")
        process.stdin.flush()
    found = [json.loads(process.stdout.readline()) for process in children]
    for process in children:
        process.communicate("exit\n", timeout=60)
    return sum(r["pss"] for r in found), sum(r["seconds"] for r in found) / len(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=60_000, help="frames in the dataset")
    parser.add_argument("--processes", type=int, default=2, help="processes loading it")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--mmap-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.mmap_dir)
        return
    with tempfile.TemporaryDirectory(prefix="mmap-bench-") as work:
        os.environ["MINARI_DATASETS_PATH"] = str(Path(work) / "minari")
        env = dict(os.environ)
        write_dataset(DATASET, args.steps)
        write_dataset(BASELINE, 100, seed=1)
        frames_mb = args.steps * 84 * 84 / 2**20
        print(f"dataset: {args.steps:,} frames of 84x84 = {frames_mb:.0f} MB", end="; ")
        print(f"{args.processes} processes")
        mmap_dir = Path(work) / "stores"
        run_children("mmap", 1, env, mmap_dir)  # writes the store (not measured)
        runs = {
            mode: run_children(mode, args.processes, env, mmap_dir)
            for mode in ("baseline", "ram", "mmap")
        }
        pss = {mode: run[0] for mode, run in runs.items()}
        ram, mapped = pss["ram"] - pss["baseline"], pss["mmap"] - pss["baseline"]
        print(
            f"sum of PSS: baseline {pss['baseline']:.0f} MB, in RAM {pss['ram']:.0f} MB, "
            f"memory-mapped {pss['mmap']:.0f} MB"
        )
        print(
            f"frames' memory: in RAM {ram:.0f} MB ({ram / frames_mb:.2f}x the frames), "
            f"memory-mapped {mapped:.0f} MB ({mapped / frames_mb:.2f}x)"
        )
        print(f"RAM / mmap: {ram / mapped:.2f} (processes: {args.processes})")
        print(
            f"load_minari: in RAM {runs['ram'][1]:.2f} s, memory-mapped (store found) "
            f"{runs['mmap'][1]:.2f} s per process"
        )


if __name__ == "__main__":
    main()
