"""Conversion throughput (rows/s), dataset size and peak memory of ``dtmem-convert atari``.

Writes one DQN-Replay checkpoint of real game frames (a pool of frames played at random in
Pong, Breakout, SpaceInvaders and Assault through ``make_atari``, cycled; 3 padding rows per
episode; terminals), then converts it to Minari in a child process once per frame
compression (``--compression``) and reports, for each, the child's rows/s, the dataset's
bytes per frame and the peak RSS against the RSS before converting (imports alone take a
few hundred MB). A real checkpoint has 1,000,000 rows. Target of the default compression:
>= 3x smaller than uncompressed at >= 30k rows/s.

    python benchmarks/convert_atari.py [--rows 100000] [--block-rows 4096] [--keep DIR]
"""

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FRAME = 84 * 84
GAME = "Pong"  # 6 minimal actions


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def game_frames(count: int, seed: int = 0) -> np.ndarray:
    """A pool of ``count`` real 84x84 frames, played at random in four games in turn."""
    from d3rlpy_dtmem.envs import make_atari

    games = ("Pong", "Breakout", "SpaceInvaders", "Assault")
    frames = []
    for index, game in enumerate(games):
        env = make_atari(game, seed=seed + index, frame_stack=1)
        env.action_space.seed(seed + index)
        env.reset(seed=seed + index)
        while len(frames) < (index + 1) * count // len(games):
            observation, _, terminated, truncated, _ = env.step(env.action_space.sample())
            frames.append(np.asarray(observation)[-1])
            if terminated or truncated:
                env.reset()
        env.close()
    return np.asarray(frames, dtype=np.uint8)


def episode_terminals(rows: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Terminal flags and a padding mask: episodes of 200-2000 steps after 3 padding rows."""
    terminal, padding, row = np.zeros(rows, np.uint8), np.zeros(rows, bool), 0
    while row < rows:
        padding[row : row + 3] = True
        row += 3 + int(rng.integers(200, 2000))
        if row <= rows:
            terminal[row - 1] = 1
    return terminal, padding


def save_gz(path: Path, array: np.ndarray) -> None:
    with gzip.open(path, "wb", compresslevel=1) as stream:
        np.save(stream, array, allow_pickle=False)


def write_checkpoint(folder: Path, rows: int, seed: int = 0) -> None:
    """Writes checkpoint 0 of run 1, streaming the frames (low memory)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    terminal, padding = episode_terminals(rows, rng)
    save_gz(folder / "$store$_action_ckpt.0.gz", rng.integers(0, 6, rows).astype(np.int32))
    reward = rng.choice(np.array([-1, 0, 0, 0, 1], np.float32), rows) * ~padding
    save_gz(folder / "$store$_reward_ckpt.0.gz", reward.astype(np.float32))
    save_gz(folder / "$store$_terminal_ckpt.0.gz", terminal)
    pool = game_frames(4096, seed)
    header = {"descr": "|u1", "fortran_order": False, "shape": (rows, 84, 84)}
    with gzip.open(folder / "$store$_observation_ckpt.0.gz", "wb", compresslevel=1) as stream:
        np.lib.format.write_array_header_1_0(stream, header)
        for start in range(0, rows, 8192):
            index = np.arange(start, min(start + 8192, rows))
            block = pool[index % len(pool)]
            block[padding[index]] = 0
            stream.write(block.tobytes())


def convert_child(replay_dir: str, block_rows: int, compression: str) -> None:
    """Runs in the child: converts, prints one JSON line."""
    from d3rlpy_dtmem.convert.atari_datasets import convert_atari_run, plan_atari_conversion

    before = rss_mb()
    (job,) = plan_atari_conversion(replay_dir, [GAME], overwrite=True)
    start = time.perf_counter()
    summary = convert_atari_run(
        job, block_rows=block_rows, show_progress=False, overwrite=True, compression=compression
    )
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size = sum(p.stat().st_size for p in summary.path.rglob("*") if p.is_file())
    result = dict(seconds=seconds, before=before, peak=peak, size=size)
    print(json.dumps(dict(result, episodes=summary.episodes, steps=summary.steps)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--block-rows", type=int, default=4096)
    parser.add_argument("--keep", type=Path, help="work here and keep the files")
    parser.add_argument(
        "--compression", nargs="+", default=["none", "lzf", "gzip"], help="choices to time"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        convert_child(args.child, args.block_rows, args.compression[0])
        return
    work = args.keep or Path(tempfile.mkdtemp(prefix="convert-atari-bench-"))
    replay_dir = work / "replay"
    start = time.perf_counter()
    write_checkpoint(replay_dir / GAME / "1" / "replay_logs", args.rows)
    gz_mb = sum(p.stat().st_size for p in replay_dir.rglob("*.gz")) / 2**20
    print(
        f"checkpoint of real game frames: {args.rows:,} rows, {gz_mb:.0f} MB of gzip "
        f"(written in {time.perf_counter() - start:.1f} s)"
    )
    env = dict(os.environ, MINARI_DATASETS_PATH=str(work / "minari"))
    frames_mb = args.rows * FRAME / 2**20
    sizes = {}
    for compression in args.compression:
        command = [sys.executable, __file__, "--child", str(replay_dir)]
        command += ["--block-rows", str(args.block_rows), "--compression", compression]
        child = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
        result = json.loads(child.stdout.strip().splitlines()[-1])
        sizes[compression] = result["size"] / result["steps"]
        growth = result["peak"] - result["before"]
        print(
            f"{compression:>5}: {args.rows / result['seconds']:8,.0f} rows/s, "
            f"{sizes[compression]:7,.0f} bytes per frame ({result['size'] / 2**20:.0f} MB for "
            f"{result['steps']:,} steps), peak RSS +{growth:.0f} MB "
            f"({growth / frames_mb:.2f}x the {frames_mb:.0f} MB of frames)"
        )
    if "none" in sizes:
        for compression, size in sizes.items():
            if compression != "none":
                print(f"{compression}: {sizes['none'] / size:.1f}x smaller than uncompressed")
    if not args.keep:
        import shutil

        shutil.rmtree(work)


if __name__ == "__main__":
    main()
