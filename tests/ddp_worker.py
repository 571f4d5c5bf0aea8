"""One rank of the DDP test (tests/test_distributed.py), launched by torchrun on CPU (gloo).

Trains a tiny DT-Mem on the two Minari tasks the test wrote, then trains a LoRA adapter,
and writes for the test to compare, under ``--out``:

* ``rank<r>.pt``: this rank's first batches (explicit and default sampler seed), and the
  network's state after each phase (base, LoRA, and a model of the episode scope);
* ``logs/rank<r>/``: d3rlpy's logs, through ``rank_logger_adapter`` (only rank 0's should
  exist).
"""

import argparse
from pathlib import Path

import d3rlpy
import torch
from helpers import tiny_config

from d3rlpy_dtmem.app.distributed import (
    init_distributed,
    rank_logger_adapter,
    rank_seed,
    replica_fingerprints,
    shutdown_distributed,
)
from d3rlpy_dtmem.data import load_minari


def fit(algo, buffer, steps: int, name: str, out: Path) -> None:
    algo.fit(
        buffer,
        n_steps=steps,
        n_steps_per_epoch=steps,
        experiment_name=name,
        with_timestamp=False,
        logger_adapter=rank_logger_adapter(
            d3rlpy.logging.FileAdapterFactory(root_dir=str(out / "logs"))
        ),
        show_progress=False,
    )


def state(algo) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in algo.impl.model.state_dict().items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--datasets", nargs="+", required=True)
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()

    context = init_distributed("gloo")
    d3rlpy.seed(7)
    buffer = load_minari(args.datasets, seed=rank_seed(7))
    first_batch = buffer.sample_trajectory_batch(8, 5).observations.copy()
    d3rlpy.seed(7)  # no sampler seed: drawn from numpy's generator (seeded alike) + rank
    unseeded = load_minari(args.datasets).sample_trajectory_batch(8, 5).observations.copy()
    algo = tiny_config(batch_size=4).create(device=context.device, enable_ddp=True)

    fit(algo, buffer, args.steps, f"rank{context.rank}", args.out)
    base = state(algo)
    # Seed each rank differently before adding the adapter: its random initial weights
    # then differ per rank unless re-wrapping DDP broadcasts rank 0's.
    torch.manual_seed(context.rank)
    algo.enable_lora(rank=2, alpha=8)
    fit(algo, buffer, args.steps, f"lora-rank{context.rank}", args.out)
    fingerprints = replica_fingerprints(algo.impl.model)
    # the episode scope: runs of segments with burn-in, the memory carried between them
    episode = tiny_config(
        batch_size=4, memory_scope="episode", memory_segments=2, memory_burn_in=1
    ).create(device=context.device, enable_ddp=True)
    fit(episode, buffer, args.steps, f"episode-rank{context.rank}", args.out)

    torch.save(
        {
            "first_batch": torch.from_numpy(first_batch),
            "unseeded_batch": torch.from_numpy(unseeded),
            "base": base,
            "lora": state(algo),
            "episode": state(episode),
            "fingerprints": fingerprints,
            "grad_step": algo.grad_step,
        },
        args.out / f"rank{context.rank}.pt",
    )
    shutdown_distributed()


if __name__ == "__main__":
    main()
