"""Conversion throughput (rows/s) and peak memory of ``dtmem-convert atari``.

Writes one synthetic DQN-Replay checkpoint (Atari-like frames: a few sprites on a fixed
background, so the gzip ratio is realistic; 3 padding rows per episode; terminals), then
converts it to Minari in a child process and reports the child's rows/s and peak RSS
against its RSS before converting (imports alone take a few hundred MB) and against the
size of the checkpoint's frames. A real checkpoint has 1,000,000 rows.

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


def sprite_frames(count: int, rng: np.random.Generator) -> np.ndarray:
    """A pool of frames: a static background with a few moving rectangles."""
    background = np.zeros((84, 84), np.uint8)
    background[:10], background[-6:] = 90, 140
    frames = np.repeat(background[None], count, axis=0)
    for frame in frames:
        for _ in range(4):
            row, col = rng.integers(10, 74), rng.integers(0, 80)
            frame[row : row + 4, col : col + 4] = rng.integers(60, 255)
    return frames


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
    pool = sprite_frames(512, rng)
    header = {"descr": "|u1", "fortran_order": False, "shape": (rows, 84, 84)}
    with gzip.open(folder / "$store$_observation_ckpt.0.gz", "wb", compresslevel=1) as stream:
        np.lib.format.write_array_header_1_0(stream, header)
        for start in range(0, rows, 8192):
            index = np.arange(start, min(start + 8192, rows))
            block = pool[index % len(pool)]
            block[padding[index]] = 0
            stream.write(block.tobytes())


def convert_child(replay_dir: str, block_rows: int) -> None:
    """Runs in the child: converts, prints one JSON line."""
    from d3rlpy_dtmem.convert.atari_datasets import convert_atari_run, plan_atari_conversion

    before = rss_mb()
    (job,) = plan_atari_conversion(replay_dir, [GAME])
    start = time.perf_counter()
    summary = convert_atari_run(job, block_rows=block_rows, show_progress=False)
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
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        convert_child(args.child, args.block_rows)
        return
    work = args.keep or Path(tempfile.mkdtemp(prefix="convert-atari-bench-"))
    replay_dir = work / "replay"
    start = time.perf_counter()
    write_checkpoint(replay_dir / GAME / "1" / "replay_logs", args.rows)
    gz_mb = sum(p.stat().st_size for p in replay_dir.rglob("*.gz")) / 2**20
    print(
        f"synthetic checkpoint: {args.rows:,} rows, {gz_mb:.0f} MB of gzip "
        f"(written in {time.perf_counter() - start:.1f} s)"
    )
    env = dict(os.environ, MINARI_DATASETS_PATH=str(work / "minari"))
    command = [sys.executable, __file__, "--child", str(replay_dir)]
    command += ["--block-rows", str(args.block_rows)]
    child = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    result = json.loads(child.stdout.strip().splitlines()[-1])
    frames_mb = args.rows * FRAME / 2**20
    print(
        f"converted: {result['episodes']:,} episodes, {result['steps']:,} steps, "
        f"Minari dataset {result['size'] / 2**20:.0f} MB"
    )
    print(
        f"throughput: {args.rows / result['seconds']:,.0f} rows/s "
        f"({frames_mb / result['seconds']:.0f} MB/s of frames, {result['seconds']:.1f} s)"
    )
    growth = result["peak"] - result["before"]
    print(
        f"peak RSS: {result['peak']:.0f} MB ({result['before']:.0f} MB before converting; "
        f"+{growth:.0f} MB = {growth / frames_mb:.2f}x the checkpoint's {frames_mb:.0f} MB "
        "of frames)"
    )
    if not args.keep:
        import shutil

        shutil.rmtree(work)


if __name__ == "__main__":
    main()
