"""Data-parallel DT-Mem training with d3rlpy's DDP, launched by torchrun.

    torchrun --standalone --nproc_per_node 2 examples/ddp_torchrun.py            # CPU, gloo
    torchrun --standalone --nproc_per_node 8 examples/ddp_torchrun.py \\
        --dataset atari/pong-v0 atari/breakout-v0 --steps 100000                  # GPUs, nccl

Without ``--dataset`` it trains on two small CartPole tasks (a scripted policy with little and
with much exploration noise) that rank 0 writes as Minari datasets under ``<out>/minari``.
Every rank samples its own multi-task batches (sampler seed = seed + rank); with ``--mmap-dir``
the ranks map the observations from one store per dataset instead of each holding a copy
(the first rank to load a dataset writes its store). Only rank 0 logs,
saves checkpoints and writes the final model (and, with ``--lora-steps``, an adapter trained
after pre-training, with the trunk frozen).
"""

import argparse
import os
from pathlib import Path

import numpy as np


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", nargs="+", help="Minari dataset ids (default: CartPole demo)")
    parser.add_argument("--steps", type=int, default=20, help="updates per rank (default 20)")
    parser.add_argument("--lora-steps", type=int, default=0, help="LoRA updates after training")
    parser.add_argument("--batch-size", type=int, default=16, help="windows per rank per update")
    parser.add_argument("--context", type=int, default=10, help="steps per window K")
    parser.add_argument("--slots", type=int, default=32, help="memory slots N")
    parser.add_argument("--seed", type=int, default=0, help="base seed (sampler: seed + rank)")
    parser.add_argument("--backend", choices=["gloo", "nccl"], help="default: nccl on GPUs")
    parser.add_argument("--out", default="runs/ddp", help="output folder (default runs/ddp)")
    parser.add_argument(
        "--mmap-dir", help="memory-map observations from stores here: the ranks share one copy"
    )
    return parser.parse_args()


def write_cartpole_tasks(root: Path, seed: int) -> list[str]:
    """Two Minari datasets of scripted CartPole play, 10% and 50% random actions."""
    import gymnasium as gym
    from minari.data_collector import EpisodeBuffer

    from d3rlpy_dtmem.app.cartpole import scripted_cartpole_episode
    from d3rlpy_dtmem.convert import write_minari_dataset

    os.environ["MINARI_DATASETS_PATH"] = str(root)
    env = gym.make("CartPole-v1")
    rng = np.random.default_rng(seed)
    ids = []
    for name, epsilon in (("careful", 0.1), ("noisy", 0.5)):
        episodes = []
        for episode in range(8):
            played = scripted_cartpole_episode(env, rng, epsilon, seed + 100 * len(ids) + episode)
            last = np.zeros(len(played.actions), dtype=bool)
            last[-1] = True
            episodes.append(
                EpisodeBuffer(
                    observations=played.observations,
                    actions=played.actions,
                    rewards=played.rewards.astype(np.float64),
                    terminations=last & played.terminated,
                    truncations=last & (not played.terminated),
                    infos={},
                )
            )
        ids.append(f"cartpole/{name}-v0")
        write_minari_dataset(
            ids[-1],
            [episodes],
            observation_space=env.observation_space,
            action_space=env.action_space,
            overwrite=True,
        )
    return ids


def main() -> None:
    args = parse_args()
    import d3rlpy
    import torch.distributed as dist
    from d3rlpy.models import VectorEncoderFactory
    from d3rlpy.preprocessing import MultiplyRewardScaler

    from d3rlpy_dtmem import DTMemConfig
    from d3rlpy_dtmem.algo import default_optim_factory
    from d3rlpy_dtmem.app.distributed import (
        init_distributed,
        rank_logger_adapter,
        rank_seed,
        replica_fingerprints,
        shutdown_distributed,
    )
    from d3rlpy_dtmem.data import load_minari

    context = init_distributed(args.backend)
    out = Path(args.out)
    dataset_ids = args.dataset
    if not dataset_ids:
        root = out / "minari"
        if context.is_main:
            write_cartpole_tasks(root, args.seed)
        dist.barrier()  # the other ranks read what rank 0 wrote
        os.environ["MINARI_DATASETS_PATH"] = str(root)
        dataset_ids = ["cartpole/careful-v0", "cartpole/noisy-v0"]

    d3rlpy.seed(args.seed)  # the same initial weights on every rank (DDP also broadcasts them)
    buffer = load_minari(dataset_ids, seed=rank_seed(args.seed), mmap_dir=args.mmap_dir)
    algo = DTMemConfig(
        batch_size=args.batch_size,
        context_size=args.context,
        max_timestep=500,
        num_heads=2,
        num_layers=2,
        memory_slots=args.slots,
        encoder_factory=VectorEncoderFactory(hidden_units=[64]),
        reward_scaler=MultiplyRewardScaler(0.2),
        learning_rate=1e-3,
        optim_factory=default_optim_factory(max(1, args.steps // 5)),
    ).create(device=context.device, enable_ddp=True)
    logs = rank_logger_adapter(d3rlpy.logging.FileAdapterFactory(root_dir=str(out / "logs")))

    def train(steps: int, experiment_name: str) -> None:
        algo.fit(
            buffer,
            n_steps=steps,
            n_steps_per_epoch=steps,
            experiment_name=experiment_name,
            with_timestamp=False,
            logger_adapter=logs,
            show_progress=context.is_main,
        )

    train(args.steps, "ddp")
    if args.lora_steps:
        algo.enable_lora(rank=4, alpha=16)  # collective: every rank calls it
        train(args.lora_steps, "ddp-lora")
    fingerprints = replica_fingerprints(algo.impl.model)
    if context.is_main:
        in_sync = len(set(fingerprints)) == 1
        print(f"{context.world_size} ranks, replicas identical: {in_sync}")
        algo.save(str(out / "model.d3"))
        if args.lora_steps:
            algo.save_adapter(out / "adapter.pt")
        print(f"wrote {out / 'model.d3'}")
    shutdown_distributed()


if __name__ == "__main__":
    main()
